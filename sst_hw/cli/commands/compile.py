"""``sst-hw compile``: a model file -> the Verilog of its network core and a sidecar."""

from pathlib import Path

from sst_hw.format import limits
from sst_hw.cli.commands._outputs import check_output_file
from sst_hw.cli.errors import UserError

HELP_EPILOG = """\
Writes OUTPUT (Verilog of the whole network core: code memory, activation
buffers, engine, sequencer, requantization, arg-max) and, beside it, the
sidecar (OUTPUT with suffix .json): module name, parameters, ports, payload
field offsets and widths, memories, layer schedule, resources and the clock
cycles per inference. With --memory spram the codes live in the UP5K's SPRAM,
which the bitstream cannot initialise: the core then takes them through its
`load` stream after reset, and OUTPUT_sim.v holds an SPRAM model for Verilog
simulators. A model that does not fit the device is refused and nothing is
written.
"""


def register(sub):
    from sst_hw.plan.convnet import MAP_MEMORIES
    from sst_hw.plan.network import ACT_MEMORIES, MEMORIES, REQUANT_MODES
    from sst_hw.rtl.decoder import ROM_STYLES
    from sst_hw.emit.network import DEFAULT_MODULE_NAME
    from sst_hw.synth.devices import DEVICES

    p = sub.add_parser("compile", help="write a model's network core (Verilog + JSON sidecar)",
                       epilog=HELP_EPILOG)
    p.add_argument("model", type=Path, help="model file (.sst: an sst-hw model, from `train` or `import`)")
    p.add_argument("-o", "--output", required=True, type=Path, help="Verilog file to write")
    p.add_argument("--json", type=Path, default=None,
                   help="sidecar path (default: OUTPUT with suffix .json)")
    p.add_argument("--pe", type=int, default=None,
                   help=f"processing elements, {limits.PE[0]}..{limits.PE[1]} (default 4; for a "
                        f"CNN the device's reference configuration)")
    p.add_argument("--simd", type=int, default=None,
                   help=f"subvectors per beat, {limits.SIMD[0]}..{limits.SIMD[1]} (default 2; "
                        f"PE x SIMD at most {limits.MAX_LANES}; for a CNN as --pe)")
    p.add_argument("--memory", choices=MEMORIES, default=None,
                   help="MLP: where the codes live: block RAM (default) or the UP5K's SPRAM")
    p.add_argument("--act-memory", choices=("auto",) + ACT_MEMORIES, default=None,
                   help="MLP: where the activation buffer lives (auto, the default: block "
                        "RAM, or logic when only that makes the model fit)")
    p.add_argument("--rq-lanes", type=int, default=None,
                   help="CNN: requantizers side by side (must divide PE and SIMD*N)")
    p.add_argument("--map-memory", choices=MAP_MEMORIES, default=None,
                   help="CNN: where the largest feature map lives (auto: SPRAM on the UP5K)")
    p.add_argument("--device", choices=list(DEVICES), default="up5k",
                   help="device whose resources the model must fit (default up5k)")
    p.add_argument("--requant", choices=REQUANT_MODES, default="auto",
                   help="requantization: shift (no multiplier), mult (16-bit multiplier) "
                        "or auto (shift when every M is 1; default)")
    p.add_argument("--rom", choices=ROM_STYLES, default="auto",
                   help="where the engine's enum decode ROMs go (default: left to synthesis)")
    p.add_argument("--name", default=DEFAULT_MODULE_NAME, help="Verilog module name")
    p.add_argument("--json-summary", action="store_true",
                   help="print the resources as one JSON object instead of text")
    p.set_defaults(func=run)


def _kbit(bits: int) -> str:
    return f"{bits} bits ({bits / 1024:.1f} Kbit)"


