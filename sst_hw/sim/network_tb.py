"""The cocotb testbench of :class:`~sst_hw.core.network.SSTNetwork` on its emitted
Verilog (Verilator by default, ``SIM=icarus`` for Icarus), and
:func:`run_network`, which builds a core, computes the golden outputs and runs
the testbench (used by the tests and by ``make demo``). The testbench knows
the DUT only through its JSON sidecar plus a configuration with the inputs
and the golden outputs; every logit and class is compared bit for bit, and
the cycles per inference measured with back-to-back input and ``o.ready``
high must equal the sidecar's ``cycles_per_inference``.

One simulator build per model; every scenario of a model runs on it.
"""

from __future__ import annotations

import random

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge, with_timeout

from sst_hw.sim.runner import build_verilog, load_config, run_tests
from sst_hw.sim.sidecar import Sidecar
from sst_hw.sim.stream import CycleCounter, StreamSource, stream_drivers

TB_MODULE = "sst_hw.sim.network_tb"
CLOCK_NS = 10


# -- the cocotb testbench ------------------------------------------------------------------------

class NetTB:
    """The network core with clock, reset, stream drivers and the checker."""

    def __init__(self, dut, *, p_idle=0.0, p_stall=0.0, seed_offset=0):
        self.dut = dut
        self.cfg = load_config()
        self.side = Sidecar.load(self.cfg["sidecar"])
        self.rng = random.Random(int(self.cfg.get("seed", 1)) * 1000 + seed_offset)
        self.si = self.side.streams["i"]
        self.so = self.side.streams["o"]
        self.sl = self.side.streams.get("load")
        self.clk = getattr(dut, self.side.clock)
        self.rst = getattr(dut, self.side.reset)
        self.p_idle, self.p_stall = p_idle, p_stall
        self.inputs = self.cfg["inputs"]
        self.expected = self.cfg["expected"]
        self.features = int(self.side.params["input_features"])
        self.classes = int(self.side.params["classes"])
        self.cycles = int(self.side.data["cycles_per_inference"])

    async def start(self):
        Clock(self.clk, CLOCK_NS, unit="ns").start()
        d = self.dut
        getattr(d, self.si.valid).value = 0
        getattr(d, self.so.ready).value = 0
        if self.sl is not None:
            getattr(d, self.sl.valid).value = 0
        self.rst.value = 1
        await ClockCycles(self.clk, 3)
        self.rst.value = 0
        self.counter = CycleCounter(self.clk)
        await RisingEdge(self.clk)
        if self.sl is not None:
            # SPRAM: the code words go in first, through the load stream.
            loader = StreamSource(self.clk, getattr(d, self.sl.valid), getattr(d, self.sl.ready),
                                  getattr(d, self.sl.payload), self.counter,
                                  rng=random.Random(self.rng.random()), p_idle=self.p_idle)
            for w in self.cfg["codes"]:
                loader.send(self.sl.pack(data=int(w)))
            await with_timeout(loader.wait_idle(), (len(self.cfg["codes"]) * 4 + 100) * CLOCK_NS,
                               "ns")
            loader.stop()
            getattr(d, self.sl.valid).value = 0
        self.source, self.sink = stream_drivers(self.clk, d, self.si, self.so, self.counter,
                                                self.rng, p_idle=self.p_idle,
                                                p_stall=self.p_stall)

    async def infer(self, count):
        """Send the first ``count`` inputs, wait for and check all their outputs."""
        for x in self.inputs[:count]:
            for v in x:
                self.source.send(self.si.pack(data=int(v)))
        beats = count * (self.classes + 1)
        slow = 1.0 / max(0.05, (1 - self.p_idle) * (1 - self.p_stall))
        budget = int(count * (self.cycles + self.features + self.classes) * slow * 4) + 1000
        await with_timeout(self.sink.wait_for(beats), budget * CLOCK_NS, "ns")
        got = self.sink.received[:beats]
        data = self.so.fields["data"]
        for b in range(count):
            chunk = got[b * (self.classes + 1):(b + 1) * (self.classes + 1)]
            values = [data.unpack(p) for _, _, p in chunk]
            lasts = [self.so.fields["last"].unpack(p) for _, _, p in chunk]
            want = [int(v) for v in self.expected[b]]
            if values != want:
                raise AssertionError(f"inference {b}: logits+class {values} != golden {want}")
            if lasts != [0] * self.classes + [1]:
                raise AssertionError(f"inference {b}: last flags {lasts}, expected only on the "
                                     "class beat")
        return got

    def measured_cycles(self, count):
        """Cycles of each inference: first accepted input beat to the class beat,
        both included; also checks that the input was taken back to back."""
        out = []
        F, C = self.features, self.classes + 1
        for b in range(count):
            ins = [c for c, _ in self.source.sent[b * F:(b + 1) * F]]
            assert ins == list(range(ins[0], ins[0] + F)), \
                f"inference {b}: input not accepted back to back: {ins}"
            last = self.sink.received[(b + 1) * C - 1]
            out.append(last[1] - ins[0] + 1)
        return out

    async def idle_check(self):
        count = len(self.sink.received)
        await ClockCycles(self.clk, 50)
        assert len(self.sink.received) == count, "the DUT emitted an unexpected beat"

    def stop(self):
        self.source.stop()
        self.sink.stop()


