"""An imported float CNN (:class:`~sst_hw.train.onnx_cnn.FloatCNN`) into the
trainer's :class:`~sst_hw.train.cnn.CNN`, then SST projection, optional
fine-tuning and the integer export: the CNN twin of
:func:`~sst_hw.train.onnx_import.import_and_export`.

The representation is the MLP importer's (:mod:`sst_hw.train.onnx_import`):
the model is built with ``center=False``, so every row's normalized weights
are the imported ones divided by their root mean square, and each hidden
layer's batch norm is solved from statistics measured on calibration data
so that it computes the imported ``W x + b`` exactly. The last layer keeps its
weights up to the trainer's temperature and drops its bias.

The trainer's conv is square (``k x k``, one padding for both sides and axes)
and has batch norm and ReLU after every hidden conv or dense layer, so an
imported network with a rectangular kernel, or a hidden layer without ReLU,
is refused with the layer named.
"""

from __future__ import annotations

import numpy as np

from sst_hw.train.arch import ConvSpec, DenseSpec, PoolSpec
from sst_hw.train.cnn import CNN
from sst_hw.train.mlp import to_float
from sst_hw.train.onnx_cnn import FloatCNN, FloatConv, FloatDense, FloatMaxPool
from sst_hw.train.onnx_import import (
    InputMap,
    OnnxImportError,
    accuracy_warnings,
    finetune_or_project,
    import_notes,
    import_result,
    set_batchnorm,
    set_imported_weights,
    set_temperature)

__all__ = ["to_cnn", "fit_batchnorm_cnn", "import_and_export_cnn"]


def _specs(net: FloatCNN) -> list:
    specs = []
    params = [layer for layer in net.layers if isinstance(layer, (FloatConv, FloatDense))]
    for i, layer in enumerate(net.layers):
        where = f"layer {i} ({'+'.join(layer.nodes) or type(layer).__name__})"
        if isinstance(layer, FloatConv):
            if layer.kh != layer.kw or layer.pad[0] != layer.pad[1]:
                raise OnnxImportError(
                    f"{where}: a {layer.kh}x{layer.kw} kernel with padding {layer.pad} is not "
                    f"square; the trainer's conv layers are k x k with one padding")
            specs.append(ConvSpec(layer.cout, layer.kh, layer.stride, layer.pad[0]))
        elif isinstance(layer, FloatMaxPool):
            specs.append(PoolSpec(layer.kernel))
        elif isinstance(layer, FloatDense):
            specs.append(DenseSpec(layer.out_features))
        if isinstance(layer, (FloatConv, FloatDense)) and layer is not params[-1] \
                and not layer.relu:
            raise OnnxImportError(f"{where}: a hidden layer without ReLU is not supported "
                                  f"(every hidden conv and dense layer is followed by ReLU)")
    return specs


def _folded(net: FloatCNN, input_map: InputMap) -> list:
    """(W, b) float64 per conv/dense layer, rows in the trainer's order (conv
    rows (ky, kx, c)), the input map's scale folded into the first layer (it
    then reads ``raw / 255``), its mean shift into the bias."""
    out = []
    for layer in net.layers:
        if isinstance(layer, (FloatConv, FloatDense)):
            w = layer.weight.astype(np.float64).reshape(layer.weight.shape[0], -1)
            out.append([w, layer.bias.astype(np.float64).copy()])
    k = 255.0 * input_map.scale / input_map.std       # onnx_in = x * k + m0, x = raw / 255
    m0 = -input_map.mean / input_map.std
    w, b = out[0]
    out[0] = [w * k, b + m0 * w.sum(1)]
    return out


def to_cnn(net: FloatCNN, codebook, *, input_map: InputMap | None = None):
    """``(cnn, folded)``: the trainer's :class:`CNN` (``center=False``) holding
    ``net``'s weights rescaled to the trainer's initial scale, its batch norm
    still to be fitted (:func:`fit_batchnorm_cnn`)."""
    input_map = input_map or InputMap()
    model = CNN(_specs(net), net.input_shape, codebook, center=False)
    folded = _folded(net, input_map)
    set_imported_weights(model, folded)
    return model, folded


