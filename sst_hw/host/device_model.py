"""``DeviceModel``: a byte-level reference of the device's frame parser.

It answers frames the way the gateware of :mod:`sst_hw.link.frames` does
(errors and timeouts included) with the golden model's results, without
timing, and for a loadable core (protocol version 2) keeps the model
memory's state through LOAD_BEGIN, LOAD_DATA and LOAD_COMMIT exactly as
``docs/protocol.md`` ("Loading a model", "Safety rules") says. The tests
check the gateware against it, and
:class:`~sst_hw.host.transport.ModelTransport` puts it behind a transport so
the client runs without hardware.
"""

from __future__ import annotations

import dataclasses

from sst_hw.link.wire import (
    CMD_ERROR,
    CMD_INFER,
    CMD_INFO,
    CMD_LOAD_BEGIN,
    CMD_LOAD_COMMIT,
    CMD_LOAD_DATA,
    CRC_LEN,
    CRC_RESIDUE,
    HEADER_LEN,
    LOAD_BEGIN_STRUCT,
    LOAD_COMMIT_STRUCT,
    LOAD_OFFSET_LEN,
    REPLY_BIT,
    SYNC,
    DeviceInfo,
    ErrorCode,
    LoadInfo,
    ModelState,
    crc16,
    crc32,
    encode_frame,
    model_id)

__all__ = ["DeviceModel"]

_LOAD_COMMANDS = (CMD_LOAD_BEGIN, CMD_LOAD_DATA, CMD_LOAD_COMMIT)


