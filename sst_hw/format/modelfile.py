"""The on-disk format of a whole SST network: one versioned file, named
``.sst`` by convention (an ``.npz`` archive inside).

Two versions share one layout, an ``.npz`` written by :func:`save` with
``np.savez`` and read by :func:`load` with ``allow_pickle=False``: a
``header`` array (uint8, the UTF-8 bytes of a JSON object) and the integer and
float arrays of every SST layer. Version 1 holds an MLP, a
:class:`~sst_hw.format.golden.Network`; version 2 a convolutional network, a
:class:`~sst_hw.format.convnet.ConvNetwork`. :func:`save` writes version 1 for
a ``Network`` (byte for byte as it always has) and version 2 for a
``ConvNetwork``; :func:`load` reads both and gives back the same class.

Version 1 (MLP)
---------------

``header`` ::

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

Version 2 (convolutional)
-------------------------

``header`` ::

    {"format": "sst-hw-model", "version": 2,
     "input": {"shape": [28, 28, 1], "width": 8, "signed": false},
     "meta": {...},
     "layers": [
        {"kind": "conv2d", "in_channels": 1, "out_channels": 16,
         "kh": 3, "kw": 3, "stride": 1, "pad": [1, 1],
         "n": 8, "k": 2, "variant": "full", "assignment": "enum",
         "shift": 11, "relu": true, "act_width": 8,
         "arrays": ["codes", "mult", "add", "alpha", "bias"]},
        {"kind": "maxpool", "kernel": 2, "stride": 2},
        {"kind": "flatten"},
        {"kind": "dense", "in_features": 3136, "out_features": 10,
         "n": 8, "k": 2, ..., "arrays": [...]}]}

``input.shape`` is one image ``[H, W, C]``, channels last. Every layer has a
``kind`` and exactly the keys of its kind:

``conv2d``
    ``in_channels``, ``out_channels``, the kernel ``kh`` x ``kw`` (1..7 each),
    ``stride`` (1 or 2), ``pad`` ``[pad_h, pad_w]`` (zero padding per side,
    ``0..kh//2`` and ``0..kw//2``), then the codebook, requantization and
    ``arrays`` of a dense layer. Output channel ``r`` is row ``r`` of
    ``kh*kw*in_channels`` ternary weights in ``(ky, kx, c)`` order, channel
    fastest (:mod:`sst_hw.format.conv`); ``layer{i}.codes`` is int64
    ``(out_channels, ceil(kh*kw*in_channels / N))``, the other arrays
    ``(out_channels,)``.
``maxpool``
    ``kernel`` (2 or 3) and ``stride`` (2), no padding, floor output size.
``flatten``
    No other key: ``(H, W, C) -> H*W*C`` in HWC order.
``dense``
    The keys and arrays of a version 1 layer.

Arrays are named by the layer's index in the whole list (``layer3.codes``
for the fourth layer), so max-pool and flatten indices simply have none. The
spatial sizes are not stored: each layer's input shape follows from
``input.shape`` and the layers before it, and :func:`load` checks every
stored count against that chain (``in_channels`` against the channels the
previous layer gives, a dense ``in_features`` against the features it
gives, a kernel against the padded input). The last layer must be dense (it
gives the logits), and a dense layer after a spatial one needs a flatten
between them.

Everything is checked on load; anything malformed raises
:class:`ModelFormatError` naming the file, the layer (index, and kind in
version 2) and what is wrong. The arithmetic meaning of every field is the
golden model's (:mod:`sst_hw.format.golden`, :mod:`sst_hw.format.conv`).
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from sst_hw.format.codebook import Codebook
from sst_hw.format.conv import Conv2D, Flatten, MaxPool, _check_shape, conv_output_size
from sst_hw.format.convnet import ConvNetwork, kind_of
from sst_hw.format.golden import Layer, Network

__all__ = ["FORMAT", "VERSION", "MLP_VERSION", "CONV_VERSION", "VERSIONS", "KINDS",
           "ModelFormatError", "save", "load", "header"]

FORMAT = "sst-hw-model"
#: Version of a file holding an MLP :class:`Network`.
MLP_VERSION = 1
#: Version of a file holding a :class:`ConvNetwork`.
CONV_VERSION = 2
#: Every version this module reads, and the newest.
VERSIONS = (MLP_VERSION, CONV_VERSION)
VERSION = CONV_VERSION

_REQUIRED = ("codes", "mult", "add")
_OPTIONAL = ("alpha", "bias")
_DTYPES = {"codes": np.int64, "mult": np.int64, "add": np.int64,
           "alpha": np.float32, "bias": np.float32}
_LAYER_KEYS = {"in_features": int, "out_features": int, "n": int, "k": int, "variant": str,
               "assignment": str, "shift": int, "relu": bool, "act_width": int, "arrays": list}
_TOP_KEYS = {"format": str, "version": int, "input": dict, "meta": dict, "layers": list}
_SST_KEYS = {"n": int, "k": int, "variant": str, "assignment": str, "shift": int, "relu": bool,
             "act_width": int, "arrays": list}
#: Version 2: the keys of each layer kind (``kind`` included).
KINDS = {
    "conv2d": {"kind": str, "in_channels": int, "out_channels": int, "kh": int, "kw": int,
               "stride": int, "pad": list} | _SST_KEYS,
    "maxpool": {"kind": str, "kernel": int, "stride": int},
    "flatten": {"kind": str},
    "dense": {"kind": str, "in_features": int, "out_features": int} | _SST_KEYS,
}
_INPUT_KEYS = {1: {"width": int, "signed": bool},
               2: {"shape": list, "width": int, "signed": bool}}


class ModelFormatError(ValueError):
    """A model file that is not a valid ``sst-hw-model`` file."""


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")


def _sst_fields(layer: Layer) -> dict:
    """Codebook, requantization and array list of a golden layer, as stored."""
    cb = layer.codebook
    arrays = list(_REQUIRED) + [a for a in _OPTIONAL if getattr(layer, a) is not None]
    return {"n": cb.n, "k": cb.k, "variant": cb.variant, "assignment": cb.assignment,
            "shift": layer.shift, "relu": layer.relu, "act_width": layer.act_width,
            "arrays": arrays}


def header(network) -> dict:
    """The JSON header :func:`save` writes for ``network``: version 1 for a
    :class:`Network`, version 2 for a :class:`ConvNetwork`."""
    if isinstance(network, ConvNetwork):
        return _header_v2(network)
    layers = []
    for layer in network.layers:
        cb = layer.codebook
        arrays = list(_REQUIRED) + [a for a in _OPTIONAL if getattr(layer, a) is not None]
        layers.append({"in_features": layer.in_features, "out_features": layer.out_features,
                       "n": cb.n, "k": cb.k, "variant": cb.variant,
                       "assignment": cb.assignment, "shift": layer.shift, "relu": layer.relu,
                       "act_width": layer.act_width, "arrays": arrays})
    return {"format": FORMAT, "version": MLP_VERSION,
            "input": {"width": network.input_width, "signed": network.input_signed},
            "meta": network.meta, "layers": layers}


def _header_v2(network: ConvNetwork) -> dict:
    layers = []
    for layer in network.layers:
        kind = kind_of(layer)
        if kind == "conv2d":
            g = layer.layer
            layers.append({"kind": kind, "in_channels": layer.cin, "out_channels": layer.cout,
                           "kh": layer.kh, "kw": layer.kw, "stride": layer.stride,
                           "pad": list(layer.pad)} | _sst_fields(g))
        elif kind == "maxpool":
            layers.append({"kind": kind, "kernel": layer.kernel, "stride": layer.stride})
        elif kind == "flatten":
            layers.append({"kind": kind})
        else:
            layers.append({"kind": kind, "in_features": layer.in_features,
                           "out_features": layer.out_features} | _sst_fields(layer))
    return {"format": FORMAT, "version": CONV_VERSION,
            "input": {"shape": list(network.input_shape), "width": network.input_width,
                      "signed": network.input_signed},
            "meta": network.meta, "layers": layers}


def save(network, path) -> Path:
    """Write ``network`` to ``path`` (exactly that name; ``.sst`` suggested):
    version 1 for a :class:`Network`, version 2 for a :class:`ConvNetwork`.

    The file is written to a temporary file in the same folder and moved into
    place with ``os.replace``: a failed save leaves any earlier file untouched
    and no partial file behind. Returns the path.
    """
    if not isinstance(network, (Network, ConvNetwork)):
        raise TypeError(f"network must be a Network or a ConvNetwork, not "
                        f"{type(network).__name__}")
    path = Path(path)
    try:
        text = json.dumps(header(network), default=_json_default, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ModelFormatError(f"model meta is not JSON-serialisable: {e}") from e
    arrays = {"header": np.frombuffer(text.encode("utf-8"), np.uint8)}
    for i, layer in enumerate(network.layers):
        if isinstance(layer, Conv2D):
            layer = layer.layer
        elif not isinstance(layer, Layer):
            continue                        # max-pool and flatten: no arrays
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


def load(path):
    """Read and check a model file written by :func:`save`: a :class:`Network`
    from a version 1 file, a :class:`ConvNetwork` from a version 2 file.

    Raises
    ------
    ModelFormatError
        The file is not a zip/npz archive, is truncated, has the wrong format
        name or version, misses an array, or holds a value the golden model
        refuses (shape, dtype, code range, unused code, multiplier, shift,
        layer chain, kernel, stride, padding, NaN...). The message names the
        file, the layer and the problem.
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
                value = npz[name]
            except Exception as e:
                raise fail(f"array {name!r} cannot be read: "
                           f"{type(e).__name__}: {e}") from e
            if not isinstance(value, np.ndarray):
                # NpzFile hands back the raw bytes of a member without the .npy magic
                raise fail(f"array {name!r} cannot be read: not a .npy array (starts with "
                           f"{bytes(value[:6])!r})")
            return value

        names = set(npz.files)
        if "header" not in names:
            raise fail("missing the 'header' array: not an sst-hw model file")
        head = _parse_header(read("header"), fail)
        arrays = _Arrays(read, names, fail)
        if head["version"] == CONV_VERSION:
            network = _load_v2(head, arrays, fail)
            arrays.check_all_used()
            return network
        layers = []
        for i, lh in enumerate(head["layers"]):
            where = f"layer {i}"
            _check_keys(lh, _LAYER_KEYS, where, fail)
            layers.append(_sst_layer(
                i, lh, where, arrays, fail,
                counts={"in_features": lh["in_features"], "out_features": lh["out_features"]},
                in_features=lh["in_features"], out=lh["out_features"],
                rows="out_features", cols="ceil(in_features / N)",
                dims=f"in_features={lh['in_features']}, out_features={lh['out_features']}"))
        arrays.check_all_used()
    inp = head["input"]
    _check_keys(inp, _INPUT_KEYS[MLP_VERSION], "input", fail)
    try:
        return Network(layers, inp["width"], inp["signed"], head["meta"])
    except (TypeError, ValueError) as e:
        raise fail(str(e)) from e


