"""A NumPy trainer of convolutional networks into SST form.

A conv layer is a dense layer over im2col patches (the golden model's
choice, :mod:`sst_hw.format.conv`): its latent weights ``V`` are one row per
output channel of ``kh*kw*Cin`` weights in ``(ky, kx, c)`` order, channel
fastest, and everything the MLP trainer does to a row (weight-distribution
normalization, gradual pruning into the SST structure, straight-through
ternary fine-tuning, per-row scale absorbed by batch norm) applies unchanged.
So :class:`CNN` is an :class:`~sst_hw.train.mlp.MLP` whose layers may be
convolutions; only the forward and backward passes differ:

* conv: patches ``(B*Ho*Wo, kh*kw*Cin)`` by a strided view, ``z = P W^T``,
  batch norm over every pixel of the batch per channel, ReLU; backward
  ``dW = dz^T P`` and ``dP = dz W`` scattered back over the ``kh*kw``
  kernel offsets (col2im);
* max-pool on the ReLU outputs (the integer order: conv -> requantize ->
  ReLU -> max-pool); the gradient goes to the first maximum of each window;
* flatten in HWC order before the first dense layer.

Training runs the same phases with the same schedule logic
(:func:`~sst_hw.train.mlp.run_phases`); :func:`train_cnn` is the entry point.
"""

from __future__ import annotations

import numpy as np

from sst_hw.format.codebook import Codebook
from sst_hw.train.arch import (
    ConvSpec,
    DenseSpec,
    PoolSpec,
    arch_shapes,
    format_arch,
    parse_arch)
from sst_hw.train.mlp import (
    MLP,
    PHASES,
    Progress,
    Schedule,
    TrainResult,
    continue_model,
    run_phases,
    to_float,
    training_seeds)

__all__ = ["CNN", "train_cnn", "im2col_f32", "col2im_f32"]

#: Images per batch of the eval-mode passes (bounds the patch matrices' memory).
_EVAL_BATCH = 500


