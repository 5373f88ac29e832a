"""``sst-hw synth``: yosys + nextpnr on an emitted core or a model file.

A ``.v`` file (with its JSON sidecar beside it, when there is one) is wrapped
in the out-of-context harness; a model file (``.sst``) is first compiled into
the network core with the ``compile`` defaults. Writes ``report.json`` and
``report.md`` into the build folder.

Exit status: 0 when the design fits (and, if ``--freq`` was given, meets
that clock); 1 when it does not fit or misses the ``--freq`` the user asked
for; 2 for bad input, including a network core whose memories cannot fit the
device, which is refused before any synthesis. Without ``--freq`` nextpnr
aims at a default target and the achieved fmax is reported, not judged.
"""

from __future__ import annotations

import sys
from pathlib import Path

from sst_hw.synth.devices import DEVICES
from sst_hw.cli.commands._outputs import check_writable_dir
from sst_hw.cli.errors import UserError

HELP_EPILOG = """\
Without --freq the place-and-route aims at 48 MHz (iCE40) or 100 MHz (ECP5)
and the command reports the fmax it reached; with --freq F it exits 1 when
fmax < F. A network core's memories (read from its sidecar, or planned from
the model file) are checked against the device first: one that cannot fit is
refused at once.
"""


def register(sub):
    p = sub.add_parser("synth", help="synthesize a core (.v) or a model (.sst) and report",
                       epilog=HELP_EPILOG)
    p.add_argument("design", help="Verilog file written by `generate`/`compile` (or any "
                                  "Verilog file), or a model file (.sst)")
    p.add_argument("--device", required=True, choices=sorted(DEVICES),
                   help="target device")
    p.add_argument("--freq", type=float, default=None,
                   help="clock constraint in MHz, 1..1000; exit 1 if missed (default: aim at "
                        "48 on iCE40, 100 on ECP5 and report fmax without judging it)")
    p.add_argument("--top", default=None,
                   help="module to synthesize in a Verilog file (default: from the sidecar, "
                        "else the only module or the top of the hierarchy)")
    p.add_argument("--seed", type=int, default=1, help="nextpnr placement seed")
    p.add_argument("--build-dir", default=None,
                   help="where tools run and reports go (default: build/synth/<name>-<device>)")
    p.set_defaults(func=run)


def default_freq(device: str) -> float:
    """The clock nextpnr aims at when the user names none, MHz."""
    return 48.0 if DEVICES[device].family == "ice40" else 100.0


def run(args):
    from sst_hw.synth.devices import get_device
    from sst_hw.synth.flow import SynthesisError, VerilogDesign, synthesize

    src = Path(args.design)
    if not src.is_file():
        raise UserError(f"no such file: {src}")
    if args.freq is not None and not 1 <= args.freq <= 1000:
        raise UserError(f"--freq must be in 1..1000 MHz, not {args.freq}")
    device = get_device(args.device)
    freq = args.freq or default_freq(args.device)
    build = Path(args.build_dir or f"build/synth/{src.stem}-{args.device}")
    check_writable_dir(build, "--build-dir")
    if src.suffix in (".v", ".sv"):
        sidecar = src.with_suffix(".json")
        if sidecar.is_file():
            check_sidecar_fit(sidecar, device)
        design = VerilogDesign.from_sidecar(src, top=args.top) if args.top else src
    else:
        if args.top:
            raise UserError("--top applies to a Verilog file, not a model file")
        design = _compile_model(src, device)
    print(f"synthesizing {src} for {args.device} at {freq:g} MHz in {build} ...",
          file=sys.stderr)
    try:
        report = synthesize(design, args.device, freq, build, seed=args.seed)
    except SynthesisError as e:
        print(f"sst-hw synth: error: {e}", file=sys.stderr)
        return 1
    report.write(build)
    print(report.to_markdown())
    print(f"reports: {build / 'report.json'}, {build / 'report.md'}")
    if not report.fits:
        print(f"sst-hw synth: error: the design does not fit {args.device}", file=sys.stderr)
        return 1
    if not report.meets_timing:
        if args.freq is not None:
            print(f"sst-hw synth: error: fmax {report.fmax_mhz:.1f} MHz misses the "
                  f"{freq:g} MHz constraint", file=sys.stderr)
            return 1
        print(f"sst-hw synth: fmax {report.fmax_mhz:.1f} MHz (below the {freq:g} MHz aimed "
              f"at; pass --freq to require a clock)", file=sys.stderr)
    return 0


