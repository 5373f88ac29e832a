"""Board tops and bitstream builds (Yosys + nextpnr + pack through the platforms).

Default run: every board's top level elaborates against its platform with
the UART on the FTDI pins, for a small test core and for the bundled model
(the real ``SSTNetwork`` core, which uses the ``sync`` reset); the power-on
reset counts and follows the button; a tiny UART-echo design on the
iCEBreaker builds twice to the same bitstream hash; a missed clock leaves no
bitstream.
``-m slow``: a whole model through ``sst-hw build`` for the iCEBreaker, twice,
same hash (and the HX8K / ULX3S builds); the bundled model through the CLI
for one board of each family.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from pathlib import Path

import pytest
from amaranth.hdl import ClockDomain, Elaboratable, Fragment, Module
from amaranth.lib import io, wiring

from sst_hw.boards import BOARDS, BoardTop, InferenceTop, core_info, get_board
from sst_hw.boards.board import POR_SECONDS, PowerOnReset, por_cycles
from sst_hw.boards.build import make_board_top
from sst_hw.boards.flow import BoardBuildError, build_bitstream, sha256_of
from sst_hw.cli import main
from sst_hw.link.uart import UARTRx, UARTTx, uart_divisor
from sst_hw.sim.amsim import run_testbenches

from support.cores import DenseTernaryCore, small_network

#: The model the README's quick start builds.
DIGITS = Path(__file__).resolve().parents[1] / "models" / "digits.sst"


def _text(data) -> str:
    return data.decode() if isinstance(data, bytes) else data


def _small_top(board):
    net = small_network(2, (6, 3))
    core = DenseTernaryCore(net)
    system = InferenceTop(core, core_info(net, core), clk_hz=board.clk_hz,
                          divisor=uart_divisor(board.clk_hz, 115200))
    return BoardTop(board, system)


class Echo(Elaboratable):
    """The smallest real design: UART receiver -> transmitter on the FTDI pins."""

    def __init__(self, board):
        self.board = board

    def elaborate(self, platform):
        m = Module()
        div = uart_divisor(self.board.clk_hz, 115200)
        m.submodules.rx = rx = UARTRx(div)
        m.submodules.tx = tx = UARTTx(div)
        wiring.connect(m, rx.o, tx.i)
        uart = platform.request("uart", 0, dir="-")
        m.submodules.rx_buf = rx_buf = io.Buffer("i", uart.rx)
        m.submodules.tx_buf = tx_buf = io.Buffer("o", uart.tx)
        m.d.comb += [rx.rx.eq(rx_buf.i), tx_buf.o.eq(tx.tx)]
        return m


def test_board_registry():
    assert set(BOARDS) == {"icebreaker", "ulx3s-12f", "ulx3s-25f", "ulx3s-45f", "ulx3s-85f",
                           "hx8k-b-evn"}
    assert get_board("ICEBreaker").clk_hz == 12_000_000
    assert get_board("ulx3s-85f").bitstream_suffix == ".bit"
    with pytest.raises(ValueError, match="Unknown board 'nope'; allowed: icebreaker"):
        get_board("nope")


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_board_top_pins(name, tmp_path):
    """The top of every board elaborates; UART, LEDs and clock are constrained."""
    board = get_board(name)
    plan = board.platform().prepare(_small_top(board), name="top")
    files = plan.files
    cons = files["top.pcf"] if board.family == "ice40" else files["top.lpf"]
    cons = cons.decode() if isinstance(cons, bytes) else cons
    pins = {"icebreaker": ("6", "9"), "hx8k-b-evn": ("B10", "B12")}.get(name, ("M1", "L4"))
    for pin in pins:
        assert re.search(rf"\b{pin}\b", cons), (pin, cons)
    assert ("12.0" if board.clk_hz == 12e6 else "25000000") in cons
    assert len(re.findall(r"led_\d+|led_[gr]_0", cons)) >= 2


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_digits_top_elaborates(name, digits_model):
    """The bundled model's whole top (SSTNetwork in block RAM, UART front end)
    elaborates with the board's own platform into RTLIL, with the
    board clock constrained; no Yosys synthesis or nextpnr (under 1 s each)."""
    board = get_board(name)
    platform = board.platform()
    plan = platform.prepare(make_board_top(digits_model, board), name="top")
    files = plan.files
    il = _text(files["top.il"])
    assert "module \\top.system.core" in il and "module \\top.por" in il
    # The platform's default domain is not used: on ECP5 it resets through GSR.
    assert not re.search(r"cell \\S?GSR\b", il)
    port = f"{platform.default_clk}_0__io"
    if board.family == "ice40":
        clock = f"set_frequency {port} {board.clk_hz / 1e6}"
        cons = _text(files["top.pcf"])
    else:
        clock = f'FREQUENCY PORT "{port}" {float(board.clk_hz)} HZ;'
        cons = _text(files["top.lpf"])
    assert clock in cons.splitlines(), cons


def test_power_on_reset():
    """Reset for at least POR_SECONDS after configuration, then while the button is held."""
    assert por_cycles(12_000_000) == 180 and por_cycles(25_000_000) == 375
    assert por_cycles(1) == 1 and POR_SECONDS * 12e6 <= por_cycles(12e6)
    dut = PowerOnReset(5, domain="por")
    m = Module()
    m.domains.por = ClockDomain("por", reset_less=True)
    m.submodules.dut = dut
    seen = []

    async def tb(ctx):
        for button in [0] * 12 + [1] * 6 + [0] * 6:
            ctx.set(dut.button, button)
            seen.append(ctx.get(dut.rst))
            await ctx.tick("por")

    run_testbenches(m, [tb], domain="por", deadline=30)
    # after configuration: high for cycles (+1 register) cycles, then low
    assert seen[:12] == [1] * 6 + [0] * 6
    # button: high two cycles (synchronizer) + one (register) after it, as long as it is held
    assert seen[12:] == [0] * 3 + [1] * 6 + [0] * 3


def test_board_top_checks_clock():
    """A Board whose clk_hz is not the platform's oscillator is refused by name."""
    board = dataclasses.replace(get_board("icebreaker"), clk_hz=25_000_000)
    top = BoardTop(board, None)      # refused before it looks at the system
    with pytest.raises(ValueError, match="board 'icebreaker': clk_hz is 25000000, but the "
                                         "platform's 'clk12' runs at 12000000"):
        board.platform().prepare(top, name="top")


