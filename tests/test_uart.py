"""Tier 1: UART receiver/transmitter and the frame protocol in Amaranth's simulator.

The protocol is checked against :class:`sst_hw.host.device_model.DeviceModel` (the byte-level
reference of the device) with :class:`DenseTernaryCore` as the network core.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.lib import crc, wiring
from hypothesis import given
from hypothesis import strategies as st

from sst_hw.host.device_model import DeviceModel
from sst_hw.link.frames import CRC_PARAMETERS, FrameProtocol, payload_fields
from sst_hw.link.uart import UARTRx, UARTTx, uart_divisor
from sst_hw.link.wire import (
    CMD_ERROR,
    CMD_INFER,
    CMD_INFO,
    CRC16,
    CRC_RESIDUE,
    SYNC,
    DeviceInfo,
    ErrorCode,
    FrameReader,
    crc16,
    crc16_update,
    encode_frame)
from sst_hw.sim.amsim import run_streams, run_testbenches, stream_get, stream_put

from support.cores import DenseTernaryCore, core_logit_width, small_network


# -- divisor ----------------------------------------------------------------------------------

def test_uart_divisor():
    assert uart_divisor(12e6, 115200) == 104
    assert uart_divisor(25e6, 115200) == 217
    assert uart_divisor(12e6, 3e6) == 4


@pytest.mark.parametrize("baud, msg", [
    (0, "baud must be a positive number, not 0"),
    (6e6, "baud 6e+06 is out of range for a 12 MHz clock: must be in 183..3000000 bit/s"),
    (100, "baud 100 is out of range"),
    (2.3e6, "baud 2.3e+06 is 4.3 % off at a 12 MHz clock"),
])
def test_uart_divisor_errors(baud, msg):
    with pytest.raises(ValueError, match=msg.replace("+", r"\+").replace(".", r"\.")):
        uart_divisor(12e6, baud)


def test_uart_rejects_small_divisor():
    with pytest.raises(ValueError, match="divisor must be an integer in 4..65535, not 3"):
        UARTRx(3)


# -- CRC ----------------------------------------------------------------------------------------
# One definition, wire.CRC16: the host computes it with crc16, the gateware's CRC unit is
# amaranth.lib.crc built from it (frames.CRC_PARAMETERS). Both are held to amaranth.lib.crc.

def test_crc_is_the_catalogs_ccitt_false():
    want = crc.catalog.CRC16_CCITT_FALSE
    got = CRC_PARAMETERS.algorithm
    for field in CRC16._fields:
        assert getattr(got, field) == getattr(want, field), field
    assert CRC_PARAMETERS.data_width == 8
    assert CRC_PARAMETERS.residue() == CRC_RESIDUE


@given(st.binary(max_size=80))
def test_crc16_matches_amaranth_software_model(data):
    assert crc16(data) == CRC_PARAMETERS.compute(data)
    assert crc16(encode_frame(CMD_INFER, data)[1:]) == CRC_RESIDUE   # what the receiver checks


def test_crc16_update_matches_amaranth_software_model():
    assert crc16(b"123456789") == 0x29B1      # the catalogue's check value
    rng = random.Random(5)
    for _ in range(64):
        c, b = rng.randrange(1 << 16), rng.randrange(256)
        from_c = crc.Algorithm(**CRC16._replace(initial_crc=c)._asdict())(data_width=8)
        assert crc16_update(c, b) == from_c.compute([b]), (c, b)


def test_crc16_matches_amaranth_gateware():
    """The CRC unit FrameProtocol builds, simulated: after each byte it holds the host's
    CRC of the bytes so far; after a body and its CRC (MSB first) it detects the residue,
    and not when a bit of them is flipped."""
    rng = random.Random(6)
    bodies = [b"", b"123456789"] + [rng.randbytes(rng.randrange(1, 40)) for _ in range(8)]
    dut = CRC_PARAMETERS.create()

    async def feed(ctx, data):
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        assert ctx.get(dut.crc) == crc16(b"")
        ctx.set(dut.valid, 1)
        for i, b in enumerate(data):
            ctx.set(dut.data, b)
            await ctx.tick()
            assert ctx.get(dut.crc) == crc16(data[:i + 1]), (data, i)
        ctx.set(dut.valid, 0)
        return ctx.get(dut.match_detected)

    async def tb(ctx):
        for body in bodies:
            sent = body + crc16(body).to_bytes(2, "big")
            assert await feed(ctx, sent), body
            bad = bytearray(sent)
            bad[rng.randrange(len(bad))] ^= 1 << rng.randrange(8)
            assert not await feed(ctx, bytes(bad)), bad

    run_testbenches(dut, [tb], deadline=2000)


# -- UART ---------------------------------------------------------------------------------------

class Loopback(wiring.Component):
    """UARTTx -> line -> UARTRx, the line optionally through a baud mismatch."""

    def __init__(self, tx_div, rx_div):
        self.utx, self.urx = UARTTx(tx_div), UARTRx(rx_div)
        super().__init__({})

    def elaborate(self, platform):
        m = Module()
        m.submodules.utx, m.submodules.urx = self.utx, self.urx
        m.d.comb += self.urx.rx.eq(self.utx.tx)
        return m


@pytest.mark.parametrize("tx_div, rx_div", [(4, 4), (16, 16), (49, 50), (51, 50)])
def test_uart_loopback(tx_div, rx_div):
    """Bytes survive tx -> rx back to back, also with a 2 % rate mismatch."""
    dut = Loopback(tx_div, rx_div)
    rng = random.Random(tx_div)
    data = [0x00, 0xFF, 0x55, 0xAA] + [rng.randrange(256) for _ in range(12)]
    got, errors = [], []

    async def send(ctx):
        await stream_put(ctx, dut.utx.i, data)

    async def recv(ctx):
        got.extend(await stream_get(ctx, dut.urx.o, len(data)))

    async def watch(ctx):
        async for err, in ctx.changed(dut.urx.error):
            errors.append(err)

    run_streams(dut, [send, watch], [recv], deadline=12 * max(tx_div, rx_div) * (len(data) + 2))
    assert got == data
    assert not any(errors)


def test_uart_tx_bit_timing():
    """Start bit, LSB-first data, stop bit, each exactly `divisor` cycles."""
    div = 6
    dut = UARTTx(div)
    line = []

    async def tb(ctx):
        ctx.set(dut.i.valid, 1)
        ctx.set(dut.i.payload, 0b1011_0010)
        await ctx.tick().until(dut.i.ready)
        ctx.set(dut.i.valid, 0)
        for _ in range(12 * div):
            line.append(ctx.get(dut.tx))
            await ctx.tick()

    run_testbenches(dut, [tb], deadline=14 * div)
    bits = [0] + [(0b1011_0010 >> i) & 1 for i in range(8)] + [1, 1]
    assert line[:11 * div] == [b for b in bits for _ in range(div)]


def test_uart_rx_framing_error_and_recovery():
    """A stop bit of 0 pulses `error` and loses the byte; the next byte is fine."""
    div = 8
    dut = UARTRx(div)
    got, errors = [], []

    def wave(byte, stop=1):
        return [0] + [(byte >> i) & 1 for i in range(8)] + [stop]

    async def drive(ctx):
        for b in wave(0x3C, stop=0) + [0] * 3 + [1, 1] + wave(0xC3) + [1, 1] + [1] * 3:
            ctx.set(dut.rx, b)
            await ctx.tick().repeat(div)

    async def watch(ctx):
        ctx.set(dut.o.ready, 1)
        async for _, _, valid, payload, err in ctx.tick().sample(dut.o.valid, dut.o.payload,
                                                                 dut.error):
            if valid:
                got.append(payload)
            if err:
                errors.append(1)

    run_testbenches(dut, [drive], processes=[watch], deadline=div * 32)
    assert got == [0xC3]
    assert errors == [1]


# -- protocol -----------------------------------------------------------------------------

def test_refused_protocol_is_never_constructed():
    """Bad arguments are refused before a FrameProtocol exists, so Amaranth has
    no half-built component to warn about as "created but never used"."""
    import gc
    import warnings

    from amaranth.hdl import Fragment, UnusedElaboratable

    net = small_network(2, (6, 3))
    core = DenseTernaryCore(net)
    Fragment.get(core, None)      # arms Amaranth's unused-elaboratable warning
    info = DeviceInfo.from_network(net, logit_width=core.w)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with pytest.raises(ValueError, match="timeout_cycles must be a positive integer, not 0"):
            FrameProtocol(info, core.i.p.shape(), core.o.p.shape(), timeout_cycles=0)
        with pytest.raises(TypeError, match="info must be a DeviceInfo"):
            FrameProtocol(None, core.i.p.shape(), core.o.p.shape(), timeout_cycles=10)
        gc.collect()
    assert not [w for w in seen if issubclass(w.category, UnusedElaboratable)]


def _protocol_dut(net, timeout):
    core = DenseTernaryCore(net)
    info = DeviceInfo.from_network(net, logit_width=core.w)
    proto = FrameProtocol(info, core.i.p.shape(), core.o.p.shape(), timeout_cycles=timeout)

    class Top(wiring.Component):
        def __init__(self):
            self.proto, self.core = proto, core
            super().__init__({})

        def elaborate(self, platform):
            m = Module()
            m.submodules.proto, m.submodules.core = proto, core
            wiring.connect(m, proto.core_i, core.i)
            wiring.connect(m, core.o, proto.core_o)
            return m

    return Top(), proto, info


def run_protocol(net, events, *, timeout=60, seed=0, p_stall=0.3, max_cycles=20_000):
    """Drive ``events`` (``bytes`` to send back to back, or ``"idle"`` for a pause
    longer than the timeout) into the protocol at byte level; return the reply
    bytes and the :class:`DeviceModel`'s expected bytes. A reply must come
    within ``max_cycles // 4`` cycles, the whole run within ``max_cycles``
    (the cases below take at most about 1300)."""
    top, proto, info = _protocol_dut(net, timeout)
    model = DeviceModel(net, info)
    expected = bytearray()
    marks, in_frame = [], []
    for ev in events:
        if isinstance(ev, tuple):                    # ("rx_error", frame): a UART error inside
            reply = model.receive(ev[1])
            expected += encode_frame(CMD_ERROR, bytes([ErrorCode.RX_ERROR, ev[1][1]]))
            assert reply
        else:
            expected += model.idle_timeout() if ev == "idle" else model.receive(ev)
        marks.append(len(expected))
        in_frame.append(model.in_frame)
    got = bytearray()
    rng = random.Random(seed)
    errors = []

    async def sender(ctx):
        for ev, mark, model_in_frame in zip(events, marks, in_frame):
            if ev == "idle":
                await ctx.tick().repeat(timeout + 5)
            else:
                data = ev[1] if isinstance(ev, tuple) else ev
                for i, b in enumerate(data):
                    if i == 2 and isinstance(ev, tuple):   # inside the frame
                        ctx.set(proto.rx_error, 1)
                        await ctx.tick()
                        ctx.set(proto.rx_error, 0)
                    ctx.set(proto.rx.valid, 1)
                    ctx.set(proto.rx.payload, b)
                    await ctx.tick().until(proto.rx.ready)
                    ctx.set(proto.rx.valid, 0)
                    if rng.random() < 0.2:
                        await ctx.tick().repeat(rng.randrange(1, 4))
            waited = 0
            while len(got) < mark:           # the reply must be complete before the next frame
                await ctx.tick()
                waited += 1
                assert waited < max_cycles // 4, f"no reply: got {bytes(got).hex()}"
            await ctx.tick().repeat(3)
            if not model_in_frame:
                assert not ctx.get(proto.busy), f"busy after {ev!r}"

    async def receiver(ctx):
        while True:
            ready = rng.random() >= p_stall
            ctx.set(proto.tx.ready, ready)
            _, _, valid, payload, err = await ctx.tick().sample(proto.tx.valid, proto.tx.payload,
                                                               proto.error)
            if valid and ready:
                got.append(payload)
            if err:
                errors.append(1)

    run_testbenches(top, [sender], background=[receiver], deadline=max_cycles)
    return bytes(got), bytes(expected), errors


def _replies(data):
    frames = FrameReader().feed(data)
    assert all(f.crc_ok for f in frames)
    return frames


def test_protocol_against_model():
    net = small_network(7, (12, 5))
    info = DeviceInfo.from_network(net, logit_width=core_logit_width(net))
    rng = np.random.default_rng(1)
    xs = rng.integers(0, 255, (3, 12), endpoint=True)
    good = [encode_frame(CMD_INFER, info.encode_input(x)) for x in xs]
    bad_crc = bytearray(good[1])
    bad_crc[7] ^= 0x10
    events = [
        b"\x00\x13" + encode_frame(CMD_INFO),       # noise before SYNC is skipped
        good[0],
        bytes(bad_crc),                              # corrupted payload byte
        encode_frame(CMD_INFER, bytes(11)),          # wrong length
        encode_frame(CMD_INFO, b"\x01"),             # wrong length for INFO
        encode_frame(0x33, b"abc"),                  # unknown command
        good[1][:9], "idle",                         # short frame, then silence
        good[2],
        bytes([SYNC]), "idle",                       # a lone SYNC
        encode_frame(CMD_INFER, info.encode_input(xs[0]))[:4], "idle",   # header only
        good[0],
        ("rx_error", good[2]),                       # the UART lost a byte: RX_ERROR
        ("rx_error", encode_frame(CMD_INFO)),
        good[1],
    ]
    got, expected, errors = run_protocol(net, events)
    assert got == expected
    frames = _replies(got)
    cmds = [f.cmd for f in frames]
    assert cmds == [0x81, 0x82, CMD_ERROR, CMD_ERROR, CMD_ERROR, CMD_ERROR, CMD_ERROR, 0x82,
                    CMD_ERROR, CMD_ERROR, 0x82, CMD_ERROR, CMD_ERROR, 0x82]
    codes = [f.payload[0] for f in frames if f.cmd == CMD_ERROR]
    assert codes == [ErrorCode.BAD_CRC, ErrorCode.BAD_LENGTH, ErrorCode.BAD_LENGTH,
                     ErrorCode.UNKNOWN_COMMAND, ErrorCode.TIMEOUT, ErrorCode.TIMEOUT,
                     ErrorCode.TIMEOUT, ErrorCode.RX_ERROR, ErrorCode.RX_ERROR]
    assert len(errors) == len(codes)
    logits, classes = net.forward(xs)
    res = info.decode_result(frames[1].payload)
    assert res.logits.tolist() == logits[0].tolist() and res.cls == classes[0]
    assert DeviceInfo.from_bytes(frames[0].payload) == info


@pytest.mark.parametrize("width, signed_", [(12, False), (6, True), (16, True)])
def test_protocol_wide_and_signed_inputs(width, signed_):
    net = small_network(width, (6, 3), input_width=width, input_signed=signed_)
    info = DeviceInfo.from_network(net, logit_width=core_logit_width(net))
    rng = np.random.default_rng(width)
    lo, hi = net.input_range
    xs = rng.integers(lo, hi, (2, 6), endpoint=True)
    xs[0, 0], xs[0, 1] = lo, hi
    events = [encode_frame(CMD_INFER, info.encode_input(x)) for x in xs]
    short = events[0][:7]          # header and part of a multi-byte feature
    got, expected, _ = run_protocol(net, [events[0], short, "idle", events[1]], p_stall=0.5)
    assert got == expected
    frames = _replies(got)
    logits, classes = net.forward(xs)
    for f, lg, cl in zip([frames[0], frames[2]], logits, classes):
        res = info.decode_result(f.payload)
        assert res.logits.tolist() == lg.tolist() and res.cls == cl


def test_payload_fields():
    from amaranth.hdl import signed, unsigned
    from amaranth.lib import data
    assert payload_fields(unsigned(8)) == (None, None)
    assert payload_fields(data.StructLayout({"data": 8, "last": 1})) == ("data", "last")
    assert payload_fields(data.StructLayout({"logit": signed(20), "last": 1})) == ("logit",
                                                                                 "last")
    with pytest.raises(ValueError, match="cannot tell the value field"):
        payload_fields(data.StructLayout({"a": 8, "b": 8}))
