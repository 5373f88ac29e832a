"""Throughput of the integer conv golden model (sst_hw.format.conv).

Builds a small random reference CNN from the golden layers,
c16k3p1 -> mp2 -> c32k3p1 -> mp2 -> flatten -> dense 10 (codebook (8, 2) by
default, requantization calibrated on the data), and times a batch of random
28x28x1 uint8 images through it (best of ``--repeats``). Prints images/s and
writes ``build/bench/conv_golden.json``. Run:
``.venv/bin/python benchmarks/bench_conv_golden.py [--batch 256] [--threads 1]``.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads")
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--k", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--output", type=Path, default=ROOT / "build/bench/conv_golden.json")
    args = ap.parse_args()
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)

    import numpy as np

    from sst_hw.format.codebook import Codebook
    from sst_hw.format.conv import Flatten, MaxPool, forward_all
    from sst_hw.format.random_model import random_conv2d
    from sst_hw.format.golden import Layer, _argmax_lowest
    from sst_hw.format.random_model import _random_codes

    rng = np.random.default_rng(args.seed)
    cb = Codebook(args.n, args.k)
    x = rng.integers(0, 256, size=(args.batch, 28, 28, 1), dtype=np.uint8)
    calib = x[:16]
    c1 = random_conv2d(rng, (28, 28, 1), 16, 3, 3, 1, 1, codebook=cb, calib=calib)
    m1 = MaxPool(2, c1.out_shape)
    h = m1.forward(c1.forward(calib))
    c2 = random_conv2d(rng, m1.out_shape, 32, 3, 3, 1, 1, codebook=cb, calib=h)
    m2 = MaxPool(2, c2.out_shape)
    fl = Flatten(m2.out_shape)
    dense = Layer(fl.out_features, 10, cb, _random_codes(cb, rng, 10, fl.out_features),
                  np.ones(10, np.int64), np.zeros(10, np.int64), 0, False, 8)
    layers = [c1, m1, c2, m2, fl, dense]
    for c in (c1, c2):
        c.check_float32_exact(8, False)

    forward_all(layers, x[:8])                     # warm-up (decode caches)
    times, per_layer = [], None
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        logits = forward_all(layers, x)
        times.append(time.perf_counter() - t0)
    classes = _argmax_lowest(logits)
    # per-layer split of one run
    per_layer, h = [], x
    for i, layer in enumerate(layers):
        t0 = time.perf_counter()
        h = forward_all([layer], h) if i == len(layers) - 1 else layer.forward(h)
        per_layer.append((type(layer).__name__, time.perf_counter() - t0))
    assert np.array_equal(h, logits)

    best = min(times)
    ips = args.batch / best
    names = ["c16k3p1", "mp2", "c32k3p1", "mp2", "flatten", "dense10"]
    print(f"conv golden model, codebook {cb.describe_short()}, batch {args.batch}, "
          f"{args.threads} BLAS thread(s)")
    for name, (_, t) in zip(names, per_layer):
        print(f"  {name:8s} {t * 1e3:8.2f} ms")
    print(f"best of {args.repeats}: {best * 1e3:.1f} ms per batch = {ips:.0f} images/s "
          f"(class histogram {np.bincount(classes, minlength=10).tolist()})")
    result = {"network": names, "codebook": cb.describe_short(), "batch": args.batch,
              "threads": args.threads, "repeats": args.repeats,
              "seconds_per_batch": best, "images_per_second": ips,
              "layer_seconds": {f"{i}:{n}": t for i, (n, (_, t))
                                in enumerate(zip(names, per_layer))},
              "python": sys.version.split()[0], "numpy": np.__version__}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
