"""Tier 1: SignSelectLane in the Amaranth simulator."""

import random

import pytest

from sst_hw.format.arith import act_range
from sst_hw.format.codebook import Codebook
from sst_hw.rtl.decoder import SlotPlan, slot_plan
from sst_hw.rtl.lane import SignSelectLane, term_range
from sst_hw.sim.amsim import run_testbenches


@pytest.mark.parametrize("n,k,variant,act_width,act_signed,registered", [
    (8, 2, "full", 8, False, False),
    (8, 2, "full", 8, True, True),
    (8, 2, "partitioned", 3, False, False),
    (16, 4, "partitioned", 6, True, False),
    (5, 3, "full", 1, False, True),
    (4, 4, "partitioned", 2, True, False),
])
def test_lane_values(n, k, variant, act_width, act_signed, registered):
    plan = slot_plan(Codebook(n, k, variant, "enum" if n * k < 40 else "direct"))
    dut = SignSelectLane(plan, n, act_width, act_signed, registered=registered)
    assert dut.latency == int(registered)
    lo, hi = act_range(act_width, act_signed)
    rng = random.Random(n * 100 + k)

    async def bench(ctx):
        for trial in range(150):
            act = [rng.choice([lo, hi, 0, rng.randint(lo, hi)]) for _ in range(n)]
            slots = [(rng.randrange(plan.span[i]), rng.randint(0, 1), rng.randint(0, 1))
                     for i in range(k)]
            ctx.set(dut.act, act)
            for i, (sel, neg, valid) in enumerate(slots):
                ctx.set(dut.slots[i], {"sel": sel, "neg": neg, "valid": valid})
            if registered:
                await ctx.tick()
            else:
                await ctx.delay(1e-9)
            corr = ctx.get(dut.corr)
            for i, (sel, neg, valid) in enumerate(slots):
                x = act[plan.base[i] + sel]
                want = (-x if neg else x) if valid else 0
                term = ctx.get(dut.terms[i])
                assert term + ((corr >> i) & 1) == want, (trial, i, act, slots[i])
                assert term_range(act_width, act_signed)[0] <= term

    run_testbenches(dut, [bench], clock=registered, deadline=200)


def test_term_width():
    # unsigned x -> ~x needs one more bit; signed ~x fits in the same width
    assert term_range(8, False) == (-256, 255)
    assert term_range(8, True) == (-128, 127)


def test_lane_errors():
    plan = SlotPlan((0, 4), (4, 4))
    with pytest.raises(TypeError, match="plan must be a SlotPlan, not None"):
        SignSelectLane(None, 8, 8, False)
    with pytest.raises(ValueError, match="act_width must be an integer in 1..32, not 0"):
        SignSelectLane(plan, 8, 0, False)
    with pytest.raises(ValueError, match="signed activations need at least 2 bits, not 1"):
        SignSelectLane(plan, 8, 1, True)
    with pytest.raises(TypeError, match="act_signed must be True or False, not 1"):
        SignSelectLane(plan, 8, 8, 1)
    with pytest.raises(ValueError, match="plan selects beyond the 6 activations"):
        SignSelectLane(plan, 6, 8, False)
