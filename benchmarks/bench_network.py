"""Latency and throughput of the digits network core at the routed fmax.

Takes the digits network: the bundled model ``models/digits.sst`` (made by
``sst-hw train``; any model file with ``--model``). Then, for each device
(default: iCE40 UP5K and ECP5 85F) synthesizes, places and routes its
:class:`~sst_hw.core.network.SSTNetwork` (codes in block RAM) in
the out-of-context harness (:func:`sst_hw.synth.synthesize`) and reports:

* the routed fmax (nextpnr, MHz) and resources (LUT4, FF, block RAM, DSP);
* the cycles per inference (closed form, equal to the cycles measured in the
  cocotb tests), the latency ``cycles / fmax`` and the throughput
  ``fmax / cycles`` (back-to-back inferences; the next input is taken the
  cycle after the class beat).

Prints a table and writes ``build/bench/network.json`` (build folders under
``build/bench/network-<device>/``). Run:
``.venv/bin/python benchmarks/bench_network.py [--devices up5k ecp5-85f]``.
"""

import os

for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

from sst_hw.core.network import SSTNetwork
from sst_hw.synth.flow import SynthesisError, synthesize

#: nextpnr clock targets (MHz): a little above what each family reaches.
TARGETS = {"up5k": 40.0, "hx8k": 60.0, "ecp5-25f": 100.0, "ecp5-45f": 100.0,
           "ecp5-85f": 100.0}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", nargs="+", default=["up5k", "ecp5-85f"])
    ap.add_argument("--pe", type=int, default=4)
    ap.add_argument("--simd", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1, help="nextpnr placer seed")
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "digits.sst",
                    help="model file (default: the bundled models/digits.sst)")
    ap.add_argument("-o", "--output", type=Path, default=ROOT / "build/bench/network.json")
    args = ap.parse_args()

    from sst_hw.format import modelfile
    from sst_hw.train.datasets import load_digits
    source = str(args.model)
    net = modelfile.load(args.model)
    data = load_digits()
    x_test, y_test = data.x_test, data.y_test
    accuracy = float((net.forward(x_test)[1] == y_test).mean())
    results = {"model": {"source": source,
                         "sizes": [l.in_features for l in net.layers] + [net.classes],
                         "codebook": net.layers[0].codebook.describe_short(),
                         "integer_test_accuracy": accuracy, "test_samples": len(y_test)},
               "pe": args.pe, "simd": args.simd, "devices": []}
    print(f"digits network {results['model']['sizes']} ({source}), "
          f"{results['model']['codebook']}, integer test accuracy {accuracy:.4f} "
          f"on {len(y_test)} images")
    for dev in args.devices:
        core = SSTNetwork(net, pe=args.pe, simd=args.simd)
        plan = core.plan
        cycles = plan.cycles()
        build = args.output.parent / f"network-{dev}"
        t0 = time.monotonic()
        harness = True
        try:
            rep = synthesize(core, dev, TARGETS.get(dev, 50.0), build, seed=args.seed)
        except SynthesisError as e:
            # YoWASP Yosys 0.70 has been seen to exit silently inside ABC9 on the
            # ECP5 for the harnessed core; the bare core's ports fit the package.
            print(f"{dev}: synthesis in the OOC harness failed ({str(e).splitlines()[0]}); "
                  "retrying with the core's ports as pins")
            harness = False
            core = SSTNetwork(net, pe=args.pe, simd=args.simd)
            build = build.with_name(build.name + "-bare")
            rep = synthesize(core, dev, TARGETS.get(dev, 50.0), build, seed=args.seed,
                             harness=False)
        fmax = rep.fmax_mhz
        entry = {
            "device": dev, "part": rep.part, "target_mhz": rep.freq_mhz,
            "fmax_mhz": fmax, "cycles_per_inference": cycles,
            "latency_us": cycles / fmax if fmax else None,
            "throughput_inferences_per_s": fmax * 1e6 / cycles if fmax else None,
            "weights_per_cycle": plan.weights / cycles,
            "resources": {k: {"used": r.used, "available": r.available}
                          for k, r in rep.resources.items()},
            "harness_overhead": rep.harness,
            "core_estimate": rep.core_estimate,
            "fits": rep.fits, "ooc_harness": harness,
            "build_dir": str(build),
            "runtime_s": round(time.monotonic() - t0, 1),
        }
        results["devices"].append(entry)
        res = entry["resources"]
        print(f"{dev:>9}: fmax {fmax:6.2f} MHz, {cycles} cycles/inference -> latency "
              f"{entry['latency_us']:.2f} us, {entry['throughput_inferences_per_s']:,.0f} "
              f"inferences/s; LUT4 {res.get('lut4', {}).get('used')}, "
              f"BRAM {res.get('bram', {}).get('used')}, DSP {res.get('dsp', {}).get('used')}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
