"""ONNX import: graphs built here with onnx.helper, checked against onnx's reference
evaluator, and real exports (skl2onnx at test time, torch.onnx.export fixtures in
tests/fixtures/onnx/) scored against onnxruntime."""

import json
import re
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from sst_hw import cli
from sst_hw.format import modelfile
from sst_hw.format.codebook import Codebook
from sst_hw.train.onnx_import import (
    SUPPORTED_OPS,
    FloatMLP,
    InputMap,
    OnnxImportError,
    accuracy_warnings,
    default_calibration_dataset,
    fit_batchnorm,
    from_model,
    import_and_export,
    load_onnx,
    to_mlp)
from sst_hw.train.datasets import load_digits
from sst_hw.train.mlp import Schedule, sst_weights

from support.onnx_graphs import GraphBuilder, rng_for

#: The graph builders' random source, reseeded for every test from the test's own
#: name (:func:`support.onnx_graphs.rng_for`).
RNG = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _rng_per_test(request):
    global RNG
    RNG = rng_for(request)


# -- graph builders ---------------------------------------------------------------------------


class G(GraphBuilder):
    """A graph over 64 features by default."""

    def __init__(self, shape=("N", 64)):
        super().__init__(shape)


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


def test_cli_import_sends_conv_graphs_to_the_cnn_importer(tmp_path, capsys):
    # A graph with a Conv takes the CNN path (tests/test_cnn_import.py), whose checks
    # then refuse this one: it ends in a flatten, not in a dense layer of logits.
    g = G(("N", 1, 8, 8))
    h = g.node("Conv", ["x", g.const(RNG.normal(size=(4, 1, 3, 3)))], name="conv1")
    onnx.save(g.model(g.node("Flatten", [h])), tmp_path / "c.onnx")
    rc = cli.main(["import", str(tmp_path / "c.onnx"), "-o", str(tmp_path / "x.sst")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "must end with a dense layer" in err and "Traceback" not in err
    assert not (tmp_path / "x.sst").exists()


# -- real exporters: skl2onnx, torch.onnx.export ----------------------------------------------
#
# Each fixture is scored three ways: by onnxruntime here (independently of the importer),
# and by `sst-hw import` as the ONNX graph (float) and as the integer model.

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "onnx"
TORCH_FIXTURES = {    # file -> the nodes torch 2.13's exporter wrote (make_torch_fixtures.py)
    "torch_mlp": ["Reshape", "Gemm", "Relu", "Gemm"],
    "torch_mlp_bn": ["Reshape", "Gemm", "Relu", "Gemm", "Softmax"],
    "torch_mlp_legacy": ["Constant", "Reshape", "Gemm", "BatchNormalization", "Relu", "Gemm",
                         "Softmax"],
}


def _ort_accuracy(path, digits) -> float:
    """Test accuracy of the ONNX file by onnxruntime, on raw / 255 inputs: the first output
    is a label (skl2onnx) or the scores (torch). A batch-1 model runs one image at a time."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    x = (digits.x_test / 255.0).astype(np.float32).reshape([len(digits.x_test)] + inp.shape[1:])
    if inp.shape[0] == 1:
        first = np.concatenate([sess.run(None, {inp.name: x[i:i + 1]})[0]
                                for i in range(len(x))])
    else:
        first = sess.run(None, {inp.name: x})[0]
    pred = first if first.ndim == 1 else np.argmax(first, axis=1)
    return float(np.mean(pred == digits.y_test))


def _cli_json(capsys, model, out, *args):
    """``sst-hw import ... --json``: (the report, stderr)."""
    rc = cli.main(["import", str(model), "-o", str(out), "--quiet", "--json", *args])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    return json.loads(cap.out), cap.err


def _assert_sensible(rep, ref, digits, *, integer_within):
    """The reported ONNX accuracy is onnxruntime's (to one test image: float32 against
    float64 sums may flip a near tie), the imported float network loses at most the last
    bias, and the integer model is within ``integer_within`` (fraction) of onnxruntime."""
    acc = rep["accuracy"]
    one = 1 / len(digits.y_test)
    assert ref > 0.9, ref
    assert abs(acc["onnx"] - ref) <= one + 1e-12, (acc["onnx"], ref)
    assert abs(acc["float"] - ref) <= 0.01, (acc["float"], ref)
    assert acc["integer"] >= ref - integer_within, (acc["integer"], ref)
    assert acc["agreement"] >= 0.97


@pytest.fixture(scope="module")
def sk_mlp(digits):
    """scikit-learn's MLPClassifier, 64-32-10, trained on the digits training split (raw /
    255) for a few seconds."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return MLPClassifier((32,), max_iter=300, random_state=0).fit(
            digits.x_train / 255.0, digits.y_train)


