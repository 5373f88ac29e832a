"""``sst-hw generate --weights int8|ternary``: Verilog, the sidecar's ``weights``
section, the sidecar reader and the cocotb testbench's model for all three kinds."""

import json
import random
import re

import numpy as np
import pytest
from amaranth.hdl import Fragment

from sst_hw.cli import main
from sst_hw.format.dense import WeightFormat
from sst_hw.format.golden import dense_accumulate_codes
from sst_hw.rtl.dense_engine import DenseIntEngine, DenseTernaryEngine, dense_engine
from sst_hw.emit.engine import engine_sidecar, write_engine
from sst_hw.rtl.engine import SSTEngine
from sst_hw.sim.engine_tb import EngineModel
from sst_hw.sim.sidecar import Sidecar

def used(e):
    """Elaborate ``e`` (checks it builds, and marks it used for Amaranth)."""
    Fragment.get(e, None)
    return e


INT8 = ["--weights", "int8", "--n", "8", "--pe", "2", "--simd", "2", "--dsp-mults", "5",
        "--act-signed", "--max-row-len", "100"]
TERNARY = ["--weights", "ternary", "--n", "8", "--pe", "3", "--simd", "2"]


def test_generate_int8(tmp_path, capsys):
    out = tmp_path / "build" / "dense.v"
    assert main(["generate", *INT8, "-o", str(out)]) == 0
    assert "5 of 32 multipliers as DSP" in capsys.readouterr().out
    side = json.loads((tmp_path / "build" / "dense.json").read_text())
    assert side["format"] == "sst-hw/engine" and side["version"] == 1
    assert side["module"] == "dense_int8_engine"     # not sst_engine: it is no SST engine
    assert "codebook" not in side
    assert side["weights"] == {"kind": "int8", "bits_per_weight": 8, "signed": True, "n": 8,
                               "code_bits": 64, "zero_code": 0, "range": [-128, 127]}
    e = used(DenseIntEngine(8, pe=2, simd=2, dsp_mults=5, act_signed=True, max_row_len=100))
    assert side["parameters"] == {**e.params, "code_bits": 64, "acc_width": e.acc_width}
    assert side["latency"]["cycles"] == e.latency == 10   # 1 + 4 multiplier stages + 4 tree levels + 1
    assert side["throughput"] == {"beats_per_cycle": 1, "weights_per_beat": 32}
    fi = side["streams"]["i"]["fields"]
    assert fi["code"] == {"offset": 2 * 8 * 8, "width": 2 * 2 * 64, "shape": [2, 2],
                          "element": {"width": 64, "signed": False}}
    text = out.read_text()
    header = re.search(r"^module dense_int8_engine\(([^)]*)\);", text, re.M)
    assert {p.strip() for p in header.group(1).split(",")} == {p["name"] for p in side["ports"]}


def test_generate_ternary(tmp_path):
    out = tmp_path / "t.v"
    assert main(["generate", *TERNARY, "--name", "dense_t", "-o", str(out)]) == 0
    side = Sidecar.load(tmp_path / "t.json")
    assert side.module == "dense_t" and side.kind == "ternary2"
    assert (side.n, side.code_bits, side.zero_code, side.weight_range) == (8, 16, 0, (-1, 1))
    assert side.data["weights"]["decode"] == [0, 1, 0, -1]
    assert side.params["weights"] == "ternary2" and side.vectors is None


@pytest.mark.parametrize("kind,ww", [("int8", 8), ("int8", 3), ("ternary2", None)])
def test_sidecar_decode_matches_format(tmp_path, kind, ww):
    fmt = WeightFormat(kind, 5, ww)
    e = DenseIntEngine(5, weight_width=ww, dsp_mults=0) if kind == "int8" else \
        DenseTernaryEngine(5)
    _, jpath = write_engine(e, tmp_path / "e.v")
    side = Sidecar.load(jpath)
    rng = random.Random(2)
    for _ in range(200):
        code = rng.getrandbits(fmt.code_bits)
        w = side.decode(code)
        assert w == fmt.unpack(code).tolist()
        assert side.decode(side.encode(w)) == w
        if kind == "int8":
            assert side.encode(w) == code
        else:
            assert side.encode(w) == int(fmt.pack(w))
    with pytest.raises(ValueError, match="outside"):
        side.encode([fmt.hi + 1] + [0] * 4)
    with pytest.raises(ValueError, match="holds 5 weights, not 4"):
        side.encode([0] * 4)


