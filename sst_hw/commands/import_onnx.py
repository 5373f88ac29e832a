"""``sst-hw import``: import a float MLP from ONNX, project it to SST, write the model file.

The ONNX graph may use Gemm/MatMul, Add, Relu, BatchNormalization, Flatten or
Reshape at the input, Identity, and a final Softmax/LogSoftmax
(:mod:`sst_hw.onnx_import`); anything else is refused with the operator's and
the node's name.

Data: ``--finetune DATASET`` fine-tunes on that data set (the trainer's
gradual pruning and straight-through SST phases) and calibrates on it.
Without it, the network is only projected; the batch-norm statistics and the
activation scales are calibrated on ``--calib DATASET``, by default the
built-in data set with the model's input size (digits for 64 features,
fashion-mnist for 784). Accuracies are reported on that data set's test split.
"""

from __future__ import annotations

import json
import sys

from ._model_args import add_codebook_args, add_common_args, check_common, codebook_of


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
                       "fine-tune) and write the model file",
        description="Import a float multi-layer perceptron from an ONNX file (Gemm/MatMul, "
                    "Add, Relu, BatchNormalization; Flatten/Reshape at the input; Identity; "
                    "a final Softmax), project every layer onto an SST codebook, optionally "
                    "fine-tune it on a data set, export it to the integer contract and write "
                    "the model file. Prints ONNX, SST and integer test accuracy and the "
                    "compression. The last layer's bias is dropped (the integer network "
                    "classifies by the arg-max of raw accumulators).")
    p.add_argument("model", metavar="MODEL.onnx", help="the ONNX file")
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


def run(args):
    from .. import modelfile
    from ..compression import format_compression
    from ..onnx_import import InputMap, default_calibration_dataset, import_and_export, load_onnx
    from ..train.datasets import load_dataset
    from ..train.mlp import Progress, Schedule

    cb = codebook_of(args)
    progress = Progress(not args.quiet)
    mean, std = _floats(args.input_norm, "--input-norm", 2)
    input_map = InputMap(args.input_scale, mean, std)
    if args.finetune and args.calib and args.finetune != args.calib:
        raise ValueError("--calib and --finetune name different data sets; --finetune "
                         "calibrates on its own data set")
    if not args.finetune and (args.epochs or args.batch_size):
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
    out = check_common(args)
    net = load_onnx(args.model)
    progress.line(f"{args.model}: {net.describe()}")
    spec = args.finetune or args.calib or default_calibration_dataset(net.sizes[0])
    progress.line(f"loading data set {spec} ...")
    data = load_dataset(spec)
    schedule = None
    if args.finetune:
        schedule = Schedule.for_dataset(data)
        if epochs is not None:
            schedule.epochs_prune, schedule.epochs_sst = epochs
        if args.batch_size is not None:
            schedule.batch_size = args.batch_size
        schedule.epochs_float = 0
        schedule.__post_init__()
    res = import_and_export(net, data, cb, finetune=bool(args.finetune), schedule=schedule,
                            input_map=input_map, act_width=args.act_width, seed=args.seed,
                            progress=progress)
    out.parent.mkdir(parents=True, exist_ok=True)
    modelfile.save(res["network"], out)
    acc, comp = res["accuracy"], res["compression"]
    sizes = net.sizes
    if args.json:
        print(json.dumps({"onnx": str(args.model), "dataset": data.name, "sizes": sizes,
                          "codebook": cb.describe(), "finetune": bool(args.finetune),
                          "accuracy": acc, "compression": comp, "notes": res["notes"],
                          "seconds": res["seconds"], "model": str(out)}))
        return 0
    how = (f"fine-tuned on {data.name}" if args.finetune
           else f"projected, calibrated on {data.name}")
    print(f"source       {args.model}: {'-'.join(map(str, sizes))} ({net.describe()})")
    print(f"network      SST {cb.describe_short()}, {cb.bits_per_weight:.4g} bit/weight, "
          f"{args.act_width}-bit activations, {how}")
    for note in res["notes"]:
        print(f"note         {note}")
    print(f"accuracy     onnx {100 * acc['onnx']:.2f} %   imported float {100 * acc['float']:.2f} %"
          f"   SST (float) {100 * acc['sst']:.2f} %   integer {100 * acc['integer']:.2f} %"
          f"   (test set, {len(data.y_test)} samples)")
    print(f"             integer vs onnx {100 * (acc['integer'] - acc['onnx']):+.2f} points, "
          f"integer/SST-float agreement {100 * acc['agreement']:.2f} %")
    print(f"time         {res['seconds']:.1f} s")
    print(format_compression(comp))
    print(f"model        {out}")
    sys.stdout.flush()
    return 0