def check_sidecar_fit(sidecar: Path, device) -> None:
    """Refuse (``UserError``) a network core whose memories, as its sidecar
    lists them, need more block RAM or SPRAM than ``device`` has."""
    import json

    from sst_hw.plan.network import block_count

    try:
        res = json.loads(sidecar.read_text()).get("resources")
    except (OSError, ValueError) as e:
        raise UserError(f"cannot read the sidecar {sidecar}: {e}") from None
    if isinstance(res, dict) and "memories" in res:      # a CNN core
        used = sum(block_count(m["word_bits"], m["words"], device.family)
                   for m in res["memories"] if m["kind"] == "bram")
        spram = sum(m["blocks"] for m in res["memories"] if m["kind"] == "spram")
        if spram > device.spram:
            raise UserError(f"{sidecar.name}: a feature map lives in SPRAM, which {device.name} "
                            f"does not have; compile with --map-memory bram")
        if used > device.bram:
            raise UserError(f"the core of {sidecar.name} does not fit the {device.name}: its "
                            f"memories need {used} blocks of block RAM, the device has "
                            f"{device.bram}; nothing synthesized")
        return
    if not isinstance(res, dict) or "code_memory" not in res:
        return          # an engine: no memories to check
    code, act, par = res["code_memory"], res["activation_buffer"], res["requant_table"]
    memories = [("activation buffer", act), ("requantization table", par)]
    if code["kind"] == "bram":
        memories.insert(0, ("code memory", code))
    elif not device.spram:
        raise UserError(f"{sidecar.name}: the codes live in SPRAM, which {device.name} does "
                        f"not have; compile with --memory bram")
    blocks = {name: block_count(m["word_bits"], m["words"], device.family)
              for name, m in memories}
    if sum(blocks.values()) > device.bram:
        parts = ", ".join(f"{n} {b}" for n, b in blocks.items() if b)
        raise UserError(f"the core of {sidecar.name} does not fit the {device.name}: its "
                        f"memories need {sum(blocks.values())} blocks of block RAM ({parts}); "
                        f"the device has {device.bram}; nothing synthesized")


def _compile_model(model: Path, device):
    """The network core of a model file, as an Amaranth component, refused
    (``UserError``) before any synthesis when it cannot fit ``device``."""
    from sst_hw.cli.commands._model_args import load_mlp_model
    from sst_hw.plan.network import CapacityError
    from sst_hw.core.network import SSTNetwork
    from sst_hw.plan.network import plan_network

    from sst_hw.format import modelfile
    from sst_hw.plan.convnet import is_convnet
    loaded = modelfile.load(model)
    if is_convnet(loaded):
        from sst_hw.core.conv.network import SSTConvNetwork
        from sst_hw.plan.convnet import ECP5_CNN_CORE, UP5K_CNN_CORE, plan_convnet
        opts = ECP5_CNN_CORE if device.family == "ecp5" else UP5K_CNN_CORE
        try:
            plan = plan_convnet(loaded, device=device, **opts)
            plan.check_fit(device)
        except (CapacityError, ValueError) as e:
            raise UserError(f"{e}; nothing synthesized") from None
        return SSTConvNetwork(plan)
    network = load_mlp_model(model, "synth")
    try:
        plan = plan_network(network)
        plan.check_fit(device)
    except CapacityError as e:
        raise UserError(f"{e}; nothing synthesized") from None
    return SSTNetwork(plan)
