"""``SSTNetwork``: a whole SST network on chip, run layer by layer over one engine.

The network core (DESIGN.md section 3)::

    i --> activation buffer (ping-pong) --+--> SSTEngine --> serialiser --+--> requant --+
          ^                               |        ^                     |               |
          |            code memory -------+        |                     +--> o (logits, |
          +------------------------------------------------------------------ class)  <--+

* **Code memory**: the codes of every layer, one word per engine beat
  (:meth:`NetPlan.code_image <sst_hw.plan.network.NetPlan.code_image>`), in block
  RAM initialised from the model (``memory="bram"``) or in the UP5K's SPRAM
  (``memory="spram"``), which the bitstream cannot initialise: the core then
  has a ``load`` stream that takes the code words, in order, after reset.
* **Activation buffer**: one memory of two banks (ping-pong), words of
  ``SIMD*N*A`` bits = one engine beat of activations, written one activation
  per cycle (write granularity A).
* **Sequencer**: per layer, per group of PE rows, reads ``Sb`` consecutive
  code and activation words into the engine, ``last`` on the final one; row
  groups start ``T = max(Sb, PE, L)`` cycles apart so that neither the
  engine nor the serialiser ever stalls (closed-form timing).
* **Serialiser**: takes each engine result (PE accumulators) into a shift
  register and hands one accumulator per cycle to the shared
  :class:`~.net_requant.Requantizer` (hidden layers), whose output is
  written to the other bank, or to ``o`` (last layer), tracking the arg-max.
* A layer starts when the previous one's last activation is written.

Timing: :meth:`NetPlan.cycles <sst_hw.plan.network.NetPlan.cycles>` cycles per
inference when the input comes back to back and ``o.ready`` stays high;
both streams have real backpressure otherwise.
"""

from __future__ import annotations

import os
from pathlib import Path

from amaranth.back import verilog
from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from sst_hw.format import limits
from sst_hw.format.golden import Network
from sst_hw.format.limits import check_size
from sst_hw.plan.network import (
    MEMORIES,
    REQUANT_LATENCY,
    REQUANT_MODES,
    SERIALISER_LATENCY,
    engine_act_format,
    plan_network)
from sst_hw.rtl._util import check_bool, check_choice
from sst_hw.emit.engine import describe_layout, engine_ports
from sst_hw.rtl.engine import SSTEngine
from sst_hw.core.requant import Requantizer
from sst_hw.core.spram import SB_SPRAM256KA_SIM, SPRAMMemory

__all__ = ["SSTNetwork", "network_plan", "network_sidecar", "network_verilog", "write_network",
           "SIDECAR_FORMAT", "SIDECAR_VERSION", "DEFAULT_MODULE_NAME"]

SIDECAR_FORMAT = "sst-hw/network"
SIDECAR_VERSION = 1
DEFAULT_MODULE_NAME = "sst_network"


