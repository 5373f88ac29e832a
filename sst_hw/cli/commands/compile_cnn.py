"""``sst-hw compile`` of a CNN model: the CNN core's Verilog, sidecar and report."""

from __future__ import annotations

import json

from sst_hw.cli.errors import UserError


def cnn_options(args, device) -> dict:
    """The CNN core's options from ``args``: the device's reference
    configuration, overridden by --pe, --simd, --rq-lanes, --map-memory."""
    from sst_hw.plan.convnet import ECP5_CNN_CORE, UP5K_CNN_CORE
    if args.memory is not None:
        raise UserError("--memory is the MLP core's code memory; a CNN core keeps its codes in "
                        "block RAM (use --map-memory for its feature maps)")
    opts = dict(ECP5_CNN_CORE if device.family == "ecp5" else UP5K_CNN_CORE)
    for key, value in (("pe", args.pe), ("simd", args.simd), ("rq_lanes", args.rq_lanes)):
        if value is not None:
            opts[key] = value
    if args.rq_lanes is None and (opts["pe"] % opts["rq_lanes"]):
        opts["rq_lanes"] = 1
    opts["map_memory"] = args.map_memory or "auto"
    return opts


def run_cnn(args, network, device) -> int:
    from sst_hw.emit.convnet import write_convnet
    from sst_hw.plan.convnet import plan_convnet
    from sst_hw.plan.network import CapacityError

    opts = cnn_options(args, device)
    try:
        plan = plan_convnet(network, requant=args.requant, rom=args.rom, device=device, **opts)
    except ValueError as e:
        raise UserError(str(e)) from None
    try:
        res = plan.check_fit(device)
    except CapacityError as e:
        raise UserError(f"{e}; nothing written") from None
    paths = write_convnet(plan, args.output, args.json, name=args.name, device=device)
    if args.json_summary:
        print(json.dumps({"files": [str(p) for p in paths], "module": args.name,
                          "cycles_per_inference": plan.cycles(), "period": plan.period(),
                          "resources": res, "passes": plan.describe()["passes"]}))
        return 0
    cb, mcb = plan.codebook, plan.model_codebook
    print(f"wrote {', '.join(str(p) for p in paths)} (module {args.name})")
    h, w, c = plan.input_shape
    print(f"  model: {h}x{w}x{c} -> {plan.classes}, {len(plan.passes)} passes, "
          f"{plan.weight_ops} weight operations per inference, {mcb.variant}/{mcb.assignment} "
          f"({mcb.n},{mcb.k}) codes"
          + (f" (decoded as {cb.assignment})" if cb.assignment != mcb.assignment else ""))
    print(f"  core:  PE={plan.pe} SIMD={plan.simd} R={plan.rq_lanes}, A={plan.act_width}"
          f"{' signed' if plan.act_signed else ''}, W={plan.acc_width}, requant "
          f"{plan.requant}, engine latency {plan.engine_latency}")
    print(f"  cycles: {plan.cycles()} for one inference, {plan.period()} between back-to-back "
          f"inferences; peak {plan.peak_weights_per_cycle} weights/cycle")
    print("  pass  kind    input        kernel pool  out          steps/group groups  cycles"
          "  occupancy  efficiency")
    for d in plan.describe()["passes"]:
        pool = "-" if d["pool"] is None else f"{d['pool'][0]}/{d['pool'][1]}"
        print(f"  {d['pass']:>4}  {d['kind']:<6}  {'x'.join(map(str, d['in_shape'])):<11}  "
              f"{'x'.join(map(str, d['kernel'])):<6} {pool:<4}  "
              f"{'x'.join(map(str, d['out_shape'])):<11}  {d['steps_per_group']:>11} "
              f"{d['groups']:>6} {d['cycles']:>7}  {d['occupancy']:>8.1%}  "
              f"{d['efficiency']:>9.1%}")
    print(f"memories against {device.name} ({device.part}):")
    for mem in res["memories"]:
        why = f"  ({mem['why']})" if mem["why"] else ""
        print(f"  {mem['name']:<17} {mem['words']:>6} x {mem['word_bits']:>4} bits  "
              f"{mem['kind']:<5} {mem['blocks']:>3} blocks{why}")
    b, s = res["bram"], res["spram"]
    print(f"  block RAM {b['used']} of {b['available']}"
          + (f", SPRAM {s['used']} of {s['available']}" if device.spram else "") + " (estimate)")
    return 0
