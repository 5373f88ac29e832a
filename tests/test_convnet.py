"""ConvNetwork (sst_hw.format.convnet): the chain checks, and its execution
plan (chunks, float32 products, float64 requantization) against the plain
layers (conv.forward_all) and an independent loop reference, bit for bit.
Also random_convnet, the compression count of a CNN and the CLI on a CNN
model file."""

import numpy as np
import pytest

from sst_hw.cli import main
from sst_hw.format import arith, convnet, modelfile
from sst_hw.format.codebook import Codebook
from sst_hw.format.compression import SHIFT_BITS, compression, format_compression
from sst_hw.format.conv import Conv2D, Flatten, MaxPool, forward_all
from sst_hw.format.convnet import ConvNetwork
from sst_hw.format.golden import Layer, Network
from sst_hw.format.random_model import random_conv2d, random_convnet

CB = Codebook(8, 2)


# -- an independent loop reference (Python integers, no NumPy arithmetic) -------------------------

def ref_forward(net: ConvNetwork, x) -> np.ndarray:
    """Logits of every image by plain loops over pixels, rows and weights."""
    out = []
    for img in np.asarray(x).reshape((-1,) + net.input_shape).tolist():
        a = img                                             # nested lists [H][W][C]
        for i, layer in enumerate(net.layers):
            last = i == len(net.layers) - 1
            if isinstance(layer, Conv2D):
                a = _ref_conv(layer, a)
            elif isinstance(layer, MaxPool):
                a = _ref_pool(layer, a)
            elif isinstance(layer, Flatten):
                a = [v for row in a for px in row for v in px]
            else:
                t = layer.ternary().tolist()
                acc = [sum(w * v for w, v in zip(row, a)) for row in t]
                a = acc if last else [_ref_requant(layer, r, v) for r, v in enumerate(acc)]
        out.append(a)
    return np.array(out, np.int64)


def _ref_requant(g: Layer, r: int, acc: int) -> int:
    lo, hi = g.out_range
    return min(max((acc * int(g.mult[r]) + int(g.add[r])) >> g.shift, lo), hi)


def _ref_conv(conv: Conv2D, a):
    h, w, cin = conv.in_shape
    ho, wo, cout = conv.out_shape
    ph, pw = conv.pad
    t = conv.layer.ternary().tolist()
    out = [[[0] * cout for _ in range(wo)] for _ in range(ho)]
    for oy in range(ho):
        for ox in range(wo):
            for r in range(cout):
                s = 0
                for ky in range(conv.kh):
                    for kx in range(conv.kw):
                        iy, ix = oy * conv.stride + ky - ph, ox * conv.stride + kx - pw
                        if 0 <= iy < h and 0 <= ix < w:
                            for c in range(cin):
                                s += t[r][(ky * conv.kw + kx) * cin + c] * a[iy][ix][c]
                out[oy][ox][r] = _ref_requant(conv.layer, r, s)
    return out


def _ref_pool(pool: MaxPool, a):
    ho, wo, c = pool.out_shape
    k, s = pool.kernel, pool.stride
    return [[[max(a[oy * s + dy][ox * s + dx][ch] for dy in range(k) for dx in range(k))
              for ch in range(c)] for ox in range(wo)] for oy in range(ho)]


def inputs(net, batch, seed):
    return np.random.default_rng(seed).integers(*net.input_range,
                                                size=(batch,) + net.input_shape,
                                                endpoint=True)


# -- forward against forward_all and the loop reference, awkward shapes --------------------------

