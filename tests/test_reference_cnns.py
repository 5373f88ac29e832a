"""The shipped reference CNNs (``models/``) are what their README commands
make: the same architecture, schedule and seed in the file's metadata, a
valid version-2 model, and the commands printed in the README."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sst_hw.format import modelfile
from sst_hw.format.compression import compression
from sst_hw.format.convnet import ConvNetwork
from sst_hw.train.arch import arch_shapes, parse_arch
from sst_hw.train.reference import REFERENCE_CNNS

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", list(REFERENCE_CNNS))
def test_shipped_model_matches_its_command(name):
    ref = REFERENCE_CNNS[name]
    net = modelfile.load(ROOT / ref.model)
    assert isinstance(net, ConvNetwork)
    meta = net.meta
    assert meta["arch"] == ref.arch and meta["dataset"] == "fashion-mnist"
    assert meta["epochs"] == list(ref.epochs) and meta["batch_size"] == ref.batch_size
    assert meta["seed"] == 0 and meta["flip"] == ref.flip
    assert meta["codebook"] == {"n": 8, "k": 2, "variant": "full", "assignment": "enum"}
    # The file's layers are the architecture's, shape by shape.
    specs = parse_arch(ref.arch, (28, 28, 1), 10)
    want = arch_shapes(specs, (28, 28, 1))
    got = [shape for kind, shape in zip(net.kinds, net.shapes) if kind != "flatten"]
    assert got == want
    # The compression recorded at training is the file's.
    assert meta["compression"]["ratio"] == pytest.approx(compression(net)["total"]["ratio"])


@pytest.mark.parametrize("name", list(REFERENCE_CNNS))
def test_readme_shows_the_reference_command(name):
    readme = (ROOT / "README.md").read_text()
    assert REFERENCE_CNNS[name].command() in readme


def test_vgg9_compression_target():
    net = modelfile.load(ROOT / REFERENCE_CNNS["vgg9"].model)
    total = compression(net)["total"]
    # Counted honestly: every layer, first and last, and every M, C and S.
    assert total["ratio"] >= 29.0
    assert total["weights"] == sum(layer.in_features * layer.out_features
                                   for layer in net.sst_layers())


def test_shipped_models_run_on_the_golden_model():
    # Every conv layer of both references is in the proved float32-exact range,
    # and the fast path equals the int64 path on real-looking inputs.
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (8, 28, 28, 1))
    for ref in REFERENCE_CNNS.values():
        net = modelfile.load(ROOT / ref.model)
        kinds = net.kinds
        assert all(ok for ok, k in zip(net.float32_exact(), kinds) if k == "conv2d")
        logits, _ = net.forward(x)
        a = x
        for layer in net.layers[:-1]:
            a = layer.forward(a)
        assert np.array_equal(logits, net.layers[-1].accumulate(a.reshape(len(a), -1)))
