"""Tier 1: the dense baseline engines in the Amaranth simulator, against the golden model."""

import random
import re

import numpy as np
import pytest
from amaranth.back import rtlil

from sst_hw.format import arith
from sst_hw.plan.engine import DenseIntParams, DenseTernaryParams
from sst_hw.rtl.dense_engine import DenseIntEngine, DenseTernaryEngine, dense_engine
from sst_hw.format.golden import dense_accumulate_codes

from support.engines import check_ready_is_registered, run_engine, used


def make_rows(e, rng, nrows, max_beats, *, weight_fn=None, act_fn=None, full=False):
    """Random row groups: input beats (dicts for the payload layout) and the
    expected accumulators from :func:`sst_hw.format.golden.dense_accumulate_codes`.
    Rows have a random length (``full``: exactly ``max_beats`` whole beats);
    padding weights are zero, padding activations random (they must not
    count)."""
    fmt = e.weights
    lo, hi = arith.act_range(e.act_width, e.act_signed)
    per_beat = e.n * e.simd
    beats, expected = [], []
    for _ in range(nrows):
        nb = max_beats if full else rng.randint(1, max(1, min(max_beats,
                                                              e.max_row_len // per_beat)))
        row_len = nb * per_beat if full else rng.randint((nb - 1) * per_beat + 1, nb * per_beat)
        row_len = min(row_len, e.max_row_len)
        w = np.array([[weight_fn(p) if weight_fn else rng.randint(fmt.lo, fmt.hi)
                       for _ in range(nb * per_beat)] for p in range(e.pe)], np.int64)
        w[:, row_len:] = 0
        x = np.array([act_fn() if act_fn else rng.randint(lo, hi)
                      for _ in range(nb * per_beat)], np.int64)
        codes = fmt.pack(w.reshape(e.pe, nb * e.simd, e.n))      # (pe, subvectors)
        subs = -(-row_len // e.n)          # subvectors holding the row, then padding
        expected.append(dense_accumulate_codes(fmt, codes[:, :subs], x[:row_len])[0].tolist())
        for b in range(nb):
            sub = slice(b * e.simd, (b + 1) * e.simd)
            beats.append({"act": x[b * per_beat:(b + 1) * per_beat].reshape(e.simd, e.n).tolist(),
                          "code": [[int(c) for c in codes[p, sub]] for p in range(e.pe)],
                          "last": int(b == nb - 1)})
    return beats, expected


INT_CONFIGS = [
    dict(n=8),
    dict(n=8, dsp_mults=0, act_signed=True),
    dict(n=4, pe=2, simd=2, dsp_mults=5, act_signed=True, tree_stage_levels=2),
    dict(n=3, pe=3, simd=1, weight_width=2, act_width=3, dsp_mults=4, out_depth=1),
    dict(n=2, simd=3, weight_width=16, act_width=12, act_signed=True, dsp_mults=3,
         tree_stage_levels=0, out_depth=3),
    dict(n=5, weight_width=5, act_width=1, dsp_mults=2),
    dict(n=1, pe=2, dsp_mults=1),
    dict(n=4, pe=5, dsp_mults=7, fanout=2),   # activations and flags per group of 2 PEs
]
TERNARY_CONFIGS = [
    dict(n=8),
    dict(n=4, pe=2, simd=3, act_signed=True, tree_stage_levels=2),
    dict(n=16, pe=3, act_width=5, tree_stage_levels=0, out_depth=3),
    dict(n=1, simd=2, act_width=1, out_depth=1),
    dict(n=4, pe=3, simd=2, tree_stage_levels=0, fanout=1, out_depth=3),
]


def cfg_id(c):
    return "-".join(f"{k}={v}" for k, v in c.items())


@pytest.mark.parametrize("cfg", INT_CONFIGS, ids=cfg_id)
def test_int_engine_random_rows_with_stalls(cfg):
    e = DenseIntEngine(**cfg, max_row_len=300)
    beats, expected = make_rows(e, random.Random(3), 25, 4)
    assert run_engine(e, beats, len(expected), p_idle=0.3, p_stall=0.3) == expected


@pytest.mark.parametrize("cfg", TERNARY_CONFIGS, ids=cfg_id)
def test_ternary_engine_random_rows_with_stalls(cfg):
    e = DenseTernaryEngine(**cfg, max_row_len=300)
    beats, expected = make_rows(e, random.Random(4), 25, 4)
    assert run_engine(e, beats, len(expected), p_idle=0.3, p_stall=0.3) == expected


def test_ternary_unused_code_reads_as_zero():
    """``10`` is never written, but the hardware must read it as 0 as the format says."""
    e = DenseTernaryEngine(4, pe=2)
    beats = [{"act": [[5, 6, 7, 8]], "code": [[0b10_10_10_10], [0b10_11_01_10]], "last": 1}]
    assert run_engine(e, beats, 1) == [[0, 6 - 7]]


@pytest.mark.parametrize("make,latency", [
    # input register + 4 multiplier stages + tree of 16 terms (4 levels) + queue
    (lambda: DenseIntEngine(8, pe=2, simd=2, dsp_mults=10, max_row_len=256), 1 + 4 + 4 + 1),
    # input register + term register + tree + queue
    (lambda: DenseTernaryEngine(8, pe=2, simd=2, max_row_len=256), 1 + 1 + 4 + 1),
], ids=["int8", "ternary2"])
def test_full_rate_and_latency(make, latency):
    e = make()
    assert e.latency == latency
    rng = random.Random(1)
    beats, expected = [], []
    for _ in range(6):          # rows of `latency` beats and more
        b, x = make_rows(e, rng, 1, e.latency + rng.randint(0, 3), full=True)
        beats += b
        expected += x
    transfers = []
    assert run_engine(e, beats, len(expected), transfers=transfers) == expected
    # the last output comes latency cycles after the last beat: no stall anywhere
    assert transfers[-1] == len(beats) + e.latency


def test_latency_formula():
    assert DenseIntParams(8).latency == 9
    assert DenseIntParams(8, tree_stage_levels=0).latency == 6
    assert DenseIntParams(1, dsp_mults=0).latency == 6
    assert DenseTernaryParams(8).latency == 6
    assert DenseTernaryParams(8, simd=4, tree_stage_levels=2).latency == 3 + 3


@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("dsp", [None, 0])
def test_int_extremes(signed, dsp):
    """Rows of max_row_len weights with the extreme products reach both ends
    of the accumulator range exactly (most negative weight x most negative
    or most positive activation)."""
    e = DenseIntEngine(4, pe=2, act_signed=signed, dsp_mults=dsp, max_row_len=64)
    lo, hi = arith.act_range(8, signed)
    wlo, whi = e.weights.weight_range
    cases = [(lo, wlo, whi), (hi, wlo, whi)] if signed else [(hi, whi, wlo)]
    beats, expected = [], []
    for act, w0, w1 in cases:
        b, x = make_rows(e, random.Random(0), 1, 16, full=True, act_fn=lambda a=act: a,
                         weight_fn=lambda p, w0=w0, w1=w1: (w0, w1)[p])
        assert len(b) == 16
        beats += b
        expected += x
    got = run_engine(e, beats, len(expected), p_idle=0.2, p_stall=0.2)
    assert got == expected
    flat = [v for row in got for v in row]
    assert max(flat) == e.acc_range[1] and min(flat) == e.acc_range[0]
    assert max(flat) < 1 << (e.acc_width - 1) and min(flat) >= -(1 << (e.acc_width - 1))


def test_ternary_extremes():
    e = DenseTernaryEngine(8, pe=2, act_signed=True, max_row_len=40)
    beats, expected = make_rows(e, random.Random(0), 1, 5, full=True, act_fn=lambda: -128,
                                weight_fn=lambda p: (1, -1)[p])
    assert run_engine(e, beats, 1) == expected == [[-128 * 40, 128 * 40]]
    assert e.acc_range == (-128 * 40, 128 * 40)


def test_dsp_mults_split():
    """The first dsp_mults multipliers (PE-major) are `*`; the rest have no $mul."""
    def muls(e):
        return len(re.findall(r"cell \$mul ", rtlil.convert(e)))
    assert muls(DenseIntEngine(4, pe=2, simd=2)) == 16
    assert muls(DenseIntEngine(4, pe=2, simd=2, dsp_mults=5)) == 5
    assert muls(DenseIntEngine(4, pe=2, simd=2, dsp_mults=0)) == 0
    assert muls(DenseTernaryEngine(4, pe=2, simd=2)) == 0
    e = used(DenseIntEngine(4, pe=2, simd=2, dsp_mults=5))
    assert (e.mults, e.dsp_mults) == (16, 5)


def test_ready_is_not_combinational_from_o_ready():
    check_ready_is_registered(DenseIntEngine(2, pe=2, out_depth=1),
                              {"act": [[1, 2]], "code": [[0], [0]], "last": 1})


def test_params_and_widths():
    e = used(DenseIntEngine(8, pe=4, simd=2, max_row_len=1024))
    assert e.params == {"weights": "int8", "n": 8, "weight_width": 8, "dsp_mults": 64, "pe": 4,
                        "simd": 2, "act_width": 8, "act_signed": False, "max_row_len": 1024,
                        "tree_stage_levels": 1, "out_depth": 2, "fanout": 8}
    assert e.code_bits == 64 and e.in_layout.size == 2 * 8 * 8 + 4 * 2 * 64 + 1
    # 1024 x (-128 * 255) .. 1024 x (127 * 255)
    assert e.acc_range == (-1024 * 32640, 1024 * 32385) and e.acc_width == 26
    t = DenseTernaryParams(8, act_signed=True, max_row_len=1024)
    assert t.as_dict() == {"weights": "ternary2", "n": 8, "pe": 1, "simd": 1, "act_width": 8,
                           "act_signed": True, "max_row_len": 1024, "tree_stage_levels": 1,
                           "out_depth": 2, "fanout": 8}
    assert t.code_bits == 16
    assert t.acc_width == arith.acc_width(1024, 8, 8, 8, True)   # SST's rule with K = N
    assert used(dense_engine("ternary2", 4)).kind == "ternary2"
    assert used(dense_engine("int8", 4, weight_width=4)).code_bits == 16


@pytest.mark.parametrize("kwargs,exc,message", [
    (dict(pe=0), ValueError, "pe must be an integer in 1..256, not 0"),
    (dict(simd=-1), ValueError, "simd must be an integer in 1..64, not -1"),
    (dict(n=0), ValueError, "n must be in 1..64, not 0"),
    (dict(n=65), ValueError, "n must be in 1..64, not 65"),
    (dict(weight_width=1), ValueError, "weight_width must be an integer in 2..16, not 1"),
    (dict(weight_width=17), ValueError, "weight_width must be an integer in 2..16, not 17"),
    (dict(dsp_mults=9), ValueError, "dsp_mults must be an integer in 0..8, not 9"),
    (dict(dsp_mults=-1), ValueError, "dsp_mults must be an integer in 0..8, not -1"),
    (dict(pe=2, dsp_mults=17), ValueError, "dsp_mults must be an integer in 0..16, not 17"),
    (dict(dsp_mults=2.0), TypeError, "dsp_mults must be an integer in 0..8, not 2.0"),
    (dict(act_width=0), ValueError, "act_width must be an integer in 1..32, not 0"),
    (dict(act_width=1, act_signed=True), ValueError,
     "signed activations need at least 2 bits, not 1"),
    (dict(act_signed="yes"), TypeError, "act_signed must be True or False, not 'yes'"),
    (dict(max_row_len=0), ValueError, "max_row_len must be an integer in 1..1048576, not 0"),
    (dict(tree_stage_levels=-1), ValueError,
     "tree_stage_levels must be an integer in 0..16, not -1"),
    (dict(out_depth=0), ValueError, "out_depth must be an integer in 1..64, not 0"),
    (dict(fanout=-1), ValueError, "fanout must be an integer in 0..256, not -1"),
    (dict(act_width=32, weight_width=16, max_row_len=1 << 20), ValueError,
     "accumulators of 68 bits"),
])
def test_int_errors(kwargs, exc, message):
    kwargs = {"n": 8, **kwargs}
    with pytest.raises(exc, match="^" + re.escape(message)):
        DenseIntEngine(**kwargs)


def test_ternary_errors():
    with pytest.raises(ValueError, match="^pe must be an integer in 1..256, not 0"):
        DenseTernaryEngine(8, pe=0)
    with pytest.raises(TypeError, match="unexpected keyword argument 'dsp_mults'"):
        DenseTernaryEngine(8, dsp_mults=1)
    with pytest.raises(ValueError, match="dense weight kind must be one of 'int8', 'ternary2'"):
        dense_engine("sst", 8)
