"""Model loading (protocol version 2) on the host side: the image's inverse, the
device model's safety rules at byte level, ``Client.load``, and the ``load`` /
``info`` commands. Fast: no simulator.

Expectations come from the golden model and from docs/protocol.md (byte
offsets, frame payloads packed here by hand), never from the code under test.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest

from sst_hw.cli import main
from sst_hw.format import modelfile
from sst_hw.format.golden import Network
from sst_hw.host.client import AsyncClient, Client
from sst_hw.host.device_model import DeviceModel
from sst_hw.host.transport import ModelTransport
from sst_hw.link.wire import (
    DeviceError,
    DeviceInfo,
    ErrorCode,
    FrameReader,
    ModelMismatch,
    ProtocolError,
    encode_frame,
    model_id)
from sst_hw.plan.image import image_bytes, network_from_image, stored_image
from sst_hw.plan.network import plan_network

from support.async_transport import AsyncTransport

SIZES = [20, 12, 5]
#: The image of a SIZES model with PE 4, SIMD 2, N 8 (8-bit codes): layer 0 has
#: S = 3 subvectors, 2 beats, 3 row groups (6 words), layer 1 S = 2, 1 beat, 2
#: groups (2 words): 8 code words of 4*2*8 bits = 8 bytes; the table holds the
#: 3*4 rows of layer 0, each C_r (28 bits for its 21-bit accumulator) + M_r (16)
#: + S (6) = 50 bits in 7 bytes. 64 + 84 = 148 bytes (docs/protocol.md's example).
IMAGE_LEN = 148
INFO, INFER, BEGIN, DATA, COMMIT = 0x01, 0x02, 0x03, 0x04, 0x05
NONE, LOADING, READY = 0, 1, 2


def rand_net(seed, sizes=SIZES, **kw):
    return Network.random(seed, sizes, 8, 2, **kw)


@pytest.fixture(scope="module")
def builtin():
    return rand_net(4)


@pytest.fixture(scope="module")
def other():
    """Another model of the same sizes and codebook: it fits the same core."""
    return rand_net(11)


def spram_device(net):
    return DeviceModel(plan=plan_network(net, memory="spram"))


def bram_device(net):
    return DeviceModel(plan=plan_network(net, loadable=True))


def replies(data: bytes) -> list:
    frames = FrameReader().feed(data)
    assert all(f.crc_ok for f in frames)
    return [(f.cmd, bytes(f.payload)) for f in frames]


def send(dm, cmd, payload=b""):
    """The replies of ``dm`` to one request frame."""
    return replies(dm.receive(encode_frame(cmd, payload)))


def error(code, cmd):
    return [(0xFF, bytes([code, cmd]))]


def info_fields(dm):
    """State, model id, loadable flags and image length read from INFO's raw bytes."""
    [(cmd, p)] = send(dm, INFO)
    assert cmd == 0x81 and len(p) == 48
    return {"state": p[24], "model_id": int.from_bytes(p[12:16], "little"), "flags": p[25],
            "max_chunk": int.from_bytes(p[26:28], "little"),
            "topology": int.from_bytes(p[28:32], "little"),
            "image_len": int.from_bytes(p[32:36], "little"),
            "builtin_id": int.from_bytes(p[44:48], "little")}


def begin(topology, length=IMAGE_LEN):
    return struct.pack("<II", topology, length)


def chunk(offset, data):
    return struct.pack("<I", offset) + bytes(data)


def commit(mid, length, crc):
    return struct.pack("<III", mid, length, crc)


def infer_frame(x):
    return bytes(np.asarray(x, np.uint8))              # 8-bit unsigned inputs


def assert_infers(dm, net, seed=0):
    """INFER on ``dm`` gives ``net``'s golden logits and class, byte for byte."""
    xs = np.random.default_rng(seed).integers(0, 255, (3, SIZES[0]), endpoint=True)
    logits, classes = net.forward(xs)
    for x, lg, cl in zip(xs, logits, classes):
        want = b"".join(int(v).to_bytes(4, "little", signed=True) for v in lg) + bytes([cl])
        assert send(dm, INFER, infer_frame(x)) == [(0x82, want)]


