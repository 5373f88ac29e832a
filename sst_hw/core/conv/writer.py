"""``ConvWriter``: requantized chunks into map words, the fused max-pool, the writes.

Values arrive ``R`` channels at a time, in order: for each output position,
channels ``0 .. G*PE-1`` (rows beyond ``Cout`` are padding and dropped).
They fill a word of ``lanes`` channels; a complete word (or the last,
partial one of a pixel) is written to pixel word ``dst + g`` of the map.
With a max-pool the positions of a pooling window come one after the other:
the first word of each channel group is kept in the pool buffer, the
following ones are max-ed into it lane by lane (in the activations' own
signedness), and the window's last position writes the maximum. A pass's
last chunk raises ``final``.

Cost of the fused pool: one buffer of ``Cg`` words (the pooled passes' most
channel groups), ``lanes`` comparators, and no cycle: the pooled map is
written as the last position of each window is requantized. Overlapping
windows (kernel 3, stride 2) recompute their shared positions.
"""

from __future__ import annotations

from amaranth.hdl import Array, Module, Mux, Signal, unsigned
from amaranth.lib import data
from amaranth.lib.wiring import In, Out

from sst_hw.core.conv.constants import by_index
from sst_hw.plan.convnet import ConvPlan
from sst_hw.rtl._util import CheckedComponent

__all__ = ["ConvWriter"]


class ConvWriter(CheckedComponent):
    """Members
    -------
    valid : ``In(1)``; y : ``In(ArrayLayout(act_shape, R))``
        A requantized chunk.
    pass_index : ``In(range(passes))``
    begin : ``In(1)``
        A pass starts (reset the counters).
    w_addr, w_data, w_en : ``Out``
        The map memory's write port.
    final : ``Out(1)``
        The pass's last chunk is taken this cycle.
    """

    @classmethod
    def check(cls, plan) -> dict:
        if not isinstance(plan, ConvPlan):
            raise TypeError(f"plan must be a ConvPlan, not {type(plan).__name__}")
        return {"plan": plan}

    def __init__(self, plan):
        super().__init__({
            "valid": In(1),
            "y": In(data.ArrayLayout(plan.act_shape, plan.rq_lanes)),
            "pass_index": In(range(max(2, len(plan.passes)))),
            "begin": In(1),
            "w_addr": Out(range(max(2, plan.map_words))),
            "w_data": Out(unsigned(plan.map_word_bits)),
            "w_en": Out(1),
            "final": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        plan = self.plan
        R, lanes, A = plan.rq_lanes, plan.lanes, plan.act_width
        hid = plan.hidden or plan.passes[:1]
        idx = self.pass_index

        def const(vals):
            vals = list(vals)
            return by_index(vals + [vals[-1]] * (len(plan.passes) - len(vals)), idx)

        cout = const(p.cout for p in hid)
        rows = const(p.groups * plan.pe for p in hid)
        wn = const(p.pool[0] ** 2 for p in hid)
        dst_cg = const(p.dst_cg for p in hid)
        base = const(p.write_base for p in hid)
        npos = const(p.positions for p in hid)
        pooled = const(int(p.pool[0] > 1) for p in hid)

        ch = Signal(range(max(p.groups * plan.pe for p in plan.passes) + R + 1), name="ch")
        lane = Signal(range(max(2, lanes)), name="lane")
        g = Signal(range(max(p.dst_cg for p in plan.passes) + 1), name="g")
        win = Signal(range(10), name="win")
        dst = Signal(range(max(2, plan.map_words + 1)), name="dst")
        pos = Signal(range(max(p.positions for p in plan.passes) + 1), name="pos")
        word = Signal(data.ArrayLayout(plan.act_shape, lanes), name="word", reset_less=True)
        merged = Signal(data.ArrayLayout(plan.act_shape, lanes), name="merged")
        pw = max(1, plan.pool_words)
        pbuf = Array(Signal(data.ArrayLayout(plan.act_shape, lanes), name=f"pool{i}",
                            reset_less=True) for i in range(pw))
        prev = Signal(data.ArrayLayout(plan.act_shape, lanes), name="pool_prev")
        pmax = Signal(data.ArrayLayout(plan.act_shape, lanes), name="pool_max")
        m.d.comb += prev.eq(pbuf[g] if pw > 1 else pbuf[0])
        for t in range(lanes):
            hit = lane == (t // R) * R
            m.d.comb += merged[t].eq(Mux(hit, self.y[t % R],
                                         Mux(lane == 0, 0, word[t])))
            m.d.comb += pmax[t].eq(Mux((win == 0) | (merged[t] > prev[t]), merged[t], prev[t]))

        real = Signal(name="real")
        word_done = Signal(name="word_done")
        pos_end = Signal(name="pos_end")
        m.d.comb += [real.eq(ch < cout),
                     word_done.eq(real & ((lane == lanes - R) | (ch + R >= cout))),
                     pos_end.eq(ch + R == rows)]
        m.d.comb += [self.w_addr.eq(base + dst + g),
                     self.w_data.eq(Mux(pooled, pmax.as_value(), merged.as_value()))]
        with m.If(self.valid):
            m.d.sync += word.eq(merged)
            with m.If(word_done):
                with m.If(~pooled | (win == wn - 1)):
                    m.d.comb += self.w_en.eq(1)
                with m.Else():
                    m.d.sync += pbuf[g].eq(pmax)
            with m.If(lane == lanes - R):
                m.d.sync += [lane.eq(0), g.eq(g + 1)]
            with m.Else():
                m.d.sync += lane.eq(lane + R)
            m.d.sync += ch.eq(ch + R)
            with m.If(pos_end):
                m.d.sync += [ch.eq(0), lane.eq(0), g.eq(0), pos.eq(pos + 1)]
                with m.If(~pooled | (win == wn - 1)):
                    m.d.sync += [win.eq(0), dst.eq(dst + dst_cg)]
                with m.Else():
                    m.d.sync += win.eq(win + 1)
                with m.If(pos == npos - 1):
                    m.d.comb += self.final.eq(1)
        with m.If(self.begin):
            m.d.sync += [ch.eq(0), lane.eq(0), g.eq(0), win.eq(0), dst.eq(0), pos.eq(0)]
        return m
