"""The shared Amaranth-simulator helpers (:mod:`sst_hw.sim.amsim`): payloads
through a FIFO with stalls, and a deadline that fails a simulation which
would otherwise never end."""

from __future__ import annotations

import random
import time

import pytest
from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from sst_hw.sim.amsim import SimulationTimeout, run_streams, run_testbenches, stream_get, \
    stream_put


class Fifo(wiring.Component):
    """A stream in, a stream out, ``depth`` payloads of 8 bits between them."""

    def __init__(self, depth=2):
        self.depth = depth
        super().__init__({"i": In(stream.Signature(8)), "o": Out(stream.Signature(8))})

    def elaborate(self, platform):
        m = Module()
        m.submodules.fifo = fifo = SyncFIFOBuffered(width=8, depth=self.depth)
        wiring.connect(m, wiring.flipped(self.i), fifo.w_stream)
        wiring.connect(m, fifo.r_stream, wiring.flipped(self.o))
        return m


def test_streams_through_fifo_with_stalls():
    dut = Fifo()
    data = list(range(40))
    put, got = [], []

    async def producer(ctx):
        await stream_put(ctx, dut.i, data, rng=random.Random(2), p_idle=0.3,
                         on_transfer=lambda c, p: put.append(c))

    async def consumer(ctx):
        got.extend(await stream_get(ctx, dut.o, len(data), rng=random.Random(3), p_stall=0.3))

    run_streams(dut, [producer], [consumer], deadline=400)
    assert got == data
    assert len(put) == len(data) and put == sorted(put)


def test_consumer_never_ready_fails_by_the_deadline():
    """The consumer never raises ``ready``: the FIFO fills, the producer blocks,
    and the run stops at the deadline, naming the consumer."""
    dut = Fifo()
    edges = []

    async def producer(ctx):
        await stream_put(ctx, dut.i, range(10))

    async def consumer(ctx):
        await stream_get(ctx, dut.o, 10, p_stall=1.0)       # ready stays low

    async def counter(ctx):
        while True:
            await ctx.tick()
            edges.append(1)

    t0 = time.monotonic()
    with pytest.raises(SimulationTimeout, match=r"within its deadline of 50 cycles: 1 of 1 "
                                                r"testbenches still running \(.*consumer\)"):
        run_testbenches(dut, [consumer], background=[producer, counter], deadline=50)
    assert 49 <= len(edges) <= 51
    assert time.monotonic() - t0 < 10


def test_dut_that_never_answers_fails_by_the_deadline():
    """Nothing is ever sent: a consumer waiting for output times out too."""
    dut = Fifo()

    async def consumer(ctx):
        await stream_get(ctx, dut.o, 1)

    with pytest.raises(SimulationTimeout, match="deadline of 30 cycles"):
        run_streams(dut, [], [consumer], deadline=30)


def test_deadline_is_required_and_positive():
    dut = Module()
    with pytest.raises(TypeError):
        run_streams(dut, [], [])                    # no deadline
    with pytest.raises(ValueError, match="deadline must be a positive number of cycles, not 0"):
        run_testbenches(dut, [], deadline=0)
    run_testbenches(dut, [], clock=False, deadline=1)    # nothing to run: returns at once


def test_combinational_run_without_clock():
    """``clock=False``: testbenches advance time with ``ctx.delay``; the
    deadline counts in periods all the same."""
    m = Module()
    steps = []

    async def bench(ctx):
        for _ in range(5):
            await ctx.delay(1e-6)
            steps.append(1)

    run_testbenches(m, [bench], clock=False, deadline=10)
    assert len(steps) == 5

    async def forever(ctx):
        while True:
            await ctx.delay(1e-6)

    with pytest.raises(SimulationTimeout, match="forever"):
        run_testbenches(m, [forever], clock=False, deadline=10)
