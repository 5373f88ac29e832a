"""``sst-hw sim``: the real CLI entry on the bundled model, a compiled core and a
generated engine, on the emitted Verilog (Verilator by default, ``SIM=icarus``
for Icarus).

The golden model is the oracle: the tests recompute the expected logits and
dot products themselves from the testbench's own record (``run/replay.json``
and ``run/tb_config.json``) and from the model, never from hard-coded values.
One simulator build per target, reused by the tests that follow (the cached
build of :mod:`sst_hw.sim.runner`).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sst_hw.format import modelfile
from sst_hw.cli import main
from sst_hw.cli.demo import DEFAULT_MODEL, bitstream_stem
from sst_hw.sim.sidecar import Sidecar

COUNT = 32
ROWS = 200


def run_sim(*args) -> tuple[int, dict | None]:
    """``sst-hw sim ARGS --json --quiet`` through :func:`sst_hw.cli.main`: the
    exit status and the JSON report (None when nothing was printed)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(["sim", *map(str, args), "--json", "--quiet"])
    text = out.getvalue().strip()
    return rc, (json.loads(text) if text else None)


def _record(build_dir: Path):
    run = build_dir / "run"
    return (json.loads((run / "replay.json").read_text()),
            json.loads((run / "tb_config.json").read_text()))


# -- the bundled model ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """``sst-hw sim models/digits.sst --dataset digits --count 32`` (compiles
    the core into the build folder, builds, simulates)."""
    build_dir = tmp_path_factory.mktemp("sim-digits")
    rc, rep = run_sim(DEFAULT_MODEL, "--dataset", "digits", "--count", COUNT,
                      "--build-dir", build_dir)
    return rc, rep, build_dir


def test_sim_digits_model(digits_run):
    """32 digits test images on the compiled core: every logit and class
    bit-exact, 32 compared, cycles per inference as the sidecar's."""
    from sst_hw.plan.network import plan_network
    from sst_hw.train.datasets import load_digits

    rc, rep, build_dir = digits_run
    print(json.dumps(rep, indent=1))
    assert rc == 0
    assert rep["kind"] == "network"
    assert rep["inferences"] == COUNT and rep["compared"] == COUNT
    assert rep["mismatches"] == 0 and rep["bit_exact"]
    net = modelfile.load(DEFAULT_MODEL)
    assert rep["values_compared"] == COUNT * (net.classes + 1)
    cycles = rep["cycles_per_inference"]
    assert cycles["measured"] == cycles["sidecar"], cycles
    assert cycles["sidecar"] == plan_network(net, pe=4, simd=2).cycles()
    assert cycles["match"]

    # The oracle, independently: unpack what the testbench recorded and
    # compare it with the golden model on the same images.
    side = Sidecar.load(build_dir / f"{DEFAULT_MODEL.stem}.json")
    record, config = _record(build_dir)
    data = side.streams["o"].fields["data"]
    got = np.array([data.unpack(int(p, 16)) for _, _, p in record["received"]], np.int64)
    x = load_digits().x_test[:COUNT]
    sent = [side.streams["i"].fields["data"].unpack(int(p, 16)) for p in config["inputs"]]
    assert sent == x.reshape(-1).tolist()
    logits, classes = net.forward(x)
    want = np.concatenate([logits, classes[:, None]], axis=1).reshape(-1)
    assert got.shape == want.shape and (got == want).all()


def _corrupt(net, how: str):
    """A copy of ``net`` with one thing changed: the signs of one output row's
    weights (``codes``) or a requantization constant of layer 0 (``requant``)."""
    import dataclasses

    from sst_hw.format.golden import Network

    layers = list(net.layers)
    if how == "codes":
        last = layers[-1]
        codes = last.codes.copy()
        codes[3] = last.codebook.encode(-last.codebook.decode(codes[3]))
        layers[-1] = dataclasses.replace(last, codes=codes)
    else:
        first = layers[0]
        add = first.add.copy()
        add[:16] += 1 << first.shift      # +1 on 16 hidden activations
        layers[0] = dataclasses.replace(first, add=add)
    return Network(layers, net.input_width, net.input_signed, net.meta)


