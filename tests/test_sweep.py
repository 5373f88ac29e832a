"""``sst-hw sweep`` and ``sst-hw autotune`` (sst_hw/sweep, docs/sweep.md).

Sweeps run on a real Dask cluster: a two-process ``LocalCluster`` shared by
the module, and once a ``dask scheduler`` with two ``dask worker`` processes
started here. Every figure is checked against a value computed here by other
means: cycles from the closed formula, accuracies from training the same
network directly and from the golden model on the test set, the Verilog's
hash from compiling the cached model directly, inferences/s from fmax and
those cycles.
"""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from sst_hw.cli import main
from sst_hw.sweep.cache import Cache
from sst_hw.sweep.spec import build_spec

ROOT = Path(__file__).resolve().parent.parent
DASK = Path(sys.executable).parent / "dask"


# -- helpers -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cluster():
    """A LocalCluster of two worker processes, one thread each, and a client on it."""
    from distributed import Client, LocalCluster
    import logging

    c = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                     dashboard_address=":0", silence_logs=logging.ERROR)
    client = Client(c)
    yield client
    client.close()
    c.close()


def sweep(spec, client, cache_dir):
    from sst_hw.sweep.results import apply_constraints
    from sst_hw.sweep.runner import run_sweep

    run = run_sweep(spec, client, Cache(cache_dir), progress=False)
    apply_constraints(run.records, spec.constraints)
    return run


def spec_of(**tables):
    return build_spec({t: dict(v) for t, v in tables.items()})


def by(records, **match):
    out = [r for r in records if all(r[k] == v for k, v in match.items())]
    assert len(out) == 1, (match, [r["label"] for r in records])
    return out[0]


