"""The paths a new user walks: unwritable outputs, absurd sizes, bad link
settings, the default clock of ``synth``, the bundled model against the
README's command. Each case runs the real CLI entry point."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from sst_hw.cli import main

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "digits.sst"
README = ROOT / "README.md"


def one_line_error(capsys, *needles):
    """The command's stderr is one ``error:`` line (no traceback) holding ``needles``."""
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if ": error: " in line]
    assert errors, err
    assert not any("Traceback" in line for line in err)
    for n in needles:
        assert n in errors[-1], errors[-1]
    return errors[-1]


def forbid(monkeypatch, module, name):
    """Make ``module.name`` fail the test if a command gets as far as calling it."""
    import importlib

    def called(*args, **kwargs):
        raise AssertionError(f"{module}.{name} was reached: the check came too late")
    monkeypatch.setattr(importlib.import_module(module), name, called)


@pytest.fixture
def not_a_folder(tmp_path):
    """A path whose parent is a regular file: no file can ever be created there."""
    f = tmp_path / "plain-file"
    f.write_text("x")
    return f / "sub"


# -- item 3: unwritable outputs are refused before any long work --------------------------

@pytest.mark.parametrize("where", ["under-a-file", "proc"])
def test_train_refuses_unwritable_output_before_training(where, not_a_folder, monkeypatch,
                                                         capsys):
    forbid(monkeypatch, "sst_hw.train.export", "train_and_export")
    forbid(monkeypatch, "sst_hw.train.datasets", "load_dataset")
    out = not_a_folder / "m.sst" if where == "under-a-file" else Path("/proc/sst-hw-out/m.sst")
    assert main(["train", "--dataset", "digits", "-o", str(out), "--quiet"]) == 2
    one_line_error(capsys, "not writable" if where == "proc" else "is not a folder")
    assert not out.exists()


def test_generate_refuses_unwritable_output(tmp_path, not_a_folder, capsys):
    out = not_a_folder / "e.v"
    assert main(["generate", "--n", "8", "--k", "2", "-o", str(out)]) == 2
    one_line_error(capsys, f"cannot write output {str(out)!r}", "is not a folder")
    assert main(["generate", "--n", "8", "--k", "2", "-o", str(tmp_path / "ok.v"),
                 "--sidecar", str(not_a_folder / "e.json")]) == 2
    one_line_error(capsys, "cannot write --sidecar")
    assert not (tmp_path / "ok.v").exists()     # nothing half-written


def test_compile_refuses_unwritable_output(not_a_folder, capsys):
    assert main(["compile", str(MODEL), "-o", str(not_a_folder / "net.v")]) == 2
    one_line_error(capsys, "net.v")


def test_synth_and_build_refuse_unwritable_build_dir(not_a_folder, monkeypatch, capsys):
    forbid(monkeypatch, "sst_hw.synth.flow", "synthesize")
    forbid(monkeypatch, "sst_hw.boards.flow", "build_bitstream")
    assert main(["synth", str(MODEL), "--device", "up5k", "--build-dir",
                 str(not_a_folder)]) == 2
    one_line_error(capsys, "--build-dir")
    assert main(["build", str(MODEL), "--board", "icebreaker", "--build-dir",
                 str(not_a_folder)]) == 2
    one_line_error(capsys, "--build-dir")


def test_read_only_mount_is_refused(tmp_path, capsys):
    """``/proc`` refuses new files to everyone, root included (permission bits
    alone would not stop root)."""
    assert main(["generate", "--n", "8", "--k", "2", "-o", "/proc/sst-hw-engine.v"]) == 2
    one_line_error(capsys, "not writable")


# -- item 4: absurd sizes are refused at once, with the same bound everywhere --------------

