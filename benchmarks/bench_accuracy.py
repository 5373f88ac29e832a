"""Accuracy against bits per weight: float32, dense ternary and SST codes.

For each data set (``digits``: 64-128-10, ``fashion-mnist``: 784-1024-1024-10)
and seed, one float network is pre-trained (the trainer's float phase) and
then, for each code, copied, gradually pruned, fine-tuned with the
straight-through estimator and exported to the integer contract
(``sst_hw.train``). Digits rows are the mean of 5 seeds (its test set has 450
samples: one point is 4.5 images), Fashion-MNIST rows one seed (``--seeds``).

==============  ==========================================================
``float32``     the pre-trained float network itself (32-bit weights)
``ternary``     dense ternary: full (8,8), any ternary subvector, i.e. a
                per-row ternary threshold with no sparsity structure
                (13-bit codes, 1.625 bit/weight); no pruning phase, its
                epochs go to the ternary fine-tuning
``sst-4-1``     SST full (4,1)
``sst-8-2``     SST full (8,2)
``sst-16-2``    SST full (16,2)
``part-8-2``    SST partitioned (8,2)
==============  ==========================================================

Partitioned (8,2) (one non-zero in each half of 8) allows exactly the weights
of full (4,1) (one non-zero in each 4); the two train to the same network and
differ only in the code: 7 bits per 8 weights instead of 2 x 4.

Each row gives the test accuracy of the float network, of the coded network
in float arithmetic and of the integer golden model, and the whole-model
compression against fp32 (``sst_hw.format.compression``: codes plus per-row
multipliers and constants, first and last layers included). Writes
``accuracy.md``, ``accuracy.json`` and ``accuracy.png`` (integer accuracy
against whole-model bits per weight) under ``build/bench/``.

``--cnn up5k|vgg9|both`` instead trains the reference CNNs on Fashion-MNIST
(:mod:`sst_hw.train.reference`: the settings of the shipped ``models/``) and
tabulates float, SST float and integer accuracy, compression and training
time; ``--cnn both --shipped`` reports the shipped models without training
(integer accuracy re-measured from the files). Writes ``accuracy-cnn.md`` and
``.json``.

Run: ``.venv/bin/python benchmarks/bench_accuracy.py [--dataset digits|fashion-mnist|both]
[--quick] [--configs sst-8-2,...]``. ``--quick`` trains digits with fewer epochs and
Fashion-MNIST on 10000 training samples with a few epochs (a smoke test, minutes); the
full Fashion-MNIST run takes about an hour on two cores (measured: 61 min with
the machine partly busy; digits about 3 min). Timing depends on the load of
the machine: the JSON records the load average and the CPU time.
"""

import argparse
import copy
import json
import os
import resource
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from sst_hw.format.codebook import Codebook
from sst_hw.train.datasets import Dataset, load_dataset
from sst_hw.train.export import train_and_export
from sst_hw.train.mlp import Progress, Schedule, train

#: name -> (label, codebook or None for the float network)
CONFIGS = {
    "float32": ("float32", None),
    "ternary": ("dense ternary (8,8)", Codebook(8, 8)),
    "sst-4-1": ("SST full (4,1)", Codebook(4, 1)),
    "sst-8-2": ("SST full (8,2)", Codebook(8, 2)),
    "sst-16-2": ("SST full (16,2)", Codebook(16, 2)),
    "part-8-2": ("SST partitioned (8,2)", Codebook(8, 2, "partitioned")),
}
#: Network per data set.
SIZES = {"digits": [64, 128, 10], "fashion-mnist": [784, 1024, 1024, 10]}
#: Targets of the (8,2) row: integer within this many points of float, and
#: whole-model compression at least this (None = not required).
TARGETS = {"digits": (1.0, None), "fashion-mnist": (1.5, 29.0)}
QUICK_TRAIN_SAMPLES = 10000
#: Seeds averaged per data set by default: digits' test set has only 450
#: samples (one point is 4.5 images, about the spread between seeds).
SEEDS = {"digits": 5, "fashion-mnist": 1}


