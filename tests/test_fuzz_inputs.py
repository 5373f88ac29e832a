"""Fuzzing the ``.npy`` inputs of ``sst-hw infer`` and ``sst-hw sim`` (and the
image files of ``infer``) with Hypothesis.

Arrays of every dtype (integers of each width and byte order, floats with and
without fractions, NaN and inf, booleans, complex, objects, strings, records,
dates and durations), of right and wrong ranks and shapes, with values in and
out of the model's input range, and ``.npy`` files with damaged bytes, go
through ``sst-hw infer --port model --model MODEL X.npy --verify --json``
for the bundled MLP (``models/digits.sst``) and CNN
(``models/fashion_up5k_cnn.sst``). An independent oracle says what the
command must do with what ``np.load(..., allow_pickle=False)`` reads: refuse
it (exit 2, one line on stderr, no traceback) or print, for every input, the
golden model's logits and class.

``sst-hw sim MODEL --input X.npy`` is slow once it simulates; it gets only
inputs that it must refuse, with the compiler and the simulator build
replaced by a failure, so that an input taken by mistake fails the test at
once rather than after a simulation, and the build folder must stay absent.

``SST_HW_FUZZ_SCALE=20 HYPOTHESIS_PROFILE=explore`` runs many more, fresh,
examples.
"""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from sst_hw.format import modelfile

from support.fuzz import FUZZ, assert_clean_refusal, examples, flip_bytes, run_cli, truncate


ROOT = Path(__file__).resolve().parent.parent
MODELS = {"digits": ROOT / "models" / "digits.sst",
          "cnn": ROOT / "models" / "fashion_up5k_cnn.sst"}
NETS = {k: modelfile.load(p) for k, p in MODELS.items()}
# -- the oracle ------------------------------------------------------------------------------


def valid_shapes(model: str) -> list:
    """The shapes of one input the command takes (B stands for any batch >= 1)."""
    if model == "digits":
        return [(64,), ("B", 64)]
    return [(784,), ("B", 784), (28, 28), (28, 28, 1), ("B", 28, 28), ("B", 28, 28, 1)]


def oracle(path: Path, model: str, integral_floats: bool):
    """The int64 batch (B, features) the command must run for the file ``path``, or
    None when it must refuse it: what ``np.load`` reads without pickles, integers
    (and, with ``integral_floats``, floats that are exactly integers up to 2**53),
    of a shape in :func:`valid_shapes`, every value in the model's input range."""
    try:
        a = np.load(path, allow_pickle=False)
    except Exception:  # noqa: BLE001 - anything np.load cannot read must be refused
        return None
    if not isinstance(a, np.ndarray):
        a.close()
        return None
    if a.dtype.kind in "iu":
        values = a
    elif a.dtype.kind == "f" and integral_floats:
        with np.errstate(all="ignore"):
            ok = np.isfinite(a) & (a == np.floor(a)) & (np.abs(a) <= 2.0 ** 53)
        if not ok.all():
            return None
        values = a
    else:
        return None
    lo, hi = NETS[model].input_range
    if values.size and (values.min() < lo or values.max() > hi):
        return None
    features = 64 if model == "digits" else 784
    for shape in valid_shapes(model):
        if len(shape) != a.ndim:
            continue
        if shape[0] == "B":
            if a.shape[1:] == shape[1:] and a.shape[0] >= 1:
                return np.asarray(values, np.int64).reshape(a.shape[0], features)
        elif a.shape == shape:
            return np.asarray(values, np.int64).reshape(1, features)
    return None


# -- inputs ------------------------------------------------------------------------------------

DTYPES = ["<i8", ">i8", "<i4", "<i2", "i1", "u1", "<u2", "<u4", "<u8", ">u8", "<f8", ">f4",
          "<f4", "<f2", "g", "?", "<c8", "<c16", "O", "<U4", "S3", "<m8[s]", "<M8[D]",
          [("a", "<i8")], [("a", "u1"), ("b", "u1")]]

SPECIAL = [-1, 0, 255, 256, -(2 ** 63), 2 ** 63 - 1, 2 ** 64 - 1, 0.5, 254.999, -0.0,
           float("nan"), float("inf"), float("-inf"), 2.0 ** 53 + 2, 1e300, 1j]


class Input:
    """An input file's bytes and how they were made (a short repr for Hypothesis)."""

    def __init__(self, how: str, data: bytes):
        self.how, self.data = how, data

    def __repr__(self):
        return f"Input({self.how})"


def npy_bytes(arr) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=True)
    return buf.getvalue()


