"""``Serialiser``: engine results, one accumulator per cycle, and the arg-max.

Each engine result (the PE accumulators of a row group) goes into a shift
register, which hands one accumulator per cycle to the shared
:class:`~sst_hw.core.requant.Requantizer` (hidden layers; the result is
written to the other activation bank) or to the core's output stream ``o``
(last layer, the logits), tracking the arg-max; the class index follows the
logits on ``o``.
"""

from __future__ import annotations

from types import SimpleNamespace

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from sst_hw.core._checks import check_plan
from sst_hw.core.sequencer import layer_signature
from sst_hw.rtl._util import CheckedComponent

__all__ = ["Serialiser"]


class Serialiser(CheckedComponent):
    """PE accumulators in, one row per cycle out: to the requantizer or to ``o``.

    The serialiser takes an engine result on ``i`` when it is empty or hands
    out its last value this cycle, so results follow each other without a
    gap. The head row (one per cycle while it advances) goes to ``q`` (hidden
    layer) with the row's place in the next layer's input (``q.tag``), or to
    ``o`` (last layer): padding rows beyond ``out_features`` are dropped
    from ``o`` but still go through ``q`` (they mark a layer's final row).
    After the last layer's final row, ``o`` offers the arg-max class index
    with ``last`` (lowest index on ties), and ``busy`` is high until it is
    taken.

    Latency: a result taken on ``i`` is the head from the next cycle on
    (``SERIALISER_LATENCY`` = 1); the head advances only while
    ``ctx.running``, and in the last layer only when ``o`` is taken (padding
    rows advance without it).

    Parameters
    ----------
    plan : NetPlan
        Uses ``pe``, ``acc_width`` (W), ``lanes``, ``act_bank_words``,
        ``param_rows``, ``classes``, ``out_width`` and the layers' ``groups``.

    Members
    -------
    i : ``In(stream.Signature(plan.engine.out_layout))``
        The engine's results (``acc``: PE accumulators of W bits).
    ctx : ``In(layer_signature(plan))``
        The layer in flight, from the :class:`~sst_hw.core.sequencer.Sequencer`.
    q : ``Out(Signature({"valid", "acc": signed(W), "row", "tag": tag_layout}))``
        To the requantizer: the head row of a hidden layer (``valid``), its
        accumulator, its global row number (the requantization table's row:
        rows of every hidden layer, padded to whole groups), and
        :attr:`tag_layout`: its activation word and lane in the other bank,
        ``real`` (not a padding row) and ``final`` (the layer's last row).
    o : ``Out(stream.Signature(plan.out_layout))``
        The logits (``data``: sign-extended accumulators), then the class
        index with ``last``.
    done : ``Out(1)``
        The last layer's final row advances this cycle.
    busy : ``Out(1)``
        The class index is on offer (from the cycle after ``done`` to the
        cycle ``o`` takes it).
    """

    @classmethod
    def check(cls, plan) -> dict:
        plan = check_plan(plan)
        max_rows = max(lp.groups * plan.pe for lp in plan.layers)
        # Where a requantized row goes: word (padding rows may run past the
        # bank) and lane in the other bank, then the real and final flags.
        tag = data.StructLayout({
            "word": range(2 * plan.act_bank_words + max_rows // plan.lanes + 2),
            "lane": range(max(2, plan.lanes)), "real": 1, "final": 1})
        return {"plan": plan, "row_shape": range(max_rows + 1), "tag_layout": tag}

    def __init__(self, plan):   # checked by check()
        W = plan.acc_width
        super().__init__({
            "i": In(stream.Signature(plan.engine.out_layout)),
            "ctx": In(layer_signature(plan)),
            "q": Out(wiring.Signature({
                "valid": Out(1),
                "acc": Out(signed(W)),
                "row": Out(range(max(2, plan.param_rows + 1))),
                "tag": Out(self.tag_layout)})),
            "o": Out(stream.Signature(plan.out_layout)),
            "done": Out(1),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        plan, PE, W = self.plan, self.plan.pe, self.plan.acc_width
        tag = self.tag_layout
        s = SimpleNamespace(
            ser=Signal(data.ArrayLayout(signed(W), PE), name="ser", reset_less=True),
            ser_left=Signal(range(PE + 1), name="ser_left"),
            ser_active=Signal(name="ser_active"),   # ser_left != 0, as a register
            ser_one=Signal(name="ser_one"),         # ser_left == 1, as a register
            ser_adv=Signal(name="ser_adv"),
            ser_take=Signal(name="ser_take"),
            head=Signal(signed(W), name="head"),
            # The head row's place, and its flags kept as registers (rows go up by one).
            ser_row=Signal(self.row_shape, name="ser_row"),
            ser_lane=Signal(tag["lane"].shape, name="ser_lane"),
            ser_word=Signal(tag["word"].shape, name="ser_word"),
            prow=Signal(range(max(2, plan.param_rows + 1)), name="prow"),
            real=Signal(init=1, name="real"),        # ser_row < out_features
            final=Signal(name="final"),              # ser_row == G*PE - 1
            first=Signal(name="first"),              # ser_row == 0
            # Arg-max.
            best=Signal(signed(W), name="best", reset_less=True),
            best_idx=Signal(range(max(2, plan.classes)), name="best_idx"),
            gt=Signal(name="gt"),
            wins=Signal(name="wins"),                # the head is the new arg-max
            offer=Signal(name="offer_class"),        # the class index is on offer
        )
        self._shift(m, s)
        self._arg_max(m, s)
        self._position(m, s)
        self._outputs(m, s)
        return m

    def _shift(self, m, s):
        """The shift register: a result in, one value out per advance."""
        ctx, PE = self.ctx, self.plan.pe
        m.d.comb += [
            s.head.eq(s.ser[0]),
            s.ser_adv.eq(ctx.running & s.ser_active & (~ctx.last | ~s.real | self.o.ready)),
            self.i.ready.eq(~s.ser_active | (s.ser_one & s.ser_adv)),
            s.ser_take.eq(self.i.valid & self.i.ready),
        ]
        with m.If(s.ser_take):
            m.d.sync += [s.ser.eq(self.i.payload.acc), s.ser_left.eq(PE), s.ser_active.eq(1),
                         s.ser_one.eq(PE == 1)]
        with m.Elif(s.ser_adv):
            m.d.sync += [s.ser_left.eq(s.ser_left - 1), s.ser_active.eq(~s.ser_one),
                         s.ser_one.eq(s.ser_left == 2)]
            for p in range(PE - 1):
                m.d.sync += s.ser[p].eq(s.ser[p + 1])

    def _arg_max(self, m, s):
        """The largest logit so far and its index (the first one on ties).

        ``gt`` (next head > best) is precomputed when the head changes, off
        the enable path: the next head is the engine's PE 0 if the serialiser
        is empty or on its last value, else ``ser[1]``, compared with the
        current head (if it wins) and the current best (if not), both from
        registers; the registered select and the late handshake (``wins``:
        ``o.ready``, ``ser_adv``) only reach the final multiplexers.
        """
        ctx = self.ctx
        acc0 = self.i.payload.acc[0]
        from_engine = Signal(name="nh_from_engine")
        m.d.comb += [
            from_engine.eq(s.ser_one | ~s.ser_active),
            s.wins.eq(ctx.last & s.ser_adv & s.real & (s.first | s.gt)),
        ]
        if self.plan.pe == 1:
            gt_if_wins, gt_if_not = acc0 > s.head, acc0 > s.best
        else:
            gt_if_wins = Mux(from_engine, acc0 > s.head, s.ser[1] > s.head)
            gt_if_not = Mux(from_engine, acc0 > s.best, s.ser[1] > s.best)
        with m.If(s.ser_take | s.ser_adv):
            m.d.sync += s.gt.eq(Mux(s.wins, gt_if_wins, gt_if_not))
        with m.If(ctx.last & s.ser_adv):
            with m.If(s.wins):
                m.d.sync += [s.best.eq(s.head), s.best_idx.eq(s.ser_row)]
            with m.If(s.final):
                m.d.sync += s.offer.eq(1)
        with m.If(s.offer & self.o.ready):
            m.d.sync += s.offer.eq(0)

    def _position(self, m, s):
        """The head row: its index, its word and lane in the written bank,
        its requantization table row; reset when a layer starts."""
        ctx, lanes = self.ctx, self.plan.lanes
        with m.If(s.ser_adv):
            m.d.sync += [s.ser_row.eq(s.ser_row + 1), s.final.eq(s.ser_row + 1 == ctx.final_row),
                         s.first.eq(0)]
            with m.If(s.ser_row + 1 == ctx.out_features):
                m.d.sync += s.real.eq(0)
            with m.If(s.ser_lane == lanes - 1):
                m.d.sync += [s.ser_lane.eq(0), s.ser_word.eq(s.ser_word + 1)]
            with m.Else():
                m.d.sync += s.ser_lane.eq(s.ser_lane + 1)
            with m.If(~ctx.last):
                m.d.sync += s.prow.eq(s.prow + 1)
        with m.If(ctx.start):
            m.d.sync += [s.ser_row.eq(0), s.ser_lane.eq(0), s.ser_word.eq(ctx.start_word),
                         s.real.eq(1), s.final.eq(ctx.start_final), s.first.eq(1)]
        with m.If(ctx.begin):
            m.d.sync += s.prow.eq(0)

    def _outputs(self, m, s):
        """``q`` to the requantizer; ``o``: the logits, then the class."""
        ctx, q, o = self.ctx, self.q, self.o
        m.d.comb += [
            q.valid.eq(s.ser_adv & ~ctx.last),
            q.acc.eq(s.head),
            q.row.eq(s.prow),
            q.tag.word.eq(s.ser_word), q.tag.lane.eq(s.ser_lane),
            q.tag.real.eq(s.real), q.tag.final.eq(s.final),
            self.done.eq(ctx.last & s.ser_adv & s.final),
            self.busy.eq(s.offer),
        ]
        with m.If(s.offer):
            m.d.comb += [o.valid.eq(1), o.payload.data.eq(s.best_idx), o.payload.last.eq(1)]
        with m.Elif(ctx.running):
            m.d.comb += [o.valid.eq(ctx.last & s.ser_active & s.real),
                         o.payload.data.eq(s.head)]
