"""Import of float multi-layer perceptrons from ONNX into SST networks.

:func:`load_onnx` reads an ONNX file into a :class:`FloatMLP`: a chain of
float affine layers ``y = W x + b``, each but possibly the last followed by a
ReLU. :func:`to_mlp` turns that into the trainer's
:class:`~sst_hw.train.mlp.MLP` (exactly the same function, see below), and
:func:`import_and_export` projects it onto an SST codebook, optionally
fine-tunes it on a data set with the trainer's pruning and straight-through
fine-tuning, and exports it to the integer contract (docs/architecture.md,
"Integer arithmetic") with :func:`sst_hw.train.export.export_network`.

Supported graphs
----------------
One float input and a single chain of nodes from it to the classifier's
logits or probabilities (each node reads the previous node's output plus
constants: initializers, ``Constant`` nodes, or nodes computed from constants
alone, which are evaluated at import):

``Gemm``
    ``alpha * A @ B' + beta * C`` with ``B`` (``transB`` 0 or 1) and ``C``
    constant, ``transA = 0``.
``MatMul``
    the activation times a constant 2-D matrix (in, out).
``Add``
    a constant bias: a scalar, (F,) or (1, F).
``BatchNormalization``
    inference mode (``training_mode = 0``) on a 2-D activation: an affine map
    per feature, folded into the neighbouring linear layer.
``Relu``
    ends a layer.
``Flatten`` / ``Reshape``
    at the input (an image (batch, C, H, W) to (batch, C*H*W); ``Flatten``
    with axis 1, ``Reshape`` to ``(0 or -1, F or -1)``, or to ``(1, F)`` as
    ``torch.onnx.export`` writes it for a fixed batch-1 example input), or as
    a no-op on a 2-D activation.
``Identity``, ``Cast`` to a float type
    nothing (skl2onnx casts its input to float).
``Softmax`` / ``LogSoftmax``
    only at the end (``Identity`` or ``Cast`` may follow): monotone, so the
    arg-max class is unchanged; the integer network returns the logits before
    it.

The graph may have several outputs. Those that hold the scores (any tensor of
the chain after the last ``Gemm``/``MatMul``) are the classifier's output. A
**label branch** on the scores, an ``ArgMax`` or ``ZipMap`` and whatever is
computed from them (:data:`LABEL_OPS`: skl2onnx's ``ArrayFeatureExtractor``
over the class table, ``Reshape``, ``Cast``, ...), is recognised and dropped,
with a note in :attr:`FloatMLP.notes`: the integer network returns the arg-max
class index itself. Outputs that are hidden activations are ignored, with a
note. A graph with no output on the scores or the label branch is refused.

Weights in external data files (``model.onnx.data``) are read from the model
file's folder (:func:`load_onnx`), whatever the working directory.

Every other operator is refused with its name and node; a graph with a ``Conv``
is refused with a pointer to the CNN importer, :func:`load_onnx_cnn
<sst_hw.train.onnx_cnn.load_onnx_cnn>` (:mod:`sst_hw.train.onnx_cnn`, which
builds on this module's graph walk; ``load_onnx_cnn`` and ``FloatCNN`` can be
imported from here too). Consecutive affine nodes (``Gemm``/``MatMul``,
``Add``, ``BatchNormalization``) between two ReLUs are composed into one
layer, so a batch norm before or after a ReLU, or one on the input, is folded
exactly.

From float to SST
-----------------
The network input is the data set's raw unsigned bytes; the ONNX model
expects ``(raw * input_scale - mean) / std`` (default ``raw / 255``, like
torchvision's ``ToTensor``; give the ``Normalize`` mean and standard deviation
if the model was trained with them). That map is folded into the first layer.

In the trainer's :class:`~sst_hw.train.mlp.MLP` (built with ``center=False``)
a hidden layer is ``relu(g_r * (x . w_r / s_r) + h_r)`` with ``s_r`` the root
mean square of row ``r``; the imported layer is represented exactly with
``g_r = s_r`` and ``h_r = b_r``, as a batch norm whose statistics are measured
on calibration data (so training-mode batch norm starts where the imported
network is). The last layer's weights are kept up to one positive factor
(the trainer's temperature); its **bias is dropped**: the integer network
returns raw accumulators and classifies by their arg-max, which has no
per-class constant (docs/architecture.md, "Integer arithmetic"). The
reported ``float`` accuracy is that of the imported network without the last
bias; ``onnx`` is the original.

Projection then uses the exact SST projection of every layer. Without
fine-tuning, each hidden layer's batch-norm statistics are re-measured on the
calibration data with the projected weights, which restores each unit's
mean and variance of the float network (a standard bias correction after
quantization). With fine-tuning, the trainer's ``prune`` (gradual, N to K
non-zeros) and ``sst`` (straight-through) phases run on the data set.

Nothing here imports Amaranth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["OnnxImportError", "FloatLayer", "FloatMLP", "InputMap", "SUPPORTED_OPS",
           "LABEL_OPS", "LABEL_ROOT_OPS",
           "load_onnx", "from_model", "to_mlp", "fit_batchnorm", "import_and_export",
           "accuracy_warnings", "ACCURACY_WARN_POINTS",
           "default_calibration_dataset",
           "set_imported_weights", "set_batchnorm", "set_temperature", "import_notes",
           "finetune_or_project", "import_result"]

#: ONNX operators the importer understands on the network's path, in the order error
#: messages list them.
SUPPORTED_OPS = ("Gemm", "MatMul", "Add", "Relu", "BatchNormalization", "Flatten", "Reshape",
                 "Identity", "Cast", "Softmax", "LogSoftmax")
#: Operators that start a label branch when they read the scores (skl2onnx's classifier
#: outputs: ``ArgMax`` -> label, ``ZipMap`` -> a list of {class: probability}).
LABEL_ROOT_OPS = ("ArgMax", "ZipMap")
#: Operators a label branch may hold (default and ``ai.onnx.ml`` domains). The branch is
#: dropped: the integer network returns the arg-max class index itself.
LABEL_OPS = ("ArgMax", "ZipMap", "ArrayFeatureExtractor", "LabelEncoder", "Gather", "Cast",
             "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity")
#: Nodes that may follow a final Softmax/LogSoftmax: they change nothing.
_NO_OP_OPS = ("Identity", "Cast")
#: Nodes of the chain that may follow the tensor a graph output holds: they keep its
#: arg-max (a Flatten or Reshape there is a no-op on the 2-D scores).
_AFTER_OUTPUT_OPS = ("Softmax", "LogSoftmax", "Identity", "Cast", "Dropout", "Flatten",
                     "Reshape")
#: Operators evaluated at import time when all their inputs are constants (the legacy
#: torch exporter writes e.g. ``Identity`` of an initializer for tied parameters).
_FOLDABLE_OPS = ("Identity", "Cast", "Reshape", "Flatten", "Squeeze", "Unsqueeze",
                 "Transpose", "Concat", "Gather", "Mul", "Div", "Add", "Sub", "Neg", "Sqrt",
                 "Reciprocal")
_LINEAR_OPS = ("Gemm", "MatMul")
_FLOAT_TYPES = {1: "float", 10: "float16", 11: "double", 16: "bfloat16"}


def __getattr__(name):
    # The CNN importer's entry points, from the module that builds on this one (imported
    # on first use: it imports this module).
    if name in ("load_onnx_cnn", "FloatCNN"):
        from sst_hw.train import onnx_cnn

        return getattr(onnx_cnn, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class OnnxImportError(ValueError):
    """An ONNX file that cannot be imported: malformed, or not a supported MLP."""


@dataclass
class FloatLayer:
    """One float layer ``y = W x + b`` (then ReLU if ``relu``).

    ``weight`` float64 (out, in), ``bias`` float64 (out,); ``nodes`` names the
    ONNX nodes folded into it, e.g. ``["fc1 (Gemm)", "bn1 (BatchNormalization)"]``.
    """

    weight: np.ndarray
    bias: np.ndarray
    relu: bool
    nodes: list = field(default_factory=list)

    @property
    def in_features(self) -> int:
        return self.weight.shape[1]

    @property
    def out_features(self) -> int:
        return self.weight.shape[0]


@dataclass
class FloatMLP:
    """An imported float network: a chain of :class:`FloatLayer`.

    ``output`` is ``"logits"``, ``"softmax"`` or ``"log_softmax"`` (the last
    ONNX node); ``input_shape`` the ONNX input's shape (``None`` for a symbolic
    dimension); ``source`` where it came from; ``notes`` what the import left out
    or read loosely (a dropped label branch, a fixed-batch reshape), one sentence
    each.
    """

    layers: list
    input_name: str = "input"
    input_shape: tuple = ()
    output: str = "logits"
    source: str = ""
    notes: list = field(default_factory=list)

    @property
    def sizes(self) -> list:
        """``[in_features, hidden..., classes]``."""
        return [self.layers[0].in_features] + [layer.out_features for layer in self.layers]

    def describe(self) -> str:
        parts = []
        for layer in self.layers:
            ops = " + ".join(layer.nodes)
            parts.append(f"{layer.in_features}->{layer.out_features}"
                         f"{' relu' if layer.relu else ''} [{ops}]")
        return "; ".join(parts)

    def forward(self, x) -> np.ndarray:
        """The ONNX graph's output (float64 (batch, classes)) for ONNX inputs
        ``x`` (batch, in_features) or of the ONNX input's shape (flattened)."""
        a = np.asarray(x, np.float64)
        a = a.reshape(len(a), -1)
        for layer in self.layers:
            a = a @ layer.weight.T + layer.bias
            if layer.relu:
                a = np.maximum(a, 0.0)
        if self.output != "logits":
            z = a - a.max(1, keepdims=True)
            lse = np.log(np.exp(z).sum(1, keepdims=True))
            a = z - lse if self.output == "log_softmax" else np.exp(z - lse)
        return a

    def predict(self, x) -> np.ndarray:
        """Arg-max classes (batch,) int64, the lowest index on ties."""
        return np.argmax(self.forward(x), axis=1).astype(np.int64)