def full_load(dm, net, *, mid=None):
    """LOAD_BEGIN, one LOAD_DATA, LOAD_COMMIT of ``net``'s image; every reply empty."""
    topo = info_fields(dm)["topology"]
    img = image_bytes(plan_network(net, loadable=True))
    assert len(img) == IMAGE_LEN
    assert send(dm, BEGIN, begin(topo)) == [(0x83, b"")]
    assert send(dm, DATA, chunk(0, img)) == [(0x84, b"")]
    mid = model_id(net) if mid is None else mid
    assert send(dm, COMMIT, commit(mid, IMAGE_LEN, zlib.crc32(img))) == [(0x85, b"")]
    return img


def loading(dm, net, upto=100):
    """Start a load of ``net`` and send its first ``upto`` image bytes; the image."""
    img = image_bytes(plan_network(net, loadable=True))
    assert send(dm, BEGIN, begin(info_fields(dm)["topology"])) == [(0x83, b"")]
    if upto:
        assert send(dm, DATA, chunk(0, img[:upto])) == [(0x84, b"")]
    assert info_fields(dm)["state"] == LOADING
    return img


# -- the image's inverse ---------------------------------------------------------------------

@pytest.mark.parametrize("pe, simd, shift_mode, loadable", [
    (4, 2, False, True), (1, 1, True, True), (3, 4, True, False), (8, 1, False, False),
    (2, 3, False, True), (5, 2, True, True)])
def test_image_round_trip(pe, simd, shift_mode, loadable):
    for seed in range(3):
        net = rand_net(seed, [37, 19, 11, 6], shift_mode=shift_mode)
        plan = plan_network(net, pe=pe, simd=simd, loadable=loadable,
                            requant="shift" if shift_mode else "mult")
        back = network_from_image(plan, image_bytes(plan))
        assert (back.input_width, back.input_signed) == (8, False)
        for a, b in zip(back.layers[:-1], net.layers[:-1]):
            assert np.array_equal(a.codes, b.codes) and np.array_equal(a.mult, b.mult)
            assert np.array_equal(a.add, b.add) and a.shift == b.shift
            assert (a.relu, a.act_width, a.codebook) == (b.relu, b.act_width, b.codebook)
        last = back.layers[-1]
        assert np.array_equal(last.codes, net.layers[-1].codes)
        assert last.mult.tolist() == [1] * 6 and last.add.tolist() == [0] * 6
        assert last.shift == 0
        # random models carry the placeholders M=1, C=0, S=0 in the last layer
        assert model_id(back) == model_id(net)
        x = np.random.default_rng(seed).integers(0, 255, (4, 37), endpoint=True)
        assert np.array_equal(back.forward(x)[0], net.forward(x)[0])


def test_image_inverse_refuses_bad_images(builtin):
    plan = plan_network(builtin, loadable=True)
    img = bytearray(image_bytes(plan))
    for n in (IMAGE_LEN - 1, IMAGE_LEN + 1, 0):
        with pytest.raises(ValueError, match=f"image for this core is 148 bytes, not {n}"):
            network_from_image(plan, bytes(img[:n]) if n < IMAGE_LEN else bytes(img) + b"\0")
    # Layer 0 has S = 3 subvectors in 2 beats of SIMD 2: subvector 3 of row 0 (word 1,
    # PE 0, s 1: bits 8..15) is padding and must be the zero code.
    bad = bytearray(img)
    bad[8 + 1] = int(builtin.layers[0].codes.max())
    with pytest.raises(ValueError, match="layer 0 row 0: subvector 3 is past"):
        network_from_image(plan, bytes(bad))
    # Row 1 of layer 0 with another shift (bit 44 of the 50-bit row, after 64 code bytes).
    bad = bytearray(img)
    row = int.from_bytes(bad[64 + 7:64 + 14], "little") ^ (1 << 44)
    bad[64 + 7:64 + 14] = row.to_bytes(7, "little")
    with pytest.raises(ValueError, match="layer 0: the rows carry shifts"):
        network_from_image(plan, bytes(bad))


