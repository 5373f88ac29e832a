"""Integer golden model of convolutional layers: conv2d, max-pool, flatten.

The first slice of "Convolutional networks, part 1". Like :mod:`.golden`, this
is a bit-exact integer oracle and knows nothing of Amaranth, cocotb or the
trainer. The fixed choices:

* **Layout.** Tensors are channels-last: an image is ``(H, W, C)``, a batch
  ``(B, H, W, C)``, integers (computed in int64). Every ``forward`` takes
  either and gives back the same rank.
* **Conv2d is a dense SST layer over im2col patches.** Output channel ``r``
  has ``kh*kw*Cin`` ternary weights in the order ``(ky, kx, c)``, channel
  fastest, cut into N-subvectors and zero-code padded exactly like a dense
  row. A :class:`Conv2D` therefore holds a plain :class:`golden.Layer
  <sst_hw.format.golden.Layer>` with ``in_features = kh*kw*Cin`` and
  ``out_features = Cout``, and computes ``layer.accumulate(patches)`` then
  ``layer.requantize(acc)`` on the ``(B*Ho*Wo, kh*kw*Cin)`` patch matrix of
  :func:`im2col`: codes, widths and requantization are those of a dense
  layer, never duplicated here.
* **Geometry.** Kernels ``kh x kw`` of 1..7 each, stride 1 or 2, zero padding
  ``0..kh//2`` rows and ``0..kw//2`` columns on each side. Padding reads
  zeros; it is never stored. ``Ho = (H + 2*pad_h - kh) // stride + 1`` (and
  likewise ``Wo``); a kernel larger than the padded input is refused.
* **Order.** conv -> requantize -> ReLU (the clamp of the requantization)
  -> optional :class:`MaxPool`. Max-pool works on the integer activations:
  kernels 2x2 and 3x3, stride 2, no padding, floor output size
  ``(H - k) // 2 + 1``.
* **Flatten.** ``(H, W, C) -> H*W*C`` in HWC order (channel fastest), which
  is NumPy's C order of a channels-last tensor.
* **Accumulator width.** A conv row is a dense row of ``kh*kw*Cin`` weights,
  so :func:`conv_acc_bound` is :func:`arith.acc_range
  <sst_hw.format.arith.acc_range>` of that row (padding only lowers it).
  :func:`check_float32_exact` refuses a layer whose worst-case ``|acc|``
  reaches ``2^24``, the bound below which a float32 BLAS product (every
  partial sum included) is exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import as_strided

from sst_hw.format import arith
from sst_hw.format.codebook import Codebook, _check_int
from sst_hw.format.golden import Layer

__all__ = [
    "FLOAT32_EXACT_BITS",
    "KERNEL_RANGE",
    "POOL_KERNELS",
    "POOL_STRIDE",
    "STRIDES",
    "Conv2D",
    "Flatten",
    "MaxPool",
    "check_float32_exact",
    "conv_acc_bound",
    "conv_output_size",
    "forward_all",
    "im2col",
    "maxpool",
    "maxpool_into",
    "patch_view",
    "pool_output_size",
]

#: Sizes of a conv kernel side.
KERNEL_RANGE = (1, 7)
#: Allowed conv strides.
STRIDES = (1, 2)
#: Allowed max-pool kernels (square) and their stride.
POOL_KERNELS = (2, 3)
POOL_STRIDE = 2
#: float32 has a 24-bit significand: integers of magnitude below 2^24 are exact.
FLOAT32_EXACT_BITS = 24

_INT64_MAX = (1 << 63) - 1


# -- argument checks ------------------------------------------------------------------------

def _check_kernel(kh, kw):
    lo, hi = KERNEL_RANGE
    return (_check_int("kernel height kh", kh, lo, hi),
            _check_int("kernel width kw", kw, lo, hi))


def _check_stride(stride):
    if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)):
        raise TypeError(f"stride must be an integer, not {stride!r}")
    if int(stride) not in STRIDES:
        raise ValueError(f"stride must be 1 or 2, not {stride}")
    return int(stride)


def _check_pad(pad, kh, kw):
    """``(pad_h, pad_w)`` from an int or a pair, each in 0..k//2."""
    if isinstance(pad, (tuple, list)):
        if len(pad) != 2:
            raise ValueError(f"pad must be an integer or a pair (pad_h, pad_w), not {pad!r}")
        ph, pw = pad
    else:
        ph = pw = pad
    ph = _check_int("padding pad_h", ph, 0, 1 << 20)
    pw = _check_int("padding pad_w", pw, 0, 1 << 20)
    if ph > kh // 2:
        raise ValueError(f"padding pad_h must be in 0..{kh // 2} for kernel height {kh}, "
                         f"not {ph}")
    if pw > kw // 2:
        raise ValueError(f"padding pad_w must be in 0..{kw // 2} for kernel width {kw}, "
                         f"not {pw}")
    return ph, pw