@dataclass(frozen=True)
class InputMap:
    """How the raw unsigned input bytes become the ONNX input:
    ``(raw * scale - mean) / std``. The default is ``raw / 255``."""

    scale: float = 1.0 / 255.0
    mean: float = 0.0
    std: float = 1.0

    def __post_init__(self):
        for name in ("scale", "mean", "std"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"input {name} must be a finite number, not {v!r}")
        if self.scale <= 0:
            raise ValueError(f"input scale must be > 0, not {self.scale}")
        if self.std <= 0:
            raise ValueError(f"input std must be > 0, not {self.std}")

    def __call__(self, raw) -> np.ndarray:
        """The ONNX input (float64) of raw features."""
        return (np.asarray(raw, np.float64) * self.scale - self.mean) / self.std


# -- reading ONNX -----------------------------------------------------------------------------


def _onnx():
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError as e:                                      # pragma: no cover
        raise OnnxImportError("the ONNX importer needs the `onnx` package "
                              "(pip install onnx)") from e
    return onnx, numpy_helper


def _external_files(model, fail) -> list:
    """(tensor name, location) of every tensor of ``model`` kept in an external file;
    ``fail(msg)`` is the error for a malformed external-data entry."""
    # _get_all_tensors (initializers and Constant attributes, subgraphs included) is what
    # onnx's own load_external_data_for_model walks.
    from onnx.external_data_helper import ExternalDataInfo, _get_all_tensors, uses_external_data

    out = []
    for t in _get_all_tensors(model):
        if uses_external_data(t):
            try:
                out.append((t.name, ExternalDataInfo(t).location))
            except (ValueError, TypeError, KeyError) as e:  # e.g. a negative offset
                raise fail(f"tensor {t.name!r}: bad external data entry: {e}") from None
    return out


def load_onnx(path) -> FloatMLP:
    """Read the ONNX file ``path`` into a :class:`FloatMLP`.

    Weights kept in external data files (``model.onnx.data``, as
    ``torch.onnx.export`` writes them) are read from the model file's own
    folder, whatever the working directory.

    Raises :class:`FileNotFoundError` when it does not exist and
    :class:`OnnxImportError` (naming the file) when it is not a valid ONNX
    model, its external data is missing, or it is not a supported MLP (see
    the module docstring; a convolutional network is refused with a pointer to
    :func:`sst_hw.train.onnx_cnn.load_onnx_cnn`).
    """
    return from_model(_read_model(path), str(path))


