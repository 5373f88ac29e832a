"""Side by side: the SST (8,2) engine against dense int8 and dense ternary engines.

All three come from the same generator and have the same stream interface
(:class:`~sst_hw.rtl.engine.SSTEngine`,
:class:`~sst_hw.rtl.dense_engine.DenseIntEngine`,
:class:`~sst_hw.rtl.dense_engine.DenseTernaryEngine`): 8 weights per code
word, 8-bit unsigned activations, rows up to 1024 weights. Every figure comes
from Yosys + nextpnr (YoWASP) in the out-of-context harness.

**Same size.** For each device (default iCE40 UP5K and ECP5 85F), each engine
with the same PE and SIMD (default 2 x 1): core LUT4 and FF (harness
subtracted), block RAM, DSP, routed fmax; weights consumed per cycle
(PE x SIMD x 8) and per second at fmax; weights per second per 1000 LUT4
(with the DSPs used shown beside it: an int8 MAC in a DSP costs few LUTs);
on-chip weight capacity, (block RAM + SPRAM bits) / bits per weight.

**Best fit.** For each device and kind, the largest engine that fits: for
each SIMD in ``--fit-simd``, two small probes give a linear model of the
totals (logic cells on iCE40, placed; LUT4 and FF on ECP5, from Yosys alone)
against PE; the largest PE predicted to fill at most ``--fill`` of the device
(default 85 % on iCE40, 60 % on ECP5: see ``FILL``) is placed and routed, and
stepped down by 10 % until it fits and routes. int8 engines put a multiplier
in every DSP and the rest in LUTs, and stop growing where they would outrun
the memory feed. Reported: the engine's weights per second
at its fmax, and what the memory can feed: at most ``memory_read_bits /
bits_per_weight`` weights per cycle (every block RAM, and SPRAM, read at full
width each cycle: :attr:`sst_hw.synth.devices.Device.memory_read_bits`), so
**delivered** = min(engine, memory) x fmax. For SST two ceilings at the best
fit's fmax: memory-bound (memory bits per cycle / bits per weight) and
logic-bound (LUT4 of the device / marginal LUT4 of one lane x 8 weights); the
best fit is reported as a fraction of the lower one.

Writes ``build/bench/vs_dense.json``, ``vs_dense.md`` (the tables) and
``vs_dense.png`` (bar charts). Builds go under ``build/bench/vs_dense/``;
``--reuse`` takes a build's saved figures instead of running it again (same
core, device, seed and target). Run:
``.venv/bin/python benchmarks/bench_vs_dense.py [--devices up5k ecp5-85f]
[--pe 4] [--simd 1] [--fit-simd ...] [--no-fit] [--reuse]``.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synth_common import BENCH_DIR, fmt, load_average, synth_row, write_json  # noqa: E402

from sst_hw.format.dense import WeightFormat
from sst_hw.plan.engine import DenseIntParams, DenseTernaryParams, SSTParams
from sst_hw.synth.devices import get_device

N = 8
KINDS = ("sst-8-2", "ternary", "int8")
LABELS = {"sst-8-2": "SST (8,2)", "ternary": "dense ternary", "int8": "dense int8"}
#: SIMD values of the best-fit sweep. On iCE40 a flip-flop without a LUT in
#: front still takes a logic cell, so sharing accumulators (SIMD 4) and not
#: (SIMD 1) fit differently; on ECP5 flip-flops have their own sites, and one
#: SIMD keeps the large place-and-route runs (tens of thousands of LUT4)
#: within the time of one benchmark run.
FIT_SIMD = {"ice40": (1, 4), "ecp5": (4,)}
#: Default ``--fill`` per family. On ECP5 85F an engine filling 85 % of the
#: LUT4 (SST 99 PE x 4 SIMD) was still congested after more than an hour of
#: nextpnr on a 2-core machine (router1 stalled, then router2 at over 4
#: minutes per iteration); at 60 % each kind took 20 to 40 minutes. Every
#: kind gets the same fill, and the int8 engine's DSPs are a larger share of
#: a smaller engine, so a lower fill can only flatter int8.
FILL = {"ice40": 0.85, "ecp5": 0.60}
#: Families whose probes are synthesized only: the linear model needs LUT4
#: and FF totals, which Yosys gives; placing an ECP5 int8 probe with 156
#: DSPs took 25 minutes.
SYNTH_ONLY_PROBES = {"ecp5"}
#: Targets of the issue: best-fit SST against best-fit int8.
TARGET_SPEEDUP, TARGET_CAPACITY = 4.0, 8.0


def make_core(kind: str, device, pe: int, simd: int, args):
    """The parameters of one engine of ``kind`` with PE x SIMD lanes of 8
    weights (the engine itself is built only if it is synthesized)."""
    common = dict(pe=pe, simd=simd, act_width=args.act_width, max_row_len=args.max_row_len)
    if kind == "sst-8-2":
        return SSTParams(8, 2, "full", args.assignment, **common)
    if kind == "ternary":
        return DenseTernaryParams(N, **common)
    if kind == "int8":
        return DenseIntParams(N, dsp_mults=min(device.dsp, pe * simd * N), **common)
    raise ValueError(kind)


def run(kind, device, pe, simd, args, tag, place_and_route=True) -> dict:
    """Synthesize one engine; the row with the derived figures."""
    core = make_core(kind, device, pe, simd, args)
    bpw = core.code_bits / core.n
    # nextpnr-ecp5's default router (router1) stalls on the large best-fit
    # engines (an int8 engine of 48,600 LUT4 still had 184,500 of its arcs to
    # route after 5000 iterations); router2 routed the 40,000-50,000-LUT4 fits
    # in 4 to 16 minutes.
    big = device.family == "ecp5" and pe * simd > 16
    row = synth_row(core, device.name, BENCH_DIR / "vs_dense" / f"{device.name}-{kind}-{tag}",
                    seed=args.seed, reuse=args.reuse,
                    reuse_only=args.saved_only and tag.startswith("fit"),
                    nextpnr_args=("--router", "router2") if big else (),
                    place_and_route=place_and_route)
    wpc = pe * simd * core.n
    capacity = (device.bram_total_bits + device.spram_total_bits) / bpw
    row.update(kind=kind, pe=pe, simd=simd, lanes=pe * simd, bits_per_weight=bpw,
               dsp_mults=getattr(core, "dsp_mults", 0), weights_per_cycle=wpc,
               memory_weights_per_cycle=device.memory_read_bits / bpw,
               capacity_weights=capacity)
    if row.get("fmax_mhz"):
        f = row["fmax_mhz"] * 1e6
        row["weights_per_s"] = wpc * f
        row["delivered_weights_per_s"] = min(wpc, row["memory_weights_per_cycle"]) * f
        row["weights_per_s_per_klut"] = row["weights_per_s"] / max(row["lut4"], 1) * 1000
    return row


def ok(row) -> bool:
    return "error" not in row and row.get("fits") and bool(row.get("fmax_mhz"))


def limits(device) -> dict:
    """Totals to fit, per resource key of a row (including the harness)."""
    if device.family == "ice40":
        return {"logic_cells_total": device.lut4}
    return {"lut4_total": device.lut4, "ff_total": device.ff}


def probe_pes(kind, device, simd) -> tuple[int, int]:
    """Two small PE counts for the linear model; for int8, both past the
    point where every DSP holds a multiplier (the model is linear from there)."""
    if kind == "int8" and device.dsp:
        first = max(1, math.ceil(device.dsp / (N * simd)))
        return first, 2 * first
    return (2, 8) if simd == 1 else (1, 4)


def memory_cap_pe(kind, device, simd) -> int | None:
    """For int8, the largest PE the memory feed keeps busy (a larger engine
    gains nothing); None for the other kinds, whose fits stay far below it."""
    if kind != "int8":
        return None
    bits = WeightFormat("int8", N).bits_per_weight
    return max(1, math.floor(device.memory_read_bits / bits / (N * simd)))


def predict_pe(rows, device, fill) -> int:
    """Largest PE whose linear-model totals stay within ``fill`` of the device."""
    (a, b) = sorted(rows, key=lambda r: r["pe"])
    best = None
    for key, avail in limits(device).items():
        slope = (b[key] - a[key]) / (b["pe"] - a["pe"])
        base = a[key] - slope * a["pe"]
        if slope <= 0:
            continue
        pe = math.floor((fill * avail - base) / slope)
        best = pe if best is None else min(best, pe)
    return max(best or b["pe"], 1)


def best_fit(kind, device, args, log) -> dict:
    """The largest engine of ``kind`` that fits ``device`` (see the module docstring)."""
    candidates, probes, predicted = [], [], {}
    fill = args.fill or FILL[device.family]
    pnr = device.family not in SYNTH_ONLY_PROBES
    for simd in args.fit_simd or FIT_SIMD[device.family]:
        pts = []
        for pe in probe_pes(kind, device, simd):
            r = run(kind, device, pe, simd, args,
                    f"fit-pe{pe}-simd{simd}" if pnr else f"probe-pe{pe}-simd{simd}",
                    place_and_route=pnr)
            probes.append(r)
            log(r, "probe")
            if ok(r) or (not pnr and "error" not in r):
                pts.append(r)
        if len(pts) < 2:
            continue
        pe = predict_pe(pts, device, fill)
        cap = memory_cap_pe(kind, device, simd)
        if cap is not None and cap < pe:
            pe = cap
        predicted[simd] = pe
        for _ in range(args.fit_tries):
            if pnr and pe <= max(p["pe"] for p in pts):
                candidates.append(max(pts, key=lambda p: p["pe"]))
                break
            r = run(kind, device, pe, simd, args, f"fit-pe{pe}-simd{simd}")
            log(r, "fit")
            if ok(r):
                candidates.append(r)
                break
            probes.append(r)
            pe = math.floor(pe * 0.9)
    if not candidates:
        # Saved fits of other sizes (e.g. from a run with a smaller --fill).
        for simd in args.fit_simd or FIT_SIMD[device.family]:
            pattern = f"{device.name}-{kind}-fit-pe*-simd{simd}"
            for d in sorted((BENCH_DIR / "vs_dense").glob(pattern)):
                pe = int(d.name.rsplit("-pe", 1)[1].split("-")[0])
                if (d / "row.json").is_file() and pe not in {p["pe"] for p in probes
                                                            if p["simd"] == simd}:
                    saved = argparse.Namespace(**{**vars(args), "saved_only": True})
                    probes.append(run(kind, device, pe, simd, saved, d.name.split(
                        f"{device.name}-{kind}-", 1)[1]))
        measured = [p for p in probes if ok(p)]
        if not measured:
            return {"kind": kind, "device": device.name, "error": "no configuration fitted",
                    "probes": probes}
        # The predicted fits were not run (--saved-only) or failed: the largest
        # measured engine, marked partial: a lower bound of the best fit.
        best = max(measured, key=lambda r: r["delivered_weights_per_s"])
        return {**best, "partial": True, "predicted_pe": predicted, "candidates": [],
                "probes": probes}
    best = max(candidates, key=lambda r: r["delivered_weights_per_s"])
    return {**best, "candidates": candidates, "probes": probes}


def ceilings(best: dict, device) -> dict:
    """Memory- and logic-bound weights per second of SST at the best fit's fmax."""
    probes = [p for p in best["probes"]
              if "error" not in p and p.get("lut4") and p["simd"] == best["simd"]]
    f = best["fmax_mhz"] * 1e6
    out = {"memory_bound_weights_per_s": device.memory_read_bits / best["bits_per_weight"] * f}
    if len(probes) >= 2:
        a, b = sorted(probes, key=lambda r: r["lanes"])[:2]
        lane = (b["lut4"] - a["lut4"]) / (b["lanes"] - a["lanes"])
        out["lane_lut4"] = lane
        out["logic_bound_weights_per_s"] = device.lut4 / lane * N * f
    low = min(v for k, v in out.items() if k.endswith("_per_s"))
    out["lower_ceiling_weights_per_s"] = low
    out["fraction_of_lower_ceiling"] = best["delivered_weights_per_s"] / low
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", nargs="+", default=["up5k", "ecp5-85f"])
    ap.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    ap.add_argument("--pe", type=int, default=2,
                    help="PE of the same-size comparison (default 2: the largest at which "
                         "the int8 engine still places on the UP5K)")
    ap.add_argument("--simd", type=int, default=1, help="SIMD of the same-size comparison")
    ap.add_argument("--assignment", default="direct", choices=["direct", "enum"],
                    help="SST code assignment (direct: no decode ROM in block RAM)")
    ap.add_argument("--act-width", type=int, default=8)
    ap.add_argument("--max-row-len", type=int, default=1024)
    ap.add_argument("--no-fit", dest="fit", action="store_false", help="skip the best fit")
    ap.add_argument("--fit-simd", nargs="+", type=int, default=None,
                    help="SIMD values of the best-fit sweep (default: 1 4 on iCE40, 4 on "
                         "ECP5)")
    ap.add_argument("--fill", type=float, default=None,
                    help="fraction of the device the best-fit prediction aims at (default "
                         + ", ".join(f"{v:g} on {k}" for k, v in FILL.items()) + ")")
    ap.add_argument("--fit-tries", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1, help="nextpnr placer seed")
    ap.add_argument("--reuse", action="store_true",
                    help="reuse the saved figures of identical earlier builds")
    ap.add_argument("--saved-only", action="store_true",
                    help="best fit from saved builds only: a probe or fit without one is "
                         "reported as not run (for tables from runs made piecewise)")
    ap.add_argument("-o", "--output", type=Path, default=BENCH_DIR / "vs_dense.json")
    args = ap.parse_args(argv)

    results = {"n": N, "act_width": args.act_width, "max_row_len": args.max_row_len,
               "assignment": args.assignment, "pe": args.pe, "simd": args.simd,
               "fill": {d: args.fill or FILL[get_device(d).family] for d in args.devices},
               "load_average_start": load_average(),
               "same_size": [], "best_fit": [], "summary": []}

    def log(r, what):
        if "error" not in r and r.get("fmax_mhz") is None and r.get("lut4"):
            print(f"  {what:>5} {r['device']:>9} {r['kind']:>8} PE {r['pe']:>3} SIMD "
                  f"{r['simd']}: LUT4 {r['lut4_total']:>6} FF {r['ff_total']:>6} in total, "
                  f"Yosys only ({r['runtime_s']:.0f} s)", flush=True)
            return
        if not ok(r):
            print(f"  {what:>5} {r['device']:>9} {r['kind']:>8} PE {r['pe']:>3} SIMD "
                  f"{r['simd']}: {r.get('error') or 'does not fit'}", flush=True)
            return
        print(f"  {what:>5} {r['device']:>9} {r['kind']:>8} PE {r['pe']:>3} SIMD {r['simd']}: "
              f"LUT4 {r['lut4']:>6} FF {r['ff']:>6} BRAM {r['bram']:>3} DSP {r['dsp']:>3} "
              f"{r['fmax_mhz']:6.1f} MHz {r['weights_per_s'] / 1e9:7.2f} Gw/s "
              f"({r['runtime_s']:.0f} s)", flush=True)

    for name in args.devices:
        device = get_device(name)
        for kind in args.kinds:
            r = run(kind, device, args.pe, args.simd, args, f"pe{args.pe}-simd{args.simd}")
            log(r, "same")
            results["same_size"].append(r)
        write_json(args.output, results)
    if args.fit:
        for name in args.devices:
            device = get_device(name)
            fits = {}
            for kind in args.kinds:
                fits[kind] = best_fit(kind, device, args, log)
                if kind == "sst-8-2" and ok(fits[kind]):
                    fits[kind]["ceilings"] = ceilings(fits[kind], device)
                results["best_fit"].append(fits[kind])
                write_json(args.output, results)
            results["summary"].append(summarize(device, fits, results["same_size"]))
            write_json(args.output, results)
    results["load_average_end"] = load_average()
    md = markdown(results)
    print("\n" + md)
    write_json(args.output, results)
    args.output.with_suffix(".md").write_text(md)
    chart(results, args.output.with_suffix(".png"))
    print(f"wrote {args.output}, {args.output.with_suffix('.md')}, "
          f"{args.output.with_suffix('.png')}")