def schedule_for(data: Dataset, quick: bool) -> Schedule:
    s = Schedule.for_dataset(data)
    if quick:
        if data.name == "digits":
            return replace(s, epochs_float=10, epochs_prune=10, epochs_sst=12)
        return replace(s, epochs_float=3, epochs_prune=3, epochs_sst=4)
    return s


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run_seed(data: Dataset, sizes: list, sched: Schedule, configs: list, seed: int,
             progress: Progress) -> dict:
    """One float pre-training and every config fine-tuned from a copy of it."""
    t0, c0 = time.monotonic(), cpu_seconds()
    pre = train(data, sizes, Codebook(8, 2), schedule=sched, seed=seed, progress=progress,
                phases=("float",))
    pre_s, pre_cpu = time.monotonic() - t0, cpu_seconds() - c0
    float_acc = pre.accuracy["float"]
    progress.line(f"== seed {seed}: float pre-training: test {100 * float_acc:.2f} % "
                  f"({pre_s:.0f} s)")
    weights = sum(a * b for a, b in zip(sizes, sizes[1:]))
    biases = sum(sizes[1:-1])
    rows = []
    for key in configs:
        label, cb = CONFIGS[key]
        if cb is None:
            rows.append({
                "config": key, "label": label, "codebook": None, "bits_per_code": 32,
                "code_bits_per_weight": 32.0,
                "bits_per_weight": 32.0 * (weights + biases) / weights, "ratio": 1.0,
                "weight_ratio": 1.0, "float": float_acc, "prune": None, "sst": None,
                "integer": None, "agreement": None, "seconds": pre_s, "cpu_seconds": pre_cpu,
                "pipeline_seconds": pre_s})
            continue
        s = replace(sched, epochs_float=0)
        if cb.k >= cb.n:          # nothing to prune: those epochs go to ternary fine-tuning
            s = replace(s, epochs_prune=0, epochs_sst=sched.epochs_prune + sched.epochs_sst)
        progress.line(f"-- {label}: prune {s.epochs_prune}, sst {s.epochs_sst} epochs")
        t1, c1 = time.monotonic(), cpu_seconds()
        res = train_and_export(data, sizes, cb, schedule=s, seed=seed, progress=progress,
                               model=copy.deepcopy(pre.model))
        secs = time.monotonic() - t1
        acc, tot = res["accuracy"], res["compression"]["total"]
        rows.append({
            "config": key, "label": label, "codebook": cb.describe_short(),
            "bits_per_code": cb.bits, "code_bits_per_weight": cb.bits_per_weight,
            "bits_per_weight": tot["bits_per_weight"], "ratio": tot["ratio"],
            "weight_ratio": tot["weight_ratio"], "float": float_acc, "prune": acc["prune"],
            "sst": acc["sst"], "integer": acc["integer"], "agreement": acc["agreement"],
            "seconds": secs, "cpu_seconds": cpu_seconds() - c1,
            "pipeline_seconds": pre_s + secs, "history": res["train"].history})
        progress.line(f"-- {label}: float {100 * float_acc:.2f} %, SST {100 * acc['sst']:.2f} %, "
                      f"integer {100 * acc['integer']:.2f} %, x{tot['ratio']:.1f} "
                      f"({tot['bits_per_weight']:.3f} bit/weight), {secs:.0f} s")
    return {"seed": seed, "pretrain_seconds": pre_s, "pretrain_cpu_seconds": pre_cpu,
            "rows": rows}


def _mean(values):
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def aggregate(runs: list) -> list:
    """Rows averaged over the seeds; per-seed values kept in ``per_seed``."""
    rows = []
    for i, first in enumerate(runs[0]["rows"]):
        same = [run["rows"][i] for run in runs]
        row = {k: first[k] for k in ("config", "label", "codebook", "bits_per_code",
                                     "code_bits_per_weight")}
        for k in ("bits_per_weight", "ratio", "weight_ratio", "float", "prune", "sst",
                  "integer", "agreement", "seconds", "cpu_seconds", "pipeline_seconds"):
            row[k] = _mean(r[k] for r in same)
        if first["integer"] is not None:
            gaps = [100 * (r["integer"] - r["float"]) for r in same]
            row["gap_points"] = float(np.mean(gaps))
            row["gap_points_std"] = float(np.std(gaps))
            row["integer_std"] = float(np.std([r["integer"] for r in same]))
        row["per_seed"] = [{k: r[k] for k in ("float", "sst", "integer", "ratio", "seconds")}
                           for r in same]
        row["history"] = [r.get("history") for r in same]
        rows.append(row)
    return rows


