"""``sst-hw compile``: Verilog + sidecar of a model's network core, resources
against a device, refusal (with nothing written) of a model that cannot fit."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sst_hw.format import modelfile
from sst_hw.cli import main
from sst_hw.format.golden import Network
from sst_hw.plan.network import plan_network

from support.networks import zero_network


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    net = Network.random(np.random.default_rng(4), [37, 23, 11], 8, 2)
    path = tmp_path_factory.mktemp("models") / "small.npz"
    modelfile.save(net, path)
    return path, net


def test_compile_writes_verilog_and_sidecar(small_model, tmp_path, capsys):
    path, net = small_model
    out = tmp_path / "out" / "net.v"
    assert main(["compile", str(path), "-o", str(out), "--pe", "3", "--simd", "2"]) == 0
    text = capsys.readouterr().out
    side = json.loads(out.with_suffix(".json").read_text())
    assert "module sst_network" in out.read_text()
    plan = plan_network(net, pe=3, simd=2)
    assert side["format"] == "sst-hw/network"
    assert side["module"] == "sst_network" and side["verilog"] == "net.v"
    # The figure itself is checked against cycles measured in simulation by
    # test_network_cocotb (this model's sizes, PE 3, SIMD 2) and test_sim_cli.
    assert side["cycles_per_inference"] == side["latency"]["cycles"]
    assert f"cycles per inference: {side['cycles_per_inference']}" in text
    assert "code memory" in text and "activation buffer" in text and "of 30" in text
    p = side["parameters"]
    assert (p["pe"], p["simd"], p["memory"], p["input_features"], p["classes"]) == \
        (3, 2, "bram", 37, 11)
    i, o = side["streams"]["i"], side["streams"]["o"]
    assert i["fields"]["data"] == {"offset": 0, "width": 8, "shape": [],
                                   "element": {"width": 8, "signed": False}}
    assert o["fields"]["data"]["element"]["signed"] is True
    assert o["fields"]["last"]["offset"] == o["fields"]["data"]["width"]
    names = {q["name"]: q for q in side["ports"]}
    assert {"clk", "rst", "i__valid", "i__ready", "i__payload", "o__valid", "o__ready",
            "o__payload"} <= set(names)
    assert "load" not in side["streams"]
    mem = side["memory"]["code"]
    assert (mem["words"], mem["word_bits"]) == (plan.code_words, 48)
    assert mem["layout"] == plan.code_layout_text
    assert p == plan.params
    assert side["resources"]["device"] == "up5k"
    assert len(side["network"]["layers"]) == 2


def test_compile_spram_has_load_stream(small_model, tmp_path, capsys):
    path, _ = small_model
    out = tmp_path / "net.v"
    assert main(["compile", str(path), "-o", str(out), "--memory", "spram"]) == 0
    side = json.loads(out.with_suffix(".json").read_text())
    assert side["streams"]["load"]["fields"]["data"]["width"] == side["memory"]["code"]["word_bits"]
    assert side["memory"]["code"]["initialised"] is False
    assert "SB_SPRAM256KA" in out.read_text()
    assert (tmp_path / "net_sim.v").is_file()
    assert side["simulation_models"] == ["net_sim.v"]
    assert "SPRAM              4 of 4" in capsys.readouterr().out   # 64-bit words


def _big_model(tmp_path):
    path = tmp_path / "big.npz"
    modelfile.save(zero_network([784, 1024, 10]), path)
    return path


@pytest.mark.parametrize("args, message", [
    (["--pe", "8", "--simd", "1"], "block RAM: needs 2.. blocks .*try --memory spram"),
    (["--memory", "spram", "--pe", "8", "--simd", "2"], "code words of 128 bits"),
    (["--memory", "spram", "--pe", "8", "--simd", "1", "--device", "hx8k"],
     "--memory spram needs SPRAM, and hx8k has none"),
])
def test_compile_refuses_what_does_not_fit(tmp_path, capsys, args, message):
    import re
    path = _big_model(tmp_path)
    out = tmp_path / "out" / "big.v"
    assert main(["compile", str(path), "-o", str(out), *args]) == 2
    err = capsys.readouterr().err
    assert re.search(message, err), err
    assert "nothing written" in err
    assert not (tmp_path / "out").exists()


def test_compile_800k_model_fits_spram(tmp_path, capsys):
    path = _big_model(tmp_path)
    out = tmp_path / "big.v"
    assert main(["compile", str(path), "-o", str(out), "--memory", "spram", "--pe", "8",
                 "--simd", "1", "--json-summary"]) == 0
    res = json.loads(capsys.readouterr().out)["resources"]
    assert res["spram"]["used"] == 4 and res["code_memory"]["bits"] == 819200


def test_compile_errors(tmp_path, small_model, capsys):
    path, _ = small_model
    assert main(["compile", str(tmp_path / "missing.npz"), "-o", str(tmp_path / "a.v")]) == 2
    assert "no such model file" in capsys.readouterr().err
    assert main(["compile", str(path), "-o", str(tmp_path / "a.json")]) == 2
    assert "is the sidecar's name" in capsys.readouterr().err
    assert main(["compile", str(path), "-o", str(tmp_path / "a.v"), "--pe", "0"]) == 2
    assert "pe must be an integer in 1..256, not 0" in capsys.readouterr().err
    assert not (tmp_path / "a.v").exists()


def _wide_model(tmp_path):
    from sst_hw.format.golden import Network
    path = tmp_path / "wide.sst"
    modelfile.save(Network.random(2, [64, 32, 10], 8, 2), path)
    return path


def test_compile_puts_a_wide_shallow_activation_buffer_in_logic(tmp_path, capsys):
    """PE 8, SIMD 4: the activation buffer is 4 words of 256 bits, 16 block
    RAMs for 1 Kbit; with it the model needs 35 of the UP5K's 30. auto puts
    it in logic (and says so), an explicit --act-memory bram is refused with
    a hint about logic and none about SPRAM, which would not help."""
    path = _wide_model(tmp_path)
    out = tmp_path / "net.v"
    assert main(["compile", str(path), "-o", str(out), "--pe", "8", "--simd", "4"]) == 0
    text = capsys.readouterr().out
    assert "1024 bits (1.0 Kbit) in logic (much wider than deep" in text
    assert "block RAM          19 of 30 (code 16, activations 0, requant 3" in text
    side = json.loads((tmp_path / "net.json").read_text())
    assert side["parameters"]["act_memory"] == "logic"
    assert main(["compile", str(path), "-o", str(tmp_path / "b" / "net.v"), "--pe", "8",
                 "--simd", "4", "--act-memory", "bram"]) == 2
    err = capsys.readouterr().err
    assert "needs 35 blocks" in err and "fits in logic: --act-memory logic" in err
    assert "spram" not in err and not (tmp_path / "b").exists()