class SSTNetwork(wiring.Component):
    """A whole SST network: code memory, activation buffers, engine, sequencer,
    requantization, arg-max.

    Parameters
    ----------
    network : Network
        The golden model; every layer must use the same codebook.
    pe, simd : int
        Engine processing elements (rows in flight) and subvectors per beat.
    memory : str
        ``"bram"``: codes in block RAM, initialised from the model.
        ``"spram"``: codes in SB_SPRAM256KA (iCE40 UP5K), loaded after reset
        through the ``load`` stream.
    requant : str
        ``"auto"`` (shift mode when every hidden ``M_r`` is 1), ``"shift"``
        (no multiplier) or ``"mult"`` (16-bit multiplier).
    rom, select_reg, tree_stage_levels :
        Passed to :class:`~.engine.SSTEngine`.
    mem_reg : bool
        Register the code and activation words between the memories and the
        engine (one more cycle per layer; shortens the critical path from the
        memories' outputs into the decoders).
    spram_primitive : bool
        With ``memory="spram"``: instantiate SB_SPRAM256KA (default; for
        synthesis and Verilog simulation with
        :data:`~.net_spram.SB_SPRAM256KA_SIM`), or a behavioural memory for
        Amaranth's simulator.

    Members
    -------
    i : ``In(stream.Signature(StructLayout({"data": A_in})))``
        The input features, one per beat, in order (``A_in`` =
        ``network.input_width`` bits, signed as ``network.input_signed``).
    o : ``Out(stream.Signature(StructLayout({"data": signed(Wo), "last": 1})))``
        The logits in order (sign-extended accumulators), then the arg-max
        class index (lowest index on ties) with ``last``.
    load : ``In(stream.Signature(StructLayout({"data": unsigned(PE*SIMD*B)})))``
        Only with ``memory="spram"``: the code memory words, in order,
        accepted after reset until all ``plan.code_words`` have arrived;
        inference starts after that.
    """

    def __init__(self, network: Network, *, pe: int = 4, simd: int = 2, memory: str = "bram",
                 requant: str = "auto", rom: str = "auto", select_reg: bool = False,
                 tree_stage_levels: int = 1, mem_reg: bool = True,
                 spram_primitive: bool = True):
        try:
            self._setup(network, pe, simd, memory, requant, rom, select_reg, tree_stage_levels,
                        mem_reg, spram_primitive)
        except BaseException:
            self._MustUse__used = True   # a core that failed to build is not "unused"
            raise

    def _setup(self, network, pe, simd, memory, requant, rom, select_reg, tree_stage_levels,
               mem_reg, spram_primitive):
        if not isinstance(network, Network):
            raise TypeError(f"network must be a Network, not {type(network).__name__}")
        check_choice("memory", memory, MEMORIES)
        check_choice("requant", requant, REQUANT_MODES)
        pe = check_size("pe", pe, limits.PE)
        simd = check_size("simd", simd, limits.SIMD)
        self.network = network
        self.memory = memory
        self.spram_primitive = check_bool("spram_primitive", spram_primitive)
        cb = network.layers[0].codebook
        # The engine's formats (the plan needs its latency, so it comes first).
        act_w, act_s = engine_act_format(network.input_formats())
        max_row = max(l.in_features for l in network.layers)
        self.engine = SSTEngine(cb.n, cb.k, cb.variant, cb.assignment, pe=pe, simd=simd,
                                act_width=act_w, act_signed=act_s, max_row_len=max_row,
                                rom=rom, select_reg=select_reg,
                                tree_stage_levels=tree_stage_levels, out_depth=2)
        # Owned by this core and elaborated with it: only the core may warn "unused".
        self.engine._MustUse__used = True
        self.plan = plan_network(network, pe=pe, simd=simd, memory=memory, requant=requant,
                                 engine_latency=self.engine.latency,
                                 mem_reg=check_bool("mem_reg", mem_reg))
        plan = self.plan
        if plan.acc_width != self.engine.acc_width:   # pragma: no cover - same formula
            raise AssertionError(f"plan acc width {plan.acc_width} != engine "
                                 f"{self.engine.acc_width}")
        self.in_shape = (signed(network.input_width) if network.input_signed
                         else unsigned(network.input_width))
        self.i_layout = data.StructLayout({"data": self.in_shape})
        self.o_layout = data.StructLayout({"data": signed(plan.out_width), "last": 1})
        members = {
            "i": In(stream.Signature(self.i_layout)),
            "o": Out(stream.Signature(self.o_layout)),
        }
        if memory == "spram":
            self.load_layout = data.StructLayout({"data": unsigned(plan.code_word_bits)})
            members["load"] = In(stream.Signature(self.load_layout))
        else:
            self.load_layout = None
        super().__init__(members)

    # -- description ----------------------------------------------------------------------

    @property
    def cycles_per_inference(self) -> int:
        """:meth:`NetPlan.cycles <sst_hw.plan.network.NetPlan.cycles>`."""
        return self.plan.cycles()

    @property
    def params(self) -> dict:
        """JSON-ready parameters (the sidecar's ``parameters``)."""
        p, e = self.plan, self.engine
        return {
            "pe": p.pe, "simd": p.simd, "memory": p.memory, "requant": p.requant,
            "n": e.n, "k": e.k, "variant": e.variant, "assignment": e.assignment,
            "code_bits": e.code_bits, "act_width": p.act_width, "act_signed": p.act_signed,
            "acc_width": p.acc_width, "max_row_len": p.max_row_len,
            "input_width": p.input_width, "input_signed": p.input_signed,
            "input_features": p.input_features, "classes": p.classes,
            "out_width": p.out_width, "rom": e.rom, "select_reg": e.select_reg,
            "tree_stage_levels": e.tree_stage_levels, "mem_reg": p.mem_reg,
            "engine_latency": e.latency,
        }

    # -- hardware --------------------------------------------------------------------------

    def elaborate(self, platform):
        m = Module()
        plan, eng = self.plan, self.engine
        PE, lanes, A = plan.pe, plan.lanes, plan.act_width
        D = plan.act_bank_words
        nlayers = len(plan.layers)
        act_shape = signed(A) if plan.act_signed else unsigned(A)
        m.submodules.engine = eng

        # -- memories ------------------------------------------------------------------
        act_mem = Memory(shape=unsigned(plan.act_word_bits), depth=plan.act_words, init=[],
                         attrs={"ram_style": "block"})
        m.submodules.act_mem = act_mem
        act_wr = act_mem.write_port(granularity=A)
        act_rd = act_mem.read_port(domain="sync")

        code_addr = Signal(range(max(2, plan.code_words)), name="code_addr")
        code_data = Signal(plan.code_word_bits, name="code_data")
        code_re = Signal(name="code_re")
        if self.memory == "bram":
            code_mem = Memory(shape=unsigned(plan.code_word_bits), depth=plan.code_words,
                              init=plan.code_image(), attrs={"rom_style": "block"})
            m.submodules.code_mem = code_mem
            code_rd = code_mem.read_port(domain="sync")
            m.d.comb += [code_rd.addr.eq(code_addr), code_rd.en.eq(code_re),
                         code_data.eq(code_rd.data)]
            spram = None
        else:
            spram = SPRAMMemory(plan.code_word_bits, plan.code_words,
                                primitive=self.spram_primitive)
            m.submodules.code_mem = spram
            m.d.comb += [spram.addr.eq(code_addr), spram.re.eq(code_re),
                         code_data.eq(spram.rdata)]

        # -- per-layer constants: registers loaded when a layer starts ---------------------
        layer = Signal(range(max(2, nlayers)), name="layer")
        consts = {}

        def const_reg(name, values):
            values = [int(v) for v in values]
            reg = Signal(max(1, max(values).bit_length()), init=values[0], name=name)
            consts[name] = (reg, values)
            return reg

        beats = const_reg("l_beats", [lp.beats for lp in plan.layers])
        period = const_reg("l_period", [lp.period for lp in plan.layers])
        outs = const_reg("l_out", [lp.out_features for lp in plan.layers])
        final_row = const_reg("l_final_row", [lp.groups * PE - 1 for lp in plan.layers])
        is_last = const_reg("l_is_last", [int(lp.last) for lp in plan.layers])

        def load_consts(index):
            """Statements loading every per-layer register for layer ``index``."""
            stmts = []
            for reg, values in consts.values():
                if len(set(values)) == 1:
                    stmts.append(reg.eq(values[0]))
                else:
                    stmts.append(reg.eq(Array(Const(v, reg.shape()) for v in values)[index]))
            return stmts

        # -- sequencer state ------------------------------------------------------------
        # LOAD: taking the input; RUN: layers; CLASS: offering the class; CODES: spram load.
        running = Signal(name="running")    # a register: the FSM is in RUN
        rd_base = Signal(range(2 * D), name="rd_base")        # bank read by this layer
        wr_base = Signal(range(2 * D), init=D, name="wr_base")  # bank it writes

        # Input load counters.
        in_count = Signal(range(max(2, plan.input_features)), name="in_count")
        in_lane = Signal(range(max(2, lanes)), name="in_lane")
        in_word = Signal(range(max(2, D)), name="in_word")

        # Issue side: slot within a group period, group, activation word.
        beats_left = Signal(range(max(lp.beats for lp in plan.layers) + 1), name="beats_left")
        slots_left = Signal(range(max(lp.period for lp in plan.layers) + 1), name="slots_left")
        groups_left = Signal(range(max(lp.groups for lp in plan.layers) + 1),
                             name="groups_left")
        issuing = Signal(name="issuing")
        rd_word = Signal(range(2 * D), name="rd_word")
        s1_valid = Signal(name="s1_valid")
        s1_last = Signal(name="s1_last")
        advance = Signal(name="advance")

        # Serialiser.
        W = plan.acc_width
        ser = Signal(data.ArrayLayout(signed(W), PE), name="ser", reset_less=True)
        ser_left = Signal(range(PE + 1), name="ser_left")
        max_rows = max(lp.groups * PE for lp in plan.layers)
        ser_row = Signal(range(max_rows + 1), name="ser_row")
        ser_lane = Signal(range(max(2, lanes)), name="ser_lane")
        max_word = 2 * D + max(lp.groups * PE for lp in plan.layers) // lanes + 2
        ser_word = Signal(range(max_word), name="ser_word")
        prow = Signal(range(max(2, plan.param_rows + 1)), name="prow")
        head = Signal(signed(W), name="head")
        m.d.comb += head.eq(ser[0])
        ser_active = Signal(name="ser_active")   # ser_left != 0, as a register
        ser_one = Signal(name="ser_one")         # ser_left == 1, as a register
        ser_adv = Signal(name="ser_adv")
        ser_take = Signal(name="ser_take")
        # Flags of the row at the serialiser head, kept as registers (rows go up by one).
        real = Signal(init=1, name="real")        # ser_row < out_features
        final = Signal(name="final")              # ser_row == G*PE - 1

        # Arg-max.
        best = Signal(signed(W), name="best", reset_less=True)
        best_idx = Signal(range(max(2, plan.classes)), name="best_idx")
        # head > best, precomputed when the head changes (off the enable path):
        # the new head against the best as it stands after the current head.
        gt = Signal(name="gt")
        first = Signal(name="first")              # ser_row == 0
        wins = Signal(name="wins")                # the head is the new arg-max

        # -- engine input: memory reads -> stage 1 [-> stage 2] -> engine.i -----------------
        # Stage 1 is the memories' read data (held while stalled: read enable low);
        # with mem_reg a register stage follows, off the memories' clock-to-out.
        if plan.mem_reg:
            s2_valid = Signal(name="s2_valid")
            s2_last = Signal(name="s2_last")
            s2_act = Signal(len(act_rd.data), name="s2_act", reset_less=True)
            s2_code = Signal(plan.code_word_bits, name="s2_code", reset_less=True)
            advance2 = Signal(name="advance2")
            m.d.comb += [advance2.eq(~s2_valid | eng.i.ready),
                         advance.eq(~s1_valid | advance2),
                         eng.i.valid.eq(s2_valid),
                         eng.i.payload.act.as_value().eq(s2_act),
                         eng.i.payload.code.as_value().eq(s2_code),
                         eng.i.payload.last.eq(s2_last)]
            with m.If(advance2):
                m.d.sync += [s2_valid.eq(s1_valid), s2_last.eq(s1_last),
                             s2_act.eq(act_rd.data), s2_code.eq(code_data)]
        else:
            m.d.comb += [advance.eq(~s1_valid | eng.i.ready),
                         eng.i.valid.eq(s1_valid),
                         eng.i.payload.act.as_value().eq(act_rd.data),
                         eng.i.payload.code.as_value().eq(code_data),
                         eng.i.payload.last.eq(s1_last)]
        m.d.comb += [
            act_rd.addr.eq(rd_word),
            act_rd.en.eq(advance),
            code_re.eq(advance & running),
        ]
        # Down-counters: beats still to issue in this group, slots left in its
        # period, groups left (short compares on the memories' address path).
        issue = Signal(name="issue")
        m.d.comb += issue.eq(running & issuing & (beats_left != 0))
        with m.If(advance):
            m.d.sync += [s1_valid.eq(issue), s1_last.eq(beats_left == 1)]
            with m.If(issue):
                m.d.sync += [code_addr.eq(code_addr + 1), rd_word.eq(rd_word + 1),
                             beats_left.eq(beats_left - 1)]
            with m.If(running & issuing):
                with m.If(slots_left == 1):
                    m.d.sync += [slots_left.eq(period), beats_left.eq(beats),
                                 rd_word.eq(rd_base), groups_left.eq(groups_left - 1)]
                    with m.If(groups_left == 1):
                        m.d.sync += issuing.eq(0)
                with m.Else():
                    m.d.sync += slots_left.eq(slots_left - 1)

        # -- serialiser ----------------------------------------------------------------
        m.d.comb += [
            ser_adv.eq(running & ser_active & (~is_last | ~real | self.o.ready)),
            eng.o.ready.eq(~ser_active | (ser_one & ser_adv)),
            ser_take.eq(eng.o.valid & eng.o.ready),
        ]
        with m.If(ser_take):
            m.d.sync += [ser.eq(eng.o.payload.acc), ser_left.eq(PE), ser_active.eq(1),
                         ser_one.eq(PE == 1)]
        with m.Elif(ser_adv):
            m.d.sync += [ser_left.eq(ser_left - 1), ser_active.eq(~ser_one),
                         ser_one.eq(ser_left == 2)]
            for p in range(PE - 1):
                m.d.sync += ser[p].eq(ser[p + 1])
        # The next head is the engine's PE 0 if the serialiser is empty or on its
        # last value, else ser[1]. Both are compared with the current head and
        # best from registers; the registered select and the late handshake
        # (wins: o.ready, ser_adv) only reach the final multiplexers.
        acc0 = eng.o.payload.acc[0]
        from_engine = Signal(name="nh_from_engine")
        m.d.comb += [
            from_engine.eq(ser_one | ~ser_active),
            wins.eq(is_last & ser_adv & real & (first | gt)),
        ]
        if PE == 1:
            gt_if_wins, gt_if_not = acc0 > head, acc0 > best
        else:
            gt_if_wins = Mux(from_engine, acc0 > head, ser[1] > head)
            gt_if_not = Mux(from_engine, acc0 > best, ser[1] > best)
        with m.If(ser_take | ser_adv):
            m.d.sync += gt.eq(Mux(wins, gt_if_wins, gt_if_not))
        with m.If(ser_adv):
            m.d.sync += [ser_row.eq(ser_row + 1), final.eq(ser_row + 1 == final_row),
                         first.eq(0)]
            with m.If(ser_row + 1 == outs):
                m.d.sync += real.eq(0)
            with m.If(ser_lane == lanes - 1):
                m.d.sync += [ser_lane.eq(0), ser_word.eq(ser_word + 1)]
            with m.Else():
                m.d.sync += ser_lane.eq(ser_lane + 1)
            with m.If(~is_last):
                m.d.sync += prow.eq(prow + 1)

        # -- requantization (hidden layers) -> the other bank ---------------------------------
        wr_en = Signal(len(act_wr.en), name="wr_en")
        wr_addr = Signal(range(2 * D), name="wr_addr")
        wr_val = Signal(act_shape, name="wr_val")
        layer_done = Signal(name="layer_done")
        if nlayers > 1:
            tag = data.StructLayout({"word": ser_word.shape(), "lane": in_lane.shape(),
                                     "real": 1, "final": 1})
            rq = Requantizer(acc_width=W, table=plan.param_image(), add_bits=plan.add_bits,
                             shift_mode=plan.requant == "shift",
                             layers=[(lp.shift, lp.lo, lp.hi) for lp in plan.hidden],
                             out_shape=act_shape, tag_width=tag.size)
            m.submodules.requant = rq
            assert rq.latency == REQUANT_LATENCY   # the cycle formula's figure
            rq_tag = Signal(tag, name="rq_tag")
            out_tag = Signal(tag, name="rq_out_tag")
            m.d.comb += [
                rq.valid.eq(ser_adv & ~is_last),
                rq.acc.eq(head),
                rq.row.eq(prow),
                rq.layer.eq(layer),
                rq_tag.word.eq(ser_word), rq_tag.lane.eq(ser_lane),
                rq_tag.real.eq(real), rq_tag.final.eq(final),
                rq.tag.eq(rq_tag),
                out_tag.eq(rq.o_tag),
                layer_done.eq(rq.o_valid & out_tag.final),
            ]
            with m.If(rq.o_valid & out_tag.real):
                m.d.comb += [wr_addr.eq(out_tag.word), wr_val.eq(rq.y),
                             wr_en.eq(Cat(out_tag.lane == j for j in range(lanes)))]

        # -- the FSM -------------------------------------------------------------------------
        in_val = Signal(act_shape, name="in_val")
        m.d.comb += in_val.eq(self.i.payload.data)
        m.d.comb += [act_wr.addr.eq(wr_addr), act_wr.data.eq(Cat(*[wr_val] * lanes)),
                     act_wr.en.eq(wr_en)]

        first_final = [lp.groups * PE == 1 for lp in plan.layers]

        def layer_value(attr, index):
            values = [getattr(lp, attr) for lp in plan.layers]
            if len(set(values)) == 1:
                return Const(values[0])
            return Array(Const(v) for v in values)[index]

        def start_layer(rd, wr, nxt_layer):
            if len(set(first_final)) == 1:
                fin = Const(int(first_final[0]), 1)
            else:
                fin = Array(Const(int(v), 1) for v in first_final)[nxt_layer]
            return [layer.eq(nxt_layer), issuing.eq(1),
                    beats_left.eq(layer_value("beats", nxt_layer)),
                    slots_left.eq(layer_value("period", nxt_layer)),
                    groups_left.eq(layer_value("groups", nxt_layer)),
                    rd_word.eq(rd), rd_base.eq(rd), wr_base.eq(wr),
                    ser_row.eq(0), ser_lane.eq(0), ser_word.eq(wr),
                    real.eq(1), final.eq(fin), first.eq(1), *load_consts(nxt_layer)]

        with m.FSM(init="CODES" if self.memory == "spram" else "LOAD"):
            if self.memory == "spram":
                with m.State("CODES"):
                    m.d.comb += [self.load.ready.eq(1), spram.wdata.eq(self.load.payload.data)]
                    with m.If(self.load.valid):
                        m.d.comb += spram.we.eq(1)
                        m.d.sync += code_addr.eq(code_addr + 1)
                        with m.If(code_addr == plan.code_words - 1):
                            m.d.sync += code_addr.eq(0)
                            m.next = "LOAD"
            with m.State("LOAD"):
                m.d.comb += self.i.ready.eq(1)
                with m.If(self.i.valid):
                    m.d.comb += [wr_addr.eq(in_word), wr_val.eq(in_val),
                                 wr_en.eq(Cat(in_lane == j for j in range(lanes)))]
                    with m.If(in_lane == lanes - 1):
                        m.d.sync += [in_lane.eq(0), in_word.eq(in_word + 1)]
                    with m.Else():
                        m.d.sync += in_lane.eq(in_lane + 1)
                    m.d.sync += in_count.eq(in_count + 1)
                    with m.If(in_count == plan.input_features - 1):
                        m.d.sync += [in_count.eq(0), in_lane.eq(0), in_word.eq(0),
                                     code_addr.eq(0), prow.eq(0)]
                        m.d.sync += [*start_layer(0, D, 0), running.eq(1)]
                        m.next = "RUN"
            with m.State("RUN"):
                # Last layer: the logits go out, the arg-max follows them.
                m.d.comb += [self.o.valid.eq(is_last & ser_active & real),
                             self.o.payload.data.eq(head)]
                with m.If(is_last & ser_adv):
                    with m.If(wins):
                        m.d.sync += [best.eq(head), best_idx.eq(ser_row)]
                    with m.If(final):
                        m.d.sync += running.eq(0)
                        m.next = "CLASS"
                with m.If(layer_done):
                    m.d.sync += start_layer(wr_base, rd_base, layer + 1)
            with m.State("CLASS"):
                m.d.comb += [self.o.valid.eq(1), self.o.payload.data.eq(best_idx),
                             self.o.payload.last.eq(1)]
                with m.If(self.o.ready):
                    m.next = "LOAD"
        return m


