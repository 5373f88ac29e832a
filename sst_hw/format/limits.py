"""Bounds of every size parameter, and the checks of parameter values, in one place.

The engine parameters (:mod:`sst_hw.plan.engine`), the network plan and the
command line all check their sizes against these ranges, so a user sees the
same allowed range wherever a size is given, and an absurd size (``--pe
100000``) is refused at once instead of elaborating for minutes. The bounds
are generous: the largest engine that placed and routed here (70 PE x 4 SIMD
on an ECP5 85F) has 280 lanes.

:func:`check_int`, :func:`check_bool` and :func:`check_choice` are the
checks every other parameter goes through (the components of
:mod:`sst_hw.rtl` and :mod:`sst_hw.core` use them too), so all of them word
their errors the same way: "pe must be an integer in 1..256, not 0".
"""

from __future__ import annotations

__all__ = ["PE", "SIMD", "MAX_LANES", "MAX_ROW_LEN", "OUT_DEPTH", "TREE_STAGE_LEVELS",
           "FANOUT", "MAX_ACC_WIDTH", "check_size", "check_lanes", "check_int", "check_bool",
           "check_choice"]

#: Processing elements (output rows in flight), inclusive range.
PE = (1, 256)
#: Subvectors per beat, inclusive range.
SIMD = (1, 64)
#: Most lanes (PE x SIMD): about twice what fills the largest supported device.
MAX_LANES = 512
#: Longest row in weights (fixes the accumulator width), inclusive range.
MAX_ROW_LEN = (1, 1 << 20)
#: Output queue depth in rows.
OUT_DEPTH = (1, 64)
#: Adder-tree levels per pipeline stage (0: no pipeline registers in the tree).
TREE_STAGE_LEVELS = (0, 16)
#: Most PEs per copy of a broadcast register (0: one copy for all).
FANOUT = (0, 256)
#: Widest accumulator, in bits, the generator builds (and the requantizer takes).
MAX_ACC_WIDTH = 64


def check_size(name: str, value, bounds: tuple[int, int]) -> int:
    """``value`` as an ``int`` within ``bounds`` (inclusive), or a ``TypeError`` /
    ``ValueError`` naming it and the range, e.g. "pe must be an integer in
    1..256, not 100000"."""
    return check_int(name, value, *bounds)


def check_lanes(pe: int, simd: int) -> None:
    """Refuse an engine of more than :data:`MAX_LANES` lanes (``pe * simd``)."""
    if pe * simd > MAX_LANES:
        raise ValueError(f"pe x simd must be at most {MAX_LANES} lanes, not {pe} x {simd} = "
                         f"{pe * simd}")


def check_int(name: str, value, lo: int = 1, hi: int | None = None) -> int:
    """``value`` as an ``int`` in ``lo..hi`` (``hi`` None: no upper bound), or a
    ``TypeError``/``ValueError`` naming it, e.g. "count must be a positive
    integer, not 0". NumPy integers are accepted; ``bool`` is not."""
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
