"""``DeviceModel``: a byte-level reference of the device's frame parser.

It answers frames the way the gateware of :mod:`sst_hw.link.frames` does
(errors and timeouts included) with the golden model's results, without
timing. The tests check the gateware against it, and
:class:`~sst_hw.host.transport.ModelTransport` puts it behind a transport so
the client runs without hardware.
"""

from __future__ import annotations

from sst_hw.link.wire import (
    CMD_ERROR,
    CMD_INFER,
    CMD_INFO,
    CRC_LEN,
    CRC_RESIDUE,
    HEADER_LEN,
    REPLY_BIT,
    SYNC,
    DeviceInfo,
    ErrorCode,
    crc16,
    encode_frame)

__all__ = ["DeviceModel"]


class DeviceModel:
    """Byte-level reference of the device: frame parser, error replies and the
    golden model, without timing.

    Feed received bytes to :meth:`receive`, call :meth:`idle_timeout` when the
    line has been idle for ``timeout_bits`` (the device then drops a partial
    frame with a TIMEOUT error); both return the reply bytes the device
    sends. The device answers one frame at a time and ignores bytes that
    arrive while it is answering (this model answers instantly).

    Parameters
    ----------
    network : Network
        The golden model.
    info : DeviceInfo, optional
        Defaults to ``DeviceInfo.from_network(network)``.
    """

    HUNT, CMD, LEN0, LEN1, PAYLOAD, CRC0, CRC1 = range(7)

    def __init__(self, network, info: DeviceInfo | None = None):
        self.network = network
        self.info = info or DeviceInfo.from_network(network)
        self._state = self.HUNT
        self._body = bytearray()
        self._len = 0

    @property
    def in_frame(self) -> bool:
        """Whether a partial frame is held."""
        return self._state != self.HUNT

    def _error(self, code: ErrorCode, cmd: int) -> bytes:
        return encode_frame(CMD_ERROR, bytes([int(code), cmd & 0xFF]))

    def receive(self, data: bytes) -> bytes:
        """Process received bytes; return the reply bytes (possibly several frames)."""
        out = bytearray()
        for b in bytes(data):
            s = self._state
            if s == self.HUNT:
                if b == SYNC:
                    self._body.clear()
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

    def _answer(self, body: bytes) -> bytes:
        cmd, length, payload = body[0], self._len, body[HEADER_LEN - 1:-CRC_LEN]
        if crc16(body) != CRC_RESIDUE:
            return self._error(ErrorCode.BAD_CRC, cmd)
        if cmd == CMD_INFO:
            if length != 0:
                return self._error(ErrorCode.BAD_LENGTH, cmd)
            return encode_frame(CMD_INFO | REPLY_BIT, self.info.to_bytes())
        if cmd == CMD_INFER:
            if length != self.info.request_len:
                return self._error(ErrorCode.BAD_LENGTH, cmd)
            x = self.info.decode_input(payload)
            logits, classes = self.network.forward(x)
            return encode_frame(CMD_INFER | REPLY_BIT,
                                self.info.encode_result(logits[0], int(classes[0])))
        return self._error(ErrorCode.UNKNOWN_COMMAND, cmd)
