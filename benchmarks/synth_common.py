"""Shared by the synthesis benchmarks: run one core through the OOC flow and
turn its report into one JSON-ready row.

Every figure comes from a real Yosys + nextpnr run (``sst_hw.synth``). LUT4
and FF are the core's own (the report's totals minus the out-of-context
harness's shift register and XOR fold, :attr:`SynthReport.core_estimate`);
block RAM, SPRAM and DSP counts are the totals (the harness uses none).
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from sst_hw.rtl.engine import engine_class, engine_for
from sst_hw.synth.flow import SynthesisError, synthesize

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / "build" / "bench"

#: nextpnr clock targets (MHz), a little above what each family reaches for
#: an engine, so the router keeps pushing; fmax is reported, not the target.
TARGETS = {"up5k": 60.0, "hx8k": 100.0, "ecp5-25f": 150.0, "ecp5-45f": 150.0,
           "ecp5-85f": 150.0}


def synth_row(config, device: str, build_dir: Path, *, seed: int = 1,
              target_mhz: float | None = None, reuse: bool = False,
              reuse_only: bool = False, nextpnr_args=(), place_and_route: bool = True) -> dict:
    """Synthesize, place and route the engine of parameters ``config`` (an
    :class:`~sst_hw.plan.engine.EngineParams`) for ``device``; return its figures.
    The engine is built only when it is synthesized.

    On a tool failure the row carries ``"error"`` (first line of the message)
    instead of figures, so one crash does not lose a whole sweep. With
    ``reuse``, a row saved in ``build_dir/row.json`` by an earlier run of the
    same core (same parameters, device, seed and target) is returned as is;
    with ``reuse_only``, a core without one is not run (the row says
    ``"not_run"``). With ``place_and_route=False`` only Yosys runs: the row
    has LUT4 and FF (Yosys's counts) but no fmax and no ``fits``.
    """
    t0 = time.monotonic()
    target = target_mhz or TARGETS.get(device, 50.0)
    key = {"core": engine_class(config).__name__, "params": config.as_dict(),
           "device": device, "seed": seed, "target_mhz": target}
    if not place_and_route:
        key["place_and_route"] = False
    saved = Path(build_dir) / "row.json"
    if (reuse or reuse_only) and saved.is_file():
        old = json.loads(saved.read_text())
        if old.get("key") == key:
            return old["row"]
    if reuse_only:
        return {"device": device, "error": "not run (no saved build)", "not_run": True,
                "build_dir": str(build_dir)}
    try:
        rep = synthesize(engine_for(config), device, target, build_dir, seed=seed,
                         nextpnr_args=tuple(nextpnr_args), place_and_route=place_and_route)
    except SynthesisError as e:
        row = {"device": device, "error": str(e).splitlines()[0],
               "build_dir": str(build_dir), "runtime_s": round(time.monotonic() - t0, 1)}
    else:
        row = _figures(rep, device, target, build_dir, time.monotonic() - t0)
        row["yosys_dff_fallback"] = "-dff" in (Path(build_dir) / "synth.ys").read_text()
        row["nextpnr_args"] = list(nextpnr_args)
    write_json(saved, {"key": key, "row": row})
    return row


def _figures(rep, device, target, build_dir, runtime) -> dict:
    core_est = rep.core_estimate or {"lut4": rep.lut4, "ff": rep.ff}
    return {
        "device": device, "part": rep.part, "target_mhz": target,
        "fmax_mhz": rep.fmax_mhz, "fits": rep.fits,
        "lut4": core_est["lut4"], "ff": core_est["ff"],
        "lut4_total": rep.lut4, "ff_total": rep.ff,
        "bram": rep.used("bram"), "spram": rep.used("spram"), "dsp": rep.used("dsp"),
        "carry": rep.used("carry"), "logic_cells_total": rep.used("logic_cells"),
        "harness_overhead": rep.harness,
        "build_dir": str(build_dir),
        "runtime_s": round(runtime, 1),
    }


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def write_json(path: Path, results: dict) -> Path:
    """Write ``results`` atomically (a crash never leaves half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(results, indent=2) + "\n")
    os.replace(tmp, path)
    return path


def fmt(value, spec: str = "") -> str:
    """``format(value, spec)``, or ``-`` for a missing figure."""
    return "-" if value is None else format(value, spec)
