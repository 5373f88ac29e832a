"""ONNX import: graphs built here with onnx.helper, checked against onnx's reference evaluator."""

import re

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from sst_hw import cli, modelfile
from sst_hw.codebook import Codebook
from sst_hw.onnx_import import (SUPPORTED_OPS, FloatMLP, InputMap, OnnxImportError,
                                default_calibration_dataset, fit_batchnorm, from_model,
                                import_and_export, load_onnx, to_mlp)
from sst_hw.train.datasets import load_digits
from sst_hw.train.mlp import Schedule, sst_weights

RNG = np.random.default_rng(0)


@pytest.fixture(scope="module")
def digits():
    return load_digits()


# -- graph builders ---------------------------------------------------------------------------


class G:
    """A tiny graph builder: constants become initializers, nodes are chained by hand."""

    def __init__(self, shape=("N", 64)):
        self.nodes, self.inits, self.shape = [], [], shape
        self.k = 0

    def const(self, value, dtype=np.float32):
        self.k += 1
        name = f"c{self.k}"
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    def node(self, op, inputs, name=None, **attrs):
        self.k += 1
        out = f"t{self.k}"
        self.nodes.append(helper.make_node(op, inputs, [out], name=name or f"n{self.k}",
                                           **attrs))
        return out

    def model(self, out, opset=17):
        self.nodes[-1].output[0] = "y"
        g = helper.make_graph(self.nodes, "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                             list(self.shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", "C"])],
                              self.inits)
        return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def _w(o, i, scale=None):
    return RNG.normal(0, scale or 1 / np.sqrt(i), (o, i)).astype(np.float32)


def _bn(g, x, f, name="bn", **attrs):
    return g.node("BatchNormalization",
                  [x, g.const(RNG.uniform(0.5, 2, f)), g.const(RNG.normal(0, 0.3, f)),
                   g.const(RNG.normal(0, 0.5, f)), g.const(RNG.uniform(0.2, 3, f))],
                  name=name, epsilon=1e-3, **attrs)


def gemm_transb_bn_relu():
    """Gemm (transB, alpha, beta) -> BN -> Relu -> Gemm -> Softmax."""
    g = G()
    h = g.node("Gemm", ["x", g.const(_w(32, 64)), g.const(RNG.normal(0, 0.1, 32))],
               name="fc1", transB=1, alpha=0.7, beta=1.5)
    h = g.node("Relu", [_bn(g, h, 32)], name="relu1")
    h = g.node("Gemm", [h, g.const(_w(10, 32).T), g.const(RNG.normal(0, 0.1, (1, 10)))],
               name="fc2")
    return g.model(g.node("Softmax", [h], name="prob", axis=1))


def matmul_add_two_hidden():
    """Flatten an image, MatMul+Add -> Relu -> BN (after the ReLU) -> MatMul+Add -> Relu
    -> MatMul."""
    g = G(("N", 1, 8, 8))
    h = g.node("Flatten", ["x"], name="flat")
    h = g.node("MatMul", [h, g.const(_w(24, 64).T)], name="mm1")
    h = g.node("Add", [g.const(RNG.normal(0, 0.1, 24)), h], name="add1")    # const first
    h = g.node("Relu", [h], name="r1")
    h = _bn(g, h, 24, name="bn_after_relu")
    h = g.node("MatMul", [h, g.const(_w(16, 24).T)], name="mm2")
    h = g.node("Add", [h, g.const(0.05)], name="add2")                       # scalar bias
    h = g.node("Identity", [g.node("Relu", [h], name="r2")], name="id")
    return g.model(g.node("MatMul", [h, g.const(_w(10, 16).T)], name="mm3"))


