"""``Sequencer``: the network core's layer and row-group schedule.

Per layer, per group of PE rows, the sequencer reads ``Sb`` consecutive code
and activation words and hands them to the engine, ``last`` on the final
one; row groups start ``T = max(Sb, PE, L)`` cycles apart, so neither the
engine nor the serialiser ever stalls (the closed-form timing of
:meth:`NetPlan.cycles <sst_hw.plan.network.NetPlan.cycles>`). It also holds
the layer in flight (its index, its figures, the banks it reads and writes)
and switches layers; :func:`layer_signature` is what it tells the serialiser
about that layer.
"""

from __future__ import annotations

from amaranth.hdl import Array, Const, Module, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.memory import ReadPort
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from sst_hw.core._checks import check_plan
from sst_hw.core.code_memory import code_read_signature
from sst_hw.rtl._util import CheckedComponent

__all__ = ["Sequencer", "layer_signature"]


def _const_width(values) -> int:
    """Bits of a register holding any of ``values`` (non-negative ints)."""
    return max(1, max(int(v) for v in values).bit_length())


def _final_rows(plan) -> list:
    """Per layer, the index of its last row, padding rows included."""
    return [lp.groups * plan.pe - 1 for lp in plan.layers]


def layer_signature(plan) -> wiring.Signature:
    """The layer in flight, as the :class:`Sequencer` (the ``Out`` side) tells it.

    Members
    -------
    running : ``Out(1)``
        Layers are being run (from the input's last feature to the last
        layer's final row), a register.
    layer : ``Out(range(max(2, layers)))``
        Index of the layer in flight.
    last : ``Out(1)``
        It is the network's last layer (raw accumulators are the logits).
    out_features, final_row : ``Out(unsigned(...))``
        Its output features, and the index of its last row (``G*PE - 1``,
        padding rows included).
    start : ``Out(1)``
        A layer starts this cycle (``layer``, ``last``, ... show it from the
        next cycle on).
    begin : ``Out(1)``
        With ``start``: it is the first layer of an inference.
    start_word : ``Out(range(2*D))``
        With ``start``: the first word of the bank the starting layer writes.
    start_final : ``Out(1)``
        With ``start``: the starting layer has a single row (its first row is
        its final one).
    """
    return wiring.Signature({
        "running": Out(1),
        "layer": Out(range(max(2, len(plan.layers)))),
        "last": Out(1),
        "out_features": Out(unsigned(_const_width(lp.out_features for lp in plan.layers))),
        "final_row": Out(unsigned(_const_width(_final_rows(plan)))),
        "start": Out(1),
        "begin": Out(1),
        "start_word": Out(range(2 * plan.act_bank_words)),
        "start_final": Out(1),
    })


class _LayerConstants:
    """Registers holding a figure of the layer in flight, loaded when a layer
    starts (a register per figure rather than a look-up by ``layer`` keeps the
    layer index off every path that uses them)."""

    def __init__(self, **values):
        self.regs = {}
        for name, vals in values.items():
            vals = [int(v) for v in vals]
            reg = Signal(_const_width(vals), init=vals[0], name=name)
            self.regs[name] = (reg, vals)

    def __getitem__(self, name):
        return self.regs[name][0]

    def load(self, index) -> list:
        """Statements loading every register for layer ``index``."""
        stmts = []
        for reg, vals in self.regs.values():
            if len(set(vals)) == 1:
                stmts.append(reg.eq(vals[0]))
            else:
                stmts.append(reg.eq(Array(Const(v, reg.shape()) for v in vals)[index]))
        return stmts