@pytest.mark.parametrize("argv, message", [
    (["generate", "--n", "8", "--k", "2", "--pe", "100000"],
     "pe must be an integer in 1..256, not 100000"),
    (["generate", "--n", "8", "--k", "2", "--pe", "1000"], "pe must be an integer in 1..256"),
    (["generate", "--n", "8", "--k", "2", "--pe", "200", "--simd", "4"],
     "pe x simd must be at most 512 lanes, not 200 x 4 = 800"),
    (["generate", "--weights", "int8", "--n", "8", "--simd", "1000"],
     "simd must be an integer in 1..64, not 1000"),
    (["generate", "--n", "8", "--k", "2", "--max-row-len", "100000000"],
     "max_row_len must be an integer in 1..1048576"),
    (["generate", "--n", "8", "--k", "2", "--out-depth", "100000"],
     "out_depth must be an integer in 1..64"),
    (["compile", str(MODEL), "--pe", "1000"], "pe must be an integer in 1..256, not 1000"),
    (["compile", str(MODEL), "--simd", "65"], "simd must be an integer in 1..64, not 65"),
])
def test_absurd_sizes_refused(argv, message, tmp_path, capsys):
    out = tmp_path / "x.v"
    assert main([*argv, "-o", str(out)]) == 2
    one_line_error(capsys, message)
    assert not out.exists()


# -- item 7: infer's link settings and inputs ---------------------------------------------

@pytest.mark.parametrize("extra, message", [
    (["--timeout", "-1"], "--timeout must be in 0.001..3600 seconds, not -1"),
    (["--timeout", "nan"], "--timeout must be in"),
    (["--baud", "0"], "--baud must be in 300..12000000 bit/s, not 0"),
])
def test_infer_refuses_bad_link_settings(extra, message, tmp_path, capsys):
    x = tmp_path / "x.npy"
    np.save(x, np.zeros(64, dtype=np.uint8))
    assert main(["infer", "--port", "model", "--model", str(MODEL), str(x), *extra]) == 2
    one_line_error(capsys, message)


def test_infer_refuses_an_empty_batch(tmp_path, capsys):
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((0, 64), dtype=np.uint8))
    assert main(["infer", "--port", "model", "--model", str(MODEL), str(x)]) == 2
    one_line_error(capsys, "is empty")


def test_help_texts_name_sst_model_files(capsys):
    from sst_hw.cli import COMMANDS
    for cmd in COMMANDS:
        name = "import" if cmd == "import_onnx" else cmd.replace("_", "-")
        with pytest.raises(SystemExit) as e:
            main([name, "--help"])
        assert e.value.code == 0, f"`sst-hw {name} --help` failed"
        out = capsys.readouterr().out
        assert ".npz" not in out, f"`sst-hw {name} --help` still says .npz"


def test_dense_engines_get_their_own_module_name(tmp_path, capsys):
    for weights, module in (("int8", "dense_int8_engine"), ("ternary", "dense_ternary_engine")):
        out = tmp_path / f"{weights}.v"
        assert main(["generate", "--weights", weights, "--n", "8", "-o", str(out)]) == 0
        assert re.search(rf"^module {module}\(", out.read_text(), re.M)
        assert f"(module {module})" in capsys.readouterr().out


def test_capacity_error_says_blocks(capsys):
    from sst_hw.format.golden import Network
    from sst_hw.plan.network import CapacityError
    from sst_hw.plan.network import plan_network
    from sst_hw.synth.devices import get_device

    net = Network.random(np.random.default_rng(0), [784, 1024, 10], 8, 2)
    with pytest.raises(CapacityError, match="up5k has 30 blocks of 4096 bits"):
        plan_network(net).check_fit(get_device("up5k"))


def test_synth_refuses_a_model_that_cannot_fit_before_place_and_route(tmp_path, monkeypatch,
                                                                      capsys):
    from sst_hw.format import modelfile
    from sst_hw.format.golden import Network

    forbid(monkeypatch, "sst_hw.synth.flow", "synthesize")
    big = modelfile.save(Network.random(np.random.default_rng(0), [784, 1024, 10], 8, 2),
                         tmp_path / "big.sst")
    assert main(["synth", str(big), "--device", "up5k", "--build-dir",
                 str(tmp_path / "b")]) == 2
    one_line_error(capsys, "does not fit the up5k", "nothing synthesized")
    # The same core compiled for the ECP5 and then synthesized for the UP5K: its
    # sidecar's memories are checked against the UP5K first.
    net_v = tmp_path / "big.v"
    assert main(["compile", str(big), "--device", "ecp5-85f", "-o", str(net_v)]) == 0
    assert main(["synth", str(net_v), "--device", "up5k", "--build-dir",
                 str(tmp_path / "c")]) == 2
    one_line_error(capsys, "does not fit the up5k", "block RAM")


