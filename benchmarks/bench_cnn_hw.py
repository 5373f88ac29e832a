"""The CNN core on the two reference CNNs and the two devices: cycles, engine
efficiency per pass and, with ``--synth``, the routed design.

For each (model, device) of ``models/fashion_up5k_cnn.sst`` and
``models/fashion_vgg9.sst`` on the iCE40 UP5K and the ECP5 85F, in the
device's reference configuration (``UP5K_CNN_CORE`` / ``ECP5_CNN_CORE`` of
:mod:`sst_hw.plan.convnet`, as ``sst-hw compile --device`` uses):

* from the plan (what the sidecar says, and what every simulation measures
  exactly): cycles of one inference and between back-to-back inferences,
  per pass the cycles, the engine's occupancy (beats per cycle) and its
  efficiency (model weight operations per cycle over PE x SIMD x N);
* whether the memories fit (a model that does not fit is reported with the
  reason, and not synthesized);
* with ``--synth``: the core out of context through Yosys and nextpnr
  (``sst_hw.synth.synthesize``): LUT4, FF, block RAM, SPRAM, DSP, fmax;
  inferences/s at that fmax; G weight-ops/s (the network's MACs, as usually
  counted, times inferences/s) and per 1000 LUT4, next to FINN's published
  CNV-W1A1 on a Zynq-7020 (661 inferences/s, about 38 G MAC/s, a larger
  CIFAR-10 model) as a ratio of scale, not a race.

Prints a table and writes ``build/bench/cnn_hw.json``. Run:
``.venv/bin/python benchmarks/bench_cnn_hw.py [--synth]`` (plan only:
seconds; ``--synth``: about 10 minutes per iCE40 design and 30 per ECP5
design on 2 cores).
"""

import os

for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

from sst_hw.format import modelfile  # noqa: E402
from sst_hw.plan.convnet import ECP5_CNN_CORE, UP5K_CNN_CORE, plan_convnet  # noqa: E402
from sst_hw.plan.network import CapacityError  # noqa: E402
from sst_hw.synth.devices import get_device  # noqa: E402

MODELS = {"up5k-cnn": ROOT / "models" / "fashion_up5k_cnn.sst",
          "vgg9": ROOT / "models" / "fashion_vgg9.sst"}
DEVICES = {"up5k": (UP5K_CNN_CORE, 30.0), "ecp5-85f": (ECP5_CNN_CORE, 80.0)}
#: FINN's CNV-W1A1 on a Zynq-7020 (published): inferences/s and MACs per inference.
FINN_CNV = {"inferences_per_s": 661, "macs": 57.8e6, "g_mac_per_s": 661 * 57.8e6 / 1e9}


def measure(name, device_name, synth: bool, out_dir: Path) -> dict:
    net = modelfile.load(MODELS[name])
    device = get_device(device_name)
    opts, freq = DEVICES[device_name]
    plan = plan_convnet(net, device=device, **opts)
    row = {"model": name, "device": device_name, "core": dict(opts),
           "cycles_per_inference": plan.cycles(), "period": plan.period(),
           "network_macs": plan.network_macs, "weight_ops": plan.weight_ops,
           "peak_weights_per_cycle": plan.peak_weights_per_cycle,
           "passes": [{k: d[k] for k in ("pass", "kind", "in_shape", "kernel", "pool",
                                          "cycles", "occupancy", "efficiency")}
                      for d in plan.describe()["passes"]]}
    try:
        plan.check_fit(device)
        row["fits_memories"] = True
    except CapacityError as e:
        row["fits_memories"] = False
        row["why"] = str(e)
        return row
    if synth:
        from sst_hw.core.conv.network import SSTConvNetwork
        from sst_hw.synth.flow import synthesize
        t0 = time.monotonic()
        rep = synthesize(SSTConvNetwork(plan), device_name, freq,
                         out_dir / f"{name}-{device_name}", timeout=6000)
        res = {k: r.used for k, r in rep.resources.items()}
        fmax = rep.fmax_mhz
        inf_s = fmax * 1e6 / plan.period() if fmax else None
        luts = res.get("lut4") or res.get("luts") or next(
            (v for k, v in res.items() if "lut" in k.lower()), None)
        gops = inf_s * plan.network_macs / 1e9 if inf_s else None
        row.update(fits=rep.fits, resources=res, fmax_mhz=fmax, inferences_per_s=inf_s,
                   g_weight_ops_per_s=gops,
                   g_weight_ops_per_s_per_1000_lut4=(gops / luts * 1000) if gops and luts
                   else None,
                   vs_finn_cnv_g_ops=gops / FINN_CNV["g_mac_per_s"] if gops else None,
                   synth_seconds=round(time.monotonic() - t0, 1))
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--synth", action="store_true", help="also synthesize, place and route")
    ap.add_argument("--only", default=None,
                    help="comma-separated MODEL@DEVICE pairs (e.g. up5k-cnn@up5k)")
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "bench" / "cnn_hw.json")
    args = ap.parse_args(argv)
    pairs = [(m, d) for m in MODELS for d in DEVICES]
    if args.only:
        want = {tuple(p.split("@")) for p in args.only.split(",")}
        pairs = [p for p in pairs if p in want]
    rows = []
    for m, d in pairs:
        row = measure(m, d, args.synth, args.out.parent / "cnn_hw")
        rows.append(row)
        core = row["core"]
        print(f"\n{m} on {d} (PE {core['pe']}, SIMD {core['simd']}, R {core['rq_lanes']}): "
              f"{row['cycles_per_inference']} cycles per inference, period {row['period']}, "
              f"{row['network_macs']} MACs")
        if not row["fits_memories"]:
            print(f"  does not fit: {row['why']}")
            continue
        print("  pass  kind    input       kernel  pool   cycles  occupancy  efficiency")
        for p in row["passes"]:
            pool = "-" if p["pool"] is None else "x".join(map(str, p["pool"]))
            print(f"  {p['pass']:>4}  {p['kind']:<6}  {'x'.join(map(str, p['in_shape'])):<10}  "
                  f"{'x'.join(map(str, p['kernel'])):<6}  {pool:<5} {p['cycles']:>7}  "
                  f"{p['occupancy']:>8.1%}  {p['efficiency']:>9.1%}")
        if "resources" in row:
            r = row["resources"]
            print(f"  routed: {r}, fmax {row['fmax_mhz']:.1f} MHz, "
                  f"{row['inferences_per_s']:.0f} inferences/s, "
                  f"{row['g_weight_ops_per_s']:.2f} G weight-ops/s "
                  f"({row['g_weight_ops_per_s_per_1000_lut4']:.3f} per 1000 LUT4; "
                  f"x{row['vs_finn_cnv_g_ops']:.3f} of FINN CNV-W1A1's "
                  f"{FINN_CNV['g_mac_per_s']:.1f} G MAC/s)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"finn_cnv_w1a1": FINN_CNV, "rows": rows}, indent=1))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
