"""Amaranth-simulator helpers: stream producer and consumer testbenches.

Async testbench style (``Simulator.add_testbench``), in the manner of
Glasgow's ``run(dut, input, output)`` helpers: a producer offers payloads
with random idle cycles, a consumer takes them with random stalls.
"""

from __future__ import annotations

import random

from amaranth.sim import Simulator

__all__ = ["stream_put", "stream_get", "run_streams"]


async def stream_put(ctx, stream, payloads, *, rng=None, p_idle: float = 0.0):
    """Send each of ``payloads`` on ``stream`` (valid/ready).

    ``payloads`` are anything the payload shape can cast (dicts for struct
    layouts, lists for arrays, ints). Before each payload the stream stays
    idle (``valid`` low) for a random number of cycles with probability
    ``p_idle`` per cycle; once offered, a payload is held until accepted.
    """
    rng = rng or random.Random(0)
    for payload in payloads:
        while p_idle and rng.random() < p_idle:
            ctx.set(stream.valid, 0)
            await ctx.tick()
        ctx.set(stream.valid, 1)
        ctx.set(stream.payload, payload)
        await ctx.tick().until(stream.ready)
    ctx.set(stream.valid, 0)


async def stream_get(ctx, stream, count: int, *, rng=None, p_stall: float = 0.0,
                     on_transfer=None) -> list:
    """Receive ``count`` payloads from ``stream``, dropping ``ready`` on each
    cycle with probability ``p_stall``. Returns the sampled payload values
    (``data.Const`` views for layouts). ``on_transfer(cycle, payload)`` is
    called at each transfer, with ``cycle`` counted from the call."""
    rng = rng or random.Random(1)
    out = []
    cycle = 0
    while len(out) < count:
        ready = not (p_stall and rng.random() < p_stall)
        ctx.set(stream.ready, int(ready))
        _, _, valid, payload = await ctx.tick().sample(stream.valid, stream.payload)
        cycle += 1
        if ready and valid:
            out.append(payload)
            if on_transfer is not None:
                on_transfer(cycle, payload)
    ctx.set(stream.ready, 0)
    return out


def run_streams(dut, producers=(), consumers=(), *, vcd=None, deadline=None):
    """Simulate ``dut`` with ``producers`` and ``consumers`` (async testbench
    functions taking ``ctx``) on the ``sync`` clock (1 MHz). Fails if the
    consumers have not finished after ``deadline`` cycles (when given)."""
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    done = []
    for p in producers:
        sim.add_testbench(p, background=True)
    for c in consumers:
        async def wrapped(ctx, c=c):
            await c(ctx)
            done.append(c)
        sim.add_testbench(wrapped)
    if deadline is not None:
        async def watchdog(ctx):
            for _ in range(deadline):
                await ctx.tick()
            raise AssertionError(f"simulation did not finish within {deadline} cycles "
                                 f"({len(done)} of {len(consumers)} consumers done)")
        sim.add_testbench(watchdog, background=True)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()
