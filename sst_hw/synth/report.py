"""Synthesis reports: Yosys ``stat -json`` + nextpnr ``--report`` -> one summary.

Sources and what is taken from them:

Yosys ``stat -json`` (after ``synth_<family>``)
    cell counts by type (``design.num_cells_by_type``). ``lut4`` is the
    number of LUT4 cells: ``SB_LUT4`` on iCE40, ``LUT4 + 2 * CCU2C`` on ECP5
    (a CCU2C carry cell holds two LUT4s). ``ff`` is the number of flip-flops
    (``SB_DFF*``, ``TRELLIS_FF``).
nextpnr ``--report`` JSON
    ``utilization``: ``{cell type: {"used", "available"}}`` after packing.
    ``logic_cells`` is ``ICESTORM_LC`` (iCE40: one LUT4 + FF + carry; a
    flip-flop alone also takes one) or ``TRELLIS_COMB`` (ECP5: one LUT4 slot,
    two per slice; older nextpnr: ``2 * TRELLIS_SLICE``). Block RAM is
    ``ICESTORM_RAM``/``DP16KD``, SPRAM ``ICESTORM_SPRAM``, DSP
    ``ICESTORM_DSP``/``MULT18X18D``, I/O ``SB_IO``/``TRELLIS_IO`` (available I/O
    comes from the package table, as nextpnr counts every pad of the die).
    ``fmax``: ``{clock net: {"achieved", "constraint"}}`` in MHz.
    ``critical_paths``: ``[{"from", "to", "path": [segments]}]``, each segment
    with ``type`` (``clk-to-q``, ``logic``, ``routing``, ``setup``),
    ``delay`` (ns), ``from``/``to`` (``cell``, ``port``) and, for routing,
    ``net``.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sst_hw.synth.devices import Device, get_device

__all__ = ["Resource", "ClockTiming", "CriticalPath", "SynthReport",
           "parse_yosys_stat", "parse_nextpnr_report", "parse_nextpnr_log_utilization",
           "build_report", "fits", "meets_timing"]

#: Display order and labels of the resources.
RESOURCE_LABELS = {
    "lut4": "LUT4 (yosys)",
    "logic_cells": "logic cells (nextpnr)",
    "ff": "FF",
    "carry": "carry cells (yosys)",
    "bram": "block RAM",
    "spram": "SPRAM",
    "dsp": "DSP",
    "io": "I/O",
}

_NEXTPNR_CELLS = {
    "ice40": {"logic_cells": ("ICESTORM_LC",), "bram": ("ICESTORM_RAM",),
              "spram": ("ICESTORM_SPRAM",), "dsp": ("ICESTORM_DSP",), "io": ("SB_IO",),
              "ff": ()},
    "ecp5": {"logic_cells": ("TRELLIS_COMB",), "bram": ("DP16KD",), "spram": (),
             "dsp": ("MULT18X18D",), "io": ("TRELLIS_IO",), "ff": ("TRELLIS_FF",)},
}


@dataclass
class Resource:
    """Use of one resource: ``used`` of ``available`` (``None`` if unknown)."""

    used: int
    available: int | None = None

    @property
    def percent(self) -> float | None:
        """Utilization in percent, ``None`` if ``available`` is unknown or 0."""
        if not self.available:
            return None
        return 100.0 * self.used / self.available

    @property
    def fits(self) -> bool:
        """``used <= available`` (true when the availability is unknown)."""
        return self.available is None or self.used <= self.available


@dataclass
class ClockTiming:
    """Timing of one clock: achieved fmax against the constraint, in MHz."""

    achieved_mhz: float
    constraint_mhz: float | None = None

    @property
    def meets(self) -> bool:
        """``achieved >= constraint`` (true without a constraint)."""
        return self.constraint_mhz is None or self.achieved_mhz >= self.constraint_mhz


@dataclass
class CriticalPath:
    """One critical path from nextpnr, delays in ns.

    ``start``/``end`` are ``cell.port`` of the launching and capturing
    cells; ``start_net``/``end_net`` the first and last nets on the path
    (usually named after the source signals); ``levels`` counts logic
    segments (LUTs and carry stages).
    """

    from_clock: str
    to_clock: str
    delay_ns: float
    logic_ns: float
    routing_ns: float
    levels: int
    start: str
    end: str
    start_net: str | None = None
    end_net: str | None = None
    sources: list[str] = field(default_factory=list)


@dataclass
class SynthReport:
    """Everything one synthesis run tells about a design.

    Attributes
    ----------
    device, family, part : str
        Target.
    top : str
        Top module that was synthesized.
    freq_mhz : float
        Target frequency given to nextpnr, MHz.
    seed : int
        nextpnr placer seed.
    resources : dict of str -> Resource
        Keys ``lut4``, ``logic_cells``, ``ff``, ``carry``, ``bram``,
        ``spram``, ``dsp``, ``io`` (only those known).
    clocks : dict of str -> ClockTiming
        Per clock net, from nextpnr.
    critical_paths : list of CriticalPath
    cells : dict of str -> int
        Yosys cell counts by type.
    utilization : dict
        nextpnr's raw utilization table.
    versions : dict of str -> str
        Tool versions.
    harness : dict or None
        OOC harness overhead (``ff``, ``lut``, ``in_bits``, ...), included in
        the resource counts.
    files : dict of str -> str
        Paths of the artefacts (Verilog, logs, JSON, bitstream).
    runtime_s : dict of str -> float
        Wall-clock seconds per tool run.
    """

    device: str
    family: str
    part: str
    top: str
    freq_mhz: float
    seed: int
    resources: dict[str, Resource] = field(default_factory=dict)
    clocks: dict[str, ClockTiming] = field(default_factory=dict)
    critical_paths: list[CriticalPath] = field(default_factory=list)
    cells: dict[str, int] = field(default_factory=dict)
    utilization: dict = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    harness: dict | None = None
    files: dict[str, str] = field(default_factory=dict)
    runtime_s: dict[str, float] = field(default_factory=dict)

    # -- derived figures ---------------------------------------------------

    @property
    def fits(self) -> bool:
        """True if every resource with a known availability is within it."""
        return fits(self)

    @property
    def meets_timing(self) -> bool:
        """True if every clock reaches its constraint (false without timing data)."""
        return meets_timing(self)

    @property
    def fmax_mhz(self) -> float | None:
        """Lowest achieved fmax over all clocks, MHz (``None`` without timing data)."""
        if not self.clocks:
            return None
        return min(c.achieved_mhz for c in self.clocks.values())

    def used(self, name: str) -> int:
        """``resources[name].used``, 0 if the resource was not reported."""
        r = self.resources.get(name)
        return r.used if r else 0

    @property
    def lut4(self) -> int:
        return self.used("lut4")

    @property
    def ff(self) -> int:
        return self.used("ff")

    @property
    def core_estimate(self) -> dict[str, int] | None:
        """LUT4 and FF of the core alone: totals minus the OOC harness's own cost.

        Approximate, since Yosys may merge harness and core logic. ``None``
        without a harness.
        """
        if not self.harness or "lut4" not in self.resources:
            return None
        return {"lut4": max(self.lut4 - self.harness.get("lut", 0), 0),
                "ff": max(self.ff - self.harness.get("ff", 0), 0)}

    def critical_path(self, clock: str | None = None) -> CriticalPath | None:
        """Register-to-register critical path of ``clock`` (default: slowest clock)."""
        if clock is None:
            if not self.clocks:
                return None
            clock = min(self.clocks, key=lambda c: self.clocks[c].achieved_mhz)
        for p in self.critical_paths:
            if p.from_clock.split()[-1] == clock and p.to_clock.split()[-1] == clock:
                return p
        return None

    # -- output ------------------------------------------------------------

    def to_dict(self) -> dict:
        """JSON-ready dict; adds ``percent``, ``fits``, ``meets_timing``, ``fmax_mhz``."""
        d = asdict(self)
        for name, r in self.resources.items():
            d["resources"][name]["percent"] = r.percent
        for name, c in self.clocks.items():
            d["clocks"][name]["meets"] = c.meets
        d["fits"] = self.fits
        d["meets_timing"] = self.meets_timing
        d["fmax_mhz"] = self.fmax_mhz
        d["core_estimate"] = self.core_estimate
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "SynthReport":
        """Inverse of :meth:`to_dict` (derived keys are ignored)."""
        d = dict(d)
        for key in ("fits", "meets_timing", "fmax_mhz", "core_estimate"):
            d.pop(key, None)
        d["resources"] = {k: Resource(v["used"], v.get("available"))
                          for k, v in d.get("resources", {}).items()}
        d["clocks"] = {k: ClockTiming(v["achieved_mhz"], v.get("constraint_mhz"))
                       for k, v in d.get("clocks", {}).items()}
        d["critical_paths"] = [CriticalPath(**p) for p in d.get("critical_paths", [])]
        return cls(**d)

    def to_markdown(self) -> str:
        """A human-readable report: resources table, timing, critical path, versions."""
        yn = {True: "yes", False: "**no**"}
        lines = [
            f"# Synthesis report: `{self.top}` on {self.device} ({self.part})",
            "",
            f"Target {_fmt(self.freq_mhz)} MHz, nextpnr seed {self.seed}. "
            f"Fits: {yn[self.fits]}. Meets timing: {yn[self.meets_timing]}.",
            "",
            "| resource | used | available | percent |",
            "|---|---:|---:|---:|",
        ]
        for key, label in RESOURCE_LABELS.items():
            r = self.resources.get(key)
            if r is None:
                continue
            avail = "" if r.available is None else str(r.available)
            pct = "" if r.percent is None else f"{r.percent:.1f} %"
            lines.append(f"| {label} | {r.used} | {avail} | {pct} |")
        lines += ["", "## Timing", ""]
        if self.clocks:
            lines += ["| clock | fmax (MHz) | constraint (MHz) | met |", "|---|---:|---:|---|"]
            for name, c in self.clocks.items():
                cons = "" if c.constraint_mhz is None else _fmt(c.constraint_mhz)
                lines.append(f"| `{name}` | {c.achieved_mhz:.2f} | {cons} | {yn[c.meets]} |")
        else:
            lines.append("No clock timing reported.")
        for p in self.critical_paths:
            if p.from_clock == "<async>" or p.to_clock == "<async>":
                continue
            lines += ["", f"### Critical path `{p.from_clock}` -> `{p.to_clock}`", "",
                      f"- delay: {p.delay_ns:.2f} ns (logic {p.logic_ns:.2f} ns, "
                      f"routing {p.routing_ns:.2f} ns, {p.levels} logic segments)",
                      f"- from: `{p.start}`" + (f" (net `{p.start_net}`)" if p.start_net else ""),
                      f"- to: `{p.end}`" + (f" (net `{p.end_net}`)" if p.end_net else "")]
            if p.sources:
                lines.append(f"- sources: {', '.join('`%s`' % s for s in p.sources)}")
        if self.harness:
            h = self.harness
            lines += ["", "## OOC harness (included above)", "",
                      f"{h.get('in_bits', 0)} input bits from a shift register, "
                      f"{h.get('out_bits', 0)} output bits XOR-folded into one pin: "
                      f"about {h.get('ff', 0)} FF and {h.get('lut', 0)} LUT4 of harness."]
            core = self.core_estimate
            if core:
                lines.append(f"Core alone, approximately: {core['lut4']} LUT4, {core['ff']} FF.")
        if self.cells:
            lines += ["", "## Cells (yosys)", "", "| cell | count |", "|---|---:|"]
            lines += [f"| {k} | {v} |" for k, v in sorted(self.cells.items())]
        if self.versions:
            lines += ["", "## Tools", ""]
            lines += [f"- {k}: {v}" for k, v in self.versions.items()]
        if self.runtime_s:
            lines.append("- run time: " + ", ".join(f"{k} {v:.1f} s"
                                                    for k, v in self.runtime_s.items()))
        return "\n".join(lines) + "\n"

    def write(self, directory) -> tuple[Path, Path]:
        """Write ``report.json`` and ``report.md`` into ``directory``; return their paths."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        js, md = directory / "report.json", directory / "report.md"
        self.files.setdefault("report_json", str(js))
        self.files.setdefault("report_md", str(md))
        js.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        md.write_text(self.to_markdown())
        return js, md


