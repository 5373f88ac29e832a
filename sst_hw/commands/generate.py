"""``sst-hw generate``: write an SST engine's Verilog and its JSON sidecar."""

import argparse
from pathlib import Path

from ..codebook import ASSIGNMENTS, VARIANTS

HELP_EPILOG = """\
Writes OUTPUT (Verilog) and, beside it, the sidecar (OUTPUT with suffix
.json): module name, parameters, ports, bit offset and width of every payload
field, latency and the codebook. Nothing is written when a parameter is bad.
"""


def register(sub):
    from ..rtl.decoder import ROM_STYLES
    from ..rtl.emit import DEFAULT_MODULE_NAME
    from ..rtl.engine import DEFAULT_MAX_ROW_LEN

    p = sub.add_parser("generate", help="write the SST engine's Verilog and JSON sidecar",
                       epilog=HELP_EPILOG)
    p.add_argument("--n", type=int, required=True, help="subvector length N")
    p.add_argument("--k", type=int, required=True, help="non-zeros per subvector K")
    p.add_argument("--variant", choices=VARIANTS, default="full")
    p.add_argument("--assignment", choices=ASSIGNMENTS, default="enum")
    p.add_argument("--pe", type=int, default=1, help="processing elements (rows at once)")
    p.add_argument("--simd", type=int, default=1, help="subvectors per beat")
    p.add_argument("--act-width", type=int, default=8, help="activation width in bits")
    p.add_argument("--act-signed", action=argparse.BooleanOptionalAction, default=False,
                   help="signed (two's complement) activations (default: unsigned)")
    p.add_argument("--max-row-len", type=int, default=DEFAULT_MAX_ROW_LEN,
                   help="longest row in weights; fixes the accumulator width "
                        f"(default {DEFAULT_MAX_ROW_LEN})")
    p.add_argument("--rom", choices=ROM_STYLES, default="auto",
                   help="where the enum decode ROM goes (default: left to synthesis)")
    p.add_argument("--decode-reg", action=argparse.BooleanOptionalAction, default=True,
                   help="second register after the decoder (default: on)")
    p.add_argument("--select-reg", action=argparse.BooleanOptionalAction, default=True,
                   help="register the sign-selected terms (default: on)")
    p.add_argument("--tree-stage-levels", type=int, default=1,
                   help="adder-tree levels per pipeline stage, 0 for none (default 1)")
    p.add_argument("--out-depth", type=int, default=2, help="output queue depth in rows")
    p.add_argument("--name", default=DEFAULT_MODULE_NAME, help="Verilog module name")
    p.add_argument("-o", "--output", required=True, type=Path, help="Verilog file to write")
    p.add_argument("--sidecar", type=Path, default=None,
                   help="sidecar path (default: OUTPUT with suffix .json)")
    p.set_defaults(func=run)


def run(args):
    from ..cli import UserError
    from ..rtl.emit import write_engine
    from ..rtl.engine import SSTEngine

    if args.output.suffix == ".json":
        raise UserError(f"output {str(args.output)!r} is the sidecar's name; "
                        f"give the Verilog file (e.g. engine.v)")
    engine = SSTEngine(args.n, args.k, args.variant, args.assignment, pe=args.pe,
                       simd=args.simd, act_width=args.act_width, act_signed=args.act_signed,
                       max_row_len=args.max_row_len, rom=args.rom, decode_reg=args.decode_reg,
                       select_reg=args.select_reg,
                       tree_stage_levels=args.tree_stage_levels, out_depth=args.out_depth)
    vpath, jpath = write_engine(engine, args.output, args.sidecar, name=args.name)
    cb = engine.codebook
    print(f"wrote {vpath} (module {args.name}) and {jpath}")
    print(f"  {cb.variant}/{cb.assignment} ({cb.n},{cb.k}), {cb.bits}-bit codes, "
          f"PE={engine.pe} SIMD={engine.simd}, A={engine.act_width}"
          f"{' signed' if engine.act_signed else ''}, W={engine.acc_width}, "
          f"latency {engine.latency} cycles")
    return 0
