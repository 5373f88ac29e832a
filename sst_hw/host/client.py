"""Host side of the sst-hw UART protocol: frame codec, device model and client.

The protocol is specified in ``docs/protocol.md``; in short, both directions
use the same frame ::

    SYNC 0xA5 | CMD (1 byte) | LEN (2 bytes, little-endian) | PAYLOAD (LEN bytes) | CRC (2 bytes)

with the CRC-16/CCITT-FALSE of ``CMD .. PAYLOAD`` sent most significant byte
first, so that the CRC of ``CMD .. CRC`` is 0. Requests are :data:`CMD_INFO`
and :data:`CMD_INFER`; a reply carries the request's command with bit 7
set; a bad frame gets an error reply (:data:`CMD_ERROR`, payload ``[code,
command]``, codes in :class:`ErrorCode`).

Everything here is pure Python (NumPy for arrays): no Amaranth, no cocotb,
and pyserial only inside :class:`SerialTransport`. The pieces:

* :func:`crc16`, :func:`encode_frame`, :class:`FrameReader`: framing;
* :class:`DeviceInfo`: the identity the device reports to ``INFO`` (input
  count and width, class count, logit width, model fingerprint, clock, baud
  divisor, idle timeout), its byte layout, and the payload codecs
  :meth:`DeviceInfo.encode_input` / :meth:`DeviceInfo.decode_result`;
* :func:`model_id`: the 32-bit fingerprint of a golden :class:`Network`;
* :class:`DeviceModel`: a byte-level reference of the device's frame parser
  (errors and timeouts included) around the golden model;
* :class:`Client` (blocking) and :class:`AsyncClient` (``async``, e.g. from a
  cocotb coroutine) over a pluggable transport: :class:`SerialTransport`
  (pyserial), :class:`ModelTransport` (the device model, no hardware), or any
  object with the same ``write``/``read``/``reset_input`` methods.
"""

from __future__ import annotations

import json
import struct
import time
import zlib
from dataclasses import asdict, dataclass
from enum import IntEnum
from typing import NamedTuple

import numpy as np

__all__ = [
    "SYNC", "PROTOCOL_VERSION", "CMD_INFO", "CMD_INFER", "CMD_ERROR", "REPLY_BIT",
    "ErrorCode", "MAX_PAYLOAD", "INFO_STRUCT", "crc16", "crc16_update", "encode_frame",
    "Frame", "FrameReader", "DeviceInfo", "InferResult", "model_id", "logit_bytes_for",
    "class_bytes_for", "ProtocolError", "DeviceError", "ReplyTimeout", "ModelMismatch",
    "DeviceModel", "Client", "AsyncClient", "SerialTransport", "ModelTransport",
]

#: First byte of every frame.
SYNC = 0xA5
#: Version of the protocol and of the INFO payload layout.
PROTOCOL_VERSION = 1
#: Request: report the device identity (:class:`DeviceInfo`). Empty payload.
CMD_INFO = 0x01
#: Request: one inference. Payload: the input features (:meth:`DeviceInfo.encode_input`).
CMD_INFER = 0x02
#: A reply's command is the request's with this bit set.
REPLY_BIT = 0x80
#: Error reply; payload ``[error code, command of the bad frame (0 if unknown)]``.
CMD_ERROR = 0xFF
#: Largest payload a 16-bit length can describe, bytes.
MAX_PAYLOAD = 0xFFFF


class ErrorCode(IntEnum):
    """Error codes of an error reply (first payload byte)."""
    #: The CRC of the frame did not check.
    BAD_CRC = 1
    #: LEN is not the length the command needs (INFO: 0; INFER: inputs x bytes per input).
    BAD_LENGTH = 2
    #: The command is not a request the device knows.
    UNKNOWN_COMMAND = 3
    #: The line went idle for ``timeout_bits`` bit-times in the middle of a frame.
    TIMEOUT = 4
    #: A UART framing error (stop bit 0) or receiver overrun inside the frame.
    RX_ERROR = 5


#: INFO payload layout (24 bytes, little-endian), see docs/protocol.md.
INFO_STRUCT = struct.Struct("<BBHBBHBBBxIIHH")


# -- CRC and framing -----------------------------------------------------------------------

