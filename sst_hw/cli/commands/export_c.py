"""``sst-hw export-c``: a model file -> a portable C99 library (the embedded-CPU path)."""

from pathlib import Path

from sst_hw.cli.errors import UserError

HELP_EPILOG = """\
Writes DIR/NAME_model.h and DIR/NAME_model.c: a self-contained C99
library (<stdint.h> only; no allocation, no floating point) with one function,
`int NAME_infer(const uint8_t *input, int32_t *logits)`, that returns the
class and writes the logits, bit-exact with the golden model (the input type
follows the model's input format; logits are int64_t when the last
accumulator needs more than 32 bits). The weights are const arrays (flash on a
microcontroller). --weights sst (default) keeps the SST codes and a decode
table per codebook, and the dot product only adds and subtracts;
--weights int8 is the dense baseline: the same ternary weights stored as a
dense int8 matrix with a multiply-accumulate loop (same results, for speed
and size comparisons). MLP and convolutional models (conv2d, max-pool,
flatten, dense) are supported. --driver also writes NAME_driver.c, a main()
that reads raw inputs from stdin and prints `class logit0 logit1 ...` per
input. Use a different --name per model to link several into one program.
"""


def register(sub):
    from sst_hw.emit.c_model import WEIGHT_KINDS

    p = sub.add_parser("export-c", help="write a model as a portable C99 library "
                                        "(bit-exact; SST or dense int8 weights)",
                       epilog=HELP_EPILOG)
    p.add_argument("model", type=Path,
                   help="model file (.sst: an sst-hw model, from `train` or `import`)")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="DIR",
                   help="folder to write NAME_model.h and NAME_model.c into")
    p.add_argument("--name", default="sst",
                   help="prefix of the files, of NAME_infer and of the macros (default sst)")
    p.add_argument("--weights", choices=list(WEIGHT_KINDS), default="sst",
                   help="sst: codes + decode table, add/subtract only (default); int8: "
                        "dense int8 baseline with a multiply-accumulate loop")
    p.add_argument("--driver", action="store_true",
                   help="also write NAME_driver.c (stdin -> class and logits, for tests)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object (files, types, bytes) instead of text")
    p.set_defaults(func=run)


def run(args):
    import json

    from sst_hw.cli.commands._outputs import check_writable_dir
    from sst_hw.emit.c_model import check_c_name, generate_c, write_c
    from sst_hw.format import modelfile

    check_c_name(args.name)
    if not args.model.is_file():
        raise UserError(f"no such model file: {args.model}")
    if args.output.exists() and not args.output.is_dir():
        raise UserError(f"output {str(args.output)!r} is a file; give a folder")
    check_writable_dir(args.output, "output folder")
    network = modelfile.load(args.model)
    model = generate_c(network, args.name, args.weights)
    paths = write_c(model, args.output, driver=args.driver)
    s = model.summary
    if args.json:
        print(json.dumps({**s, "paths": [str(p) for p in paths]}))
        return 0
    print(f"wrote {', '.join(str(p) for p in paths)}")
    print(f"  int {args.name}_infer(const {s['input_type']} *input, {s['logit_type']} *logits):"
          f" {s['in_features']} inputs -> {s['classes']} classes")
    if args.weights == "sst":
        what = f"codes {s['code_bytes']} + decode tables {s['table_bytes']}"
    else:
        what = "dense int8"
    print(f"  weights {s['weight_bytes']} bytes ({what}), requantization constants "
          f"{s['const_bytes']} bytes, static RAM {s['ram_bytes']} bytes")
    return 0
