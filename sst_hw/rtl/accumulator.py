"""Accumulator banks: one signed accumulator per PE, and the output queue."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, ResetSignal, Signal, signed
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from sst_hw.plan.engine import ACC_LATENCY, acc_layout
from sst_hw.rtl._util import CheckedComponent, check_bool, check_int

__all__ = ["AccumulatorBank", "acc_layout"]


class AccumulatorBank(CheckedComponent):
    """PE accumulators of W bits and a queue of finished rows.

    On each cycle with ``valid``, every PE adds ``addend[p] + cin[p]`` to its
    accumulator. On a ``last`` beat the new totals are pushed into a queue of
    ``depth`` rows that feeds the output stream ``o``, and the accumulators
    restart from zero (their flip-flops' synchronous reset, so the adders'
    inputs are not gated). Arithmetic is modulo 2^W, which is exact as long as
    every row's true sum fits in W bits.

    The bank never stalls its input: whoever drives it must not present a
    ``last`` beat when the queue could be full (the engine keeps a count of
    rows in flight and in the queue). ``o.payload`` is a register (through a
    ``depth``:1 multiplexer for ``depth > 1``); ``o.ready`` reaches no input.

    Latency :data:`~sst_hw.plan.engine.ACC_LATENCY` = 1 cycle from a
    ``last`` beat to ``o.valid`` (queue empty); throughput one beat per
    cycle, one row per ``o`` transfer.

    Parameters
    ----------
    pe : int
        Number of accumulators.
    in_width : int
        Width of each ``addend`` (signed).
    acc_width : int
        Accumulator width W (signed); addends are sign-extended or truncated to it.
    depth : int
        Output queue depth in rows.
    keep_control : bool
        Mark the queue's count and pointers ``keep``: for an engine's several
        banks, which would otherwise share one identical copy after
        synthesis (and its fan-out to every bank).

    Members
    -------
    valid : ``In(1)``
    last : ``In(1)``
        This beat closes the current rows.
    addend : ``In(ArrayLayout(signed(in_width), pe))``
    cin : ``In(unsigned(pe))``
        One extra +1 per PE (the adder tree's leftover carry).
    o : ``Out(stream.Signature(acc_layout(pe, acc_width)))``
    level : ``Out(range(depth + 1))``
        Rows in the queue.
    """

    latency = ACC_LATENCY

    @classmethod
    def check(cls, pe: int, in_width: int, acc_width: int, *, depth: int = 2,
              keep_control: bool = False) -> dict:
        return {"pe": check_int("pe", pe), "in_width": check_int("in_width", in_width),
                "acc_width": check_int("acc_width", acc_width, 2),
                "depth": check_int("depth", depth),
                "keep_control": check_bool("keep_control", keep_control)}

    def __init__(self, *args, **kwargs):   # the arguments of check(), already checked
        super().__init__({
            "valid": In(1),
            "last": In(1),
            "addend": In(data.ArrayLayout(signed(self.in_width), self.pe)),
            "cin": In(self.pe),
            "o": Out(stream.Signature(acc_layout(self.pe, self.acc_width))),
            "level": Out(range(self.depth + 1)),
        })

    def elaborate(self, platform):
        m = Module()
        pe, w, depth = self.pe, self.acc_width, self.depth
        row = data.ArrayLayout(signed(w), pe)

        # acc holds the running sums, or 0 right after a last beat (and after
        # reset): clearing is the flip-flops' synchronous reset, so nothing
        # gates the adder's inputs.
        acc = Signal(row, reset_less=True)
        total = Signal(row)
        for p in range(pe):
            m.d.comb += total[p].eq(acc[p] + self.addend[p] + self.cin[p])
        # The domain reset is folded into the same clear (acc is reset-less):
        # a flip-flop has one synchronous reset input, and with two (rst, and
        # the clear on `last`) Yosys keeps the clear as a multiplexer in a
        # LUT per bit after the adder.
        rst = ResetSignal("sync")
        with m.If(self.valid | rst):
            m.d.sync += acc.eq(Mux(self.last | rst, 0, total))

        # Output queue: a ring of `depth` rows. A push writes `total` straight
        # into one entry (no multiplexer after the adder); o.payload is the
        # entry at the read pointer.
        entries = [Signal(row, name=f"q{i}", reset_less=True) for i in range(depth)]
        attrs = {"keep": 1} if self.keep_control else {}
        count = Signal(range(depth + 1), attrs=attrs)
        push = Signal()
        pop = Signal()
        m.d.comb += [
            push.eq(self.valid & self.last),
            self.o.valid.eq(count != 0),
            pop.eq(self.o.valid & self.o.ready),
            self.level.eq(count),
        ]
        if depth == 1:
            with m.If(push):
                m.d.sync += entries[0].eq(total)
            m.d.comb += self.o.payload.acc.eq(entries[0])
        else:
            wr = Signal(range(depth), attrs=attrs)
            rd = Signal(range(depth), attrs=attrs)
            for i, e in enumerate(entries):
                with m.If(push & (wr == i)):
                    m.d.sync += e.eq(total)
            with m.If(push):
                m.d.sync += wr.eq(Mux(wr == depth - 1, 0, wr + 1))
            with m.If(pop):
                m.d.sync += rd.eq(Mux(rd == depth - 1, 0, rd + 1))
            # Written as a case statement: logically the same as a tree of
            # Mux(), but the latter made YoWASP Yosys's ABC9 crash on ECP5.
            with m.Switch(rd):
                for i, e in enumerate(entries):
                    with m.Case(i):
                        m.d.comb += self.o.payload.acc.eq(e)
        m.d.sync += count.eq(count + push - pop)
        return m
