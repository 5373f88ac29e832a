"""Tier 1: UART receiver/transmitter and the frame protocol in Amaranth's simulator.

The protocol is checked against :class:`sst_hw.host.client.DeviceModel` (the byte-level
reference of the device) with :class:`DenseTernaryCore` as the network core.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.sim import Simulator

from sst_hw.host import client as host
from sst_hw.host.client import (
    CMD_ERROR,
    CMD_INFER,
    CMD_INFO,
    SYNC,
    DeviceInfo,
    DeviceModel,
    ErrorCode,
    FrameReader,
    crc16,
    encode_frame)
from sst_hw.link.frames import FrameProtocol, crc16_next, payload_fields
from sst_hw.link.uart import UARTRx, UARTTx, uart_divisor

from test_board_helpers import DenseTernaryCore, core_logit_width, small_network


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

def test_crc16_reference_and_hardware():
    assert crc16(b"123456789") == 0x29B1
    frame = encode_frame(CMD_INFO)
    assert crc16(frame[1:]) == 0               # the residue the hardware checks
    from amaranth.hdl import Const
    from amaranth.sim import Simulator as Sim

    rng = random.Random(5)
    cases = [(rng.randrange(1 << 16), rng.randrange(256)) for _ in range(64)]
    m = Module()
    sim = Sim(m)

    async def tb(ctx):
        for c, b in cases:
            v = ctx.get(crc16_next(Const(c, 16), Const(b, 8)))
            assert v == host.crc16_update(c, b), (c, b)

    sim.add_testbench(tb)
    sim.run()


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
    got = []

    async def send(ctx):
        for b in data:
            ctx.set(dut.utx.i.valid, 1)
            ctx.set(dut.utx.i.payload, b)
            await ctx.tick().until(dut.utx.i.ready)
        ctx.set(dut.utx.i.valid, 0)

    async def recv(ctx):
        ctx.set(dut.urx.o.ready, 1)
        for _ in data:
            b, = await ctx.tick().sample(dut.urx.o.payload).until(dut.urx.o.valid)
            got.append(b)
            assert not ctx.get(dut.urx.error)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(send)
    sim.add_testbench(recv)
    sim.run_until(1e-6 * 12 * max(tx_div, rx_div) * (len(data) + 2))
    assert got == data


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

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
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
        for b in wave(0x3C, stop=0) + [0] * 3 + [1, 1] + wave(0xC3) + [1, 1]:
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

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(drive)
    sim.add_process(watch)
    sim.run_until(1e-6 * div * 30)
    assert got == [0xC3]
    assert errors == [1]


# -- protocol -----------------------------------------------------------------------------

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


def run_protocol(net, events, *, timeout=60, seed=0, p_stall=0.3, max_cycles=200_000):
    """Drive ``events`` (``bytes`` to send back to back, or ``"idle"`` for a pause
    longer than the timeout) into the protocol at byte level; return the reply
    bytes and the :class:`DeviceModel`'s expected bytes."""
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
                assert waited < max_cycles, f"no reply: got {bytes(got).hex()}"
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

    sim = Simulator(top)
    sim.add_clock(1e-6)
    sim.add_testbench(sender)
    sim.add_testbench(receiver, background=True)
    sim.run()
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
