"""The golden model against a slow, obviously-correct Python reference."""

import re
import subprocess
import sys
import zlib

import numpy as np
import pytest

from sst_hw.format import arith
from sst_hw.format.codebook import Codebook
from sst_hw.format.golden import Layer, Network

# -- the reference: Python ints, loops, nothing clever ------------------------------------


def ref_weights(layer):
    """Row lists of ints, decoded one code at a time; padding must be zero."""
    cb = layer.codebook
    rows = []
    for r in range(layer.out_features):
        w = []
        for s in range(layer.subvectors):
            w.extend(int(t) for t in cb.decode(np.array([layer.codes[r, s]]))[0])
        assert all(t == 0 for t in w[layer.in_features:])
        rows.append(w[:layer.in_features])
    return rows


def ref_requant(a, m, c, s, relu, width):
    lo, hi = (0, 2 ** width - 1) if relu else (-(2 ** (width - 1)), 2 ** (width - 1) - 1)
    return min(max((a * m + c) >> s, lo), hi)


def ref_forward(net, xs):
    """Per sample: (list of per-layer (acc, out)) and the arg-max (first maximum)."""
    weights = [ref_weights(layer) for layer in net.layers]
    results = []
    for sample in xs:
        v = [int(a) for a in sample]
        trace = []
        for i, (layer, w) in enumerate(zip(net.layers, weights)):
            acc = [sum(t * a for t, a in zip(row, v)) for row in w]
            if i == len(net.layers) - 1:
                out = acc
            else:
                out = [ref_requant(a, int(layer.mult[r]), int(layer.add[r]), layer.shift,
                                   layer.relu, layer.act_width) for r, a in enumerate(acc)]
            trace.append((acc, out))
            v = out
        best = 0
        for j, a in enumerate(v):
            if a > v[best]:
                best = j
        results.append((trace, best))
    return results


def random_inputs(net, rng, batch):
    lo, hi = net.input_range
    x = rng.integers(lo, hi, size=(batch, net.layers[0].in_features), endpoint=True)
    x[0] = hi                       # the extremes too
    if batch > 1:
        x[1] = lo
    return x


def check_against_ref(net, x):
    logits, classes = net.forward(x)
    traces = net.activations(x)
    assert logits.dtype == np.int64 and classes.dtype == np.int64
    assert logits.shape == (len(x), net.classes) and classes.shape == (len(x),)
    for b, (trace, best) in enumerate(ref_forward(net, x)):
        assert classes[b] == best
        assert logits[b].tolist() == trace[-1][0]
        for i, (acc, out) in enumerate(trace):
            assert traces[i].acc[b].tolist() == acc, (b, i)
            assert traces[i].output[b].tolist() == out, (b, i)
            if i:
                assert traces[i].input[b].tolist() == trace[i - 1][1]


CODEBOOKS = [(8, 2, "full", "enum"), (8, 2, "full", "direct"), (8, 2, "partitioned", "enum"),
             (8, 2, "partitioned", "direct"), (4, 1, "full", "direct"), (16, 4, "full", "enum"),
             (6, 3, "partitioned", "direct"), (3, 3, "full", "enum"), (5, 2, "full", "direct"),
             (24, 6, "partitioned", "enum")]   # the last has 30-bit codes: no table
SIZES = [[13, 7, 5], [1, 3, 2], [29, 17, 9, 4], [16, 8], [9, 11, 6, 5, 3]]


@pytest.mark.parametrize("cb", CODEBOOKS, ids=lambda c: "{}-{}-{}-{}".format(*c))
@pytest.mark.parametrize("sizes", SIZES, ids=lambda s: "x".join(map(str, s)))
def test_matches_reference(cb, sizes):
    n, k, variant, assignment = cb
    seed = zlib.crc32(repr((cb, sizes)).encode())      # the same in every process
    net = Network.random(seed, sizes, n, k, variant, assignment)
    check_against_ref(net, random_inputs(net, np.random.default_rng(seed), 12))