class DeviceModel:
    """Byte-level reference of the device: frame parser, error replies, model
    loading and the golden model, without timing.

    Feed received bytes to :meth:`receive`, call :meth:`idle_timeout` when the
    line has been idle for ``timeout_bits`` (the device then drops a partial
    frame with a TIMEOUT error) and :meth:`rx_error` when the UART receiver
    flags a byte inside a frame (framing error or overrun; the frame then
    ends with RX_ERROR); :meth:`receive` and :meth:`idle_timeout` return the
    reply bytes the device sends. The device answers one frame at a time and
    ignores bytes that arrive while it is answering (this model answers
    instantly). :meth:`reset` is the board's reset.

    A device built from a loadable plan (``plan``, protocol version 2) takes
    LOAD commands; any other answers them with ``UNKNOWN_COMMAND``, as a
    version-1 bitstream and the CNN core do, and runs ``network`` always.

    The loadable device follows docs/protocol.md:

    * the state (:attr:`state`) after :meth:`reset` is *ready* with the
      plan's own model (``plan.network``) for a block RAM build, *no model*
      for an SPRAM build;
    * INFER runs only when *ready* (else ``NO_MODEL``), on the golden model
      of the committed image (:func:`sst_hw.plan.image.network_from_image`);
    * LOAD_BEGIN with another topology id or image length gets ``UNFIT`` and
      changes nothing outside a load; otherwise the state becomes *loading*
      (the running model is gone; a LOAD_BEGIN during a load starts again);
    * LOAD_DATA must start at the number of bytes taken so far and end
      within ``image_len`` (else ``BAD_SEQUENCE``);
    * LOAD_COMMIT needs every byte taken and the device's ``image_len``
      (else ``BAD_SEQUENCE``), then compares its CRC-32 with that of the
      stored image (else ``BAD_IMAGE``); on a match the state becomes
      *ready* and INFO reports the commit's ``model_id`` (the device cannot
      compute a fingerprint);
    * while *loading*, every frame answered with an error (a bad CRC, a UART
      error, a timeout, a wrong length, an unknown command, any of the load
      errors above, and INFER's ``NO_MODEL``) ends the load in state *no
      model*; INFO is answered and leaves the load alone;
    * outside a load, LOAD_DATA and LOAD_COMMIT get ``BAD_SEQUENCE`` and no
      error changes anything.

    An image that commits but is no golden model (an unused code, a
    padding subvector that is not the zero code, rows of one layer with
    different shifts...: :func:`~sst_hw.plan.image.network_from_image`'s
    checks) makes the device *ready*, as the hardware, which checks only the
    CRC-32; an INFER then raises ``ValueError``, since the reference cannot
    say what the core computes.

    The stored image is what the memories hold: each code word keeps its
    ``code_word_bits`` and each table row its ``param_word_bits`` (the
    padding bits of a word's last byte are not stored and read back as 0),
    and LOAD_COMMIT's CRC-32 is computed over those bytes.

    Parameters
    ----------
    network : Network, optional
        The golden model of a non-loadable device. With a loadable ``plan``
        it may be omitted (it defaults to ``plan.network``, which gives the
        shapes of the default ``info``; the built-in model of a block RAM
        build is always ``plan.network``).
    info : DeviceInfo, optional
        What INFO reports; defaults to ``DeviceInfo.from_network(network)``.
        With a loadable ``plan`` its ``load`` fields are
        ``LoadInfo.from_plan(plan)`` and its ``model_id`` and state follow
        the model memory.
    plan : NetPlan, optional
        The plan of the built core (:func:`~sst_hw.plan.network.plan_network`);
        a loadable plan makes the device loadable.
    """

    HUNT, CMD, LEN0, LEN1, PAYLOAD, CRC0, CRC1 = range(7)

    def __init__(self, network=None, info: DeviceInfo | None = None, *, plan=None):
        self.plan = plan if plan is not None and getattr(plan, "loadable", False) else None
        if network is None:
            if plan is None:
                raise TypeError("DeviceModel needs a network or a plan")
            network = plan.network
        self.network = network
        if self.plan is not None:
            load = LoadInfo.from_plan(self.plan)
            base = info or DeviceInfo.from_network(network)
            if base.version < 2:
                raise ValueError("a loadable device speaks protocol version 2, not "
                                 f"{base.version}")
            info = base.replace(load=load)
        self.info = info or DeviceInfo.from_network(network)
        self._state = self.HUNT
        self._body = bytearray()
        self._len = 0
        self._rx_bad = False
        self.reset()

    # -- state ---------------------------------------------------------------------------

    @property
    def loadable(self) -> bool:
        """Whether the device takes LOAD commands."""
        return self.plan is not None

    def reset(self) -> None:
        """The board's reset: the parser hunts for SYNC, a load in progress is
        gone, and a loadable device runs its built-in model again (block RAM
        build) or has none (SPRAM build)."""
        self._state = self.HUNT
        self._body.clear()
        self._len = 0
        self._rx_bad = False
        self._image = bytearray()
        self._taken = 0
        self._image_error = None
        if not self.loadable:
            self.state = self.info.state
            self.running = self.network
            self.running_id = self.info.model_id
        elif self.info.load.builtin:
            self._ready(self.plan.network, model_id(self.plan.network))
        else:
            self._no_model()

    def _ready(self, network, mid: int) -> None:
        self.state, self.running, self.running_id = ModelState.READY, network, mid
        self._image_error = None

    def _no_model(self) -> None:
        self.state, self.running, self.running_id = ModelState.NONE, None, 0
        self._image_error = None

    @property
    def reported_info(self) -> DeviceInfo:
        """What INFO answers now: :attr:`info`, and for a loadable device the
        running model's id (0 unless *ready*) and the current state."""
        if not self.loadable:
            return self.info
        mid = self.running_id if self.state == ModelState.READY else 0
        return self.info.replace(model_id=mid,
                                 load=dataclasses.replace(self.info.load, state=self.state))

    @property
    def taken(self) -> int:
        """Image bytes taken by the load in progress."""
        return self._taken

    # -- bytes in ------------------------------------------------------------------------

    @property
    def in_frame(self) -> bool:
        """Whether a partial frame is held."""
        return self._state != self.HUNT

    def _error(self, code: ErrorCode, cmd: int) -> bytes:
        """An error reply; a failed frame ends a load in progress."""
        if self.state == ModelState.LOADING:
            self._no_model()
            self._image = bytearray()
            self._taken = 0
        return encode_frame(CMD_ERROR, bytes([int(code), cmd & 0xFF]))

    def receive(self, data: bytes) -> bytes:
        """Process received bytes; return the reply bytes (possibly several frames)."""
        out = bytearray()
        for b in bytes(data):
            s = self._state
            if s == self.HUNT:
                if b == SYNC:
                    self._body.clear()
                    self._rx_bad = False
                    self._state = self.CMD
                continue
            self._body.append(b)
            if s == self.CMD:
                self._state = self.LEN0
            elif s == self.LEN0:
                self._state = self.LEN1
            elif s == self.LEN1:
                self._len = self._body[1] | (self._body[2] << 8)
                self._state = self.PAYLOAD if self._len else self.CRC0
            elif s == self.PAYLOAD:
                if len(self._body) == HEADER_LEN - 1 + self._len:
                    self._state = self.CRC0
            elif s == self.CRC0:
                self._state = self.CRC1
            elif s == self.CRC1:
                self._state = self.HUNT
                out += self._answer(bytes(self._body))
        return bytes(out)

    def idle_timeout(self) -> bytes:
        """The line went idle: drop a partial frame (TIMEOUT error reply) or do nothing."""
        if self._state == self.HUNT:
            return b""
        cmd = self._body[0] if self._body else 0
        self._state = self.HUNT
        return self._error(ErrorCode.TIMEOUT, cmd)

    def rx_error(self) -> None:
        """The UART receiver lost a byte (framing error or overrun): the frame
        held, if any, ends with an RX_ERROR reply (outside a frame the device
        ignores it)."""
        if self._state != self.HUNT:
            self._rx_bad = True

    # -- frames --------------------------------------------------------------------------

    def _answer(self, body: bytes) -> bytes:
        cmd, length, payload = body[0], self._len, body[HEADER_LEN - 1:-CRC_LEN]
        if self._rx_bad:
            return self._error(ErrorCode.RX_ERROR, cmd)
        if crc16(body) != CRC_RESIDUE:
            return self._error(ErrorCode.BAD_CRC, cmd)
        handler = {CMD_INFO: self._info_frame, CMD_INFER: self._infer}
        if self.loadable:
            handler.update({CMD_LOAD_BEGIN: self._begin, CMD_LOAD_DATA: self._data,
                            CMD_LOAD_COMMIT: self._commit})
        if cmd not in handler:
            return self._error(ErrorCode.UNKNOWN_COMMAND, cmd)
        lo, hi = self._lengths(cmd)
        if not lo <= length <= hi:
            return self._error(ErrorCode.BAD_LENGTH, cmd)
        return handler[cmd](payload)

    def _lengths(self, cmd: int) -> tuple[int, int]:
        """The payload lengths ``cmd`` takes (inclusive)."""
        if cmd == CMD_INFO:
            return 0, 0
        if cmd == CMD_INFER:
            return self.info.request_len, self.info.request_len
        if cmd == CMD_LOAD_DATA:
            return LOAD_OFFSET_LEN + 1, LOAD_OFFSET_LEN + self.info.load.max_chunk
        size = (LOAD_BEGIN_STRUCT if cmd == CMD_LOAD_BEGIN else LOAD_COMMIT_STRUCT).size
        return size, size

    def _info_frame(self, payload: bytes) -> bytes:
        return encode_frame(CMD_INFO | REPLY_BIT, self.reported_info.to_bytes())

    def _infer(self, payload: bytes) -> bytes:
        if self.state != ModelState.READY:
            return self._error(ErrorCode.NO_MODEL, CMD_INFER)
        if self._image_error is not None:
            raise ValueError(f"the committed image is not a model the golden reference can "
                             f"run: {self._image_error}")
        x = self.info.decode_input(payload)
        logits, classes = self.running.forward(x)
        return encode_frame(CMD_INFER | REPLY_BIT,
                            self.info.encode_result(logits[0], int(classes[0])))

    def _begin(self, payload: bytes) -> bytes:
        load = self.info.load
        topo, length = LOAD_BEGIN_STRUCT.unpack(payload)
        if (topo, length) != (load.topology_id, load.image_len):
            return self._error(ErrorCode.UNFIT, CMD_LOAD_BEGIN)
        self.state, self.running, self.running_id = ModelState.LOADING, None, 0
        self._image = bytearray(load.image_len)
        self._taken = 0
        return encode_frame(CMD_LOAD_BEGIN | REPLY_BIT)

    def _data(self, payload: bytes) -> bytes:
        if self.state != ModelState.LOADING:
            return self._error(ErrorCode.BAD_SEQUENCE, CMD_LOAD_DATA)
        offset = int.from_bytes(payload[:LOAD_OFFSET_LEN], "little")
        chunk = payload[LOAD_OFFSET_LEN:]
        if offset != self._taken or offset + len(chunk) > self.info.load.image_len:
            return self._error(ErrorCode.BAD_SEQUENCE, CMD_LOAD_DATA)
        self._image[offset:offset + len(chunk)] = chunk
        self._taken += len(chunk)
        return encode_frame(CMD_LOAD_DATA | REPLY_BIT)

    def _commit(self, payload: bytes) -> bytes:
        if self.state != ModelState.LOADING:
            return self._error(ErrorCode.BAD_SEQUENCE, CMD_LOAD_COMMIT)
        mid, length, crc = LOAD_COMMIT_STRUCT.unpack(payload)
        load = self.info.load
        if self._taken != load.image_len or length != load.image_len:
            return self._error(ErrorCode.BAD_SEQUENCE, CMD_LOAD_COMMIT)
        stored = self.stored_image()
        if crc32(stored) != crc:
            return self._error(ErrorCode.BAD_IMAGE, CMD_LOAD_COMMIT)
        from sst_hw.plan.image import network_from_image
        try:
            network, problem = network_from_image(self.plan, stored), None
        except ValueError as e:
            network, problem = None, str(e)
        self._ready(network, mid)
        self._image_error = problem
        self._image = bytearray()
        self._taken = 0
        return encode_frame(CMD_LOAD_COMMIT | REPLY_BIT)

    def stored_image(self) -> bytes:
        """The image as the memories hold it (see the class doc): the bytes
        taken so far (0 for bytes not yet taken), each word cut to its width."""
        from sst_hw.plan.image import stored_image
        return stored_image(self.plan, bytes(self._image))
