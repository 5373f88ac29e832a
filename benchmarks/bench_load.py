"""Loading a model over the UART (protocol v2): bytes on the wire and link time.

For the bundled digits model on the iCEBreaker's block RAM build and for a
784-1024-10 Fashion-MNIST-sized MLP (813K weights) on its SPRAM build, this
builds the board's network core (as ``sst-hw build`` does) and its INFO,
then has the host's own :class:`~sst_hw.host.load.LoadJob` produce every
request frame of a load, and counts:

* the image (code words, then table rows) and the LOAD frames;
* the bytes on the wire both ways: every request frame (header, payload,
  CRC) and every reply (a 6-byte ACK per frame), 10 bits per byte (8N1);
* the link time at 115200 and 1,000,000 baud, from those bits;
* the device's commit check, in clock cycles: each stored word is read back
  (2 cycles) and its bytes go through the CRC-32 unit one per cycle
  (``words * (bytes + 2)`` summed over the code memory and the table), and
  its time at the board clock.

The real load also has an INFO before and after (48-byte replies) and the
host's turnaround per frame, which a USB-serial adapter adds; they are not in
these figures. Prints a table and writes ``build/bench/load.json``. Run:
``.venv/bin/python benchmarks/bench_load.py`` (a few seconds).
"""

import argparse
import json
from pathlib import Path

from sst_hw.boards import get_board
from sst_hw.boards.build import make_core
from sst_hw.format import modelfile
from sst_hw.format.golden import Network
from sst_hw.host.load import LoadJob
from sst_hw.link.top import core_info
from sst_hw.link.wire import CRC_LEN, HEADER_LEN
from sst_hw.plan.image import code_word_bytes, param_word_bytes

ROOT = Path(__file__).resolve().parent.parent
BAUDS = (115200, 1_000_000)
ACK_BYTES = HEADER_LEN + CRC_LEN          # an empty reply: SYNC CMD LEN(2) CRC(2)


def measure(name, network, board, memory):
    core = make_core(network, board, memory=memory)
    info = core_info(network, core, clk_hz=board.clk_hz)
    job = LoadJob(info, network)
    frames = list(job.requests())
    request_bytes = sum(HEADER_LEN + len(payload) + CRC_LEN for _, payload, _ in frames)
    wire_bytes = request_bytes + ACK_BYTES * len(frames)
    plan = core.plan
    check_cycles = (plan.code_words * (code_word_bytes(plan) + 2)
                    + plan.param_rows * (param_word_bytes(plan) + 2))
    return {
        "model": name, "board": board.name, "memory": memory,
        "weights": sum(l.in_features * l.out_features for l in network.layers),
        "image_bytes": job.total, "frames": len(frames), "chunk": job.chunk,
        "wire_bytes": wire_bytes, "overhead": wire_bytes / job.total - 1,
        "seconds": {str(b): 10 * wire_bytes / b for b in BAUDS},
        "commit_check_cycles": check_cycles,
        "commit_check_ms": 1e3 * check_cycles / board.clk_hz,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "bench" / "load.json")
    args = ap.parse_args()
    board = get_board("icebreaker")
    rows = [
        measure("digits 64-128-10 (models/digits.sst)", modelfile.load(ROOT / "models/digits.sst"),
                board, "bram"),
        measure("Fashion-size 784-1024-10 (random)", Network.random(1, [784, 1024, 10], 8, 2),
                board, "spram"),
    ]
    print(f"{'model':40} {'memory':6} {'weights':>8} {'image B':>8} {'frames':>6} "
          f"{'wire B':>8} {'115200 s':>9} {'1M s':>6} {'check ms':>8}")
    for r in rows:
        print(f"{r['model']:40} {r['memory']:6} {r['weights']:>8} {r['image_bytes']:>8} "
              f"{r['frames']:>6} {r['wire_bytes']:>8} {r['seconds']['115200']:>9.2f} "
              f"{r['seconds']['1000000']:>6.2f} {r['commit_check_ms']:>8.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"bauds": BAUDS, "rows": rows}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
