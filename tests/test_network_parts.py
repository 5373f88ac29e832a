"""The network core's components on their own (Amaranth simulator): the code
memory's read pointer and its image port (SPRAM, and the two banks of a
loadable block RAM), the activation buffer's input
writer and lane writes, and the components' argument checks. The whole core
is tested by ``test_network_amaranth`` and ``test_network_cocotb``."""

from __future__ import annotations

import random

import numpy as np
import pytest

from sst_hw.core.act_buffer import ActivationBuffer
from sst_hw.core.code_memory import CodeMemory
from sst_hw.core.sequencer import Sequencer
from sst_hw.core.serialiser import Serialiser
from sst_hw.format.golden import Network
from sst_hw.plan.network import plan_network
from sst_hw.sim.amsim import run_testbenches


def make_plan(memory="bram"):
    net = Network.random(np.random.default_rng(5), [19, 9, 4], 8, 2)
    return plan_network(net, pe=2, simd=2, memory=memory)


async def read_in_order(ctx, dut, count):
    """``count`` words read with ``en`` and ``step``, idle cycles in between
    (the read data must hold)."""
    rng, words = random.Random(1), []
    for _ in range(count):
        ctx.set(dut.read.en, 1)
        ctx.set(dut.read.step, 1)
        await ctx.tick()
        ctx.set(dut.read.en, 0)
        ctx.set(dut.read.step, 0)
        word = ctx.get(dut.read.data)
        for _ in range(rng.randint(0, 2)):
            await ctx.tick()
            assert ctx.get(dut.read.data) == word
        words.append(word)
    return words


def test_code_memory_bram_reads_in_order_and_rewinds():
    plan = make_plan("bram")
    image = plan.code_image()
    dut = CodeMemory(plan)
    got = []

    async def bench(ctx):
        assert ctx.get(dut.ready) == 1
        got.extend(await read_in_order(ctx, dut, 5))
        ctx.set(dut.rewind, 1)
        await ctx.tick()
        ctx.set(dut.rewind, 0)
        got.extend(await read_in_order(ctx, dut, len(image)))

    run_testbenches(dut, [bench], deadline=10 * len(image) + 100)
    assert got == image[:5] + image


async def write_words(ctx, dut, words, rng, bits):
    """Write ``words`` at 0.. through the code memory's image port, with idle
    cycles (``img_we`` low, junk on the data) in between."""
    for addr, word in enumerate(words):
        while rng.random() < 0.3:
            ctx.set(dut.img_we, 0)
            ctx.set(dut.img_wdata, rng.getrandbits(bits))
            await ctx.tick()
        ctx.set(dut.img_addr, addr)
        ctx.set(dut.img_wdata, word)
        ctx.set(dut.img_we, 1)
        await ctx.tick()
    ctx.set(dut.img_we, 0)


async def read_words(ctx, dut, count):
    """Words 0..count-1 read through the image port (latency 1, one per cycle)."""
    out = []
    for addr in range(count):
        ctx.set(dut.img_addr, addr)
        ctx.set(dut.img_re, 1)
        await ctx.tick()
        out.append(ctx.get(dut.read.data))
    ctx.set(dut.img_re, 0)
    return out


async def rewind(ctx, dut):
    ctx.set(dut.rewind, 1)
    await ctx.tick()
    ctx.set(dut.rewind, 0)


def test_code_memory_spram_writes_then_reads():
    """SPRAM: the image written through the port reads back through it, and
    the read pointer then reads it in order."""
    plan = make_plan("spram")
    assert plan.loadable
    image = plan.code_image()
    dut = CodeMemory(plan, primitive=False)
    got = {}

    async def bench(ctx):
        assert ctx.get(dut.ready) == 1
        ctx.set(dut.use_loaded, 1)
        await write_words(ctx, dut, image, random.Random(2), plan.code_word_bits)
        got["port"] = await read_words(ctx, dut, len(image))
        await rewind(ctx, dut)
        got["pointer"] = await read_in_order(ctx, dut, len(image))

    run_testbenches(dut, [bench], deadline=20 * len(image) + 100)
    assert got == {"port": image, "pointer": image}


