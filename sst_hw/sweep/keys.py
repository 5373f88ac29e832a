"""Content hashes and the cache keys built from them.

Every cached result is stored under the SHA-256 of a JSON document listing
what it depends on (:func:`key`). Change any input and the key changes, so
the result is computed again; leave them alone and it is reused:

* **train** (accuracy and the trained model file): the data set's content
  (:func:`dataset_sha256`: every array of both splits), the layer sizes, the
  codebook, the resolved schedule (every field of
  :class:`~sst_hw.train.mlp.Schedule`), seed, activation width, shift-only,
  the calibration sample count, the NumPy version, and the *code version*:
  the SHA-256 of the sources of ``sst_hw/format`` and ``sst_hw/train``
  (:func:`source_sha256`). Any edit of the trainer or the format retrains;
  an edit elsewhere (RTL, synthesis, this package) does not.
* **model** (the network a point's hardware is built from): the train key of
  a trained point; the file's SHA-256 for a model file; for the stand-in
  network of a point that does not train (:func:`standin_network`), its
  sizes, codebook and seed and the ``sst_hw/format`` sources.
* **plan** (cycles, memory, fit): the model key, PE, SIMD, memory, device and
  the ``sst_hw/format`` and ``sst_hw/plan`` sources.
* **recipe** (which Verilog a point compiles to): the model key, PE, SIMD,
  memory, device, module name, the sources of the rooms that write the core
  (``format``, ``plan``, ``rtl``, ``core``, ``emit``) and the Amaranth
  version. It records the SHA-256 of the Verilog, so an edit that leaves the
  Verilog unchanged costs an elaboration but no synthesis.
* **synth** (LUT4, BRAM, fmax): the SHA-256 of the generated Verilog, the
  device, the clock target and placer seed, the tool versions
  (:func:`~sst_hw.synth.flow.tool_versions`) and the ``sst_hw/synth``
  sources (the flow, its harness and report).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

__all__ = ["key", "sha256_text", "dataset_sha256", "source_sha256", "code_versions",
           "CODE_ROOMS", "STANDIN_SEED", "model_key", "train_key", "plan_key", "recipe_key",
           "synth_key", "MODULE_NAME", "CALIB_SAMPLES"]

#: Rooms of the package whose sources each kind of result depends on.
CODE_ROOMS = {
    "train": ("format", "train"),
    "format": ("format",),
    "plan": ("format", "plan"),
    "hardware": ("format", "plan", "rtl", "core", "emit"),
    "synth": ("synth",),
}
#: Seed of the stand-in network of points that do not train.
STANDIN_SEED = 0
#: Verilog module name of every compiled core.
MODULE_NAME = "sst_network"
#: Training samples that calibrate the integer export (``train_and_export``'s default).
CALIB_SAMPLES = 10000
_PACKAGE = Path(__file__).resolve().parent.parent


def key(kind: str, **inputs) -> str:
    """SHA-256 (hex) of ``kind`` and ``inputs`` as canonical JSON."""
    text = json.dumps({"kind": kind, **inputs}, sort_keys=True, separators=(",", ":"),
                      default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def dataset_sha256(dataset) -> str:
    """SHA-256 of a :class:`~sst_hw.train.datasets.Dataset`'s content: shape,
    dtype and bytes of ``x_train``, ``y_train``, ``x_test``, ``y_test`` and the
    class count (not its name: the same images under another name hash alike)."""
    import numpy as np

    h = hashlib.sha256()
    for name in ("x_train", "y_train", "x_test", "y_test"):
        a = np.ascontiguousarray(getattr(dataset, name))
        h.update(f"{name}:{a.dtype.str}:{a.shape};".encode())
        h.update(a.tobytes())
    h.update(f"classes:{int(dataset.classes)}".encode())
    return h.hexdigest()


def source_sha256(rooms) -> str:
    """SHA-256 of the ``.py`` sources of the package rooms ``rooms`` (paths
    relative to the package and contents, in sorted order)."""
    h = hashlib.sha256()
    for room in sorted(rooms):
        for path in sorted((_PACKAGE / room).rglob("*.py")):
            h.update(str(path.relative_to(_PACKAGE)).encode() + b"\0")
            h.update(path.read_bytes() + b"\0")
    return h.hexdigest()


def code_versions() -> dict:
    """The code versions results depend on: one source hash per entry of
    :data:`CODE_ROOMS`, and the NumPy and Amaranth versions."""
    from importlib.metadata import version

    out = {kind: source_sha256(rooms) for kind, rooms in CODE_ROOMS.items()}
    out["numpy"] = version("numpy")
    out["amaranth"] = version("amaranth")
    return out


def train_key(dataset_sha: str, sizes, codebook: dict, schedule: dict, settings: dict,
              versions: dict) -> str:
    """The key of a training run (see the module doc)."""
    return key("train", dataset=dataset_sha, sizes=list(sizes), codebook=codebook,
               schedule=schedule, seed=settings["seed"], act_width=settings["act_width"],
               shift_only=settings["shift_only"], calib_samples=CALIB_SAMPLES,
               code=versions["train"], numpy=versions["numpy"])


def model_key(point: dict, versions: dict, *, train: str | None = None,
              model_sha: str | None = None) -> str:
    """The identity of the network ``point``'s hardware is built from: its
    training (``train`` key), a model file (``model_sha``) or the stand-in."""
    if train is not None:
        return key("model-trained", train=train)
    if model_sha is not None:
        return key("model-file", sha256=model_sha)
    return key("model-standin", sizes=point["source"]["sizes"], codebook=point["code"],
               seed=STANDIN_SEED, code=versions["format"])


def _engine(point: dict) -> dict:
    return {k: point[k] for k in ("pe", "simd", "memory", "device")}


def plan_key(model: str, point: dict, versions: dict) -> str:
    return key("plan", model=model, **_engine(point), code=versions["plan"])


def recipe_key(model: str, point: dict, versions: dict) -> str:
    return key("recipe", model=model, **_engine(point), module=MODULE_NAME,
               code=versions["hardware"], amaranth=versions["amaranth"])


def synth_key(verilog_sha: str, device: str, freq: float, seed: int, tools: dict,
              versions: dict) -> str:
    return key("synth", verilog=verilog_sha, device=device, freq=float(freq), seed=int(seed),
               tools=tools, code=versions["synth"])
