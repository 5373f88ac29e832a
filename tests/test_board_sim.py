"""Tier 2: the board top (UART + protocol + network core) in cocotb, at bit level.

The pytest function builds the Verilog of :class:`sst_hw.boards.InferenceTop`
around the network core for a small random model and runs the cocotb tests
below (in the simulator's Python) through :mod:`sst_hw.sim.runner`. The
cocotb side drives the ``rx`` pin and samples the ``tx`` pin at the bit
period (``divisor`` clock cycles, small in simulation) and talks to the
design with the host's own :class:`sst_hw.host.client.AsyncClient` and the
frame codec of :mod:`sst_hw.link.wire`; every result is compared bit for bit
with the golden model.

The core is ``SSTNetwork`` (defaults: PE 4, SIMD 2, codes in block RAM) for a
random model of sizes [20, 12, 5], or the CNN core ``SSTConvNetwork`` for a
small random CNN (7x6 image, conv 3x3 with a fused max-pool, then dense).
"""

from __future__ import annotations

import time

import numpy as np
import pytest

# -- pytest side ---------------------------------------------------------------------------------

CLK_NS = 10          # simulated clock period
DIVISOR = 8          # clock cycles per UART bit in simulation
TIMEOUT_BITS = 40    # idle bit-times that end a partial frame


def make_network(seed=11):
    """A small random two-layer model: 20 inputs, 12 hidden, 5 classes."""
    from sst_hw.format.golden import Network
    return Network.random(seed, [20, 12, 5], 8, 2)


def make_core(kind):
    """(golden model, core) of a small random MLP or CNN."""
    if kind == "mlp":
        from sst_hw.core.network import SSTNetwork
        net = make_network()
        return net, SSTNetwork(net)
    from sst_hw.core.conv.network import SSTConvNetwork
    from sst_hw.format.random_model import random_convnet
    net = random_convnet(12, (7, 6, 1), [("conv", 6, 3, 1, 1), ("pool", 2), ("flatten",),
                                         ("dense", 5)])
    return net, SSTConvNetwork(net, pe=4)


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_board_top_cocotb(kind, tmp_path):
    from amaranth.back import verilog

    from sst_hw.format import modelfile
    from sst_hw.boards import InferenceTop, core_info
    from sst_hw.sim.runner import build_verilog, run_tests

    t0 = time.monotonic()
    net, core = make_core(kind)
    top = InferenceTop(core, core_info(net, core), clk_hz=int(1e9 / CLK_NS), divisor=DIVISOR,
                       timeout_bits=TIMEOUT_BITS)
    vpath = tmp_path / "sst_board_top.v"
    vpath.write_text(verilog.convert(top, name="sst_board_top"))
    model = modelfile.save(net, tmp_path / "model.npz")
    t1 = time.monotonic()
    build = build_verilog([vpath], "sst_board_top", tmp_path / "sim")
    t2 = time.monotonic()
    run_tests(build, "test_board_sim", config={
        "model": str(model), "info": top.info.to_bytes().hex(), "divisor": DIVISOR,
        "clk_ns": CLK_NS, "timeout_bits": TIMEOUT_BITS, "seed": 5, "inferences": 6})
    t3 = time.monotonic()
    print(f"{type(core).__name__}: verilog {t1 - t0:.1f} s, build {t2 - t1:.1f} s, run {t3 - t2:.1f} s")


# -- cocotb side -----------------------------------------------------------------------------------

try:
    import cocotb
    from cocotb.clock import Clock
    from cocotb.triggers import ClockCycles

    from support.uart_pins import UARTPins, read_frame
except ImportError:  # pragma: no cover
    cocotb = None


async def _setup(dut):
    from sst_hw.format import modelfile
    from sst_hw.host.client import AsyncClient
    from sst_hw.link.wire import DeviceInfo
    from sst_hw.sim.runner import load_config

    cfg = load_config()
    net = modelfile.load(cfg["model"])
    info = DeviceInfo.from_bytes(bytes.fromhex(cfg["info"]))
    clk_ns = cfg["clk_ns"]
    cocotb.start_soon(Clock(dut.clk, clk_ns, unit="ns").start())
    dut.rx.value = 1
    dut.rst.value = 1
    await ClockCycles(dut.clk, 5)
    dut.rst.value = 0
    await ClockCycles(dut.clk, 5)
    bit_ns = cfg["divisor"] * clk_ns
    # The host sends 1.5 % slow: the receiver must cope with a small rate mismatch.
    pins = UARTPins(dut, bit_ns, rx_bit_ns=bit_ns * 1.015)
    client = AsyncClient(pins, timeout=3000)
    return cfg, net, info, pins, client


