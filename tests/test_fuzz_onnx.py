"""Fuzzing the ONNX importer (MLP and CNN paths) with Hypothesis.

The torch exports of tests/fixtures/onnx/ and two graphs built here are
mutated with the ``onnx`` package: a node's attributes changed, added or
dropped (``kernel_shape``, ``strides``, ``pads``, ``axis``, ``transB``,
``epsilon``, ...), an initializer reshaped, cast to another type, cut, or
given NaN, inf and huge values, a node's operator replaced, an input dropped
or renamed, a node dropped or moved, the graph input's shape or type and the
opset changed, external data pointed elsewhere. The file then goes where
``sst-hw import`` sends it (:func:`~sst_hw.train.onnx_cnn.is_convolutional`,
then :func:`~sst_hw.train.onnx_import.load_onnx` or
:func:`~sst_hw.train.onnx_cnn.load_onnx_cnn`). The property: a one-line
:class:`~sst_hw.train.onnx_import.OnnxImportError` naming the file, or an
imported float network that computes what onnxruntime computes from the same
file. ``sst-hw import`` on a refused file exits 2 with one line on stderr, no
traceback and no output file; on a few accepted ones it writes a model file
that loads.

``SST_HW_FUZZ_SCALE=20 HYPOTHESIS_PROFILE=explore`` runs many more, fresh,
examples.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import event as _event
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from sst_hw.format import modelfile
from sst_hw.train.onnx_cnn import FloatCNN, is_convolutional, load_onnx_cnn
from sst_hw.train.onnx_import import FloatMLP, OnnxImportError, load_onnx

from support.fuzz import FUZZ, SCALE, examples, flip_bytes, run_cli, truncate
from support.onnx_graphs import GraphBuilder


FIXTURES = Path(__file__).resolve().parent / "fixtures" / "onnx"


def _mlp_graph():
    """Gemm (transB, alpha, beta) -> BN -> Relu -> MatMul -> Add -> Softmax over 64
    features (Flatten of an 8x8 image)."""
    rng = np.random.default_rng(1)
    g = GraphBuilder(("N", 1, 8, 8))
    h = g.node("Flatten", ["x"], name="flat", axis=1)
    h = g.node("Gemm", [h, g.const(rng.normal(0, 0.12, (16, 64))),
                        g.const(rng.normal(0, 0.1, 16))], name="fc1", transB=1, alpha=0.7,
               beta=1.5)
    h = g.node("BatchNormalization",
               [h, g.const(rng.uniform(0.5, 2, 16)), g.const(rng.normal(0, 0.3, 16)),
                g.const(rng.normal(0, 0.5, 16)), g.const(rng.uniform(0.2, 3, 16))],
               name="bn", epsilon=1e-3)
    h = g.node("Relu", [h], name="relu")
    h = g.node("MatMul", [h, g.const(rng.normal(0, 0.25, (16, 10)))], name="fc2")
    h = g.node("Add", [h, g.const(rng.normal(0, 0.1, (1, 10)))], name="bias2")
    return g.model(g.node("Softmax", [h], name="prob", axis=1))


def _cnn_graph():
    """Conv k3 pad 1 -> BN -> Relu -> MaxPool 2 -> Conv k3 stride 2 -> Relu -> Flatten
    -> Gemm over an 8x8 gray image."""
    rng = np.random.default_rng(2)
    g = GraphBuilder(("N", 1, 8, 8))
    h = g.node("Conv", ["x", g.const(rng.normal(0, 0.3, (4, 1, 3, 3))),
                        g.const(rng.normal(0, 0.1, 4))], name="conv1", kernel_shape=[3, 3],
               pads=[1, 1, 1, 1], strides=[1, 1])
    h = g.node("BatchNormalization",
               [h, g.const(rng.uniform(0.5, 2, 4)), g.const(rng.normal(0, 0.3, 4)),
                g.const(rng.normal(0, 0.5, 4)), g.const(rng.uniform(0.2, 3, 4))],
               name="bn1", epsilon=1e-3)
    h = g.node("Relu", [h], name="relu1")
    h = g.node("MaxPool", [h], name="pool1", kernel_shape=[2, 2], strides=[2, 2])   # 4x4
    h = g.node("Conv", [h, g.const(rng.normal(0, 0.3, (6, 4, 3, 3)))], name="conv2",
               strides=[2, 2])                                                    # 1x1
    h = g.node("Relu", [h], name="relu2")
    h = g.node("Flatten", [h], name="flat", axis=1)
    return g.model(g.node("Gemm", [h, g.const(rng.normal(0, 0.4, (10, 6)))], name="fc",
                          transB=1))


def _fixture(name: str) -> onnx.ModelProto:
    m = onnx.load(str(FIXTURES / f"{name}.onnx"))          # external data loaded
    for t in m.graph.initializer:                            # kept inside the file
        if t.data_location == TensorProto.EXTERNAL:
            t.data_location = TensorProto.DEFAULT
            del t.external_data[:]
    return m


SOURCES = {name: _fixture(name).SerializeToString()
           for name in ("torch_mlp", "torch_mlp_bn", "torch_mlp_legacy", "torch_cnn",
                        "torch_cnn_legacy")}
SOURCES["mlp_graph"] = _mlp_graph().SerializeToString()
SOURCES["cnn_graph"] = _cnn_graph().SerializeToString()


class Mutated:
    """A mutated ONNX model and how it was made (a short repr for Hypothesis)."""

    def __init__(self, source: str, how: list, model: onnx.ModelProto):
        self.source, self.how, self.model = source, how, model

    def __repr__(self):
        return f"Mutated({self.source!r}, {self.how!r})"


# -- mutations -------------------------------------------------------------------------------

ATTR_NAMES = ["kernel_shape", "strides", "pads", "dilations", "group", "auto_pad", "axis",
              "transA", "transB", "alpha", "beta", "epsilon", "training_mode", "ceil_mode",
              "storage_order", "allowzero", "to", "momentum"]

attr_values = st.one_of(
    st.integers(-3, 9), st.sampled_from([0, 1, 2, 2 ** 31, -(2 ** 40)]),
    st.lists(st.integers(-2, 9), max_size=5),
    st.lists(st.sampled_from([0, 1, 2, 3, 7, 8]), min_size=2, max_size=4),
    st.sampled_from([float("nan"), float("inf"), -1.0, 0.0, 1e30, 0.5, 1e-12]),
    st.sampled_from([b"SAME_UPPER", b"SAME_LOWER", b"VALID", b"NOTSET", b"XYZ", b""]),
    st.sampled_from([[1.5, 2.5], ["a", "b"]]))

OPS = ["Gemm", "MatMul", "Add", "Relu", "BatchNormalization", "Flatten", "Reshape", "Identity",
       "Cast", "Softmax", "LogSoftmax", "Conv", "MaxPool", "Dropout", "Sigmoid", "Mul",
       "AveragePool", "ArgMax", "Transpose", "Constant"]

FLOAT_TYPES = [np.float32, np.float64, np.float16]
OTHER_TYPES = [np.int64, np.int32, np.int8, np.uint8, np.bool_]


def _mutate_attribute(draw, m, how):
    nodes = [n for n in m.graph.node if n.op_type != "Constant"]
    node = draw(st.sampled_from(nodes))
    names = [a.name for a in node.attribute]
    name = draw(st.sampled_from(names + ATTR_NAMES) if names else st.sampled_from(ATTR_NAMES))
    how += [node.name or node.op_type, name]
    keep = [a for a in node.attribute if a.name != name]
    del node.attribute[:]
    node.attribute.extend(keep)
    if draw(st.integers(0, 5)) == 0:
        how.append("dropped")
        return
    value = draw(attr_values)
    how.append(value)
    try:
        node.attribute.append(helper.make_attribute(name, value))
    except (TypeError, ValueError):
        how.append("(not an attribute value)")


def _mutate_initializer(draw, m, how):
    inits = [t for t in m.graph.initializer if t.data_location != TensorProto.EXTERNAL]
    if not inits:
        how.append("(none inside the file)")
        return
    t = draw(st.sampled_from(inits))
    a = numpy_helper.to_array(t).copy()
    kind = draw(st.sampled_from(["reshape", "dtype", "values", "values", "scale", "cut",
                                 "empty", "scalar"]))
    how += [t.name, kind]
    with np.errstate(all="ignore"):
        if kind == "reshape":
            shapes = [a.shape[::-1], (a.size,), a.shape + (1,), (1,) + a.shape,
                      (a.size, 1)]
            a = a.reshape(draw(st.sampled_from(shapes)))
        elif kind == "dtype":
            dt = draw(st.sampled_from(FLOAT_TYPES + OTHER_TYPES))
            a = a.astype(dt)
        elif kind == "values" and a.size:
            for _ in range(draw(st.integers(1, 3))):
                i = draw(st.integers(0, a.size - 1))
                v = draw(st.sampled_from([np.nan, np.inf, -np.inf, 3e38, -3e38, 0.0, -1.0,
                                          1e-40, 7, -5]))
                try:
                    a.reshape(-1)[i] = v
                except (ValueError, OverflowError):
                    pass
                how.append(v)
        elif kind == "scale":
            f = draw(st.sampled_from([0.0, 1e30, -1.0, 1e-30, 1e300]))
            a = (a * f).astype(a.dtype) if np.issubdtype(a.dtype, np.floating) else a * 0
            how.append(f)
        elif kind == "cut" and a.ndim and a.shape[0] > 1:
            a = a[:draw(st.integers(0, a.shape[0] - 1))]
        elif kind == "empty":
            a = a.reshape(-1)[:0]
        elif kind == "scalar":
            a = np.asarray(a.reshape(-1)[0] if a.size else 0, a.dtype)
    new = numpy_helper.from_array(np.ascontiguousarray(a), t.name)
    t.CopyFrom(new)


def _mutate_graph(draw, m, how):
    g = m.graph
    kind = draw(st.sampled_from(["op", "op", "drop_input", "rename_input", "drop_node",
                                 "swap", "dup_node", "input_shape", "input_type",
                                 "opset", "output", "extra_input", "external"]))
    how.append(kind)
    nodes = g.node
    i = draw(st.integers(0, len(nodes) - 1))
    node = nodes[i]
    if kind == "op":
        node.op_type = draw(st.sampled_from(OPS))
        how += [node.name, node.op_type]
    elif kind == "drop_input" and node.input:
        j = draw(st.integers(0, len(node.input) - 1))
        how += [node.name, node.input[j]]
        if draw(st.booleans()):
            node.input[j] = ""                              # an omitted optional input
        else:
            del node.input[j]
    elif kind == "rename_input" and node.input:
        j = draw(st.integers(0, len(node.input) - 1))
        names = ([t.name for t in g.initializer] + [o for n in nodes for o in n.output]
                 + [g.input[0].name, "nowhere"])
        node.input[j] = draw(st.sampled_from(names))
        how += [node.name, j, node.input[j]]
    elif kind == "drop_node":
        how.append(node.name or node.op_type)
        del nodes[i]
    elif kind == "swap" and len(nodes) > 1:
        j = min(i + 1, len(nodes) - 1) if i + 1 < len(nodes) else i - 1
        a, b = onnx.NodeProto(), onnx.NodeProto()
        a.CopyFrom(nodes[i])
        b.CopyFrom(nodes[j])
        nodes[i].CopyFrom(b)
        nodes[j].CopyFrom(a)
        how += [i, j]
    elif kind == "dup_node":
        copy = onnx.NodeProto()
        copy.CopyFrom(node)
        copy.output[0] = copy.output[0] + "_dup"
        nodes.insert(i + 1, copy)
        how.append(node.name)
    elif kind == "input_shape":
        dims = g.input[0].type.tensor_type.shape.dim
        new = draw(st.lists(st.one_of(st.integers(0, 70), st.sampled_from(["N", "H"])),
                            max_size=5))
        del dims[:]
        for v in new:
            d = dims.add()
            if isinstance(v, int):
                d.dim_value = v
            else:
                d.dim_param = v
        how.append(new)
    elif kind == "input_type":
        t = draw(st.sampled_from([TensorProto.INT64, TensorProto.DOUBLE, TensorProto.FLOAT16,
                                  TensorProto.BOOL, TensorProto.STRING]))
        g.input[0].type.tensor_type.elem_type = t
        how.append(t)
    elif kind == "opset":
        v = draw(st.sampled_from([1, 6, 7, 9, 11, 13, 15, 18, 21, 22, 99]))
        for o in m.opset_import:
            if o.domain in ("", "ai.onnx"):
                o.version = v
        how.append(v)
    elif kind == "output":
        names = [o for n in nodes for o in n.output] + [t.name for t in g.initializer]
        g.output[0].name = draw(st.sampled_from(names + ["nowhere"]))
        how.append(g.output[0].name)
    elif kind == "extra_input":
        g.input.append(helper.make_tensor_value_info("extra", TensorProto.FLOAT, [1, 64]))
    elif kind == "external":
        t = draw(st.sampled_from(list(g.initializer)))
        t.data_location = TensorProto.EXTERNAL
        del t.external_data[:]
        loc = draw(st.sampled_from(["torch_mlp.onnx.data", "missing.data", "../x.data",
                                    "/etc/hostname", "", "sub/dir.data"]))
        for k, v in (("location", loc), ("offset", str(draw(st.sampled_from(
                [0, 3, 10 ** 9, -1])))), ("length", str(draw(st.sampled_from([4, 0, 10 ** 9]))))):
            e = t.external_data.add()
            e.key, e.value = k, v
        t.ClearField("raw_data")
        how += [t.name, loc]


@st.composite
def mutated_models(draw):
    name = draw(st.sampled_from(sorted(SOURCES)))
    m = onnx.ModelProto()
    m.ParseFromString(SOURCES[name])
    how = []
    for _ in range(draw(st.integers(1, 2))):
        kind = draw(st.sampled_from(["attribute", "initializer", "graph"]))
        step = [kind]
        {"attribute": _mutate_attribute, "initializer": _mutate_initializer,
         "graph": _mutate_graph}[kind](draw, m, step)
        how.append(step)
    return Mutated(name, how, m)


# -- the property --------------------------------------------------------------------------


def _ort(path: Path, x: np.ndarray):
    """onnxruntime's outputs for ``x``, or None when it does not run the model."""
    import onnxruntime as ort
    ort.set_default_logger_severity(4)            # the refusals are expected: no log lines
    try:
        opts = ort.SessionOptions()
        opts.log_severity_level = 4
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        inp = sess.get_inputs()[0]
        return sess.run(None, {inp.name: x.astype(np.float32)}), sess
    except Exception:  # noqa: BLE001 - a model onnxruntime refuses
        return None, None


