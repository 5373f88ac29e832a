"""The wire format of the board link: frames, CRC, commands, payloads, device identity.

This module is the one definition of the protocol in ``docs/protocol.md``;
the gateware (:mod:`sst_hw.link.frames`, :mod:`sst_hw.link.top`) and the
host (:mod:`sst_hw.host`) both import it. It is pure Python (NumPy for the
payload arrays): the gateware builds its CRC unit from :data:`CRC16`, the
host computes the same CRC with :func:`crc16`.

Both directions use the same frame ::

    SYNC 0xA5 | CMD (1 byte) | LEN (2 bytes, little-endian) | PAYLOAD (LEN bytes) | CRC (2 bytes)

with the CRC-16/CCITT-FALSE of ``CMD .. PAYLOAD`` sent most significant byte
first, so that the CRC of ``CMD .. CRC`` is :data:`CRC_RESIDUE`. Requests are
:data:`CMD_INFO` and :data:`CMD_INFER`; a reply carries the request's command
with :data:`REPLY_BIT` set; a bad frame gets an error reply
(:data:`CMD_ERROR`, payload ``[code, command]``, codes in :class:`ErrorCode`).

The pieces:

* :data:`CRC16`, :func:`crc16`, :func:`encode_frame`, :class:`FrameReader`:
  framing;
* :class:`DeviceInfo`: the identity the device reports to ``INFO`` (input
  count and width, class count, logit width, model fingerprint, clock, baud
  divisor, idle timeout), its byte layout (:data:`INFO_STRUCT`), and the
  payload codecs :meth:`DeviceInfo.encode_input` /
  :meth:`DeviceInfo.decode_result`;
* :func:`model_id`: the 32-bit fingerprint of a golden ``Network``;
* :class:`ProtocolError` and its subclasses, raised when bytes break the
  format.
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass
from enum import IntEnum
from typing import NamedTuple

import numpy as np

__all__ = [
    "SYNC", "PROTOCOL_VERSION", "CMD_INFO", "CMD_INFER", "CMD_ERROR", "REPLY_BIT",
    "ErrorCode", "MAX_PAYLOAD", "HEADER_LEN", "CRC_LEN", "ERROR_PAYLOAD_LEN", "INFO_STRUCT",
    "DEFAULT_BAUD", "DEFAULT_TIMEOUT_BITS", "TIMEOUT_BITS_RANGE", "MAX_DIVISOR",
    "CRCAlgorithm", "CRC16", "CRC_RESIDUE", "crc16", "crc16_update", "encode_frame",
    "Frame", "FrameReader", "DeviceInfo", "InferResult", "model_id", "logit_bytes_for",
    "class_bytes_for", "ProtocolError", "DeviceError", "ModelMismatch",
    "CMD_LOAD_BEGIN", "CMD_LOAD_DATA", "CMD_LOAD_COMMIT", "MAX_CHUNK", "LOAD_BEGIN_STRUCT",
    "LOAD_COMMIT_STRUCT", "LOAD_OFFSET_LEN", "INFO_V1_SIZE", "INFO_V2_STRUCT", "ModelState",
    "LoadInfo", "CRC32", "crc32", "SUPPORTED_VERSIONS",
]

#: First byte of every frame.
SYNC = 0xA5
#: Version of the protocol and of the INFO payload layout (2: model loading; a
#: version-2 device answers version-1 INFO and INFER frames unchanged).
PROTOCOL_VERSION = 2
#: The versions this host understands.
SUPPORTED_VERSIONS = (1, 2)
#: Request: report the device identity (:class:`DeviceInfo`). Empty payload.
CMD_INFO = 0x01
#: Request: one inference. Payload: the input features (:meth:`DeviceInfo.encode_input`).
CMD_INFER = 0x02
#: Request (v2): start loading a model image. Payload :data:`LOAD_BEGIN_STRUCT`.
CMD_LOAD_BEGIN = 0x03
#: Request (v2): one chunk of the image. Payload: byte offset (4, LE), then 1..MAX_CHUNK bytes.
CMD_LOAD_DATA = 0x04
#: Request (v2): end a load. Payload :data:`LOAD_COMMIT_STRUCT`.
CMD_LOAD_COMMIT = 0x05
#: Most image bytes in one LOAD_DATA frame.
MAX_CHUNK = 4096
#: Bytes of the offset that starts a LOAD_DATA payload.
LOAD_OFFSET_LEN = 4
#: LOAD_BEGIN payload: topology id, image length in bytes (little-endian).
LOAD_BEGIN_STRUCT = struct.Struct("<II")
#: LOAD_COMMIT payload: model id, image length in bytes, CRC-32 of the image.
LOAD_COMMIT_STRUCT = struct.Struct("<III")
#: A reply's command is the request's with this bit set.
REPLY_BIT = 0x80
#: Error reply; payload ``[error code, command of the bad frame (0 if unknown)]``.
CMD_ERROR = 0xFF
#: Payload bytes of an error reply: the code and the command.
ERROR_PAYLOAD_LEN = 2
#: Largest payload a 16-bit length can describe, bytes.
MAX_PAYLOAD = 0xFFFF
#: Bytes before the payload: SYNC, CMD and the 16-bit LEN.
HEADER_LEN = 4
#: Bytes of the CRC after the payload.
CRC_LEN = 2

#: Default line rate, bit/s (``sst-hw build`` and ``sst-hw infer``).
DEFAULT_BAUD = 115200
#: Idle bit-times after which the device drops a partial frame (about 36 ms at 115200
#: baud: longer than the gaps a USB-serial adapter leaves inside one write).
DEFAULT_TIMEOUT_BITS = 4096
#: Idle timeouts a device accepts, bit-times: more than one 10-bit UART character, and
#: what the 16-bit ``timeout_bits`` field of INFO can report.
TIMEOUT_BITS_RANGE = (16, 0xFFFF)
#: Most clock cycles per UART bit: what the 16-bit ``divisor`` field of INFO can report.
MAX_DIVISOR = 0xFFFF


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
    #: INFER while no committed model is in memory (v2).
    NO_MODEL = 6
    #: LOAD_BEGIN for an image the built core cannot run: other topology or length (v2).
    UNFIT = 7
    #: A LOAD frame out of order: no load in progress, wrong offset, past the end, or a
    #: commit before the whole image arrived (v2).
    BAD_SEQUENCE = 8
    #: LOAD_COMMIT whose CRC-32 disagrees with the image the device stored (v2).
    BAD_IMAGE = 9


class ModelState(IntEnum):
    """What the device runs (INFO v2, byte 24)."""
    #: No committed model: INFER is refused with NO_MODEL.
    NONE = 0
    #: A load is in progress: INFER is refused (and ends the load).
    LOADING = 1
    #: A model is ready: INFO's ``model_id`` names it.
    READY = 2


#: INFO payload layout (24 bytes, little-endian), see docs/protocol.md: version 1's
#: whole payload, and the first 24 bytes of version 2's.
INFO_STRUCT = struct.Struct("<BBHBBHBBBxIIHH")
INFO_V1_SIZE = INFO_STRUCT.size
#: The bytes version 2 adds after :data:`INFO_STRUCT` (24 bytes): state, load
#: flags, max chunk, topology id, image length, PE, SIMD, requant mode, add bits,
#: built-in model id.
INFO_V2_STRUCT = struct.Struct("<BBHIIHBBBxxxI")


# -- CRC and framing -----------------------------------------------------------------------

class CRCAlgorithm(NamedTuple):
    """A CRC in the Williams model.

    The fields are the keyword arguments of ``amaranth.lib.crc.Algorithm``, so
    the gateware builds its CRC unit with ``Algorithm(**CRC16._asdict())``
    and this module needs no Amaranth.

    Parameters
    ----------
    crc_width : int
        Bits of the CRC.
    polynomial : int
        Generator polynomial without the ``x ** crc_width`` term, MSB first.
    initial_crc : int
        Register value before the first byte.
    reflect_input, reflect_output : bool
        Whether bytes, and the result, are bit-reversed.
    xor_output : int
        XORed into the register to give the CRC.
    """

    crc_width: int
    polynomial: int
    initial_crc: int
    reflect_input: bool
    reflect_output: bool
    xor_output: int


#: The frame CRC, CRC-16/CCITT-FALSE (``amaranth.lib.crc.catalog.CRC16_CCITT_FALSE``):
#: the one definition that :func:`crc16` and the gateware's CRC unit both use.
CRC16 = CRCAlgorithm(crc_width=16, polynomial=0x1021, initial_crc=0xFFFF,
                     reflect_input=False, reflect_output=False, xor_output=0x0000)

#: The image CRC of LOAD_COMMIT, CRC-32 as zlib computes it
#: (``amaranth.lib.crc.catalog.CRC32_ETHERNET``): :func:`crc32` and the
#: device's check over the stored image both use it.
CRC32 = CRCAlgorithm(crc_width=32, polynomial=0x04C11DB7, initial_crc=0xFFFFFFFF,
                     reflect_input=True, reflect_output=True, xor_output=0xFFFFFFFF)


def crc32(data: bytes) -> int:
    """The :data:`CRC32` of ``data``; ``crc32(b"123456789") == 0xCBF43926``."""
    return zlib.crc32(bytes(data)) & 0xFFFFFFFF


#: The CRC of a frame body followed by its own CRC (MSB first): what a receiver
#: checks. Zero, because :data:`CRC16` has no reflection and no output XOR.
CRC_RESIDUE = 0

_CRC_MASK = (1 << CRC16.crc_width) - 1
_CRC_TOP = 1 << (CRC16.crc_width - 1)


def crc16_update(crc: int, byte: int) -> int:
    """The :data:`CRC16` register after one more byte.

    Parameters
    ----------
    crc : int
        The 16-bit register.
    byte : int
        The next byte (its low 8 bits).

    Returns
    -------
    int
        The 16-bit register.
    """
    # MSB first: CRC16 reflects neither bytes nor result.
    crc ^= (byte & 0xFF) << (CRC16.crc_width - 8)
    for _ in range(8):
        crc = ((crc << 1) ^ CRC16.polynomial) if crc & _CRC_TOP else (crc << 1)
        crc &= _CRC_MASK
    return crc


def crc16(data: bytes, crc: int = CRC16.initial_crc) -> int:
    """The :data:`CRC16` of ``data``; ``crc16(b"123456789") == 0x29B1``.

    Parameters
    ----------
    data : bytes
        The bytes, in the order sent.
    crc : int
        The register to start from (by default the algorithm's initial value;
        a previous result continues a computation, as the output XOR is 0).

    Returns
    -------
    int
        The 16-bit CRC.
    """
    for b in bytes(data):
        crc = crc16_update(crc, b)
    return crc ^ CRC16.xor_output


def encode_frame(cmd: int, payload: bytes = b"") -> bytes:
    """A complete frame: SYNC, ``cmd``, the 16-bit LE length, ``payload``, the CRC.

    Parameters
    ----------
    cmd : int
        The command byte, 0..255.
    payload : bytes
        At most :data:`MAX_PAYLOAD` bytes.

    Returns
    -------
    bytes
        ``HEADER_LEN + len(payload) + CRC_LEN`` bytes, the CRC most significant
        byte first.
    """
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
    """Incremental frame parser.

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
            if len(self._buf) < HEADER_LEN:
                break
            length = self._buf[2] | (self._buf[3] << 8)
            total = HEADER_LEN + length + CRC_LEN
            if len(self._buf) < total:
                break
            body = bytes(self._buf[1:total])
            frames.append(Frame(body[0], body[HEADER_LEN - 1:HEADER_LEN - 1 + length],
                                crc16(body) == CRC_RESIDUE))
            del self._buf[:total]
        return frames

    @property
    def pending(self) -> int:
        """Bytes held of a frame not yet complete."""
        return len(self._buf)


