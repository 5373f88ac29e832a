"""Tier 1: :class:`~sst_hw.core.network.SSTNetwork` in Amaranth's simulator.

Whole inferences of small random models against the golden model, bit for
bit, over many configurations (codebooks, PE/SIMD, both memories, both
requantization modes, signed formats, one to four layers, loadable cores),
with and without random backpressure; without it, the cycles per inference
must equal the plan's closed-form figure. Loadable cores (block RAM with
both banks, SPRAM) take images of other models through their ``image``
port. Plus the components' parameter checks.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from sst_hw.format.golden import Network
from sst_hw.core.network import SSTNetwork
from sst_hw.plan.network import plan_network
from sst_hw.plan.image import topology_id
from sst_hw.sim.amsim import (
    image_load,
    image_read,
    run_streams,
    run_testbenches,
    stream_get,
    stream_put)


def simulate(core: SSTNetwork, x, *, p_idle=0.0, p_stall=0.0, seed=0, image=None,
             use_loaded=None):
    """Run inferences ``x`` (batch, features) through ``core``; return, per
    inference, ``(outputs, cycles)``: the ``o`` values (logits then class), and
    the cycles from the first accepted input beat to the class beat, both
    included. Checks ``last`` is set on the class beat only. Input beats
    stream back to back (random idle cycles with ``p_idle``), the outputs are
    taken with random stalls (``p_stall``); the run fails at a deadline of
    four times the expected cycles.

    ``image`` (``(code words, table rows)``) is written through a loadable
    core's ``image`` port before the first input; an spram core takes its own
    model's by default. ``use_loaded`` (default: 1 when an image is written)
    is driven on the port of a loadable core."""
    plan = core.plan
    if image is None and core.memory == "spram":
        image = (plan.code_image(), plan.param_image())
    if use_loaded is None:
        use_loaded = int(image is not None)
    features, n_out = x.shape[1], plan.classes + 1
    accepts, takes, outs = [], [], []
    loaded = [0]

    async def producer(ctx):
        if plan.loadable:
            ctx.set(core.image.use_loaded, use_loaded)
        if image is not None:
            loaded[0] = await image_load(ctx, core.image, *image, use_loaded=use_loaded)
        await stream_put(ctx, core.i, [{"data": int(v)} for v in x.reshape(-1)],
                         rng=random.Random(seed + 1), p_idle=p_idle,
                         on_transfer=lambda c, p: accepts.append(loaded[0] + c))

    async def consumer(ctx):
        outs.extend(await stream_get(ctx, core.o, len(x) * n_out, rng=random.Random(seed + 2),
                                     p_stall=p_stall, on_transfer=lambda c, p: takes.append(c)))

    slow = 1 / ((1 - p_idle) * (1 - p_stall))
    words = plan.code_words + plan.param_rows if image is not None else 0
    budget = words + len(x) * (plan.cycles() + features + n_out)
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
    """``simulate`` (``kw``), every output compared with ``net``'s golden ones
    and, without stalls, the cycles with the plan's."""
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
    opts = dict(pe=r.randint(1, 5), simd=r.randint(1, 3), memory=r.choice(["bram", "spram"]),
                requant=r.choice(["auto", "mult"]), select_reg=r.random() < 0.3,
                tree_stage_levels=r.choice([0, 1, 2]), mem_reg=r.random() < 0.7)
    # A loadable block RAM core runs its bitstream's bank or its own image
    # written through the port (spram: always the image written).
    loadable, use_loaded = r.random() < 0.4, r.randint(0, 1)
    core = SSTNetwork(net, **opts, loadable=loadable, spram_primitive=False)
    image = None
    if core.memory == "bram" and loadable and use_loaded:
        image = (core.plan.code_image(), core.plan.param_image())
    lo, hi = net.input_range
    x = rng.integers(lo, hi, size=(3, sizes[0]), endpoint=True)
    stalls = seed % 2 == 1
    check(core, net, x, p_idle=0.3 if stalls else 0.0, p_stall=0.4 if stalls else 0.0,
          seed=seed, image=image)


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


# -- loadable cores: the image port --------------------------------------------------------------

async def infer_each(ctx, core, x):
    """Inferences ``x`` one after the other in one testbench: an inference's
    input beats, then its output beats (``o.ready`` high). Per inference
    ``(outputs, lasts, cycles)``, cycles from the first accepted input beat
    to the class beat, both included."""
    out = []
    for row in x:
        first, takes = [], []
        put = await stream_put(ctx, core.i, [{"data": int(v)} for v in row],
                               on_transfer=lambda c, p: first.append(c))
        beats = await stream_get(ctx, core.o, core.plan.classes + 1,
                                 on_transfer=lambda c, p: takes.append(c))
        out.append(([int(p.data) for p in beats], [int(p.last) for p in beats],
                    put - first[0] + 1 + takes[-1]))
    return out


def check_each(results, net, x, plan, what):
    """``infer_each`` results against ``net``'s golden outputs and ``plan``'s cycles."""
    logits, classes = net.forward(x)
    assert len(results) == len(x)
    for b, (outs, lasts, cycles) in enumerate(results):
        want = [int(v) for v in logits[b]] + [int(classes[b])]
        assert outs == want, f"{what}, inference {b}: {outs} != golden {want}"
        assert lasts == [0] * plan.classes + [1], (what, b, lasts)
        assert cycles == plan.cycles(), (what, b, cycles, plan.cycles())


