"""Weight formats of the dense baseline engines: signed integers and 2-bit ternary.

The baselines exist to be compared side by side with SST, so they keep its
framing: a row is cut into subvectors of N weights and each subvector is one
code word of ``B = N * b`` bits (``b`` bits per weight), weight ``j`` at
bits ``[j*b, (j+1)*b)`` of its word. There is no sparsity and no codebook:
every weight is stored.

* ``int8``: each weight a two's-complement integer of ``weight_width`` bits
  (2..16, default 8; the name stays ``int8`` whatever the width).
* ``ternary2``: each weight 2 bits in sign-magnitude, bit 0 = non-zero, bit
  1 = sign: ``00`` -> 0, ``01`` -> +1, ``11`` -> -1. ``10`` ("minus zero")
  decodes to 0 in the hardware and here, but :meth:`WeightFormat.pack` never
  produces it. Chosen so the decoder is wiring: bit 0 is the lane's "valid",
  bit 1 its "negate".

The all-zero code word (0) is the zero subvector in both formats, so padding
is the same as for SST. Pure NumPy; nothing here knows Amaranth.
"""

from __future__ import annotations

import numpy as np

from sst_hw.format.codebook import _check_int

__all__ = ["KINDS", "MAX_N", "MAX_WEIGHT_WIDTH", "TERNARY2_DECODE", "TERNARY2_ENCODE",
           "WeightFormat"]

#: Dense weight formats.
KINDS = ("int8", "ternary2")
#: Longest subvector (the SST limit too).
MAX_N = 64
#: Widest ``int8`` weight.
MAX_WEIGHT_WIDTH = 16
#: ``ternary2``: 2-bit field value -> weight (``10`` reads as 0).
TERNARY2_DECODE = (0, 1, 0, -1)
#: ``ternary2``: weight -> the field value :meth:`WeightFormat.pack` writes.
TERNARY2_ENCODE = {-1: 0b11, 0: 0b00, 1: 0b01}