def summarize(device, fits, others=()) -> dict:
    """SST against int8 at best fit: the two target ratios.

    Without an int8 best fit (not run), SST is set against an upper bound of
    any int8 engine on the device: the memory feed (memory bits per cycle /
    8) at the highest fmax any int8 engine reached there (``others``: the
    same-size rows too), which no larger int8 engine can beat."""
    s, i = fits.get("sst-8-2", {}), fits.get("int8", {})
    out = {"device": device.name}
    if not ok(s):
        return out
    int8_rows = [r for r in [i, *i.get("probes", []), *others]
                 if ok(r) and r.get("kind") == "int8" and r["device"] == device.name]
    if int8_rows:   # capacity depends on the formats, not on the engines' sizes
        out["capacity_ratio"] = s["capacity_weights"] / int8_rows[0]["capacity_weights"]
        out["meets_capacity"] = out["capacity_ratio"] >= TARGET_CAPACITY
    if s.get("partial"):
        return out
    if ok(i) and not i.get("partial"):
        out["speedup_delivered"] = s["delivered_weights_per_s"] / i["delivered_weights_per_s"]
        out["speedup_engine"] = s["weights_per_s"] / i["weights_per_s"]
        out["capacity_ratio"] = s["capacity_weights"] / i["capacity_weights"]
        # A fairer int8: its best fit at the highest fmax any int8 engine
        # reached on the device (large engines lose clock to DSP placement).
        fmax = max(r["fmax_mhz"] for r in int8_rows) * 1e6
        fast = min(i["weights_per_cycle"], i["memory_weights_per_cycle"]) * fmax
        out["int8_at_best_fmax_weights_per_s"] = fast
        out["speedup_vs_int8_at_best_fmax"] = s["delivered_weights_per_s"] / fast
    else:
        measured = [r for r in [*i.get("probes", []), *others]
                    if ok(r) and r["kind"] == "int8" and r["device"] == device.name]
        if measured:
            fmax = max(r["fmax_mhz"] for r in measured) * 1e6
            bound = measured[0]["memory_weights_per_cycle"] * fmax
            out["int8_bound_weights_per_s"] = bound
            out["int8_best_measured_weights_per_s"] = max(r["weights_per_s"] for r in measured)
            out["speedup_vs_int8_bound"] = s["delivered_weights_per_s"] / bound
            out["speedup_delivered"] = out["speedup_vs_int8_bound"]   # a lower bound
            out["capacity_ratio"] = s["capacity_weights"] / measured[0]["capacity_weights"]
    if "speedup_delivered" in out:
        out["meets_speedup"] = out["speedup_delivered"] >= TARGET_SPEEDUP
        out["meets_capacity"] = out["capacity_ratio"] >= TARGET_CAPACITY
    return out


