"""Tier 1: :class:`~sst_hw.core.network.SSTNetwork` in Amaranth's simulator.

Whole inferences of small random models against the golden model, bit for
bit, over many configurations (codebooks, PE/SIMD, both memories, both
requantization modes, signed formats, one to four layers), with and without
random backpressure; without it, the cycles per inference must equal the
plan's closed-form figure. Plus the components' parameter checks.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from sst_hw.format.golden import Network
from sst_hw.core.network import SSTNetwork
from sst_hw.plan.network import plan_network
from sst_hw.sim.amsim import run_streams, stream_get, stream_put


def simulate(core: SSTNetwork, x, *, p_idle=0.0, p_stall=0.0, seed=0):
    """Run inferences ``x`` (batch, features) through ``core``; return, per
    inference, ``(outputs, cycles)``: the ``o`` values (logits then class), and
    the cycles from the first accepted input beat to the class beat, both
    included. Checks ``last`` is set on the class beat only. Input beats
    stream back to back (random idle cycles with ``p_idle``), the outputs are
    taken with random stalls (``p_stall``); the run fails at a deadline of
    four times the expected cycles."""
    codes = core.plan.code_image() if core.memory == "spram" else []
    features, n_out = x.shape[1], core.plan.classes + 1
    accepts, takes, outs = [], [], []
    loaded = [0]

    async def producer(ctx):
        if codes:
            loaded[0] = await stream_put(ctx, core.load, [{"data": w} for w in codes],
                                         rng=random.Random(seed), p_idle=p_idle)
        await stream_put(ctx, core.i, [{"data": int(v)} for v in x.reshape(-1)],
                         rng=random.Random(seed + 1), p_idle=p_idle,
                         on_transfer=lambda c, p: accepts.append(loaded[0] + c))

    async def consumer(ctx):
        outs.extend(await stream_get(ctx, core.o, len(x) * n_out, rng=random.Random(seed + 2),
                                     p_stall=p_stall, on_transfer=lambda c, p: takes.append(c)))

    slow = 1 / ((1 - p_idle) * (1 - p_stall))
    budget = len(codes) + len(x) * (core.plan.cycles() + features + n_out)
    run_streams(core, [producer], [consumer], deadline=int(4 * slow * budget) + 1000)
    results = []
    for b in range(len(x)):
        row = outs[b * n_out:(b + 1) * n_out]
        lasts = [int(p.last) for p in row]
        assert lasts == [0] * (n_out - 1) + [1], lasts
        cycles = takes[(b + 1) * n_out - 1] - accepts[b * features] + 1
        results.append(([int(p.data) for p in row], cycles))
    return results


def check(core, net, x, **kw):
    logits, classes = net.forward(x)
    res = simulate(core, x, **kw)
    for b, (outs, cycles) in enumerate(res):
        want = [int(v) for v in logits[b]] + [int(classes[b])]
        assert outs == want, f"inference {b}: {outs} != golden {want}"
        if not kw.get("p_idle") and not kw.get("p_stall"):
            assert cycles == core.plan.cycles(), (cycles, core.plan.cycles(), core.plan.formula())
    return res


CODEBOOKS = [(8, 2, "full", "enum"), (4, 1, "full", "enum"), (8, 2, "partitioned", "direct"),
             (8, 2, "full", "direct"), (16, 4, "partitioned", "enum"), (6, 3, "full", "direct")]


@pytest.mark.parametrize("seed", range(16))
def test_random_configs(seed):
    """Random model, core and stimulus; 1-4 layers of 1..40 features."""
    r = random.Random(seed)
    rng = np.random.default_rng(seed)
    nl = r.randint(1, 4)
    sizes = [r.randint(1, 40) for _ in range(nl + 1)]
    n, k, variant, assignment = CODEBOOKS[seed % len(CODEBOOKS)]
    relu = [r.random() < 0.75 for _ in range(nl - 1)]
    net = Network.random(rng, sizes, n, k, variant, assignment,
                         input_width=r.choice([4, 5, 8]), input_signed=r.random() < 0.3,
                         act_width=[r.choice([4, 6, 8]) for _ in range(nl - 1)], relu=relu,
                         shift_mode=r.random() < 0.3)
    core = SSTNetwork(net, pe=r.randint(1, 5), simd=r.randint(1, 3),
                      memory=r.choice(["bram", "spram"]), spram_primitive=False,
                      requant=r.choice(["auto", "mult"]), select_reg=r.random() < 0.3,
                      tree_stage_levels=r.choice([0, 1, 2]), mem_reg=r.random() < 0.7)
    lo, hi = net.input_range
    x = rng.integers(lo, hi, size=(3, sizes[0]), endpoint=True)
    stalls = seed % 2 == 1
    check(core, net, x, p_idle=0.3 if stalls else 0.0, p_stall=0.4 if stalls else 0.0,
          seed=seed)


def test_back_to_back_period():
    """Inferences back to back: the next input beat is taken the cycle after
    the class beat, so the period equals the cycles per inference."""
    rng = np.random.default_rng(3)
    net = Network.random(rng, [19, 9, 4], 8, 2)
    core = SSTNetwork(net, pe=2, simd=2)
    x = rng.integers(0, 255, size=(4, 19), endpoint=True)
    logits, classes = net.forward(x)
    outs, takes, accepts = [], [], []

    async def producer(ctx):
        await stream_put(ctx, core.i, [{"data": int(v)} for v in x.reshape(-1)],
                         on_transfer=lambda c, p: accepts.append(c))

    async def consumer(ctx):
        res = await stream_get(ctx, core.o, 4 * 5, on_transfer=lambda c, p: takes.append(c))
        outs.extend(int(p.data) for p in res)

    run_streams(core, [producer], [consumer], deadline=8 * core.plan.cycles() + 200)
    want = np.concatenate([logits, classes[:, None]], 1).reshape(-1).tolist()
    assert outs == want
    starts = accepts[::19]
    assert [b - a for a, b in zip(starts, starts[1:])] == [core.plan.cycles()] * 3
    assert takes[4] - starts[0] + 1 == core.plan.cycles()


def test_extreme_inputs_and_one_layer():
    """A single layer (no requantization at all), and all-max / all-min inputs."""
    rng = np.random.default_rng(7)
    net = Network.random(rng, [33, 6], 8, 2, input_signed=True)
    core = SSTNetwork(net, pe=4, simd=1)
    lo, hi = net.input_range
    x = np.array([[hi] * 33, [lo] * 33, rng.integers(lo, hi, 33, endpoint=True)])
    check(core, net, x)


def test_ties_pick_lowest_index():
    """Equal largest logits: the class is the lowest index among them."""
    from sst_hw.format.golden import Layer

    rng = np.random.default_rng(8)
    base = Network.random(rng, [10, 7, 5], 8, 2)
    cb = base.layers[1].codebook
    plus = cb.encode(np.array([[1] + [0] * 7]))[0]        # +x at position 0
    codes = np.full((5, 1), cb.zero_code, np.int64)
    codes[2] = codes[4] = plus                            # rows 2 and 4 tie, others 0
    last = Layer(7, 5, cb, codes, np.ones(5, np.int64), np.zeros(5, np.int64), 0, False, 8)
    net = Network([base.layers[0], last])
    x = rng.integers(0, 255, size=(6, 10), endpoint=True)
    logits, classes = net.forward(x)
    tied = logits[:, 2] > 0
    assert tied.any() and (logits[:, 2] == logits[:, 4]).all()
    assert (classes[tied] == 2).all()
    res = check(SSTNetwork(net, pe=3, simd=1), net, x)
    assert [r[0][-1] for r in res] == classes.tolist()


@pytest.mark.parametrize("kwargs, exc, msg", [
    (dict(pe=0), ValueError, "pe must be an integer in 1..256, not 0"),
    (dict(simd="2"), TypeError, "simd must be"),
    (dict(memory="dram"), ValueError, "memory must be one of 'bram', 'spram', not 'dram'"),
    (dict(requant="float"), ValueError, "requant must be one of"),
])
def test_bad_parameters(kwargs, exc, msg):
    net = Network.random(np.random.default_rng(0), [8, 3], 8, 2)
    with pytest.raises(exc, match=msg):
        SSTNetwork(net, **kwargs)


def test_not_a_network():
    with pytest.raises(TypeError, match="network must be a Network, not list"):
        SSTNetwork([1, 2])


def test_shift_mode_refused_with_multipliers():
    net = Network.random(np.random.default_rng(1), [12, 5, 3], 8, 2, negative_mults=False)
    assert not net.layers[0].shift_mode
    with pytest.raises(ValueError, match=r"requant 'shift' needs every multiplier M_r = 1, "
                                         r"but layer 0 row \d+ has M = \d+"):
        SSTNetwork(net, requant="shift")


def test_requant_modes_chosen_from_model():
    rng = np.random.default_rng(2)
    shift = Network.random(rng, [12, 5, 3], 8, 2, shift_mode=True)
    mult = Network.random(rng, [12, 5, 3], 8, 2)
    assert plan_network(shift).requant == "shift"
    assert plan_network(shift, requant="mult").requant == "mult"
    assert plan_network(mult).requant == "mult"


def test_core_takes_its_plan():
    """The plan comes first (no component is built for it); the core takes it."""
    from amaranth.hdl import Fragment
    net = Network.random(np.random.default_rng(0), [8, 3], 8, 2)
    plan = plan_network(net, pe=2, simd=1)
    core = SSTNetwork(plan)
    assert core.plan is plan and core.params == plan.params
    assert plan.engine_latency == plan.engine.latency == 4
    with pytest.raises(TypeError, match="the plan fixes every option of the core but "
                                        "spram_primitive, not pe"):
        SSTNetwork(plan, pe=2)
    Fragment.get(core, None)
