"""Fuzzing the model-file loader (versions 1 and 2) with Hypothesis.

Real files (the bundled ``models/digits.sst``, version 1, and
``models/fashion_up5k_cnn.sst``, version 2) and two small ones written by
:func:`~sst_hw.format.modelfile.save` are mutated: bytes flipped, cut or
inserted in the archive, in one member's ``.npy`` bytes (the zip rebuilt with
valid CRCs, so that the mutation reaches NumPy and the loader), a member
replaced by an array of another dtype, shape or values, dropped, renamed or
added, and the JSON header changed anywhere (values, keys, the version,
nesting, encoding). The property: :func:`~sst_hw.format.modelfile.load`
raises :class:`~sst_hw.format.modelfile.ModelFormatError` with a one-line
message naming the file, or returns a network that runs and saves and loads
back equal. The command line on a refused file exits 2 with one line on
stderr, no traceback, and writes no output file.

``SST_HW_FUZZ_SCALE=20 HYPOTHESIS_PROFILE=explore`` runs many more, fresh,
examples.
"""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from sst_hw.format import modelfile
from sst_hw.format.golden import Network
from sst_hw.format.modelfile import ModelFormatError
from sst_hw.format.random_model import random_convnet

from support.fuzz import FUZZ, assert_clean_refusal, examples, flip_bytes, run_cli, truncate


ROOT = Path(__file__).resolve().parent.parent


def _small_v1() -> bytes:
    net = Network.random(4, [10, 3, 2], 8, 2)
    net.meta = {"dataset": "none", "acc": 0.5, "list": [1, 2, {"a": None}]}
    return _saved(net)


def _small_v2() -> bytes:
    net = random_convnet(2, (6, 6, 2), [("conv", 3, 3, 1, 1), ("pool", 2), ("flatten",),
                                        ("dense", 4)], calib=4, meta={"k": "v"})
    return _saved(net)


def _saved(net) -> bytes:
    with tempfile.TemporaryDirectory() as d:
        return modelfile.save(net, Path(d) / "m.sst").read_bytes()


SOURCES = {
    "digits": (ROOT / "models" / "digits.sst").read_bytes(),
    "cnn": (ROOT / "models" / "fashion_up5k_cnn.sst").read_bytes(),
    "small_v1": _small_v1(),
    "small_v2": _small_v2(),
}


def members(data: bytes) -> dict:
    """The archive's members, name -> bytes, in order."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {i.filename: z.read(i) for i in z.infolist()}


def rezip(items: dict) -> bytes:
    """An archive of ``items`` (name -> bytes) as ``np.savez`` writes one (stored)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for name, raw in items.items():
            z.writestr(name, raw)
    return buf.getvalue()


def npy_bytes(arr) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=True)
    return buf.getvalue()


class Mutated:
    """A mutated model file: its bytes, and a short description for Hypothesis to
    print (not the whole file)."""

    def __init__(self, source: str, how: str, data: bytes):
        self.source, self.how, self.data = source, how, data

    def __repr__(self):
        return f"Mutated({self.source!r}, {self.how!r}, <{len(self.data)} bytes>)"


def header_of(items: dict) -> dict:
    return json.loads(np.load(io.BytesIO(items["header.npy"])).tobytes())


def with_header(items: dict, raw: bytes) -> dict:
    out = dict(items)
    out["header.npy"] = npy_bytes(np.frombuffer(raw, np.uint8))
    return out


# -- the property ---------------------------------------------------------------------------


def check_load(path: Path):
    """``load(path)``: a clean ModelFormatError (returns None), or a network that runs
    and round-trips (returned)."""
    try:
        net = modelfile.load(path)
    except ModelFormatError as e:
        msg = str(e)
        assert msg.startswith(f"model file {str(path)!r}: "), msg
        assert "\n" not in msg, msg
        event("refused: " + " ".join(msg.split(": ", 1)[1].split()[:3]))
        return None
    event("loaded")
    check_valid(net, path.parent)
    return net


