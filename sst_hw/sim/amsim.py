"""Amaranth-simulator helpers: stream producer and consumer testbenches, and
one runner with a deadline for every simulation.

Async testbench style (``Simulator.add_testbench``), in the manner of
Glasgow's ``run(dut, input, output)`` helpers: a producer offers payloads
with random idle cycles, a consumer takes them with random stalls.

:func:`image_write`, :func:`image_read` and :func:`image_load` drive the
``image`` port of a loadable network core
(:attr:`NetPlan.image_signature <sst_hw.plan.network.NetPlan.image_signature>`)
one word per cycle.

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

__all__ = ["SimulationTimeout", "stream_put", "stream_get", "image_write", "image_read",
           "image_load", "run_streams", "run_testbenches"]


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


async def image_write(ctx, port, sel: int, words) -> int:
    """Write ``words`` at words 0, 1, ... of memory ``sel`` (0: code memory,
    1: requantization table) through an ``image`` port, one per cycle, then
    drop ``we``. Returns the cycles taken (one per word)."""
    ctx.set(port.sel, sel)
    for addr, word in enumerate(words):
        ctx.set(port.addr, addr)
        ctx.set(port.wdata, int(word))
        ctx.set(port.we, 1)
        await ctx.tick()
    ctx.set(port.we, 0)
    return len(words)


async def image_read(ctx, port, sel: int, count: int) -> list:
    """Read words 0 .. ``count``-1 of memory ``sel`` through an ``image``
    port, one per cycle (each on ``rdata`` the cycle after its ``re``), then
    drop ``re``. Returns the words."""
    ctx.set(port.sel, sel)
    out = []
    for addr in range(count):
        ctx.set(port.addr, addr)
        ctx.set(port.re, 1)
        await ctx.tick()
        out.append(ctx.get(port.rdata))
    ctx.set(port.re, 0)
    return out


async def image_load(ctx, port, code, table=(), *, use_loaded: int = 1) -> int:
    """Write a whole model image (the ``code`` words, then the ``table``
    rows) through an ``image`` port and set ``use_loaded``. Returns the
    cycles taken."""
    cycles = await image_write(ctx, port, 0, code)
    if len(table):
        cycles += await image_write(ctx, port, 1, table)
    ctx.set(port.use_loaded, use_loaded)
    return cycles


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
