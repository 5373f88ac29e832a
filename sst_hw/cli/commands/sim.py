"""``sst-hw sim``: run the cocotb testbench on emitted Verilog and compare with the golden model.

Three targets:

* a model file (``.sst``): compiled into a network core under the build
  folder (``--pe``, ``--simd``, ``--memory``, ``--requant`` as for
  ``sst-hw compile``), then simulated;
* a compiled network core (``.v`` + sidecar from ``sst-hw compile``), with
  ``--model`` the model file whose golden model it is compared against (a
  loadable core, e.g. ``--memory spram``, takes that model's image through
  its ``image`` port first: written, read back, then run);
* an engine (``.v`` + sidecar from ``sst-hw generate``): random rows of codes
  and activations, compared with the golden dot products.

Every output beat is compared bit for bit; the report gives inferences (or
rows) compared, mismatches, the measured cycles per inference (engine:
latency) against the sidecar's figure, and wall time. Exit status 0 when all
is bit-exact and the cycles are the sidecar's, 1 otherwise, 2 for bad input
(refused before any file is written or any simulator is built).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from sst_hw.format import limits
from sst_hw.cli.commands._outputs import check_writable_dir
from sst_hw.cli.errors import UserError

#: Inclusive bounds of --count and --rows.
COUNT_RANGE = (1, 100_000)
#: Inclusive bounds of --seed.
SEED_RANGE = (0, 2**32 - 1)
#: Inferences simulated by default from a data set or random inputs.
DEFAULT_COUNT = 32
#: Engine rows simulated by default.
DEFAULT_ROWS = 100
#: Suffixes taken as Verilog.
VERILOG_SUFFIXES = (".v", ".sv")

HELP_EPILOG = """\
TARGET is one of:
  MODEL.sst        compiled into a network core under the build folder
                   (--pe/--simd/--memory/--requant as for `sst-hw compile`),
                   then simulated and compared with MODEL's golden model;
  CORE.v           a network core written by `sst-hw compile` (its sidecar
                   CORE.json beside it); needs --model, the model to compare
                   against;
  ENGINE.v         an engine written by `sst-hw generate`: random rows of
                   codes and activations (--rows, --seed; each row group 1 to
                   min(max_row_len, 16 x N x SIMD) weights long, activations
                   over their whole range), compared with the golden dot
                   products.
  A sidecar (.json) may be given instead of a .v file.

Network inputs: --input X.npy (integers, shape (features,) or (batch,
features), in the model's input range), --dataset NAME (the test split of
digits, fashion-mnist or an MNIST-format IDX folder), or, with neither,
random values over the input range (--seed). --count takes the first N
(default: every row of --input, else 32).

The inputs go in back to back with o.ready high, the conditions of the
sidecar's figures: the measured cycles per inference (first input beat
accepted to class beat, both included) must equal the sidecar's
cycles_per_inference, an engine row's latency the sidecar's latency.

Files (all under --build-dir, default build/sim/<TARGET stem>): the compiled
core (model target), the simulator build (verilator/, reused when the
Verilog has not changed), run/ (testbench configuration, record, log) and,
with --wave, wave.fst (wave.vcd from Verilator when the C++ compiler has no
lz4.h, which its FST writer needs).

Exit status: 0 every output bit-exact and the cycles as the sidecar's;
1 a mismatch, a missing or extra output, other cycles, or a simulator
failure; 2 bad input (nothing built or written).

Examples:
  sst-hw sim models/digits.sst --dataset digits --count 32
  sst-hw compile models/digits.sst -o build/net.v
  sst-hw sim build/net.v --model models/digits.sst --input x.npy
  sst-hw generate --n 8 --k 2 --pe 4 --simd 2 -o build/engine.v
  sst-hw sim build/engine.v --rows 200 --seed 1 --wave
