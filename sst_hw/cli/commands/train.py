"""``sst-hw train``: train an SST network, export it to integers, write the model file.

Prints the test-set accuracy of the dense float network, of the SST network in
float arithmetic and of the integer golden model, then the compression table.
Per-epoch progress goes to stderr (``--quiet`` silences it).
"""

from __future__ import annotations

import json
import sys

from sst_hw.cli.commands._model_args import (
    add_codebook_args,
    add_common_args,
    check_common,
    codebook_of)


def _int_list(text: str, what: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise ValueError(f"{what} must be comma-separated integers, not {text!r}") from None
    return values


def register(sub):
    p = sub.add_parser(
        "train", help="train an SST MLP, export it to integers and write the model file",
        description="Train a multi-layer perceptron into SST form (float pre-training, "
                    "gradual pruning, ternary fine-tuning), export it to the integer "
                    "contract and write the model file. Prints float, SST and integer "
                    "test accuracy and the compression.")
    p.add_argument("--dataset", default="digits", metavar="NAME|PATH",
                   help="digits (scikit-learn), fashion-mnist (apt-get install "
                        "dataset-fashion-mnist) or a folder of MNIST-format IDX files "
                        "(default: digits)")
    p.add_argument("--layers", metavar="IN,HIDDEN...,CLASSES",
                   help="layer sizes, e.g. 64,128,10 (default: features,128,classes for "
                        "digits, features,256,classes otherwise)")
    p.add_argument("--arch", metavar="LAYERS",
                   help="a convolutional network, as comma-separated layer tokens: "
                        "c<C>k<K>[s<S>][p<P>] conv (C channels, KxK kernel 1..7, stride 1|2, "
                        "padding 0..K//2), mp2|mp3 max-pool (stride 2), fc<N> dense; the "
                        "last is fc<classes>, e.g. c16k3p1,mp2,c32k3p1,mp2,fc10 "
                        "(instead of --layers)")
    add_codebook_args(p)
    p.add_argument("--epochs", metavar="E|F,P,S",
                   help="epochs of the float, prune and sst phases: one number for all "
                        "three or three numbers (default 30,30,40 for small data sets "
                        "such as digits, 8,8,12 for large ones such as Fashion-MNIST)")
    p.add_argument("--batch-size", type=int,
                   help="mini-batch size (default 32 for small data sets, 256 for large)")
    p.add_argument("--shift-only", action="store_true",
                   help="multiplier-free requantization: every M_r = 1")
    p.add_argument("--flip", action="store_true",
                   help="with --arch: mirror a random half of every training batch left to "
                        "right (augmentation)")
    p.add_argument("--threads", type=int, default=1, metavar="T",
                   help="BLAS threads while training: 1 (default) gives the same weights on "
                        "every run; 0 picks 1 or all cores per epoch by timing (faster on an "
                        "idle machine, weights then vary in the last bits)")
    add_common_args(p, "build/digits.sst")
    p.set_defaults(func=run)


def run(args):
    from sst_hw.train.arch import ArchError, parse_arch
    from sst_hw.train.datasets import load_dataset
    from sst_hw.train.export import train_and_export
    from sst_hw.train.mlp import Progress, Schedule

    cb = codebook_of(args)
    progress = Progress(not args.quiet)
    if args.arch is not None and args.layers is not None:
        raise ValueError("--arch and --layers are two ways to give the network: use one")
    if args.arch is not None:
        try:
            parse_arch(args.arch)
        except ArchError as e:
            raise ValueError(f"--arch: {e}") from None
    if args.flip and args.arch is None:
        raise ValueError("--flip mirrors images: it needs a convolutional network (--arch)")
    if args.threads < 0:
        raise ValueError(f"--threads must be 0 (auto) or a positive count, not {args.threads}")
    sizes = _int_list(args.layers, "--layers") if args.layers else None
    if sizes is not None and (len(sizes) < 2 or min(sizes) < 1):
        raise ValueError(f"--layers needs at least two positive sizes, not {args.layers!r}")
    epochs = _int_list(args.epochs, "--epochs") if args.epochs else None
    if epochs is not None:
        if len(epochs) == 1:
            epochs = epochs * 3
        if len(epochs) != 3:
            raise ValueError(f"--epochs takes one number or three (float,prune,sst), "
                             f"not {args.epochs!r}")
    out = check_common(args)
    progress.line(f"loading data set {args.dataset} ...")
    data = load_dataset(args.dataset)
    if args.arch is not None:
        if data.image_shape is None:
            raise ValueError(f"--arch needs images, but the data set {data.name} has flat "
                             f"features (IDX images of rank 1)")
        try:
            specs = parse_arch(args.arch, data.image_shape, data.classes)
        except ArchError as e:
            raise ValueError(f"--arch: {e}") from None
    if sizes is not None:
        if sizes[0] != data.features or sizes[-1] != data.classes:
            raise ValueError(f"--layers must start with the data set's {data.features} features "
                             f"and end with its {data.classes} classes, not {args.layers!r}")
    elif args.arch is None:
        hidden = 128 if len(data.x_train) < 10000 else 256
        sizes = [data.features, hidden, data.classes]
    sched = Schedule.for_dataset(data)
    if epochs is not None:
        sched.epochs_float, sched.epochs_prune, sched.epochs_sst = epochs
    if args.batch_size is not None:
        sched.batch_size = args.batch_size
    sched.threads = args.threads
    sched.__post_init__()
    if args.arch is not None:
        return _run_cnn(args, data, specs, cb, sched, progress, out)
    progress.line(f"{data.describe()}\ntraining {'-'.join(map(str, sizes))}, SST "
                  f"{cb.describe_short()}, epochs {sched.epochs_float}/{sched.epochs_prune}/"
                  f"{sched.epochs_sst}, batch {sched.batch_size}, seed {args.seed}")
    res = train_and_export(data, sizes, cb, schedule=sched, seed=args.seed,
                           shift_only=args.shift_only, act_width=args.act_width,
                           progress=progress)
    return _save_and_report(args, data, cb, res, out, "-".join(map(str, sizes)),
                            {"sizes": sizes})


def _run_cnn(args, data, specs, cb, sched, progress, out):
    from sst_hw.train.arch import format_arch
    from sst_hw.train.cnn_export import train_and_export_cnn

    arch = format_arch(specs)
    h, w, c = data.image_shape
    progress.line(f"{data.describe()}\ntraining {arch} on {h}x{w}x{c} images, SST "
                  f"{cb.describe_short()}, epochs {sched.epochs_float}/{sched.epochs_prune}/"
                  f"{sched.epochs_sst}, batch {sched.batch_size}, seed {args.seed}")
    res = train_and_export_cnn(data, specs, cb, schedule=sched, seed=args.seed,
                               shift_only=args.shift_only, act_width=args.act_width,
                               progress=progress, flip=args.flip)
    return _save_and_report(args, data, cb, res, out, arch, {"arch": arch},
                            {"train_seconds": res["train"].seconds})


def _save_and_report(args, data, cb, res, out, network: str, layers: dict,
                     extra: dict | None = None) -> int:
    """Save the trained model to ``out`` and report it: with ``--json`` one JSON line
    (``layers`` and ``extra`` are the keys that differ between an MLP and a CNN),
    otherwise the summary, which names the layers ``network``."""
    from sst_hw.format import modelfile

    out.parent.mkdir(parents=True, exist_ok=True)
    modelfile.save(res["network"], out)
    acc, comp = res["accuracy"], res["compression"]
    if args.json:
        print(json.dumps({"dataset": data.name, **layers, "codebook": cb.describe(),
                          "shift_only": args.shift_only, "seed": args.seed,
                          "accuracy": acc, "compression": comp, "seconds": res["seconds"],
                          **(extra or {}), "model": str(out)}))
        return 0
    _print_summary(args, data, network, cb, acc, res, comp, out)
    return 0


def _print_summary(args, data, network, cb, acc, res, comp, out):
    from sst_hw.format.compression import format_compression

    mode = "shift-only (M_r = 1)" if args.shift_only else "16-bit multipliers"
    print(f"data set     {data.describe()}")
    print(f"network      {network}, SST {cb.describe_short()}, "
          f"{cb.bits_per_weight:.4g} bit/weight, {args.act_width}-bit activations, {mode}")
    print(f"accuracy     float {100 * acc['float']:.2f} %   SST (float) {100 * acc['sst']:.2f} %"
          f"   integer {100 * acc['integer']:.2f} %   (test set, {len(data.y_test)} samples)")
    print(f"             integer vs float {100 * (acc['integer'] - acc['float']):+.2f} points, "
          f"integer/SST-float agreement {100 * acc['agreement']:.2f} %")
    print(f"time         {res['seconds']:.1f} s (training {res['train'].seconds:.1f} s)")
    print(format_compression(comp))
    print(f"model        {out}")
    sys.stdout.flush()