def test_echo_build_reproducible(tmp_path):
    """Same design, same seed: the same bitstream, byte for byte (UP5K, ~10 s each)."""
    board = get_board("icebreaker")
    t0 = time.monotonic()
    a = build_bitstream(board, Echo(board), tmp_path / "a", stem="echo", seed=3)
    t1 = time.monotonic()
    b = build_bitstream(board, Echo(board), tmp_path / "b", stem="echo", seed=3)
    print(f"echo build {t1 - t0:.1f} s + {time.monotonic() - t1:.1f} s")
    assert a.bitstream.name == "echo.bin" and a.bitstream.stat().st_size > 100_000
    assert a.sha256 == b.sha256 == sha256_of(b.bitstream)
    assert (tmp_path / "a" / "echo.sha256").read_text().split()[0] == a.sha256
    rep = json.loads((tmp_path / "a" / "report.json").read_text())
    assert rep["meets_timing"] and rep["fits"] and rep["fmax_mhz"] > 12
    assert rep["files"]["sha256"] == a.sha256
    assert 30 < rep["resources"]["lut4"]["used"] < 400


def test_missed_timing_leaves_no_bitstream(tmp_path):
    """A clock the design cannot reach: the build fails and names no bitstream."""
    board = dataclasses.replace(get_board("icebreaker"), clk_hz=900_000_000)
    out = tmp_path / "fast"
    out.mkdir()
    (out / "echo.bin").write_bytes(b"stale")          # an earlier result must not survive
    with pytest.raises(BoardBuildError, match="misses the 900 MHz board clock") as e:
        build_bitstream(board, Echo(board), out, stem="echo")
    assert not (out / "echo.bin").exists() and not (out / "echo.sha256").exists()
    assert e.value.report is not None and not e.value.report.meets_timing
    assert (out / "report.md").is_file()
    assert (out / "work" / "top.bin").is_file()        # the raw toolchain output stays aside


def test_build_cli_errors(tmp_path, capsys):
    assert main(["build", str(tmp_path / "missing.npz"), "--board", "icebreaker"]) == 2
    assert "no such model file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["build", "x.npz", "--board", "nope"])


def test_top_refuses_core_with_unknown_port():
    """The UART front end drives 'i', 'o' and a loadable core's 'image' port only."""
    from amaranth.lib import wiring
    from amaranth.lib.wiring import In

    from sst_hw.format.golden import Network
    from sst_hw.core.network import SSTNetwork
    net = Network.random(1, [16, 8, 4], 8, 2)
    core = SSTNetwork(net)

    class Extra(wiring.Component):
        def __init__(self):
            super().__init__({**core.signature.members, "debug": In(1)})
        plan = core.plan
    with pytest.raises(ValueError, match="core has ports 'debug' besides 'i', 'o'"):
        InferenceTop(Extra(), core_info(net, core), clk_hz=12_000_000, divisor=104)


