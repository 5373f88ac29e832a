"""Throughput of the integer conv golden model (sst_hw.format.conv, .convnet).

Three figures, each best of ``--repeats`` and checked bit for bit:

* **reference CNN, plain layers** (the first figure of this benchmark, kept):
  c16k3p1 -> mp2 -> c32k3p1 -> mp2 -> flatten -> dense 10 through
  :func:`~sst_hw.format.conv.forward_all` (the layers' own ``forward``, no
  execution plan), batch ``--small-batch`` of random 28x28x1 uint8 images,
  with the per-layer split; and the same layers as a ``ConvNetwork``.
* **VGG-9-like ConvNetwork**: conv 3x3 pad 1 with 16, 16 channels, mp2, 32,
  32, mp2, 64, 64, mp2, flatten (576), dense ``--dense`` (256), ``--dense``,
  10, codebook (``--n``, ``--k``), 8-bit activations, every requantization
  calibrated by :func:`~sst_hw.format.random_model.random_convnet`; batch
  ``--batch`` (1000) of random 28x28x1 uint8 images through
  :meth:`ConvNetwork.forward`, compared with ``forward_all`` on the first 32.
* with ``--model PATH``: that model file (a trained ``.sst``, e.g. a CNN
  under ``models/``) on the test images of ``--dataset`` (default
  fashion-mnist), with its accuracy.

BLAS keeps its default threads unless ``--threads`` pins them (set before
NumPy loads). Prints images/s and writes ``build/bench/conv_golden.json``. Run:
``.venv/bin/python benchmarks/bench_conv_golden.py [--batch 1000] [--model models/X.sst]``.
"""

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: The VGG-9-like spec (random_convnet), the dense width filled in by --dense.
VGG9 = [("conv", 16, 3, 1, 1), ("conv", 16, 3, 1, 1), ("pool", 2),
        ("conv", 32, 3, 1, 1), ("conv", 32, 3, 1, 1), ("pool", 2),
        ("conv", 64, 3, 1, 1), ("conv", 64, 3, 1, 1), ("pool", 2),
        ("flatten",), ("dense", None), ("dense", None), ("dense", 10)]


def best_of(fn, repeats):
    """(best seconds, median seconds, last result) of ``repeats`` calls after a warm-up."""
    import numpy as np
    fn()
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), float(np.median(times)), out


def spec_name(spec) -> list[str]:
    names = []
    for s in spec:
        if s[0] == "conv":
            names.append(f"c{s[1]}k{s[2]}p{s[4]}")
        elif s[0] == "pool":
            names.append(f"mp{s[1]}")
        elif s[0] == "flatten":
            names.append("flatten")
        else:
            names.append(f"dense{s[1]}")
    return names


def reference_cnn(args, cb):
    """The first figure: plain golden layers through forward_all, and the same
    layers as a ConvNetwork."""
    import numpy as np

    from sst_hw.format.conv import forward_all
    from sst_hw.format.convnet import ConvNetwork
    from sst_hw.format.golden import _argmax_lowest
    from sst_hw.format.random_model import random_convnet

    spec = [("conv", 16, 3, 1, 1), ("pool", 2), ("conv", 32, 3, 1, 1), ("pool", 2),
            ("flatten",), ("dense", 10)]
    rng = np.random.default_rng(args.seed)
    x = rng.integers(0, 256, size=(args.small_batch, 28, 28, 1), dtype=np.uint8)
    net = random_convnet(rng, (28, 28, 1), spec, args.n, args.k, calib=x[:16], floats=False)
    layers = net.layers
    best, median, logits = best_of(lambda: forward_all(layers, x), args.repeats)
    per_layer, h = [], x
    for i, layer in enumerate(layers):
        t0 = time.perf_counter()
        h = forward_all([layer], h) if i == len(layers) - 1 else layer.forward(h)
        per_layer.append(time.perf_counter() - t0)
    assert np.array_equal(h, logits)
    net = ConvNetwork(layers, (28, 28, 1))
    nbest, _, (nlogits, _) = best_of(lambda: net.forward(x), args.repeats)
    assert np.array_equal(nlogits, logits), "ConvNetwork.forward differs from forward_all"
    names = spec_name(spec)
    classes = _argmax_lowest(logits)
    print(f"reference CNN {'-'.join(names)}, batch {args.small_batch}")
    for name, t in zip(names, per_layer):
        print(f"  {name:8s} {t * 1e3:8.2f} ms")
    print(f"  forward_all:           {best * 1e3:8.1f} ms per batch = "
          f"{args.small_batch / best:6.0f} images/s (class histogram "
          f"{np.bincount(classes, minlength=10).tolist()})")
    print(f"  ConvNetwork.forward:   {nbest * 1e3:8.1f} ms per batch = "
          f"{args.small_batch / nbest:6.0f} images/s (same logits)")
    return {"network": names, "batch": args.small_batch,
            "seconds_per_batch": best, "median_seconds_per_batch": median,
            "images_per_second": args.small_batch / best,
            "layer_seconds": {f"{i}:{n}": t for i, (n, t) in enumerate(zip(names, per_layer))},
            "convnetwork_seconds_per_batch": nbest,
            "convnetwork_images_per_second": args.small_batch / nbest}


