"""``sst-hw generate``: write an engine's Verilog and its JSON sidecar.

``--weights sst`` (the default) is the SST engine; ``int8`` and ``ternary``
are the dense baselines of the same interface (:mod:`sst_hw.rtl.dense_engine`),
for side-by-side comparisons.
"""

import argparse
from pathlib import Path

from sst_hw.format import limits
from sst_hw.format.codebook import ASSIGNMENTS, VARIANTS
from sst_hw.cli.commands._outputs import check_output_file
from sst_hw.cli.errors import UserError

HELP_EPILOG = """\
Writes OUTPUT (Verilog) and, beside it, the sidecar (OUTPUT with suffix
.json): module name, parameters, ports, bit offset and width of every payload
field, latency and the weight format (for SST, the codebook). Nothing is
written when a parameter is bad.
"""

#: --weights choices -> weight kind of the sidecar.
WEIGHT_KINDS = {"sst": "sst", "int8": "int8", "ternary": "ternary2"}
#: Options (argparse dest -> flag) that only the SST engine has.
SST_ONLY = {"k": "--k", "variant": "--variant", "assignment": "--assignment", "rom": "--rom",
            "decode_reg": "--decode-reg/--no-decode-reg",
            "select_reg": "--select-reg/--no-select-reg"}
#: Options that only the int8 engine has.
INT8_ONLY = {"weight_width": "--weight-width", "dsp_mults": "--dsp-mults"}


def register(sub):
    from sst_hw.rtl.decoder import ROM_STYLES
    from sst_hw.emit.engine import DEFAULT_MODULE_NAME, DENSE_MODULE_NAMES
    from sst_hw.rtl.engine import DEFAULT_MAX_ROW_LEN
    from sst_hw.rtl.row_pipeline import DEFAULT_FANOUT

    p = sub.add_parser("generate", help="write an engine's Verilog and JSON sidecar",
                       epilog=HELP_EPILOG)
    p.add_argument("--weights", choices=list(WEIGHT_KINDS), default="sst",
                   help="weight format: sst (default), or the dense baselines int8 (signed "
                        "multiplied weights) and ternary (2 bits per weight)")
    p.add_argument("--n", type=int, required=True,
                   help="subvector length N (weights per code word)")
    p.add_argument("--k", type=int, default=None,
                   help="non-zeros per subvector K (sst only; required there)")
    p.add_argument("--variant", choices=VARIANTS, default=None, help="sst only (default full)")
    p.add_argument("--assignment", choices=ASSIGNMENTS, default=None,
                   help="sst only (default enum)")
    p.add_argument("--weight-width", type=int, default=None,
                   help="int8 only: bits per weight, 2..16 (default 8)")
    p.add_argument("--dsp-mults", type=int, default=None,
                   help="int8 only: multipliers written as `*` (DSP blocks), the rest in LUT "
                        "logic (default: all)")
    p.add_argument("--pe", type=int, default=1,
                   help=f"processing elements (rows at once), {limits.PE[0]}..{limits.PE[1]}")
    p.add_argument("--simd", type=int, default=1,
                   help=f"subvectors per beat, {limits.SIMD[0]}..{limits.SIMD[1]} (PE x SIMD "
                        f"at most {limits.MAX_LANES})")
    p.add_argument("--act-width", type=int, default=8, help="activation width in bits")
    p.add_argument("--act-signed", action=argparse.BooleanOptionalAction, default=False,
                   help="signed (two's complement) activations (default: unsigned)")
    p.add_argument("--max-row-len", type=int, default=DEFAULT_MAX_ROW_LEN,
                   help="longest row in weights; fixes the accumulator width "
                        f"(default {DEFAULT_MAX_ROW_LEN})")
    p.add_argument("--rom", choices=ROM_STYLES, default=None,
                   help="sst only: where the enum decode ROM goes (default: left to synthesis)")
    p.add_argument("--decode-reg", action=argparse.BooleanOptionalAction, default=None,
                   help="sst only: second register after the decoder (default: on)")
    p.add_argument("--select-reg", action=argparse.BooleanOptionalAction, default=None,
                   help="sst only: register the sign-selected terms (default: on)")
    p.add_argument("--tree-stage-levels", type=int, default=1,
                   help="adder-tree levels per pipeline stage, 0 for none (default 1)")
    p.add_argument("--out-depth", type=int, default=2, help="output queue depth in rows")
    p.add_argument("--fanout", type=int, default=DEFAULT_FANOUT,
                   help="most PEs reading one copy of the broadcast registers, 0 for one "
                        f"copy (default {DEFAULT_FANOUT})")
    p.add_argument("--name", default=None,
                   help=f"Verilog module name (default {DEFAULT_MODULE_NAME}, or "
                        f"{' / '.join(DENSE_MODULE_NAMES.values())} for the dense baselines)")
    p.add_argument("-o", "--output", required=True, type=Path, help="Verilog file to write")
    p.add_argument("--sidecar", type=Path, default=None,
                   help="sidecar path (default: OUTPUT with suffix .json)")
    p.set_defaults(func=run)