def check_valid(net, folder: Path):
    lo, hi = net.input_range
    features = getattr(net, "in_features", None) or net.layers[0].in_features
    x = np.random.default_rng(0).integers(lo, hi, (3, features), endpoint=True)
    logits, cls = net.forward(x)
    assert logits.shape == (3, net.classes) and logits.dtype == np.int64
    assert cls.tolist() == np.argmax(logits, 1).tolist()
    again = modelfile.save(net, folder / "again.sst")
    back = modelfile.load(again)
    assert back == net
    np.testing.assert_array_equal(back.forward(x)[0], logits)


def run_load(data: bytes):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "m.sst"
        path.write_bytes(data)
        return check_load(path)


# -- mutations of the whole file ------------------------------------------------------------

source_names = st.sampled_from(sorted(SOURCES))


@st.composite
def file_mutations(draw):
    """A source file with bytes flipped, cut, inserted or overwritten."""
    name = draw(source_names)
    data = bytearray(SOURCES[name])
    kind = draw(st.sampled_from(["flip", "truncate", "insert", "overwrite", "tail"]))
    how = [kind]
    if kind == "flip":
        flip_bytes(draw, data, how, 8)
    elif kind == "truncate":
        data = truncate(draw, data, how)
    elif kind == "insert":
        i = draw(st.integers(0, len(data)))
        chunk = draw(st.binary(min_size=1, max_size=16))
        data[i:i] = chunk
        how.append((i, chunk))
    elif kind == "overwrite":
        # the zip's central directory and local headers are in the last and the
        # first bytes of each member: aim there as often as anywhere
        i = draw(st.one_of(st.integers(0, len(data) - 1),
                           st.integers(max(0, len(data) - 2000), len(data) - 1)))
        chunk = draw(st.binary(min_size=1, max_size=8))
        data[i:i + len(chunk)] = chunk
        how.append((i, chunk))
    else:
        chunk = draw(st.binary(min_size=1, max_size=64))
        data += chunk
        how.append(chunk)
    return Mutated(name, repr(how), bytes(data))


@settings(max_examples=examples(60), **FUZZ)
@given(m=file_mutations())
def test_mutated_file(m):
    run_load(m.data)


# -- mutations inside the archive (valid zip, damaged members) ------------------------------


@st.composite
def member_byte_mutations(draw):
    """A member's .npy bytes (magic, header, data) flipped, cut or extended; the zip
    itself stays valid."""
    name = draw(source_names)
    items = members(SOURCES[name])
    key = draw(st.sampled_from(sorted(items)))
    raw = bytearray(items[key])
    kind = draw(st.sampled_from(["flip_header", "flip", "truncate", "extend", "header_text"]))
    how = [key, kind]
    if kind in ("flip_header", "flip"):   # flip_header: the magic, version and dict literal
        top = min(len(raw), 128) if kind == "flip_header" else len(raw)
        flip_bytes(draw, raw, how, 4, top=top)
    elif kind == "truncate":
        raw = truncate(draw, raw, how)
    elif kind == "extend":
        chunk = draw(st.binary(min_size=1, max_size=64))
        raw += chunk
        how.append(chunk)
    else:                                 # rewrite the header dict's text
        hlen = int.from_bytes(raw[8:10], "little")
        text = draw(st.sampled_from([
            "{'descr': '<i8', 'fortran_order': True, 'shape': (%s), }",
            "{'descr': '|O', 'fortran_order': False, 'shape': (%s), }",
            "{'descr': '<f2', 'fortran_order': False, 'shape': (%s), }",
            "{'descr': '>i8', 'fortran_order': False, 'shape': (%s), }",
            "{'descr': [('a', '<i8')], 'fortran_order': False, 'shape': (%s), }",
            "{'descr': '<i8', 'fortran_order': False, 'shape': (%s), 'x': 1}",
            "{'descr': '<i8', 'shape': (%s), }",
            "[%s]",
        ]))
        dims = draw(st.lists(st.integers(-2, 2 ** 40), max_size=3))
        shape = ", ".join(map(str, dims)) + ("," if len(dims) == 1 else "")
        body = (text % shape).encode("latin1")
        body = body.ljust(hlen - 1) + b"\n" if len(body) < hlen else body + b"\n"
        raw = raw[:8] + len(body).to_bytes(2, "little") + body + raw[10 + hlen:]
        how.append(body.strip())
    items[key] = bytes(raw)
    return Mutated(name, repr(how), rezip(items))


