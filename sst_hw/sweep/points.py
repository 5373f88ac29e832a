"""A spec's axes crossed into points.

A point is a plain dict (it travels to Dask workers as it is)::

    {"id": "3f9c0a1b2d4e", "label": "(8,2) pe4 simd2 up5k bram digits 64-128-10",
     "code": {"n": 8, "k": 2, "variant": "full", "assignment": "enum"},
     "pe": 4, "simd": 2, "device": "up5k", "memory": "bram",
     "source": {"kind": "dataset", "dataset": "digits", "sizes": [64, 128, 10]},
     "status": None, "reason": None}

``source`` is ``{"kind": "model", "model": PATH, "sizes": [...]}`` for a model
file. A combination that cannot exist (K > N, a partitioned N not divisible
by K, PE x SIMD above the lane bound) has ``status`` ``"invalid"`` and the
reason; it is reported and never submitted.

The data sets and model files are described once, on the client
(:func:`describe_dataset`, :func:`describe_model`): features, classes and a
content hash, so points and cache keys need no data.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from pathlib import Path

from sst_hw.format import limits
from sst_hw.format.codebook import Codebook
from sst_hw.sweep.spec import MEMORIES, SpecError, SweepSpec, code_label

__all__ = ["DatasetInfo", "ModelInfo", "describe_dataset", "describe_model", "expand",
           "default_hidden"]


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    features: int
    classes: int
    train_samples: int
    test_samples: int
    sha256: str


@dataclass(frozen=True)
class ModelInfo:
    path: str
    sha256: str
    code: dict
    sizes: tuple
    accuracy: float | None


def describe_dataset(name: str) -> DatasetInfo:
    """Load the data set ``name`` (a name or an IDX folder) and describe it."""
    from sst_hw.sweep.keys import dataset_sha256
    from sst_hw.train.datasets import load_dataset

    try:
        d = load_dataset(name)
    except (OSError, ValueError) as e:
        raise SpecError(f"data set {name!r}: {e}") from None
    return DatasetInfo(name, int(d.features), int(d.classes), len(d.x_train), len(d.x_test),
                       dataset_sha256(d))


def describe_model(path) -> ModelInfo:
    """Load the model file ``path`` (an MLP) and describe it; its accuracy is
    the integer test accuracy its training recorded (``meta``), if any."""
    from sst_hw.format import modelfile

    path = Path(path)
    try:
        net = modelfile.load(path)
    except (OSError, ValueError) as e:
        raise SpecError(f"model {path}: {e}") from None
    if hasattr(net, "kinds") and any(k in ("conv2d", "maxpool") for k in net.kinds):
        raise SpecError(f"model {path}: a sweep takes MLP models only (its stages plan, "
                        f"train and synthesize the MLP core; the CNN core is not swept yet)")
    if hasattr(net, "as_network"):
        net = net.as_network()
    cb = net.layers[0].codebook
    sizes = (net.layers[0].in_features, *(layer.out_features for layer in net.layers))
    acc = (net.meta.get("test_accuracy") or {}).get("integer")
    return ModelInfo(str(path), hashlib.sha256(path.read_bytes()).hexdigest(),
                     {"n": cb.n, "k": cb.k, "variant": cb.variant, "assignment": cb.assignment},
                     sizes, float(acc) if isinstance(acc, (int, float)) else None)


def default_hidden(info: DatasetInfo) -> tuple:
    """``sst-hw train``'s default hidden layer: 128 for small sets, 256 for large."""
    return (128,) if info.train_samples < 10000 else (256,)


def _codes(spec: SweepSpec) -> list:
    """The code axis, or the product of n, k, variant, assignment (each
    combination a dict, with ``reason`` set when it is not a codebook)."""
    axes = spec.axes
    if "code" in axes:
        return [dict(c, reason=None) for c in axes["code"]]
    out = []
    for n, k, v, a in itertools.product(axes.get("n", [8]), axes.get("k", [2]),
                                        axes.get("variant", ["full"]),
                                        axes.get("assignment", ["enum"])):
        try:
            Codebook(n, k, v, a)
            reason = None
        except ValueError as e:
            reason = str(e)
        out.append({"n": n, "k": k, "variant": v, "assignment": a, "reason": reason})
    return out


def _point_id(values: dict) -> str:
    text = json.dumps(values, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def expand(spec: SweepSpec, datasets: dict, models: dict) -> list:
    """The points of ``spec``, in axis order (codes slowest, sources fastest).

    ``datasets`` maps each data set of the spec to its :class:`DatasetInfo`,
    ``models`` each model path to its :class:`ModelInfo`."""
    axes = spec.axes
    sources = []
    if "model" in axes:
        for path in axes["model"]:
            m = models[str(path)]
            sources.append(({"kind": "model", "model": m.path, "sizes": list(m.sizes)},
                            m.code))
    else:
        for name in axes.get("dataset", ["digits"]):
            info = datasets[name]
            for hidden in axes.get("hidden", [default_hidden(info)]):
                sizes = [info.features, *hidden, info.classes]
                sources.append(({"kind": "dataset", "dataset": name, "sizes": sizes}, None))
    codes = [None] if "model" in axes else _codes(spec)
    points = []
    for code, pe, simd, device, memory, (source, model_code) in itertools.product(
            codes, axes.get("pe", [4]), axes.get("simd", [2]), axes.get("device", ["up5k"]),
            axes.get("memory", [MEMORIES[0]]), sources):
        code = dict(model_code) if code is None else dict(code)
        reason = code.pop("reason", None)
        if reason is None and pe * simd > limits.MAX_LANES:
            reason = (f"pe x simd must be at most {limits.MAX_LANES} lanes, not {pe} x {simd} "
                      f"= {pe * simd}")
        values = {"code": code, "pe": pe, "simd": simd, "device": device, "memory": memory,
                  "source": source}
        where = source.get("dataset") or Path(source["model"]).name
        label = (f"{code_label(code)} pe{pe} simd{simd} {device} {memory} {where} "
                 f"{'-'.join(map(str, source['sizes']))}")
        points.append({"id": _point_id(values), "label": label, **values,
                       "status": "invalid" if reason else None, "reason": reason})
    return points
