"""Synthesis flow: device table, OOC harness, Yosys + nextpnr runs, reports."""

import json

import pytest
from amaranth.back import verilog
from amaranth.hdl import Cat, Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from sst_hw.synth import (
    DEVICES,
    OOCHarness,
    SynthesisError,
    SynthReport,
    VerilogDesign,
    build_report,
    get_device,
    ports_from_sidecar,
    synthesize,
    tool_command,
    verilog_wrapper)
from sst_hw.sim.amsim import run_testbenches
from sst_hw.synth.harness import normalize_ports
from sst_hw.synth.report import parse_nextpnr_log_utilization


class Tiny(wiring.Component):
    """Registered 8-bit adder plus a 16-bit counter with enable."""

    a: In(8)
    b: In(8)
    en: In(1)
    sum: Out(9)
    count: Out(16)

    def elaborate(self, platform):
        m = Module()
        m.d.sync += self.sum.eq(self.a + self.b)
        with m.If(self.en):
            m.d.sync += self.count.eq(self.count + 1)
        return m


class Wire(wiring.Component):
    """Combinational pass-through, to observe the harness."""

    def __init__(self, width=8):
        super().__init__({"a": In(width), "y": Out(width)})

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.y.eq(self.a)
        return m


class Copies(wiring.Component):
    """Four copies of one register, the way the engines replicate broadcasts."""

    a: In(8)
    y: Out(32)

    def elaborate(self, platform):
        from sst_hw.rtl.row_pipeline import broadcast_registers
        m = Module()
        regs = broadcast_registers(m, self.a, [range(g, g + 1) for g in range(4)], "copy")
        m.d.comb += self.y.eq(Cat(*regs))
        return m


class Streamy(wiring.Component):
    i: In(stream.Signature(7))
    o: Out(stream.Signature(8))
    arr: In(2).array(3)

    def elaborate(self, platform):
        return Module()


pytestmark = pytest.mark.filterwarnings("ignore:.*created but never used")


def _have_tools(*tools):
    try:
        for t in tools:
            tool_command(t)
    except SynthesisError as e:
        pytest.skip(str(e))


# -- devices -------------------------------------------------------------------------------

def test_device_table():
    assert set(DEVICES) == {"up5k", "hx8k", "ecp5-25f", "ecp5-45f", "ecp5-85f"}
    up5k = get_device("UP5K")
    assert (up5k.family, up5k.lut4, up5k.bram, up5k.spram, up5k.dsp) == ("ice40", 5280, 30, 4, 8)
    assert up5k.bram_bits == 4096 and up5k.spram_bits == 256 * 1024
    assert "-dsp" in up5k.synth_args
    assert up5k.nextpnr_args == ("--up5k", "--package", "sg48")
    hx8k = get_device("hx8k")
    assert (hx8k.lut4, hx8k.bram, hx8k.dsp, hx8k.spram) == (7680, 32, 0, 0)
    assert hx8k.nextpnr_args == ("--hx8k", "--package", "ct256")
    for name, flag, brams, dsps in (("ecp5-25f", "--25k", 56, 28), ("ecp5-45f", "--45k", 108, 72),
                                     ("ecp5-85f", "--85k", 208, 156)):
        d = get_device(name)
        assert d.family == "ecp5" and d.bram == brams and d.dsp == dsps
        assert d.bram_bits == 18432
        assert d.nextpnr_args[:3] == (flag, "--package", "CABGA381")


@pytest.mark.parametrize("bad", ["xc7a35t", "", "ecp5"])
def test_unknown_device(bad):
    with pytest.raises(ValueError, match=rf"Unknown device '{bad}'; allowed: up5k, hx8k, "
                                         r"ecp5-25f, ecp5-45f, ecp5-85f"):
        get_device(bad)


def test_synthesize_checks_arguments(tmp_path):
    with pytest.raises(ValueError, match="Unknown device 'ice40'"):
        synthesize(Tiny(), "ice40", 50, tmp_path)
    with pytest.raises(ValueError, match="freq_mhz must be a positive number, not 0"):
        synthesize(Tiny(), "up5k", 0, tmp_path)
    with pytest.raises(TypeError, match="must be a wiring.Component"):
        synthesize(Module(), "up5k", 50, tmp_path)


