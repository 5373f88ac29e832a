"""The host client of the board link: :class:`Client` (blocking) and :class:`AsyncClient`.

Both send request frames and parse the replies with the wire format of
:mod:`sst_hw.link.wire` (``docs/protocol.md``) over a pluggable transport:
:class:`~sst_hw.host.transport.SerialTransport` (pyserial),
:class:`~sst_hw.host.transport.ModelTransport` (the device model, no
hardware), or any object with the same ``write``/``read``/``reset_input``
methods (:class:`AsyncClient`: ``async`` ones, e.g. a bit-level UART
driver in a cocotb coroutine). ``load`` (protocol version 2) replaces the
model of a loadable device; what it checks and sends is
:class:`~sst_hw.host.load.LoadJob`, shared by both clients.
"""

from __future__ import annotations

import time

from sst_hw.link.wire import (
    CMD_ERROR,
    CMD_INFER,
    CMD_INFO,
    ERROR_PAYLOAD_LEN,
    REPLY_BIT,
    DeviceError,
    DeviceInfo,
    Frame,
    FrameReader,
    InferResult,
    ProtocolError,
    encode_frame)
from sst_hw.host.load import LoadJob

__all__ = ["Client", "AsyncClient", "ReplyTimeout"]


class ReplyTimeout(ProtocolError, TimeoutError):
    """No complete reply within the client's timeout."""


def _report(progress, sent, total: int) -> None:
    """Call ``progress(sent, total)`` after a LOAD_DATA chunk (``sent`` not ``None``)."""
    if progress is not None and sent is not None:
        progress(sent, total)


def _check_reply(frame: Frame, cmd: int) -> bytes:
    """The payload of a reply to ``cmd``, or the matching exception."""
    if not frame.crc_ok:
        raise ProtocolError(f"reply (command {frame.cmd:#04x}) failed its CRC check")
    if frame.cmd == CMD_ERROR:
        if len(frame.payload) != ERROR_PAYLOAD_LEN:
            raise ProtocolError(f"error reply must carry {ERROR_PAYLOAD_LEN} bytes, not "
                                f"{len(frame.payload)}")
        raise DeviceError(frame.payload[0], frame.payload[1])
    if frame.cmd != cmd | REPLY_BIT:
        raise ProtocolError(f"expected a reply {cmd | REPLY_BIT:#04x}, got command "
                            f"{frame.cmd:#04x}")
    return frame.payload


