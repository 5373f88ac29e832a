"""``sst-hw build``: a model file -> a board bitstream (UART + protocol + network core).

Writes ``<build-dir>/<model>-<board>.bin`` (iCE40) or ``.bit`` (ECP5) with
``report.json``/``report.md`` (resources, fmax), ``build.log`` and the
toolchain's files under ``work/``. The bitstream is named only when place
and route met the board clock; otherwise the command fails (status 1) and
leaves no bitstream under that name.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sst_hw.cli.commands._link_args import check_link_args
from sst_hw.cli.commands._outputs import check_writable_dir
from sst_hw.cli.errors import UserError
from sst_hw.format import limits
from sst_hw.link.wire import DEFAULT_BAUD, DEFAULT_TIMEOUT_BITS, TIMEOUT_BITS_RANGE

HELP_EPILOG = """\
Boards: icebreaker (iCE40 UP5K, 12 MHz), ulx3s-12f/25f/45f/85f (ECP5, 25 MHz),
hx8k-b-evn (iCE40 HX8K breakout, 12 MHz). The network runs on the board clock.
Program with e.g. `iceprog FILE.bin` (iCEBreaker), `iceprog -S FILE.bin`
(HX8K breakout, SRAM) or `openFPGALoader -b ulx3s FILE.bit`, then
`sst-hw infer --port /dev/ttyUSB1 --model MODEL INPUT.npy`.
"""


def register(sub):
    from sst_hw.boards import BOARDS

    p = sub.add_parser("build", help="build a board bitstream for a model (UART front end)",
                       epilog=HELP_EPILOG)
    p.add_argument("model", type=Path, help="model file (.sst: an sst-hw model, from `train` or `import`)")
    p.add_argument("--board", required=True, choices=list(BOARDS), help="target board")
    p.add_argument("--baud", type=int, default=DEFAULT_BAUD,
                   help=f"UART rate in bit/s (default {DEFAULT_BAUD})")
    p.add_argument("--seed", type=int, default=1,
                   help="nextpnr placer seed (same model + seed = same bitstream)")
    p.add_argument("--timeout-bits", type=int, default=DEFAULT_TIMEOUT_BITS,
                   help="idle bit-times that end a partial frame "
                        f"(default {DEFAULT_TIMEOUT_BITS})")
    p.add_argument("--pe", type=int, default=None,
                   help=f"network core: processing elements, {limits.PE[0]}..{limits.PE[1]} "
                        "(default: SSTNetwork's)")
    p.add_argument("--simd", type=int, default=None,
                   help=f"network core: subvectors per beat, {limits.SIMD[0]}..{limits.SIMD[1]} "
                        "(default: SSTNetwork's)")
    p.add_argument("--memory", choices=("bram", "spram"), default="bram",
                   help="MLP code memory: bram (the bitstream holds the model; default) or "
                        "spram (iCE40 UP5K: the bitstream holds the topology, the codes "
                        "arrive with `sst-hw load`)")
    p.add_argument("--loadable", action=argparse.BooleanOptionalAction, default=None,
                   help="MLP: take new models of the same topology over the UART with "
                        "`sst-hw load` (default: on; a bram build keeps its own model as "
                        "the power-on model). CNN cores are not loadable")
    p.add_argument("--build-dir", type=Path, default=None,
                   help="output folder (default build/boards/<model>-<board>)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.set_defaults(func=run)


def run(args):
    import json

    from sst_hw.boards import get_board
    from sst_hw.boards.build import make_board_top
    from sst_hw.boards.flow import BoardBuildError, build_bitstream
    from sst_hw.cli.commands._model_args import load_mlp_model
    from sst_hw.synth.flow import SynthesisError

    if not args.model.is_file():
        raise UserError(f"no such model file: {args.model}")
    check_link_args(args.baud)
    lo, hi = TIMEOUT_BITS_RANGE
    if not lo <= args.timeout_bits <= hi:
        raise UserError(f"--timeout-bits must be in {lo}..{hi}, not {args.timeout_bits}")
    board = get_board(args.board)
    stem = f"{args.model.stem}-{board.name}"
    build_dir = args.build_dir or Path("build") / "boards" / stem
    check_writable_dir(build_dir, "--build-dir")
    from sst_hw.format import modelfile
    from sst_hw.plan.convnet import is_convnet
    network = modelfile.load(args.model)
    if not is_convnet(network):
        network = load_mlp_model(args.model, "build")
    options = {k: getattr(args, k) for k in ("pe", "simd") if getattr(args, k) is not None}
    if args.memory == "spram" and args.loadable is False:
        raise UserError("--memory spram needs --loadable: the bitstream cannot hold SPRAM "
                        "contents, so the model arrives over the UART")
    if args.memory != "bram":
        options["memory"] = args.memory
    if args.loadable is not None:
        options["loadable"] = args.loadable
    try:
        top = make_board_top(network, board, baud=args.baud, timeout_bits=args.timeout_bits,
                             **options)
    except ValueError as e:
        raise UserError(str(e)) from None
    info = top.system.info
    print(f"building {args.model} for {board.description} in {build_dir} "
          f"({args.baud} baud, divisor {info.divisor}, seed {args.seed}) ...", file=sys.stderr)
    try:
        result = build_bitstream(board, top, build_dir, stem=stem, seed=args.seed,
                                 extra_files={"model": args.model.resolve()})
    except BoardBuildError as e:
        print(f"sst-hw build: error: {e}", file=sys.stderr)
        if e.report is not None:
            print(f"reports: {build_dir / 'report.md'}", file=sys.stderr)
        return 1
    except SynthesisError as e:
        print(f"sst-hw build: error: {e}", file=sys.stderr)
        return 1
    rep = result.report
    if args.json:
        print(json.dumps({"bitstream": str(result.bitstream), "sha256": result.sha256,
                          "board": board.name, "seconds": round(result.seconds, 1),
                          "fmax_mhz": rep.fmax_mhz, "model_id": f"{info.model_id:#010x}",
                          "loadable": bool(info.load and info.load.loadable),
                          "image_len": info.load.image_len if info.load else 0,
                          "resources": {k: r.used for k, r in rep.resources.items()}}))
        return 0
    print(rep.to_markdown())
    print(f"bitstream: {result.bitstream}")
    print(f"sha256:    {result.sha256}")
    print(f"device:    {info.describe()}")
    print(f"built in {result.seconds:.1f} s; fmax {rep.fmax_mhz:.1f} MHz "
          f"(board clock {board.clk_hz / 1e6:g} MHz)")
    if info.load is not None and info.load.loadable and not info.load.builtin:
        print(f"then: sst-hw load --port {board.serial_port} --baud {args.baud} {args.model}")
    print(f"then: sst-hw infer --port {board.serial_port} --baud {args.baud} "
          f"--model {args.model} INPUT.npy")
    return 0
