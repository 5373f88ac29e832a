"""``sst-hw autotune``: a sweep that chooses the code and the engine.

Sweeps codes and engines for a data set (training each code, synthesizing
each engine for ``--device``) or the engines of one model file, then picks,
among the points that meet the constraints, the one with the most
inferences/s (``--objective throughput``, the default) or the fewest LUT4
(``--objective luts``). Prints the choice, why, and the runners-up, and writes
the chosen model file with the engine in its ``meta["autotune"]`` (plus the
sweep's tables under ``--out``). Exit status 0 when a point qualifies, 1 when
none does (no model written), 2 for bad input.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sst_hw.cli.commands._outputs import check_output_file
from sst_hw.cli.commands.sweep import (
    add_axis_args,
    add_run_args,
    add_setting_args,
    check_run_args,
    cli_overrides,
    execute)
from sst_hw.cli.errors import UserError

HELP_EPILOG = """\
Default axes: codes (4,1) (8,1) (8,2) (16,2) (16,3) partitioned(8,2), PE 2,4,8,
SIMD 2, the device given; a model file keeps its code and sweeps PE and SIMD.
--spec FILE takes the axes and settings of a sweep spec instead (the options
given here still replace its values). The chosen model file records the
engine: compile it with the `sst-hw compile` command autotune prints.
"""


def register(sub):
    from sst_hw.synth.devices import DEVICES
    from sst_hw.sweep.select import OBJECTIVES

    p = sub.add_parser("autotune", help="choose the code and engine meeting an accuracy "
                                        "bound with the most inferences/s (or fewest LUT4)",
                       description=__doc__.split("\n\n")[1], epilog=HELP_EPILOG)
    p.add_argument("target", metavar="DATASET|MODEL",
                   help="a data set (digits, fashion-mnist, an IDX folder) or a model file "
                        "(.sst)")
    p.add_argument("--device", required=True, choices=sorted(DEVICES), help="target device")
    p.add_argument("--min-accuracy", metavar="X",
                   help="test accuracy at least X (0.95 or 95; required for a data set)")
    p.add_argument("--objective", choices=list(OBJECTIVES), default="throughput",
                   help="throughput: the most inferences/s (default); luts: the fewest LUT4")
    p.add_argument("-o", "--output", required=True, metavar="FILE",
                   help="the chosen model file to write (e.g. build/autotuned.sst)")
    p.add_argument("--spec", type=Path, metavar="FILE", help="a sweep spec for the axes")
    add_axis_args(p, skip=("device", "dataset", "model"))
    add_setting_args(p)
    add_run_args(p, "build/autotune/<name>")
    p.add_argument("--json", action="store_true",
                   help="print the choice, the runners-up and the summary as one JSON object")
    p.set_defaults(func=run)


def _spec(args):
    from sst_hw.sweep.spec import DEFAULT_CODES, build_spec, read_spec_file

    file_raw = read_spec_file(args.spec) if args.spec is not None else {}
    model = args.target.endswith(".sst") or Path(args.target).is_file()
    cli = cli_overrides(args)
    axes = cli.setdefault("axes", {})
    axes["device"] = args.device
    if model:
        axes["model"] = args.target
    else:
        axes["dataset"] = args.target
        if args.min_accuracy is None:
            raise UserError("--min-accuracy is required for a data set (e.g. 0.95)")
    file_axes = file_raw.get("axes", {})
    if not model and not any(a in axes or a in file_axes
                             for a in ("code", "n", "k", "variant", "assignment")):
        axes["code"] = " ".join(DEFAULT_CODES)
    if "pe" not in axes and "pe" not in file_axes:
        axes["pe"] = "2,4,8"
    stages = ["plan", "synth"] + ([] if model else ["train"])
    cli.setdefault("sweep", {})["stages"] = stages
    if args.min_accuracy is not None:
        cli.setdefault("constraints", {})["min_accuracy"] = args.min_accuracy
    stem = Path(args.target).stem if model else Path(args.target).name
    name = f"autotune-{stem}-{args.device}"
    return build_spec(file_raw, cli, path=args.spec, name=name)


def run(args):
    from sst_hw.sweep.select import explain

    spec = _spec(args)
    out_model = check_output_file(args.output, "output")
    cache, out_dir = check_run_args(args, Path(args.out or f"build/autotune/{spec.name}"))
    run_, paths = execute(spec, args, cache, out_dir)
    best, rest, lines = explain(run_.records, args.objective, spec.constraints)
    if best is None:
        if args.json:
            print(json.dumps({"chosen": None, "why": lines, "summary": run_.summary}))
        else:
            print("\n".join(lines))
        print(f"sst-hw autotune: no point qualifies; nothing written (tables: {out_dir})",
              file=sys.stderr)
        return 1
    written = _write_model(run_, best, args, out_model)
    compile_cmd = (f"sst-hw compile {written} -o build/net.v --pe {best['pe']} "
                   f"--simd {best['simd']} --memory {best['memory']} --device {best['device']}")
    if args.json:
        print(json.dumps({"chosen": best, "runners_up": rest, "why": lines,
                          "model": str(written), "compile": compile_cmd,
                          "summary": run_.summary,
                          "files": {k: str(v) for k, v in paths.items()}}, default=str))
        return 0
    print("\n".join(lines))
    print(f"wrote {written}; compile it with: {compile_cmd}")
    print(f"tables: {', '.join(str(p) for p in paths.values())}")
    return 0


def _write_model(run_, best: dict, args, out: Path) -> Path:
    """The chosen point's model file, with the engine in ``meta["autotune"]``."""
    import tempfile

    from sst_hw.format import modelfile

    data = run_.model_bytes(best)
    if data is None:
        raise UserError("the chosen point's model file is not in the cache any more; rerun")
    with tempfile.TemporaryDirectory(prefix="sst-autotune-") as d:
        tmp = Path(d) / "model.sst"
        tmp.write_bytes(data)
        net = modelfile.load(tmp)
    net.meta["autotune"] = {
        "objective": args.objective, "pe": best["pe"], "simd": best["simd"],
        "memory": best["memory"], "device": best["device"],
        "min_accuracy": run_.spec.constraints.min_accuracy,
        "figures": {k: best.get(k) for k in ("accuracy", "cycles", "lut4", "bram", "dsp",
                                             "fmax_mhz", "inferences_per_s")},
        "sweep": run_.spec.name}
    out.parent.mkdir(parents=True, exist_ok=True)
    return modelfile.save(net, out)
