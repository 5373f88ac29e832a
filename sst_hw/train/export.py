"""Integer export of a trained :class:`~sst_hw.train.mlp.MLP` (docs/architecture.md,
"Integer arithmetic").

The float network after training computes, for hidden layer ``l`` and row
``r``, with ``x`` the float input activations::

    y_r = relu(g_r * alpha_r * sum_j t_rj x_j + h_r)

where ``alpha_r * t_r`` is the SST projection and ``(g_r, h_r)`` the folded
batch norm. Every activation is represented by an integer and a per-layer
scale, ``x = s * a``: the input by the raw bytes (``s_0 = 1/255``), each hidden
layer's output by an unsigned ``A``-bit integer. Then::

    a_out_r = round(y_r / s_out) = round(m_r * acc_r + c_r),
    m_r = g_r alpha_r s_in / s_out,   c_r = h_r / s_out,   acc_r = sum_j t_rj a_in_j

which the integer contract computes as
``clamp((acc_r * M_r + C_r) >> S, 0, 2^A - 1)`` with ``M_r = round(m_r 2^S)``
(16-bit signed) and ``C_r = round(c_r 2^S) + (1 << (S - 1))`` (the bias and
the rounding constant).

* A row whose folded gain ``g_r alpha_r`` is negative has its ternary weights
  negated (the codebooks are sign-symmetric), so every ``M_r >= 0`` and the
  stored per-row scale ``alpha`` is positive.
* ``s_out`` is calibrated on training data: the clipping level (a fraction of
  the largest activation) that minimises the mean squared quantization error.
  Calibration runs through the integer pipeline, layer by layer, so each layer
  is calibrated on the integer activations it will really see.
* ``S`` is the largest shift that keeps every ``M_r`` within 16 bits.
* Shift-only mode (``M_r = 1``): the model was trained with one gain per
  layer, so ``m_r`` is the same ``m`` for every row; ``S`` is ``floor`` or
  ``ceil`` of ``log2(1/m)`` (whichever quantizes better) and ``s_out`` follows
  from it exactly, ``s_out = g alpha s_in 2^S``.
* The last layer returns raw accumulators; its arg-max is the float network's,
  since its one ``alpha`` is shared by all rows and it has no bias. Its
  requantization fields are placeholders: ``M = 1, C = 0, S = 0``, no ReLU.

The exported layers keep ``alpha`` (the folded per-row scale ``|g_r alpha_r|``,
in units of the float activations) and ``bias`` (``h_r``) as float metadata;
``meta["act_scales"]`` holds ``s_0 .. s_H``, so the float network can be
rebuilt from the file.
"""

from __future__ import annotations

import math

import numpy as np

from sst_hw.format import arith
from sst_hw.format.codebook import Codebook
from sst_hw.format.golden import Layer, Network
from sst_hw.train.mlp import MLP, accuracy, to_float

__all__ = ["export_network", "train_and_export", "requant_params", "training_meta",
           "encode_ternary", "choose_scale", "hidden_float_activations", "evaluate",
           "calibration_inputs", "calibration_subset", "export_last_layer",
           "export_hidden_layer", "INPUT_SCALE"]

#: Scale of the raw 0..255 input features: the float input is ``x / 255``.
INPUT_SCALE = 1.0 / 255.0
#: Clip levels tried by :func:`choose_scale`, as fractions of the largest value.
_CLIP_FRACTIONS = np.geomspace(0.2, 1.0, 33)
#: At most this many values are used to choose a scale.
_CALIB_VALUES = 1 << 18


