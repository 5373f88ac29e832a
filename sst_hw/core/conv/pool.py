"""``ConvPool``: the max-pool, fused on the accumulators between engine and serialiser.

The requantization ``clamp((acc*M_r + C_r) >> S, lo, hi)`` of a row is
monotone in ``acc``: non-decreasing when ``M_r >= 0``, non-increasing when
``M_r < 0``. So the max-pool of the requantized outputs of a window equals
the requantization of the window's largest accumulator (``M_r >= 0``) or
smallest (``M_r < 0``), exactly. The feed issues the positions of each
window one after the other for each group of PE rows, so this unit keeps,
per PE, the running max and min of the window's results and hands only the
chosen one to the serialiser: one result per window and group instead of
``k*k``, which divides the requantizer's work, and no pooled map buffer is
needed.

Cost: ``PE`` accumulator registers and comparators (twice that where a
pooled row has ``M_r < 0``) and no cycle: a window's last result goes on to
the serialiser combined with the registers (``POOL_LATENCY = 0``); in
passes without a pool results go through unchanged.
"""

from __future__ import annotations

from amaranth.hdl import Array, Const, Module, Mux, Signal
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from sst_hw.core.conv.constants import PassConstants
from sst_hw.core.conv._component import ConvComponent

__all__ = ["ConvPool"]


class ConvPool(ConvComponent):
    """Members
    -------
    i : ``In(stream.Signature(plan.engine.out_layout))``
    o : ``Out(stream.Signature(plan.engine.out_layout))``
    pass_index : ``In(range(passes))``
    begin : ``In(1)``
        A pass starts (reset the counters); ``begin_index`` is that pass.
    """

    def __init__(self, plan):
        super().__init__({
            "i": In(stream.Signature(plan.engine.out_layout)),
            "o": Out(stream.Signature(plan.engine.out_layout)),
            "pass_index": In(range(max(2, len(plan.passes)))),
            "begin": In(1),
            "begin_index": In(range(max(2, len(plan.passes)))),
        })

    def elaborate(self, platform):
        m = Module()
        plan, PE = self.plan, self.plan.pe
        ps, idx = plan.passes, self.pass_index
        layout = plan.engine.out_layout
        c = PassConstants("p_", wn=[p.pool[0] ** 2 for p in ps], groups=[p.groups for p in ps],
                          gbase=[p.param_base // PE for p in ps])
        wn, groups, gbase = c["wn"], c["groups"], c["gbase"]
        neg = plan.negative_rows()   # per global group: PE bits, row p negative M
        negs = Array(Const(v, PE) for v in (neg or [0]))

        win = Signal(range(10), name="win")
        group = Signal(range(max(p.groups for p in ps) + 1), name="group")
        acc = data.View(layout, self.i.payload).acc
        elem = layout["acc"].shape.elem_shape
        # The running max; the running min only where some row has M < 0.
        mx = Signal(data.ArrayLayout(elem, PE), name="mx", reset_less=True)
        mn = Signal(data.ArrayLayout(elem, PE), name="mn", reset_less=True) if any(neg) else None
        sel = Signal(PE, name="neg_rows")
        last = Signal(name="window_last")
        m.d.comb += [last.eq(win == wn - 1),
                     sel.eq(negs[gbase + group] if len(neg) > 1 else negs[0])]
        # Results that complete a window go straight on (the serialiser is free
        # by the schedule); the others are only taken into mx/mn.
        m.d.comb += [self.o.valid.eq(self.i.valid & last),
                     self.i.ready.eq(~last | self.o.ready)]
        first = win == 0
        for p in range(PE):
            a = acc[p]
            nmx = Mux(first | (a > mx[p]), a, mx[p])
            pooled = nmx
            if mn is not None:
                nmn = Mux(first | (a < mn[p]), a, mn[p])
                pooled = Mux(sel[p], nmn, nmx)
            m.d.comb += self.o.payload.acc[p].eq(pooled)
            with m.If(self.i.valid & self.i.ready):
                m.d.sync += mx[p].eq(nmx)
                if mn is not None:
                    m.d.sync += mn[p].eq(nmn)
        with m.If(self.i.valid & self.i.ready):
            with m.If(last):
                m.d.sync += [win.eq(0), group.eq(Mux(group == groups - 1, 0, group + 1))]
            with m.Else():
                m.d.sync += win.eq(win + 1)
        with m.If(self.begin):
            m.d.sync += [win.eq(0), group.eq(0), *c.load(self.begin_index)]
        return m
