"""ONNX CNN import (sst_hw.train.onnx_cnn): graphs built here with onnx.helper and
torch.onnx.export fixtures (tests/fixtures/onnx/torch_cnn*.onnx), the imported
channels-last FloatCNN checked against onnxruntime (and torch's recorded outputs)."""

import re
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from sst_hw.train import onnx_import
from sst_hw.train.onnx_cnn import (
    FloatCNN,
    FloatConv,
    FloatDense,
    FloatFlatten,
    FloatMaxPool,
    OnnxImportError,
    chw_to_hwc_columns,
    load_onnx_cnn,
)

from support.onnx_graphs import GraphBuilder, rng_for

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "onnx"

#: The graph builders' random source, reseeded for every test from the test's own
#: name (:func:`support.onnx_graphs.rng_for`).
RNG = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _rng_per_test(request):
    global RNG
    RNG = rng_for(request)


# -- graph builders ---------------------------------------------------------------------------


class G(GraphBuilder):
    """A graph over an NCHW input ``x``, with random conv, batch-norm and Gemm layers."""

    #: Every graph built here is valid ONNX (onnxruntime runs them).
    check = True

    def conv(self, x, cin, cout, k, name=None, bias=True, **attrs):
        kh, kw = (k, k) if isinstance(k, int) else k
        w = RNG.normal(0, 1 / np.sqrt(cin * kh * kw), (cout, cin, kh, kw))
        ins = [x, self.const(w)] + ([self.const(RNG.normal(0, 0.3, cout))] if bias else [])
        return self.node("Conv", ins, name=name, **attrs)

    def bn(self, x, c, name=None):
        return self.node("BatchNormalization",
                         [x, self.const(RNG.uniform(0.5, 2, c)), self.const(RNG.normal(0, 0.3, c)),
                          self.const(RNG.normal(0, 0.5, c)), self.const(RNG.uniform(0.2, 3, c))],
                         name=name, epsilon=1e-2)

    def gemm(self, x, i, o, name=None, **attrs):
        w = RNG.normal(0, 1 / np.sqrt(i), (o, i))
        return self.node("Gemm", [x, self.const(w if attrs.get("transB") else w.T),
                                  self.const(RNG.normal(0, 0.3, o))], name=name, **attrs)


def _ort(model, x):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: np.asarray(x, np.float32)})[0]


def _images(n, shape):
    """``n`` random NCHW images and the same as NHWC."""
    x = RNG.normal(0, 1, (n, *shape)).astype(np.float32)
    return x, x.transpose(0, 2, 3, 1)


def _scores(net, x_nhwc):
    """What the ONNX graph returns: the logits, or the dropped softmax applied to them."""
    y = net.forward(x_nhwc).astype(np.float64)
    if net.output == "logits":
        return y
    z = y - y.max(1, keepdims=True)
    lse = np.log(np.exp(z).sum(1, keepdims=True))
    return z - lse if net.output == "log_softmax" else np.exp(z - lse)


def gray_9x7():
    """Cin 1, odd 9x7: Conv k3 pad 1 (bias) -> BN -> Relu -> MaxPool 2 -> Conv k3 stride 2
    pad 0 (no bias) -> Relu -> Flatten -> Gemm transB=1 -> Relu -> Gemm (transB 0)."""
    g = G(("N", 1, 9, 7))
    h = g.conv("x", 1, 4, 3, name="conv1", pads=[1, 1, 1, 1])
    h = g.node("Relu", [g.bn(h, 4, name="bn1")], name="relu1")
    h = g.node("MaxPool", [h], name="pool1", kernel_shape=[2, 2], strides=[2, 2])   # 4x3
    h = g.conv(h, 4, 6, 3, name="conv2", bias=False, strides=[2, 2])                 # 1x1
    h = g.node("Flatten", [g.node("Relu", [h])], name="flat")
    h = g.node("Relu", [g.gemm(h, 6, 12, name="fc1", transB=1)])
    g.gemm(h, 12, 5, name="fc2")
    return g.model()