def _scores(net, x_nchw):
    """What the imported float network says the ONNX graph returns."""
    if isinstance(net, FloatCNN):
        y = net.forward(x_nchw.transpose(0, 2, 3, 1)).astype(np.float64)
    else:
        return net.forward(x_nchw.reshape(len(x_nchw), -1))
    if net.output == "logits":
        return y
    z = y - y.max(1, keepdims=True)
    lse = np.log(np.exp(z).sum(1, keepdims=True))
    return z - lse if net.output == "log_softmax" else np.exp(z - lse)


def import_file(path: Path):
    """What ``sst-hw import`` reads from ``path``: a FloatMLP or FloatCNN, or None
    after a clean OnnxImportError."""
    try:
        return load_onnx_cnn(path) if is_convolutional(path) else load_onnx(path)
    except OnnxImportError as e:
        msg = str(e)
        assert msg.startswith(f"{str(path)}: ") or msg.startswith(f"{str(path)!r}"), msg
        assert "\n" not in msg, msg
        event("refused: " + " ".join(msg.split(": ", 1)[-1].split()[:3]))
        return None


def check_accepted(net, path: Path):
    """An imported network must compute what onnxruntime computes from the file."""
    assert isinstance(net, (FloatMLP, FloatCNN))
    if isinstance(net, FloatCNN):
        h, w, c = net.input_shape
        shape = (c, h, w)
    else:
        dims = net.input_shape[1:] if len(net.input_shape) > 1 else ()
        if not dims or None in dims:
            dims = (net.sizes[0],)
        shape = tuple(dims)
    x = np.random.default_rng(0).uniform(0, 1, (1,) + shape)
    outs, _ = _ort(path, x)
    if outs is None:
        event("accepted; onnxruntime refuses the model")
        return
    want = [o for o in outs if isinstance(o, np.ndarray) and o.dtype.kind == "f"
            and o.ndim == 2]
    got = _scores(net, x)
    if not want:
        event("accepted; no score output to compare")
        return
    big = [np.abs(v[np.isfinite(v)]).max(initial=0) for v in want + [got]]
    if max(big) > 1e30 or not all(np.isfinite(v).all() for v in want + [got]):
        event("accepted; values overflow, not compared")    # float32 rounding decides
        return
    event("accepted; compared with onnxruntime")
    scale = max(1.0, float(np.abs(got).max(initial=0)))
    # The graph may return the logits before a final softmax the import records
    # (net.output): then the import's scores are their softmax.
    candidates = [c for o in want for c in (o, _softmax(o), _softmax(o, log=True))]
    assert any(c.shape == got.shape and np.allclose(c, got, rtol=1e-3, atol=1e-4 * scale)
               for c in candidates), (got, want)


