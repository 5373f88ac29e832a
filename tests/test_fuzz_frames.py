"""Fuzzing the host's side of the board link with Hypothesis: the frame decoder
(:class:`~sst_hw.link.wire.FrameReader`), the INFO payload parser
(:meth:`DeviceInfo.from_bytes <sst_hw.link.wire.DeviceInfo.from_bytes>`), the
INFER reply decoder and the client's reply checks (``_check_reply``, and
:class:`~sst_hw.host.client.Client` over a transport that answers with
arbitrary bytes).

The properties: the frames the reader returns do not depend on how the bytes
are split into reads and equal those of an independent reference parser; a
valid frame between noise is found; every byte is accounted for (skipped,
framed or pending); a payload is either refused with
:class:`~sst_hw.link.wire.ProtocolError` (or its subclass
:class:`~sst_hw.link.wire.DeviceError`) or parsed into a value that
round-trips; the client never raises anything else and never waits past its
timeout.

``SST_HW_FUZZ_SCALE=20 HYPOTHESIS_PROFILE=explore`` runs many more, fresh,
examples.
"""

from __future__ import annotations

import struct
import time

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sst_hw.host.client import Client, ReplyTimeout, _check_reply
from sst_hw.link.wire import (
    CMD_ERROR,
    CMD_INFER,
    CMD_INFO,
    CRC_LEN,
    HEADER_LEN,
    INFO_STRUCT,
    INFO_V2_STRUCT,
    REPLY_BIT,
    SYNC,
    DeviceError,
    DeviceInfo,
    Frame,
    FrameReader,
    LoadInfo,
    ModelState,
    ProtocolError,
    crc16,
    encode_frame)

from support.fuzz import FUZZ, examples


def reference_frames(data: bytes):
    """The frames in ``data``, read as docs/protocol.md describes them, in one pass:
    skip to a SYNC byte, take CMD, the 16-bit little-endian LEN, LEN payload bytes
    and two CRC bytes (most significant first) that must equal the CRC-16 of CMD,
    LEN and the payload; an incomplete frame at the end is pending. Returns
    ``(frames, skipped, pending)``."""
    frames, skipped, i = [], 0, 0
    while i < len(data):
        if data[i] != SYNC:
            skipped += 1
            i += 1
            continue
        if len(data) - i < HEADER_LEN:
            break
        cmd = data[i + 1]
        length = int.from_bytes(data[i + 2:i + 4], "little")
        end = i + HEADER_LEN + length + CRC_LEN
        if end > len(data):
            break
        payload = data[i + HEADER_LEN:i + HEADER_LEN + length]
        sent = int.from_bytes(data[end - CRC_LEN:end], "big")
        frames.append(Frame(cmd, payload, sent == crc16(data[i + 1:i + HEADER_LEN] + payload)))
        i = end
    return frames, skipped, len(data) - i


def feed_in_pieces(data: bytes, cuts) -> tuple[list, FrameReader]:
    reader = FrameReader()
    frames, start = [], 0
    for cut in sorted(set(cuts)) + [len(data)]:
        frames += reader.feed(data[start:cut])
        start = cut
    return frames, reader


def _small_lengths(data: bytes) -> bytes:
    """``data`` with the length field after every SYNC byte made small, so that
    random bytes hold many complete frames (not one waiting for 40 KB)."""
    b = bytearray(data)
    for i in range(len(b) - 3):
        if b[i] == SYNC:
            b[i + 3] = 0
            b[i + 2] %= 24
    return bytes(b)


frame_bytes = st.builds(encode_frame, st.integers(0, 255), st.binary(max_size=40))


@st.composite
def streams(draw):
    """Random bytes, valid frames (some damaged) and noise, run together."""
    parts = []
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["noise", "frame", "frame", "damaged", "sync_noise"]))
        if kind == "noise":
            parts.append(draw(st.binary(max_size=30)))
        elif kind == "sync_noise":
            parts.append(_small_lengths(draw(st.binary(max_size=30)) + bytes([SYNC])
                                        + draw(st.binary(max_size=8))))
        else:
            f = bytearray(draw(frame_bytes))
            if kind == "damaged":
                i = draw(st.integers(1, len(f) - 1))
                if i in (2, 3):
                    f[i] = draw(st.integers(0, 30)) if i == 2 else 0
                else:
                    f[i] ^= draw(st.integers(1, 255))
            parts.append(bytes(f))
    return b"".join(parts)