def test_stored_image_drops_padding_bits(builtin):
    """A 50-bit table row in 7 bytes: bits 50..55 are not stored."""
    plan = plan_network(builtin, loadable=True)
    img = image_bytes(plan)
    bad = bytearray(img)
    bad[64 + 6] |= 0x80                 # bit 55 of row 0
    assert stored_image(plan, bytes(bad)) == img
    assert model_id(network_from_image(plan, bytes(bad))) == model_id(builtin)


# -- the device model, rule by rule --------------------------------------------------------

def test_spram_device_starts_without_a_model(builtin):
    dm = spram_device(builtin)
    f = info_fields(dm)
    assert f["state"] == NONE and f["model_id"] == 0 and f["builtin_id"] == 0
    assert f["flags"] == 1 and f["max_chunk"] == 4096 and f["image_len"] == IMAGE_LEN
    assert send(dm, INFER, infer_frame(np.zeros(20))) == error(ErrorCode.NO_MODEL, INFER)
    assert info_fields(dm)["state"] == NONE


def test_load_then_infer_is_bit_exact(builtin, other):
    dm = spram_device(builtin)
    full_load(dm, other)
    f = info_fields(dm)
    assert f["state"] == READY and f["model_id"] == model_id(other)
    assert_infers(dm, other)
    full_load(dm, builtin)
    assert info_fields(dm)["model_id"] == model_id(builtin)
    assert_infers(dm, builtin, seed=1)


def test_model_id_is_the_commits(builtin, other):
    """The device cannot fingerprint a model: INFO reports what LOAD_COMMIT said."""
    dm = spram_device(builtin)
    full_load(dm, other, mid=0x12345678)
    assert info_fields(dm)["model_id"] == 0x12345678
    assert_infers(dm, other)


def test_interrupted_load_then_infer_gets_no_model(builtin, other):
    dm = bram_device(builtin)
    loading(dm, other)
    assert send(dm, INFER, infer_frame(np.arange(20))) == error(ErrorCode.NO_MODEL, INFER)
    assert info_fields(dm)["state"] == NONE
    # the INFER ended the load: the rest of the image is a stray chunk now
    assert send(dm, DATA, chunk(100, b"\0" * 48)) == error(ErrorCode.BAD_SEQUENCE, DATA)
    assert send(dm, INFER, infer_frame(np.arange(20))) == error(ErrorCode.NO_MODEL, INFER)


@pytest.mark.parametrize("offset, size", [(0, 10), (101, 10), (99, 10), (100, 49)])
def test_chunk_out_of_order_or_past_the_end(builtin, other, offset, size):
    dm = spram_device(builtin)
    loading(dm, other, upto=100)
    assert send(dm, DATA, chunk(offset, b"\1" * size)) == error(ErrorCode.BAD_SEQUENCE, DATA)
    assert info_fields(dm)["state"] == NONE
    assert send(dm, COMMIT, commit(1, IMAGE_LEN, 0)) == error(ErrorCode.BAD_SEQUENCE, COMMIT)


def test_corrupted_chunk_ends_the_load(builtin, other):
    dm = spram_device(builtin)
    img = loading(dm, other, upto=0)
    frame = bytearray(encode_frame(DATA, chunk(0, img)))
    frame[20] ^= 0x04
    assert replies(dm.receive(bytes(frame))) == error(ErrorCode.BAD_CRC, DATA)
    assert info_fields(dm)["state"] == NONE
    assert send(dm, COMMIT, commit(model_id(other), IMAGE_LEN, zlib.crc32(img))) == \
        error(ErrorCode.BAD_SEQUENCE, COMMIT)


@pytest.mark.parametrize("sent, length", [(100, IMAGE_LEN), (IMAGE_LEN, IMAGE_LEN - 1),
                                          (IMAGE_LEN, IMAGE_LEN + 1)])
def test_short_or_wrong_length_commit(builtin, other, sent, length):
    dm = spram_device(builtin)
    img = loading(dm, other, upto=sent)
    crc = zlib.crc32(img)
    assert send(dm, COMMIT, commit(model_id(other), length, crc)) == \
        error(ErrorCode.BAD_SEQUENCE, COMMIT)
    assert info_fields(dm)["state"] == NONE