@st.composite
def arrays(draw, model: str):
    """An array of a valid shape and values for ``model``, then perhaps another
    dtype, shape or a few other values."""
    shape = list(draw(st.sampled_from(valid_shapes(model))))
    if shape[0] == "B":
        shape[0] = draw(st.integers(1, 3))
    lo, hi = NETS[model].input_range
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    a = rng.integers(lo, hi, size=shape, endpoint=True)
    how = [tuple(shape)]
    dtype = draw(st.sampled_from(["<i8", "u1", "<f4", "<i2", "<f8"]))
    kind = draw(st.sampled_from(["valid", "valid", "dtype", "dtype", "shape", "shape",
                                 "values", "values"]))
    how.append(kind)
    if kind == "dtype":
        dtype = draw(st.sampled_from(DTYPES))
    with np.errstate(all="ignore"):
        try:
            a = a.astype(np.dtype(dtype))
        except (TypeError, ValueError):
            a = np.zeros(a.shape, np.dtype(dtype))
    how.append(str(a.dtype))
    if kind == "shape":
        op = draw(st.sampled_from(["transpose", "add_axis", "drop", "grow", "empty",
                                   "scalar", "flat2", "rank5"]))
        how.append(op)
        if op == "transpose":
            a = a.T
        elif op == "add_axis":
            a = a[None] if draw(st.booleans()) else a[..., None]
        elif op == "drop":
            a = a.reshape(-1)[:max(0, a.size - draw(st.integers(1, 70)))]
        elif op == "grow":
            a = np.concatenate([a.reshape(-1), a.reshape(-1)[:draw(st.integers(1, 8))]])
        elif op == "empty":
            a = a.reshape(-1)[:0].reshape(draw(st.sampled_from([(0,), (0, 64), (0, 784),
                                                                 (1, 0), (0, 28, 28)])))
        elif op == "scalar":
            a = a.reshape(-1)[0]
            a = np.asarray(a)
        elif op == "flat2":
            cols = draw(st.sampled_from([1, 2, 8, 32]))
            a = a.reshape(-1, cols if a.size % cols == 0 else 1)
        else:
            a = a.reshape((1,) * 4 + (-1,))
    elif kind == "values" and a.size:
        for _ in range(draw(st.integers(1, 3))):
            i = draw(st.integers(0, a.size - 1))
            v = draw(st.sampled_from(SPECIAL))
            with np.errstate(all="ignore"):
                try:
                    a.reshape(-1)[i] = v
                    how.append(v)
                except (TypeError, ValueError, OverflowError):
                    pass
    if draw(st.booleans()) and a.ndim >= 2:
        a = np.asfortranarray(a)
    return Input(repr(how), npy_bytes(a))


@st.composite
def damaged_npy(draw, model: str):
    """A valid input's ``.npy`` bytes flipped, cut, extended or given a rewritten
    header; or a file that is no ``.npy`` at all."""
    base = draw(arrays(model)).data
    raw = bytearray(base)
    kind = draw(st.sampled_from(["flip", "flip_header", "truncate", "extend", "header",
                                 "other"]))
    how = [kind]
    if kind in ("flip", "flip_header"):
        top = min(len(raw), 128) if kind == "flip_header" else len(raw)
        flip_bytes(draw, raw, how, 4, top=top)
    elif kind == "truncate":
        raw = truncate(draw, raw, how)
    elif kind == "extend":
        raw += draw(st.binary(min_size=1, max_size=64))
    elif kind == "header":
        hlen = int.from_bytes(raw[8:10], "little")
        text = draw(st.sampled_from([
            "{'descr': '<i8', 'fortran_order': False, 'shape': (%s), }",
            "{'descr': '<f8', 'fortran_order': True, 'shape': (%s), }",
            "{'descr': '|O', 'fortran_order': False, 'shape': (%s), }",
            "{'descr': '<i8', 'fortran_order': False, 'shape': (%s), 'extra': 1}",
            "{'descr': '<i8', 'fortran_order': False, 'shape': [%s], }",
            "{'descr': 'xyz', 'fortran_order': False, 'shape': (%s), }",
            "{'descr': '<i8', 'fortran_order': False, 'shape': (%s), \n",
        ]))
        dims = draw(st.lists(st.one_of(st.integers(-2, 800), st.just(2 ** 40)), max_size=4))
        body = (text % (", ".join(map(str, dims)) + ("," if len(dims) == 1 else ""))).encode()
        body = body.ljust(hlen - 1) + b"\n" if len(body) < hlen else body + b"\n"
        raw = raw[:8] + len(body).to_bytes(2, "little") + body + raw[10 + hlen:]
        how.append(body.strip())
    else:
        what = draw(st.sampled_from(["npz", "pickle", "empty", "text", "magic_only"]))
        how.append(what)
        if what == "npz":
            buf = io.BytesIO()
            np.savez(buf, x=np.zeros(64, np.int64))
            raw = buf.getvalue()
        elif what == "pickle":
            import pickle
            raw = pickle.dumps(np.zeros(64, np.int64))
        elif what == "empty":
            raw = b""
        elif what == "text":
            raw = b"1 2 3\n"
        else:
            raw = b"\x93NUMPY"
    return Input(repr(how), bytes(raw))


