"""The generator: ``sst-hw generate``, the Verilog and the JSON sidecar."""

import json
import re

import numpy as np
import pytest
from amaranth.hdl import Fragment

from sst_hw.format.arith import acc_width
from sst_hw.cli import main
from sst_hw.format.codebook import Codebook
from sst_hw.emit.engine import engine_sidecar, write_engine
from sst_hw.rtl.engine import SSTEngine
from sst_hw.sim.sidecar import Sidecar

ARGS = ["--n", "8", "--k", "2", "--pe", "4", "--simd", "2", "--act-width", "8"]


def test_generate_writes_verilog_and_sidecar(tmp_path, capsys):
    out = tmp_path / "build" / "engine.v"
    assert main(["generate", *ARGS, "-o", str(out)]) == 0
    assert "latency 6 cycles" in capsys.readouterr().out
    text = out.read_text()
    side = json.loads((tmp_path / "build" / "engine.json").read_text())
    assert side["format"] == "sst-hw/engine" and side["version"] == 1
    assert side["module"] == "sst_engine" and side["verilog"] == "engine.v"
    # the module and every port named by the sidecar exist in the Verilog
    header = re.search(r"^module sst_engine\(([^)]*)\);", text, re.M)
    assert header
    ports = {p.strip() for p in header.group(1).split(",")}
    assert ports == {p["name"] for p in side["ports"]}
    for p in side["ports"]:
        decl = "input" if p["direction"] == "input" else "output"
        width = "" if p["width"] == 1 else rf"\[{p['width'] - 1}:0\] "
        assert re.search(rf"^\s*{decl} {width}{p['name']};", text, re.M), p
    assert side["clock"] == {"port": "clk", "edge": "rising"}
    assert side["reset"] == {"port": "rst", "active": "high", "synchronous": True}
    params = side["parameters"]
    assert params == {"n": 8, "k": 2, "variant": "full", "assignment": "enum", "pe": 4,
                      "simd": 2, "act_width": 8, "act_signed": False, "max_row_len": 1024,
                      "rom": "auto", "decode_reg": True, "select_reg": True,
                      "tree_stage_levels": 1,
                      "out_depth": 2, "fanout": 8, "code_bits": 8, "acc_width": 17}
    assert side["latency"]["cycles"] == 6
    cb = side["codebook"]
    assert (cb["variant"], cb["assignment"], cb["bits"]) == ("full", "enum", 8)
    ref = Codebook(8, 2)
    assert len(cb["vectors"]) == 256
    assert cb["vectors"] == ref.vector_list()
    assert cb["vectors"][0] == [0] * 8 and cb["vectors"][255] is None


def test_sidecar_field_offsets_follow_the_interface():
    e = SSTEngine(8, 2, pe=3, simd=2, act_width=5, act_signed=True, max_row_len=100)
    Fragment.get(e, None)       # builds (and counts as used)
    side = engine_sidecar(e)
    N, S, P, A, B, W = 8, 2, 3, 5, e.code_bits, e.acc_width
    fi = side["streams"]["i"]["fields"]
    assert fi["act"] == {"offset": 0, "width": S * N * A, "shape": [S, N],
                         "element": {"width": A, "signed": True}}
    assert fi["code"] == {"offset": S * N * A, "width": P * S * B, "shape": [P, S],
                          "element": {"width": B, "signed": False}}
    assert fi["last"]["offset"] == S * N * A + P * S * B and fi["last"]["width"] == 1
    assert side["streams"]["i"]["width"] == S * N * A + P * S * B + 1
    fo = side["streams"]["o"]["fields"]["acc"]
    assert fo == {"offset": 0, "width": P * W, "shape": [P],
                  "element": {"width": W, "signed": True}}
    # element j of subvector s at ((s*N)+j)*A; code of PE p, subvector s at ((p*S)+s)*B
    codec = Sidecar(side).streams["i"]
    for s in range(S):
        for j in range(N):
            act = [[0] * N for _ in range(S)]
            act[s][j] = 1
            bits = codec.pack(act=act, code=[[0] * S] * P, last=0)
            assert bits == 1 << (((s * N) + j) * A)
    for p in range(P):
        for s in range(S):
            code = [[0] * S for _ in range(P)]
            code[p][s] = 1
            bits = codec.pack(act=[[0] * N] * S, code=code, last=0)
            assert bits == 1 << (fi["code"]["offset"] + ((p * S) + s) * B)
    oc = Sidecar(side).streams["o"]
    assert oc.pack(acc=[-1, 0, 0]) == (1 << W) - 1
    assert oc.unpack(oc.pack(acc=[-3, 5, -(1 << (W - 1))])) == {"acc": [-3, 5, -(1 << (W - 1))]}