def _read_model(path):
    """The ``onnx.ModelProto`` of the file ``path``, its external data loaded from the
    file's own folder. Raises as :func:`load_onnx` does for a file that cannot be read."""
    onnx, _ = _onnx()
    from onnx.external_data_helper import load_external_data_for_model

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ONNX model {str(path)!r} does not exist")
    raw = path.read_bytes()
    try:
        # From bytes, so that nothing is resolved against the working directory; the
        # external data is loaded below from the model's own folder.
        model = onnx.load_model_from_string(raw)
    except Exception as e:
        raise OnnxImportError(f"{str(path)!r} is not an ONNX model: {type(e).__name__}: "
                              f"{e}") from None
    external = _external_files(model, lambda msg: OnnxImportError(f"{str(path)!r}: {msg}"))
    if external:
        folder = path.absolute().parent
        for name, location in external:
            where = folder / location
            if not where.is_file():
                raise OnnxImportError(
                    f"{str(path)!r}: tensor {name!r} is stored in the external data file "
                    f"{location!r}, which is not in the model's folder ({str(where)!r} "
                    f"{'is not a regular file' if where.exists() else 'does not exist'}); "
                    f"keep it next to the model file")
        try:
            load_external_data_for_model(model, str(folder))
        except Exception as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise OnnxImportError(f"{str(path)!r}: cannot read its external data "
                                  f"({', '.join(sorted({loc for _, loc in external}))}): "
                                  f"{first}") from None
    return model


def from_model(model, source: str = "model") -> FloatMLP:
    """A :class:`FloatMLP` from an in-memory ``onnx.ModelProto`` (external data, if
    any, already loaded: use :func:`load_onnx` for a file)."""
    return _Walker(*_checked_model(model, source)).run()


def _checked_model(model, source: str, loader: str = "load_onnx"):
    """Check an in-memory ``onnx.ModelProto``: ``(graph, numpy_helper, fail, source,
    opsets)``, the arguments of a graph walker (:class:`_Walker`), with ``fail(msg)``
    the :class:`OnnxImportError` naming ``source``; ``loader`` is the file loader
    that messages recommend."""
    onnx, numpy_helper = _onnx()
    if not isinstance(model, onnx.ModelProto):
        raise TypeError(f"model must be an onnx.ModelProto, not {type(model).__name__}")

    def fail(msg):
        return OnnxImportError(f"{source}: {msg}")

    if not model.HasField("graph") or not len(model.graph.node):
        raise fail("not an ONNX model: no graph or no nodes")
    external = _external_files(model, fail)
    if external:
        name, location = external[0]
        raise fail(f"tensor {name!r} is stored in the external data file {location!r}, not "
                   f"loaded; import the file with {loader}(path), which reads it from the "
                   f"model's folder")
    try:
        onnx.checker.check_model(model)
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise fail(f"invalid ONNX model: {first}") from None
    opsets = {o.domain or "": o.version for o in model.opset_import}
    return model.graph, numpy_helper, fail, source, opsets


def _attrs(node) -> dict:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _node_name(node, i) -> str:
    return node.name or f"#{i} {node.op_type}"


