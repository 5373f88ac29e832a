"""``sst-hw export-c``: the generated C library against the golden model, bit for bit.

Each model is exported (``--weights sst`` and ``int8``), compiled once with
the system compiler (``cc -std=c99 -pedantic -O2 -Wall -Wextra -Werror``)
together with the shipped test driver, run on a batch of inputs, and every
logit and class compared with :meth:`Network.forward`. Random models cover
the awkward corners: odd sizes, ``in_features`` not a multiple of N, every
codebook kind, signed inputs, activation widths other than 8, shift mode,
negative multipliers, accumulators and requantizations past 32 bits (the
int64 paths), conv2d / max-pool / flatten. Where the compiler has UBSan, the
random models also run in a ``-fsanitize=undefined`` build, which would
catch a wrapped int32 or a bad shift.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from sst_hw.cli import main
from sst_hw.emit.c_model import MAX_TABLE_ENTRIES, generate_c, write_c
from sst_hw.format import arith, modelfile
from sst_hw.format.codebook import Codebook
from sst_hw.format.golden import Layer, Network
from sst_hw.format.random_model import random_convnet, random_network

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "digits.sst"
CC = shutil.which("cc") or shutil.which("gcc")
CFLAGS = ["-std=c99", "-pedantic", "-O2", "-Wall", "-Wextra", "-Werror"]
UBSAN = ["-std=c99", "-O1", "-Wall", "-Wextra", "-Werror", "-fsanitize=undefined",
         "-fno-sanitize-recover=all"]
DTYPES = {"uint8_t": np.uint8, "int8_t": np.int8, "uint16_t": np.uint16,
          "int16_t": np.int16, "uint32_t": np.uint32, "int32_t": np.int32}

pytestmark = pytest.mark.skipif(CC is None, reason="no C compiler (cc) on PATH")


@lru_cache(maxsize=1)
def have_ubsan() -> bool:
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "t.c"
        src.write_text("int main(void) { return 0; }\n")
        r = subprocess.run([CC, *UBSAN, str(src), "-o", str(Path(d) / "t")],
                           capture_output=True)
        return r.returncode == 0


def build(net, folder: Path, weights: str, name: str = "m", flags=CFLAGS):
    """Export ``net``, compile the library with its driver; (model, executable)."""
    model = generate_c(net, name, weights)
    write_c(model, folder, driver=True)
    exe = folder / f"{name}_{weights}_{'ub' if flags is UBSAN else 'o2'}"
    r = subprocess.run([CC, *flags, str(folder / model.source_name),
                        str(folder / f"{name}_driver.c"), "-o", str(exe)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-4000:]
    return model, exe


def run(model, exe: Path, x) -> tuple[np.ndarray, np.ndarray]:
    """Classes (B,) and logits (B, classes) the C program gives for inputs ``x``."""
    raw = np.asarray(x).astype(DTYPES[model.input_type]).tobytes()
    r = subprocess.run([str(exe)], input=raw, capture_output=True, check=True)
    lines = r.stdout.decode().splitlines()
    assert len(lines) == len(x)
    rows = [list(map(int, line.split())) for line in lines]
    assert all(len(row) == 1 + model.classes for row in rows), lines[:3]
    arr = np.array(rows, dtype=np.int64).reshape(len(x), 1 + model.classes)
    return arr[:, 0], arr[:, 1:]


def check_exact(net, x, folder: Path, weights: str, flags=CFLAGS):
    logits, classes = net.forward(x)
    model, exe = build(net, folder, weights, flags=flags)
    got_c, got_l = run(model, exe, x)
    np.testing.assert_array_equal(got_l, logits)
    np.testing.assert_array_equal(got_c, classes)
    return model


def inputs(net, rng, count=48):
    lo, hi = net.input_range
    feats = (net.layers[0].in_features if isinstance(net, Network)
             else int(np.prod(net.input_shape)))
    x = rng.integers(lo, hi, size=(count, feats), endpoint=True)
    x[0], x[1] = lo, hi                       # the extremes, every feature at once
    return x


# -- the bundled model on all 450 digits test images --------------------------------------

@pytest.mark.parametrize("weights", ["sst", "int8"])
def test_digits_model_bit_exact_on_every_test_image(weights, digits, digits_model, tmp_path):
    x = digits.x_test
    assert len(x) == 450
    m = check_exact(digits_model, x, tmp_path, weights)
    assert (m.input_type, m.logit_type) == ("uint8_t", "int32_t")
    # The golden model's accuracy, reached by the C code too.
    _, classes = digits_model.forward(x)
    assert (classes == digits.y_test).mean() > 0.95


# -- random models with awkward shapes --------------------------------------------------

MLP_CASES = {
    "full82-odd": dict(sizes=[37, 29, 11], n=8, k=2),
    "full162-enum10bit": dict(sizes=[61, 33, 7], n=16, k=2),
    "partitioned82": dict(sizes=[45, 19, 5], n=8, k=2, variant="partitioned"),
    "direct82": dict(sizes=[23, 17, 3], n=8, k=2, assignment="direct"),
    "partitioned-direct": dict(sizes=[23, 17, 6], n=8, k=2, variant="partitioned",
                               assignment="direct"),
    "signed-in-no-relu-6bit": dict(sizes=[30, 20, 10], n=4, k=1, input_signed=True,
                                   act_width=6, relu=False),
    "widths-4-12": dict(sizes=[50, 40, 30, 4], n=8, k=3, act_width=[4, 12],
                        relu=[True, False]),
    "shift-mode": dict(sizes=[40, 31, 9], n=8, k=2, shift_mode=True),
    "int64-acc-32bit-input": dict(sizes=[33, 21, 8], n=8, k=2, input_width=32, act_width=24,
                                  relu=False),
    "int64-logits": dict(sizes=[33, 21, 8], n=8, k=4, input_width=20, input_signed=True,
                         act_width=32),
    "k9-slot-loop": dict(sizes=[70, 12, 5], n=9, k=9),
    "one-layer": dict(sizes=[5, 1], n=2, k=1),
    "deep-narrow": dict(sizes=[3, 2, 5, 2, 3], n=2, k=2, input_width=3),
}


def make_mlp(case: str) -> Network:
    kw = dict(MLP_CASES[case])
    seed = sorted(MLP_CASES).index(case)
    return random_network(seed, kw.pop("sizes"), kw.pop("n"), kw.pop("k"),
                          kw.pop("variant", "full"), kw.pop("assignment", "enum"), **kw)


@pytest.mark.parametrize("case", list(MLP_CASES))
def test_random_mlp_bit_exact(case, tmp_path):
    net = make_mlp(case)
    x = inputs(net, np.random.default_rng(7))
    for weights in ("sst", "int8"):
        m = check_exact(net, x, tmp_path / weights, weights)
        if have_ubsan():
            check_exact(net, x, tmp_path / f"{weights}-ub", weights, flags=UBSAN)
    types = {layer["acc_type"] for layer in m.summary["layers"]}
    if case.startswith("int64"):
        assert "int64_t" in types or m.logit_type == "int64_t"
    if case == "int64-logits":
        assert m.logit_type == "int64_t"
    if case == "int64-acc-32bit-input":
        assert m.summary["layers"][0]["acc_type"] == "int64_t"
        assert m.summary["layers"][0]["requant_type"] == "int64_t"


CNN_CASES = {
    "conv-pad-pool2-stride2": ((9, 11, 3), [("conv", 5, 3, 1, 1), ("pool", 2),
                                            ("conv", 6, (3, 2), 2, (1, 0)), ("flatten",),
                                            ("dense", 13), ("dense", 4)], {}),
    "signed-pool3-n16": ((8, 8, 2), [("conv", 9, 3), ("pool", 3), ("flatten",), ("dense", 3)],
                         dict(n=16, k=2, input_signed=True, relu=False, act_width=7)),
    "1x1-5x5-partitioned-direct-shift": ((7, 7, 1), [("conv", 4, 1), ("conv", 3, 5, 1, 2),
                                                     ("pool", 2), ("flatten",), ("dense", 6)],
                                         dict(variant="partitioned", assignment="direct",
                                              shift_mode=True)),
    "flatten-first": ((6, 5, 4), [("flatten",), ("dense", 7), ("dense", 2)], {}),
}


@pytest.mark.parametrize("case", list(CNN_CASES))
def test_random_cnn_bit_exact(case, tmp_path):
    shape, spec, kw = CNN_CASES[case]
    net = random_convnet(sorted(CNN_CASES).index(case), shape, spec, **kw)
    x = inputs(net, np.random.default_rng(3), count=24)
    for weights in ("sst", "int8"):
        check_exact(net, x, tmp_path / weights, weights)
        if have_ubsan():
            check_exact(net, x, tmp_path / f"{weights}-ub", weights, flags=UBSAN)


def test_shift_of_32_or_more_takes_int64(tmp_path):
    """A 30-bit requantization with S = 40 still needs int64 (a 32-bit shift
    by 40 is undefined in C): the values floor to 0 or -1, then clamp."""
    cb = Codebook(8, 2)
    rng = np.random.default_rng(5)
    codes = rng.choice(np.flatnonzero(cb.used), size=(6, 2))
    clo, chi = arith.add_range(arith.acc_width(16, 8, 2, 8, False))
    hidden = Layer(16, 6, cb, codes, rng.integers(-30000, 30000, 6),
                   rng.integers(clo, chi, 6, endpoint=True), 40, False, 8)
    last = Layer(6, 3, cb, rng.choice(np.arange(13), size=(3, 1)), np.ones(3, np.int64),
                 np.zeros(3, np.int64), 0, False, 8)
    net = Network([hidden, last])
    assert arith.requant_width(net.acc_widths()[0]) <= 32
    x = inputs(net, rng)
    for weights in ("sst", "int8"):
        m = check_exact(net, x, tmp_path / weights, weights)
        assert m.summary["layers"][0]["requant_type"] == "int64_t"


# -- properties of the generated code ---------------------------------------------------

def test_library_is_freestanding_c99_without_multiplies_in_the_sst_dot_product(
        digits_model, tmp_path):
    for weights in ("sst", "int8"):
        m = generate_c(digits_model, "digits", weights)
        text = m.header + m.source
        includes = re.findall(r"#include\s*(\S+)", text)
        assert sorted(includes) == ['"digits_model.h"', "<stdint.h>"]
        for word in ("float", "double", "malloc", "free(", "stdio"):
            assert word not in re.sub(r"/\*.*?\*/", "", text, flags=re.S), word
        dots = [line for line in m.source.splitlines() if "acc +=" in line]
        assert dots
        if weights == "sst":
            assert not any("*" in line for line in dots), dots
            assert "static const uint8_t dec0[129][2]" in m.source
        else:
            assert all("*" in line for line in dots), dots
        # The only external symbol is digits_infer.
        assert re.findall(r"^(?!static)[a-z].*\)$", m.source, flags=re.M) == [
            "int digits_infer(const uint8_t *input, int32_t *logits)"]
        write_c(m, tmp_path)
        obj = tmp_path / f"digits_{weights}.o"
        r = subprocess.run([CC, *CFLAGS, "-ffreestanding", "-c", str(tmp_path / m.source_name),
                            "-o", str(obj)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr


def test_compiles_for_cortex_m0plus_without_warnings(tmp_path):
    """A 32-bit target whose ``long`` is 32 bits: the int64 paths too
    (``make test`` installs Debian's gcc-arm-none-eabi)."""
    assert shutil.which("arm-none-eabi-gcc"), \
        "arm-none-eabi-gcc is not on PATH: `make arm-gcc` installs it"
    for case in ("int64-acc-32bit-input", "full82-odd"):
        for weights in ("sst", "int8"):
            m = generate_c(make_mlp(case), "m", weights)
            write_c(m, tmp_path)
            r = subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m0plus", "-mthumb", "-Os",
                                *CFLAGS, "-c", str(tmp_path / m.source_name), "-o",
                                str(tmp_path / "m.o")], capture_output=True, text=True)
            assert r.returncode == 0, r.stderr


