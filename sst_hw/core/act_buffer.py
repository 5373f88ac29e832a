"""``ActivationBuffer``: the network core's ping-pong activation memory.

One memory of two banks of ``D`` words (``2*D`` words of ``SIMD*N*A`` bits,
one engine beat of activations each). Feature ``f`` of a layer's input lives
in word ``bank*D + f // (SIMD*N)``, lane ``f % (SIMD*N)`` (bits ``[lane*A,
(lane+1)*A)``); the network input goes to bank 0 and layer ``l`` reads bank
``l % 2`` while its results go to the other one. Activations arrive one per
cycle, so the memory is written one lane at a time (write granularity A).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal, signed, unsigned
from amaranth.lib import stream
from amaranth.lib.memory import Memory, ReadPort
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from sst_hw.core._checks import check_plan
from sst_hw.rtl._util import CheckedComponent

__all__ = ["ActivationBuffer"]


class ActivationBuffer(CheckedComponent):
    """The two activation banks, the network input's writer and a read port.

    Writes: while ``take`` is high the buffer accepts the network input on
    ``i``, feature ``f`` into bank 0 at word ``f // (SIMD*N)``, lane ``f %
    (SIMD*N)``, and raises ``done`` with the last one; otherwise a cycle with
    ``w_valid`` writes ``w_data`` into lane ``w_lane`` of word ``w_word``
    (the input wins if both come in the same cycle). A write takes effect at
    the end of its cycle.

    Reads: latency 1, not transparent (a read of a word written in the same
    cycle returns its old contents); the read data is held while ``en`` is
    low. Lanes never written hold whatever was there (their weights are zero
    codes).

    Parameters
    ----------
    plan : NetPlan
        Uses ``act_bank_words`` (D), ``lanes`` (SIMD*N), ``act_width`` and
        ``act_signed`` (A and the activations' format), ``input_features``,
        ``input_width`` and ``input_signed``.

    Members
    -------
    i : ``In(stream.Signature(plan.in_layout))``
        The network input, one feature (``data``) per beat.
    take : ``In(1)``
        Accept ``i`` (``i.ready``).
    done : ``Out(1)``
        The input's last feature is written this cycle.
    w_valid : ``In(1)``
    w_word : ``In(range(2*D))``
    w_lane : ``In(range(max(2, SIMD*N)))``
    w_data : ``In(signed(A) or unsigned(A))``
    read : ``Out(ReadPort.Signature(addr_width=ceil_log2(2*D), shape=unsigned(SIMD*N*A)))``
    """

    @classmethod
    def check(cls, plan) -> dict:
        plan = check_plan(plan)
        A = plan.act_width
        return {"plan": plan, "act_shape": signed(A) if plan.act_signed else unsigned(A)}

    def __init__(self, plan):   # checked by check()
        super().__init__({
            "i": In(stream.Signature(plan.in_layout)),
            "take": In(1),
            "done": Out(1),
            "w_valid": In(1),
            "w_word": In(range(plan.act_words)),
            "w_lane": In(range(max(2, plan.lanes))),
            "w_data": In(self.act_shape),
            "read": Out(ReadPort.Signature(addr_width=ceil_log2(plan.act_words),
                                           shape=unsigned(plan.act_word_bits))),
        })

    def elaborate(self, platform):
        m = Module()
        plan, lanes = self.plan, self.plan.lanes
        mem = Memory(shape=unsigned(plan.act_word_bits), depth=plan.act_words, init=[],
                     attrs={"ram_style": "logic" if plan.act_memory == "logic" else "block"})
        m.submodules.act_mem = mem
        wr = mem.write_port(granularity=plan.act_width)
        rd = mem.read_port(domain="sync")
        m.d.comb += [rd.addr.eq(self.read.addr), rd.en.eq(self.read.en),
                     self.read.data.eq(rd.data)]

        wr_en = Signal(len(wr.en), name="wr_en")
        wr_addr = Signal(range(plan.act_words), name="wr_addr")
        wr_val = Signal(self.act_shape, name="wr_val")
        with m.If(self.w_valid):
            m.d.comb += [wr_addr.eq(self.w_word), wr_val.eq(self.w_data),
                         wr_en.eq(Cat(self.w_lane == j for j in range(lanes)))]

        # The input: feature by feature into bank 0.
        in_count = Signal(range(max(2, plan.input_features)), name="in_count")
        in_lane = Signal(range(max(2, lanes)), name="in_lane")
        in_word = Signal(range(max(2, plan.act_bank_words)), name="in_word")
        in_val = Signal(self.act_shape, name="in_val")
        m.d.comb += [in_val.eq(self.i.payload.data), self.i.ready.eq(self.take)]
        with m.If(self.take & self.i.valid):
            m.d.comb += [wr_addr.eq(in_word), wr_val.eq(in_val),
                         wr_en.eq(Cat(in_lane == j for j in range(lanes)))]
            with m.If(in_lane == lanes - 1):
                m.d.sync += [in_lane.eq(0), in_word.eq(in_word + 1)]
            with m.Else():
                m.d.sync += in_lane.eq(in_lane + 1)
            m.d.sync += in_count.eq(in_count + 1)
            with m.If(in_count == plan.input_features - 1):
                m.d.sync += [in_count.eq(0), in_lane.eq(0), in_word.eq(0)]
                m.d.comb += self.done.eq(1)

        m.d.comb += [wr.addr.eq(wr_addr), wr.data.eq(Cat(*[wr_val] * lanes)),
                     wr.en.eq(wr_en)]
        return m
