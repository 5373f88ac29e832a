"""The network core's components on their own (Amaranth simulator): the code
memory's read pointer and its SPRAM loading, the activation buffer's input
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


def test_code_memory_spram_loads_then_reads():
    plan = make_plan("spram")
    image = plan.code_image()
    dut = CodeMemory(plan, primitive=False)
    got = []

    async def bench(ctx):
        rng = random.Random(2)
        for word in image:
            assert ctx.get(dut.ready) == 0 and ctx.get(dut.load.ready) == 1
            while rng.random() < 0.3:          # idle beats carry junk
                ctx.set(dut.load.valid, 0)
                ctx.set(dut.load.payload.data, rng.getrandbits(plan.code_word_bits))
                await ctx.tick()
            ctx.set(dut.load.valid, 1)
            ctx.set(dut.load.payload.data, word)
            await ctx.tick()
        ctx.set(dut.load.valid, 1)             # more words are refused
        ctx.set(dut.load.payload.data, 0)
        assert ctx.get(dut.ready) == 1 and ctx.get(dut.load.ready) == 0
        await ctx.tick()
        ctx.set(dut.load.valid, 0)
        got.extend(await read_in_order(ctx, dut, len(image)))

    run_testbenches(dut, [bench], deadline=20 * len(image) + 100)
    assert got == image


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