def reshape_bn_input_logsoftmax():
    """Reshape (0, -1) -> BN on the input -> Gemm -> Relu -> Gemm -> Gemm (folded) -> LogSoftmax."""
    g = G((None, 4, 16))
    h = g.node("Reshape", ["x", g.const([0, -1], np.int64)], name="reshape")
    h = _bn(g, h, 64, name="bn_in")
    h = g.node("Relu", [g.node("Gemm", [h, g.const(_w(20, 64)), g.const(RNG.normal(0, .1, 20))],
                               transB=1)])
    h = g.node("Gemm", [h, g.const(_w(12, 20)), g.const(RNG.normal(0, .1, 12))], transB=1)
    h = g.node("Gemm", [h, g.const(_w(10, 12).T)])          # two linear maps in a row: composed
    return g.model(g.node("LogSoftmax", [h], axis=-1))


GRAPHS = {"gemm_transb_bn_relu": (gemm_transb_bn_relu, [64, 32, 10]),
          "matmul_add_two_hidden": (matmul_add_two_hidden, [64, 24, 16, 10]),
          "reshape_bn_input_logsoftmax": (reshape_bn_input_logsoftmax, [64, 20, 10])}


def _reference(model, x):
    return ReferenceEvaluator(model).run(None, {"x": x.astype(np.float32)})[0]


# -- the float network --------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_import_matches_reference(tmp_path, name):
    build, sizes = GRAPHS[name]
    model = build()
    onnx.checker.check_model(model)
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, path)
    net = load_onnx(path)
    assert isinstance(net, FloatMLP) and net.sizes == sizes
    assert [layer.relu for layer in net.layers] == [True] * (len(sizes) - 2) + [False]
    dims = model.graph.input[0].type.tensor_type.shape.dim
    shape = [7] + [d.dim_value for d in dims[1:]]
    x = RNG.uniform(0, 1, shape).astype(np.float32)
    ref = _reference(model, x)
    got = net.forward(x)
    np.testing.assert_allclose(got, ref, rtol=2e-5, atol=2e-5)
    np.testing.assert_array_equal(net.predict(x), np.argmax(ref, 1))


def test_import_names_folded_nodes():
    net = from_model(gemm_transb_bn_relu())
    assert net.layers[0].nodes == ["fc1 (Gemm)", "bn (BatchNormalization)", "relu1 (Relu)"]
    assert net.output == "softmax"
    assert "32->10" in net.describe()


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_trainer_model_is_the_imported_network(digits, name):
    """In the trainer's MLP (float phase) every hidden layer is exactly W x + b of the
    imported network, with the input map folded in; the logits lose only the last bias
    and a positive factor (the temperature)."""
    net = from_model(GRAPHS[name][0]())
    imap = InputMap(1 / 255, 0.3, 0.4)
    model, folded = to_mlp(net, Codebook(8, 2), input_map=imap)
    fit_batchnorm(model, folded, digits.x_train[:500])
    x = digits.x_test[:50]
    ref = net.forward(imap(x))
    if net.output != "logits":       # back to logits, up to a per-sample constant
        ref = np.log(ref) if net.output == "softmax" else ref
    logits = model.predict_logits(x, "float").astype(np.float64) * np.exp(model.log_tau[0])
    expect = ref - net.layers[-1].bias
    d = logits - expect
    d -= d.mean(1, keepdims=True)
    assert np.abs(d).max() <= 2e-4 * np.abs(expect).max(), np.abs(d).max()
    if net.output == "logits":
        np.testing.assert_allclose(logits, expect, rtol=1e-4, atol=1e-4 * np.abs(expect).max())


# -- refusals ---------------------------------------------------------------------------------


def test_unsupported_operator_is_named(tmp_path):
    g = G(("N", 1, 8, 8))
    h = g.node("Conv", ["x", g.const(RNG.normal(size=(4, 1, 3, 3)))], name="conv1")
    h = g.node("Flatten", [h])
    m = g.model(g.node("Gemm", [h, g.const(_w(10, 144)), g.const(np.zeros(10))], transB=1))
    onnx.checker.check_model(m)
    onnx.save(m, tmp_path / "conv.onnx")
    with pytest.raises(OnnxImportError) as e:
        load_onnx(tmp_path / "conv.onnx")
    msg = str(e.value)
    assert "unsupported ONNX operator 'Conv' (node 'conv1'); supported: Gemm, MatMul, Add, " \
           "Relu, BatchNormalization, Flatten, Reshape, Identity" in msg
    assert str(tmp_path / "conv.onnx") in msg
    assert SUPPORTED_OPS[:5] == ("Gemm", "MatMul", "Add", "Relu", "BatchNormalization")