def vgg9(args, cb):
    import numpy as np

    from sst_hw.format.conv import forward_all
    from sst_hw.format.random_model import random_convnet

    spec = [("dense", args.dense) if s == ("dense", None) else s for s in VGG9]
    rng = np.random.default_rng(args.seed + 1)
    x = rng.integers(0, 256, size=(args.batch, 28, 28, 1), dtype=np.uint8)
    t0 = time.perf_counter()
    net = random_convnet(rng, (28, 28, 1), spec, args.n, args.k, calib=x[:16])
    build = time.perf_counter() - t0
    best, median, (logits, classes) = best_of(lambda: net.forward(x), args.repeats)
    check = min(32, args.batch)
    assert np.array_equal(logits[:check], forward_all(net.layers, x[:check])), \
        "ConvNetwork.forward differs from forward_all"
    names = spec_name(spec)
    ips = args.batch / best
    f32 = net.float32_exact()
    print(f"VGG-9-like ConvNetwork {'-'.join(names)}, batch {args.batch} (built and "
          f"calibrated in {build:.2f} s; float32 accumulation on "
          f"{sum(f32)} of {sum(k in ('conv2d', 'dense') for k in net.kinds)} conv/dense layers, "
          f"chunks of {net.chunk_size(args.batch)} images)")
    print(f"  best of {args.repeats}: {best * 1e3:.1f} ms per batch = {ips:.0f} images/s "
          f"(median {args.batch / median:.0f}; class histogram "
          f"{np.bincount(classes, minlength=10).tolist()}; first {check} equal to forward_all)")
    return {"network": names, "shapes": [list(s) for s in net.shapes], "batch": args.batch,
            "float32_exact": f32, "chunk_images": net.chunk_size(args.batch),
            "seconds_per_batch": best, "median_seconds_per_batch": median,
            "images_per_second": ips, "median_images_per_second": args.batch / median,
            "checked_against_forward_all": check}


def shipped_model(args):
    from sst_hw.format import modelfile
    from sst_hw.format.convnet import ConvNetwork
    from sst_hw.train.datasets import load_dataset

    net = modelfile.load(args.model)
    data = load_dataset(args.dataset)
    count = min(args.count or len(data.x_test), len(data.x_test))
    x, y = data.x_test[:count], data.y_test[:count]
    best, median, (_, classes) = best_of(lambda: net.forward(x), args.repeats)
    acc = float((classes == y).mean())
    kind = "ConvNetwork" if isinstance(net, ConvNetwork) else "Network (MLP)"
    ips = count / best
    print(f"model {args.model} ({kind}) on {count} {data.name} test images: "
          f"{best * 1e3:.1f} ms = {ips:.0f} images/s (median {count / median:.0f}), "
          f"accuracy {acc:.2%}")
    out = {"path": str(args.model), "class": kind, "dataset": data.name, "images": count,
           "seconds": best, "median_seconds": median, "images_per_second": ips,
           "accuracy": acc}
    if isinstance(net, ConvNetwork):
        out["layers"] = net.kinds
        out["shapes"] = [list(s) for s in net.shapes]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=1000, help="VGG-9 batch (default 1000)")
    ap.add_argument("--small-batch", type=int, default=256,
                    help="reference CNN batch (default 256)")
    ap.add_argument("--dense", type=int, default=256,
                    help="width of the two hidden dense layers of the VGG-9 (default 256)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None,
                    help="pin BLAS threads (default: BLAS's own default)")
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--k", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", type=Path, default=None,
                    help="also time this model file on the test images of --dataset")
    ap.add_argument("--dataset", default="fashion-mnist",
                    help="data set of --model (default fashion-mnist)")
    ap.add_argument("--count", type=int, default=None,
                    help="test images for --model (default: all)")
    ap.add_argument("--skip-random", action="store_true",
                    help="only the --model figure")
    ap.add_argument("-o", "--output", type=Path, default=ROOT / "build/bench/conv_golden.json")
    args = ap.parse_args()
    if args.threads is not None:
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(args.threads)

    import numpy as np
    from synth_common import load_average, write_json

    from sst_hw.format import convnet
    from sst_hw.format.codebook import Codebook

    cb = Codebook(args.n, args.k)
    threads = None
    try:
        from threadpoolctl import threadpool_info
        threads = [d["num_threads"] for d in threadpool_info() if d["user_api"] == "blas"]
    except ImportError:
        pass
    print(f"conv golden model, codebook {cb.describe_short()}; BLAS threads {threads} "
          f"(ConvNetwork.forward runs its chunked products on {convnet.BLAS_THREADS}); "
          f"load average {load_average()}")
    result = {"codebook": cb.describe_short(), "repeats": args.repeats,
              "threads": args.threads, "blas_threads": threads,
              "convnetwork_blas_threads": convnet.BLAS_THREADS,
              "load_average": load_average(),
              "python": sys.version.split()[0], "numpy": np.__version__}
    if not args.skip_random:
        result["reference_cnn"] = reference_cnn(args, cb)
        result["vgg9"] = vgg9(args, cb)
    if args.model is not None:
        result["model"] = shipped_model(args)
    print(f"wrote {write_json(args.output, result)}")


if __name__ == "__main__":
    main()
