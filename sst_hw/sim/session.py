"""Simulate emitted Verilog against the golden model and count what differs.

The host side of ``sst-hw sim`` (the cocotb side is :mod:`sst_hw.sim.replay_tb`):

* :func:`network_stimulus` / :func:`engine_stimulus` turn inputs into packed
  stream payloads (through the sidecar's field offsets), for a loadable
  network core also the model's image (:func:`image_plan`), and compute the
  expected outputs with the golden model (:meth:`sst_hw.format.golden.Network.forward`
  for a network core, :meth:`sst_hw.format.golden.Layer.accumulate` or
  :func:`sst_hw.format.golden.dense_accumulate_codes` for an engine's rows);
* :func:`simulate` builds the simulation model (cached, see
  :mod:`sst_hw.sim.runner`) and replays the payloads, back to back with
  ``o.ready`` high;
* :func:`check_network` / :func:`check_engine` compare every output beat bit
  for bit, count mismatches, and measure cycles per inference (network) or
  latency (engine) against the sidecar's figure.

Everything here is plain NumPy apart from the simulator run; a
:class:`Mismatch` list keeps the first few differences for the report.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sst_hw.sim.sidecar import Sidecar

__all__ = ["TB_MODULE", "CORE_OPTIONS", "Stimulus", "Mismatch", "SimOutcome", "image_plan",
           "network_stimulus", "engine_stimulus", "wave_format", "build", "simulate",
           "check_network", "check_engine", "sidecar_kind", "network_differences"]

TB_MODULE = "sst_hw.sim.replay_tb"
#: Mismatches kept (with values) for the report; all are counted.
KEEP_MISMATCHES = 5
#: The options of a network core that its sidecar's ``parameters`` (and
#: ``NetPlan.params``) carry, as :func:`~sst_hw.plan.network.plan_network` takes them.
CORE_OPTIONS = ("pe", "simd", "memory", "requant", "rom", "select_reg", "tree_stage_levels",
                "mem_reg", "act_memory")
#: Longest random engine row, in beats (rows are 1..min(max_row_len, this x N x SIMD) long).
ENGINE_MAX_BEATS = 16


def sidecar_kind(side: Sidecar) -> str:
    """``"network"`` (written by ``sst-hw compile``) or ``"engine"`` (``sst-hw generate``)."""
    fmt = side.data.get("format", "")
    if fmt in ("sst-hw/network", "sst-hw/convnet") or "cycles_per_inference" in side.data:
        return "network"
    return "engine"


@dataclass
class Stimulus:
    """Packed payloads for the replay testbench and what should come back.

    Attributes
    ----------
    inputs : list of int
        Payloads of stream ``i``, in order.
    image : dict or None
        A loadable core's image, written through its ``image`` port first:
        ``{"code": words, "table": rows}`` (ints).
    outputs : int
        Output beats expected.
    expected : int64 array
        Network: (count, classes + 1), logits then class. Engine: (rows, PE).
    beats : int64 array, engine only
        Input beats of each row.
    timeout_cycles : int
        Simulated cycles after which the run gives up.
    """

    inputs: list
    image: dict | None
    outputs: int
    expected: np.ndarray
    timeout_cycles: int
    beats: np.ndarray | None = None


@dataclass
class Mismatch:
    """One output that differs: its index, what the hardware gave, the golden value."""
    index: int
    got: list
    want: list
    note: str = ""


@dataclass
class SimOutcome:
    """What a run measured, compared with the golden model and the sidecar.

    ``compared`` counts inferences (network) or rows (engine) whose output
    arrived and was compared; ``mismatches`` those that differ, plus those
    that never arrived. ``measured`` lists the distinct cycle figures seen
    (cycles per inference for a network, latency for an engine), to be
    equal to ``sidecar``.
    """

    kind: str
    asked: int
    compared: int
    mismatches: int
    values_compared: int
    measured: list
    sidecar: int
    simulated_cycles: int
    timed_out: bool = False
    extra_beats: int = 0
    missing: int = 0
    examples: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    back_to_back: bool = True
    input_stall_cycles: int = 0
    classes: np.ndarray | None = None

    periods: list = field(default_factory=list)
    period: int | None = None
    #: Words of the image written through a loadable core's port, and how many
    #: of them read back differently.
    image_words: int = 0
    image_mismatches: int = 0

    @property
    def cycles_ok(self) -> bool:
        return (self.measured == [self.sidecar]
                and (self.period is None or set(self.periods) <= {self.period}))

    @property
    def bit_exact(self) -> bool:
        return (self.mismatches == 0 and self.compared == self.asked and not self.timed_out
                and self.extra_beats == 0)

    @property
    def ok(self) -> bool:
        return self.bit_exact and self.cycles_ok and self.image_mismatches == 0


# -- stimulus --------------------------------------------------------------------------------

def image_plan(params: dict, network):
    """The plan of ``network`` on a loadable core of parameters ``params`` (a
    network sidecar's, or ``NetPlan.params``): the core's options
    (:data:`CORE_OPTIONS`), loadable; its ``code_image()`` and
    ``param_image()`` are what the core takes. A ``ValueError`` if the
    model cannot be laid out so."""
    from sst_hw.plan.network import plan_network
    return plan_network(network, **{k: params[k] for k in CORE_OPTIONS if k in params},
                        loadable=True)


def network_stimulus(side: Sidecar, network, x, *, image=None) -> Stimulus:
    """Payloads of inputs ``x`` (int, (count, features)) for a network core and
    the golden logits and classes of ``network``. ``image`` (``(code words,
    table rows)``): what a loadable core takes through its ``image`` port
    first (checked against the sidecar's image sizes)."""
    x = network.check_input(x)
    logits, classes = network.forward(x)
    x = x.reshape(len(x), -1)      # images: HWC order, channel fastest
    expected = np.concatenate([logits, classes[:, None]], axis=1)
    si = side.streams["i"]
    inputs = [si.pack(data=int(v)) for v in x.reshape(-1)]
    words = 0
    if image is not None:
        if side.image is None:
            raise ValueError("an image for a core that has no image port")
        code, table = ([int(w) for w in ws] for ws in image)
        side.image.check_image(code, table)
        image = {"code": code, "table": table}
        words = len(code) + len(table)
    count, features = x.shape
    classes_n = expected.shape[1] - 1
    cycles = int(side.data["cycles_per_inference"])
    timeout = count * (cycles + features + classes_n) * 4 + words * 8 + 1000
    return Stimulus(inputs, image, count * (classes_n + 1), expected, timeout)


def _engine_golden(side: Sidecar):
    """(kind-specific helper): a function ``(codes (PE, S), x (row_len,)) -> acc (PE,)``
    from the golden model, and a function ``(rng, width, count) -> codes`` that draws
    ``count`` random code words of ``width`` non-padding weights."""
    from sst_hw.format.golden import Layer, dense_accumulate_codes

    w = side.weights
    n = side.n
    if side.kind == "sst":
        from sst_hw.format.codebook import Codebook
        cb = Codebook(n, int(w.get("k", side.data["codebook"]["k"])),
                      w.get("variant", side.data["codebook"]["variant"]),
                      w.get("assignment", side.data["codebook"]["assignment"]))
        used = cb.used
        vectors = cb.vectors
        cands = {}

        def draw(rng, width, count):
            if width not in cands:
                ok = used & ~vectors[:, width:].any(axis=1) if width < n else used
                cands[width] = np.flatnonzero(ok)
            return rng.choice(cands[width], size=count)

        def golden(codes, x):
            codes = np.asarray(codes).astype(np.int64)
            layer = Layer(len(x), codes.shape[0], cb, codes, np.ones(codes.shape[0], np.int64),
                          np.zeros(codes.shape[0], np.int64), 0, False, 32)
            return layer.accumulate(np.asarray(x, np.int64)[None, :], method="int")[0]

        return golden, draw

    from sst_hw.format.dense import WeightFormat
    fmt = WeightFormat(side.kind, n, side.bits_per_weight if side.kind == "int8" else None)
    b = fmt.bits_per_weight

    def draw(rng, width, count):
        # every bit pattern of the first `width` fields (ternary2's unused 10 too)
        bits = width * b
        return np.array([int.from_bytes(rng.bytes((bits + 7) // 8), "little") & ((1 << bits) - 1)
                         for _ in range(count)], dtype=object)

    def golden(codes, x):
        return dense_accumulate_codes(fmt, np.asarray(codes, dtype=object), np.asarray(x))[0]

    return golden, draw


def engine_stimulus(side: Sidecar, rows: int, seed: int) -> Stimulus:
    """``rows`` random row groups for an engine: each PE rows of one random
    length (1 .. min(max_row_len, ENGINE_MAX_BEATS x N x SIMD) weights),
    random activations over the whole activation range and random code words
    (SST: codebook members; the last subvector zero beyond the row), with
    the golden dot products."""
    p = side.params
    n, pe, simd = side.n, int(p["pe"]), int(p["simd"])
    max_row_len = int(p["max_row_len"])
    si, so = side.streams["i"], side.streams["o"]
    act = si.fields["act"]
    acc = so.fields["acc"]
    golden, draw = _engine_golden(side)
    rng = np.random.default_rng(seed)
    longest = min(max_row_len, ENGINE_MAX_BEATS * n * simd)
    inputs, expected, beats = [], [], []
    zero = side.zero_code
    for _ in range(rows):
        row_len = int(rng.integers(1, longest, endpoint=True))
        subs = -(-row_len // n)
        nbeats = -(-subs // simd)
        acts = rng.integers(act.lo, act.hi, size=(nbeats, simd, n), endpoint=True)
        codes = np.full((pe, nbeats * simd), zero, dtype=object)
        for s in range(subs):
            codes[:, s] = draw(rng, min(n, row_len - s * n), pe)
        want = golden(codes[:, :subs], acts.reshape(-1)[:row_len])
        lo, hi = acc.lo, acc.hi
        if want.size and (int(want.min()) < lo or int(want.max()) > hi):
            raise AssertionError(f"golden accumulator {want.tolist()} outside {lo}..{hi}: "
                                 "the stimulus exceeds the sidecar's accumulator")
        for b in range(nbeats):
            inputs.append(si.pack(act=acts[b].tolist(),
                                  code=codes[:, b * simd:(b + 1) * simd].tolist(),
                                  last=int(b == nbeats - 1)))
        expected.append([int(v) for v in want])
        beats.append(nbeats)
    latency = side.latency
    timeout = (len(inputs) + rows * (latency + 2)) * 4 + 1000
    return Stimulus(inputs, None, rows, np.array(expected, dtype=np.int64).reshape(rows, pe),
                    timeout, beats=np.array(beats, dtype=np.int64))


# -- simulation ------------------------------------------------------------------------------

def wave_format(sim: str) -> str:
    """``"fst"`` or ``"vcd"``: the waveform format a traced build of ``sim`` writes.

    Icarus writes FST. Verilator's FST writer needs the LZ4 header
    (``lz4.h``, e.g. Debian's ``liblz4-dev``) when the model is compiled;
    without it Verilator traces to VCD.
    """
    import os
    import subprocess

    if sim != "verilator":
        return "fst"
    cxx = os.environ.get("CXX", "c++")
    try:
        probe = subprocess.run([cxx, "-E", "-x", "c++", "-", "-o", os.devnull],
                               input="#include <lz4.h>\n", text=True, capture_output=True,
                               timeout=60)
    except (OSError, subprocess.SubprocessError):
        return "vcd"
    return "fst" if probe.returncode == 0 else "vcd"


def build(side: Sidecar, sources, build_dir, *, sim: str | None = None, waves: str | None = None):
    """The simulation model of ``sources`` (top module from the sidecar) in
    ``build_dir``; ``waves`` (``"fst"`` or ``"vcd"``, see :func:`wave_format`)
    builds it with tracing."""
    from sst_hw.sim.runner import build_verilog, simulator
    sim = simulator(sim)
    args = ["--trace-fst"] if waves == "fst" and sim == "verilator" else []
    return build_verilog(sources, side.module, build_dir, sim=sim, build_args=args,
                         waves=bool(waves))


def simulate(sim_build, side: Sidecar, stim: Stimulus, test_dir, *, wave=None) -> dict:
    """Replay ``stim`` on ``sim_build`` in ``test_dir``; the testbench's record
    (see :mod:`sst_hw.sim.replay_tb`) with ``seconds`` of wall time added.
    ``wave``: trace file to write (the build must have ``waves``)."""
    from sst_hw.sim.runner import run_tests

    test_dir = Path(test_dir).resolve()
    test_dir.mkdir(parents=True, exist_ok=True)
    results = test_dir / "replay.json"
    results.unlink(missing_ok=True)
    config = {"sidecar": str(Path(side.path).resolve()),
              "inputs": [format(v, "x") for v in stim.inputs],
              **({"image": {name: [format(v, "x") for v in words]
                            for name, words in stim.image.items()}, "use_loaded": 1}
                 if stim.image is not None else {}),
              "outputs": stim.outputs, "timeout_cycles": stim.timeout_cycles,
              "idle_cycles": 50, "results": str(results)}
    test_args = []
    if wave is not None and sim_build.sim == "verilator":
        test_args = ["--trace-file", str(Path(wave).resolve())]
    t0 = time.monotonic()
    run_tests(sim_build, TB_MODULE, config=config, test_dir=test_dir,
              waves=wave is not None, test_args=test_args)
    record = json.loads(results.read_text())
    record["seconds"] = time.monotonic() - t0
    return record


# -- checks ----------------------------------------------------------------------------------

def check_network(side: Sidecar, stim: Stimulus, record: dict) -> SimOutcome:
    """Compare every logit and class beat with the golden values and measure the
    cycles per inference (first input beat accepted to class beat taken, both
    included) against the sidecar's ``cycles_per_inference``."""
    so = side.streams["o"]
    data, last = so.fields["data"], so.fields["last"]
    count, width = stim.expected.shape
    features = len(stim.inputs) // count
    got = record["received"]
    sent = record["sent"]
    mismatches, compared, missing = 0, 0, 0
    examples, measured, classes = [], set(), []
    back_to_back = True
    # A CNN core takes the next image while it computes: its first inference
    # takes cycles_per_inference, the following ones come every period.
    period = (side.data.get("period") or {}).get("cycles")
    ends = []
    for b in range(count):
        chunk = got[b * width:(b + 1) * width]
        want = [int(v) for v in stim.expected[b]]
        if len(chunk) < width:
            missing += 1
            mismatches += 1
            if len(examples) < KEEP_MISMATCHES:
                examples.append(Mismatch(b, [], want, f"only {len(chunk)} of {width} beats"))
            continue
        compared += 1
        payloads = [int(p, 16) for _, _, p in chunk]
        values = [data.unpack(p) for p in payloads]
        lasts = [last.unpack(p) for p in payloads]
        classes.append(values[-1])
        note = ""
        if lasts != [0] * (width - 1) + [1]:
            note = f"last flags {lasts}, expected only on the class beat"
        if values != want or note:
            mismatches += 1
            if len(examples) < KEEP_MISMATCHES:
                diff = [j for j, (g, w) in enumerate(zip(values, want)) if g != w]
                where = [f"logit {j}" if j < width - 1 else "class" for j in diff]
                if where:
                    note = "; ".join(filter(None, [f"differs at {', '.join(where)}", note]))
                examples.append(Mismatch(b, values, want, note))
        ins = sent[b * features:(b + 1) * features]
        if len(ins) == features:
            if ins != list(range(ins[0], ins[0] + features)):
                back_to_back = False
            if period is None or b == 0:
                measured.add(chunk[-1][1] - ins[0] + 1)
            ends.append(chunk[-1][1])
    image_words = image_mismatches = 0
    for name, words in (stim.image or {}).items():
        back = [int(w, 16) for w in (record.get("image_read") or {}).get(name, [])]
        image_words += len(words)
        image_mismatches += sum(1 for a, w in enumerate(words) if a >= len(back) or back[a] != w)
    return SimOutcome(
        image_words=image_words, image_mismatches=image_mismatches,
        kind="network", asked=count, compared=compared, mismatches=mismatches,
        values_compared=compared * width, measured=sorted(measured),
        sidecar=int(side.data["cycles_per_inference"]), simulated_cycles=record["cycles"],
        timed_out=record["timed_out"], extra_beats=record["extra_beats"], missing=missing,
        examples=examples, back_to_back=back_to_back,
        classes=np.array(classes, dtype=np.int64),
        periods=sorted({b - a for a, b in zip(ends, ends[1:])}) if period else [],
        period=int(period) if period else None)


def check_engine(side: Sidecar, stim: Stimulus, record: dict) -> SimOutcome:
    """Compare every output beat (PE accumulators) bit for bit with the golden
    dot products and measure each row's latency (the edge accepting its last
    input beat to the edge its output is first offered) against the sidecar's."""
    so = side.streams["o"]
    acc = so.fields["acc"]
    rows = stim.expected.shape[0]
    got = record["received"]
    sent = record["sent"]
    ends = np.cumsum(stim.beats) - 1          # index of each row's last input beat
    mismatches, compared, missing = 0, 0, 0
    examples, measured = [], set()
    for r in range(rows):
        want = [int(v) for v in stim.expected[r]]
        if r >= len(got):
            missing += 1
            mismatches += 1
            continue
        compared += 1
        first_valid, _, payload = got[r]
        payload = int(payload, 16)
        if payload != so.pack(acc=want):
            mismatches += 1
            if len(examples) < KEEP_MISMATCHES:
                values = acc.unpack(payload)
                diff = [j for j, (g, w) in enumerate(zip(values, want)) if g != w]
                examples.append(Mismatch(r, values, want, f"{int(stim.beats[r])} beats; "
                                         f"differs at PE {', '.join(map(str, diff))}"
                                         if diff else f"{int(stim.beats[r])} beats; payload "
                                         f"{payload:#x} != {so.pack(acc=want):#x}"))
        if ends[r] < len(sent):
            measured.add(first_valid - sent[ends[r]])
    stalls = sum(b - a - 1 for a, b in zip(sent, sent[1:]))
    return SimOutcome(
        kind="engine", asked=rows, compared=compared, mismatches=mismatches,
        values_compared=compared * acc.count, measured=sorted(measured),
        sidecar=side.latency, simulated_cycles=record["cycles"],
        timed_out=record["timed_out"], extra_beats=record["extra_beats"], missing=missing,
        examples=examples, input_stall_cycles=stalls)


def _classes_and_format(p: dict, network) -> list:
    """The blocking differences every core shares: classes and input format."""
    out = []
    if int(p["classes"]) != network.classes:
        out.append(f"the model has {network.classes} classes, the core {p['classes']}")
    if (int(p["input_width"]), bool(p["input_signed"])) != (network.input_width,
                                                           network.input_signed):
        fmt = lambda w, s: f"{w}-bit {'signed' if s else 'unsigned'}"  # noqa: E731
        out.append(f"the model's input is {fmt(network.input_width, network.input_signed)}"
                   f", the core's {fmt(int(p['input_width']), bool(p['input_signed']))}")
    return out


def _convnet_differences(side: Sidecar, network) -> tuple[list, list]:
    """:func:`network_differences` for a CNN core or model: the input image
    shape and format and the classes block; the pass list is a note."""
    p = side.params
    blocking = []
    if side.data.get("format") != "sst-hw/convnet" or not hasattr(network, "kinds"):
        what = "a CNN" if hasattr(network, "kinds") else "an MLP"
        return [f"the model is {what}, the core is not"], []
    if list(p.get("input_shape", [])) != list(network.input_shape):
        blocking.append(f"the model takes {tuple(network.input_shape)} images, the core "
                        f"{tuple(p.get('input_shape', []))}")
    blocking += _classes_and_format(p, network)
    notes = []
    passes = (side.data.get("network") or {}).get("passes") or []
    kinds = [k for k in network.kinds if k in ("conv2d", "dense")]
    if len(passes) != len(kinds):
        notes.append(f"the model has {len(kinds)} conv and dense layers, the core "
                     f"{len(passes)} passes")
    return blocking, [f"the model differs from the core's sidecar: {n}" for n in notes]


def network_differences(side: Sidecar, network) -> tuple[list, list]:
    """(blocking, notes): how ``network`` differs from the core a network
    sidecar describes. Blocking differences (input features, classes, input
    format) make a comparison meaningless; notes (layer sizes, shifts,
    codebook) are what a mismatch would then be explained by."""
    p = side.params
    blocking, notes = [], []
    if side.data.get("format") == "sst-hw/convnet" or hasattr(network, "kinds"):
        return _convnet_differences(side, network)
    first = network.layers[0]
    if int(p["input_features"]) != first.in_features:
        blocking.append(f"the model takes {first.in_features} input features, the core "
                        f"{p['input_features']}")
    blocking += _classes_and_format(p, network)
    cb = first.codebook
    if (cb.n, cb.k, cb.variant, cb.assignment) != (int(p["n"]), int(p["k"]), p["variant"],
                                                   p["assignment"]):
        notes.append(f"codebook: model {cb.describe_short()}, core ({p['n']},{p['k']}) "
                     f"{p['variant']}/{p['assignment']}")
    hidden = network.layers[:-1]
    if p.get("requant") == "shift" and not all(layer.shift_mode for layer in hidden):
        notes.append("the core requantizes by shifts only (every M = 1), the model has "
                     "multipliers M != 1")
    layers = (side.data.get("network") or {}).get("layers") or []
    if len(layers) != len(network.layers):
        notes.append(f"the model has {len(network.layers)} layers, the core {len(layers)}")
    else:
        for i, (lp, layer) in enumerate(zip(layers, network.layers)):
            for key, mine in (("in_features", layer.in_features),
                              ("out_features", layer.out_features),
                              ("relu", layer.relu)):
                if lp.get(key) != mine:
                    notes.append(f"layer {i} {key}: model {mine}, core {lp.get(key)}")
            if not lp.get("last") and lp.get("shift") != layer.shift:
                notes.append(f"layer {i} shift: model {layer.shift}, core {lp.get('shift')}")
    return blocking, [f"the model differs from the core's sidecar: {n}" for n in notes]