@settings(max_examples=examples(300), **FUZZ)
@given(data=streams(), cuts=st.data())
def test_reader_matches_the_reference_in_any_split(data, cuts):
    splits = cuts.draw(st.lists(st.integers(0, len(data)), max_size=12))
    got, reader = feed_in_pieces(data, splits)
    frames, skipped, pending = reference_frames(data)
    assert got == frames
    assert reader.skipped == skipped and reader.pending == pending
    whole = FrameReader()
    assert whole.feed(data) == frames
    framed = sum(HEADER_LEN + len(f.payload) + CRC_LEN for f in frames)
    assert skipped + framed + pending == len(data)


@settings(max_examples=examples(150), **FUZZ)
@given(data=st.binary(max_size=300).map(_small_lengths), cuts=st.data())
def test_reader_on_random_bytes(data, cuts):
    splits = cuts.draw(st.lists(st.integers(0, len(data)), max_size=12))
    got, reader = feed_in_pieces(data, splits)
    frames, skipped, pending = reference_frames(data)
    assert got == frames and reader.skipped == skipped and reader.pending == pending


_NO_SYNC = st.binary(max_size=40).map(lambda b: b.replace(bytes([SYNC]), b"\x00"))


@settings(max_examples=examples(150), **FUZZ)
@given(frames=st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=64)), min_size=1,
                       max_size=5),
       noise=st.lists(_NO_SYNC, min_size=6, max_size=6), cuts=st.data())


def test_valid_frames_in_noise_are_found(frames, noise, cuts):
    """Frames separated by noise without a SYNC byte are all found, CRC good, in
    order, however the bytes arrive."""
    data = noise[0] + b"".join(encode_frame(c, p) + noise[i + 1]
                               for i, (c, p) in enumerate(frames))
    splits = cuts.draw(st.lists(st.integers(0, len(data)), max_size=20))
    got, reader = feed_in_pieces(data, splits)
    assert got == [Frame(c, p, True) for c, p in frames]
    assert reader.pending == 0
    assert reader.skipped == sum(map(len, noise[:len(frames) + 1]))


@settings(max_examples=examples(100), **FUZZ)
@given(cmd=st.integers(0, 255), payload=st.binary(max_size=64), pos=st.data())
def test_any_single_byte_error_is_caught_by_the_crc(cmd, payload, pos):
    """One damaged byte after SYNC and LEN (command, payload, CRC) always fails the
    CRC: CRC-16 detects every burst up to 16 bits."""
    f = bytearray(encode_frame(cmd, payload))
    i = pos.draw(st.sampled_from([1] + list(range(HEADER_LEN, len(f)))))
    f[i] ^= pos.draw(st.integers(1, 255))
    (frame,) = FrameReader().feed(bytes(f))
    assert not frame.crc_ok


# -- INFO payloads ---------------------------------------------------------------------------