def _golden(net, x):
    logits, classes = net.forward(np.asarray(x, np.int64).reshape(1, -1))
    return logits[0].tolist(), int(classes[0])


if cocotb is not None:

    @cocotb.test()
    async def info_and_inference(dut):
        """INFO matches the model; random inferences are bit-exact with the golden model."""
        cfg, net, info, pins, client = await _setup(dut)
        got = await client.check_model(net)
        assert got == info, (got, info)
        rng = np.random.default_rng(cfg["seed"])
        lo, hi = net.input_range
        xs = [np.full(info.n_inputs, lo), np.full(info.n_inputs, hi)]
        xs += list(rng.integers(lo, hi, (cfg["inferences"], info.n_inputs), endpoint=True))
        for x in xs:
            res = await client.infer(x)
            want_logits, want_cls = _golden(net, x)
            assert res.logits.tolist() == want_logits, (res.logits.tolist(), want_logits)
            assert res.cls == want_cls
        assert pins.framing_errors == 0

    @cocotb.test()
    async def bad_frames(dut):
        """A corrupted frame gets BAD_CRC, a short one TIMEOUT; then good frames work."""
        from sst_hw.link.wire import (
            CMD_ERROR,
            CMD_INFER,
            CMD_INFO,
            ErrorCode,
            DeviceError,
            encode_frame)
        cfg, net, info, pins, client = await _setup(dut)
        rng = np.random.default_rng(cfg["seed"] + 1)
        lo, hi = net.input_range
        x = rng.integers(lo, hi, info.n_inputs, endpoint=True)
        frame = encode_frame(CMD_INFER, info.encode_input(x))

        # 1. Corrupted payload byte: the core computes, the result is dropped.
        bad = bytearray(frame)
        bad[4 + 3] ^= 0x04
        await pins.write(bytes(bad))
        reply = await read_frame(pins)
        assert reply.crc_ok and reply.cmd == CMD_ERROR
        assert list(reply.payload) == [ErrorCode.BAD_CRC, CMD_INFER]
        await ClockCycles(dut.clk, 2)
        assert dut.led_error.value == 1

        # 2. Good frame right after: bit-exact.
        res = await client.infer(x)
        assert (res.logits.tolist(), res.cls) == _golden(net, x)

        # 3. Short frame, then silence: TIMEOUT error, no hang.
        await pins.write(frame[:11])
        reply = await read_frame(pins, timeout_bits=3 * cfg["timeout_bits"] + 100)
        assert reply.cmd == CMD_ERROR
        assert list(reply.payload) == [ErrorCode.TIMEOUT, CMD_INFER]

        # 4. ... followed by a good one.
        x2 = rng.integers(lo, hi, info.n_inputs, endpoint=True)
        res = await client.infer(x2)
        assert (res.logits.tolist(), res.cls) == _golden(net, x2)

        # 5. Wrong length, unknown command (the client raises DeviceError).
        for cmd, payload, code in ((CMD_INFER, bytes(info.request_len - 1),
                                    ErrorCode.BAD_LENGTH),
                                   (CMD_INFO, b"\x00", ErrorCode.BAD_LENGTH),
                                   (0x42, b"\x01\x02", ErrorCode.UNKNOWN_COMMAND)):
            try:
                await client.request(cmd, payload)
            except DeviceError as e:
                assert e.code == code and e.command == cmd, e
            else:
                raise AssertionError(f"no error reply to command {cmd:#x}")

        # 6. Noise before a frame is skipped; the model is still there.
        await pins.write(b"\x00\x55\xff")
        assert await client.info(refresh=True) == info
        res = await client.infer(x)
        assert (res.logits.tolist(), res.cls) == _golden(net, x)
        assert pins.framing_errors == 0