def _fmt(x: float) -> str:
    return f"{x:g}"


def _load(src):
    if src is None or isinstance(src, dict):
        return src
    text = Path(src).read_text()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        # Some Yosys versions put log lines around the JSON that `tee -o` captures.
        return json.loads(text[text.index("{"):text.rindex("}") + 1])


def parse_yosys_stat(stat) -> dict[str, int]:
    """Cell counts by type from Yosys ``stat -json`` output (path or dict).

    Uses the whole-design totals (``design``) where present, else the sum of
    the top module(s). Both the ``num_cells_by_type`` key (recent Yosys) and
    ``cells`` are understood.
    """
    d = _load(stat)
    if not d:
        return {}

    def cells_of(entry):
        c = entry.get("num_cells_by_type", entry.get("cells", {}))
        # $scopeinfo cells only carry Amaranth's hierarchy names; they are not logic.
        return {str(k): int(v) for k, v in c.items()
                if isinstance(v, (int, float)) and k != "$scopeinfo"}

    if isinstance(d.get("design"), dict):
        return cells_of(d["design"])
    totals: dict[str, int] = {}
    for entry in d.get("modules", {}).values():
        for k, v in cells_of(entry).items():
            totals[k] = totals.get(k, 0) + v
    return totals


def parse_nextpnr_report(report):
    """Parse nextpnr's ``--report`` JSON (path or dict).

    Returns
    -------
    utilization : dict of str -> {"used": int, "available": int}
    clocks : dict of str -> ClockTiming
    paths : list of CriticalPath
    """
    d = _load(report) or {}
    util = {k: {"used": int(v.get("used", 0)), "available": int(v.get("available", 0))}
            for k, v in d.get("utilization", {}).items()}
    clocks = {k: ClockTiming(float(v["achieved"]),
                             float(v["constraint"]) if v.get("constraint") is not None else None)
              for k, v in d.get("fmax", {}).items()}
    paths = [_parse_path(p) for p in d.get("critical_paths", [])]
    return util, clocks, paths