def test_spram_top_reports_no_model():
    """An SPRAM core behind the link: loadable, no model after reset, INFO id 0."""
    from sst_hw.format.golden import Network
    from sst_hw.core.network import SSTNetwork
    from sst_hw.link.wire import ModelState
    from sst_hw.plan.image import image_bytes
    from sst_hw.plan.network import plan_network
    net = Network.random(1, [16, 8, 4], 8, 2)
    core = SSTNetwork(net, memory="spram")
    top = InferenceTop(core, core_info(net, core), clk_hz=12_000_000, divisor=104)
    load = top.info.load
    assert (load.state, load.loadable, load.builtin, top.info.model_id) == \
        (ModelState.NONE, True, False, 0)
    assert load.image_len == len(image_bytes(core.plan))
    # The topology id names the shapes, not the values: another model of the same
    # sizes has the same one, other sizes another.
    same = Network.random(2, [16, 8, 4], 8, 2)
    other = Network.random(1, [16, 6, 4], 8, 2)
    same_core, other_core = SSTNetwork(same, memory="spram"), SSTNetwork(other, memory="spram")
    assert core_info(same, same_core).load.topology_id == load.topology_id
    assert core_info(other, other_core).load.topology_id != load.topology_id
    Fragment.get(top, None)


@pytest.mark.parametrize("args, message", [
    (["--board", "ulx3s-85f", "--memory", "spram"], "--memory spram needs SPRAM"),
    (["--board", "icebreaker", "--memory", "spram", "--no-loadable"],
     "--memory spram needs --loadable"),
])
def test_build_cli_memory_refusals(tmp_path, capsys, args, message):
    """Refused in one line, exit 2, before any synthesis, nothing written."""
    from sst_hw.format import modelfile
    from sst_hw.format.golden import Network
    model = modelfile.save(Network.random(1, [16, 8, 4], 8, 2), tmp_path / "tiny.npz")
    out = tmp_path / "out"
    assert main(["build", str(model), *args, "--build-dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not out.exists() or not any(out.iterdir())


def test_build_cli_bad_baud(tmp_path, capsys):
    from sst_hw.format import modelfile
    from sst_hw.format.golden import Network
    model = modelfile.save(Network.random(1, [16, 8, 4], 8, 2), tmp_path / "tiny.npz")
    assert main(["build", str(model), "--board", "icebreaker", "--baud", "5000000"]) == 2
    assert "baud 5e+06 is out of range for a 12 MHz clock" in capsys.readouterr().err


def _build_model_cli(tmp_path, board, sub, seed=1):
    from sst_hw.format import modelfile
    from sst_hw.format.golden import Network
    net = Network.random(1, [16, 8, 4], 8, 2)
    model = modelfile.save(net, tmp_path / "tiny.npz")
    out = tmp_path / sub
    t0 = time.monotonic()
    rc = main(["build", str(model), "--board", board, "--seed", str(seed), "--build-dir",
               str(out), "--json"])
    return rc, out, time.monotonic() - t0


@pytest.mark.slow
def test_model_build_reproducible_icebreaker(tmp_path, capsys):
    """`sst-hw build` of a tiny model for the iCEBreaker, twice: one bitstream hash."""
    rc1, out1, s1 = _build_model_cli(tmp_path, "icebreaker", "a")
    first = json.loads(capsys.readouterr().out)
    rc2, out2, s2 = _build_model_cli(tmp_path, "icebreaker", "b")
    second = json.loads(capsys.readouterr().out)
    print(f"model build {s1:.1f} s + {s2:.1f} s: {first}")
    assert rc1 == rc2 == 0
    assert first["sha256"] == second["sha256"]
    assert (out1 / "tiny-icebreaker.bin").is_file()
    assert first["fmax_mhz"] >= 12


@pytest.mark.slow
@pytest.mark.parametrize("board", ["hx8k-b-evn", "ulx3s-85f"])
def test_model_build_other_boards(tmp_path, capsys, board):
    rc, out, secs = _build_model_cli(tmp_path, board, board)
    res = json.loads(capsys.readouterr().out)
    print(f"{board}: {secs:.1f} s: {res}")
    assert rc == 0 and res["fmax_mhz"] >= get_board(board).clk_hz / 1e6


@pytest.mark.slow
@pytest.mark.parametrize("board", ["icebreaker", "ulx3s-85f"])
def test_digits_build_cli(tmp_path, capsys, board):
    """The README's quick start: the bundled model through `sst-hw build`, one
    board per family; a bitstream with its sha256, and timing met against the
    board clock that reached nextpnr as a constraint."""
    b = get_board(board)
    out = tmp_path / board
    t0 = time.monotonic()
    rc = main(["build", str(DIGITS), "--board", board, "--build-dir", str(out), "--json"])
    secs = time.monotonic() - t0
    res = json.loads(capsys.readouterr().out)
    print(f"digits on {board}: {secs:.1f} s: {res}")
    assert rc == 0
    bit = out / f"digits-{board}{b.bitstream_suffix}"
    assert bit.is_file() and res["bitstream"] == str(bit)
    assert (out / f"digits-{board}.sha256").read_text().split() == [sha256_of(bit), bit.name]
    assert res["sha256"] == sha256_of(bit)
    rep = json.loads((out / "report.json").read_text())
    assert rep["meets_timing"] and rep["fits"] and rep["fmax_mhz"] >= b.clk_hz / 1e6
    assert "Meets timing: yes" in (out / "report.md").read_text()
    # nextpnr's own report: the platform's constraint of the board clock arrived.
    fmax = json.loads((out / "work" / "top.nextpnr.json").read_text())["fmax"]
    assert [round(c["constraint"], 3) for c in fmax.values()] == [b.clk_hz / 1e6]


@pytest.mark.slow
def test_up5k_cnn_build_cli(tmp_path, capsys):
    """The shipped UP5K CNN through `sst-hw build` for the iCEBreaker: the CNN
    core behind the UART front end fits the UP5K (its largest map in SPRAM),
    meets the 12 MHz board clock, and the device reports the CNN's fingerprint."""
    from sst_hw.format import modelfile
    from sst_hw.link.wire import model_id

    model = Path(__file__).resolve().parents[1] / "models" / "fashion_up5k_cnn.sst"
    out = tmp_path / "cnn"
    rc = main(["build", str(model), "--board", "icebreaker", "--build-dir", str(out), "--json"])
    res = json.loads(capsys.readouterr().out)
    print(f"UP5K CNN on the iCEBreaker: {res}")
    assert rc == 0
    assert (out / "fashion_up5k_cnn-icebreaker.bin").is_file()
    assert res["fmax_mhz"] >= 12 and res["resources"]["spram"] == 4
    assert res["model_id"] == f"{model_id(modelfile.load(model)):#010x}"


def test_build_refuses_a_cnn_that_does_not_fit(tmp_path, capsys):
    """VGG-9's 541 Kbit of codes cannot fit the UP5K: `sst-hw build` says so in
    one line, exit 2, before any synthesis, and leaves no build folder."""
    model = Path(__file__).resolve().parents[1] / "models" / "fashion_vgg9.sst"
    t0 = time.monotonic()
    rc = main(["build", str(model), "--board", "icebreaker", "--build-dir", str(tmp_path / "b")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1
    assert err[0].startswith("sst-hw build: error: the model does not fit the up5k: block RAM: "
                             "needs 151 blocks")
    assert not (tmp_path / "b").exists() and time.monotonic() - t0 < 60


def test_build_cli_refuses_loadable_cnn(tmp_path, capsys):
    """A CNN core keeps its model in the bitstream: --loadable is refused, exit 2."""
    from sst_hw.format import modelfile
    from sst_hw.format.random_model import random_convnet
    net = random_convnet(12, (7, 6, 1), [("conv", 6, 3, 1, 1), ("pool", 2), ("flatten",),
                                         ("dense", 5)])
    model = modelfile.save(net, tmp_path / "cnn.sst")
    assert main(["build", str(model), "--board", "icebreaker", "--loadable",
                 "--build-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "a CNN core keeps its model in the bitstream" in err and "Traceback" not in err


@pytest.mark.slow
def test_spram_build_cli_icebreaker(tmp_path, capsys):
    """`sst-hw build --memory spram` of a 784-1024-10 MLP (813K weights) for the
    iCEBreaker: the bitstream holds the topology only, places and routes at the
    12 MHz board clock, and reports a loadable device with no model."""
    from sst_hw.format import modelfile
    from sst_hw.format.golden import Network
    from sst_hw.plan.image import image_bytes
    from sst_hw.plan.network import plan_network
    net = Network.random(1, [784, 1024, 10], 8, 2)
    model = modelfile.save(net, tmp_path / "fashion.sst")
    out = tmp_path / "spram"
    t0 = time.monotonic()
    rc = main(["build", str(model), "--board", "icebreaker", "--memory", "spram",
               "--build-dir", str(out), "--json"])
    res = json.loads(capsys.readouterr().out)
    print(f"spram build {time.monotonic() - t0:.1f} s: {res}")
    assert rc == 0 and res["fmax_mhz"] >= 12
    assert (out / "fashion-icebreaker.bin").is_file()
    assert res["loadable"] and res["model_id"] == "0x00000000"
    assert res["image_len"] == len(image_bytes(plan_network(net, memory="spram")))
    assert res["resources"]["spram"] == 4