# -- harness -------------------------------------------------------------------------------

def test_harness_ports_and_pins():
    h = OOCHarness(Streamy())
    ins = {p.name: (p.width, p.offset) for p in h.ports if p.direction == "in"}
    outs = {p.name: (p.width, p.offset) for p in h.ports if p.direction == "out"}
    assert ins == {"i.payload": (7, 0), "i.valid": (1, 7), "o.ready": (1, 8),
                   "arr.0": (2, 9), "arr.1": (2, 11), "arr.2": (2, 13)}
    assert outs == {"i.ready": (1, 0), "o.payload": (8, 1), "o.valid": (1, 9)}
    assert (h.in_width, h.out_width) == (15, 10)
    # 10 output bits -> 3 + 1 XOR registers; 15 shift-register stages.
    assert h.overhead == {"ff": 15 + 4, "lut": 4, "in_bits": 15, "out_bits": 10,
                          "fold_levels": 2}
    text = verilog.convert(h, name="ooc")
    header = next(line for line in text.splitlines() if line.startswith("module ooc("))
    assert sorted(header[len("module ooc("):-2].split(", ")) == ["clk", "rst", "sin", "sout"]


def test_harness_rejects_non_component():
    with pytest.raises(TypeError, match="core must be an amaranth wiring.Component"):
        OOCHarness(Module())


def _run_harness(h, core, bits):
    """Clock ``bits`` into ``h.sin``; return (core.a, h.sout) after each rising edge."""
    seen = []

    async def bench(ctx):
        # The harness drives its own sync domain from the clk pin: toggle the pin.
        for b in bits:
            ctx.set(h.sin, b)
            await ctx.delay(1e-6)
            ctx.set(h.clk, 1)
            await ctx.delay(1e-6)
            seen.append((ctx.get(core.a), ctx.get(h.sout)))
            ctx.set(h.clk, 0)

    # No simulator clock: a bit takes two periods of 1 us.
    run_testbenches(h, [bench], clock=False, deadline=2 * len(bits) + 10)
    return seen


def test_harness_behaviour():
    """Inputs come from the shift register; sout is the XOR of the outputs, 2 cycles later."""
    core = Wire(8)
    h = OOCHarness(core)
    assert h.overhead["fold_levels"] == 2  # 8 bits -> 2 -> 1
    bits = [1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 1, 0, 0, 1]
    seen = _run_harness(h, core, bits)
    shreg = 0
    expected_a = []
    for b in bits:
        shreg = ((shreg << 1) | b) & 0xFF
        expected_a.append(shreg)
    assert [a for a, _ in seen] == expected_a
    parity = [bin(a).count("1") & 1 for a in expected_a]
    assert 0 in parity and 1 in parity
    # fold0 registers a's nibble parities one cycle after a changes, sout one more.
    assert [s for _, s in seen][2:] == parity[:-2]


def test_harness_split_chains():
    """Above chain_length the shift register is cut into chains enabled in turn."""
    core = Wire(10)
    h = OOCHarness(core, chain_length=4)
    assert h.chains == 3
    # 10 stages + 3 ring-counter bits + 3 + 1 fold registers.
    assert h.overhead["ff"] == 10 + 3 + 4
    bits = [1, 1, 0, 1, 0, 0, 0, 1, 1, 0, 1, 1, 1, 0, 1, 0, 0, 1, 1, 1, 0, 1]
    seen = _run_harness(h, core, bits)
    ring, chains, expected = 0, [[0] * 4, [0] * 4, [0] * 2], []
    for b in bits:
        chains[ring] = [b] + chains[ring][:-1]
        ring = (ring + 1) % 3
        expected.append(sum(v << i for i, v in enumerate(chains[0] + chains[1] + chains[2])))
    assert [a for a, _ in seen] == expected
    with pytest.raises(ValueError, match="chain_length must be a positive integer, not 0"):
        OOCHarness(Wire(2), chain_length=0)