def test_sst_sidecar_weights_section(tmp_path):
    e = SSTEngine(8, 2, "partitioned", "direct", pe=2, max_row_len=64)
    _, jpath = write_engine(e, tmp_path / "e.v")
    data = json.loads(jpath.read_text())
    assert data["weights"] == {"kind": "sst", "n": 8, "k": 2, "variant": "partitioned",
                               "assignment": "direct", "code_bits": 8,
                               "bits_per_weight": 1.0, "signed": True, "range": [-1, 1],
                               "zero_code": e.codebook.zero_code}
    assert data["codebook"]["vectors"] == e.codebook.vector_list()
    for d in (data, {k: v for k, v in data.items() if k != "weights"}):   # old sidecars too
        side = Sidecar(d)
        assert side.kind == "sst" and side.n == 8 and side.code_bits == 8
        for c in np.flatnonzero(e.codebook.used)[:40]:
            assert side.decode(c) == e.codebook.vectors[c].tolist()
            assert side.decode(side.encode(side.decode(c))) == side.decode(c)


@pytest.mark.parametrize("cfg", [
    dict(weights="int8", n=4, pe=2, simd=3, act_signed=True, max_row_len=50, dsp_mults=0),
    dict(weights="ternary2", n=3, pe=2, simd=2, act_width=5, max_row_len=31),
    dict(weights="int8", n=8, weight_width=3, act_width=4, max_row_len=20, dsp_mults=0),
], ids=["int8", "ternary2", "int3"])
def test_testbench_model_matches_golden(cfg):
    """The cocotb model (sidecar only) computes what the golden model does."""
    cfg = dict(cfg)
    e = used(dense_engine(cfg.pop("weights"), cfg.pop("n"), **cfg))
    side = Sidecar(engine_sidecar(e))
    m = EngineModel(side, random.Random(5))
    fmt = e.weights
    lengths = [1, e.max_row_len] + [m.rng.randint(1, e.max_row_len) for _ in range(20)]
    for row_len in lengths:
        row = m.row(row_len)
        acts = [a for act, _, _ in row.beats for sub in act for a in sub][:row_len]
        codes = np.array([[c for _, code, _ in row.beats for c in code[p]]
                          for p in range(e.pe)], dtype=object)
        subs = -(-row_len // e.n)
        assert not fmt.unpack(codes[:, subs:]).any()            # padding: zero code
        want = dense_accumulate_codes(fmt, codes[:, :subs], np.array(acts))[0].tolist()
        assert row.expected == want
    # extremes: every weight at the end of the range that drives the sum hardest;
    # with both extreme activations the rows reach both ends of the accumulator range
    bigs = [m.act_lo, m.act_hi] if m.act_signed else [m.act_hi]
    sums = []
    for big in bigs:
        for sign in (1, -1):
            row = m.row(e.max_row_len, act_fn=lambda: [[big] * m.n for _ in range(m.simd)],
                        code_fn=lambda p, w: m.extreme_code(w, sign, big))
            pick = max if sign > 0 else min
            assert row.expected == [e.max_row_len * pick(w * big for w in fmt.weight_range)
                                    ] * e.pe
            sums += row.expected
    assert (min(sums), max(sums)) == e.acc_range


@pytest.mark.parametrize("extra,message", [
    (["--weights", "int8", "--k", "2"], "--k applies to --weights sst only, not --weights int8"),
    (["--weights", "ternary", "--variant", "full", "--rom", "logic"],
     "--variant, --rom apply to --weights sst only, not --weights ternary"),
    (["--weights", "int8", "--assignment", "direct"], "--assignment applies to --weights sst"),
    (["--weights", "int8", "--no-select-reg"], "--select-reg/--no-select-reg applies"),
    (["--weights", "ternary", "--dsp-mults", "1"],
     "--dsp-mults applies to --weights int8 only, not --weights ternary"),
    (["--weights", "ternary", "--weight-width", "2"], "--weight-width applies to --weights int8"),
    (["--k", "2", "--weight-width", "4"], "--weight-width applies to --weights int8 only, "
                                          "not --weights sst"),
    ([], "--k is required with --weights sst"),
    (["--weights", "int8", "--dsp-mults", "9"], "dsp_mults must be an integer in 0..8, not 9"),
    (["--weights", "int8", "--weight-width", "17"],
     "weight_width must be an integer in 2..16, not 17"),
    (["--weights", "int8", "--pe", "0"], "pe must be an integer in 1..256, not 0"),
    (["--weights", "ternary", "--max-row-len", "0"],
     "max_row_len must be an integer in 1..1048576, not 0"),
])
def test_generate_refuses_and_writes_nothing(tmp_path, capsys, extra, message):
    out = tmp_path / "out" / "engine.v"
    assert main(["generate", "--n", "8", *extra, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sst-hw generate: error: ") and message in err
    assert not (tmp_path / "out").exists()


def test_generate_n_out_of_range(tmp_path, capsys):
    assert main(["generate", "--weights", "int8", "--n", "65", "-o",
                 str(tmp_path / "e.v")]) == 2
    assert "n must be in 1..64, not 65" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
