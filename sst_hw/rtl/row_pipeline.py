"""The parts every engine kind shares around its terms: row flow control on
the input, the valid/last pipeline, and adder trees into accumulator banks.

:class:`~.engine.SSTEngine` and the dense baselines
(:mod:`~.dense_engine`) differ only in how a beat's codes become signed terms
(sign-select lanes, multipliers, ternary gates); these helpers build the rest
identically, so the comparison between them measures that difference alone.
"""

from __future__ import annotations

from amaranth.hdl import Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..arith import act_range
from ._util import check_bool, check_int
from .accumulator import AccumulatorBank
from .adder_tree import AdderTree

__all__ = ["check_common_params", "engine_members", "row_flow_control", "delay_flags", "trees_into_accumulators"]


def check_common_params(engine, *, pe, simd, act_width, act_signed, max_row_len,
                        tree_stage_levels, out_depth):
    """Check the parameters every engine kind has and set them on ``engine``."""
    engine.pe = check_int("pe", pe)
    engine.simd = check_int("simd", simd)
    engine.act_width = check_int("act_width", act_width, 1, 32)
    engine.act_signed = check_bool("act_signed", act_signed)
    act_range(engine.act_width, engine.act_signed)   # signed activations need 2 bits
    engine.max_row_len = check_int("max_row_len", max_row_len)
    engine.tree_stage_levels = check_int("tree_stage_levels", tree_stage_levels, 0)
    engine.out_depth = check_int("out_depth", out_depth)


def engine_members(in_layout, out_layout) -> dict:
    """The members every engine has: input stream ``i``, output stream ``o``."""
    return {"i": In(stream.Signature(in_layout)), "o": Out(stream.Signature(out_layout))}


def row_flow_control(m, i, o, depth: int):
    """Admit rows while fewer than ``depth`` are in flight or queued.

    ``i.ready`` is a register, high while fewer than ``depth`` rows (counted
    from their ``last`` beat until their ``o`` beat leaves) are pending, so
    ``o.ready`` never reaches ``i.ready`` combinationally. Returns
    ``(accept, close)``: a beat is taken this cycle; it is a ``last`` beat.
    """
    pending = Signal(range(depth + 1))
    ready = Signal(init=1)
    accept = Signal()
    close = Signal()
    emit = Signal()
    m.d.comb += [
        i.ready.eq(ready),
        accept.eq(i.valid & ready),
        close.eq(accept & i.p.last),
        emit.eq(o.valid & o.ready),
    ]
    pending_next = Signal(range(depth + 2))
    m.d.comb += pending_next.eq(pending + close - emit)
    m.d.sync += [pending.eq(pending_next), ready.eq(pending_next < depth)]
    return accept, close


def delay_flags(m, valid, last, cycles: int, name: str):
    """``valid`` and ``last`` delayed by ``cycles`` registers (named ``name``)."""
    for c in range(cycles):
        v = Signal(name=f"{name}_v{c}")
        lst = Signal(name=f"{name}_l{c}")
        m.d.sync += [v.eq(valid), lst.eq(last)]
        valid, last = v, lst
    return valid, last


def trees_into_accumulators(m, terms, cins, term_range, acc_width: int, *,
                            stage_levels: int, valid, last, tree_latency: int, depth: int,
                            o):
    """One adder tree per PE over ``terms[p]`` (carry-ins ``cins[p]``), into an
    :class:`AccumulatorBank` of ``depth`` rows whose stream drives ``o``.

    ``valid``/``last`` flag the terms' cycle; they are delayed by
    ``tree_latency`` to meet the trees' sums.
    """
    trees = []
    for p, pe_terms in enumerate(terms):
        tree = AdderTree(len(pe_terms), term_range, acc_width, stage_levels=stage_levels)
        m.submodules[f"tree_{p}"] = tree
        for j, t in enumerate(pe_terms):
            m.d.comb += tree.terms[j].eq(t)
        m.d.comb += tree.cins.eq(cins[p])
        trees.append(tree)
    valid, last = delay_flags(m, valid, last, tree_latency, "tree")
    bank = AccumulatorBank(len(terms), trees[0].sum_width, acc_width, depth=depth)
    m.submodules.acc = bank
    m.d.comb += [bank.valid.eq(valid), bank.last.eq(last)]
    for p, tree in enumerate(trees):
        m.d.comb += [bank.addend[p].eq(tree.sum), bank.cin[p].eq(tree.cout)]
    wiring.connect(m, wiring.flipped(o), bank.o)