def _check_shape(name, shape):
    """A positive ``(H, W, C)`` tuple of ints."""
    if not isinstance(shape, (tuple, list)) or len(shape) != 3:
        raise ValueError(f"{name} must be (H, W, C), not {shape!r}")
    return tuple(_check_int(f"{name}[{i}] ({'HWC'[i]})", v, 1, 1 << 20)
                 for i, v in enumerate(shape))


def _as_images(x, shape=None):
    """``x`` as int64 ``(B, H, W, C)`` and whether it was a single image."""
    a = np.asarray(x)
    if a.dtype == object or not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"input must be an integer array, not dtype {a.dtype}")
    if a.ndim not in (3, 4):
        raise ValueError(f"input must be (H, W, C) or (B, H, W, C), not shape {a.shape}")
    single = a.ndim == 3
    if single:
        a = a[None]
    if shape is not None and a.shape[1:] != tuple(shape):
        _h, _w, c = shape
        if a.shape[3] != c:
            raise ValueError(f"input has {a.shape[3]} channels but the layer expects {c} "
                             f"(input shape {a.shape[1:]}, expected {tuple(shape)})")
        raise ValueError(f"input must have (H, W, C) = {tuple(shape)}, not {a.shape[1:]}")
    if a.size and a.dtype == np.uint64 and int(a.max()) > _INT64_MAX:
        raise ValueError(f"input value {int(a.max())} does not fit int64")
    return a.astype(np.int64, copy=False), single


def conv_output_size(h, w, kh, kw, stride=1, pad=0) -> tuple[int, int]:
    """``(Ho, Wo)`` of a conv over an ``h x w`` input; refuses a kernel larger
    than the padded input and every out-of-range parameter."""
    h = _check_int("input height H", h, 1, 1 << 20)
    w = _check_int("input width W", w, 1, 1 << 20)
    kh, kw = _check_kernel(kh, kw)
    stride = _check_stride(stride)
    ph, pw = _check_pad(pad, kh, kw)
    hp, wp = h + 2 * ph, w + 2 * pw
    if kh > hp or kw > wp:
        raise ValueError(f"kernel {kh}x{kw} is larger than the padded input {hp}x{wp} "
                         f"(H={h}, W={w}, pad=({ph}, {pw})): kh must be in 1..{min(hp, 7)} "
                         f"and kw in 1..{min(wp, 7)}")
    return (hp - kh) // stride + 1, (wp - kw) // stride + 1


# -- vectorised kernels -----------------------------------------------------------------------

def im2col(x, kh, kw, stride=1, pad=0) -> np.ndarray:
    """Patch matrix of a conv: int64 ``(B*Ho*Wo, kh*kw*C)``.

    ``x`` is ``(H, W, C)`` or ``(B, H, W, C)``. Row ``(b*Ho + oy)*Wo + ox`` holds
    the window at output pixel ``(oy, ox)`` of image ``b`` in ``(ky, kx, c)``
    order, channel fastest; positions in the padding read 0. Built with a
    strided view (no Python loop over pixels) and one copy.
    """
    x, _ = _as_images(x)
    b, h, w, c = x.shape
    ho, wo = conv_output_size(h, w, kh, kw, stride, pad)
    ph, pw = _check_pad(pad, kh, kw)
    if ph or pw:
        x = np.pad(x, ((0, 0), (ph, ph), (pw, pw), (0, 0)))
    x = np.ascontiguousarray(x)
    win = patch_view(x, kh, kw, stride, ho, wo)
    return np.ascontiguousarray(win, dtype=np.int64).reshape(b * ho * wo, kh * kw * c)