def rgb_11x9():
    """Cin 3, 11x9: Conv k5 pad 2 -> BN -> Relu -> MaxPool 3 -> Dropout -> Conv k1 (bias
    as a separate Add) -> Relu -> Reshape (0, -1) -> MatMul+Add -> Relu -> MatMul+Add ->
    Softmax."""
    g = G(("N", 3, 11, 9))
    h = g.conv("x", 3, 5, 5, name="conv5", pads=[2, 2, 2, 2])
    h = g.node("Relu", [g.bn(h, 5)])
    h = g.node("MaxPool", [h], name="pool3", kernel_shape=[3, 3], strides=[2, 2])    # 5x4
    h = g.node("Dropout", [h], name="drop")
    h = g.conv(h, 5, 7, 1, name="conv1x1", bias=False)
    h = g.node("Add", [h, g.const(RNG.normal(0, 0.3, (1, 7, 1, 1)))], name="bias1x1")
    h = g.node("Relu", [h])
    h = g.node("Reshape", [h, g.const([0, -1], np.int64)], name="reshape")          # 140
    h = g.node("MatMul", [h, g.const(RNG.normal(0, 1 / np.sqrt(140), (140, 16)))])
    h = g.node("Relu", [g.node("Add", [h, g.const(RNG.normal(0, 0.3, 16))])])
    h = g.node("MatMul", [h, g.const(RNG.normal(0, 0.25, (16, 10)))])
    h = g.node("Add", [g.const(RNG.normal(0, 0.3, (1, 10))), h])
    g.node("Softmax", [h], axis=1)
    return g.model()


def stride2_then_pool():
    """Conv k3 stride 2 pad 1 -> Relu -> Conv k(3, 5) pad (1, 2) via auto_pad SAME_UPPER ->
    BN -> MaxPool 2 -> Relu (after the pool) -> Identity -> Flatten -> Gemm -> BN (after
    the Gemm) -> Relu -> Gemm (alpha, beta) -> LogSoftmax."""
    g = G(("N", 2, 13, 10))
    h = g.conv("x", 2, 6, 3, name="s2", strides=[2, 2], pads=[1, 1, 1, 1])           # 7x5
    h = g.node("Relu", [h])
    h = g.conv(h, 6, 8, (3, 5), name="same", auto_pad="SAME_UPPER")                   # 7x5
    h = g.node("MaxPool", [g.bn(h, 8)], kernel_shape=[2, 2], strides=[2, 2])         # 3x2
    h = g.node("Identity", [g.node("Relu", [h], name="relu_after_pool")])
    h = g.node("Flatten", [h], axis=1)                                                # 48
    h = g.gemm(h, 48, 20, name="fc1", transB=1)
    h = g.node("Relu", [g.bn(h, 20, name="bn_fc1")])
    h = g.gemm(h, 20, 7, name="fc2", transB=1, alpha=0.8, beta=1.3)
    g.node("LogSoftmax", [h], axis=-1)
    return g.model()


def valid_pad_no_pool():
    """Kernel 7 (auto_pad VALID), kernel 5x3 with pads (2, 1), no pool, Reshape (-1, F),
    one dense layer."""
    g = G(("N", 3, 12, 10))
    h = g.node("Relu", [g.conv("x", 3, 4, 7, name="k7", auto_pad="VALID")])           # 6x4
    h = g.node("Relu", [g.conv(h, 4, 5, (5, 3), name="k53", pads=[2, 1, 2, 1])])      # 6x4
    h = g.node("Reshape", [h, g.const([-1, 120], np.int64)])
    g.gemm(h, 120, 6, transB=1)
    return g.model()


GRAPHS = {
    "gray_9x7": (gray_9x7, ["conv", "maxpool", "conv", "flatten", "dense", "dense"],
                 [(9, 7, 4), (4, 3, 4), (1, 1, 6), (6,), (12,), (5,)]),
    "rgb_11x9": (rgb_11x9, ["conv", "maxpool", "conv", "flatten", "dense", "dense"],
                 [(11, 9, 5), (5, 4, 5), (5, 4, 7), (140,), (16,), (10,)]),
    "stride2_then_pool": (stride2_then_pool, ["conv", "conv", "maxpool", "flatten", "dense",
                                              "dense"],
                          [(7, 5, 6), (7, 5, 8), (3, 2, 8), (48,), (20,), (7,)]),
    "valid_pad_no_pool": (valid_pad_no_pool, ["conv", "conv", "flatten", "dense"],
                          [(6, 4, 4), (6, 4, 5), (120,), (6,)]),
}
KIND = {FloatConv: "conv", FloatMaxPool: "maxpool", FloatFlatten: "flatten",
        FloatDense: "dense"}


