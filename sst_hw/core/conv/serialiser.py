"""``ConvSerialiser``: engine results to the requantizer lanes, or the logits to ``o``.

Each engine result (the PE accumulators of one row group) enters a shift
register. In a hidden pass it leaves ``R`` accumulators per cycle (a
*chunk*, channels ``g*PE + j*R ..``), one to each requantizer lane, with the
chunk's row in the lanes' tables; in the last pass one logit per cycle goes
to ``o`` (padding rows beyond the classes are dropped) and the arg-max is
tracked; the class index follows with ``last``.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from sst_hw.core.conv.constants import PassConstants
from sst_hw.core.conv._component import ConvComponent

__all__ = ["ConvSerialiser"]


class ConvSerialiser(ConvComponent):
    """PE accumulators in; R per cycle to the requantizers, or one logit per cycle to ``o``.

    Latency: a result taken on ``i`` is at the head from the next cycle.

    Members
    -------
    i : ``In(stream.Signature(plan.engine.out_layout))``
    pass_index : ``In(range(passes))``
    begin : ``In(1)``
        A pass starts (reset the row counters); ``begin_index`` is that pass.
    q_valid : ``Out(1)``; q_acc : ``Out(ArrayLayout(signed(W), R))``; q_row : ``Out``
        A chunk of a hidden pass and its row in every lane's table.
    o : ``Out(stream.Signature(plan.out_layout))``
    done : ``Out(1)``
        The class beat is taken this cycle.
    """

    def __init__(self, plan):
        W, R = plan.acc_width, plan.rq_lanes
        rows = max(2, plan.param_rows // R + 1)
        super().__init__({
            "i": In(stream.Signature(plan.engine.out_layout)),
            "pass_index": In(range(max(2, len(plan.passes)))),
            "begin": In(1),
            "begin_index": In(range(max(2, len(plan.passes)))),
            "q_valid": Out(1),
            "q_acc": Out(data.ArrayLayout(signed(W), R)),
            "q_row": Out(range(rows)),
            "o": Out(stream.Signature(plan.out_layout)),
            "done": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        plan = self.plan
        PE, W, R = plan.pe, plan.acc_width, plan.rq_lanes
        ps = plan.passes
        c = PassConstants("s_", last=[int(p.last) for p in ps], groups=[p.groups for p in ps],
                          pbase=[p.param_base // R for p in ps])
        is_last, groups, pbase = c["last"], c["groups"], c["pbase"]

        ser = Signal(data.ArrayLayout(signed(W), PE), name="ser", reset_less=True)
        left = Signal(range(PE + 1), name="ser_left")     # chunks (hidden) or rows (last) left
        adv = Signal(name="ser_adv")
        take = Signal(name="ser_take")
        group = Signal(range(max(p.groups for p in ps) + 1), name="ser_group")
        row = Signal(range(max(2, plan.param_rows // R + 1)), name="ser_row")
        lrow = Signal(range(PE * max(p.groups for p in ps) + 1), name="logit_row")
        classes = plan.classes
        real = Signal(name="real")
        m.d.comb += real.eq(lrow < classes)
        offer = Signal(name="offer_class")
        o = self.o
        m.d.comb += [
            adv.eq((left != 0) & (~is_last | ~real | o.ready)),
            self.i.ready.eq(~offer & ((left == 0) | ((left == 1) & adv))),
            take.eq(self.i.valid & self.i.ready),
        ]
        chunks = PE // R
        with m.If(adv):
            m.d.sync += left.eq(left - 1)
            with m.If(is_last):
                for p in range(PE - 1):
                    m.d.sync += ser[p].eq(ser[p + 1])
                m.d.sync += lrow.eq(lrow + 1)
            with m.Else():
                for p in range(PE - R):
                    m.d.sync += ser[p].eq(ser[p + R])
                m.d.sync += row.eq(row + 1)
        # A result taken in the cycle the last value leaves: its values win.
        with m.If(take):
            m.d.sync += [ser.eq(self.i.payload.acc), left.eq(Mux(is_last, PE, chunks)),
                         row.eq(pbase + group * chunks)]
            with m.If(group == groups - 1):
                m.d.sync += group.eq(0)
            with m.Else():
                m.d.sync += group.eq(group + 1)
        m.d.comb += [self.q_valid.eq(adv & ~is_last), self.q_row.eq(row)]
        for r in range(R):
            m.d.comb += self.q_acc[r].eq(ser[r])

        # Arg-max over the logits (the first on ties), then the class beat.
        best = Signal(signed(W), name="best", reset_less=True)
        best_idx = Signal(range(max(2, classes)), name="best_idx")
        head = ser[0]
        final_row = plan.passes[-1].groups * PE - 1
        with m.If(is_last & adv):
            with m.If(real & ((lrow == 0) | (head > best))):
                m.d.sync += [best.eq(head), best_idx.eq(lrow)]
            with m.If(lrow == final_row):
                m.d.sync += offer.eq(1)
        with m.If(offer):
            m.d.comb += [o.valid.eq(1), o.payload.data.eq(best_idx), o.payload.last.eq(1)]
            with m.If(o.ready):
                m.d.sync += offer.eq(0)
                m.d.comb += self.done.eq(1)
        with m.Else():
            m.d.comb += [o.valid.eq(is_last & (left != 0) & real), o.payload.data.eq(head)]
        with m.If(self.begin):
            m.d.sync += [group.eq(0), lrow.eq(0), *c.load(self.begin_index)]
        return m
