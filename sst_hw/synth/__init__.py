"""Synthesis flow: Amaranth or Verilog -> Yosys -> nextpnr -> resource/timing report.

Targets are listed in :mod:`.devices`; :mod:`.harness` wraps a core in a
four-pin out-of-context harness so it can be placed and timed alone;
:mod:`.flow` runs the YoWASP tools; :mod:`.report` turns their JSON into a
:class:`SynthReport` (``report.json`` / ``report.md``).

Example::

    from sst_hw.synth import synthesize
    rep = synthesize(my_component, "up5k", 48, "build/synth/up5k")
    print(rep.lut4, rep.fmax_mhz, rep.fits, rep.meets_timing)
"""

from sst_hw.synth.devices import DEVICES, Device, get_device
from sst_hw.synth.flow import (
    SynthesisError,
    VerilogDesign,
    discover_ports,
    synthesize,
    tool_command,
    tool_versions)
from sst_hw.synth.harness import (
    HarnessPort,
    OOCHarness,
    VerilogHarness,
    ports_from_sidecar,
    verilog_wrapper)
from sst_hw.synth.report import (
    ClockTiming,
    CriticalPath,
    Resource,
    SynthReport,
    build_report,
    fits,
    meets_timing,
    parse_nextpnr_log_utilization,
    parse_nextpnr_report,
    parse_yosys_stat)

__all__ = [
    "DEVICES", "Device", "get_device",
    "SynthesisError", "VerilogDesign", "discover_ports", "synthesize", "tool_command",
    "tool_versions",
    "HarnessPort", "OOCHarness", "VerilogHarness", "ports_from_sidecar", "verilog_wrapper",
    "ClockTiming", "CriticalPath", "Resource", "SynthReport", "build_report", "fits",
    "meets_timing", "parse_nextpnr_log_utilization", "parse_nextpnr_report", "parse_yosys_stat",
]