class _Walker:
    """Follows the chain of nodes from the input, collecting affine maps and ReLUs.

    The chain itself (:meth:`_chain_nodes`: constants, constant folding, the label
    branch, the single-chain checks), the graph input (:meth:`_input`), the graph
    outputs (:meth:`_check_outputs`) and the dense operators are shared with the CNN
    importer (:mod:`sst_hw.train.onnx_cnn`), which subclasses this one.
    """

    #: What the graph must be, in messages.
    network = "an MLP"
    #: Operators allowed on the chain, in the order messages list them.
    supported = SUPPORTED_OPS
    #: Operators on the chain that may have more than one output.
    multi_output = ("BatchNormalization",)

    def __init__(self, graph, numpy_helper, fail, source, opsets=None):
        self.graph = graph
        self.nh = numpy_helper
        self.fail = fail
        self.source = source
        self.opsets = opsets or {"": 17}
        self.notes_out = []
        self.consts = {t.name: numpy_helper.to_array(t).astype(np.float64)
                       if t.data_type in _FLOAT_TYPES else numpy_helper.to_array(t)
                       for t in graph.initializer}
        self.n_linear = 0

    # The pending affine map of the current layer: W (None = identity) and b.
    def _affine(self, a, c, label, short):
        if self.features is not None and a is not None and a.shape[1] != self.features:
            raise self.fail(f"node {label}: weights expect {a.shape[1]} inputs but the "
                            f"activation has {self.features} features")
        if a is None:                                          # a bias only
            if self.W is None:
                self.b = self.b + c if self.b is not None else c.copy()
            else:
                self.b = self.b + c
        else:
            if self.W is None:
                self.W = a
                self.b = c if self.b is None else a @ self.b + c
            else:
                self.W = a @ self.W
                self.b = a @ self.b + c
            self.features = a.shape[0]
            self.linear = True
            self.n_linear += 1
        self.nodes.append(short)

    def _diag(self, g, h, short):
        if self.W is None:
            f = len(g)
            self.W = np.diag(g)
            self.b = h if self.b is None else g * self.b + h
            self.features = f
        else:
            self.W = g[:, None] * self.W
            self.b = g * self.b + h
        self.nodes.append(short)

    def _start_layer(self):
        """No pending affine map: the next layer starts here."""
        self.W, self.b, self.linear, self.nodes = None, None, False, []

    def _const(self, name, node_label, what):
        if name not in self.consts:
            raise self.fail(f"node {node_label}: {what} {name!r} must be a constant "
                            f"(initializer or Constant node)")
        v = self.consts[name]
        if not np.issubdtype(v.dtype, np.floating) and what != "shape":
            raise self.fail(f"node {node_label}: {what} {name!r} must be a float tensor, "
                            f"not {v.dtype}")
        if v.dtype != object and np.issubdtype(v.dtype, np.floating) \
                and not np.all(np.isfinite(v)):
            raise self.fail(f"node {node_label}: {what} {name!r} holds NaN or inf")
        if v.size == 0 and what != "shape":
            raise self.fail(f"node {node_label}: {what} {name!r} is empty (shape "
                            f"{tuple(v.shape)})")
        return v

    def _vector(self, v, n, node_label, what):
        """A constant broadcast along the features: scalar, (n,) or (1, n)."""
        if v.size == 1:
            return np.full(n, float(v.reshape(-1)[0]))
        if v.shape in ((n,), (1, n)):
            return v.reshape(n).astype(np.float64)
        raise self.fail(f"node {node_label}: {what} of shape {tuple(v.shape)} does not "
                        f"broadcast over {n} features (need a scalar, ({n},) or (1, {n}))")

    def _input(self):
        """``(value_info, dims)`` of the graph's one float input, ``dims`` its shape with
        ``None`` for a symbolic dimension (``()`` when the shape is not given)."""
        inputs = [i for i in self.graph.input if i.name not in self.consts]
        if len(inputs) != 1:
            names = ", ".join(repr(i.name) for i in inputs) or "none"
            raise self.fail(f"{self.network} needs exactly one (non-constant) graph input, "
                            f"not {len(inputs)} ({names})")
        inp = inputs[0]
        tt = inp.type.tensor_type
        if not inp.type.HasField("tensor_type") or tt.elem_type not in _FLOAT_TYPES:
            raise self.fail(f"the input {inp.name!r} must be a float tensor (float, double, "
                            f"float16), not element type {tt.elem_type}")
        dims = tuple(d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim)
        self.has_shape = tt.HasField("shape")
        return inp, dims

    def _unsupported_hint(self) -> str:
        """Appended to the message refusing an unsupported operator."""
        conv = next((n for n in self.graph.node if n.op_type == "Conv"
                     and n.domain in ("", "ai.onnx")), None)
        if conv is None:
            return ""
        return (f"; this graph is a convolutional network (node "
                f"{conv.name or 'Conv'!r} is a Conv), which the MLP importer does not "
                f"read: the CNN import path is sst_hw.train.onnx_cnn.load_onnx_cnn")

    def _chain_nodes(self):
        """The nodes of the chain from the input, in graph order, as ``(node, op, attrs,
        label, short)`` (``label`` is ``'name' (Op)`` for messages, ``short``
        ``name (Op)`` for :attr:`FloatLayer.nodes`), each in :attr:`supported` and
        reading the chain's current value :attr:`head` plus constants.

        ``Constant`` nodes, nodes computed from constants alone and the label branch
        are handled here and not yielded; nothing but ``Identity`` or ``Cast`` may follow
        a Softmax/LogSoftmax. Once the caller has handled a node, its output becomes
        :attr:`head`, recorded in :attr:`chain` with the number of linear layers
        (:attr:`n_linear`) before it.
        """
        self.chain = {self.head: 0}
        self.chain_ops = []                 # (label, op) of the node giving each later tensor
        # The label branch: nodes (ArgMax, ZipMap, ...) that turn the scores into labels,
        # and everything computed from them. Dropped: the integer network returns the
        # arg-max class index itself.
        self.label_tensors, self.label_nodes, self.label_reads = set(), [], []
        self.class_table = None
        final_seen = None
        for i, node in enumerate(self.graph.node):
            op = node.op_type
            label = f"{_node_name(node, i)!r} ({op})"
            default_domain = node.domain in ("", "ai.onnx")
            if op == "Constant" and default_domain:
                self._constant_node(node, label)
                continue
            live = [x for x in node.input if x and x not in self.consts]
            if any(x in self.label_tensors for x in live) or (
                    op in LABEL_ROOT_OPS and live and all(x in self.chain for x in live)):
                self._label_node(node, i, live)
                continue
            if not live and node.input and default_domain and op in _FOLDABLE_OPS:
                self._fold(node, label)           # e.g. Identity of an initializer
                continue
            if not default_domain or op not in self.supported:
                name = op if default_domain else f"{node.domain}.{op}"
                raise self.fail(f"unsupported ONNX operator {name!r} (node "
                                f"{_node_name(node, i)!r}); supported: "
                                f"{', '.join(self.supported)}, and a label branch of "
                                f"{', '.join(LABEL_OPS)} after the scores"
                                f"{self._unsupported_hint()}")
            if final_seen is not None and op not in _NO_OP_OPS:
                raise self.fail(f"node {label} follows {final_seen}, which must be the last "
                                f"node (only Identity or Cast may follow it)")
            if live != [self.head]:
                what = ("reads no activation" if not live else
                        f"reads {', '.join(map(repr, live))}, not only the chain's "
                        f"current value {self.head!r}")
                raise self.fail(f"node {label} {what}: only a single chain of nodes "
                                f"({self.network}) is supported")
            if op not in self.multi_output and len(node.output) != 1:
                raise self.fail(f"node {label} must have one output")
            yield node, op, _attrs(node), label, f"{_node_name(node, i)} ({op})"
            if op in ("Softmax", "LogSoftmax"):
                final_seen = label
            self.head = node.output[0]
            self.chain[self.head] = self.n_linear
            self.chain_ops.append((label, op))

    def run(self) -> FloatMLP:
        inp, dims = self._input()
        if self.has_shape and len(dims) < 2:
            raise self.fail(f"the input {inp.name!r} must have a batch dimension and "
                            f"features, not shape {dims}")
        feat_dims = dims[1:]
        self.batch = dims[0] if dims else None
        self.rank = len(dims) if self.has_shape else 2
        self.features = (int(np.prod(feat_dims)) if feat_dims and None not in feat_dims
                         else None)
        self.head = inp.name
        self._start_layer()
        layers = []
        output = "logits"
        for node, op, a, label, short in self._chain_nodes():
            if op == "Identity":
                pass
            elif op == "Cast":
                self._cast(a, label)
            elif op in ("Flatten", "Reshape"):
                self._flatten(node, op, a, label)
            elif self.rank != 2:
                raise self.fail(f"node {label} needs a 2-D activation (batch, features), not "
                                f"rank {self.rank}: flatten the input first (Flatten or "
                                f"Reshape)")
            elif op in ("Softmax", "LogSoftmax"):
                output = self._final(op, a, label)
            elif not self._dense_node(node, op, a, label, short):     # Relu
                if not self.linear:
                    raise self.fail(f"node {label}: a Relu must follow a Gemm or MatMul "
                                    f"(no linear layer since the input or the last Relu)")
                layers.append(FloatLayer(self.W, self.b, True, self.nodes + [short]))
                self._start_layer()
        if self.W is not None or self.b is not None:
            if not self.linear:
                raise self.fail("the last layer has no Gemm or MatMul after the last Relu")
            layers.append(FloatLayer(self.W, self.b, False, self.nodes))
        if not layers:
            raise self.fail("no Gemm or MatMul layer found")
        self._check_outputs(self.n_linear, layers[-1].out_features)
        for layer in layers:
            layer.weight = np.ascontiguousarray(layer.weight, np.float64)
            layer.bias = np.asarray(layer.bias, np.float64).reshape(-1)
        self._check_finite(layers, "float64")
        return FloatMLP(layers, inp.name, dims, output, self.source, self.notes_out)

    def _check_finite(self, layers, dtype: str):
        """Refuse layers whose folded weights or bias overflowed to inf or NaN (finite
        constants can still overflow when a batch norm or ``alpha`` is folded in)."""
        for layer in layers:
            for what in ("weight", "bias"):
                v = getattr(layer, what, None)
                if v is not None and not np.all(np.isfinite(v)):
                    raise self.fail(f"layer [{' + '.join(layer.nodes)}]: its {what} "
                                    f"overflows {dtype} (inf or NaN) once the nodes are "
                                    f"folded into one layer")

    def _dense_node(self, node, op, a, label, short) -> bool:
        """Fold an affine node (Gemm, MatMul, Add, BatchNormalization) on the 2-D
        activation into the pending map; False for any other operator."""
        if op == "Gemm":
            self._gemm(node, a, label, short)
        elif op == "MatMul":
            if node.input[0] != self.head:
                raise self.fail(f"node {label}: the activation must be the first "
                                f"input (x @ W)")
            w = self._const(node.input[1], label, "weight matrix")
            if w.ndim != 2:
                raise self.fail(f"node {label}: weight matrix must be 2-D (in, out), "
                                f"not shape {tuple(w.shape)}")
            self._affine(w.T.copy(), np.zeros(w.shape[1]), label, short)
        elif op == "Add":
            c = self._const(next(x for x in node.input if x != self.head), label, "addend")
            if self.features is None:
                raise self.fail(f"node {label}: the number of features is unknown "
                                f"before the first Gemm/MatMul")
            self._affine(None, self._vector(c, self.features, label, "addend"), label,
                         short)
        elif op == "BatchNormalization":
            self._diag(*self._bn_params(node, a, label, self.features), short)
        else:
            return False
        return True

    def _cast(self, a, label):
        """A Cast on the network's path: only to a float type (then a no-op)."""
        to = a.get("to")
        if to not in _FLOAT_TYPES:
            from onnx import TensorProto
            name = (TensorProto.DataType.Name(to) if to in TensorProto.DataType.values()
                    else to)
            raise self.fail(f"node {label}: casts the activation to {name}; on the "
                            f"network's path only casts to a float type (float, "
                            f"double, float16, bfloat16) are supported")

    def _final(self, op, a, label) -> str:
        """A final Softmax/LogSoftmax: ``"softmax"`` or ``"log_softmax"``."""
        axis = a.get("axis", 1)
        if axis not in (1, -1):
            raise self.fail(f"node {label}: {op} over axis {axis}; only the class "
                            f"axis (1 or -1) of a 2-D output is supported")
        return "softmax" if op == "Softmax" else "log_softmax"

    def _check_outputs(self, n_linear, classes):
        """Sort the graph outputs into scores, labels and the rest; refuse a graph none of
        whose outputs comes from the last layer; note what is dropped."""
        scores = {t for t, n in self.chain.items() if n == n_linear}
        for node_label, t in self.label_reads:
            if t not in scores:
                raise self.fail(f"node {node_label} reads {t!r}, which is not the network's "
                                f"output (a Gemm/MatMul follows it): a label branch must "
                                f"start from the last layer's logits or probabilities")
        found, labels, ignored = [], [], []
        for o in self.graph.output:
            if o.name in self.label_tensors:
                labels.append(o.name)
            elif o.name in scores:
                found.append(o.name)
            elif o.name in self.chain or o.name in self.consts:
                ignored.append(o.name)
            else:
                raise self.fail(f"the graph output {o.name!r} is not computed by the "
                                f"network's chain of nodes or its label branch")
        if not found and not labels:
            names = ", ".join(map(repr, ignored)) or "none"
            raise self.fail(f"no graph output holds the classifier's logits, probabilities "
                            f"or labels (outputs: {names}; each is a hidden activation or a "
                            f"constant)")
        # The network runs to the end of the chain: nodes after the last tensor the outputs
        # (or the label branch) read must not change the scores, or the import computes
        # something the graph does not return.
        order = list(self.chain)
        used = set(found) | {t for _, t in self.label_reads}
        last = max((order.index(t) for t in used), default=len(order) - 1)
        for label, op in self.chain_ops[last:]:
            if op not in _AFTER_OUTPUT_OPS:
                raise self.fail(f"node {label} follows the classifier's output "
                                f"{order[last]!r} and changes the scores, but no graph output "
                                f"reads it; only {', '.join(_AFTER_OUTPUT_OPS)} may follow "
                                f"the output")
        if self.label_nodes:
            outs = ", ".join(map(repr, labels)) if labels else "no graph output"
            self.notes_out.append(
                f"label branch dropped ({', '.join(self.label_nodes)}; {outs}): the integer "
                f"network returns the arg-max class index itself")
        table = self.class_table
        if table is not None and (table.shape != (classes,) or not np.issubdtype(
                table.dtype, np.number) or not np.array_equal(table, np.arange(classes))):
            shown = ", ".join(map(str, table.reshape(-1)[:12].tolist()))
            self.notes_out.append(f"the label branch maps class index i to label "
                                  f"classes[i] = [{shown}{', ...' if table.size > 12 else ''}]; "
                                  f"the integer network returns the index i")
        for name in ignored:
            self.notes_out.append(f"graph output {name!r} ignored (a hidden activation or a "
                                  f"constant, not the classifier's output)")

    def _label_node(self, node, i, live):
        """A node of the label branch: an ArgMax or ZipMap on the scores, or any node that
        reads a label tensor."""
        op = node.op_type
        label = f"{_node_name(node, i)!r} ({op})"
        if node.domain not in ("", "ai.onnx", "ai.onnx.ml"):
            op = f"{node.domain}.{op}"
        if op not in LABEL_OPS:
            first = self.label_nodes[0] if self.label_nodes else "the scores"
            raise self.fail(f"unsupported ONNX operator {op!r} (node {_node_name(node, i)!r}) "
                            f"in the label branch after {first}; a label branch may hold "
                            f"{', '.join(LABEL_OPS)}")
        for x in live:
            if x in self.chain:
                self.label_reads.append((label, x))
            elif x not in self.label_tensors:
                raise self.fail(f"node {label} reads {x!r}, which is neither the network's "
                                f"output nor the label branch")
        if op in ("ArrayFeatureExtractor", "Gather") and node.input[0] in self.consts:
            self.class_table = np.asarray(self.consts[node.input[0]])
        self.label_tensors.update(x for x in node.output if x)
        name = _node_name(node, i)
        self.label_nodes.append(op if name == op else f"{name} ({op})")

    def _fold(self, node, label):
        """Evaluate a node whose inputs are all constants (with onnx's reference
        implementation, at the model's opset): its outputs become constants."""
        from onnx import helper
        from onnx.reference import ReferenceEvaluator

        ins = [x for x in node.input if x]
        try:
            feeds = {x: np.asarray(self.consts[x]) for x in ins}
            vi = [helper.make_tensor_value_info(x, helper.np_dtype_to_tensor_dtype(v.dtype),
                                                list(v.shape)) for x, v in feeds.items()]
            outs = [x for x in node.output if x]
            graph = helper.make_graph([node], "fold", vi,
                                      [helper.make_empty_tensor_value_info(x) for x in outs])
            ops = [helper.make_opsetid(d, v) for d, v in self.opsets.items()]
            values = ReferenceEvaluator(helper.make_model(graph, opset_imports=ops)).run(
                None, feeds)
        except Exception as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise self.fail(f"node {label}: cannot evaluate it on its constant inputs: "
                            f"{first}") from None
        for x, v in zip(outs, values):
            v = np.asarray(v)
            self.consts[x] = v.astype(np.float64) if np.issubdtype(v.dtype, np.floating) else v

    def _constant_node(self, node, label):
        a = _attrs(node)
        if "value" in a:
            t = a["value"]
            v = self.nh.to_array(t)
            if t.data_type in _FLOAT_TYPES:
                v = v.astype(np.float64)
        elif a.keys() & {"value_float", "value_floats"}:
            v = np.asarray(a.get("value_float", a.get("value_floats")), np.float64)
        elif a.keys() & {"value_int", "value_ints"}:
            v = np.asarray(a.get("value_int", a.get("value_ints")), np.int64)
        else:
            raise self.fail(f"node {label}: only Constant nodes with a tensor 'value' (or "
                            f"value_float(s), value_int(s)) are supported, not "
                            f"{', '.join(a) or 'no attribute'}")
        self.consts[node.output[0]] = v

    def _flatten(self, node, op, a, label):
        """Flatten/Reshape of the activation to (batch, features): at the input, or a no-op
        on a 2-D activation."""
        if self.rank == 2 and op == "Flatten" and a.get("axis", 1) == 1:
            return
        if op == "Flatten":
            axis = a.get("axis", 1)
            if axis != 1:
                raise self.fail(f"node {label}: Flatten with axis {axis}; only axis 1 "
                                f"(batch, features) is supported")
        else:
            shape = self._const(node.input[1], label, "shape")
            shape = [int(v) for v in np.asarray(shape).reshape(-1)]
            # The batch entry: 0 copies the batch (unless allowzero), -1 infers it, and a
            # number is the batch an exporter saw: torch.onnx.export with a fixed batch-1
            # example writes [1, F]. Each image is flattened the same way, whatever the batch.
            literal_zero = bool(a.get("allowzero", 0)) and 0 in shape
            batch_ok = len(shape) == 2 and (
                shape[0] in (0, -1) or shape[0] == 1 or
                (self.batch is not None and shape[0] == self.batch))
            ok = (batch_ok and not literal_zero
                  and (shape[1] == -1 or shape[1] == self.features)
                  and not (shape[0] == -1 and shape[1] == -1))
            if not ok:
                raise self.fail(f"node {label}: Reshape to {shape}; only flattening to "
                                f"(batch, features), e.g. [-1, {self.features or 'F'}], "
                                f"[0, -1] or, for a batch-1 export, [1, "
                                f"{self.features or 'F'}], is supported")
            if shape[0] > 0:
                self.notes_out.append(
                    f"node {label} reshapes to {shape}, a fixed batch of {shape[0]} (the "
                    f"model was exported with a batch-{shape[0]} example input); imported as "
                    f"(batch, {self.features or shape[1]}): each sample is flattened alike")
        if self.features is None:
            raise self.fail(f"node {label}: the input's feature dimensions must be known "
                            f"numbers to flatten them")
        self.rank = 2

    def _gemm(self, node, a, label, short):
        if a.get("transA", 0):
            raise self.fail(f"node {label}: transA=1 is not supported (the activation must "
                            f"be (batch, features))")
        if node.input[0] != self.head:
            raise self.fail(f"node {label}: the activation must be input A")
        b = self._const(node.input[1], label, "weight B")
        if b.ndim != 2:
            raise self.fail(f"node {label}: weight B must be 2-D, not shape {tuple(b.shape)}")
        w = (b if a.get("transB", 0) else b.T) * float(a.get("alpha", 1.0))
        out = w.shape[0]
        if len(node.input) > 2 and node.input[2]:
            c = self._const(node.input[2], label, "bias C")
            c = self._vector(c, out, label, "bias C") * float(a.get("beta", 1.0))
        else:
            c = np.zeros(out)
        self._affine(np.ascontiguousarray(w), c, label, short)

    def _bn_params(self, node, a, label, n):
        """``(g, h)`` of an inference-mode BatchNormalization over ``n`` features or
        channels (``None``: unknown, refused): ``y = g * x + h`` per feature, with the
        node's epsilon."""
        if a.get("training_mode", 0):
            raise self.fail(f"node {label}: training_mode=1 is not supported (export the "
                            f"model in eval mode)")
        if node.input[0] != self.head:
            raise self.fail(f"node {label}: the activation must be input X")
        if len(node.input) != 5:
            raise self.fail(f"node {label}: needs 5 inputs (X, scale, B, mean, var), not "
                            f"{len(node.input)}")
        scale, bias, mean, var = (self._const(x, label, what) for x, what in
                                  zip(node.input[1:], ("scale", "B", "mean", "var")))
        if n is None:
            raise self.fail(f"node {label}: the number of features is unknown")
        scale, bias, mean, var = (self._vector(v, n, label, what) for v, what in
                                  zip((scale, bias, mean, var), ("scale", "B", "mean", "var")))
        if np.any(var < 0):
            raise self.fail(f"node {label}: negative variance {float(var.min())}")
        eps = float(a.get("epsilon", 1e-5))
        g = scale / np.sqrt(var + eps)
        return g, bias - g * mean