def test_wrong_crc32_commit_is_bad_image(builtin, other):
    dm = bram_device(builtin)
    img = loading(dm, other, upto=IMAGE_LEN)
    assert send(dm, COMMIT, commit(model_id(other), IMAGE_LEN, zlib.crc32(img) ^ 1)) == \
        error(ErrorCode.BAD_IMAGE, COMMIT)
    f = info_fields(dm)
    assert f["state"] == NONE and f["model_id"] == 0


def test_commit_checks_what_the_memories_hold(builtin, other):
    """A padding bit set in the image is not stored: the CRC-32 of the bytes sent
    then differs from the stored image's (BAD_IMAGE); the stored image's checks."""
    plan = plan_network(other, loadable=True)
    img = image_bytes(plan)
    odd = bytearray(img)
    odd[64 + 6] |= 0x80
    for crc, reply in ((zlib.crc32(bytes(odd)), error(ErrorCode.BAD_IMAGE, COMMIT)),
                       (zlib.crc32(img), [(0x85, b"")])):
        dm = spram_device(builtin)
        send(dm, BEGIN, begin(info_fields(dm)["topology"]))
        assert send(dm, DATA, chunk(0, odd)) == [(0x84, b"")]
        assert send(dm, COMMIT, commit(model_id(other), IMAGE_LEN, crc)) == reply
    assert_infers(dm, other)


def test_an_image_that_is_no_model_commits(builtin, other):
    """The device checks only the CRC-32: it runs what it stored. The reference
    cannot say what the core computes with a non-zero padding subvector."""
    dm = spram_device(builtin)
    img = bytearray(image_bytes(plan_network(other, loadable=True)))
    img[8 + 1] = int(other.layers[0].codes.max())     # layer 0, row 0, subvector 3
    send(dm, BEGIN, begin(info_fields(dm)["topology"]))
    send(dm, DATA, chunk(0, img))
    assert send(dm, COMMIT, commit(7, IMAGE_LEN, zlib.crc32(bytes(img)))) == [(0x85, b"")]
    assert info_fields(dm)["state"] == READY and info_fields(dm)["model_id"] == 7
    with pytest.raises(ValueError, match="subvector 3 is past"):
        dm.receive(encode_frame(INFER, infer_frame(np.zeros(20))))


def test_unfit_begin_leaves_the_ready_model(builtin, other):
    dm = bram_device(builtin)
    topo = info_fields(dm)["topology"]
    for payload in (begin(topo ^ 1), begin(topo, IMAGE_LEN + 1), begin(0, 0)):
        assert send(dm, BEGIN, payload) == error(ErrorCode.UNFIT, BEGIN)
        f = info_fields(dm)
        assert f["state"] == READY and f["model_id"] == model_id(builtin)
    assert_infers(dm, builtin)
    full_load(dm, other)
    assert send(dm, BEGIN, begin(topo ^ 1)) == error(ErrorCode.UNFIT, BEGIN)
    assert info_fields(dm)["model_id"] == model_id(other)
    assert_infers(dm, other)
    # during a load, an unfit LOAD_BEGIN is a failed frame like any other
    loading(dm, other)
    assert send(dm, BEGIN, begin(topo ^ 1)) == error(ErrorCode.UNFIT, BEGIN)
    assert info_fields(dm)["state"] == NONE


def test_stray_load_frames_change_nothing(builtin):
    for dm, state in ((spram_device(builtin), NONE), (bram_device(builtin), READY)):
        before = info_fields(dm)
        assert before["state"] == state
        assert send(dm, DATA, chunk(0, b"\0" * 8)) == error(ErrorCode.BAD_SEQUENCE, DATA)
        assert send(dm, COMMIT, commit(1, IMAGE_LEN, 0)) == error(ErrorCode.BAD_SEQUENCE, COMMIT)
        assert send(dm, DATA, b"\0" * 4) == error(ErrorCode.BAD_LENGTH, DATA)
        assert send(dm, COMMIT, b"\0" * 11) == error(ErrorCode.BAD_LENGTH, COMMIT)
        assert send(dm, BEGIN, b"\0" * 9) == error(ErrorCode.BAD_LENGTH, BEGIN)
        assert info_fields(dm) == before
    assert_infers(dm, builtin)