def parse_nextpnr_log_utilization(log_text: str) -> dict:
    """The "Device utilisation" table of a nextpnr log, as ``{cell: {"used", "available"}}``.

    nextpnr prints it after packing, so it is there even when placement then
    fails for lack of room (when no ``--report`` JSON is written).
    """
    util = {}
    for m in re.finditer(r"^Info:\s+([A-Za-z0-9_]+):\s+(\d+)/\s*(\d+)\s+\d+%", log_text, re.M):
        util[m.group(1)] = {"used": int(m.group(2)), "available": int(m.group(3))}
    return util


def _parse_path(p) -> CriticalPath:
    segs = p.get("path", [])
    total = sum(float(s.get("delay", 0.0)) for s in segs)
    routing = sum(float(s.get("delay", 0.0)) for s in segs if s.get("type") == "routing")
    levels = sum(1 for s in segs if s.get("type") == "logic")
    nets = [s for s in segs if s.get("type") == "routing" and s.get("net")]

    def pin(end):
        return f"{end.get('cell', '?')}.{end.get('port', '?')}" if end else "?"

    sources = []
    for s in nets[:1] + nets[-1:]:
        for src in s.get("sources", []):
            if src not in sources and not src.startswith("/share/"):
                sources.append(src)
    return CriticalPath(
        from_clock=str(p.get("from", "")), to_clock=str(p.get("to", "")),
        delay_ns=total, logic_ns=total - routing, routing_ns=routing, levels=levels,
        start=pin(segs[0].get("from")) if segs else "?",
        end=pin(segs[-1].get("to")) if segs else "?",
        start_net=nets[0]["net"] if nets else None,
        end_net=nets[-1]["net"] if nets else None,
        sources=sources)