# -- into the trainer ------------------------------------------------------------------------


def _folded_layers(net: FloatMLP, input_map: InputMap) -> list:
    """(W, b) float64 per layer, the input map folded into the first: the
    first layer then reads ``raw / 255``."""
    out = [(layer.weight.copy(), layer.bias.copy()) for layer in net.layers]
    w, b = out[0]
    k = 255.0 * input_map.scale / input_map.std       # onnx_in = x * k + m0, x = raw / 255
    m0 = -input_map.mean / input_map.std
    out[0] = (w * k, b + m0 * w.sum(1))
    return out


def to_mlp(net: FloatMLP, codebook, *, input_map: InputMap | None = None):
    """The trainer's :class:`~sst_hw.train.mlp.MLP` (``center=False``) holding
    ``net``'s weights, its batch norm still to be fitted (:func:`fit_batchnorm`).

    Each layer's latent weights are the imported ones rescaled to the
    trainer's initial scale (``0.5 / sqrt(fan_in)`` root mean square), which
    normalization ignores but which sets Adam's relative step in fine-tuning.
    Returns ``(mlp, folded)`` with ``folded`` the (W, b) per layer in raw / 255
    input units."""
    from sst_hw.train.mlp import MLP

    input_map = input_map or InputMap()
    folded = _folded_layers(net, input_map)
    model = MLP(net.sizes, codebook, center=False)
    set_imported_weights(model, folded)
    return model, folded


