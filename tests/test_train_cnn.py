"""The CNN trainer: architecture strings, the im2col/col2im and max-pool
passes against the golden model's integer kernels, exact gradients (float64
finite differences), training and integer export on the 8x8 digits."""

from __future__ import annotations

import numpy as np
import pytest

from sst_hw.format.codebook import Codebook
from sst_hw.format.conv import im2col, maxpool
from sst_hw.format.convnet import ConvNetwork
from sst_hw.train.arch import (
    ArchError,
    ConvSpec,
    DenseSpec,
    PoolSpec,
    arch_shapes,
    format_arch,
    parse_arch)
from sst_hw.train.cnn import CNN, _pool_backward, _pool_forward, col2im_f32, im2col_f32

CB = Codebook(8, 2)


# -- architecture strings -----------------------------------------------------------------------

def test_parse_arch_tokens_and_defaults():
    specs = parse_arch("c16k3p1,MP2, c8k5s2p2,mp3,fc64,fc10")
    assert specs == [ConvSpec(16, 3, 1, 1), PoolSpec(2), ConvSpec(8, 5, 2, 2), PoolSpec(3),
                     DenseSpec(64), DenseSpec(10)]
    assert format_arch(specs) == "c16k3p1,mp2,c8k5s2p2,mp3,fc64,fc10"
    assert parse_arch("c4k1,fc3") == [ConvSpec(4, 1, 1, 0), DenseSpec(3)]


def test_arch_shapes_of_vgg9_on_fashion():
    specs = parse_arch("c16k3p1,c16k3p1,mp2,c32k3p1,c32k3p1,mp2,c64k3p1,c64k3p1,mp2,"
                       "fc256,fc256,fc10", (28, 28, 1), 10)
    shapes = arch_shapes(specs, (28, 28, 1))
    # 28 -> 14 -> 7 -> 3 (floor); 3*3*64 = 576 features reach the first dense layer.
    assert shapes[2] == (14, 14, 16) and shapes[5] == (7, 7, 32) and shapes[8] == (3, 3, 64)
    assert shapes[-1] == (10,)


@pytest.mark.parametrize("text, words", [
    ("", "empty"),
    ("c16k3p1,,fc10", "empty layer token"),
    ("c16k3p1,fc10,", "empty layer token"),
    ("conv3,fc10", "not a layer token"),
    ("c16k9,fc10", "kernel must be in 1..7, not 9"),
    ("c16k3s3,fc10", "stride must be 1 or 2, not 3"),
    ("c16k3p2,fc10", "padding must be in 0..1 for kernel 3, not 2"),
    ("c0k3,fc10", "channel count must be in 1..4096, not 0"),
    ("c16k3,mp4,fc10", "max-pool kernel must be 2 or 3, not 4"),
    ("c16k3,mp2", "last layer must be dense"),
    ("fc32,c16k3,fc10", "cannot follow a dense layer"),
])
def test_parse_arch_refusals(text, words):
    with pytest.raises(ArchError, match=words):
        parse_arch(text)


def test_parse_arch_geometry_and_classes():
    with pytest.raises(ArchError, match=r"layer 3 'c8k5'.*2x2x4 input.*larger than the padded"):
        parse_arch("c4k3p1,mp2,c8k5,fc10", (4, 4, 1))
    with pytest.raises(ArchError, match=r"layer 3 'mp3' on a 2x2x8"):
        parse_arch("c8k3p1,mp2,mp3,fc10", (4, 4, 1))
    with pytest.raises(ArchError, match="data set's 10 classes, not 7"):
        parse_arch("c8k3p1,fc7", (8, 8, 1), 10)


# -- the passes ----------------------------------------------------------------------------------

SHAPES = [(9, 7, 3, 3, 2, 1), (8, 8, 1, 5, 1, 2), (7, 9, 5, 1, 2, 0), (6, 6, 4, 3, 1, 0),
          (5, 5, 2, 5, 2, 2), (5, 6, 3, 5, 1, 0)]


@pytest.mark.parametrize("h, w, c, k, s, p", SHAPES)
def test_im2col_f32_is_the_golden_im2col(h, w, c, k, s, p):
    a = np.random.default_rng(h * w + k).integers(0, 200, (3, h, w, c))
    assert np.array_equal(im2col_f32(a.astype(np.float32), k, s, p), im2col(a, k, k, s, p))


@pytest.mark.parametrize("h, w, c, k, s, p", SHAPES)
def test_col2im_is_the_adjoint_of_im2col(h, w, c, k, s, p):
    # <im2col(a), d> == <a, col2im(d)> for every a and d: col2im is the exact
    # transpose of the (linear) patch extraction, so conv gradients are right.
    rng = np.random.default_rng(k * 7 + s)
    a = rng.standard_normal((2, h, w, c))
    cols = im2col_f32(a, k, s, p)
    d = rng.standard_normal(cols.shape)
    back = col2im_f32(d, a.shape, k, s, p)
    assert back.dtype == np.float64
    np.testing.assert_allclose((cols * d).sum(), (a * back).sum(), rtol=1e-12)


@pytest.mark.parametrize("k, h, w", [(2, 6, 7), (2, 5, 5), (3, 7, 9), (3, 6, 6)])
def test_pool_forward_and_backward(k, h, w):
    rng = np.random.default_rng(k * h + w)
    a = rng.integers(0, 50, (2, h, w, 3))        # many ties: the first maximum wins
    y, arg = _pool_forward(a.astype(np.float64), k)
    assert np.array_equal(y, maxpool(a, k))
    dy = rng.standard_normal(y.shape)
    da = _pool_backward(dy, arg, a.shape, k)
    # Loop reference: each window's gradient goes to its first maximum (row-major).
    ref = np.zeros(a.shape)
    for b in range(2):
        for oy in range(y.shape[1]):
            for ox in range(y.shape[2]):
                for c in range(3):
                    win = a[b, 2 * oy:2 * oy + k, 2 * ox:2 * ox + k, c]
                    iy, ix = np.unravel_index(np.argmax(win), win.shape)
                    ref[b, 2 * oy + iy, 2 * ox + ix, c] += dy[b, oy, ox, c]
    np.testing.assert_allclose(da, ref, rtol=0, atol=1e-12)