@pytest.mark.parametrize("how", ["codes", "requant"])
def test_sim_corrupted_model_mismatches(digits_run, tmp_path, how):
    """Verilog built from the good model, compared against a corrupted copy:
    mismatches reported (as many as the golden models disagree on) and exit 1."""
    from sst_hw.train.datasets import load_digits

    _, _, build_dir = digits_run
    net = modelfile.load(DEFAULT_MODEL)
    bad = _corrupt(net, how)
    bad_path = modelfile.save(bad, tmp_path / "corrupted.sst")
    count = 16
    rc, rep = run_sim(build_dir / f"{DEFAULT_MODEL.stem}.v", "--model", bad_path,
                      "--dataset", "digits", "--count", count, "--build-dir", build_dir)
    x = load_digits().x_test[:count]
    (lg, cg), (lb, cb) = net.forward(x), bad.forward(x)
    differ = int(((lg != lb).any(axis=1) | (cg != cb)).sum())
    assert differ > 0, "the corruption changes nothing on these images"
    print(json.dumps(rep, indent=1))
    assert rc == 1
    assert rep["compared"] == count and rep["mismatches"] == differ
    assert not rep["bit_exact"] and rep["mismatch_examples"]
    assert rep["cycles_per_inference"]["match"]


def test_sim_cycles_differ_from_sidecar(digits_run):
    """A sidecar whose cycles per inference is wrong: reported (measured and
    sidecar figure), exit 1, though every value matches."""
    _, rep0, build_dir = digits_run
    side = json.loads((build_dir / f"{DEFAULT_MODEL.stem}.json").read_text())
    side["cycles_per_inference"] += 1
    wrong = build_dir / "wrong-cycles.json"
    wrong.write_text(json.dumps(side))
    rc, rep = run_sim(build_dir / f"{DEFAULT_MODEL.stem}.v", "--sidecar", wrong,
                      "--model", DEFAULT_MODEL, "--count", 4, "--build-dir", build_dir)
    assert rc == 1
    assert rep["mismatches"] == 0 and rep["bit_exact"]
    c = rep["cycles_per_inference"]
    assert c["sidecar"] == side["cycles_per_inference"]
    assert c["measured"] == rep0["cycles_per_inference"]["measured"] and not c["match"]


def test_sim_spram_core(tmp_path, capsys):
    """An SPRAM core (the model's image, codes and requantization table,
    written through its image port and read back before the first input),
    from the model file and then as compiled Verilog with --model: bit-exact,
    cycles as the sidecar's, the image read back as written; the report says
    the image is the model's. The Verilog takes any model of its topology (a
    copy with other requantization constants runs bit-exact with its own
    golden model); one of another topology is refused before any simulation."""
    from sst_hw.format.golden import Network
    from sst_hw.plan.network import plan_network
    from sst_hw.train.datasets import load_digits

    net = modelfile.load(DEFAULT_MODEL)
    build_dir = tmp_path / "b"
    rc, rep = run_sim(DEFAULT_MODEL, "--memory", "spram", "--pe", 2, "--simd", 3, "--count", 4,
                      "--build-dir", build_dir)
    assert rc == 0 and rep["core"]["memory"] == "spram"
    assert rep["compared"] == 4 and rep["mismatches"] == 0
    c = rep["cycles_per_inference"]
    assert c["measured"] == c["sidecar"]
    record, config = _record(build_dir)
    side = Sidecar.load(build_dir / f"{DEFAULT_MODEL.stem}.json")
    plan = plan_network(net, pe=2, simd=3, memory="spram")
    image = {"code": plan.code_image(), "table": plan.param_image()}
    assert len(image["code"]) == int(side.data["memory"]["code"]["words"])
    assert len(image["table"]) == int(side.data["memory"]["requant"]["words"])
    assert {k: [int(w, 16) for w in v] for k, v in config["image"].items()} == image
    assert config["use_loaded"] == 1
    assert record["image_read"] == config["image"]
    assert record["image_cycles"] == len(image["code"]) + len(image["table"])
    assert rep["image"] == {"code_words": len(image["code"]), "table_rows": len(image["table"]),
                            "read_back_mismatches": 0, "match": True}

    vfile = build_dir / f"{DEFAULT_MODEL.stem}.v"
    rc, rep = run_sim(vfile, "--model", DEFAULT_MODEL, "--count", 2, "--seed", 7,
                      "--build-dir", build_dir)
    assert rc == 0 and rep["compared"] == 2 and rep["mismatches"] == 0 and rep["image"]["match"]
    assert any("SPRAM" in n and "image port" in n for n in rep["notes"])

    x = load_digits().x_test[:8]
    other = modelfile.save(_corrupt(net, "requant"), tmp_path / "other.sst")
    assert (net.forward(x)[0] != modelfile.load(other).forward(x)[0]).any()
    rc, rep = run_sim(vfile, "--model", other, "--dataset", "digits", "--count", 8,
                      "--build-dir", build_dir)
    assert rc == 0 and rep["compared"] == 8 and rep["mismatches"] == 0
    record, config = _record(build_dir)
    oplan = plan_network(modelfile.load(other), pe=2, simd=3, memory="spram")
    assert [int(w, 16) for w in config["image"]["table"]] == oplan.param_image() \
        != image["table"]

    wrong = modelfile.save(Network.random(3, [64, 20, 10], 8, 2), tmp_path / "wrong.sst")
    capsys.readouterr()
    rc, rep = run_sim(vfile, "--model", wrong, "--count", 2, "--build-dir", tmp_path / "never")
    err = capsys.readouterr().err
    assert rc == 2 and rep is None and "does not have the topology" in err, err
    assert not (tmp_path / "never").exists()