def _skl2onnx_file(clf, digits, path, zipmap: bool):
    """Exported with skl2onnx's to_onnx, default options or ``{'zipmap': False}``."""
    from skl2onnx import to_onnx

    m = to_onnx(clf, (digits.x_train[:1] / 255.0).astype(np.float32),
                options=None if zipmap else {"zipmap": False})
    onnx.save(m, path)
    return m


@pytest.mark.parametrize("zipmap", [True, False], ids=["default-options", "zipmap-False"])
def test_skl2onnx_mlp_classifier_imports(sk_mlp, digits, tmp_path, capsys, zipmap):
    path = tmp_path / "mlp.onnx"
    m = _skl2onnx_file(sk_mlp, digits, path, zipmap)
    ops = [n.op_type for n in m.graph.node]
    # The graph as skl2onnx writes it: two outputs, a label branch beside the scores.
    assert len(m.graph.output) == 2
    assert {"Cast", "MatMul", "Add", "Relu", "Softmax", "ArgMax", "ArrayFeatureExtractor",
            "Reshape"} <= set(ops)
    assert ("ZipMap" in ops) == zipmap and ("Identity" in ops) == (not zipmap)
    ref = _ort_accuracy(path, digits)
    rep, err = _cli_json(capsys, path, tmp_path / "m.sst", "--finetune", "digits")
    _assert_sensible(rep, ref, digits, integer_within=0.05)
    assert rep["sizes"] == [64, 32, 10]
    branch = next(n for n in rep["notes"] if n.startswith("label branch dropped"))
    assert "ArgMax" in branch and "ArrayFeatureExtractor" in branch
    labels = [o.name for o in m.graph.output if o.name != "probabilities"]
    assert all(repr(name) in branch for name in labels), branch
    assert ("ZipMap" in branch) == zipmap
    assert rep["test_split"].startswith("digits test split: 450 of 1797 images")
    net = modelfile.load(tmp_path / "m.sst")
    _, cls = net.forward(digits.x_test.astype(np.int64))
    assert np.mean(cls == digits.y_test) == rep["accuracy"]["integer"]


def test_skl2onnx_projection_alone_warns(sk_mlp, digits, tmp_path, capsys):
    """Without --finetune a small network loses tens of points to projection: the report
    and stderr say so, and name --finetune."""
    path = tmp_path / "mlp.onnx"
    _skl2onnx_file(sk_mlp, digits, path, zipmap=True)
    ref = _ort_accuracy(path, digits)
    rc = cli.main(["import", str(path), "-o", str(tmp_path / "m.sst"), "--quiet"])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    acc = modelfile.load(tmp_path / "m.sst").meta["test_accuracy"]
    assert abs(acc["onnx"] - ref) <= 1 / 450 + 1e-12
    assert acc["agreement"] >= 0.97              # the integer model is the projected one
    drop = 100 * (acc["onnx"] - acc["integer"])
    assert drop > 2
    warning = f"is {drop:.2f} points below the ONNX model's {100 * acc['onnx']:.2f} %"
    assert "sst-hw import: warning: " in cap.err and warning in cap.err
    assert re.search(r"^warning +the integer model's test accuracy .*--finetune DATASET",
                     cap.out, re.M), cap.out
    assert re.search(r"^note +label branch dropped \(ArgMax, ZipMap, ", cap.out, re.M)
    assert re.search(r"^test set +digits test split: 450 of 1797 images, 25 % of each class "
                     r"drawn with numpy.random.default_rng\(0\)", cap.out, re.M)


