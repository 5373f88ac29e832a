"""Constraints, Pareto fronts and the result tables of a sweep.

:func:`apply_constraints` marks each record ``feasible`` (status ok and
every bound of the spec met) and lists its ``violations``;
:func:`pareto_front` gives the points no other point beats on two figures;
:func:`write_results` writes ``results.json`` (spec, summary, every record),
``results.csv``, ``results.md`` and, when there are synthesis figures and
matplotlib is installed (the ``bench`` extra), ``pareto.png`` (:mod:`.plot`).
Files are written whole or not at all.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from sst_hw.sweep.cache import write_atomic
from sst_hw.sweep.records import RECORD_FIELDS

__all__ = ["apply_constraints", "pareto_front", "markdown_table", "csv_text",
           "write_results", "format_rate"]


def apply_constraints(records: list, constraints) -> list:
    """Set ``feasible`` and ``violations`` on every record (in place); returns them."""
    c = constraints
    for r in records:
        v = []
        if r["status"] == "ok":
            if c.min_accuracy is not None and (r.get("accuracy") is None
                                               or r["accuracy"] < c.min_accuracy):
                have = "unknown" if r.get("accuracy") is None else f"{r['accuracy']:.2%}"
                v.append(f"accuracy {have} < {c.min_accuracy:.2%}")
            if c.max_lut4 is not None and (r.get("lut4") is None or r["lut4"] > c.max_lut4):
                v.append(f"LUT4 {r.get('lut4')} > {c.max_lut4}")
            if c.min_inferences_per_s is not None and (
                    r.get("inferences_per_s") is None
                    or r["inferences_per_s"] < c.min_inferences_per_s):
                have = r.get("inferences_per_s")
                v.append(f"{format_rate(have)} inferences/s < "
                         f"{format_rate(c.min_inferences_per_s)}")
        r["violations"] = v
        r["feasible"] = r["status"] == "ok" and not v
    return records


def pareto_front(records: list, x: str = "lut4", y: str = "accuracy") -> list:
    """Records with both figures for which no other has ``x`` at most and ``y``
    at least, one of them strictly (``x`` smaller is better, ``y`` larger),
    sorted by ``x``."""
    pts = [r for r in records if r.get("status") == "ok" and r.get(x) is not None
           and r.get(y) is not None]
    front = [r for r in pts
             if not any(o[x] <= r[x] and o[y] >= r[y] and (o[x] < r[x] or o[y] > r[y])
                        for o in pts)]
    return sorted(front, key=lambda r: (r[x], -r[y]))


def format_rate(v) -> str:
    return "-" if v is None else f"{v:,.0f}"


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.2f}"


def _num(v, fmt="{}") -> str:
    return "-" if v is None else fmt.format(v)


def markdown_table(records: list) -> str:
    """The records as a Markdown table (accuracy in %, fmax in MHz)."""
    head = ["code", "PE", "SIMD", "device", "memory", "network", "status", "accuracy %",
            "cycles", "LUT4", "BRAM", "DSP", "fmax MHz", "inferences/s", "qualifies"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in records:
        if r["status"] == "ok":
            note = "yes" if r.get("feasible") else "no: " + "; ".join(r.get("violations", []))
        else:
            note = f"{r['status']} ({r.get('stage')}): {r.get('reason')}"
        note = note.replace("|", "/").replace("\n", " ")
        lines.append("| " + " | ".join([
            r["code"], str(r["pe"]), str(r["simd"]), r["device"], r["memory"],
            f"{Path(str(r['source'])).name} {r['sizes']}", r["status"], _pct(r.get("accuracy")),
            _num(r.get("cycles")), _num(r.get("lut4")), _num(r.get("bram")), _num(r.get("dsp")),
            _num(r.get("fmax_mhz"), "{:.1f}"), format_rate(r.get("inferences_per_s")),
            note]) + " |")
    return "\n".join(lines) + "\n"


def csv_text(records: list) -> str:
    fields = list(RECORD_FIELDS) + ["feasible", "violations"]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in records:
        w.writerow({**r, "violations": "; ".join(r.get("violations", []))})
    return buf.getvalue()


def write_results(run, out_dir, *, plot: bool = True) -> dict:
    """Write the tables (and plot) of ``run`` (a :class:`~.runner.SweepRun`,
    constraints applied) into ``out_dir``; the paths written, by kind."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fronts = {f"{x}-{y}": [r["id"] for r in pareto_front(run.records, x, y)]
              for x, y in (("lut4", "accuracy"), ("lut4", "inferences_per_s"))}
    doc = {"spec": run.spec.as_dict(), "summary": run.summary, "pareto": fronts,
           "records": run.records}
    paths = {"json": out / "results.json", "csv": out / "results.csv",
             "markdown": out / "results.md"}
    png = None
    if plot:
        from sst_hw.sweep.plot import pareto_plot
        try:
            png = pareto_plot(run.records, out / "pareto.png", title=run.spec.name)
        except ImportError:             # matplotlib is the `bench` extra: no plot without it
            png = None
    write_atomic(paths["json"], json.dumps(doc, indent=1, default=str).encode())
    write_atomic(paths["csv"], csv_text(run.records).encode())
    write_atomic(paths["markdown"], (f"# Sweep {run.spec.name}\n\n" + markdown_table(run.records)
                               ).encode())
    if png is not None:
        paths["png"] = png
    return paths