# -- errors ------------------------------------------------------------------------------------

class ProtocolError(RuntimeError):
    """A reply that breaks the protocol (bad CRC, unexpected command, wrong length)."""


class DeviceError(ProtocolError):
    """The device answered with an error reply.

    Attributes
    ----------
    code : ErrorCode or int
        The error code (the raw byte if it is not a known code).
    command : int
        The command the error refers to.
    """

    def __init__(self, code: int, command: int):
        try:
            self.code = ErrorCode(code)
            name = self.code.name
        except ValueError:
            self.code = code
            name = f"unknown error {code}"
        self.command = command
        super().__init__(f"device error {name} (code {code}) for command {command:#04x}")


class ModelMismatch(ProtocolError):
    """The device runs a different model than the one given to the host."""


# -- device identity and payload codecs --------------------------------------------------

def logit_bytes_for(logit_width: int) -> int:
    """Bytes per logit in an INFER reply: 4 for a ``logit_width`` of at most 32 bits, else 8."""
    return 4 if logit_width <= 32 else 8


def class_bytes_for(n_classes: int) -> int:
    """Bytes of the class index in an INFER reply: 1 for up to 256 classes, else 2."""
    return 1 if n_classes <= 256 else 2


def _layer_parts(layer) -> list:
    """The canonical bytes of one golden dense layer: shape, codebook, shift,
    ReLU, width, then its codes, multipliers and constants."""
    cb = layer.codebook
    return [json.dumps([layer.in_features, layer.out_features, cb.n, cb.k, cb.variant,
                        cb.assignment, layer.shift, layer.relu, layer.act_width]).encode(),
            *(np.ascontiguousarray(arr, dtype="<i8").tobytes()
              for arr in (layer.codes, layer.mult, layer.add))]