def two_models(sizes, seeds, each=({}, {}), **kw):
    """Two random models of the same topology (``sizes``, codebook (8,2),
    formats ``kw``; ``each``: options of one model only) whose hidden
    layers' shifts all differ: the loaded image changes the variable shift
    of every hidden layer."""
    net, net2 = (Network.random(np.random.default_rng(s), sizes, 8, 2, **kw, **extra)
                 for s, extra in zip(seeds, each))
    shifts = [[layer.shift for layer in n.layers[:-1]] for n in (net, net2)]
    print("hidden shifts:", *shifts)
    assert all(a != b for a, b in zip(*shifts)), shifts
    return net, net2


LOADABLE_SIZES = [27, 15, 9, 6]
LOADABLE_FORMATS = dict(act_width=[6, 8], relu=[True, False], input_signed=True)


def test_loadable_bram_runs_both_banks():
    """A loadable block RAM core: its bitstream's model (use_loaded 0), then
    the image of a second model of the same topology written through the
    port (use_loaded 1), both bit-exact with their golden models, cycles as
    the plan's; the loaded bank starts as zeros and reads back as written;
    the bitstream's bank is untouched by the writes."""
    net, net2 = two_models(LOADABLE_SIZES, (0, 6), **LOADABLE_FORMATS)
    opts = dict(pe=3, simd=2, tree_stage_levels=2)
    plan = plan_network(net, **opts, loadable=True)
    plan2 = plan_network(net2, **opts, loadable=True)
    assert topology_id(plan) == topology_id(plan2)
    assert plan.requant == "mult" and plan.shift_bits == 6
    code2, table2 = plan2.code_image(), plan2.param_image()
    assert len(code2) == plan.code_words and len(table2) == plan.param_rows
    assert code2 != plan.code_image() and table2 != plan.param_image()
    core = SSTNetwork(plan)
    rng = np.random.default_rng(11)
    lo, hi = net.input_range
    x = rng.integers(lo, hi, size=(4, LOADABLE_SIZES[0]), endpoint=True)
    x[0] = hi
    got = {}

    async def bench(ctx):
        ctx.set(core.image.use_loaded, 0)
        got["zeros"] = (await image_read(ctx, core.image, 0, plan.code_words),
                        await image_read(ctx, core.image, 1, plan.param_rows))
        got["built"] = await infer_each(ctx, core, x)
        got["cycles"] = await image_load(ctx, core.image, code2, table2, use_loaded=1)
        got["loaded"] = await infer_each(ctx, core, x)
        got["read"] = (await image_read(ctx, core.image, 0, plan.code_words),
                       await image_read(ctx, core.image, 1, plan.param_rows))
        ctx.set(core.image.use_loaded, 0)
        got["built again"] = await infer_each(ctx, core, x[:2])

    budget = 3 * len(x) * (plan.cycles() + 60) + 6 * (plan.code_words + plan.param_rows)
    run_testbenches(core, [bench], deadline=budget)
    assert got["zeros"] == ([0] * plan.code_words, [0] * plan.param_rows)
    check_each(got["built"], net, x, plan, "bitstream's model")
    assert got["cycles"] == plan.code_words + plan.param_rows     # one word per cycle
    check_each(got["loaded"], net2, x, plan2, "loaded model")
    assert got["read"] == (code2, table2)
    check_each(got["built again"], net, x[:2], plan, "bitstream's model after the load")


def test_loadable_spram_takes_two_images():
    """An spram core (behavioural SPRAM): the table reads as zeros after
    reset; the image of one model, then of a second one of the same topology
    (shift mode, M = 1, other shifts), each written whole through the port
    and run bit-exact; the second reads back as written, and still runs with
    use_loaded 0 (an spram core has only the loaded bank)."""
    net, net2 = two_models(LOADABLE_SIZES, (0, 7), **LOADABLE_FORMATS,
                           each=[{}, {"shift_mode": True}])
    opts = dict(pe=2, simd=3, memory="spram")
    plan, plan2 = plan_network(net, **opts), plan_network(net2, **opts)
    assert plan.loadable and plan2.loadable and plan2.requant == "mult"
    assert topology_id(plan) == topology_id(plan2)
    core = SSTNetwork(plan, spram_primitive=False)
    rng = np.random.default_rng(12)
    lo, hi = net.input_range
    x = rng.integers(lo, hi, size=(3, LOADABLE_SIZES[0]), endpoint=True)
    x[1] = lo
    got = {}

    async def bench(ctx):
        got["table zeros"] = await image_read(ctx, core.image, 1, plan.param_rows)
        await image_load(ctx, core.image, plan.code_image(), plan.param_image())
        got["first"] = await infer_each(ctx, core, x)
        await image_load(ctx, core.image, plan2.code_image(), plan2.param_image())
        got["second"] = await infer_each(ctx, core, x)
        got["read"] = (await image_read(ctx, core.image, 0, plan.code_words),
                       await image_read(ctx, core.image, 1, plan.param_rows))
        ctx.set(core.image.use_loaded, 0)           # ignored: the loaded image still runs
        got["use_loaded 0"] = await infer_each(ctx, core, x[:1])

    budget = 3 * len(x) * (plan.cycles() + 60) + 6 * (plan.code_words + plan.param_rows)
    run_testbenches(core, [bench], deadline=budget)
    assert got["table zeros"] == [0] * plan.param_rows
    check_each(got["first"], net, x, plan, "first image")
    check_each(got["second"], net2, x, plan2, "second image")
    assert got["read"] == (plan2.code_image(), plan2.param_image())
    check_each(got["use_loaded 0"], net2, x[:1], plan2, "second image, use_loaded 0")


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
