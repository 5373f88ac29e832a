"""The SST codebook: sizes, canonical order and exhaustive code <-> member checks."""

import itertools
import json

import numpy as np
import pytest

from sst_hw.cli import main
from sst_hw.format.codebook import MAX_TABLE_BITS, Codebook


def configs(max_n, max_bits=MAX_TABLE_BITS):
    for n in range(2, max_n + 1):
        for k in range(1, n + 1):
            for variant in ("full", "partitioned"):
                if variant == "partitioned" and n % k:
                    continue
                for assignment in ("enum", "direct"):
                    cb = Codebook(n, k, variant, assignment)
                    yield cb, cb.bits <= max_bits


def brute_members(n, k, variant):
    out = []
    for v in itertools.product((0, 1, -1), repeat=n):
        v = np.array(v)
        nz = v != 0
        if variant == "full" and nz.sum() <= k:
            out.append(v)
        if variant == "partitioned" and (nz.reshape(k, -1).sum(1) <= 1).all():
            out.append(v)
    return np.array(out)


@pytest.mark.parametrize("n,k,variant,size,bits", [
    (8, 2, "full", 129, 8), (16, 2, "full", 513, 10), (8, 2, "partitioned", 81, 7),
    (4, 1, "full", 9, 4), (16, 4, "full", 34113, 16),
])
def test_worked_figures(n, k, variant, size, bits):
    cb = Codebook(n, k, variant, "enum")
    assert (cb.size, cb.bits) == (size, bits)
    assert cb.bits_per_weight == bits / n


def test_direct_8_2_fits_8_bits():
    cb = Codebook(8, 2, "full", "direct")
    assert cb.bits == 8 and cb.size == 129
    # Two (3-bit position, sign) slots: equal positions, equal signs -> one non-zero;
    # equal positions, different signs -> zero vector.
    assert cb.decode([3 | 3 << 4]).tolist() == [[0, 0, 0, 1, 0, 0, 0, 0]]
    assert cb.decode([(3 | 8) | (3 | 8) << 4]).tolist() == [[0, 0, 0, -1, 0, 0, 0, 0]]
    assert cb.decode([3 | (3 | 8) << 4]).tolist() == [[0] * 8]
    assert cb.decode([1 | (5 | 8) << 4]).tolist() == [[0, 1, 0, 0, 0, -1, 0, 0]]


def test_enum_canonical_order():
    cb = Codebook(4, 2, "full", "enum")
    vec = cb.vectors[cb.used]
    assert vec[0].tolist() == [0, 0, 0, 0]
    assert vec[1].tolist() == [1, 0, 0, 0] and vec[2].tolist() == [-1, 0, 0, 0]
    # two non-zeros: positions (0,1) first, signs ++, +-, -+, --
    assert [v.tolist() for v in vec[9:13]] == [
        [1, 1, 0, 0], [1, -1, 0, 0], [-1, 1, 0, 0], [-1, -1, 0, 0]]
    nnz = (vec != 0).sum(1)
    assert (np.diff(nnz) >= 0).all()


@pytest.mark.parametrize("n", range(2, 9))
def test_size_matches_brute_force(n):
    for cb, _ in configs(n):
        if cb.n != n or cb.assignment != "enum":
            continue
        members = brute_members(n, cb.k, cb.variant)
        assert cb.size == len(members)
        codes = cb.encode(members)
        assert len(set(codes.tolist())) == len(members)
        assert (cb.decode(codes) == members).all()