def _softmax(o, log=False):
    if not o.size:
        return o
    z = o.astype(np.float64) - o.max(1, keepdims=True)
    lse = np.log(np.exp(z).sum(1, keepdims=True))
    return z - lse if log else np.exp(z - lse)


def event(what: str):
    """Hypothesis's ``event``, outside a Hypothesis test a no-op."""
    try:
        _event(what)
    except Exception:  # noqa: BLE001 - InvalidArgument outside @given
        pass


def _write(model: onnx.ModelProto, folder: Path) -> Path:
    path = folder / "m.onnx"
    path.write_bytes(model.SerializeToString())
    if any(t.data_location == TensorProto.EXTERNAL for t in model.graph.initializer):
        (folder / "torch_mlp.onnx.data").write_bytes(
            (FIXTURES / "torch_mlp.onnx.data").read_bytes())
    return path


@settings(max_examples=examples(200), **FUZZ)
@given(m=mutated_models())
def test_mutated_graph_is_refused_or_imported_exactly(m):
    with tempfile.TemporaryDirectory() as d:
        path = _write(m.model, Path(d))
        net = import_file(path)
        if net is not None:
            check_accepted(net, path)


def test_the_sources_import_exactly(tmp_path):
    for name, raw in SOURCES.items():
        m = onnx.ModelProto()
        m.ParseFromString(raw)
        path = _write(m, tmp_path)
        net = import_file(path)
        assert net is not None, name
        check_accepted(net, path)