def _refuse(args, options: dict, what: str):
    given = [flag for dest, flag in options.items() if getattr(args, dest) is not None]
    if given:
        raise UserError(f"{', '.join(given)} {'applies' if len(given) == 1 else 'apply'} to "
                        f"{what} only, not --weights {args.weights}")


def build_engine(args):
    """The parameters of the engine the parsed ``args`` describe (refusing
    options of another kind); ``write_engine`` builds the engine once every
    check has passed."""
    common = dict(pe=args.pe, simd=args.simd, act_width=args.act_width,
                  act_signed=args.act_signed, max_row_len=args.max_row_len,
                  tree_stage_levels=args.tree_stage_levels, out_depth=args.out_depth,
                  fanout=args.fanout)
    if args.weights == "sst":
        from sst_hw.plan.engine import SSTParams
        _refuse(args, INT8_ONLY, "--weights int8")
        if args.k is None:
            raise UserError("--k is required with --weights sst")
        return SSTParams(args.n, args.k, args.variant or "full", args.assignment or "enum",
                         rom=args.rom or "auto",
                         decode_reg=True if args.decode_reg is None else args.decode_reg,
                         select_reg=True if args.select_reg is None else args.select_reg,
                         **common)
    from sst_hw.plan.engine import DenseIntParams, DenseTernaryParams
    _refuse(args, SST_ONLY, "--weights sst")
    if args.weights == "int8":
        return DenseIntParams(args.n, weight_width=8 if args.weight_width is None
                              else args.weight_width, dsp_mults=args.dsp_mults, **common)
    _refuse(args, INT8_ONLY, "--weights int8")
    return DenseTernaryParams(args.n, **common)


def run(args):
    from sst_hw.emit.engine import check_module_name, write_engine

    if args.output.suffix == ".json":
        raise UserError(f"output {str(args.output)!r} is the sidecar's name; "
                        f"give the Verilog file (e.g. engine.v)")
    check_output_file(args.output, "output")
    if args.sidecar is not None:
        check_output_file(args.sidecar, "--sidecar")
    engine = build_engine(args)
    name = check_module_name(engine, args.name)
    vpath, jpath = write_engine(engine, args.output, args.sidecar, name=name)
    print(f"wrote {vpath} (module {name}) and {jpath}")
    if args.weights == "sst":
        cb = engine.codebook
        what = f"{cb.variant}/{cb.assignment} ({cb.n},{cb.k}), {cb.bits}-bit codes"
    else:
        fmt = engine.weights
        what = (f"dense {fmt.kind}, N={fmt.n} x {fmt.bits_per_weight} bits = "
                f"{fmt.code_bits}-bit codes")
        if args.weights == "int8":
            what += f", {engine.dsp_mults} of {engine.mults} multipliers as DSP"
    print(f"  {what}, PE={engine.pe} SIMD={engine.simd}, A={engine.act_width}"
          f"{' signed' if engine.act_signed else ''}, W={engine.acc_width}, "
          f"latency {engine.latency} cycles")
    return 0