"""


def register(sub):
    from sst_hw.plan.network import MEMORIES, REQUANT_MODES
    from sst_hw.sim.runner import SIMULATORS

    p = sub.add_parser("sim", help="simulate Verilog (cocotb) and compare it with the golden model",
                       description="Run the cocotb testbench on a core's Verilog and compare\n"
                                   "every output bit for bit with the golden model.",
                       epilog=HELP_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("target", type=Path, metavar="TARGET",
                   help="model file (.sst), or Verilog (.v) / sidecar (.json) from "
                        "`sst-hw compile` or `sst-hw generate`")
    p.add_argument("--model", type=Path, default=None,
                   help="model file to compare a compiled core (.v) against")
    p.add_argument("--sidecar", type=Path, default=None,
                   help="sidecar of a .v TARGET (default: TARGET with suffix .json)")
    g = p.add_argument_group("network inputs")
    g.add_argument("--input", type=Path, default=None, metavar="X.npy",
                   help="integer inputs, shape (features,) or (batch, features)")
    g.add_argument("--dataset", default=None, metavar="NAME",
                   help="use this data set's test split: digits, fashion-mnist or an IDX folder")
    g.add_argument("--count", type=int, default=None,
                   help=f"inferences, {COUNT_RANGE[0]}..{COUNT_RANGE[1]} (default: all rows of "
                        f"--input, else {DEFAULT_COUNT})")
    g = p.add_argument_group("engine")
    g.add_argument("--rows", type=int, default=None,
                   help=f"random row groups (output beats of PE dot products), "
                        f"{COUNT_RANGE[0]}..{COUNT_RANGE[1]} (default {DEFAULT_ROWS})")
    p.add_argument("--seed", type=int, default=1,
                   help="seed of the random inputs or rows (default 1)")
    g = p.add_argument_group("network core (model file TARGET only)")
    g.add_argument("--pe", type=int, default=None,
                   help=f"processing elements, {limits.PE[0]}..{limits.PE[1]} (default 4)")
    g.add_argument("--simd", type=int, default=None,
                   help=f"subvectors per beat, {limits.SIMD[0]}..{limits.SIMD[1]} (default 2)")
    g.add_argument("--memory", choices=MEMORIES, default=None,
                   help="where the codes live: bram (default) or spram (the model's image, "
                        "codes and requantization table, written through the core's image "
                        "port before the first inference)")
    g.add_argument("--requant", choices=REQUANT_MODES, default=None,
                   help="shift, mult or auto (default)")
    p.add_argument("--build-dir", type=Path, default=None,
                   help="folder for every file of the run (default build/sim/<TARGET stem>)")
    p.add_argument("--simulator", choices=SIMULATORS, default=None,
                   help="simulator (default: $SIM, else verilator)")
    p.add_argument("--wave", action="store_true",
                   help="write a waveform to BUILD_DIR/wave.fst (Verilator: wave.vcd when "
                        "the compiler lacks lz4.h for FST)")
    p.add_argument("--json", action="store_true",
                   help="print the result as one JSON object instead of text")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=run)


# -- checks of the input, before any work -------------------------------------------------------

def _check_range(flag: str, value, bounds) -> None:
    lo, hi = bounds
    if value is not None and not lo <= value <= hi:
        raise UserError(f"{flag} must be in {lo}..{hi}, not {value}")


def _given(args, *flags) -> list:
    return [f for f in flags if getattr(args, f.lstrip("-").replace("-", "_")) is not None]


def _refuse(args, flags, why: str) -> None:
    given = _given(args, *flags)
    if given:
        raise UserError(f"{', '.join(given)} {'applies' if len(given) == 1 else 'apply'} "
                        f"{why}")


def _load_model(path: Path, what: str):
    from sst_hw.cli.commands._model_args import mlp_network
    from sst_hw.format import modelfile
    if not path.is_file():
        raise UserError(f"no such {what}: {path}")
    try:
        network = modelfile.load(path)
    except modelfile.ModelFormatError as e:
        raise UserError(f"{e} (a model file is written by `sst-hw train` or `sst-hw import`)") \
            from None
    from sst_hw.plan.convnet import is_convnet
    if is_convnet(network):
        return network
    return mlp_network(network, path, "`sst-hw sim` simulates the hardware, which takes "
                                      "MLP models only")


def _cnn_plan(args, network):
    """The CNN core of ``network`` as ``sst-hw compile`` makes it for the UP5K
    (--pe and --simd override the reference configuration)."""
    from sst_hw.plan.convnet import UP5K_CNN_CORE, plan_convnet
    from sst_hw.synth.devices import get_device
    if args.memory is not None:
        raise UserError("--memory is the MLP core's code memory; a CNN core keeps its codes in "
                        "block RAM (its largest map goes to SPRAM on the UP5K)")
    opts = dict(UP5K_CNN_CORE)
    if args.pe is not None:
        opts["pe"] = args.pe
    if args.simd is not None:
        opts["simd"] = args.simd
    if opts["pe"] % opts["rq_lanes"]:
        opts["rq_lanes"] = 1
    return plan_convnet(network, requant=args.requant or "auto", device=get_device("up5k"),
                        **opts)


def _load_sidecar(path: Path):
    from sst_hw.sim.sidecar import Sidecar
    try:
        side = Sidecar.load(path)
    except json.JSONDecodeError as e:
        raise UserError(f"sidecar {str(path)!r} is not JSON: {e}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise UserError(f"{str(path)!r} is not an sst-hw sidecar (from `sst-hw generate` or "
                        f"`sst-hw compile`): {type(e).__name__} {e}") from None
    fmt = side.data.get("format")
    if fmt not in ("sst-hw/engine", "sst-hw/network", "sst-hw/convnet"):
        raise UserError(f"{str(path)!r} is not an sst-hw sidecar: format {fmt!r}, not "
                        f"'sst-hw/engine', 'sst-hw/network' or 'sst-hw/convnet'")
    if "i" not in side.streams or "o" not in side.streams:
        raise UserError(f"sidecar {str(path)!r} has no i and o streams")
    return side


def _resolve_verilog(args):
    """(verilog path, Sidecar, extra sources) of a .v or .json TARGET."""
    target = args.target
    if target.suffix == ".json":
        if args.sidecar is not None:
            raise UserError("TARGET is a sidecar already; --sidecar applies to a .v TARGET")
        side = _load_sidecar(target)
        vpath = side.verilog_path
        if vpath is None:
            raise UserError(f"sidecar {str(target)!r} names no Verilog file")
        if not vpath.is_file():
            raise UserError(f"no such Verilog file: {vpath} (named by sidecar {target})")
    else:
        jpath = args.sidecar or target.with_suffix(".json")
        if not jpath.is_file():
            how = ("" if args.sidecar else
                   f": expected {jpath} beside it (written by `sst-hw generate` or "
                   f"`sst-hw compile`); give --sidecar")
            raise UserError(f"no sidecar for {target}{how}" if not args.sidecar
                            else f"no such sidecar: {jpath}")
        side = _load_sidecar(jpath)
        vpath = target.resolve()
        named = side.verilog_path
        if named is not None and named != vpath:
            raise UserError(f"sidecar {jpath} describes {named}, not {target}")
    extra = []
    for rel in side.data.get("simulation_models") or []:
        path = (side.path.parent / rel).resolve()
        if not path.is_file():
            raise UserError(f"no such simulation model: {path} (named by sidecar {side.path})")
        extra.append(path)
    return vpath, side, extra


def _load_npy(path: Path, network):
    from sst_hw.cli.commands._inputs import load_input_batch

    x = load_input_batch(path)
    features = network.layers[0].in_features
    if x.shape[1] != features:
        raise UserError(f"input {path} has {x.shape[1]} features per input, the model takes "
                        f"{features}")
    return _in_range(x, network, f"input {path}")


def _in_range(x, network, what: str):
    """``x`` as int64 after the golden model's own range check (``UserError``)."""
    try:
        return network.check_input(x)
    except ValueError as e:
        raise UserError(f"{what}: {e}") from None