@st.composite
def damaged_files(draw):
    """The serialized model itself damaged: bytes flipped, cut or inserted."""
    name = draw(st.sampled_from(sorted(SOURCES)))
    raw = bytearray(SOURCES[name])
    kind = draw(st.sampled_from(["flip", "truncate", "insert"]))
    how = [kind]
    if kind == "flip":
        flip_bytes(draw, raw, how, 6)
    elif kind == "truncate":
        raw = truncate(draw, raw, how)
    else:
        i = draw(st.integers(0, len(raw)))
        chunk = draw(st.binary(min_size=1, max_size=12))
        raw[i:i] = chunk
        how.append((i, chunk))
    return Damaged(name, how, bytes(raw))


class Damaged:
    """A damaged serialized model and how it was made (a short repr)."""

    def __init__(self, source, how, data):
        self.source, self.how, self.data = source, how, data

    def __repr__(self):
        return f"Damaged({self.source!r}, {self.how!r})"


@settings(max_examples=examples(80), **FUZZ)
@given(f=damaged_files())
def test_damaged_file_is_refused_or_imported_exactly(f):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "m.onnx"
        path.write_bytes(f.data)
        net = import_file(path)
        if net is not None:
            check_accepted(net, path)


# -- sst-hw import -------------------------------------------------------------------------


