"""The conv2d / max-pool / flatten golden model (sst_hw.format.conv) against
slow, obviously-correct loop references, exact on every output."""

import numpy as np
import pytest

from sst_hw.format import arith
from sst_hw.format.codebook import Codebook
from sst_hw.format.conv import (
    Conv2D,
    Flatten,
    MaxPool,
    check_float32_exact,
    conv_acc_bound,
    conv_output_size,
    forward_all,
    im2col,
    maxpool,
)
from sst_hw.format.golden import Layer
from sst_hw.format.random_model import random_conv2d

CB = Codebook(8, 2)


# -- loop references ------------------------------------------------------------------------

def ref_conv_acc(x, t, kh, kw, stride, ph, pw):
    """acc[b, oy, ox, r] by plain loops; padding read as 0 by bounds checks."""
    b_, h, w, cin = x.shape
    cout = t.shape[0]
    ho = (h + 2 * ph - kh) // stride + 1
    wo = (w + 2 * pw - kw) // stride + 1
    out = np.zeros((b_, ho, wo, cout), np.int64)
    for b in range(b_):
        for oy in range(ho):
            for ox in range(wo):
                for r in range(cout):
                    s = 0
                    for ky in range(kh):
                        for kx in range(kw):
                            iy, ix = oy * stride + ky - ph, ox * stride + kx - pw
                            if not (0 <= iy < h and 0 <= ix < w):
                                continue
                            for c in range(cin):
                                s += int(t[r, (ky * kw + kx) * cin + c]) * int(x[b, iy, ix, c])
                    out[b, oy, ox, r] = s
    return out


def ref_requant(acc, layer):
    lo, hi = layer.out_range
    out = np.zeros_like(acc)
    for idx in np.ndindex(acc.shape):
        r = idx[-1]
        v = (int(acc[idx]) * int(layer.mult[r]) + int(layer.add[r])) >> layer.shift
        out[idx] = min(max(v, lo), hi)
    return out


def ref_maxpool(x, k, stride):
    b_, h, w, c = x.shape
    ho, wo = (h - k) // stride + 1, (w - k) // stride + 1
    out = np.zeros((b_, ho, wo, c), x.dtype)
    for b in range(b_):
        for oy in range(ho):
            for ox in range(wo):
                for ch in range(c):
                    out[b, oy, ox, ch] = max(int(x[b, oy * stride + dy, ox * stride + dx, ch])
                                             for dy in range(k) for dx in range(k))
    return out


# -- conv2d ---------------------------------------------------------------------------------

# (H, W, Cin, Cout, kh, kw, stride, pad)
CONV_CASES = [
    (7, 5, 1, 3, 3, 3, 1, 1),
    (7, 5, 3, 4, 3, 3, 2, 1),
    (7, 5, 5, 2, 3, 3, 1, 0),
    (9, 9, 1, 2, 5, 5, 1, 2),
    (9, 9, 3, 3, 5, 5, 2, 2),
    (9, 9, 5, 2, 5, 5, 2, 0),
    (9, 9, 3, 3, 5, 5, 1, 1),
    (7, 5, 3, 4, 1, 1, 1, 0),
    (7, 5, 5, 3, 1, 1, 2, 0),
    (5, 7, 1, 2, 3, 5, 2, (1, 2)),
    (6, 4, 5, 3, 1, 3, 1, (0, 1)),
    (3, 3, 3, 2, 3, 3, 2, 0),
    (1, 1, 1, 1, 1, 1, 1, 0),
    (4, 11, 3, 5, 7, 7, 1, 3),
]