def inputs_for(model):
    return st.one_of(arrays(model), arrays(model), damaged_npy(model))


# -- sst-hw infer ------------------------------------------------------------------------------


def check_infer(model: str, inp: Input):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "x.npy"
        path.write_bytes(inp.data)
        want = oracle(path, model, integral_floats=True)
        rc, out, err = run_cli(["infer", "--port", "model", "--model", str(MODELS[model]),
                                "--verify", "--json", str(path)])
    if want is None:
        event("refused")
        assert_clean_refusal(rc, err, "infer")
        return
    event(f"ran {len(want)} inputs")
    assert rc == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    logits, classes = NETS[model].forward(want)
    assert [r["logits"] for r in rows] == logits.tolist()
    assert [r["class"] for r in rows] == classes.tolist()
    assert all(r["matches_golden"] for r in rows)


@settings(max_examples=examples(150), **FUZZ)
@given(inp=inputs_for("digits"))
def test_infer_digits(inp):
    check_infer("digits", inp)


@settings(max_examples=examples(60), **FUZZ)
@given(inp=inputs_for("cnn"))
def test_infer_cnn(inp):
    check_infer("cnn", inp)


# -- sst-hw sim: refused inputs only ----------------------------------------------------------


def _long_work(*args, **kwargs):
    raise AssertionError("sst-hw sim went on to compile or simulate a refused input")


@settings(max_examples=examples(12), **FUZZ)
@given(inp=inputs_for("digits"))
def test_sim_refuses_bad_input_before_any_work(inp):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "x.npy"
        path.write_bytes(inp.data)
        assume(oracle(path, "digits", integral_floats=False) is None)
        build = Path(d) / "build"
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr("sst_hw.emit.network.write_network", _long_work)
            mp.setattr("sst_hw.sim.session.build", _long_work)
            rc, _, err = run_cli(["sim", str(MODELS["digits"]), "--input", str(path),
                                  "--build-dir", str(build), "--quiet"])
        assert_clean_refusal(rc, err, "sim")
        assert not build.exists()


# -- image files for the CNN -------------------------------------------------------------------


def _image_bytes(fmt: str, size=(28, 28), mode="L") -> bytes:
    from PIL import Image
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (size[1], size[0]) + ((3,) if mode == "RGB" else ()),
                       dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr, mode).save(buf, format=fmt)
    return buf.getvalue()


IMAGES = {f"{fmt}-{mode}-{w}x{h}": _image_bytes(fmt, (w, h), mode)
          for fmt in ("PNG", "BMP", "PPM", "GIF", "TIFF")
          for mode in ("L", "RGB") for (w, h) in ((28, 28), (27, 28))}


@st.composite
def image_files(draw):
    name = draw(st.sampled_from(sorted(IMAGES)))
    raw = bytearray(IMAGES[name])
    kind = draw(st.sampled_from(["as_is", "flip", "truncate", "extend"]))
    how = [name, kind]
    if kind == "flip":
        for _ in range(draw(st.integers(1, 4))):
            i = draw(st.one_of(st.integers(0, min(len(raw), 64) - 1),
                               st.integers(0, len(raw) - 1)))
            x = draw(st.integers(1, 255))
            raw[i] ^= x
            how.append((i, x))
    elif kind == "truncate":
        raw = truncate(draw, raw, how)
    elif kind == "extend":
        raw += draw(st.binary(min_size=1, max_size=32))
    return Input(repr(how), bytes(raw)), name.split("-")[0].lower()


def image_oracle(path: Path):
    """The (1, 784) batch Pillow decodes from ``path`` as a 28x28 grayscale image, or
    None when it cannot (then the command must refuse the file)."""
    from PIL import Image
    try:
        with Image.open(path) as im:
            if im.size != (28, 28) or im.mode == "F" or im.mode.startswith("I"):
                return None
            return np.asarray(im.convert("L")).reshape(1, -1).astype(np.int64)
    except Exception:  # noqa: BLE001 - what Pillow cannot decode must be refused
        return None


@pytest.mark.filterwarnings("ignore::UserWarning")     # Pillow on a damaged TIFF tag
@settings(max_examples=examples(60), **FUZZ)
@given(f=image_files())
def test_infer_cnn_image_files(f):
    inp, suffix = f
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"x.{suffix}"
        path.write_bytes(inp.data)
        want = image_oracle(path)
        rc, out, err = run_cli(["infer", "--port", "model", "--model", str(MODELS["cnn"]),
                                "--verify", "--json", str(path)])
    if want is None:
        event("refused")
        assert_clean_refusal(rc, err, "infer")
        return
    event("ran")
    assert rc == 0, err
    (row,) = [json.loads(line) for line in out.splitlines()]
    assert row["logits"] == NETS["cnn"].forward(want)[0][0].tolist()