class WeightFormat:
    """A dense weight format: N weights of ``b`` bits per code word.

    Parameters
    ----------
    kind : str
        ``"int8"`` or ``"ternary2"``.
    n : int
        Weights per code word (subvector length), 1..64.
    weight_width : int, optional
        ``int8`` only: bits per weight, 2..16 (default 8). ``ternary2``
        accepts only ``None`` or 2.

    Attributes
    ----------
    bits_per_weight : int
        ``b``.
    code_bits : int
        ``B = N * b``.
    lo, hi : int
        Inclusive range of one weight.
    zero_code : int
        0, the zero subvector.
    """

    zero_code = 0
    signed = True

    def __init__(self, kind: str, n: int, weight_width: int | None = None):
        if kind not in KINDS:
            raise ValueError(f"weight kind must be one of {', '.join(map(repr, KINDS))}, "
                             f"not {kind!r}")
        self.kind = kind
        self.n = _check_int("n", n, 1, MAX_N)
        if kind == "int8":
            ww = 8 if weight_width is None else weight_width
            self.bits_per_weight = _check_int("weight_width", ww, 2, MAX_WEIGHT_WIDTH)
            self.lo = -(1 << (self.bits_per_weight - 1))
            self.hi = (1 << (self.bits_per_weight - 1)) - 1
        else:
            if weight_width not in (None, 2) or isinstance(weight_width, bool):
                raise ValueError(f"ternary2 weights are 2 bits; weight_width must be 2 "
                                 f"(or not given), not {weight_width!r}")
            self.bits_per_weight = 2
            self.lo, self.hi = -1, 1
        self.code_bits = self.n * self.bits_per_weight

    @property
    def weight_width(self) -> int:
        """Bits per weight (the same as :attr:`bits_per_weight`)."""
        return self.bits_per_weight

    @property
    def weight_range(self) -> tuple[int, int]:
        """Inclusive (lo, hi) of one weight."""
        return self.lo, self.hi

    def __repr__(self):
        return f"WeightFormat({self.kind!r}, {self.n}, weight_width={self.bits_per_weight})"

    def __eq__(self, other):
        return (isinstance(other, WeightFormat) and (self.kind, self.n, self.bits_per_weight)
                == (other.kind, other.n, other.bits_per_weight))

    def __hash__(self):
        return hash((self.kind, self.n, self.bits_per_weight))

    def describe_short(self) -> str:
        """E.g. ``"int8 (8 x 8 bits)"``."""
        return f"{self.kind} ({self.n} x {self.bits_per_weight} bits)"

    def sidecar(self) -> dict:
        """The JSON sidecar's ``weights`` section (see :mod:`sst_hw.emit.engine`)."""
        out = {"kind": self.kind, "bits_per_weight": self.bits_per_weight, "signed": True,
               "n": self.n, "code_bits": self.code_bits, "zero_code": self.zero_code,
               "range": [self.lo, self.hi]}
        if self.kind == "ternary2":
            out["encoding"] = {str(w): v for w, v in sorted(TERNARY2_ENCODE.items())}
            out["decode"] = list(TERNARY2_DECODE)
        return out

    # -- codes ------------------------------------------------------------------------------

    @property
    def _code_dtype(self):
        # uint64 holds codes of up to 64 bits; wider ones are Python ints.
        return np.uint64 if self.code_bits <= 64 else object

    def pack(self, weights) -> np.ndarray:
        """Code words of integer ``weights`` (shape ``(..., N)``).

        Returns an array of shape ``(...)``: ``uint64`` for codes of at most
        64 bits, else ``object`` (Python ints). Weights outside ``lo..hi``
        get a ``ValueError`` naming the first one.
        """
        w = np.asarray(weights)
        if w.dtype == object:
            if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                       for v in w.flat):
                raise ValueError("weights must be an integer array")
            w = w.astype(np.int64)
        elif not np.issubdtype(w.dtype, np.integer):
            raise ValueError(f"weights must be an integer array, not dtype {w.dtype}")
        if w.ndim == 0 or w.shape[-1] != self.n:
            raise ValueError(f"weights must have shape (..., {self.n}), not {w.shape}")
        if w.size:
            bad = (w < self.lo) | (w > self.hi)
            if bad.any():
                idx = tuple(int(i) for i in np.argwhere(bad)[0])
                raise ValueError(f"{self.kind} weight {int(w[idx])} at index {idx} is outside "
                                 f"{self.lo}..{self.hi}")
        w = w.astype(np.int64)
        b = self.bits_per_weight
        if self.kind == "int8":
            fields = w & ((1 << b) - 1)
        else:
            fields = np.where(w == 0, TERNARY2_ENCODE[0],
                              np.where(w > 0, TERNARY2_ENCODE[1], TERNARY2_ENCODE[-1]))
        dtype = self._code_dtype
        fields = fields.astype(dtype)
        shifts = (np.arange(self.n) * b).astype(dtype)
        if dtype is object:
            shifts = np.array([int(s) for s in shifts], dtype=object)
        return np.asarray(np.bitwise_or.reduce(np.left_shift(fields, shifts), axis=-1), dtype=dtype)

    def unpack(self, codes) -> np.ndarray:
        """The weights (int64, shape ``(..., N)``) of code words ``codes``.

        Codes must be integers in ``0..2^B - 1`` (a ``ValueError`` otherwise).
        ``ternary2`` fields ``10`` decode to 0.
        """
        c = np.asarray(codes)
        limit = 1 << self.code_bits
        if c.dtype == object:
            vals = list(c.flat)
            if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                       for v in vals):
                raise ValueError("codes must be an integer array")
            bad = [int(v) for v in vals if not 0 <= int(v) < limit]
        elif np.issubdtype(c.dtype, np.integer):
            bad = [] if not c.size else [int(v) for v in (c.min(), c.max())
                                         if not 0 <= int(v) < limit]
        else:
            raise ValueError(f"codes must be an integer array, not dtype {c.dtype}")
        if bad:
            raise ValueError(f"code {bad[0]} is outside 0..2^{self.code_bits}-1 "
                             f"({self.describe_short()})")
        b = self.bits_per_weight
        dtype = self._code_dtype
        if dtype is object:
            c = np.array([int(v) for v in c.flat], dtype=object).reshape(c.shape)
            shifts = np.array([j * b for j in range(self.n)], dtype=object)
            mask = (1 << b) - 1
        else:
            c = c.astype(np.uint64)
            shifts = (np.arange(self.n) * b).astype(np.uint64)
            mask = np.uint64((1 << b) - 1)
        fields = (np.right_shift(c[..., None], shifts) & mask).astype(np.int64)
        if self.kind == "int8":
            return fields - ((fields >> (b - 1)) << b)
        return np.array(TERNARY2_DECODE, np.int64)[fields]