@settings(max_examples=examples(60), **FUZZ)
@given(m=member_byte_mutations())
def test_mutated_member_bytes(m):
    run_load(m.data)


DTYPES = [np.int64, np.int32, np.uint64, np.uint8, np.int8, np.float32, np.float64,
          np.float16, np.bool_, np.complex64, np.dtype(">i8"), np.dtype("<U3"),
          np.dtype("S2"), np.dtype([("a", "<i8")]), object]


@st.composite
def replaced_arrays(draw):
    """A member replaced by another array: the same values in another dtype, another
    shape, extreme values written into it, or something else altogether."""
    name = draw(source_names)
    items = members(SOURCES[name])
    key = draw(st.sampled_from(sorted(k for k in items if k != "header.npy")))
    arr = np.load(io.BytesIO(items[key]))
    kind = draw(st.sampled_from(["dtype", "shape", "values", "values", "scalar", "other"]))
    if kind == "dtype":
        dt = draw(st.sampled_from(DTYPES))
        try:
            with np.errstate(all="ignore"):
                new = arr.astype(dt)
        except (TypeError, ValueError):
            new = np.zeros(arr.shape, dt)
    elif kind == "shape":
        shapes = [arr.shape[::-1], arr.shape + (1,), (1,) + arr.shape, (arr.size,),
                  arr.shape[:-1], (0,) + arr.shape[1:], (arr.shape[0] + 1,) + arr.shape[1:]]
        shape = draw(st.sampled_from(shapes))
        flat = np.resize(arr.reshape(-1), int(np.prod(shape)))
        new = flat.reshape(shape)
        if draw(st.booleans()) and new.ndim == 2:
            new = np.asfortranarray(new)
    elif kind == "values":
        new = arr.copy()
        if new.size:
            for _ in range(draw(st.integers(1, 3))):
                i = draw(st.integers(0, new.size - 1))
                if np.issubdtype(new.dtype, np.floating):
                    v = draw(st.one_of(st.floats(allow_subnormal=False, width=32),
                                       st.sampled_from([np.nan, np.inf, -np.inf, -1.0, 0.0,
                                                        3.4e38]))) 
                else:
                    v = draw(st.one_of(st.integers(-2 ** 63, 2 ** 63 - 1),
                                       st.sampled_from([-1, 0, 1, 2 ** 15, -2 ** 15 - 1,
                                                        2 ** 62, -2 ** 63]),
                                       st.integers(-300, 300)))
                new.reshape(-1)[i] = v
    elif kind == "scalar":
        new = np.asarray(arr.reshape(-1)[0] if arr.size else 0, arr.dtype)
    else:
        new = draw(st.sampled_from([np.array([], np.int64), np.array([[1, 2], [3, 4]]),
                                    np.array(["a", "b"]), np.array([None, 1], object),
                                    np.zeros((2, 0), np.int64), np.array(1.5)]))
    items[key] = npy_bytes(new)
    return Mutated(name, f"{key} {kind}: {new.dtype} {new.shape} "
                         f"{np.array2string(new.reshape(-1)[:4], threshold=4)}", rezip(items))


@settings(max_examples=examples(80), **FUZZ)
@given(m=replaced_arrays())
def test_replaced_array(m):
    run_load(m.data)