def build_report(device: str | Device, *, top: str, freq_mhz: float, seed: int,
                 stat=None, nextpnr=None, versions=None, harness=None,
                 files=None) -> SynthReport:
    """Combine Yosys stat and nextpnr report (paths or dicts) into a :class:`SynthReport`.

    Either source may be ``None`` (e.g. synthesis without place and route);
    the resources then come from what is known.
    """
    dev = get_device(device)
    have_stat = stat is not None
    cells = parse_yosys_stat(stat)
    util, clocks, paths = parse_nextpnr_report(nextpnr)
    avail = dev.available()
    res: dict[str, Resource] = {}

    if dev.family == "ice40":
        lut4 = cells.get("SB_LUT4", 0)
        ff = sum(v for k, v in cells.items() if k.startswith("SB_DFF"))
        carry = cells.get("SB_CARRY", 0)
        fallback = {"bram": "SB_RAM40_4K", "spram": "SB_SPRAM256KA", "dsp": "SB_MAC16"}
    else:
        lut4 = cells.get("LUT4", 0) + 2 * cells.get("CCU2C", 0)
        ff = sum(v for k, v in cells.items() if k == "TRELLIS_FF" or k.startswith("FD1"))
        carry = cells.get("CCU2C", 0)
        fallback = {"bram": "DP16KD", "dsp": "MULT18X18D"}

    if have_stat:
        res["lut4"] = Resource(lut4, avail["lut4"])
    mapping = _NEXTPNR_CELLS[dev.family]
    if util:
        if dev.family == "ecp5" and "TRELLIS_COMB" not in util and "TRELLIS_SLICE" in util:
            s = util["TRELLIS_SLICE"]
            res["logic_cells"] = Resource(2 * s["used"], 2 * s["available"])
        for key, names in mapping.items():
            hits = [util[n] for n in names if n in util]
            if hits and key not in res:
                res[key] = Resource(sum(h["used"] for h in hits),
                                    avail[key] if key == "io" else sum(h["available"] for h in hits))
    if have_stat:
        if "ff" not in res:
            res["ff"] = Resource(ff, avail["ff"])
        res["carry"] = Resource(carry)
        for key, cell in fallback.items():
            if key not in res and (cells.get(cell) or avail[key]):
                res[key] = Resource(cells.get(cell, 0), avail[key])
    # Drop SPRAM on devices that have none and use none.
    if "spram" in res and not res["spram"].used and not avail["spram"]:
        del res["spram"]
    order = list(RESOURCE_LABELS)
    res = dict(sorted(res.items(), key=lambda kv: order.index(kv[0])))
    return SynthReport(device=dev.name, family=dev.family, part=dev.part, top=top,
                       freq_mhz=float(freq_mhz), seed=int(seed), resources=res,
                       clocks=clocks, critical_paths=paths, cells=cells, utilization=util,
                       versions=dict(versions or {}), harness=harness,
                       files={k: str(v) for k, v in (files or {}).items()})


def fits(report: SynthReport) -> bool:
    """True if no resource of ``report`` exceeds its availability."""
    return all(r.fits for r in report.resources.values())


def meets_timing(report: SynthReport, freq_mhz: float | None = None) -> bool:
    """True if every clock reaches ``freq_mhz`` (default: each clock's own constraint).

    False when the report has no clock timing (no place and route, or no
    registers).
    """
    if not report.clocks:
        return False
    if freq_mhz is None:
        return all(c.meets for c in report.clocks.values())
    return all(c.achieved_mhz >= freq_mhz for c in report.clocks.values())
