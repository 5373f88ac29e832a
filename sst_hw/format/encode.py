"""Projection of float weight matrices onto SST codes, and back.

``encode_matrix(W, codebook)`` cuts each row of ``W`` (out x in) into
subvectors of N weights (the last zero-padded) and finds, per row, the scale
``alpha_r > 0`` and the members ``t`` that minimise ``||w_r - alpha_r t||^2``.

Why this is exact and fast: for a fixed alpha, the best member of a
subvector keeps the up-to-K largest magnitudes that exceed alpha/2, with their
signs (for ``partitioned``, the largest of each segment). Only those
*candidates* (the top K of each subvector, or the top 1 of each segment) can
ever be kept, and as alpha falls they join in order of magnitude. So the
optimum over (alpha, t) is a prefix of the row's candidates sorted by
magnitude: keeping the top m gives alpha = S_m / m and error
``sum w^2 - S_m^2 / m``; we take the m that maximises ``S_m^2 / m``. That is
one sort per row instead of an iterative search, and it is the global
optimum, not a local one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sst_hw.format.codebook import Codebook

__all__ = ["Encoded", "encode_matrix", "project", "project_slots", "decode_matrix", "pack_codes",
           "unpack_codes", "check_weights"]


@dataclass
class Encoded:
    """An SST-coded matrix.

    Attributes
    ----------
    codes : int64 array (out, S)
        Code word of each row's S = ceil(in / N) subvectors.
    alpha : float32 array (out,)
        Per-row positive scale: the float weight is ``alpha_r * t``.
    in_features : int
        Row length before padding.
    codebook : Codebook
    """

    codes: np.ndarray
    alpha: np.ndarray
    in_features: int
    codebook: Codebook

    def ternary(self) -> np.ndarray:
        """The (out, in) int8 ternary matrix."""
        return decode_matrix(self.codes, self.codebook, self.in_features)

    def weights(self) -> np.ndarray:
        """The (out, in) float32 matrix ``alpha_r * t``."""
        return self.ternary().astype(np.float32) * self.alpha[:, None]


def check_weights(w, name="weights") -> np.ndarray:
    """``w`` as a float64 matrix; refuse wrong rank, emptiness and NaN/inf."""
    w = np.asarray(w)
    if w.ndim != 2:
        raise ValueError(f"{name} must be a 2-D matrix (out x in), not of rank {w.ndim}")
    if w.shape[0] == 0 or w.shape[1] == 0:
        raise ValueError(f"{name} must not be empty, shape is {w.shape}")
    if not np.issubdtype(w.dtype, np.number) or np.iscomplexobj(w):
        raise ValueError(f"{name} must be real numbers, not dtype {w.dtype}")
    w = w.astype(np.float64, copy=False)
    bad = ~np.isfinite(w)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise ValueError(f"{name} must be finite, but [{r}, {c}] is {w[r, c]}")
    return w


def _subvectors(w: np.ndarray, n: int) -> np.ndarray:
    out, inf = w.shape
    s = -(-inf // n)
    if s * n != inf:
        w = np.pad(w, ((0, 0), (0, s * n - inf)))
    return w.reshape(out, s, n)


def _top_k_columns(mag: np.ndarray, k: int) -> np.ndarray:
    """Indices (R, k) of the k largest entries of each row of ``mag`` (R, N).

    For short rows, an insertion pass over the N columns of the transposed
    array (k running maxima, ties kept in column order) runs on contiguous
    vectors and beats ``argmax``/``argpartition`` on a short last axis.
    """
    cols = np.ascontiguousarray(mag.T)
    r = cols.shape[1]
    vals = [np.full(r, -1.0) for _ in range(k)]
    idxs = [np.zeros(r, np.int64) for _ in range(k)]
    for j in range(cols.shape[0]):
        v = cols[j]
        i = np.full(r, j, np.int64)
        for slot in range(k):
            better = v > vals[slot]
            if slot < k - 1:
                v, vals[slot] = np.where(better, vals[slot], v), np.where(better, v, vals[slot])
                i, idxs[slot] = np.where(better, idxs[slot], i), np.where(better, i, idxs[slot])
            else:
                vals[slot] = np.where(better, v, vals[slot])
                idxs[slot] = np.where(better, i, idxs[slot])
    return np.stack(idxs, 1)


def project_slots(w, codebook: Codebook):
    """Best (alpha, members) for each row of ``w``, as slots.

    Returns ``(alpha, pos, neg, valid)``: alpha (out,) float64 (1.0 for an
    all-zero row) and the kept non-zeros as arrays (out, S, K) of position in
    the subvector, sign (1 = negative) and presence.
    """
    w = check_weights(w)
    n, k = codebook.n, codebook.k
    sub = _subvectors(w, n)
    out, s, _ = sub.shape
    flat = sub.reshape(-1, n)
    mag = np.abs(flat)
    rows = np.arange(flat.shape[0])
    if codebook.variant == "partitioned":
        # Candidates: the largest magnitude of each segment of N/K.
        L = n // k
        cand = mag.reshape(-1, k, L).argmax(2) + np.arange(k) * L
    elif k == n:
        cand = np.broadcast_to(np.arange(n), flat.shape)
    elif k <= 4 and n <= 32:
        cand = _top_k_columns(mag, k)
    else:
        cand = np.argpartition(-mag, k - 1, axis=1)[:, :k]
    # Gather through flat indices: much cheaper than 2-D fancy indexing.
    idx = (rows * n)[:, None] + cand
    picked = flat.ravel()[idx]
    cmag = np.abs(picked).reshape(out, s * k)
    neg = (picked < 0).astype(np.int64)
    # The best prefix of each row's candidates sorted by magnitude.
    smag = np.sort(cmag, axis=1)[:, ::-1]
    csum = np.cumsum(smag, axis=1)
    gain = csum * csum / np.arange(1, smag.shape[1] + 1)
    gain[smag <= 0] = -1.0                       # never keep an exact zero
    # The gain is convex along a run of equal magnitudes, so its maximum sits
    # at the end of a run: only those prefixes are candidates, and a
    # threshold on the magnitude then keeps exactly that prefix.
    gain[:, :-1][smag[:, :-1] == smag[:, 1:]] = -1.0
    best = np.argmax(gain, axis=1)
    r = np.arange(out)
    keep = gain[r, best] > 0
    thr = np.where(keep, smag[r, best], np.inf)
    alpha = np.where(keep, csum[r, best] / (best + 1), 1.0)
    valid = (cmag >= thr[:, None]).reshape(out, s, k)
    return alpha, cand.reshape(out, s, k), neg.reshape(out, s, k), valid


def project(w, codebook: Codebook):
    """Like :func:`project_slots`, plus the ternary subvectors ``t`` (out, S, N) int8
    as the first element: ``(t, alpha, pos, neg, valid)``."""
    alpha, pos, neg, valid = project_slots(w, codebook)
    out, s, k = pos.shape
    t = np.zeros((out, s, codebook.n), np.int8)
    np.put_along_axis(t, pos, np.where(valid, 1 - 2 * neg, 0).astype(np.int8), 2)
    return t, alpha, pos, neg, valid


def encode_matrix(w, codebook: Codebook) -> Encoded:
    """Encode a float (out x in) matrix: per-row alpha and SST codes.

    Raises ValueError for NaN/inf, a rank other than 2 or an empty matrix.
    """
    w = check_weights(w)
    alpha, pos, neg, valid = project_slots(w, codebook)
    out, s, kk = pos.shape
    codes = codebook.encode_slots(pos.reshape(-1, kk), neg.reshape(-1, kk),
                                  valid.reshape(-1, kk)).reshape(out, s)
    return Encoded(codes, alpha.astype(np.float32), w.shape[1], codebook)


def decode_matrix(codes, codebook: Codebook, in_features: int) -> np.ndarray:
    """The (out, in) int8 ternary matrix of codes (out, S); refuses a padding
    subvector that is not zero beyond ``in_features``."""
    codes = np.asarray(codes)
    if codes.ndim != 2:
        raise ValueError(f"codes must be a 2-D array (out x subvectors), not of rank {codes.ndim}")
    s = -(-in_features // codebook.n)
    if codes.shape[1] != s:
        raise ValueError(f"codes must have {s} subvectors per row for {in_features} inputs "
                         f"with N={codebook.n}, not {codes.shape[1]}")
    t = codebook.decode(codes).reshape(codes.shape[0], -1)
    if np.any(t[:, in_features:]):
        raise ValueError("codes put non-zeros in the padding beyond the row length "
                         f"{in_features}")
    return t[:, :in_features]


def pack_codes(codes, bits: int, word_width: int) -> np.ndarray:
    """Pack B-bit codes into memory words of ``word_width`` bits.

    Bit order: word ``w`` holds codes ``w*P .. w*P + P-1`` with
    ``P = word_width // bits`` codes per word; code ``w*P + i`` sits at bits
    ``[i*bits, (i+1)*bits)`` (code i of a word in the least significant bits).
    Codes never straddle two words; unused high bits and the tail of the last
    word are zero. Returns uint64 words for ``word_width <= 64``, else an
    object array of Python ints.
    """
    codes = np.asarray(codes).reshape(-1)
    if not isinstance(bits, int) or not 1 <= bits <= 62:
        raise ValueError(f"bits must be an integer in 1..62, not {bits!r}")
    if not isinstance(word_width, int) or word_width < bits:
        raise ValueError(f"word width must be an integer of at least {bits} bits, not {word_width!r}")
    if codes.size and (codes.min() < 0 or codes.max() >= (1 << bits)):
        raise ValueError(f"codes must be in 0..{(1 << bits) - 1} for {bits} bits")
    per = word_width // bits
    nwords = -(-codes.size // per)
    padded = np.zeros(nwords * per, np.int64)
    padded[:codes.size] = codes
    grid = padded.reshape(nwords, per)
    if word_width <= 64:
        words = np.zeros(nwords, np.uint64)
        for i in range(per):
            words |= grid[:, i].astype(np.uint64) << np.uint64(i * bits)
        return words
    words = np.zeros(nwords, object)
    for i in range(per):
        words += grid[:, i].astype(object) << (i * bits)
    return words


def unpack_codes(words, bits: int, word_width: int, count: int) -> np.ndarray:
    """Inverse of :func:`pack_codes`: the first ``count`` codes, int64."""
    per = word_width // bits
    words = np.asarray(words)
    if count > len(words) * per:
        raise ValueError(f"{len(words)} words of {per} codes hold fewer than {count} codes")
    mask = (1 << bits) - 1
    cols = []
    for i in range(per):
        if words.dtype == object:
            cols.append(np.array([(int(x) >> (i * bits)) & mask for x in words], np.int64))
        else:
            cols.append(((words >> np.uint64(i * bits)) & np.uint64(mask)).astype(np.int64))
    return np.stack(cols, 1).reshape(-1)[:count]
