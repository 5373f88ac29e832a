"""``sst-hw synth``: yosys + nextpnr on an emitted core or a model file.

A ``.v`` file (with its JSON sidecar beside it) is wrapped in the
out-of-context harness; a model file (``.sst``) is first compiled into the
network core with the ``compile`` defaults. Writes ``report.json`` and
``report.md`` into the build folder and exits non-zero (status 1) when the
design does not fit or misses the clock constraint.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..synth.devices import DEVICES


def register(sub):
    p = sub.add_parser("synth", help="synthesize a core (.v) or a model (.sst) and report")
    p.add_argument("design", help="Verilog file written by `generate`/`compile`, or a model file")
    p.add_argument("--device", required=True, choices=sorted(DEVICES),
                   help="target device")
    p.add_argument("--freq", type=float, default=None,
                   help="clock constraint in MHz (default: 48 on iCE40, 100 on ECP5)")
    p.add_argument("--seed", type=int, default=1, help="nextpnr placement seed")
    p.add_argument("--build-dir", default=None,
                   help="where tools run and reports go (default: build/synth/<name>-<device>)")
    p.set_defaults(func=run)


def default_freq(device: str) -> float:
    return 48.0 if DEVICES[device].family == "ice40" else 100.0


def run(args):
    from ..cli import UserError
    from ..synth.flow import SynthesisError, synthesize

    src = Path(args.design)
    if not src.is_file():
        raise UserError(f"no such file: {src}")
    if args.freq is not None and not 1 <= args.freq <= 1000:
        raise UserError(f"--freq must be in 1..1000 MHz, not {args.freq}")
    freq = args.freq or default_freq(args.device)
    build = Path(args.build_dir or f"build/synth/{src.stem}-{args.device}")
    if src.suffix in (".v", ".sv"):
        design = src
    else:
        design = _compile_model(src, args.device, build)
    print(f"synthesizing {src} for {args.device} at {freq:g} MHz in {build} ...",
          file=sys.stderr)
    try:
        report = synthesize(design, args.device, freq, build, seed=args.seed)
    except SynthesisError as e:
        print(f"sst-hw synth: {e}", file=sys.stderr)
        return 1
    report.write(build)
    print(report.to_markdown())
    print(f"reports: {build / 'report.json'}, {build / 'report.md'}")
    if not report.fits:
        print(f"sst-hw synth: error: the design does not fit {args.device}", file=sys.stderr)
        return 1
    if not report.meets_timing:
        print(f"sst-hw synth: error: fmax {report.fmax_mhz:.1f} MHz misses the "
              f"{freq:g} MHz constraint", file=sys.stderr)
        return 1
    return 0


def _compile_model(model: Path, device: str, build: Path):
    """The network core of a model file, as an Amaranth component."""
    from .. import modelfile
    try:
        from ..rtl.network import SSTNetwork
    except ImportError as e:  # pragma: no cover - while the network core is absent
        raise ValueError(f"cannot synthesize a model file without the network core ({e})")
    return SSTNetwork(modelfile.load(model))