def _residual():
    g = G()
    h = g.node("Relu", [g.node("Gemm", ["x", g.const(_w(64, 64)), g.const(np.zeros(64))],
                               transB=1)], name="r")
    return g.model(g.node("Add", [h, "x"], name="skip"))


def _bn_training():
    g = G()
    h = g.node("Gemm", ["x", g.const(_w(8, 64)), g.const(np.zeros(8))], transB=1)
    return g.model(_bn(g, h, 8, name="bn_train", training_mode=1))


def _dynamic_weights():
    g = G()
    return g.model(g.node("MatMul", ["x", "x"], name="mm_self"))


def _bad_reshape():
    g = G()
    return g.model(g.node("Reshape", ["x", g.const([8, 8], np.int64)], name="rs"))


def _relu_first():
    g = G()
    h = g.node("Relu", ["x"], name="first")
    return g.model(g.node("Gemm", [h, g.const(_w(10, 64)), g.const(np.zeros(10))], transB=1))


def _shape_mismatch():
    g = G()
    h = g.node("Relu", [g.node("Gemm", ["x", g.const(_w(16, 64)), g.const(np.zeros(16))],
                               transB=1)])
    return g.model(g.node("Gemm", [h, g.const(_w(10, 20)), g.const(np.zeros(10))], name="fc2",
                          transB=1))


def _gemm_on_image():
    g = G(("N", 1, 8, 8))
    return g.model(g.node("Gemm", ["x", g.const(_w(10, 64)), g.const(np.zeros(10))],
                          name="fc", transB=1))


def _sigmoid():
    g = G()
    h = g.node("Sigmoid", [g.node("Gemm", ["x", g.const(_w(10, 64)), g.const(np.zeros(10))],
                                  transB=1)], name="act")
    return g.model(h)


@pytest.mark.parametrize("build, message", [
    (_residual, r"node 'skip' \(Add\) reads .*only a single chain of nodes"),
    (_bn_training, r"node 'bn_train' \(BatchNormalization\): training_mode=1 is not supported"),
    (_dynamic_weights, r"node 'mm_self' \(MatMul\) reads 'x', 'x'"),
    (_bad_reshape, r"node 'rs' \(Reshape\): Reshape to \[8, 8\]; only flattening"),
    (_relu_first, r"node 'first' \(Relu\): a Relu must follow a Gemm or MatMul"),
    (_shape_mismatch, r"node 'fc2' \(Gemm\): weights expect 20 inputs but the activation "
                      r"has 16 features"),
    (_gemm_on_image, r"node 'fc' \(Gemm\) needs a 2-D activation .* flatten the input"),
    (_sigmoid, r"unsupported ONNX operator 'Sigmoid' \(node 'act'\)"),
])
def test_unsupported_graphs(build, message):
    with pytest.raises(OnnxImportError, match=message):
        from_model(build(), "m.onnx")


