"""The network core's shared :class:`~sst_hw.core.requant.Requantizer`
against the arithmetic contract, at the edges of every range (Amaranth
simulator)."""

from __future__ import annotations

import random

import pytest
from amaranth.hdl import signed, unsigned

from sst_hw.format import arith
from sst_hw.core.requant import Requantizer
from sst_hw.sim.amsim import run_testbenches


def reference(acc, mult, add, shift, lo, hi):
    return min(hi, max(lo, (acc * mult + add) >> shift))


@pytest.mark.parametrize("shift_mode", [False, True])
def test_requantizer_edges(shift_mode):
    rng = random.Random(int(shift_mode))
    W = 18
    add_bits = arith.requant_width(W) - 1            # the widest C the contract allows
    alo, ahi = arith.add_range(W)
    mlo, mhi = arith.mult_range()
    rows = 24
    mults = [1] * rows if shift_mode else \
        [rng.choice([mlo, mhi, -1, 0, 1, rng.randint(mlo, mhi)]) for _ in range(rows)]
    adds = [rng.choice([alo, ahi, 0, rng.randint(alo, ahi)]) for _ in range(rows)]
    table = [(a & ((1 << add_bits) - 1)) | (0 if shift_mode else (m & 0xFFFF) << add_bits)
             for m, a in zip(mults, adds)]
    # layers: (shift, lo, hi): shifts 0, small, large, beyond the sum's width.
    layers = [(0, 0, 255), (7, -128, 127), (40, 0, 15), (63, -8, 7)]
    outw = signed(9)
    dut = Requantizer(acc_width=W, table=table, add_bits=add_bits, shift_mode=shift_mode,
                      layers=layers, out_shape=outw, tag_width=8)
    alo_acc, ahi_acc = -(1 << (W - 1)), (1 << (W - 1)) - 1
    stim = []
    for i in range(200):
        row = rng.randrange(rows)
        layer = rng.randrange(len(layers))
        acc = rng.choice([alo_acc, ahi_acc, 0, -1, rng.randint(alo_acc, ahi_acc)])
        stim.append((acc, row, layer, i & 0xFF))
    got = []

    async def bench(ctx):
        for acc, row, layer, tag in stim + [(0, 0, 0, 0)] * 4:
            ctx.set(dut.valid, tag != 0 or acc != 0 or row != 0)
            ctx.set(dut.acc, acc)
            ctx.set(dut.row, row)
            ctx.set(dut.layer, layer)
            ctx.set(dut.tag, tag)
            await ctx.tick()
            if ctx.get(dut.o_valid):
                got.append((ctx.get(dut.y), ctx.get(dut.o_tag)))

    run_testbenches(dut, [bench], deadline=len(stim) + 20)
    want = [(reference(acc, mults[row], adds[row], layers[l][0], layers[l][1], layers[l][2]),
             tag) for acc, row, l, tag in stim if tag != 0 or acc != 0 or row != 0]
    assert got == want


def test_requantizer_latency():
    dut = Requantizer(acc_width=8, table=[5], add_bits=4, shift_mode=True,
                      layers=[(1, 0, 255)], out_shape=unsigned(8))
    seen = []

    async def bench(ctx):
        ctx.set(dut.valid, 1)
        ctx.set(dut.acc, 9)
        await ctx.tick()
        ctx.set(dut.valid, 0)
        for cycle in range(1, 6):
            if ctx.get(dut.o_valid):
                seen.append((cycle, ctx.get(dut.y)))
            await ctx.tick()

    run_testbenches(dut, [bench], deadline=20)
    assert seen == [(Requantizer.latency, (9 + 5) >> 1)]


@pytest.mark.parametrize("kwargs, msg", [
    (dict(table=[]), "table must hold at least one row, not 0"),
    (dict(layers=[(64, 0, 1)]), "layer 0 shift must be in 0..63, not 64"),
    (dict(layers=[(1, 5, 1)]), "layer 0 clamp bounds must have lo <= hi, not 5 > 1"),
    (dict(acc_width=1), "acc_width must be an integer in 2..64, not 1"),
])
def test_requantizer_parameter_errors(kwargs, msg):
    base = dict(acc_width=8, table=[0], add_bits=4, shift_mode=False, layers=[(1, 0, 3)],
                out_shape=unsigned(2))
    base.update(kwargs)
    with pytest.raises(ValueError, match=msg):
        Requantizer(**base)
