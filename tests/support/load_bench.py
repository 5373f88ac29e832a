"""The bench of the model-loading board tests: a DUT's pins, its models, LOAD frames.

:class:`Bench` wraps a cocotb DUT (an :class:`sst_hw.boards.InferenceTop` with
a loadable core) with a bit-level UART (:mod:`support.uart_pins`), the host's
:class:`~sst_hw.host.client.AsyncClient`, hand-made LOAD frames, and checks
against the golden models named in the test config.
"""

from __future__ import annotations

import numpy as np
import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles

from support.uart_pins import UARTPins, read_frame

#: Bytes per LOAD_DATA in the hand-made loads: words straddle chunks.
CHUNK = 50


class Bench:
    """The DUT, its UART pins, the models of the config, and frame helpers."""

    def __init__(self, dut, cfg):
        from sst_hw.format import modelfile
        from sst_hw.host.client import AsyncClient
        from sst_hw.link.wire import DeviceInfo

        self.dut, self.cfg = dut, cfg
        self.nets = {k: modelfile.load(p) for k, p in cfg["models"].items()}
        self.info = DeviceInfo.from_bytes(bytes.fromhex(cfg["info"]))
        self.bit_ns = cfg["divisor"] * cfg["clk_ns"]
        self.pins = UARTPins(dut, self.bit_ns, rx_bit_ns=self.bit_ns * 1.015)
        self.client = AsyncClient(self.pins, timeout=3000)
        self.rng = np.random.default_rng(cfg["seed"])

    async def reset(self):
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, 5)
        self.dut.rst.value = 0
        await ClockCycles(self.dut.clk, 5)

    # -- frames ----------------------------------------------------------------------------

    async def ask(self, cmd, payload=b"", *, raw=None):
        """Send one frame (``raw`` bytes as they are, if given); the reply frame."""
        from sst_hw.link.wire import encode_frame
        self.pins.reset_input()
        await self.pins.write(raw if raw is not None else encode_frame(cmd, payload))
        return await read_frame(self.pins, timeout_bits=3 * self.cfg["timeout_bits"] + 2000)

    async def expect(self, cmd, payload=b"", *, code=None, raw=None):
        """Send a frame; check the reply is the ACK of ``cmd`` or the error ``code``."""
        from sst_hw.link.wire import CMD_ERROR, REPLY_BIT
        reply = await self.ask(cmd, payload, raw=raw)
        assert reply.crc_ok
        if code is None:
            assert (reply.cmd, reply.payload) == (cmd | REPLY_BIT, b""), reply
        else:
            assert reply.cmd == CMD_ERROR and list(reply.payload) == [int(code), cmd], reply

    def image(self, key):
        """(topology id, image bytes, model id) of model ``key`` for this device."""
        from sst_hw.link.wire import model_id
        from sst_hw.plan.image import image_bytes, topology_id
        from sst_hw.plan.network import plan_network
        ld = self.info.load
        plan = plan_network(self.nets[key], pe=ld.pe, simd=ld.simd, requant=ld.requant,
                            memory=self.cfg["memory"], loadable=True)
        return topology_id(plan), image_bytes(plan), model_id(self.nets[key])

    async def begin(self, key, code=None):
        from sst_hw.link.wire import CMD_LOAD_BEGIN, LOAD_BEGIN_STRUCT
        topo, data, _ = self.image(key)
        await self.expect(CMD_LOAD_BEGIN, LOAD_BEGIN_STRUCT.pack(topo, len(data)), code=code)

    async def chunks(self, data, start=0, stop=None):
        from sst_hw.link.wire import CMD_LOAD_DATA
        stop = len(data) if stop is None else stop
        for off in range(start, stop, CHUNK):
            part = data[off:min(off + CHUNK, stop)]
            await self.expect(CMD_LOAD_DATA, off.to_bytes(4, "little") + part)

    async def commit(self, mid, length, crc, code=None):
        from sst_hw.link.wire import CMD_LOAD_COMMIT, LOAD_COMMIT_STRUCT
        await self.expect(CMD_LOAD_COMMIT, LOAD_COMMIT_STRUCT.pack(mid, length, crc), code=code)

    async def hand_load(self, key):
        """A whole load of model ``key`` from hand-made frames."""
        from sst_hw.link.wire import crc32
        _, data, mid = self.image(key)
        await self.begin(key)
        await self.chunks(data)
        await self.commit(mid, len(data), crc32(data))

    # -- checks ---------------------------------------------------------------------------------

    async def state(self):
        """(state, model id) from INFO."""
        info = await self.client.info(refresh=True)
        return info.load.state, info.model_id

    async def check_runs(self, key, n=3):
        """INFO names model ``key``; ``n`` random inferences are bit-exact with it."""
        from sst_hw.link.wire import ModelState, model_id
        net = self.nets[key]
        assert await self.state() == (ModelState.READY, model_id(net))
        lo, hi = net.input_range
        xs = [np.full(net.layers[0].in_features, hi)]
        xs += list(self.rng.integers(lo, hi, (n, net.layers[0].in_features), endpoint=True))
        for x in xs:
            res = await self.client.infer(x)
            logits, classes = net.forward(np.asarray(x, np.int64).reshape(1, -1))
            assert res.logits.tolist() == logits[0].tolist() and res.cls == int(classes[0])

    async def check_no_model(self):
        """INFER gets NO_MODEL and no result follows; INFO then says no model (an
        interrupted load is still *loading* until that INFER ends it)."""
        from sst_hw.link.wire import CMD_INFER, ErrorCode, ModelState
        x = np.zeros(self.info.n_inputs, np.int64)
        await self.expect(CMD_INFER, self.info.encode_input(x), code=ErrorCode.NO_MODEL)
        assert not await self.pins.read(1, 4 * 10 * 30), "bytes after the NO_MODEL error"
        assert await self.state() == (ModelState.NONE, 0)


async def start_bench(dut):
    from sst_hw.sim.runner import load_config
    cfg = load_config()
    cocotb.start_soon(Clock(dut.clk, cfg["clk_ns"], unit="ns").start())
    dut.rx.value = 1
    bench = Bench(dut, cfg)
    await bench.reset()
    return bench
