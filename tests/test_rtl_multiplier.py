"""Tier 1: LUTMultiplier in the Amaranth simulator, and that it never emits a $mul."""

import itertools
import random

import pytest
from amaranth.back import rtlil
from amaranth.hdl import Fragment, Shape, signed, unsigned

from sst_hw.rtl.multiplier import LUTMultiplier, product_shape, shape_range
from sst_hw.sim.amsim import run_testbenches


def check_products(dut, pairs):
    """Drive every (a, b) of ``pairs``, one per cycle, and compare ``p``,
    ``dut.latency`` cycles later, with a * b."""
    bad = []

    async def bench(ctx):
        for a, b in pairs:
            ctx.set(dut.a, a)
            ctx.set(dut.b, b)
            if dut.latency:
                await ctx.tick().repeat(dut.latency)
            else:
                await ctx.delay(1e-9)
            if ctx.get(dut.p) != a * b:
                bad.append((a, b, ctx.get(dut.p)))

    run_testbenches(dut, [bench], clock=bool(dut.latency),
                    deadline=len(pairs) * max(1, dut.latency) + 10)
    assert not bad, f"{len(bad)} wrong products, first (a, b, p) = {bad[0]}"


SMALL = [unsigned(1), signed(1), unsigned(3), signed(3), signed(2), unsigned(4), signed(4)]
SMALL_PAIRS = list(itertools.product(SMALL, [unsigned(3), signed(3), signed(4)]))


@pytest.mark.parametrize("stages", [0, 2])
@pytest.mark.parametrize("sa,sb", SMALL_PAIRS, ids=str)
def test_exhaustive_small(sa, sb, stages):
    dut = LUTMultiplier(sa, sb, stages=stages)
    (alo, ahi), (blo, bhi) = shape_range(sa), shape_range(sb)
    check_products(dut, [(a, b) for a in range(alo, ahi + 1) for b in range(blo, bhi + 1)])


@pytest.mark.parametrize("sa,sb", [(unsigned(8), signed(8)), (signed(8), signed(8)),
                                   (unsigned(8), unsigned(8)), (signed(8), unsigned(8)),
                                   (unsigned(12), signed(5)), (signed(3), signed(16))], ids=str)
@pytest.mark.parametrize("stages", [0, 1, 2, 3])
def test_random_wide(sa, sb, stages):
    dut = LUTMultiplier(sa, sb, stages=stages)
    (alo, ahi), (blo, bhi) = shape_range(sa), shape_range(sb)
    rng = random.Random(sa.width * 100 + sb.width)
    corners = [(a, b) for a in (alo, ahi, 0, -1 if alo < 0 else 1)
               for b in (blo, bhi, 0, -1 if blo < 0 else 1)]
    pairs = corners + [(rng.randint(alo, ahi), rng.randint(blo, bhi)) for _ in range(600)]
    check_products(dut, pairs)


def test_product_shape():
    # signed(8) x unsigned(8): -32640..32385 fits 16 bits, not 17
    assert product_shape(signed(8), unsigned(8)) == signed(16)
    assert product_shape(signed(8), signed(8)) == signed(16)      # 16384 = (-128)^2
    assert product_shape(unsigned(8), unsigned(8)) == unsigned(16)
    assert product_shape(signed(2), unsigned(1)) == signed(2)
    dut = LUTMultiplier(unsigned(5), signed(3))
    Fragment.get(dut, None)          # builds (and counts as used)
    assert dut.p.shape() == product_shape(unsigned(5), signed(3))
    assert shape_range(signed(4)) == (-8, 7) and shape_range(Shape(3)) == (0, 7)


def test_pipeline_throughput():
    """One product per cycle through the registers: the result of the pair
    driven in cycle t appears in cycle t + 2."""
    dut = LUTMultiplier(unsigned(8), signed(8), stages=2)
    assert (dut.latency, dut.levels) == (2, 3)
    rng = random.Random(9)
    pairs = [(rng.randint(0, 255), rng.randint(-128, 127)) for _ in range(100)]
    got = []

    async def bench(ctx):
        for a, b in pairs:
            ctx.set(dut.a, a)
            ctx.set(dut.b, b)
            await ctx.tick()
            got.append(ctx.get(dut.p))

    run_testbenches(dut, [bench], deadline=len(pairs) + 10)
    assert got[1:] == [a * b for a, b in pairs[:-1]]


def test_errors():
    with pytest.raises(ValueError, match="^stages must be an integer in 0..3, not 4"):
        LUTMultiplier(unsigned(8), signed(8), stages=4)


def test_no_mul_cell():
    """Yosys may only put `*` into DSPs; this multiplier must stay LUT logic."""
    text = rtlil.convert(LUTMultiplier(unsigned(8), signed(8), stages=2))
    assert "$mul" not in text
    assert "$add" in text or "$sub" in text