def test_timeout_inside_a_chunk_ends_the_load(builtin, other):
    dm = spram_device(builtin)
    img = loading(dm, other, upto=100)
    assert dm.receive(encode_frame(DATA, chunk(100, img[100:]))[:30]) == b""
    assert replies(dm.idle_timeout()) == error(ErrorCode.TIMEOUT, DATA)
    assert info_fields(dm)["state"] == NONE


def test_rx_error_inside_a_chunk_ends_the_load(builtin, other):
    dm = spram_device(builtin)
    img = loading(dm, other, upto=100)
    frame = encode_frame(DATA, chunk(100, img[100:]))
    dm.receive(frame[:10])
    dm.rx_error()
    assert replies(dm.receive(frame[10:])) == error(ErrorCode.RX_ERROR, DATA)
    assert info_fields(dm)["state"] == NONE


@pytest.mark.parametrize("frame", [
    encode_frame(DATA, b"\0" * 4),                     # no image byte
    encode_frame(DATA, b"\0" * (4 + 4097)),            # more than max_chunk
    encode_frame(INFO, b"\0"),                         # INFO of the wrong length
    encode_frame(0x33),                                # an unknown command
    encode_frame(INFER, b"\0" * 3)])                   # INFER of the wrong length
def test_any_failed_frame_ends_the_load(builtin, other, frame):
    dm = spram_device(builtin)
    loading(dm, other)
    [(cmd, payload)] = replies(dm.receive(frame))
    assert cmd == 0xFF and payload[1] == frame[1]
    assert info_fields(dm)["state"] == NONE


def test_info_leaves_a_load_alone(builtin, other):
    dm = spram_device(builtin)
    img = loading(dm, other, upto=50)
    for _ in range(3):
        f = info_fields(dm)
        assert f["state"] == LOADING and f["model_id"] == 0
    assert send(dm, DATA, chunk(50, img[50:])) == [(0x84, b"")]
    assert info_fields(dm)["state"] == LOADING
    assert send(dm, COMMIT, commit(model_id(other), IMAGE_LEN, zlib.crc32(img))) == \
        [(0x85, b"")]
    assert_infers(dm, other)


def test_a_new_begin_restarts_a_load(builtin, other):
    dm = spram_device(builtin)
    img = loading(dm, other, upto=100)
    assert send(dm, BEGIN, begin(info_fields(dm)["topology"])) == [(0x83, b"")]
    assert send(dm, DATA, chunk(100, img[100:])) == error(ErrorCode.BAD_SEQUENCE, DATA)


def test_reset(builtin, other):
    dm = bram_device(builtin)
    full_load(dm, other)
    dm.receive(encode_frame(DATA, b"\0" * 8)[:5])           # a partial frame, too
    dm.reset()
    assert not dm.in_frame
    f = info_fields(dm)
    assert f["state"] == READY and f["model_id"] == model_id(builtin) == f["builtin_id"]
    assert f["flags"] == 3
    assert_infers(dm, builtin)
    dm = spram_device(builtin)
    full_load(dm, other)
    dm.reset()
    assert info_fields(dm)["state"] == NONE
    assert send(dm, INFER, infer_frame(np.zeros(20))) == error(ErrorCode.NO_MODEL, INFER)


def test_fixed_devices_do_not_know_load_commands(builtin):
    v1 = DeviceInfo.from_network(builtin, version=1)
    for dm in (DeviceModel(builtin), DeviceModel(builtin, v1),
               DeviceModel(builtin, plan=plan_network(builtin))):      # not loadable
        for cmd, payload in ((BEGIN, begin(0)), (DATA, chunk(0, b"\0")),
                             (COMMIT, commit(0, 0, 0))):
            assert send(dm, cmd, payload) == error(ErrorCode.UNKNOWN_COMMAND, cmd)
        assert_infers(dm, builtin)
    [(cmd, payload)] = send(DeviceModel(builtin, v1), INFO)
    assert cmd == 0x81 and len(payload) == 24 and payload[0] == 1
    assert int.from_bytes(payload[12:16], "little") == model_id(builtin)


# -- the client --------------------------------------------------------------------------------

def frames_written(transport) -> list:
    return [(f.cmd, bytes(f.payload)) for f in FrameReader().feed(bytes(transport.written))]