class Sequencer(CheckedComponent):
    """Reads the code and activation words of every row group into the engine.

    A layer starts on ``start`` (the first layer: the network input is in
    bank 0) or on ``next`` while running (the layer before it has written its
    last activation). Layer ``l`` reads bank ``l % 2`` and writes the other.
    For each of its ``G`` row groups the sequencer issues ``Sb`` beats, one
    per cycle, each a code word (read in order from the code memory) and the
    activation word ``b`` of the bank, the last with ``last``; the group's
    first beats are ``T`` cycles apart.

    Latency: a layer's first beat is issued (its words read from the
    memories) the cycle after ``start`` or ``next``, and a beat reaches the
    engine the cycle after it is read (two cycles from ``start`` to the first
    beat at the engine), one more with ``plan.mem_reg`` (a register stage
    between the memories' outputs and the engine). While the engine stalls,
    the memories hold their read data (read enables low).

    Parameters
    ----------
    plan : NetPlan
        Uses the layers' ``beats``, ``period``, ``groups``, ``out_features``
        and ``last``, ``pe``, ``act_bank_words``, ``mem_reg`` and the word
        widths.

    Members
    -------
    start : ``In(1)``
        Run the first layer (the input's last feature is written this cycle).
    next : ``In(1)``
        Run the next layer (the current one's last activation is written this
        cycle); ignored unless running.
    stop : ``In(1)``
        The last layer's final row has gone out: stop running.
    code : ``In(code_read_signature(plan.code_word_bits))``
        The code memory, read in order (``en`` on every accepted slot,
        ``step`` on every issued beat).
    act : ``In(ReadPort.Signature(addr_width=ceil_log2(2*D), shape=unsigned(SIMD*N*A)))``
        The activation buffer's read port.
    o : ``Out(stream.Signature(plan.engine.in_layout))``
        The engine's input beats.
    ctx : ``Out(layer_signature(plan))``
        The layer in flight, for the serialiser.
    """

    @classmethod
    def check(cls, plan) -> dict:
        return {"plan": check_plan(plan)}

    def __init__(self, plan):   # checked by check()
        super().__init__({
            "start": In(1),
            "next": In(1),
            "stop": In(1),
            "code": In(code_read_signature(plan.code_word_bits)),
            "act": In(ReadPort.Signature(addr_width=ceil_log2(plan.act_words),
                                         shape=unsigned(plan.act_word_bits))),
            "o": Out(stream.Signature(plan.engine.in_layout)),
            "ctx": Out(layer_signature(plan)),
        })

    def elaborate(self, platform):
        m = Module()
        plan, ctx, D = self.plan, self.ctx, self.plan.act_bank_words
        lps = plan.layers
        consts = _LayerConstants(
            l_beats=[lp.beats for lp in lps], l_period=[lp.period for lp in lps],
            l_out=[lp.out_features for lp in lps], l_final_row=_final_rows(plan),
            l_is_last=[int(lp.last) for lp in lps])
        layer = Signal(range(max(2, len(lps))), name="layer")
        running = Signal(name="running")
        rd_base = Signal(range(2 * D), name="rd_base")            # bank read by this layer
        wr_base = Signal(range(2 * D), init=D, name="wr_base")    # bank it writes
        # Down-counters: beats still to issue in this group, slots left in its
        # period, groups left (short compares on the memories' address path).
        beats_left = Signal(range(max(lp.beats for lp in lps) + 1), name="beats_left")
        slots_left = Signal(range(max(lp.period for lp in lps) + 1), name="slots_left")
        groups_left = Signal(range(max(lp.groups for lp in lps) + 1), name="groups_left")
        issuing = Signal(name="issuing")
        rd_word = Signal(range(2 * D), name="rd_word")
        m.d.comb += [ctx.running.eq(running), ctx.layer.eq(layer),
                     ctx.last.eq(consts["l_is_last"]), ctx.out_features.eq(consts["l_out"]),
                     ctx.final_row.eq(consts["l_final_row"])]

        advance, s1_valid, s1_last = self._feed(m, running)
        issue = Signal(name="issue")
        m.d.comb += [issue.eq(running & issuing & (beats_left != 0)),
                     self.act.addr.eq(rd_word), self.code.step.eq(advance & issue)]
        with m.If(advance):
            m.d.sync += [s1_valid.eq(issue), s1_last.eq(beats_left == 1)]
            with m.If(issue):
                m.d.sync += [rd_word.eq(rd_word + 1), beats_left.eq(beats_left - 1)]
            with m.If(running & issuing):
                with m.If(slots_left == 1):
                    m.d.sync += [slots_left.eq(consts["l_period"]),
                                 beats_left.eq(consts["l_beats"]),
                                 rd_word.eq(rd_base), groups_left.eq(groups_left - 1)]
                    with m.If(groups_left == 1):
                        m.d.sync += issuing.eq(0)
                with m.Else():
                    m.d.sync += slots_left.eq(slots_left - 1)

        # The layer switch (after the counters: a starting layer's values win).
        def switch(rd, wr, index):
            return [layer.eq(index), issuing.eq(1),
                    beats_left.eq(_by_layer([lp.beats for lp in lps], index)),
                    slots_left.eq(_by_layer([lp.period for lp in lps], index)),
                    groups_left.eq(_by_layer([lp.groups for lp in lps], index)),
                    rd_word.eq(rd), rd_base.eq(rd), wr_base.eq(wr), *consts.load(index)]

        single = [int(lp.groups * plan.pe == 1) for lp in lps]
        with m.If(self.start):
            m.d.sync += [*switch(0, D, 0), running.eq(1)]
            m.d.comb += [ctx.start.eq(1), ctx.begin.eq(1), ctx.start_word.eq(D),
                         ctx.start_final.eq(_by_layer(single, 0, 1))]
        with m.Elif(running & self.next):
            m.d.sync += switch(wr_base, rd_base, layer + 1)
            m.d.comb += [ctx.start.eq(1), ctx.start_word.eq(rd_base),
                         ctx.start_final.eq(_by_layer(single, layer + 1, 1))]
        with m.If(self.stop):
            m.d.sync += running.eq(0)
        return m

    def _feed(self, m, running):
        """The engine's input: memory reads -> stage 1 [-> stage 2] -> ``o``.

        Stage 1 is the memories' read data (held while stalled: read enable
        low); with ``mem_reg`` a register stage follows, off the memories'
        clock-to-out. Returns ``advance`` (stage 1 moves on: read the next
        slot), and stage 1's ``valid`` and ``last`` registers.
        """
        o, act, code = self.o, self.act, self.code
        advance = Signal(name="advance")
        s1_valid, s1_last = Signal(name="s1_valid"), Signal(name="s1_last")
        if self.plan.mem_reg:
            s2_valid, s2_last = Signal(name="s2_valid"), Signal(name="s2_last")
            s2_act = Signal(len(act.data), name="s2_act", reset_less=True)
            s2_code = Signal(self.plan.code_word_bits, name="s2_code", reset_less=True)
            advance2 = Signal(name="advance2")
            m.d.comb += [advance2.eq(~s2_valid | o.ready),
                         advance.eq(~s1_valid | advance2),
                         o.valid.eq(s2_valid),
                         o.payload.act.as_value().eq(s2_act),
                         o.payload.code.as_value().eq(s2_code),
                         o.payload.last.eq(s2_last)]
            with m.If(advance2):
                m.d.sync += [s2_valid.eq(s1_valid), s2_last.eq(s1_last),
                             s2_act.eq(act.data), s2_code.eq(code.data)]
        else:
            m.d.comb += [advance.eq(~s1_valid | o.ready),
                         o.valid.eq(s1_valid),
                         o.payload.act.as_value().eq(act.data),
                         o.payload.code.as_value().eq(code.data),
                         o.payload.last.eq(s1_last)]
        m.d.comb += [act.en.eq(advance), code.en.eq(advance & running)]
        return advance, s1_valid, s1_last


def _by_layer(values, index, width=None):
    """``values[index]`` in hardware: a constant when every layer has the same
    value, else a look-up by ``index``."""
    consts = [Const(int(v)) if width is None else Const(int(v), width) for v in values]
    if len({int(v) for v in values}) == 1:
        return consts[0]
    return Array(consts)[index]