# -- the float network against onnxruntime ------------------------------------------------------


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_forward_matches_onnxruntime(name):
    build, kinds, shapes = GRAPHS[name]
    m = build()
    net = load_onnx_cnn(m)
    assert [KIND[type(layer)] for layer in net.layers] == kinds
    assert net.shapes == shapes
    c, h, w = (d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim[1:])
    assert net.input_shape == (h, w, c) and net.classes == shapes[-1][0]
    for layer in net.layers:
        if isinstance(layer, (FloatConv, FloatDense)):
            assert layer.weight.dtype == np.float32 and layer.bias.dtype == np.float32
    x, x_hwc = _images(7, (c, h, w))
    ref = _ort(m, x)
    np.testing.assert_allclose(_scores(net, x_hwc), ref, rtol=1e-4, atol=1e-4)
    # Flattened (H, W, C) rows give the same; the arg-max is the ONNX model's.
    np.testing.assert_allclose(net.forward(x_hwc.reshape(7, -1)), net.forward(x_hwc),
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(net.predict(x_hwc), ref.argmax(1))


def test_layers_in_the_project_layout():
    """Conv weights (Cout, Cin, kh, kw) -> (Cout, kh, kw, Cin); BN folded with its epsilon;
    Relus attached to their conv; the node names kept."""
    m = gray_9x7()
    w = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in m.graph.initializer}
    conv_node, bn_node = m.graph.node[0], m.graph.node[1]
    net = load_onnx_cnn(m)
    conv1 = net.layers[0]
    assert (conv1.stride, conv1.pad, conv1.relu) == (1, (1, 1), True)
    assert conv1.nodes == ["conv1 (Conv)", "bn1 (BatchNormalization)", "relu1 (Relu)"]
    scale, beta, mean, var = (w[n] for n in bn_node.input[1:])
    g = scale / np.sqrt(var + 1e-2)
    wk, bk = w[conv_node.input[1]], w[conv_node.input[2]]
    np.testing.assert_allclose(conv1.weight, (wk * g[:, None, None, None]).transpose(0, 2, 3, 1),
                               rtol=1e-6)
    np.testing.assert_allclose(conv1.bias, g * (bk - mean) + beta, rtol=1e-6, atol=1e-7)
    conv2 = net.layers[2]
    assert (conv2.stride, conv2.pad, conv2.relu) == (2, (0, 0), True)
    np.testing.assert_array_equal(conv2.bias, np.zeros(6, np.float32))
    assert net.layers[1].kernel == 2 and net.layers[1].stride == 2
    assert "conv 3x3/1 pad 1,1 1->4 relu (9x7x1 -> 9x7x4)" in net.describe()
    assert net.output == "logits" and net.notes == []


# -- the flatten permutation -------------------------------------------------------------------


def test_chw_to_hwc_columns():
    idx = chw_to_hwc_columns(2, 3, 2)             # H=2, W=3, C=2
    # HWC position (y, x, c) -> CHW column c*H*W + y*W + x.
    expect = [c * 6 + y * 3 + x for y in range(2) for x in range(3) for c in range(2)]
    assert idx.tolist() == expect
    a = np.arange(12).reshape(2, 2, 3)             # a (C, H, W) tensor
    np.testing.assert_array_equal(a.reshape(-1)[idx], a.transpose(1, 2, 0).reshape(-1))


def test_flatten_permutation_matters():
    """H*W > 1 and C > 1 before the flatten: the first dense layer's columns must be
    permuted from ONNX's (C, H, W) order to (H, W, C), or the network computes something
    else."""
    g = G(("N", 2, 5, 4))
    h = g.node("Relu", [g.conv("x", 2, 3, 3, pads=[1, 1, 1, 1])])     # 5x4x3
    h = g.node("Flatten", [h])
    h = g.node("Relu", [g.gemm(h, 60, 8, name="fc1", transB=1)])
    g.gemm(h, 8, 4, transB=1)
    m = g.model()
    net = load_onnx_cnn(m)
    x, x_hwc = _images(16, (2, 5, 4))
    ref = _ort(m, x)
    np.testing.assert_allclose(net.forward(x_hwc), ref, rtol=1e-4, atol=1e-4)
    w_onnx = numpy_helper.to_array(next(t for t in m.graph.initializer
                                        if t.name == m.graph.node[3].input[1]))
    dense = net.layers[2]
    np.testing.assert_array_equal(dense.weight, w_onnx[:, chw_to_hwc_columns(5, 4, 3)])
    # The same network with the ONNX columns as they are: wrong.
    naive = FloatCNN([net.layers[0], net.layers[1],
                      FloatDense(w_onnx.copy(), dense.bias, dense.relu), net.layers[3]],
                     net.input_shape)
    bad = naive.forward(x_hwc)
    assert np.abs(bad - ref).max() > 100 * 1e-4 * max(1.0, np.abs(ref).max())
    assert not np.array_equal(naive.predict(x_hwc), ref.argmax(1))


