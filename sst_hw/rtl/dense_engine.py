"""Dense baseline engines: int8 multiply-accumulate and 2-bit ternary.

They exist to be compared side by side with :class:`~.engine.SSTEngine`, so
they have exactly its stream interface (:func:`~sst_hw.plan.engine.input_layout`,
:func:`~sst_hw.plan.engine.acc_layout`, registered ``i.ready``, an output queue of
``out_depth`` rows), its latency definition and its accumulator width rule
(the worst case over ``max_row_len`` weights can never wrap), and they reuse
its :class:`~.adder_tree.AdderTree` and :class:`~.accumulator.AccumulatorBank`.
Only the weights differ: every weight is stored (no sparsity), as
:mod:`sst_hw.format.dense` formats pack them. Their parameters and figures
are :class:`~sst_hw.plan.engine.DenseIntParams` and
:class:`~sst_hw.plan.engine.DenseTernaryParams`.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal, signed

from sst_hw.format.arith import act_range, product_range
from sst_hw.format.dense import KINDS
from sst_hw.plan.engine import DenseIntParams, DenseTernaryParams
from sst_hw.rtl._util import range_width
from sst_hw.rtl.lane import term_range
from sst_hw.rtl.multiplier import LUTMultiplier, product_shape
from sst_hw.rtl.row_pipeline import (
    EngineComponent,
    delay_flags,
    pe_groups,
    broadcast_registers,
    row_flow_control,
    trees_into_accumulators)

__all__ = ["DenseIntEngine", "DenseTernaryEngine", "dense_engine", "DENSE_KINDS"]

#: Weight kinds of :func:`dense_engine` (the :mod:`sst_hw.format.dense` formats).
DENSE_KINDS = KINDS


class _DenseEngine(EngineComponent):
    """Shared by both dense engines: flow control, the input registers, the
    adder trees and the accumulators. A subclass supplies :meth:`_terms`, one
    registered term (and carry) per weight, ``config.multiply_stages``
    registers after the input register."""

    def _term_range(self) -> tuple[int, int]:
        raise NotImplementedError

    def _terms(self, m, act, code):
        """Per PE: the list of SIMD*N registered terms and a ``Cat`` of their carries;
        ``act[p]`` is the activation register PE ``p`` reads."""
        raise NotImplementedError

    def elaborate(self, platform):
        m = Module()
        accept, close = row_flow_control(m, self.i, self.o, self.out_depth)

        # Input registers: capture every cycle (no enable); only valid bits gate state.
        # The activations have one copy per PE group (see SSTEngine's fanout).
        groups = pe_groups(self.pe, self.fanout)
        acts = broadcast_registers(m, self.i.p.act, groups, "act1")
        code = Signal(self.in_layout["code"].shape, reset_less=True, name="code1")
        valid = Signal(name="v1")
        last = Signal(name="l1")
        m.d.sync += [code.eq(self.i.p.code), valid.eq(accept), last.eq(close)]

        terms, cins = self._terms(m, acts, code)
        valid, last = delay_flags(m, valid, last, self.multiply_stages, "term")
        trees_into_accumulators(m, terms, cins, self._term_range(), self.acc_width,
                                stage_levels=self.tree_stage_levels, valid=valid, last=last,
                                tree_latency=self.tree_latency, depth=self.out_depth,
                                o=self.o, groups=groups)
        return m


class DenseIntEngine(_DenseEngine):
    """Dense integer baseline: every weight a signed integer, multiplied.

    Same interface and behaviour as :class:`~.engine.SSTEngine` (see there
    for the stream protocol, flow control and ``out_depth``), except that
    each code word holds N two's-complement weights of ``weight_width`` bits,
    weight ``j`` at bits ``[j*b, (j+1)*b)`` (:class:`sst_hw.format.dense.WeightFormat`
    ``"int8"``); the zero code is 0.

    Pipeline (no stall inside; every stage carries a valid bit)::

        i -> input register (1) -> multipliers (4, product register included)
          -> adder trees (L_t) -> accumulators + output queue (1) -> o

    Multipliers ``0 .. dsp_mults-1`` in PE-major order (multiplier ``(p*SIMD
    + s)*N + j`` multiplies weight ``j`` of PE ``p``, subvector ``s``) are
    written as ``*``, which Yosys maps to DSP blocks (SB_MAC16 on the UP5K
    with ``synth_ice40 -dsp``, MULT18X18D on ECP5), between operand
    registers of their own and three registers after: an SB_MAC16 absorbs
    them all (A/B, F/J/K/G, H and O). On ECP5 Yosys packs no register
    into a MULT18X18D, and the DSP sites are spread over the die: the
    operand registers are there so that a placer can put one next to each
    DSP. nextpnr 0.11 does not (it places them with the rest of the logic),
    so large int8 engines stay at about 51 MHz on the ECP5 85F with or
    without them (14 x 4: 51.0 MHz without, 13 x 4: 50.9 MHz with; the path
    register -> DSP -> register crosses the die twice). The rest are
    :class:`~.multiplier.LUTMultiplier` (no ``$mul``: always LUT logic) with
    three registers inside, then the product register: about one adder
    level per cycle.

    Why three registers after ``*`` and not one: Yosys 0.70's
    ``ice40_dsp`` then packs the first adder-tree level into one SB_MAC16
    of each pair, takes the neighbour's product register as that DSP's C/D
    input register while the neighbour's DSP absorbs the same register, and
    the netlist loses one product of each pair (C/D tied to x); a ``keep``
    attribute on the products only moves the fault (found by simulating
    the synthesized netlist with this testbench). With the output register
    O taken by the product, no adder can be packed and the tree reads DSP
    outputs.

    Latency: ``latency = 6 + L_t`` cycles (same definition as SSTEngine),
    ``L_t = ceil(ceil(log2(N*SIMD)) / tree_stage_levels)`` (0 for
    ``tree_stage_levels=0`` or N*SIMD = 1); N=8, SIMD=1: 9 cycles.
    Throughput one beat (PE*SIMD*N weights) per cycle.

    Parameters
    ----------
    n : int
        Weights per code word (subvector), 1..64.
    weight_width : int
        Bits per weight, 2..16 (default 8).
    dsp_mults : int or None
        How many multipliers use ``*`` (DSP blocks), 0..PE*SIMD*N; ``None``
        (the default) for all.
    pe, simd, act_width, act_signed, tree_stage_levels, out_depth, fanout
        As for :class:`~.engine.SSTEngine`.
    max_row_len : int
        Longest row, in weights, that the accumulators hold without
        overflow: W = width of :func:`sst_hw.format.arith.dense_acc_range`
        (``max_row_len`` x the weight x activation product range).

    Members
    -------
    i : ``In(stream.Signature(input_layout(n, simd, pe, A, N*weight_width)))``
    o : ``Out(stream.Signature(acc_layout(pe, W)))``
    """

    params_type = DenseIntParams

    @classmethod
    def check(cls, *args, **kwargs) -> dict:
        attrs = super().check(*args, **kwargs)
        cfg = attrs["config"]
        attrs["product_shape"] = product_shape(signed(cfg.weight_width), cfg.act_shape)
        return attrs

    def _term_range(self):
        return product_range(self.weights.weight_range,
                             act_range(self.act_width, self.act_signed))

    def _terms(self, m, act, code):
        n, simd, ww = self.n, self.simd, self.weight_width
        terms = [[] for _ in range(self.pe)]
        for p in range(self.pe):
            for s in range(simd):
                for j in range(n):
                    idx = (p * simd + s) * n + j
                    x = act[p][s][j]
                    w = code[p][s][j * ww:(j + 1) * ww].as_signed()
                    prod = Signal(self.product_shape, reset_less=True, name=f"prod_{idx}")
                    if idx < self.dsp_mults:
                        # The DSP's operand registers and its three pipeline
                        # registers (see the class docstring).
                        xr = Signal.like(x, reset_less=True, name=f"mul_{idx}_a")
                        wr = Signal.like(w, reset_less=True, name=f"mul_{idx}_b")
                        r1 = Signal(self.product_shape, reset_less=True, name=f"mul_{idx}_r1")
                        r2 = Signal(self.product_shape, reset_less=True, name=f"mul_{idx}_r2")
                        m.d.sync += [xr.eq(x), wr.eq(w), r1.eq(xr * wr), r2.eq(r1),
                                     prod.eq(r2)]
                    else:
                        # The product register makes the 4th multiply stage.
                        mult = LUTMultiplier(self.act_shape, signed(ww),
                                             stages=self.multiply_stages - 1)
                        m.submodules[f"mul_{idx}"] = mult
                        m.d.comb += [mult.a.eq(x), mult.b.eq(w)]
                        m.d.sync += prod.eq(mult.p)
                    terms[p].append(prod)
        return terms, [0] * self.pe


class DenseTernaryEngine(_DenseEngine):
    """Dense ternary baseline: every weight in {-1, 0, +1}, 2 bits, no multiplier.

    Same interface and behaviour as :class:`~.engine.SSTEngine`, except that
    each code word holds N weights of 2 bits, weight ``j`` at bits ``[2j,
    2j+2)``: bit 0 = non-zero, bit 1 = sign (``00`` 0, ``01`` +1, ``11``
    -1; ``10`` reads as 0 and is never produced, see
    :class:`sst_hw.format.dense.WeightFormat` ``"ternary2"``). Each weight gates
    and optionally inverts its own activation, the negation's ``+1`` riding
    in the adder tree's carry-ins as in :class:`~.lane.SignSelectLane`; there
    is no selection multiplexer since nothing is sparse.

    Pipeline::

        i -> input register (1) -> sign-select, term register (1)
          -> adder trees (L_t) -> accumulators + output queue (1) -> o

    Latency ``3 + L_t`` cycles (same definition as SSTEngine, ``L_t`` as
    for :class:`DenseIntEngine`); throughput one beat (PE*SIMD*N weights)
    per cycle.

    Parameters
    ----------
    n : int
        Weights per code word, 1..64.
    pe, simd, act_width, act_signed, max_row_len, tree_stage_levels, out_depth, fanout
        As for :class:`~.engine.SSTEngine` (W from
        :func:`sst_hw.format.arith.dense_acc_range` with weights in -1..1, which is
        SST's rule with K = N).

    Members
    -------
    i : ``In(stream.Signature(input_layout(n, simd, pe, A, 2*N)))``
    o : ``Out(stream.Signature(acc_layout(pe, W)))``
    """

    params_type = DenseTernaryParams

    def _term_range(self):
        return term_range(self.act_width, self.act_signed)

    def _terms(self, m, act, code):
        tw = range_width(*self._term_range())
        terms = [[] for _ in range(self.pe)]
        cins = []
        for p in range(self.pe):
            corr = []
            for s in range(self.simd):
                for j in range(self.n):
                    idx = (p * self.simd + s) * self.n + j
                    nonzero, neg = code[p][s][2 * j], code[p][s][2 * j + 1]
                    x = act[p][s][j]
                    ext = x.as_signed() if self.act_signed else Cat(x, 0).as_signed()
                    term = Signal(signed(tw), reset_less=True, name=f"term_{idx}")
                    c = Signal(reset_less=True, name=f"corr_{idx}")
                    m.d.sync += [term.eq((ext ^ neg.replicate(tw)) & nonzero.replicate(tw)),
                                 c.eq(nonzero & neg)]
                    terms[p].append(term)
                    corr.append(c)
            cins.append(Cat(*corr))
        return terms, cins


def dense_engine(kind: str, n: int, **kwargs) -> _DenseEngine:
    """A dense engine of weight ``kind`` (``"int8"`` or ``"ternary2"``);
    ``kwargs`` go to :class:`DenseIntEngine` or :class:`DenseTernaryEngine`."""
    if kind == "int8":
        return DenseIntEngine(n, **kwargs)
    if kind == "ternary2":
        return DenseTernaryEngine(n, **kwargs)
    raise ValueError(f"dense weight kind must be one of {', '.join(map(repr, KINDS))}, "
                     f"not {kind!r}")
