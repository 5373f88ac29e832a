"""The cocotb testbench of :class:`~sst_hw.core.network.SSTNetwork` on its emitted
Verilog (Verilator by default, ``SIM=icarus`` for Icarus), and
:func:`run_network`, which builds a core, computes the golden outputs and runs
the testbench (used by the tests and by ``make demo``). The testbench knows
the DUT only through its JSON sidecar plus a configuration with the inputs
and the golden outputs; every logit and class is compared bit for bit, and
the cycles per inference measured with back-to-back input and ``o.ready``
high must equal the sidecar's ``cycles_per_inference``.

A loadable core (the sidecar's ``image`` entry) takes the configuration's
``image`` (code words and table rows) through its ``image`` port after
reset, one word per cycle, every word read back and compared, then runs it
(``use_loaded`` 1); an SPRAM core always gets one. A block RAM loadable core
given ``built_expected`` (its bitstream's model's outputs on the same
inputs) also runs :func:`network_banks`: the bitstream's model, the loaded
image, the bitstream's model again.

One simulator build per model; every scenario of a model runs on it.
"""

from __future__ import annotations

import random

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge, with_timeout

from sst_hw.sim.image_port import idle_image, read_image, write_image
from sst_hw.sim.runner import build_verilog, load_config, run_tests
from sst_hw.sim.sidecar import Sidecar
from sst_hw.sim.stream import CycleCounter, stream_drivers

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
        self.port = self.side.image
        self.image = self.cfg.get("image")
        self.clk = getattr(dut, self.side.clock)
        self.rst = getattr(dut, self.side.reset)
        self.p_idle, self.p_stall = p_idle, p_stall
        self.inputs = self.cfg["inputs"]
        self.expected = self.cfg["expected"]
        self.features = int(self.side.params["input_features"])
        self.classes = int(self.side.params["classes"])
        self.cycles = int(self.side.data["cycles_per_inference"])

    async def start(self, *, load=True):
        """Clock, reset, the stream drivers; with ``load`` (and an ``image``
        in the configuration) the image written, read back and run first."""
        Clock(self.clk, CLOCK_NS, unit="ns").start()
        d = self.dut
        getattr(d, self.si.valid).value = 0
        getattr(d, self.so.ready).value = 0
        if self.port is not None:
            idle_image(d, self.port, use_loaded=0)
        self.rst.value = 1
        await ClockCycles(self.clk, 3)
        self.rst.value = 0
        self.counter = CycleCounter(self.clk)
        await RisingEdge(self.clk)
        if load and self.image is not None:
            await self.load_image()
        self.source, self.sink = stream_drivers(self.clk, d, self.si, self.so, self.counter,
                                                self.rng, p_idle=self.p_idle,
                                                p_stall=self.p_stall)
        self.checked = 0

    async def load_image(self):
        """Write the configured image through the ``image`` port (the core
        idle), read every word back and compare, then run it (``use_loaded``)."""
        if self.port is None:
            raise AssertionError("the configuration has an image but the sidecar has no "
                                 "image port")
        code = [int(w) for w in self.image["code"]]
        table = [int(w) for w in self.image.get("table", [])]
        cycles = await write_image(self.clk, self.dut, self.port, code, table,
                                   use_loaded=int(self.cfg.get("use_loaded", 1)))
        assert cycles == len(code) + len(table)
        for name, words in (("code", code), ("table", table)):
            mem = self.port.memories.get(name)
            if mem is None:
                continue
            back = await read_image(self.clk, self.dut, self.port, mem["sel"], len(words))
            for a, (got, want) in enumerate(zip(back, words)):
                if got != want:
                    raise AssertionError(f"{name} word {a} reads back {got:#x}, written "
                                         f"{want:#x}")

    async def infer(self, count, expected=None, what="inference"):
        """Send the first ``count`` inputs, wait for and check all their outputs
        (against ``expected``, default the configuration's)."""
        expected = self.expected if expected is None else expected
        for x in self.inputs[:count]:
            for v in x:
                self.source.send(self.si.pack(data=int(v)))
        beats = count * (self.classes + 1)
        slow = 1.0 / max(0.05, (1 - self.p_idle) * (1 - self.p_stall))
        budget = int(count * (self.cycles + self.features + self.classes) * slow * 4) + 1000
        await with_timeout(self.sink.wait_for(self.checked + beats), budget * CLOCK_NS, "ns")
        got = self.sink.received[self.checked:self.checked + beats]
        self.checked += beats
        data = self.so.fields["data"]
        for b in range(count):
            chunk = got[b * (self.classes + 1):(b + 1) * (self.classes + 1)]
            values = [data.unpack(p) for _, _, p in chunk]
            lasts = [self.so.fields["last"].unpack(p) for _, _, p in chunk]
            want = [int(v) for v in expected[b]]
            if values != want:
                raise AssertionError(f"{what} {b}: logits+class {values} != golden {want}")
            if lasts != [0] * self.classes + [1]:
                raise AssertionError(f"{what} {b}: last flags {lasts}, expected only on the "
                                     "class beat")
        return got

    async def wait_drained(self):
        """Wait until the sources have sent everything and a few cycles more
        (the core idle: the last class beat has been taken); returns right
        after a rising edge, where the port may be driven."""
        await self.source.wait_idle()
        await ClockCycles(self.clk, 2)

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
    """Random idle cycles on the input stream, random ready stalls on the
    output, over the config's ``stall_inferences`` inputs: the same values
    (shared with the CNN testbench)."""
    tb = NetTB(dut, p_idle=0.3, p_stall=0.4, seed_offset=2)
    await tb.start()
    await tb.infer(min(len(tb.inputs), int(tb.cfg.get("stall_inferences", default_count))))
    await tb.idle_check()
    tb.stop()