def test_client_load_then_infer(builtin, other):
    t = ModelTransport(None, plan=plan_network(builtin, memory="spram"))
    c = Client(t, timeout=1.0)
    assert c.info().state == NONE
    seen = []
    info = c.load(other, progress=lambda sent, total: seen.append((sent, total)))
    assert seen == [(IMAGE_LEN, IMAGE_LEN)]
    assert info.state == READY and info.model_id == model_id(other)
    xs = np.random.default_rng(5).integers(0, 255, (4, 20), endpoint=True)
    logits, classes = other.forward(xs)
    for x, lg, cl in zip(xs, logits, classes):
        res = c.infer(x)
        assert res.logits.tolist() == lg.tolist() and res.cls == cl
    c.check_model(other)
    third = rand_net(23)                    # any model of the same sizes fits
    assert c.load(third).model_id == model_id(third)
    logits, classes = third.forward(xs)
    assert [c.infer(x).logits.tolist() for x in xs] == logits.tolist()
    with pytest.raises(ModelMismatch, match="another model is loaded"):
        c.check_model(other)


def test_client_load_in_chunks(builtin, other):
    t = ModelTransport(None, plan=plan_network(builtin, memory="spram"))
    load = t.model.info.load
    t.model.info = t.model.info.replace(load=dataclasses.replace(load, max_chunk=50))
    seen = []
    Client(t).load(other, progress=lambda *a: seen.append(a))
    assert seen == [(50, IMAGE_LEN), (100, IMAGE_LEN), (IMAGE_LEN, IMAGE_LEN)]
    img = image_bytes(plan_network(other, loadable=True))
    sent = frames_written(t)
    assert [cmd for cmd, _ in sent] == [INFO, BEGIN, DATA, DATA, DATA, COMMIT, INFO]
    assert sent[1][1] == begin(load.topology_id)
    assert [p for _, p in sent[2:5]] == [chunk(0, img[:50]), chunk(50, img[50:100]),
                                        chunk(100, img[100:])]
    assert sent[5][1] == commit(model_id(other), IMAGE_LEN, zlib.crc32(img))


@pytest.mark.parametrize("case, message", [
    ("sizes", "layer shapes, codebook, ReLUs or activation widths differ"),
    ("inputs", "device has n_inputs=20, the model 21"),
    ("classes", "device has n_classes=5, the model 6"),
    ("codebook", "layer shapes, codebook"),
    ("v1", "protocol version 1, which cannot load models"),
    ("fixed", "fixed in its bitstream"),
    ("shift", "needs multipliers"),
])
def test_unfit_model_is_refused_before_any_load_frame(builtin, case, message):
    plan = plan_network(builtin, memory="spram")
    model = {"sizes": rand_net(3, [20, 10, 5]), "inputs": rand_net(3, [21, 12, 5]),
             "classes": rand_net(3, [20, 12, 6]),
             "codebook": Network.random(3, SIZES, 8, 1)}.get(case, rand_net(3))
    if case == "v1":
        t = ModelTransport(builtin, DeviceInfo.from_network(builtin, version=1))
    elif case == "fixed":
        t = ModelTransport(builtin)
    elif case == "shift":
        shifts = rand_net(4, shift_mode=True)
        t = ModelTransport(None, plan=plan_network(shifts, memory="spram", requant="shift"))
    else:
        t = ModelTransport(None, plan=plan)
    with pytest.raises(ModelMismatch, match=message):
        Client(t).load(model)
    assert [cmd for cmd, _ in frames_written(t)] == [INFO]


def test_a_shift_core_takes_shift_models(builtin):
    shifts = rand_net(4, shift_mode=True)
    t = ModelTransport(None, plan=plan_network(shifts, memory="spram", requant="shift"))
    new = rand_net(8, shift_mode=True)
    c = Client(t)
    assert c.load(new).model_id == model_id(new)
    x = np.arange(20) * 7
    assert c.infer(x).logits.tolist() == new.forward(x)[0][0].tolist()