def _g(x, scale=1e9, spec=".2f"):
    return "-" if x is None else format(x / scale, spec)


def markdown(results) -> str:
    lines = [f"Same size: PE {results['pe']} x SIMD {results['simd']}, 8 weights per lane, "
             f"A = {results['act_width']} bits unsigned, rows <= {results['max_row_len']}.", "",
             "| device | engine | LUT4 | FF | BRAM | DSP | fmax MHz | weights/cycle | "
             "G weights/s | G weights/s per 1000 LUT4 | bits/weight | on-chip capacity "
             "(M weights) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results["same_size"]:
        if not ok(r):
            lines.append(f"| {r['device']} | {LABELS[r['kind']]} | failed: "
                         f"{r.get('error', 'does not fit')} |||||||||| ")
            continue
        lines.append(
            f"| {r['device']} | {LABELS[r['kind']]} | {r['lut4']} | {r['ff']} | {r['bram']} | "
            f"{r['dsp']} | {r['fmax_mhz']:.1f} | {r['weights_per_cycle']} | "
            f"{_g(r['weights_per_s'])} | {_g(r['weights_per_s_per_klut'])} | "
            f"{r['bits_per_weight']:g} | {r['capacity_weights'] / 1e6:.2f} |")
    if results["best_fit"]:
        fills = results.get("fill") or {}
        within = ", ".join(f"{d} {f:.0%}" for d, f in fills.items()) \
            if isinstance(fills, dict) else ""
        lines += ["", "Best fit (largest engine that places and routes within the fill "
                  f"aimed at: {within} of the device; delivered = "
                  "min(engine, memory feed) x fmax):", "",
                  "| device | engine | PE x SIMD | LUT4 | FF | DSP | fmax MHz | "
                  "engine G weights/s | memory feed weights/cycle | delivered G weights/s |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for r in results["best_fit"]:
            if not ok(r):
                lines.append(f"| {r['device']} | {LABELS[r['kind']]} | {r.get('error')} "
                             f"||||||||")
                continue
            note = ""
            if r.get("partial"):
                pred = ", ".join(f"PE {p} x {q}" for q, p in r["predicted_pe"].items())
                note = (f" (largest measured; predicted best fit {pred} not placed)" if pred
                        else " (largest measured; best fit not placed)")
            lines.append(
                f"| {r['device']} | {LABELS[r['kind']]} | {r['pe']} x {r['simd']}{note} | "
                f"{r['lut4']} | {r['ff']} | {r['dsp']} | {r['fmax_mhz']:.1f} | "
                f"{_g(r['weights_per_s'])} | {r['memory_weights_per_cycle']:.0f} | "
                f"{_g(r['delivered_weights_per_s'])} |")
        lines += ["", "SST / int8 marked * is against the int8 upper bound (memory feed at the "
                  "best int8 fmax measured on that device), where the int8 best fit was not "
                  "placed and routed. *At int8's best fmax*: against the int8 best fit "
                  "clocked at the highest fmax any int8 engine reached on that device.", "",
                  "| device | SST / int8 delivered | SST / int8 engine | SST / int8 at int8's "
                  "best fmax | capacity ratio | "
                  "SST memory-bound | SST logic-bound (LUT4/lane) | best fit / lower ceiling |",
                  "|---|---|---|---|---|---|---|---|"]
        for s in results["summary"]:
            sst = next((r for r in results["best_fit"] if r["device"] == s["device"]
                        and r["kind"] == "sst-8-2" and ok(r)), None)
            c = (sst or {}).get("ceilings", {})
            lines.append(
                f"| {s['device']} | {fmt(s.get('speedup_delivered'), '.2f')}x"
                f"{'*' if 'speedup_vs_int8_bound' in s else ''} | "
                f"{fmt(s.get('speedup_engine'), '.2f')}x | "
                f"{fmt(s.get('speedup_vs_int8_at_best_fmax'), '.2f')}x | "
                f"{fmt(s.get('capacity_ratio'), '.1f')}x | "
                f"{_g(c.get('memory_bound_weights_per_s'))} G/s | "
                f"{_g(c.get('logic_bound_weights_per_s'))} G/s ({fmt(c.get('lane_lut4'), '.0f')}) | "
                f"{fmt(c.get('fraction_of_lower_ceiling'), '.0%')} |")
    return "\n".join(lines) + "\n"


def chart(results, path: Path):
    """Bar charts: weights/s, weights/s per 1000 LUT4 and capacity, per device and kind."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in results["same_size"] if ok(r)]
    fits = [r for r in results["best_fit"] if ok(r)]
    panels = [("same size: G weights/s", rows, "weights_per_s", 1e9),
              ("same size: G weights/s per 1000 LUT4", rows, "weights_per_s_per_klut", 1e9),
              ("on-chip capacity, M weights", rows, "capacity_weights", 1e6)]
    if fits:
        panels.append(("best fit (or largest measured): delivered G weights/s", fits,
                       "delivered_weights_per_s", 1e9))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6))
    devices = list(dict.fromkeys(r["device"] for r in rows + fits))
    for ax, (title, data, key, scale) in zip(axes, panels):
        width = 0.8 / len(KINDS)
        for k, kind in enumerate(KINDS):
            vals = [next((r[key] / scale for r in data if r["device"] == d and r["kind"] == kind),
                         0) for d in devices]
            ax.bar([i + k * width for i in range(len(devices))], vals, width,
                   label=LABELS[kind])
        ax.set_xticks([i + width for i in range(len(devices))], devices)
        ax.set_title(title, fontsize=9)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