def test_normalize_ports_errors():
    assert normalize_ports([("a", "input", 3), {"name": "y", "dir": "output", "width": 1}]) == \
        [("a", "in", 3), ("y", "out", 1)]
    with pytest.raises(ValueError, match="direction of port 'a' must be 'in' or 'out', not 'inout'"):
        normalize_ports([("a", "inout", 1)])
    with pytest.raises(ValueError, match="width of port 'a' must be a positive integer, not 0"):
        normalize_ports([("a", "in", 0)])
    with pytest.raises(ValueError, match="duplicate port names: a"):
        normalize_ports([("a", "in", 1), ("a", "out", 1)])


def test_verilog_wrapper_and_sidecar():
    ports = [("clk", "in", 1), ("rst", "in", 1), ("x", "in", 12), ("y", "out", 5)]
    text = verilog_wrapper("engine", ports, name="wrap")
    assert "module wrap(" in text and "engine core (" in text
    assert ".clk(clk)" in text and ".rst(rst)" in text and ".x(shreg)" in text
    with pytest.raises(ValueError, match="wrapper name must differ"):
        verilog_wrapper("engine", ports, name="engine")
    module, got = ports_from_sidecar({"module": "engine", "ports": [
        {"name": n, "direction": d, "width": w} for n, d, w in ports]})
    assert module == "engine" and got == ports


# -- reports without tools -----------------------------------------------------------------

def test_report_from_canned_json(tmp_path):
    stat = {"design": {"num_cells_by_type": {"SB_LUT4": 6000, "SB_DFFE": 10, "SB_CARRY": 3,
                                             "SB_RAM40_4K": 2, "$scopeinfo": 1}}}
    pnr = {"utilization": {"ICESTORM_LC": {"used": 6100, "available": 5280},
                           "ICESTORM_RAM": {"used": 2, "available": 30},
                           "SB_IO": {"used": 4, "available": 39}},
           "fmax": {"clk": {"achieved": 40.5, "constraint": 48.0}},
           "critical_paths": [{"from": "posedge clk", "to": "posedge clk", "path": [
               {"type": "clk-to-q", "delay": 1.0, "from": {"cell": "r", "port": "CLK"},
                "to": {"cell": "r", "port": "O"}},
               {"type": "routing", "delay": 2.0, "net": "r_q", "sources": ["a.py:1"],
                "from": {"cell": "r", "port": "O"}, "to": {"cell": "l", "port": "I0"}},
               {"type": "logic", "delay": 0.5, "from": {"cell": "l", "port": "I0"},
                "to": {"cell": "l", "port": "O"}},
               {"type": "setup", "delay": 0.3, "from": {"cell": "l", "port": "O"},
                "to": {"cell": "s", "port": "D"}}]}]}
    rep = build_report("up5k", top="t", freq_mhz=48, seed=3, stat=stat, nextpnr=pnr)
    assert rep.resources["lut4"].used == 6000 and rep.resources["ff"].used == 10
    assert "$scopeinfo" not in rep.cells
    assert rep.resources["logic_cells"].percent == pytest.approx(100 * 6100 / 5280)
    assert rep.resources["bram"].used == 2
    assert not rep.fits and not rep.meets_timing and rep.fmax_mhz == 40.5
    p = rep.critical_path()
    assert (p.start, p.end, p.start_net, p.levels) == ("r.CLK", "s.D", "r_q", 1)
    assert p.delay_ns == pytest.approx(3.8) and p.routing_ns == pytest.approx(2.0)
    js, md = rep.write(tmp_path)
    again = SynthReport.from_dict(json.loads(js.read_text()))
    assert again.resources == rep.resources and again.clocks == rep.clocks
    text = md.read_text()
    assert "| logic cells (nextpnr) | 6100 | 5280 | 115.5 % |" in text
    assert "Fits: **no**. Meets timing: **no**." in text


