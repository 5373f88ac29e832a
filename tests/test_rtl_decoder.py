"""Tier 1: CodeDecoder in the Amaranth simulator, exhaustively over all code values."""

import numpy as np
import pytest
from amaranth.back import verilog

from sst_hw.format.codebook import Codebook
from sst_hw.rtl.decoder import MAX_ROM_BITS, CodeDecoder, rom_words, slot_plan
from sst_hw.sim.amsim import run_testbenches

CODEBOOKS = [
    (4, 1, "full", "enum"), (8, 2, "full", "enum"), (6, 3, "full", "enum"),
    (8, 2, "full", "direct"), (6, 2, "full", "direct"), (5, 3, "full", "direct"),
    (8, 1, "full", "direct"), (3, 2, "full", "direct"),
    (8, 2, "partitioned", "enum"), (8, 2, "partitioned", "direct"),
    (6, 3, "partitioned", "direct"), (4, 4, "partitioned", "direct"),
    (9, 3, "partitioned", "enum"),
]


def decode_all(dut: CodeDecoder):
    """Run every code value through ``dut`` (``count`` codes per cycle);
    returns sel, neg, valid arrays (2^B, K)."""
    cb = dut.codebook
    codes = np.arange(cb.table_size)
    k, count = cb.k, dut.count
    sel = np.zeros((cb.table_size, k), np.int64)
    neg = np.zeros_like(sel)
    valid = np.zeros_like(sel)

    async def bench(ctx):
        for start in range(0, len(codes), count):
            batch = codes[start:start + count]
            for c in range(count):
                ctx.set(dut.codes[c], int(batch[c % len(batch)]))
            await ctx.tick()          # latency 1: the registers now hold this batch
            for c, code in enumerate(batch):
                for i in range(k):
                    slot = dut.slots[c][i]
                    sel[code, i] = ctx.get(slot.sel)
                    neg[code, i] = ctx.get(slot.neg)
                    valid[code, i] = ctx.get(slot.valid)

    run_testbenches(dut, [bench], deadline=-(-len(codes) // count) + 10)
    return sel, neg, valid


@pytest.mark.parametrize("n,k,variant,assignment", CODEBOOKS)
def test_decoder_matches_codebook_table(n, k, variant, assignment):
    cb = Codebook(n, k, variant, assignment)
    dut = CodeDecoder(cb, count=3 if cb.table_size <= 512 else 16)
    sel, neg, valid = decode_all(dut)
    pos_t, neg_t, valid_t, used_t = cb.table
    np.testing.assert_array_equal(valid.astype(bool), valid_t)
    base = np.array(dut.plan.base)
    v = valid_t
    np.testing.assert_array_equal((sel + base[None, :])[v], pos_t[v])
    np.testing.assert_array_equal(neg[v], neg_t[v])
    # Every valid selection stays inside the slot's span.
    span = np.array(dut.plan.span)
    assert np.all(sel[v] < np.broadcast_to(span, sel.shape)[v])


@pytest.mark.parametrize("rom", ["auto", "logic", "block"])
def test_rom_styles_same_contents(rom):
    cb = Codebook(8, 2)
    dut = CodeDecoder(cb, count=2, rom=rom)
    sel, neg, valid = decode_all(dut)
    pos_t, _, valid_t, _ = cb.table
    np.testing.assert_array_equal(valid.astype(bool), valid_t)
    text = verilog.convert(CodeDecoder(cb, count=2, rom=rom), name="dec", emit_src=False)
    if rom == "auto":
        assert "rom_style" not in text
    else:
        assert f'rom_style = "{rom}"' in text


def test_slot_plans():
    assert slot_plan(Codebook(8, 2, "partitioned", "enum")).base == (0, 4)
    assert slot_plan(Codebook(8, 2, "partitioned", "enum")).span == (4, 4)
    plan = slot_plan(Codebook(8, 2, "full", "enum"))     # slot 1 never selects position 0
    assert plan.base == (0, 1) and plan.span == (8, 7) and plan.sel_bits == 3
    assert slot_plan(Codebook(8, 2, "full", "direct")).span == (8, 8)
    assert slot_plan(Codebook(4, 4, "partitioned", "direct")).sel_bits == 0


def test_rom_words_unused_codes_are_empty():
    cb = Codebook(8, 2, "partitioned", "enum")       # 81 members in 128 codes
    words = rom_words(cb, slot_plan(cb))
    assert len(words) == 128
    assert all(w == 0 for w in words[81:])
    assert words[0] == 0                               # zero vector: no valid slot


def test_decoder_errors():
    with pytest.raises(TypeError, match="codebook must be a Codebook, not 3"):
        CodeDecoder(3)
    with pytest.raises(ValueError, match="count must be a positive integer, not 0"):
        CodeDecoder(Codebook(8, 2), count=0)
    with pytest.raises(ValueError, match="rom must be one of 'auto', 'logic', 'block', not 'x'"):
        CodeDecoder(Codebook(8, 2), rom="x")
    with pytest.raises(ValueError, match="rom applies to enum codes only"):
        CodeDecoder(Codebook(8, 2, assignment="direct"), rom="block")
    with pytest.raises(ValueError, match=rf"2\^22 rows; at most 2\^{MAX_ROM_BITS}"):
        CodeDecoder(Codebook(16, 7))