# -- torch.onnx.export fixtures ------------------------------------------------------------------


TORCH = {"torch_cnn": ["Conv", "Relu", "MaxPool", "Conv", "Relu", "MaxPool", "Reshape", "Gemm",
                       "Relu", "Gemm"],
         "torch_cnn_legacy": ["Conv", "BatchNormalization", "Relu", "MaxPool", "Conv",
                              "BatchNormalization", "Relu", "MaxPool", "Flatten", "Gemm",
                              "Relu", "Gemm"]}


@pytest.mark.parametrize("name", sorted(TORCH))
def test_torch_fixture(name):
    """A torch CNN (Conv2d+BatchNorm2d+ReLU+MaxPool2d twice, Flatten, Linear, ReLU, Linear)
    exported in eval mode (make_torch_fixtures.py): the import reproduces torch's recorded
    logits and onnxruntime's."""
    path = FIXTURES / f"{name}.onnx"
    m = onnx.load(str(path))
    assert [n.op_type for n in m.graph.node] == TORCH[name]
    rec = np.load(FIXTURES / "torch_cnn.npz")
    x, logits = rec["x"], rec["logits"]
    assert x.shape == (16, 1, 8, 8) and logits.shape == (16, 10)
    net = load_onnx_cnn(path)
    assert net.source == str(path) and net.input_shape == (8, 8, 1)
    assert [KIND[type(layer)] for layer in net.layers] == [
        "conv", "maxpool", "conv", "maxpool", "flatten", "dense", "dense"]
    assert net.shapes[4] == (64,)
    y = net.forward(x.transpose(0, 2, 3, 1))
    np.testing.assert_allclose(y, logits, rtol=1e-4, atol=1e-4)
    ref = np.concatenate([_ort(m, x[i:i + 1]) for i in range(len(x))])     # batch-1 export
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4)
    if name == "torch_cnn":                       # Reshape to [1, 64]
        assert any("a fixed batch of 1" in n for n in net.notes), net.notes


def test_entry_points_and_the_mlp_path(tmp_path):
    """load_onnx_cnn reads a file (also reachable from onnx_import); the MLP importer
    refuses a conv graph and names the CNN import path."""
    m = gray_9x7()
    onnx.save(m, tmp_path / "cnn.onnx")
    assert onnx_import.load_onnx_cnn is load_onnx_cnn and onnx_import.FloatCNN is FloatCNN
    net = load_onnx_cnn(tmp_path / "cnn.onnx")
    x, x_hwc = _images(3, (1, 9, 7))
    np.testing.assert_allclose(net.forward(x_hwc), _ort(m, x), rtol=1e-4, atol=1e-4)
    with pytest.raises(OnnxImportError) as e:
        onnx_import.load_onnx(tmp_path / "cnn.onnx")
    msg = str(e.value)
    assert "unsupported ONNX operator 'Conv' (node 'conv1')" in msg
    assert "convolutional network" in msg and "load_onnx_cnn" in msg, msg
    with pytest.raises(FileNotFoundError):
        load_onnx_cnn(tmp_path / "absent.onnx")


def test_symbolic_input_needs_input_shape():
    g = G(("N", 1, "H", "W"))
    h = g.node("Flatten", [g.node("Relu", [g.conv("x", 1, 2, 3)])])
    g.gemm(h, 2 * 7 * 5, 3, transB=1)
    m = g.model()
    with pytest.raises(OnnxImportError, match=r"model: the input 'x' has symbolic dimensions: "
                                              r"\(N, C, H, W\) = \('N', 1, 'H', 'W'\); give "
                                              r"input_shape=\(H, W, C\)"):
        load_onnx_cnn(m)
    net = load_onnx_cnn(m, input_shape=(9, 7, 1))
    assert net.input_shape == (9, 7, 1) and net.onnx_input_shape == (None, 1, None, None)
    x, x_hwc = _images(4, (1, 9, 7))
    np.testing.assert_allclose(net.forward(x_hwc), _ort(m, x), rtol=1e-4, atol=1e-4)
    with pytest.raises(OnnxImportError, match=r"input_shape \(9, 7, 2\) \(H, W, C\) does not "
                                              r"match the input 'x'"):
        load_onnx_cnn(m, input_shape=(9, 7, 2))
    with pytest.raises(ValueError, match=r"input_shape must be \(H, W, C\)"):
        load_onnx_cnn(m, input_shape=(9, 7))


