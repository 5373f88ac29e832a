"""Codec and golden-model throughput on one core.

Prints, and writes to ``build/bench/codec.json``:

* encode throughput (float weights projected and coded per second) on a
  1024x1024 matrix, for several codebooks;
* golden-model throughput in ternary ops per second (one op = one weight of
  the dense out x in matrix applied to one input), for a 1024x1024
  matrix-vector product and a 784-1024-1024-10 network, batch 1 and 64.

Run: ``.venv/bin/python benchmarks/bench_codec.py``. Best of several repeats;
absolute numbers drift with the machine, compare them within one run.
"""

import os

# One core: pin BLAS before NumPy loads it.
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from sst_hw.format.codebook import Codebook
from sst_hw.format.encode import encode_matrix
from sst_hw.format.golden import Network


def best_time(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("-o", "--output", default="build/bench/codec.json")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    results = {"encode": [], "golden": []}

    w = rng.normal(size=(1024, 1024))
    print("encode, 1024x1024 float64 matrix")
    for cb in (Codebook(8, 2), Codebook(8, 2, assignment="direct"), Codebook(16, 2),
               Codebook(8, 2, "partitioned"), Codebook(4, 1)):
        t = best_time(lambda: encode_matrix(w, cb), args.repeats)
        rate = w.size / t
        results["encode"].append({"codebook": cb.describe_short(), "seconds": t,
                                  "weights_per_s": rate})
        print(f"  {cb.describe_short():24s} {rate / 1e6:8.1f} M weights/s")

    print("golden model (integer contract), one thread")
    cases = [("matvec 1024x1024", [1024, 1024], 1),
             ("matmul 1024x1024, batch 64", [1024, 1024], 64),
             ("network 784-1024-1024-10", [784, 1024, 1024, 10], 1),
             ("network 784-1024-1024-10, batch 64", [784, 1024, 1024, 10], 64)]
    for name, sizes, batch in cases:
        net = Network.random(rng, sizes, 8, 2)
        x = rng.integers(0, 256, size=(batch, sizes[0]))
        ops = batch * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
        if len(sizes) == 2:
            layer = net.layers[0]
            fn = lambda: layer.accumulate(x)  # noqa: E731
        else:
            fn = lambda: net.forward(x)  # noqa: E731
        t = best_time(fn, args.repeats)
        results["golden"].append({"case": name, "seconds": t, "ternary_ops_per_s": ops / t})
        print(f"  {name:38s} {ops / t / 1e6:10.1f} M ternary ops/s")

    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
