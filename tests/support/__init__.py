"""Helpers shared by the test modules (no test module imports another).

* :mod:`support.cores`: :class:`~support.cores.DenseTernaryCore`, a small
  stand-in for the network core, and the random one-layer models it computes.
* :mod:`support.networks`: :func:`~support.networks.zero_network`, big models
  that are quick to build.
* :mod:`support.engines`: engines driven through the shared stream helpers of
  :mod:`sst_hw.sim.amsim`.
* :mod:`support.cocotb_engine`: engines generated with the CLI and run in
  cocotb on the emitted Verilog.

Fixtures shared by several modules live in ``tests/conftest.py``. The checks
of these helpers themselves are in ``tests/test_support.py``.
"""