@pytest.mark.parametrize("seed,case", list(enumerate(CONV_CASES)))
def test_conv_matches_loop_reference(seed, case):
    h, w, cin, cout, kh, kw, stride, pad = case
    rng = np.random.default_rng(seed)
    cb = CB if seed % 2 == 0 else Codebook(4, 1, "partitioned")
    conv = random_conv2d(rng, (h, w, cin), cout, kh, kw, stride, pad, codebook=cb,
                         relu=seed % 3 != 2)
    x = rng.integers(0, 256, size=(2, h, w, cin))
    ph, pw = conv.pad
    ref_acc = ref_conv_acc(x, conv.layer.ternary(), kh, kw, stride, ph, pw)
    acc = conv.accumulate(x)
    assert acc.shape == (2,) + conv.out_shape
    assert conv.out_shape[:2] == ((h + 2 * ph - kh) // stride + 1,
                                  (w + 2 * pw - kw) // stride + 1)
    assert np.array_equal(acc, ref_acc)
    # the int64 path of the golden Layer agrees too
    patches = conv.patches(x)
    assert np.array_equal(conv.layer.accumulate(patches, method="int").reshape(acc.shape),
                          ref_acc)
    y = conv.forward(x)
    assert np.array_equal(y, ref_requant(ref_acc, conv.layer))
    lo, hi = conv.layer.out_range
    assert y.min() >= lo and y.max() <= hi
    # a single image gives the same as a batch of one
    assert np.array_equal(conv.forward(x[1]), y[1])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_im2col_order_and_padding(seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(-50, 50, size=(2, 5, 4, 3))
    p = im2col(x, 3, 3, 1, 1)
    assert p.dtype == np.int64 and p.shape == (2 * 5 * 4, 27)
    xp = np.zeros((2, 7, 6, 3), np.int64)
    xp[:, 1:6, 1:5] = x
    for b in range(2):
        for oy in range(5):
            for ox in range(4):
                row = p[(b * 5 + oy) * 4 + ox]
                for ky in range(3):
                    for kx in range(3):
                        for c in range(3):
                            assert row[(ky * 3 + kx) * 3 + c] == xp[b, oy + ky, ox + kx, c]
    # signed inputs, stride 2 on a single image
    assert np.array_equal(im2col(x[0], 3, 3, 2, 0), im2col(x[:1], 3, 3, 2, 0))


def test_conv_signed_input_chain():
    """A conv fed by a signed (no-ReLU) conv, then pool, flatten and a dense layer."""
    rng = np.random.default_rng(7)
    c1 = random_conv2d(rng, (7, 7, 3), 4, 3, 3, 1, 1, codebook=CB, relu=False)
    x = rng.integers(0, 256, size=(2, 7, 7, 3))
    y1 = c1.forward(x)
    assert y1.min() < 0
    c2 = random_conv2d(rng, c1.out_shape, 5, 3, 3, 2, 1, codebook=CB, in_signed=True,
                       calib=y1)
    ref = ref_requant(ref_conv_acc(y1, c2.layer.ternary(), 3, 3, 2, 1, 1), c2.layer)
    assert np.array_equal(c2.forward(y1), ref)
    mp = MaxPool(2, c2.out_shape)
    fl = Flatten(mp.out_shape)
    from sst_hw.format.random_model import _random_codes
    dense = Layer(fl.out_features, 3, CB, _random_codes(CB, rng, 3, fl.out_features),
                  np.ones(3, np.int64), np.zeros(3, np.int64), 0, False, 8)
    logits = forward_all([c1, c2, mp, fl, dense], x)
    flat = ref_maxpool(ref, 2, 2).reshape(2, -1)
    assert np.array_equal(logits, flat @ dense.ternary().T.astype(np.int64))


# -- max-pool and flatten -------------------------------------------------------------------

@pytest.mark.parametrize("seed,k,shape", [
    (0, 2, (7, 5, 1)), (1, 2, (9, 9, 3)), (2, 3, (7, 5, 5)), (3, 3, (9, 9, 1)),
    (4, 2, (2, 2, 2)), (5, 3, (3, 4, 3)), (6, 3, (8, 6, 2)), (7, 2, (6, 3, 4)),
])
def test_maxpool_matches_loop_reference(seed, k, shape):
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, size=(3,) + shape)
    ref = ref_maxpool(x, k, 2)
    y = maxpool(x, k, 2)
    assert y.dtype == np.int64 and np.array_equal(y, ref)
    mp = MaxPool(k, shape)
    assert mp.out_shape == ref.shape[1:]
    assert np.array_equal(mp.forward(x), ref)
    assert np.array_equal(mp.forward(x[0]), ref[0])


def test_flatten_hwc_order():
    h, w, c = 3, 4, 5
    x = np.arange(2 * h * w * c).reshape(2, h, w, c)
    fl = Flatten((h, w, c))
    y = fl.forward(x)
    assert fl.out_features == 60 and y.shape == (2, 60)
    for b in range(2):
        for i in range(h):
            for j in range(w):
                for k in range(c):
                    assert y[b, (i * w + j) * c + k] == x[b, i, j, k]
    assert np.array_equal(fl.forward(x[1]), y[1])


# -- widths ---------------------------------------------------------------------------------

def test_acc_bound_and_float32_check():
    assert conv_acc_bound(3, 3, 1, CB, 8, False) == arith.acc_range(9, 8, 2, 8, False)
    # 3x3x32 at (8,2): 36 subvectors * 2 nonzeros * 255 = 18360 < 2^24
    assert check_float32_exact(3, 3, 32, CB, 8, False) == 72 * 255
    with pytest.raises(ValueError, match=r"float32 is exact only below 2\^24"):
        check_float32_exact(7, 7, 4096, Codebook(8, 8), 16, False)
    rng = np.random.default_rng(0)
    conv = random_conv2d(rng, (5, 5, 3), 2, 3, 3, 1, 1, codebook=CB)
    x = rng.integers(0, 256, size=(4, 5, 5, 3))
    lo, hi = conv.acc_bound(8, False)
    acc = conv.accumulate(x)
    assert lo <= acc.min() and acc.max() <= hi
    assert conv.acc_width(8, False) == arith.signed_width(lo, hi)
    assert conv.check_float32_exact(8, False) == hi


# -- bad parameters --------------------------------------------------------------------------

def _layer(in_features, out=2):
    from sst_hw.format.random_model import _random_codes
    rng = np.random.default_rng(0)
    return Layer(in_features, out, CB, _random_codes(CB, rng, out, in_features),
                 np.ones(out, np.int64), np.zeros(out, np.int64), 0, True, 8)


@pytest.mark.parametrize("kwargs,msg", [
    ({"kh": 9, "kw": 3}, r"kernel height kh must be in 1\.\.7, not 9"),
    ({"kh": 3, "kw": 0}, r"kernel width kw must be in 1\.\.7, not 0"),
    ({"stride": 3}, r"stride must be 1 or 2, not 3"),
    ({"pad": 2}, r"padding pad_h must be in 0\.\.1 for kernel height 3, not 2"),
    ({"pad": (1, 2)}, r"padding pad_w must be in 0\.\.1 for kernel width 3, not 2"),
    ({"pad": -1}, r"padding pad_h must be in 0\.\.1048576, not -1"),
    ({"in_shape": (2, 2, 1), "pad": 0}, r"kernel 3x3 is larger than the padded input 2x2"),
    ({"in_shape": (5, 5, 2)}, (r"layer has 9 inputs but a 3x3 kernel over 2 channels "
                               r"needs kh\*kw\*Cin = 18")),
])
def test_conv_bad_parameters(kwargs, msg):
    args = {"layer": _layer(9), "kh": 3, "kw": 3, "stride": 1, "pad": 1, "in_shape": (5, 5, 1)}
    args.update(kwargs)
    with pytest.raises(ValueError, match=msg):
        Conv2D(**args)


def test_bad_inputs_and_pool_parameters():
    conv = Conv2D(_layer(9), 3, 3, 1, 1, (5, 5, 1))
    with pytest.raises(ValueError, match=r"input has 3 channels but the layer expects 1"):
        conv.forward(np.zeros((5, 5, 3), np.int64))
    with pytest.raises(ValueError, match=r"input must have \(H, W, C\) = \(5, 5, 1\)"):
        conv.forward(np.zeros((2, 4, 5, 1), np.int64))
    with pytest.raises(ValueError, match=r"integer array"):
        conv.forward(np.zeros((5, 5, 1)))
    with pytest.raises(ValueError, match=r"\(H, W, C\) or \(B, H, W, C\)"):
        im2col(np.zeros((5, 5), np.int64), 1, 1)
    with pytest.raises(ValueError, match=r"max-pool kernel must be 2 or 3, not 4"):
        maxpool(np.zeros((5, 5, 1), np.int64), 4)
    with pytest.raises(ValueError, match=r"max-pool stride must be 2, not 1"):
        MaxPool(2, (4, 4, 1), stride=1)
    with pytest.raises(ValueError, match=r"max-pool kernel 3x3 is larger than the input 2x5"):
        MaxPool(3, (2, 5, 1))
    with pytest.raises(ValueError, match=r"in_shape must be \(H, W, C\)"):
        Flatten((4, 4))
    with pytest.raises(TypeError, match=r"stride must be an integer"):
        conv_output_size(5, 5, 3, 3, 1.0, 0)
    with pytest.raises(ValueError, match=r"kernel 5x1 is larger than the padded input 4x"):
        conv_output_size(4, 9, 5, 1, 1, 0)


# -- the strided helpers the ConvNetwork plan uses on float32 ---------------------------------

@pytest.mark.parametrize("k,shape", [(2, (7, 5, 3)), (3, (9, 8, 2)), (3, (3, 3, 1))])
def test_maxpool_into_any_dtype_and_given_buffers(k, shape):
    from sst_hw.format.conv import maxpool_into, pool_output_size
    x = np.random.default_rng(k).integers(-2 ** 23, 2 ** 23, size=(2,) + shape)
    ref = ref_maxpool(x, k, 2)
    ho, wo = pool_output_size(shape[0], shape[1], k)
    xf = x.astype(np.float32)
    rows = np.empty((2, ho, shape[1], shape[2]), np.float32)
    out = np.empty((2, ho, wo, shape[2]), np.float32)
    y = maxpool_into(xf, k, 2, ho, wo, rows, out)
    assert y is out and np.array_equal(y.astype(np.int64), ref)


def test_patch_view_is_the_im2col_order():
    from sst_hw.format.conv import patch_view
    x = np.random.default_rng(3).integers(0, 99, size=(2, 6, 7, 3))
    for kh, kw, s in ((3, 3, 1), (2, 3, 2), (1, 1, 2)):
        ho, wo = conv_output_size(6, 7, kh, kw, s, 0)
        v = patch_view(x, kh, kw, s, ho, wo)
        assert v.shape == (2, ho, wo, kh, kw * 3) and not v.flags.writeable
        for b, oy, ox, ky, kx, c in [(1, ho - 1, wo - 1, kh - 1, kw - 1, 2), (0, 1, 0, 0, 0, 1)]:
            assert v[b, oy, ox, ky, kx * 3 + c] == x[b, oy * s + ky, ox * s + kx, c]
        assert np.array_equal(v.reshape(-1, kh * kw * 3), im2col(x, kh, kw, s, 0))
    with pytest.raises(ValueError, match="C-contiguous"):
        patch_view(x[:, ::2], 1, 1, 1, 3, 7)
    with pytest.raises(ValueError, match=r"4x7 windows of 3x3 at stride 1 do not fit a 6x7"):
        patch_view(x, 3, 3, 1, 4, 7)