def test_gradients_match_finite_differences():
    """Every parameter's gradient, in float64, against central differences
    (float phase: the SST projection and pruning mask are straight-through,
    so only there is the gradient the derivative of the loss)."""
    model = CNN("c3k3p1,mp2,c4k3s2p1,mp3,fc6,fc5", (13, 11, 2), CB, seed=1)
    for name in ("V", "gamma", "beta", "run_mean", "run_var"):
        setattr(model, name, [a.astype(np.float64) for a in getattr(model, name)])
    model.log_tau = model.log_tau.astype(np.float64)
    rng = np.random.default_rng(0)
    x = rng.random((7, 13 * 11 * 2))
    labels = rng.integers(0, 5, 7)

    def loss():
        logits, _ = model.forward_train(x, momentum=0)
        z = logits - logits.max(1, keepdims=True)
        p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
        return -np.log(p[np.arange(7), labels]).mean(), logits, p

    _, logits, p = loss()
    _, cache = model.forward_train(x, momentum=0)
    d = p.copy()
    d[np.arange(7), labels] -= 1
    grads = model.backward(cache, logits, d / 7)
    params = model.params()
    assert len(grads) == len(params)
    for param, grad in zip(params, grads):
        assert grad.shape == param.shape
        for _ in range(3):
            idx = tuple(int(rng.integers(0, s)) for s in param.shape)
            old = param[idx]
            param[idx] = old + 1e-6
            up = loss()[0]
            param[idx] = old - 1e-6
            down = loss()[0]
            param[idx] = old
            assert grad[idx] == pytest.approx((up - down) / 2e-6, rel=1e-5, abs=1e-8)


# -- training and export on the digits ----------------------------------------------------------

def test_train_and_export_cnn_on_digits(digits):
    from sst_hw.train.cnn_export import evaluate_cnn, export_cnn
    from sst_hw.train.cnn import train_cnn
    from sst_hw.train.mlp import Schedule

    res = train_cnn(digits, "c8k3p1,mp2,c16k3p1,mp2,fc10", CB,
                    schedule=Schedule(4, 4, 6, batch_size=32), seed=3)
    assert res.accuracy["float"] > 0.93
    net, info = export_cnn(res.model, digits.x_train)
    assert isinstance(net, ConvNetwork)
    assert net.kinds == ["conv2d", "maxpool", "conv2d", "maxpool", "flatten", "dense"]
    assert net.meta["arch"] == "c8k3p1,mp2,c16k3p1,mp2,fc10"
    ev = evaluate_cnn(res.model, net, digits)
    assert ev["integer"] > 0.85
    # The integer network classifies like the SST float network it came from.
    assert ev["agreement"] > 0.97
    # Every conv row of the export is a valid SST row of the training ternary weights
    # (up to the rows negated for a negative folded gain).
    t0, _ = res.model.ternary(0)
    exported = net.layers[0].layer.ternary()
    assert np.array_equal(np.abs(exported), np.abs(t0))


# -- command line ------------------------------------------------------------------------------

def test_cli_train_arch(tmp_path):
    import json
    import subprocess
    import sys

    from sst_hw.format import modelfile
    from sst_hw.train.datasets import load_digits

    out = tmp_path / "cnn.sst"
    r = subprocess.run([sys.executable, "-m", "sst_hw.cli", "train", "--dataset", "digits",
                        "--arch", "c8k3p1,mp2,c16k3p1,mp2,fc10", "--epochs", "2,2,3",
                        "--batch-size", "64", "--seed", "1", "--json", "-o", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "[sst     3/3]" in r.stderr and "s, 1 BLAS thread)" in r.stderr   # time per epoch
    report = json.loads(r.stdout)
    net = modelfile.load(out)
    assert isinstance(net, ConvNetwork)
    assert net.meta["arch"] == report["arch"] == "c8k3p1,mp2,c16k3p1,mp2,fc10"
    # The file's golden model reproduces the integer accuracy the command reported.
    d = load_digits()
    _, cls = net.forward(d.x_test)
    assert float(np.mean(cls == d.y_test)) == report["accuracy"]["integer"]


@pytest.mark.parametrize("args, message", [
    (["--arch", "c8k3p1,fc10", "--layers", "64,10"], "--arch and --layers"),
    (["--arch", "c8k9,fc10"], "--arch: layer 1 'c8k9': kernel must be in 1..7, not 9"),
    (["--arch", "c8k3p1,mp2,mp2,mp2,mp2,fc10"], "--arch: layer 5 'mp2' on a 1x1x8 input"),
    (["--arch", "c8k3p1,fc9"], "--arch: the last layer 'fc9' must have the data set's 10"),
    (["--flip"], "--flip mirrors images: it needs a convolutional network"),
])
def test_cli_train_arch_errors(tmp_path, args, message):
    import re
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "sst_hw.cli", "train", "--quiet", "-o",
                        str(tmp_path / "m.sst"), *args], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2, r.stderr
    assert "sst-hw train: error:" in r.stderr and "Traceback" not in r.stderr
    assert re.search(message, r.stderr), r.stderr
    assert not (tmp_path / "m.sst").exists()
