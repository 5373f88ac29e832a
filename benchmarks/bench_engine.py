"""LUT4 per lane and fmax of the SST engine: (8,2) ``enum`` against ``direct``, PE 1/4/8.

For each device (default iCE40 UP5K and ECP5 85F), each assignment and each
PE count, one :class:`~sst_hw.rtl.engine.SSTEngine` (SIMD 1, 8-bit unsigned
activations, rows up to 1024 weights: 17-bit accumulators, default pipeline)
is synthesized, placed and routed in the out-of-context harness. Reported:

* core LUT4 and FF (harness subtracted), block RAM, DSP, routed fmax (the
  ``enum`` decode ROM goes in block RAM, ``--rom``: one iCE40 block RAM
  per lane, since an SB_RAM40_4K has one read port; an ECP5 DP16KD has two);
* **LUT4 per lane**: core LUT4 / (PE x SIMD), which charges each lane its
  share of the shared control (flow control, valid pipeline);
* **marginal LUT4 per lane**: (LUT4 at the largest PE - LUT4 at PE 1) /
  (PE difference), the cost of one more lane: decoder, sign-select, adder
  tree, accumulator and its output-queue slice;
* weights per cycle (PE x SIMD x N) and weights per second at fmax;
* **the lane alone**: a PE=1 engine with a one-row output queue
  (``out_depth=1``): decoder, sign-select, adder, accumulator and one
  output register, which is what one more lane of a larger core costs when
  its output queue is shared or streams straight into a serialiser. The
  default ``out_depth=2`` adds a second row register and a 2:1 multiplexer
  per accumulator bit (about 25 LUT4 at 17 bits), which lets rows of at
  least ``latency`` beats stream without a bubble.

Targets from the engine issue: an (8,2) lane with 8-bit activations in
<= 160 LUT4 on iCE40; an 8-PE engine at >= 48 MHz on UP5K and >= 120 MHz on
ECP5 85F. The table marks each.

Prints a table and writes ``build/bench/engine.json`` (builds under
``build/bench/engine/``). Run:
``.venv/bin/python benchmarks/bench_engine.py [--devices up5k ecp5-85f]
[--pe 1 4 8] [--assignments enum direct] [--out-depth 2] [--rom block] [--reuse]``.
About 15 minutes on two idle cores (12 place-and-route runs).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synth_common import BENCH_DIR, fmt, load_average, synth_row, write_json  # noqa: E402

from sst_hw.plan.engine import SSTParams

#: Issue targets: LUT4 per (8,2) lane on iCE40, fmax of the 8-PE engine.
LANE_TARGET_LUT4 = 160
FMAX_TARGETS = {"up5k": 48.0, "ecp5-85f": 120.0}
ICE40 = ("up5k", "hx8k")


def marginal_lane(rows: list) -> float | None:
    """(LUT4 at the largest PE - LUT4 at the smallest) / PE difference."""
    ok = sorted((r for r in rows if "lut4" in r), key=lambda r: r["pe"])
    if len(ok) < 2 or ok[-1]["pe"] == ok[0]["pe"]:
        return None
    return (ok[-1]["lut4"] - ok[0]["lut4"]) / (ok[-1]["pe"] - ok[0]["pe"])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", nargs="+", default=["up5k", "ecp5-85f"])
    ap.add_argument("--assignments", nargs="+", default=["enum", "direct"],
                    choices=["enum", "direct"])
    ap.add_argument("--pe", nargs="+", type=int, default=[1, 4, 8])
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--k", type=int, default=2)
    ap.add_argument("--simd", type=int, default=1)
    ap.add_argument("--act-width", type=int, default=8)
    ap.add_argument("--max-row-len", type=int, default=1024)
    ap.add_argument("--out-depth", type=int, default=None,
                    help="output queue depth (default: the engine's default)")
    ap.add_argument("--rom", default="block", choices=["auto", "logic", "block"],
                    help="where the enum decode ROM goes (default block; with auto, Yosys "
                         "builds it in logic for PE > 1, about 50 LUT4 more per lane)")
    ap.add_argument("--seed", type=int, default=1, help="nextpnr placer seed")
    ap.add_argument("--reuse", action="store_true",
                    help="reuse the saved figures of identical earlier builds")
    ap.add_argument("-o", "--output", type=Path, default=BENCH_DIR / "engine.json")
    args = ap.parse_args(argv)

    extra = {} if args.out_depth is None else {"out_depth": args.out_depth}
    jobs = [("sweep", dev, assign, pe, extra) for dev in args.devices for assign in args.assignments
            for pe in args.pe]
    lane_jobs = [("lane", dev, assign, 1, {"out_depth": 1}) for dev in args.devices
                 for assign in args.assignments
                 if dev in ICE40 and extra.get("out_depth") != 1]
    results = {"n": args.n, "k": args.k, "simd": args.simd, "act_width": args.act_width,
               "max_row_len": args.max_row_len, "load_average_start": load_average(),
               "rows": [], "summary": []}
    print(f"SST engine ({args.n},{args.k}), SIMD {args.simd}, A={args.act_width} unsigned, "
          f"rows <= {args.max_row_len}")
    hdr = (f"{'device':>9} {'assign':>6} {'PE':>3} {'qd':>2} {'LUT4':>6} {'LUT4/lane':>9} {'FF':>5} "
           f"{'BRAM':>4} {'DSP':>3} {'fmax MHz':>8} {'Gw/s':>6}")
    print(hdr)
    for kind, dev, assign, pe, kw in jobs + lane_jobs:
        rom = args.rom if assign == "enum" else "auto"
        core = SSTParams(args.n, args.k, "full", assign, pe=pe, simd=args.simd,
                         act_width=args.act_width, max_row_len=args.max_row_len, rom=rom,
                         **kw)
        tag = f"{dev}-{assign}-{rom}-pe{pe}-d{core.out_depth}"
        row = synth_row(core, dev, BENCH_DIR / "engine" / tag, seed=args.seed,
                        reuse=args.reuse)
        lanes = pe * args.simd
        row.update(kind=kind, assignment=assign, rom=rom, pe=pe, simd=args.simd, lanes=lanes,
                   out_depth=core.out_depth, code_bits=core.code_bits,
                   acc_width=core.acc_width, latency=core.latency,
                   weights_per_cycle=lanes * args.n)
        if "error" in row:
            print(f"{dev:>9} {assign:>6} {pe:>3} {core.out_depth:>2}  failed: {row['error']}")
        else:
            row["lut4_per_lane"] = row["lut4"] / lanes
            row["weights_per_s"] = (row["weights_per_cycle"] * row["fmax_mhz"] * 1e6
                                    if row["fmax_mhz"] else None)
            print(f"{dev:>9} {assign:>6} {pe:>3} {core.out_depth:>2} {row['lut4']:>6} "
                  f"{row['lut4_per_lane']:>9.1f} {row['ff']:>5} {row['bram']:>4} "
                  f"{row['dsp']:>3} {fmt(row['fmax_mhz'], '8.1f')} "
                  f"{fmt(row['weights_per_s'] and row['weights_per_s'] / 1e9, '6.2f')}")
        results["rows"].append(row)
    results["load_average_end"] = load_average()

    for dev in args.devices:
        for assign in args.assignments:
            ok = [r for r in results["rows"] if "lut4" in r and r["device"] == dev
                  and r["assignment"] == assign]
            main_rows = [r for r in ok if r["kind"] == "sweep"]
            pe8 = next((r for r in main_rows if r["pe"] == 8), None)
            lane = next((r for r in ok if r["lanes"] == 1 and r["out_depth"] == 1), None)
            summary = {
                "device": dev, "assignment": assign,
                "lut4_pe1_engine": next((r["lut4"] for r in main_rows if r["lanes"] == 1),
                                        None),
                "lut4_lane": lane["lut4"] if lane else None,
                "marginal_lut4_per_lane": marginal_lane(main_rows),
                "fmax_pe8_mhz": pe8["fmax_mhz"] if pe8 else None,
                "fmax_target_mhz": FMAX_TARGETS.get(dev),
            }
            if dev in ICE40:
                summary["lane_target_lut4"] = LANE_TARGET_LUT4
            results["summary"].append(summary)

    print("\nsummary (targets: lane <= 160 LUT4 on iCE40; 8-PE fmax >= 48 MHz UP5K, "
          ">= 120 MHz ECP5 85F)")
    for s in results["summary"]:
        lane, marg, f8, ft = (s["lut4_lane"], s["marginal_lut4_per_lane"],
                              s["fmax_pe8_mhz"], s["fmax_target_mhz"])
        lane_note = ""
        if "lane_target_lut4" in s and lane is not None:
            lane_note = " (meets)" if lane <= LANE_TARGET_LUT4 else " (misses)"
        fmax_note = ""
        if f8 is not None and ft is not None:
            fmax_note = " (meets)" if f8 >= ft else " (misses)"
        print(f"{s['device']:>9} {s['assignment']:>6}: lane {fmt(lane)} LUT4{lane_note}, "
              f"PE=1 engine {fmt(s['lut4_pe1_engine'])} LUT4, marginal lane "
              f"{fmt(marg, '.1f')} LUT4, 8-PE fmax {fmt(f8, '.1f')} MHz{fmax_note}")
    print(f"wrote {write_json(args.output, results)}")


if __name__ == "__main__":
    main()
