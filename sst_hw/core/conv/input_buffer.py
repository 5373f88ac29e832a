"""``ConvInput``: the double-buffered network input of the CNN core.

Two banks of ``H*W*Cg`` words of ``in_lanes`` activations (``in_lanes =
min(SIMD*N, C)``): feature ``f`` of an image (HWC order, channel fastest) is
channel ``c = f % C`` of pixel ``f // C``, at word ``pixel*Cg + c //
in_lanes``, lane ``c % in_lanes``. The next image is written into one bank
while the core reads the other: a bank is *full* from its image's last
feature until pass 0 of that image has read it (``release``), and ``i`` is
ready while the bank it writes is not full.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal, signed, unsigned
from amaranth.lib import stream
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from sst_hw.core.conv._component import ConvComponent

__all__ = ["ConvInput"]


class ConvInput(ConvComponent):
    """Members
    -------
    i : ``In(stream.Signature(plan.in_layout))``
        The network input, one feature per beat.
    ready_image : ``Out(1)``
        The bank the core reads next holds a whole image.
    release : ``In(1)``
        Pass 0 has read that bank: free it and read the other one next.
    r_addr, r_en : ``In``; r_data : ``Out``
        Read port (word within the bank being read; latency 1, held while
        ``r_en`` is low).
    """

    def __init__(self, plan):
        super().__init__({
            "i": In(stream.Signature(plan.in_layout)),
            "ready_image": Out(1),
            "release": In(1),
            "r_addr": In(range(max(2, plan.in_bank_words))),
            "r_en": In(1),
            "r_data": Out(unsigned(plan.in_word_bits)),
        })

    def elaborate(self, platform):
        m = Module()
        plan = self.plan
        D, lanes, A = plan.in_bank_words, plan.in_lanes, plan.act_width
        C = plan.input_shape[2]
        mem = Memory(shape=unsigned(plan.in_word_bits), depth=2 * D, init=[])
        m.submodules.in_mem = mem
        wr = mem.write_port(granularity=A)
        rd = mem.read_port(domain="sync")
        rbank = Signal(name="rbank")
        wbank = Signal(name="wbank")
        full = Signal(2, name="full")
        m.d.comb += [rd.addr.eq(self.r_addr + rbank * D), rd.en.eq(self.r_en),
                     self.r_data.eq(rd.data), self.ready_image.eq(full.bit_select(rbank, 1))]

        waddr = Signal(range(max(2, D)), name="waddr")
        lane = Signal(range(max(2, lanes)), name="lane")
        chan = Signal(range(max(2, C)), name="chan")
        count = Signal(range(max(2, plan.input_features)), name="count")
        val = Signal(signed(A) if plan.act_signed else unsigned(A), name="in_val")
        m.d.comb += [val.eq(self.i.payload.data), self.i.ready.eq(~full.bit_select(wbank, 1)),
                     wr.addr.eq(waddr + wbank * D), wr.data.eq(Cat(*[val] * lanes))]
        with m.If(self.i.valid & self.i.ready):
            m.d.comb += wr.en.eq(Cat(lane == j for j in range(lanes)))
            with m.If(chan == C - 1):
                m.d.sync += [chan.eq(0), lane.eq(0), waddr.eq(waddr + 1)]
            with m.Elif(lane == lanes - 1):
                m.d.sync += [chan.eq(chan + 1), lane.eq(0), waddr.eq(waddr + 1)]
            with m.Else():
                m.d.sync += [chan.eq(chan + 1), lane.eq(lane + 1)]
            m.d.sync += count.eq(count + 1)
            with m.If(count == plan.input_features - 1):
                m.d.sync += [count.eq(0), chan.eq(0), lane.eq(0), waddr.eq(0),
                             wbank.eq(~wbank), full.bit_select(wbank, 1).eq(1)]
        with m.If(self.release):
            m.d.sync += [full.bit_select(rbank, 1).eq(0), rbank.eq(~rbank)]
        return m