def _inside(size: int, out: int, off: int, stride: int, pad: int) -> tuple[int, int]:
    """The output positions ``lo..hi-1`` whose window offset ``off`` lands inside an
    input axis of ``size`` (``o * stride + off - pad`` in ``0..size-1``); the others read
    zero padding."""
    return (max(0, -(-(pad - off) // stride)),
            min(out, (size - 1 + pad - off) // stride + 1))


def im2col_f32(a: np.ndarray, k: int, stride: int, pad: int) -> np.ndarray:
    """Patches ``(B*Ho*Wo, k*k*C)`` of ``a`` (B, H, W, C), in its dtype, ``(ky, kx, c)``
    order, zero padding: the golden model's :func:`~sst_hw.format.conv.im2col`
    for floats. Filled by ``k*k`` strided slice copies (each moves whole
    channel vectors), several times faster than copying a transposed
    sliding-window view when C is small."""
    b, h, w, c = a.shape
    ho = (h + 2 * pad - k) // stride + 1
    wo = (w + 2 * pad - k) // stride + 1
    out = np.empty((b, ho, wo, k, k, c), a.dtype)
    for ky in range(k):
        y0, y1 = _inside(h, ho, ky, stride, pad)
        for kx in range(k):
            x0, x1 = _inside(w, wo, kx, stride, pad)
            dst = out[:, :, :, ky, kx]
            if y0 > 0 or y1 < ho or x0 > 0 or x1 < wo:
                dst[:, :y0] = 0
                dst[:, y1:] = 0
                dst[:, y0:y1, :x0] = 0
                dst[:, y0:y1, x1:] = 0
            if y1 > y0 and x1 > x0:
                sy, sx = y0 * stride + ky - pad, x0 * stride + kx - pad
                dst[:, y0:y1, x0:x1] = a[:, sy:sy + stride * (y1 - y0 - 1) + 1:stride,
                                         sx:sx + stride * (x1 - x0 - 1) + 1:stride]
    return out.reshape(b * ho * wo, k * k * c)


def col2im_f32(dp: np.ndarray, in_shape, k: int, stride: int, pad: int) -> np.ndarray:
    """The adjoint of :func:`im2col_f32`: patch gradients back onto the input
    ``(B, H, W, C)``, summed over the ``k*k`` kernel offsets (padding dropped)."""
    b, h, w, c = in_shape
    ho = (h + 2 * pad - k) // stride + 1
    wo = (w + 2 * pad - k) // stride + 1
    dp = dp.reshape(b, ho, wo, k, k, c)
    out = np.zeros((b, h, w, c), dp.dtype)
    for ky in range(k):
        y0, y1 = _inside(h, ho, ky, stride, pad)
        for kx in range(k):
            x0, x1 = _inside(w, wo, kx, stride, pad)
            if y1 > y0 and x1 > x0:
                sy, sx = y0 * stride + ky - pad, x0 * stride + kx - pad
                out[:, sy:sy + stride * (y1 - y0 - 1) + 1:stride,
                    sx:sx + stride * (x1 - x0 - 1) + 1:stride] += dp[:, y0:y1, x0:x1, ky, kx]
    return out


def _pool_forward(a: np.ndarray, k: int):
    """Max over k x k windows, stride 2 (floor), and the index of the first
    maximum of each window (0..k*k-1), for the backward pass."""
    b, h, w, c = a.shape
    ho, wo = (h - k) // 2 + 1, (w - k) // 2 + 1
    best = None
    arg = np.zeros((b, ho, wo, c), np.int8)
    for o in range(k * k):
        dy, dx = divmod(o, k)
        v = a[:, dy:dy + 2 * (ho - 1) + 1:2, dx:dx + 2 * (wo - 1) + 1:2]
        if best is None:
            best = v.copy()
            continue
        more = v > best
        arg[more] = o
        np.maximum(best, v, out=best)
    return best, arg


def _pool_backward(dy: np.ndarray, arg: np.ndarray, in_shape, k: int) -> np.ndarray:
    ho, wo = dy.shape[1:3]
    out = np.zeros(in_shape, dy.dtype)
    for o in range(k * k):
        oy, ox = divmod(o, k)
        out[:, oy:oy + 2 * (ho - 1) + 1:2, ox:ox + 2 * (wo - 1) + 1:2] += dy * (arg == o)
    return out


class CNN(MLP):
    """A convolutional network whose conv and dense layers all become SST layers.

    Parameters
    ----------
    arch : str or list of specs
        The architecture (:mod:`sst_hw.train.arch`), e.g.
        ``"c16k3p1,mp2,c32k3p1,mp2,fc10"``.
    input_shape : (H, W, C)
        One input image, channels last.
    codebook, shift_only, seed, center :
        As for :class:`~sst_hw.train.mlp.MLP`.

    ``V[l]``, ``gamma[l]``... are indexed by *parameter* layer (conv and dense
    layers in order, ``l = 0 .. layers - 1``); ``sizes[l + 1]`` is the row count
    of parameter layer ``l`` (output channels or features) and ``sizes[0]`` the
    input's value count, so every per-row method of the MLP applies.
    """

    def __init__(self, arch, input_shape, codebook: Codebook, *, shift_only: bool = False,
                 seed: int = 0, center: bool = True):
        if not isinstance(codebook, Codebook):
            raise TypeError(f"codebook must be a Codebook, not {codebook!r}")
        self.input_shape = tuple(int(v) for v in input_shape)
        self.specs = parse_arch(arch, self.input_shape) if isinstance(arch, str) else list(arch)
        self.out_shapes = arch_shapes(self.specs, self.input_shape)
        self.in_shapes = [self.input_shape] + self.out_shapes[:-1]
        fan_in, rows = [], []
        for spec, ins in zip(self.specs, self.in_shapes):
            if isinstance(spec, ConvSpec):
                fan_in.append(spec.k * spec.k * ins[2])
                rows.append(spec.cout)
            elif isinstance(spec, DenseSpec):
                fan_in.append(int(np.prod(ins)))
                rows.append(spec.out)
        self.param_index = []
        l = 0
        for spec in self.specs:
            self.param_index.append(l if isinstance(spec, (ConvSpec, DenseSpec)) else None)
            l += isinstance(spec, (ConvSpec, DenseSpec))
        self.sizes = [int(np.prod(self.input_shape))] + rows
        self.codebook = codebook
        self.shift_only = bool(shift_only)
        self.center = bool(center)
        self.init_parameters(fan_in, rows, seed)
        self.phase = "float"
        self.keep = codebook.n
        #: Training augmentation: random left-right mirroring of the images.
        self.flip = False

    @property
    def arch(self) -> str:
        return format_arch(self.specs)

    def images(self, x) -> np.ndarray:
        """``x`` (B, H*W*C) or (B, H, W, C) as images (B, H, W, C) in the weights'
        dtype (float32; float64 when a test casts the model for a gradient check)."""
        return np.asarray(x, self.V[0].dtype).reshape((-1,) + self.input_shape)

    # -- passes ----------------------------------------------------------------------------

    def forward_train(self, x, momentum=0.1, dropout: float = 0.0, rng=None):
        """Logits with batch statistics and the cache for :meth:`backward`;
        ``x`` float (B, H*W*C) or images. ``dropout`` applies to the hidden
        dense layers only; with :attr:`flip` set, ``rng`` also mirrors a random
        half of the images."""
        a = self.images(x)
        if self.flip and rng is not None:
            # Augmentation: mirror a random half of the batch left to right.
            mirror = rng.random(len(a)) < 0.5
            a = a.copy()
            a[mirror] = a[mirror, :, ::-1]
        cache = []
        for spec, l in zip(self.specs, self.param_index):
            if isinstance(spec, PoolSpec):
                y, arg = _pool_forward(a, spec.k)
                cache.append(("pool", a.shape, arg))
                a = y
                continue
            w, wc = self.weight(l)
            if isinstance(spec, ConvSpec):
                p = im2col_f32(a, spec.k, spec.stride, spec.pad)
                in_shape = a.shape
            else:
                in_shape = a.shape
                p = a.reshape(len(a), -1)
            z = p @ w.T
            if self.is_last(l):
                logits = z * np.exp(self.log_tau[0])
                cache.append(("dense", in_shape, p, w, wc, None, None))
                return logits, cache
            y, bc = self._bn_train(l, z, momentum)
            on = (y > 0).astype(y.dtype)
            if dropout and isinstance(spec, DenseSpec):
                on *= (rng.random(y.shape, np.float32) >= dropout) * np.float32(1 / (1 - dropout))
            kind = "conv" if isinstance(spec, ConvSpec) else "dense"
            cache.append((kind, in_shape, p, w, wc, bc, on))
            a = y * on
            if kind == "conv":
                a = a.reshape(in_shape[0], *self.out_shapes[len(cache) - 1])
        raise AssertionError("the last layer is dense")

    def backward(self, cache, logits, dlogits):
        """Gradients of every array of :meth:`params`, same order."""
        L = self.layers
        dV = [None] * L
        dgam = [None] * (L - 1)
        dbet = [None] * (L - 1)
        dlog_tau = np.array([(dlogits * logits).sum()], np.float32)
        da = dlogits * np.exp(self.log_tau[0])
        for spec, l, entry in zip(reversed(self.specs), reversed(self.param_index),
                                  reversed(cache)):
            if entry[0] == "pool":
                _, in_shape, arg = entry
                da = _pool_backward(da, arg, in_shape, spec.k)
                continue
            kind, in_shape, p, w, (wn, s), bc, on = entry
            if self.is_last(l):
                dz = da
            else:
                dy = da.reshape(on.shape) * on
                dz, dgam[l], dbet[l] = self._bn_backward(l, dy, bc)
            dV[l] = self._normalized_backward(l, wn, s, dz.T @ p)
            if l == 0:
                break
            dp = dz @ w
            if kind == "conv":
                da = col2im_f32(dp, in_shape, spec.k, spec.stride, spec.pad)
            else:
                da = dp.reshape(in_shape)
        gam = [] if self.shift_only else dgam
        return [*dV, *gam, *dbet, dlog_tau]

    def _eval_pass(self, a, ws, upto=None, stats=None):
        """Eval-mode pass of float images ``a``; ``upto`` stops before that spec
        and returns the pre-BN ``z`` of its layer (for :meth:`recalibrate`)."""
        for i, (spec, l) in enumerate(zip(self.specs, self.param_index)):
            if isinstance(spec, PoolSpec):
                a = _pool_forward(a, spec.k)[0]
                continue
            p = (im2col_f32(a, spec.k, spec.stride, spec.pad) if isinstance(spec, ConvSpec)
                 else a.reshape(len(a), -1))
            z = p @ ws[l].T
            if i == upto:
                return z
            if self.is_last(l):
                return z
            y = np.maximum(self._bn_eval(l, z), 0.0)
            a = y.reshape(len(a), *self.out_shapes[i]) if isinstance(spec, ConvSpec) else y
        return a

    def predict_logits(self, x, phase: str | None = None, batch: int = _EVAL_BATCH):
        """Float logits (samples, classes) in eval mode of raw uint8 features."""
        x = np.asarray(x)
        ws = [self.weight(l, phase)[0] for l in range(self.layers)]
        outs = [self._eval_pass(self.images(to_float(x[i:i + batch])), ws)
                for i in range(0, len(x), batch)]
        return np.concatenate(outs) if outs else np.zeros((0, self.sizes[-1]), np.float32)

    def recalibrate(self, x, phase: str | None = None, batch: int = _EVAL_BATCH):
        """Exact batch-norm statistics over ``x`` (raw uint8 features), layer by
        layer (each pass recomputes the earlier layers batch by batch, so memory
        stays at one batch)."""
        x = np.asarray(x)
        ws = [self.weight(l, phase)[0] for l in range(self.layers)]
        for i, l in enumerate(self.param_index):
            if l is None or self.is_last(l):
                continue
            n = 0
            s1 = np.zeros(self.sizes[l + 1])
            s2 = np.zeros(self.sizes[l + 1])
            for j in range(0, len(x), batch):
                z = self._eval_pass(self.images(to_float(x[j:j + batch])), ws, upto=i)
                z = z.astype(np.float64)
                n += len(z)
                s1 += z.sum(0)
                s2 += (z * z).sum(0)
            mu = s1 / n
            var = np.maximum(s2 / n - mu * mu, 0.0)
            if self.shift_only:
                var = np.array([var.mean()])
            self.run_mean[l] = mu.astype(np.float32)
            self.run_var[l] = var.astype(np.float32)


def train_cnn(dataset, arch, codebook: Codebook, *, schedule: Schedule | None = None,
              seed: int = 0, shift_only: bool = False, progress: Progress | None = None,
              model: CNN | None = None, phases=PHASES, input_shape=None,
              flip: bool = False) -> TrainResult:
    """Train a :class:`CNN` on ``dataset`` (its ``image_shape`` or
    ``input_shape``) through the float, prune and sst phases; the seeds and the
    ``model`` continuation behave as in :func:`~sst_hw.train.mlp.train`.
    ``flip`` mirrors a random half of every training batch left to right."""
    schedule = schedule or Schedule.for_dataset(dataset)
    progress = progress or Progress(False)
    shape = tuple(input_shape or dataset.image_shape)
    if int(np.prod(shape)) != dataset.features:
        raise ValueError(f"input shape {shape} has {int(np.prod(shape))} values but the data "
                         f"set has {dataset.features} features")
    init_seed, order_seed = training_seeds(seed, phases, continued=model is not None)
    if model is None:
        specs = parse_arch(arch, shape, dataset.classes) if isinstance(arch, str) else arch
        model = CNN(specs, shape, codebook, shift_only=shift_only, seed=init_seed)
    else:
        continue_model(model, CNN, "a CNN", shift_only, codebook)
    model.flip = bool(flip)
    if model.sizes[-1] != dataset.classes:
        raise ValueError(f"the last layer has {model.sizes[-1]} outputs but the data set has "
                         f"{dataset.classes} classes")
    return run_phases(model, dataset, schedule, np.random.default_rng(order_seed), progress,
                      phases)
