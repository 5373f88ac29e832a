"""Engines generated with ``sst-hw generate`` and run in cocotb on the emitted
Verilog, with the sidecar-driven testbench :mod:`sst_hw.sim.engine_tb`."""

from __future__ import annotations

import time

from sst_hw.cli import main
from sst_hw.sim.runner import build_verilog, run_tests
from sst_hw.sim.sidecar import Sidecar

TB_MODULE = "sst_hw.sim.engine_tb"


def cli_args(cfg: dict) -> list:
    """``sst-hw generate`` arguments for an engine configuration."""
    args = []
    for key, value in cfg.items():
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            args.append(flag if value else "--no-" + flag[2:])
        else:
            args += [flag, str(value)]
    return args


def generate_and_run(tmp_path, cfg: dict, seed: int = 1, rows: int = 24, max_beats: int = 6):
    """Generate with the CLI, build once, run the sidecar-driven testbench."""
    t0 = time.monotonic()
    vpath = tmp_path / "engine.v"
    assert main(["generate", *cli_args(cfg), "-o", str(vpath)]) == 0
    side = Sidecar.load(tmp_path / "engine.json")
    t1 = time.monotonic()
    build = build_verilog([side.verilog_path], side.module, tmp_path / "sim")
    t2 = time.monotonic()
    results = run_tests(build, TB_MODULE, config={
        "sidecar": str(side.path), "seed": seed, "rows": rows, "max_beats": max_beats})
    t3 = time.monotonic()
    print(f"generate {t1 - t0:.1f} s, build {t2 - t1:.1f} s, run {t3 - t2:.1f} s")
    assert len(results) >= 7 and all(r.passed for r in results)
    return results
