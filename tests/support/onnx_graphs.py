"""ONNX graphs built by hand with ``onnx.helper``, for the importer tests
(``test_onnx_import.py``, ``test_onnx_cnn.py``)."""

from __future__ import annotations

import zlib

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def rng_for(request) -> np.random.Generator:
    """A random source seeded from the running test's name (``request`` is pytest's),
    so that what a test draws does not depend on the tests that ran before it in the
    same worker."""
    return np.random.default_rng(zlib.crc32(request.node.name.encode()))


class GraphBuilder:
    """A tiny graph builder over one float input ``x`` of ``shape``: constants become
    initializers (``c1``, ``c2``...), nodes are chained by hand (their outputs
    ``t1``, ``t2``...), and the last node's output becomes the graph output ``y``."""

    #: Whether :meth:`model` runs ``onnx.checker`` on the graph (off: some tests
    #: build graphs that only the importer should refuse).
    check = False

    def __init__(self, shape):
        self.nodes, self.inits, self.shape = [], [], shape
        self.k = 0

    def const(self, value, dtype=np.float32) -> str:
        """An initializer holding ``value``; its name."""
        self.k += 1
        name = f"c{self.k}"
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    def node(self, op, inputs, name=None, **attrs) -> str:
        """A node ``op`` reading ``inputs``; the name of its one output."""
        self.k += 1
        out = f"t{self.k}"
        self.nodes.append(helper.make_node(op, inputs, [out], name=name or f"n{self.k}",
                                           **attrs))
        return out

    def model(self, out=None, opset=17) -> onnx.ModelProto:
        """The model, its output ``y`` (batch, classes) the last node's output; ``out``,
        when given, must be that output (callers name it to show what the graph
        returns)."""
        assert out is None or out == self.nodes[-1].output[0], "out must be the last node's"
        self.nodes[-1].output[0] = "y"
        g = helper.make_graph(self.nodes, "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                             list(self.shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", "C"])],
                              self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
        if self.check:
            onnx.checker.check_model(m)
        return m
