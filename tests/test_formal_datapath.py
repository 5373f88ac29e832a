"""Formal proof 1: the engine datapath (decoder -> sign-select lanes -> adder
tree) computes, for every code word and every activation vector, the dot
product of the codebook's decoded vector with the activations.

k-induction with SymbiYosys (smtbmc, boolector) at depth latency + 1: the
datapath is a feed-forward pipeline, so the induction closes and the proof
holds for every cycle, not only a bounded run. Harness:
``tests/formal/datapath_harness.sv``; design: the Verilog Amaranth emits for
the real components (``tests/formal/datapath.py``). Each proof has a broken
twin that must fail with a counterexample.
"""

import re

import pytest

from sst_hw.plan.engine import SSTParams
from sst_hw.sim.formal import run_sby, run_tempinduct

from formal import datapath

#: A ROM's contents are constants: without this, k-induction may start the
#: decode ROM (a memory with no write port) from any contents.
ROM = ["memory_map -rom-only"]

FAST = [
    dict(n=8, k=2, act_width=8),
    dict(n=8, k=2, assignment="direct", act_width=6, act_signed=True),
    dict(n=4, k=1, act_width=8),
    dict(n=8, k=2, variant="partitioned", act_width=6, act_signed=True),
    # No register after the decoder, none in the lanes or the tree; SIMD 2.
    dict(n=4, k=1, simd=2, decode_reg=False, select_reg=False, tree_stage_levels=0,
         act_width=6, act_signed=True),
]
SLOW = [
    dict(n=8, k=2, act_width=6, act_signed=True),
    dict(n=8, k=2, assignment="direct", act_width=8),
    dict(n=4, k=1, act_width=6, act_signed=True),
    dict(n=8, k=2, variant="partitioned", act_width=8),
    dict(n=16, k=2, act_width=8),
    dict(n=16, k=2, act_width=6, act_signed=True),
]


def cfg_id(cfg):
    return "-".join(f"{k}={v}" for k, v in cfg.items())


def prove(tmp_path, cfg, **kwargs):
    p = SSTParams(**cfg)
    files, top = datapath.write_proof(tmp_path, p, **kwargs)
    return run_sby(tmp_path, files, top, mode="prove", depth=datapath.latency(p) + 1,
                   after_prep=ROM, timeout=600)


@pytest.mark.parametrize("cfg", FAST, ids=cfg_id)
def test_datapath_equals_codebook_dot_product(tmp_path, cfg):
    res = prove(tmp_path, cfg)
    assert res.passed, res.summary()
    assert "successful proof by k-induction" in res.log


@pytest.mark.slow
@pytest.mark.parametrize("cfg", SLOW, ids=cfg_id)
def test_datapath_equals_codebook_dot_product_slow(tmp_path, cfg):
    res = prove(tmp_path, cfg)
    assert res.passed, res.summary()


def test_broken_reference_table_fails(tmp_path):
    # One entry of the reference table with a weight's sign flipped.
    cfg = FAST[0]
    cb = SSTParams(**cfg).codebook
    res = prove(tmp_path, cfg, flip=datapath.flip_candidate(cb))
    assert res.status == "FAIL", res.summary()
    assert res.trace is not None and res.trace.exists()
    assert res.step is not None and res.step >= datapath.latency(SSTParams(**cfg))


def drop_carry(text):
    """The adder tree drops the carry-in of its first term: a negated first
    term then counts as ``~x`` instead of ``-x`` (a sign gone wrong)."""
    new, n = re.subn(r"(\$signed\(\{ 1'h0, )cins\[0\]( \}\))", r"\g<1>1'h0\g<2>", text,
                     count=1)
    assert n == 1, "no carry-in adder in the emitted tree"
    return new


def test_mutated_design_fails(tmp_path):
    res = prove(tmp_path, FAST[1], mutate=drop_carry)
    assert res.status == "FAIL", res.summary()
    assert res.trace is not None and res.trace.exists()


def test_datapath_tempinduct_without_solver(tmp_path):
    # Yosys's own `sat -tempinduct` (no external solver) proves the same
    # harness, and finds the broken table's counterexample.
    cfg = dict(n=8, k=2, act_width=6, act_signed=True)
    p = SSTParams(**cfg)
    depth = datapath.latency(p) + 2
    files, top = datapath.write_proof(tmp_path / "good", p)
    res = run_tempinduct(tmp_path / "good", files, top, depth=depth, after_prep=ROM)
    assert res.passed, res.summary()
    files, top = datapath.write_proof(tmp_path / "bad", p,
                                      flip=datapath.flip_candidate(p.codebook))
    res = run_tempinduct(tmp_path / "bad", files, top, depth=depth, after_prep=ROM)
    assert res.status == "FAIL", res.summary()
