"""Parameter checks and width helpers shared by the RTL components.

Nothing here builds hardware; the functions check Python values and compute
integer widths, so the components can state their errors the same way.
"""

from __future__ import annotations

from sst_hw.format.arith import signed_width

__all__ = ["check_int", "check_bool", "check_choice", "clog2", "range_width", "mux_tree",
           "checked_init"]


def checked_init(init):
    """Decorate a component's ``__init__``: when a parameter check raises, the
    half-built object is marked so Amaranth does not also warn that it was
    "created but never used"."""
    import functools

    @functools.wraps(init)
    def wrapper(self, *args, **kwargs):
        try:
            init(self, *args, **kwargs)
        except Exception:
            self._MustUse__silence = True
            raise
    return wrapper


def check_int(name: str, value, lo: int = 1, hi: int | None = None) -> int:
    """``value`` as an ``int`` in ``lo..hi``, or a ``TypeError``/``ValueError``
    naming it, e.g. "pe must be a positive integer, not 0"."""
    if lo == 1 and hi is None:
        what = "a positive integer"
    elif lo == 0 and hi is None:
        what = "a non-negative integer"
    elif hi is None:
        what = f"an integer >= {lo}"
    else:
        what = f"an integer in {lo}..{hi}"
    if isinstance(value, bool) or not isinstance(value, int):
        # numpy integers are accepted as integers too.
        try:
            import numpy as np
            if isinstance(value, np.integer) and not isinstance(value, np.bool_):
                value = int(value)
            else:
                raise TypeError(f"{name} must be {what}, not {value!r}")
        except ImportError:  # pragma: no cover - numpy is a dependency
            raise TypeError(f"{name} must be {what}, not {value!r}") from None
    if value < lo or (hi is not None and value > hi):
        raise ValueError(f"{name} must be {what}, not {value}")
    return int(value)


def check_bool(name: str, value) -> bool:
    """``value`` if it is a ``bool``, else a ``TypeError`` naming it."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, not {value!r}")
    return value


def check_choice(name: str, value, choices) -> str:
    """``value`` if it is one of ``choices``, else a ``ValueError`` listing them."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, not {value!r}")
    return value


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