def test_utilization_from_nextpnr_log():
    log = ("Info: Device utilisation:\n"
           "Info: \t         ICESTORM_LC:    7395/   5280   140%\n"
           "Info: \t        ICESTORM_RAM:       0/     30     0%\n"
           "ERROR: Unable to place cell 'x', no BELs remaining to implement cell type\n")
    util = parse_nextpnr_log_utilization(log)
    assert util == {"ICESTORM_LC": {"used": 7395, "available": 5280},
                    "ICESTORM_RAM": {"used": 0, "available": 30}}
    rep = build_report("up5k", top="t", freq_mhz=10, seed=1, nextpnr={"utilization": util})
    assert not rep.fits and rep.fmax_mhz is None and not rep.meets_timing


def test_tool_override_and_failure(tmp_path, monkeypatch):
    monkeypatch.setenv("YOSYS", "/nonexistent/yosys --flag")
    assert tool_command("yosys") == ["/nonexistent/yosys", "--flag"]
    with pytest.raises(SynthesisError, match="yosys could not be started"):
        synthesize(Tiny(), "up5k", 50, tmp_path)
    with pytest.raises(ValueError, match="Unknown tool 'vivado'"):
        tool_command("vivado")


def test_yosys_error_has_log_tail(tmp_path):
    _have_tools("yosys")
    bad = tmp_path / "bad.v"
    bad.write_text("module bad(input a, output y);\n  assign y = a +;\nendmodule\n")
    with pytest.raises(SynthesisError, match=r"(?s)yosys failed.*last lines of .*ERROR") as e:
        synthesize(VerilogDesign([bad], top="bad"), "up5k", 50, tmp_path / "b")
    assert e.value.log_path.is_file()


# -- real runs -----------------------------------------------------------------------------

@pytest.mark.parametrize("device", ["up5k", "ecp5-85f"])
def test_synthesize_amaranth(device, tmp_path):
    family = get_device(device).family
    _have_tools("yosys", f"nextpnr-{family}")
    rep = synthesize(Tiny(), device, 25, tmp_path, seed=2)
    assert rep.lut4 > 0 and rep.ff > 0
    # 25 core FFs (sum, count) + 17 shift-register stages + 10 fold registers.
    assert rep.ff == 25 + rep.harness["ff"] == 52
    assert rep.resources["logic_cells"].used > 0
    assert rep.resources["logic_cells"].available == get_device(device).lut4
    assert rep.resources["io"].used == 4
    assert rep.fmax_mhz > 0 and rep.meets_timing and rep.fits
    assert all(c.constraint_mhz == 25 for c in rep.clocks.values())
    assert rep.critical_path() is not None and rep.critical_path().delay_ns > 0
    assert rep.versions["yosys"].startswith("Yosys ")
    assert rep.versions[f"nextpnr-{family}"].startswith("nextpnr")
    for name in ("report.json", "report.md", "stat.json", "report_nextpnr.json",
                 "yosys.log", "nextpnr.log", "sst_ooc_top.v"):
        assert (tmp_path / name).is_file(), name
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["resources"]["lut4"]["used"] == rep.lut4 and data["fits"] is True
    md = (tmp_path / "report.md").read_text()
    assert "| resource | used | available | percent |" in md and "fmax (MHz)" in md


def test_replicated_registers_survive_synthesis(tmp_path):
    # Yosys's opt_merge folds identical flip-flops unless the cell is `keep`;
    # the flow moves the generator's `keep` from the wire to the flip-flop.
    _have_tools("yosys")
    rep = synthesize(Copies(), "up5k", 25, tmp_path, harness=False, place_and_route=False)
    assert rep.ff == 4 * 8


def test_synthesize_verilog_with_sidecar(tmp_path):
    _have_tools("yosys", "nextpnr-ice40")
    src = tmp_path / "src"
    src.mkdir()
    (src / "tiny_core.v").write_text(verilog.convert(Tiny(), name="tiny_core"))
    (src / "tiny_core.json").write_text(json.dumps({"module": "tiny_core"}))
    rep = synthesize(src / "tiny_core.v", "up5k", 25, tmp_path / "build")
    assert rep.top == "sst_ooc_top" and rep.harness["core"] == "tiny_core"
    # Ports read from the Verilog: a, b, en in (17 bits); sum, count out (25 bits).
    assert (rep.harness["in_bits"], rep.harness["out_bits"]) == (17, 25)
    assert rep.ff == 52 and rep.fmax_mhz > 0
