"""``FrameProtocol``: the UART frame parser and reply generator in front of a core.

The wire format is :mod:`sst_hw.link.wire` (``docs/protocol.md``): every
message is ``SYNC CMD LEN(2, LE) PAYLOAD CRC(2, MSB first)`` with the
:data:`~sst_hw.link.wire.CRC16` of ``CMD .. PAYLOAD``. This component sits
between a byte receiver/transmitter (:class:`~sst_hw.link.uart.UARTRx`/``UARTTx``)
and a core with the network's stream interface: ``i`` takes one input
feature per beat, ``o`` gives the logits in order, then the class index.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Shape, Signal
from amaranth.lib import crc, data, stream, wiring
from amaranth.lib.wiring import In, Out

from sst_hw.link.loader import ImageLoader
from sst_hw.link.wire import (
    CMD_ERROR,
    CMD_INFER,
    CMD_INFO,
    CMD_LOAD_BEGIN,
    CMD_LOAD_COMMIT,
    CMD_LOAD_DATA,
    CRC16,
    ERROR_PAYLOAD_LEN,
    INFO_STRUCT,
    LOAD_BEGIN_STRUCT,
    LOAD_COMMIT_STRUCT,
    LOAD_OFFSET_LEN,
    MAX_CHUNK,
    REPLY_BIT,
    SYNC,
    DeviceInfo,
    ErrorCode,
    ModelState)
from sst_hw.rtl._util import CheckedComponent, check_int

__all__ = ["FrameProtocol", "CRC_PARAMETERS", "payload_fields"]

#: The frame CRC as ``amaranth.lib.crc`` parameters, one byte per step: built from
#: :data:`sst_hw.link.wire.CRC16`, the definition the host's ``crc16`` uses too.
CRC_PARAMETERS = crc.Algorithm(**CRC16._asdict())(data_width=8)


def payload_fields(shape):
    """``(data, last)``: the names of the value field and of the ``last`` flag of a
    stream payload. A plain shape is the value itself (``(None, None)``); a
    ``StructLayout`` must have a field named ``data`` or ``value`` (or exactly one
    field besides ``last``); ``last`` is ``None`` when there is no such field."""
    if not isinstance(shape, data.StructLayout):
        Shape.cast(shape)
        return None, None
    names = [name for name, _ in shape]
    last = "last" if "last" in names else None
    for cand in ("data", "value"):
        if cand in names:
            return cand, last
    rest = [n for n in names if n != "last"]
    if len(rest) == 1:
        return rest[0], last
    raise ValueError(f"cannot tell the value field of payload layout {shape!r}: name it "
                     f"'data' (fields: {', '.join(names)})")


def _field_shape(shape, name):
    return Shape.cast(shape) if name is None else Shape.cast(shape[name].shape)


def _get(view, name):
    return view if name is None else view[name]


class FrameProtocol(CheckedComponent):
    """Frame parser and reply generator between a byte link and a network core.

    Requests (see ``docs/protocol.md``):

    * ``INFO`` (LEN 0): replies ``INFO|0x80`` with ``info.to_bytes()``.
    * ``INFER`` (LEN = inputs x bytes per input): the features go to ``core_i``
      as they arrive (``input_bytes`` little-endian bytes per feature, the low
      A bits kept); the reply ``INFER|0x80`` carries each logit from
      ``core_o`` as ``logit_bytes`` little-endian, sign-extended bytes, then
      the class index as ``class_bytes`` bytes.
    * Anything else, a bad CRC, a wrong length, a UART error inside the
      frame, or ``timeout_cycles`` idle cycles in the middle of a frame: an
      error reply ``0xFF`` with ``[code, command]``. If the core had already
      been given part of an input, the input is completed with zeros and the
      core's result is read and dropped first, so the core is always left
      idle.

    Frames are handled one at a time: bytes that arrive while a reply is
    pending or being sent are dropped. Between frames, bytes other than SYNC
    are skipped.

    Throughput: one received byte per cycle, one transmitted byte per cycle
    when ``tx`` is ready; the core's ``i`` may stall (the parser then holds
    ``rx``, which in front of a UART receiver has one byte of slack).

    Parameters
    ----------
    info : DeviceInfo
        What INFO reports; also the input count, widths and class count the
        parser uses.
    in_shape : shape or StructLayout
        Payload of the core's ``i`` stream: the feature (A bits), or a struct
        with a ``data`` field and optionally ``last`` (set on the last feature).
    out_shape : shape or StructLayout
        Payload of the core's ``o`` stream: the value (a logit, then the
        class), or a struct with a ``data`` field (``last`` is ignored: the
        parser counts ``n_classes + 1`` beats).
    timeout_cycles : int
        Idle clock cycles that end a partial frame (> 0).
    plan : NetPlan, optional
        A loadable core's plan: the protocol then takes LOAD_BEGIN, LOAD_DATA
        and LOAD_COMMIT (an :class:`~sst_hw.link.loader.ImageLoader` drives
        the ``image`` port), refuses INFER unless a model is ready, and INFO
        reports the state and the running ``model_id``.

    Members
    -------
    rx : ``In(stream.Signature(8))``
        Received bytes.
    rx_error : ``In(1)``
        Pulse from the receiver: a byte was lost (framing error, overrun).
    tx : ``Out(stream.Signature(8))``
        Bytes to transmit.
    core_i : ``Out(stream.Signature(in_shape))``
        To the core's input stream.
    core_o : ``In(stream.Signature(out_shape))``
        From the core's output stream.
    busy : ``Out(1)``
        A frame is being received, computed or answered.
    error : ``Out(1)``
        One-cycle pulse when an error reply starts.
    image : ``In(plan.image_signature)``
        Only with a loadable ``plan``: to the core's ``image`` port.
    """

    @classmethod
    def check(cls, info: DeviceInfo, in_shape, out_shape, *, timeout_cycles: int,
              plan=None) -> dict:
        """The checked attributes, before any component exists (see
        :class:`~sst_hw.rtl._util.CheckedComponent`)."""
        if not isinstance(info, DeviceInfo):
            raise TypeError(f"info must be a DeviceInfo, not {info!r}")
        in_data, in_last = payload_fields(in_shape)
        out_data, out_last = payload_fields(out_shape)
        in_w = _field_shape(in_shape, in_data).width
        out_w = _field_shape(out_shape, out_data).width
        if in_w != info.input_width:
            raise ValueError(f"core input is {in_w} bits wide, info says input_width="
                             f"{info.input_width}")
        if out_w > 8 * info.logit_bytes:
            raise ValueError(f"core output of {out_w} bits does not fit {info.logit_bytes} "
                             f"logit bytes")
        loader = None
        if plan is not None and getattr(plan, "loadable", False):
            loader = ImageLoader(plan)
            if info.load is None or not info.load.loadable:
                raise ValueError("a loadable core needs an info with loadable load fields "
                                 "(LoadInfo.from_plan)")
        return {"info": info, "timeout_cycles": check_int("timeout_cycles", timeout_cycles),
                "loader": loader,
                "in_data": in_data, "in_last": in_last, "out_data": out_data,
                "out_last": out_last, "_out_w": out_w}

    def __init__(self, info: DeviceInfo, in_shape, out_shape, *, timeout_cycles: int,
                 plan=None):
        members = {
            "rx": In(stream.Signature(8)),
            "rx_error": In(1),
            "tx": Out(stream.Signature(8)),
            "core_i": Out(stream.Signature(in_shape)),
            "core_o": In(stream.Signature(out_shape)),
            "busy": Out(1),
            "error": Out(1),
        }
        if self.loader is not None:
            members["image"] = In(self.loader.plan.image_signature)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        info = self.info
        n_in, nb_in = info.n_inputs, info.input_bytes
        n_cls = info.n_classes
        lb, cb = info.logit_bytes, info.class_bytes

        rx, tx, ci, co = self.rx, self.tx, self.core_i, self.core_o
        rx_take = Signal()
        tx_take = Signal()
        m.d.comb += [rx_take.eq(rx.valid & rx.ready), tx_take.eq(tx.valid & tx.ready)]
        byte = rx.payload

        # -- state shared by receiving and replying (never at the same time) ------------
        # One CRC unit: of the frame being received, then of the reply. ``crc_start``
        # restarts it and wins over a byte in the same cycle (a timeout can end a frame
        # on the cycle a byte arrives: that byte is dropped, the reply's CRC starts).
        m.submodules.crc = crc_unit = CRC_PARAMETERS.create()
        crc_start = Signal()
        crc_step = Signal()             # the byte on ``crc_unit.data`` goes in
        m.d.comb += [crc_unit.start.eq(crc_start), crc_unit.valid.eq(crc_step & ~crc_start)]
        left = Signal(16)               # payload bytes still to receive, then to send

        # -- frame being received --------------------------------------------------------
        cmd = Signal(8)
        load_frame = Signal()           # a LOAD command: its payload goes to the loader
        no_model = Signal()             # an INFER while no model is ready
        len_lo = Signal(8)
        feed = Signal()                 # the payload goes to the core
        pend_err = Signal(3)            # error decided from the header (length, command)
        rx_bad = Signal()               # the receiver lost a byte inside this frame
        idle = Signal(range(self.timeout_cycles + 1))
        timed_out = Signal()
        parsing = Signal()

        # -- feature assembly and the core's input ---------------------------------------
        feat = Signal(8 * nb_in)
        feat_byte = Signal(range(max(nb_in, 2)))
        feat_valid = Signal()
        feat_count = Signal(range(n_in + 1))
        m.d.comb += [
            ci.valid.eq(feat_valid),
            _get(ci.p, self.in_data).eq(feat[:info.input_width]),
        ]
        if self.in_last is not None:
            m.d.comb += ci.p[self.in_last].eq(feat_count == n_in - 1)
        with m.If(ci.valid & ci.ready):
            m.d.sync += [feat_valid.eq(0), feat_count.eq(feat_count + 1)]

        # -- reply -----------------------------------------------------------------------------
        # ACK: an empty reply to a LOAD command, its command with the reply bit.
        KIND_INFO, KIND_INFER, KIND_ERROR, KIND_ACK = 0, 1, 2, 3
        kind = Signal(2)
        err_code = Signal(4)
        info_bytes = info.to_bytes()
        reply_lens = {KIND_INFO: len(info_bytes), KIND_INFER: info.reply_len,
                      KIND_ERROR: ERROR_PAYLOAD_LEN, KIND_ACK: 0}
        reply_cmds = {KIND_INFO: CMD_INFO | REPLY_BIT, KIND_INFER: CMD_INFER | REPLY_BIT,
                      KIND_ERROR: CMD_ERROR, KIND_ACK: cmd | REPLY_BIT}
        reply_len = Signal(16)
        reply_cmd = Signal(8)
        with m.Switch(kind):
            for k in reply_lens:
                with m.Case(k):
                    m.d.comb += [reply_len.eq(reply_lens[k]), reply_cmd.eq(reply_cmds[k])]
        # INFO bytes by bytes-left count: byte i of the payload is sent when left == len - i.
        # A loadable device's state and running model id are live, not constants.
        rom_size = 1 << (len(info_bytes)).bit_length()
        info_rom = Array(Const(info_bytes[len(info_bytes) - k] if 0 < k <= len(info_bytes)
                               else 0, 8) for k in range(rom_size))
        info_byte = Signal(8)
        m.d.comb += info_byte.eq(info_rom[left[:rom_size.bit_length() - 1]])
        ld = self.loader
        if ld is not None:
            m.submodules.loader = ld
            wiring.connect(m, ld.image, wiring.flipped(self.image))
            m.d.comb += [ld.fail.eq(self.error), ld.cmd.eq(cmd)]
            with m.Switch(left):
                for i in range(4):      # model_id: bytes 12..15
                    with m.Case(len(info_bytes) - 12 - i):
                        m.d.comb += info_byte.eq(ld.model_id.word_select(i, 8))
                with m.Case(len(info_bytes) - INFO_STRUCT.size):     # state: byte 24
                    m.d.comb += info_byte.eq(ld.state)
        beat = Signal(range(n_cls + 2))     # core output beats taken
        beat_byte = Signal(range(max(lb, cb, 2)))

        def send(m, what, code=None):
            """Start a reply of kind ``what`` (an error with ``code``)."""
            m.d.comb += crc_start.eq(1)
            m.d.sync += [kind.eq(what), left.eq(reply_lens[what]), beat.eq(0), beat_byte.eq(0)]
            if code is not None:
                m.d.sync += err_code.eq(code)

        # Idle timer: cycles without a received byte while inside a frame.
        with m.If(~parsing | rx.valid):
            m.d.sync += idle.eq(0)
        with m.Elif(~timed_out):
            m.d.sync += idle.eq(idle + 1)
        m.d.comb += timed_out.eq(idle == self.timeout_cycles)

        # The CRC unit takes the received byte while parsing, the sent byte while replying.
        m.d.comb += crc_unit.data.eq(Mux(parsing, byte, tx.payload))
        with m.If(rx_take & parsing):
            m.d.comb += crc_step.eq(1)
        with m.If(self.rx_error & parsing):
            m.d.sync += rx_bad.eq(1)

        def on_timeout(m):
            send(m, KIND_ERROR, ErrorCode.TIMEOUT)
            with m.If(feed):
                m.next = "PAD"
            with m.Else():
                m.next = "REPLY_SYNC"

        m.d.comb += self.busy.eq(1)
        with m.FSM(name="proto"):
            with m.State("HUNT"):
                m.d.comb += [rx.ready.eq(1), self.busy.eq(0)]
                m.d.comb += crc_start.eq(1)
                m.d.sync += [feed.eq(0), pend_err.eq(0), rx_bad.eq(0), cmd.eq(0),
                             feat_count.eq(0), feat_byte.eq(0), load_frame.eq(0),
                             no_model.eq(0)]
                with m.If(rx_take & (byte == SYNC)):
                    m.next = "CMD"

            with m.State("CMD"):
                m.d.comb += [rx.ready.eq(1), parsing.eq(1)]
                with m.If(timed_out):
                    on_timeout(m)
                with m.Elif(rx_take):
                    m.d.sync += cmd.eq(byte)
                    m.next = "LEN0"

            with m.State("LEN0"):
                m.d.comb += [rx.ready.eq(1), parsing.eq(1)]
                with m.If(timed_out):
                    on_timeout(m)
                with m.Elif(rx_take):
                    m.d.sync += len_lo.eq(byte)
                    m.next = "LEN1"

            with m.State("LEN1"):
                m.d.comb += [rx.ready.eq(1), parsing.eq(1)]
                length = Cat(len_lo, byte)
                with m.If(timed_out):
                    on_timeout(m)
                with m.Elif(rx_take):
                    m.d.sync += left.eq(length)
                    with m.If(cmd == CMD_INFER):
                        with m.If(length != info.request_len):
                            m.d.sync += pend_err.eq(ErrorCode.BAD_LENGTH)
                        if ld is None:
                            with m.Elif(1):
                                m.d.sync += feed.eq(1)
                        else:
                            # Without a ready model the features never reach the core.
                            with m.Elif(ld.state == ModelState.READY):
                                m.d.sync += feed.eq(1)
                            with m.Else():
                                m.d.sync += no_model.eq(1)
                    with m.Elif(cmd == CMD_INFO):
                        with m.If(length != 0):
                            m.d.sync += pend_err.eq(ErrorCode.BAD_LENGTH)
                    if ld is not None:
                        lens = ((CMD_LOAD_BEGIN, LOAD_BEGIN_STRUCT.size, LOAD_BEGIN_STRUCT.size),
                                (CMD_LOAD_DATA, LOAD_OFFSET_LEN + 1, LOAD_OFFSET_LEN + MAX_CHUNK),
                                (CMD_LOAD_COMMIT, LOAD_COMMIT_STRUCT.size,
                                 LOAD_COMMIT_STRUCT.size))
                        for c, lo, hi in lens:
                            with m.Elif(cmd == c):
                                with m.If((length < lo) | (length > hi)):
                                    m.d.sync += pend_err.eq(ErrorCode.BAD_LENGTH)
                                with m.Else():
                                    m.d.sync += load_frame.eq(1)
                                    m.d.comb += ld.begin.eq(1)
                    with m.Else():
                        m.d.sync += pend_err.eq(ErrorCode.UNKNOWN_COMMAND)
                    with m.If(length == 0):
                        m.next = "CRC0"
                    with m.Else():
                        m.next = "PAYLOAD"

            with m.State("PAYLOAD"):
                m.d.comb += [rx.ready.eq(~(feed & feat_valid)), parsing.eq(1)]
                with m.If(timed_out):
                    on_timeout(m)
                with m.Elif(rx_take):
                    m.d.sync += left.eq(left - 1)
                    if ld is not None:
                        m.d.comb += [ld.byte.eq(byte), ld.byte_valid.eq(load_frame)]
                    with m.If(feed):
                        m.d.sync += feat.eq(Cat(feat[8:], byte) if nb_in > 1 else byte)
                        with m.If(feat_byte == nb_in - 1):
                            m.d.sync += [feat_byte.eq(0), feat_valid.eq(1)]
                        with m.Else():
                            m.d.sync += feat_byte.eq(feat_byte + 1)
                    with m.If(left == 1):
                        m.next = "CRC0"

            for name, nxt in (("CRC0", "CRC1"), ("CRC1", "CHECK")):
                with m.State(name):
                    m.d.comb += [rx.ready.eq(1), parsing.eq(1)]
                    with m.If(timed_out):
                        on_timeout(m)
                    with m.Elif(rx_take):
                        m.next = nxt

            with m.State("CHECK"):
                m.d.comb += rx.ready.eq(1)
                with m.If(rx_bad | ~crc_unit.match_detected):
                    send(m, KIND_ERROR, Mux(rx_bad, ErrorCode.RX_ERROR, ErrorCode.BAD_CRC))
                    with m.If(feed):
                        m.next = "DRAIN"         # the core got the input: drop its result
                    with m.Else():
                        m.next = "REPLY_SYNC"
                with m.Elif(pend_err != 0):
                    send(m, KIND_ERROR, pend_err)
                    m.next = "REPLY_SYNC"
                with m.Elif(no_model):
                    send(m, KIND_ERROR, ErrorCode.NO_MODEL)
                    m.next = "REPLY_SYNC"
                with m.Elif(load_frame):
                    m.next = "LOAD_EXEC"
                with m.Elif(feed):
                    send(m, KIND_INFER)
                    m.next = "REPLY_SYNC"
                with m.Else():
                    send(m, KIND_INFO)
                    m.next = "REPLY_SYNC"

            with m.State("LOAD_EXEC"):
                # The loader carries out the command (a commit reads the image back).
                m.d.comb += rx.ready.eq(1)
                if ld is not None:
                    m.d.comb += ld.execute.eq(1)      # held until done
                    with m.If(ld.done):
                        with m.If(ld.err != 0):
                            send(m, KIND_ERROR, ld.err)
                        with m.Else():
                            send(m, KIND_ACK)
                        m.next = "REPLY_SYNC"

            with m.State("PAD"):
                # Complete the core's input with zeros, then drop its result.
                m.d.comb += rx.ready.eq(1)
                with m.If(~feat_valid):
                    with m.If(feat_count == n_in):
                        m.next = "DRAIN"
                    with m.Else():
                        m.d.sync += [feat.eq(0), feat_byte.eq(0), feat_valid.eq(1)]

            with m.State("DRAIN"):
                m.d.comb += [rx.ready.eq(1), co.ready.eq(1)]
                with m.If(co.valid):
                    m.d.sync += beat.eq(beat + 1)
                    with m.If(beat == n_cls):
                        m.d.sync += beat.eq(0)
                        m.next = "REPLY_SYNC"

            # -- transmitter -----------------------------------------------------------------
            def tx_state(name, value, nxt, update_crc=True):
                with m.State(name):
                    m.d.comb += [rx.ready.eq(1), tx.valid.eq(1), tx.payload.eq(value)]
                    with m.If(tx.ready):
                        if update_crc:
                            m.d.comb += crc_step.eq(1)
                        m.next = nxt

            with m.State("REPLY_SYNC"):
                m.d.comb += [rx.ready.eq(1), tx.valid.eq(1), tx.payload.eq(SYNC)]
                with m.If(tx.ready):
                    m.d.comb += self.error.eq(kind == KIND_ERROR)
                    m.next = "REPLY_CMD"
            tx_state("REPLY_CMD", reply_cmd, "REPLY_LEN0")
            tx_state("REPLY_LEN0", reply_len[:8], "REPLY_LEN1")
            with m.State("REPLY_LEN1"):
                m.d.comb += [rx.ready.eq(1), tx.valid.eq(1), tx.payload.eq(reply_len[8:])]
                with m.If(tx.ready):
                    m.d.comb += crc_step.eq(1)
                    # An empty reply (ACK) goes straight to its CRC.
                    m.next = "REPLY_PAY"
                    with m.If(reply_len == 0):
                        m.next = "REPLY_CRC0"

            with m.State("REPLY_PAY"):
                m.d.comb += rx.ready.eq(1)
                with m.Switch(kind):
                    with m.Case(KIND_INFER):
                        # The core's outputs, logits then the class, a byte at a time
                        # straight from its payload; a beat is taken after its last byte.
                        value = Signal(8 * max(lb, cb))
                        m.d.comb += value.eq(_get(co.p, self.out_data))   # sign-extends
                        nbytes = Mux(beat == n_cls, cb, lb)
                        last_of_beat = beat_byte == nbytes - 1
                        m.d.comb += [tx.valid.eq(co.valid),
                                     tx.payload.eq(value.word_select(beat_byte, 8)),
                                     co.ready.eq(tx.ready & last_of_beat)]
                        with m.If(tx_take):
                            m.d.sync += beat_byte.eq(beat_byte + 1)
                            with m.If(last_of_beat):
                                m.d.sync += [beat_byte.eq(0), beat.eq(beat + 1)]
                    with m.Case(KIND_ERROR):
                        m.d.comb += [tx.valid.eq(1), tx.payload.eq(Mux(left == 2, err_code, cmd))]
                    with m.Default():
                        m.d.comb += [tx.valid.eq(1), tx.payload.eq(info_byte)]
                with m.If(tx_take):
                    m.d.comb += crc_step.eq(1)
                    m.d.sync += left.eq(left - 1)
                    with m.If(left == 1):
                        m.next = "REPLY_CRC0"
            tx_state("REPLY_CRC0", crc_unit.crc[8:], "REPLY_CRC1", update_crc=False)
            tx_state("REPLY_CRC1", crc_unit.crc[:8], "HUNT", update_crc=False)
        return m