def run(args):
    import json

    from sst_hw.cli.commands._model_args import load_mlp_model
    from sst_hw.plan.network import CapacityError
    from sst_hw.emit.network import write_network
    from sst_hw.plan.network import plan_network
    from sst_hw.synth.devices import get_device

    if args.output.suffix == ".json":
        raise UserError(f"output {str(args.output)!r} is the sidecar's name; "
                        f"give the Verilog file (e.g. net.v)")
    if not args.model.is_file():
        raise UserError(f"no such model file: {args.model}")
    check_output_file(args.output, "output")
    if args.json is not None:
        check_output_file(args.json, "--json")
    device = get_device(args.device)
    from sst_hw.format import modelfile
    from sst_hw.plan.convnet import is_convnet
    model = modelfile.load(args.model)
    if is_convnet(model):
        from sst_hw.cli.commands.compile_cnn import run_cnn
        return run_cnn(args, model, device)
    for flag, value in (("--rq-lanes", args.rq_lanes), ("--map-memory", args.map_memory)):
        if value is not None:
            raise UserError(f"{flag} applies to a CNN model; {args.model} is an MLP")
    network = load_mlp_model(args.model, "compile")
    kwargs = dict(pe=4 if args.pe is None else args.pe, simd=2 if args.simd is None else args.simd,
                  memory=args.memory or "bram", requant=args.requant, rom=args.rom)
    act = args.act_memory or "auto"
    try:
        plan = plan_network(network, act_memory="bram" if act == "auto" else act, **kwargs)
    except ValueError as e:
        raise UserError(str(e)) from None
    try:
        res = plan.check_fit(device)
    except CapacityError as e:
        # auto: a wide, shallow activation buffer goes to logic if only that fits.
        if act == "auto" and plan.act_in_logic_ok:
            try:
                plan = plan_network(network, act_memory="logic", **kwargs)
                res = plan.check_fit(device)
            except CapacityError:
                raise UserError(f"{e}; nothing written") from None
        else:
            raise UserError(f"{e}; nothing written") from None
    paths = write_network(plan, args.output, args.json, name=args.name, device=device)
    if args.json_summary:
        print(json.dumps({"files": [str(p) for p in paths], "module": args.name,
                          "cycles_per_inference": plan.cycles(), "resources": res}))
        return 0
    code, acts, par = res["code_memory"], res["activation_buffer"], res["requant_table"]
    act = acts
    print(f"wrote {', '.join(str(p) for p in paths)} (module {args.name})")
    cb = plan.codebook
    print(f"  model: {' -> '.join(str(lp.in_features) for lp in plan.layers)} -> "
          f"{plan.classes}, {plan.weights} weights, {cb.variant}/{cb.assignment} "
          f"({cb.n},{cb.k}) {cb.bits}-bit codes")
    print(f"  core:  PE={plan.pe} SIMD={plan.simd}, A={plan.act_width}"
          f"{' signed' if plan.act_signed else ''}, W={plan.acc_width}, requant "
          f"{plan.requant}, engine latency {plan.engine_latency}")
    print(f"  cycles per inference: {plan.cycles()}")
    print(f"resources against {device.name} ({device.part}):")
    where = "SPRAM" if plan.memory == "spram" else "block RAM"
    print(f"  code memory        {code['words']} x {code['word_bits']} bits = "
          f"{_kbit(code['bits'])} in {where} (model codes {code['model_code_bits']} bits)")
    where = ("logic (much wider than deep: block RAM would be mostly empty)"
             if act["kind"] == "logic" else "block RAM")
    print(f"  activation buffer  {act['words']} x {act['word_bits']} bits = {_kbit(act['bits'])} "
          f"in {where}")
    print(f"  requant table      {par['words']} x {par['word_bits']} bits = {_kbit(par['bits'])}")
    b, s = res["bram"], res["spram"]
    print(f"  block RAM          {b['used']} of {b['available']} (code {code['bram']}, "
          f"activations {act['bram']}, requant {par['bram']}; estimate)")
    if device.spram:
        print(f"  SPRAM              {s['used']} of {s['available']}")
    return 0