class Client:
    """Blocking client for the sst-hw UART protocol over any transport.

    Parameters
    ----------
    transport : object
        An object with ``write(bytes)``, ``read(n, timeout) -> bytes`` (up to
        ``n`` bytes, ``b""`` if none arrived within ``timeout`` seconds) and
        ``reset_input()``: :class:`~sst_hw.host.transport.SerialTransport`,
        :class:`~sst_hw.host.transport.ModelTransport`...
    timeout : float
        Seconds to wait for a complete reply.
    """

    def __init__(self, transport, *, timeout: float = 2.0):
        self.transport = transport
        self.timeout = float(timeout)
        self._info: DeviceInfo | None = None

    def request(self, cmd: int, payload: bytes = b"") -> bytes:
        """Send one request frame; return the reply payload.

        Raises
        ------
        DeviceError
            The device answered with an error reply.
        ReplyTimeout
            No complete reply within the timeout.
        ProtocolError
            Any other broken reply.
        """
        self.transport.reset_input()
        self.transport.write(encode_frame(cmd, payload))
        reader = FrameReader()
        deadline = time.monotonic() + self.timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ReplyTimeout(f"no complete reply to command {cmd:#04x} within "
                                   f"{self.timeout:g} s ({reader.pending} bytes of a frame)")
            frames = reader.feed(self.transport.read(4096, min(left, 0.5)))
            if frames:
                return _check_reply(frames[0], cmd)

    def info(self, refresh: bool = False) -> DeviceInfo:
        """The device's identity (cached)."""
        if self._info is None or refresh:
            self._info = DeviceInfo.from_bytes(self.request(CMD_INFO))
        return self._info

    def check_model(self, network, *, check_id: bool = True) -> DeviceInfo:
        """Raise :class:`~sst_hw.link.wire.ModelMismatch` unless the device runs ``network``."""
        info = self.info()
        info.check_network(network, check_id=check_id)
        return info

    def infer(self, x) -> InferResult:
        """One inference of the features ``x``: the logits and the class."""
        info = self.info()
        return info.decode_result(self.request(CMD_INFER, info.encode_input(x)))

    def load(self, network, *, progress=None) -> DeviceInfo:
        """Load golden ``network`` into a loadable (version 2) device.

        Reads INFO, refuses a device that cannot take the model before any
        LOAD frame is sent (:class:`~sst_hw.host.load.LoadJob`), sends
        LOAD_BEGIN, the image in LOAD_DATA chunks of at most the device's
        ``max_chunk`` bytes and LOAD_COMMIT, then reads INFO again.

        Parameters
        ----------
        network : Network
            The golden model.
        progress : callable, optional
            ``progress(sent_bytes, total_bytes)``, called after each chunk.

        Returns
        -------
        DeviceInfo
            The device's identity after the load (state ready, ``model_id``
            the network's).

        Raises
        ------
        ModelMismatch
            The device cannot take the model (nothing was sent).
        DeviceError, ReplyTimeout
            A LOAD frame failed: the device has no model ready now.
        ProtocolError
            After the commit the device does not report the model.
        """
        job = LoadJob(self.info(refresh=True), network)
        self._info = None                   # the device's state changes from here on
        for cmd, payload, sent in job.requests():
            self.request(cmd, payload)
            _report(progress, sent, job.total)
        return job.check(self.info(refresh=True))


class AsyncClient:
    """:class:`Client` for an ``async`` transport.

    The transport has ``await write(bytes)``, ``await read(n, timeout) ->
    bytes`` and ``reset_input()``, e.g. a bit-level UART driver in a cocotb
    testbench. ``timeout`` is passed to the transport's ``read``, which
    decides what it means (wall-clock seconds on hardware, simulated time in
    a simulator); a read returning ``b""`` ends the wait with
    :class:`ReplyTimeout`.

    Parameters
    ----------
    transport : object
        The async transport.
    timeout : float
        Passed to every ``read``.
    """

    def __init__(self, transport, *, timeout: float = 2.0):
        self.transport = transport
        self.timeout = timeout
        self._info: DeviceInfo | None = None

    async def request(self, cmd: int, payload: bytes = b"") -> bytes:
        """As :meth:`Client.request`."""
        self.transport.reset_input()
        await self.transport.write(encode_frame(cmd, payload))
        reader = FrameReader()
        while True:
            data = await self.transport.read(4096, self.timeout)
            if not data:
                raise ReplyTimeout(f"no complete reply to command {cmd:#04x} "
                                   f"({reader.pending} bytes of a frame)")
            frames = reader.feed(data)
            if frames:
                return _check_reply(frames[0], cmd)

    async def info(self, refresh: bool = False) -> DeviceInfo:
        """As :meth:`Client.info`."""
        if self._info is None or refresh:
            self._info = DeviceInfo.from_bytes(await self.request(CMD_INFO))
        return self._info

    async def check_model(self, network, *, check_id: bool = True) -> DeviceInfo:
        """As :meth:`Client.check_model`."""
        info = await self.info()
        info.check_network(network, check_id=check_id)
        return info

    async def infer(self, x) -> InferResult:
        """As :meth:`Client.infer`."""
        info = await self.info()
        return info.decode_result(await self.request(CMD_INFER, info.encode_input(x)))

    async def load(self, network, *, progress=None) -> DeviceInfo:
        """As :meth:`Client.load`."""
        job = LoadJob(await self.info(refresh=True), network)
        self._info = None
        for cmd, payload, sent in job.requests():
            await self.request(cmd, payload)
            _report(progress, sent, job.total)
        return job.check(await self.info(refresh=True))
