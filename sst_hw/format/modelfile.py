"""The on-disk format of a whole SST network: one versioned file, named
``.sst`` by convention (an ``.npz`` archive inside).

Layout (format ``"sst-hw-model"``, version 1), written by :func:`save` with
``np.savez`` and read by :func:`load` with ``allow_pickle=False``:

``header``
    uint8 array: the UTF-8 bytes of a JSON object ::

        {"format": "sst-hw-model", "version": 1,
         "input": {"width": 8, "signed": false},
         "meta": {...free-form: dataset, accuracy, ...},
         "layers": [{"in_features": 784, "out_features": 64,
                     "n": 8, "k": 2, "variant": "full", "assignment": "enum",
                     "shift": 12, "relu": true, "act_width": 8,
                     "arrays": ["codes", "mult", "add", "alpha", "bias"]}, ...]}

``layer{i}.codes``
    int64 (out_features, ceil(in_features / N)): code word per row-subvector.
``layer{i}.mult``, ``layer{i}.add``
    int64 (out_features,): requantization ``M_r`` and ``C_r``.
``layer{i}.alpha``, ``layer{i}.bias``
    float32 (out_features,), optional (listed in ``arrays`` when present):
    float scale and bias kept for reference and compression accounting.

Everything is checked on load; anything malformed raises
:class:`ModelFormatError` naming the file, the layer and what is wrong. The
arithmetic meaning of every field is the golden model's (:mod:`sst_hw.format.golden`).
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from sst_hw.format.codebook import Codebook
from sst_hw.format.golden import Layer, Network

__all__ = ["FORMAT", "VERSION", "ModelFormatError", "save", "load", "header"]

FORMAT = "sst-hw-model"
VERSION = 1

_REQUIRED = ("codes", "mult", "add")
_OPTIONAL = ("alpha", "bias")
_DTYPES = {"codes": np.int64, "mult": np.int64, "add": np.int64,
           "alpha": np.float32, "bias": np.float32}
_LAYER_KEYS = {"in_features": int, "out_features": int, "n": int, "k": int, "variant": str,
               "assignment": str, "shift": int, "relu": bool, "act_width": int, "arrays": list}
_TOP_KEYS = {"format": str, "version": int, "input": dict, "meta": dict, "layers": list}


class ModelFormatError(ValueError):
    """A model file that is not a valid ``sst-hw-model`` file."""


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")


def header(network: Network) -> dict:
    """The JSON header :func:`save` writes for ``network``."""
    layers = []
    for layer in network.layers:
        cb = layer.codebook
        arrays = list(_REQUIRED) + [a for a in _OPTIONAL if getattr(layer, a) is not None]
        layers.append({"in_features": layer.in_features, "out_features": layer.out_features,
                       "n": cb.n, "k": cb.k, "variant": cb.variant,
                       "assignment": cb.assignment, "shift": layer.shift, "relu": layer.relu,
                       "act_width": layer.act_width, "arrays": arrays})
    return {"format": FORMAT, "version": VERSION,
            "input": {"width": network.input_width, "signed": network.input_signed},
            "meta": network.meta, "layers": layers}


def save(network: Network, path) -> Path:
    """Write ``network`` to ``path`` (exactly that name; ``.sst`` suggested).

    The file is written to a temporary file in the same folder and moved into
    place with ``os.replace``: a failed save leaves any earlier file untouched
    and no partial file behind. Returns the path.
    """
    if not isinstance(network, Network):
        raise TypeError(f"network must be a Network, not {type(network).__name__}")
    path = Path(path)
    try:
        text = json.dumps(header(network), default=_json_default, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ModelFormatError(f"model meta is not JSON-serialisable: {e}") from e
    arrays = {"header": np.frombuffer(text.encode("utf-8"), np.uint8)}
    for i, layer in enumerate(network.layers):
        for name in _REQUIRED + _OPTIONAL:
            value = getattr(layer, name)
            if value is not None:
                arrays[f"layer{i}.{name}"] = np.ascontiguousarray(value, _DTYPES[name])
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def load(path) -> Network:
    """Read and check a model file written by :func:`save`.

    Raises
    ------
    ModelFormatError
        The file is not a zip/npz archive, is truncated, has the wrong format
        name or version, misses an array, or holds a value the golden model
        refuses (shape, dtype, code range, unused code, multiplier, shift,
        layer chain, NaN...). The message names the file and the problem.
    FileNotFoundError
        No such file.
    """
    path = Path(path)

    def fail(msg):
        return ModelFormatError(f"model file {str(path)!r}: {msg}")

    with open(path, "rb") as f:
        magic = f.read(4)
    if not zipfile.is_zipfile(path):
        if magic == b"PK\x03\x04":
            raise fail("truncated or corrupt zip archive (no central directory)")
        raise fail(f"not an .npz (zip) archive (starts with {magic!r})")
    try:
        npz = np.load(path, allow_pickle=False)
    except Exception as e:  # zipfile, zlib, OS errors of a damaged archive
        raise fail(f"cannot open the archive: {e}") from e
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise fail("not an .npz archive")
    with npz:
        def read(name):
            try:
                return npz[name]
            except Exception as e:
                raise fail(f"array {name!r} cannot be read: "
                           f"{type(e).__name__}: {e}") from e

        names = set(npz.files)
        if "header" not in names:
            raise fail("missing the 'header' array: not an sst-hw model file")
        head = _parse_header(read("header"), fail)
        expected = {"header"}
        layers = []
        for i, lh in enumerate(head["layers"]):
            where = f"layer {i}"
            _check_keys(lh, _LAYER_KEYS, where, fail)
            try:
                cb = Codebook(lh["n"], lh["k"], lh["variant"], lh["assignment"])
            except (TypeError, ValueError) as e:
                raise fail(f"{where}: bad codebook: {e}") from e
            listed = lh["arrays"]
            unknown = [a for a in listed if a not in _DTYPES]
            if unknown or len(set(listed)) != len(listed):
                raise fail(f"{where}: 'arrays' must list distinct names among "
                           f"{', '.join(_DTYPES)}, not {listed}")
            missing = [a for a in _REQUIRED if a not in listed]
            if missing:
                raise fail(f"{where}: 'arrays' must list {', '.join(_REQUIRED)}; "
                           f"{', '.join(missing)} missing")
            values = {}
            for a in listed:
                key = f"layer{i}.{a}"
                expected.add(key)
                if key not in names:
                    raise fail(f"{where}: array {key!r} is missing")
                arr = read(key)
                if arr.dtype != _DTYPES[a]:
                    raise fail(f"{where}: array {key!r} must have dtype "
                               f"{np.dtype(_DTYPES[a])}, not {arr.dtype}")
                values[a] = arr
            for key in ("in_features", "out_features"):
                if lh[key] < 1:
                    raise fail(f"{where}: {key} must be a positive integer, not {lh[key]}")
            out, subs = lh["out_features"], -(-lh["in_features"] // cb.n)
            shapes = {"codes": (out, subs), "mult": (out,), "add": (out,),
                      "alpha": (out,), "bias": (out,)}
            for a, arr in values.items():
                if arr.shape != shapes[a]:
                    what = ("(out_features, ceil(in_features / N))" if a == "codes"
                            else "(out_features,)")
                    raise fail(f"{where}: array 'layer{i}.{a}' has shape {arr.shape}, expected "
                               f"{what} = {shapes[a]} (in_features={lh['in_features']}, "
                               f"out_features={out}, N={cb.n})")
                if a in _OPTIONAL and not np.isfinite(arr).all():
                    r = int(np.flatnonzero(~np.isfinite(arr))[0])
                    raise fail(f"{where}: array 'layer{i}.{a}' holds {arr[r]} (NaN or inf) "
                               f"at row {r}")
            try:
                layers.append(Layer(lh["in_features"], lh["out_features"], cb,
                                    values["codes"], values["mult"], values["add"],
                                    lh["shift"], lh["relu"], lh["act_width"],
                                    values.get("alpha"), values.get("bias")))
            except (TypeError, ValueError) as e:
                raise fail(f"{where}: {e}") from e
        extra = sorted(names - expected)
        if extra:
            raise fail(f"unexpected array(s) {', '.join(map(repr, extra))}")
    inp = head["input"]
    _check_keys(inp, {"width": int, "signed": bool}, "input", fail)
    try:
        return Network(layers, inp["width"], inp["signed"], head["meta"])
    except (TypeError, ValueError) as e:
        raise fail(str(e)) from e


def _parse_header(raw, fail) -> dict:
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise fail(f"'header' must be a 1-D uint8 array, not {raw.dtype} {raw.shape}")
    try:
        head = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise fail(f"'header' is not UTF-8 JSON: {e}") from e
    if not isinstance(head, dict):
        raise fail(f"'header' must be a JSON object, not {type(head).__name__}")
    if head.get("format") != FORMAT:
        raise fail(f"not an {FORMAT} file (format {head.get('format')!r})")
    version = head.get("version")
    if version != VERSION or isinstance(version, bool):
        raise fail(f"unsupported format version {version!r} (this reader knows "
                   f"version {VERSION})")
    _check_keys(head, _TOP_KEYS, "header", fail)
    if not head["layers"]:
        raise fail("header: 'layers' is empty")
    return head


def _check_keys(obj, spec: dict, where: str, fail):
    if not isinstance(obj, dict):
        raise fail(f"{where}: must be a JSON object, not {type(obj).__name__}")
    missing = [k for k in spec if k not in obj]
    if missing:
        raise fail(f"{where}: missing key(s) {', '.join(map(repr, missing))}")
    extra = [k for k in obj if k not in spec]
    if extra:
        raise fail(f"{where}: unknown key(s) {', '.join(map(repr, extra))}")
    for key, typ in spec.items():
        v = obj[key]
        ok = isinstance(v, typ) and (typ is bool or not isinstance(v, bool))
        if not ok:
            raise fail(f"{where}: {key!r} must be a JSON {typ.__name__}, not {v!r}")