@pytest.mark.parametrize("seed", range(4))
def test_signed_input_and_no_relu(seed):
    rng = np.random.default_rng(seed)
    net = Network.random(rng, [11, 9, 7, 3], 4, 2, "full", "direct", input_width=6,
                         input_signed=True, act_width=[5, 4], relu=[False, True])
    assert net.input_range == (-32, 31)
    assert net.input_formats() == [(6, True), (5, True), (4, False)]
    assert net.layers[0].out_range == (-16, 15)
    x = random_inputs(net, rng, 20)
    check_against_ref(net, x)
    out = net.activations(x)[0].output
    assert out.min() < 0 < out.max()           # signed hidden output really is used


@pytest.mark.parametrize("seed", range(3))
def test_shift_mode(seed):
    rng = np.random.default_rng(seed)
    net = Network.random(rng, [20, 10, 4], 8, 2, shift_mode=True)
    assert all(layer.shift_mode for layer in net.layers)
    check_against_ref(net, random_inputs(net, rng, 10))


def test_negative_multipliers_and_spread():
    rng = np.random.default_rng(7)
    net = Network.random(rng, [40, 30, 20, 6], 8, 2)
    mults = np.concatenate([layer.mult for layer in net.layers[:-1]])
    assert (mults < 0).any() and (mults > 1).any()
    lo, hi = arith.mult_range()
    assert mults.min() >= lo and mults.max() <= hi
    x = random_inputs(net, rng, 100)
    check_against_ref(net, x[:10])
    for t in net.activations(x)[:-1]:
        # Neither all saturated nor dead: most values strictly inside 0..255.
        inside = ((t.output > 0) & (t.output < 255)).mean()
        assert inside > 0.7, inside
        assert t.output.max() > 100


def one_row_layer(weights, mult=1, add=0, shift=0, relu=False, act_width=8, n=4, k=4):
    """A layer of one row per entry of ``weights`` (lists of -1/0/1)."""
    cb = Codebook(n, k, "full", "enum")
    w = np.array(weights)
    feats = w.shape[1]
    pad = -feats % n
    codes = cb.encode(np.pad(w, ((0, 0), (0, pad))).reshape(-1, n)).reshape(len(w), -1)
    rows = len(w)
    return Layer(feats, rows, cb, codes, np.full(rows, mult), np.full(rows, add), shift,
                 relu, act_width)


def test_hand_example_floor_shift_and_clamp():
    # acc = 10 - 3 = 7 and -7; (acc * M + C) >> S rounds towards -inf.
    layer = one_row_layer([[1, -1, 0], [-1, 1, 0]], mult=3, add=2, shift=2, act_width=4)
    acc = layer.accumulate([[10, 3, 99]])
    assert acc.tolist() == [[7, -7]]
    # (21 + 2) >> 2 = 5; (-21 + 2) >> 2 = -19 >> 2 = -5 (floor of -4.75)
    assert layer.requantize(acc).tolist() == [[5, -5]]
    # clamp to 4-bit signed -8..7
    assert layer.forward([[40, 0, 0]]).tolist() == [[7, -8]]
    relu = one_row_layer([[1, -1, 0], [-1, 1, 0]], mult=3, add=2, shift=2, relu=True,
                         act_width=4)
    assert relu.forward([[10, 3, 0]]).tolist() == [[5, 0]]
    assert relu.forward([[40, 0, 0]]).tolist() == [[15, 0]]


def test_shift_zero_and_negative_multiplier():
    layer = one_row_layer([[1, 1, -1, 0, 1]], mult=-5, add=100, shift=0, act_width=8)
    x = np.array([[1, 2, 3, 4, 5], [0, 0, 0, 0, 0], [100, 100, 0, 0, 100]])
    # acc = 5, 0, 300 ; y = -5 acc + 100 = 75, 100, -1400 -> clamp -128
    assert layer.forward(x).tolist() == [[75], [100], [-128]]
    net = Network([layer, one_row_layer([[1]], n=2, k=1)], input_width=8)
    check_against_ref(net, x)