def test_label_branch_and_outputs():
    """An ArgMax label output next to the probabilities: dropped with a note."""
    g = G(("N", 1, 6, 6))
    h = g.node("Flatten", [g.node("Relu", [g.conv("x", 1, 2, 3)])])
    h = g.node("Softmax", [g.gemm(h, 32, 3, transB=1)], name="prob")
    g.nodes.append(helper.make_node("ArgMax", [h], ["label"], name="argmax", axis=1,
                                    keepdims=0))
    graph = helper.make_graph(
        g.nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 6, 6])],
        [helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]),
         helper.make_tensor_value_info(h, TensorProto.FLOAT, ["N", 3])], g.inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    net = load_onnx_cnn(m)
    assert net.output == "softmax"
    assert any("label branch dropped (argmax (ArgMax)" in n for n in net.notes), net.notes
    x, x_hwc = _images(5, (1, 6, 6))
    np.testing.assert_array_equal(net.predict(x_hwc), _ort(m, x))


# -- refusals -----------------------------------------------------------------------------------


def _one_conv(shape=("N", 3, 12, 12), k=3, **attrs):
    """Conv (node 'c1') with the given attributes -> Relu -> Flatten -> Gemm."""
    def build():
        g = G(shape)
        cin = shape[1]
        groups = attrs.get("group", 1)
        w = RNG.normal(0, 0.3, (4, cin // groups, k, k))
        h = g.node("Conv", ["x", g.const(w)], name="c1", **attrs)
        h = g.node("Flatten", [g.node("Relu", [h])])
        g.nodes.append(helper.make_node("Gemm", [h, g.const(RNG.normal(0, 0.1, (3, 16)))],
                                        ["y"], name="fc", transB=1))
        graph = helper.make_graph(
            g.nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])], g.inits)
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return build


def _pool(**attrs):
    def build():
        g = G(("N", 1, 8, 8))
        h = g.node("Relu", [g.conv("x", 1, 2, 3, name="c1", pads=[1, 1, 1, 1])])
        h = g.node("MaxPool", [h], name="p1", **attrs)
        h = g.node("Flatten", [h])
        g.nodes.append(helper.make_node("Gemm", [h, g.const(RNG.normal(0, 0.1, (3, 32)))],
                                        ["y"], name="fc", transB=1))
        graph = helper.make_graph(
            g.nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                         ["N", 1, 8, 8])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])], g.inits)
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return build


def _sigmoid_in_the_middle():
    g = G(("N", 1, 8, 8))
    h = g.node("Sigmoid", [g.conv("x", 1, 2, 3, name="c1")], name="squash")
    h = g.node("Flatten", [h])
    g.gemm(h, 72, 3, transB=1)
    return g.model()


def _bn_after_relu():
    g = G(("N", 1, 8, 8))
    h = g.node("Relu", [g.conv("x", 1, 2, 3, name="c1")])
    h = g.node("Flatten", [g.bn(h, 2, name="bn_late")])
    g.gemm(h, 72, 3, transB=1)
    return g.model()


def _conv_after_flatten():
    g = G(("N", 1, 8, 8))
    h = g.node("Flatten", [g.node("Relu", [g.conv("x", 1, 2, 3, name="c1")])])
    g.conv(h, 2, 2, 1, name="c2")
    return g.model()


def _gemm_on_image():
    g = G(("N", 1, 8, 8))
    g.gemm(g.node("Relu", [g.conv("x", 1, 2, 3, name="c1")]), 6, 3, name="fc", transB=1)
    return g.model()


def _ends_with_pool():
    g = G(("N", 1, 8, 8))
    g.node("MaxPool", [g.node("Relu", [g.conv("x", 1, 2, 3, name="c1")])],
           kernel_shape=[2, 2], strides=[2, 2])
    return g.model()