def _exhaustive(cb):
    pos, neg, valid, used = cb.table
    vec = cb.vectors
    # every used code decodes to a member ...
    assert cb.is_member(vec[used]).all()
    # ... and a member's canonical code decodes back to it
    again = cb.encode(vec[used])
    assert (cb.decode(again) == vec[used]).all()
    if cb.assignment == "enum":
        # enum is a bijection onto 0..M-1: every member has exactly one code
        assert used.sum() == cb.size and used[:cb.size].all()
        assert (again == np.arange(cb.size)).all()
    else:
        # direct: as many distinct vectors as members, so every member has a code
        assert len(np.unique(vec[used], axis=0)) == cb.size
    # slots agree with the vectors and respect the variant
    assert (valid <= used[:, None]).all()
    if cb.variant == "partitioned":
        L = cb.n // cb.k
        assert ((pos // L == np.arange(cb.k)) | ~valid).all()
    assert cb.decode([cb.zero_code]).sum() == 0 and not cb.decode([cb.zero_code]).any()


@pytest.mark.parametrize("n", range(2, 17))
def test_exhaustive_small_tables(n):
    """Every (N, K) with N <= 16 whose table has <= 2^16 entries (the rest: slow)."""
    for cb, ok in configs(n, max_bits=16):
        if cb.n == n and ok:
            _exhaustive(cb)


@pytest.mark.slow
@pytest.mark.parametrize("n", range(9, 17))
def test_exhaustive_large_tables(n):
    """Tables of 2^17 .. 2^20 entries."""
    for cb, ok in configs(n):
        if cb.n == n and ok and cb.bits > 16:
            _exhaustive(cb)


@pytest.mark.parametrize("kwargs,message", [
    (dict(n=1, k=1), "N (subvector length) must be in 2..64, not 1"),
    (dict(n=65, k=1), "N (subvector length) must be in 2..64, not 65"),
    (dict(n=8, k=0), "K (non-zeros per subvector) must be in 1..8, not 0"),
    (dict(n=8, k=9), "K (non-zeros per subvector) must be in 1..8, not 9"),
    (dict(n=8, k=3, variant="partitioned"), "partitioned codebooks need N divisible by K, not N=8, K=3"),
    (dict(n=8, k=2, variant="blocked"), "variant must be one of full, partitioned, not 'blocked'"),
    (dict(n=8, k=2, assignment="huffman"), "assignment must be one of enum, direct, not 'huffman'"),
])
def test_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Codebook(**kwargs)


def test_large_codebook_sizes_and_refusals():
    cb = Codebook(64, 64)
    assert cb.size == 3 ** 64 and cb.bits == 102
    with pytest.raises(ValueError, match="wider than the 62 bits"):
        cb.encode(np.zeros((1, 64), int))
    with pytest.raises(ValueError, match="tables are built up to 2"):
        Codebook(32, 8).vectors


def test_unused_code_refused():
    cb = Codebook(8, 2)
    with pytest.raises(ValueError, match="code 200 is not a used code"):
        cb.decode([200])
    with pytest.raises(ValueError, match="is not a member"):
        cb.encode(np.array([[1, 1, 1, 0, 0, 0, 0, 0]]))


def test_cli_codebook_json(capsys):
    assert main(["codebook", "--n", "8", "--k", "2", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert {k: info[k] for k in ("n", "k", "variant", "assignment", "size", "bits_per_code",
                                 "bits_per_weight")} == dict(
        n=8, k=2, variant="full", assignment="enum", size=129, bits_per_code=8,
        bits_per_weight=1.0)


def test_cli_codebook_text_and_error(capsys):
    assert main(["codebook", "--n", "8", "--k", "2", "--variant", "partitioned"]) == 0
    assert "bits per code    7" in capsys.readouterr().out
    assert main(["codebook", "--n", "8", "--k", "9"]) == 2
    assert "K (non-zeros per subvector) must be in 1..8, not 9" in capsys.readouterr().err


def test_encode_slots_refuses_out_of_range():
    cb = Codebook(8, 2)
    with pytest.raises(ValueError, match=r"slot positions must be in 0..7"):
        cb.encode_slots([[8, 0]], [[0, 0]], [[True, False]])
    with pytest.raises(ValueError, match=r"slot signs must be 0 \(\+\) or 1 \(-\)"):
        cb.encode_slots([[1, 0]], [[2, 0]], [[True, False]])
    with pytest.raises(ValueError, match="slots do not form a member"):
        cb.encode_slots([[1, 1]], [[0, 0]], [[True, True]])
