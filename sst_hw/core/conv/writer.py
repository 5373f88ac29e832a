"""``ConvWriter``: requantized chunks into map words, and the writes.

Values arrive ``R`` channels at a time, in order: for each output pixel
(after the pool, which the :class:`~sst_hw.core.conv.pool.ConvPool` applies
to the accumulators), channels ``0 .. G*PE-1`` (rows beyond ``Cout`` are
padding and dropped). They fill a word of ``lanes`` channels; a complete
word (or the last, partial one of a pixel) is written to pixel word ``dst +
g`` of the map the pass writes. A pass's last chunk raises ``final``.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import data
from amaranth.lib.wiring import In, Out

from sst_hw.core.conv.constants import PassConstants
from sst_hw.core.conv._component import ConvComponent

__all__ = ["ConvWriter"]


class ConvWriter(ConvComponent):
    """Members
    -------
    valid : ``In(1)``; y : ``In(ArrayLayout(act_shape, R))``
        A requantized chunk.
    pass_index : ``In(range(passes))``
    begin : ``In(1)``
        A pass starts (reset the counters).
    begin_index : ``In``
        With ``begin``: the pass that starts.
    w_addr, w_data, w_en, w_region : ``Out``
        The map memories' write port (word within region ``w_region``).
    final : ``Out(1)``
        The pass's last chunk is taken this cycle.
    """

    def __init__(self, plan):
        super().__init__({
            "valid": In(1),
            "y": In(data.ArrayLayout(plan.act_shape, plan.rq_lanes)),
            "pass_index": In(range(max(2, len(plan.passes)))),
            "begin": In(1),
            "begin_index": In(range(max(2, len(plan.passes)))),
            "w_addr": Out(range(max(2, max(plan.map_region_words)))),
            "w_region": Out(1),
            "w_data": Out(unsigned(plan.map_word_bits)),
            "w_en": Out(1),
            "final": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        plan = self.plan
        R, lanes, A = plan.rq_lanes, plan.lanes, plan.act_width
        hid = plan.hidden or plan.passes[:1]

        def vals(f):
            out = [f(p) for p in hid]
            return out + [out[-1]] * (len(plan.passes) - len(out))

        c = PassConstants("w_", cout=vals(lambda p: p.cout),
                          rows=vals(lambda p: p.groups * plan.pe),
                          dst_cg=vals(lambda p: p.dst_cg),
                          region=vals(lambda p: p.write_region),
                          npix=vals(lambda p: p.out_shape[0] * p.out_shape[1]))
        cout, rows, dst_cg, npix = c["cout"], c["rows"], c["dst_cg"], c["npix"]

        ch = Signal(range(max(p.groups * plan.pe for p in plan.passes) + R + 1), name="ch")
        lane = Signal(range(max(2, lanes)), name="lane")
        g = Signal(range(max(p.dst_cg for p in plan.passes) + 1), name="g")
        dst = Signal(range(max(2, plan.map_words + 1)), name="dst")
        pix = Signal(range(max(p.out_shape[0] * p.out_shape[1] for p in plan.passes) + 1),
                     name="pix")
        word = Signal(data.ArrayLayout(plan.act_shape, lanes), name="word", reset_less=True)
        merged = Signal(data.ArrayLayout(plan.act_shape, lanes), name="merged")
        for t in range(lanes):
            hit = lane == (t // R) * R
            m.d.comb += merged[t].eq(Mux(hit, self.y[t % R], Mux(lane == 0, 0, word[t])))

        real = Signal(name="real")
        word_done = Signal(name="word_done")
        pos_end = Signal(name="pos_end")
        m.d.comb += [real.eq(ch < cout),
                     word_done.eq(real & ((lane == lanes - R) | (ch + R >= cout))),
                     pos_end.eq(ch + R == rows)]
        m.d.comb += [self.w_addr.eq(dst + g), self.w_data.eq(merged.as_value()),
                     self.w_region.eq(c["region"])]
        with m.If(self.valid):
            m.d.sync += word.eq(merged)
            with m.If(word_done):
                m.d.comb += self.w_en.eq(1)
            with m.If(lane == lanes - R):
                m.d.sync += [lane.eq(0), g.eq(g + 1)]
            with m.Else():
                m.d.sync += lane.eq(lane + R)
            m.d.sync += ch.eq(ch + R)
            with m.If(pos_end):
                m.d.sync += [ch.eq(0), lane.eq(0), g.eq(0), pix.eq(pix + 1),
                             dst.eq(dst + dst_cg)]
                with m.If(pix == npix - 1):
                    m.d.comb += self.final.eq(1)
        with m.If(self.begin):
            m.d.sync += [ch.eq(0), lane.eq(0), g.eq(0), dst.eq(0), pix.eq(0),
                         *c.load(self.begin_index)]
        return m
