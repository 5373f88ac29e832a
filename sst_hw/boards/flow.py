"""Build a board bitstream with the platform's flow and the YoWASP tools.

:func:`build_bitstream` prepares the design with the ``amaranth-boards``
platform (its pin constraints and clock constraint), runs the platform's
build script (Yosys ``synth_ice40``/``synth_ecp5``, nextpnr, icepack/ecppack)
in ``<build_dir>/work`` with the tools next to ``sys.executable``, and then:

* reads Yosys ``stat -json`` and nextpnr's ``--report`` JSON into a
  :class:`~sst_hw.synth.report.SynthReport` (``report.json``/``report.md``
  in ``build_dir``);
* checks that the design fits and that every clock's achieved fmax reaches
  the board clock;
* only then copies the bitstream to ``<build_dir>/<stem>.bin|.bit`` (through a
  temporary name and an atomic rename) with ``<stem>.sha256`` next to it.

A failed tool run, a design that does not fit, or missed timing raises
:class:`BoardBuildError` and leaves no bitstream under the final name (a
stale one from an earlier build is deleted first). nextpnr runs with
``--timing-allow-fail`` so that a missed constraint still yields a report;
the platform's own bitstream stays in ``work/`` for inspection.

Environment: ``YOSYS``, ``NEXTPNR_ICE40``, ``ICEPACK``, ``NEXTPNR_ECP5`` and
``ECPPACK`` override the tools (a single executable each, as the platform's
build script quotes them). The platform's programmer (``openFPGALoader``,
``iceprog``) is never needed: the build script is run directly, without the
platform's required-tools check.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from sst_hw.synth.flow import SynthesisError, tool_command, tool_versions
from sst_hw.synth.report import SynthReport, build_report
from sst_hw.boards.board import Board

__all__ = ["BoardBuild", "BoardBuildError", "build_bitstream", "toolchain_env", "sha256_of"]

_TOOLS = {"ice40": ("yosys", "nextpnr-ice40", "icepack"),
          "ecp5": ("yosys", "nextpnr-ecp5", "ecppack")}


class BoardBuildError(RuntimeError):
    """A board build failed or missed timing; :attr:`report` holds what is known
    (``None`` if synthesis did not get that far), :attr:`log_path` the build log."""

    def __init__(self, message, *, report: SynthReport | None = None, log_path=None):
        self.report = report
        self.log_path = Path(log_path) if log_path else None
        super().__init__(message)


@dataclass
class BoardBuild:
    """The result of a successful :func:`build_bitstream`."""

    board: str
    bitstream: Path
    sha256: str
    report: SynthReport
    build_dir: Path
    seconds: float


def sha256_of(path) -> str:
    """Hex SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


def toolchain_env(family: str) -> dict:
    """Environment variables pointing the platform's build script at the tools."""
    env = {}
    for tool in _TOOLS[family]:
        cmd = tool_command(tool)
        if len(cmd) != 1:
            raise SynthesisError(f"{tool}: the board flow needs a single executable, not "
                                 f"{' '.join(cmd)!r}", tool=tool)
        env[tool.upper().replace("-", "_")] = cmd[0]
    return env


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    errors = [l for l in text if "ERROR" in l or "error:" in l.lower()]
    tail = text[-lines:]
    return "\n".join([l for l in errors[-5:] if l not in tail] + tail)


