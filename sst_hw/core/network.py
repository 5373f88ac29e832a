"""``SSTNetwork``: a whole SST network on chip, run layer by layer over one engine.

The network core (docs/architecture.md, "The network core")::

    i --> activation buffer (ping-pong) --+--> SSTEngine --> serialiser --+--> requant --+
          ^                               |        ^                     |               |
          |            code memory -------+        |                     +--> o (logits, |
          +------------------------------------------------------------------ class)  <--+

Each block is a component of its own, which :class:`SSTNetwork` only
instantiates and connects:

* **Code memory** (:class:`~sst_hw.core.code_memory.CodeMemory`): the codes of
  every layer, one word per engine beat (:meth:`NetPlan.code_image
  <sst_hw.plan.network.NetPlan.code_image>`), read in order; in block RAM
  initialised from the model (``memory="bram"``) or in the UP5K's SPRAM
  (``memory="spram"``), which the bitstream cannot initialise: the core then
  is loadable, with an ``image`` port that writes the code words and the
  requantization table (also in block RAM with ``loadable=True``).
* **Activation buffer** (:class:`~sst_hw.core.act_buffer.ActivationBuffer`):
  one memory of two banks (ping-pong), words of ``SIMD*N*A`` bits = one
  engine beat of activations, written one activation per cycle (write
  granularity A), from the input stream ``i`` or from the requantizer.
* **Sequencer** (:class:`~sst_hw.core.sequencer.Sequencer`): per layer, per
  group of PE rows, reads ``Sb`` consecutive code and activation words into
  the engine, ``last`` on the final one; row groups start ``T = max(Sb, PE,
  L)`` cycles apart so that neither the engine nor the serialiser ever
  stalls (closed-form timing). A layer starts when the previous one's last
  activation is written.
* **Serialiser** (:class:`~sst_hw.core.serialiser.Serialiser`): takes each
  engine result (PE accumulators) into a shift register and hands one
  accumulator per cycle to the shared
  :class:`~sst_hw.core.requant.Requantizer` (hidden layers), whose output is
  written to the other bank, or to ``o`` (last layer), tracking the arg-max.

Timing: :meth:`NetPlan.cycles <sst_hw.plan.network.NetPlan.cycles>` cycles per
inference when the input comes back to back and ``o.ready`` stays high;
both streams have real backpressure otherwise.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring

from sst_hw.format.limits import check_bool
from sst_hw.plan.network import NetPlan, plan_network
from sst_hw.rtl._util import CheckedComponent
from sst_hw.rtl.engine import SSTEngine
from sst_hw.core.act_buffer import ActivationBuffer
from sst_hw.core.code_memory import CodeMemory
from sst_hw.core.requant import Requantizer
from sst_hw.core.sequencer import Sequencer
from sst_hw.core.serialiser import Serialiser

__all__ = ["SSTNetwork"]


class SSTNetwork(CheckedComponent):
    """A whole SST network: code memory, activation buffers, engine, sequencer,
    requantization, arg-max.

    The core is built from its plan (:attr:`plan`, a
    :class:`~sst_hw.plan.network.NetPlan`): give the plan, or the network
    and the options below, which :func:`~sst_hw.plan.network.plan_network`
    checks before the core exists. The core only builds the plan's hardware;
    its Verilog and sidecar are written by :mod:`sst_hw.emit.network`.

    Parameters
    ----------
    network : Network or NetPlan
        The golden model (every layer must use the same codebook), or its
        plan (then no option but ``spram_primitive``).
    pe, simd : int
        Engine processing elements (rows in flight) and subvectors per beat.
    memory : str
        ``"bram"``: codes in block RAM, initialised from the model.
        ``"spram"``: codes in SB_SPRAM256KA (iCE40 UP5K), written through the
        ``image`` port.
    requant : str
        ``"auto"`` (shift mode when every hidden ``M_r`` is 1), ``"shift"``
        (no multiplier) or ``"mult"`` (16-bit multiplier).
    rom, select_reg, tree_stage_levels :
        The engine's (:class:`~sst_hw.plan.engine.SSTParams`).
    mem_reg : bool
        Register the code and activation words between the memories and the
        engine (one more cycle per layer; shortens the critical path from the
        memories' outputs into the decoders).
    spram_primitive : bool
        With ``memory="spram"``: instantiate SB_SPRAM256KA (default; for
        synthesis and Verilog simulation with
        :data:`~sst_hw.core.spram.SB_SPRAM256KA_SIM`), or a behavioural memory for
        Amaranth's simulator.

    Members
    -------
    i : ``In(stream.Signature(StructLayout({"data": A_in})))``
        The input features, one per beat, in order (``A_in`` =
        ``network.input_width`` bits, signed as ``network.input_signed``).
    o : ``Out(stream.Signature(StructLayout({"data": signed(Wo), "last": 1})))``
        The logits in order (sign-extended accumulators), then the arg-max
        class index (lowest index on ties) with ``last``.
    image : ``Out(plan.image_signature)``
        Only when ``plan.loadable`` (always with ``memory="spram"``): the port
        that writes and reads back the model image, word by word, between
        inferences (:attr:`NetPlan.image_signature
        <sst_hw.plan.network.NetPlan.image_signature>`).
    """

    @classmethod
    def check(cls, network, *, spram_primitive: bool = True, **options) -> dict:
        if isinstance(network, NetPlan):
            if options:
                raise TypeError(f"the plan fixes every option of the core but spram_primitive, "
                                f"not {', '.join(sorted(options))}")
            plan = network
        else:
            plan = plan_network(network, **options)
        return {"plan": plan, "network": plan.network, "memory": plan.memory,
                "spram_primitive": check_bool("spram_primitive", spram_primitive)}

    def __init__(self, *args, **kwargs):   # the arguments of check(), already checked
        super().__init__(self.plan.signature)

    # -- description ----------------------------------------------------------------------

    @property
    def cycles_per_inference(self) -> int:
        """:meth:`NetPlan.cycles <sst_hw.plan.network.NetPlan.cycles>`."""
        return self.plan.cycles()

    @property
    def params(self) -> dict:
        """JSON-ready parameters (the sidecar's ``parameters``: :attr:`NetPlan.params
        <sst_hw.plan.network.NetPlan.params>`)."""
        return self.plan.params

    # -- hardware --------------------------------------------------------------------------

    def elaborate(self, platform):
        m = Module()
        plan = self.plan
        m.submodules.engine = eng = SSTEngine(plan.engine)
        m.submodules.code_memory = code = CodeMemory(plan, primitive=self.spram_primitive)
        m.submodules.act_buffer = act = ActivationBuffer(plan)
        m.submodules.sequencer = seq = Sequencer(plan)
        m.submodules.serialiser = ser = Serialiser(plan)

        # Data: input -> buffer -> sequencer -> engine -> serialiser -> o.
        wiring.connect(m, wiring.flipped(self.i), act.i)
        wiring.connect(m, seq.code, code.read)
        wiring.connect(m, seq.act, act.read)
        wiring.connect(m, seq.o, eng.i)
        wiring.connect(m, eng.o, ser.i)
        wiring.connect(m, seq.ctx, ser.ctx)
        wiring.connect(m, ser.o, wiring.flipped(self.o))

        # Control: the phases of an inference are held by the components that
        # do the work (code memory loaded; sequencer running; serialiser
        # offering the class); in between, the buffer takes the next input.
        m.d.comb += [
            act.take.eq(code.ready & ~seq.ctx.running & ~ser.busy),
            seq.start.eq(act.done),
            code.rewind.eq(act.done),
            seq.stop.eq(ser.done),
        ]

        # Requantization (hidden layers): serialiser -> requantizer -> the other
        # bank; a layer's final row written lets the next layer start.
        if len(plan.layers) > 1:
            rq = Requantizer(acc_width=plan.acc_width, table=plan.param_image(),
                             add_bits=plan.add_bits, shift_mode=plan.requant == "shift",
                             layers=[(lp.shift, lp.lo, lp.hi) for lp in plan.hidden],
                             out_shape=act.act_shape, tag_width=ser.tag_layout.size,
                             shift_bits=plan.shift_bits, writable=plan.loadable,
                             bank_rows=plan.param_rows_pow2 if plan.banks == 2 else 0)
            m.submodules.requant = rq
            out_tag = Signal(ser.tag_layout, name="rq_out_tag")
            m.d.comb += [
                rq.valid.eq(ser.q.valid), rq.acc.eq(ser.q.acc), rq.row.eq(ser.q.row),
                rq.layer.eq(seq.ctx.layer), rq.tag.eq(ser.q.tag),
                out_tag.eq(rq.o_tag),
                act.w_valid.eq(rq.o_valid & out_tag.real), act.w_word.eq(out_tag.word),
                act.w_lane.eq(out_tag.lane), act.w_data.eq(rq.y),
                seq.next.eq(rq.o_valid & out_tag.final),
            ]
        if plan.loadable:
            self._image_port(m, code, rq if len(plan.layers) > 1 else None)
        return m

    def _image_port(self, m, code, rq):
        """The ``image`` port onto the loadable banks of the code memory
        (``sel`` 0) and the requantization table (``sel`` 1)."""
        img = self.image
        code_sel = img.sel == 0
        m.d.comb += [code.img_addr.eq(img.addr), code.img_wdata.eq(img.wdata),
                     code.img_we.eq(img.we & code_sel), code.img_re.eq(img.re & code_sel),
                     code.use_loaded.eq(img.use_loaded)]
        read_sel = Signal(name="image_read_sel")     # which memory the last read was of
        with m.If(img.re):
            m.d.sync += read_sel.eq(img.sel)
        m.d.comb += img.rdata.eq(code.read.data)
        if rq is not None:
            m.d.comb += [rq.img_addr.eq(img.addr), rq.img_wdata.eq(img.wdata),
                         rq.img_we.eq(img.we & ~code_sel), rq.img_re.eq(img.re & ~code_sel),
                         rq.use_loaded.eq(img.use_loaded)]
            with m.If(read_sel):
                m.d.comb += img.rdata.eq(rq.img_rdata)