def test_accuracy_warnings_threshold():
    assert accuracy_warnings({"onnx": 0.9, "integer": 0.881}, False) == []
    (w,) = accuracy_warnings({"onnx": 0.9, "integer": 0.87}, False)
    assert "87.00 %" in w and "3.00 points below the ONNX model's 90.00 %" in w
    assert "--finetune" in w
    (w,) = accuracy_warnings({"onnx": 0.9, "integer": 0.8}, True)
    assert "fine-tune longer (--epochs)" in w


@pytest.mark.parametrize("name", sorted(TORCH_FIXTURES))
def test_torch_export_imports(digits, tmp_path, monkeypatch, capsys, name):
    """torch.onnx.export with a fixed batch-1 example: Reshape to [1, 64] (or [1, -1]); the
    default export keeps its weights in torch_mlp.onnx.data. Imported from another working
    directory."""
    path = FIXTURES / f"{name}.onnx"
    m = onnx.load(path)          # from its path: onnx finds the external data itself
    assert [n.op_type for n in m.graph.node] == TORCH_FIXTURES[name]
    dims = [d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 1, 8, 8]
    ref = _ort_accuracy(path, digits)
    monkeypatch.chdir(tmp_path)
    rep, err = _cli_json(capsys, path, "m.sst", "--finetune", "digits")
    _assert_sensible(rep, ref, digits, integer_within=0.05)
    assert rep["sizes"][0] == 64 and rep["sizes"][-1] == 10
    assert any(re.search(r"reshapes to \[1, (64|-1)\], a fixed batch of 1", n)
               for n in rep["notes"]), rep["notes"]
    assert (tmp_path / "m.sst").is_file()


def test_external_data_is_read_next_to_the_model(tmp_path, monkeypatch):
    assert (FIXTURES / "torch_mlp.onnx.data").is_file()
    models = tmp_path / "models"
    models.mkdir()
    for f in ("torch_mlp.onnx", "torch_mlp.onnx.data"):
        (models / f).write_bytes((FIXTURES / f).read_bytes())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    net = load_onnx("../models/torch_mlp.onnx")
    ref = onnx.load(str(models / "torch_mlp.onnx"))      # onnx's own loader, from its folder
    w = {t.name: numpy_helper.to_array(t) for t in ref.graph.initializer}
    np.testing.assert_array_equal(net.layers[0].weight, w["1.weight"].astype(np.float64))
    np.testing.assert_array_equal(net.layers[1].weight, w["3.weight"].astype(np.float64))
    # The data file missing: named, with where it was looked for.
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    (lonely / "torch_mlp.onnx").write_bytes((FIXTURES / "torch_mlp.onnx").read_bytes())
    with pytest.raises(OnnxImportError, match=r"external data file 'torch_mlp\.onnx\.data', "
                                              r"which is not in the model's folder .*does not "
                                              r"exist"):
        load_onnx(lonely / "torch_mlp.onnx")
    # An in-memory model whose external data was not loaded.
    bare = onnx.load(str(models / "torch_mlp.onnx"), load_external_data=False)
    with pytest.raises(OnnxImportError, match=r"external data file 'torch_mlp\.onnx\.data', "
                                              r"not loaded; import the file with load_onnx"):
        from_model(bare, "bare.onnx")


# -- graphs in the shapes real exporters write --------------------------------------------------


def _graph(nodes, inits, outputs, shape=("N", 64), ml=False):
    """A model from nodes and initializers (name -> array) with the given outputs (names;
    ``name:int64`` for an integer one)."""
    outs = [o.split(":") + ["float"] for o in outputs]
    types = {"float": TensorProto.FLOAT, "int64": TensorProto.INT64, "int32": TensorProto.INT32}
    g = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
        [helper.make_tensor_value_info(o[0], types[o[1]], ["N", "C"] if o[1] == "float"
                                       else ["N"]) for o in outs],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    ops = [helper.make_opsetid("", 17)] + ([helper.make_opsetid("ai.onnx.ml", 1)] if ml else [])
    return helper.make_model(g, opset_imports=ops)


