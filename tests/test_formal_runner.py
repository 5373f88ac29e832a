"""sst_hw.sim.formal: the SymbiYosys runner and its YoWASP tool wrappers."""

import os
import subprocess

from sst_hw.sim.formal import TOOLS, run_sby, run_tempinduct, sby_text, tool_env

COUNTER = """
module counter(input clk, input en);
    reg [3:0] q = 0;
    always @(posedge clk) if (en) q <= (q == 9) ? 0 : q + 1;
    always @* assert (q <= LIMIT);
endmodule
"""


def write(tmp_path, limit):
    path = tmp_path / f"counter{limit}.sv"
    path.write_text(COUNTER.replace("LIMIT", str(limit)))
    return path


def test_wrappers_on_path():
    env = tool_env()
    for name in TOOLS:
        out = subprocess.run(["sh", "-c", f"command -v {name}"], env=env,
                             capture_output=True, text=True).stdout.strip()
        assert out and os.access(out, os.X_OK), name
    # warmed: the first line is the tool's own answer, no "Preparing to run".
    out = subprocess.run(["boolector", "--version"], env=env, capture_output=True,
                         text=True).stdout
    assert "Preparing" not in out and out.strip()


def test_sby_text(tmp_path):
    text = sby_text([tmp_path / "a.sv", tmp_path / "b.il"], "top", mode="bmc", depth=7,
                    after_prep=["memory_map -rom-only"])
    assert "mode bmc\ndepth 7" in text
    assert "read_verilog -formal -sv a.sv\nread_rtlil b.il\nprep -top top\n" \
           "memory_map -rom-only" in text
    assert str((tmp_path / "a.sv").resolve()) in text


def test_prove_pass_and_fail(tmp_path):
    res = run_sby(tmp_path, [write(tmp_path, 9)], "counter", mode="prove", depth=3, name="ok")
    assert res.passed, res.summary()
    res = run_sby(tmp_path, [write(tmp_path, 8)], "counter", mode="bmc", depth=12, name="bad")
    assert res.status == "FAIL", res.summary()
    assert res.step == 9 and res.trace.exists()
    # Too shallow for the counterexample and not inductive: unknown, not a pass.
    res = run_sby(tmp_path, [write(tmp_path, 8)], "counter", mode="prove", depth=3,
                  name="shallow")
    assert res.status == "UNKNOWN", res.summary()


def test_tempinduct(tmp_path):
    assert run_tempinduct(tmp_path, [write(tmp_path, 9)], "counter", depth=4).passed
    res = run_tempinduct(tmp_path, [write(tmp_path, 8)], "counter", depth=12, name="bad")
    assert res.status == "FAIL" and res.step == 10
    res = run_tempinduct(tmp_path, [write(tmp_path, 8)], "counter", depth=4, name="short")
    assert res.status == "UNKNOWN"
