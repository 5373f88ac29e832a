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

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib.memory import Memory

from sst_hw.core.conv.feed import ConvFeed
from sst_hw.core.conv.input_buffer import ConvInput
from sst_hw.core.conv.pool import ConvPool
from sst_hw.core.conv.serialiser import ConvSerialiser
from sst_hw.core.conv.writer import ConvWriter
from sst_hw.core.requant import Requantizer
from sst_hw.core.spram import SPRAMMemory
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
    def check(cls, network, *, spram_primitive: bool = True, **options) -> dict:
        if isinstance(network, ConvPlan):
            if options:
                raise TypeError(f"the plan fixes every option but spram_primitive, not "
                                f"{', '.join(sorted(options))}")
            plan = network
        else:
            plan = plan_convnet(network, **options)
        return {"plan": plan, "network": plan.network, "spram_primitive": bool(spram_primitive)}

    def __init__(self, *args, **kwargs):
        super().__init__(self.plan.signature)

    @property
    def cycles_per_inference(self) -> int:
        return self.plan.cycles()

    @property
    def params(self) -> dict:
        return self.plan.params

    def _memories(self, m, feed, wr):
        """The code memory (block RAM, and its last few words in logic) and the
        two map regions (region 0 in block RAM or SPRAM), decoded from the
        feed's and the writer's addresses."""
        plan = self.plan
        main, tail = plan.code_main_words, plan.code_tail_words
        image = plan.code_image()
        code = Memory(shape=unsigned(plan.code_word_bits), depth=max(2, main), init=image[:main])
        m.submodules.code_mem = code
        crd = code.read_port(domain="sync")
        m.d.comb += [crd.addr.eq(feed.code_addr), crd.en.eq(feed.code_en)]
        if tail:
            ctail = Memory(shape=unsigned(plan.code_word_bits), depth=max(2, tail),
                           init=image[main:], attrs={"ram_style": "logic"})
            m.submodules.code_tail = ctail
            trd = ctail.read_port(domain="sync")
            in_tail = Signal(name="code_in_tail")
            m.d.comb += [trd.addr.eq(feed.code_addr - main), trd.en.eq(feed.code_en)]
            with m.If(feed.code_en):
                m.d.sync += in_tail.eq(feed.code_addr >= main)
            m.d.comb += feed.code_data.eq(Mux(in_tail, trd.data, crd.data))
        else:
            m.d.comb += feed.code_data.eq(crd.data)

        d0, d1 = plan.map_region_words
        width = plan.map_word_bits
        r_hi = Signal(name="map_read_region1")
        with m.If(feed.map_en):
            m.d.sync += r_hi.eq(feed.map_region)
        w_lo = Signal(name="map_write_region0")
        m.d.comb += w_lo.eq(~wr.w_region)
        if plan.map_memory == "spram":
            m.submodules.map0 = sp = SPRAMMemory(width, max(1, d0), primitive=self.spram_primitive)
            m.d.comb += [sp.we.eq(wr.w_en & w_lo), sp.wdata.eq(wr.w_data),
                         sp.re.eq(feed.map_en & ~feed.map_region),
                         sp.addr.eq(Mux(sp.we, wr.w_addr, feed.map_addr))]
            data0 = sp.rdata
        else:
            map0 = Memory(shape=unsigned(width), depth=max(2, d0), init=[])
            m.submodules.map0 = map0
            rd0, wr0 = map0.read_port(domain="sync"), map0.write_port()
            m.d.comb += [rd0.addr.eq(feed.map_addr), rd0.en.eq(feed.map_en),
                         wr0.addr.eq(wr.w_addr), wr0.data.eq(wr.w_data),
                         wr0.en.eq(wr.w_en & w_lo)]
            data0 = rd0.data
        if d1:
            map1 = Memory(shape=unsigned(width), depth=max(2, d1), init=[])
            m.submodules.map1 = map1
            rd1, wr1 = map1.read_port(domain="sync"), map1.write_port()
            m.d.comb += [rd1.addr.eq(feed.map_addr), rd1.en.eq(feed.map_en),
                         wr1.addr.eq(wr.w_addr), wr1.data.eq(wr.w_data),
                         wr1.en.eq(wr.w_en & ~w_lo)]
            m.d.comb += feed.map_data.eq(Mux(r_hi, rd1.data, data0))
        else:
            m.d.comb += feed.map_data.eq(data0)

    def elaborate(self, platform):
        m = Module()
        plan = self.plan
        m.submodules.inbuf = inb = ConvInput(plan)
        m.submodules.feed = feed = ConvFeed(plan)
        m.submodules.engine = eng = SSTEngine(plan.engine)
        m.submodules.pool = pool = ConvPool(plan)
        m.submodules.serialiser = ser = ConvSerialiser(plan)
        m.submodules.writer = wr = ConvWriter(plan)
        self._memories(m, feed, wr)
        m.d.comb += [
            inb.i.valid.eq(self.i.valid), inb.i.payload.eq(self.i.payload),
            self.i.ready.eq(inb.i.ready),
            inb.r_addr.eq(feed.in_addr), inb.r_en.eq(feed.in_en), feed.in_data.eq(inb.r_data),
            eng.i.valid.eq(feed.o.valid), eng.i.payload.eq(feed.o.payload),
            feed.o.ready.eq(eng.i.ready),
            pool.i.valid.eq(eng.o.valid), pool.i.payload.eq(eng.o.payload),
            eng.o.ready.eq(pool.i.ready),
            ser.i.valid.eq(pool.o.valid), ser.i.payload.eq(pool.o.payload),
            pool.o.ready.eq(ser.i.ready), pool.pass_index.eq(feed.pass_index),
            self.o.valid.eq(ser.o.valid), self.o.payload.eq(ser.o.payload),
            ser.o.ready.eq(self.o.ready),
            ser.pass_index.eq(feed.pass_index), wr.pass_index.eq(feed.pass_index),
        ]

        # Control: an image starts when complete and the core is idle; pass 0's
        # last write frees its bank; a hidden pass's last write starts the next.
        busy = Signal(name="busy")
        start = Signal(name="start")
        nxt = Signal(name="next_pass")
        begin_index = Signal.like(feed.pass_index, name="begin_index")
        m.d.comb += [begin_index.eq(Mux(start, 0, feed.pass_index + 1)),
                     ser.begin_index.eq(begin_index), wr.begin_index.eq(begin_index),
                     pool.begin_index.eq(begin_index)]
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