def set_imported_weights(model, folded) -> None:
    """Set every layer's latent weights ``model.V[l]`` to the imported ``W`` of
    ``folded[l] = (W, b)`` rescaled to the trainer's initial root mean square
    (:func:`~sst_hw.train.mlp.init_std` of its fan-in; an all-zero ``W`` as is):
    normalization ignores the scale, but it sets Adam's relative step in
    fine-tuning. For :func:`to_mlp` and :func:`~sst_hw.train.cnn_import.to_cnn`."""
    from sst_hw.train.mlp import init_std

    for l, (w, _) in enumerate(folded):
        rms = float(np.sqrt(np.mean(w * w)))
        model.V[l] = (w * (init_std(w.shape[1]) / rms if rms > 0 else 1.0)).astype(np.float32)


def scale_of(w: np.ndarray, wn: np.ndarray, axis) -> np.ndarray:
    """The factor ``s`` (per row, or one) with ``w = s * wn``: least squares."""
    return (w * wn).sum(axis=axis) / np.maximum((wn * wn).sum(axis=axis), 1e-300)


def fit_batchnorm(model, folded, x_raw, batch: int = 8192):
    """Set ``model``'s batch norm (float phase) so that every hidden layer
    computes exactly ``W x + b`` of ``folded``: its statistics measured on the
    raw inputs ``x_raw``, ``gamma`` and ``beta`` solved from them; and the
    last layer's temperature so that its training logits are ``W x``."""
    from sst_hw.train.mlp import to_float

    x = np.asarray(x_raw)
    acts = [to_float(x[i:i + batch]).astype(np.float64) for i in range(0, len(x), batch)]
    for l in range(model.layers):
        w, b = folded[l]
        wn = model._normalized(l)[0].astype(np.float64)
        if model.is_last(l):
            set_temperature(model, w, wn)
            break
        zs = [a @ wn.T for a in acts]                  # the normalized pre-activations
        n = sum(len(z) for z in zs)
        mu = sum(z.sum(0) for z in zs) / n
        var = sum(((z - mu) ** 2).sum(0) for z in zs) / n
        set_batchnorm(model, l, w, b, wn, mu, var)
        acts = [np.maximum(a @ w.T + b, 0.0) for a in acts]


