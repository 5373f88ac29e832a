"""Tier 2: loading models into the board top over the UART (protocol v2), at bit level.

The pytest functions build :class:`sst_hw.boards.InferenceTop` around a
*loadable* MLP core (codes and table in block RAM with the bitstream's model
in its own bank, or codes in SPRAM with no model at power-on) and run the
cocotb tests below through :mod:`sst_hw.sim.runner`. The cocotb side drives
the ``rx`` pin and samples ``tx`` bit by bit. The happy path loads with the
host's own :class:`~sst_hw.host.client.AsyncClient`; the safety rules send
hand-made frames (from :mod:`sst_hw.link.wire` and the image of
:mod:`sst_hw.plan.image`). Every inference is compared with the golden
model of the model that should be running.
"""

from __future__ import annotations

import numpy as np
import pytest

CLK_NS = 10
DIVISOR = 8
TIMEOUT_BITS = 40
SIZES = [20, 12, 5]


def _models():
    """Built-in model A, two more of the same topology (B, C), one of another (D)."""
    from sst_hw.format.golden import Network
    return {"a": Network.random(11, SIZES, 8, 2), "b": Network.random(12, SIZES, 8, 2),
            "c": Network.random(13, SIZES, 8, 2), "d": Network.random(14, [20, 10, 5], 8, 2)}


def _run(tmp_path, memory, testcase=None):
    from amaranth.back import verilog

    from sst_hw.boards import InferenceTop, core_info
    from sst_hw.core.network import SSTNetwork
    from sst_hw.core.spram import SB_SPRAM256KA_SIM
    from sst_hw.format import modelfile
    from sst_hw.sim.runner import build_verilog, run_tests

    nets = _models()
    core = SSTNetwork(nets["a"], memory=memory, loadable=True)
    top = InferenceTop(core, core_info(nets["a"], core), clk_hz=int(1e9 / CLK_NS),
                       divisor=DIVISOR, timeout_bits=TIMEOUT_BITS)
    sources = [tmp_path / "sst_board_top.v"]
    sources[0].write_text(verilog.convert(top, name="sst_board_top"))
    if memory == "spram":
        sources.append(tmp_path / "sb_spram256ka.v")
        sources[1].write_text(SB_SPRAM256KA_SIM)
    paths = {k: str(modelfile.save(n, tmp_path / f"model_{k}.npz")) for k, n in nets.items()}
    build = build_verilog(sources, "sst_board_top", tmp_path / "sim")
    run_tests(build, "test_board_load", testcase=testcase, config={
        "models": paths, "info": top.info.to_bytes().hex(), "divisor": DIVISOR,
        "clk_ns": CLK_NS, "timeout_bits": TIMEOUT_BITS, "memory": memory, "seed": 3})


BRAM_TESTS = ["load_and_infer", "interrupted_load_then_infer", "out_of_order_chunk",
              "corrupted_chunk", "short_load", "stored_image_checked", "unfit_image_refused",
              "reset_restores_builtin", "never_hangs"]


def test_board_load_bram(tmp_path):
    """Block RAM build: loads, each safety rule, reset to the bitstream's model."""
    _run(tmp_path, "bram", testcase=BRAM_TESTS)


def test_board_load_spram(tmp_path):
    """SPRAM build: no model at power-on, then load and infer."""
    _run(tmp_path, "spram", testcase=["spram_power_on_load"])


# -- cocotb side -----------------------------------------------------------------------------------

try:
    import cocotb
    from cocotb.triggers import Timer

    from support.load_bench import CHUNK, start_bench as _bench
except ImportError:  # pragma: no cover
    cocotb = None