def _crc(parts) -> int:
    crc = 0
    for p in parts:
        crc = zlib.crc32(p, crc)
    return crc & 0xFFFFFFFF


def _convnet_id(network) -> int:
    """:func:`model_id` of a ConvNetwork: its input shape and format, and per
    layer its kind, geometry and, for conv and dense layers, what a dense
    layer's fingerprint covers."""
    parts = [json.dumps({"input": [list(network.input_shape), network.input_width,
                                   network.input_signed]}, sort_keys=True).encode()]
    for kind, layer in zip(network.kinds, network.layers):
        geo = {"kind": kind}
        if kind == "conv2d":
            geo.update(kh=layer.kh, kw=layer.kw, stride=layer.stride, pad=list(layer.pad))
            layer = layer.layer
        elif kind == "maxpool":
            geo.update(kernel=layer.kernel, stride=layer.stride)
        parts.append(json.dumps(geo, sort_keys=True).encode())
        if kind in ("conv2d", "dense"):
            parts += _layer_parts(layer)
    return _crc(parts)


def model_id(network) -> int:
    """The 32-bit fingerprint of a golden ``Network`` (INFO's ``model_id``).

    It covers everything the hardware computes with: input format, and per
    layer the shape, codebook, codes, multipliers, constants, shift, ReLU and
    activation width (not the float metadata or ``meta``).

    Returns
    -------
    int
        The CRC-32 (zlib) of a canonical byte string.
    """
    if hasattr(network, "kinds"):      # a ConvNetwork: its geometry too
        return _convnet_id(network)
    parts = [json.dumps({"input": [network.input_width, network.input_signed]},
                        sort_keys=True).encode()]
    for layer in network.layers:
        parts += _layer_parts(layer)
    return _crc(parts)


