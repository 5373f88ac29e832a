"""A pipelined adder tree with one carry-in per input."""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import data
from amaranth.lib.wiring import In, Out

from sst_hw.plan.engine import tree_latency
from sst_hw.rtl._util import CheckedComponent, check_int, clog2, range_width

__all__ = ["AdderTree", "tree_latency", "tree_sum_width"]


def tree_sum_width(count: int, term_range: tuple, max_width: int) -> int:
    """Width of an :class:`AdderTree`'s ``sum``: ``count`` terms in
    ``term_range`` plus ``count - 1`` carries, at most ``max_width`` bits."""
    lo, hi = term_range
    return range_width(count * lo, count * hi + count - 1, max_width)


class AdderTree(CheckedComponent):
    """Sums ``count`` signed terms and ``count`` one-bit carries.

    Each two-input adder computes ``a + b + c`` with ``c`` the carry left over
    from ``a``'s subtree, so the carries of a :class:`~.lane.SignSelectLane`
    (the ``+1`` of each negation) ride in the adders' carry-ins; one carry is
    left over at the root and returned as ``cout`` for the accumulator's
    carry-in. The true sum is ``sum + cout``.

    Widths follow the value ranges, capped at ``max_width`` bits: the result
    is then exact modulo ``2**max_width``, which is exact whenever the final
    (accumulated) value fits in ``max_width`` bits.

    Latency: a register after every ``stage_levels`` adder levels and after
    the last level, so ``ceil(levels / stage_levels)`` cycles with ``levels =
    ceil(log2(count))``; 0 cycles for ``stage_levels = 0`` (combinational) or
    ``count = 1`` (:func:`sst_hw.plan.engine.tree_latency`). Throughput one
    sum per cycle; no enable.

    Parameters
    ----------
    count : int
        Number of terms (K x SIMD in the engine).
    term_range : (int, int)
        Inclusive range of every term.
    max_width : int
        Widest node, in bits (the accumulator width W in the engine).
    stage_levels : int
        Adder levels per pipeline stage; 0 for none.

    Members
    -------
    terms : ``In(ArrayLayout(signed(T), count))``
    cins : ``In(unsigned(count))``
        Carry-in bits, one per term.
    sum : ``Out(signed(S))``
        ``S = min(max_width, width of the exact range)``.
    cout : ``Out(1)``
        The carry still to be added.
    """

    @classmethod
    def check(cls, count: int, term_range: tuple, max_width: int, *,
              stage_levels: int = 1) -> dict:
        count = check_int("count", count)
        max_width = check_int("max_width", max_width, 2)
        stage_levels = check_int("stage_levels", stage_levels, 0)
        lo, hi = (int(v) for v in term_range)
        if lo > hi:
            raise ValueError(f"term_range must be (lo, hi) with lo <= hi, not {term_range!r}")
        return {"count": count, "max_width": max_width, "stage_levels": stage_levels,
                "term_range": (lo, hi), "term_width": range_width(lo, hi),
                "levels": clog2(count), "latency": tree_latency(count, stage_levels),
                "sum_width": tree_sum_width(count, (lo, hi), max_width)}

    def __init__(self, *args, **kwargs):   # the arguments of check(), already checked
        super().__init__({
            "terms": In(data.ArrayLayout(signed(self.term_width), self.count)),
            "cins": In(self.count),
            "sum": Out(signed(self.sum_width)),
            "cout": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        lo, hi = self.term_range
        # Nodes: (value, carry, number of terms covered).
        nodes = [(self.terms[i], self.cins[i], 1) for i in range(self.count)]
        level = 0
        while len(nodes) > 1:
            level += 1
            reg = self.stage_levels and (level % self.stage_levels == 0 or level == self.levels)
            nxt = []
            for j in range(0, len(nodes), 2):
                if j + 1 == len(nodes):
                    a, ca, na = nodes[j]
                    v, c, cnt = a, ca, na
                    if reg:  # keep the odd one in step with its level
                        v = Signal(signed(len(a)), name=f"l{level}_{j // 2}", reset_less=True)
                        c = Signal(name=f"l{level}_{j // 2}_c", reset_less=True)
                        m.d.sync += [v.eq(a), c.eq(ca)]
                    nxt.append((v, c, cnt))
                    continue
                (a, ca, na), (b, cb, nb) = nodes[j], nodes[j + 1]
                cnt = na + nb
                w = tree_sum_width(cnt, self.term_range, self.max_width)
                v = Signal(signed(w), name=f"l{level}_{j // 2}", reset_less=reg)
                c = Signal(name=f"l{level}_{j // 2}_c", reset_less=reg)
                dom = m.d.sync if reg else m.d.comb
                dom += [v.eq(a + b + ca), c.eq(cb)]
                nxt.append((v, c, cnt))
            nodes = nxt
        (v, c, _), = nodes
        m.d.comb += [self.sum.eq(v), self.cout.eq(c)]
        return m
