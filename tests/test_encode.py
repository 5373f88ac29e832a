"""Projection, decode and packing of SST-coded matrices."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sst_hw.format.codebook import Codebook
from sst_hw.format.encode import decode_matrix, encode_matrix, pack_codes, project, unpack_codes

CODEBOOKS = [Codebook(2, 1), Codebook(3, 1), Codebook(4, 2), Codebook(4, 2, "partitioned"),
             Codebook(4, 1, assignment="direct"), Codebook(6, 3, "partitioned", "direct")]


def brute_error(row, cb):
    """Smallest ||w - alpha t||^2 over every member choice of every subvector."""
    s = -(-len(row) // cb.n)
    w = np.zeros(s * cb.n)
    w[:len(row)] = row
    members = cb.vectors[cb.used]
    best = np.sum(w ** 2)
    for choice in itertools.product(range(len(members)), repeat=s):
        t = np.concatenate([members[c] for c in choice])
        m = np.count_nonzero(t)
        if m:
            alpha = np.abs(w[t != 0]).sum() / m   # best alpha for this t
            if alpha > 0:
                best = min(best, np.sum((w - alpha * t) ** 2))
    return best


@pytest.mark.parametrize("cb", CODEBOOKS, ids=lambda c: c.describe_short())
def test_projection_matches_brute_force(cb):
    rng = np.random.default_rng(cb.n * 10 + cb.k)
    for length in (cb.n, cb.n + 1, 2 * cb.n - 1):
        if len(cb.vectors[cb.used]) ** (-(-length // cb.n)) > 20000:
            continue
        w = rng.normal(size=(4, length))
        enc = encode_matrix(w, cb)
        err = np.sum((w - enc.weights().astype(np.float64)) ** 2, axis=1)
        for r in range(4):
            assert err[r] <= brute_error(w[r], cb) * (1 + 1e-5) + 1e-9


def test_projection_fixed_alpha_rule():
    """The kept weights are the up-to-K largest magnitudes above alpha/2."""
    w = np.array([[0.9, -1.1, 0.1, 0.05, 1.0, 0.0, -0.2, 0.95]])
    enc = encode_matrix(w, Codebook(4, 2))
    assert enc.ternary().tolist() == [[1, -1, 0, 0, 1, 0, 0, 1]]
    assert np.isclose(enc.alpha[0], (0.9 + 1.1 + 1.0 + 0.95) / 4)


def test_zero_row_and_padding():
    w = np.zeros((2, 5))
    w[1, 4] = -3.0
    enc = encode_matrix(w, Codebook(4, 1))
    assert enc.codes.shape == (2, 2)
    assert enc.alpha[0] == 1.0 and not enc.ternary()[0].any()
    assert enc.ternary()[1].tolist() == [0, 0, 0, 0, -1]
    assert enc.alpha[1] == 3.0


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(CODEBOOKS + [Codebook(8, 2), Codebook(8, 2, assignment="direct"),
                                    Codebook(16, 2), Codebook(8, 2, "partitioned")]),
       st.integers(1, 5), st.integers(1, 40), st.integers(0, 2 ** 32 - 1))
def test_encode_decode_round_trip(cb, out, inf, seed):
    rng = np.random.default_rng(seed)
    w = rng.standard_t(3, size=(out, inf))
    enc = encode_matrix(w, cb)
    t = enc.ternary()
    assert t.shape == (out, inf)
    # the ternary matrix is a valid member per subvector
    sub = np.zeros((out, enc.codes.shape[1] * cb.n), np.int8)
    sub[:, :inf] = t
    assert cb.is_member(sub.reshape(-1, cb.n)).all()
    # encoding its own weights gives back the same ternary matrix and scales
    again = encode_matrix(enc.weights(), cb)
    assert (again.ternary() == t).all()
    assert np.allclose(again.alpha, enc.alpha, rtol=1e-5)
    # decoding the codes of the members gives back the same codes (enum is canonical)
    if cb.assignment == "enum":
        assert (cb.encode(sub.reshape(-1, cb.n)).reshape(out, -1) == enc.codes).all()
    assert (project(w, cb)[0].reshape(out, -1)[:, :inf] == t).all()


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 62).flatmap(lambda b: st.tuples(
    st.just(b), st.integers(b, 200),
    hnp.arrays(np.int64, st.integers(0, 50), elements=st.integers(0, (1 << b) - 1)))))
def test_pack_round_trip(args):
    bits, width, codes = args
    words = pack_codes(codes, bits, width)
    per = width // bits
    assert len(words) == -(-len(codes) // per)
    assert (unpack_codes(words, bits, width, len(codes)) == codes).all()
    # nothing above the last code of a word is set
    for wv in words:
        assert int(wv) < (1 << (per * bits))


def test_pack_bit_order():
    words = pack_codes(np.array([1, 2, 3]), 4, 8)
    assert words.tolist() == [0x21, 0x03]


@pytest.mark.parametrize("w,message", [
    (np.array([1.0, 2.0]), "must be a 2-D matrix"),
    (np.zeros((0, 4)), "must not be empty"),
    (np.array([[1.0, np.nan]]), r"must be finite, but \[0, 1\] is nan"),
    (np.array([[1.0, np.inf]]), r"must be finite, but \[0, 1\] is inf"),
    (np.array([["a", "b"]]), "must be real numbers"),
])
def test_encode_refuses_bad_weights(w, message):
    with pytest.raises(ValueError, match=message):
        encode_matrix(w, Codebook(8, 2))


def test_pack_and_decode_errors():
    with pytest.raises(ValueError, match="codes must be in 0..15 for 4 bits"):
        pack_codes(np.array([16]), 4, 8)
    with pytest.raises(ValueError, match="word width must be an integer of at least 4 bits, not 3"):
        pack_codes(np.array([1]), 4, 3)
    with pytest.raises(ValueError, match="bits must be an integer in 1..62, not 0"):
        pack_codes(np.array([1]), 0, 8)
    with pytest.raises(ValueError, match="hold fewer than 9 codes"):
        unpack_codes(np.zeros(2, np.uint64), 4, 16, 9)
    cb = Codebook(4, 1)
    with pytest.raises(ValueError, match="must have 2 subvectors per row for 5 inputs"):
        decode_matrix(np.zeros((1, 3), np.int64), cb, 5)
    with pytest.raises(ValueError, match="non-zeros in the padding"):
        decode_matrix(cb.encode(np.array([[0, 0, 0, 0], [0, 0, 1, 0]])).reshape(1, 2), cb, 5)