def expected_cycles(sizes, n, k, variant, pe, simd):
    """Cycles per inference from the closed formula of docs/architecture.md
    (``NetPlan.cycles``), with the latency of the engine a network core builds
    (``plan_network``'s defaults: no select register, a two-row output queue)."""
    from sst_hw.plan.engine import SSTParams

    L = SSTParams(n, k, variant, "enum", pe=pe, simd=simd, act_width=8, act_signed=False,
                  max_row_len=max(sizes[:-1]), select_reg=False, out_depth=2).latency
    total = sizes[0]
    for i, (fi, fo) in enumerate(zip(sizes, sizes[1:])):
        last = i == len(sizes) - 2
        S = -(-fi // n)
        Sb = -(-S // simd)
        G = -(-fo // pe)
        T = max(Sb, pe, L)
        total += (G - 1) * T + Sb + 1 + L + pe + (2 if last else 5)
    return total


def golden_accuracy(model_bytes, digits):
    """Test accuracy of a model file's integer golden model on digits."""
    import tempfile

    from sst_hw.format import modelfile

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "m.sst"
        p.write_bytes(model_bytes)
        net = modelfile.load(p)
    _, cls = net.forward(digits.x_test.astype(np.int64))
    return float(np.mean(cls == digits.y_test)), net


def one_line_error(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("sst-hw sweep: error: ") or \
        err[0].startswith("sst-hw autotune: error: "), err
    return err[0]


# -- the spec ------------------------------------------------------------------------------------

def test_spec_from_toml_and_overrides(tmp_path):
    from sst_hw.sweep.spec import read_spec_file

    f = tmp_path / "s.toml"
    f.write_text('[sweep]\nstages = ["train"]\n[axes]\ncode = ["(8,2)", "partitioned(8,2)", '
                 '"(4,1)/direct"]\npe = "2..4"\nhidden = [16, "32-8"]\n'
                 '[constraints]\nmin_accuracy = 95\n')
    spec = build_spec(read_spec_file(f), {"axes": {"simd": "1,2"}}, path=f)
    assert spec.name == "s"
    assert spec.stages == ("plan", "train")
    assert spec.axes["pe"] == [2, 3, 4]
    assert spec.axes["simd"] == [1, 2]
    assert spec.axes["hidden"] == [(16,), (32, 8)]
    assert [(c["n"], c["k"], c["variant"], c["assignment"]) for c in spec.axes["code"]] == [
        (8, 2, "full", "enum"), (8, 2, "partitioned", "enum"), (4, 1, "full", "direct")]
    assert spec.constraints.min_accuracy == 0.95
    # the command line replaces the file's axis
    assert build_spec(read_spec_file(f), {"axes": {"pe": "8"}}, path=f).axes["pe"] == [8]


def test_points_cross_the_axes_and_mark_invalid_combinations():
    from sst_hw.sweep.points import DatasetInfo, expand

    spec = spec_of(axes={"n": [4, 8], "k": [1, 3], "variant": ["full", "partitioned"],
                         "pe": [1, 256], "simd": [4]})
    info = DatasetInfo("digits", 64, 10, 1347, 450, "x")
    points = expand(spec, {"digits": info}, {})
    assert len(points) == 2 * 2 * 2 * 2
    invalid = {(p["code"]["n"], p["code"]["k"], p["code"]["variant"], p["pe"]): p["reason"]
               for p in points if p["status"] == "invalid"}
    # partitioned needs K | N: (4,3) and (8,3) are not codebooks; PE 256 x SIMD 4 > 512 lanes
    for n in (4, 8):
        assert "divisible" in invalid[(n, 3, "partitioned", 1)]
    for key, reason in invalid.items():
        if key[3] == 256 and not (key[2] == "partitioned" and key[1] == 3):
            assert "512 lanes" in reason
    assert len(invalid) == 2 + 8     # 2 bad codebooks at PE 1, every PE 256 point
    assert len({p["id"] for p in points}) == len(points)
    assert all(p["source"]["sizes"] == [64, 128, 10] for p in points)


@pytest.mark.parametrize("case", [
    ("toml", "[axes\npe = [2]", "not valid TOML"),
    ("toml", "[axes]\nfoo = [1]", "unknown axis axes.foo"),
    ("toml", "[colours]\nred = 1", "unknown table [colours]"),
    ("toml", "[axes]\npe = [2, 1000]", "axes.pe must be an integer in 1..256, not 1000"),
    ("toml", "[axes]\nn = [1]", "axes.n must be an integer in 2..64, not 1"),
    ("toml", "[axes]\ndevice = [\"up9k\"]", "'up9k' is not one of"),
    ("toml", "[axes]\npe = []", "the list is empty"),
    ("toml", "[sweep]\nstages = [\"fly\"]", "'fly' is not one of plan, train, synth"),
    ("toml", "[constraints]\nmax_lut4 = 100", "max_lut4 needs synthesis results"),
    ("args", ["--pe", "0"], "--pe must be an integer in 1..256, not 0"),
    ("args", ["--code", "partitioned(8,3)"], "N divisible by K"),
    ("args", ["--simd", "65"], "--simd must be an integer in 1..64, not 65"),
    ("args", ["--stages", "train", "--epochs", "1,2"], "--epochs takes one number or three"),
    ("args", ["--workers", "0"], "--workers must be in 1..256"),
    ("args", ["--scheduler", "not an address"], "--scheduler must look like tcp://"),
    ("args", ["--dataset", "no-such-set"], "unknown data set 'no-such-set'"),
    ("missing", None, "no such spec file"),
])
def test_bad_input_is_one_line_exit_2_before_any_work(case, tmp_path, monkeypatch, capsys):
    import importlib

    for module, name in (("sst_hw.sweep.runner", "prepare"),
                         ("sst_hw.sweep.cluster", "dask_client")):
        def called(*a, _n=f"{module}.{name}", **k):
            raise AssertionError(f"{_n} was reached: the check came too late")
        monkeypatch.setattr(importlib.import_module(module), name, called)
    kind, body, needle = case
    out = tmp_path / "out"
    argv = ["sweep", "--out", str(out), "--cache-dir", str(tmp_path / "cache"), "--quiet"]
    if kind == "toml":
        (tmp_path / "s.toml").write_text(body)
        argv.insert(1, str(tmp_path / "s.toml"))
    elif kind == "args":
        argv += body
    else:
        argv.insert(1, str(tmp_path / "none.toml"))
    assert main(argv) == 2
    assert needle in one_line_error(capsys)
    assert not out.exists() and not (tmp_path / "cache").exists()


# -- sweeps on a LocalCluster ----------------------------------------------------------------

def test_plan_sweep_figures_failures_and_invalid_points(cluster, tmp_path):
    from sst_hw.format.random_model import random_network
    from sst_hw.plan.network import CapacityError, plan_network
    from sst_hw.synth.devices import get_device

    spec = spec_of(axes={"code": ["(8,2)", "(16,2)"], "pe": [2, 4, 256], "simd": [1, 4],
                         "hidden": [16]})
    run = sweep(spec, cluster, tmp_path / "cache")
    recs = run.records
    assert len(recs) == 12
    kinds = []
    for code, n in (("(8,2)", 8), ("(16,2)", 16)):
        for pe in (2, 4, 256):
            for simd in (1, 4):
                r = by(recs, code=code, pe=pe, simd=simd)
                if pe * simd > 512:              # never submitted
                    assert r["status"] == "invalid" and "512 lanes" in r["reason"]
                    kinds.append("invalid")
                    continue
                try:
                    plan_network(random_network(0, [64, 16, 10], n, 2), pe=pe,
                                 simd=simd).check_fit(get_device("up5k"))
                except CapacityError:            # the memories overflow the UP5K
                    assert r["status"] == "failed" and r["stage"] == "plan", r
                    assert r["reason"].startswith("does not fit") and "block RAM" in r["reason"]
                    kinds.append("failed")
                    continue
                assert r["status"] == "ok", r
                assert r["cycles"] == expected_cycles([64, 16, 10], n, 2, "full", pe, simd)
                kinds.append("ok")
    assert kinds.count("invalid") == 2 and kinds.count("failed") >= 2
    assert kinds.count("ok") >= 6                 # the sweep went on past the failures
    assert run.summary["submitted"] == {"train": 0, "point": 10}
    assert run.summary["failed"] == kinds.count("failed")


def test_training_sweep_accuracy_and_caching(cluster, tmp_path, digits):
    from sst_hw.format.codebook import Codebook
    from sst_hw.train.export import train_and_export
    from sst_hw.train.mlp import Schedule

    cache = tmp_path / "cache"
    axes = {"code": ["(8,2)", "partitioned(8,2)"], "pe": [2, 4], "hidden": [16]}
    spec = spec_of(sweep={"stages": ["train"]}, axes=axes, train={"epochs": 2},
                   constraints={"min_accuracy": 0.5})
    run = sweep(spec, cluster, cache)
    assert run.summary["submitted"] == {"train": 2, "point": 4}
    assert run.summary["computed"]["train"] == 2 and run.summary["computed"]["plan"] == 4
    for code, variant in (("(8,2)", "full"), ("partitioned(8,2)", "partitioned")):
        direct = train_and_export(digits, [64, 16, 10], Codebook(8, 2, variant),
                                  schedule=Schedule(2, 2, 2, batch_size=32), seed=0)
        for pe in (2, 4):
            r = by(run.records, code=code, pe=pe)
            assert r["computed"] == {"train": True, "plan": True, "synth": False}
            assert r["accuracy"] == direct["accuracy"]["integer"]
            acc, net = golden_accuracy(run.model_bytes(r), digits)
            assert acc == r["accuracy"]
            assert net.layers[0].codebook == Codebook(8, 2, variant)
            assert r["cycles"] == expected_cycles([64, 16, 10], 8, 2, variant, pe, 2)
            assert r["feasible"] == (r["accuracy"] >= 0.5)

    # the same sweep again: nothing is submitted, every figure comes back
    again = sweep(spec, cluster, cache)
    assert again.summary["submitted"] == {"train": 0, "point": 0}
    assert again.summary["from_cache"] == 4
    for r0, r1 in zip(run.records, again.records):
        assert not any(r1["computed"].values())
        assert (r1["accuracy"], r1["cycles"]) == (r0["accuracy"], r0["cycles"])

    # one axis touched (PE 4 -> 8): only the PE 8 points are planned, nothing retrains
    spec8 = spec_of(sweep={"stages": ["train"]}, axes=dict(axes, pe=[2, 8]),
                    train={"epochs": 2})
    third = sweep(spec8, cluster, cache)
    assert third.summary["submitted"] == {"train": 0, "point": 2}
    for r in third.records:
        assert r["computed"] == {"train": False, "plan": r["pe"] == 8, "synth": False}
        assert r["cycles"] == expected_cycles([64, 16, 10], 8, 2,
                                              "full" if r["code"] == "(8,2)" else "partitioned",
                                              r["pe"], 2)

    # a training setting touched: both codes retrain, every point is planned again
    fourth = sweep(spec_of(sweep={"stages": ["train"]}, axes=axes, train={"epochs": 3}),
                   cluster, cache)
    assert fourth.summary["submitted"] == {"train": 2, "point": 4}

    # an interrupted sweep: the points whose results were stored are not resubmitted
    lost = by(run.records, code="(8,2)", pe=4)["keys"]["plan"]
    (cache / "plan" / f"{lost}.json").unlink()
    resumed = sweep(spec, cluster, cache)
    assert resumed.summary["submitted"] == {"train": 0, "point": 1}
    assert [r["computed"]["plan"] for r in resumed.records] == [False, True, False, False]


def test_timeout_is_recorded_and_not_cached(cluster, tmp_path):
    cache = tmp_path / "cache"
    spec = spec_of(sweep={"stages": ["train"], "timeout": 2}, axes={"code": ["(8,2)"],
                   "pe": [2, 4]}, train={"epochs": 400})
    run = sweep(spec, cluster, cache)
    for r in run.records:
        assert r["status"] == "failed" and r["stage"] == "timeout", r
        assert "timed out after 2 s" in r["reason"]
    assert not (cache / "train").exists()          # a timeout may pass next time
    assert run.summary["failed"] == 2


def test_autotune_with_synthesis(cluster, tmp_path, digits, capsys):
    """Two tiny points trained and placed and routed on the UP5K; the fewest LUT4 wins."""
    from sst_hw.emit.network import write_network
    from sst_hw.plan.network import plan_network
    from sst_hw.synth.devices import get_device

    addr = cluster.cluster.scheduler_address
    out_model = tmp_path / "chosen.sst"
    argv = ["autotune", "digits", "--device", "up5k", "--min-accuracy", "0.3",
            "--objective", "luts", "--code", "8:2,4:1", "--pe", "2", "--simd", "1",
            "--hidden", "8", "--epochs", "2", "--scheduler", addr, "--cache-dir",
            str(tmp_path / "cache"), "--out", str(tmp_path / "tables"), "-o", str(out_model),
            "--json", "--quiet"]
    assert main(argv) == 0
    res = json.loads(capsys.readouterr().out)
    table = json.loads((tmp_path / "tables" / "results.json").read_text())["records"]
    assert len(table) == 2 and all(r["status"] == "ok" for r in table)
    assert res["chosen"]["id"] == min(table, key=lambda r: r["lut4"])["id"]
    assert [r["id"] for r in res["runners_up"]] == [max(table, key=lambda r: r["lut4"])["id"]]
    assert (tmp_path / "tables" / "pareto.png").stat().st_size > 1000
    cache = Cache(tmp_path / "cache")
    for r in table:
        assert 0 < r["lut4"] <= get_device("up5k").lut4 and r["fmax_mhz"] > 0
        n, k = (8, 2) if r["code"] == "(8,2)" else (4, 1)
        model = cache.get_bytes("train", r["keys"]["train"], ".sst")
        acc, net = golden_accuracy(model, digits)
        assert acc == r["accuracy"]
        plan = plan_network(net, pe=2, simd=1)
        assert r["cycles"] == plan.cycles() == expected_cycles([64, 8, 10], n, k, "full", 2, 1)
        assert r["inferences_per_s"] == pytest.approx(r["fmax_mhz"] * 1e6 / plan.cycles())
        # the synthesis is keyed by the Verilog `sst-hw compile` writes for this model
        write_network(plan, tmp_path / f"{r['id']}.v", device=get_device("up5k"))
        sha = hashlib.sha256((tmp_path / f"{r['id']}.v").read_bytes()).hexdigest()
        assert cache.get("recipe", r["keys"]["recipe"])["verilog_sha256"] == sha
        assert cache.get("synth", r["keys"]["synth"])["verilog_sha256"] == sha
    # the model written is the chosen point's, with its engine
    acc, net = golden_accuracy(out_model.read_bytes(), digits)
    assert acc == res["chosen"]["accuracy"]
    assert net.meta["autotune"]["pe"] == 2 and net.meta["autotune"]["device"] == "up5k"
    assert net.layers[0].codebook.n == res["chosen"]["n"]
    # again: everything from the cache, the same choice
    assert main(argv) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["summary"]["submitted"] == {"train": 0, "point": 0}
    assert again["chosen"]["id"] == res["chosen"]["id"]


def test_a_design_that_does_not_route_is_a_reason(tmp_path, monkeypatch):
    """nextpnr failing on a point's Verilog: the point fails with nextpnr's error
    line, keyed (and so cached) by that Verilog."""
    from sst_hw.emit.network import write_network
    from sst_hw.format.random_model import random_network
    from sst_hw.plan.network import plan_network
    from sst_hw.sweep import stages
    from sst_hw.sweep.keys import code_versions
    from sst_hw.synth import flow
    from sst_hw.synth.devices import get_device

    log = tmp_path / "nextpnr.log"
    log.write_text("Info: placing\nERROR: Unable to route design\n")

    def fail(*args, **kwargs):
        raise flow.SynthesisError("nextpnr-ice40 failed with exit code 1", tool="nextpnr-ice40",
                                  log_path=log, tail=log.read_text())
    monkeypatch.setattr(flow, "synthesize", fail)
    monkeypatch.setattr(flow, "tool_versions", lambda family: {"yosys": "test"})
    plan = plan_network(random_network(0, [16, 8, 4], 8, 2), pe=2, simd=1)
    point = {"id": "t", "device": "up5k"}
    settings = {"freq": {"ice40": 48.0, "ecp5": 100.0}, "seed": 1, "versions": code_versions()}
    out = stages.synth_stage(point, plan, settings)
    assert out["failure"] == ("does not place or route: nextpnr-ice40 failed with exit code 1 "
                              "(ERROR: Unable to route design)")
    assert out["cacheable"] and out["figures"] is None
    write_network(plan, tmp_path / "net.v", device=get_device("up5k"))
    assert out["verilog_sha256"] == hashlib.sha256((tmp_path / "net.v").read_bytes()).hexdigest()
    # a synth key the client already has: no synthesis at all
    again = stages.synth_stage(point, plan, settings, known_synth=[out["synth_key"]])
    assert again["cached"] and "failure" not in again


# -- a real scheduler and two workers ------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sweep_on_dask_scheduler_and_two_workers(tmp_path, digits, capsys):
    port = _free_port()
    addr = f"tcp://127.0.0.1:{port}"
    logs = [open(tmp_path / f"{n}.log", "w") for n in ("scheduler", "w1", "w2")]
    procs = [subprocess.Popen([str(DASK), "scheduler", "--host", "127.0.0.1", "--port",
                               str(port), "--no-dashboard"], stdout=logs[0],
                              stderr=subprocess.STDOUT)]
    try:
        for i in (1, 2):
            procs.append(subprocess.Popen(
                [str(DASK), "worker", addr, "--nthreads", "1", "--no-dashboard", "--name",
                 f"w{i}", "--local-directory", str(tmp_path / f"w{i}")],
                stdout=logs[i], stderr=subprocess.STDOUT))
        from distributed import Client
        deadline = time.monotonic() + 90
        while True:
            try:
                with Client(addr, timeout="5s") as c:
                    c.wait_for_workers(2, timeout=60)
                break
            except (OSError, TimeoutError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
        argv = ["sweep", "--stages", "train", "--code", "(8,2),(16,2)", "--pe", "2,4",
                "--hidden", "16", "--epochs", "2", "--scheduler", addr, "--no-cache",
                "--out", str(tmp_path / "out"), "--json", "--quiet"]
        assert main(argv) == 0
        res = json.loads(capsys.readouterr().out)
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        for f in logs:
            f.close()
    recs = res["records"]
    assert res["summary"]["workers"] == 2
    assert res["summary"]["submitted"] == {"train": 2, "point": 4}
    assert len({r["worker"] for r in recs}) == 2      # both workers took points
    from sst_hw.format.codebook import Codebook
    from sst_hw.train.export import train_and_export
    from sst_hw.train.mlp import Schedule
    for n in (8, 16):
        direct = train_and_export(digits, [64, 16, 10], Codebook(n, 2),
                                  schedule=Schedule(2, 2, 2, batch_size=32))
        for pe in (2, 4):
            r = by(recs, code=f"({n},2)", pe=pe)
            assert r["accuracy"] == direct["accuracy"]["integer"]
            assert r["cycles"] == expected_cycles([64, 16, 10], n, 2, "full", pe, 2)
    assert (tmp_path / "out" / "results.csv").read_text().count("\n") == 5
    assert "| (16,2) | 4 | 2 |" in (tmp_path / "out" / "results.md").read_text()


# -- tables and the choice ---------------------------------------------------------------------

def _rec(i, lut4, acc, rate, status="ok"):
    return {"id": str(i), "code": "(8,2)", "pe": i, "simd": 1, "device": "up5k",
            "memory": "bram", "sizes": "64-16-10", "status": status, "lut4": lut4,
            "accuracy": acc, "inferences_per_s": rate, "cycles": 100, "bram": 1,
            "fmax_mhz": rate / 1e4 if rate else None}


def test_pareto_constraints_and_choice():
    from sst_hw.sweep.results import apply_constraints, pareto_front
    from sst_hw.sweep.select import explain, rank
    from sst_hw.sweep.spec import Constraints

    recs = [_rec(1, 500, 0.90, 2e5), _rec(2, 700, 0.95, 3e5), _rec(3, 800, 0.94, 4e5),
            _rec(4, 600, 0.80, 1e5), _rec(5, 400, 0.99, 9e5, status="failed")]
    # 4 is beaten by 1 (fewer LUT4, more accurate); 3 is beaten by 2 on accuracy
    assert [r["id"] for r in pareto_front(recs, "lut4", "accuracy")] == ["1", "2"]
    assert [r["id"] for r in pareto_front(recs, "lut4", "inferences_per_s")] == ["1", "2", "3"]
    apply_constraints(recs, Constraints(min_accuracy=0.91, max_lut4=750))
    assert [r["feasible"] for r in recs] == [False, True, False, False, False]
    assert recs[2]["violations"] == ["LUT4 800 > 750"]
    apply_constraints(recs, Constraints(min_accuracy=0.91))
    assert [r["id"] for r in rank(recs, "throughput")] == ["3", "2"]
    assert [r["id"] for r in rank(recs, "luts")] == ["2", "3"]
    best, rest, lines = explain(recs, "throughput", Constraints(min_accuracy=0.91))
    assert best["id"] == "3" and [r["id"] for r in rest] == ["2"]
    assert "the most inferences/s of the 2 points" in lines[1]
    assert "-25.0% inferences/s" in lines[2]