def patch_view(xp: np.ndarray, kh: int, kw: int, stride: int, ho: int, wo: int) -> np.ndarray:
    """A read-only strided view ``(B, Ho, Wo, kh, kw*C)`` of the windows of the
    already padded, C-contiguous ``(B, H', W', C)`` array ``xp``: element
    ``[b, oy, ox, ky, kx*C + c]`` is ``xp[b, oy*stride + ky, ox*stride + kx, c]``.

    Channels-last makes the ``kw*C`` values of one kernel row one contiguous
    run of ``xp``, so a window is ``kh`` runs and copying the view (one
    ``np.copyto``) gives the im2col rows in ``(ky, kx, c)`` order, dtype kept.
    """
    if not xp.flags.c_contiguous:
        raise ValueError("patch_view needs a C-contiguous (B, H, W, C) array")
    b, hp, wp, c = xp.shape
    if (ho - 1) * stride + kh > hp or (wo - 1) * stride + kw > wp:
        raise ValueError(f"{ho}x{wo} windows of {kh}x{kw} at stride {stride} do not fit "
                         f"a {hp}x{wp} input")
    sb, sh, sw, sc = xp.strides
    return as_strided(xp, (b, ho, wo, kh, kw * c), (sb, stride * sh, stride * sw, sh, sc),
                      writeable=False)


def _check_pool(k, stride):
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"max-pool kernel must be an integer, not {k!r}")
    if int(k) not in POOL_KERNELS:
        raise ValueError(f"max-pool kernel must be 2 or 3, not {k}")
    if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)):
        raise TypeError(f"max-pool stride must be an integer, not {stride!r}")
    if int(stride) != POOL_STRIDE:
        raise ValueError(f"max-pool stride must be {POOL_STRIDE}, not {stride}")
    return int(k), int(stride)


def pool_output_size(h, w, k, stride=POOL_STRIDE) -> tuple[int, int]:
    """``(Ho, Wo)`` of a max-pool (floor, no padding); refuses an input smaller than k."""
    k, stride = _check_pool(k, stride)
    h = _check_int("input height H", h, 1, 1 << 20)
    w = _check_int("input width W", w, 1, 1 << 20)
    if h < k or w < k:
        raise ValueError(f"max-pool kernel {k}x{k} is larger than the input {h}x{w}: "
                         f"the input needs H and W in {k}.. (or a kernel in 2..{min(h, w, 3)})")
    return (h - k) // stride + 1, (w - k) // stride + 1


def maxpool(x, k, stride=POOL_STRIDE) -> np.ndarray:
    """Max over ``k x k`` windows with the given stride, per channel, int64.

    ``x`` is ``(H, W, C)`` or ``(B, H, W, C)``; output ``(.., Ho, Wo, C)`` with
    ``Ho = (H - k) // stride + 1`` (floor: trailing rows/columns that do not fill
    a window are dropped)."""
    x, single = _as_images(x)
    ho, wo = pool_output_size(x.shape[1], x.shape[2], k, stride)
    y = maxpool_into(x, int(k), int(stride), ho, wo)
    return y[0] if single else y