def test_failed_load_leaves_no_model(builtin, other):
    class Corrupting(ModelTransport):
        """Flips a payload bit of every LOAD_DATA frame."""

        def write(self, data):
            data = bytearray(data)
            if data[1] == DATA:
                data[10] ^= 1
            super().write(bytes(data))

    t = Corrupting(None, plan=plan_network(builtin, loadable=True))
    c = Client(t, timeout=0.5)
    assert c.info().state == READY
    with pytest.raises(DeviceError, match="BAD_CRC") as e:
        c.load(other)
    assert e.value.command == DATA
    info = c.info()                                    # not the stale cached READY
    assert info.state == NONE and info.model_id == 0
    with pytest.raises(ModelMismatch, match="load one with sst-hw load"):
        c.check_model(builtin)


def test_client_load_reports_a_device_that_does_not_take_it(builtin, other):
    class Forgetful(ModelTransport):
        """A device that acknowledges the commit but keeps no model."""

        def write(self, data):
            super().write(data)
            if data[1] == COMMIT:
                self.model.reset()

    c = Client(Forgetful(None, plan=plan_network(builtin, memory="spram")))
    with pytest.raises(ProtocolError, match="after the load the device reports state none"):
        c.load(other)


def test_async_client_load(builtin, other):
    transport = ModelTransport(None, plan=plan_network(builtin, memory="spram"))

    async def go():
        c = AsyncClient(AsyncTransport(transport))
        seen = []
        info = await c.load(other, progress=lambda *a: seen.append(a))
        assert seen == [(IMAGE_LEN, IMAGE_LEN)] and info.model_id == model_id(other)
        x = np.arange(20)
        res = await c.infer(x)
        lg, cl = other.forward(x)
        assert res.logits.tolist() == lg[0].tolist() and res.cls == cl[0]
        with pytest.raises(ModelMismatch, match="differ from the built core's"):
            await c.load(rand_net(2, [20, 9, 5]))

    asyncio.run(go())


# -- the commands ------------------------------------------------------------------------------

def one_line_error(capsys, *needles):
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if ": error: " in line]
    assert errors and not any("Traceback" in line for line in err), err
    for n in needles:
        assert n in errors[-1], errors[-1]


@pytest.fixture
def model_file(tmp_path, other):
    return modelfile.save(other, tmp_path / "other.sst")


