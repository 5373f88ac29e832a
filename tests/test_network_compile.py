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
    assert set(side["streams"]) == {"i", "o"} and "image" not in side
    assert not any(q.startswith("image__") for q in names) and "loadable" not in p
    mem = side["memory"]["code"]
    assert (mem["words"], mem["word_bits"]) == (plan.code_words, 48)
    assert mem["layout"] == plan.code_layout_text
    assert p == plan.params
    assert side["resources"]["device"] == "up5k"
    assert len(side["network"]["layers"]) == 2


def test_compile_spram_has_image_port(small_model, tmp_path, capsys):
    """An SPRAM core is loadable: its sidecar describes the ``image`` port
    (Verilog ports, widths, the code and table images' sizes, the topology
    id) instead of a stream."""
    from sst_hw.plan.image import topology_id

    path, net = small_model
    out = tmp_path / "net.v"
    assert main(["compile", str(path), "-o", str(out), "--memory", "spram"]) == 0
    side = json.loads(out.with_suffix(".json").read_text())
    plan = plan_network(net, memory="spram")
    assert set(side["streams"]) == {"i", "o"}
    image = side["image"]
    members = ("sel", "addr", "wdata", "we", "re", "rdata", "use_loaded")
    assert {m: image[m] for m in members} == {m: f"image__{m}" for m in members}
    ports = {q["name"]: q for q in side["ports"]}
    for m in members:
        q = ports[f"image__{m}"]
        assert q["width"] == image["widths"][m]
        assert q["direction"] == ("output" if m == "rdata" else "input")
    assert image["widths"]["wdata"] == image["widths"]["rdata"] == plan.image_word_bits
    assert image["widths"]["addr"] == (max(2, plan.code_words, plan.param_rows) - 1).bit_length()
    assert image["memories"] == {
        "code": {"sel": 0, "words": plan.code_words, "word_bits": plan.code_word_bits},
        "table": {"sel": 1, "words": plan.param_rows, "word_bits": plan.param_word_bits}}
    assert image["memories"]["code"]["words"] == side["memory"]["code"]["words"]
    assert image["memories"]["table"]["word_bits"] == side["memory"]["requant"]["word_bits"]
    assert image["read_latency"] == 1 and image["bitstream_model"] is False
    assert image["topology_id"] == topology_id(plan)
    assert side["parameters"]["loadable"] is True and side["memory"]["requant"]["shift_bits"] == 6
    assert "image" in side["protocol"]
    assert side["memory"]["code"]["initialised"] is False
    assert "SB_SPRAM256KA" in out.read_text()
    assert (tmp_path / "net_sim.v").is_file()
    assert side["simulation_models"] == ["net_sim.v"]
    assert "SPRAM              4 of 4" in capsys.readouterr().out   # 64-bit words


def test_loadable_bram_sidecar_and_one_layer():
    """A loadable block RAM plan: the bitstream's model runs with use_loaded 0;
    a one-layer model has no table to load."""
    from sst_hw.emit.network import network_sidecar

    net = Network.random(np.random.default_rng(4), [37, 23, 11], 8, 2)
    side = network_sidecar(plan_network(net, loadable=True))
    assert side["image"]["bitstream_model"] is True
    assert side["memory"]["code"]["initialised"] is True
    one = plan_network(Network.random(np.random.default_rng(4), [20, 7], 8, 2), loadable=True)
    image = network_sidecar(one)["image"]
    assert list(image["memories"]) == ["code"] and "requantization" not in \
        network_sidecar(one)["protocol"]["image"]


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
