"""Tier 1: SSTEngine in the Amaranth simulator, against the exact dot product."""

import random

import numpy as np
import pytest

from sst_hw.format.arith import act_range, acc_width
from sst_hw.plan.engine import SSTParams
from sst_hw.rtl.engine import SSTEngine

from support.engines import check_ready_is_registered, run_engine, used


def make_rows(e: SSTEngine, rng, nrows, max_beats):
    """Random row groups: input beats (dicts for the payload layout) and the
    expected accumulators, int64 dot products of Codebook.decode vectors."""
    cb = e.codebook
    used = np.flatnonzero(cb.used)
    lo, hi = act_range(e.act_width, e.act_signed)
    longest = max(1, min(max_beats, e.max_row_len // (e.n * e.simd)))
    beats, expected = [], []
    for _ in range(nrows):
        nb = rng.randint(1, longest)
        acc = np.zeros(e.pe, np.int64)
        for b in range(nb):
            act = np.array([[rng.randint(lo, hi) for _ in range(e.n)] for _ in range(e.simd)])
            code = np.array([[int(rng.choice(used)) for _ in range(e.simd)]
                             for _ in range(e.pe)])
            acc += np.einsum("psn,sn->p", cb.decode(code).astype(np.int64), act.astype(np.int64))
            beats.append({"act": act.tolist(), "code": code.tolist(), "last": int(b == nb - 1)})
        expected.append(acc.tolist())
    return beats, expected


CONFIGS = [
    dict(n=8, k=2),
    dict(n=8, k=2, assignment="direct", pe=3, simd=2, act_signed=True),
    dict(n=4, k=1, pe=2, simd=3, select_reg=True, act_width=3),
    dict(n=8, k=2, variant="partitioned", pe=2, simd=4, tree_stage_levels=2, out_depth=1),
    dict(n=16, k=4, variant="partitioned", assignment="direct", pe=2, tree_stage_levels=0,
         act_width=5, act_signed=True, out_depth=3),
    dict(n=6, k=3, rom="logic", simd=3, act_width=1),
    # Broadcast registers copied per group of PEs (2, 2, 1), with and without
    # the decode register and the tree registers the flags are copied along.
    dict(n=8, k=2, assignment="direct", pe=5, simd=2, fanout=2),
    dict(n=8, k=2, pe=3, decode_reg=False, tree_stage_levels=0, fanout=1, out_depth=3),
]


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_engine_random_rows_with_stalls(cfg):
    e = SSTEngine(**cfg, max_row_len=400)
    beats, expected = make_rows(e, random.Random(7), 30, 4)
    assert run_engine(e, beats, len(expected), p_idle=0.3, p_stall=0.3) == expected


def test_engine_full_rate_and_latency():
    e = SSTEngine(8, 2, pe=2, simd=2, max_row_len=128)
    # decoder (2) + select register (1) + tree of 4 terms (2 levels) + queue (1)
    assert e.latency == 6
    assert SSTParams(8, 2, decode_reg=False, select_reg=False, tree_stage_levels=0,
                     max_row_len=8).latency == 2
    # rows of `latency` beats stream without a bubble (out_depth 2)
    rng = random.Random(1)
    beats, expected = [], []
    for _ in range(6):
        b, x = make_rows(e, rng, 1, 8)
        while len(b) < e.latency:
            b, x = make_rows(e, rng, 1, 8)
        beats += b
        expected += x
    transfers = []
    got = run_engine(e, beats, len(expected), transfers=transfers)
    assert got == expected
    # the last output comes latency cycles after the last beat: no stall anywhere
    assert transfers[-1] == len(beats) + e.latency


def test_engine_extremes():
    for signed in (False, True):
        e = SSTEngine(8, 2, pe=2, act_signed=signed, max_row_len=64)
        lo, hi = act_range(8, signed)
        big = lo if signed else hi
        cb = e.codebook
        plus = int(cb.encode(np.array([[1, 1, 0, 0, 0, 0, 0, 0]]))[0])
        minus = int(cb.encode(np.array([[0, 0, 0, 0, 0, 0, -1, -1]]))[0])
        beats = [{"act": [[big] * 8], "code": [[plus], [minus]], "last": int(i == 7)}
                 for i in range(8)]
        want = [[16 * big, -16 * big]]
        assert run_engine(e, beats, 1) == want
        lim = 1 << (e.acc_width - 1)
        assert -lim <= -16 * abs(big) and 16 * abs(big) < lim


def test_ready_is_not_combinational_from_o_ready():
    check_ready_is_registered(SSTEngine(8, 2, pe=2, out_depth=1),
                              {"act": [[1] * 8], "code": [[0], [0]], "last": 1})


def test_engine_params_and_widths():
    e = used(SSTEngine(8, 2, pe=4, simd=2, act_width=8, max_row_len=1024))
    assert e.acc_width == acc_width(1024, 8, 2, 8, False) == 17
    assert e.code_bits == 8
    assert e.params["pe"] == 4 and e.params["out_depth"] == 2
    assert e.in_layout.size == 2 * 8 * 8 + 4 * 2 * 8 + 1
    assert e.config == SSTParams(8, 2, pe=4, simd=2, act_width=8, max_row_len=1024)
    assert SSTParams(16, 2, act_signed=True, max_row_len=16).acc_width == acc_width(
        16, 16, 2, 8, True)


@pytest.mark.parametrize("kwargs,exc,message", [
    (dict(pe=0), ValueError, "pe must be an integer in 1..256, not 0"),
    (dict(simd=-1), ValueError, "simd must be an integer in 1..64, not -1"),
    (dict(pe=1.5), TypeError, "pe must be an integer in 1..256, not 1.5"),
    (dict(act_width=0), ValueError, "act_width must be an integer in 1..32, not 0"),
    (dict(act_width=33), ValueError, "act_width must be an integer in 1..32, not 33"),
    (dict(act_width=1, act_signed=True), ValueError,
     "signed activations need at least 2 bits, not 1"),
    (dict(act_signed="yes"), TypeError, "act_signed must be True or False, not 'yes'"),
    (dict(max_row_len=0), ValueError, "max_row_len must be an integer in 1..1048576, not 0"),
    (dict(variant="dense"), ValueError,
     "variant must be one of 'full', 'partitioned', not 'dense'"),
    (dict(assignment="gray"), ValueError,
     "assignment must be one of 'enum', 'direct', not 'gray'"),
    (dict(rom="bram"), ValueError, "rom must be one of 'auto', 'logic', 'block', not 'bram'"),
    (dict(assignment="direct", rom="logic"), ValueError, "rom applies to enum codes only"),
    (dict(tree_stage_levels=-1), ValueError,
     "tree_stage_levels must be an integer in 0..16, not -1"),
    (dict(out_depth=0), ValueError, "out_depth must be an integer in 1..64, not 0"),
    # Absurd sizes are refused at once (they used to elaborate for minutes).
    (dict(pe=100000), ValueError, "pe must be an integer in 1..256, not 100000"),
    (dict(simd=65), ValueError, "simd must be an integer in 1..64, not 65"),
    (dict(pe=256, simd=4), ValueError, "pe x simd must be at most 512 lanes, not 256 x 4 = 1024"),
    (dict(max_row_len=(1 << 20) + 1), ValueError,
     "max_row_len must be an integer in 1..1048576, not 1048577"),
    (dict(out_depth=65), ValueError, "out_depth must be an integer in 1..64, not 65"),
    (dict(fanout=257), ValueError, "fanout must be an integer in 0..256, not 257"),
    (dict(select_reg=None), TypeError, "select_reg must be True or False, not None"),
    (dict(decode_reg=0), TypeError, "decode_reg must be True or False, not 0"),
])
def test_engine_errors(kwargs, exc, message):
    with pytest.raises(exc, match="^" + message.replace("(", r"\(").replace(")", r"\)")
                       .replace(".", r"\.")):
        SSTEngine(8, 2, **kwargs)


def test_engine_codebook_errors():
    with pytest.raises(ValueError, match="N \\(subvector length\\) must be in 2..64, not 1"):
        SSTEngine(1, 1)
    with pytest.raises(ValueError, match="partitioned codebooks need N divisible by K"):
        SSTEngine(8, 3, "partitioned")
    with pytest.raises(ValueError, match="2\\^22 rows"):
        SSTEngine(16, 7)
    # Rows beyond the size bound are refused before the accumulator width is
    # worked out (within it, an SST accumulator stays under 64 bits).
    with pytest.raises(ValueError, match="max_row_len must be an integer in 1..1048576"):
        SSTEngine(8, 2, act_width=32, max_row_len=1 << 40)