def build_bitstream(board: Board, top, build_dir, *, stem: str = "top", seed: int = 1,
                    name: str = "top", timeout: float | None = None,
                    extra_files: dict | None = None) -> BoardBuild:
    """Build ``top`` (an Elaboratable using ``board``'s resources, e.g. a
    :class:`~sst_hw.boards.board.BoardTop`) into ``<build_dir>/<stem><suffix>``.

    Parameters
    ----------
    board : Board
    top : Elaboratable
    build_dir : path
        Created if missing; the toolchain runs in ``build_dir/work`` (emptied
        first).
    stem : str
        File name of the bitstream, without suffix.
    seed : int
        nextpnr placer seed (same design + same seed = same bitstream).
    name : str
        Top module name inside the build.
    timeout : float, optional
        Seconds for the whole toolchain run.
    extra_files : dict, optional
        ``{key: path}`` recorded in the report's ``files``.

    Returns
    -------
    BoardBuild

    Raises
    ------
    BoardBuildError
        Tool failure, design too large, or fmax below the board clock.
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, not {seed!r}")
    start = time.monotonic()
    build_dir = Path(build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    final = build_dir / f"{stem}{board.bitstream_suffix}"
    digest_path = build_dir / f"{stem}.sha256"
    for stale in (final, digest_path, build_dir / "report.json", build_dir / "report.md"):
        stale.unlink(missing_ok=True)
    work = build_dir / "work"
    shutil.rmtree(work, ignore_errors=True)

    env = dict(os.environ)
    env.update(toolchain_env(board.family))
    platform = board.platform()
    stat_json, pnr_json = f"{name}.stat.json", f"{name}.nextpnr.json"
    overrides = dict(
        nextpnr_opts=["--seed", str(seed), "--timing-allow-fail", "--report", pnr_json],
        script_after_synth=f"tee -q -o {stat_json} stat -json",
    )
    if board.device.synth_args:
        overrides["synth_opts"] = list(board.device.synth_args)
    plan = platform.prepare(top, name=name, **overrides)
    plan.extract(str(work))
    log = build_dir / "build.log"
    script = f"{plan.script}.sh"
    with open(log, "w") as f:
        try:
            proc = subprocess.run(["sh", script], cwd=work, env=env, stdout=f,
                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  timeout=timeout)
        except subprocess.TimeoutExpired:
            raise BoardBuildError(f"{board.name}: the toolchain timed out after {timeout} s",
                                  log_path=log) from None
    tool_secs = time.monotonic() - start

    files = {"build_log": log, "yosys_log": work / f"{name}.rpt",
             "nextpnr_log": work / f"{name}.tim", "work": work, **(extra_files or {})}
    have_stat = (work / stat_json).is_file()
    have_pnr = (work / pnr_json).is_file()
    report = None
    if have_stat or have_pnr:
        report = build_report(board.device, top=name, freq_mhz=board.clk_hz / 1e6, seed=seed,
                              stat=work / stat_json if have_stat else None,
                              nextpnr=work / pnr_json if have_pnr else None,
                              versions=tool_versions(board.family), files=files)
        report.runtime_s = {"toolchain": round(tool_secs, 2)}
    if proc.returncode != 0:
        if report is not None:
            report.write(build_dir)
        raise BoardBuildError(f"{board.name}: the toolchain failed (exit code {proc.returncode}); "
                              f"see {log}\n{_tail(log)}", report=report, log_path=log)
    if report is None or not report.clocks:
        raise BoardBuildError(f"{board.name}: nextpnr reported no clock timing; see {log}",
                              report=report, log_path=log)
    clk_mhz = board.clk_hz / 1e6
    for c in report.clocks.values():     # the requirement is the board clock, whatever nextpnr got
        if c.constraint_mhz is None or c.constraint_mhz < clk_mhz:
            c.constraint_mhz = clk_mhz
    problems = []
    if not report.fits:
        over = [k for k, r in report.resources.items() if not r.fits]
        problems.append(f"the design does not fit {board.device.part} ({', '.join(over)})")
    for net, c in report.clocks.items():
        if c.achieved_mhz < clk_mhz or not c.meets:
            problems.append(f"clock {net}: fmax {c.achieved_mhz:.2f} MHz misses the "
                            f"{clk_mhz:g} MHz board clock")
    built = work / f"{name}{board.bitstream_suffix}"
    if not problems and not built.is_file():
        problems.append(f"the toolchain left no bitstream {built.name}")
    if problems:
        report.write(build_dir)
        raise BoardBuildError(f"{board.name}: no bitstream: " + "; ".join(problems),
                              report=report, log_path=log)

    # Timing met: publish the bitstream under its final name, atomically.
    tmp = build_dir / f".{stem}{board.bitstream_suffix}.tmp"
    shutil.copyfile(built, tmp)
    digest = sha256_of(tmp)
    os.replace(tmp, final)
    digest_path.write_text(f"{digest}  {final.name}\n")
    report.files["bitstream"] = str(final)
    report.files["sha256"] = digest
    report.runtime_s = {"toolchain": round(tool_secs, 2),
                        "total": round(time.monotonic() - start, 2)}
    report.write(build_dir)
    return BoardBuild(board.name, final, digest, report, build_dir, time.monotonic() - start)