if cocotb is not None:

    @cocotb.test()
    async def load_and_infer(dut):
        """The built-in model runs; B loads (host client) and runs; then C."""
        b = await _bench(dut)
        await b.check_runs("a")
        for key in ("b", "c"):
            info = await b.client.load(b.nets[key])
            assert info.model_id == b.image(key)[2]
            await b.check_runs(key)
        assert b.pins.framing_errors == 0

    @cocotb.test()
    async def interrupted_load_then_infer(dut):
        """A load that stops after one chunk: INFER gets NO_MODEL, never results."""
        from sst_hw.link.wire import ModelState
        b = await _bench(dut)
        _, data, _ = b.image("b")
        await b.begin("b")
        assert (await b.state())[0] == ModelState.LOADING      # INFO leaves the load alone
        await b.chunks(data, 0, CHUNK)
        await b.check_no_model()
        await b.hand_load("b")                                  # a fresh load works
        await b.check_runs("b")

    @cocotb.test()
    async def out_of_order_chunk(dut):
        """A chunk at the wrong offset ends the load (BAD_SEQUENCE, no model)."""
        from sst_hw.link.wire import CMD_LOAD_DATA, ErrorCode
        b = await _bench(dut)
        _, data, _ = b.image("b")
        await b.begin("b")
        await b.chunks(data, 0, CHUNK)
        skip = 2 * CHUNK
        await b.expect(CMD_LOAD_DATA, skip.to_bytes(4, "little") + data[skip:skip + CHUNK],
                       code=ErrorCode.BAD_SEQUENCE)
        await b.check_no_model()

    @cocotb.test()
    async def corrupted_chunk(dut):
        """A chunk whose frame CRC fails ends the load (BAD_CRC, no model)."""
        from sst_hw.link.wire import CMD_LOAD_DATA, ErrorCode, encode_frame
        b = await _bench(dut)
        _, data, _ = b.image("b")
        await b.begin("b")
        frame = bytearray(encode_frame(CMD_LOAD_DATA, (0).to_bytes(4, "little") + data[:CHUNK]))
        frame[10] ^= 0x10
        await b.expect(CMD_LOAD_DATA, raw=bytes(frame), code=ErrorCode.BAD_CRC)
        await b.check_no_model()

    @cocotb.test()
    async def short_load(dut):
        """A commit before the whole image arrived: BAD_SEQUENCE, no model."""
        from sst_hw.link.wire import ErrorCode, crc32
        b = await _bench(dut)
        _, data, mid = b.image("b")
        await b.begin("b")
        await b.chunks(data, 0, 2 * CHUNK)
        await b.commit(mid, len(data), crc32(data), code=ErrorCode.BAD_SEQUENCE)
        await b.check_no_model()

    @cocotb.test()
    async def stored_image_checked(dut):
        """The commit's CRC-32 is checked against what the device stored: one byte
        sent wrong (in a frame whose own CRC is good) gets BAD_IMAGE, no model."""
        from sst_hw.link.wire import ErrorCode, crc32
        b = await _bench(dut)
        _, data, mid = b.image("b")
        sent = bytearray(data)
        sent[len(data) // 2] ^= 0x01
        await b.begin("b")
        await b.chunks(bytes(sent))
        await b.commit(mid, len(data), crc32(data), code=ErrorCode.BAD_IMAGE)
        await b.check_no_model()

    @cocotb.test()
    async def unfit_image_refused(dut):
        """Another topology, or another length, is refused at LOAD_BEGIN (UNFIT) and
        the running model stays; stray chunks and commits change nothing."""
        from sst_hw.link.wire import (CMD_LOAD_BEGIN, LOAD_BEGIN_STRUCT, ErrorCode, crc32)
        b = await _bench(dut)
        await b.begin("d", code=ErrorCode.UNFIT)
        topo, data, mid = b.image("b")
        await b.expect(CMD_LOAD_BEGIN, LOAD_BEGIN_STRUCT.pack(topo, len(data) + 1),
                       code=ErrorCode.UNFIT)
        await b.check_runs("a")
        await b.chunks(data, 0, 0)
        from sst_hw.link.wire import CMD_LOAD_DATA
        await b.expect(CMD_LOAD_DATA, (0).to_bytes(4, "little") + data[:CHUNK],
                       code=ErrorCode.BAD_SEQUENCE)
        await b.commit(mid, len(data), crc32(data), code=ErrorCode.BAD_SEQUENCE)
        await b.check_runs("a")

    @cocotb.test()
    async def reset_restores_builtin(dut):
        """After a failed load, and after a good one, a reset runs the bitstream's model."""
        b = await _bench(dut)
        _, data, _ = b.image("b")
        await b.begin("b")
        await b.chunks(data, 0, 2 * CHUNK)
        await b.check_no_model()
        await b.reset()
        await b.check_runs("a")
        await b.hand_load("b")
        await b.check_runs("b")
        await b.reset()
        await b.check_runs("a")

    @cocotb.test()
    async def never_hangs(dut):
        """Garbage between chunks, a truncated chunk, bytes at a wrong baud rate inside a
        chunk: each time the device answers INFO within one timeout; a clean load then
        runs bit-exact."""
        from sst_hw.link.wire import CMD_LOAD_DATA, ModelState, encode_frame
        b = await _bench(dut)
        _, data, _ = b.image("b")
        tmo_ns = b.cfg["timeout_bits"] * b.bit_ns

        async def answers_info():
            # One timeout, and the time of a TIMEOUT error reply (8 bytes).
            await Timer(tmo_ns + 100 * b.bit_ns, unit="ns")
            b.pins.reset_input()
            return (await b.client.info(refresh=True)).load.state

        # Garbage between chunks: skipped while hunting for SYNC; the load goes on.
        await b.begin("b")
        await b.chunks(data, 0, CHUNK)
        await b.pins.write(bytes(b.rng.integers(0, 256, 20, dtype=np.uint8).tolist())
                           .replace(b"\xa5", b"\x00"))
        assert await answers_info() == ModelState.LOADING
        # A truncated chunk: TIMEOUT, the load ends.
        frame = encode_frame(CMD_LOAD_DATA, CHUNK.to_bytes(4, "little") + data[CHUNK:2 * CHUNK])
        await b.pins.write(frame[:30])
        assert await answers_info() == ModelState.NONE
        # A chunk whose middle comes at twice the baud rate.
        await b.begin("b")
        frame = encode_frame(CMD_LOAD_DATA, (0).to_bytes(4, "little") + data[:CHUNK])
        await b.pins.write(frame[:20])
        b.pins.rx_bit_ns = b.bit_ns / 2
        await b.pins.write(frame[20:40])
        b.pins.rx_bit_ns = b.bit_ns * 1.015
        await b.pins.write(frame[40:])
        assert await answers_info() == ModelState.NONE
        await b.hand_load("b")
        await b.check_runs("b")

    @cocotb.test()
    async def spram_power_on_load(dut):
        """An SPRAM build has no model at power-on; B loads and runs bit-exact."""
        b = await _bench(dut)
        await b.check_no_model()
        info = await b.client.load(b.nets["b"])
        assert info.model_id == b.image("b")[2]
        await b.check_runs("b")