class _Arrays:
    """The archive's arrays for the loaders: read once each, and the names read
    remembered so that any other array is reported."""

    def __init__(self, read, names, fail):
        self.read, self.names, self.fail = read, names, fail
        self.expected = {"header"}

    def get(self, key: str, where: str):
        self.expected.add(key)
        if key not in self.names:
            raise self.fail(f"{where}: array {key!r} is missing")
        return self.read(key)

    def check_all_used(self):
        extra = sorted(self.names - self.expected)
        if extra:
            raise self.fail(f"unexpected array(s) {', '.join(map(repr, extra))}")


def _sst_layer(i, lh, where, arrays, fail, *, counts, in_features, out, rows, cols,
               dims) -> Layer:
    """The golden :class:`Layer` of a stored conv or dense layer ``lh`` (its
    keys already checked): codebook, arrays (listed, present, dtype, shape,
    finite floats) and the layer's own checks. ``counts`` must be positive;
    ``rows``/``cols``/``dims`` name the expected shapes in messages."""
    try:
        cb = Codebook(lh["n"], lh["k"], lh["variant"], lh["assignment"])
    except (TypeError, ValueError) as e:
        raise fail(f"{where}: bad codebook: {e}") from e
    listed = lh["arrays"]
    unknown = [a for a in listed if not isinstance(a, str) or a not in _DTYPES]
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
        arr = arrays.get(key, where)
        if arr.dtype != _DTYPES[a]:
            raise fail(f"{where}: array {key!r} must have dtype "
                       f"{np.dtype(_DTYPES[a])}, not {arr.dtype}")
        values[a] = arr
    for key, value in counts.items():
        if value < 1:
            raise fail(f"{where}: {key} must be a positive integer, not {value}")
    subs = -(-in_features // cb.n)
    shapes = {"codes": (out, subs), "mult": (out,), "add": (out,),
              "alpha": (out,), "bias": (out,)}
    for a, arr in values.items():
        if arr.shape != shapes[a]:
            what = f"({rows}, {cols})" if a == "codes" else f"({rows},)"
            raise fail(f"{where}: array 'layer{i}.{a}' has shape {arr.shape}, expected "
                       f"{what} = {shapes[a]} ({dims}, N={cb.n})")
        if a in _OPTIONAL and not np.isfinite(arr).all():
            r = int(np.flatnonzero(~np.isfinite(arr))[0])
            raise fail(f"{where}: array 'layer{i}.{a}' holds {arr[r]} (NaN or inf) "
                       f"at row {r}")
    try:
        return Layer(in_features, out, cb, values["codes"], values["mult"], values["add"],
                     lh["shift"], lh["relu"], lh["act_width"],
                     values.get("alpha"), values.get("bias"))
    except (TypeError, ValueError) as e:
        raise fail(f"{where}: {e}") from e


def _shape_text(shape) -> str:
    return "x".join(map(str, shape)) if len(shape) == 3 else f"{shape[0]} features"


def _load_v2(head, arrays, fail) -> ConvNetwork:
    """The :class:`ConvNetwork` of a version 2 header, checked layer by layer
    along the shape chain from ``input.shape``."""
    inp = head["input"]
    _check_keys(inp, _INPUT_KEYS[CONV_VERSION], "input", fail)
    try:
        shape = _check_shape("shape", inp["shape"])
    except (TypeError, ValueError) as e:
        raise fail(f"input: {e}") from e
    layers, kinds = [], []
    last = len(head["layers"]) - 1
    for i, lh in enumerate(head["layers"]):
        if not isinstance(lh, dict):
            raise fail(f"layer {i}: must be a JSON object, not {type(lh).__name__}")
        kind = lh.get("kind")
        if not isinstance(kind, str) or kind not in KINDS:
            what = "missing key 'kind'" if "kind" not in lh else f"unknown kind {kind!r}"
            raise fail(f"layer {i}: {what} (one of {', '.join(KINDS)})")
        where = f"layer {i} ({kind})"
        _check_keys(lh, KINDS[kind], where, fail)
        before = "the input" if i == 0 else f"layer {i - 1} ({kinds[-1]})"
        given = f"{before} gives {_shape_text(shape)}"
        if i == last and kind != "dense":
            raise fail(f"{where}: the last layer must be dense (it gives the logits), "
                       f"not {kind}")
        if kind == "dense":
            if len(shape) == 3:
                raise fail(f"{where}: reads a vector but {before} gives a "
                           f"{_shape_text(shape)} tensor: put a flatten before it")
            if lh["in_features"] != shape[0]:
                raise fail(f"{where}: in_features is {lh['in_features']} but {given}")
            layer = _sst_layer(
                i, lh, where, arrays, fail,
                counts={"in_features": lh["in_features"], "out_features": lh["out_features"]},
                in_features=lh["in_features"], out=lh["out_features"],
                rows="out_features", cols="ceil(in_features / N)",
                dims=f"in_features={lh['in_features']}, out_features={lh['out_features']}")
            shape = (layer.out_features,)
        elif len(shape) != 3:
            raise fail(f"{where}: reads an (H, W, C) tensor but {given} (after a flatten "
                       f"or dense layer)")
        elif kind == "conv2d":
            cin, cout = lh["in_channels"], lh["out_channels"]
            if cin != shape[2]:
                raise fail(f"{where}: in_channels is {cin} but {before} gives {shape[2]} "
                           f"channels ({_shape_text(shape)})")
            kh, kw, stride, pad = lh["kh"], lh["kw"], lh["stride"], lh["pad"]
            if len(pad) != 2:
                raise fail(f"{where}: 'pad' must be [pad_h, pad_w], not {pad!r}")
            try:
                conv_output_size(shape[0], shape[1], kh, kw, stride, pad)
            except (TypeError, ValueError) as e:
                raise fail(f"{where}: {e}") from e
            g = _sst_layer(
                i, lh, where, arrays, fail,
                counts={"out_channels": cout}, in_features=kh * kw * cin, out=cout,
                rows="out_channels", cols="ceil(kh*kw*in_channels / N)",
                dims=f"kh={kh}, kw={kw}, in_channels={cin}, out_channels={cout}")
            try:
                layer = Conv2D(g, kh, kw, stride, pad, shape)
            except (TypeError, ValueError) as e:
                raise fail(f"{where}: {e}") from e
            shape = layer.out_shape
        elif kind == "maxpool":
            try:
                layer = MaxPool(lh["kernel"], shape, lh["stride"])
            except (TypeError, ValueError) as e:
                raise fail(f"{where}: {e}") from e
            shape = layer.out_shape
        else:
            layer = Flatten(shape)
            shape = (layer.out_features,)
        layers.append(layer)
        kinds.append(kind)
    try:
        return ConvNetwork(layers, tuple(inp["shape"]), inp["width"], inp["signed"],
                           head["meta"])
    except (TypeError, ValueError) as e:
        raise fail(str(e)) from e


def _no_constant(name):
    raise ValueError(f"{name} is not a JSON number")


def _parse_header(raw, fail) -> dict:
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise fail(f"'header' must be a 1-D uint8 array, not {raw.dtype} {raw.shape}")
    try:
        head = json.loads(raw.tobytes().decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise fail(f"'header' is not UTF-8 JSON: {e}") from e
    except ValueError as e:               # NaN or Infinity: not JSON, and save refuses them
        raise fail(f"'header' is not strict JSON: {e}") from e
    except RecursionError:
        raise fail("'header' is not an sst-hw header: JSON nested too deeply") from None
    if not isinstance(head, dict):
        raise fail(f"'header' must be a JSON object, not {type(head).__name__}")
    if head.get("format") != FORMAT:
        raise fail(f"not an {FORMAT} file (format {head.get('format')!r})")
    version = head.get("version")
    if version not in VERSIONS or isinstance(version, bool) or not isinstance(version, int):
        raise fail(f"unsupported format version {version!r} (this reader knows "
                   f"versions {', '.join(map(str, VERSIONS))})")
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