def maxpool_into(x: np.ndarray, k: int, stride: int, ho: int, wo: int, rows=None, out=None):
    """The max-pool of a checked ``(B, H, W, C)`` array of any dtype, separably:
    the max of the ``k`` strided row slices (into ``rows``, ``(B, Ho, W, C)``),
    then of the ``k`` strided column slices of that (into ``out``,
    ``(B, Ho, Wo, C)``); both are allocated when not given. Exact for any
    dtype (a max rounds nothing), no Python loop over pixels."""
    if k < 2:
        raise ValueError(f"max-pool kernel must be at least 2, not {k}")
    b, _, w, c = x.shape
    span_h, span_w = (ho - 1) * stride + 1, (wo - 1) * stride + 1
    if rows is None:
        rows = np.empty((b, ho, w, c), x.dtype)
    if out is None:
        out = np.empty((b, ho, wo, c), x.dtype)
    np.maximum(x[:, 0:span_h:stride], x[:, 1:1 + span_h:stride], out=rows)
    for dy in range(2, k):
        np.maximum(rows, x[:, dy:dy + span_h:stride], out=rows)
    np.maximum(rows[:, :, 0:span_w:stride], rows[:, :, 1:1 + span_w:stride], out=out)
    for dx in range(2, k):
        np.maximum(out, rows[:, :, dx:dx + span_w:stride], out=out)
    return out


# -- widths -------------------------------------------------------------------------------

def conv_acc_bound(kh, kw, cin, codebook: Codebook, in_width: int,
                   in_signed: bool) -> tuple[int, int]:
    """Inclusive (lo, hi) of a conv accumulator: the dense-row worst case of
    ``kh*kw*cin`` weights coded (N, K) with ``in_width``-bit inputs."""
    kh, kw = _check_kernel(kh, kw)
    cin = _check_int("input channels Cin", cin, 1, 1 << 20)
    return arith.acc_range(kh * kw * cin, codebook.n, codebook.k, in_width, in_signed)


def check_float32_exact(kh, kw, cin, codebook: Codebook, in_width: int,
                        in_signed: bool) -> int:
    """Raise ValueError unless every conv accumulator (and partial sum) is below
    ``2^24`` in magnitude, so float32 BLAS computes it exactly; returns the bound."""
    lo, hi = conv_acc_bound(kh, kw, cin, codebook, in_width, in_signed)
    bound = max(-lo, hi)
    if bound >= 1 << FLOAT32_EXACT_BITS:
        raise ValueError(
            f"conv accumulator reaches {bound} in magnitude ({kh}x{kw}x{cin} weights, "
            f"{codebook.describe_short()}, {in_width}-bit {'signed' if in_signed else 'unsigned'}"
            f" inputs): float32 is exact only below 2^{FLOAT32_EXACT_BITS} = "
            f"{1 << FLOAT32_EXACT_BITS}")
    return bound


# -- layers --------------------------------------------------------------------------------