def test_two_models_link_into_one_program(digits_model, digits, tmp_path):
    """``--name`` keeps every symbol apart: the SST and int8 libraries of the
    same model in one program agree image by image."""
    a = generate_c(digits_model, "dig_sst", "sst")
    b = generate_c(digits_model, "dig_int8", "int8")
    write_c(a, tmp_path)
    write_c(b, tmp_path)
    main_c = tmp_path / "both.c"
    main_c.write_text(
        '#include <stdio.h>\n#include "dig_sst_model.h"\n#include "dig_int8_model.h"\n'
        "int main(void) {\n"
        "    static uint8_t x[DIG_SST_IN_FEATURES];\n"
        "    int32_t la[DIG_SST_CLASSES], lb[DIG_INT8_CLASSES];\n"
        "    while (fread(x, 1, sizeof x, stdin) == sizeof x) {\n"
        "        int i, ca = dig_sst_infer(x, la), cb = dig_int8_infer(x, lb), same = ca == cb;\n"
        "        for (i = 0; i < DIG_SST_CLASSES; ++i) same &= la[i] == lb[i];\n"
        '        printf("%d %d\\n", ca, same);\n'
        "    }\n    return 0;\n}\n")
    exe = tmp_path / "both"
    r = subprocess.run([CC, *CFLAGS, str(main_c), str(tmp_path / a.source_name),
                        str(tmp_path / b.source_name), "-o", str(exe)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    out = subprocess.run([str(exe)], input=digits.x_test.astype(np.uint8).tobytes(),
                         capture_output=True, check=True).stdout.decode().split()
    got = np.array(out, dtype=np.int64).reshape(-1, 2)
    np.testing.assert_array_equal(got[:, 0], digits_model.forward(digits.x_test)[1])
    assert got[:, 1].all()


@pytest.mark.parametrize("width,signed,bad", [(6, False, 64), (5, True, -17), (5, True, 16)])
def test_out_of_range_input_returns_minus_one(width, signed, bad, tmp_path):
    """The golden model refuses a value outside the input range; the C code
    returns -1 for it (its type could hold it) and goes on with the next."""
    net = random_network(1, [9, 4, 3], 8, 2, input_width=width, input_signed=signed)
    lo, hi = net.input_range
    x = np.array([[lo] * 9, [lo] * 9, [hi] * 9])
    x[1, 4] = bad
    with pytest.raises(ValueError, match="outside"):
        net.forward(x)
    model, exe = build(net, tmp_path, "sst")
    raw = x.astype(DTYPES[model.input_type]).tobytes()
    out = subprocess.run([str(exe)], input=raw, capture_output=True,
                         check=True).stdout.decode().splitlines()
    assert out[1] == "-1"
    for i in (0, 2):
        logits, classes = net.forward(x[[i]])
        assert out[i].split() == [str(v) for v in [classes[0], *logits[0]]]


def test_decode_table_too_large_is_refused(tmp_path):
    net = random_network(0, [20, 3], 16, 5)          # full (16,5): 139,777 members
    assert net.layers[0].codebook.size > MAX_TABLE_ENTRIES
    with pytest.raises(ValueError, match="decode table"):
        generate_c(net, "m", "sst")
    check_exact(net, inputs(net, np.random.default_rng(0), 8), tmp_path, "int8")
    path = modelfile.save(net, tmp_path / "big.sst")
    out = tmp_path / "out"
    assert main(["export-c", str(path), "-o", str(out)]) == 2
    assert not out.exists()


@pytest.mark.parametrize("name", ["9lives", "a-b", "int", "_x", "x" * 41, ""])
def test_bad_names_are_refused(name):
    with pytest.raises(ValueError, match="name"):
        generate_c(make_mlp("one-layer"), name, "sst")


# -- the command ------------------------------------------------------------------------

def one_line_error(capsys, *needles):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and ": error: " in err[0], err
    for n in needles:
        assert n in err[0], err[0]
    return err[0]


def test_cli_writes_both_variants_and_they_match_the_library(tmp_path, capsys, digits_model):
    out = tmp_path / "c"
    assert main(["export-c", str(MODEL), "-o", str(out), "--name", "digits", "--driver"]) == 0
    text = capsys.readouterr().out
    assert "digits_model.h" in text and "digits_infer" in text
    assert sorted(p.name for p in out.iterdir()) == ["digits_driver.c", "digits_model.c",
                                                     "digits_model.h"]
    assert (out / "digits_model.c").read_text() == generate_c(digits_model, "digits").source
    assert main(["export-c", str(MODEL), "-o", str(out), "--name", "d8", "--weights", "int8",
                 "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["weights"] == "int8" and summary["weight_bytes"] == 128 * 64 + 10 * 128
    assert (out / "d8_model.c").exists()


def test_cli_refuses_a_missing_model(tmp_path, capsys):
    out = tmp_path / "c"
    assert main(["export-c", str(tmp_path / "nope.sst"), "-o", str(out)]) == 2
    one_line_error(capsys, "no such model file", "nope.sst")
    assert not out.exists()


@pytest.mark.parametrize("where", ["under-a-file", "is-a-file", "proc"])
def test_cli_refuses_an_unwritable_folder_before_any_work(where, tmp_path, capsys,
                                                          monkeypatch):
    import sst_hw.emit.c_model as c_model

    def reached(*a, **k):
        raise AssertionError("generate_c was reached: the check came too late")
    monkeypatch.setattr(c_model, "generate_c", reached)
    plain = tmp_path / "plain-file"
    plain.write_text("x")
    out = {"under-a-file": plain / "sub", "is-a-file": plain,
           "proc": Path("/proc/sst-hw-out")}[where]
    assert main(["export-c", str(MODEL), "-o", str(out)]) == 2
    one_line_error(capsys, str(out) if where != "proc" else "not writable")
    assert plain.read_text() == "x"


def test_cli_refuses_bad_weights_and_names(tmp_path, capsys):
    out = tmp_path / "c"
    with pytest.raises(SystemExit) as e:
        main(["export-c", str(MODEL), "-o", str(out), "--weights", "fp16"])
    assert e.value.code == 2
    assert "invalid choice: 'fp16'" in capsys.readouterr().err
    assert main(["export-c", str(MODEL), "-o", str(out), "--name", "1st"]) == 2
    one_line_error(capsys, "--name", "'1st'")
    assert not out.exists()


def test_cli_refuses_a_file_that_is_not_a_model(tmp_path, capsys):
    bad = tmp_path / "bad.sst"
    bad.write_text("not a model")
    out = tmp_path / "c"
    assert main(["export-c", str(bad), "-o", str(out)]) == 2
    one_line_error(capsys, "bad.sst")
    assert not out.exists()
