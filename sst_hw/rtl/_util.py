"""What the RTL components share: checking their parameters before they
exist, and width helpers.

:class:`CheckedComponent` is the base of every component here whose
constructor can refuse its parameters. The checks themselves
(:func:`check_int`, :func:`check_bool`, :func:`check_choice`) live in
:mod:`sst_hw.format.limits` and are re-exported for the components.
"""

from __future__ import annotations

from amaranth.lib import wiring

from sst_hw.format.arith import signed_width
from sst_hw.format.limits import check_bool, check_choice, check_int

__all__ = ["CheckedComponent", "check_int", "check_bool", "check_choice", "clog2",
           "range_width", "mux_tree"]


class CheckedComponent(wiring.Component):
    """A component whose parameters are all checked before it exists.

    Amaranth warns about every elaboratable that is created and never
    elaborated, and an object counts as created from ``__new__`` on: a
    constructor that raised would leave one behind. So a subclass checks its
    constructor's arguments in the class method :meth:`check` (same
    signature as the constructor), which returns the checked values as a
    dict of attributes or raises; ``__new__`` runs it before the object is
    made and sets those attributes, and the subclass's ``__init__`` (which
    receives the same arguments) only builds the interface from them. A
    refused component is never constructed.
    """

    def __new__(cls, *args, src_loc_at: int = 0, **kwargs):
        attrs = cls.check(*args, **kwargs)      # raises before anything exists
        self = super().__new__(cls, src_loc_at=1 + src_loc_at)
        vars(self).update(attrs)
        return self

    @classmethod
    def check(cls, *args, **kwargs) -> dict:
        """The checked attributes of a component of these arguments (or raise)."""
        raise NotImplementedError


def clog2(x: int) -> int:
    """Bits needed to count ``x`` distinct values (0 for ``x <= 1``)."""
    return max(0, (int(x) - 1).bit_length())


def range_width(lo: int, hi: int, cap: int | None = None) -> int:
    """Bits of a two's-complement signal holding every integer in ``[lo, hi]``,
    at most ``cap`` (arithmetic modulo ``2**cap`` is exact when the final
    result fits, see :class:`~sst_hw.rtl.adder_tree.AdderTree`)."""
    w = signed_width(lo, hi)
    return w if cap is None else min(w, cap)


def mux_tree(values, sel):
    """A balanced tree of 2:1 multiplexers picking ``values[sel]``.

    ``sel`` is an unsigned Amaranth value; bit 0 chooses within pairs. When
    ``len(values)`` is not a power of two the last value fills the gaps, so an
    out-of-range ``sel`` returns some element (callers never rely on which).
    """
    from amaranth.hdl import Mux

    values = list(values)
    bit = 0
    while len(values) > 1:
        if len(values) % 2:
            values.append(values[-1])
        values = [Mux(sel[bit], values[i + 1], values[i]) for i in range(0, len(values), 2)]
        bit += 1
    return values[0]
