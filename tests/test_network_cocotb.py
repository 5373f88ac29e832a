"""Tier 2: whole inferences of :class:`~sst_hw.core.network.SSTNetwork` in cocotb
on the emitted Verilog. The testbench is :mod:`sst_hw.sim.network_tb`; it knows
the DUT only through its JSON sidecar, compares every logit and class bit for
bit with the golden model, and checks the measured cycles per inference
against the sidecar's.
"""

from __future__ import annotations

import numpy as np
import pytest

from sst_hw.sim.network_tb import run_network


RANDOM_CASES = [
    pytest.param(dict(sizes=[37, 23, 11], n=8, k=2),
                 dict(pe=3, simd=2, requant="mult"), id="3layer-full82-pe3-simd2-mult"),
    pytest.param(dict(sizes=[29, 21, 13, 9, 5], n=4, k=1, assignment="direct", input_width=6,
                      input_signed=True, act_width=[7, 5, 8], relu=[True, False, True],
                      shift_mode=True),
                 dict(pe=5, simd=3), id="4layer-full41-direct-pe5-simd3-shift-signed"),
    pytest.param(dict(sizes=[45, 19, 7], n=8, k=2, variant="partitioned", assignment="direct"),
                 dict(pe=2, simd=2, memory="spram"), id="2layer-part82-pe2-simd2-spram"),
    pytest.param(dict(sizes=[40, 17, 6], n=8, k=2),
                 dict(pe=4, simd=4, act_memory="logic"), id="2layer-full82-pe4-simd4-act-logic"),
]


@pytest.mark.parametrize("model_kw, core_kw", RANDOM_CASES)
def test_random_network(model_kw, core_kw, tmp_path):
    """Random models of 2-4 layers with sizes that are multiples of none of
    N, PE and SIMD: every logit and class bit-exact, cycles as the sidecar."""
    from sst_hw.format.golden import Network

    kw = dict(model_kw)
    sizes = kw.pop("sizes")
    rng = np.random.default_rng(sum(sizes))
    net = Network.random(rng, sizes, **kw)
    lo, hi = net.input_range
    x = rng.integers(lo, hi, size=(12, sizes[0]), endpoint=True)
    x[0] = hi            # extremes too
    x[1] = lo
    core = run_network(net, x, tmp_path, **core_kw)
    if "shift_mode" in kw:
        assert core.plan.requant == "shift"


def test_digits_network(tmp_path):
    """The bundled model trained on the 8x8 digits (``models/digits.sst``, made
    by ``sst-hw train``), over every one of its 450 test images: bit-exact
    logits and classes, cycles as the sidecar."""
    from sst_hw.format import modelfile
    from sst_hw.cli.demo import DEFAULT_MODEL
    from sst_hw.train.datasets import load_digits

    net = modelfile.load(DEFAULT_MODEL)
    data = load_digits()
    x_te, y_te = data.x_test, data.y_test
    assert len(x_te) >= 100
    core = run_network(net, x_te, tmp_path, stall_inferences=10, pe=4, simd=2)
    _, cls = net.forward(x_te)
    assert (cls == y_te).mean() > 0.95
    assert core.plan.requant == "mult"


def test_loadable_bram_network(tmp_path):
    """A loadable block RAM core built from one model, given the image of a
    second model of the same topology whose hidden layers' shifts all
    differ: the bitstream's model, the loaded image and the bitstream's model
    again in one run (``network_banks``), then the timed scenarios on the
    loaded image (written and read back through the ``image`` port after
    each reset); every logit and class bit-exact, cycles as the sidecar."""
    from sst_hw.format.golden import Network
    from sst_hw.plan.image import topology_id
    from sst_hw.plan.network import plan_network

    sizes = [27, 15, 9, 6]
    kw = dict(act_width=[6, 8], relu=[True, False], input_signed=True)
    net, net2 = (Network.random(np.random.default_rng(s), sizes, 8, 2, **kw) for s in (0, 6))
    shifts = [[layer.shift for layer in n.layers[:-1]] for n in (net, net2)]
    assert all(a != b for a, b in zip(*shifts)), shifts
    opts = dict(pe=3, simd=2, loadable=True)
    assert topology_id(plan_network(net, **opts)) == topology_id(plan_network(net2, **opts))
    rng = np.random.default_rng(5)
    lo, hi = net.input_range
    x = rng.integers(lo, hi, size=(8, sizes[0]), endpoint=True)
    x[0] = hi
    core = run_network(net, x, tmp_path, load=net2, stall_inferences=4, **opts)
    assert core.plan.loadable and core.plan.memory == "bram"
