"""Whole-model compression of an SST network against 32-bit floats.

Counted honestly (docs/architecture.md, "Compression accounting"), per layer
and for the whole model, first and last layers included:

integer model (what the hardware stores)
    code bits (``out * ceil(in / N) * B``, padding included) plus, for every
    layer that requantizes (all but the last): per row the multiplier ``M_r``
    (16 bits; 0 in shift-only mode, where ``M_r = 1`` is implied) and the
    constant ``C_r`` (at the two's-complement width its values in that layer
    need), and per layer the shift ``S`` (6 bits, 0..63). The last layer
    returns raw accumulators, so only its codes are counted.
float-scaled SST model
    code bits plus a 32-bit float ``alpha`` per row (per layer when all rows
    share one) and a 32-bit float bias per row of the layers that have one.
fp32 baseline
    every weight in 32 bits, plus a 32-bit bias per row of every layer that
    has one (batch norm folded): the requantizing layers, and the last layer
    when it carries a non-zero ``bias``.

``ratio`` is baseline bits / stored bits; ``weight_ratio`` counts the weights
only (32 bits each against the code bits), the figure the paper quotes.

A :class:`~sst_hw.format.convnet.ConvNetwork` is counted the same way: a conv
layer stores one dense row of ``kh*kw*Cin`` weights per output channel (the
weights are shared by every pixel), so it is counted exactly as a dense layer
of ``kh*kw*Cin`` inputs and ``Cout`` outputs (codes with their padding, ``M``,
``C`` and ``S``). Max-pool and flatten store nothing: they count 0 bits and
have no entry. The whole-model figure adds up every conv and dense layer,
the first and the last included.
"""

from __future__ import annotations

import numpy as np

from sst_hw.format import arith
from sst_hw.format.conv import Conv2D
from sst_hw.format.convnet import ConvNetwork
from sst_hw.format.golden import Layer, Network

__all__ = ["compression", "format_compression", "SHIFT_BITS", "FLOAT_BITS"]

#: Bits of a per-layer shift S (0..SHIFT_MAX).
SHIFT_BITS = arith.SHIFT_MAX.bit_length()
#: Bits of a float in the baseline and in the float-scaled model.
FLOAT_BITS = 32


def _layer(layer, last: bool) -> dict:
    cb = layer.codebook
    out, inf = layer.out_features, layer.in_features
    weights = out * inf
    code_bits = out * layer.subvectors * cb.bits
    if last:
        mult_bits = add_bits = shift_bits = 0
        add_width = 0
    else:
        mult_bits = 0 if layer.shift_mode else out * arith.MULT_BITS
        add_width = arith.signed_width(int(layer.add.min()), int(layer.add.max()))
        add_bits = out * add_width
        shift_bits = SHIFT_BITS
    has_bias = (not last) or (layer.bias is not None and bool(np.any(layer.bias)))
    shared_alpha = layer.alpha is not None and bool(np.all(layer.alpha == layer.alpha[0]))
    float_param_bits = (FLOAT_BITS if shared_alpha else out * FLOAT_BITS) \
        + (out * FLOAT_BITS if has_bias else 0)
    total = code_bits + mult_bits + add_bits + shift_bits
    fp32 = FLOAT_BITS * (weights + (out if has_bias else 0))
    return {
        "in_features": inf, "out_features": out, "weights": weights,
        "codebook": cb.describe_short(), "bits_per_code": cb.bits,
        "code_bits": code_bits, "mult_bits": mult_bits, "add_bits": add_bits,
        "add_width": add_width, "shift_bits": shift_bits, "total_bits": total,
        "float_total_bits": code_bits + float_param_bits, "fp32_bits": fp32,
        "bits_per_weight": total / weights,
        "ratio": fp32 / total, "float_ratio": fp32 / (code_bits + float_param_bits),
        "weight_ratio": FLOAT_BITS * weights / code_bits,
    }