def _network_inputs(args, network):
    """(x int64 (count, features), labels or None, description)."""
    import numpy as np

    if args.input is not None and args.dataset is not None:
        raise UserError("give --input or --dataset, not both")
    features = getattr(network, "in_features", None) or network.layers[0].in_features
    if args.input is not None:
        x = _load_npy(args.input, network)
        count = args.count or len(x)
        if count > len(x):
            raise UserError(f"--count {count} is more than the {len(x)} inputs of {args.input}")
        return x[:count], None, f"{args.input}, rows 0..{count - 1} of {len(x)}"
    if args.dataset is not None:
        from sst_hw.train.datasets import load_dataset
        data = load_dataset(args.dataset)
        x_all = data.x_test
        if x_all.shape[1] != features:
            raise UserError(f"--dataset {args.dataset} has {x_all.shape[1]} features, the model "
                            f"takes {features}")
        count = args.count or min(DEFAULT_COUNT, len(x_all))
        if count > len(x_all):
            raise UserError(f"--count must be in 1..{len(x_all)} for the {len(x_all)} test "
                            f"samples of {args.dataset}, not {count}")
        x = _in_range(x_all[:count].astype(np.int64), network, f"--dataset {args.dataset}")
        return x, data.y_test[:count], (f"{args.dataset} test split, samples 0..{count - 1} "
                                        f"of {len(x_all)}")
    count = args.count or DEFAULT_COUNT
    lo, hi = network.input_range
    rng = np.random.default_rng(args.seed)
    x = rng.integers(lo, hi, size=(count, features), endpoint=True)
    return x, None, f"random, uniform in {lo}..{hi} (seed {args.seed})"


