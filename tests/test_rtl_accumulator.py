"""Tier 1: AccumulatorBank in the Amaranth simulator."""

import random

import pytest

from sst_hw.rtl.accumulator import AccumulatorBank
from sst_hw.sim.amsim import run_streams, stream_get


@pytest.mark.parametrize("pe,depth", [(1, 1), (3, 2), (2, 4)])
def test_bank_rows(pe, depth):
    width = 12
    dut = AccumulatorBank(pe, 9, width, depth=depth)
    rng = random.Random(pe * 10 + depth)
    rows = []
    for _ in range(25):
        beats = [([rng.randint(-256, 255) for _ in range(pe)], rng.getrandbits(pe))
                 for _ in range(rng.randint(1, 4))]
        rows.append(beats)

    def wrap(v):
        v &= (1 << width) - 1
        return v - (1 << width) if v >> (width - 1) else v

    expected = [[wrap(sum(a[p] + ((c >> p) & 1) for a, c in beats)) for p in range(pe)]
                for beats in rows]
    got = []

    async def producer(ctx):
        # Respect the bank's contract: never offer a last beat when the queue could be full.
        for beats in rows:
            for j, (addend, cin) in enumerate(beats):
                last = j == len(beats) - 1
                while last and ctx.get(dut.level) >= depth:
                    ctx.set(dut.valid, 0)
                    await ctx.tick()
                while rng.random() < 0.3:
                    ctx.set(dut.valid, 0)
                    await ctx.tick()
                ctx.set(dut.valid, 1)
                ctx.set(dut.last, int(last))
                ctx.set(dut.addend, addend)
                ctx.set(dut.cin, cin)
                await ctx.tick()
        ctx.set(dut.valid, 0)

    async def consumer(ctx):
        res = await stream_get(ctx, dut.o, len(rows), rng=random.Random(5), p_stall=0.4)
        got.extend([[int(v) for v in r.acc] for r in res])

    run_streams(dut, [producer], [consumer], deadline=2000)
    assert got == expected


def test_bank_latency_and_queue():
    dut = AccumulatorBank(1, 8, 10, depth=2)
    seen = []

    async def bench(ctx):
        ctx.set(dut.o.ready, 0)
        for v in (5, 7):                        # two rows of one beat, output stalled
            ctx.set(dut.valid, 1)
            ctx.set(dut.last, 1)
            ctx.set(dut.addend, [v])
            await ctx.tick()
            seen.append(ctx.get(dut.o.valid))   # valid right after the last beat's edge
        ctx.set(dut.valid, 0)
        assert ctx.get(dut.level) == 2
        assert ctx.get(dut.o.payload.acc[0]) == 5
        ctx.set(dut.o.ready, 1)
        await ctx.tick()
        assert ctx.get(dut.o.payload.acc[0]) == 7 and ctx.get(dut.level) == 1
        await ctx.tick()
        assert not ctx.get(dut.o.valid)

    run_streams(dut, [], [bench], deadline=20)
    assert seen == [1, 1]


def test_bank_errors():
    with pytest.raises(ValueError, match="pe must be a positive integer, not 0"):
        AccumulatorBank(0, 8, 10)
    with pytest.raises(ValueError, match="depth must be a positive integer, not 0"):
        AccumulatorBank(1, 8, 10, depth=0)
    with pytest.raises(ValueError, match="acc_width must be an integer >= 2, not 1"):
        AccumulatorBank(1, 8, 1)
