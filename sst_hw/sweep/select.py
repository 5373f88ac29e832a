"""The choice of ``sst-hw autotune``: among the points that meet every
constraint, the most inferences per second (``throughput``) or the fewest
LUT4 (``luts``), with the reasons and the runners-up.

Ties on the objective go to the other figure (fewer LUT4, or more
inferences/s), then to the higher accuracy, then to the point listed first.
"""

from __future__ import annotations

from sst_hw.sweep.results import format_rate

__all__ = ["OBJECTIVES", "rank", "describe_point", "explain"]

#: objective -> (figure, what the choice maximises or minimises, in words)
OBJECTIVES = {
    "throughput": ("inferences_per_s", "the most inferences/s"),
    "luts": ("lut4", "the fewest LUT4"),
}


def rank(records: list, objective: str) -> list:
    """The feasible records with the objective's figure, best first."""
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, not {objective!r}")
    pts = [(i, r) for i, r in enumerate(records) if r.get("feasible")
           and r.get("lut4") is not None and r.get("inferences_per_s") is not None]

    def score(item):
        i, r = item
        acc = -(r.get("accuracy") or 0.0)
        if objective == "throughput":
            return (-r["inferences_per_s"], r["lut4"], acc, i)
        return (r["lut4"], -r["inferences_per_s"], acc, i)
    return [r for _, r in sorted(pts, key=score)]


def describe_point(r: dict) -> str:
    acc = "" if r.get("accuracy") is None else f"accuracy {100 * r['accuracy']:.2f} %, "
    return (f"{r['code']} PE {r['pe']} SIMD {r['simd']} on {r['device']} ({r['memory']}, "
            f"{r['sizes']}): {acc}{r['lut4']} LUT4, {r.get('bram')} BRAM, "
            f"{r['fmax_mhz']:.1f} MHz x {r['cycles']} cycles = "
            f"{format_rate(r['inferences_per_s'])} inferences/s")


def _why_not(records: list) -> str:
    counts: dict = {}
    for r in records:
        if r.get("feasible"):
            continue
        if r["status"] != "ok":
            what = f"{r['status']} at {r.get('stage')}"
        else:
            what = "; ".join(v.split(" ")[0] for v in r.get("violations", [])) or "no figures"
            what = f"missed the {what} bound"
        counts[what] = counts.get(what, 0) + 1
    return ", ".join(f"{n} {what}" for what, n in sorted(counts.items(), key=lambda kv: -kv[1]))


def explain(records: list, objective: str, constraints, runners_up: int = 3) -> tuple:
    """``(chosen record or None, runners-up, lines of text)``."""
    ranked = rank(records, objective)
    figure, words = OBJECTIVES[objective]
    bounds = []
    if constraints.min_accuracy is not None:
        bounds.append(f"accuracy >= {100 * constraints.min_accuracy:.2f} %")
    if constraints.max_lut4 is not None:
        bounds.append(f"LUT4 <= {constraints.max_lut4}")
    if constraints.min_inferences_per_s is not None:
        bounds.append(f"inferences/s >= {format_rate(constraints.min_inferences_per_s)}")
    rule = " and ".join(bounds) or "no constraint"
    others = _why_not(records)
    tail = f"; the other {len(records) - len(ranked)}: {others}" if others else ""
    if not ranked:
        return None, [], [f"no point meets {rule} ({len(records)} points{tail})"]
    best = ranked[0]
    lines = [f"chosen: {describe_point(best)}",
             f"why: {words} of the {len(ranked)} points that meet {rule} "
             f"(of {len(records)} points{tail})"]
    rest = ranked[1:1 + runners_up]
    for i, r in enumerate(rest, 1):
        if objective == "throughput":
            d = r["inferences_per_s"] / best["inferences_per_s"] - 1
            diff = f"{d:+.1%} inferences/s, {r['lut4'] - best['lut4']:+d} LUT4"
        else:
            d = r["lut4"] - best["lut4"]
            diff = (f"{d:+d} LUT4, "
                    f"{r['inferences_per_s'] / best['inferences_per_s'] - 1:+.1%} inferences/s")
        lines.append(f"runner-up {i}: {describe_point(r)} ({diff})")
    if not rest:
        lines.append("runner-up: none (no other point qualifies)")
    return best, rest, lines
