"""``make demo-cnn``: the shipped UP5K CNN from file to bitstream, in one go.

Steps (each prints a line as it starts and ends):

1. load ``models/fashion_up5k_cnn.sst`` and score the golden model on the
   Fashion-MNIST test set (Debian's ``dataset-fashion-mnist``);
2. compile it into the CNN core for the UP5K (Verilog + sidecar under
   ``build/demo-cnn/``): its pass schedule, cycles and engine efficiency;
3. simulate a few test images on that Verilog with cocotb (Verilator) and
   compare every logit and class with the golden model, and the cycles with
   the sidecar's;
4. synthesize the core for the iCE40 UP5K and the ECP5 85F (out of context,
   each in its reference configuration) and build the iCEBreaker bitstream
   (UART front end), two jobs at a time;
5. print a table: accuracy, LUT4, FF, RAM, DSP, fmax, cycles, inferences/s.

Run: ``.venv/bin/python -m sst_hw.cli.demo_cnn [--images N]``. JSON of the
table goes to ``build/demo-cnn/demo.json``; the bitstream is
``build/demo-cnn/icebreaker/fashion_up5k_cnn-icebreaker.bin``. Step 3 alone
is ``sst-hw sim models/fashion_up5k_cnn.sst --dataset fashion-mnist --count N``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from sst_hw.cli.demo import T0, say, synth_and_bitstream

DEFAULT_MODEL = Path(__file__).resolve().parents[2] / "models" / "fashion_up5k_cnn.sst"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="sst-hw demo-cnn: the UP5K CNN to bitstream")
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    ap.add_argument("--images", type=int, default=8, help="test images to simulate")
    ap.add_argument("--build-dir", type=Path, default=Path("build/demo-cnn"))
    args = ap.parse_args(argv)

    from sst_hw.core.conv.network import SSTConvNetwork
    from sst_hw.emit.convnet import write_convnet
    from sst_hw.format import modelfile
    from sst_hw.plan.convnet import ECP5_CNN_CORE, UP5K_CNN_CORE, plan_convnet
    from sst_hw.sim.conv_tb import run_convnet
    from sst_hw.synth.devices import get_device
    from sst_hw.train.datasets import load_dataset

    build = args.build_dir
    build.mkdir(parents=True, exist_ok=True)

    say(f"1/5 loading {args.model} and scoring the golden model on the Fashion-MNIST test set")
    net = modelfile.load(args.model)
    data = load_dataset("fashion-mnist")
    _, classes = net.forward(data.x_test)
    accuracy = float((classes == data.y_test).mean())
    say(f"    accuracy {accuracy:.2%} on {len(data.y_test)} images")

    plans = {"up5k": plan_convnet(net, device=get_device("up5k"), **UP5K_CNN_CORE),
             "ecp5-85f": plan_convnet(net, device=get_device("ecp5-85f"), **ECP5_CNN_CORE)}
    plan = plans["up5k"]
    say(f"2/5 compiling the CNN core for the UP5K (PE={plan.pe}, SIMD={plan.simd})")
    paths = write_convnet(plan, build / "sst_convnet.v", name="sst_convnet")
    say(f"    wrote {', '.join(str(p) for p in paths)}; {plan.cycles()} cycles per inference, "
        f"{plan.period()} back to back")
    for d in plan.describe()["passes"]:
        say(f"    pass {d['pass']} {d['kind']} {'x'.join(map(str, d['in_shape']))}: "
            f"{d['cycles']} cycles, engine occupancy {d['occupancy']:.1%}, efficiency "
            f"{d['efficiency']:.1%}")

    say(f"3/5 simulating {args.images} test images on the Verilog (cocotb + Verilator)")
    run_convnet(net, data.x_test[:args.images], build / "sim", core=SSTConvNetwork(plan),
                stall_inferences=1)
    say(f"    {args.images} inferences bit-exact with the golden model, cycles as the sidecar")

    say("4/5 synthesizing for UP5K and ECP5-85F, building the iCEBreaker bitstream "
        "(10 to 30 minutes)")

    reports, board = synth_and_bitstream(
        {device: (lambda device=device: SSTConvNetwork(plans[device]), freq)
         for device, freq in (("up5k", 30.0), ("ecp5-85f", 80.0))}, net, args.model, build)

    say("5/5 summary")
    rows = []
    for device, rep in reports.items():
        r, p = rep.resources, plans[device]
        rows.append({"target": f"{device} core (PE {p.pe}, SIMD {p.simd}, out of context)",
                     "lut4": r["lut4"].used, "ff": r["ff"].used, "bram": r["bram"].used,
                     "spram": r["spram"].used if "spram" in r else 0, "dsp": r["dsp"].used,
                     "fmax_mhz": rep.fmax_mhz, "period": p.period(),
                     "inferences_per_s": rep.fmax_mhz * 1e6 / p.period()})
    br = board.report.resources
    rows.append({"target": "iCEBreaker board top (UART + core, 12 MHz)",
                 "lut4": br["lut4"].used, "ff": br["ff"].used, "bram": br["bram"].used,
                 "spram": br["spram"].used if "spram" in br else 0, "dsp": br["dsp"].used,
                 "fmax_mhz": board.report.fmax_mhz, "period": plan.period(),
                 "inferences_per_s": 12e6 / plan.period()})
    print(f"\nmodel     {args.model.name}: {'x'.join(map(str, plan.input_shape))} -> "
          f"{plan.classes}, {plan.network_macs} MACs per inference")
    print(f"accuracy  {accuracy:.2%} (golden integer model, Fashion-MNIST test set)\n")
    print(f"| {'target':46s} | {'LUT4':>5s} | {'FF':>5s} | {'BRAM':>4s} | {'SPRAM':>5s} | "
          f"{'DSP':>3s} | {'fmax MHz':>8s} | {'cycles':>6s} | {'inferences/s':>12s} |")
    print("|" + "|".join("-" * (w + 2) for w in (46, 5, 5, 4, 5, 3, 8, 6, 12)) + "|")
    for row in rows:
        print(f"| {row['target']:46s} | {row['lut4']:5d} | {row['ff']:5d} | {row['bram']:4d} | "
              f"{row['spram']:5d} | {row['dsp']:3d} | {row['fmax_mhz']:8.1f} | "
              f"{row['period']:6d} | {row['inferences_per_s']:12,.0f} |")
    print(f"\nbitstream {board.bitstream}")
    out = {"model": str(args.model), "accuracy": accuracy, "rows": rows,
           "passes": plan.describe()["passes"], "bitstream": str(board.bitstream),
           "sha256": board.sha256, "seconds": time.monotonic() - T0}
    (build / "demo.json").write_text(json.dumps(out, indent=2, default=float))
    say(f"done; {build / 'demo.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