def test_malformed_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_onnx(tmp_path / "absent.onnx")
    (tmp_path / "garbage.onnx").write_bytes(b"\xff\xfe this is not protobuf \x00\x01")
    with pytest.raises(OnnxImportError, match=r"garbage\.onnx' is not an ONNX model"):
        load_onnx(tmp_path / "garbage.onnx")
    (tmp_path / "empty.onnx").write_bytes(b"")
    with pytest.raises(OnnxImportError, match="no graph or no nodes"):
        load_onnx(tmp_path / "empty.onnx")
    good = gemm_transb_bn_relu().SerializeToString()
    (tmp_path / "cut.onnx").write_bytes(good[:len(good) // 2])
    with pytest.raises(OnnxImportError, match=r"cut\.onnx"):
        load_onnx(tmp_path / "cut.onnx")
    # Well-formed protobuf, invalid model: a node reading a tensor nobody produces.
    m = gemm_transb_bn_relu()
    m.graph.node[1].input[0] = "nowhere"
    with pytest.raises(OnnxImportError, match="invalid ONNX model"):
        from_model(m, "bad.onnx")


def test_input_map_and_calibration_choice():
    assert InputMap()(np.array([255])) == pytest.approx(1.0)
    assert InputMap(1 / 255, 0.5, 0.25)(np.array([0, 255])) == pytest.approx([-2.0, 2.0])
    with pytest.raises(ValueError, match="input std must be > 0, not 0"):
        InputMap(1 / 255, 0.0, 0.0)
    assert default_calibration_dataset(64) == "digits"
    assert default_calibration_dataset(784) == "fashion-mnist"
    with pytest.raises(ValueError, match="matches no built-in data set.*--calib"):
        default_calibration_dataset(100)


# -- projection, fine-tuning, export --------------------------------------------------------------


def _elm_digits(digits, hidden=96, seed=1, codebook=None):
    """A float 64-hidden-10 network trained in closed form (random ReLU features, ridge
    read-out) as an ONNX model with BN: quick, and a real classifier. With
    ``codebook``, both weight matrices are SST already (``alpha_r * t_r`` per hidden
    row, one ``alpha`` for the last layer; prototype read-out)."""
    rng = np.random.default_rng(seed)
    x = digits.x_train / 255.0
    w1 = rng.normal(0, 1 / 4, (hidden, 64))
    if codebook is not None:
        t, a = sst_weights(w1, codebook, True)
        w1 = t * a[:, None]
    b1 = rng.normal(0, 0.3, hidden)
    h = np.maximum(x @ w1.T + b1, 0)
    if codebook is None:
        y = np.eye(10)[digits.y_train]
        w2 = np.linalg.solve(h.T @ h + 1e-1 * np.eye(hidden), h.T @ y).T
    else:               # standardized class prototypes: a read-out that survives ternarization
        mu = np.stack([h[digits.y_train == c].mean(0) for c in range(10)]) - h.mean(0)
        t, a = sst_weights(mu / (h.std(0) + 1e-6), codebook, False)
        w2 = t * a[:, None]
    g = G()
    z = g.node("Gemm", ["x", g.const(w1), g.const(np.zeros(hidden))], name="fc1", transB=1)
    z = g.node("BatchNormalization", [z, g.const(np.ones(hidden)), g.const(b1),
                                      g.const(np.zeros(hidden)), g.const(np.ones(hidden))],
               name="bn1", epsilon=0.0)
    z = g.node("Relu", [z], name="relu1")
    return g.model(g.node("Gemm", [z, g.const(w2), g.const(np.full(10, 0.01))], name="fc2",
                          transB=1))


def test_import_sst_network_projects_to_itself(digits):
    """A network whose weights are SST members already: projection changes nothing, so the
    SST accuracy is the imported one and the exported codes are its own weights."""
    cb = Codebook(8, 2)
    m = _elm_digits(digits, hidden=256, codebook=cb)
    net = from_model(m, "sst.onnx")
    res = import_and_export(net, digits, cb)
    acc = res["accuracy"]
    assert acc["float"] > 0.6 and acc["sst"] == acc["float"]
    assert abs(acc["integer"] - acc["sst"]) <= 0.01 and acc["agreement"] >= 0.98
    w1 = net.layers[0].weight
    np.testing.assert_array_equal(res["network"].layers[0].ternary(), np.sign(w1))
    np.testing.assert_array_equal(res["network"].layers[1].ternary(),
                                  np.sign(net.layers[1].weight))


def test_import_project_and_finetune(digits, tmp_path):
    m = _elm_digits(digits)
    net = from_model(m, "elm.onnx")
    x = digits.x_test.astype(np.float32) / 255
    ref = _reference(m, x)
    assert np.mean(np.argmax(ref, 1) == digits.y_test) > 0.9
    cb = Codebook(8, 2)
    plain = import_and_export(net, digits, cb)
    acc = plain["accuracy"]
    assert acc["onnx"] == pytest.approx(np.mean(np.argmax(ref, 1) == digits.y_test))
    assert abs(acc["float"] - acc["onnx"]) <= 0.01          # only the tiny last bias dropped
    assert acc["agreement"] >= 0.97                         # projection alone: poor accuracy
    assert any("last-layer bias dropped" in n for n in plain["notes"])
    tuned = import_and_export(net, digits, cb, finetune=True,
                              schedule=Schedule(5, 3, 5, batch_size=64))
    acc2 = tuned["accuracy"]
    assert tuned["train"].schedule.epochs_float == 0
    assert [h["phase"] for h in tuned["train"].history][:1] == ["prune"]
    assert acc2["integer"] >= 0.85 and acc2["integer"] > acc["integer"]
    assert abs(acc2["integer"] - acc2["sst"]) <= 0.02 and acc2["agreement"] >= 0.97
    net_int = tuned["network"]
    for layer in net_int.layers:
        t = layer.ternary()
        pad = np.pad(t, ((0, 0), (0, -t.shape[1] % 8))).reshape(-1, 8)
        assert np.count_nonzero(pad, axis=1).max() <= 2
    _, cls = net_int.forward(digits.x_test.astype(np.int64))
    assert np.mean(cls == digits.y_test) == acc2["integer"]
    assert net_int.meta["source"]["onnx"] == "elm.onnx" and net_int.meta["finetune"]


def test_cli_import(tmp_path, capsys):
    m = _elm_digits(load_digits(), hidden=32)
    onnx.save(m, tmp_path / "m.onnx")
    out = tmp_path / "o" / "imported.sst"
    rc = cli.main(["import", str(tmp_path / "m.onnx"), "-o", str(out), "--n", "8", "--k", "2",
                   "--variant", "partitioned", "--assignment", "direct", "--quiet"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "accuracy     onnx" in text and "integer" in text and "calibrated on digits" in text
    net = modelfile.load(out)
    assert [layer.out_features for layer in net.layers] == [32, 10]
    assert net.layers[0].codebook == Codebook(8, 2, "partitioned", "direct")
    assert net.meta["test_accuracy"]["onnx"] > 0.8


@pytest.mark.parametrize("args, message", [
    (["--calib", "digits", "--epochs", "1,1"], "--epochs and --batch-size need --finetune"),
    (["--finetune", "digits", "--epochs", "1"], "--epochs takes two integers P,S"),
    (["--input-norm", "0.5"], "--input-norm must be 2 comma-separated numbers"),
    (["--k", "9"], r"K \(non-zeros per subvector\) must be in 1..8, not 9"),
])
def test_cli_import_errors(tmp_path, capsys, args, message):
    onnx.save(gemm_transb_bn_relu(), tmp_path / "m.onnx")
    rc = cli.main(["import", str(tmp_path / "m.onnx"), "-o", str(tmp_path / "x.sst"), "--quiet",
                   *args])
    assert rc == 2
    err = capsys.readouterr().err
    assert "sst-hw import: error:" in err
    assert re.search(message, err), err
    assert not (tmp_path / "x.sst").exists()


def test_cli_import_refuses_conv(tmp_path, capsys):
    g = G(("N", 1, 8, 8))
    h = g.node("Conv", ["x", g.const(RNG.normal(size=(4, 1, 3, 3)))], name="conv1")
    onnx.save(g.model(g.node("Flatten", [h])), tmp_path / "c.onnx")
    rc = cli.main(["import", str(tmp_path / "c.onnx"), "-o", str(tmp_path / "x.sst")])
    assert rc == 2
    assert "unsupported ONNX operator 'Conv' (node 'conv1')" in capsys.readouterr().err
