"""Integer export of a trained :class:`~sst_hw.train.cnn.CNN` to a
:class:`~sst_hw.format.convnet.ConvNetwork`.

Each conv layer is exported exactly like a hidden dense layer
(:mod:`sst_hw.train.export`): folded batch-norm gain and per-row ``alpha``
into the 16-bit multiplier and shift, bias and rounding into ``C_r``, rows with
a negative gain negated, the output scale calibrated through the integer
pipeline itself. Its calibration accumulators are those of every output pixel
of the calibration images. Max-pool passes integers (and their scale) through;
a flatten is inserted before the first dense layer. The last layer returns raw
accumulators, as for an MLP.
"""

from __future__ import annotations

import time

import numpy as np

from sst_hw.format.compression import compression
from sst_hw.format.conv import Conv2D, Flatten, MaxPool
from sst_hw.format.convnet import ConvNetwork
from sst_hw.format.golden import Layer
from sst_hw.train.arch import ConvSpec, PoolSpec
from sst_hw.train.cnn import CNN, train_cnn
from sst_hw.train.export import INPUT_SCALE, encode_ternary, requant_params, training_meta
from sst_hw.train.mlp import accuracy

__all__ = ["export_cnn", "evaluate_cnn", "train_and_export_cnn", "CALIB_SAMPLES"]

#: Calibration images of a CNN export (every pixel of each is a sample).
CALIB_SAMPLES = 2000


def export_cnn(model: CNN, x_calib, *, act_width: int = 8, meta: dict | None = None,
               calib_samples: int = CALIB_SAMPLES, seed: int = 0):
    """``(ConvNetwork, info)`` of ``model`` in its SST form; ``x_calib`` raw
    uint8 features (samples, H*W*C), at most ``calib_samples`` of them drawn
    with ``seed``. ``info["layers"]`` has one entry per requantizing layer."""
    if not isinstance(model, CNN):
        raise TypeError(f"model must be a CNN, not {type(model).__name__}")
    if isinstance(act_width, bool) or not isinstance(act_width, int) or not 2 <= act_width <= 16:
        raise ValueError(f"activation width must be an integer in 2..16, not {act_width!r}")
    x = np.asarray(x_calib)
    feats = int(np.prod(model.input_shape))
    if x.ndim != 2 or x.shape[1] != feats or not len(x):
        raise ValueError(f"calibration data must have shape (samples, {feats}), not {x.shape}")
    rng = np.random.default_rng(seed)
    if len(x) > calib_samples:
        x = x[np.sort(rng.choice(len(x), calib_samples, replace=False))]
    cb = model.codebook
    hi = (1 << act_width) - 1
    a = x.astype(np.int64).reshape((-1,) + model.input_shape)
    in_fmt = (8, False)
    s_in = INPUT_SCALE
    scales = [s_in]
    layers, infos = [], []
    flat = False
    for i, (spec, l) in enumerate(zip(model.specs, model.param_index)):
        in_shape = model.in_shapes[i]
        if isinstance(spec, PoolSpec):
            pool = MaxPool(spec.k, in_shape)
            a = pool.forward(a)
            layers.append(pool)
            continue
        conv = isinstance(spec, ConvSpec)
        if not conv and not flat:
            fl = Flatten(in_shape)
            a = fl.forward(a) if a.ndim == 4 else a
            layers.append(fl)
            flat = True
        t, alpha = model.ternary(l)
        out, inf = t.shape

        def wrap(layer, spec=spec, in_shape=in_shape, conv=conv):
            return Conv2D(layer, spec.k, spec.k, spec.stride, spec.pad, in_shape) if conv \
                else layer

        if model.is_last(l):
            codes = encode_ternary(t, cb)
            layers.append(wrap(Layer(inf, out, cb, codes, np.ones(out, np.int64),
                                     np.zeros(out, np.int64), 0, False, act_width,
                                     alpha.astype(np.float32), None)))
            break
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
        rq = requant_params(scale, h, acc.reshape(-1, out), s_in, acc_w, act_width,
                            model.shift_only, l, rng)
        layer = wrap(Layer(inf, out, cb, codes, rq["mult"], rq["add"], rq["shift"], True,
                           act_width, scale.astype(np.float32), h.astype(np.float32)))
        a = layer.requantize(acc)
        infos.append({"layer": len(layers), "kind": "conv2d" if conv else "dense",
                      "shift": rq["shift"], "act_scale": rq["act_scale"],
                      "clip": rq["act_scale"] * hi, "max_activation": rq["max_activation"],
                      "mult_min": int(rq["mult"].min()), "mult_max": int(rq["mult"].max()),
                      "rows_negated": int(flip.sum()), "add_clamped": rq["add_clamped"],
                      "saturated": float(np.mean(a == hi))})
        layers.append(layer)
        in_fmt = (act_width, False)
        s_in = rq["act_scale"]
        scales.append(s_in)
    meta = dict(meta or {})
    meta.update({"act_scales": scales, "act_width": act_width, "shift_only": model.shift_only,
                 "arch": model.arch})
    return ConvNetwork(layers, model.input_shape, 8, False, meta), {"layers": infos,
                                                                    "act_scales": scales}


def evaluate_cnn(model: CNN, network: ConvNetwork, dataset) -> dict:
    """Test-set accuracies: ``sst`` (float arithmetic), ``integer`` (golden
    model) and their ``agreement``."""
    sst = model.predict(dataset.x_test, "sst")
    _, cls = network.forward(dataset.x_test)
    return {"sst": accuracy(sst, dataset.y_test), "integer": accuracy(cls, dataset.y_test),
            "agreement": accuracy(sst, cls)}


def train_and_export_cnn(dataset, arch, codebook, *, schedule=None, seed: int = 0,
                         shift_only: bool = False, act_width: int = 8, progress=None,
                         calib_samples: int = CALIB_SAMPLES, model: CNN | None = None,
                         flip: bool = False) -> dict:
    """:func:`~sst_hw.train.export.train_and_export` for a CNN: train, export,
    evaluate; the same keys, plus ``arch`` in the network's meta."""
    t0 = time.monotonic()
    result = train_cnn(dataset, arch, codebook, schedule=schedule, seed=seed,
                       shift_only=shift_only, progress=progress, model=model, flip=flip)
    net, info = export_cnn(result.model, dataset.x_train, act_width=act_width,
                           calib_samples=calib_samples, seed=seed)
    ev = evaluate_cnn(result.model, net, dataset)
    acc = {"float": result.accuracy["float"], "prune": result.accuracy["prune"], **ev}
    comp = compression(net)
    net.meta.update({"dataset": dataset.name})
    net.meta.update(training_meta(dataset, codebook, seed, result.schedule, acc, comp))
    net.meta["train_seconds"] = result.seconds
    net.meta["flip"] = bool(flip)
    return {"network": net, "train": result, "export": info, "accuracy": acc,
            "compression": comp, "seconds": time.monotonic() - t0}
