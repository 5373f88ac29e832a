"""Tier 2: whole inferences of the CNN core
(:class:`~sst_hw.core.conv.network.SSTConvNetwork`) in cocotb on the emitted
Verilog. The testbench (:mod:`sst_hw.sim.conv_tb`) compares every logit and
class bit for bit with the golden model (``ConvNetwork.forward``), checks
the first inference's cycles and the back-to-back period against the
sidecar's, and runs again with random idle cycles on the input and random
stalls on the output.
"""

from __future__ import annotations

import numpy as np
import pytest

from sst_hw.format.random_model import random_convnet
from sst_hw.sim.conv_tb import run_convnet

# Awkward shapes: Cin 1, 3 and 5; odd H and W; stride 2; padding 0 and 1;
# kernels 1, 3 and 5; pool 2, pool 3 and none; signed activations; PE, SIMD
# and requantizer lanes that divide none of the channel counts.
RANDOM_CASES = [
    pytest.param((7, 9, 1), [("conv", 6, 3, 1, 1), ("pool", 2), ("conv", 5, 3, 2, 0),
                             ("flatten",), ("dense", 7)], {},
                 dict(pe=4, simd=1, rq_lanes=2), id="cin1-k3p1-pool2-k3s2p0-pe4-r2"),
    pytest.param((9, 7, 3), [("conv", 10, 5, 1, 1), ("pool", 3), ("flatten",), ("dense", 9),
                             ("dense", 4)], dict(relu=[False, True], act_width=[7, 8]),
                 dict(pe=3, simd=2), id="cin3-k5p1-pool3-signed-pe3-simd2"),
    pytest.param((5, 5, 5), [("conv", 9, 1, 2, 0), ("conv", 8, 3, 1, 1), ("flatten",),
                             ("dense", 6)], dict(n=4, k=1, assignment="direct"),
                 dict(pe=8, simd=1, rq_lanes=4), id="cin5-k1s2-k3p1-nopool-n4k1-pe8-r4"),
    # More input than compute: back to back, the input stream sets the period (F0).
    pytest.param((9, 9, 8), [("conv", 2, 1, 2, 0), ("flatten",), ("dense", 2)], {},
                 dict(pe=8), id="input-bound-period-f0"),
]


@pytest.mark.parametrize("shape, spec, model_kw, core_kw", RANDOM_CASES)
def test_random_cnn(shape, spec, model_kw, core_kw, tmp_path, request):
    """Random small CNNs: every logit and class bit-exact, cycles and period as
    the sidecar's, and the same values under backpressure on both streams."""
    rng = np.random.default_rng(sum(shape) + len(spec))
    net = random_convnet(rng, shape, spec, **model_kw)
    lo, hi = net.input_range
    x = rng.integers(lo, hi, size=(6,) + shape, endpoint=True)
    x[0] = hi
    x[1] = lo
    core = run_convnet(net, x, tmp_path, **core_kw)
    # The case meant to be input-bound is (the testbench measured its period).
    if request.node.callspec.id == "input-bound-period-f0":
        assert core.plan.period() == net.in_features > core.plan.compute_cycles()


def _fashion(count):
    from sst_hw.train.datasets import load_dataset
    return load_dataset("fashion-mnist").x_test[:count]


def test_up5k_cnn_on_fashion(tmp_path):
    """The shipped UP5K CNN (models/fashion_up5k_cnn.sst) on the first 50
    Fashion-MNIST test images, in the UP5K configuration: bit-exact."""
    from sst_hw.format import modelfile
    from sst_hw.plan.convnet import UP5K_CNN_CORE
    from sst_hw.synth.devices import get_device

    net = modelfile.load("models/fashion_up5k_cnn.sst")
    core = run_convnet(net, _fashion(50), tmp_path, stall_inferences=2,
                       device=get_device("up5k"), **UP5K_CNN_CORE)
    # The UP5K shape: the largest map in SPRAM, the last code words in logic.
    assert core.plan.map_memory == "spram" and core.plan.code_tail_words > 0


@pytest.mark.slow
def test_vgg9_cnn_on_fashion(tmp_path):
    """The shipped VGG-9-topology CNN (models/fashion_vgg9.sst) on 4
    Fashion-MNIST test images, in the ECP5 configuration: bit-exact."""
    from sst_hw.format import modelfile
    from sst_hw.plan.convnet import ECP5_CNN_CORE
    from sst_hw.synth.devices import get_device

    net = modelfile.load("models/fashion_vgg9.sst")
    run_convnet(net, _fashion(4), tmp_path, stall_inferences=1,
                device=get_device("ecp5-85f"), **ECP5_CNN_CORE)
