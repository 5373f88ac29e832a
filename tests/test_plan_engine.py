"""The engine parameters (:mod:`sst_hw.plan.engine`): the one place that checks
them and derives W, the latency and the layouts, with no component built;
and the components built from them, which refuse bad parameters before
they exist."""

from __future__ import annotations

import gc
import warnings

import pytest
from amaranth.hdl import Fragment, UnusedElaboratable

from sst_hw.plan.engine import (
    ACC_LATENCY,
    DECODE_LATENCY,
    DenseIntParams,
    DenseTernaryParams,
    SSTParams,
    dense_params,
    tree_latency)
from sst_hw.rtl.accumulator import AccumulatorBank
from sst_hw.rtl.dense_engine import DenseIntEngine, DenseTernaryEngine
from sst_hw.rtl.engine import SSTEngine, engine_for


def test_values_compare_and_hash_by_parameters():
    a = SSTParams(8, 2, pe=4, simd=2)
    assert a == SSTParams(8, 2, "full", "enum", pe=4, simd=2) and hash(a) == hash(
        SSTParams(8, 2, pe=4, simd=2))
    assert a != SSTParams(8, 2, pe=4, simd=1)
    assert {a: 1}[SSTParams(8, 2, pe=4, simd=2)] == 1
    with pytest.raises(AttributeError):
        a.pe = 2                                   # frozen


def test_figures():
    p = SSTParams(8, 2, pe=2, simd=2, max_row_len=128)
    # 16 subvectors x 2 non-zeros x 255 = 8160 at most in magnitude: 14 signed bits.
    assert p.acc_width == 14
    assert p.latency == DECODE_LATENCY + 1 + 1 + tree_latency(4, 1) + ACC_LATENCY == 6
    assert p.in_layout.size == 2 * 8 * 8 + 2 * 2 * 8 + 1 and p.out_layout.size == 2 * p.acc_width
    assert DenseIntParams(8, pe=2, dsp_mults=None).dsp_mults == 16      # None: all
    # 1024 weights x 255 = 261120 at most in magnitude: 19 signed bits.
    assert DenseTernaryParams(8).acc_width == 19
    assert dense_params("int8", 4, weight_width=4).code_bits == 16
    with pytest.raises(ValueError, match="dense weight kind must be one of"):
        dense_params("sst", 8)


@pytest.mark.parametrize("count, levels, cycles", [
    (1, 1, 0), (2, 1, 1), (4, 1, 2), (5, 1, 3), (16, 2, 2), (16, 0, 0), (64, 4, 2)])
def test_tree_latency(count, levels, cycles):
    assert tree_latency(count, levels) == cycles


@pytest.mark.parametrize("make", [
    lambda: SSTParams(8, 2, pe=3, simd=2, act_signed=True),
    lambda: SSTParams(16, 4, "partitioned", "direct", pe=2, decode_reg=False,
                      tree_stage_levels=0),
    lambda: DenseIntParams(4, pe=2, simd=2, dsp_mults=5),
    lambda: DenseTernaryParams(8, simd=3, out_depth=3),
], ids=["sst", "sst-direct", "int8", "ternary2"])
def test_engine_for_builds_the_engine_of_its_parameters(make):
    """``engine_for`` picks the engine class of the parameters' kind, and that
    engine elaborates. (Its latency is measured in simulation in
    test_rtl_engine.py and test_rtl_dense_engine.py.)"""
    p = make()
    e = engine_for(p)
    expected = {SSTParams: SSTEngine, DenseIntParams: DenseIntEngine,
                DenseTernaryParams: DenseTernaryEngine}[type(p)]
    assert type(e) is expected and e.config is p
    Fragment.get(e, None)


def test_code_word_follows_the_code_field():
    """A code word put on the engine's ``code`` field holds code (p, s) where
    the layout says: PE p, subvector s at bit ((p*SIMD)+s)*B."""
    p = SSTParams(8, 2, pe=3, simd=2)
    codes = [[1, 2], [3, 4], [5, 6]]
    word = p.code_word(codes)
    field = p.in_layout["code"].shape
    view = field.const(codes)
    assert word == view.as_bits()
    B = p.code_bits
    assert all((word >> (((q * 2) + s) * B)) & ((1 << B) - 1) == codes[q][s]
               for q in range(3) for s in range(2))


def test_engine_refuses_the_wrong_parameters():
    with pytest.raises(TypeError, match="SSTEngine takes SSTParams, not DenseIntParams"):
        SSTEngine(DenseIntParams(8))
    with pytest.raises(TypeError, match="config must be engine parameters"):
        engine_for({"n": 8})


@pytest.mark.parametrize("build", [
    lambda: SSTEngine(8, 2, pe=0),
    lambda: SSTEngine(8, 3, "partitioned"),
    lambda: DenseIntEngine(8, dsp_mults=9),
    lambda: DenseTernaryEngine(8, dsp_mults=1),
    lambda: AccumulatorBank(0, 8, 8),
], ids=["sst", "codebook", "int8", "ternary-kwarg", "accumulator"])
def test_refused_component_is_never_constructed(build):
    """A refused component does not exist, so Amaranth has nothing to warn
    about (its "created but never used" warning is armed once anything was
    elaborated, as here)."""
    Fragment.get(SSTEngine(8, 2), None)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with pytest.raises((TypeError, ValueError)):
            build()
        gc.collect()
    assert not [w for w in seen if issubclass(w.category, UnusedElaboratable)]
