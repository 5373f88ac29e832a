"""``make demo``: the bundled digits model from file to bitstream, in one go.

Steps (each prints a line as it starts and ends):

1. load ``models/digits.sst`` and score the golden model on the digits test set;
2. compile it into the network core (Verilog + sidecar under ``build/demo/``);
3. simulate a few test images on that Verilog with cocotb (Verilator) and
   compare every logit and class with the golden model;
4. synthesize the core for the iCE40 UP5K and the ECP5 85F (out of context)
   and build the iCEBreaker bitstream (UART front end), two jobs at a time;
5. print a table: accuracy, compression, LUTs, RAM, fmax, inferences/s.

Run: ``.venv/bin/python -m sst_hw.cli.demo [--model M] [--images N]``. JSON of the
table goes to ``build/demo/demo.json``; the bitstream is
``build/demo/icebreaker/<model stem>-icebreaker.bin``. Step 3 alone is
``sst-hw sim MODEL --dataset digits --count N``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

DEFAULT_MODEL = Path(__file__).resolve().parents[2] / "models" / "digits.sst"
T0 = time.monotonic()


def bitstream_stem(model, board: str = "icebreaker") -> str:
    """``<model stem>-<board>``: the demo's bitstream name, as ``sst-hw build`` names it."""
    return f"{Path(model).stem}-{board}"


def say(msg: str) -> None:
    print(f"[{time.monotonic() - T0:6.1f} s] {msg}", flush=True)


