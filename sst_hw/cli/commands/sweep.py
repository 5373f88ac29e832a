"""``sst-hw sweep``: design-space exploration on Dask (docs/sweep.md).

Crosses the axes of a spec (a TOML file, or the options below, which replace
the file's values) into points, runs each point's stages (plan, and train
and synth if asked) as Dask tasks, caches every result by the content of its
inputs and writes the results table (JSON, CSV, Markdown) and the Pareto
plot. The spec, the output folders and the scheduler address are checked
before any work: a bad one is a one-line error, exit status 2, and nothing
is written. Exit status 0 when at least one point succeeded, 1 when none did.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

from sst_hw.cli.commands._outputs import check_writable_dir
from sst_hw.cli.errors import UserError

HELP_EPILOG = """\
Axis values: comma-separated lists, integer ranges a..b (inclusive); codes as
(N,K), N:K, partitioned(N,K), (N,K)/direct, separated by spaces or commas
(e.g. --code "8:2,16:2,partitioned(8,2)"); hidden layers as 128 or 64-32.
Every option that names an axis replaces the spec file's axis.

Stages: plan (always: cycles, memories, fit), train (digits-sized MLPs with
each point's codebook: accuracy), synth (the network core through Yosys and
nextpnr: LUT4, BRAM, fmax; inferences/s = fmax / cycles).