# -- a generated engine ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    """``sst-hw generate`` of an SST (8,2) engine, PE 4, SIMD 2."""
    folder = tmp_path_factory.mktemp("sim-engine")
    vpath = folder / "engine.v"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["generate", "--n", "8", "--k", "2", "--pe", "4", "--simd", "2",
                     "-o", str(vpath)]) == 0
    return vpath


def _golden_rows(side: Sidecar, config: dict, record: dict):
    """Expected and received accumulators, recomputed from the packed input beats
    with the golden codebook's decoding (not the testbench's stimulus code)."""
    from sst_hw.format.codebook import Codebook

    cb = Codebook(8, 2, "full", "enum")
    fi = side.streams["i"].fields
    acc = side.streams["o"].fields["acc"]
    want, total = [], np.zeros(int(side.params["pe"]), np.int64)
    for p in config["inputs"]:
        p = int(p, 16)
        act = np.array(fi["act"].unpack(p), np.int64)            # (SIMD, N)
        codes = np.array(fi["code"].unpack(p), np.int64)         # (PE, SIMD)
        t = cb.decode(codes.reshape(-1)).reshape(*codes.shape, cb.n).astype(np.int64)
        total = total + np.einsum("psn,sn->p", t, act)
        if fi["last"].unpack(p):
            want.append(total.tolist())
            total = np.zeros_like(total)
    got = [acc.unpack(int(p, 16)) for _, _, p in record["received"]]
    return want, got


def test_sim_engine_random_rows(engine):
    """200 random rows on the generated (8,2) engine: all bit-exact with the
    golden dot products, 200 compared, latency as the sidecar's."""
    build_dir = engine.parent / "b"
    rc, rep = run_sim(engine, "--rows", ROWS, "--seed", 1, "--build-dir", build_dir)
    print(json.dumps(rep, indent=1))
    assert rc == 0
    assert rep["kind"] == "engine"
    assert rep["rows"] == ROWS and rep["compared"] == ROWS
    assert rep["mismatches"] == 0 and rep["bit_exact"]
    assert rep["dot_products"] == ROWS * 4
    side = Sidecar.load(engine.with_suffix(".json"))
    lat = rep["latency"]
    assert lat["measured"] == lat["sidecar"] == side.latency
    record, config = _record(build_dir)
    want, got = _golden_rows(side, config, record)
    assert len(want) == ROWS and got == want


def test_sim_engine_wrong_codebook_mismatches(engine):
    """The engine's sidecar edited to claim the direct code: the golden dot
    products of that code differ from what the (enum) Verilog computes: exit 1."""
    side = json.loads(engine.with_suffix(".json").read_text())
    side["weights"]["assignment"] = side["codebook"]["assignment"] = "direct"
    lie = engine.with_name("engine-direct.json")
    lie.write_text(json.dumps(side))
    rc, rep = run_sim(engine, "--sidecar", lie, "--rows", 30, "--build-dir", engine.parent / "b")
    assert rc == 1
    assert rep["compared"] == 30 and rep["mismatches"] > 0