# (input shape, spec, random_convnet options)
CASES = [
    ((7, 5, 1), [("conv", 3, 3, 1, 1), ("pool", 2), ("flatten",), ("dense", 4)], {}),
    ((7, 5, 3), [("conv", 4, 3, 2, 1), ("flatten",), ("dense", 5), ("dense", 3)], {}),
    ((9, 7, 5), [("conv", 2, 5, 1, 2), ("pool", 3), ("conv", 3, 1), ("flatten",),
                 ("dense", 3)], {}),
    ((8, 8, 3), [("conv", 4, 3, 1, 0), ("pool", 2), ("conv", 5, 3, 2, 1), ("flatten",),
                 ("dense", 4)], {"relu": False}),
    ((6, 7, 2), [("conv", 3, (1, 3), 1, (0, 1)), ("conv", 2, (3, 1), 2, (1, 0)),
                 ("pool", 2), ("flatten",), ("dense", 2)], {"shift_mode": True}),
    ((5, 5, 3), [("conv", 4, 5, 2, 2), ("flatten",), ("dense", 6), ("dense", 2)],
     {"input_width": 6, "input_signed": True, "act_width": 5}),
    ((11, 9, 1), [("pool", 3), ("conv", 3, 3, 1, 1), ("pool", 2), ("flatten",), ("dense", 3)],
     {"n": 4, "k": 1, "variant": "partitioned", "assignment": "direct"}),
]


@pytest.mark.parametrize("shape, spec, opts", CASES)
def test_forward_matches_plain_layers_and_loops(shape, spec, opts):
    net = random_convnet(len(spec), shape, spec, calib=12, **opts)
    x = inputs(net, 3, 7)
    logits, classes = net.forward(x)
    assert logits.dtype == np.int64 and classes.dtype == np.int64
    np.testing.assert_array_equal(logits, forward_all(net.layers, x))
    np.testing.assert_array_equal(logits, ref_forward(net, x))
    np.testing.assert_array_equal(classes, np.argmax(ref_forward(net, x), axis=1))
    # flat HWC input, one image, and the same image alone
    np.testing.assert_array_equal(net.forward(x.reshape(3, -1))[0], logits)
    np.testing.assert_array_equal(net.forward(x[1])[0], logits[1:2])


@pytest.mark.parametrize("shape, spec, opts", CASES[:4])
def test_activations_match_the_plain_layers(shape, spec, opts):
    net = random_convnet(3, shape, spec, calib=12, **opts)
    x = inputs(net, 4, 1)
    traces = net.activations(x)
    h = x
    for i, (layer, t) in enumerate(zip(net.layers, traces)):
        np.testing.assert_array_equal(t.input, h)
        if isinstance(layer, (MaxPool, Flatten)):
            assert t.acc is None
            h = layer.forward(h)
        else:
            np.testing.assert_array_equal(t.acc, layer.accumulate(h))
            h = t.acc if i == len(net.layers) - 1 else layer.forward(h)
        assert t.output.dtype == np.int64
        np.testing.assert_array_equal(t.output, h)
    assert [t.output.shape[1:] for t in traces] == [tuple(s) for s in net.shapes]


def test_many_chunks_and_a_partial_last_chunk(monkeypatch):
    net = random_convnet(5, (9, 9, 2), [("conv", 4, 3, 1, 1), ("pool", 2), ("conv", 3, 3),
                                        ("flatten",), ("dense", 5)], calib=8)
    x = inputs(net, 23, 2)
    want = forward_all(net.layers, x)
    sizes = set()
    for budget in (1, 20_000, 50_000, 100_000, 1 << 30):
        monkeypatch.setattr(convnet, "CHUNK_BYTES", budget)
        sizes.add(net.chunk_size(23))
        np.testing.assert_array_equal(net.forward(x)[0], want)
        np.testing.assert_array_equal(net.activations(x)[-1].output, want)
    assert 1 in sizes and 23 in sizes                  # one image per chunk, one chunk
    assert any(1 < n < 23 and 23 % n for n in sizes)   # a partial last chunk


def test_empty_batch():
    net = random_convnet(1, (4, 4, 1), [("conv", 2, 3, 1, 1), ("flatten",), ("dense", 3)])
    logits, classes = net.forward(np.zeros((0, 4, 4, 1), np.int64))
    assert logits.shape == (0, 3) and classes.shape == (0,)


def test_blas_threads_setting_does_not_change_results(monkeypatch):
    net = random_convnet(2, (6, 6, 3), [("conv", 4, 3, 1, 1), ("flatten",), ("dense", 3)])
    x = inputs(net, 5, 3)
    want = forward_all(net.layers, x)
    for threads in (None, 1, 2):
        monkeypatch.setattr(convnet, "BLAS_THREADS", threads)
        np.testing.assert_array_equal(net.forward(x)[0], want)


