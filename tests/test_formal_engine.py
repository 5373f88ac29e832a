"""Formal proofs 2 and 3: the SST engine's streams and accumulator width, on
the Verilog ``sst_hw.emit.engine`` emits.

Bounded model checking (SymbiYosys, smtbmc boolector) from reset, under
arbitrary ``i.valid``, ``i.payload`` and ``o.ready`` on every cycle, to a
depth of at least two full rows (``max_row_len``) back to back plus the
latency: every accepted row gives exactly one ``o`` beat, in order, equal to
the reference dot products summed over the row in a wider reference width
(so the W-bit accumulators do not overflow), none held back longer than the
latency, at most ``out_depth`` outstanding, and ``o.payload`` stable while
``o.valid & ~o.ready``. Harness: ``tests/formal/engine_harness.sv``. Broken
twins (mutated copies of the Verilog, rows longer than ``max_row_len``) must
fail with a counterexample.
"""

import pytest

from sst_hw.plan.engine import SSTParams
from sst_hw.sim.formal import run_sby

from formal import engine

ROM = ["memory_map -rom-only"]

#: Small data (2-bit activations, (4,1) codes) keeps the solver quick; the
#: flow control does not depend on the data widths.
BASE = dict(n=4, k=1, pe=2, act_width=2, max_row_len=8)

FAST = [
    (BASE, None),
    (dict(BASE, out_depth=1, decode_reg=False, tree_stage_levels=0), None),
]
SLOW = [
    (BASE, 20),
    (dict(n=4, k=1, pe=2, simd=2, act_width=2, act_signed=True, max_row_len=16, out_depth=3,
          select_reg=False), None),
    (dict(n=4, k=1, pe=3, act_width=2, max_row_len=8, fanout=2), None),
    (dict(n=8, k=2, assignment="direct", act_width=2, max_row_len=16), None),
    (dict(n=8, k=2, act_width=2, max_row_len=16), None),
]


def cfg_id(case):
    cfg, depth = case
    return "-".join(f"{k}={v}" for k, v in cfg.items()) + (f"-depth={depth}" if depth else "")


def check(tmp_path, cfg, depth=None, **kwargs):
    p = SSTParams(**cfg)
    depth = depth or engine.depth_for(p)
    assert depth >= 2 * max(1, p.max_row_len // (p.n * p.simd)) + p.latency
    files, top = engine.write_proof(tmp_path, p, **kwargs)
    return run_sby(tmp_path, files, top, mode="bmc", depth=depth, after_prep=ROM,
                   timeout=900)


@pytest.mark.parametrize("case", FAST, ids=cfg_id)
def test_engine_streams_and_accumulators(tmp_path, case):
    res = check(tmp_path, *case)
    assert res.passed, res.summary()


@pytest.mark.slow
@pytest.mark.parametrize("case", SLOW, ids=cfg_id)
def test_engine_streams_and_accumulators_slow(tmp_path, case):
    res = check(tmp_path, *case)
    assert res.passed, res.summary()


@pytest.mark.parametrize("mutation", sorted(engine.MUTATIONS))
def test_mutated_flow_control_fails(tmp_path, mutation):
    res = check(tmp_path, BASE, mutate=engine.MUTATIONS[mutation])
    assert res.status == "FAIL", res.summary()
    assert res.trace is not None and res.trace.exists()


def test_rows_past_max_row_len_overflow(tmp_path):
    # One beat more than max_row_len allows: the W-bit accumulators wrap and
    # the exact comparison fails, so the width is not larger than needed.
    res = check(tmp_path, BASE, extra_beats=1)
    assert res.status == "FAIL", res.summary()
    assert "engine_harness.sv" in " ".join(res.failed)


def test_broken_reference_fails(tmp_path):
    cb = SSTParams(**BASE).codebook
    from formal.datapath import flip_candidate
    res = check(tmp_path, BASE, flip=flip_candidate(cb))
    assert res.status == "FAIL", res.summary()