def test_sim_engine_wave(engine):
    """--wave writes a waveform under the build folder."""
    build_dir = engine.parent / "b"
    rc, rep = run_sim(engine, "--rows", 5, "--wave", "--build-dir", build_dir)
    assert rc == 0 and rep["compared"] == 5
    wave = Path(rep["wave"])
    assert wave.parent == build_dir.resolve() and wave.suffix in (".fst", ".vcd")
    assert wave.stat().st_size > 1000


def test_sim_text_report(engine, capsys):
    """The text report names the figures: rows, mismatches, latency vs sidecar, wall time."""
    assert main(["sim", str(engine), "--rows", "3", "--quiet",
                 "--build-dir", str(engine.parent / "b")]) == 0
    out = capsys.readouterr().out
    for word in ("3 of 3 compared, 0 mismatches", "in the sidecar", "wall time",
                 "bit-exact with the golden model"):
        assert word in out, out


# -- bad input: one line, exit 2, nothing built or written ------------------------------------

@pytest.fixture(scope="module")
def core_files(tmp_path_factory):
    """``sst-hw compile models/digits.sst -o net.v`` (no simulator build)."""
    folder = tmp_path_factory.mktemp("sim-core")
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["compile", str(DEFAULT_MODEL), "-o", str(folder / "net.v")]) == 0
    return folder / "net.v"


def _bad_inputs(tmp: Path, core: Path, engine: Path):
    np.save(tmp / "floats.npy", np.zeros((2, 64)))
    np.save(tmp / "narrow.npy", np.zeros((2, 63), np.int64))
    np.save(tmp / "empty.npy", np.zeros((0, 64), np.int64))
    np.save(tmp / "big.npy", np.full((2, 64), 256))
    np.save(tmp / "ok.npy", np.ones((3, 64), np.int64))
    shutil.copy(engine, tmp / "lone.v")
    m = str(DEFAULT_MODEL)
    return {
        "missing file": ([str(tmp / "nosuch.sst")], "no such file"),
        "missing model": ([str(core), "--model", str(tmp / "nosuch.sst")], "no such model"),
        ".v without sidecar": ([str(tmp / "lone.v")], "no sidecar"),
        "--count 0": ([m, "--count", "0"], "--count must be in 1..100000, not 0"),
        "--count too big": ([m, "--count", "100001"], "1..100000"),
        "--count beyond the data set": ([m, "--dataset", "digits", "--count", "451"],
                                        "1..450"),
        "--count beyond the .npy": ([m, "--input", str(tmp / "ok.npy"), "--count", "4"],
                                    "more than the 3 inputs"),
        "--rows 0": ([str(engine), "--rows", "0"], "--rows must be in 1..100000, not 0"),
        ".npy of floats": ([m, "--input", str(tmp / "floats.npy")], "must hold integers"),
        "wrong feature count": ([m, "--input", str(tmp / "narrow.npy")],
                                "63 features per input, the model takes 64"),
        "empty .npy": ([m, "--input", str(tmp / "empty.npy")], "is empty"),
        "value out of range": ([m, "--input", str(tmp / "big.npy")], "0..255"),
        "core without --model": ([str(core)], "give --model"),
        "engine with --count": ([str(engine), "--count", "3"], "--count applies only"),
        "core with --pe": ([str(core), "--model", m, "--pe", "2"], "--pe applies only"),
        "model with --rows": ([m, "--rows", "3"], "--rows applies only"),
        "--pe 0": ([m, "--pe", "0"], "pe must be an integer in 1..256, not 0"),
        "model is not a model": ([str(tmp / "ok.npy")], "not an .npz"),
        "unknown data set": ([m, "--dataset", "nosuch"], "unknown data set"),
        "build dir under a file": ([m, "--build-dir", str(tmp / "ok.npy" / "b")],
                                   "not a folder"),
    }


