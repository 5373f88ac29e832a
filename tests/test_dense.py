"""Dense baseline weight formats (sst_hw.format.dense), their golden dot products and widths."""

import numpy as np
import pytest

from sst_hw.format import arith
from sst_hw.format.dense import TERNARY2_DECODE, WeightFormat
from sst_hw.format.golden import dense_accumulate, dense_accumulate_codes


def ref_unpack(fmt, code):
    """Slow reference: weight j is the field at bits [j*b, (j+1)*b)."""
    b = fmt.bits_per_weight
    out = []
    for j in range(fmt.n):
        f = (int(code) >> (j * b)) & ((1 << b) - 1)
        if fmt.kind == "int8":
            out.append(f - (1 << b) if f >> (b - 1) else f)
        else:
            out.append({0: 0, 1: 1, 2: 0, 3: -1}[f])
    return out


@pytest.mark.parametrize("kind,n,ww", [("int8", 8, 8), ("int8", 3, 2), ("int8", 4, 16),
                                       ("int8", 8, 16), ("int8", 1, 5), ("ternary2", 8, None),
                                       ("ternary2", 64, None), ("ternary2", 1, None)])
def test_pack_unpack_round_trip(kind, n, ww):
    fmt = WeightFormat(kind, n, ww)
    rng = np.random.default_rng(n * 31 + (ww or 0))
    w = rng.integers(fmt.lo, fmt.hi + 1, size=(5, 3, n))
    w[0, 0] = fmt.lo
    w[0, 1] = fmt.hi
    codes = fmt.pack(w)
    assert codes.shape == (5, 3)
    assert codes.dtype == (np.uint64 if fmt.code_bits <= 64 else object)
    np.testing.assert_array_equal(fmt.unpack(codes), w)
    for c, ws in zip(codes.reshape(-1), w.reshape(-1, n)):
        assert 0 <= int(c) < 1 << fmt.code_bits
        assert ref_unpack(fmt, c) == ws.tolist()
    assert fmt.zero_code == 0 and not fmt.unpack(np.array([0])).any()
    assert int(fmt.pack(np.zeros(n, int))) == 0


def test_int8_layout():
    fmt = WeightFormat("int8", 4)
    assert (fmt.bits_per_weight, fmt.code_bits, fmt.weight_range) == (8, 32, (-128, 127))
    assert int(fmt.pack([1, -1, -128, 127])) == 0x7F80FF01
    assert fmt.unpack(0x7F80FF01).tolist() == [1, -1, -128, 127]
    assert WeightFormat("int8", 2, weight_width=3).weight_range == (-4, 3)


def test_ternary2_encoding():
    fmt = WeightFormat("ternary2", 4)
    assert (fmt.bits_per_weight, fmt.code_bits, fmt.weight_range) == (2, 8, (-1, 1))
    # 00 -> 0, 01 -> +1, 11 -> -1; weight j at bits [2j, 2j+2)
    assert int(fmt.pack([0, 1, -1, 0])) == 0b00_11_01_00
    assert fmt.unpack(0b00_11_01_00).tolist() == [0, 1, -1, 0]
    # 10 is never written, and reads as 0
    assert fmt.unpack(0b10_10_10_10).tolist() == [0, 0, 0, 0]
    assert list(TERNARY2_DECODE) == [0, 1, 0, -1]
    every = np.array(np.meshgrid(*[[-1, 0, 1]] * 4)).reshape(4, -1).T
    codes = [int(c) for c in fmt.pack(every)]
    assert all((c >> (2 * j)) & 3 != 2 for c in codes for j in range(4))
    assert len(set(codes)) == 81


def test_sidecar_sections():
    assert WeightFormat("int8", 8).sidecar() == {
        "kind": "int8", "bits_per_weight": 8, "signed": True, "n": 8, "code_bits": 64,
        "zero_code": 0, "range": [-128, 127]}
    t = WeightFormat("ternary2", 8).sidecar()
    assert t["encoding"] == {"-1": 3, "0": 0, "1": 1} and t["decode"] == [0, 1, 0, -1]
    assert (t["bits_per_weight"], t["code_bits"], t["range"]) == (2, 16, [-1, 1])


@pytest.mark.parametrize("args,exc,message", [
    (("int4", 8), ValueError, "weight kind must be one of 'int8', 'ternary2', not 'int4'"),
    (("int8", 0), ValueError, "n must be in 1..64, not 0"),
    (("int8", 65), ValueError, "n must be in 1..64, not 65"),
    (("int8", 8, 1), ValueError, "weight_width must be in 2..16, not 1"),
    (("int8", 8, 17), ValueError, "weight_width must be in 2..16, not 17"),
    (("int8", 8, 8.0), TypeError, "weight_width must be an integer, not 8.0"),
    (("ternary2", 8, 8), ValueError, "ternary2 weights are 2 bits"),
])
def test_format_errors(args, exc, message):
    with pytest.raises(exc, match="^" + message.replace(".", r"\.")):
        WeightFormat(*args)