def set_batchnorm(model, l: int, w, b, wn, mu, var) -> None:
    """Set hidden layer ``l``'s batch norm so that, on the float phase, the layer
    computes ``w x + b`` from its normalized weights ``wn`` (``w = s_r wn_r`` row
    by row, :func:`scale_of`): ``mu`` and ``var`` are the mean and variance of
    ``wn x`` over the calibration inputs, which become the running statistics,
    and ``gamma = s sqrt(var + eps)``, ``beta = b + s mu``. For
    :func:`fit_batchnorm` and :func:`~sst_hw.train.cnn_import.fit_batchnorm_cnn`."""
    from sst_hw.train.mlp import BN_EPS

    s = scale_of(w, wn, 1)
    model.run_mean[l] = mu.astype(np.float32)
    model.run_var[l] = var.astype(np.float32)
    model.gamma[l] = (s * np.sqrt(var + BN_EPS)).astype(np.float32)
    model.beta[l] = (b + s * mu).astype(np.float32)


def set_temperature(model, w, wn) -> None:
    """Set the last layer's temperature so that its training logits are ``w x``
    (``w = tau wn`` in the least-squares sense, ``tau`` at least 1e-30 so that its
    log exists); the last layer has no bias to fit."""
    model.log_tau = np.array([math.log(max(float(scale_of(w, wn, None)), 1e-30))], np.float32)


def default_calibration_dataset(features: int) -> str:
    """The built-in data set whose feature count matches: ``digits`` (64),
    ``fashion-mnist`` (784); otherwise ValueError asking for one."""
    known = {64: "digits", 784: "fashion-mnist"}
    if features not in known:
        raise ValueError(f"the model reads {features} features, which matches no built-in data "
                         f"set (digits: 64, fashion-mnist: 784); give a calibration data set "
                         f"(an IDX folder) with --calib or --finetune")
    return known[features]


#: The integer model may lose this many points of test accuracy against the ONNX model
#: before :func:`accuracy_warnings` speaks up.
ACCURACY_WARN_POINTS = 2.0


def accuracy_warnings(acc: dict, finetuned: bool) -> list:
    """Warnings (list of str) when the integer accuracy ``acc["integer"]`` falls more
    than :data:`ACCURACY_WARN_POINTS` percentage points below ``acc["onnx"]`` (both
    fractions of the test set). Projection alone often loses 10-30 points on a small
    network, and nothing else would say so."""
    drop = 100 * (acc["onnx"] - acc["integer"])
    if drop <= ACCURACY_WARN_POINTS:
        return []
    fix = ("fine-tune longer (--epochs) or use a larger codebook (--n, --k)" if finetuned
           else "fine-tune it with --finetune DATASET (gradual pruning and straight-through "
                "SST training), or use a larger codebook (--n, --k)")
    return [f"the integer model's test accuracy {100 * acc['integer']:.2f} % is "
            f"{drop:.2f} points below the ONNX model's {100 * acc['onnx']:.2f} % "
            f"(more than {ACCURACY_WARN_POINTS:g}): {fix}"]