def test_code_memory_loadable_bram_keeps_both_banks():
    """A loadable block RAM: the bitstream's words in one bank, the port's in
    the other (zeros until written); ``use_loaded`` picks the bank the
    pointer rewinds to."""
    plan = plan_network(make_plan().network, pe=2, simd=2, loadable=True)
    image = plan.code_image()
    rng = random.Random(4)
    other = [rng.getrandbits(plan.code_word_bits) for _ in image]
    dut = CodeMemory(plan)
    got = {}

    async def bench(ctx):
        got["built"] = await read_in_order(ctx, dut, len(image))
        got["zeros"] = await read_words(ctx, dut, len(image))
        await write_words(ctx, dut, other, random.Random(5), plan.code_word_bits)
        got["port"] = await read_words(ctx, dut, len(image))
        ctx.set(dut.use_loaded, 1)
        await rewind(ctx, dut)
        got["loaded"] = await read_in_order(ctx, dut, len(image))
        ctx.set(dut.use_loaded, 0)
        await rewind(ctx, dut)
        got["built again"] = await read_in_order(ctx, dut, len(image))

    run_testbenches(dut, [bench], deadline=40 * len(image) + 100)
    assert got == {"built": image, "zeros": [0] * len(image), "port": other, "loaded": other,
                   "built again": image}


def test_activation_buffer_input_and_lane_writes():
    plan = make_plan()
    F, lanes, A, D = plan.input_features, plan.lanes, plan.act_width, plan.act_bank_words
    feats = [random.Random(3).randint(0, 255) for _ in range(F)]
    dut = ActivationBuffer(plan)

    def lane(word, j):
        return (word >> (j * A)) & ((1 << A) - 1)

    async def read(ctx, addr):
        ctx.set(dut.read.addr, addr)
        ctx.set(dut.read.en, 1)
        await ctx.tick()
        return ctx.get(dut.read.data)

    async def bench(ctx):
        ctx.set(dut.i.valid, 1)
        ctx.set(dut.i.payload.data, feats[0])
        assert ctx.get(dut.i.ready) == 0       # not taking: nothing accepted
        await ctx.tick()
        ctx.set(dut.take, 1)
        for f, v in enumerate(feats):
            ctx.set(dut.i.payload.data, v)
            assert ctx.get(dut.i.ready) == 1
            assert ctx.get(dut.done) == int(f == F - 1)
            await ctx.tick()
        ctx.set(dut.take, 0)
        ctx.set(dut.i.valid, 0)
        for w in range(-(-F // lanes)):
            word = await read(ctx, w)
            for j in range(lanes):
                if w * lanes + j < F:
                    assert lane(word, j) == feats[w * lanes + j], (w, j)
        # One lane of bank 1, then its neighbour: each write leaves the other lanes.
        for j, v in ((1, 5), (2, 7)):
            ctx.set(dut.w_valid, 1)
            ctx.set(dut.w_word, D)
            ctx.set(dut.w_lane, j)
            ctx.set(dut.w_data, v)
            await ctx.tick()
        ctx.set(dut.w_valid, 0)
        word = await read(ctx, D)
        assert (lane(word, 1), lane(word, 2)) == (5, 7)

    run_testbenches(dut, [bench], deadline=10 * F + 100)


@pytest.mark.parametrize("cls", [CodeMemory, ActivationBuffer, Sequencer, Serialiser])
def test_components_take_a_plan(cls):
    with pytest.raises(TypeError, match="plan must be a NetPlan, not dict"):
        cls({"pe": 2})


def test_code_memory_primitive_is_a_bool():
    with pytest.raises(TypeError, match="primitive"):
        CodeMemory(make_plan("spram"), primitive="yes")