@cocotb.test()
async def network_back_to_back(dut):
    """All inputs back to back, o.ready high: values, and the cycle count per
    inference equals the sidecar's (also the period between inferences)."""
    tb = NetTB(dut, seed_offset=1)
    await tb.start()
    count = len(tb.inputs)
    await tb.infer(count)
    cycles = tb.measured_cycles(count)
    assert set(cycles) == {tb.cycles}, \
        f"measured cycles per inference {sorted(set(cycles))} != sidecar {tb.cycles}"
    starts = [tb.source.sent[b * tb.features][0] for b in range(count)]
    periods = {b - a for a, b in zip(starts, starts[1:])}
    assert periods <= {tb.cycles}, f"inference period {periods} != {tb.cycles}"
    await tb.idle_check()
    tb.stop()


async def check_with_stalls(dut, default_count: int):
    """Random idle cycles on the input (and load) stream, random ready stalls
    on the output, over the config's ``stall_inferences`` inputs: the same
    values (shared with the CNN testbench)."""
    tb = NetTB(dut, p_idle=0.3, p_stall=0.4, seed_offset=2)
    await tb.start()
    await tb.infer(min(len(tb.inputs), int(tb.cfg.get("stall_inferences", default_count))))
    await tb.idle_check()
    tb.stop()


@cocotb.test()
async def network_stalls(dut):
    """Random idle cycles on the input (and load) stream, random ready stalls
    on the output: the same values."""
    await check_with_stalls(dut, 8)


# -- driver ---------------------------------------------------------------------------------

def run_network(network, x, build_dir, *, stall_inferences=8, name="sst_network", core=None,
                **core_kw):
    """Emit ``network`` as a core (``core_kw`` for :class:`SSTNetwork`), build it,
    and run both cocotb scenarios on inputs ``x`` (batch, features). Returns
    the core."""
    from sst_hw.core.network import SSTNetwork
    from sst_hw.emit.network import write_network

    if core is None:
        core = SSTNetwork(network, **core_kw)
    build_dir.mkdir(parents=True, exist_ok=True)
    paths = write_network(core, build_dir / f"{name}.v", name=name)
    codes = [int(w) for w in core.plan.code_image()] if core.memory == "spram" else None
    simulate_core(paths, network, x, build_dir, name, TB_MODULE,
                  stall_inferences=stall_inferences, codes=codes)
    return core


def simulate_core(paths, network, x, build_dir, name: str, tb_module: str, *,
                  stall_inferences: int, codes=None) -> None:
    """Build the Verilog among ``paths`` (a core's files as its emitter wrote
    them) and run ``tb_module``'s cocotb tests on inputs ``x`` with the golden
    outputs of ``network`` (and, for an SPRAM core, the ``codes`` to load)."""
    sources = [p for p in paths if p.suffix == ".v"]
    jpath = next(p for p in paths if p.suffix == ".json")
    x = np.asarray(x)
    logits, classes = network.forward(x)
    expected = np.concatenate([logits, classes[:, None]], axis=1)
    config = {"sidecar": str(jpath.resolve()), "seed": 1,
              "inputs": x.reshape(len(x), -1).tolist(), "expected": expected.tolist(),
              "stall_inferences": stall_inferences}
    if codes is not None:
        config["codes"] = codes
    build = build_verilog(sources, name, build_dir / "sim")
    run_tests(build, tb_module, config=config)
