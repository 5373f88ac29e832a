"""Engines (``SSTEngine``, the dense baselines) in the Amaranth simulator,
through the shared stream helpers of :mod:`sst_hw.sim.amsim`."""

from __future__ import annotations

import random

from amaranth.hdl import Fragment

from sst_hw.sim.amsim import run_streams, run_testbenches, stream_get, stream_put


def used(e):
    """Elaborate ``e`` (checks it builds, and marks it used for Amaranth)."""
    Fragment.get(e, None)
    return e


def run_engine(e, beats, nrows, *, p_idle=0.0, p_stall=0.0, seed=0, transfers=None):
    """Stream ``beats`` (payload dicts) into engine ``e`` and take ``nrows``
    output rows; returns their accumulators. ``transfers``, a list, receives
    the cycle of each output transfer. Fails after a deadline of 40 cycles a
    beat (plus 200)."""
    got = []

    async def producer(ctx):
        await stream_put(ctx, e.i, beats, rng=random.Random(seed), p_idle=p_idle)

    async def consumer(ctx):
        res = await stream_get(ctx, e.o, nrows, rng=random.Random(seed + 1), p_stall=p_stall,
                               on_transfer=None if transfers is None
                               else lambda c, p: transfers.append(c))
        got.extend([[int(v) for v in r.acc] for r in res])

    run_streams(e, [producer], [consumer], deadline=40 * len(beats) + 200)
    return got


def check_ready_is_registered(e, payload, *, cycles=60):
    """i.ready never changes within a cycle, whatever o.ready does."""
    log = []

    async def bench(ctx):
        rng = random.Random(3)
        ctx.set(e.i.valid, 1)
        ctx.set(e.i.payload, payload)
        for _ in range(cycles):
            before = ctx.get(e.i.ready)
            ctx.set(e.o.ready, rng.randint(0, 1))
            await ctx.delay(1e-8)               # settle combinational logic, no clock edge
            log.append((before, ctx.get(e.i.ready)))
            ctx.set(e.o.ready, 1 - ctx.get(e.o.ready))
            await ctx.delay(1e-8)
            log.append((before, ctx.get(e.i.ready)))
            await ctx.tick()

    run_testbenches(e, [bench], deadline=cycles + 10)
    assert all(a == b for a, b in log)
    assert {a for a, _ in log} == {0, 1}       # ready did toggle between cycles
