"""Random valid SST networks for tests and benchmarks.

:func:`random_network` (also reachable as :meth:`Network.random
<sst_hw.format.golden.Network.random>`) draws codes from the used code values
of a codebook and calibrates each hidden layer's requantization so that its
activations spread over their range; :func:`random_conv2d` does the same for
one convolution layer and :func:`random_convnet` for a whole convolutional
network described by a compact spec. Like the rest of :mod:`sst_hw.format`,
it knows nothing of Amaranth, cocotb or training.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np

from sst_hw.format import arith
from sst_hw.format.codebook import Codebook
from sst_hw.format.conv import Conv2D, Flatten, MaxPool, _check_shape
from sst_hw.format.golden import Layer, Network

__all__ = ["random_network", "random_conv2d", "random_convnet", "SPEC_KINDS"]


def random_network(rng, sizes: Sequence[int], n: int, k: int, variant: str = "full",
                   assignment: str = "enum", *, input_width: int = 8,
                   input_signed: bool = False, act_width: int | Sequence[int] = 8,
                   relu: bool | Sequence[bool] = True, shift_mode: bool = False,
                   negative_mults: bool = True, floats: bool = True, calib: int = 64,
                   network_cls=Network) -> Network:
    """A random valid network; the parameters are those of :meth:`Network.random
    <sst_hw.format.golden.Network.random>` (``network_cls``: the class to build,
    for subclasses)."""
    rng = np.random.default_rng(rng)
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"sizes must be at least two positive integers, not {sizes}")
    hidden = len(sizes) - 2
    widths = [act_width] * hidden if np.ndim(act_width) == 0 else list(act_width)
    relus = [relu] * hidden if np.ndim(relu) == 0 else list(relu)
    if len(widths) != hidden or len(relus) != hidden:
        raise ValueError(f"act_width and relu need one value per hidden layer ({hidden})")
    cb = Codebook(n, k, variant, assignment)
    lo, hi = arith.act_range(input_width, input_signed)
    x = rng.integers(lo, hi, size=(calib, sizes[0]), endpoint=True)
    layers = []
    in_fmt = (input_width, input_signed)
    last_w = act_width if np.ndim(act_width) == 0 else 8
    for i, (fi, fo) in enumerate(zip(sizes, sizes[1:])):
        last = i == len(sizes) - 2
        layer, x = _random_dense(
            rng, cb, fi, fo, x, in_fmt, last=last, act_width=last_w if last else widths[i],
            relu=False if last else relus[i], shift_mode=shift_mode,
            negative_mults=negative_mults, floats=floats)
        layers.append(layer)
        in_fmt = (layer.act_width, layer.out_signed)
    return network_cls(layers, input_width, input_signed)


def _random_dense(rng, cb: Codebook, fi: int, fo: int, x, in_fmt, *, last: bool,
                  act_width: int, relu: bool, shift_mode: bool, negative_mults: bool,
                  floats: bool):
    """A random dense layer ``fi -> fo`` and its output on the calibration
    batch ``x`` (``in_fmt`` inputs): requantization calibrated on ``x``
    (:func:`_calibrate`), or for the ``last`` layer ``M = 1, C = 0, S = 0``,
    no ReLU, and ``None`` for the output."""
    codes = _random_codes(cb, rng, fo, fi)
    alpha, bias = _random_floats(rng, fo) if floats else (None, None)
    ones, zeros = np.ones(fo, np.int64), np.zeros(fo, np.int64)
    if last:
        return Layer(fi, fo, cb, codes, ones, zeros, 0, False, act_width, alpha, bias), None
    probe = Layer(fi, fo, cb, codes, ones, zeros, 0, True, 8)
    w = probe.acc_width(*in_fmt)
    acc = probe.accumulate(x, acc_width=w)
    mult, add, shift = _calibrate(acc, arith.act_range(act_width, not relu), w, rng,
                                  shift_mode, negative_mults)
    layer = Layer(fi, fo, cb, codes, mult, add, shift, relu, act_width, alpha, bias)
    return layer, layer.requantize(acc)


def _random_floats(rng, rows: int):
    """Random float metadata: ``alpha`` in 0.01..0.1 and ``bias`` ~ N(0, 0.1), float32."""
    return (rng.uniform(0.01, 0.1, rows).astype(np.float32),
            rng.normal(0, 0.1, rows).astype(np.float32))


@lru_cache(maxsize=32)
def _used_codes(cb: Codebook) -> np.ndarray:
    """Every used code value of ``cb`` (a table of at most 2^16 entries)."""
    return np.flatnonzero(cb.used)


def _random_codes(cb: Codebook, rng, out: int, features: int) -> np.ndarray:
    """Random used codes (out, ceil(features / N)), zero in the last padding."""
    subs = -(-features // cb.n)
    if cb.bits <= 16:
        codes = rng.choice(_used_codes(cb), size=(out, subs))
    else:
        vec = np.zeros((out * subs, cb.n), np.int8)
        rows = np.arange(out * subs)
        c = rng.integers(0, cb.k + 1, out * subs)
        L = cb.group_len
        # Slot s takes group perm[:, s]: distinct groups, in random order.
        perm = np.argsort(rng.random((out * subs, cb.groups)), axis=1)
        for s in range(cb.k):
            p = perm[:, s] * L + rng.integers(0, L, out * subs)
            live = s < c
            vec[rows[live], p[live]] = rng.choice(np.array([-1, 1], np.int8), live.sum())
        codes = cb.encode(vec).reshape(out, subs)
    rem = features - (subs - 1) * cb.n
    if rem < cb.n:
        last = codes[:, -1]
        v = cb.decode(last)
        if v[:, rem:].any():
            v[:, rem:] = 0
            codes[:, -1] = cb.encode(v)
    return codes.astype(np.int64)


def _calibrate(acc, out_range, acc_w, rng, shift_mode, negative_mults):
    """Per-row M, C and a shared S mapping the rows of ``acc`` into ``out_range``."""
    lo, hi = out_range
    centre = lo + 0.4 * (hi - lo)
    spread = (hi - lo) / 4
    mean = acc.mean(0)
    sd = np.maximum(acc.std(0), 1.0)
    gain = spread / sd
    mhi = arith.mult_range()[1]
    if shift_mode:
        shift = int(np.clip(np.round(np.log2(1 / np.median(gain))), 0, 40))
        mult = np.ones(acc.shape[1], np.int64)
    else:
        # Largest shift keeping every |M| within about 2^14, then a little less.
        smax = int(np.floor(np.log2(2 ** 14 / gain.max())))
        shift = int(np.clip(smax - rng.integers(0, 4), 0, 40))
        mult = np.clip(np.round(gain * 2.0 ** shift), 1, mhi).astype(np.int64)
        if negative_mults:
            mult = np.where(rng.random(len(mult)) < 0.25, -mult, mult)
    rounding = (1 << (shift - 1)) if shift else 0
    add = np.round(centre * 2.0 ** shift - mean * mult) + rounding
    alo, ahi = arith.add_range(acc_w)
    add = np.clip(np.clip(add, -2.0 ** 62, 2.0 ** 62).astype(np.int64), alo, ahi)
    return mult, add, shift


# -- random layers for tests and benchmarks ----------------------------------------------------

def random_conv2d(rng, in_shape, cout, kh, kw, stride=1, pad=0, *, codebook: Codebook,
                  in_width=8, in_signed=False, act_width=8, relu=True, calib=None,
                  shift_mode=False, negative_mults=True, floats=False) -> Conv2D:
    """A random valid :class:`Conv2D`: random used codes, requantization
    calibrated (as :func:`random_network` does) on ``calib``
    images (default: 8 uniform random ones in the input range); with
    ``floats``, random ``alpha`` and ``bias`` metadata too."""
    rng = np.random.default_rng(rng)
    in_shape = _check_shape("in_shape", in_shape)
    feats = kh * kw * in_shape[2]
    codes = _random_codes(codebook, rng, cout, feats)
    ones, zeros = np.ones(cout, np.int64), np.zeros(cout, np.int64)
    probe = Conv2D(Layer(feats, cout, codebook, codes, ones, zeros, 0, True, 8),
                   kh, kw, stride, pad, in_shape)
    if calib is None:
        lo, hi = arith.act_range(in_width, in_signed)
        calib = rng.integers(lo, hi, size=(8,) + in_shape, endpoint=True)
    w = probe.acc_width(in_width, in_signed)
    acc = probe.accumulate(calib).reshape(-1, cout)
    mult, add, shift = _calibrate(acc, arith.act_range(act_width, not relu), w, rng,
                                  shift_mode, negative_mults)
    alpha, bias = _random_floats(rng, cout) if floats else (None, None)
    layer = Layer(feats, cout, codebook, codes, mult, add, shift, relu, act_width, alpha, bias)
    return Conv2D(layer, kh, kw, stride, pad, in_shape)


#: Layer kinds of a :func:`random_convnet` spec and their arguments.
SPEC_KINDS = {"conv": "('conv', cout, k[, stride[, pad]])", "pool": "('pool', k)",
              "flatten": "('flatten',)", "dense": "('dense', out_features)"}


def random_convnet(rng, input_shape, spec, n: int = 8, k: int = 2, variant: str = "full",
                   assignment: str = "enum", *, input_width: int = 8,
                   input_signed: bool = False, act_width: int | Sequence[int] = 8,
                   relu: bool | Sequence[bool] = True, shift_mode: bool = False,
                   negative_mults: bool = True, floats: bool = True, calib=8, meta=None):
    """A random valid :class:`~sst_hw.format.convnet.ConvNetwork`.

    Parameters
    ----------
    rng : numpy.random.Generator or int
        Randomness (an int is a seed).
    input_shape : (H, W, C)
        Shape of one input image, channels last.
    spec : sequence of tuples
        The layers, in order, each one of

        * ``("conv", cout, k)``, ``("conv", cout, k, stride)`` or
          ``("conv", cout, k, stride, pad)``: a :class:`Conv2D` with ``cout``
          output channels, kernel ``k`` (an int for ``k x k`` or a pair
          ``(kh, kw)``), stride 1 or 2 (default 1) and zero padding ``pad``
          (an int or a pair ``(ph, pw)``, default 0);
        * ``("pool", k)``: a :class:`MaxPool` of kernel 2 or 3, stride 2;
        * ``("flatten",)``;
        * ``("dense", out_features)``: a dense layer.

        The input channels and shapes follow from ``input_shape``; the last
        entry must be dense (the logits). For example a small VGG:
        ``[("conv", 16, 3, 1, 1), ("pool", 2), ("conv", 32, 3, 1, 1), ("pool", 2),
        ("flatten",), ("dense", 64), ("dense", 10)]``.
    n, k, variant, assignment :
        The codebook of every conv and dense layer.
    input_width, input_signed :
        Format of the network input.
    act_width, relu :
        Output format of every requantizing (conv or dense, not last) layer:
        one value for all or one per such layer.
    shift_mode, negative_mults, floats :
        As for :meth:`Network.random <sst_hw.format.golden.Network.random>`.
    calib : int or int array (B, H, W, C)
        Calibration images: a count of uniform random images in the input
        range, or the images themselves.
    meta : dict, optional
        The network's metadata.

    Each conv and dense layer is calibrated on the previous layer's integer
    output for the calibration images (conv by :func:`random_conv2d`, dense as
    :func:`random_network` does), so activations spread over their range
    layer after layer. The last layer keeps ``M = 1, C = 0, S = 0``.
    """
    from sst_hw.format.convnet import ConvNetwork
    rng = np.random.default_rng(rng)
    shape = _check_shape("input_shape", input_shape)
    spec = [tuple(s) if isinstance(s, (tuple, list)) else (s,) for s in spec]
    sst = [i for i, s in enumerate(spec) if s[0] in ("conv", "dense")]
    hidden = len(sst) - 1 if sst else 0
    widths = [act_width] * hidden if np.ndim(act_width) == 0 else list(act_width)
    relus = [relu] * hidden if np.ndim(relu) == 0 else list(relu)
    if len(widths) != hidden or len(relus) != hidden:
        raise ValueError(f"act_width and relu need one value per requantizing conv or dense "
                         f"layer ({hidden})")
    cb = Codebook(n, k, variant, assignment)
    lo, hi = arith.act_range(input_width, input_signed)
    if np.ndim(calib) == 0:
        x = rng.integers(lo, hi, size=(int(calib),) + shape, endpoint=True)
    else:
        x = np.asarray(calib).astype(np.int64)
    in_fmt = (input_width, input_signed)
    layers = []
    for i, entry in enumerate(spec):
        kind, args = entry[0], entry[1:]
        form = SPEC_KINDS.get(kind)
        if form is None:
            raise ValueError(f"spec entry {i}: unknown kind {kind!r} (one of "
                             f"{', '.join(SPEC_KINDS)})")
        nargs = {"conv": (2, 4), "pool": (1, 1), "flatten": (0, 0), "dense": (1, 1)}[kind]
        if not nargs[0] <= len(args) <= nargs[1]:
            raise ValueError(f"spec entry {i}: {entry!r} must be {form}")
        j = sst.index(i) if i in sst else None
        last = j == len(sst) - 1
        fmt = ({"act_width": 8 if last else widths[j], "relu": False if last else relus[j]}
               if j is not None else {})
        if kind == "conv":
            cout, ksz = args[0], args[1]
            kh, kw = (ksz, ksz) if np.ndim(ksz) == 0 else tuple(ksz)
            stride = args[2] if len(args) > 2 else 1
            pad = args[3] if len(args) > 3 else 0
            if last:
                raise ValueError(f"spec entry {i}: the last layer must be dense, not conv")
            layer = random_conv2d(rng, shape, cout, kh, kw, stride, pad, codebook=cb,
                                  in_width=in_fmt[0], in_signed=in_fmt[1], calib=x,
                                  shift_mode=shift_mode, negative_mults=negative_mults,
                                  floats=floats, **fmt)
            x = layer.forward(x)
            in_fmt = (layer.layer.act_width, layer.layer.out_signed)
            shape = layer.out_shape
        elif kind == "pool":
            layer = MaxPool(args[0], shape)
            x = layer.forward(x)
            shape = layer.out_shape
        elif kind == "flatten":
            layer = Flatten(shape)
            x = layer.forward(x)
            shape = (layer.out_features,)
        else:
            if len(shape) != 1:
                raise ValueError(f"spec entry {i}: a dense layer reads a vector; put "
                                 f"('flatten',) before it")
            layer, x = _random_dense(rng, cb, shape[0], int(args[0]), x, in_fmt, last=last,
                                     shift_mode=shift_mode, negative_mults=negative_mults,
                                     floats=floats, **fmt)
            in_fmt = (layer.act_width, layer.out_signed)
            shape = (layer.out_features,)
        layers.append(layer)
    return ConvNetwork(layers, input_shape, input_width, input_signed, dict(meta or {}))