def synth_and_bitstream(cores: dict, net, model, build: Path, **core_options):
    """Step 4 of the demos, two jobs at a time: each ``{device: (make_core,
    freq_mhz)}`` synthesized out of context under ``build/synth-<device>``,
    and the iCEBreaker bitstream of ``net`` (``core_options`` for its core)
    under ``build/icebreaker``. Returns ``({device: SynthReport}, BitstreamResult)``."""
    from sst_hw.boards import get_board
    from sst_hw.boards.build import make_board_top
    from sst_hw.boards.flow import build_bitstream
    from sst_hw.synth.flow import synthesize

    def synth(device, make, freq):
        rep = synthesize(make(), device, freq, build / f"synth-{device}", timeout=6000)
        rep.write(build / f"synth-{device}")
        say(f"    {device}: done, fmax {rep.fmax_mhz:.1f} MHz")
        return rep

    def bitstream():
        board = get_board("icebreaker")
        top = make_board_top(net, board, **core_options)
        res = build_bitstream(board, top, build / "icebreaker",
                              stem=bitstream_stem(model, board.name))
        say(f"    iCEBreaker bitstream: {res.bitstream} (sha256 {res.sha256[:16]}...)")
        return res

    with ThreadPoolExecutor(max_workers=2) as pool:
        jobs = {d: pool.submit(synth, d, make, freq) for d, (make, freq) in cores.items()}
        board_job = pool.submit(bitstream)
        return {d: j.result() for d, j in jobs.items()}, board_job.result()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="sst-hw demo: digits model to bitstream")
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    ap.add_argument("--images", type=int, default=16, help="test images to simulate")
    ap.add_argument("--build-dir", type=Path, default=Path("build/demo"))
    ap.add_argument("--pe", type=int, default=4)
    ap.add_argument("--simd", type=int, default=2)
    args = ap.parse_args(argv)

    from sst_hw.format import modelfile
    from sst_hw.format.compression import compression
    from sst_hw.core.network import SSTNetwork
    from sst_hw.emit.network import write_network
    from sst_hw.train.datasets import load_digits

    build = args.build_dir
    build.mkdir(parents=True, exist_ok=True)

    say(f"1/5 loading {args.model} and scoring the golden model on the digits test set")
    net = modelfile.load(args.model)
    data = load_digits()
    x_test, y_test = data.x_test, data.y_test
    _, classes = net.forward(x_test)
    accuracy = float((classes == y_test).mean())
    comp = compression(net)["total"]
    say(f"    accuracy {accuracy:.2%} on {len(y_test)} images; compression x{comp['ratio']:.1f} "
        f"vs fp32 (weights alone x{comp['weight_ratio']:.0f})")

    say(f"2/5 compiling the network core (PE={args.pe}, SIMD={args.simd})")
    core = SSTNetwork(net, pe=args.pe, simd=args.simd)
    paths = write_network(core, build / "sst_network.v", name="sst_network")
    cycles = core.cycles_per_inference
    say(f"    wrote {', '.join(str(p) for p in paths)}; {cycles} cycles per inference")

    say(f"3/5 simulating {args.images} test images on the Verilog (cocotb + Verilator)")
    from sst_hw.sim.network_tb import run_network
    run_network(net, x_test[:args.images], build / "sim", core=core, name="sst_network")
    say(f"    {args.images} inferences bit-exact with the golden model, cycles as the sidecar")

    say("4/5 synthesizing for UP5K and ECP5-85F, building the iCEBreaker bitstream "
        "(a few minutes)")
    reports, board = synth_and_bitstream(
        {"up5k": (lambda: SSTNetwork(net, pe=args.pe, simd=args.simd), 48.0),
         "ecp5-85f": (lambda: SSTNetwork(net, pe=args.pe, simd=args.simd), 100.0)},
        net, args.model, build, pe=args.pe, simd=args.simd)

    say("5/5 summary")
    rows = []
    for device, rep in reports.items():
        r = rep.resources
        fmax = rep.fmax_mhz
        rows.append({
            "target": f"{device} (core, out of context)",
            "lut4": r["lut4"].used, "lut4_avail": r["lut4"].available,
            "bram": r["bram"].used, "dsp": r["dsp"].used,
            "fmax_mhz": fmax, "inferences_per_s": fmax * 1e6 / cycles,
        })
    br = board.report
    board_fmax = br.fmax_mhz
    rows.append({
        "target": "iCEBreaker board top (UART + core, 12 MHz clock)",
        "lut4": br.resources["lut4"].used, "lut4_avail": br.resources["lut4"].available,
        "bram": br.resources["bram"].used, "dsp": br.resources["dsp"].used,
        "fmax_mhz": board_fmax, "inferences_per_s": 12e6 / cycles,
    })
    print()
    sizes = [net.layers[0].in_features] + [layer.out_features for layer in net.layers]
    print(f"model     {args.model.name}: {'-'.join(str(s) for s in sizes)} "
          f"SST {net.layers[0].codebook.describe_short()}")
    print(f"accuracy  {accuracy:.2%} (golden integer model, digits test set, "
          f"{len(y_test)} images)")
    print(f"compress  x{comp['ratio']:.1f} whole model vs fp32 "
          f"({comp['total_bits']} bits; weights alone x{comp['weight_ratio']:.0f})")
    print(f"latency   {cycles} cycles per inference\n")
    print(f"| {'target':52s} | {'LUT4':>11s} | {'BRAM':>4s} | {'DSP':>3s} | "
          f"{'fmax MHz':>8s} | {'inferences/s':>12s} |")
    print(f"|{'-' * 54}|{'-' * 13}|{'-' * 6}|{'-' * 5}|{'-' * 10}|{'-' * 14}|")
    for row in rows:
        print(f"| {row['target']:52s} | {row['lut4']:5d}/{row['lut4_avail']:<5d} | "
              f"{row['bram']:4d} | {row['dsp']:3d} | {row['fmax_mhz']:8.1f} | "
              f"{row['inferences_per_s']:12,.0f} |")
    print(f"\nbitstream {board.bitstream}")
    out = {"model": str(args.model), "accuracy": accuracy, "compression": comp,
           "cycles_per_inference": cycles, "rows": rows, "bitstream": str(board.bitstream),
           "sha256": board.sha256, "seconds": time.monotonic() - T0}
    (build / "demo.json").write_text(json.dumps(out, indent=2, default=float))
    say(f"done; {build / 'demo.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