CASES = ["missing file", "missing model", ".v without sidecar", "--count 0", "--count too big",
         "--count beyond the data set", "--count beyond the .npy", "--rows 0", ".npy of floats",
         "wrong feature count", "empty .npy", "value out of range", "core without --model",
         "engine with --count", "core with --pe", "model with --rows", "--pe 0",
         "model is not a model", "unknown data set", "build dir under a file"]


@pytest.mark.parametrize("case", CASES)
def test_sim_bad_input(case, core_files, engine, tmp_path, capsys):
    args, message = _bad_inputs(tmp_path, core_files, engine)[case]
    build_dir = tmp_path / "never"
    if "--build-dir" not in args:
        args = args + ["--build-dir", str(build_dir)]
    assert main(["sim", *args]) == 2
    cap = capsys.readouterr()
    lines = cap.err.strip().splitlines()
    assert len(lines) == 1, cap.err
    assert lines[0].startswith("sst-hw sim: error: ") and message in lines[0], lines[0]
    assert "Traceback" not in cap.err and cap.out == ""
    assert not build_dir.exists()


def _entry_point() -> list:
    script = Path(sys.executable).with_name("sst-hw")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from sst_hw.cli import main; sys.exit(main())"]


def test_sim_subprocess_help_and_error(tmp_path):
    """The installed ``sst-hw`` entry: ``sim --help`` (with examples), and a
    bad input as one line on stderr with exit status 2."""
    env = dict(os.environ)
    ok = subprocess.run([*_entry_point(), "sim", "--help"], capture_output=True, text=True,
                        env=env, timeout=120)
    assert ok.returncode == 0 and "Examples:" in ok.stdout and "--dataset" in ok.stdout
    bad = subprocess.run([*_entry_point(), "sim", str(tmp_path / "nosuch.sst")],
                         capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        f"sst-hw sim: error: no such file: {tmp_path / 'nosuch.sst'}"]


def test_demo_bitstream_named_after_the_model():
    assert bitstream_stem(Path("models/digits.sst")) == "digits-icebreaker"
    assert bitstream_stem("build/fashion.sst", "ulx3s-85f") == "fashion-ulx3s-85f"


def test_sim_cnn_model_and_core(tmp_path):
    """A CNN model file through `sst-hw sim`: compiled into the CNN core (the
    UP5K shape: the largest map in SPRAM, with its simulation model), every
    logit and class bit-exact with an independent golden run, the first
    inference's cycles and the back-to-back period as the sidecar's. Then
    the compiled core as a .v target with --model; an MLP model against it
    is refused before any simulator is built."""
    from sst_hw.format.random_model import random_convnet

    net = random_convnet(8, (7, 5, 3), [("conv", 5, 3, 1, 1), ("pool", 2), ("flatten",),
                                        ("dense", 4)])
    model = modelfile.save(net, tmp_path / "cnn.sst")
    build_dir = tmp_path / "build"
    rc, rep = run_sim(model, "--count", 5, "--build-dir", build_dir)
    assert rc == 0 and rep["bit_exact"] and rep["compared"] == 5
    assert rep["core"]["kind"] == "cnn"
    cyc, per = rep["cycles_per_inference"], rep["period"]
    assert cyc["match"] and cyc["measured"] == cyc["sidecar"]
    assert per["match"] and per["measured"] == [per["sidecar"]]
    side = Sidecar.load(build_dir / "cnn.json")
    assert side.data["format"] == "sst-hw/convnet"
    assert side.data["simulation_models"] == ["cnn_sim.v"]
    record, config = _record(build_dir)
    data = side.streams["o"].fields["data"]
    got = np.array([data.unpack(int(p, 16)) for _, _, p in record["received"]], np.int64)
    x = np.random.default_rng(1).integers(0, 255, size=(5, 7 * 5 * 3), endpoint=True)
    logits, classes = net.forward(x)
    assert got.tolist() == np.concatenate([logits, classes[:, None]], 1).reshape(-1).tolist()

    rc, rep = run_sim(build_dir / "cnn.v", "--model", model, "--count", 3,
                      "--build-dir", tmp_path / "again")
    assert rc == 0 and rep["bit_exact"] and rep["compared"] == 3
    rc, rep = run_sim(build_dir / "cnn.v", "--model", DEFAULT_MODEL,
                      "--build-dir", tmp_path / "mlp")
    assert rc == 2 and not (tmp_path / "mlp").exists()
