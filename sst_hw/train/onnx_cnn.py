"""Import of float convolutional networks from ONNX, in the project's layout.

:func:`load_onnx_cnn` reads an ONNX CNN into a :class:`FloatCNN`: a chain of
:class:`FloatConv`, :class:`FloatMaxPool`, :class:`FloatFlatten` and
:class:`FloatDense` layers over a **channels-last** image ``(H, W, C)``, with
the conv weights ``(Cout, kh, kw, Cin)`` (a row ordered ``(ky, kx, c)``,
channel fastest) and flatten in NumPy C order of ``(H, W, C)`` (channel
fastest), as the integer contract has them (:mod:`sst_hw.format.conv`).
:meth:`FloatCNN.forward` is a plain NumPy float32 reference of the imported
network.

ONNX is NCHW; the import converts:

* conv weights ``(Cout, Cin, kh, kw)`` to ``(Cout, kh, kw, Cin)``;
* the first dense layer after a flatten: ONNX flattens ``(C, H, W)``, so its
  weight column ``c*H*W + y*W + x`` reads channel ``c`` at ``(y, x)``; in the
  project's order that input is ``(y*W + x)*C + c``, and the columns are
  permuted accordingly (:func:`chw_to_hwc_columns`). Without it the network
  silently computes something else whenever ``H*W > 1`` and ``C > 1``.

Supported graphs
----------------
The graph shapes of :mod:`sst_hw.train.onnx_import` (one float input, a single
chain of nodes plus constants, ``Constant`` nodes and nodes of constants alone
evaluated at import, a label branch such as ``ArgMax`` on the scores dropped,
several outputs) with, on the image ``(N, C, H, W)``:

``Conv``
    2-D, ``group`` 1, ``dilations`` 1, kernels 1..7 (``kh`` and ``kw`` each),
    strides 1 or 2 (equal in both axes), symmetric pads ``0..k//2`` per axis
    (``auto_pad`` ``NOTSET`` or ``VALID``, or ``SAME_*`` when that pads
    symmetrically), constant weights, optional bias.
``BatchNormalization``
    inference mode, directly after a ``Conv`` (before any ReLU): folded into
    the conv's weights and bias with the node's epsilon.
``Add``
    a constant per-channel bias (a scalar, ``(C, 1, 1)`` or ``(1, C, 1, 1)``)
    directly after a ``Conv``: folded into its bias.
``Relu``
    after a ``Conv`` (or after a ``MaxPool`` or a ``Flatten`` that follows
    one: ReLU commutes with both).
``MaxPool``
    kernel 2x2 or 3x3, stride 2, no padding, dilation 1, floor output size
    (``ceil_mode`` 1 only where it gives the same size).
``Flatten`` / ``Reshape``
    ``Flatten`` with axis 1, or ``Reshape`` to ``(0 or -1, F or -1)`` or
    ``(1, F)`` (torch's fixed batch-1 export), after the last spatial node.

and on the flattened activation everything the MLP importer reads:
``Gemm`` (``transB`` 0/1, ``alpha``, ``beta``), ``MatMul`` and ``Add``,
``BatchNormalization`` (folded into the neighbouring dense layer),
``Relu``. Anywhere: ``Identity``, ``Dropout`` (inference: a no-op),
``Cast`` to a float type. A final ``Softmax`` / ``LogSoftmax`` is dropped
(:attr:`FloatCNN.output` records it; the arg-max is unchanged): the
network's output is the last dense layer's logits, and that layer must end
the chain.

Everything else is refused with an :class:`~sst_hw.train.onnx_import.OnnxImportError`
naming the node, its operator and what is wrong, e.g.
``node 'conv2' (Conv): group 2 is not supported (only group 1)``.

The input shape is the graph input's ``(N, C, H, W)``; when ``C``, ``H`` or
``W`` is symbolic, give ``input_shape=(H, W, C)``.

Nothing here imports Amaranth.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from sst_hw.train.onnx_import import (
    FloatLayer,
    OnnxImportError,
    _checked_model,
    _onnx,
    _read_model,
    _Walker,
)

__all__ = ["CNN_SUPPORTED_OPS", "FloatCNN", "FloatConv", "FloatDense", "FloatFlatten",
           "FloatMaxPool", "OnnxImportError", "chw_to_hwc_columns", "is_convolutional",
           "load_onnx_cnn"]

#: ONNX operators the CNN importer understands on the network's path, in the order error
#: messages list them.
CNN_SUPPORTED_OPS = ("Conv", "BatchNormalization", "Relu", "MaxPool", "Flatten", "Reshape",
                     "Gemm", "MatMul", "Add", "Identity", "Dropout", "Cast", "Softmax",
                     "LogSoftmax")
#: Conv kernel sizes (each of kh, kw), strides; max-pool kernels and stride
#: (as :mod:`sst_hw.format.conv`).
CONV_KERNELS = range(1, 8)
CONV_STRIDES = (1, 2)
POOL_KERNELS = (2, 3)
POOL_STRIDE = 2


def chw_to_hwc_columns(h: int, w: int, c: int) -> np.ndarray:
    """The column permutation ``idx`` (int64, ``h*w*c``) with ``W_hwc = W_chw[:, idx]``
    for a dense weight reading a flattened ``(C, H, W)`` tensor (ONNX) to read the
    flattened ``(H, W, C)`` one instead: ``idx[(y*w + x)*c + ch] = ch*h*w + y*w + x``."""
    return np.arange(c * h * w).reshape(c, h, w).transpose(1, 2, 0).reshape(-1)


# -- the float network --------------------------------------------------------------------------


@dataclass
class FloatConv:
    """A 2-D convolution ``y = conv(x, W) + b`` (then ReLU if ``relu``) over a
    channels-last image, zero padding ``pad = (ph, pw)`` rows/columns each side.

    ``weight`` float32 (Cout, kh, kw, Cin), ``bias`` float32 (Cout,); the output size
    is ``Ho = (H + 2*ph - kh) // stride + 1`` (likewise ``Wo``). ``nodes`` names the
    ONNX nodes folded into it.
    """

    weight: np.ndarray
    bias: np.ndarray
    stride: int = 1
    pad: tuple = (0, 0)
    relu: bool = False
    nodes: list = field(default_factory=list)

    @property
    def cout(self) -> int:
        return self.weight.shape[0]

    @property
    def kh(self) -> int:
        return self.weight.shape[1]

    @property
    def kw(self) -> int:
        return self.weight.shape[2]

    @property
    def cin(self) -> int:
        return self.weight.shape[3]

    def out_shape(self, shape) -> tuple:
        h, w, c = shape
        if c != self.cin:
            raise ValueError(f"conv {self.kh}x{self.kw} reads {self.cin} channels, not {c}")
        ph, pw = self.pad
        if h + 2 * ph < self.kh or w + 2 * pw < self.kw:
            raise ValueError(f"conv kernel {self.kh}x{self.kw} is larger than the padded "
                             f"input {h + 2 * ph}x{w + 2 * pw}")
        return ((h + 2 * ph - self.kh) // self.stride + 1,
                (w + 2 * pw - self.kw) // self.stride + 1, self.cout)

    def forward(self, x) -> np.ndarray:
        """(B, Ho, Wo, Cout) of (B, H, W, Cin): im2col, patches ordered (ky, kx, c) like
        the weight rows, and one product."""
        ph, pw = self.pad
        if ph or pw:
            x = np.pad(x, ((0, 0), (ph, ph), (pw, pw), (0, 0)))
        s = self.stride
        ho, wo = (x.shape[1] - self.kh) // s + 1, (x.shape[2] - self.kw) // s + 1
        patches = np.concatenate([x[:, ky:ky + s * (ho - 1) + 1:s, kx:kx + s * (wo - 1) + 1:s]
                                  for ky in range(self.kh) for kx in range(self.kw)], axis=3)
        y = patches @ self.weight.reshape(self.cout, -1).T + self.bias
        return np.maximum(y, 0) if self.relu else y


@dataclass
class FloatMaxPool:
    """Max-pool, ``kernel`` x ``kernel`` windows every ``stride``, no padding, floor
    size ``Ho = (H - kernel) // stride + 1``."""

    kernel: int
    stride: int = POOL_STRIDE
    nodes: list = field(default_factory=list)

    def out_shape(self, shape) -> tuple:
        h, w, c = shape
        if h < self.kernel or w < self.kernel:
            raise ValueError(f"max-pool {self.kernel}x{self.kernel} is larger than the "
                             f"input {h}x{w}")
        return ((h - self.kernel) // self.stride + 1, (w - self.kernel) // self.stride + 1, c)

    def forward(self, x) -> np.ndarray:
        k, s = self.kernel, self.stride
        return sliding_window_view(x, (k, k), axis=(1, 2))[:, ::s, ::s].max(axis=(4, 5))


@dataclass
class FloatFlatten:
    """``(H, W, C)`` to ``H*W*C`` features, NumPy C order (channel fastest)."""

    nodes: list = field(default_factory=list)

    def out_shape(self, shape) -> tuple:
        return (int(np.prod(shape)),)

    def forward(self, x) -> np.ndarray:
        return x.reshape(len(x), int(np.prod(x.shape[1:])))


@dataclass
class FloatDense(FloatLayer):
    """A dense layer ``y = W x + b`` (then ReLU if ``relu``), ``weight`` float32
    (out, in) and ``bias`` float32 (out,); after a :class:`FloatFlatten` its columns
    are in ``(H, W, C)`` order."""

    def out_shape(self, shape) -> tuple:
        if shape != (self.in_features,):
            raise ValueError(f"dense {self.in_features}->{self.out_features} reads "
                             f"{self.in_features} features, not shape {shape}")
        return (self.out_features,)

    def forward(self, x) -> np.ndarray:
        y = x @ self.weight.T + self.bias
        return np.maximum(y, 0) if self.relu else y


#: Images per step of :meth:`FloatCNN.forward`.
_FORWARD_BATCH = 256

_KIND = {FloatConv: "conv", FloatMaxPool: "maxpool", FloatFlatten: "flatten",
         FloatDense: "dense"}


@dataclass
class FloatCNN:
    """An imported float CNN: a chain of :class:`FloatConv`, :class:`FloatMaxPool`,
    :class:`FloatFlatten` and :class:`FloatDense` layers over channels-last images,
    the last one dense (its outputs are the logits).

    ``input_shape`` is ``(H, W, C)``; ``input_name`` and ``onnx_input_shape`` (``(N,
    C, H, W)``, ``None`` for a symbolic dimension) are the ONNX input's; ``output`` is
    ``"logits"``, ``"softmax"`` or ``"log_softmax"`` (the dropped final ONNX node:
    :meth:`forward` gives the logits before it); ``source`` where it came from;
    ``notes`` what the import left out or read loosely, one sentence each.
    """

    layers: list
    input_shape: tuple
    input_name: str = "input"
    onnx_input_shape: tuple = ()
    output: str = "logits"
    source: str = ""
    notes: list = field(default_factory=list)

    def __post_init__(self):
        self.layers = list(self.layers)
        self.input_shape = tuple(int(v) for v in self.input_shape)
        if len(self.input_shape) != 3 or min(self.input_shape) < 1:
            raise ValueError(f"input_shape must be (H, W, C) of positive sizes, not "
                             f"{self.input_shape}")
        if not self.layers or not isinstance(self.layers[-1], FloatDense):
            raise ValueError("a FloatCNN's last layer must be a FloatDense (the logits)")
        _ = self.shapes                               # checks that the shapes meet

    @property
    def shapes(self) -> list:
        """The activation shape after each layer: ``(H, W, C)`` or ``(features,)``.
        Raises ValueError where a layer does not read what the one before gives."""
        shape, out = self.input_shape, []
        for i, layer in enumerate(self.layers):
            kind = _KIND.get(type(layer))
            if kind is None:
                raise ValueError(f"layer {i}: not a FloatCNN layer: {type(layer).__name__}")
            if (kind == "dense") != (len(shape) == 1):
                raise ValueError(f"layer {i} ({kind}) cannot read shape {shape}"
                                 f"{': flatten first' if kind == 'dense' else ''}")
            try:
                shape = layer.out_shape(shape)
            except ValueError as e:
                raise ValueError(f"layer {i} ({kind}): {e}") from None
            out.append(shape)
        return out

    @property
    def classes(self) -> int:
        return self.layers[-1].out_features

    def describe(self) -> str:
        parts, shape = [], self.input_shape
        for layer, out in zip(self.layers, self.shapes):
            if isinstance(layer, FloatConv):
                text = (f"conv {layer.kh}x{layer.kw}/{layer.stride} pad "
                        f"{layer.pad[0]},{layer.pad[1]} {layer.cin}->{layer.cout}")
            elif isinstance(layer, FloatMaxPool):
                text = f"maxpool {layer.kernel}/{layer.stride}"
            elif isinstance(layer, FloatFlatten):
                text = "flatten"
            else:
                text = f"dense {layer.in_features}->{layer.out_features}"
            if getattr(layer, "relu", False):
                text += " relu"
            shapes = "x".join(map(str, shape)) + " -> " + "x".join(map(str, out))
            parts.append(f"{text} ({shapes})"
                         f"{' [' + ' + '.join(layer.nodes) + ']' if layer.nodes else ''}")
            shape = out
        return "; ".join(parts)

    def forward(self, x) -> np.ndarray:
        """The logits (B, classes) float32 of images ``x`` (B, H, W, C), or of
        (B, H*W*C) rows holding them flattened in C order, in the ONNX model's input
        units (transpose an ONNX (B, C, H, W) batch with ``x.transpose(0, 2, 3, 1)``)."""
        a = np.asarray(x, np.float32)
        h, w, c = self.input_shape
        if a.ndim == 2 and a.shape[1] == h * w * c:
            a = a.reshape(len(a), h, w, c)
        if a.ndim != 4 or a.shape[1:] != self.input_shape:
            raise ValueError(f"x must be (batch, {h}, {w}, {c}) images (H, W, C) or "
                             f"(batch, {h * w * c}) rows, not shape {a.shape}")
        out = []
        for i in range(0, max(len(a), 1), _FORWARD_BATCH):   # bounds the im2col copies
            y = a[i:i + _FORWARD_BATCH]
            for layer in self.layers:
                y = layer.forward(y)
            out.append(np.asarray(y, np.float32))
        return np.ascontiguousarray(np.concatenate(out))

    def predict(self, x) -> np.ndarray:
        """Arg-max classes (batch,) int64, the lowest index on ties."""
        return np.argmax(self.forward(x), axis=1).astype(np.int64)


# -- reading ONNX -------------------------------------------------------------------------------


def load_onnx_cnn(path_or_model, input_shape=None) -> FloatCNN:
    """Read an ONNX CNN (a file path, its external data read from its folder, or an
    in-memory ``onnx.ModelProto`` with its data loaded) into a :class:`FloatCNN`.

    ``input_shape`` ``(H, W, C)`` is needed only when the graph input's ``C``, ``H`` or
    ``W`` is symbolic (it must agree with the known ones). Raises
    :class:`FileNotFoundError` for a missing file and
    :class:`~sst_hw.train.onnx_import.OnnxImportError` (naming the file, the node and
    the operator) for anything it does not read (see the module docstring).
    """
    onnx, _ = _onnx()
    if input_shape is not None:
        shape = tuple(input_shape) if isinstance(input_shape, (tuple, list)) else None
        if shape is None or len(shape) != 3 or not all(
                isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0
                for v in shape):
            raise ValueError(f"input_shape must be (H, W, C), three positive integers, not "
                             f"{input_shape!r}")
        input_shape = tuple(int(v) for v in shape)
    if isinstance(path_or_model, onnx.ModelProto):
        model, source = path_or_model, "model"
    else:
        model, source = _read_model(path_or_model), str(path_or_model)
    return _CnnWalker(*_checked_model(model, source, "load_onnx_cnn"),
                      input_shape=input_shape).run()


def _ints(a, name, default):
    return [int(v) for v in a.get(name, default)]


class _CnnWalker(_Walker):
    """The MLP importer's walk of the chain (constants, label branch, outputs, dense
    nodes), with spatial nodes before the flatten."""

    network = "a CNN"
    supported = CNN_SUPPORTED_OPS
    multi_output = ("BatchNormalization", "Dropout")

    def __init__(self, graph, numpy_helper, fail, source, opsets=None, input_shape=None):
        super().__init__(graph, numpy_helper, fail, source, opsets)
        self.given_shape = input_shape

    def _unsupported_hint(self) -> str:
        return ""

    def _image_shape(self, inp, dims) -> tuple:
        """``(H, W, C)`` of the graph input ``(N, C, H, W)`` and the caller's shape."""
        given = self.given_shape
        if not self.has_shape and given is not None:
            return given
        if len(dims) != 4:
            raise self.fail(f"the input {inp.name!r} must be a batch of images (N, C, H, W), "
                            f"not shape {dims if self.has_shape else 'unknown'}")
        names = tuple(d.dim_param or "?" if not d.HasField("dim_value") else d.dim_value
                      for d in inp.type.tensor_type.shape.dim)
        _, c, h, w = dims
        if given is not None:
            if any(k is not None and k != v for k, v in zip((h, w, c), given)):
                raise self.fail(f"input_shape {given} (H, W, C) does not match the input "
                                f"{inp.name!r} of shape (N, C, H, W) = {names}")
            return given
        if None in (c, h, w):
            raise self.fail(f"the input {inp.name!r} has symbolic dimensions: (N, C, H, W) = "
                            f"{names}; give input_shape=(H, W, C)")
        return (h, w, c)

    def run(self) -> FloatCNN:
        inp, dims = self._input()
        self.image = self._image_shape(inp, dims)
        self.hwc = self.image                   # the activation's (H, W, C) until the flatten
        self.batch = dims[0] if dims else None
        self.rank = 4
        self.features = int(np.prod(self.hwc))
        self.head = inp.name
        self.layers = []
        self.flat_from = None       # (H, W, C) of a flatten no dense layer has read yet
        self._start_layer()
        output = "logits"
        for node, op, a, label, short in self._chain_nodes():
            if op == "Identity":
                pass
            elif op == "Dropout":
                self._dropout(node, label)
            elif op == "Cast":
                self._cast(a, label)
            elif op in ("Softmax", "LogSoftmax"):
                if self.rank != 2:
                    raise self.fail(f"node {label} needs the 2-D logits (batch, classes), "
                                    f"not an (N, C, H, W) activation")
                output = self._final(op, a, label)
            elif self.rank == 4:
                self._spatial_node(node, op, a, label, short)
            elif op in ("Flatten", "Reshape"):
                self._flatten(node, op, a, label)                   # a no-op on 2-D
            elif op == "Relu":
                if self.linear:
                    self._end_dense(True, self.nodes + [short])
                elif self.W is None and self.b is None:
                    self._relu_before(label, short)
                else:
                    raise self.fail(f"node {label}: a Relu must follow a Gemm or MatMul "
                                    f"(no linear layer since the last Relu)")
            elif not self._dense_node(node, op, a, label, short):
                raise self.fail(f"node {label} needs an image (N, C, H, W), but it follows "
                                f"the flatten: every {op} must come before it")
        if self.W is not None or self.b is not None:
            if not self.linear:
                raise self.fail("the last layer has no Gemm or MatMul after the last Relu")
            self._end_dense(False, self.nodes)
        if not self.layers or not isinstance(self.layers[-1], FloatDense):
            last = f"a {_KIND[type(self.layers[-1])]}" if self.layers else "no layer"
            raise self.fail(f"the network must end with a dense layer (Gemm or MatMul after "
                            f"a Flatten) giving the logits, not {last}")
        self._check_outputs(self.n_linear, self.layers[-1].out_features)
        for layer in self.layers:
            if isinstance(layer, (FloatConv, FloatDense)):
                with np.errstate(over="ignore", invalid="ignore"):   # refused just below
                    layer.weight = np.ascontiguousarray(layer.weight, np.float32)
                    layer.bias = np.asarray(layer.bias, np.float32).reshape(-1)
        self._check_finite([la for la in self.layers if isinstance(la, (FloatConv, FloatDense))],
                           "float32")
        return FloatCNN(self.layers, self.image, inp.name, dims, output, self.source,
                        self.notes_out)

    # -- on the image ---------------------------------------------------------------------------

    def _spatial_node(self, node, op, a, label, short):
        if op == "Conv":
            self._conv(node, a, label, short)
        elif op == "MaxPool":
            self._maxpool(a, label, short)
        elif op == "Relu":
            self._relu_before(label, short)
        elif op in ("BatchNormalization", "Add"):
            conv = self.layers[-1] if self.layers else None
            if not isinstance(conv, FloatConv) or conv.relu:
                after = ("the input" if conv is None else
                         f"a {_KIND[type(conv)]}" if not isinstance(conv, FloatConv) else
                         "a Relu")
                raise self.fail(f"node {label}: on an image, {op} is supported only directly "
                                f"after a Conv (it is folded into it), not after {after}")
            if op == "Add":
                c = self._const(next(x for x in node.input if x != self.head), label,
                                "addend")
                conv.bias = conv.bias + self._channel_vector(c, conv.cout, label)
            else:
                g, h = self._bn_params(node, a, label, conv.cout)
                conv.weight = conv.weight * g[:, None, None, None]
                conv.bias = g * conv.bias + h
            conv.nodes.append(short)
        elif op in ("Flatten", "Reshape"):
            self._flatten(node, op, a, label)
            self.layers.append(FloatFlatten([short]))
            self.flat_from, self.hwc = self.hwc, None
        else:                                       # Gemm, MatMul
            raise self.fail(f"node {label} needs a 2-D activation (batch, features), not an "
                            f"(N, C, H, W) image: flatten it first (Flatten or Reshape)")

    def _channel_vector(self, v, c, label):
        """A constant added to an (N, C, H, W) activation, per channel: a scalar,
        (C, 1, 1) or (1, C, 1, 1)."""
        if v.size == 1:
            return np.full(c, float(v.reshape(-1)[0]))
        if v.shape in ((c, 1, 1), (1, c, 1, 1)):
            return v.reshape(c).astype(np.float64)
        raise self.fail(f"node {label}: addend of shape {tuple(v.shape)} is not a per-channel "
                        f"bias of {c} channels (need a scalar, ({c}, 1, 1) or (1, {c}, 1, 1))")

    def _relu_before(self, label, short):
        """A Relu on the output of the last conv or dense layer, possibly through max-pools
        and a flatten, with which it commutes (twice is once)."""
        for layer in reversed(self.layers):
            if isinstance(layer, (FloatConv, FloatDense)):
                layer.relu = True
                layer.nodes.append(short)
                return
        raise self.fail(f"node {label}: a Relu must follow a Conv, Gemm or MatMul (none "
                        f"since the input)")

    def _dropout(self, node, label):
        # training_mode, when given, is a constant (a node of the chain reads no other
        # tensor).
        if len(node.input) > 2 and node.input[2] and np.any(self.consts[node.input[2]]):
            raise self.fail(f"node {label}: training_mode is true; export the model in "
                            f"eval mode")

    def _padding(self, a, label, kh, kw, stride):
        """``(ph, pw)`` of a Conv's ``pads`` / ``auto_pad``, refused unless symmetric."""
        auto = a.get("auto_pad", b"NOTSET")
        auto = auto.decode(errors="replace") if isinstance(auto, bytes) else str(auto)
        h, w, _ = self.hwc
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            pads = []
            for n, k in ((h, kh), (w, kw)):
                total = max((-(-n // stride) - 1) * stride + k - n, 0)
                pads.append((total // 2, total - total // 2))
            pads = [pads[0][0], pads[1][0], pads[0][1], pads[1][1]]
            if pads[0] != pads[2] or pads[1] != pads[3]:
                raise self.fail(f"node {label}: auto_pad {auto} pads asymmetrically here "
                                f"(pads [top, left, bottom, right] = {pads}), which is not "
                                f"supported (only symmetric pads)")
        elif auto in ("NOTSET", "VALID"):
            pads = _ints(a, "pads", [0, 0, 0, 0]) if auto == "NOTSET" else [0, 0, 0, 0]
        else:
            raise self.fail(f"node {label}: auto_pad {auto!r} is not supported")
        if len(pads) != 4 or pads[0] != pads[2] or pads[1] != pads[3]:
            raise self.fail(f"node {label}: asymmetric pads {pads} ([top, left, bottom, "
                            f"right]) are not supported (only symmetric pads)")
        ph, pw = pads[:2]
        if not (0 <= ph <= kh // 2 and 0 <= pw <= kw // 2):
            raise self.fail(f"node {label}: pads ({ph}, {pw}) are not supported for kernel "
                            f"{kh}x{kw} (0..{kh // 2} rows, 0..{kw // 2} columns: at most "
                            f"half the kernel)")
        return ph, pw

    def _conv(self, node, a, label, short):
        if node.input[0] != self.head:
            raise self.fail(f"node {label}: the activation must be input X")
        w = self._const(node.input[1], label, "weight W")
        if w.ndim != 4:
            raise self.fail(f"node {label}: weight W of shape {tuple(w.shape)} is not a 2-D "
                            f"convolution's (Cout, Cin, kh, kw)")
        cout, cin, kh, kw = w.shape
        group = int(a.get("group", 1))
        if group != 1:
            raise self.fail(f"node {label}: group {group} is not supported (only group 1)")
        dil = _ints(a, "dilations", [1, 1])
        if any(d != 1 for d in dil):
            raise self.fail(f"node {label}: dilation {dil[0] if len(set(dil)) == 1 else dil} "
                            f"is not supported (only dilation 1)")
        if "kernel_shape" in a and _ints(a, "kernel_shape", []) != [kh, kw]:
            raise self.fail(f"node {label}: kernel_shape {_ints(a, 'kernel_shape', [])} "
                            f"does not match the weight's {kh}x{kw}")
        if kh not in CONV_KERNELS or kw not in CONV_KERNELS:
            raise self.fail(f"node {label}: kernel {kh}x{kw} is not supported (kernels "
                            f"1..7 in each axis)")
        strides = _ints(a, "strides", [1, 1])
        if len(strides) != 2 or strides[0] != strides[1] or strides[0] not in CONV_STRIDES:
            shown = strides[0] if len(set(strides)) == 1 else strides
            raise self.fail(f"node {label}: stride {shown} is not supported (only 1 or 2, "
                            f"the same in both axes)")
        stride = strides[0]
        h, wd, c = self.hwc
        if cin != c:
            raise self.fail(f"node {label}: weight W reads {cin} input channels but the "
                            f"activation has {c}")
        ph, pw = self._padding(a, label, kh, kw, stride)
        if h + 2 * ph < kh or wd + 2 * pw < kw:
            raise self.fail(f"node {label}: kernel {kh}x{kw} is larger than the padded input "
                            f"{h + 2 * ph}x{wd + 2 * pw}")
        if len(node.input) > 2 and node.input[2]:
            bias = self._vector(self._const(node.input[2], label, "bias B"), cout, label,
                                "bias B")
        else:
            bias = np.zeros(cout)
        conv = FloatConv(w.transpose(0, 2, 3, 1).astype(np.float64), bias, stride, (ph, pw),
                         False, [short])
        self.layers.append(conv)
        self.hwc = conv.out_shape(self.hwc)
        self.features = int(np.prod(self.hwc))
        self.n_linear += 1

    def _maxpool(self, a, label, short):
        ks = _ints(a, "kernel_shape", [])
        if len(ks) != 2 or ks[0] != ks[1] or ks[0] not in POOL_KERNELS:
            raise self.fail(f"node {label}: kernel {'x'.join(map(str, ks))} is not supported "
                            f"(max-pool kernels 2x2 and 3x3)")
        k = ks[0]
        strides = _ints(a, "strides", [1, 1])
        if strides != [POOL_STRIDE, POOL_STRIDE]:
            raise self.fail(f"node {label}: strides {strides} are not supported (max-pool "
                            f"stride 2 in both axes)")
        auto = a.get("auto_pad", b"NOTSET")
        auto = auto.decode(errors="replace") if isinstance(auto, bytes) else str(auto)
        pads = _ints(a, "pads", [0, 0, 0, 0])
        if auto not in ("NOTSET", "VALID") or any(pads):
            what = f"pads {pads}" if any(pads) else f"auto_pad {auto}"
            raise self.fail(f"node {label}: padding ({what}) is not supported (max-pool "
                            f"without padding)")
        dil = _ints(a, "dilations", [1, 1])
        if any(d != 1 for d in dil):
            raise self.fail(f"node {label}: dilations {dil} are not supported (only 1)")
        h, w, _ = self.hwc
        if h < k or w < k:
            raise self.fail(f"node {label}: kernel {k}x{k} is larger than the input {h}x{w}")
        if a.get("ceil_mode", 0) and ((h - k) % POOL_STRIDE or (w - k) % POOL_STRIDE):
            raise self.fail(f"node {label}: ceil_mode 1 is not supported here (it gives a "
                            f"larger output than floor for a {h}x{w} input)")
        pool = FloatMaxPool(k, POOL_STRIDE, [short])
        self.layers.append(pool)
        self.hwc = pool.out_shape(self.hwc)
        self.features = int(np.prod(self.hwc))

    # -- after the flatten ----------------------------------------------------------------------

    def _end_dense(self, relu, nodes):
        """The pending affine map becomes a :class:`FloatDense`; the first after a flatten
        of an image has its columns permuted from ONNX's (C, H, W) order to (H, W, C)."""
        w = np.asarray(self.W, np.float64)
        if self.flat_from is not None:
            w = w[:, chw_to_hwc_columns(*self.flat_from)]
            self.flat_from = None
        self.layers.append(FloatDense(w, np.asarray(self.b, np.float64), relu, nodes))
        self._start_layer()


def is_convolutional(path) -> bool:
    """Whether the ONNX file's graph has a Conv or MaxPool node (so
    ``sst-hw import`` takes the CNN path, :func:`load_onnx_cnn`). A file that
    cannot be read gives False: the MLP path then reports what is wrong."""
    try:
        model = _read_model(path)
    except Exception:  # noqa: BLE001 - the MLP loader reports the same file's problem
        return False
    return any(node.op_type in ("Conv", "MaxPool") for node in model.graph.node)