# -- the command --------------------------------------------------------------------------------

def run(args):
    from sst_hw.sim import session
    from sst_hw.sim.runner import CocotbFailure, simulator

    t_start = time.monotonic()
    _check_range("--count", args.count, COUNT_RANGE)
    _check_range("--rows", args.rows, COUNT_RANGE)
    _check_range("--seed", args.seed, SEED_RANGE)
    target = args.target
    if not target.exists():
        raise UserError(f"no such file: {target}")
    if target.is_dir():
        raise UserError(f"{target} is a folder; give a model file (.sst), a Verilog file (.v) "
                        f"or a sidecar (.json)")
    sim = simulator(args.simulator)
    if sim == "icarus" and shutil.which("iverilog") is None:
        raise UserError("--simulator icarus: iverilog is not on PATH")

    is_model = target.suffix not in VERILOG_SUFFIXES + (".json",)
    core_plan = load_plan = network = None
    notes = []
    if is_model:
        _refuse(args, ["--model", "--sidecar"], "only to a .v TARGET, not to a model file")
        _refuse(args, ["--rows"], "only to an engine TARGET; a model's inferences are --count")
        network = _load_model(target, "model file")
        from sst_hw.plan.convnet import is_convnet
        if is_convnet(network):
            core_plan = _cnn_plan(args, network)
        else:
            from sst_hw.plan.network import plan_network
            opts = dict(pe=4 if args.pe is None else args.pe,
                        simd=2 if args.simd is None else args.simd,
                        memory=args.memory or "bram", requant=args.requant or "auto")
            # Every option is checked by the plan (pe and simd against format.limits):
            # ValueError, exit 2, for a bad one.
            core_plan = plan_network(network, **opts)
        kind = "network"
        side = None
    else:
        _refuse(args, ["--pe", "--simd", "--memory", "--requant"],
                f"only to a model file TARGET; {target} has them built in (see its sidecar)")
        vpath, side, extra = _resolve_verilog(args)
        kind = session.sidecar_kind(side)
        if kind == "network":
            _refuse(args, ["--rows"], f"only to an engine; {target} is a network core, whose "
                                      f"inferences are --count")
            if args.model is None:
                raise UserError(f"{target} is a network core: give --model MODEL.sst, the model "
                                f"to compare it against")
            network = _load_model(args.model, "model file")
            blocking, notes = session.network_differences(side, network)
            if blocking:
                raise UserError(f"model {args.model} does not fit core {target}: "
                                f"{'; '.join(blocking)}")
            if side.image is not None:
                load_plan = _plan_of(side, network, args.model)
                where = ("keeps its codes in SPRAM and" if side.params.get("memory") == "spram"
                         else "is loadable (its bitstream's model is not run) and")
                notes.append(f"the core {where} takes the model's image (codes and "
                             "requantization table) through its image port: the model's codes "
                             "and constants are loaded, not compared with the Verilog's; the "
                             "rest (datapath, clamps, schedule) is the Verilog's")
        else:
            _refuse(args, ["--model", "--input", "--dataset", "--count"],
                    f"only to a network core; {target} is an engine, simulated on random "
                    f"rows (--rows, --seed)")

    labels = None
    if kind == "network":
        x, labels, inputs_what = _network_inputs(args, network)
    build_dir = args.build_dir or Path("build") / "sim" / target.stem
    check_writable_dir(build_dir, "--build-dir")

    def say(msg):
        if not args.quiet:
            print(f"sst-hw sim: {msg}", file=sys.stderr, flush=True)

    seconds = {"prepare": time.monotonic() - t_start}
    # -- the long part: compile, build, simulate -------------------------------------------
    if core_plan is not None:
        from sst_hw.emit.network import write_network
        from sst_hw.emit.convnet import write_convnet
        from sst_hw.plan.convnet import ConvPlan
        cnn = isinstance(core_plan, ConvPlan)
        say(f"compiling {target} into a {'CNN' if cnn else 'network'} core (PE {core_plan.pe}, "
            f"SIMD {core_plan.simd}, "
            f"{'maps in ' + core_plan.map_memory if cnn else core_plan.memory}) in {build_dir}")
        t0 = time.monotonic()
        write = write_convnet if cnn else write_network
        paths = write(core_plan, build_dir / f"{target.stem}.v")
        seconds["compile"] = time.monotonic() - t0
        from sst_hw.sim.sidecar import Sidecar
        vpath = next(p for p in paths if p.suffix == ".v").resolve()
        extra = [p.resolve() for p in paths if p.suffix == ".v" and p.resolve() != vpath]
        side = Sidecar.load(next(p for p in paths if p.suffix == ".json"))

    t0 = time.monotonic()
    if kind == "network":
        image = None
        if side.image is not None:
            plan = load_plan or core_plan
            image = (plan.code_image(), plan.param_image())
        stim = session.network_stimulus(side, network, x, image=image)
    else:
        rows = args.rows or DEFAULT_ROWS
        stim = session.engine_stimulus(side, rows, args.seed)
    seconds["golden"] = time.monotonic() - t0

    wave_fmt = session.wave_format(sim) if args.wave else None
    sim_dir = build_dir / (sim + (f"-{wave_fmt}" if wave_fmt else ""))
    say(f"building the {sim} model of {vpath.name} in {sim_dir}")
    t0 = time.monotonic()
    try:
        sim_build = session.build(side, [vpath, *extra], sim_dir, sim=sim, waves=wave_fmt)
    except CocotbFailure as e:
        log = sim_dir.parent / f"{sim_dir.name}.build.log"
        print(f"sst-hw sim: error: {_short_failure(e, log)}", file=sys.stderr)
        return 1
    seconds["build"] = time.monotonic() - t0
    wave = (build_dir / f"wave.{wave_fmt}").resolve() if wave_fmt else None
    what = (f"{stim.expected.shape[0]} inferences" if kind == "network"
            else f"{stim.expected.shape[0]} rows")
    say(f"simulating {what} ({len(stim.inputs)} input beats)")
    try:
        record = session.simulate(sim_build, side, stim, build_dir / "run", wave=wave)
    except CocotbFailure as e:
        print(f"sst-hw sim: error: {_short_failure(e, build_dir / 'run' / 'sim.log')}",
              file=sys.stderr)
        return 1
    seconds["simulate"] = record["seconds"]
    if wave is not None and sim != "verilator":
        produced = sim_build.build_dir / f"{side.module}.fst"
        if produced.is_file():
            produced.replace(wave)
    t0 = time.monotonic()
    if kind == "network":
        out = session.check_network(side, stim, record)
    else:
        out = session.check_engine(side, stim, record)
    out.notes = notes
    seconds["check"] = time.monotonic() - t0
    seconds["total"] = time.monotonic() - t_start

    report = _report(args, kind, side, vpath, out, stim, seconds, build_dir, wave, labels,
                     inputs_what if kind == "network" else f"random rows (seed {args.seed})",
                     sim)
    if args.json:
        print(json.dumps(report))
    else:
        _print_text(report, out, side)
    if not out.ok:
        print(f"sst-hw sim: error: {_failure_line(out)}", file=sys.stderr)
        return 1
    return 0