def _valid_info(draw, most: int = 0xFFFF) -> DeviceInfo:
    """A valid identity; ``most`` bounds the INFER payloads (the pure-Python CRC of a
    64 KB frame takes a while)."""
    version = draw(st.sampled_from([1, 2]))
    width = draw(st.integers(1, 32))
    n_in = draw(st.integers(1, most // ((width + 7) // 8)))
    logit_width = draw(st.integers(1, 64))
    n_cls = draw(st.integers(1, (most - 2) // (4 if logit_width <= 32 else 8)))
    load = None
    if version == 2:
        load = LoadInfo(draw(st.sampled_from(list(ModelState))), draw(st.booleans()),
                        draw(st.booleans()), draw(st.integers(0, 0xFFFF)),
                        draw(st.integers(0, 2 ** 32 - 1)), draw(st.integers(0, 2 ** 32 - 1)),
                        draw(st.integers(0, 0xFFFF)), draw(st.integers(0, 255)),
                        draw(st.sampled_from(["shift", "mult"])), draw(st.integers(0, 255)),
                        draw(st.integers(0, 2 ** 32 - 1)))
    return DeviceInfo(n_in, width, draw(st.booleans()), n_cls, logit_width,
                      draw(st.integers(0, 2 ** 32 - 1)), draw(st.integers(0, 2 ** 32 - 1)),
                      draw(st.integers(0, 0xFFFF)), draw(st.integers(0, 0xFFFF)), version, load)


@st.composite
def info_payloads(draw):
    """INFO payloads: random bytes of about the right length, or a valid payload with
    bytes flipped, cut, extended or a field overwritten."""
    kind = draw(st.sampled_from(["random", "mutated", "mutated", "field", "valid"]))
    if kind == "random":
        return draw(st.one_of(st.binary(max_size=60),
                              st.binary(min_size=48, max_size=48),
                              st.binary(min_size=24, max_size=24).map(
                                  lambda b: bytes([draw(st.sampled_from([1, 2]))]) + b[1:])))
    raw = bytearray(_valid_info(draw).to_bytes())
    if kind == "mutated":
        op = draw(st.sampled_from(["flip", "cut", "extend"]))
        if op == "flip":
            for _ in range(draw(st.integers(1, 3))):
                raw[draw(st.integers(0, len(raw) - 1))] ^= draw(st.integers(1, 255))
        elif op == "cut":
            raw = raw[:draw(st.integers(0, len(raw) - 1))]
        else:
            raw += draw(st.binary(min_size=1, max_size=30))
    elif kind == "field":
        # one byte-aligned field of either struct set to an extreme value
        fields = []
        for base, s in ((0, INFO_STRUCT), (INFO_STRUCT.size, INFO_V2_STRUCT)):
            off = base
            for code in s.format.lstrip("<"):
                size = struct.calcsize("<" + code)
                if code != "x":
                    fields.append((off, size))
                off += size
        off, size = draw(st.sampled_from([f for f in fields if f[0] + f[1] <= len(raw)]))
        value = draw(st.sampled_from([0, 1, 2, 3, 255, 2 ** (8 * size) - 1,
                                      2 ** (8 * size - 1)]))
        raw[off:off + size] = (value % 2 ** (8 * size)).to_bytes(size, "little")
    return bytes(raw)


@settings(max_examples=examples(300), **FUZZ)
@given(payload=info_payloads())
def test_info_payload_is_refused_or_round_trips(payload):
    try:
        info = DeviceInfo.from_bytes(payload)
    except ProtocolError as e:
        assert "\n" not in str(e)
        return
    again = info.to_bytes()
    assert DeviceInfo.from_bytes(again) == info
    assert len(again) in (INFO_STRUCT.size, INFO_STRUCT.size + INFO_V2_STRUCT.size)
    assert payload[:len(again)][2:4] == again[2:4]             # n_inputs as sent
    assert isinstance(info.describe(), str) and "\n" not in info.describe()
    lo, hi = info.input_range
    x = np.full(info.n_inputs, hi, np.int64)
    assert np.array_equal(info.decode_input(info.encode_input(x)), x)
    assert len(info.encode_input(np.full(info.n_inputs, lo))) == info.request_len


@settings(max_examples=examples(200), **FUZZ)
@given(data=st.data())
def test_infer_reply_is_refused_or_decoded(data):
    info = _valid_info(data.draw, 6000)
    kind = data.draw(st.sampled_from(["random", "exact", "exact"]))
    if kind == "random":
        payload = data.draw(st.binary(max_size=info.reply_len + 8))
    else:
        payload = data.draw(st.binary(min_size=info.reply_len, max_size=info.reply_len))
    try:
        res = info.decode_result(payload)
    except ProtocolError:
        assert len(payload) != info.reply_len
        return
    assert res.logits.shape == (info.n_classes,) and res.logits.dtype == np.int64
    assert info.encode_result(res.logits, res.cls) == payload


# -- the client's reply checks ------------------------------------------------------------


@settings(max_examples=examples(300), **FUZZ)
@given(cmd=st.sampled_from([CMD_INFO, CMD_INFER, 0x03, 0x04, 0x05]),
       reply=st.one_of(st.integers(0, 255), st.sampled_from([CMD_ERROR, 0x81, 0x82, 0x83])),
       payload=st.binary(max_size=6), crc_ok=st.booleans())


def test_check_reply(cmd, reply, payload, crc_ok):
    frame = Frame(reply, payload, crc_ok)
    try:
        got = _check_reply(frame, cmd)
    except DeviceError as e:
        assert crc_ok and reply == CMD_ERROR and len(payload) == 2
        assert e.command == payload[1] and "\n" not in str(e)
        return
    except ProtocolError as e:
        assert "\n" not in str(e)
        assert not crc_ok or reply != cmd | REPLY_BIT
        return
    assert crc_ok and reply == cmd | REPLY_BIT and got == payload


class ScriptedTransport:
    """A transport whose every read returns the next chunk of a script, then nothing."""

    def __init__(self, chunks):
        self.chunks = list(chunks)
        self.written = bytearray()

    def write(self, data):
        self.written += data

    def read(self, n, timeout):
        if not self.chunks:
            return b""
        out, rest = self.chunks[0][:n], self.chunks[0][n:]
        if rest:
            self.chunks[0] = rest
        else:
            self.chunks.pop(0)
        return out

    def reset_input(self):
        pass


@st.composite
def replies(draw):
    """The bytes a device might answer to INFO: a valid or damaged INFO reply, an
    error reply, another command's reply, or noise; in random chunks."""
    kind = draw(st.sampled_from(["info", "info", "payload", "error", "other", "noise"]))
    if kind == "info":
        body = encode_frame(CMD_INFO | REPLY_BIT, _valid_info(draw).to_bytes())
    elif kind == "payload":
        body = encode_frame(CMD_INFO | REPLY_BIT, draw(info_payloads()))
    elif kind == "error":
        body = encode_frame(CMD_ERROR, draw(st.binary(max_size=4)))
    elif kind == "other":
        body = encode_frame(draw(st.integers(0, 255)), draw(st.binary(max_size=30)))
    else:
        body = _small_lengths(draw(st.binary(max_size=60)))
    if body and draw(st.booleans()):
        body = bytearray(body)
        body[draw(st.integers(0, len(body) - 1))] ^= draw(st.integers(1, 255))
        body = bytes(body)
    data = draw(_NO_SYNC) + body
    cuts = sorted(set(draw(st.lists(st.integers(0, len(data)), max_size=6))))
    return [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]


@settings(max_examples=examples(200), **FUZZ)
@given(chunks=replies())
def test_client_info_on_any_reply(chunks):
    client = Client(ScriptedTransport(chunks), timeout=0.01)
    t0 = time.monotonic()
    try:
        info = client.info()
    except ReplyTimeout:
        assert time.monotonic() - t0 < 2
        return
    except ProtocolError as e:
        assert "\n" not in str(e)
        return
    assert isinstance(info, DeviceInfo)
    assert DeviceInfo.from_bytes(info.to_bytes()) == info


@settings(max_examples=examples(100), **FUZZ)
@given(data=st.data())
def test_client_infer_on_any_reply(data):
    """An INFER answered by anything: the result of a well-formed reply, else
    ProtocolError."""
    info = _valid_info(data.draw, 6000)
    good = info.encode_result(np.zeros(info.n_classes, np.int64), 0)
    kind = data.draw(st.sampled_from(["good", "length", "cmd", "noise"]))
    if kind == "good":
        frame = encode_frame(CMD_INFER | REPLY_BIT, good)
    elif kind == "length":
        n = data.draw(st.integers(0, min(info.reply_len + 8, 0xFFFF)).filter(
            lambda v: v != info.reply_len))
        frame = encode_frame(CMD_INFER | REPLY_BIT, bytes(n))
    elif kind == "cmd":
        frame = encode_frame(data.draw(st.integers(0, 255)), good)
    else:
        frame = _small_lengths(data.draw(st.binary(max_size=40)))
    transport = ScriptedTransport([encode_frame(CMD_INFO | REPLY_BIT, info.to_bytes()), frame])
    client = Client(transport, timeout=0.01)
    client.info()
    try:
        res = client.infer(np.zeros(info.n_inputs, np.int64) + info.input_range[0])
    except ProtocolError as e:
        assert kind != "good" and "\n" not in str(e)
        return
    assert res.logits.tolist() == [0] * info.n_classes and res.cls == 0