def compression(network) -> dict:
    """Per-layer and whole-model bit counts and ratios of ``network``, a
    :class:`Network` or a :class:`ConvNetwork`.

    Returns ``{"layers": [dict per conv or dense layer], "total": dict}``. A
    layer entry also has ``layer`` (its index in ``network.layers``),
    ``kind`` (``"conv2d"`` or ``"dense"``) and ``shape`` (``"784x64"`` for a
    dense layer, ``"3x3x16>32"`` for a conv of 3x3 kernels over 16 channels
    into 32). Every entry, and the total, has:
    ``weights``, ``code_bits``, ``mult_bits``, ``add_bits`` (``add_width``
    bits per row), ``shift_bits``, ``total_bits`` (integer model),
    ``float_total_bits`` (codes + fp32 alpha and bias), ``fp32_bits``
    (baseline), ``bits_per_weight`` (total / weights), ``ratio``
    (fp32 / total), ``float_ratio`` (fp32 / float_total) and
    ``weight_ratio`` (32 * weights / code bits). All bit counts are ints.
    """
    if not isinstance(network, (Network, ConvNetwork)):
        raise TypeError(f"network must be a Network or a ConvNetwork, not "
                        f"{type(network).__name__}")
    last = len(network.layers) - 1
    layers = []
    for i, layer in enumerate(network.layers):
        if isinstance(layer, Conv2D):
            d = _layer(layer.layer, i == last)
            d.update(layer=i, kind="conv2d",
                     shape=f"{layer.kh}x{layer.kw}x{layer.cin}>{layer.cout}")
        elif isinstance(layer, Layer):
            d = _layer(layer, i == last)
            d.update(layer=i, kind="dense", shape=f"{layer.in_features}x{layer.out_features}")
        else:
            continue                    # max-pool, flatten: nothing stored
        layers.append(d)
    keys = ("weights", "code_bits", "mult_bits", "add_bits", "shift_bits", "total_bits",
            "float_total_bits", "fp32_bits")
    total = {k: sum(d[k] for d in layers) for k in keys}
    total["bits_per_weight"] = total["total_bits"] / total["weights"]
    total["ratio"] = total["fp32_bits"] / total["total_bits"]
    total["float_ratio"] = total["fp32_bits"] / total["float_total_bits"]
    total["weight_ratio"] = FLOAT_BITS * total["weights"] / total["code_bits"]
    return {"layers": layers, "total": total}


def format_compression(report: dict) -> str:
    """A plain-text table of :func:`compression`'s report."""
    head = (f"{'layer':>5} {'shape':>11} {'weights':>8} {'codes':>8} {'M':>6} {'C':>7} "
            f"{'S':>3} {'total':>8} {'bit/w':>6} {'fp32':>9} {'ratio':>6} {'w-only':>6} "
            f"{'f32-scale':>9}")
    lines = ["compression (bits; integer model vs fp32 weights + biases)", head]

    def row(name, shape, d):
        return (f"{name:>5} {shape:>11} {d['weights']:>8} {d['code_bits']:>8} "
                f"{d['mult_bits']:>6} {d['add_bits']:>7} {d['shift_bits']:>3} "
                f"{d['total_bits']:>8} {d['bits_per_weight']:>6.3f} {d['fp32_bits']:>9} "
                f"x{d['ratio']:>5.1f} x{d['weight_ratio']:>5.1f} x{d['float_ratio']:>8.1f}")

    for i, d in enumerate(report["layers"]):
        shape = d.get("shape", f"{d['in_features']}x{d['out_features']}")
        lines.append(row(str(d.get("layer", i)), shape, d))
    lines.append(row("all", "", report["total"]))
    lines.append("  M, C, S: requantization multipliers, constants (at the width their values "
                 "need), shifts;")
    lines.append("  w-only: 32-bit weights vs code bits; f32-scale: codes + fp32 alpha and bias "
                 "per row instead of M, C, S")
    if any(d.get("kind") == "conv2d" for d in report["layers"]):
        lines.append("  conv kh x kw x Cin > Cout: one row of kh*kw*Cin shared weights per "
                     "output channel; max-pool and flatten store nothing")
    return "\n".join(lines)