def _mlp_nodes(x="x"):
    """Gemm -> Relu -> Gemm (logits 'z') and its initializers."""
    inits = {"w1": _w(16, 64), "b1": np.zeros(16, np.float32), "w2": _w(10, 16),
             "b2": np.zeros(10, np.float32)}
    nodes = [helper.make_node("Gemm", [x, "w1", "b1"], ["h"], name="fc1", transB=1),
             helper.make_node("Relu", ["h"], ["r"], name="relu"),
             helper.make_node("Gemm", ["r", "w2", "b2"], ["z"], name="fc2", transB=1)]
    return nodes, inits


def test_identity_and_cast_after_softmax():
    nodes, inits = _mlp_nodes()
    nodes += [helper.make_node("Softmax", ["z"], ["p"], name="sm", axis=1),
              helper.make_node("Identity", ["p"], ["q"], name="id"),
              helper.make_node("Cast", ["q"], ["y"], name="cast", to=TensorProto.FLOAT)]
    m = _graph(nodes, inits, ["y"])
    net = from_model(m, "m.onnx")
    x = RNG.uniform(0, 1, (5, 64)).astype(np.float32)
    np.testing.assert_allclose(net.forward(x), _reference(m, x), rtol=1e-5, atol=1e-6)
    assert net.output == "softmax" and net.notes == []


def test_label_branch_beside_the_scores():
    """The scores and a label (ArgMax -> Cast) as outputs, plus a hidden activation."""
    nodes, inits = _mlp_nodes()
    nodes += [helper.make_node("Softmax", ["z"], ["p"], name="sm"),
              helper.make_node("ArgMax", ["z"], ["am"], name="am", axis=1, keepdims=0),
              helper.make_node("Cast", ["am"], ["label"], name="to_int", to=TensorProto.INT32)]
    net = from_model(_graph(nodes, inits, ["label:int32", "p", "r"]), "m.onnx")
    assert net.sizes == [64, 16, 10] and net.output == "softmax"
    assert net.notes == [
        "label branch dropped (am (ArgMax), to_int (Cast); 'label'): the integer network "
        "returns the arg-max class index itself",
        "graph output 'r' ignored (a hidden activation or a constant, not the classifier's "
        "output)"]


def test_label_only_output_and_class_table():
    """Only a label output, through skl2onnx's ArrayFeatureExtractor over a class table
    that is not 0..9: imported, the mapping noted."""
    nodes, inits = _mlp_nodes()
    inits["classes"] = np.arange(10, 20, dtype=np.int64)
    nodes += [helper.make_node("ArgMax", ["z"], ["am"], name="am", axis=1),
              helper.make_node("ArrayFeatureExtractor", ["classes", "am"], ["lab"],
                               name="afe", domain="ai.onnx.ml")]
    net = from_model(_graph(nodes, inits, ["lab:int64"], ml=True), "m.onnx")
    assert net.sizes == [64, 16, 10] and net.output == "logits"
    assert any("classes[i] = [10, 11, 12" in n for n in net.notes), net.notes


def _label_of_hidden():
    nodes, inits = _mlp_nodes()
    nodes.append(helper.make_node("ArgMax", ["r"], ["am"], name="early_am", axis=1))
    return _graph(nodes, inits, ["z", "am:int64"])


def _unknown_label_op():
    nodes, inits = _mlp_nodes()
    inits["two"] = np.array(2, np.int64)
    nodes += [helper.make_node("ArgMax", ["z"], ["am"], name="am", axis=1),
              helper.make_node("Mul", ["am", "two"], ["y"], name="double")]
    return _graph(nodes, inits, ["y:int64"])


def _hidden_output_only():
    nodes, inits = _mlp_nodes()
    return _graph(nodes, inits, ["r"])


def _cast_to_int():
    nodes, inits = _mlp_nodes()
    nodes.append(helper.make_node("Cast", ["z"], ["y"], name="to_int", to=TensorProto.INT64))
    return _graph(nodes, inits, ["y:int64"])


def _softmax_then_gemm():
    nodes, inits = _mlp_nodes()
    inits["w3"] = _w(10, 10)
    nodes += [helper.make_node("Softmax", ["z"], ["p"], name="sm"),
              helper.make_node("MatMul", ["p", "w3"], ["y"], name="after")]
    return _graph(nodes, inits, ["y"])