# -- item 5 and 7: synth's default clock, a single-module Verilog file ---------------------

def _slow_chain(path: Path) -> Path:
    """A registered 16-bit chain of 16 adders: real logic that misses 48 MHz on iCE40."""
    lines = ["module chain(input clk, input [15:0] a, input [15:0] b, output reg [15:0] y);",
             "reg [15:0] ra, rb;", "wire [15:0] s0 = ra + rb;"]
    lines += [f"wire [15:0] s{i} = (s{i - 1} ^ {{s{i - 1}[0], s{i - 1}[15:1]}}) + rb;"
              for i in range(1, 16)]
    lines += ["always @(posedge clk) begin ra <= a; rb <= b; y <= s15; end", "endmodule"]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_synth_reports_fmax_and_judges_only_an_asked_clock(tmp_path, capsys):
    """One module, no sidecar: no ``top=`` needed. Without ``--freq`` the
    achieved fmax is reported and the exit status is 0; with ``--freq`` above
    it, 1."""
    import json

    v = _slow_chain(tmp_path / "chain.v")
    assert main(["synth", str(v), "--device", "up5k", "--build-dir", str(tmp_path / "a")]) == 0
    report = json.loads((tmp_path / "a" / "report.json").read_text())
    fmax = report["timing"]["fmax_mhz"] if "timing" in report else report["fmax_mhz"]
    assert fmax < 48, "the chain was meant to miss the default aim"
    assert f"fmax {fmax:.1f} MHz (below the 48 MHz aimed at" in capsys.readouterr().err
    assert main(["synth", str(v), "--device", "up5k", "--freq", "48", "--build-dir",
                 str(tmp_path / "b")]) == 1
    assert "misses the 48 MHz constraint" in capsys.readouterr().err


# -- item 5: the bundled model is what the README's command trains ------------------------

def test_bundled_model_is_what_the_readme_command_trains(tmp_path):
    """``models/digits.sst`` must come from the command the README quotes for it
    (and that command must not overwrite the tracked file)."""
    from sst_hw.format import modelfile

    m = re.search(r"`sst-hw train (--dataset digits --layers 64,128,10 [^`]*?)-o (\S+)`",
                  README.read_text())
    assert m, "the README quotes no training command for the bundled digits model"
    assert not m.group(2).startswith("models/"), "the README's command overwrites the bundled model"
    out = tmp_path / "digits.sst"
    assert main(["train", *m.group(1).split(), "-o", str(out), "--quiet"]) == 0
    got, bundled = modelfile.load(out), modelfile.load(MODEL)
    assert len(got.layers) == len(bundled.layers)
    for a, b in zip(got.layers, bundled.layers):
        for name in ("codes", "mult", "add"):
            assert np.array_equal(getattr(a, name), getattr(b, name)), name
        assert (a.shift, a.relu) == (b.shift, b.relu)


def test_readme_quotes_the_bundled_models_accuracy():
    from sst_hw.format import modelfile
    from sst_hw.train.datasets import load_digits

    data = load_digits()
    _, classes = modelfile.load(MODEL).forward(data.x_test)
    acc = 100 * float((classes == data.y_test).mean())
    row = next(line for line in README.read_text().splitlines()
               if line.startswith("| digits 64-128-10") and "accuracy" in line)
    assert f"integer golden model {acc:.2f} %" in row, row


def test_python_dash_m_cli_gives_one_line_errors(tmp_path):
    """``python -m sst_hw.cli`` runs the file as ``__main__``; user errors must
    still be one line with exit status 2, not a traceback."""
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-m", "sst_hw.cli", "generate", "--n", "8", "--k", "2",
                          "--pe", "0", "-o", str(tmp_path / "e.v")],
                         capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 2, run.stderr
    assert run.stderr.strip() == ("sst-hw generate: error: pe must be an integer in 1..256, "
                                  "not 0")
