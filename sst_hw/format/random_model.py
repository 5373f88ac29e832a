"""Random valid SST networks for tests and benchmarks.

:func:`random_network` (also reachable as :meth:`Network.random
<sst_hw.format.golden.Network.random>`) draws codes from the used code values
of a codebook and calibrates each hidden layer's requantization so that its
activations spread over their range; :func:`random_conv2d` does the same for
one convolution layer. Like the rest of :mod:`sst_hw.format`,
it knows nothing of Amaranth, cocotb or training.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np

from sst_hw.format import arith
from sst_hw.format.codebook import Codebook
from sst_hw.format.conv import Conv2D, _check_shape
from sst_hw.format.golden import Layer, Network

__all__ = ["random_network", "random_conv2d"]


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
    for i, (fi, fo) in enumerate(zip(sizes, sizes[1:])):
        codes = _random_codes(cb, rng, fo, fi)
        alpha = rng.uniform(0.01, 0.1, fo).astype(np.float32) if floats else None
        bias = rng.normal(0, 0.1, fo).astype(np.float32) if floats else None
        ones, zeros = np.ones(fo, np.int64), np.zeros(fo, np.int64)
        if i == len(sizes) - 2:
            last_w = act_width if np.ndim(act_width) == 0 else 8
            layers.append(Layer(fi, fo, cb, codes, ones, zeros, 0, False, last_w,
                                alpha, bias))
            break
        probe = Layer(fi, fo, cb, codes, ones, zeros, 0, True, 8)
        w = probe.acc_width(*in_fmt)
        acc = probe.accumulate(x, acc_width=w)
        mult, add, shift = _calibrate(acc, arith.act_range(widths[i], not relus[i]),
                                      w, rng, shift_mode, negative_mults)
        layer = Layer(fi, fo, cb, codes, mult, add, shift, relus[i], widths[i],
                      alpha, bias)
        layers.append(layer)
        x = layer.requantize(acc)
        in_fmt = (layer.act_width, layer.out_signed)
    return network_cls(layers, input_width, input_signed)


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
                  shift_mode=False, negative_mults=True) -> Conv2D:
    """A random valid :class:`Conv2D`: random used codes, requantization
    calibrated (as :func:`random_network` does) on ``calib``
    images (default: 8 uniform random ones in the input range)."""
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
    layer = Layer(feats, cout, codebook, codes, mult, add, shift, relu, act_width)
    return Conv2D(layer, kh, kw, stride, pad, in_shape)
