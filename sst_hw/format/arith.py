"""Integer widths of the arithmetic contract (docs/architecture.md, "Integer arithmetic").

Shared by the golden model and the RTL generator, so both agree on every
width. Pure integer maths; no NumPy arrays, no Amaranth.
"""

from __future__ import annotations

__all__ = ["act_range", "max_nonzeros", "acc_range", "signed_width", "acc_width",
           "MULT_BITS", "SHIFT_MAX", "FLOAT_EXACT_BITS", "mult_range", "add_range",
           "requant_width", "product_range", "dense_acc_range"]

#: Bits of a requantization multiplier ``M_r`` (two's complement).
MULT_BITS = 16
#: Largest requantization shift ``S_l`` (the sum ``acc*M + C`` is at most 64 bits).
SHIFT_MAX = 63
#: Widest signed accumulator whose dot products float64 (53-bit mantissa)
#: computes exactly, every partial sum included.
FLOAT_EXACT_BITS = 52


def act_range(width: int, signed: bool) -> tuple[int, int]:
    """Inclusive (lo, hi) of an activation of ``width`` bits."""
    if isinstance(width, bool) or not isinstance(width, int) or not 1 <= width <= 32:
        raise ValueError(f"activation width must be an integer in 1..32, not {width!r}")
    if signed:
        if width < 2:
            raise ValueError(f"signed activations need at least 2 bits, not {width}")
        return -(1 << (width - 1)), (1 << (width - 1)) - 1
    return 0, (1 << width) - 1


def max_nonzeros(row_len: int, n: int, k: int) -> int:
    """Most non-zero weights a row of ``row_len`` weights can hold: K per
    subvector of N (the last one zero-padded), never more than the row."""
    if isinstance(row_len, bool) or not isinstance(row_len, int) or row_len < 1:
        raise ValueError(f"row length must be a positive integer, not {row_len!r}")
    full, rest = divmod(row_len, n)
    return full * k + min(k, rest)


def acc_range(row_len: int, n: int, k: int, act_width: int, act_signed: bool) -> tuple[int, int]:
    """Inclusive (lo, hi) of ``sum_j t_j x_j`` over a row: the worst case with
    every non-zero at the largest |x| of either sign."""
    lo, hi = act_range(act_width, act_signed)
    mag = max(-lo, hi)
    nz = max_nonzeros(row_len, n, k)
    return -nz * mag, nz * mag


def signed_width(lo: int, hi: int) -> int:
    """Fewest bits of a two's-complement integer that holds every value in [lo, hi]."""
    w = 1
    while not (-(1 << (w - 1)) <= lo and hi <= (1 << (w - 1)) - 1):
        w += 1
    return w


def acc_width(row_len: int, n: int, k: int, act_width: int, act_signed: bool) -> int:
    """W: bits of the signed accumulator that can never wrap for rows of up
    to ``row_len`` weights coded (N, K) with A-bit activations."""
    return signed_width(*acc_range(row_len, n, k, act_width, act_signed))


def product_range(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    """Inclusive (lo, hi) of ``x * y`` for ``x`` in ``a`` and ``y`` in ``b``
    (both inclusive ranges): the extremes are products of the endpoints."""
    ends = [x * y for x in a for y in b]
    return min(ends), max(ends)


def dense_acc_range(row_len: int, weight_range: tuple[int, int], act_width: int,
                    act_signed: bool) -> tuple[int, int]:
    """Inclusive (lo, hi) of ``sum_j w_j x_j`` over a dense row of ``row_len``
    weights in ``weight_range`` and A-bit activations: ``row_len`` times the
    per-weight product range (weight range x activation range). Padding
    weights are zero, so a row never has more than ``row_len`` products."""
    if isinstance(row_len, bool) or not isinstance(row_len, int) or row_len < 1:
        raise ValueError(f"row length must be a positive integer, not {row_len!r}")
    lo, hi = product_range(tuple(weight_range), act_range(act_width, act_signed))
    return row_len * min(lo, 0), row_len * max(hi, 0)


def mult_range() -> tuple[int, int]:
    """Inclusive (lo, hi) of a requantization multiplier ``M_r``: 16-bit signed."""
    return -(1 << (MULT_BITS - 1)), (1 << (MULT_BITS - 1)) - 1


def requant_width(acc_w: int) -> int:
    """Bits of ``acc * M + C`` for a ``acc_w``-bit accumulator: the product of a
    W-bit and a 16-bit signed integer takes W + 16 bits, adding ``C`` one more."""
    if isinstance(acc_w, bool) or not isinstance(acc_w, int) or acc_w < 1:
        raise ValueError(f"accumulator width must be a positive integer, not {acc_w!r}")
    return acc_w + MULT_BITS + 1


def add_range(acc_w: int) -> tuple[int, int]:
    """Inclusive (lo, hi) of a requantization constant ``C_r`` for a ``acc_w``-bit
    accumulator: C fits the product's W + 16 bits, so ``acc*M + C`` fits
    :func:`requant_width` bits and can never wrap."""
    w = requant_width(acc_w) - 1
    return -(1 << (w - 1)), (1 << (w - 1)) - 1
