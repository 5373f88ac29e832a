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
from sst_hw.train.arch import ConvSpec, PoolSpec
from sst_hw.train.cnn import CNN, train_cnn
from sst_hw.train.export import (
    INPUT_SCALE,
    calibration_inputs,
    export_hidden_layer,
    export_last_layer,
    training_meta)
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
    rng = np.random.default_rng(seed)
    x = calibration_inputs(x_calib, int(np.prod(model.input_shape)), act_width, calib_samples,
                           rng)
    a = x.reshape((-1,) + model.input_shape)
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

        def wrap(layer, spec=spec, in_shape=in_shape, conv=conv):
            return Conv2D(layer, spec.k, spec.k, spec.stride, spec.pad, in_shape) if conv \
                else layer

        if model.is_last(l):
            layers.append(export_last_layer(model, l, act_width, wrap))
            break
        layer, a, info = export_hidden_layer(model, l, a, in_fmt, s_in, act_width, rng, wrap)
        infos.append({"layer": len(layers), "kind": "conv2d" if conv else "dense", **info})
        layers.append(layer)
        in_fmt = (act_width, False)
        s_in = info["act_scale"]
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
