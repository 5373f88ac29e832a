"""The reference sweep on 1 and on 2 Dask workers: the table and the speed-up.

Runs ``benchmarks/sweep_digits_up5k.toml`` (six codes x PE 2, 4, 8 on digits,
trained and placed and routed on the UP5K; ``--spec`` for another) once per
worker count in ``--workers`` (default 1 and 2), each on a fresh
``LocalCluster`` with the cache disabled, so every run computes everything.
Prints the Markdown table of the last run and the wall time of each, and
writes ``build/bench/sweep.json`` (the records of every run and the times)
with the tables under ``build/bench/sweep-<workers>w/``. Run:
``.venv/bin/python benchmarks/bench_sweep.py [--workers 1 2] [--spec FILE]``.
"""

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from sst_hw.sweep.cache import Cache  # noqa: E402
from sst_hw.sweep.cluster import dask_client  # noqa: E402
from sst_hw.sweep.results import apply_constraints, markdown_table, write_results  # noqa: E402
from sst_hw.sweep.runner import run_sweep  # noqa: E402
from sst_hw.sweep.spec import build_spec, read_spec_file  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--spec", type=Path, default=ROOT / "benchmarks/sweep_digits_up5k.toml")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("-o", "--output", type=Path, default=ROOT / "build/bench/sweep.json")
    args = ap.parse_args()
    spec = build_spec(read_spec_file(args.spec), path=args.spec)
    runs = []
    for n in args.workers:
        print(f"== {spec.name} on {n} worker(s), cache disabled", file=sys.stderr)
        t0 = time.monotonic()
        with dask_client(workers=n) as client:
            run = run_sweep(spec, client, Cache(None), interval=60)
        wall = time.monotonic() - t0
        apply_constraints(run.records, spec.constraints)
        write_results(run, args.output.parent / f"sweep-{n}w")
        runs.append({"workers": n, "wall_s": round(wall, 1), "summary": run.summary,
                     "records": run.records})
        print(f"== {n} worker(s): {wall:.1f} s wall", file=sys.stderr)
    print(markdown_table(runs[-1]["records"]))
    base = runs[0]["wall_s"]
    for r in runs:
        print(f"{r['workers']} worker(s): {r['wall_s']:.1f} s wall, speed-up "
              f"x{base / r['wall_s']:.2f} against {runs[0]['workers']}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"spec": spec.as_dict(), "runs": runs}, indent=1,
                                      default=str))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
