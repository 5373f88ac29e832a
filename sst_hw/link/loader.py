"""``ImageLoader``: the model-loading half of protocol version 2, in gateware.

It sits beside :class:`~sst_hw.link.frames.FrameProtocol`, which parses the
frames and hands it the payload bytes of LOAD_BEGIN, LOAD_DATA and
LOAD_COMMIT, and drives the core's ``image`` port (:attr:`NetPlan.image_signature
<sst_hw.plan.network.NetPlan.image_signature>`). It holds what the device
runs: the state (no model, loading, ready), the running ``model_id`` and
which bank the core runs.

* LOAD_BEGIN checks the topology id and the image length against the
  built core's (``UNFIT`` otherwise, nothing changes) and starts a load.
* LOAD_DATA: after the 4 offset bytes, if the offset is the number of bytes
  taken so far, every further byte goes into a word register, and each
  complete word is written into the code memory, then into the table
  (the image layout of :mod:`sst_hw.plan.image`). A byte past the image's
  end is not written, and the frame gets ``BAD_SEQUENCE``.
* LOAD_COMMIT, with the whole image in: every word is read back through
  the port and its bytes go through a CRC-32 unit (:data:`~sst_hw.link.wire.CRC32`);
  a match makes the loaded bank run, with the commit's ``model_id``.
* Any error reply while loading (``fail``) ends the load: state no model.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import crc
from amaranth.lib.wiring import In, Out

from sst_hw.link.wire import (CMD_LOAD_BEGIN, CMD_LOAD_COMMIT, CMD_LOAD_DATA, CRC32,
                              LOAD_OFFSET_LEN, ErrorCode, LoadInfo, ModelState)
from sst_hw.plan.image import code_word_bytes, param_word_bytes
from sst_hw.rtl._util import CheckedComponent

__all__ = ["ImageLoader", "CRC32_PARAMETERS"]

#: The image CRC as ``amaranth.lib.crc`` parameters, a byte per step.
CRC32_PARAMETERS = crc.Algorithm(**CRC32._asdict())(data_width=8)

#: Payload bytes of LOAD_BEGIN and LOAD_COMMIT the loader keeps (the longest, COMMIT's).
_HEAD_BYTES = 12


class ImageLoader(CheckedComponent):
    """Model loading for a loadable network core (see the module doc).

    Parameters
    ----------
    plan : NetPlan
        A loadable plan: its topology id, image geometry and, for a block RAM
        build, the bitstream's model (run after reset).

    Members
    -------
    cmd : ``In(8)``
        The command of the frame in progress (valid from ``begin``).
    begin : ``In(1)``
        Pulse: a LOAD frame's header is in (``cmd`` set); its payload follows.
    byte : ``In(8)``, ``byte_valid`` : ``In(1)``
        The payload bytes of that frame, one per pulse.
    execute : ``In(1)``
        The frame checked (CRC, length): carry out ``cmd``. Held until ``done``.
    done : ``Out(1)``
        Pulse: the command is carried out; ``err`` is 0 or the error code.
    err : ``Out(4)``
    fail : ``In(1)``
        Pulse: the device replies with an error; a load in progress ends.
    state : ``Out(2)``
        :class:`~sst_hw.link.wire.ModelState`.
    model_id : ``Out(32)``
        The running model's id (0 unless ready).
    image : ``In(plan.image_signature)``
        To the core's ``image`` port.
    """

    @classmethod
    def check(cls, plan) -> dict:
        if not getattr(plan, "loadable", False):
            raise ValueError("ImageLoader needs a loadable plan (plan_network(..., "
                             "loadable=True) or memory='spram')")
        load = LoadInfo.from_plan(plan)     # what INFO reports: one source for both
        return {"plan": plan, "builtin": load.builtin, "builtin_id": load.builtin_id,
                "topology_id": load.topology_id, "image_len": load.image_len}

    def __init__(self, plan):   # checked by check()
        super().__init__({
            "cmd": In(8), "begin": In(1), "byte": In(8), "byte_valid": In(1),
            "execute": In(1), "done": Out(1), "err": Out(4), "fail": In(1),
            "state": Out(2, init=ModelState.READY if self.builtin else ModelState.NONE),
            "model_id": Out(32, init=self.builtin_id),
            "image": In(plan.image_signature),
        })

    def elaborate(self, platform):
        m = Module()
        plan, img = self.plan, self.image
        cw, pw = code_word_bytes(plan), param_word_bytes(plan)
        n_code, n_rows = plan.code_words, plan.param_rows
        total = self.image_len

        use_loaded = Signal(init=0 if self.builtin else 1)
        m.d.comb += img.use_loaded.eq(use_loaded)

        # -- the frame's payload: head bytes, and the image bytes of LOAD_DATA ----------
        head = Signal(8 * _HEAD_BYTES)          # the first payload bytes, LE
        count = Signal(16)                      # payload bytes of this frame so far
        taken = Signal(range(total + 1))        # image bytes written in this load
        writing = Signal()                      # this LOAD_DATA's offset was right
        seq_bad = Signal()                      # wrong offset, no load, or past the end
        loading = self.state == ModelState.LOADING

        # Where the next image byte goes: region (0 code, 1 table), word, byte.
        region = Signal()
        word = Signal(range(max(2, n_code, n_rows)))
        wbyte = Signal(range(max(cw, pw, 2)))
        wbuf = Signal(8 * max(cw, pw))
        wpend = Signal()                        # wbuf holds a whole word: write it
        wsel = Signal()
        waddr = Signal.like(word)
        nbytes = Mux(region, pw, cw)
        nwords = Mux(region, n_rows, n_code)

        with m.If(self.begin):
            m.d.sync += [count.eq(0), writing.eq(0), seq_bad.eq(0)]
        with m.If(wpend):
            m.d.comb += [img.sel.eq(wsel), img.addr.eq(waddr), img.wdata.eq(wbuf),
                         img.we.eq(1)]
            m.d.sync += wpend.eq(0)
        with m.If(self.byte_valid):
            m.d.sync += count.eq(count + 1)
            with m.If(count < _HEAD_BYTES):
                m.d.sync += head.word_select(count[:4], 8).eq(self.byte)
            offset = Cat(head[:24], self.byte)  # the 4th byte completes the offset
            with m.If((self.cmd == CMD_LOAD_DATA) & (count == LOAD_OFFSET_LEN - 1)):
                ok = loading & (offset == taken)
                m.d.sync += [writing.eq(ok), seq_bad.eq(~ok)]
            with m.If((self.cmd == CMD_LOAD_DATA) & (count >= LOAD_OFFSET_LEN) & writing):
                with m.If(taken == total):
                    m.d.sync += [writing.eq(0), seq_bad.eq(1)]      # past the end
                with m.Else():
                    m.d.sync += [taken.eq(taken + 1), wbuf.word_select(wbyte, 8).eq(self.byte)]
                    with m.If(wbyte == nbytes - 1):
                        m.d.sync += [wbyte.eq(0), wpend.eq(1), wsel.eq(region),
                                     waddr.eq(word), word.eq(word + 1)]
                        with m.If(word == nwords - 1):
                            m.d.sync += [word.eq(0), region.eq(1)]
                    with m.Else():
                        m.d.sync += wbyte.eq(wbyte + 1)

        # -- readback: the stored image's bytes through a CRC-32 unit -------------------
        m.submodules.crc32 = crc_unit = CRC32_PARAMETERS.create()
        rbuf = Signal(8 * max(cw, pw))
        m.d.comb += crc_unit.data.eq(rbuf.word_select(wbyte, 8))

        def fail_with(m, code):
            m.d.comb += [self.done.eq(1), self.err.eq(code)]

        with m.If(self.fail & loading):
            m.d.sync += [self.state.eq(ModelState.NONE), self.model_id.eq(0)]

        with m.FSM(name="loader"):
            with m.State("IDLE"):
                with m.If(self.execute):
                    with m.Switch(self.cmd):
                        with m.Case(CMD_LOAD_BEGIN):
                            with m.If((head[:32] == self.topology_id) & (head[32:64] == total)):
                                m.d.comb += self.done.eq(1)
                                m.d.sync += [self.state.eq(ModelState.LOADING),
                                             self.model_id.eq(0), taken.eq(0), region.eq(0),
                                             word.eq(0), wbyte.eq(0)]
                            with m.Else():
                                fail_with(m, ErrorCode.UNFIT)
                        with m.Case(CMD_LOAD_DATA):
                            with m.If(seq_bad | ~loading):
                                fail_with(m, ErrorCode.BAD_SEQUENCE)
                            with m.Else():
                                m.d.comb += self.done.eq(1)
                        with m.Case(CMD_LOAD_COMMIT):
                            with m.If(~loading | (head[32:64] != total) | (taken != total)):
                                fail_with(m, ErrorCode.BAD_SEQUENCE)
                            with m.Else():
                                m.d.comb += crc_unit.start.eq(1)
                                m.d.sync += [region.eq(0), word.eq(0), wbyte.eq(0)]
                                m.next = "READ"
                        with m.Default():
                            fail_with(m, ErrorCode.UNKNOWN_COMMAND)

            with m.State("READ"):
                m.d.comb += [img.sel.eq(region), img.addr.eq(word), img.re.eq(1)]
                m.next = "CAPTURE"

            with m.State("CAPTURE"):
                m.d.sync += [rbuf.eq(img.rdata), wbyte.eq(0)]
                m.next = "SHIFT"

            with m.State("SHIFT"):
                m.d.comb += crc_unit.valid.eq(1)
                m.d.sync += wbyte.eq(wbyte + 1)
                with m.If(wbyte == nbytes - 1):
                    m.d.sync += [wbyte.eq(0), word.eq(word + 1)]
                    m.next = "READ"
                    with m.If(word == nwords - 1):
                        m.d.sync += [word.eq(0), region.eq(1)]
                        if n_rows == 0:
                            m.next = "COMPARE"
                        else:
                            with m.If(region):
                                m.next = "COMPARE"

            with m.State("COMPARE"):
                with m.If(crc_unit.crc == head[64:96]):
                    m.d.comb += self.done.eq(1)
                    m.d.sync += [self.state.eq(ModelState.READY), self.model_id.eq(head[:32]),
                                 use_loaded.eq(1)]
                with m.Else():
                    fail_with(m, ErrorCode.BAD_IMAGE)
                m.next = "IDLE"
        return m