class InferResult(NamedTuple):
    """An INFER reply: logits (int64 array, one per class) and the class index."""
    logits: np.ndarray
    cls: int


@dataclass(frozen=True)
class LoadInfo:
    """What a version-2 device reports of its model memory (INFO bytes 24..47).

    Parameters
    ----------
    state : ModelState
        No model, loading, or ready.
    loadable : bool
        The device takes LOAD commands (its code and parameter memories are
        writable).
    builtin : bool
        The bitstream holds a model (block RAM builds), run after every reset.
    max_chunk : int
        Most image bytes per LOAD_DATA frame (0 if not loadable).
    topology_id : int
        CRC-32 of what the built core fixes (:func:`sst_hw.plan.image.topology_id`);
        an image for another topology is refused.
    image_len : int
        Bytes of the model image the core takes.
    pe, simd : int
        The engine's, which lay out the code image.
    requant : str
        ``"shift"`` or ``"mult"``: the requantizer's mode.
    add_bits : int
        Bits of each requantization constant ``C_r`` in the image.
    builtin_id : int
        ``model_id`` of the bitstream's model (0 if none).
    """

    state: ModelState = ModelState.READY
    loadable: bool = False
    builtin: bool = True
    max_chunk: int = 0
    topology_id: int = 0
    image_len: int = 0
    pe: int = 0
    simd: int = 0
    requant: str = "shift"
    add_bits: int = 0
    builtin_id: int = 0

    def __post_init__(self):
        object.__setattr__(self, "state", ModelState(self.state))
        if self.requant not in ("shift", "mult"):
            raise ValueError(f"requant must be 'shift' or 'mult', not {self.requant!r}")

    @classmethod
    def from_plan(cls, plan, *, state: "ModelState | None" = None) -> "LoadInfo":
        """The load fields of a device built from network plan ``plan``: not
        loadable (the model is fixed), or loadable with the plan's geometry; a
        block RAM build holds the plan's model (ready after reset), an spram
        build none. ``state`` overrides the state after reset."""
        if not getattr(plan, "loadable", False):
            return cls(state=ModelState.READY if state is None else state)
        from sst_hw.plan.image import image_len, topology_id
        builtin = plan.memory == "bram"
        if state is None:
            state = ModelState.READY if builtin else ModelState.NONE
        return cls(state=state, loadable=True, builtin=builtin, max_chunk=MAX_CHUNK,
                   topology_id=topology_id(plan), image_len=image_len(plan), pe=plan.pe,
                   simd=plan.simd, requant=plan.requant, add_bits=plan.add_bits,
                   builtin_id=model_id(plan.network) if builtin else 0)

    def to_bytes(self) -> bytes:
        flags = int(self.loadable) | (int(self.builtin) << 1)
        return INFO_V2_STRUCT.pack(int(self.state), flags, self.max_chunk, self.topology_id,
                                   self.image_len, self.pe, self.simd,
                                   int(self.requant == "mult"), self.add_bits, self.builtin_id)

    @classmethod
    def from_bytes(cls, payload: bytes) -> "LoadInfo":
        (state, flags, chunk, topo, length, pe, simd, rq, add_bits,
         builtin_id) = INFO_V2_STRUCT.unpack(bytes(payload))
        try:
            return cls(ModelState(state), bool(flags & 1), bool(flags & 2), chunk, topo, length,
                       pe, simd, "mult" if rq else "shift", add_bits, builtin_id)
        except ValueError as e:
            raise ProtocolError(f"bad INFO load fields: {e}") from None

    def describe(self) -> str:
        what = {ModelState.NONE: "no model", ModelState.LOADING: "loading",
                ModelState.READY: "ready"}[self.state]
        if not self.loadable:
            return f"{what}; models are fixed in the bitstream"
        builtin = (f", built-in model {self.builtin_id:#010x}" if self.builtin
                   else ", no built-in model")
        return (f"{what}; loadable: images of {self.image_len} bytes, topology "
                f"{self.topology_id:#010x}{builtin}")


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
    load : LoadInfo, optional
        Version 2: the model memory's state and geometry (``None`` for a
        version-1 device; a fixed-model :class:`LoadInfo` when omitted with
        version 2).

    Notes
    -----
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
    load: LoadInfo | None = None

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
        chk("divisor", 0, MAX_DIVISOR)
        chk("timeout_bits", 0, TIMEOUT_BITS_RANGE[1])
        chk("version", 0, 0xFF)
        object.__setattr__(self, "input_signed", bool(self.input_signed))
        if self.version >= 2 and self.load is None:
            object.__setattr__(self, "load", LoadInfo())
        if self.version < 2 and self.load is not None:
            raise ValueError("a version-1 device reports no load fields")
        if self.request_len > MAX_PAYLOAD:
            raise ValueError(f"{self.n_inputs} inputs of {self.input_bytes} bytes need a "
                             f"{self.request_len}-byte payload, more than {MAX_PAYLOAD}")
        if self.reply_len > MAX_PAYLOAD:
            raise ValueError(f"{self.n_classes} logits need a {self.reply_len}-byte reply, "
                             f"more than {MAX_PAYLOAD}")

    # -- derived sizes -------------------------------------------------------------------

    @property
    def input_bytes(self) -> int:
        """Bytes per input feature: ceil(``input_width`` / 8)."""
        return (self.input_width + 7) // 8

    @property
    def logit_bytes(self) -> int:
        """Bytes per logit in an INFER reply (:func:`logit_bytes_for`)."""
        return logit_bytes_for(self.logit_width)

    @property
    def class_bytes(self) -> int:
        """Bytes of the class index in an INFER reply (:func:`class_bytes_for`)."""
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
        # (a ConvNetwork's inputs are its image's H*W*C values, HWC order)
        """The identity of a device running golden ``network``.

        Parameters
        ----------
        network : Network
            The golden model.
        logit_width : int, optional
            Defaults to the golden last-layer accumulator width.
        **kwargs
            ``clk_hz``, ``divisor``, ``timeout_bits``.
        """
        if logit_width is None:
            logit_width = network.acc_widths()[-1]
        n_inputs = getattr(network, "in_features", None) or network.layers[0].in_features
        return cls(n_inputs=n_inputs, input_width=network.input_width,
                   input_signed=network.input_signed, n_classes=network.classes,
                   logit_width=logit_width, model_id=model_id(network), **kwargs)

    def replace(self, **changes) -> "DeviceInfo":
        """A copy with some fields changed."""
        d = {f: getattr(self, f) for f in self.__dataclass_fields__}
        d.update(changes)
        return DeviceInfo(**d)

    @property
    def state(self) -> ModelState:
        """What the device runs (a version-1 device always has its model ready)."""
        return self.load.state if self.load is not None else ModelState.READY

    # -- INFO payload --------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """The INFO reply payload: :data:`INFO_STRUCT` (24 bytes), then in version 2
        :data:`INFO_V2_STRUCT` (24 more)."""
        tail = self.load.to_bytes() if self.load is not None else b""
        return self._v1_bytes() + tail

    def _v1_bytes(self) -> bytes:
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
        if version not in SUPPORTED_VERSIONS:
            raise ProtocolError(f"device speaks protocol version {version}, this host "
                                f"{', '.join(map(str, SUPPORTED_VERSIONS))}")
        load = None
        if version >= 2:
            need = INFO_STRUCT.size + INFO_V2_STRUCT.size
            if len(payload) < need:
                raise ProtocolError(f"a version-2 INFO payload must be {need} bytes, not "
                                    f"{len(payload)}")
            load = LoadInfo.from_bytes(payload[INFO_STRUCT.size:need])
        try:
            info = cls(n_in, a, bool(flags & 1), n_cls, w, mid, clk, div, tmo, version, load)
        except ValueError as e:
            raise ProtocolError(f"bad INFO payload: {e}") from None
        derived = (info.input_bytes, info.logit_bytes, info.class_bytes)
        if (a_bytes, w_bytes, c_bytes) != derived:
            raise ProtocolError(f"INFO byte counts (input {a_bytes}, logit {w_bytes}, class "
                                f"{c_bytes}) disagree with the widths ({derived})")
        return info

    # -- INFER payloads ------------------------------------------------------------------

    def encode_input(self, x) -> bytes:
        """The INFER request payload for the features ``x``.

        Parameters
        ----------
        x : array_like of int
            ``n_inputs`` integers, each in :attr:`input_range`.

        Returns
        -------
        bytes
            Each feature as ``input_bytes`` little-endian two's-complement bytes.
        """
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
        """Inverse of :meth:`encode_input`, as the device sees it.

        Returns
        -------
        numpy.ndarray
            int64 ``(n_inputs,)``: the low A bits of each feature, sign-extended
            if the input is signed.
        """
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
        """The INFER reply payload: each logit as ``logit_bytes`` LE two's
        complement, then the class as ``class_bytes`` LE unsigned."""
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
        if self.state != ModelState.READY:
            raise ModelMismatch(f"device has no model ready ({self.load.describe()}): load one "
                                f"with sst-hw load")
        if check_id and self.model_id != want.model_id:
            raise ModelMismatch(f"device model id {self.model_id:#010x} differs from the "
                                f"model's {want.model_id:#010x} (another model is loaded)")

    def describe(self) -> str:
        """One line for humans."""
        sign = "signed" if self.input_signed else "unsigned"
        baud = f", {self.baud:.0f} baud" if self.baud else ""
        clk = f", clock {self.clk_hz / 1e6:g} MHz" if self.clk_hz else ""
        state = f"; {self.load.describe()}" if self.load is not None else ""
        return (f"{self.n_inputs} x {self.input_width}-bit {sign} inputs -> {self.n_classes} "
                f"logits of {self.logit_width} bits; model id {self.model_id:#010x}{clk}{baud}"
                f"{state}")