def test_argmax_ties_lowest_index():
    last = one_row_layer([[1, 0, 0], [0, 1, 1], [0, 1, 1], [1, 1, 0]])
    net = Network([last], input_width=4)
    logits, classes = net.forward([[0, 2, 3], [5, 0, 0], [0, 0, 0], [1, 1, 1]])
    assert logits.tolist() == [[0, 5, 5, 2], [5, 0, 0, 5], [0, 0, 0, 0], [1, 2, 2, 2]]
    assert classes.tolist() == [1, 0, 0, 1]
    # Random nets with duplicated last-layer rows tie on every sample.
    rng = np.random.default_rng(3)
    net = Network.random(rng, [12, 8, 4], 4, 2)
    lay = net.layers[-1]
    codes = lay.codes.copy()
    codes[3] = codes[1]
    codes[2] = codes[1]
    dup = Layer(lay.in_features, 4, lay.codebook, codes, lay.mult, lay.add, 0, False, 8)
    net = Network([net.layers[0], dup])
    x = random_inputs(net, rng, 30)
    logits, classes = net.forward(x)
    assert (logits[:, 1] == logits[:, 3]).all()
    assert not (classes == 3).any() and not (classes == 2).any()
    check_against_ref(net, x)


def test_float_and_int_paths_agree():
    rng = np.random.default_rng(11)
    for cb in CODEBOOKS[:6]:
        net = Network.random(rng, [50, 33, 10], *cb, input_width=12, input_signed=True)
        x = random_inputs(net, rng, 40)
        for layer, t, w in zip(net.layers, net.activations(x), net.acc_widths()):
            f = layer.accumulate(t.input, acc_width=w, method="float")
            i = layer.accumulate(t.input, acc_width=w, method="int")
            assert f.dtype == i.dtype == np.int64
            np.testing.assert_array_equal(f, i)
            np.testing.assert_array_equal(f, t.acc)


