"""SST codebooks: which ternary subvectors are allowed and how they become bits.

A subvector is ``N`` consecutive weights of one output row, each in {-1, 0, +1}
and with at most ``K`` non-zeros. Two *variants* restrict where the non-zeros
may sit, two *assignments* turn a member into a code word (docs/architecture.md,
"The SST format"):

``full``
    any at most ``K`` of the ``N`` positions; ``M = sum_{c<=K} C(N, c) 2^c``.
``partitioned``
    the ``N`` positions are cut into ``K`` segments of ``L = N/K``; at most one
    non-zero per segment; ``M = (1 + 2L)^K``. Slot ``i`` of the decoder only
    ever selects among the inputs of segment ``i``.

``enum``
    ``B = ceil(log2 M)`` bits, canonical order: code 0 is the zero vector, then
    by number of non-zeros ``c``, then the sorted positions in lexicographic
    order, then the signs (``+`` before ``-``, first non-zero most
    significant). Decoded by a table (ROM).
``direct``
    slot fields read straight from the code bits (see :class:`Codebook`).
    Decoded by a few gates. Several codes may give the same vector.

Both variants are handled by one rank formula: a member picks ``c`` of ``G``
groups (strictly increasing) and an offset in ``[0, L)`` inside each; ``full``
is ``G = N, L = 1`` and ``partitioned`` is ``G = K, L = N/K``.

This module knows nothing of Amaranth or of training.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from math import comb

import numpy as np

__all__ = ["Codebook", "VARIANTS", "ASSIGNMENTS", "MAX_TABLE_BITS", "MAX_CODE_BITS"]

VARIANTS = ("full", "partitioned")
ASSIGNMENTS = ("enum", "direct")
N_RANGE = (2, 64)
#: Widest code whose whole decode table may be built (2^20 entries).
MAX_TABLE_BITS = 20
#: Widest code the vectorised encoder/decoder handles (codes are int64).
MAX_CODE_BITS = 62
#: Largest slot-tuple look-up table built for fast encoding ((2N+1)^K entries).
_LOOKUP_LIMIT = 1 << 20


def _check_int(name, value, lo, hi):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, not {value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be in {lo}..{hi}, not {value}")
    return int(value)


def _clog2(x: int) -> int:
    """Bits needed to count ``x`` distinct values (0 for x <= 1)."""
    return max(0, (int(x) - 1).bit_length())


@dataclass(frozen=True)
class Codebook:
    """The SST code for subvectors of ``n`` weights with at most ``k`` non-zeros.

    Parameters
    ----------
    n : int
        Subvector length N, 2..64.
    k : int
        Maximum non-zeros per subvector K, 1..N. ``partitioned`` needs N % K == 0.
    variant : str
        ``"full"`` or ``"partitioned"``.
    assignment : str
        ``"enum"`` or ``"direct"``.

    Direct code layout (bit 0 is the least significant bit of the code):

    * ``full``: K slot fields of ``P + 1`` bits, ``P = ceil(log2 N)``; slot ``i``
      at bits ``[i(P+1), (i+1)(P+1))``, position in the low P bits, sign in the
      top bit (1 = negative). A slot whose position equals an earlier slot's
      is a repeat and adds nothing; a repeat with the opposite sign also
      cancels the first slot at that position. For (8, 2) this is the rule
      "equal positions: one non-zero (equal signs) or the zero vector
      (different signs)". Codes with a position >= N are unused.
    * ``partitioned``, and ``full`` with K = 1 (one segment of N): K slot fields of ``F = ceil(log2(1 + 2L))`` bits; a field
      value ``v`` is 0 for "no non-zero in this segment", else offset
      ``(v-1) >> 1`` and sign ``(v-1) & 1`` (1 = negative). Values > 2L are unused.
    """

    n: int
    k: int
    variant: str = "full"
    assignment: str = "enum"

    def __post_init__(self):
        n = _check_int("N (subvector length)", self.n, *N_RANGE)
        k = _check_int("K (non-zeros per subvector)", self.k, 1, n)
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, not {self.variant!r}")
        if self.assignment not in ASSIGNMENTS:
            raise ValueError(
                f"assignment must be one of {', '.join(ASSIGNMENTS)}, not {self.assignment!r}")
        if self.variant == "partitioned" and n % k:
            raise ValueError(
                f"partitioned codebooks need N divisible by K, not N={n}, K={k}")
        object.__setattr__(self, "n", n)
        object.__setattr__(self, "k", k)

    # -- sizes -------------------------------------------------------------------

    @property
    def groups(self) -> int:
        """G: how many groups a non-zero can sit in (N for full, K for partitioned)."""
        return self.n if self.variant == "full" else self.k

    @property
    def group_len(self) -> int:
        """L: positions per group (1 for full, N/K for partitioned)."""
        return 1 if self.variant == "full" else self.n // self.k

    @cached_property
    def size(self) -> int:
        """M: the number of members (distinct allowed subvectors)."""
        return sum(self._count(c) for c in range(min(self.k, self.groups) + 1))

    def _count(self, c: int) -> int:
        """Members with exactly ``c`` non-zeros."""
        return comb(self.groups, c) * self.group_len ** c * 2 ** c

    @property
    def pos_bits(self) -> int:
        """Bits of an absolute position 0..N-1."""
        return _clog2(self.n)

    @property
    def _slot_fields(self) -> bool:
        """Direct layout: (position, sign) slot fields with the repeat rule
        (full, K >= 2), or one counted field per segment (partitioned, and
        full with K = 1, which is the same codebook with one segment)."""
        return self.variant == "full" and self.k >= 2

    @property
    def field_bits(self) -> int:
        """Bits of one slot field of a direct code."""
        if self._slot_fields:
            return self.pos_bits + 1
        return _clog2(1 + 2 * self.n // self.k)

    @cached_property
    def bits(self) -> int:
        """B: bits per code word."""
        if self.assignment == "enum":
            return max(1, _clog2(self.size))
        return self.k * self.field_bits

    @property
    def bits_per_weight(self) -> float:
        return self.bits / self.n

    @property
    def table_size(self) -> int:
        """Entries of the decode table (2^B code values)."""
        return 1 << self.bits

    @cached_property
    def zero_code(self) -> int:
        """The code of the all-zero subvector (used for padding)."""
        return int(self.encode_slots(np.zeros((1, self.k), np.int64),
                                     np.zeros((1, self.k), np.int64),
                                     np.zeros((1, self.k), bool))[0])

    def describe(self) -> dict:
        """JSON-ready summary (the CLI's ``codebook --json``)."""
        return {"n": self.n, "k": self.k, "variant": self.variant,
                "assignment": self.assignment, "size": self.size,
                "bits_per_code": self.bits, "bits_per_weight": self.bits_per_weight,
                "table_size": self.table_size}

    def _check_vectorised(self):
        if self.bits > MAX_CODE_BITS:
            raise ValueError(
                f"codes of {self.bits} bits (N={self.n}, K={self.k}) are wider than the "
                f"{MAX_CODE_BITS} bits the encoder and decoder handle")

    # -- member test ---------------------------------------------------------------

    def is_member(self, vectors) -> np.ndarray:
        """Whether each row of ``vectors`` (..., N) is in the codebook."""
        v = np.asarray(vectors)
        if v.shape[-1] != self.n:
            raise ValueError(f"vectors must have {self.n} columns, not {v.shape[-1]}")
        ok = np.all((v >= -1) & (v <= 1), axis=-1)
        nz = v != 0
        if self.variant == "full":
            return ok & (nz.sum(-1) <= self.k)
        seg = nz.reshape(*v.shape[:-1], self.k, self.group_len).sum(-1)
        return ok & np.all(seg <= 1, axis=-1)

    # -- slots <-> codes -------------------------------------------------------------

    def encode_slots(self, pos, neg, valid) -> np.ndarray:
        """Code words from up to K non-zeros per subvector.

        Parameters
        ----------
        pos, neg, valid : array (S, K)
            Absolute positions (0..N-1), signs (1 = negative) and presence of
            each non-zero. Valid positions must be distinct, and form a member
            (at most one per segment for ``partitioned``). Order is free.

        Returns
        -------
        int64 array (S,) of code words.
        """
        self._check_vectorised()
        pos = np.asarray(pos, np.int64)
        neg = np.asarray(neg, np.int64)
        valid = np.asarray(valid, bool)
        if pos.shape != valid.shape or neg.shape != valid.shape or pos.ndim != 2 \
                or pos.shape[1] != self.k:
            raise ValueError(f"pos, neg and valid must all have shape (S, {self.k}), not "
                             f"{pos.shape}, {neg.shape}, {valid.shape}")
        live_pos, live_neg = pos[valid], neg[valid]
        if live_pos.size and (live_pos.min() < 0 or live_pos.max() >= self.n):
            raise ValueError(f"slot positions must be in 0..{self.n - 1}")
        if live_neg.size and (live_neg.min() < 0 or live_neg.max() > 1):
            raise ValueError("slot signs must be 0 (+) or 1 (-)")
        if (2 * self.n + 1) ** self.k <= _LOOKUP_LIMIT:
            # Fast path: one table look-up per subvector, keyed by the slots as given.
            key = np.zeros(len(pos), np.int64)
            for i in range(self.k - 1, -1, -1):
                key = key * (2 * self.n + 1) + np.where(valid[:, i], 1 + 2 * pos[:, i] + neg[:, i], 0)
            codes = self._slot_lookup[key]
            if (codes < 0).any():
                raise ValueError(f"slots do not form a member of {self.describe_short()} "
                                 "(repeated position or two in one segment)")
            return codes
        return self._encode_sorted(pos, neg, valid)

    @cached_property
    def _slot_lookup(self) -> np.ndarray:
        """Code of every K-tuple of slot states (0 = empty, 1 + 2*pos + neg),
        -1 where the tuple is not a member."""
        base = 2 * self.n + 1
        tup = np.arange(base ** self.k, dtype=np.int64)
        state = np.stack([(tup // base ** i) % base for i in range(self.k)], 1)
        valid = state > 0
        pos = np.where(valid, (state - 1) >> 1, 0)
        neg = np.where(valid, (state - 1) & 1, 0)
        member = np.ones(len(tup), bool)
        for i in range(self.k):
            for j in range(i):
                member &= ~(valid[:, i] & valid[:, j] & (pos[:, i] == pos[:, j]))
        if self.variant == "partitioned":
            seg = pos // self.group_len
            for i in range(self.k):
                for j in range(i):
                    member &= ~(valid[:, i] & valid[:, j] & (seg[:, i] == seg[:, j]))
        codes = np.full(len(tup), -1, np.int64)
        codes[member] = self._encode_sorted(pos[member], neg[member], valid[member])
        return codes

    def _encode_sorted(self, pos, neg, valid):
        # Sort each row: valid slots first, by position (invalid slots sort last).
        key = np.where(valid, pos, self.n + 1)
        pos, neg, valid = _sort_slots(key, pos, neg, valid)
        if self.assignment == "enum":
            return self._rank(pos, neg, valid)
        return self._pack_direct(pos, neg, valid)

    def _rank(self, pos, neg, valid):
        G, L = self.groups, self.group_len
        c = valid.sum(1)
        grp, off = pos // L, pos % L
        comb_tab = _comb_table(G + 1)
        offsets = np.array([0] + list(np.cumsum([self._count(i) for i in range(self.k + 1)])),
                           np.int64)
        rank = np.zeros(len(c), np.int64)
        signs = np.zeros(len(c), np.int64)
        start = np.zeros(len(c), np.int64)
        for i in range(self.k):
            live = valid[:, i]
            r = np.maximum(c - i, 0)              # elements still to place, this one included
            lp = L ** np.maximum(r - 1, 0)
            g = np.where(live, grp[:, i], 0)
            term = (L * lp * (comb_tab[G - start, r] - comb_tab[G - g, r])
                    + off[:, i] * comb_tab[np.maximum(G - 1 - g, 0), np.maximum(r - 1, 0)] * lp)
            rank += np.where(live, term, 0)
            signs = np.where(live, signs * 2 + neg[:, i], signs)
            start = np.where(live, g + 1, start)
        return offsets[c] + rank * (np.int64(1) << c) + signs

    def _pack_direct(self, pos, neg, valid):
        F, k = self.field_bits, self.k
        S = len(pos)
        if self._slot_fields:
            c = valid.sum(1)
            # Fill unused slots with repeats of slot 0 (same position, same sign);
            # the zero vector is slot 0 (+) cancelled by repeats with sign (-).
            p0 = np.where(c > 0, pos[:, 0], 0)
            s0 = np.where(c > 0, neg[:, 0], 0)
            fpos = np.where(valid, pos, p0[:, None])
            fneg = np.where(valid, neg, np.where(c[:, None] > 0, s0[:, None], 1))
            fneg[:, 0] = np.where(c > 0, fneg[:, 0], 0)
            field = fpos | (fneg << self.pos_bits)
        else:
            L = self.n // k
            field = np.zeros((S, k), np.int64)
            seg = pos // L
            val = 1 + 2 * (pos % L) + neg
            for i in range(k):
                for s in range(k):
                    field[:, s] = np.where(valid[:, i] & (seg[:, i] == s), val[:, i], field[:, s])
        code = np.zeros(S, np.int64)
        for i in range(k):
            code |= field[:, i] << (i * F)
        return code

    def decode_slots(self, codes):
        """Slots from code words: what the hardware decoder produces.

        Returns ``(pos, neg, valid, used)``: arrays (S, K) of absolute position,
        sign (1 = negative) and validity per slot, and (S,) whether the code is
        used at all (unused codes decode to no valid slot). For ``full``/enum,
        the valid slots come first, in ascending position; for ``partitioned``,
        slot i always serves segment i.
        """
        self._check_vectorised()
        codes = np.asarray(codes, np.int64).reshape(-1)
        if self.assignment == "enum":
            return self._unrank(codes)
        return self._unpack_direct(codes)

    def _unrank(self, codes):
        G, L, K = self.groups, self.group_len, self.k
        S = len(codes)
        comb_tab = _comb_table(G + 1)
        counts = [self._count(i) for i in range(K + 1)]
        offsets = np.cumsum([0] + counts)
        used = (codes >= 0) & (codes < self.size)
        cc = np.where(used, codes, 0)
        c = np.searchsorted(offsets, cc, side="right") - 1
        r = cc - offsets[c]
        signs = r & ((np.int64(1) << c) - 1)
        rank = r >> c
        pos = np.zeros((S, K), np.int64)
        neg = np.zeros((S, K), np.int64)
        valid = np.zeros((S, K), bool)
        start = np.zeros(S, np.int64)
        for i in range(K):
            live = i < c
            rem = np.maximum(c - i - 1, 0)        # elements after this one
            lp = L ** rem
            g = start.copy()
            # Walk groups: skip group g while rank >= (combinations starting at g).
            for _ in range(G):
                blk = L * lp * comb_tab[np.maximum(G - 1 - g, 0), rem]
                blk = np.where(g < G, blk, 0)
                step = live & (g < G) & (rank >= blk) & (blk > 0)
                rank = np.where(step, rank - blk, rank)
                g = np.where(step, g + 1, g)
            per_off = lp * comb_tab[np.maximum(G - 1 - g, 0), rem]
            off = np.where(live, rank // np.maximum(per_off, 1), 0)
            rank = np.where(live, rank - off * per_off, rank)
            pos[:, i] = np.where(live, g * L + off, 0)
            valid[:, i] = live
            start = np.where(live, g + 1, start)
        for i in range(K):
            live = i < c
            shift = np.maximum(c - 1 - i, 0)
            neg[:, i] = np.where(live, (signs >> shift) & 1, 0)
        if self.variant == "partitioned":
            # Slot i serves segment i.
            pos, neg, valid = _to_segment_slots(pos, neg, valid, L, K)
        return pos, neg, valid, used

    def _unpack_direct(self, codes):
        F, K = self.field_bits, self.k
        S = len(codes)
        used = (codes >= 0) & (codes < (np.int64(1) << self.bits))
        field = np.stack([(codes >> (i * F)) & ((1 << F) - 1) for i in range(K)], 1)
        if self._slot_fields:
            pos = field & ((1 << self.pos_bits) - 1)
            neg = field >> self.pos_bits
            used &= np.all(pos < self.n, axis=1)
            valid = np.ones((S, K), bool)
            for i in range(K):
                for j in range(K):
                    if j < i:   # a repeat of an earlier slot adds nothing
                        valid[:, i] &= pos[:, j] != pos[:, i]
                    elif j > i:  # a later repeat of opposite sign cancels this slot
                        valid[:, i] &= ~((pos[:, j] == pos[:, i]) & (neg[:, j] != neg[:, i]))
        else:
            L = self.n // K
            used &= np.all(field <= 2 * L, axis=1)
            valid = field > 0
            v = np.maximum(field - 1, 0)
            pos = np.arange(K)[None, :] * L + (v >> 1)
            neg = v & 1
        valid &= used[:, None]
        pos = np.where(valid, pos, 0)
        neg = np.where(valid, neg, 0)
        return pos, neg, valid, used

    # -- vectors <-> codes -------------------------------------------------------------

    def decode(self, codes) -> np.ndarray:
        """Ternary vectors (S, N) int8 of code words (S,). Unused codes raise."""
        codes = np.asarray(codes)
        pos, neg, valid, used = self.decode_slots(codes)
        if not used.all():
            bad = codes.reshape(-1)[~used][0]
            raise ValueError(f"code {int(bad)} is not a used code of this codebook "
                             f"({self.describe_short()})")
        return _slots_to_vectors(pos, neg, valid, self.n).reshape(*codes.shape, self.n)

    def encode(self, vectors) -> np.ndarray:
        """Code words (S,) of ternary vectors (S, N); non-members raise."""
        v = np.asarray(vectors)
        if v.ndim != 2 or v.shape[1] != self.n:
            raise ValueError(f"vectors must have shape (S, {self.n}), not {v.shape}")
        member = self.is_member(v)
        if not member.all():
            bad = v[~member][0]
            raise ValueError(f"vector {bad.tolist()} is not a member of {self.describe_short()}")
        nz = v != 0
        # Up to K non-zero positions per row, in ascending order.
        order = np.argsort(~nz, axis=1, kind="stable")[:, :self.k]
        valid = np.take_along_axis(nz, order, 1)
        neg = (np.take_along_axis(v, order, 1) < 0).astype(np.int64)
        return self.encode_slots(order, neg, valid)

    def describe_short(self) -> str:
        return f"{self.variant}/{self.assignment} ({self.n},{self.k})"

    # -- whole tables -------------------------------------------------------------------

    def _check_table(self):
        if self.bits > MAX_TABLE_BITS:
            raise ValueError(
                f"the decode table of {self.describe_short()} has 2^{self.bits} entries; "
                f"tables are built up to 2^{MAX_TABLE_BITS}")

    @cached_property
    def table(self):
        """Decode table over all 2^B code values: ``(pos, neg, valid, used)``,
        arrays (2^B, K), (2^B, K), (2^B, K), (2^B,)."""
        self._check_table()
        return self.decode_slots(np.arange(self.table_size, dtype=np.int64))

    @cached_property
    def vectors(self) -> np.ndarray:
        """Ternary vector (2^B, N) int8 of every code value (zeros where unused)."""
        pos, neg, valid, _ = self.table
        return _slots_to_vectors(pos, neg, valid, self.n)

    @property
    def used(self) -> np.ndarray:
        """(2^B,) bool: whether each code value is used."""
        return self.table[3]

    def vector_list(self) -> list:
        """``vectors[c]`` as lists of N ints, ``None`` for unused code values (sidecars)."""
        vec, used = self.vectors, self.used
        return [vec[c].tolist() if used[c] else None for c in range(self.table_size)]


def _sort_slots(key, pos, neg, valid):
    """Reorder each row's slots by ascending ``key``. Small K (the usual case)
    uses an odd-even transposition network of compare-swaps, which is much
    faster than an arg-sort over a short axis."""
    k = key.shape[1]
    if k > 8:
        order = np.argsort(key, axis=1, kind="stable")
        return tuple(np.take_along_axis(a, order, 1) for a in (pos, neg, valid))
    key, pos, neg, valid = (np.array(a) for a in (key, pos, neg, valid))
    for rnd in range(k):
        for i in range(rnd % 2, k - 1, 2):
            swap = key[:, i] > key[:, i + 1]
            if not swap.any():
                continue
            for a in (key, pos, neg, valid):
                lo, hi = a[:, i].copy(), a[:, i + 1]
                a[:, i] = np.where(swap, hi, lo)
                a[:, i + 1] = np.where(swap, lo, hi)
    return pos, neg, valid


def _slots_to_vectors(pos, neg, valid, n):
    S, K = pos.shape
    out = np.zeros((S, n), np.int8)
    rows = np.arange(S)
    for i in range(K):
        sel = valid[:, i]
        out[rows[sel], pos[sel, i]] = np.where(neg[sel, i] == 1, -1, 1)
    return out


def _to_segment_slots(pos, neg, valid, L, K):
    S = len(pos)
    p2 = np.zeros((S, K), np.int64)
    n2 = np.zeros((S, K), np.int64)
    v2 = np.zeros((S, K), bool)
    seg = pos // L
    for i in range(K):
        for s in range(K):
            hit = valid[:, i] & (seg[:, i] == s)
            p2[:, s] = np.where(hit, pos[:, i], p2[:, s])
            n2[:, s] = np.where(hit, neg[:, i], n2[:, s])
            v2[:, s] |= hit
    return p2, n2, v2


_COMB_CACHE: dict = {}


def _comb_table(size: int) -> np.ndarray:
    """C(a, b) for 0 <= a, b < size as int64 (0 where b > a); saturates at 2^62."""
    t = _COMB_CACHE.get(size)
    if t is None:
        t = np.array([[min(comb(a, b), 1 << 62) for b in range(size)] for a in range(size)],
                     np.int64)
        _COMB_CACHE[size] = t
    return t