def crc16_update(crc: int, byte: int) -> int:
    """One byte of CRC-16/CCITT-FALSE (polynomial 0x1021, MSB first): 16-bit ``crc``
    and 8-bit ``byte`` in, 16-bit CRC out."""
    crc ^= (byte & 0xFF) << 8
    for _ in range(8):
        crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        crc &= 0xFFFF
    return crc


def crc16(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE of ``data`` (init 0xFFFF, no reflection, no final XOR);
    ``crc16(b"123456789") == 0x29B1``."""
    for b in bytes(data):
        crc = crc16_update(crc, b)
    return crc


def encode_frame(cmd: int, payload: bytes = b"") -> bytes:
    """A complete frame: SYNC, ``cmd`` (0..255), 16-bit LE length, ``payload``
    (at most :data:`MAX_PAYLOAD` bytes), CRC-16 (MSB first)."""
    if isinstance(cmd, bool) or not isinstance(cmd, int) or not 0 <= cmd <= 0xFF:
        raise ValueError(f"cmd must be an integer in 0..255, not {cmd!r}")
    payload = bytes(payload)
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload must be at most {MAX_PAYLOAD} bytes, not {len(payload)}")
    body = bytes([cmd]) + struct.pack("<H", len(payload)) + payload
    return bytes([SYNC]) + body + struct.pack(">H", crc16(body))


class Frame(NamedTuple):
    """A received frame: command byte, payload bytes, and whether its CRC checked."""
    cmd: int
    payload: bytes
    crc_ok: bool = True


class FrameReader:
    """Incremental frame parser for replies (host side).

    Bytes before a SYNC byte are skipped (counted in :attr:`skipped`). A frame
    whose CRC does not check is returned with ``crc_ok=False``. Use
    :meth:`feed` and collect the frames it returns.
    """

    def __init__(self):
        self._buf = bytearray()
        self.skipped = 0

    def reset(self):
        """Forget any partial frame."""
        self._buf.clear()

    def feed(self, data: bytes) -> list[Frame]:
        """Add received bytes; return the frames they complete, in order."""
        self._buf += bytes(data)
        frames = []
        while True:
            start = self._buf.find(SYNC)
            if start < 0:
                self.skipped += len(self._buf)
                self._buf.clear()
                break
            if start:
                self.skipped += start
                del self._buf[:start]
            if len(self._buf) < 4:
                break
            length = self._buf[2] | (self._buf[3] << 8)
            total = 4 + length + 2
            if len(self._buf) < total:
                break
            body = bytes(self._buf[1:total])
            frames.append(Frame(body[0], body[3:3 + length], crc16(body) == 0))
            del self._buf[:total]
        return frames

    @property
    def pending(self) -> int:
        """Bytes held of a frame not yet complete."""
        return len(self._buf)


# -- device identity and payload codecs --------------------------------------------------

def logit_bytes_for(logit_width: int) -> int:
    """Bytes per logit in an INFER reply: 4 for a ``logit_width`` of at most 32 bits, else 8."""
    return 4 if logit_width <= 32 else 8


def class_bytes_for(n_classes: int) -> int:
    """Bytes of the class index in an INFER reply: 1 for up to 256 classes, else 2."""
    return 1 if n_classes <= 256 else 2


def model_id(network) -> int:
    """32-bit fingerprint of everything in a golden ``Network`` that the hardware
    computes with: input format, and per layer the shape, codebook, codes,
    multipliers, constants, shift, ReLU and activation width (not the float
    metadata or ``meta``). CRC-32 (zlib) of a canonical byte string."""
    parts = [json.dumps({"input": [network.input_width, network.input_signed]},
                        sort_keys=True).encode()]
    for layer in network.layers:
        cb = layer.codebook
        parts.append(json.dumps([layer.in_features, layer.out_features, cb.n, cb.k, cb.variant,
                                 cb.assignment, layer.shift, layer.relu, layer.act_width]).encode())
        for arr in (layer.codes, layer.mult, layer.add):
            parts.append(np.ascontiguousarray(arr, dtype="<i8").tobytes())
    crc = 0
    for p in parts:
        crc = zlib.crc32(p, crc)
    return crc & 0xFFFFFFFF


class InferResult(NamedTuple):
    """An INFER reply: logits (int64 array, one per class) and the class index."""
    logits: np.ndarray
    cls: int


@dataclass(frozen=True)
class DeviceInfo:
    """What a device reports to INFO: the core's interface and the link's settings.

    Parameters
    ----------
    n_inputs : int
        Input features per inference, 1..65535.
    input_width : int
        Bits per input feature A, 1..32.
    input_signed : bool
        Whether input features are two's complement.
    n_classes : int
        Logits per inference, 1..65535.
    logit_width : int
        Bits of a logit in the core (two's complement), 1..64.
    model_id : int
        32-bit fingerprint of the model (:func:`model_id`), 0 if unknown.
    clk_hz : int
        Core clock, Hz (0 if unknown).
    divisor : int
        Clock cycles per UART bit (0 if unknown); baud = ``clk_hz / divisor``.
    timeout_bits : int
        Idle bit-times after which a partial frame is dropped (0 if unknown).
    version : int
        Protocol version (:data:`PROTOCOL_VERSION`).

    Derived: ``input_bytes`` = ceil(A / 8) bytes per feature,
    ``logit_bytes`` (:func:`logit_bytes_for`), ``class_bytes``
    (:func:`class_bytes_for`), ``request_len`` and ``reply_len`` (INFER
    payload lengths in bytes).
    """

    n_inputs: int
    input_width: int
    input_signed: bool
    n_classes: int
    logit_width: int
    model_id: int = 0
    clk_hz: int = 0
    divisor: int = 0
    timeout_bits: int = 0
    version: int = PROTOCOL_VERSION

    def __post_init__(self):
        def chk(name, lo, hi):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not lo <= v <= hi:
                raise ValueError(f"{name} must be an integer in {lo}..{hi}, not {v!r}")
            object.__setattr__(self, name, int(v))
        chk("n_inputs", 1, 0xFFFF)
        chk("input_width", 1, 32)
        chk("n_classes", 1, 0xFFFF)
        chk("logit_width", 1, 64)
        chk("model_id", 0, 0xFFFFFFFF)
        chk("clk_hz", 0, 0xFFFFFFFF)
        chk("divisor", 0, 0xFFFF)
        chk("timeout_bits", 0, 0xFFFF)
        chk("version", 0, 0xFF)
        object.__setattr__(self, "input_signed", bool(self.input_signed))
        if self.request_len > MAX_PAYLOAD:
            raise ValueError(f"{self.n_inputs} inputs of {self.input_bytes} bytes need a "
                             f"{self.request_len}-byte payload, more than {MAX_PAYLOAD}")
        if self.reply_len > MAX_PAYLOAD:
            raise ValueError(f"{self.n_classes} logits need a {self.reply_len}-byte reply, "
                             f"more than {MAX_PAYLOAD}")

    # -- derived sizes -------------------------------------------------------------------

    @property
    def input_bytes(self) -> int:
        return (self.input_width + 7) // 8

    @property
    def logit_bytes(self) -> int:
        return logit_bytes_for(self.logit_width)

    @property
    def class_bytes(self) -> int:
        return class_bytes_for(self.n_classes)

    @property
    def request_len(self) -> int:
        """INFER request payload, bytes: ``n_inputs * input_bytes``."""
        return self.n_inputs * self.input_bytes

    @property
    def reply_len(self) -> int:
        """INFER reply payload, bytes: ``n_classes * logit_bytes + class_bytes``."""
        return self.n_classes * self.logit_bytes + self.class_bytes

    @property
    def baud(self) -> float | None:
        """Line rate in bit/s, ``None`` if clock or divisor is unknown."""
        return self.clk_hz / self.divisor if self.clk_hz and self.divisor else None

    @property
    def input_range(self) -> tuple[int, int]:
        """Inclusive range of an input feature."""
        if self.input_signed:
            return -(1 << (self.input_width - 1)), (1 << (self.input_width - 1)) - 1
        return 0, (1 << self.input_width) - 1

    # -- construction --------------------------------------------------------------------

    @classmethod
    def from_network(cls, network, *, logit_width: int | None = None, **kwargs) -> "DeviceInfo":
        """The identity of a device running golden ``network``. ``logit_width``
        defaults to the golden last-layer accumulator width; ``kwargs`` set
        ``clk_hz``, ``divisor``, ``timeout_bits``."""
        if logit_width is None:
            logit_width = network.acc_widths()[-1]
        return cls(n_inputs=network.layers[0].in_features, input_width=network.input_width,
                   input_signed=network.input_signed, n_classes=network.classes,
                   logit_width=logit_width, model_id=model_id(network), **kwargs)

    def replace(self, **changes) -> "DeviceInfo":
        """A copy with some fields changed."""
        d = asdict(self)
        d.update(changes)
        return DeviceInfo(**d)

    # -- INFO payload --------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """The INFO reply payload (:data:`INFO_STRUCT`, 24 bytes)."""
        return INFO_STRUCT.pack(self.version, int(self.input_signed), self.n_inputs,
                                self.input_width, self.input_bytes, self.n_classes,
                                self.logit_width, self.logit_bytes, self.class_bytes,
                                self.model_id, self.clk_hz, self.divisor, self.timeout_bits)

    @classmethod
    def from_bytes(cls, payload: bytes) -> "DeviceInfo":
        """Parse an INFO reply payload; :class:`ProtocolError` if it is malformed."""
        payload = bytes(payload)
        if len(payload) < INFO_STRUCT.size:
            raise ProtocolError(f"INFO payload must be at least {INFO_STRUCT.size} bytes, "
                                f"not {len(payload)}")
        (version, flags, n_in, a, a_bytes, n_cls, w, w_bytes, c_bytes, mid, clk, div,
         tmo) = INFO_STRUCT.unpack_from(payload)
        if version != PROTOCOL_VERSION:
            raise ProtocolError(f"device speaks protocol version {version}, this host "
                                f"{PROTOCOL_VERSION}")
        try:
            info = cls(n_in, a, bool(flags & 1), n_cls, w, mid, clk, div, tmo, version)
        except ValueError as e:
            raise ProtocolError(f"bad INFO payload: {e}") from None
        derived = (info.input_bytes, info.logit_bytes, info.class_bytes)
        if (a_bytes, w_bytes, c_bytes) != derived:
            raise ProtocolError(f"INFO byte counts (input {a_bytes}, logit {w_bytes}, class "
                                f"{c_bytes}) disagree with the widths ({derived})")
        return info

    # -- INFER payloads ------------------------------------------------------------------

    def encode_input(self, x) -> bytes:
        """INFER request payload: each feature of ``x`` (integers, ``n_inputs``
        of them, each in :attr:`input_range`) as ``input_bytes`` little-endian
        two's-complement bytes."""
        a = np.asarray(x)
        if a.dtype == object or not np.issubdtype(a.dtype, np.integer):
            raise ValueError(f"input must be an integer array, not dtype {a.dtype}")
        a = a.reshape(-1).astype(np.int64)
        if a.size != self.n_inputs:
            raise ValueError(f"input must have {self.n_inputs} features, not {a.size}")
        lo, hi = self.input_range
        bad = (a < lo) | (a > hi)
        if bad.any():
            j = int(np.flatnonzero(bad)[0])
            kind = "signed" if self.input_signed else "unsigned"
            raise ValueError(f"input value {int(a[j])} at [{j}] is outside the "
                             f"{self.input_width}-bit {kind} range {lo}..{hi}")
        nb = self.input_bytes
        u = a & ((1 << (8 * nb)) - 1)
        out = np.zeros((a.size, nb), np.uint8)
        for b in range(nb):
            out[:, b] = (u >> (8 * b)) & 0xFF
        return out.tobytes()

    def decode_input(self, payload: bytes) -> np.ndarray:
        """Inverse of :meth:`encode_input` (the device's view: the low A bits of
        each feature, sign-extended if signed), int64 (n_inputs,)."""
        payload = bytes(payload)
        if len(payload) != self.request_len:
            raise ValueError(f"INFER payload must be {self.request_len} bytes, not {len(payload)}")
        raw = np.frombuffer(payload, np.uint8).reshape(self.n_inputs, self.input_bytes)
        v = np.zeros(self.n_inputs, np.int64)
        for b in range(self.input_bytes):
            v |= raw[:, b].astype(np.int64) << (8 * b)
        v &= (1 << self.input_width) - 1
        if self.input_signed:
            v = np.where(v >> (self.input_width - 1), v - (1 << self.input_width), v)
        return v

    def encode_result(self, logits, cls: int) -> bytes:
        """INFER reply payload: each logit as ``logit_bytes`` LE two's complement,
        then the class as ``class_bytes`` LE unsigned."""
        logits = np.asarray(logits, np.int64).reshape(-1)
        if logits.size != self.n_classes:
            raise ValueError(f"need {self.n_classes} logits, not {logits.size}")
        lb = self.logit_bytes
        out = b"".join(int(v).to_bytes(lb, "little", signed=True) for v in logits)
        return out + int(cls).to_bytes(self.class_bytes, "little")

    def decode_result(self, payload: bytes) -> InferResult:
        """Parse an INFER reply payload into logits (int64) and the class index."""
        payload = bytes(payload)
        if len(payload) != self.reply_len:
            raise ProtocolError(f"INFER reply must be {self.reply_len} bytes, not {len(payload)}")
        dtype = "<i4" if self.logit_bytes == 4 else "<i8"
        n = self.n_classes * self.logit_bytes
        logits = np.frombuffer(payload[:n], dtype).astype(np.int64)
        cls = int.from_bytes(payload[n:], "little")
        return InferResult(logits, cls)

    def check_network(self, network, *, check_id: bool = True):
        """Raise :class:`ModelMismatch` naming the first field in which the
        device disagrees with golden ``network``."""
        want = DeviceInfo.from_network(network, logit_width=self.logit_width)
        for name in ("n_inputs", "input_width", "input_signed", "n_classes"):
            if getattr(self, name) != getattr(want, name):
                raise ModelMismatch(f"device has {name}={getattr(self, name)}, the model "
                                    f"{getattr(want, name)}")
        golden_w = network.acc_widths()[-1]
        if self.logit_width < golden_w and logit_bytes_for(self.logit_width) * 8 < golden_w:
            raise ModelMismatch(f"device logits of {self.logit_width} bits cannot hold the "
                                f"model's {golden_w}-bit logits")
        if check_id and self.model_id != want.model_id:
            raise ModelMismatch(f"device model id {self.model_id:#010x} differs from the "
                                f"model's {want.model_id:#010x} (another model is loaded)")

    def describe(self) -> str:
        """One line for humans."""
        sign = "signed" if self.input_signed else "unsigned"
        baud = f", {self.baud:.0f} baud" if self.baud else ""
        clk = f", clock {self.clk_hz / 1e6:g} MHz" if self.clk_hz else ""
        return (f"{self.n_inputs} x {self.input_width}-bit {sign} inputs -> {self.n_classes} "
                f"logits of {self.logit_width} bits; model id {self.model_id:#010x}{clk}{baud}")


# -- errors ------------------------------------------------------------------------------------

class ProtocolError(RuntimeError):
    """A reply that breaks the protocol (bad CRC, unexpected command, wrong length)."""


class DeviceError(ProtocolError):
    """The device answered with an error reply; :attr:`code` is an :class:`ErrorCode`
    (or the raw byte if unknown), :attr:`command` the command it refers to."""

    def __init__(self, code: int, command: int):
        try:
            self.code = ErrorCode(code)
            name = self.code.name
        except ValueError:
            self.code = code
            name = f"unknown error {code}"
        self.command = command
        super().__init__(f"device error {name} (code {code}) for command {command:#04x}")


class ReplyTimeout(ProtocolError, TimeoutError):
    """No complete reply within the client's timeout."""


class ModelMismatch(ProtocolError):
    """The device runs a different model than the one given to the host."""


# -- reference device model -----------------------------------------------------------------

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
    network : golden Network
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
                if len(self._body) == 3 + self._len:
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
        cmd, length, payload = body[0], self._len, body[3:-2]
        if crc16(body) != 0:
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


# -- transports ----------------------------------------------------------------------------

class SerialTransport:
    """A pyserial port: 8 data bits, no parity, 1 stop bit, no flow control.

    Parameters
    ----------
    port : str
        Device name, e.g. ``/dev/ttyUSB1`` (iCEBreaker and HX8K breakout: the
        second FTDI channel; ULX3S: ``/dev/ttyUSB0``), or any pyserial URL
        (``loop://``, ``socket://host:port``).
    baud : int
        Line rate, bit/s (must match the bitstream's).
    """

    def __init__(self, port: str, baud: int = 115200):
        import serial  # pyserial, only needed for real hardware

        self.serial = serial.serial_for_url(port, baudrate=baud, bytesize=8, parity="N",
                                            stopbits=1, timeout=0.1, rtscts=False,
                                            dsrdtr=False, xonxoff=False)

    def write(self, data: bytes) -> None:
        """Send ``data`` and wait until it has left the host's buffer."""
        self.serial.write(bytes(data))
        self.serial.flush()

    def read(self, n: int, timeout: float) -> bytes:
        """Up to ``n`` bytes, waiting at most ``timeout`` seconds for the first."""
        self.serial.timeout = timeout
        first = self.serial.read(1)
        if not first:
            return b""
        self.serial.timeout = 0
        return first + self.serial.read(max(0, min(n - 1, self.serial.in_waiting)))

    def reset_input(self) -> None:
        """Drop bytes received but not read."""
        self.serial.reset_input_buffer()

    def close(self) -> None:
        self.serial.close()


class ModelTransport:
    """A simulated device: the bytes written go to a :class:`DeviceModel`, and its
    replies are read back. When the reader waits while the model holds a
    partial frame, the model's idle timeout fires (as the hardware's would).
    Useful without hardware (``sst-hw infer --port model``) and for tests."""

    def __init__(self, network, info: DeviceInfo | None = None):
        self.model = DeviceModel(network, info)
        self._rx = bytearray()
        self.written = bytearray()

    def write(self, data: bytes) -> None:
        """Feed ``data`` to the device model; its replies queue up for :meth:`read`."""
        self.written += bytes(data)
        self._rx += self.model.receive(data)

    def read(self, n: int, timeout: float) -> bytes:
        """Up to ``n`` queued reply bytes (the idle timeout fires if none are queued
        while a partial frame is held); never waits."""
        if not self._rx and self.model.in_frame:
            self._rx += self.model.idle_timeout()
        out = bytes(self._rx[:n])
        del self._rx[:n]
        return out

    def reset_input(self) -> None:
        self._rx.clear()

    def close(self) -> None:
        pass


# -- clients -------------------------------------------------------------------------------------

def _check_reply(frame: Frame, cmd: int) -> bytes:
    """The payload of a reply to ``cmd``, or the matching exception."""
    if not frame.crc_ok:
        raise ProtocolError(f"reply (command {frame.cmd:#04x}) failed its CRC check")
    if frame.cmd == CMD_ERROR:
        if len(frame.payload) != 2:
            raise ProtocolError(f"error reply must carry 2 bytes, not {len(frame.payload)}")
        raise DeviceError(frame.payload[0], frame.payload[1])
    if frame.cmd != cmd | REPLY_BIT:
        raise ProtocolError(f"expected a reply {cmd | REPLY_BIT:#04x}, got command "
                            f"{frame.cmd:#04x}")
    return frame.payload


class Client:
    """Blocking client for the sst-hw UART protocol over any transport.

    Parameters
    ----------
    transport :
        An object with ``write(bytes)``, ``read(n, timeout) -> bytes`` (up to
        ``n`` bytes, ``b""`` if none arrived within ``timeout`` seconds) and
        ``reset_input()``: :class:`SerialTransport`, :class:`ModelTransport`...
    timeout : float
        Seconds to wait for a complete reply.
    """

    def __init__(self, transport, *, timeout: float = 2.0):
        self.transport = transport
        self.timeout = float(timeout)
        self._info: DeviceInfo | None = None

    def request(self, cmd: int, payload: bytes = b"") -> bytes:
        """Send one request frame; return the reply payload. Raises
        :class:`DeviceError` on an error reply, :class:`ReplyTimeout`, or
        :class:`ProtocolError`."""
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
        """Raise :class:`ModelMismatch` unless the device runs ``network``."""
        info = self.info()
        info.check_network(network, check_id=check_id)
        return info

    def infer(self, x) -> InferResult:
        """One inference of the features ``x``: the logits and the class."""
        info = self.info()
        return info.decode_result(self.request(CMD_INFER, info.encode_input(x)))


class AsyncClient:
    """:class:`Client` for an ``async`` transport (``await write(bytes)``,
    ``await read(n, timeout) -> bytes``, ``reset_input()``), e.g. a bit-level
    UART driver in a cocotb testbench. ``timeout`` is passed to the
    transport's ``read``, which decides what it means (wall-clock seconds on
    hardware, simulated time in a simulator); a read returning ``b""`` ends
    the wait with :class:`ReplyTimeout`."""

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