def test_cli_load_model_port(model_file, other, capsys):
    assert main(["load", "--port", "model", str(model_file)]) == 0
    cap = capsys.readouterr()
    out = cap.out.splitlines()
    assert out[0].startswith(f"loaded {IMAGE_LEN} bytes in ") and out[0].endswith(" bytes/s)")
    assert f"model id {model_id(other):#010x}" in out[1] and "ready" in out[1]
    assert f"sent {IMAGE_LEN} of {IMAGE_LEN} image bytes" in cap.err   # not a terminal
    assert main(["load", "--port", "model", "--json", str(model_file)]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["bytes"] == IMAGE_LEN and d["seconds"] > 0
    assert d["model_id"] == f"{model_id(other):#010x}" == d["device"]["model_id"]
    assert d["device"]["load"]["state"] == "ready" and d["device"]["load"]["loadable"]


def test_progress_bar_on_a_terminal():
    import io

    from sst_hw.cli.commands.load import ProgressBar

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    out = Terminal()
    bar = ProgressBar(out)
    bar(50, 200)
    bar(200, 200)
    bar.finish(0.5)
    assert out.getvalue() == (f"\rloading [{'#' * 7}{'.' * 23}] 50/200 bytes  25%"
                              f"\rloading [{'#' * 30}] 200/200 bytes 100%\n")


def test_cli_info_model_port(model_file, other, capsys):
    assert main(["info", "--port", "model", "--model", str(model_file)]) == 0
    out = capsys.readouterr().out
    assert "20 x 8-bit unsigned inputs -> 5 logits" in out
    assert "state:          no model" in out
    assert f"images of {IMAGE_LEN} bytes in chunks of up to 4096 bytes" in out
    assert "PE 4, SIMD 2, requant mult, 28-bit C_r" in out
    assert "built-in model: none" in out
    assert main(["info", "--port", "model", "--model", str(model_file), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["version"] == 2 and d["load"]["state"] == "none"
    assert d["load"]["image_len"] == IMAGE_LEN and d["model_id"] == "0x00000000"
    assert main(["infer", "--port", "model", "--model", str(model_file), "--info"]) == 0
    assert f"model id {model_id(other):#010x}" in capsys.readouterr().out


@pytest.mark.parametrize("argv, needle", [
    (["load", "--port", "model", "missing.sst"], "no such model file: missing.sst"),
    (["load", "--port", "model", "--baud", "10", "M"], "--baud must be in"),
    (["load", "--port", "model", "--timeout", "0", "M"], "--timeout must be in"),
    (["load", "--port", "model", "BAD"], "not an .npz (zip) archive"),
    (["info", "--port", "model"], "--port model needs --model"),
    (["info", "--port", "/dev/null-sst", "--model", "M"], "--model is only for --port model"),
    (["info", "--port", "model", "--model", "M", "--baud", "0"], "--baud must be in"),
])
def test_cli_refuses_bad_input(argv, needle, model_file, tmp_path, capsys, monkeypatch):
    def called(*a, **k):
        raise AssertionError("a transfer was started")
    monkeypatch.setattr(Client, "load", called)
    monkeypatch.setattr(Client, "request", called)
    bad = tmp_path / "bad.sst"
    bad.write_text("garbage")
    argv = [str(model_file) if a == "M" else str(bad) if a == "BAD" else a for a in argv]
    assert main(argv) == 2
    one_line_error(capsys, needle)


def test_cli_load_unfit_model_exits_2(model_file, builtin, monkeypatch, capsys):
    """A device of another topology: nothing but INFO goes out, exit status 2."""
    from sst_hw.cli.commands import load as load_cmd
    narrow = rand_net(1, [20, 7, 5])
    monkeypatch.setattr(load_cmd, "simulated_plan",
                        lambda net, path: plan_network(narrow, memory="spram"))
    assert main(["load", "--port", "model", str(model_file)]) == 2
    one_line_error(capsys, "cannot be loaded", "differ from the built core's")


def test_cli_load_failing_on_the_link_exits_1(model_file, monkeypatch, capsys):
    """LOAD_DATA frames lost on the way: a reply timeout, one line, exit status 1."""
    real_write = ModelTransport.write

    def lossy(self, data):
        if data[1] != DATA:
            real_write(self, data)
    monkeypatch.setattr(ModelTransport, "write", lossy)
    assert main(["load", "--port", "model", "--timeout", "0.05", str(model_file)]) == 1
    one_line_error(capsys, "the load failed: no complete reply to command 0x04",
                   "run sst-hw load again")


def test_cli_infer_refuses_a_device_without_the_model(model_file, builtin, other, tmp_path,
                                                      monkeypatch, capsys):
    from sst_hw.cli.commands import infer as infer_cmd
    np.save(tmp_path / "x.npy", np.arange(20))
    dm_plan = plan_network(builtin, memory="spram")
    device = {}

    def transport(port, baud, network=None, info=None, *, plan=None):
        device["t"] = ModelTransport(None, plan=dm_plan)
        if "load" in device:
            Client(device["t"]).load(device["load"])
        return device["t"]
    monkeypatch.setattr(infer_cmd, "open_transport", transport)
    argv = ["infer", "--port", "model", "--model", str(model_file), str(tmp_path / "x.npy")]
    assert main(argv) == 2
    one_line_error(capsys, "no model ready", "load one with sst-hw load")
    device["load"] = builtin
    assert main(argv) == 2
    one_line_error(capsys, "another model is loaded")
    device["load"] = other
    assert main(argv + ["--verify"]) == 0
    assert "(matches golden)" in capsys.readouterr().out


def test_cli_as_a_program(model_file, tmp_path):
    """The installed entry point: a load, and bad input without a traceback."""
    run = subprocess.run([sys.executable, "-m", "sst_hw.cli", "load", "--port", "model",
                          str(model_file)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert f"loaded {IMAGE_LEN} bytes" in run.stdout
    bad = tmp_path / "bad.sst"
    bad.write_bytes(b"PK\3\4broken")
    for argv in (["load", "--port", "model", str(bad)], ["info", "--port", "model"]):
        run = subprocess.run([sys.executable, "-m", "sst_hw.cli", *argv], capture_output=True,
                             text=True)
        assert run.returncode == 2 and "Traceback" not in run.stderr
        assert run.stderr.count("\n") == 1 and ": error: " in run.stderr
