"""Fixtures shared by the test modules, and the session's settings.

Helpers that tests import by name (a stand-in network core, engine and
cocotb runners, quick models) live in the ``support`` package next to this
file; no test module imports another. Amaranth simulations run through
:mod:`sst_hw.sim.amsim`, whose runner fails a simulation at its deadline.

Every random choice in the tests has a fixed integer seed, so that a failure
replays: Hypothesis runs derandomized (its examples derive from the test
function, not from the run); ``HYPOTHESIS_PROFILE=explore`` draws fresh
examples instead.
"""

from __future__ import annotations

import os

import sst_hw  # noqa: F401  (first: pins OpenBLAS's kernels before NumPy loads)

import pytest
from hypothesis import settings

settings.register_profile("sst-hw", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "sst-hw"))


@pytest.fixture(scope="module")
def digits():
    """scikit-learn's 8x8 digits, 0..255, the fixed train/test split."""
    from sst_hw.train.datasets import load_digits
    return load_digits()


@pytest.fixture(scope="module")
def digits_model():
    """The bundled model, ``models/digits.sst`` (the README's quick start), loaded."""
    from sst_hw.cli.demo import DEFAULT_MODEL
    from sst_hw.format import modelfile
    return modelfile.load(DEFAULT_MODEL)
