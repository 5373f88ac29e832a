"""Amaranth-simulator helpers: stream producer and consumer testbenches, and
one runner with a deadline for every simulation.

Async testbench style (``Simulator.add_testbench``), in the manner of
Glasgow's ``run(dut, input, output)`` helpers: a producer offers payloads
with random idle cycles, a consumer takes them with random stalls.

Every simulation runs through :func:`run_testbenches` (or
:func:`run_streams`, its stream form), which takes a ``deadline``: a budget
of clock cycles after which the simulation stops with
:exc:`SimulationTimeout` naming the testbenches that had not finished, so
that a consumer that never becomes ready, or a DUT that never answers,
fails instead of hanging.
"""

from __future__ import annotations

import random

from amaranth.sim import Simulator

__all__ = ["SimulationTimeout", "stream_put", "stream_get", "run_streams", "run_testbenches"]


class SimulationTimeout(AssertionError):
    """The testbenches of a simulation did not finish within its deadline."""


async def stream_put(ctx, stream, payloads, *, rng=None, p_idle: float = 0.0,
                     on_transfer=None) -> int:
    """Send each of ``payloads`` on ``stream`` (valid/ready).

    ``payloads`` are anything the payload shape can cast (dicts for struct
    layouts, lists for arrays, ints). Before each payload the stream stays
    idle (``valid`` low) for a random number of cycles with probability
    ``p_idle`` per cycle; once offered, a payload is held until accepted.
    ``on_transfer(cycle, payload)`` is called at each transfer, with
    ``cycle`` counted from the call (the first clock edge is cycle 1).
    Returns the number of cycles taken.
    """
    rng = rng or random.Random(0)
    cycle = 0
    for payload in payloads:
        idle = False
        while p_idle and rng.random() < p_idle:
            if not idle:
                ctx.set(stream.valid, 0)
                idle = True
            await ctx.tick()
            cycle += 1
        ctx.set(stream.valid, 1)
        ctx.set(stream.payload, payload)
        async for _, _, ready in ctx.tick().sample(stream.ready):
            cycle += 1
            if ready:
                break
        if on_transfer is not None:
            on_transfer(cycle, payload)
    ctx.set(stream.valid, 0)
    return cycle


async def stream_get(ctx, stream, count: int, *, rng=None, p_stall: float = 0.0,
                     on_transfer=None) -> list:
    """Receive ``count`` payloads from ``stream``, dropping ``ready`` on each
    cycle with probability ``p_stall``. Returns the sampled payload values
    (``data.Const`` views for layouts). ``on_transfer(cycle, payload)`` is
    called at each transfer, with ``cycle`` counted from the call (the first
    clock edge is cycle 1)."""
    rng = rng or random.Random(1)
    out = []
    if count <= 0:
        return out
    cycle = 0
    ready = not (p_stall and rng.random() < p_stall)
    ctx.set(stream.ready, int(ready))
    # One trigger for every cycle (cheaper than a new one each), and ``ready``
    # set only when it changes (each set settles the design).
    async for _, _, valid, payload in ctx.tick().sample(stream.valid, stream.payload):
        cycle += 1
        if ready and valid:
            out.append(payload)
            if on_transfer is not None:
                on_transfer(cycle, payload)
            if len(out) == count:
                break
        was, ready = ready, not (p_stall and rng.random() < p_stall)
        if ready != was:
            ctx.set(stream.ready, int(ready))
    ctx.set(stream.ready, 0)
    return out


def _name(bench) -> str:
    return getattr(bench, "__qualname__", None) or repr(bench)


def run_testbenches(dut, testbenches=(), *, deadline: int, background=(), processes=(),
                    clock: bool = True, period: float = 1e-6, domain: str = "sync", vcd=None):
    """Simulate ``dut`` until every one of ``testbenches`` (async functions
    taking ``ctx``) has returned.

    ``background`` testbenches and ``processes`` run alongside and may run
    forever (they are added first, in order, then ``testbenches``). With
    ``clock``, the ``domain`` clock runs with ``period`` seconds; without it
    (combinational designs, or designs whose clock a testbench toggles)
    nothing drives a clock.

    ``deadline`` is a budget in cycles of ``period``: when the simulated time
    reaches it with a testbench still running, the simulation stops with
    :exc:`SimulationTimeout` naming the unfinished testbenches.
    """
    if not isinstance(deadline, int) or isinstance(deadline, bool) or deadline < 1:
        raise ValueError(f"deadline must be a positive number of cycles, not {deadline!r}")
    testbenches = list(testbenches)
    sim = Simulator(dut)
    if clock:
        sim.add_clock(period, domain=domain)
    running = {}
    for bench in background:
        sim.add_testbench(bench, background=True)
    for proc in processes:
        sim.add_process(proc)
    for i, bench in enumerate(testbenches):
        running[i] = _name(bench)

        async def wrapped(ctx, bench=bench, i=i):
            await bench(ctx)
            del running[i]
        sim.add_testbench(wrapped)

    async def watchdog(ctx):
        await ctx.delay(deadline * period)
        if running:
            raise SimulationTimeout(
                f"simulation did not finish within its deadline of {deadline} cycles: "
                f"{len(running)} of {len(testbenches)} testbenches still running "
                f"({', '.join(running.values())})")
    sim.add_testbench(watchdog, background=True)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()


def run_streams(dut, producers=(), consumers=(), *, deadline: int, vcd=None):
    """Simulate ``dut`` with ``producers`` (background: they may block
    forever on a full stream) and ``consumers`` (async testbench functions
    taking ``ctx``) on the ``sync`` clock (1 MHz), until the consumers have
    finished. Fails with :exc:`SimulationTimeout` if they have not finished
    after ``deadline`` cycles."""
    run_testbenches(dut, consumers, background=producers, deadline=deadline, vcd=vcd)