def test_float_refused_when_inexact_and_int_is_exact():
    # 2^14 weights of +1 on inputs of 2^40 + 1: partial sums pass 2^53.
    cb = Codebook(8, 8, "full", "enum")
    feats = 1 << 14
    codes = np.full((1, feats // 8), cb.encode(np.ones((1, 8), np.int8))[0])
    layer = Layer(feats, 1, cb, codes, [1], [0], 0, False, 8)
    x = np.full((1, feats), (1 << 40) + 1, np.int64)
    x[0, 0] += 1
    exact = feats * ((1 << 40) + 1) + 1   # odd and > 2^54: no float64 holds it
    assert layer.accumulate(x).tolist() == [[exact]]                 # auto: the int path
    assert layer.accumulate(x, method="int").tolist() == [[exact]]
    assert int(np.rint(x[0].astype(np.float64) @ np.ones(feats))) != exact   # why it matters
    bound = feats * ((1 << 40) + 2)       # most non-zeros per row * largest |x|
    with pytest.raises(ValueError, match=r"float64 is not exact for dot products up to "
                                         rf"{bound} in magnitude"):
        layer.accumulate(x, method="float")
    with pytest.raises(ValueError, match="float64 is not exact for a 53-bit accumulator"):
        layer.accumulate(x, acc_width=53, method="float")
    with pytest.raises(ValueError, match="method must be one of auto, float, int, not 'blas'"):
        layer.accumulate(x, method="blas")


def wide_layer(feats, rows=1, ones=True):
    cb = Codebook(2, 2, "full", "enum")
    code = cb.encode(np.ones((1, 2), np.int8))[0] if ones else cb.zero_code
    codes = np.full((rows, -(-feats // 2)), code)
    if feats % 2:
        codes[:, -1] = cb.encode(np.array([[1, 0]]))[0]
    return Layer(feats, rows, cb, codes, np.ones(rows, int), np.zeros(rows, int), 0, True, 8)


def test_width_refusal():
    feats = (1 << 14) + 1                 # 32-bit inputs: a 48-bit accumulator
    assert arith.acc_width(feats, 2, 2, 32, False) == 48
    with pytest.raises(ValueError, match=re.escape(
            "layer 0: acc * M + C needs 65 bits (accumulator 48 + multiplier 16 + 1), "
            "more than the 64 bits supported")):
        Network([wide_layer(feats), wide_layer(1)], input_width=32)
    # One bit less is fine, and so is a wide *last* layer (no requantization).
    Network([wide_layer(feats - 1), wide_layer(1)], input_width=32)
    Network([wide_layer(feats)], input_width=32)


def test_wide_last_layer_uses_exact_int_path():
    feats = (1 << 20) + 1                 # 32-bit inputs: a 54-bit accumulator
    net = Network([wide_layer(feats)], input_width=32)
    assert net.acc_widths() == [54]
    x = np.full((1, feats), (1 << 32) - 1, np.int64)
    x[0, ::3] = 12345
    logits, classes = net.forward(x)
    assert logits.tolist() == [[sum(int(v) for v in x[0])]]
    assert classes.tolist() == [0]
    with pytest.raises(ValueError, match="float64 is not exact for a 54-bit accumulator"):
        net.layers[0].accumulate(x, acc_width=54, method="float")


def test_add_range_refusal():
    layer = one_row_layer([[1, 1]], add=1 << 40)
    w = arith.acc_width(2, 4, 4, 8, False)
    lo, hi = arith.add_range(w)
    with pytest.raises(ValueError, match=re.escape(
            f"layer 0: add (C) {1 << 40} at row 0 is out of range {lo}..{hi} "
            f"({w + 16}-bit signed for a {w}-bit accumulator)")):
        Network([layer, one_row_layer([[1]], n=2, k=1)])
    Network([layer])                      # unused in the last layer


def test_requantize_refuses_int64_overflow():
    layer = one_row_layer([[1]], mult=-32768, add=0, n=2, k=1)
    with pytest.raises(ValueError, match="beyond int64"):
        layer.requantize([[1 << 50]])


def test_input_validation():
    net = Network.random(0, [5, 3, 2], 4, 1)
    with pytest.raises(ValueError, match=re.escape(
            "input value 256 at [1, 3] is outside the 8-bit unsigned range 0..255")):
        net.forward([[0] * 5, [1, 2, 3, 256, 4]])
    with pytest.raises(ValueError, match=re.escape(
            "input value -1 at [0, 0] is outside the 8-bit unsigned range 0..255")):
        net.forward([[-1, 0, 0, 0, 0]])
    with pytest.raises(ValueError, match="input must be an integer array, not dtype float64"):
        net.forward(np.zeros((2, 5)))
    with pytest.raises(ValueError, match=re.escape("input must have shape (batch, 5), not (2, 4)")):
        net.forward(np.zeros((2, 4), np.int64))
    snet = Network.random(0, [5, 2], 4, 1, input_width=4, input_signed=True)
    with pytest.raises(ValueError, match=re.escape(
            "input value -9 at [0, 2] is outside the 4-bit signed range -8..7")):
        snet.forward([[0, 0, -9, 0, 0]])
    big = np.full((1, 5), 1 << 63, np.uint64)
    with pytest.raises(ValueError, match="does not fit int64"):
        net.forward(big)
    # A 1-D input is a batch of one; other integer dtypes are fine.
    x = np.array([1, 2, 3, 4, 255], np.uint8)
    logits, classes = net.forward(x)
    assert logits.shape == (1, 2) and classes.shape == (1,)
    np.testing.assert_array_equal(logits, net.forward(x[None].astype(np.int64))[0])
    empty_logits, empty_classes = net.forward(np.zeros((0, 5), np.int64))
    assert empty_logits.shape == (0, 2) and empty_classes.shape == (0,)


def test_layer_validation_messages():
    cb = Codebook(8, 2, "full", "enum")
    ok = dict(in_features=10, out_features=2, codebook=cb, codes=np.zeros((2, 2), np.int64),
              mult=[1, 1], add=[0, 0], shift=3, relu=True, act_width=8)
    Layer(**ok)

    def bad(match, **kw):
        with pytest.raises((ValueError, TypeError), match=match):
            Layer(**{**ok, **kw})

    bad(re.escape("codes must have shape (2, 2), not (2, 1)"), codes=np.zeros((2, 1), int))
    bad("codes must be an integer array, not dtype float64", codes=np.zeros((2, 2)))
    bad(re.escape("code 256 at row 1, subvector 0 is out of range 0..255 (8-bit codes of "
                  "full/enum (8,2))"), codes=[[0, 0], [256, 0]])
    bad(re.escape("code 200 at row 0, subvector 1 is not a used code of full/enum (8,2)"),
        codes=[[0, 200], [0, 0]])
    # code 1 = +1 at position 0; in the last subvector only positions 0..1 are weights.
    p7 = int(cb.encode(np.eye(8, dtype=np.int8)[7:])[0])
    bad(re.escape(f"code {p7} at row 0 (last subvector) has a non-zero at padding position 7: "
                  "only positions 0..1 of the last subvector are weights"),
        codes=[[0, p7], [0, 0]])
    Layer(**{**ok, "codes": [[p7, 1], [0, 0]]})
    bad(re.escape("multiplier 32768 at row 1 does not fit 16-bit signed (-32768..32767)"),
        mult=[1, 32768])
    bad("shift must be in 0..63, not 64", shift=64)
    bad("act_width must be in 1..32, not 0", act_width=0)
    bad("signed activations need at least 2 bits, not 1", act_width=1, relu=False)
    bad("relu must be a bool", relu=1)
    bad(re.escape("alpha must be finite, not nan (NaN or inf) at row 1"), alpha=[1, np.nan])
    bad(re.escape("bias must be finite, not inf (NaN or inf) at row 0"), bias=[np.inf, 0])
    bad(re.escape("alpha must be >= 0, not -1.0 at row 0"), alpha=[-1, 1])
    bad("codebook must be a Codebook", codebook=(8, 2))


def test_network_validation_messages():
    a = Network.random(0, [6, 5, 3], 4, 2).layers
    b = Network.random(0, [6, 4, 3], 4, 2).layers
    with pytest.raises(ValueError, match="layer 0 has 5 outputs but layer 1 has 4 inputs"):
        Network([a[0], b[1]])
    with pytest.raises(ValueError, match="at least one layer"):
        Network([])
    with pytest.raises(ValueError, match="input_width must be in 1..32, not 33"):
        Network(a, input_width=33)


def test_layer_caches_and_widths():
    net = Network.random(5, [19, 6, 3], 8, 2, "partitioned", "direct")
    layer = net.layers[0]
    t = layer.ternary()
    assert t is layer.ternary() and t.dtype == np.int8 and t.shape == (6, 19)
    assert not t.flags.writeable and not layer.codes.flags.writeable
    assert set(np.unique(t)) <= {-1, 0, 1}
    assert (np.count_nonzero(t.reshape(6, -1)[:, :16].reshape(6, 2, 8), axis=2) <= 2).all()
    assert net.acc_widths() == [arith.acc_width(19, 8, 2, 8, False),
                                arith.acc_width(6, 8, 2, 8, False)]
    assert layer.acc_width(8, False) == 12       # 2 + 2 + 2 non-zeros * 255 = 1530 < 2^11
    assert net == Network.random(5, [19, 6, 3], 8, 2, "partitioned", "direct")
    assert net != Network.random(6, [19, 6, 3], 8, 2, "partitioned", "direct")


def test_random_network_validation():
    with pytest.raises(ValueError, match="sizes must be at least two positive integers"):
        Network.random(0, [4], 4, 2)
    with pytest.raises(ValueError, match="one value per hidden layer"):
        Network.random(0, [4, 3, 2], 4, 2, relu=[True, False])


def test_golden_never_imports_amaranth():
    code = ("import sys, sst_hw.format.golden, sst_hw.format.modelfile; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('amaranth', 'cocotb')]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