def network_plan(network: Network, **kwargs):
    """The :class:`~sst_hw.plan.network.NetPlan` of ``SSTNetwork(network, **kwargs)``
    (same checks and messages) without building a core to elaborate."""
    core = SSTNetwork(network, **kwargs)
    core._MustUse__used = True
    return core.plan


# -- Verilog and sidecar ------------------------------------------------------------------------

def _stream_info(name: str, direction: str, layout) -> dict:
    return {"direction": direction, "valid": f"{name}__valid", "ready": f"{name}__ready",
            "payload": f"{name}__payload", "width": layout.size,
            "fields": describe_layout(layout)}


def _check_name(core: SSTNetwork, name: str) -> str:
    import re
    if not isinstance(name, str) or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
        raise ValueError(f"module name must be a Verilog identifier ([A-Za-z_][A-Za-z0-9_]*), "
                         f"not {name!r}")
    if name in {p["name"] for p in engine_ports(core)}:
        raise ValueError(f"module name {name!r} is also a port name (Verilator refuses that)")
    return name


def network_sidecar(core: SSTNetwork, name: str = DEFAULT_MODULE_NAME,
                    verilog_file: str | None = None, device=None) -> dict:
    """The JSON sidecar of ``core`` emitted as module ``name``.

    Same conventions as the engine's (:mod:`sst_hw.emit.engine`): ports,
    streams with the offset/width/shape of every payload field, clock and
    reset, codebook; plus ``cycles_per_inference`` (and its ``latency``
    alias) with the formula and its definition, the memories (code memory
    word width and count, which the ``load`` stream takes in spram mode),
    the layer schedule and, given a ``device``, the resources against it.
    """
    _check_name(core, name)
    plan, cb = core.plan, core.engine.codebook
    streams = {"i": _stream_info("i", "input", core.i_layout),
               "o": _stream_info("o", "output", core.o_layout)}
    if core.load_layout is not None:
        streams["load"] = _stream_info("load", "input", core.load_layout)
    cycles = plan.cycles()
    definition = ("clock cycles from the cycle the first input beat of an inference is "
                  "accepted to the cycle its class beat (last) is accepted, both included, "
                  "with the input offered back to back and o.ready high; the next inference "
                  "can start on the following cycle")
    side = {
        "format": SIDECAR_FORMAT,
        "version": SIDECAR_VERSION,
        "module": name,
        "verilog": verilog_file,
        "parameters": core.params,
        "clock": {"port": "clk", "edge": "rising"},
        "reset": {"port": "rst", "active": "high", "synchronous": True},
        "ports": engine_ports(core),
        "streams": streams,
        "protocol": {
            "i": f"{plan.input_features} input features per inference, one per beat, in order",
            "o": (f"{plan.classes} logits (raw last-layer accumulators, sign-extended to "
                  f"{plan.out_width} bits) in order, then the arg-max class index "
                  "(lowest index on ties) with last = 1"),
            **({"load": (f"after reset, exactly {plan.code_words} code words of "
                         f"{plan.code_word_bits} bits (code_memory.image order) before the "
                         "first inference")} if core.load_layout is not None else {}),
        },
        "cycles_per_inference": cycles,
        "latency": {"cycles": cycles, "definition": definition,
                    "formula": plan.formula_text(),
                    "evaluated": plan.formula()},
        "throughput": {"inferences_per_cycle": 1 / cycles},
        "memory": {
            "code": {"kind": plan.memory, "word_bits": plan.code_word_bits,
                     "words": plan.code_words, "bits": plan.code_bits,
                     "layout": ("word = one engine beat: PE p, subvector s at bit "
                                "((p*SIMD)+s)*B; layers in order, groups of PE rows, Sb "
                                "words per group; padding = zero_code"),
                     "initialised": plan.memory == "bram"},
            "activations": {"word_bits": plan.act_word_bits, "words": plan.act_words,
                            "bank_words": plan.act_bank_words, "bits": plan.act_bits},
            "requant": {"mode": plan.requant, "word_bits": plan.param_word_bits,
                        "words": plan.param_rows, "add_bits": plan.add_bits,
                        "mult_bits": plan.mult_bits},
        },
        "network": plan.describe(),
        "codebook": {"variant": cb.variant, "assignment": cb.assignment, "bits": cb.bits,
                     "n": cb.n, "k": cb.k, "zero_code": cb.zero_code,
                     "vectors": cb.vector_list()},
    }
    if device is not None:
        side["resources"] = plan.resources(device)
    return side