@st.composite
def member_set_mutations(draw):
    """Members dropped, renamed, duplicated under another name or added."""
    name = draw(source_names)
    items = members(SOURCES[name])
    keys = sorted(items)
    key = draw(st.sampled_from(keys))
    kind = draw(st.sampled_from(["drop", "rename", "copy", "add", "not_npy"]))
    how = [key, kind]
    if kind == "drop":
        del items[key]
    elif kind == "rename":
        raw = items.pop(key)
        new = draw(st.sampled_from(["layer99.codes.npy", "layer0.codes", "header",
                                    "layer1.extra.npy", "x/layer0.codes.npy",
                                    key.upper(), "layer-1.mult.npy"]))
        items[new] = raw
        how.append(new)
    elif kind == "copy":
        other = draw(st.sampled_from(keys))
        items[key] = items[other]
        how.append(other)
    elif kind == "add":
        new = draw(st.sampled_from(["layer9.codes.npy", "extra.npy", "layer0.alpha2.npy"]))
        items[new] = npy_bytes(np.zeros(3, np.int64))
        how.append(new)
    else:
        items[key] = draw(st.binary(max_size=40))
        how.append(items[key])
    return Mutated(name, repr(how), rezip(items))


@settings(max_examples=examples(40), **FUZZ)
@given(m=member_set_mutations())
def test_member_set(m):
    run_load(m.data)


# -- mutations of the JSON header -----------------------------------------------------------

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-2 ** 70, 2 ** 70),
    st.sampled_from([0, 1, 2, -1, 3, 7, 8, 16, 32, 62, 63, 64, 65, 2 ** 31, 2 ** 63, 1e400,
                     -1e400, 1.0, 2.0, 0.5]),
    st.floats(), st.text(max_size=6),
    st.sampled_from(["full", "partitioned", "enum", "direct", "conv2d", "maxpool", "flatten",
                     "dense", "codes", "mult", "alpha"]))
json_values = st.recursive(json_scalars, lambda kids: st.one_of(
    st.lists(kids, max_size=4), st.dictionaries(st.text(max_size=5), kids, max_size=3)),
    max_leaves=8)


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, prefix + (i,))


def _parent(obj, path):
    for p in path[:-1]:
        obj = obj[p]
    return obj


@st.composite
def header_mutations(draw):
    """The header JSON with one value replaced, one key dropped or added, the version
    or format changed, or its text damaged."""
    name = draw(source_names)
    items = members(SOURCES[name])
    head = header_of(items)
    kind = draw(st.sampled_from(["replace", "replace", "replace", "drop", "add", "version",
                                 "text", "nest", "nonfinite"]))
    how = [kind]
    if kind in ("replace", "drop", "add"):
        paths = [p for p in _paths(head) if p and p[0] != "meta"]
        path = draw(st.sampled_from(paths))
        parent = _parent(head, path)
        how.append(path)
        if kind == "replace":
            old = parent[path[-1]]
            near = (draw(st.integers(-3, 3)) + old if isinstance(old, int)
                    and not isinstance(old, bool) else None)
            parent[path[-1]] = draw(st.one_of(json_values, st.just(near)))
            how.append(parent[path[-1]])
        elif kind == "drop":
            del parent[path[-1]]
        else:
            target = parent if isinstance(parent, dict) else head
            key, value = draw(st.text(max_size=6)), draw(json_values)
            target[key] = value
            how.append((key, value))
        raw = json.dumps(head).encode()
    elif kind == "version":
        head["version"] = draw(st.one_of(st.sampled_from([1, 2, 0, 3, -1, True, "2", 2.0,
                                                          None]), json_values))
        how.append(head["version"])
        raw = json.dumps(head).encode()
    elif kind == "text":
        raw = bytearray(json.dumps(head).encode())
        op = draw(st.sampled_from(["cut", "flip", "latin1", "bom"]))
        how.append(op)
        if op == "cut":
            raw = truncate(draw, raw, how)
        elif op == "flip":
            i, x = draw(st.integers(0, len(raw) - 1)), draw(st.integers(1, 255))
            raw[i] ^= x
            how.append((i, x))
        elif op == "latin1":
            raw = json.dumps(head | {"meta": {"s": "\u00e9\u4e2d"}},
                             ensure_ascii=False).encode("latin1", "replace")
            raw = bytearray(raw.replace(b"?", b"\xe9"))
        else:
            raw = b"\xef\xbb\xbf" + raw
        raw = bytes(raw)
    elif kind == "nest":
        depth = draw(st.sampled_from([10, 1000, 5000, 100_000]))
        where = draw(st.sampled_from(["meta", "layers", "top"]))
        how += [where, depth]
        deep = "[" * depth + "]" * depth
        if where == "top":
            raw = deep.encode()
        else:
            text = json.dumps(head | {where: "@@"})
            raw = text.replace('"@@"', deep).encode()
    else:
        where = draw(st.sampled_from(["meta", "shift", "in_features", "version"]))
        lit = draw(st.sampled_from(["NaN", "Infinity", "-Infinity"]))
        how += [where, lit]
        if where == "meta":
            head["meta"] = {"x": "@@"}
        elif where == "version":
            head["version"] = "@@"
        else:
            head["layers"][-1][where] = "@@"
        raw = json.dumps(head).replace('"@@"', lit).encode()
    return Mutated(name, repr(how), rezip(with_header(items, raw)))


