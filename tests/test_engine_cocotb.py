"""Tier 2: cocotb on the emitted Verilog of SSTEngine (Verilator by default,
``SIM=icarus`` for Icarus). The testbench (:mod:`sst_hw.sim.engine_tb`) knows
only the JSON sidecar. One simulator build per configuration; all stimulus
scenarios run on that build.

``SST_HW_SEED=<n>`` replaces the default seed of the random-configuration test.
"""

import os
import random

import pytest

from sst_hw.format.codebook import Codebook
from sst_hw.rtl.decoder import ROM_STYLES
from sst_hw.sim.runner import simulator

from support.cocotb_engine import generate_and_run

CASES = [
    pytest.param(dict(n=4, k=1, pe=2, simd=3, act_width=4, max_row_len=60, decode_reg=False,
                      select_reg=False),
                 id="full-4-1-enum-pe2-simd3-u4-noregs"),
    pytest.param(dict(n=8, k=2, pe=4, simd=2, act_width=8, max_row_len=256, rom="block"),
                 id="full-8-2-enum-pe4-simd2-u8"),
    pytest.param(dict(n=8, k=2, assignment="direct", pe=3, simd=1, act_width=8,
                      act_signed=True, max_row_len=200, select_reg=False, fanout=2),
                 id="full-8-2-direct-pe3-s8-fanout2"),
    pytest.param(dict(n=16, k=2, pe=2, simd=2, act_width=6, act_signed=True,
                      tree_stage_levels=2, max_row_len=512),
                 id="full-16-2-enum-pe2-simd2-s6"),
    pytest.param(dict(n=8, k=2, variant="partitioned", pe=2, simd=4, act_width=8,
                      out_depth=1, max_row_len=300, decode_reg=False),
                 id="part-8-2-enum-pe2-simd4-u8-depth1"),
    pytest.param(dict(n=16, k=4, variant="partitioned", pe=2, simd=1, act_width=8,
                      act_signed=True, tree_stage_levels=0, out_depth=4, max_row_len=1024),
                 id="part-16-4-enum-pe2-s8-combtree"),
    pytest.param(dict(n=16, k=4, assignment="direct", pe=2, simd=2, act_width=5,
                      max_row_len=700),
                 id="full-16-4-direct-pe2-simd2-u5", marks=pytest.mark.slow),
    pytest.param(dict(n=16, k=4, pe=1, simd=1, act_width=8, rom="logic", max_row_len=100),
                 id="full-16-4-enum-u8", marks=pytest.mark.slow),
    pytest.param(dict(n=8, k=2, pe=8, simd=1, act_width=8, act_signed=True, rom="block"),
                 id="full-8-2-enum-pe8-s8", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("cfg", CASES)
def test_engine(tmp_path, cfg):
    generate_and_run(tmp_path, cfg)


#: Random configurations keep codes to at most this many bits (the sidecar
#: lists 2^B vectors and an enum ROM has 2^B rows; see the report).
RANDOM_MAX_CODE_BITS = 14


def draw_config(seed: int) -> dict:
    """A random engine configuration: N <= 16, K <= N/2, PE and SIMD <= 8."""
    rng = random.Random(seed)
    while True:
        n = rng.randint(2, 16)
        k = rng.randint(1, n // 2)
        variant = rng.choice(["full", "partitioned"]) if n % k == 0 else "full"
        assignment = rng.choice(["enum", "direct"])
        if Codebook(n, k, variant, assignment).bits <= RANDOM_MAX_CODE_BITS:
            break
    act_signed = rng.random() < 0.5
    cfg = dict(n=n, k=k, variant=variant, assignment=assignment,
               pe=rng.randint(1, 8), simd=rng.randint(1, 8),
               act_width=rng.randint(2 if act_signed else 1, 12), act_signed=act_signed,
               max_row_len=rng.choice([rng.randint(1, 64), rng.randint(1, 4096)]),
               rom=rng.choice(ROM_STYLES) if assignment == "enum" else "auto",
               decode_reg=rng.random() < 0.5, select_reg=rng.random() < 0.5,
               tree_stage_levels=rng.randint(0, 3),
               out_depth=rng.randint(1, 4))
    cfg["fanout"] = rng.randint(0, cfg["pe"])
    return cfg


def _seeds():
    env = os.environ.get("SST_HW_SEED")
    first = int(env) if env else 1
    return [first] + [pytest.param(s, marks=pytest.mark.slow) for s in range(2, 10)]


@pytest.mark.parametrize("seed", _seeds())
def test_random_config(tmp_path, seed):
    cfg = draw_config(seed)
    print(f"seed {seed}: {cfg} on {simulator()}")
    generate_and_run(tmp_path, cfg, seed=seed, rows=12, max_beats=5)


def test_draw_config_bounds():
    for seed in range(200):
        cfg = draw_config(seed)
        assert 2 <= cfg["n"] <= 16 and 1 <= cfg["k"] <= cfg["n"] // 2
        assert 1 <= cfg["pe"] <= 8 and 1 <= cfg["simd"] <= 8