Without --scheduler a LocalCluster of --workers processes (default: the
cores) runs the sweep; with --scheduler tcp://HOST:8786 the workers started
by `dask worker tcp://HOST:8786` do. Results are cached under --cache-dir
(default build/sweep/cache) by the content of their inputs: a rerun computes
only what changed, and an interrupted sweep resumes.
"""

#: Axis options: (option, spec axis, help).
AXIS_OPTIONS = (
    ("--code", "code", "codes, e.g. \"(8,2) (16,2) partitioned(8,2)\" or 8:2,16:2"),
    ("--n", "n", "subvector lengths N (crossed with --k, --variant, --assignment)"),
    ("--k", "k", "non-zeros per subvector K"),
    ("--variant", "variant", "full, partitioned"),
    ("--assignment", "assignment", "enum, direct"),
    ("--pe", "pe", "processing elements, e.g. 2,4,8 or 1..4"),
    ("--simd", "simd", "subvectors per beat"),
    ("--device", "device", "devices (up5k, hx8k, ecp5-25f, ecp5-45f, ecp5-85f)"),
    ("--memory", "memory", "code memory: bram, spram"),
    ("--dataset", "dataset", "data sets: digits, fashion-mnist or IDX folders"),
    ("--hidden", "hidden", "hidden layer sizes, e.g. 128 or 32,64 or 64-32"),
    ("--model", "model", "model files (.sst) instead of data sets (no training)"),
)


def add_axis_args(p, skip=()):
    for opt, axis, text in AXIS_OPTIONS:
        if axis not in skip:
            p.add_argument(opt, dest=f"axis_{axis}", metavar="VALUES", help=text)


def add_setting_args(p):
    p.add_argument("--epochs", metavar="E|F,P,S",
                   help="training epochs: one number or float,prune,sst (default: the data "
                        "set's schedule, 30,30,40 for digits)")
    p.add_argument("--batch-size", metavar="B", help="training mini-batch size")
    p.add_argument("--freq", metavar="MHZ",
                   help="nextpnr clock target (default 48 on iCE40, 100 on ECP5)")
    p.add_argument("--max-lut4", metavar="N", help="constraint: at most N LUT4")
    p.add_argument("--min-inferences-per-s", metavar="R",
                   help="constraint: at least R inferences per second")
    p.add_argument("--timeout", metavar="S",
                   help="seconds a point may take, all stages (default 3600)")


def add_run_args(p, default_out: str):
    p.add_argument("--scheduler", metavar="tcp://HOST:8786",
                   help="an existing Dask scheduler (default: start a LocalCluster)")
    p.add_argument("--workers", type=int, metavar="N",
                   help="LocalCluster worker processes, one thread each (default: the cores)")
    p.add_argument("--cache-dir", default="build/sweep/cache", metavar="DIR",
                   help="the result cache (default build/sweep/cache)")
    p.add_argument("--no-cache", action="store_true",
                   help="compute everything; neither read nor write the cache")
    p.add_argument("--out", metavar="DIR",
                   help=f"where the tables and the plot go (default {default_out})")
    p.add_argument("--progress-interval", type=float, default=30.0, metavar="S",
                   help="seconds between progress lines while nothing finishes (default 30)")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def register(sub):
    p = sub.add_parser("sweep", help="explore codes and engines on Dask: plan, train, synth",
                       description=__doc__.split("\n\n")[1], epilog=HELP_EPILOG)
    p.add_argument("spec", nargs="?", type=Path, help="the spec (TOML, see docs/sweep.md)")
    add_axis_args(p)
    p.add_argument("--stages", metavar="S,...",
                   help="stages besides plan: plan,train,synth (default: the spec's, or plan)")
    add_setting_args(p)
    p.add_argument("--min-accuracy", metavar="X",
                   help="constraint: test accuracy at least X (0.95 or 95)")
    p.add_argument("--name", help="the sweep's name (default: the spec file's stem)")
    add_run_args(p, "build/sweep/<name>")
    p.add_argument("--dry-run", action="store_true",
                   help="list the points and what the cache lacks; start nothing")
    p.add_argument("--json", action="store_true",
                   help="print the summary and the records as one JSON object")
    p.set_defaults(func=run)


def cli_overrides(args) -> dict:
    """The options given, as a spec dict (strings, checked by ``build_spec``)."""
    raw = {"axes": {}, "sweep": {}, "train": {}, "synth": {}, "constraints": {}}
    for _, axis, _ in AXIS_OPTIONS:
        value = getattr(args, f"axis_{axis}", None)
        if value is not None:
            raw["axes"][axis] = value
    for table, key, attr in (("sweep", "stages", "stages"), ("sweep", "timeout", "timeout"),
                             ("train", "epochs", "epochs"), ("train", "batch_size", "batch_size"),
                             ("synth", "freq", "freq"),
                             ("constraints", "min_accuracy", "min_accuracy"),
                             ("constraints", "max_lut4", "max_lut4"),
                             ("constraints", "min_inferences_per_s", "min_inferences_per_s")):
        value = getattr(args, attr, None)
        if value is not None:
            raw[table][key] = value
    return {t: body for t, body in raw.items() if body}


def check_run_args(args, out_dir) -> tuple:
    """The cache and the output folder, both checked writable; the scheduler
    address and worker count checked. Called before any work."""
    from sst_hw.sweep.cache import Cache
    from sst_hw.sweep.cluster import check_address

    if args.workers is not None and not 1 <= args.workers <= 256:
        raise UserError(f"--workers must be in 1..256, not {args.workers}")
    if args.scheduler is not None:
        if args.workers is not None:
            raise UserError("--workers sizes a LocalCluster; with --scheduler the cluster "
                            "has the workers you started")
        check_address(args.scheduler)
    if not args.progress_interval > 0:
        raise UserError(f"--progress-interval must be positive, not {args.progress_interval}")
    out = check_writable_dir(out_dir, "--out")
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {str(out)!r} is a file; give a folder")
    if args.no_cache:
        return Cache(None), out
    cache_dir = check_writable_dir(args.cache_dir, "--cache-dir")
    if cache_dir.exists() and not cache_dir.is_dir():
        raise UserError(f"--cache-dir {str(cache_dir)!r} is a file; give a folder")
    return Cache(cache_dir), out


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _stop_on_sigterm():
    """Let SIGTERM stop a sweep like Ctrl-C (the cluster is shut down, the
    cache keeps what finished); the previous handler, or None off the main
    thread."""
    try:
        return signal.signal(signal.SIGTERM, _interrupt)
    except ValueError:           # not the main thread
        return None


def execute(spec, args, cache, out_dir, prep=None):
    """Prepare, run on the cluster, apply the constraints, write the tables;
    the :class:`~sst_hw.sweep.runner.SweepRun` and the paths written."""
    from sst_hw.sweep.cluster import dask_client
    from sst_hw.sweep.records import Store
    from sst_hw.sweep.results import apply_constraints, write_results
    from sst_hw.sweep.runner import needs_cluster, prepare, run_sweep

    prep = prep or prepare(spec, Store(cache))
    previous = _stop_on_sigterm()
    try:
        if not needs_cluster(prep, cache):      # everything cached: no cluster to start
            run = run_sweep(spec, None, cache, progress=not args.quiet, prep=prep)
        else:
            with dask_client(args.scheduler, args.workers) as client:
                run = run_sweep(spec, client, cache, progress=not args.quiet,
                                interval=args.progress_interval, prep=prep)
    except KeyboardInterrupt:
        where = f" (cache {cache.root})" if cache.enabled else ""
        print(f"sst-hw: interrupted; the points that finished are cached{where}: run the "
              f"same command again to resume", file=sys.stderr)
        raise SystemExit(130) from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    apply_constraints(run.records, spec.constraints)
    paths = write_results(run, out_dir)
    return run, paths


def run(args):
    from sst_hw.sweep.records import Store
    from sst_hw.sweep.runner import prepare
    from sst_hw.sweep.spec import build_spec, read_spec_file

    file_raw = read_spec_file(args.spec) if args.spec is not None else None
    spec = build_spec(file_raw, cli_overrides(args), path=args.spec, name=args.name)
    out_dir = Path(args.out or f"build/sweep/{spec.name}")
    cache, out_dir = check_run_args(args, out_dir)
    prep = prepare(spec, Store(cache))
    if args.dry_run:
        return _dry_run(prep, cache)
    run, paths = execute(spec, args, cache, out_dir, prep)
    if args.json:
        print(json.dumps({"summary": run.summary, "files": {k: str(v) for k, v in paths.items()},
                          "records": run.records}, default=str))
    else:
        from sst_hw.sweep.results import markdown_table
        print(markdown_table(run.records), end="")
        print(f"wrote {', '.join(str(p) for p in paths.values())}")
    return 0 if run.summary["ok"] else 1


def _dry_run(prep, cache) -> int:
    from sst_hw.sweep.records import Store
    from sst_hw.sweep.runner import missing_work

    store = Store(cache)
    for p in prep.points:
        if p["status"] == "invalid":
            print(f"{p['id']}  {p['label']}: invalid: {p['reason']}")
            continue
        need = missing_work(prep, store, p)
        what = [s for s in ("train", "synth") if need[s]]
        todo = ("compute " + ", ".join(["plan"] + what)) if need["point"] else "cached"
        print(f"{p['id']}  {p['label']}: {todo}")
    return 0