def test_sidecar_reader(tmp_path):
    e = SSTEngine(8, 2, "partitioned", "direct", pe=2, max_row_len=64)
    vpath, jpath = write_engine(e, tmp_path / "e.v")
    side = Sidecar.load(jpath)
    assert side.verilog_path == vpath.resolve()
    assert side.latency == e.latency and side.code_bits == e.code_bits
    cb = e.codebook
    np.testing.assert_array_equal(side.vectors, cb.vectors)
    np.testing.assert_array_equal(side.used, cb.used)
    assert side.zero_code == cb.zero_code
    with pytest.raises(ValueError, match="field 'act' element 256 is outside 0..255"):
        side.streams["i"].pack(act=[[256] * 8], code=[[0], [0]], last=0)
    with pytest.raises(ValueError, match=r"field 'code' must have shape \[2, 1\]"):
        side.streams["i"].pack(act=[[0] * 8], code=[[0]], last=0)


@pytest.mark.parametrize("extra,message", [
    (["--pe", "0"], "pe must be an integer in 1..256, not 0"),
    (["--k", "9"], "K (non-zeros per subvector) must be in 1..8, not 9"),
    (["--variant", "partitioned", "--k", "3"], "partitioned codebooks need N divisible by K"),
    (["--act-width", "1", "--act-signed"], "signed activations need at least 2 bits, not 1"),
    (["--max-row-len", "0"], "max_row_len must be an integer in 1..1048576, not 0"),
    (["--assignment", "direct", "--rom", "block"], "rom applies to enum codes only"),
    (["--out-depth", "0"], "out_depth must be an integer in 1..64, not 0"),
    (["--name", "9bad"], "module name must be a Verilog identifier"),
    (["--name", "o__ready"], "module name 'o__ready' is also a port name"),
])
def test_generate_bad_parameters_write_nothing(tmp_path, capsys, extra, message):
    out = tmp_path / "out" / "engine.v"
    assert main(["generate", *ARGS, *extra, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sst-hw generate: error: ") and message in err
    assert not (tmp_path / "out").exists()


def test_generate_refuses_untabulable_codes(tmp_path, capsys):
    out = tmp_path / "engine.v"
    assert main(["generate", "--n", "16", "--k", "8", "--assignment", "direct",
                 "-o", str(out)]) == 2
    assert "codes of 40 bits" in capsys.readouterr().err
    assert main(["generate", "--n", "16", "--k", "7", "-o", str(out)]) == 2
    assert "use the direct assignment" in capsys.readouterr().err
    assert main(["generate", *ARGS, "-o", str(tmp_path / "x.json")]) == 2
    assert list(tmp_path.iterdir()) == []


def test_generate_options(tmp_path):
    out = tmp_path / "v" / "core.v"
    side_path = tmp_path / "meta" / "core.json"
    assert main(["generate", "--n", "16", "--k", "4", "--variant", "partitioned",
                 "--assignment", "direct", "--pe", "2", "--act-width", "6", "--act-signed",
                 "--max-row-len", "300", "--no-decode-reg", "--no-select-reg",
                 "--tree-stage-levels", "0", "--out-depth", "3", "--name", "my_core",
                 "-o", str(out), "--sidecar", str(side_path)]) == 0
    side = Sidecar.load(side_path)
    assert side.module == "my_core" and side.verilog_path == out.resolve()
    assert "module my_core(" in out.read_text()
    p = side.params
    assert (p["act_signed"], p["decode_reg"], p["select_reg"], p["out_depth"]) == (
        True, False, False, 3)
    assert side.latency == 2 and p["acc_width"] == acc_width(300, 16, 4, 6, True)
