"""``sst-hw import``: import a float MLP from ONNX, project it to SST, write the model file.

The ONNX graph may use Gemm/MatMul, Add, Relu, BatchNormalization, Flatten or
Reshape at the input (also torch's fixed batch-1 ``Reshape`` to ``[1, F]``),
Identity, Cast to float, and a final Softmax/LogSoftmax
(:mod:`sst_hw.train.onnx_import`). A label branch on the scores (skl2onnx's
ArgMax, ArrayFeatureExtractor, ZipMap, ...) is dropped with a note; weights in
an external data file next to the model are found from any working directory.
Anything else is refused with the operator's and the node's name.

Data: ``--finetune DATASET`` fine-tunes on that data set (the trainer's
gradual pruning and straight-through SST phases) and calibrates on it.
Without it, the network is only projected; the batch-norm statistics and the
activation scales are calibrated on ``--calib DATASET``, by default the
built-in data set with the model's input size (digits for 64 features,
fashion-mnist for 784). Accuracies are reported on that data set's test split,
which the report names (a model trained elsewhere may have seen some of it).

Every argument that can be checked without the long work (the codebook, the
numbers, the data set's name, the ONNX file, the output file's folder) is
checked first: a mistake costs one line and exit status 2, never a
projection or a fine-tuning run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from sst_hw.cli.commands._model_args import (
    add_codebook_args,
    add_common_args,
    check_common,
    codebook_of)
from sst_hw.cli.commands._outputs import check_output_file
from sst_hw.cli.errors import UserError


def _floats(text: str, what: str, count: int) -> list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise ValueError(f"{what} must be {count} comma-separated numbers, not {text!r}") from None
    if len(values) != count:
        raise ValueError(f"{what} must be {count} comma-separated numbers, not {text!r}")
    return values


def register(sub):
    p = sub.add_parser(
        "import", help="import a float MLP from ONNX, project it to SST (optionally "
                       "fine-tune) and write the .sst model file",
        description="Import a float multi-layer perceptron from an ONNX file (Gemm/MatMul, "
                    "Add, Relu, BatchNormalization; Flatten/Reshape at the input; Identity, "
                    "Cast; a final Softmax; a label branch such as skl2onnx's ArgMax/ZipMap "
                    "is dropped), project every layer onto an SST codebook, optionally "
                    "fine-tune it on a data set, export it to the integer contract and write "
                    "the .sst model file. Prints ONNX, SST and integer test accuracy, the "
                    "test split used and the compression, and warns when the integer model "
                    "loses more than 2 points. The last layer's bias is dropped (the integer "
                    "network classifies by the arg-max of raw accumulators).")
    p.add_argument("model", metavar="MODEL.onnx",
                   help="the ONNX file (an external data file such as MODEL.onnx.data is "
                        "read from the same folder)")
    add_codebook_args(p)
    p.add_argument("--finetune", metavar="DATASET",
                   help="fine-tune on this data set (digits, fashion-mnist or an IDX folder) "
                        "with gradual pruning and straight-through SST training; also "
                        "calibrates on it")
    p.add_argument("--calib", metavar="DATASET",
                   help="calibration (and test) data set without --finetune (default: digits "
                        "for a 64-input model, fashion-mnist for 784 inputs)")
    p.add_argument("--epochs", metavar="P,S",
                   help="epochs of the prune and sst phases of --finetune (default: the "
                        "trainer's for the data set)")
    p.add_argument("--batch-size", type=int, help="mini-batch size of --finetune")
    p.add_argument("--input-scale", type=float, default=1 / 255, metavar="S",
                   help="the ONNX input is (raw * S - MEAN) / STD of the raw bytes "
                        "(default S = 1/255)")
    p.add_argument("--input-norm", metavar="MEAN,STD", default="0,1",
                   help="normalization the model was trained with, e.g. 0.2860,0.3530 "
                        "(default 0,1)")
    add_common_args(p, "build/imported.sst")
    p.set_defaults(func=run)


def _check_dataset_spec(spec: str, option: str) -> None:
    """Refuse a data set that is neither a built-in name nor an existing folder (before
    anything is loaded)."""
    from sst_hw.train.datasets import DATASETS

    if spec in DATASETS:
        return
    path = Path(spec)
    if not path.exists():
        raise UserError(f"{option} {spec!r}: not one of {', '.join(DATASETS)} and no such "
                        f"folder")
    if not path.is_dir():
        raise UserError(f"{option} {spec!r} is a file; give {', '.join(DATASETS)} or a "
                        f"folder of MNIST-format IDX files")


def describe_test_split(data) -> str:
    """Which samples the accuracies are measured on, in one sentence: the user may have
    trained the ONNX model on some of them."""
    n_test, n_train = len(data.y_test), len(data.y_train)
    if data.name == "digits":
        from sst_hw.train import datasets

        return (f"digits test split: {n_test} of {n_test + n_train} images, "
                f"{100 * datasets._DIGITS_TEST_FRACTION:g} % of each class drawn with "
                f"numpy.random.default_rng({datasets._DIGITS_SPLIT_SEED}) (not sklearn's "
                f"train_test_split); the other {n_train} calibrate. A model trained on "
                f"another split of these digits has seen some test images: its "
                f"accuracies here are optimistic")
    if data.name == "fashion-mnist":
        return (f"fashion-mnist t10k test set: {n_test} images (the standard test split); "
                f"the {n_train} training images calibrate")
    return (f"t10k files of {data.name}: {n_test} test images; the {n_train} training "
            f"images calibrate")


def run(args):
    from sst_hw.format import modelfile
    from sst_hw.format.compression import format_compression
    from sst_hw.train.onnx_import import (
        InputMap,
        default_calibration_dataset,
        import_and_export,
        load_onnx)
    from sst_hw.train.cnn_import import import_and_export_cnn
    from sst_hw.train.datasets import load_dataset
    from sst_hw.train.mlp import Progress, Schedule
    from sst_hw.train.onnx_cnn import is_convolutional, load_onnx_cnn

    # -- every check that needs no long work, first ---------------------------------------
    cb = codebook_of(args)
    mean, std = _floats(args.input_norm, "--input-norm", 2)
    input_map = InputMap(args.input_scale, mean, std)
    if args.finetune and args.calib and args.finetune != args.calib:
        raise ValueError("--calib and --finetune name different data sets; --finetune "
                         "calibrates on its own data set")
    if not args.finetune and (args.epochs or args.batch_size is not None):
        raise ValueError("--epochs and --batch-size need --finetune")
    epochs = None
    if args.epochs:
        try:
            epochs = [int(v) for v in args.epochs.split(",")]
        except ValueError:
            epochs = None
        if epochs is None or len(epochs) != 2 or min(epochs) < 0 or epochs[1] < 1:
            raise ValueError(f"--epochs takes two integers P,S (prune >= 0, sst >= 1), "
                             f"not {args.epochs!r}")
    if args.batch_size is not None and args.batch_size < 1:
        raise ValueError(f"--batch-size must be a positive integer, not {args.batch_size}")
    for option, spec in (("--finetune", args.finetune), ("--calib", args.calib)):
        if spec:
            _check_dataset_spec(spec, option)
    model_path = Path(args.model)
    if not model_path.is_file():
        raise FileNotFoundError(f"ONNX model {args.model!r} "
                                f"{'is a folder' if model_path.is_dir() else 'does not exist'}")
    out = check_output_file(args.output, "-o")
    check_common(args)

    progress = Progress(not args.quiet)
    cnn = is_convolutional(model_path)
    net = load_onnx_cnn(model_path) if cnn else load_onnx(model_path)
    progress.line(f"{args.model}: {net.describe()}")
    for note in net.notes:
        progress.line(f"note: {note}")
    features = int(np.prod(net.input_shape)) if cnn else net.sizes[0]
    spec = args.finetune or args.calib or default_calibration_dataset(features)
    progress.line(f"loading data set {spec} ...")
    data = load_dataset(spec)
    split = describe_test_split(data)
    schedule = None
    if args.finetune:
        schedule = Schedule.for_dataset(data)
        if epochs is not None:
            schedule.epochs_prune, schedule.epochs_sst = epochs
        if args.batch_size is not None:
            schedule.batch_size = args.batch_size
        schedule.epochs_float = 0
        schedule.__post_init__()
    run_import = import_and_export_cnn if cnn else import_and_export
    res = run_import(net, data, cb, finetune=bool(args.finetune), schedule=schedule,
                     input_map=input_map, act_width=args.act_width, seed=args.seed,
                     progress=progress)
    out.parent.mkdir(parents=True, exist_ok=True)
    modelfile.save(res["network"], out)
    acc, comp = res["accuracy"], res["compression"]
    sizes = res["model"].arch if cnn else net.sizes
    # Warnings go to stderr as well, --quiet or not: a report read by a script (--json)
    # or skimmed must not hide a model that lost its accuracy.
    for warning in res["warnings"]:
        print(f"sst-hw import: warning: {warning}", file=sys.stderr)
    if args.json:
        print(json.dumps({"onnx": str(args.model), "dataset": data.name, "test_split": split,
                          "sizes": sizes, "codebook": cb.describe(),
                          "finetune": bool(args.finetune), "accuracy": acc,
                          "compression": comp, "notes": res["notes"],
                          "warnings": res["warnings"], "seconds": res["seconds"],
                          "model": str(out)}))
        return 0
    how = (f"fine-tuned on {data.name}" if args.finetune
           else f"projected, calibrated on {data.name}")
    shape = sizes if cnn else "-".join(map(str, sizes))
    print(f"source       {args.model}: {shape} ({net.describe()})")
    print(f"network      SST {cb.describe_short()}, {cb.bits_per_weight:.4g} bit/weight, "
          f"{args.act_width}-bit activations, {how}")
    for note in res["notes"]:
        print(f"note         {note}")
    print(f"test set     {split}")
    print(f"accuracy     onnx {100 * acc['onnx']:.2f} %   imported float {100 * acc['float']:.2f} %"
          f"   SST (float) {100 * acc['sst']:.2f} %   integer {100 * acc['integer']:.2f} %"
          f"   (test set, {len(data.y_test)} samples)")
    print(f"             integer vs onnx {100 * (acc['integer'] - acc['onnx']):+.2f} points, "
          f"integer/SST-float agreement {100 * acc['agreement']:.2f} %")
    for warning in res["warnings"]:
        print(f"warning      {warning}")
    print(f"time         {res['seconds']:.1f} s")
    print(format_compression(comp))
    print(f"model        {out}")
    sys.stdout.flush()
    return 0