@pytest.mark.parametrize("build, message", [
    (_one_conv(group=3), r"node 'c1' \(Conv\): group 3 is not supported \(only group 1\)"),
    (_one_conv(dilations=[2, 2]), r"node 'c1' \(Conv\): dilation 2 is not supported"),
    (_one_conv(pads=[1, 1, 0, 0]), (r"node 'c1' \(Conv\): asymmetric pads \[1, 1, 0, 0\] "
                                   r"\(\[top, left, bottom, right\]\) are not supported")),
    (_one_conv(strides=[3, 3]), (r"node 'c1' \(Conv\): stride 3 is not supported \(only 1 or "
                                r"2")),
    (_one_conv(strides=[1, 2]), r"node 'c1' \(Conv\): stride \[1, 2\] is not supported"),
    (_one_conv(k=9), r"node 'c1' \(Conv\): kernel 9x9 is not supported \(kernels 1\.\.7"),
    (_one_conv(k=3, pads=[2, 2, 2, 2]), (r"node 'c1' \(Conv\): pads \(2, 2\) are not supported "
                                        r"for kernel 3x3")),
    (_one_conv(shape=("N", 3, 12, 12, 2)), r"input 'x' must be a batch of images"),
    (_pool(kernel_shape=[2, 2], strides=[2, 2], pads=[1, 1, 1, 1]),
     r"node 'p1' \(MaxPool\): padding \(pads \[1, 1, 1, 1\]\) is not supported"),
    (_pool(kernel_shape=[4, 4], strides=[2, 2]),
     r"node 'p1' \(MaxPool\): kernel 4x4 is not supported \(max-pool kernels 2x2 and 3x3\)"),
    (_pool(kernel_shape=[2, 2]), r"node 'p1' \(MaxPool\): strides \[1, 1\] are not supported"),
    (_pool(kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1),
     r"node 'p1' \(MaxPool\): ceil_mode 1 is not supported here"),
    (_sigmoid_in_the_middle, (r"unsupported ONNX operator 'Sigmoid' \(node 'squash'\); "
                             r"supported: Conv, BatchNormalization, Relu, MaxPool")),
    (_bn_after_relu, (r"node 'bn_late' \(BatchNormalization\): on an image, "
                     r"BatchNormalization is supported only directly after a Conv .* not "
                     r"after a Relu")),
    (_conv_after_flatten, (r"node 'c2' \(Conv\) needs an image \(N, C, H, W\), but it follows "
                          r"the flatten")),
    (_gemm_on_image, r"node 'fc' \(Gemm\) needs a 2-D activation .* flatten it first"),
    (_ends_with_pool, r"the network must end with a dense layer"),
])
def test_refusals(build, message):
    with pytest.raises(OnnxImportError, match=message) as e:
        load_onnx_cnn(build())
    assert str(e.value).startswith("model: ")


def test_group_2_is_refused_too():
    """The brief's example: group 2 (Cin 4 in two groups of 2)."""
    with pytest.raises(OnnxImportError, match=re.escape(
            "node 'c1' (Conv): group 2 is not supported (only group 1)")):
        load_onnx_cnn(_one_conv(shape=("N", 4, 12, 12), group=2)())


def test_float_cnn_checks_its_layers():
    conv = FloatConv(np.zeros((2, 3, 3, 1), np.float32), np.zeros(2, np.float32))
    dense = FloatDense(np.zeros((4, 2 * 4 * 3), np.float32), np.zeros(4, np.float32), False)
    net = FloatCNN([conv, FloatFlatten(), dense], (6, 5, 1))
    assert net.shapes == [(4, 3, 2), (24,), (4,)] and net.classes == 4
    with pytest.raises(ValueError, match=r"layer 1 \(dense\): dense 24->4 reads 24 features, "
                                         r"not shape \(30,\)"):
        FloatCNN([FloatFlatten(), dense], (6, 5, 1))
    with pytest.raises(ValueError, match=r"layer 1 \(dense\) cannot read shape \(4, 3, 2\): "
                                         r"flatten first"):
        FloatCNN([conv, dense], (6, 5, 1))
    with pytest.raises(ValueError, match="last layer must be a FloatDense"):
        FloatCNN([conv], (6, 5, 1))
    with pytest.raises(ValueError, match=r"x must be \(batch, 6, 5, 1\) images"):
        net.forward(np.zeros((2, 5, 6, 1)))