def fit_batchnorm_cnn(model: CNN, folded, x_raw, batch: int = 500):
    """Set every hidden layer's batch norm so that it computes ``W x + b`` of
    ``folded`` on the float phase, layer by layer (each layer's statistics
    through the layers already fitted), and the last layer's temperature."""
    x = np.asarray(x_raw)
    model.phase = "float"
    for i, (spec, l) in enumerate(zip(model.specs, model.param_index)):
        if l is None:
            continue
        w, b = folded[l]
        wn = model._normalized(l)[0].astype(np.float64)
        if model.is_last(l):
            set_temperature(model, w, wn)
            break
        ws = [model.weight(j, "float")[0] for j in range(model.layers)]
        n, s1, s2 = 0, 0.0, 0.0
        for j in range(0, len(x), batch):
            z = model._eval_pass(model.images(to_float(x[j:j + batch])), ws, upto=i)
            z = z.astype(np.float64)
            n += len(z)
            s1 = s1 + z.sum(0)
            s2 = s2 + (z * z).sum(0)
        mu = s1 / n
        set_batchnorm(model, l, w, b, wn, mu, np.maximum(s2 / n - mu * mu, 0.0))


def import_and_export_cnn(net: FloatCNN, dataset, codebook, *, finetune: bool = False,
                          schedule=None, input_map: InputMap | None = None,
                          act_width: int = 8, seed: int = 0, calib_samples: int = 2000,
                          progress=None) -> dict:
    """:func:`~sst_hw.train.onnx_import.import_and_export` for a CNN: the same
    arguments and result keys (``model`` is the :class:`CNN`)."""
    import time

    from sst_hw.format.compression import compression
    from sst_hw.train.cnn import train_cnn
    from sst_hw.train.cnn_export import evaluate_cnn, export_cnn
    from sst_hw.train.export import calibration_subset
    from sst_hw.train.mlp import Progress, accuracy

    t0 = time.monotonic()
    progress = progress or Progress(False)
    input_map = input_map or InputMap()
    feats = int(np.prod(net.input_shape))
    if feats != dataset.features or (dataset.image_shape is not None
                                     and tuple(dataset.image_shape) != net.input_shape):
        raise ValueError(f"the model reads {'x'.join(map(str, net.input_shape))} images but "
                         f"data set {dataset.name} has "
                         f"{'x'.join(map(str, dataset.image_shape or (dataset.features,)))}")
    if net.classes != dataset.classes:
        raise ValueError(f"the model has {net.classes} outputs but data set {dataset.name} has "
                         f"{dataset.classes} classes")
    notes = import_notes(net)
    if input_map.mean != 0:
        notes.append("the input normalization's mean is folded into the first conv's bias, "
                     "which is exact except where the kernel reads zero padding")
    x_cal = calibration_subset(dataset.x_train, calib_samples, np.random.default_rng(seed))
    acc = {"onnx": accuracy(net.predict(input_map(dataset.x_test)), dataset.y_test)}
    model, folded = to_cnn(net, codebook, input_map=input_map)
    fit_batchnorm_cnn(model, folded, x_cal)
    acc["float"] = accuracy(model.predict(dataset.x_test, "float"), dataset.y_test)
    progress.line(f"imported {model.arch}: test accuracy onnx {100 * acc['onnx']:.2f} %, "
                  f"as imported (no last bias) {100 * acc['float']:.2f} %")
    trained = finetune_or_project(model, dataset, codebook, x_cal, acc, finetune=finetune,
                                  schedule=schedule, trainer=train_cnn, arch=model.specs,
                                  seed=seed, progress=progress)
    net_int, info = export_cnn(model, dataset.x_train, act_width=act_width,
                               calib_samples=calib_samples, seed=seed)
    acc.update(evaluate_cnn(model, net_int, dataset))
    comp = compression(net_int)
    net_int.meta.update({"source": net.source, "dataset": dataset.name,
                         "test_accuracy": acc, "notes": notes})
    return import_result(trained, net_int, model, info, acc, comp, notes,
                         accuracy_warnings(acc, finetune), t0)
