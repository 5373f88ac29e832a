"""Tier 1: AdderTree in the Amaranth simulator."""

import random

import pytest

from sst_hw.rtl.adder_tree import AdderTree, tree_latency
from sst_hw.sim.amsim import run_testbenches


async def step(ctx, dut):
    """One clock cycle (or a delay for a combinational tree, which has no clock)."""
    if dut.latency:
        await ctx.tick()
    else:
        await ctx.delay(1e-6)


def simulate(dut, bench, cycles):
    """Run ``bench``, clocked if the tree has registers, with a deadline of
    ``cycles`` steps (plus a margin)."""
    run_testbenches(dut, [bench], clock=bool(dut.latency), deadline=cycles + 10)


@pytest.mark.parametrize("count", [1, 2, 3, 5, 8, 9, 16])
@pytest.mark.parametrize("stage_levels", [0, 1, 2, 3])
def test_tree_sums(count, stage_levels):
    lo, hi = -256, 255
    dut = AdderTree(count, (lo, hi), 32, stage_levels=stage_levels)
    levels = (count - 1).bit_length()
    expect_lat = 0 if stage_levels == 0 or levels == 0 else -(-levels // stage_levels)
    assert dut.latency == expect_lat == tree_latency(count, stage_levels)
    rng = random.Random(count * 10 + stage_levels)
    vectors = []
    for _ in range(40):
        terms = [rng.choice([lo, hi, rng.randint(lo, hi)]) for _ in range(count)]
        cins = rng.getrandbits(count)
        vectors.append((terms, cins))
    got = []

    async def bench(ctx):
        # One input per cycle, outputs `latency` cycles later (pipelined, no enable).
        for cycle in range(len(vectors) + dut.latency):
            if cycle < len(vectors):
                terms, cins = vectors[cycle]
                ctx.set(dut.terms, terms)
                ctx.set(dut.cins, cins)
            await ctx.delay(1e-9)
            if cycle >= dut.latency:
                got.append(ctx.get(dut.sum) + ctx.get(dut.cout))
            await step(ctx, dut)

    simulate(dut, bench, len(vectors) + dut.latency)
    want = [sum(t) + bin(c).count("1") for t, c in vectors]
    assert got == want


def test_tree_width_cap_is_modular():
    # 8 terms of 9 bits would need 13 bits; capped at 6 the sum is exact modulo 64.
    dut = AdderTree(8, (-256, 255), 6, stage_levels=1)
    assert dut.sum_width == 6
    rng = random.Random(3)
    vectors = [([rng.randint(-256, 255) for _ in range(8)], rng.getrandbits(8)) for _ in range(20)]
    got = []

    async def bench(ctx):
        for cycle in range(len(vectors) + dut.latency):
            if cycle < len(vectors):
                ctx.set(dut.terms, vectors[cycle][0])
                ctx.set(dut.cins, vectors[cycle][1])
            await ctx.delay(1e-9)
            if cycle >= dut.latency:
                got.append(ctx.get(dut.sum) + ctx.get(dut.cout))
            await step(ctx, dut)

    simulate(dut, bench, len(vectors) + dut.latency)
    for (t, c), g in zip(vectors, got):
        assert (g - sum(t) - bin(c).count("1")) % 64 == 0


def test_tree_errors():
    with pytest.raises(ValueError, match="count must be a positive integer, not 0"):
        AdderTree(0, (0, 1), 8)
    with pytest.raises(ValueError, match="stage_levels must be a non-negative integer, not -1"):
        AdderTree(2, (0, 1), 8, stage_levels=-1)
    with pytest.raises(ValueError, match=r"term_range must be \(lo, hi\) with lo <= hi"):
        AdderTree(2, (1, 0), 8)