@settings(max_examples=examples(100), **FUZZ)
@given(m=header_mutations())
def test_mutated_header(m):
    run_load(m.data)


def test_the_sources_are_valid(tmp_path):
    for name, data in SOURCES.items():
        path = tmp_path / f"{name}.sst"
        path.write_bytes(data)
        check_valid(modelfile.load(path), tmp_path)


# -- the command line on mutated files ------------------------------------------------------


cli_mutations = st.one_of(file_mutations(), member_byte_mutations(), replaced_arrays(),
                          header_mutations())


@settings(max_examples=examples(30), **FUZZ,)
@given(m=cli_mutations)
def test_cli_compile_on_mutated_file(m):
    name, data = m.source, m.data
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        model = d / "m.sst"
        model.write_bytes(data)
        out = d / "out" / "net.v"
        try:
            modelfile.load(model)
        except ModelFormatError:
            rc, _, err = run_cli(["compile", str(model), "-o", str(out)])
            assert_clean_refusal(rc, err, "compile")
            assert not (d / "out").exists() or not any((d / "out").iterdir())
            return
        # a file the loader takes: the protocol model must agree with the golden model
        if "cnn" in name or "v2" in name:
            return                      # (the CNN's golden model is checked in check_valid)
        net = modelfile.load(model)
        lo, hi = net.input_range
        x = np.random.default_rng(1).integers(lo, hi, (2, net.layers[0].in_features),
                                              endpoint=True)
        np.save(d / "x.npy", x)
        rc, stdout, err = run_cli(["infer", "--port", "model", "--model", str(model),
                                   "--verify", "--json", str(d / "x.npy")])
        assert rc == 0, err
        rows = [json.loads(line) for line in stdout.splitlines()]
        assert [r["logits"] for r in rows] == net.forward(x)[0].tolist()


@pytest.mark.parametrize("name", ["digits", "small_v1", "cnn"])
def test_cli_infer_on_refused_file(name, tmp_path):
    """One refused file per source through `infer --port model`: exit 2, one line."""
    items = members(SOURCES[name])
    head = header_of(items)
    head["layers"][0]["shift"] = 99
    model = tmp_path / "m.sst"
    model.write_bytes(rezip(with_header(items, json.dumps(head).encode())))
    x = tmp_path / "x.npy"
    np.save(x, np.zeros(784 if name == "cnn" else 64, np.int64))
    rc, _, err = run_cli(["infer", "--port", "model", "--model", str(model), str(x)])
    assert_clean_refusal(rc, err, "infer")
    assert "shift" in err