def import_and_export(net: FloatMLP, dataset, codebook, *, finetune: bool = False,
                      schedule=None, input_map: InputMap | None = None, act_width: int = 8,
                      seed: int = 0, calib_samples: int = 10000, progress=None) -> dict:
    """Project ``net`` onto ``codebook``, optionally fine-tune it on ``dataset``,
    export it to the integer contract and evaluate it on ``dataset``'s test split.

    Parameters
    ----------
    net : FloatMLP
        The imported network; its input size must be ``dataset.features`` and
        its output size ``dataset.classes``.
    dataset : Dataset
        Calibration data (training split: batch-norm statistics, activation
        scales) and, with ``finetune``, training data.
    codebook : Codebook
        The SST code of every layer.
    finetune : bool
        Run the trainer's ``prune`` and ``sst`` phases (``schedule``; its float
        epochs are ignored) before export.
    input_map : InputMap
        What the ONNX model expects of the raw bytes (default ``raw / 255``).

    Returns
    -------
    dict like :func:`~sst_hw.train.export.train_and_export`: ``network``,
    ``model`` (the MLP), ``export``, ``compression``, ``seconds``, ``notes``
    (list of str: what the import dropped), ``warnings`` (list of str, see
    :func:`accuracy_warnings`) and ``accuracy`` (test-set fractions): ``onnx`` (the
    imported graph as is), ``float`` (the network as imported into the trainer,
    last bias dropped), ``sst`` (projected, after fine-tuning if any, float
    arithmetic), ``integer`` (golden model) and ``agreement``; with
    ``finetune`` also ``train`` (the TrainResult) and ``prune``.
    """
    import time

    from sst_hw.format.compression import compression
    from sst_hw.train.export import calibration_subset, evaluate, export_network
    from sst_hw.train.mlp import Progress, accuracy, train

    t0 = time.monotonic()
    progress = progress or Progress(False)
    input_map = input_map or InputMap()
    sizes = net.sizes
    if sizes[0] != dataset.features:
        raise ValueError(f"the model reads {sizes[0]} features but data set {dataset.name} "
                         f"has {dataset.features}")
    if sizes[-1] != dataset.classes:
        raise ValueError(f"the model has {sizes[-1]} outputs but data set {dataset.name} has "
                         f"{dataset.classes} classes")
    notes = import_notes(net)
    x_cal = calibration_subset(dataset.x_train, calib_samples, np.random.default_rng(seed))
    acc = {"onnx": accuracy(net.predict(input_map(dataset.x_test)), dataset.y_test)}
    model, folded = to_mlp(net, codebook, input_map=input_map)
    fit_batchnorm(model, folded, x_cal)
    model.phase = "float"
    acc["float"] = accuracy(model.predict(dataset.x_test), dataset.y_test)
    progress.line(f"imported {'-'.join(map(str, sizes))}: test accuracy onnx "
                  f"{100 * acc['onnx']:.2f} %, as imported (no last bias) "
                  f"{100 * acc['float']:.2f} %")
    trained = finetune_or_project(model, dataset, codebook, x_cal, acc, finetune=finetune,
                                  schedule=schedule, trainer=train, arch=sizes, seed=seed,
                                  progress=progress)
    net_int, info = export_network(model, dataset.x_train, act_width=act_width,
                                   calib_samples=calib_samples, seed=seed)
    acc.update(evaluate(model, net_int, dataset))
    warnings = accuracy_warnings(acc, finetune)
    comp = compression(net_int)
    net_int.meta.update({
        "source": {"onnx": net.source, "layers": [layer.nodes for layer in net.layers],
                   "input_map": {"scale": input_map.scale, "mean": input_map.mean,
                                 "std": input_map.std}},
        "dataset": dataset.name, "sizes": sizes,
        "codebook": {"n": codebook.n, "k": codebook.k, "variant": codebook.variant,
                     "assignment": codebook.assignment},
        "finetune": bool(finetune), "seed": seed, "notes": notes, "warnings": warnings,
        "test_accuracy": acc, "test_samples": int(len(dataset.y_test)),
        "compression": {k: comp["total"][k] for k in ("total_bits", "fp32_bits", "ratio",
                                                        "weight_ratio")},
    })
    if trained is not None:
        sched = trained.schedule
        net_int.meta.update({"epochs": [sched.epochs(p) for p in ("float", "prune", "sst")],
                             "batch_size": sched.batch_size})
    return import_result(trained, net_int, model, info, acc, comp, notes, warnings, t0)


def import_notes(net) -> list:
    """``net.notes`` (of a :class:`FloatMLP` or a
    :class:`~sst_hw.train.onnx_cnn.FloatCNN`) and what the integer network
    drops after the last layer: its bias, a ReLU after it, a final softmax."""
    notes = list(net.notes)
    last_bias = net.layers[-1].bias
    if np.any(last_bias):
        notes.append(f"last-layer bias dropped (max |b| = {float(np.abs(last_bias).max()):.4g}): "
                     f"the integer network classifies by the arg-max of raw accumulators")
    if net.layers[-1].relu:
        notes.append("ReLU after the last layer dropped (the integer network returns logits)")
    if net.output != "logits":
        notes.append(f"final {net.output} dropped (monotone: the arg-max is unchanged)")
    return notes


def finetune_or_project(model, dataset, codebook, x_cal, acc: dict, *, finetune: bool,
                        schedule, trainer, arch, seed: int, progress):
    """Bring an imported ``model`` into its SST form.

    With ``finetune``, run ``trainer(dataset, arch, codebook, ...)`` on it
    (:func:`~sst_hw.train.mlp.train` with the layer sizes, or
    :func:`~sst_hw.train.cnn.train_cnn` with the specs) with ``schedule``
    (default the data set's) less its float epochs, record ``acc["prune"]``
    and return the TrainResult. Otherwise project it and re-measure its batch
    norm on ``x_cal`` (see the module docstring) and return None.
    """
    import dataclasses

    from sst_hw.train.mlp import Schedule

    if not finetune:
        model.phase = "sst"
        model.keep = codebook.k
        model.recalibrate(x_cal)
        return None
    schedule = dataclasses.replace(schedule or Schedule.for_dataset(dataset), epochs_float=0)
    res = trainer(dataset, arch, codebook, schedule=schedule, seed=seed, progress=progress,
                  model=model)
    acc["prune"] = res.accuracy["prune"]
    return res


def import_result(trained, network, model, info, acc, comp, notes, warnings, t0) -> dict:
    """The result dict of an import (keys as :func:`import_and_export` documents),
    ``trained`` the TrainResult of fine-tuning or None, ``t0`` the start
    (``time.monotonic``)."""
    import time

    result = {} if trained is None else {"train": trained}
    result.update({"network": network, "model": model, "export": info, "accuracy": acc,
                   "compression": comp, "notes": notes, "warnings": warnings,
                   "seconds": time.monotonic() - t0})
    return result
