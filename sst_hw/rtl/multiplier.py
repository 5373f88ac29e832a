"""A multiplier built from partial products and adders, for LUT fabric.

Why not ``*``: Yosys turns every ``$mul`` into DSP blocks where it can
(``synth_ice40 -dsp``, ECP5's MULT18X18D) and into its own soft multiplier
elsewhere. The dense baseline wants to choose per multiplier, so it can fill
the DSPs and then add multipliers in the logic left; this one never emits a
``$mul``, only AND gates and adders, so Yosys keeps it in LUTs.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Shape, Signal, signed, unsigned
from amaranth.lib.wiring import In, Out

from sst_hw.format.arith import product_range
from sst_hw.rtl._util import CheckedComponent, check_int, clog2, range_width

__all__ = ["LUTMultiplier", "product_shape", "shape_range"]


def shape_range(shape) -> tuple[int, int]:
    """Inclusive (lo, hi) of an Amaranth shape's values."""
    s = Shape.cast(shape)
    if s.signed:
        return -(1 << (s.width - 1)), (1 << (s.width - 1)) - 1
    return 0, (1 << s.width) - 1


def _shape_of(lo: int, hi: int) -> Shape:
    """The narrowest shape holding ``lo..hi``: unsigned when ``lo >= 0``."""
    if lo >= 0:
        return unsigned(max(1, hi.bit_length()))
    return signed(range_width(lo, hi))


def product_shape(a_shape, b_shape) -> Shape:
    """Shape of ``a * b`` that holds every product exactly: unsigned when both
    operands are, else signed of the exact product range's width (e.g. 16
    bits, not 17, for signed(8) x unsigned(8))."""
    return _shape_of(*product_range(shape_range(a_shape), shape_range(b_shape)))


class LUTMultiplier(CheckedComponent):
    """``p = a * b`` from shift-and-add partial products; no ``$mul`` for Yosys.

    The narrower operand selects: bit ``i`` of it gates the other operand
    into partial product ``i`` (weight ``2^i``; for a signed selector the top
    partial product is subtracted, two's complement). The partial products
    are summed by a balanced tree of adders; at each node the low bits of
    the lower-weighted input pass straight through, so an adder only spans
    the bits where both inputs overlap.

    Latency ``stages`` cycles: combinational by default; ``S`` stages put
    registers into the ``L = ceil(log2(W))`` adder levels of a ``W``-bit
    selector, after levels ``ceil(k*L/(S+1))`` for ``k = 1..S`` (level 0:
    the partial products themselves), so that between the engine's operand
    and product registers the longest path is about ``1/(S+1)`` of the
    multiplier. Throughput one product per cycle; the registers have no
    enable.

    Parameters
    ----------
    a_shape, b_shape : shape-castable
        Operand shapes, signed or unsigned, any width.
    stages : int
        Pipeline registers inside, 0..3.

    Members
    -------
    a : ``In(a_shape)``
    b : ``In(b_shape)``
    p : ``Out(product_shape(a_shape, b_shape))``
    """

    @classmethod
    def check(cls, a_shape, b_shape, *, stages: int = 0) -> dict:
        a_shape, b_shape = Shape.cast(a_shape), Shape.cast(b_shape)
        stages = check_int("stages", stages, 0, 3)
        return {"a_shape": a_shape, "b_shape": b_shape, "stages": stages, "latency": stages,
                "p_shape": product_shape(a_shape, b_shape),
                # Adder levels of the partial-product tree.
                "levels": clog2(min(a_shape.width, b_shape.width))}

    def __init__(self, *args, **kwargs):   # the arguments of check(), already checked
        super().__init__({"a": In(self.a_shape), "b": In(self.b_shape), "p": Out(self.p_shape)})

    def elaborate(self, platform):
        m = Module()
        a, b = self.a, self.b
        if len(b) > len(a):       # fewer partial products with the narrower selector
            a, b = b, a
        alo, ahi = shape_range(a.shape())
        sel_signed = b.shape().signed
        # Nodes: (value, lo, hi, shift, negated): the node stands for
        # (-1 if negated) * value * 2^shift, value in lo..hi.
        nodes = []
        for i in range(len(b)):
            v = Signal(_shape_of(min(alo, 0), max(ahi, 0)), name=f"pp{i}")
            m.d.comb += v.eq(Mux(b[i], a, 0))
            neg = sel_signed and i == len(b) - 1
            nodes.append((v, min(alo, 0), max(ahi, 0), i, neg))
        cuts = [-(-k * self.levels // (self.stages + 1)) for k in range(1, self.stages + 1)]
        level = 0
        while True:
            for c in range(cuts.count(level)):
                nodes = [self._register(m, node, f"r{level}_{c}_{j}")
                         for j, node in enumerate(nodes)]
            if len(nodes) == 1:
                break
            level += 1
            nxt = []
            for j in range(0, len(nodes) - 1, 2):
                nxt.append(self._add(m, nodes[j], nodes[j + 1], f"s{level}_{j // 2}"))
            if len(nodes) % 2:
                nxt.append(nodes[-1])
            nodes = nxt
        (v, lo, hi, shift, neg), = nodes
        assert shift == 0
        m.d.comb += self.p.eq(-v if neg else v)
        return m

    @staticmethod
    def _register(m, node, name):
        v, lo, hi, shift, neg = node
        r = Signal(v.shape(), name=name, reset_less=True)
        m.d.sync += r.eq(v)
        return r, lo, hi, shift, neg

    @staticmethod
    def _add(m, x, y, name):
        """Node ``x + y`` (``x - y`` if ``y`` is negated). ``y`` never has the
        lower shift and ``x`` is never negated: only the selector's top
        partial product is, and it stays the rightmost node of its level."""
        xv, xlo, xhi, xs, xneg = x
        yv, ylo, yhi, ys, yneg = y
        assert xs <= ys and not xneg
        d = ys - xs
        # x = (x >> d) * 2^d + x[:d]: the low d bits pass through.
        hlo, hhi = xlo >> d, xhi >> d
        if yneg:
            hlo, hhi = hlo - yhi, hhi - ylo
        else:
            hlo, hhi = hlo + ylo, hhi + yhi
        high = Signal(_shape_of(hlo, hhi), name=f"{name}_h")
        xshape = _shape_of(xlo, xhi)
        xw = Signal(Shape(max(xshape.width, d + 1), xshape.signed), name=f"{name}_x")
        m.d.comb += xw.eq(xv)
        upper = xw >> d
        m.d.comb += high.eq(upper - yv if yneg else upper + yv)
        if yneg:
            lo, hi = xlo - (yhi << d), xhi - (ylo << d)
        else:
            lo, hi = xlo + (ylo << d), xhi + (yhi << d)
        out = Signal(_shape_of(lo, hi), name=name)
        if d:
            joined = Cat(xw[:d], high)
            m.d.comb += out.eq(joined.as_signed() if high.shape().signed else joined)
        else:
            m.d.comb += out.eq(high)
        return out, lo, hi, xs, False
