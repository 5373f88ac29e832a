"""``SSTEngine``: PE x SIMD sign-select lanes with accumulators, behind streams.

The engine's parameters and figures (W, latency, layouts) are
:class:`~sst_hw.plan.engine.SSTParams`; this module only builds the hardware.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal

from sst_hw.format.limits import MAX_ACC_WIDTH
from sst_hw.plan.engine import DEFAULT_MAX_ROW_LEN, SSTParams, input_layout
from sst_hw.rtl.decoder import CodeDecoder, slot_plan
from sst_hw.rtl.lane import SignSelectLane, term_range
from sst_hw.rtl.row_pipeline import (
    EngineComponent,
    delay_flags,
    pe_groups,
    broadcast_registers,
    row_flow_control,
    trees_into_accumulators)

__all__ = ["SSTEngine", "engine_class", "engine_for", "input_layout", "DEFAULT_MAX_ROW_LEN",
           "MAX_ACC_WIDTH"]


class SSTEngine(EngineComponent):
    """The SST dot-product engine: PE output rows at once, SIMD subvectors per beat.

    Every beat of ``i`` carries SIMD activation subvectors (broadcast to all
    PEs) and, for each PE, SIMD code words. Each PE accumulates the exact dot
    products of its decoded ternary subvectors with the activations; a beat
    with ``last`` closes the rows, and the engine then emits one ``o`` beat
    with the PE signed accumulators (W bits, two's complement) and starts
    the next rows from zero. Padding subvectors carry the zero code.

    Pipeline (no stall anywhere inside; every stage carries a valid bit)::

        i -> decoder (1, +1 decode_reg) -> sign-select lanes (+1 select_reg)
          -> adder trees (L_t) -> accumulators + output queue (1) -> o

    Latency (:attr:`SSTParams.latency <sst_hw.plan.engine.EngineParams.latency>`):
    ``latency = 2 + decode_reg + select_reg + L_t`` cycles from the clock
    edge that accepts a ``last`` beat to the edge at which its ``o`` beat is
    first offered (output queue empty), with ``L_t =
    ceil(ceil(log2(K*SIMD)) / tree_stage_levels)`` (0 for
    ``tree_stage_levels=0`` or K*SIMD = 1). With the defaults, (8,2) and
    SIMD=1 give 5 cycles. Throughput one beat (PE*SIMD*N weights) per cycle.

    Every register stage is there for timing: ``decode_reg`` keeps a block
    RAM's slow clock-to-output out of the multiplexers, ``select_reg``
    separates the activation multiplexers (high fan-out from the activation
    registers) from the adders, the trees register every
    ``tree_stage_levels`` levels, and the accumulators clear by synchronous
    reset so no gate sits in front of their carry chains.

    Flow control: ``i.ready`` is a register; it is high while fewer than
    ``out_depth`` rows are in flight or waiting in the output queue, so there
    is no combinational path from ``o.ready`` to ``i.ready``. Rows at least
    ``latency`` beats long stream without bubbles with ``out_depth = 2``; rows
    of one beat need ``out_depth >= latency + 1`` for full rate.

    The engine takes the arguments of :class:`~sst_hw.plan.engine.SSTParams`,
    or one ``SSTParams`` value; it is :attr:`config`, and every parameter and
    figure of it (``acc_width``, ``latency``, ``in_layout``, ...) reads as
    an attribute of the engine.

    Parameters
    ----------
    config, or n, k, variant, assignment, pe, simd, act_width, act_signed, max_row_len, rom, \
decode_reg, select_reg, tree_stage_levels, out_depth, fanout :
        One :class:`~sst_hw.plan.engine.SSTParams`, or its arguments (documented
        there, with their ranges and defaults).

    Members
    -------
    i : ``In(stream.Signature(input_layout(...)))``
    o : ``Out(stream.Signature(acc_layout(pe, W)))``
    """

    params_type = SSTParams

    @classmethod
    def check(cls, *args, **kwargs) -> dict:
        attrs = super().check(*args, **kwargs)
        attrs["plan"] = slot_plan(attrs["config"].codebook)   # the decoder's slots
        return attrs

    def elaborate(self, platform):
        m = Module()
        pe, simd, k = self.pe, self.simd, self.k

        accept, close = row_flow_control(m, self.i, self.o, self.out_depth)

        # Decode the codes (1 or 2 cycles); delay activations, valid and last alongside.
        # Data registers capture every cycle (no enable); only valid bits gate state.
        m.submodules.decoder = dec = CodeDecoder(self.codebook, pe * simd, rom=self.rom,
                                                 extra_reg=self.decode_reg)
        for p in range(pe):
            for s in range(simd):
                m.d.comb += dec.codes[p * simd + s].eq(self.i.p.code[p][s])
        # The activations' last register before the lanes has one copy per PE group.
        groups = pe_groups(pe, self.fanout)
        valid = Signal(name="v1")
        last = Signal(name="l1")
        m.d.sync += [valid.eq(accept), last.eq(close)]
        if self.decode_reg:
            act1 = Signal(self.in_layout["act"].shape, reset_less=True)
            m.d.sync += act1.eq(self.i.p.act)
            acts = broadcast_registers(m, act1, groups, "act2")
            valid, last = delay_flags(m, valid, last, 1, "dec")
        else:
            acts = broadcast_registers(m, self.i.p.act, groups, "act1")

        # Sign-select lanes, one per PE x subvector.
        terms = [[] for _ in range(pe)]
        corrs = [[] for _ in range(pe)]
        for p in range(pe):
            for s in range(simd):
                lane = SignSelectLane(self.plan, self.n, self.act_width, self.act_signed,
                                      registered=self.select_reg)
                m.submodules[f"lane_{p}_{s}"] = lane
                m.d.comb += [lane.act.eq(acts[p][s]), lane.slots.eq(dec.slots[p * simd + s])]
                terms[p].extend(lane.terms[i] for i in range(k))
                corrs[p].extend(lane.corr[i] for i in range(k))
        if self.select_reg:
            valid, last = delay_flags(m, valid, last, 1, "sel")

        trees_into_accumulators(m, terms, [Cat(*c) for c in corrs],
                                term_range(self.act_width, self.act_signed),
                                self.acc_width, stage_levels=self.tree_stage_levels,
                                valid=valid, last=last, tree_latency=self.tree_latency,
                                depth=self.out_depth, o=self.o, groups=groups)
        return m


def engine_class(config) -> type:
    """The engine class of parameters ``config``: :class:`SSTEngine` for
    :class:`~sst_hw.plan.engine.SSTParams`, a dense baseline for the dense ones."""
    from sst_hw.rtl.dense_engine import DenseIntEngine, DenseTernaryEngine
    for cls in (SSTEngine, DenseIntEngine, DenseTernaryEngine):
        if isinstance(config, cls.params_type):
            return cls
    raise TypeError(f"config must be engine parameters (SSTParams, DenseIntParams or "
                    f"DenseTernaryParams), not {config!r}")


def engine_for(config):
    """The engine component of parameters ``config`` (see :func:`engine_class`)."""
    return engine_class(config)(config)