def test_pack_unpack_errors():
    fmt = WeightFormat("int8", 4, 4)
    with pytest.raises(ValueError, match=r"int8 weight 8 at index \(1, 2\) is outside -8\.\.7"):
        fmt.pack([[0, 0, 0, 0], [0, 0, 8, 0]])
    with pytest.raises(ValueError, match=r"weights must have shape \(\.\.\., 4\), not \(3,\)"):
        fmt.pack([0, 0, 0])
    with pytest.raises(ValueError, match="weights must be an integer array, not dtype float64"):
        fmt.pack(np.zeros(4))
    with pytest.raises(ValueError, match="ternary2 weight -2 at index \\(0,\\) is outside -1..1"):
        WeightFormat("ternary2", 2).pack([-2, 0])
    with pytest.raises(ValueError, match=r"code 65536 is outside 0\.\.2\^16-1"):
        fmt.unpack([1, 65536])
    with pytest.raises(ValueError, match=r"code -1 is outside"):
        fmt.unpack(np.array([-1]))
    with pytest.raises(ValueError, match=r"code 1267650600228229401496703205376 is outside"):
        WeightFormat("int8", 8, 12).unpack(np.array([1 << 100], dtype=object))


# -- golden model ---------------------------------------------------------------------------

def ref_dot(w, x):
    return [[sum(int(a) * int(b) for a, b in zip(row, xs)) for row in w] for xs in x]


@pytest.mark.parametrize("kind,ww,aw,signed", [
    ("int8", 8, 8, False), ("int8", 8, 8, True), ("int8", 16, 32, True),
    ("ternary2", None, 4, True)])
def test_dense_accumulate_codes(kind, ww, aw, signed):
    fmt = WeightFormat(kind, 8, ww)
    act = arith.act_range(aw, signed)
    rng = np.random.default_rng(5)
    out, feats = 6, 21                       # 3 subvectors, the last one padded
    w = rng.integers(fmt.lo, fmt.hi + 1, size=(out, 24))
    w[:, feats:] = 0
    w[0, :feats] = fmt.lo                    # an extreme row
    x = rng.integers(act[0], act[1] + 1, size=(4, feats), dtype=np.int64)
    x[0] = act[0]
    codes = fmt.pack(w.reshape(out, 3, 8))
    got = dense_accumulate_codes(fmt, codes, x)
    assert got.dtype == np.int64
    assert got.tolist() == ref_dot(w[:, :feats], x)
    assert dense_accumulate(w[:, :feats], x[1]).tolist() == [ref_dot(w[:, :feats], x[1:2])[0]]
    # within the arithmetic contract's worst case
    lo, hi = arith.dense_acc_range(feats, fmt.weight_range, aw, signed)
    assert lo <= got.min() and got.max() <= hi


def test_dense_accumulate_errors():
    fmt = WeightFormat("int8", 4)
    with pytest.raises(ValueError, match="padding weights .* must be zero"):
        dense_accumulate_codes(fmt, fmt.pack([[[1, 2, 3, 4]]]), [1, 2, 3])
    with pytest.raises(ValueError, match=r"1 subvectors of 4 weights need 1\.\.4 inputs, not 5"):
        dense_accumulate_codes(fmt, fmt.pack([[[1, 2, 3, 4]]]), [1, 2, 3, 4, 5])
    with pytest.raises(ValueError, match="overflow int64"):
        dense_accumulate(np.full((1, 4), 1 << 40), np.full(4, 1 << 30))
    with pytest.raises(ValueError, match="weights must be an integer array"):
        dense_accumulate(np.zeros((2, 2)), [1, 2])
    with pytest.raises(ValueError, match=r"input must have shape \(batch, 2\)"):
        dense_accumulate(np.zeros((2, 2), int), [1, 2, 3])
    with pytest.raises(TypeError, match="fmt must be a WeightFormat"):
        dense_accumulate_codes("int8", [[0]], [1])


# -- widths -----------------------------------------------------------------------------------

def test_dense_acc_range():
    assert arith.product_range((-128, 127), (0, 255)) == (-32640, 32385)
    assert arith.product_range((-128, 127), (-128, 127)) == (-16256, 16384)
    assert arith.dense_acc_range(1024, (-128, 127), 8, True) == (-16256 * 1024, 16384 * 1024)
    assert arith.dense_acc_range(10, (-1, 1), 8, False) == arith.acc_range(10, 8, 8, 8, False)
    assert arith.dense_acc_range(3, (-1, 1), 4, True) == (-24, 24)
    # 1024 int8 x uint8 products: -33423360 .. 33162240 -> 26 bits
    assert arith.signed_width(*arith.dense_acc_range(1024, (-128, 127), 8, False)) == 26
    with pytest.raises(ValueError, match="row length must be a positive integer, not 0"):
        arith.dense_acc_range(0, (-1, 1), 8, False)