def _reshape_batch2():
    nodes, inits = _mlp_nodes("flat")
    inits["shape"] = np.array([2, 64], np.int64)
    nodes.insert(0, helper.make_node("Reshape", ["x", "shape"], ["flat"], name="rs2"))
    return _graph(nodes, inits, ["z"], shape=(1, 1, 8, 8))


def _label_op_on_the_chain():
    nodes, inits = _mlp_nodes("flat")
    inits["idx"] = np.arange(64, dtype=np.int64)
    nodes.insert(0, helper.make_node("ArrayFeatureExtractor", ["x", "idx"], ["flat"],
                                     name="pick", domain="ai.onnx.ml"))
    return _graph(nodes, inits, ["z"], ml=True)


@pytest.mark.parametrize("build, message", [
    (_label_of_hidden, r"node 'early_am' \(ArgMax\) reads 'r', which is not the network's "
                       r"output"),
    (_unknown_label_op, r"unsupported ONNX operator 'Mul' \(node 'double'\) in the label "
                        r"branch after am \(ArgMax\); a label branch may hold ArgMax, ZipMap"),
    (_hidden_output_only, r"no graph output holds the classifier's logits, probabilities or "
                          r"labels \(outputs: 'r'"),
    (_cast_to_int, r"node 'to_int' \(Cast\): casts the activation to INT64; on the network's "
                   r"path only casts to a float type"),
    (_softmax_then_gemm, r"node 'after' \(MatMul\) follows 'sm' \(Softmax\), which must be the "
                         r"last node \(only Identity or Cast may follow it\)"),
    (_reshape_batch2, r"node 'rs2' \(Reshape\): Reshape to \[2, 64\]; only flattening .* for "
                      r"a batch-1 export, \[1, 64\]"),
    (_label_op_on_the_chain, r"unsupported ONNX operator 'ai.onnx.ml.ArrayFeatureExtractor' "
                             r"\(node 'pick'\)"),
])
def test_still_refused(build, message):
    with pytest.raises(OnnxImportError, match=message):
        from_model(build(), "m.onnx")