# -- the float32 bound: at its edge, and just above it ------------------------------------------

def full_row_layer(in_features, signs, *, relu=True, act_width=8, mult=None, add=None,
                   shift=0):
    """A golden layer of codebook (8, 8) (every weight may be non-zero) whose
    row r has every weight ``signs[r]`` (+1 or -1)."""
    cb = Codebook(8, 8)
    n = cb.n
    subs = -(-in_features // n)
    rem = in_features - (subs - 1) * n
    codes = []
    for s in signs:
        full = int(cb.encode(np.full((1, n), s, np.int8))[0])
        last = np.zeros((1, n), np.int8)
        last[0, :rem] = s
        codes.append([full] * (subs - 1) + [int(cb.encode(last)[0])])
    rows = len(signs)
    mult = np.ones(rows, np.int64) if mult is None else np.asarray(mult, np.int64)
    add = np.zeros(rows, np.int64) if add is None else np.asarray(add, np.int64)
    return Layer(in_features, rows, cb, np.array(codes, np.int64), mult, add, shift, relu,
                 act_width)


def edge_network(cin, width=12):
    """1x1 conv over ``cin`` channels of ``width``-bit inputs, rows all +1 and
    all -1 (K = N: every weight non-zero), then flatten and a small dense."""
    conv = Conv2D(full_row_layer(cin, [1, -1], mult=[1, -3], add=[5, -7], shift=3,
                                 act_width=12, relu=False), 1, 1, 1, 0, (1, 2, cin))
    fl = Flatten(conv.out_shape)
    dense = full_row_layer(fl.out_features, [1, -1])
    return ConvNetwork([conv, fl, dense], (1, 2, cin), width, False)


def test_float32_at_the_edge_of_the_bound():
    # 4097 weights of 12-bit inputs: the worst case is 4097 * 4095 = 2^24 - 1, still exact
    net = edge_network(4097)
    lo, hi = net.layers[0].acc_bound(12, False)
    assert hi == 4097 * 4095 == (1 << 24) - 1 and lo == -hi
    assert net.float32_exact() == [True, False, True]
    x = np.full((2, 1, 2, 4097), 4095, np.int64)
    x[1, 0, 1, :] = 4094
    x[1, 0, 1, 17] = 0
    traces = net.activations(x)
    s0, s1 = 4097 * 4095, 4096 * 4094
    want = np.array([[[s0, -s0], [s0, -s0]], [[s0, -s0], [s1, -s1]]], np.int64)
    np.testing.assert_array_equal(traces[0].acc[:, 0], want)
    np.testing.assert_array_equal(net.forward(x)[0], forward_all(net.layers, x))
    np.testing.assert_array_equal(net.forward(x)[0], ref_forward(net, x))


def test_just_above_the_bound_takes_the_exact_path():
    # 4098 weights: the worst case 4098 * 4095 passes 2^24, so no float32 product
    net = edge_network(4098)
    assert net.layers[0].acc_bound(12, False)[1] == 4098 * 4095 > 1 << 24
    assert net.float32_exact() == [False, False, True]
    x = np.full((1, 1, 2, 4098), 4095, np.int64)
    x[0, 0, 1, 0] = 4094
    odd = 4097 * 4095 + 4094                          # odd and above 2^24
    assert int(np.float32(odd)) != odd                # float32 would have rounded it
    traces = net.activations(x)
    np.testing.assert_array_equal(traces[0].acc[0, 0], [[4098 * 4095, -4098 * 4095],
                                                        [odd, -odd]])
    np.testing.assert_array_equal(net.forward(x)[0], ref_forward(net, x))


def test_float64_requantization_at_extreme_constants():
    # M at both ends of 16 bits, C at the ends of its range, shifts 0 and 40
    cin = 4097
    w = arith.acc_width(cin, 8, 8, 12, False)
    clo, chi = arith.add_range(w)
    for shift, add in ((0, [chi, clo]), (40, [chi, clo]), (17, [-12345, 98765])):
        g = full_row_layer(cin, [1, -1], mult=[32767, -32768], add=add, shift=shift,
                           act_width=24, relu=False)
        conv = Conv2D(g, 1, 1, 1, 0, (1, 3, cin))
        fl = Flatten(conv.out_shape)
        net = ConvNetwork([conv, fl, full_row_layer(6, [1])], (1, 3, cin), 12, False)
        x = np.random.default_rng(shift).integers(0, 4096, size=(4, 1, 3, cin))
        x[0] = 4095
        traces = net.activations(x)
        want = g.requantize(g.accumulate(x.reshape(-1, cin), method="int"))
        np.testing.assert_array_equal(traces[0].output.reshape(-1, 2), want)
        np.testing.assert_array_equal(net.forward(x)[0], ref_forward(net, x))


def test_wide_activations_take_the_exact_paths():
    # 32-bit signed inputs: no float32 product (the random conv's requantization
    # still fits float64) ...
    conv = random_conv2d(3, (4, 4, 2), 3, 3, 3, 1, 1, codebook=CB, in_width=32, in_signed=True,
                         act_width=30, relu=False)
    fl = Flatten(conv.out_shape)
    net = ConvNetwork([conv, fl, full_row_layer(fl.out_features, [1, -1])], (4, 4, 2), 32,
                      True)
    assert net.float32_exact() == [False, False, False]
    x = inputs(net, 3, 4)
    np.testing.assert_array_equal(net.forward(x)[0], forward_all(net.layers, x))
    np.testing.assert_array_equal(net.forward(x)[0], ref_forward(net, x))
    # ... and 4096 full-weight rows with 16-bit multipliers: |acc * M| reaches 2^58,
    # beyond float64, so the requantization is the int64 one
    g = full_row_layer(4096, [1, -1], mult=[32767, -32768], shift=20, act_width=30,
                       relu=False)
    conv = Conv2D(g, 1, 1, 1, 0, (1, 2, 4096))
    fl = Flatten(conv.out_shape)
    net = ConvNetwork([conv, fl, full_row_layer(4, [1, -1])], (1, 2, 4096), 32, True)
    assert net._steps()[0].scaled is None and net.float32_exact()[0] is False
    x = inputs(net, 3, 5)
    x[0] = net.input_range[0]
    np.testing.assert_array_equal(net.forward(x)[0], forward_all(net.layers, x))
    np.testing.assert_array_equal(net.forward(x)[0], ref_forward(net, x))


# -- the chain checks ----------------------------------------------------------------------

def small_layers(shape=(6, 6, 3)):
    """conv 4ch 3x3 p1 -> maxpool 2 -> flatten (36) -> dense 5 -> dense 3 (valid)."""
    rng = np.random.default_rng(0)
    conv = random_conv2d(rng, shape, 4, 3, 3, 1, 1, codebook=CB)
    pool = MaxPool(2, conv.out_shape)
    fl = Flatten(pool.out_shape)
    d1 = Network.random(1, [fl.out_features, 5, 3], 8, 2).layers
    return [conv, pool, fl, *d1]


def test_valid_chain_shapes_and_formats():
    net = ConvNetwork(small_layers(), (6, 6, 3))
    assert net.kinds == ["conv2d", "maxpool", "flatten", "dense", "dense"]
    assert net.shapes == [(6, 6, 4), (3, 3, 4), (36,), (5,), (3,)]
    assert net.in_features == 108 and net.classes == 3
    assert net.input_formats() == [(8, False)] * 4 + [(8, False)]
    # (8,2): conv rows of 27 weights hold at most 2+2+2+2 = 8 non-zeros, |acc| <= 2040
    # (12 bits); dense rows of 36 at most 10 (2550, 13 bits); of 5 at most 2 (510, 10 bits)
    assert net.acc_widths() == [12, None, None, 13, 10]
    assert len(net.sst_layers()) == 3


@pytest.mark.parametrize("edit, message", [
    (lambda ls: [], "a network needs at least one layer"),
    (lambda ls: ls[:1] + ["pool"] + ls[2:], "not a layer of a ConvNetwork: str"),
    (lambda ls: ls[:3],
     "the last layer must be dense (it gives the logits), not flatten (layer 2)"),
    (lambda ls: ls[:2] + ls[3:],
     "layer 2 (dense) reads a vector but gets a 3x3x4 tensor: put a flatten before it"),
    (lambda ls: ls[:3] + ls[4:],
     "layer 3 (dense) has 5 inputs but the layer before gives 36 features"),
    (lambda ls: ls[:3] + [Flatten((3, 3, 4))] + ls[3:],
     "layer 3 (flatten) reads an (H, W, C) tensor but gets 36 features"),
    (lambda ls: [ls[0], MaxPool(2, (6, 6, 5))] + ls[2:],
     "layer 1 (maxpool) expects 5 input channels but the layer before gives 4"),
    (lambda ls: [ls[0], MaxPool(3, (7, 7, 4))] + ls[2:],
     "layer 1 (maxpool) expects input 7x7x4 but the layer before gives 6x6x4"),
    (lambda ls: [Conv2D(ls[0].layer, 3, 3, 1, 1, (6, 6, 3)), Flatten((6, 6, 5))] + ls[3:],
     "layer 1 (flatten) expects 5 input channels"),
])
def test_chain_refusals(edit, message):
    with pytest.raises((ValueError, TypeError)) as info:
        ConvNetwork(edit(small_layers()), (6, 6, 3))
    assert message in str(info.value)


def test_input_shape_refusals():
    with pytest.raises(ValueError, match=r"layer 0 \(conv2d\) expects 3 input channels but "
                                         r"the input gives 1"):
        ConvNetwork(small_layers(), (6, 6, 1))
    with pytest.raises(ValueError, match=r"input_shape must be \(H, W, C\)"):
        ConvNetwork(small_layers(), (6, 6))
    with pytest.raises(ValueError, match="input_width must be in 1..32, not 40"):
        ConvNetwork(small_layers(), (6, 6, 3), 40)


def test_add_range_refused_naming_the_layer():
    ls = small_layers()
    g = ls[0].layer
    w = ls[0].acc_width(8, False)
    big = arith.add_range(w)[1] + 1
    bad = Layer(g.in_features, g.out_features, g.codebook, g.codes, g.mult,
                np.full(g.out_features, big), g.shift, g.relu, g.act_width)
    with pytest.raises(ValueError, match=rf"layer 0 \(conv2d\): add \(C\) {big} at row 0 is "
                                         rf"out of range"):
        ConvNetwork([Conv2D(bad, 3, 3, 1, 1, (6, 6, 3))] + ls[1:], (6, 6, 3))


def test_requant_width_refused():
    # 65536 full-weight (K = N) rows of 32-bit signed inputs: a 49-bit accumulator
    cb = Codebook(8, 8)
    g = Layer(1 << 16, 1, cb, np.zeros((1, 1 << 13), np.int64), [1], [0], 0, True, 8)
    layers = [Flatten((256, 256, 1)), g, full_row_layer(1, [1])]
    with pytest.raises(ValueError, match=r"layer 1 \(dense\): acc \* M \+ C needs 66 bits "
                                         r"\(accumulator 49 \+ multiplier 16 \+ 1\)"):
        ConvNetwork(layers, (256, 256, 1), 32, True)


def test_check_input():
    net = ConvNetwork(small_layers(), (6, 6, 3))
    x = inputs(net, 2, 0)
    for form in (x, x.reshape(2, -1), x.astype(np.uint8)):
        np.testing.assert_array_equal(net.check_input(form), x)
    assert net.check_input(x[0]).shape == (1, 6, 6, 3)
    assert net.check_input(x[0].reshape(-1)).shape == (1, 6, 6, 3)
    with pytest.raises(ValueError, match=r"input must have shape \(batch, 6, 6, 3\) or "
                                         r"\(batch, 108\), not \(2, 6, 3, 6\)"):
        net.check_input(x.transpose(0, 1, 3, 2))
    with pytest.raises(ValueError, match="input must be an integer array, not dtype float64"):
        net.check_input(x.astype(float))
    x[1, 2, 3, 1] = 256
    with pytest.raises(ValueError, match=r"input value 256 at \[1, 2, 3, 1\] is outside the "
                                         r"8-bit unsigned range 0..255"):
        net.forward(x)


def test_as_network():
    ls = small_layers()
    with pytest.raises(ValueError, match="layer 0 is conv2d: only a network of dense layers"):
        ConvNetwork(ls, (6, 6, 3)).as_network()
    dense = Network.random(4, [24, 7, 3], 8, 2)
    cnet = ConvNetwork([Flatten((2, 4, 3))] + dense.layers, (2, 4, 3))
    assert cnet.as_network() == dense
    x = np.random.default_rng(0).integers(0, 256, size=(5, 24))
    np.testing.assert_array_equal(cnet.forward(x)[0], dense.forward(x)[0])


# -- random_convnet ---------------------------------------------------------------------------

def test_random_convnet_spreads_activations():
    net = random_convnet(0, (10, 10, 2), [("conv", 6, 3, 1, 1), ("pool", 2), ("conv", 8, 3),
                                          ("flatten",), ("dense", 12), ("dense", 4)],
                         calib=16)
    traces = net.activations(inputs(net, 32, 9))
    for i in (0, 2, 4):                  # conv, conv, dense: not stuck at a clamp bound
        y = traces[i].output
        assert np.mean(y == 0) < 0.5 and np.mean(y == 255) < 0.5 and y.std() > 10
    assert net.layers[-1].shift == 0 and not net.layers[-1].relu


@pytest.mark.parametrize("spec, message", [
    ([("conv", 2, 3), ("pool", 2), ("dense", 3)], "a dense layer reads a vector"),
    ([("conv", 2, 3)], "the last layer must be dense, not conv"),
    ([("conv", 2, 3), ("flatten",), ("dense", 3, 4)], "must be ('dense', out_features)"),
    ([("conv3d", 2, 3), ("flatten",), ("dense", 3)], "unknown kind 'conv3d'"),
])
def test_random_convnet_refusals(spec, message):
    with pytest.raises(ValueError) as info:
        random_convnet(0, (6, 6, 1), spec)
    assert message in str(info.value)


# -- compression ----------------------------------------------------------------------------

def test_compression_of_a_cnn():
    net = random_convnet(3, (9, 7, 3), [("conv", 4, 3, 2, 1), ("pool", 2),
                                        ("conv", 5, (1, 3), 1, (0, 1)), ("flatten",),
                                        ("dense", 6), ("dense", 3)], shift_mode=False)
    rep = compression(net)
    c0, c2, d4, d5 = rep["layers"]
    assert [d["layer"] for d in rep["layers"]] == [0, 2, 4, 5]
    assert [d["kind"] for d in rep["layers"]] == ["conv2d", "conv2d", "dense", "dense"]
    assert [d["shape"] for d in rep["layers"]] == ["3x3x3>4", "1x3x4>5", "20x6", "6x3"]
    # conv 0: 4 rows of 27 weights = 4 subvectors of 8 -> 16 codes of 8 bits
    assert c0["weights"] == 108 and c0["code_bits"] == 4 * 4 * 8
    assert c0["mult_bits"] == 4 * 16 and c0["shift_bits"] == SHIFT_BITS == 6
    g = net.layers[0].layer
    assert c0["add_bits"] == 4 * arith.signed_width(int(g.add.min()), int(g.add.max()))
    assert c0["fp32_bits"] == 32 * (108 + 4)
    # conv 2: 5 rows of 12 weights -> 2 subvectors each
    assert c2["weights"] == 60 and c2["code_bits"] == 5 * 2 * 8
    # dense 4: 6 rows of 20 (the flatten of a 2x2x5 map) -> 3 subvectors each
    assert d4["weights"] == 120 and d4["code_bits"] == 6 * 3 * 8
    # the last layer: codes only
    assert d5["code_bits"] == 3 * 1 * 8 and d5["mult_bits"] == d5["add_bits"] == 0
    assert d5["shift_bits"] == 0 and d5["total_bits"] == 24
    tot = rep["total"]
    assert tot["weights"] == 108 + 60 + 120 + 18
    assert tot["total_bits"] == sum(d["total_bits"] for d in (c0, c2, d4, d5))
    assert tot["ratio"] == pytest.approx(tot["fp32_bits"] / tot["total_bits"])
    text = format_compression(rep)
    assert "3x3x3>4" in text and "1x3x4>5" in text and "max-pool and flatten store nothing" in text


def test_compression_shift_mode_cnn():
    net = random_convnet(4, (5, 5, 2), [("conv", 3, 3, 1, 1), ("flatten",), ("dense", 2)],
                         shift_mode=True)
    c0 = compression(net)["layers"][0]
    assert c0["mult_bits"] == 0 and c0["shift_bits"] == 6
    assert c0["code_bits"] == 3 * 3 * 8                  # 18 weights: 3 subvectors


# -- the command line on a CNN model file ---------------------------------------------------------

@pytest.fixture
def cnn_file(tmp_path):
    net = random_convnet(6, (6, 6, 1), [("conv", 3, 3, 1, 1), ("pool", 2), ("flatten",),
                                        ("dense", 4)])
    return modelfile.save(net, tmp_path / "cnn.sst"), net


def forbid(monkeypatch, module, name):
    import importlib

    def called(*args, **kwargs):
        raise AssertionError(f"{module}.{name} was reached")
    monkeypatch.setattr(importlib.import_module(module), name, called)


def test_compile_takes_a_cnn(cnn_file, tmp_path, capsys):
    """A CNN model compiles into the CNN core: Verilog and a convnet sidecar
    whose schedule has one pass per conv (max-pool fused) and dense layer."""
    import json

    path, net = cnn_file
    assert main(["compile", str(path), "-o", str(tmp_path / "net.v")]) == 0
    side = json.loads((tmp_path / "net.json").read_text())
    assert side["format"] == "sst-hw/convnet"
    kinds = [(p["kind"], p["pool"]) for p in side["network"]["passes"]]
    assert kinds == [("conv2d", [2, 2]), ("dense", None)]
    assert (tmp_path / "net.v").read_text().startswith("/* Generated by")


@pytest.fixture
def unfused_pool_file(tmp_path):
    net = random_convnet(7, (8, 8, 1), [("conv", 3, 3, 1, 1), ("pool", 2), ("pool", 2),
                                        ("flatten",), ("dense", 4)])
    return modelfile.save(net, tmp_path / "pools.sst"), net


@pytest.mark.parametrize("argv", [
    ["compile", "{model}", "-o", "{tmp}/net.v"],
    ["build", "{model}", "--board", "icebreaker", "--build-dir", "{tmp}/b"],
    ["synth", "{model}", "--device", "up5k", "--build-dir", "{tmp}/s"],
    ["sim", "{model}"],
])
def test_hardware_commands_refuse_an_unfused_pool(argv, unfused_pool_file, tmp_path, capsys):
    """The CNN core fuses each max-pool into the conv before it: a second
    max-pool in a row is refused in one line, before any file is written."""
    path, _ = unfused_pool_file
    args = [a.format(model=path, tmp=tmp_path) for a in argv]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0]
    assert err[0].startswith(f"sst-hw {argv[0]}: error: ")
    assert "layer 2 (maxpool): the CNN core fuses a max-pool into the conv before it" in err[0]
    assert not (tmp_path / "net.v").exists()


def test_infer_runs_a_cnn_on_the_golden_model(cnn_file, tmp_path, capsys):
    path, net = cnn_file
    x = inputs(net, 3, 5)
    np.save(tmp_path / "x.npy", x.reshape(3, -1))
    assert main(["infer", str(tmp_path / "x.npy"), "--port", "model", "--model", str(path),
                 "--json", "--verify"]) == 0
    import json
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    want = ref_forward(net, x)
    assert [r["logits"] for r in rows] == want.tolist()
    assert [r["class"] for r in rows] == np.argmax(want, axis=1).tolist()
    assert all(r["matches_golden"] for r in rows)


def test_an_all_dense_v2_model_compiles(tmp_path, capsys):
    dense = Network.random(4, [8, 5, 3], 8, 2)
    path = modelfile.save(ConvNetwork([Flatten((2, 2, 2))] + dense.layers, (2, 2, 2)),
                          tmp_path / "dense.sst")
    assert main(["compile", str(path), "-o", str(tmp_path / "net.v")]) == 0
    assert (tmp_path / "net.v").exists()
