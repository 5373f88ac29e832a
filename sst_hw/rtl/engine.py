"""``SSTEngine``: PE x SIMD sign-select lanes with accumulators, behind streams."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Shape, Signal, signed, unsigned
from amaranth.lib import data, wiring

from sst_hw.format.arith import acc_range, signed_width
from sst_hw.format.codebook import ASSIGNMENTS, VARIANTS, Codebook
from sst_hw.rtl._util import check_bool, check_choice, checked_init
from sst_hw.rtl.accumulator import AccumulatorBank, acc_layout
from sst_hw.rtl.adder_tree import tree_latency
from sst_hw.rtl.decoder import CodeDecoder, check_rom, slot_plan
from sst_hw.rtl.lane import SignSelectLane, term_range
from sst_hw.rtl.row_pipeline import (
    DEFAULT_FANOUT,
    check_common_params,
    delay_flags,
    engine_members,
    pe_groups,
    broadcast_registers,
    row_flow_control,
    trees_into_accumulators)

__all__ = ["SSTEngine", "input_layout", "DEFAULT_MAX_ROW_LEN", "MAX_ACC_WIDTH"]

#: Default longest row, in weights, the accumulators are sized for.
DEFAULT_MAX_ROW_LEN = 1024
#: Widest accumulator the generator builds.
MAX_ACC_WIDTH = 64


def input_layout(n: int, simd: int, pe: int, act_shape, code_bits: int) -> data.StructLayout:
    """Payload of the engine's input stream.

    ``act``: SIMD subvectors of N activations, element j of subvector s at
    bit ``((s*N)+j)*A``; ``code``: PE x SIMD codes, PE p / subvector s at bit
    ``((p*SIMD)+s)*B`` of the field; ``last``: 1 bit.
    """
    return data.StructLayout({
        "act": data.ArrayLayout(data.ArrayLayout(act_shape, n), simd),
        "code": data.ArrayLayout(data.ArrayLayout(unsigned(code_bits), simd), pe),
        "last": 1,
    })


class SSTEngine(wiring.Component):
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

    Latency: ``latency = 2 + decode_reg + select_reg + L_t`` cycles from the
    clock edge that accepts a ``last`` beat to the edge at which its ``o``
    beat is first offered (output queue empty), with ``L_t =
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

    Parameters
    ----------
    n, k : int
        SST subvector length N and maximum non-zeros K.
    variant : str
        ``"full"`` or ``"partitioned"``.
    assignment : str
        ``"enum"`` (ROM decoder) or ``"direct"`` (gate decoder).
    pe : int
        Processing elements (output rows in flight).
    simd : int
        Subvectors per beat.
    act_width : int
        Activation width A, 1..32 bits (2..32 when signed).
    act_signed : bool
        Whether activations are two's complement.
    max_row_len : int
        Longest row, in weights, that the accumulators hold without overflow:
        W = :func:`sst_hw.format.arith.acc_width` (max_row_len, N, K, A, signed).
    rom : str
        ``"auto"``, ``"logic"`` or ``"block"``: where the ``enum`` decode ROM
        goes. Must be ``"auto"`` for ``direct``.
    decode_reg : bool
        A second register after the decoder (default on).
    select_reg : bool
        Register the sign-selected terms before the adder tree (default on).
    tree_stage_levels : int
        Adder levels per pipeline stage in the trees (0: no tree registers).
    out_depth : int
        Output queue depth, in rows.
    fanout : int
        Most PEs that read one copy of the broadcast registers: the
        activation register the lanes read, and the valid/last flags and
        queue control of the accumulators (see
        :func:`~.row_pipeline.pe_groups`); 0 for one copy whatever the PE
        count. Copies cost flip-flops, never latency.

    Members
    -------
    i : ``In(stream.Signature(input_layout(...)))``
    o : ``Out(stream.Signature(acc_layout(pe, W)))``
    """

    @checked_init
    def __init__(self, n: int, k: int, variant: str = "full", assignment: str = "enum", *,
                 pe: int = 1, simd: int = 1, act_width: int = 8, act_signed: bool = False,
                 max_row_len: int = DEFAULT_MAX_ROW_LEN, rom: str = "auto",
                 decode_reg: bool = True, select_reg: bool = True, tree_stage_levels: int = 1,
                 out_depth: int = 2, fanout: int = DEFAULT_FANOUT):
        check_choice("variant", variant, VARIANTS)
        check_choice("assignment", assignment, ASSIGNMENTS)
        self.codebook = Codebook(n, k, variant, assignment)
        self.n, self.k = self.codebook.n, self.codebook.k
        self.variant, self.assignment = variant, assignment
        check_common_params(self, pe=pe, simd=simd, act_width=act_width,
                            act_signed=act_signed, max_row_len=max_row_len,
                            tree_stage_levels=tree_stage_levels, out_depth=out_depth,
                            fanout=fanout)
        self.rom = check_rom(self.codebook, rom)
        self.decode_reg = check_bool("decode_reg", decode_reg)
        self.select_reg = check_bool("select_reg", select_reg)

        self.acc_range = acc_range(self.max_row_len, self.n, self.k, self.act_width,
                                   self.act_signed)
        self.acc_width = max(2, signed_width(*self.acc_range))
        if self.acc_width > MAX_ACC_WIDTH:
            raise ValueError(f"accumulators of {self.acc_width} bits (max_row_len "
                             f"{self.max_row_len}) exceed the {MAX_ACC_WIDTH}-bit limit")
        self.plan = slot_plan(self.codebook)
        self._trange = term_range(self.act_width, self.act_signed)
        self._tree_latency = tree_latency(self.k * self.simd, self.tree_stage_levels)
        self.latency = (1 + int(self.decode_reg) + int(self.select_reg) + self._tree_latency
                        + AccumulatorBank.latency)

        self.act_shape = signed(self.act_width) if self.act_signed else Shape(self.act_width)
        self.in_layout = input_layout(self.n, self.simd, self.pe, self.act_shape,
                                      self.codebook.bits)
        self.out_layout = acc_layout(self.pe, self.acc_width)
        super().__init__(engine_members(self.in_layout, self.out_layout))

    @property
    def code_bits(self) -> int:
        """B: bits per code word."""
        return self.codebook.bits

    @property
    def params(self) -> dict:
        """The constructor arguments, JSON-ready (the sidecar's ``parameters``)."""
        return {
            "n": self.n, "k": self.k, "variant": self.variant, "assignment": self.assignment,
            "pe": self.pe, "simd": self.simd, "act_width": self.act_width,
            "act_signed": self.act_signed, "max_row_len": self.max_row_len, "rom": self.rom,
            "decode_reg": self.decode_reg, "select_reg": self.select_reg,
            "tree_stage_levels": self.tree_stage_levels, "out_depth": self.out_depth,
            "fanout": self.fanout,
        }

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

        trees_into_accumulators(m, terms, [Cat(*c) for c in corrs], self._trange,
                                self.acc_width, stage_levels=self.tree_stage_levels,
                                valid=valid, last=last, tree_latency=self._tree_latency,
                                depth=self.out_depth, o=self.o, groups=groups)
        return m
