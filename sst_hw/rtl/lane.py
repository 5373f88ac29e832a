"""The sign-select lane: K decoded slots pick, negate or zero activations."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Shape, Signal, signed
from amaranth.lib import data
from amaranth.lib.wiring import In, Out

from sst_hw.format.arith import act_range
from sst_hw.rtl._util import CheckedComponent, check_bool, check_int, mux_tree, range_width
from sst_hw.rtl.decoder import SlotPlan, slot_layout

__all__ = ["SignSelectLane", "term_range"]


def term_range(act_width: int, act_signed: bool) -> tuple[int, int]:
    """Inclusive range of a lane's ``terms`` (activations, possibly inverted)."""
    lo, hi = act_range(act_width, act_signed)
    return min(lo, -hi - 1), max(hi, -lo - 1)


class SignSelectLane(CheckedComponent):
    """One subvector of one PE: each of the K slots selects an activation,
    negates it or zeroes it. No multiplier.

    The negation is split so that it folds into the adder tree: slot ``i``
    delivers ``terms[i] = valid ? (neg ? ~x : x) : 0`` and the carry
    ``corr[i] = valid & neg``; its signed value is ``terms[i] + corr[i]``
    (``~x + 1 = -x``). The adder tree adds the ``corr`` bits as carry-ins.

    Latency 0 cycles (combinational), or 1 with ``registered=True``;
    throughput one subvector per cycle.

    Parameters
    ----------
    plan : SlotPlan
        Which activations each slot can select (from :func:`~.decoder.slot_plan`).
    n : int
        Subvector length N.
    act_width : int
        Activation width A in bits.
    act_signed : bool
        Whether activations are two's-complement signed.
    registered : bool
        Register ``terms`` and ``corr``.

    Members
    -------
    act : ``In(ArrayLayout(unsigned(A) or signed(A), N))``
        The activation subvector.
    slots : ``In(ArrayLayout(slot_layout(S), K))``
        Decoded slots of this subvector's code.
    terms : ``Out(ArrayLayout(signed(T), K))``
        Selected activations, bit-inverted where negated, 0 where not valid;
        T = A + 1 for unsigned, A for signed activations.
    corr : ``Out(unsigned(K))``
        Bit ``i``: add 1 to ``terms[i]`` (slot ``i`` is valid and negated).
    """

    @classmethod
    def check(cls, plan: SlotPlan, n: int, act_width: int, act_signed: bool, *,
              registered: bool = False) -> dict:
        if not isinstance(plan, SlotPlan):
            raise TypeError(f"plan must be a SlotPlan, not {plan!r}")
        n = check_int("n", n, 2)
        act_width = check_int("act_width", act_width, 1, 32)
        act_signed = check_bool("act_signed", act_signed)
        act_range(act_width, act_signed)  # signed needs 2 bits
        registered = check_bool("registered", registered)
        if max(b + s for b, s in zip(plan.base, plan.span)) > n:
            raise ValueError(f"plan selects beyond the {n} activations of a subvector")
        trange = term_range(act_width, act_signed)
        return {"plan": plan, "n": n, "act_width": act_width, "act_signed": act_signed,
                "registered": registered, "latency": int(registered),
                "act_shape": signed(act_width) if act_signed else Shape(act_width),
                "term_range": trange, "term_width": range_width(*trange)}

    def __init__(self, *args, **kwargs):   # the arguments of check(), already checked
        plan, n = self.plan, self.n
        super().__init__({
            "act": In(data.ArrayLayout(self.act_shape, n)),
            "slots": In(data.ArrayLayout(slot_layout(plan.sel_bits), plan.k)),
            "terms": Out(data.ArrayLayout(signed(self.term_width), plan.k)),
            "corr": Out(plan.k),
        })

    def elaborate(self, platform):
        m = Module()
        tw = self.term_width
        domain = m.d.sync if self.registered else m.d.comb
        if self.registered:   # data registers without reset
            terms = Signal.like(self.terms, reset_less=True, name="terms_r")
            corr_r = Signal.like(self.corr, reset_less=True, name="corr_r")
            m.d.comb += [self.terms.eq(terms), self.corr.eq(corr_r)]
        else:
            terms, corr_r = self.terms, self.corr
        corr = []
        for i in range(self.plan.k):
            slot = self.slots[i]
            cands = [self.act[self.plan.base[i] + j] for j in range(self.plan.span[i])]
            x = Signal(self.act_shape, name=f"x{i}")
            m.d.comb += x.eq(mux_tree(cands, slot.sel))
            # Sign-extend (signed) or zero-extend (unsigned) to T bits.
            ext = x.as_signed() if self.act_signed else Cat(x, 0).as_signed()
            term = (ext ^ slot.neg.replicate(tw)) & slot.valid.replicate(tw)
            domain += terms[i].eq(term.as_signed())
            corr.append(slot.valid & slot.neg)
        domain += corr_r.eq(Cat(*corr))
        return m
