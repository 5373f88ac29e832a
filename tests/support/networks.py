"""Models for the plan and compile tests."""

from __future__ import annotations

import numpy as np

from sst_hw.format.codebook import Codebook
from sst_hw.format.golden import Layer, Network


def zero_network(sizes, n=8, k=2, **kw):
    """A network of the given sizes with every code the zero code (fast to build)."""
    cb = Codebook(n, k, **kw)
    layers = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        codes = np.full((b, -(-a // n)), cb.zero_code, np.int64)
        last = i == len(sizes) - 2
        layers.append(Layer(a, b, cb, codes, np.ones(b, np.int64), np.zeros(b, np.int64),
                            0 if last else 4, not last, 8))
    return Network(layers)