def _short_failure(e, log) -> str:
    """The first line of a simulator failure, its error lines and the log's path."""
    lines = str(e).splitlines()
    errors = [ln.strip() for ln in lines[1:] if "error" in ln.lower()][:8]
    return "\n".join([lines[0] if lines else "simulator failure", *errors, f"log: {log}"])


def _plan_of(side, network, model_path):
    """The plan of ``network`` on the loadable core of a network sidecar (for
    the image the core takes), refused unless it has the core's topology."""
    from sst_hw.plan.image import topology_id
    from sst_hw.sim.session import image_plan
    try:
        plan = image_plan(side.params, network)
    except ValueError as e:
        raise UserError(f"model {model_path} cannot be laid out for this core: {e}") from None
    want = side.image.topology_id
    if want is not None and topology_id(plan) != int(want):
        raise UserError(f"model {model_path} does not have the topology of this loadable core "
                        f"(topology id {topology_id(plan):#010x}, the core's {int(want):#010x}): "
                        "its image cannot be loaded")
    return plan


def _report(args, kind, side, vpath, out, stim, seconds, build_dir, wave, labels, inputs, sim):
    unit = "inferences" if kind == "network" else "rows"
    rep = {
        "target": str(args.target), "kind": kind, "verilog": str(vpath),
        "sidecar": str(Path(side.path).resolve()), "module": side.module, "simulator": sim,
        "model": (str(args.target) if kind == "network" and args.model is None
                  else (str(args.model) if args.model else None)),
        "inputs": inputs,
        unit: out.asked, "compared": out.compared, "mismatches": out.mismatches,
        "missing": out.missing, "extra_beats": out.extra_beats, "timed_out": out.timed_out,
        "values_compared": out.values_compared,
        "bit_exact": out.bit_exact,
        ("cycles_per_inference" if kind == "network" else "latency"): {
            "measured": out.measured[0] if len(out.measured) == 1 else out.measured,
            "sidecar": out.sidecar, "match": out.cycles_ok},
        "simulated_cycles": out.simulated_cycles,
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
        "build_dir": str(build_dir), "wave": str(wave) if wave else None,
        "mismatch_examples": [{"index": m.index, "hardware": m.got, "golden": m.want,
                               **({"note": m.note} if m.note else {})}
                              for m in out.examples],
        "notes": out.notes,
    }
    p = side.params
    if kind == "network":
        rep["core"] = {"pe": p.get("pe"), "simd": p.get("simd"), "memory": p.get("memory"),
                       "requant": p.get("requant"), "kind": p.get("kind", "mlp")}
        if out.period is not None:
            rep["period"] = {"measured": out.periods, "sidecar": out.period,
                             "match": set(out.periods) <= {out.period}}
        rep["inputs_back_to_back"] = out.back_to_back
        if stim.image is not None:
            rep["image"] = {"code_words": len(stim.image["code"]),
                            "table_rows": len(stim.image["table"]),
                            "read_back_mismatches": out.image_mismatches,
                            "match": out.image_mismatches == 0}
        if labels is not None and len(out.classes) == out.asked:
            rep["label_accuracy"] = float((out.classes == labels).mean())
    else:
        rep["engine"] = {k: p.get(k) for k in ("n", "k", "variant", "assignment", "pe", "simd",
                                              "act_width", "act_signed", "max_row_len")
                         if k in p}
        rep["engine"]["weights"] = side.kind
        rep["dot_products"] = out.compared * int(p["pe"])
        rep["input_beats"] = len(stim.inputs)
        rep["input_stall_cycles"] = out.input_stall_cycles
    return rep