def encode_ternary(t: np.ndarray, codebook: Codebook) -> np.ndarray:
    """Code words (out, ceil(in / N)) int64 of a ternary int8 matrix (out, in)
    whose subvectors are members of ``codebook`` (padding is zero)."""
    out, inf = t.shape
    n = codebook.n
    s = -(-inf // n)
    pad = np.zeros((out, s * n), np.int8)
    pad[:, :inf] = t
    return codebook.encode(pad.reshape(-1, n)).reshape(out, s).astype(np.int64)


def _quant_mse(y: np.ndarray, scale: float, hi: int) -> float:
    q = np.clip(np.floor(y / scale + 0.5), 0, hi) * scale
    return float(np.mean((q - y) ** 2))


def _sample(y: np.ndarray, rng) -> np.ndarray:
    flat = y.reshape(-1)
    if flat.size > _CALIB_VALUES:
        flat = flat[rng.choice(flat.size, _CALIB_VALUES, replace=False)]
    return flat


def choose_scale(y: np.ndarray, act_width: int) -> float:
    """The scale ``s`` of unsigned ``act_width``-bit activations for the
    non-negative float values ``y``: ``clip / (2^A - 1)`` with the clip level,
    among fractions 0.2..1 of ``max(y)``, that minimises the mean squared
    error of ``clamp(round(y / s), 0, 2^A - 1) * s``. 1.0 when ``y`` is all zero."""
    hi = (1 << act_width) - 1
    top = float(np.max(y)) if y.size else 0.0
    if top <= 0:
        return 1.0
    best = min(_CLIP_FRACTIONS, key=lambda f: _quant_mse(y, top * f / hi, hi))
    return top * float(best) / hi


def _float_out(scale, s_in, acc, h):
    return np.maximum(acc.astype(np.float64) * (scale * s_in) + h, 0.0)


def export_network(model: MLP, x_calib, *, act_width: int = 8, meta: dict | None = None,
                   calib_samples: int = 10000, seed: int = 0):
    """Export ``model`` (in its SST form) to an integer :class:`~sst_hw.format.golden.Network`.

    Parameters
    ----------
    model : MLP
        A trained model; its SST projection and eval-mode batch norm are used.
    x_calib : uint8 array (samples, in_features)
        Raw input features to calibrate the activation scales (training data);
        at most ``calib_samples`` of them, drawn with ``seed``, are used.
    act_width : int
        ``A``, bits of the unsigned hidden activations, 2..16.
    meta : dict, optional
        Extra metadata for the network; ``act_scales``, ``shift_only`` and
        ``act_width`` are added.

    Returns
    -------
    (Network, info) with ``info["layers"]``: per hidden layer its shift,
    activation scale, clip level, range of ``M_r``, rows negated, rows whose
    ``C_r`` had to be clamped, and the fraction of calibration activations at
    the top of the range.
    """
    rng = np.random.default_rng(seed)
    a = calibration_inputs(x_calib, model.sizes[0], act_width, calib_samples, rng)
    in_fmt = (8, False)
    s_in = INPUT_SCALE
    scales = [s_in]
    layers, infos = [], []
    for l in range(model.layers):
        if model.is_last(l):
            layers.append(export_last_layer(model, l, act_width))
            break
        layer, a, info = export_hidden_layer(model, l, a, in_fmt, s_in, act_width, rng)
        infos.append({"layer": l, **info})
        layers.append(layer)
        in_fmt = (act_width, False)
        s_in = info["act_scale"]
        scales.append(s_in)
    meta = dict(meta or {})
    meta.update({"act_scales": scales, "act_width": act_width, "shift_only": model.shift_only})
    net = Network(layers, 8, False, meta)
    return net, {"layers": infos, "act_scales": scales}


def calibration_inputs(x_calib, features: int, act_width: int, samples: int,
                       rng) -> np.ndarray:
    """The raw calibration inputs of an export, int64 (samples, features): at most
    ``samples`` rows of ``x_calib`` drawn with ``rng`` (:func:`calibration_subset`),
    after checking ``x_calib``'s shape and the activation width (2..16)."""
    if isinstance(act_width, bool) or not isinstance(act_width, int) or not 2 <= act_width <= 16:
        raise ValueError(f"activation width must be an integer in 2..16, not {act_width!r}")
    x = np.asarray(x_calib)
    if x.ndim != 2 or x.shape[1] != features:
        raise ValueError(f"calibration data must have shape (samples, {features}), "
                         f"not {x.shape}")
    if not len(x):
        raise ValueError("calibration data is empty")
    return calibration_subset(x, samples, rng).astype(np.int64)


def calibration_subset(x, samples: int, rng):
    """At most ``samples`` rows of ``x``, drawn without replacement with ``rng``
    and kept in their order; ``x`` itself when it has no more. The exporters and
    the importers (:mod:`sst_hw.train.onnx_import`) calibrate on such a subset."""
    if len(x) > samples:
        x = x[np.sort(rng.choice(len(x), samples, replace=False))]
    return x


def _unwrapped(layer):
    return layer


def export_last_layer(model, l: int, act_width: int, wrap=None):
    """The last layer ``l`` of ``model`` (an :class:`~sst_hw.train.mlp.MLP` or a
    :class:`~sst_hw.train.cnn.CNN`): raw accumulators, so the requantization
    fields are placeholders (``M = 1, C = 0, S = 0``, no ReLU), and its one
    ``alpha`` is kept as metadata. ``wrap`` turns the golden dense
    :class:`~sst_hw.format.golden.Layer` into the network's layer (a conv:
    :class:`~sst_hw.format.conv.Conv2D` over it); by default it is the layer."""
    wrap = wrap or _unwrapped
    t, alpha = model.ternary(l)
    out, inf = t.shape
    return wrap(Layer(inf, out, model.codebook, encode_ternary(t, model.codebook),
                      np.ones(out, np.int64), np.zeros(out, np.int64), 0, False, act_width,
                      alpha.astype(np.float32), None))


def export_hidden_layer(model, l: int, a, in_fmt, s_in: float, act_width: int, rng,
                        wrap=None):
    """Hidden layer ``l`` of ``model`` as an integer layer, calibrated on its
    integer inputs ``a`` (``in_fmt`` = (width, signed), scale ``s_in``).

    The batch norm is folded into one gain per row with ``alpha``; rows with a
    negative gain are negated (so every ``M_r >= 0``) and encoded; a probe layer
    with the requantization unset gives the accumulators of ``a``, from which
    :func:`requant_params` (drawing its sample with ``rng``) sets it. ``wrap`` as
    for :func:`export_last_layer`.

    Returns ``(layer, y, info)``: the layer, its integer outputs of ``a`` and the
    layer's entry of the export info (shift, activation scale, clip level, range
    of ``M_r``, rows negated, rows whose ``C_r`` was clamped, fraction saturated).
    """
    wrap = wrap or _unwrapped
    cb = model.codebook
    hi = (1 << act_width) - 1
    t, alpha = model.ternary(l)
    out, inf = t.shape
    g, h = model.bn_fold(l)
    scale = g * alpha
    flip = scale < 0
    t = np.where(flip[:, None], -t, t).astype(np.int8)
    scale = np.abs(scale)
    codes = encode_ternary(t, cb)
    ones, zeros = np.ones(out, np.int64), np.zeros(out, np.int64)
    probe = wrap(Layer(inf, out, cb, codes, ones, zeros, 0, True, act_width))
    acc_w = probe.acc_width(*in_fmt)
    acc = probe.accumulate(a, acc_width=acc_w)
    # A conv's accumulators are (images, H, W, rows): every pixel is a sample.
    rq = requant_params(scale, h, acc.reshape(-1, out), s_in, acc_w, act_width,
                        model.shift_only, l, rng)
    mult, s_out = rq["mult"], rq["act_scale"]
    layer = wrap(Layer(inf, out, cb, codes, mult, rq["add"], rq["shift"], True, act_width,
                       scale.astype(np.float32), h.astype(np.float32)))
    y = layer.requantize(acc)
    return layer, y, {"shift": rq["shift"], "act_scale": s_out, "clip": s_out * hi,
                      "max_activation": rq["max_activation"], "mult_min": int(mult.min()),
                      "mult_max": int(mult.max()), "rows_negated": int(flip.sum()),
                      "add_clamped": rq["add_clamped"], "saturated": float(np.mean(y == hi))}


def requant_params(scale, h, acc, s_in: float, acc_w: int, act_width: int,
                   shift_only: bool, l: int, rng) -> dict:
    """The requantization of one hidden layer (dense, or conv over patches).

    ``scale`` (>= 0) and ``h`` are the per-row folded gain and bias,
    ``acc`` the integer calibration accumulators (samples, rows) of the
    inputs at scale ``s_in``, ``acc_w`` their width. Returns ``mult``,
    ``add`` (int64 per row), ``shift``, ``act_scale`` (the output scale
    ``s_out``), ``max_activation`` and ``add_clamped`` (rows whose ``C_r``
    had to be clamped to its range)."""
    y = _float_out(scale, s_in, acc, h)
    sample = _sample(y, rng)
    if shift_only:
        mult, shift, s_out = _shift_only(scale, s_in, sample, act_width, l)
    else:
        s_out = choose_scale(sample, act_width)
        m = scale * s_in / s_out
        shift = _max_shift(float(m.max()))
        mult = np.round(m * 2.0 ** shift).astype(np.int64)
    c = h / s_out * 2.0 ** shift + (float(1 << (shift - 1)) if shift else 0.0)
    lo_c, hi_c = arith.add_range(acc_w)
    add_f = np.clip(np.round(c), lo_c, hi_c)
    return {"mult": mult, "add": add_f.astype(np.int64), "shift": shift, "act_scale": s_out,
            "max_activation": float(y.max()),
            "add_clamped": int(np.count_nonzero(add_f != np.round(c)))}


def _max_shift(mmax: float) -> int:
    """Largest S with round(mmax * 2^S) within the 16-bit signed multiplier."""
    lim = arith.mult_range()[1]
    if mmax <= 0:
        return 0
    s = int(math.floor(math.log2(lim / mmax)))
    s = min(max(s, 0), arith.SHIFT_MAX - 1)
    while s > 0 and round(mmax * 2.0 ** s) > lim:
        s -= 1
    if round(mmax * 2.0 ** s) > lim:
        raise ValueError(f"a requantization gain of {mmax:.4g} does not fit a 16-bit "
                         f"multiplier even with shift 0")
    return s


def _shift_only(scale, s_in, sample, act_width, l):
    """M = 1: S from the common gain; the output scale follows from S."""
    if not np.allclose(scale, scale[0], rtol=1e-6, atol=0):
        raise ValueError(f"layer {l}: shift-only export needs one gain for every row (a model "
                         f"trained with shift_only=True); gains range "
                         f"{scale.min():.4g}..{scale.max():.4g}")
    hi = (1 << act_width) - 1
    gain = float(scale[0]) * s_in
    ideal = choose_scale(sample, act_width)
    base = math.log2(ideal / gain) if gain > 0 else 0.0
    cands = sorted({min(max(int(math.floor(base)), 0), arith.SHIFT_MAX - 1),
                    min(max(int(math.ceil(base)), 0), arith.SHIFT_MAX - 1)})
    shift = min(cands, key=lambda s: _quant_mse(sample, gain * 2.0 ** s, hi))
    s_out = gain * 2.0 ** shift if gain > 0 else ideal
    return np.ones(len(scale), np.int64), shift, s_out


def hidden_float_activations(model: MLP, x, scales) -> list:
    """The SST float network's hidden activations of raw inputs ``x``, each
    divided by its scale (so in units of the integer activations): float64
    arrays, one per hidden layer."""
    a = to_float(x).astype(np.float64)
    outs = []
    for l in range(model.layers - 1):
        t, alpha = model.ternary(l)
        g, h = model.bn_fold(l)
        a = np.maximum((a @ t.T.astype(np.float64)) * (g * alpha) + h, 0.0)
        outs.append(a / scales[l + 1])
    return outs


def evaluate(model: MLP, network: Network, dataset) -> dict:
    """Test-set accuracies (fractions): ``sst`` (the SST network in float
    arithmetic), ``integer`` (the golden model) and ``agreement`` (the
    fraction of test samples both classify alike)."""
    sst = model.predict(dataset.x_test, "sst")
    _, cls = network.forward(dataset.x_test.astype(np.int64))
    return {"sst": accuracy(sst, dataset.y_test), "integer": accuracy(cls, dataset.y_test),
            "agreement": accuracy(sst, cls)}


def training_meta(dataset, codebook: Codebook, seed: int, schedule, acc: dict,
                  comp: dict) -> dict:
    """The ``meta`` entries every trained model file records: codebook, seed,
    epochs, batch size, test accuracies and the compression totals."""
    return {
        "codebook": {"n": codebook.n, "k": codebook.k, "variant": codebook.variant,
                     "assignment": codebook.assignment},
        "seed": seed, "epochs": [schedule.epochs(p) for p in ("float", "prune", "sst")],
        "batch_size": schedule.batch_size,
        "test_accuracy": acc, "test_samples": int(len(dataset.y_test)),
        "compression": {k: comp["total"][k] for k in ("total_bits", "fp32_bits", "ratio",
                                                        "weight_ratio")},
    }


def train_and_export(dataset, sizes, codebook: Codebook, *, schedule=None, seed: int = 0,
                     shift_only: bool = False, act_width: int = 8, progress=None,
                     calib_samples: int = 10000, model: MLP | None = None) -> dict:
    """Train on ``dataset``, export to the integer contract, evaluate everything.

    Returns a dict: ``network`` (the golden :class:`~sst_hw.format.golden.Network`,
    its ``meta`` filled in), ``train`` (the :class:`~sst_hw.train.mlp.TrainResult`),
    ``export`` (the export info), ``accuracy`` (test-set fractions:
    ``float`` the dense float network, ``prune`` after pruning, ``sst`` the SST
    network in float arithmetic, ``integer`` the golden model, ``agreement``
    between the last two), ``compression`` (:func:`sst_hw.format.compression.compression`)
    and ``seconds`` (training, export and evaluation).

    ``model`` continues an existing :class:`~sst_hw.train.mlp.MLP` (see
    :func:`~sst_hw.train.mlp.train`), e.g. float pre-trained weights shared by
    several codebooks (``schedule.epochs_float = 0``).
    """
    import time

    from sst_hw.format.compression import compression
    from sst_hw.train.mlp import train

    t0 = time.monotonic()
    result = train(dataset, sizes, codebook, schedule=schedule, seed=seed,
                   shift_only=shift_only, progress=progress, model=model)
    net, info = export_network(result.model, dataset.x_train, act_width=act_width,
                               calib_samples=calib_samples, seed=seed)
    ev = evaluate(result.model, net, dataset)
    acc = {"float": result.accuracy["float"], "prune": result.accuracy["prune"], **ev}
    comp = compression(net)
    net.meta.update({"dataset": dataset.name, "sizes": [int(s) for s in sizes]})
    net.meta.update(training_meta(dataset, codebook, seed, result.schedule, acc, comp))
    return {"network": net, "train": result, "export": info, "accuracy": acc,
            "compression": comp, "seconds": time.monotonic() - t0}