@cocotb.test()
async def network_stalls(dut):
    """Random idle cycles on the input stream, random ready stalls on the
    output: the same values."""
    await check_with_stalls(dut, 8)


@cocotb.test()
async def network_banks(dut):
    """A loadable block RAM core given ``built_expected``: its bitstream's
    model (use_loaded 0), then the configured image written through the
    port and run (use_loaded 1), then the bitstream's model again (the
    writes left its bank alone), every output bit-exact. Nothing to do
    for other cores."""
    tb = NetTB(dut, seed_offset=3)
    built = tb.cfg.get("built_expected")
    if built is None or tb.image is None:
        return
    await tb.start(load=False)
    count = min(len(tb.inputs), 4)
    await tb.infer(count, built, "bitstream's model, inference")
    await tb.wait_drained()
    await tb.load_image()
    await tb.infer(count, None, "loaded image, inference")
    await tb.wait_drained()
    getattr(dut, tb.port.ports["use_loaded"]).value = 0      # right after an edge, core idle
    await tb.infer(count, built, "bitstream's model after the load, inference")
    await tb.idle_check()
    tb.stop()


# -- driver ---------------------------------------------------------------------------------

def run_network(network, x, build_dir, *, stall_inferences=8, name="sst_network", core=None,
                load=None, **core_kw):
    """Emit ``network`` as a core (``core_kw`` for :class:`SSTNetwork`), build it,
    and run the cocotb scenarios on inputs ``x`` (batch, features). Returns
    the core.

    ``load``: a model of the core's topology whose image a loadable core
    takes through its ``image`` port and runs, compared with ``load``'s
    golden outputs (a block RAM core then also runs :func:`network_banks`).
    By default an SPRAM core takes ``network``'s image, a block RAM one runs
    its bitstream's model."""
    from sst_hw.core.network import SSTNetwork
    from sst_hw.emit.network import write_network
    from sst_hw.plan.image import topology_id
    from sst_hw.sim.session import image_plan

    if core is None:
        core = SSTNetwork(network, **core_kw)
    plan = core.plan
    if load is not None and not plan.loadable:
        raise ValueError("load needs a loadable core (memory='spram' or loadable=True)")
    if load is None and plan.memory == "spram":
        load = network
    image = built = None
    if load is not None:
        lplan = image_plan(plan.params, load)
        if topology_id(lplan) != topology_id(plan):
            raise ValueError("the model to load does not have the core's topology")
        image = {"code": lplan.code_image(), "table": lplan.param_image()}
        if plan.memory == "bram":
            built = golden_outputs(network, x)
    build_dir.mkdir(parents=True, exist_ok=True)
    paths = write_network(core, build_dir / f"{name}.v", name=name)
    simulate_core(paths, load if load is not None else network, x, build_dir, name, TB_MODULE,
                  stall_inferences=stall_inferences, image=image, built_expected=built)
    return core


def golden_outputs(network, x) -> list:
    """Per inference of ``x``, ``network``'s logits then class (lists of ints)."""
    logits, classes = network.forward(np.asarray(x))
    return np.concatenate([logits, classes[:, None]], axis=1).tolist()


def simulate_core(paths, network, x, build_dir, name: str, tb_module: str, *,
                  stall_inferences: int, image=None, use_loaded: int = 1,
                  built_expected=None) -> None:
    """Build the Verilog among ``paths`` (a core's files as its emitter wrote
    them) and run ``tb_module``'s cocotb tests on inputs ``x`` with the golden
    outputs of ``network``; a loadable core first takes ``image``
    (``{"code": words, "table": rows}``) through its ``image`` port, and runs
    it with ``use_loaded``. ``built_expected``: the outputs of a block RAM
    loadable core's bitstream model (for :func:`network_banks`)."""
    sources = [p for p in paths if p.suffix == ".v"]
    jpath = next(p for p in paths if p.suffix == ".json")
    x = np.asarray(x)
    config = {"sidecar": str(jpath.resolve()), "seed": 1,
              "inputs": x.reshape(len(x), -1).tolist(), "expected": golden_outputs(network, x),
              "stall_inferences": stall_inferences}
    if image is not None:
        config["image"] = {"code": [int(w) for w in image["code"]],
                           "table": [int(w) for w in image.get("table", [])]}
        config["use_loaded"] = int(use_loaded)
    if built_expected is not None:
        config["built_expected"] = built_expected
    build = build_verilog(sources, name, build_dir / "sim")
    run_tests(build, tb_module, config=config)