def _fmt_cycles(measured) -> str:
    if not measured:
        return "none measured"
    if len(measured) == 1:
        return str(measured[0])
    return f"{min(measured)}..{max(measured)} (distinct values {measured})"


def _print_text(rep, out, side):
    kind = rep["kind"]
    s = rep["seconds"]
    if kind == "network":
        c = rep["core"]
        what = (f"CNN core {rep['module']} (PE {c['pe']}, SIMD {c['simd']}"
                if c["kind"] == "cnn" else
                f"network core {rep['module']} (PE {c['pe']}, SIMD {c['simd']}, {c['memory']}")
        print(f"{rep['target']}: {what}, requant {c['requant']}) on {rep['simulator']}, golden "
              f"model {rep['model']}")
        print(f"  inputs       {rep['inputs']}")
        per = side.params.get("classes")
        print(f"  inferences   {out.compared} of {out.asked} compared, {out.mismatches} "
              f"mismatches ({out.values_compared} values: {per} logits + class each)")
        first = "of the first inference " if out.period is not None else "per inference "
        print(f"  cycles       {_fmt_cycles(out.measured)} {first}measured, "
              f"{out.sidecar} in the sidecar"
              f"{'' if out.measured == [out.sidecar] else '  <- DIFFERENT'}")
        if out.period is not None and out.periods:
            ok = set(out.periods) <= {out.period}
            print(f"  period       {_fmt_cycles(out.periods)} cycles between back-to-back "
                  f"inferences measured, {out.period} in the sidecar"
                  f"{'' if ok else '  <- DIFFERENT'}")
        if "image" in rep:
            im = rep["image"]
            print(f"  image        {im['code_words']} code words and {im['table_rows']} table "
                  f"rows written through the image port, "
                  + ("read back identical" if im["match"] else
                     f"{im['read_back_mismatches']} read back different  <- DIFFERENT"))
        if not out.back_to_back:
            print("  note: the core did not take an inference's input beats back to back")
        if "label_accuracy" in rep:
            right = int(round(rep["label_accuracy"] * out.asked))
            print(f"  labels       {right} of {out.asked} classes equal the data set's labels "
                  f"({rep['label_accuracy']:.1%})")
    else:
        e = rep["engine"]
        what = (f"SST {e.get('variant')}/{e.get('assignment')} ({e.get('n')},{e.get('k')})"
                if e["weights"] == "sst" else f"dense {e['weights']} (N={e.get('n')})")
        print(f"{rep['target']}: engine {rep['module']}, {what}, PE {e.get('pe')} SIMD "
              f"{e.get('simd')}, A={e.get('act_width')}"
              f"{' signed' if e.get('act_signed') else ''} on {rep['simulator']}")
        print(f"  inputs       {rep['inputs']}, {rep['input_beats']} beats")
        print(f"  rows         {out.compared} of {out.asked} compared, {out.mismatches} "
              f"mismatches ({rep['dot_products']} dot products)")
        print(f"  latency      {_fmt_cycles(out.measured)} cycles measured, {out.sidecar} in "
              f"the sidecar{'' if out.cycles_ok else '  <- DIFFERENT'}")
        print(f"  input stalls {out.input_stall_cycles} cycles")
    if out.missing or out.timed_out:
        print(f"  missing      {out.missing} {'inferences' if kind == 'network' else 'rows'}"
              f"{' (timed out)' if out.timed_out else ''}")
    if out.extra_beats:
        print(f"  extra beats  {out.extra_beats} output beats nobody asked for")
    for m in out.examples:
        name = "inference" if kind == "network" else "row"
        note = f" ({m.note})" if m.note else ""
        print(f"  {name} {m.index}: hardware {m.got}, golden {m.want}{note}")
    for n in out.notes:
        print(f"  note: {n}")
    print(f"  simulated    {out.simulated_cycles} cycles in {s['simulate']:.1f} s")
    parts = ", ".join(f"{k} {v:.1f} s" for k, v in s.items() if k != "total")
    print(f"  wall time    {s['total']:.1f} s ({parts})")
    if rep["wave"]:
        print(f"  waveform     {rep['wave']}")
    print(f"  result       {'bit-exact with the golden model' if out.bit_exact else 'MISMATCH'}"
          f"{'' if out.cycles_ok else ', cycles differ from the sidecar'}"
          f"{', image read back different' if out.image_mismatches else ''}")


def _failure_line(out) -> str:
    unit = "inferences" if out.kind == "network" else "rows"
    parts = []
    if out.mismatches:
        parts.append(f"{out.mismatches} of {out.asked} {unit} differ from the golden model")
    if out.extra_beats:
        parts.append(f"{out.extra_beats} extra output beats")
    if not out.cycles_ok:
        what = "cycles per inference" if out.kind == "network" else "latency"
        if out.measured != [out.sidecar]:
            parts.append(f"measured {what} {_fmt_cycles(out.measured)} != sidecar "
                         f"{out.sidecar}")
        else:
            parts.append(f"measured period {_fmt_cycles(out.periods)} != sidecar {out.period}")
    if out.image_mismatches:
        parts.append(f"{out.image_mismatches} of {out.image_words} image words read back "
                     "different from what was written")
    return "; ".join(parts) or "the run did not complete"
