"""``SSTConvNetwork``: a whole CNN on chip, pass by pass over one SST engine.

::

    i --> input buffer (2 banks) --+
                                   +--> feed (window generator) --> SSTEngine --> pool --> serialiser
    map memory (2 regions) --------+        ^ code memory                                  |      |
        ^                                                                                  |      v
        +---- writer (map words) <------------ R requantizers <---------------------------+  o (logits,
                                                                                                class)

The numbers it is built from are :class:`~sst_hw.plan.convnet.ConvPlan`'s
(:func:`~sst_hw.plan.convnet.plan_convnet`). The input of the next image is
taken while the current one is computed; an image's compute starts when it
is complete and the previous image's class beat has gone out.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, unsigned
from amaranth.lib.memory import Memory

from sst_hw.core.conv.feed import ConvFeed
from sst_hw.core.conv.input_buffer import ConvInput
from sst_hw.core.conv.pool import ConvPool
from sst_hw.core.conv.serialiser import ConvSerialiser
from sst_hw.core.conv.writer import ConvWriter
from sst_hw.core.requant import Requantizer
from sst_hw.plan.convnet import ConvPlan, plan_convnet
from sst_hw.rtl._util import CheckedComponent
from sst_hw.rtl.engine import SSTEngine

__all__ = ["SSTConvNetwork"]


class SSTConvNetwork(CheckedComponent):
    """The CNN core of a :class:`~sst_hw.format.convnet.ConvNetwork` (or its plan).

    Members
    -------
    i : ``In(stream.Signature(plan.in_layout))``
        The image, one feature per beat, HWC order.
    o : ``Out(stream.Signature(plan.out_layout))``
        The logits, then the class index with ``last``.
    """

    @classmethod
    def check(cls, network, **options) -> dict:
        if isinstance(network, ConvPlan):
            if options:
                raise TypeError(f"the plan fixes every option, not {', '.join(sorted(options))}")
            plan = network
        else:
            plan = plan_convnet(network, **options)
        return {"plan": plan, "network": plan.network}

    def __init__(self, *args, **kwargs):
        super().__init__(self.plan.signature)

    @property
    def cycles_per_inference(self) -> int:
        return self.plan.cycles()

    @property
    def params(self) -> dict:
        return self.plan.params

    def elaborate(self, platform):
        m = Module()
        plan = self.plan
        m.submodules.inbuf = inb = ConvInput(plan)
        m.submodules.feed = feed = ConvFeed(plan)
        m.submodules.engine = eng = SSTEngine(plan.engine)
        m.submodules.pool = pool = ConvPool(plan)
        m.submodules.serialiser = ser = ConvSerialiser(plan)
        m.submodules.writer = wr = ConvWriter(plan)
        code = Memory(shape=unsigned(plan.code_word_bits), depth=max(2, plan.code_words),
                      init=plan.code_image())
        maps = Memory(shape=unsigned(plan.map_word_bits), depth=max(2, plan.map_words), init=[])
        m.submodules.code_mem = code
        m.submodules.map_mem = maps
        crd = code.read_port(domain="sync")
        mrd = maps.read_port(domain="sync")
        mwr = maps.write_port()

        m.d.comb += [
            inb.i.valid.eq(self.i.valid), inb.i.payload.eq(self.i.payload),
            self.i.ready.eq(inb.i.ready),
            inb.r_addr.eq(feed.in_addr), inb.r_en.eq(feed.in_en), feed.in_data.eq(inb.r_data),
            mrd.addr.eq(feed.map_addr), mrd.en.eq(feed.map_en), feed.map_data.eq(mrd.data),
            crd.addr.eq(feed.code_addr), crd.en.eq(feed.code_en), feed.code_data.eq(crd.data),
            eng.i.valid.eq(feed.o.valid), eng.i.payload.eq(feed.o.payload),
            feed.o.ready.eq(eng.i.ready),
            pool.i.valid.eq(eng.o.valid), pool.i.payload.eq(eng.o.payload),
            eng.o.ready.eq(pool.i.ready),
            ser.i.valid.eq(pool.o.valid), ser.i.payload.eq(pool.o.payload),
            pool.o.ready.eq(ser.i.ready), pool.pass_index.eq(feed.pass_index),
            self.o.valid.eq(ser.o.valid), self.o.payload.eq(ser.o.payload),
            ser.o.ready.eq(self.o.ready),
            ser.pass_index.eq(feed.pass_index), wr.pass_index.eq(feed.pass_index),
            mwr.addr.eq(wr.w_addr), mwr.data.eq(wr.w_data), mwr.en.eq(wr.w_en),
        ]

        # Control: an image starts when complete and the core is idle; pass 0's
        # last write frees its bank; a hidden pass's last write starts the next.
        busy = Signal(name="busy")
        start = Signal(name="start")
        nxt = Signal(name="next_pass")
        m.d.comb += [start.eq(inb.ready_image & ~busy),
                     nxt.eq(wr.final & (feed.pass_index != len(plan.passes) - 1)),
                     feed.start.eq(start), feed.next.eq(nxt),
                     ser.begin.eq(start | nxt), wr.begin.eq(start | nxt),
                     pool.begin.eq(start | nxt),
                     inb.release.eq(wr.final & (feed.pass_index == 0))]
        with m.If(start):
            m.d.sync += busy.eq(1)
        with m.If(ser.done):
            m.d.sync += busy.eq(0)

        R = plan.rq_lanes
        if len(plan.passes) > 1:
            tables = plan.param_images()
            rqs = []
            for r in range(R):
                rq = Requantizer(acc_width=plan.acc_width, table=tables[r],
                                 add_bits=plan.add_bits, shift_mode=plan.requant == "shift",
                                 layers=[(p.shift, p.lo, p.hi) for p in plan.hidden],
                                 out_shape=plan.act_shape, tag_width=1)
                m.submodules[f"requant{r}"] = rq
                m.d.comb += [rq.valid.eq(ser.q_valid), rq.acc.eq(ser.q_acc[r]),
                             rq.row.eq(ser.q_row), rq.layer.eq(feed.pass_index),
                             wr.y[r].eq(rq.y)]
                rqs.append(rq)
            m.d.comb += wr.valid.eq(rqs[0].o_valid)
        else:
            m.d.comb += inb.release.eq(ser.done)
        return m