def test_batch1_reshape_and_folded_constants():
    """A batch-1 image input reshaped to [1, 64] by a Constant (value_ints), batch-norm
    parameters shared through Identity nodes of initializers (the TorchScript exporter's
    way with equal tensors): imported, and equal to onnx's reference evaluator."""
    g = 64
    inits = {"w1": _w(g, 64), "b1": RNG.normal(0, .1, g).astype(np.float32),
             "bn.weight": np.ones(g, np.float32), "bn.bias": np.zeros(g, np.float32),
             "w2": _w(10, g), "b2": np.zeros(10, np.float32)}
    nodes = [helper.make_node("Identity", ["bn.weight"], ["bn.running_var"], name="Identity_1"),
             helper.make_node("Identity", ["bn.bias"], ["bn.running_mean"], name="Identity_2"),
             helper.make_node("Constant", [], ["shape"], name="c", value_ints=[1, 64]),
             helper.make_node("Reshape", ["x", "shape"], ["flat"], name="view"),
             helper.make_node("Gemm", ["flat", "w1", "b1"], ["h"], name="fc1", transB=1),
             helper.make_node("BatchNormalization", ["h", "bn.weight", "bn.bias",
                                                     "bn.running_mean", "bn.running_var"],
                              ["hb"], name="bn"),
             helper.make_node("Relu", ["hb"], ["r"], name="relu"),
             helper.make_node("Gemm", ["r", "w2", "b2"], ["z"], name="fc2", transB=1)]
    m = _graph(nodes, inits, ["z"], shape=(1, 1, 8, 8))
    onnx.checker.check_model(m)
    net = from_model(m, "m.onnx")
    assert net.sizes == [64, 64, 10]
    x = RNG.uniform(0, 1, (1, 1, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(net.forward(x), _reference(m, x), rtol=1e-5, atol=1e-5)
    (note,) = net.notes
    assert note.startswith("node 'view' (Reshape) reshapes to [1, 64], a fixed batch of 1")


# -- the command: every cheap check before the long work ---------------------------------------


def _forbid_long_work(monkeypatch):
    """Fail the test if the command gets as far as loading or projecting anything."""
    def reached(*args, **kwargs):
        raise AssertionError("the command got past its argument checks")
    import sst_hw.train.onnx_import
    import sst_hw.train.datasets

    for mod, name in ((sst_hw.train.onnx_import, "import_and_export"), (sst_hw.train.onnx_import, "load_onnx"),
                      (sst_hw.train.datasets, "load_dataset")):
        monkeypatch.setattr(mod, name, reached)


def _one_error_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    assert err[0].startswith("sst-hw import: error: "), err
    return err[0]


@pytest.mark.parametrize("where", ["under-a-file", "proc", "no-permission"])
def test_cli_import_refuses_unwritable_output_first(tmp_path, monkeypatch, capsys, where):
    onnx.save(gemm_transb_bn_relu(), tmp_path / "m.onnx")
    if where == "under-a-file":
        (tmp_path / "plain").write_text("x")
        out, needle = tmp_path / "plain" / "sub" / "m.sst", "is not a folder"
    elif where == "proc":                        # read-only for root too
        out, needle = Path("/proc/sst-hw-import-test/m.sst"), "is not writable"
    else:
        # Permission bits do not stop root, so the folder's refusal is simulated where the
        # check meets it: creating the probe file.
        import tempfile

        def denied(*args, **kwargs):
            raise PermissionError(13, "Permission denied")
        monkeypatch.setattr(tempfile, "mkstemp", denied)
        out, needle = tmp_path / "locked" / "m.sst", "is not writable"
    _forbid_long_work(monkeypatch)
    rc = cli.main(["import", str(tmp_path / "m.onnx"), "-o", str(out), "--finetune", "digits"])
    assert rc == 2
    line = _one_error_line(capsys)
    assert needle in line and "-o" in line and str(out) in line, line
    assert not out.exists()


@pytest.mark.parametrize("args, message", [
    (["--calib", "digitz"], r"--calib 'digitz': not one of digits, fashion-mnist and no such "
                            r"folder"),
    (["--finetune", "{tmp}/no-such-folder"], r"--finetune '.*no-such-folder': not one of"),
    (["--finetune", "{tmp}/m.onnx"], r"--finetune '.*m\.onnx' is a file"),
    (["--finetune", "digits", "--batch-size", "0"], r"--batch-size must be a positive integer, "
                                                    r"not 0"),
    (["--batch-size", "0"], r"--epochs and --batch-size need --finetune"),
    (["--act-width", "1"], r"--act-width must be in 2..16, not 1"),
    (["--input-scale", "0"], r"input scale must be > 0, not 0"),
    (["--n", "1"], r"N"),
])
def test_cli_import_checks_arguments_first(tmp_path, monkeypatch, capsys, args, message):
    onnx.save(gemm_transb_bn_relu(), tmp_path / "m.onnx")
    _forbid_long_work(monkeypatch)
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    rc = cli.main(["import", str(tmp_path / "m.onnx"), "-o", str(tmp_path / "x.sst"), *args])
    assert rc == 2
    assert re.search(message, _one_error_line(capsys))
    assert not (tmp_path / "x.sst").exists()


@pytest.mark.parametrize("model, message", [
    ("absent.onnx", r"ONNX model '.*absent\.onnx' does not exist"),
    ("", r"ONNX model '.*' is a folder"),
])
def test_cli_import_checks_the_model_file_first(tmp_path, monkeypatch, capsys, model, message):
    _forbid_long_work(monkeypatch)
    rc = cli.main(["import", str(tmp_path / model), "-o", str(tmp_path / "x.sst")])
    assert rc == 2
    assert re.search(message, _one_error_line(capsys))


def test_cli_import_help_names_sst_files(capsys):
    with pytest.raises(SystemExit):
        cli.main(["import", "--help"])
    out = capsys.readouterr().out
    assert ".npz" not in out and ".sst" in out and "MODEL.onnx.data" in out
