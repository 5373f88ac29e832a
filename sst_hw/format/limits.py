"""Bounds of every size parameter, in one place.

The engine, the network plan and the command line all check their sizes
against these ranges, so a user sees the same allowed range wherever a size
is given, and an absurd size (``--pe 100000``) is refused at once instead of
elaborating for minutes. The bounds are generous: the largest engine that
placed and routed here (70 PE x 4 SIMD on an ECP5 85F) has 280 lanes.
"""

from __future__ import annotations

__all__ = ["PE", "SIMD", "MAX_LANES", "MAX_ROW_LEN", "OUT_DEPTH", "TREE_STAGE_LEVELS",
           "FANOUT", "check_size", "check_lanes"]

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


def check_size(name: str, value, bounds: tuple[int, int]) -> int:
    """``value`` as an ``int`` within ``bounds`` (inclusive), or a ``TypeError`` /
    ``ValueError`` naming it and the range, e.g. "pe must be an integer in
    1..256, not 100000"."""
    lo, hi = bounds
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an integer in {lo}..{hi}, not {value!r}")
    try:
        import numpy as np
        if isinstance(value, np.integer):
            value = int(value)
    except ImportError:  # pragma: no cover - numpy is a dependency
        pass
    if not isinstance(value, int):
        raise TypeError(f"{name} must be an integer in {lo}..{hi}, not {value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be an integer in {lo}..{hi}, not {value}")
    return value


def check_lanes(pe: int, simd: int) -> None:
    """Refuse an engine of more than :data:`MAX_LANES` lanes (``pe * simd``)."""
    if pe * simd > MAX_LANES:
        raise ValueError(f"pe x simd must be at most {MAX_LANES} lanes, not {pe} x {simd} = "
                         f"{pe * simd}")