def run_dataset(name: str, configs: list, args, progress: Progress) -> dict:
    data = load_dataset(name)
    if args.quick and len(data.x_train) > QUICK_TRAIN_SAMPLES:
        pick = np.random.default_rng(0).permutation(len(data.x_train))[:QUICK_TRAIN_SAMPLES]
        pick.sort()
        data = Dataset(f"{data.name} ({QUICK_TRAIN_SAMPLES} training samples)",
                       data.x_train[pick], data.y_train[pick], data.x_test, data.y_test,
                       data.classes)
    sizes = SIZES[name]
    sched = schedule_for(data, args.quick)
    if args.epochs:
        f, p, s = (int(v) for v in args.epochs.split(","))
        sched = replace(sched, epochs_float=f, epochs_prune=p, epochs_sst=s)
    if args.batch_size:
        sched = replace(sched, batch_size=args.batch_size)
    nseeds = args.seeds or SEEDS[name]
    seeds = list(range(args.seed, args.seed + nseeds))
    progress.line(f"== {data.describe()}\n== {'-'.join(map(str, sizes))}, epochs "
                  f"{sched.epochs_float}/{sched.epochs_prune}/{sched.epochs_sst}, batch "
                  f"{sched.batch_size}, seeds {seeds}")
    out = {"dataset": data.name, "sizes": sizes, "schedule": asdict(sched),
           "train_samples": int(len(data.x_train)), "test_samples": int(len(data.x_test)),
           "seeds": seeds, "load_start": os.getloadavg()}
    t0, c0 = time.monotonic(), cpu_seconds()
    runs = [run_seed(data, sizes, sched, configs, seed, progress) for seed in seeds]
    out["pretrain_seconds"] = _mean(r["pretrain_seconds"] for r in runs)
    out["rows"] = aggregate(runs)
    out["seconds"] = time.monotonic() - t0
    out["cpu_seconds"] = cpu_seconds() - c0
    out["load_end"] = os.getloadavg()
    points, ratio = TARGETS[name]
    for row in out["rows"]:
        if row["config"] == "sst-8-2":
            gap = -row["gap_points"]
            ok = gap <= points and (ratio is None or row["ratio"] >= ratio)
            out["target"] = {"max_points_below_float": points, "min_ratio": ratio,
                             "points_below_float": gap, "ratio": row["ratio"],
                             "pipeline_seconds": row["pipeline_seconds"], "met": bool(ok),
                             "seeds": len(seeds)}
    return out


def _pct(v):
    return "" if v is None else f"{100 * v:.2f}"