@dataclass(eq=False)
class Conv2D:
    """A conv2d SST layer: a golden :class:`Layer` over im2col patches.

    Parameters
    ----------
    layer : Layer
        ``in_features == kh*kw*Cin`` (weights in ``(ky, kx, c)`` order, channel
        fastest), ``out_features == Cout``; its requantization (and ReLU clamp)
        is the conv's.
    kh, kw : int
        Kernel size, 1..7 each.
    stride : int
        1 or 2.
    pad : int or (int, int)
        Zero padding per side, ``0..kh//2`` rows and ``0..kw//2`` columns.
    in_shape : (H, W, Cin)
        Shape of one input image.
    """

    layer: Layer
    kh: int
    kw: int
    stride: int
    pad: int | tuple
    in_shape: tuple
    out_shape: tuple = field(init=False)

    def __post_init__(self):
        if not isinstance(self.layer, Layer):
            raise TypeError(f"layer must be a golden Layer, not {type(self.layer).__name__}")
        self.kh, self.kw = _check_kernel(self.kh, self.kw)
        self.stride = _check_stride(self.stride)
        self.pad = _check_pad(self.pad, self.kh, self.kw)
        self.in_shape = _check_shape("in_shape", self.in_shape)
        h, w, cin = self.in_shape
        want = self.kh * self.kw * cin
        if self.layer.in_features != want:
            raise ValueError(
                f"layer has {self.layer.in_features} inputs but a {self.kh}x{self.kw} kernel "
                f"over {cin} channels needs kh*kw*Cin = {want}")
        ho, wo = conv_output_size(h, w, self.kh, self.kw, self.stride, self.pad)
        self.out_shape = (ho, wo, self.layer.out_features)

    @property
    def cin(self) -> int:
        return self.in_shape[2]

    @property
    def cout(self) -> int:
        return self.layer.out_features

    def acc_width(self, in_width: int, in_signed: bool) -> int:
        """Bits of the signed accumulator (the dense-row worst case)."""
        return self.layer.acc_width(in_width, in_signed)

    def acc_bound(self, in_width: int, in_signed: bool) -> tuple[int, int]:
        """Inclusive (lo, hi) of the accumulator (:func:`conv_acc_bound`)."""
        return conv_acc_bound(self.kh, self.kw, self.cin, self.layer.codebook,
                              in_width, in_signed)

    def check_float32_exact(self, in_width: int, in_signed: bool) -> int:
        """:func:`check_float32_exact` for this layer."""
        return check_float32_exact(self.kh, self.kw, self.cin, self.layer.codebook,
                                   in_width, in_signed)

    def patches(self, x) -> np.ndarray:
        """The im2col patch matrix ``(B*Ho*Wo, kh*kw*Cin)`` of ``x``."""
        x, _ = _as_images(x, self.in_shape)
        return im2col(x, self.kh, self.kw, self.stride, self.pad)

    def accumulate(self, x, *, acc_width: int | None = None) -> np.ndarray:
        """Raw accumulators, int64 ``(.., Ho, Wo, Cout)``."""
        xb, single = _as_images(x, self.in_shape)
        acc = self.layer.accumulate(im2col(xb, self.kh, self.kw, self.stride, self.pad),
                                    acc_width=acc_width)
        acc = acc.reshape((xb.shape[0],) + self.out_shape)
        return acc[0] if single else acc

    def requantize(self, acc) -> np.ndarray:
        """The layer's requantization (and clamp) of ``(.., Ho, Wo, Cout)`` accumulators."""
        acc = np.asarray(acc)
        shape = acc.shape
        return self.layer.requantize(acc.reshape(-1, self.cout)).reshape(shape)

    def forward(self, x, *, acc_width: int | None = None) -> np.ndarray:
        """Requantized activations, int64 ``(.., Ho, Wo, Cout)``."""
        return self.requantize(self.accumulate(x, acc_width=acc_width))


@dataclass(eq=False)
class MaxPool:
    """Max-pool of integer activations: ``kernel`` 2 or 3, stride 2, floor size."""

    kernel: int
    in_shape: tuple
    stride: int = POOL_STRIDE
    out_shape: tuple = field(init=False)

    def __post_init__(self):
        self.kernel, self.stride = _check_pool(self.kernel, self.stride)
        self.in_shape = _check_shape("in_shape", self.in_shape)
        h, w, c = self.in_shape
        self.out_shape = pool_output_size(h, w, self.kernel, self.stride) + (c,)

    def forward(self, x) -> np.ndarray:
        x, single = _as_images(x, self.in_shape)
        y = maxpool(x, self.kernel, self.stride)
        return y[0] if single else y


@dataclass(eq=False)
class Flatten:
    """``(H, W, C) -> H*W*C`` in HWC order (channel fastest)."""

    in_shape: tuple
    out_features: int = field(init=False)

    def __post_init__(self):
        self.in_shape = _check_shape("in_shape", self.in_shape)
        h, w, c = self.in_shape
        self.out_features = h * w * c

    def forward(self, x) -> np.ndarray:
        x, single = _as_images(x, self.in_shape)
        y = x.reshape(x.shape[0], self.out_features)
        return y[0] if single else y


def forward_all(layers, x) -> np.ndarray:
    """Run ``x`` through a chain of :class:`Conv2D` / :class:`MaxPool` /
    :class:`Flatten` / golden :class:`Layer`; a last golden ``Layer`` yields its
    raw accumulators (logits), any other layer its ``forward``."""
    layers = list(layers)
    for i, layer in enumerate(layers):
        if isinstance(layer, Layer):
            x = layer.accumulate(x) if i == len(layers) - 1 else layer.forward(x)
        else:
            x = layer.forward(x)
    return x