def network_verilog(core: SSTNetwork, name: str = DEFAULT_MODULE_NAME) -> str:
    """Verilog text of ``core`` as module ``name``."""
    _check_name(core, name)
    return verilog.convert(core, name=name, emit_src=False)


def dumps_sidecar(sidecar: dict) -> str:
    """JSON text of a sidecar: indented, one code vector per line."""
    from sst_hw.emit.engine import dumps_sidecar as _dumps
    return _dumps(sidecar)


def write_network(core: SSTNetwork, verilog_path, json_path=None, *,
                  name: str = DEFAULT_MODULE_NAME, device=None,
                  sim_models: bool = True) -> tuple:
    """Write ``core``'s Verilog and sidecar (default: same path, ``.json``).

    In spram mode with ``sim_models``, also write ``<stem>_sim.v``: a
    behavioural SB_SPRAM256KA for Verilog simulators (not for synthesis).
    Everything is generated before anything is written. Returns the paths
    written.
    """
    vpath = Path(verilog_path)
    jpath = Path(json_path) if json_path is not None else vpath.with_suffix(".json")
    if vpath.resolve() == jpath.resolve():
        raise ValueError(f"the Verilog and sidecar paths must differ, not both {str(vpath)!r}")
    side = network_sidecar(core, name, verilog_file=os.path.relpath(vpath, jpath.parent),
                           device=device)
    files = {vpath: network_verilog(core, name)}
    if core.memory == "spram" and core.spram_primitive and sim_models:
        spath = vpath.with_name(vpath.stem + "_sim.v")
        side["simulation_models"] = [os.path.relpath(spath, jpath.parent)]
        files[spath] = SB_SPRAM256KA_SIM
    files[jpath] = dumps_sidecar(side)
    for path, content in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(content)
        os.replace(tmp, path)
    return tuple(files)
