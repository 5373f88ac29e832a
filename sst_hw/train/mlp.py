"""A NumPy trainer of multi-layer perceptrons into SST form.

The network: ``in -> [SST linear -> batch norm -> ReLU] x H -> SST linear ->
logits``. Every layer's weights are SST-coded (first and last included).

Training runs in three phases (Boo & Sung 2017, section III):

``float``
    float pre-training of the latent weights ``V``.
``prune``
    gradual pruning into the SST structure: the forward pass keeps, in every
    subvector of N weights, only the ``keep`` largest magnitudes (for
    ``partitioned``, the ``ceil(keep / K)`` largest of each segment), and
    ``keep`` falls from N to K along a cubic schedule over the first 3/4 of the
    phase, then stays at K. The gradient reaches every latent weight (a
    straight-through mask), so a pruned weight can grow back.
``sst``
    ternary fine-tuning with a straight-through estimator: the forward pass
    uses ``alpha_r * t_r`` from the exact SST projection
    (:func:`sst_hw.format.encode.project`), the backward pass updates the latent float
    weights as if the projection were the identity.

In every phase the latent weights first go through *weight-distribution
normalization*: each row of a hidden layer is normalized to zero mean and unit
standard deviation (the last layer as a whole), so the projection's ternary
threshold ``alpha/2`` always sits at the same place in the distribution and
the scale of ``V`` does not matter. Batch normalization after each hidden
layer makes the network invariant to the per-row scale ``alpha_r``; it is
folded into the per-row multiplier and constant at export.

The last layer has no batch norm and no bias, and its scale ``alpha`` is one
per layer: the integer network returns its raw accumulators and classifies by
their arg-max, which per-row scales or biases would change. A learnt scalar
temperature ``tau`` scales its logits in training only (it never changes the
arg-max).

``shift_only`` trains for multiplier-free requantization (every ``M_r = 1``):
the hidden layers' ``alpha`` is one per layer too, and their batch norm
divides by one standard deviation for the whole layer (per-row mean and
bias, no per-row gain), so every row of a layer has the same gain.

Everything is float32 and seeded: the same seed gives the same weights
(training runs BLAS on one thread by default, see :class:`Schedule`).

Speed (Fashion-MNIST 784-1024-1024-10, batch 256): a step is a few BLAS
matrix products plus, in the ``prune`` and ``sst`` phases, the structure of
every layer recomputed from the latent weights. Those use running maxima over
the transposed subvectors (:func:`_kth_largest`, :func:`_running_top`) rather
than ``argpartition`` or the generic slot encoder, and :func:`sst_dense`
builds the dense float32 SST weights directly, falling back to the exact
:func:`sst_weights` only for rows with ties. Batch-norm statistics after each
phase use at most 20000 training samples.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from sst_hw.format.codebook import Codebook
from sst_hw.format.encode import project

__all__ = ["MLP", "Schedule", "Adam", "Progress", "BlasThreads", "TrainResult", "train", "PHASES",
           "run_phases", "structured_mask", "sst_weights", "sst_dense", "keep_schedule", "accuracy",
           "init_std", "training_seeds", "continue_model"]

PHASES = ("float", "prune", "sst")
BN_EPS = 1e-5
_STD_EPS = 1e-8
#: Latent weights start at standard deviation _INIT_GAIN / sqrt(fan_in). The
#: normalized weights do not depend on that scale, but Adam's steps do not
#: either, so it sets the effective (relative) learning rate of ``V``.
_INIT_GAIN = 0.5


def init_std(fan_in: int) -> float:
    """Standard deviation of the initial latent weights of a row of ``fan_in``
    weights, ``_INIT_GAIN / sqrt(fan_in)``; an imported network's weights are
    rescaled to it (:mod:`sst_hw.train.onnx_import`) so that fine-tuning takes
    the steps training would."""
    return _INIT_GAIN / math.sqrt(fan_in)


# -- SST structure helpers ----------------------------------------------------------------------


def _padded(w: np.ndarray, n: int) -> np.ndarray:
    out, inf = w.shape
    s = -(-inf // n)
    return np.pad(w, ((0, 0), (0, s * n - inf))) if s * n != inf else w


def _kth_largest(sub: np.ndarray, k: int) -> np.ndarray:
    """The ``k``-th largest value (1-based) of every row of ``sub`` (R, W), float32 (R,).

    A running insertion over the W columns of the transposed array: ``j``
    running maxima (``j = k``) or minima (``j = W - k + 1``, whichever is
    fewer), two element-wise ops per column and slot on contiguous vectors.
    Much faster than ``partition``/``argpartition`` along a short last axis."""
    width = sub.shape[1]
    cols = np.ascontiguousarray(sub.T)
    largest = k <= width - k + 1
    j = k if largest else width - k + 1
    keep_op, pass_op = (np.maximum, np.minimum) if largest else (np.minimum, np.maximum)
    fill = -np.inf if largest else np.inf
    tops = [cols[0].copy()] + [np.full(cols.shape[1], fill, cols.dtype) for _ in range(j - 1)]
    tmp = np.empty_like(tops[0])
    for c in range(1, width):
        v = cols[c].copy()
        for i in range(j):
            pass_op(tops[i], v, out=tmp)
            keep_op(tops[i], v, out=tops[i])
            v, tmp = tmp, v
    return tops[j - 1]


def _running_top(sub: np.ndarray, k: int) -> list:
    """The ``k`` largest values of every row of ``sub`` (R, W), as ``k`` arrays
    (R,), largest first (see :func:`_kth_largest`)."""
    cols = np.ascontiguousarray(sub.T)
    tops = [cols[0].copy()] + [np.full(cols.shape[1], -np.inf, cols.dtype) for _ in range(k - 1)]
    tmp = np.empty_like(tops[0])
    for c in range(1, sub.shape[1]):
        v = cols[c].copy()
        for i in range(k):
            np.minimum(tops[i], v, out=tmp)
            np.maximum(tops[i], v, out=tops[i])
            v, tmp = tmp, v
    return tops


def structured_mask(w: np.ndarray, codebook: Codebook, keep: int) -> np.ndarray:
    """0/1 float32 mask (out, in) keeping, per subvector of N, the ``keep``
    largest magnitudes (``full``), or the ``ceil(keep / K)`` largest of each of
    the K segments (``partitioned``). ``keep >= N`` keeps everything.

    Groups with ties at the threshold are settled by ``argpartition`` (exactly
    ``keep`` survive); the rest by comparing with the ``keep``-th largest
    magnitude (:func:`_kth_largest`)."""
    n, k = codebook.n, codebook.k
    out, inf = w.shape
    if keep >= n:
        return np.ones_like(w, dtype=np.float32)
    mag = np.abs(_padded(np.asarray(w, np.float32), n))
    if codebook.variant == "partitioned":
        width = n // k
        kk = min(width, -(-keep // k))
    else:
        width, kk = n, keep
    if kk >= width:
        return np.ones((out, inf), np.float32)
    sub = mag.reshape(-1, width)
    kth = _kth_largest(sub, kk)
    hit = sub >= kth[:, None]
    mask = hit.astype(np.float32)
    over = np.flatnonzero(mask.sum(1) > kk)
    if over.size:                       # ties: keep exactly kk, lowest-index rule of argpartition
        m = np.zeros((over.size, width), np.float32)
        idx = np.argpartition(-sub[over], kk - 1, axis=-1)[:, :kk]
        np.put_along_axis(m, idx, 1.0, axis=-1)
        mask[over] = m
    return mask.reshape(out, -1)[:, :inf]


def sst_weights(w: np.ndarray, codebook: Codebook, per_row: bool = True):
    """The SST projection of ``w`` (out, in): ``(t, alpha)`` with ``t`` int8
    (out, in) in {-1, 0, +1} and ``alpha`` float64 (out,) > 0, minimising
    ``||w - alpha t||``. ``per_row=False`` finds one ``alpha`` for the whole
    matrix (the same value repeated in every row): exact too, by projecting
    the matrix as one long row (its subvectors are the same)."""
    out, inf = w.shape
    n = codebook.n
    if per_row:
        t, alpha, *_ = project(w, codebook)
        return t.reshape(out, -1)[:, :inf], alpha
    flat = _padded(np.asarray(w, np.float64), n).reshape(1, -1)
    t, alpha, *_ = project(flat, codebook)
    t = t.reshape(out, -1)[:, :inf]
    return t, np.full(out, float(alpha[0]))


def sst_dense(w: np.ndarray, codebook: Codebook, per_row: bool = True):
    """The SST projection of ``w`` (out, in) as dense float32 weights ``alpha_r * t_r``,
    and ``alpha`` float64 (out,): the same result as :func:`sst_weights`, faster.

    The training forward pass calls this on every step, so it avoids the
    generic slot encoder: candidates (the top K magnitudes of each subvector,
    or the top one of each segment) come from running maxima
    (:func:`_running_top`), the best prefix of each row's sorted candidates
    is chosen as in :func:`sst_hw.format.encode.project_slots` (same float64 sums,
    same tie rule), and the kept weights are found by comparing magnitudes with
    the row threshold, all on float32. Rows where a subvector has ties at the
    candidate boundary (more equal magnitudes than slots) are handed to the
    exact :func:`sst_weights`, so the result is always identical to it."""
    w = np.asarray(w, np.float32)
    out, inf = w.shape
    n, k = codebook.n, codebook.k
    p = _padded(w, n)
    s = p.shape[1] // n
    mag = np.abs(p)
    # Groups: subvectors (full) or segments (partitioned), each giving up to
    # ``per`` candidates, its ``per`` largest magnitudes.
    width, per = (n // k, 1) if codebook.variant == "partitioned" else (n, k)
    if per >= width:
        groups = None                             # every weight is a candidate
        cand = mag.reshape(out, -1)
        tie = None
    else:
        groups = mag.reshape(-1, width)
        tops = _running_top(groups, per + 1)
        cand = (tops[0] if per == 1 else np.stack(tops[:per], 1)).reshape(out, -1)
        kth = tops[per - 1]
        # More equal magnitudes than candidates at the boundary: exact path.
        tie = (tops[per] == kth) & (kth > 0)
    rows = out if per_row else 1
    smag = np.sort(cand.reshape(rows, -1), axis=1)[:, ::-1].astype(np.float64)
    csum = np.cumsum(smag, axis=1)
    gain = csum * csum / np.arange(1, smag.shape[1] + 1)
    gain[smag <= 0] = -1.0
    gain[:, :-1][smag[:, :-1] == smag[:, 1:]] = -1.0
    best = np.argmax(gain, axis=1)
    r = np.arange(rows)
    ok = gain[r, best] > 0
    thr = np.where(ok, smag[r, best], np.inf).astype(np.float32)
    alpha = np.where(ok, csum[r, best] / (best + 1), 1.0)
    if not per_row:
        thr = np.repeat(thr, out)
        alpha = np.repeat(alpha, out)
    if groups is None:
        keep = mag >= thr[:, None]
    else:
        # Kept: a candidate of its group (>= the group's per-th largest) at or
        # above the row threshold.
        gthr = np.maximum(kth, np.repeat(thr, groups.shape[0] // out))
        keep = (groups >= gthr[:, None]).reshape(out, -1)
    dense = np.copysign(alpha.astype(np.float32)[:, None], p)
    dense *= keep
    if dense.shape[1] != inf:
        dense = dense[:, :inf]
    if tie is not None:
        bad = np.flatnonzero(tie.reshape(out, -1).any(1))
        if bad.size:
            if per_row:
                t, a = sst_weights(w[bad], codebook, True)
                dense[bad] = t * a.astype(np.float32)[:, None]
                alpha[bad] = a
            else:
                t, alpha = sst_weights(w, codebook, False)
                dense = t * alpha.astype(np.float32)[:, None]
    return np.ascontiguousarray(dense, np.float32), alpha


def keep_schedule(progress: float, n: int, k: int, hold: float = 0.25) -> int:
    """Allowed non-zeros per subvector at ``progress`` (0..1) of the pruning
    phase: a cubic fall from N to K over the first ``1 - hold`` of it (fast at
    first, slow near K, Zhu & Gupta 2017), then K."""
    ramp = min(1.0, max(0.0, progress) / max(1e-9, 1.0 - hold))
    return int(math.ceil(k + (n - k) * (1.0 - ramp) ** 3 - 1e-9))


def accuracy(pred, labels) -> float:
    """Fraction of ``pred == labels``."""
    return float(np.mean(np.asarray(pred) == np.asarray(labels)))


# -- optimizer and progress ---------------------------------------------------------------------


class Adam:
    """Adam (Kingma & Ba) updating a list of float32 arrays in place."""

    def __init__(self, params, b1=0.9, b2=0.999, eps=1e-8):
        self.params = params
        self.b1, self.b2, self.eps = b1, b2, eps
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.t = 0

    def step(self, grads, lr: float):
        """One update of every parameter with its gradient at learning rate ``lr``
        (in place, float32, one temporary per array)."""
        self.t += 1
        c1 = 1.0 - self.b1 ** self.t
        c2 = 1.0 - self.b2 ** self.t
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            dt = p.dtype.type
            tmp = np.multiply(g, dt(1.0 - self.b1))
            m *= dt(self.b1)
            m += tmp
            np.multiply(g, g, out=tmp)
            tmp *= dt(1.0 - self.b2)
            v *= dt(self.b2)
            v += tmp
            np.multiply(v, dt(1.0 / c2), out=tmp)
            np.sqrt(tmp, out=tmp)
            tmp += dt(self.eps)
            np.divide(m, tmp, out=tmp)
            tmp *= dt(lr / c1)
            p -= tmp


class Progress:
    """A tiny progress printer on a stream (stderr by default).

    ``line(msg)`` prints a line; ``tick(msg)`` shows a transient status,
    rewritten in place on a terminal (at most a few times a second) and
    dropped elsewhere. ``enabled=False`` prints nothing."""

    def __init__(self, enabled: bool = True, stream=None):
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.tty = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last = 0.0
        self._dirty = False

    def tick(self, msg: str):
        if not self.tty:
            return
        now = time.monotonic()
        if now - self._last < 0.25:
            return
        self._last = now
        self.stream.write("\r\x1b[K" + msg)
        self.stream.flush()
        self._dirty = True

    def line(self, msg: str):
        if not self.enabled:
            return
        if self._dirty:
            self.stream.write("\r\x1b[K")
            self._dirty = False
        self.stream.write(msg + "\n")
        self.stream.flush()


class BlasThreads:
    """Chooses how many BLAS threads the training steps use, epoch by epoch.

    On an idle machine the matrix products run fastest on every core; on a
    machine shared with other busy processes, OpenBLAS threads that wait for
    each other can make a step several times *slower* than one thread. With
    ``threads=0`` (auto) the first batches of every epoch are timed alternately
    with one thread and with all cores (``probe`` steps each, the first of each
    ignored as warm-up) and the faster count is used for the rest of the
    epoch and for evaluation. A positive ``threads`` fixes the count. Without
    ``threadpoolctl`` (a scikit-learn dependency) nothing is changed. Use as a
    context manager: the original thread counts are restored on exit.
    """

    def __init__(self, threads: int = 0, probe: int = 3):
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
            raise ValueError(f"threads must be an integer >= 0 (0 = auto), not {threads!r}")
        try:
            from threadpoolctl import ThreadpoolController
            self._libs = [lib for lib in ThreadpoolController().lib_controllers
                          if lib.user_api == "blas"]
        except Exception:                                     # pragma: no cover
            self._libs = []
        self._saved = [lib.num_threads for lib in self._libs]
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
            (os.cpu_count() or 1)
        self.auto = threads == 0 and cores > 1 and bool(self._libs)
        self.candidates = (1, cores) if self.auto else (threads or cores,)
        self.choice = self.candidates[-1]
        self.probe = probe
        self._times = {}
        self._current = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for lib, n in zip(self._libs, self._saved):
            lib.set_num_threads(n)
        self._current = None

    def set(self, n: int | None = None):
        """Run BLAS on ``n`` threads from now on (default: the current choice)."""
        n = self.choice if n is None else n
        if n != self._current:
            for lib in self._libs:
                lib.set_num_threads(n)
            self._current = n

    def start_epoch(self):
        self._times = {n: [] for n in self.candidates} if self.auto else {}

    def for_step(self, b: int) -> int:
        """Set and return the thread count for batch ``b`` of the epoch."""
        n = self.candidates[b % 2] if self.auto and b < 2 * self.probe else self.choice
        self.set(n)
        return n

    def record(self, n: int, b: int, seconds: float):
        """Time of batch ``b``, run on ``n`` threads."""
        if not self.auto or b >= 2 * self.probe:
            return
        if b >= 2:                                          # skip each count's warm-up step
            self._times[n].append(seconds)
        if b == 2 * self.probe - 1:
            self.choice = min(self.candidates, key=lambda c: min(self._times[c] or [math.inf]))


# -- the network ----------------------------------------------------------------------------------


class MLP:
    """An MLP whose layers all become SST layers.

    Parameters
    ----------
    sizes : list of int
        ``[in_features, hidden..., classes]``, at least two entries.
    codebook : Codebook
        The SST code of every layer.
    shift_only : bool
        Train for multiplier-free requantization (see the module docstring).
    seed : int
        Seed of the weight initialisation.
    center : bool
        Whether weight-distribution normalization subtracts the mean (rows of
        hidden layers, the whole last matrix) before dividing by the standard
        deviation. ``False`` divides by the root mean square only, so the
        normalized weights are the latent ones up to a positive scale per row
        (hidden) or per layer (last), which batch norm and the temperature
        absorb: a float network imported from elsewhere
        (:mod:`sst_hw.train.onnx_import`) is then represented exactly.

    Attributes
    ----------
    V : list of float32 (out, in)
        Latent weights.
    gamma, beta, run_mean, run_var : lists of float32 arrays, one per hidden layer
        Batch-norm parameters and statistics (``gamma`` unused and ``run_var``
        of shape (1,) under ``shift_only``).
    log_tau : float32 (1,)
        Log of the last layer's training temperature.
    phase : str
        ``"float"``, ``"prune"`` or ``"sst"``: how the forward pass derives the
        weights from ``V``.
    keep : int
        Allowed non-zeros per subvector in the ``prune`` phase.
    """

    def __init__(self, sizes, codebook: Codebook, *, shift_only: bool = False, seed: int = 0,
                 center: bool = True):
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"layer sizes must be at least two positive integers, not {sizes}")
        if not isinstance(codebook, Codebook):
            raise TypeError(f"codebook must be a Codebook, not {codebook!r}")
        self.sizes = sizes
        self.codebook = codebook
        self.shift_only = bool(shift_only)
        self.center = bool(center)
        self.init_parameters(sizes[:-1], sizes[1:], seed)
        self.phase = "float"
        self.keep = codebook.n

    def init_parameters(self, fan_in, rows, seed: int) -> None:
        """Draw the latent weights from ``seed`` and reset the batch norm and the
        temperature (``__init__``, also of :class:`~sst_hw.train.cnn.CNN`).

        Layer ``l`` gets ``rows[l]`` rows of ``fan_in[l]`` weights of standard
        deviation :func:`init_std`; every layer but the last a fresh batch norm
        (``run_var`` of one value under :attr:`shift_only`, which must be set);
        the last layer the temperature ``1 / sqrt(fan_in[-1])``.
        """
        rng = np.random.default_rng(seed)
        self.V = [(rng.standard_normal((o, i)) * init_std(i)).astype(np.float32)
                  for i, o in zip(fan_in, rows)]
        hidden = rows[:-1]
        self.gamma = [np.ones(o, np.float32) for o in hidden]
        self.beta = [np.zeros(o, np.float32) for o in hidden]
        self.run_mean = [np.zeros(o, np.float32) for o in hidden]
        self.run_var = [np.ones(1 if self.shift_only else o, np.float32) for o in hidden]
        self.log_tau = np.array([-0.5 * math.log(fan_in[-1])], np.float32)

    @property
    def layers(self) -> int:
        return len(self.V)

    def is_last(self, l: int) -> bool:
        return l == self.layers - 1

    def per_row_alpha(self, l: int) -> bool:
        """Whether layer ``l`` has one ``alpha`` per row (else one per layer)."""
        return not (self.is_last(l) or self.shift_only)

    def params(self) -> list:
        """Every trained array (in a fixed order, matching :meth:`backward`)."""
        gam = [] if self.shift_only else self.gamma
        return [*self.V, *gam, *self.beta, self.log_tau]

    # -- weights -------------------------------------------------------------------------

    def _normalized(self, l: int):
        """Weight-distribution normalization: rows (hidden) or the whole
        matrix (last layer) to zero mean (unless ``center`` is off), unit
        standard deviation (root mean square)."""
        V = self.V[l]
        axis = None if self.is_last(l) else 1
        d = V - V.mean(axis=axis, keepdims=True) if self.center else V
        s = np.sqrt((d * d).mean(axis=axis, keepdims=True)) + _STD_EPS
        return d / s, s

    def _normalized_backward(self, l, wn, s, dwn):
        axis = None if self.is_last(l) else 1
        g = dwn - wn * (dwn * wn).mean(axis=axis, keepdims=True)
        if self.center:
            g -= dwn.mean(axis=axis, keepdims=True)
        return g / s

    def weight(self, l: int, phase: str | None = None):
        """Forward weights of layer ``l`` (float32 (out, in)) in ``phase``
        (default: the current phase), and what the backward pass needs."""
        phase = self.phase if phase is None else phase
        wn, s = self._normalized(l)
        if phase == "float":
            w = wn
        elif phase == "prune":
            w = wn * structured_mask(wn, self.codebook, self.keep)
        elif phase == "sst":
            w, _ = sst_dense(wn, self.codebook, self.per_row_alpha(l))
        else:
            raise ValueError(f"phase must be one of {', '.join(PHASES)}, not {phase!r}")
        return w, (wn, s)

    def ternary(self, l: int):
        """The SST form of layer ``l``: ``(t, alpha)``, int8 (out, in) and float64 (out,)."""
        wn, _ = self._normalized(l)
        return sst_weights(wn, self.codebook, self.per_row_alpha(l))

    # -- batch norm ---------------------------------------------------------------------------

    def bn_fold(self, l: int):
        """Eval-mode batch norm of hidden layer ``l`` as ``y = g * z + h``: (g, h)
        float64 (out,); ``g`` is the same in every row under ``shift_only``."""
        out = self.sizes[l + 1]
        inv = 1.0 / np.sqrt(self.run_var[l].astype(np.float64) + BN_EPS)
        g = np.broadcast_to(inv * (1.0 if self.shift_only else self.gamma[l]), (out,)).copy()
        h = self.beta[l] - g * self.run_mean[l]
        return g, h.astype(np.float64)

    def _bn_train(self, l, z, momentum):
        mu = z.mean(0)
        d = z - mu
        var = (d * d).mean(0)
        if self.shift_only:
            var = np.array([var.mean()], var.dtype)
        sig = np.sqrt(var + BN_EPS)
        zhat = d / sig
        y = zhat * (1.0 if self.shift_only else self.gamma[l]) + self.beta[l]
        if momentum:
            self.run_mean[l] += momentum * (mu - self.run_mean[l])
            self.run_var[l] += momentum * (var - self.run_var[l])
        return y, (zhat, sig)

    def _bn_backward(self, l, dy, cache):
        zhat, sig = cache
        dbeta = dy.sum(0)
        if self.shift_only:
            dgamma = None
            dzhat = dy
            dz = (dzhat - dzhat.mean(0) - zhat * (dzhat * zhat).mean()) / sig
        else:
            dgamma = (dy * zhat).sum(0)
            dzhat = dy * self.gamma[l]
            dz = (dzhat - dzhat.mean(0) - zhat * (dzhat * zhat).mean(0)) / sig
        return dz, dgamma, dbeta

    def _bn_eval(self, l, z):
        g, h = self.bn_fold(l)
        return z * g.astype(np.float32) + h.astype(np.float32)

    # -- passes ----------------------------------------------------------------------------------

    def forward_train(self, x, momentum=0.1, dropout: float = 0.0, rng=None):
        """Logits (batch, classes) with batch statistics, and the cache for
        :meth:`backward`. ``dropout`` > 0 zeroes that fraction of the hidden
        activations (inverted dropout; ``rng`` draws the masks)."""
        cache = []
        a = x
        for l in range(self.layers):
            w, wc = self.weight(l)
            z = a @ w.T
            if self.is_last(l):
                tau = np.exp(self.log_tau[0])
                logits = z * tau
                cache.append((a, w, wc, None, None))
                return logits, cache
            y, bc = self._bn_train(l, z, momentum)
            on = (y > 0).astype(np.float32)
            if dropout:
                on *= (rng.random(y.shape, np.float32) >= dropout) * np.float32(1 / (1 - dropout))
            cache.append((a, w, wc, bc, on))
            a = y * on

    def backward(self, cache, logits, dlogits):
        """Gradients of every array of :meth:`params`, same order."""
        L = self.layers
        dV = [None] * L
        dgam = [None] * (L - 1)
        dbet = [None] * (L - 1)
        tau = np.exp(self.log_tau[0])
        dlog_tau = np.array([(dlogits * logits).sum()], np.float32)
        dz = dlogits * tau
        for l in range(L - 1, -1, -1):
            a, w, (wn, s), bc, on = cache[l]
            if not self.is_last(l):
                dy = da * on
                dz, dgam[l], dbet[l] = self._bn_backward(l, dy, bc)
            dw = dz.T @ a
            if l:
                da = dz @ w
            # Straight-through: the mask / projection passes the gradient unchanged.
            dV[l] = self._normalized_backward(l, wn, s, dw)
        gam = [] if self.shift_only else dgam
        return [*dV, *gam, *dbet, dlog_tau]

    def predict_logits(self, x, phase: str | None = None, batch: int = 4096) -> np.ndarray:
        """Float logits (samples, classes) in eval mode of the raw uint8 features ``x``."""
        x = np.asarray(x)
        ws = [self.weight(l, phase)[0] for l in range(self.layers)]
        outs = []
        for i in range(0, len(x), batch):
            a = to_float(x[i:i + batch])
            for l, w in enumerate(ws):
                z = a @ w.T
                a = z if self.is_last(l) else np.maximum(self._bn_eval(l, z), 0.0)
            outs.append(a)
        return np.concatenate(outs) if outs else np.zeros((0, self.sizes[-1]), np.float32)

    def predict(self, x, phase: str | None = None) -> np.ndarray:
        """Classes (samples,) int64, the lowest index on ties."""
        return np.argmax(self.predict_logits(x, phase), axis=1).astype(np.int64)

    def recalibrate(self, x, phase: str | None = None, batch: int = 8192):
        """Set the batch-norm statistics to their exact values over ``x`` (raw
        uint8 features) for the current weights, layer by layer."""
        x = np.asarray(x)
        ws = [self.weight(l, phase)[0] for l in range(self.layers)]
        acts = [to_float(x[i:i + batch]) for i in range(0, len(x), batch)]
        for l in range(self.layers - 1):
            zs = [a @ ws[l].T for a in acts]
            n = sum(len(z) for z in zs)
            mu = sum(z.astype(np.float64).sum(0) for z in zs) / n
            var = sum(((z - mu) ** 2).sum(0) for z in zs) / n
            if self.shift_only:
                var = np.array([var.mean()])
            self.run_mean[l] = mu.astype(np.float32)
            self.run_var[l] = var.astype(np.float32)
            acts = [np.maximum(self._bn_eval(l, z), 0.0) for z in zs]


def to_float(x) -> np.ndarray:
    """Raw 0..255 features as the float32 network input ``x / 255``."""
    return np.asarray(x, np.float32) * np.float32(1.0 / 255.0)


# -- training loop ------------------------------------------------------------------------------


@dataclass
class Schedule:
    """Epochs, batch size and learning rates of the three phases.

    ``lr_*`` are Adam's peak learning rates; each phase decays its rate along a
    half cosine to 1/20 of the peak. ``prune_hold`` is the final fraction of
    the pruning phase spent at K non-zeros. ``dropout`` is the fraction of
    hidden activations zeroed in training (inverted dropout, 0 = off).
    ``threads`` is the number of BLAS threads during training: 1 (default)
    gives the same weights bit for bit on every run and is the fastest on a
    machine shared with other busy processes; 0 chooses 1 or all cores per
    epoch by timing (:class:`BlasThreads`), faster on an idle machine, but
    OpenBLAS rounds differently with another thread count, so the weights
    then vary in the last bits from run to run."""

    epochs_float: int = 30
    epochs_prune: int = 30
    epochs_sst: int = 40
    batch_size: int = 32
    lr_float: float = 3e-3
    lr_prune: float = 2e-3
    lr_sst: float = 1e-3
    prune_hold: float = 0.25
    dropout: float = 0.0
    threads: int = 1

    @classmethod
    def for_dataset(cls, dataset) -> "Schedule":
        """Defaults by size: small sets (digits) get many short epochs of
        batch 32; large ones (Fashion-MNIST) 8 float, 8 prune and 12 sst
        epochs of batch 256, which keep 784-1024-1024-10 at SST (8,2) within
        half a point of its float network and the whole run within 30
        minutes: 28 epochs of 60000 samples, about 20 s each (one BLAS
        thread, idle machine) to 50 s (machine shared with busy processes)."""
        if len(dataset.x_train) < 10000:
            return cls(30, 30, 40, batch_size=32)
        return cls(8, 8, 12, batch_size=256)

    def epochs(self, phase: str) -> int:
        return getattr(self, f"epochs_{phase}")

    def lr(self, phase: str) -> float:
        return getattr(self, f"lr_{phase}")

    def __post_init__(self):
        for p in PHASES:
            e = self.epochs(p)
            if isinstance(e, bool) or not isinstance(e, int) or e < 0:
                raise ValueError(f"epochs of the {p} phase must be an integer >= 0, not {e!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), not {self.dropout!r}")
        if self.epochs_sst < 1:
            raise ValueError("the sst phase needs at least 1 epoch, not 0")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) \
                or self.batch_size < 1:
            raise ValueError(f"batch size must be a positive integer, not {self.batch_size!r}")
        if isinstance(self.threads, bool) or not isinstance(self.threads, int) \
                or self.threads < 0:
            raise ValueError(f"threads must be an integer >= 0 (0 = auto), not "
                             f"{self.threads!r}")


@dataclass
class TrainResult:
    """What :func:`train` returns.

    ``accuracy`` maps ``"float"``, ``"prune"`` and ``"sst"`` to the test-set
    accuracy (0..1) at the end of that phase, in eval mode with recalibrated
    batch norm (``"float"``: the dense float network; ``"sst"``: the SST
    network in float arithmetic). ``train_accuracy`` likewise on (at most
    10000 samples of) the training set. ``history`` has one dict per epoch
    (phase, epoch, loss, accuracy of the training batches, seconds, BLAS
    threads)."""

    model: MLP
    schedule: Schedule = None
    accuracy: dict = field(default_factory=dict)
    train_accuracy: dict = field(default_factory=dict)
    history: list = field(default_factory=list)
    seconds: float = 0.0


def _softmax_xent(logits, labels):
    z = logits - logits.max(1, keepdims=True)
    e = np.exp(z)
    p = e / e.sum(1, keepdims=True)
    rows = np.arange(len(labels))
    loss = float(-np.log(np.maximum(p[rows, labels], 1e-30)).mean())
    d = p
    d[rows, labels] -= 1.0
    return loss, d / len(labels)


#: Batch-norm statistics after each phase come from at most this many training
#: samples (evenly spaced; all of a small data set), and the reported training
#: accuracy from at most ``_TRAIN_EVAL_SAMPLES``.
_RECALIBRATE_SAMPLES = 20000
_TRAIN_EVAL_SAMPLES = 10000


def _subset(a, limit: int):
    """``a`` itself, or ``limit`` of its rows evenly spaced (deterministic)."""
    if len(a) <= limit:
        return a
    return a[np.linspace(0, len(a) - 1, limit).astype(np.int64)]


def _train_phase(model: MLP, dataset, phase: str, schedule: Schedule, rng,
                 threads: BlasThreads, progress: Progress, history: list):
    """The epochs of one phase: Adam, half-cosine learning rate, one line per epoch."""
    codebook = model.codebook
    xtr, ytr = dataset.x_train, dataset.y_train
    ntr = len(xtr)
    bs = min(schedule.batch_size, ntr)
    steps = ntr // bs
    epochs = schedule.epochs(phase)
    opt = Adam(model.params())
    total = epochs * steps
    peak = schedule.lr(phase)
    step = 0
    for ep in range(epochs):
        t0 = time.monotonic()
        order = rng.permutation(ntr)
        loss_sum, hits = 0.0, 0
        threads.start_epoch()
        for b in range(steps):
            nthreads = threads.for_step(b)
            t_step = time.monotonic()
            frac = step / max(1, total - 1)
            if phase == "prune":
                model.keep = keep_schedule(frac, codebook.n, codebook.k, schedule.prune_hold)
            lr = peak * (0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * frac)))
            idx = order[b * bs:(b + 1) * bs]
            logits, cache = model.forward_train(to_float(xtr[idx]), dropout=schedule.dropout,
                                                rng=rng)
            loss, dlogits = _softmax_xent(logits, ytr[idx])
            hits += int((logits.argmax(1) == ytr[idx]).sum())
            loss_sum += loss
            opt.step(model.backward(cache, logits, dlogits), lr)
            threads.record(nthreads, b, time.monotonic() - t_step)
            step += 1
            progress.tick(f"[{phase} {ep + 1}/{epochs}] batch {b + 1}/{steps} "
                          f"loss {loss_sum / (b + 1):.4f}")
        rec = {"phase": phase, "epoch": ep + 1, "loss": loss_sum / steps,
               "batch_accuracy": hits / (steps * bs), "seconds": time.monotonic() - t0,
               "threads": threads.choice}
        if phase == "prune":
            rec["keep"] = model.keep
        history.append(rec)
        extra = f" keep {model.keep}/{codebook.n}" if phase == "prune" else ""
        progress.line(f"[{phase:5s} {ep + 1:3d}/{epochs}] loss {rec['loss']:.4f} "
                      f"batch acc {100 * rec['batch_accuracy']:6.2f}%{extra} "
                      f"({rec['seconds']:.1f}s, {threads.choice} BLAS thread"
                      f"{'s' if threads.choice > 1 else ''})")


def train(dataset, sizes, codebook: Codebook, *, schedule: Schedule | None = None,
          seed: int = 0, shift_only: bool = False,
          progress: Progress | None = None, model: MLP | None = None,
          phases=PHASES) -> TrainResult:
    """Train an MLP on ``dataset`` (a :class:`~sst_hw.train.datasets.Dataset`)
    through the float, prune and sst phases.

    ``sizes`` must start with the data set's feature count and end with its
    class count. ``seed`` fixes initialisation and batch order: the same seed
    gives the same result. Progress (one line per epoch) goes to
    ``progress`` (default: none).

    ``model`` continues training an existing :class:`MLP` (trained in place)
    instead of a fresh one: float pre-trained weights reused for several
    codebooks, or an imported network (:mod:`sst_hw.train.onnx_import`) to fine-tune
    with ``epochs_float = 0``. Its sizes and ``shift_only`` must match; it is
    switched to ``codebook``; its batches are drawn from another stream of
    ``seed`` than a fresh model's. A phase of 0 epochs is still evaluated.

    ``phases`` runs only these phases (in their usual order), e.g.
    ``("float",)`` for float pre-training alone; ``accuracy`` then holds only
    those."""
    schedule = schedule or Schedule.for_dataset(dataset)
    progress = progress or Progress(False)
    sizes = [int(s) for s in sizes]
    if sizes[0] != dataset.features:
        raise ValueError(f"the first layer size must be the data set's {dataset.features} "
                         f"features, not {sizes[0]}")
    if sizes[-1] != dataset.classes:
        raise ValueError(f"the last layer size must be the data set's {dataset.classes} "
                         f"classes, not {sizes[-1]}")
    init_seed, order_seed = training_seeds(seed, phases, continued=model is not None)
    if model is None:
        model = MLP(sizes, codebook, shift_only=shift_only, seed=init_seed)
    else:
        continue_model(model, MLP, "an MLP", shift_only, codebook, sizes)
    return run_phases(model, dataset, schedule, np.random.default_rng(order_seed), progress,
                      phases)


def training_seeds(seed: int, phases, continued: bool) -> tuple[int, int]:
    """``(init_seed, order_seed)`` of a training run from ``seed``, after checking
    ``phases`` (some of :data:`PHASES`): the weight initialisation's and the batch
    order's. A ``continued`` model's batches come from a third stream, so that they
    are not the order a pre-training with the same seed went through."""
    unknown = [p for p in phases if p not in PHASES]
    if unknown or not phases:
        raise ValueError(f"phases must be some of {', '.join(PHASES)}, not {phases!r}")
    init_seed, order_seed, continued_seed = np.random.SeedSequence(seed).generate_state(3)
    return int(init_seed), int(continued_seed if continued else order_seed)


def continue_model(model, kind: type, what: str, shift_only: bool, codebook: Codebook,
                   sizes=None) -> None:
    """Check a ``model`` given to continue training: a ``kind`` (``what`` in the
    message, e.g. ``"an MLP"``) of these layer ``sizes`` (unless None) and this
    ``shift_only``; then switch it to ``codebook``."""
    if not isinstance(model, kind):
        raise TypeError(f"model must be {what}, not {type(model).__name__}")
    if sizes is not None and model.sizes != sizes:
        raise ValueError(f"the model's layer sizes {model.sizes} differ from {sizes}")
    if model.shift_only != bool(shift_only):
        raise ValueError(f"the model has shift_only={model.shift_only}, not {bool(shift_only)}")
    if not isinstance(codebook, Codebook):
        raise TypeError(f"codebook must be a Codebook, not {codebook!r}")
    model.codebook = codebook


def run_phases(model, dataset, schedule: Schedule, rng, progress: Progress,
               phases=PHASES) -> TrainResult:
    """The phases of :func:`train` for any trainer model with the passes of
    :class:`MLP` (``forward_train``, ``backward``, ``params``, ``recalibrate``,
    ``predict``, ``phase``, ``keep``, ``codebook``): an :class:`MLP` or a
    :class:`~sst_hw.train.cnn.CNN`. ``rng`` draws the batch order."""
    codebook = model.codebook
    result = TrainResult(model, schedule)
    xtr, ytr = dataset.x_train, dataset.y_train
    t_start = time.monotonic()
    with BlasThreads(schedule.threads) as threads:
        for phase in PHASES:
            if phase not in phases:
                continue
            model.phase = phase
            model.keep = codebook.n if phase == "float" else codebook.k
            if schedule.epochs(phase):
                _train_phase(model, dataset, phase, schedule, rng, threads, progress,
                             result.history)
            threads.set()
            model.recalibrate(_subset(xtr, _RECALIBRATE_SAMPLES))
            result.accuracy[phase] = accuracy(model.predict(dataset.x_test), dataset.y_test)
            xs, ys = _subset(xtr, _TRAIN_EVAL_SAMPLES), _subset(ytr, _TRAIN_EVAL_SAMPLES)
            result.train_accuracy[phase] = accuracy(model.predict(xs), ys)
            progress.line(f"[{phase:5s}] done: train {100 * result.train_accuracy[phase]:.2f}% "
                          f"test {100 * result.accuracy[phase]:.2f}% "
                          f"({time.monotonic() - t_start:.1f}s so far)")
    result.seconds = time.monotonic() - t_start
    return result
