"""A convolutional SST network: a checked chain of conv2d, max-pool, flatten
and dense layers over a channels-last input image.

The integer contract is that of :mod:`.golden` and :mod:`.conv`: every conv and
dense layer but the last requantizes (clamp included), max-pool and flatten
pass the activation format through, and the last layer, always dense, yields
its raw accumulators (the logits) and the arg-max class, the lowest index on
ties. An MLP stays a :class:`~sst_hw.format.golden.Network`;
:meth:`ConvNetwork.as_network` gives one back when no layer is spatial.

Construction refuses any chain whose shapes do not meet (naming the layer and
both shapes) and any configuration whose arithmetic could wrap, exactly as a
:class:`~sst_hw.format.golden.Network` does for its dense layers.

Speed. :meth:`ConvNetwork.forward` runs the batch in chunks of a few images
(so every intermediate array stays in cache, in buffers reused from chunk
to chunk) along a per-layer plan proved from the widths, never from the data:

* a conv or dense layer whose worst-case accumulator (:func:`arith.acc_range
  <sst_hw.format.arith.acc_range>` of its row, the same bound as
  :func:`conv.check_float32_exact <sst_hw.format.conv.check_float32_exact>`)
  is below ``2^24`` accumulates as one float32 BLAS product: every input,
  weight, partial sum and result is then an integer below ``2^24``, which
  float32 holds exactly, whatever order BLAS sums in;
* a requantization whose worst case ``max|acc| * max|M_r| + max|C_r|`` is below
  ``2^53`` runs in float64 as ``floor(acc * (M_r 2^-S) + C_r 2^-S)`` then the
  clamp: scaling by ``2^-S`` is exact, every value is an integer (times
  ``2^-S``) below ``2^53``, and floor is the arithmetic shift;
* activations of at most 24 bits travel between layers as float32 (exact);
  max-pool and flatten work on them as they are (a max rounds nothing);
* any other layer takes the exact int64 (or proved float64) path of
  :meth:`Layer.accumulate <sst_hw.format.golden.Layer.accumulate>` and
  :meth:`Layer.requantize <sst_hw.format.golden.Layer.requantize>`.

:func:`conv.forward_all <sst_hw.format.conv.forward_all>` is the slow, plain
reference the tests compare this plan with, bit for bit.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from sst_hw.format import arith
from sst_hw.format.codebook import _check_int
from sst_hw.format.conv import (
    FLOAT32_EXACT_BITS,
    Conv2D,
    Flatten,
    MaxPool,
    _check_shape,
    maxpool_into,
    patch_view,
)
from sst_hw.format.golden import (
    Layer,
    LayerTrace,
    Network,
    _argmax_lowest,
    _check_bool,
    check_layer_arithmetic,
)

__all__ = ["ConvNetwork", "KINDS", "kind_of", "CHUNK_BYTES", "BLAS_THREADS"]

#: Layer kinds, as named in the model file and in messages.
KINDS = {Conv2D: "conv2d", MaxPool: "maxpool", Flatten: "flatten", Layer: "dense"}

_INT64_MAX = (1 << 63) - 1
#: float64 holds every integer of magnitude up to 2^53 exactly.
_FLOAT64_EXACT = 1 << 53
#: Working set of one chunk of :meth:`ConvNetwork.forward`, bytes (one layer's
#: patches, accumulators and outputs): a couple of L2 caches, well inside L3.
CHUNK_BYTES = 4 << 20
#: BLAS threads while :meth:`ConvNetwork.forward` runs its chunk-sized
#: products (set through ``threadpoolctl`` when it is installed, as it is with
#: scikit-learn, and restored after); ``None`` leaves BLAS alone. One thread:
#: the products are small, and OpenBLAS's threads wait for each other (many
#: times slower) whenever another process holds a core.
BLAS_THREADS = 1


def kind_of(layer) -> str:
    """``"conv2d"``, ``"maxpool"``, ``"flatten"`` or ``"dense"``."""
    try:
        return KINDS[type(layer)]
    except KeyError:
        raise TypeError(f"not a layer of a ConvNetwork: {type(layer).__name__} (allowed: "
                        f"Conv2D, MaxPool, Flatten, dense Layer)") from None


def _shape_text(shape) -> str:
    return "x".join(str(v) for v in shape) if len(shape) == 3 else f"{shape[0]} features"


@dataclass(eq=False)
class ConvNetwork:
    """A chain of :class:`Conv2D`, :class:`MaxPool`, :class:`Flatten` and dense
    golden :class:`Layer` objects.

    Parameters
    ----------
    layers : list
        At least one; the last is a dense :class:`Layer`. Spatial layers
        (conv2d, maxpool, flatten) read an ``(H, W, C)`` tensor whose shape must
        equal their ``in_shape``; a dense layer reads a vector, so a flatten
        must come between the last spatial layer and the first dense one.
    input_shape : (H, W, C)
        Shape of one input image, channels last.
    input_width, input_signed :
        Format of the input values, as for :class:`Network`.
    meta : dict
        Free-form, JSON-ready metadata saved with the model file.
    """

    layers: list
    input_shape: tuple
    input_width: int = 8
    input_signed: bool = False
    meta: dict = field(default_factory=dict)
    _plan: list = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self):
        self.layers = list(self.layers)
        if not self.layers:
            raise ValueError("a network needs at least one layer")
        kinds = [kind_of(layer) for layer in self.layers]
        self.input_shape = _check_shape("input_shape", self.input_shape)
        self.input_width = _check_int("input_width", self.input_width, 1, 32)
        self.input_signed = _check_bool("input_signed", self.input_signed)
        arith.act_range(self.input_width, self.input_signed)
        if not isinstance(self.meta, dict):
            raise TypeError(f"meta must be a dict, not {type(self.meta).__name__}")
        if kinds[-1] != "dense":
            raise ValueError(f"the last layer must be dense (it gives the logits), not "
                             f"{kinds[-1]} (layer {len(kinds) - 1})")
        shape = self.input_shape
        self._shapes = []
        for i, (layer, kind) in enumerate(zip(self.layers, kinds)):
            where = f"layer {i} ({kind})"
            before = "the input" if i == 0 else "the layer before"
            if kind == "dense":
                if len(shape) == 3:
                    raise ValueError(f"{where} reads a vector but gets a {_shape_text(shape)} "
                                     f"tensor: put a flatten before it")
                if layer.in_features != shape[0]:
                    raise ValueError(f"{where} has {layer.in_features} inputs but {before} "
                                     f"gives {shape[0]} features")
                shape = (layer.out_features,)
            else:
                if len(shape) != 3:
                    raise ValueError(f"{where} reads an (H, W, C) tensor but gets "
                                     f"{shape[0]} features (after a flatten or dense layer)")
                if tuple(layer.in_shape) != shape:
                    if layer.in_shape[2] != shape[2]:
                        raise ValueError(
                            f"{where} expects {layer.in_shape[2]} input channels but "
                            f"{before} gives {shape[2]} (in_shape "
                            f"{_shape_text(layer.in_shape)}, given {_shape_text(shape)})")
                    raise ValueError(f"{where} expects input {_shape_text(layer.in_shape)} "
                                     f"but {before} gives {_shape_text(shape)}")
                shape = (layer.out_features,) if kind == "flatten" else tuple(layer.out_shape)
            self._shapes.append(shape)
        last = len(self.layers) - 1
        for i, (layer, w) in enumerate(zip(self.layers, self.acc_widths())):
            if w is not None:
                check_layer_arithmetic(i, _golden(layer), w, i == last,
                                       f"layer {i} ({kinds[i]})")

    # -- shapes and formats ----------------------------------------------------------------

    @property
    def kinds(self) -> list[str]:
        return [kind_of(layer) for layer in self.layers]

    @property
    def shapes(self) -> list[tuple]:
        """Output shape of every layer: ``(H, W, C)`` or ``(features,)``."""
        return list(self._shapes)

    @property
    def in_features(self) -> int:
        """Values of one input image, ``H * W * C``."""
        h, w, c = self.input_shape
        return h * w * c

    @property
    def classes(self) -> int:
        return self.layers[-1].out_features

    @property
    def input_range(self) -> tuple[int, int]:
        return arith.act_range(self.input_width, self.input_signed)

    def input_formats(self) -> list[tuple[int, bool]]:
        """(width, signed) of every layer's input activations."""
        fmt = (self.input_width, self.input_signed)
        fmts = []
        for layer in self.layers:
            fmts.append(fmt)
            if isinstance(layer, (Conv2D, Layer)):
                g = _golden(layer)
                fmt = (g.act_width, g.out_signed)
        return fmts

    def acc_widths(self) -> list[int | None]:
        """Accumulator width of every conv and dense layer; None for max-pool
        and flatten."""
        return [layer.acc_width(w, s) if isinstance(layer, (Conv2D, Layer)) else None
                for layer, (w, s) in zip(self.layers, self.input_formats())]

    def sst_layers(self) -> list[Layer]:
        """The golden :class:`Layer` of every conv and dense layer, in order."""
        return [_golden(layer) for layer in self.layers if isinstance(layer, (Conv2D, Layer))]

    def float32_exact(self) -> list[bool]:
        """Per layer: whether its worst-case accumulator is proved below
        ``2^24`` (conv and dense layers then accumulate in float32); always
        False for max-pool and flatten."""
        return [step.w32 is not None for step in self._steps()]

    def as_network(self) -> Network:
        """The same model as a :class:`Network` when every layer is dense (a
        flatten in front is dropped); ValueError if any layer is conv or max-pool."""
        spatial = [i for i, k in enumerate(self.kinds) if k in ("conv2d", "maxpool")]
        if spatial:
            raise ValueError(f"layer {spatial[0]} is {self.kinds[spatial[0]]}: only a network "
                             f"of dense layers is an MLP Network")
        dense = [layer for layer in self.layers if isinstance(layer, Layer)]
        return Network(dense, self.input_width, self.input_signed, dict(self.meta))

    # -- inference ----------------------------------------------------------------------------

    def check_input(self, x) -> np.ndarray:
        """``x`` as int64 ``(B, H, W, C)`` after checking shape and range.

        Accepts ``(H, W, C)``, ``(B, H, W, C)``, or flat ``(H*W*C,)`` /
        ``(B, H*W*C)`` in HWC order (channel fastest)."""
        a = np.asarray(x)
        if a.dtype == object or not np.issubdtype(a.dtype, np.integer):
            raise ValueError(f"input must be an integer array, not dtype {a.dtype}")
        shape = self.input_shape
        if a.ndim in (1, 2) and a.shape[-1] == self.in_features:
            a = a.reshape((-1,) + shape)
        elif a.ndim == 3 and a.shape == shape:
            a = a[None]
        elif not (a.ndim == 4 and a.shape[1:] == shape):
            raise ValueError(f"input must have shape (batch, {', '.join(map(str, shape))}) or "
                             f"(batch, {self.in_features}), not {np.shape(x)}")
        if a.size and a.dtype == np.uint64 and int(a.max()) > _INT64_MAX:
            raise ValueError(f"input value {int(a.max())} does not fit int64")
        a = a.astype(np.int64, copy=False)
        lo, hi = self.input_range
        bad = (a < lo) | (a > hi)
        if bad.any():
            idx = tuple(int(v) for v in np.argwhere(bad)[0])
            kind = "signed" if self.input_signed else "unsigned"
            raise ValueError(f"input value {int(a[idx])} at {list(idx)} is outside the "
                             f"{self.input_width}-bit {kind} range {lo}..{hi}")
        return a

    def activations(self, x) -> list[LayerTrace]:
        """Every layer's input, accumulators (``None`` for max-pool and flatten)
        and output, batched (``(B, H, W, C)`` or ``(B, features)``), int64; the
        last layer's output is its accumulators (the logits)."""
        x = self.check_input(x)
        traces = [([], [], []) for _ in self.layers]
        with _blas_threads():
            self._run(x, traces)
        return [LayerTrace(np.concatenate(inp),
                           None if acc[0] is None else np.concatenate(acc),
                           np.concatenate(out)) for inp, acc, out in traces]

    def forward(self, x) -> tuple[np.ndarray, np.ndarray]:
        """Logits int64 (batch, classes) and arg-max classes int64 (batch,),
        the lowest index on ties. ``x`` as for :meth:`check_input`."""
        x = self.check_input(x)
        with _blas_threads():
            logits = self._run(x, None)
        return logits, _argmax_lowest(logits)

    def chunk_size(self, batch: int) -> int:
        """Images per chunk of :meth:`forward` for a batch of ``batch``: as many
        as keep the largest layer's working set within :data:`CHUNK_BYTES`."""
        per_image = max(step.bytes_per_image for step in self._steps())
        return max(1, min(batch, CHUNK_BYTES // max(per_image, 1)))

    # -- the execution plan ---------------------------------------------------------------------

    def _steps(self) -> list[_Step]:
        """The per-layer plan (cached): which arithmetic each layer may use,
        proved from the formats and the layer's own constants."""
        if self._plan is None:
            fmts = self.input_formats()
            last = len(self.layers) - 1
            self._plan = [_plan_step(layer, fmts[i], i == last)
                          for i, layer in enumerate(self.layers)]
        return self._plan

    def _run(self, x: np.ndarray, traces) -> np.ndarray:
        """Logits int64 (B, classes) of checked int64 images ``x``, chunk by
        chunk; with ``traces`` (one ``(inputs, accs, outputs)`` triple of lists
        per layer) also every layer's int64 values, appended per chunk."""
        steps = self._steps()
        batch = x.shape[0]
        logits = np.empty((batch, self.classes), np.int64)
        n = self.chunk_size(batch)
        ws = _Workspace(n)
        for start in range(0, max(batch, 1), n):        # an empty batch runs once
            a = x[start:start + n]
            m = a.shape[0]
            for i, (layer, step) in enumerate(zip(self.layers, steps)):
                inp = a
                acc = None
                if step.kind == "conv2d":
                    acc = _conv_acc(layer, step, a, ws, i, m)
                    a = _requantize(layer.layer, step, acc, ws, i, m)
                elif step.kind == "dense":
                    acc = _dense_acc(layer, step, a, ws, i, m)
                    a = acc if step.last else _requantize(layer, step, acc, ws, i, m)
                elif step.kind == "maxpool":
                    ho, wo, _ = layer.out_shape
                    rows = ws.get((i, "rows"), (ho,) + a.shape[2:], a.dtype, m)
                    out = ws.get((i, "out"), layer.out_shape, a.dtype, m)
                    a = maxpool_into(a, layer.kernel, layer.stride, ho, wo, rows, out)
                else:
                    a = a.reshape(m, layer.out_features)
                if traces is not None:
                    t = traces[i]
                    t[0].append(inp.astype(np.int64))
                    t[1].append(None if acc is None else acc.astype(np.int64))
                    t[2].append(a.astype(np.int64))
            logits[start:start + m] = a
        return logits

    # -- misc ---------------------------------------------------------------------------------

    def __eq__(self, other):
        if not isinstance(other, ConvNetwork):
            return NotImplemented
        if ((self.input_shape, self.input_width, self.input_signed, self.meta, self.kinds)
                != (other.input_shape, other.input_width, other.input_signed, other.meta,
                    other.kinds)):
            return False
        for a, b in zip(self.layers, other.layers):
            if isinstance(a, Conv2D):
                if (a.kh, a.kw, a.stride, a.pad, a.in_shape) != (b.kh, b.kw, b.stride, b.pad,
                                                                 b.in_shape) \
                        or a.layer != b.layer:
                    return False
            elif isinstance(a, MaxPool):
                if (a.kernel, a.stride, a.in_shape) != (b.kernel, b.stride, b.in_shape):
                    return False
            elif isinstance(a, Flatten):
                if a.in_shape != b.in_shape:
                    return False
            elif a != b:
                return False
        return True

    __hash__ = None


_CONTROLLER = []


def _blas_threads():
    """A context that holds BLAS at :data:`BLAS_THREADS` threads (a no-op
    without ``threadpoolctl`` or with ``BLAS_THREADS = None``)."""
    if BLAS_THREADS is None:
        return contextlib.nullcontext()
    if not _CONTROLLER:
        try:
            from threadpoolctl import ThreadpoolController
            _CONTROLLER.append(ThreadpoolController())
        except Exception:  # noqa: BLE001 (not installed, or an unusual platform)
            _CONTROLLER.append(None)
    if _CONTROLLER[0] is None:
        return contextlib.nullcontext()
    return _CONTROLLER[0].limit(limits=BLAS_THREADS, user_api="blas")


def _golden(layer) -> Layer:
    return layer.layer if isinstance(layer, Conv2D) else layer


class _Step(NamedTuple):
    """How :meth:`ConvNetwork.forward` runs one layer (see the module docstring)."""

    kind: str
    last: bool
    acc_width: int | None      # None for max-pool and flatten
    #: (in_features, out) float32 ternary weights, transposed, when every
    #: accumulator is proved below 2^24; None otherwise.
    w32: np.ndarray | None
    #: (M 2^-S, C 2^-S) float64 per row when acc*M + C is proved below 2^53
    #: (requantizing layers only); None otherwise.
    scaled: tuple | None
    out_range: tuple | None
    #: The requantized output goes to float32 (activations of at most 24 bits).
    out_f32: bool
    bytes_per_image: int


def _plan_step(layer, in_fmt, last: bool) -> _Step:
    kind = kind_of(layer)
    if kind in ("maxpool", "flatten"):
        size = int(np.prod(layer.in_shape))
        return _Step(kind, last, None, None, None, None, False, 8 * 2 * size)
    g = _golden(layer)
    w, signed = in_fmt
    lo, hi = arith.acc_range(g.in_features, g.codebook.n, g.codebook.k, w, signed)
    amax = max(-lo, hi)
    w32 = None
    if amax < 1 << FLOAT32_EXACT_BITS:
        w32 = np.ascontiguousarray(g.ternary().T, dtype=np.float32)
        w32.setflags(write=False)
    scaled = out_range = None
    out_f32 = False
    if not last:
        out_range = g.out_range
        mmax = max(abs(int(g.mult.min())), abs(int(g.mult.max())))
        cmax = max(abs(int(g.add.min())), abs(int(g.add.max())))
        if amax * mmax + cmax < _FLOAT64_EXACT:
            scale = 2.0 ** -g.shift
            scaled = (g.mult.astype(np.float64) * scale, g.add.astype(np.float64) * scale)
            out_f32 = max(-out_range[0], out_range[1]) <= 1 << FLOAT32_EXACT_BITS
    if kind == "conv2d":
        ho, wo, cout = layer.out_shape
        h, wd, c = layer.in_shape
        ph, pw = layer.pad
        pixels = ho * wo
        # padded input (f32), patches (f32), accumulators (f32), requantization
        # (f64) and output
        per = (4 * (h + 2 * ph) * (wd + 2 * pw) * c + 4 * pixels * g.in_features
               + (4 + 8 + 8) * pixels * cout)
    else:
        per = 4 * g.in_features + (4 + 8 + 8) * g.out_features
    return _Step(kind, last, layer.acc_width(w, signed), w32, scaled, out_range, out_f32, per)


class _Workspace:
    """Buffers of one :meth:`ConvNetwork.forward` call, allocated once for a
    full chunk of ``n`` images and reused (a view of the first ``m``) for every
    chunk: no fresh large allocation, and no page faults, per chunk."""

    def __init__(self, n: int):
        self.n = n
        self.buffers = {}

    def get(self, key, shape, dtype, m: int, zero: bool = False) -> np.ndarray:
        key = key + (np.dtype(dtype).str,)
        buf = self.buffers.get(key)
        if buf is None:
            buf = (np.zeros if zero else np.empty)((self.n,) + tuple(shape), dtype)
            self.buffers[key] = buf
        return buf[:m]


def _conv_acc(conv: Conv2D, step: _Step, a: np.ndarray, ws: _Workspace, i: int,
              m: int) -> np.ndarray:
    """Accumulators ``(m, Ho, Wo, Cout)`` of a conv: float32 when proved exact
    (im2col into a reused buffer, one BLAS product), else the exact path of
    :meth:`Conv2D.accumulate`."""
    ho, wo, cout = conv.out_shape
    if step.w32 is None:
        return conv.accumulate(a.astype(np.int64, copy=False), acc_width=step.acc_width)
    h, w, c = conv.in_shape
    ph, pw = conv.pad
    if ph or pw:
        xp = ws.get((i, "pad"), (h + 2 * ph, w + 2 * pw, c), np.float32, m, zero=True)
        xp[:, ph:ph + h, pw:pw + w] = a         # the border stays zero
    elif a.dtype == np.float32 and a.flags.c_contiguous:
        xp = a
    else:
        xp = ws.get((i, "in"), (h, w, c), np.float32, m)
        xp[...] = a
    patches = ws.get((i, "patches"), (ho, wo, conv.kh, conv.kw * c), np.float32, m)
    np.copyto(patches, patch_view(xp, conv.kh, conv.kw, conv.stride, ho, wo))
    acc = ws.get((i, "acc"), (ho, wo, cout), np.float32, m)
    np.matmul(patches.reshape(m * ho * wo, conv.layer.in_features), step.w32,
              out=acc.reshape(m * ho * wo, cout))
    return acc


def _dense_acc(layer: Layer, step: _Step, a: np.ndarray, ws: _Workspace, i: int,
               m: int) -> np.ndarray:
    """Accumulators ``(m, out)`` of a dense layer, float32 when proved exact."""
    if step.w32 is None:
        return layer.accumulate(a.astype(np.int64, copy=False), acc_width=step.acc_width)
    if a.dtype != np.float32:
        xf = ws.get((i, "in"), a.shape[1:], np.float32, m)
        xf[...] = a
        a = xf
    acc = ws.get((i, "acc"), (layer.out_features,), np.float32, m)
    np.matmul(a, step.w32, out=acc)
    return acc


def _requantize(layer: Layer, step: _Step, acc: np.ndarray, ws: _Workspace, i: int,
                m: int) -> np.ndarray:
    """The requantized, clamped output of accumulators ``acc`` (rows last) of
    golden ``layer``: float64 arithmetic when proved exact (then float32 or
    int64 out), else the exact int64 :meth:`Layer.requantize`."""
    if step.scaled is None:
        acc = acc.astype(np.int64, copy=False)
        return layer.requantize(acc.reshape(-1, layer.out_features)).reshape(acc.shape)
    mult, add = step.scaled
    lo, hi = step.out_range
    t = ws.get((i, "requant"), acc.shape[1:], np.float64, m)
    np.multiply(acc, mult, out=t)
    t += add
    np.floor(t, out=t)
    if step.out_f32:
        y = ws.get((i, "y"), acc.shape[1:], np.float32, m)
        np.clip(t, lo, hi, out=y)
        return y
    np.clip(t, lo, hi, out=t)
    return t.astype(np.int64)