@settings(max_examples=examples(25), **FUZZ)
@given(m=mutated_models())
def test_cli_import_on_mutated_graph(m):
    """Refused: exit 2, one line, nothing written. Accepted (a few examples pay for a
    projection): exit 0 and a model file that loads."""
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        path = _write(m.model, d)
        out = d / "out" / "m.sst"
        accepted = import_file(path) is not None
        if accepted and not _budget():
            return
        rc, _, err = run_cli(["import", str(path), "-o", str(out), "--quiet"])
        if not accepted:
            assert rc == 2, err
            assert "Traceback" not in err
            lines = err.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("sst-hw import: error: "), err
            assert not out.exists() and not (d / "out").exists()
            return
        assert "Traceback" not in err
        if rc == 0:
            modelfile.load(out)
        else:                    # a graph that imports but cannot be projected/exported
            assert rc == 2 and not out.exists()
            assert [ln for ln in err.splitlines() if "error" in ln][0].startswith(
                "sst-hw import: error: ")


_ACCEPTED_RUNS = [0]


def _budget(limit: int = 4) -> bool:
    """At most ``limit`` full imports per session (each projects and calibrates)."""
    _ACCEPTED_RUNS[0] += 1
    return _ACCEPTED_RUNS[0] <= limit * SCALE


@pytest.mark.parametrize("name", ["torch_mlp", "torch_cnn"])
def test_cli_import_refused_file_writes_nothing(name, tmp_path):
    m = _fixture(name)
    m.graph.node[-1].op_type = "Sigmoid"
    path = _write(m, tmp_path)
    out = tmp_path / "x.sst"
    rc, _, err = run_cli(["import", str(path), "-o", str(out)])
    assert rc == 2 and "Sigmoid" in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()