def markdown(results: list, quick: bool) -> str:
    lines = ["# Accuracy against bits per weight", ""]
    if quick:
        lines += ["*Quick run (`--quick`): fewer epochs, Fashion-MNIST on a training subset; "
                  "not the reference numbers.*", ""]
    lines += ["Test-set accuracy (%) of the float network, of the coded network in float "
              "arithmetic (SST float) and of the integer golden model; bits per weight and "
              "compression of the whole integer model (codes, per-row multipliers and "
              "constants, shifts; first and last layers included) against fp32 weights "
              "and biases.", ""]
    for r in results:
        s = r["schedule"]
        n = len(r["seeds"])
        avg = (f"Mean over {n} seeds ({r['seeds'][0]}..{r['seeds'][-1]}; each seed: its own "
               f"float pre-training and fine-tuning); ± is the standard deviation of "
               f"integer - float over the seeds. " if n > 1 else f"Seed {r['seeds'][0]}. ")
        lines += [f"## {r['dataset']}: {'-'.join(map(str, r['sizes']))}", "",
                  f"{r['train_samples']} training / {r['test_samples']} test samples; epochs "
                  f"float {s['epochs_float']}, prune {s['epochs_prune']}, sst "
                  f"{s['epochs_sst']}; batch {s['batch_size']}. {avg}Float pre-training "
                  f"{r['pretrain_seconds']:.0f} s, whole table {r['seconds']:.0f} s (CPU "
                  f"{r['cpu_seconds']:.0f} s; load average {r['load_start'][0]:.1f} at the "
                  f"start, {r['load_end'][0]:.1f} at the end on {os.cpu_count()} cores).", "",
                  "| code | bits/weight (codes) | bits/weight (model) | compression | "
                  "weights only | float | SST float | integer | integer - float | "
                  "agreement | time (s) |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for row in r["rows"]:
            gap = ""
            if row["integer"] is not None:
                gap = f"{row['gap_points']:+.2f}"
                if n > 1:
                    gap += f" ± {row['gap_points_std']:.2f}"
            lines.append(
                f"| {row['label']} | {row['code_bits_per_weight']:.3g} | "
                f"{row['bits_per_weight']:.3f} | x{row['ratio']:.1f} | "
                f"x{row['weight_ratio']:.1f} | {_pct(row['float'])} | {_pct(row['sst'])} | "
                f"{_pct(row['integer'])} | {gap} | {_pct(row['agreement'])} | "
                f"{row['seconds']:.0f} |")
        t = r.get("target")
        if t:
            need = f"integer at most {t['max_points_below_float']} points below float"
            if n > 1:
                need += f" (mean of {n} seeds)"
            if t["min_ratio"]:
                need += f", compression at least x{t['min_ratio']:.0f}"
            lines += ["", f"Target (SST (8,2)): {need}: **{'met' if t['met'] else 'NOT met'}** "
                          f"(integer - float {-t['points_below_float']:+.2f} points, "
                          f"x{t['ratio']:.1f}; float pre-training + (8,2) pruning, "
                          f"fine-tuning, export and evaluation: "
                          f"{t['pipeline_seconds'] / 60:.1f} min)."]
        lines.append("")
    return "\n".join(lines)


def plot(results: list, path: Path):
    """Integer accuracy against whole-model bits per weight, one panel per data set."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    markers = dict(zip(CONFIGS, "s^vo<D"))
    fig, axes = plt.subplots(1, len(results), figsize=(6.5 * len(results), 4.8), squeeze=False)
    for ax, r in zip(axes[0], results):
        fval = r["rows"][0]["float"] if r["rows"] else None
        for i, row in enumerate(r["rows"]):
            key = row["config"]
            y = row["float"] if row["integer"] is None else row["integer"]
            ax.plot(row["bits_per_weight"], 100 * y, markers[key], color=f"C{i}", ms=8,
                    label=f"{row['label']}: {100 * y:.2f} %")
        if fval is not None:
            ax.axhline(100 * fval, ls="--", color="grey", lw=1)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("bits per weight, whole integer model (log scale)")
        ax.set_ylabel("test accuracy (%): integer golden model; float32: float")
        ax.set_title(f"{r['dataset']} {'-'.join(map(str, r['sizes']))}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# -- the reference CNNs ----------------------------------------------------------------------

#: Targets of the reference CNNs: minimum integer accuracy, most points below
#: float (None = not required), minimum whole-model compression.
CNN_TARGETS = {"up5k": (0.905, None, None), "vgg9": (0.920, 1.0, 29.0)}


def cnn_row(ref, acc: dict, comp_total: dict, train_seconds: float, source: str) -> dict:
    need_acc, need_gap, need_ratio = CNN_TARGETS[ref.name]
    gap = 100 * (acc["float"] - acc["integer"])
    met = (acc["integer"] >= need_acc and (need_gap is None or gap <= need_gap)
           and (need_ratio is None or comp_total["ratio"] >= need_ratio))
    return {"network": ref.name, "title": ref.title, "arch": ref.arch, "source": source,
            "float": acc["float"], "sst": acc["sst"], "integer": acc["integer"],
            "points_below_float": gap, "ratio": comp_total["ratio"],
            "weight_ratio": comp_total["weight_ratio"],
            "bits_per_weight": comp_total["total_bits"] / comp_total["weights"],
            "weights": comp_total["weights"], "train_seconds": train_seconds,
            "target": {"min_integer": need_acc, "max_points_below_float": need_gap,
                       "min_ratio": need_ratio, "met": bool(met)}}


def run_cnn(ref, progress: Progress) -> dict:
    """Train ``ref`` with its reference command's settings (what ``models/`` holds)."""
    from sst_hw.train.cnn_export import train_and_export_cnn

    data = load_dataset("fashion-mnist")
    f, p, s = ref.epochs
    sched = Schedule(f, p, s, batch_size=ref.batch_size)
    progress.line(f"== {ref.title}: {ref.arch}, epochs {f}/{p}/{s}, batch {ref.batch_size}")
    res = train_and_export_cnn(data, ref.arch, Codebook(8, 2), schedule=sched, seed=0,
                               progress=progress, flip=ref.flip)
    return cnn_row(ref, res["accuracy"], res["compression"]["total"], res["train"].seconds,
                   "trained by this run")


def shipped_cnn(ref) -> dict:
    """The shipped model of ``ref``: integer accuracy re-measured from the file on the
    10000 test images; float and SST-float accuracy and training time as its training
    run recorded them (``meta``)."""
    from sst_hw.format import modelfile
    from sst_hw.format.compression import compression

    net = modelfile.load(ref.model)
    data = load_dataset("fashion-mnist")
    _, cls = net.forward(data.x_test)
    acc = dict(net.meta["test_accuracy"])
    acc["integer"] = float(np.mean(cls == data.y_test))
    return cnn_row(ref, acc, compression(net)["total"], net.meta["train_seconds"],
                   f"{ref.model} (integer re-measured; float, SST float, time from its meta)")


def cnn_markdown(rows: list) -> str:
    lines = ["# Reference CNNs on Fashion-MNIST (SST (8,2))", "",
             "| network | float | SST float | integer | integer - float | compression | "
             "bits/weight | weights | training time | target |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        t = r["target"]
        need = f">= {100 * t['min_integer']:.1f} %"
        if t["max_points_below_float"] is not None:
            need += f", within {t['max_points_below_float']:g} pt"
        if t["min_ratio"] is not None:
            need += f", >= x{t['min_ratio']:g}"
        lines.append(
            f"| {r['title']} | {_pct(r['float'])} | {_pct(r['sst'])} | {_pct(r['integer'])} | "
            f"{-r['points_below_float']:+.2f} | x{r['ratio']:.1f} | "
            f"{r['bits_per_weight']:.3f} | {r['weights']} | "
            f"{r['train_seconds'] / 60:.1f} min | {need}: "
            f"{'met' if t['met'] else 'NOT met'} |")
    lines += ["", "Sources: " + "; ".join(f"{r['network']}: {r['source']}" for r in rows), ""]
    return "\n".join(lines)


def main_cnn(args, progress: Progress) -> int:
    from sst_hw.train.reference import REFERENCE_CNNS

    names = list(REFERENCE_CNNS) if args.cnn == "both" else [args.cnn]
    outdir = Path(args.output_dir)
    outdir.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in names:
        ref = REFERENCE_CNNS[name]
        rows.append(shipped_cnn(ref) if args.shipped else run_cnn(ref, progress))
        (outdir / "accuracy-cnn.json").write_text(json.dumps({"rows": rows}, indent=1))
        (outdir / "accuracy-cnn.md").write_text(cnn_markdown(rows))
    print(cnn_markdown(rows))
    print(f"wrote {outdir / 'accuracy-cnn'}.md, .json")
    return 0 if all(r["target"]["met"] for r in rows) else 1


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cnn", choices=("up5k", "vgg9", "both"),
                    help="the reference CNNs instead of the MLP table: train them with the "
                         "settings of their shipped models (about 20 and 55 minutes)")
    ap.add_argument("--shipped", action="store_true",
                    help="with --cnn: report the shipped models/ instead of training")
    ap.add_argument("--dataset", choices=("digits", "fashion-mnist", "both"), default="both")
    ap.add_argument("--quick", action="store_true",
                    help="fewer epochs, Fashion-MNIST on 10000 training samples")
    ap.add_argument("--configs", default=",".join(CONFIGS),
                    help=f"comma-separated rows (default all: {','.join(CONFIGS)})")
    ap.add_argument("--epochs", metavar="F,P,S", help="override the epochs of every data set")
    ap.add_argument("--batch-size", type=int)
    ap.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    ap.add_argument("--seeds", type=int,
                    help="seeds to average (default 5 for digits, 1 for fashion-mnist)")
    ap.add_argument("-o", "--output-dir", default="build/bench")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    if args.shipped and not args.cnn:
        ap.error("--shipped needs --cnn")
    if args.cnn:
        return main_cnn(args, Progress(not args.quiet))
    configs = [c for c in args.configs.split(",") if c]
    bad = [c for c in configs if c not in CONFIGS]
    if bad or not configs:
        ap.error(f"unknown config(s) {', '.join(bad) or '(none)'}; choose from "
                 f"{', '.join(CONFIGS)}")
    names = ["digits", "fashion-mnist"] if args.dataset == "both" else [args.dataset]
    progress = Progress(not args.quiet)
    outdir = Path(args.output_dir)
    outdir.mkdir(parents=True, exist_ok=True)
    results = []
    for name in names:
        results.append(run_dataset(name, configs, args, progress))
        # Write after every data set, so a long run leaves its finished part behind.
        stem = "accuracy-quick" if args.quick else "accuracy"
        (outdir / f"{stem}.json").write_text(json.dumps(
            {"quick": args.quick, "configs": configs, "seed": args.seed, "results": results},
            indent=1))
        (outdir / f"{stem}.md").write_text(markdown(results, args.quick))
        plot(results, outdir / f"{stem}.png")
    print(markdown(results, args.quick))
    print(f"wrote {outdir / stem}.md, .json, .png")
    met = [r["target"]["met"] for r in results if "target" in r]
    return 0 if all(met) else 1


if __name__ == "__main__":
    sys.exit(main())
