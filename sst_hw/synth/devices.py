"""Target devices for the synthesis flow (docs/architecture.md, "Adding a device").

Each :class:`Device` names the nextpnr arguments that select the die and
package, the Yosys ``synth_<family>`` options, and the resources a design may
use. The resource counts are the data-sheet figures for the die (and the
package, for I/O); nextpnr reports the same numbers for logic, block RAM and
DSPs, and is preferred for them once a design has been placed.

=============  ==========  ======  ======  =====================  ==========  ====  ====
name           part        LUT4    FF      block RAM              SPRAM       DSP   I/O
=============  ==========  ======  ======  =====================  ==========  ====  ====
``up5k``       UP5K sg48   5280    5280    30 x 4 Kbit            4 x 256 Kb  8     39
``hx8k``       HX8K ct256  7680    7680    32 x 4 Kbit            --          --    206
``ecp5-25f``   25F BG381   24288   24288   56 x 18 Kbit           --          28    197
``ecp5-45f``   45F BG381   43848   43848   108 x 18 Kbit          --          72    203
``ecp5-85f``   85F BG381   83640   83640   208 x 18 Kbit          --          156   205
=============  ==========  ======  ======  =====================  ==========  ====  ====

DSP counts are SB_MAC16 blocks (iCE40) or 18x18 multipliers (ECP5).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Device", "DEVICES", "FAMILIES", "get_device"]

FAMILIES = ("ice40", "ecp5")


@dataclass(frozen=True)
class Device:
    """One synthesis target.

    Parameters
    ----------
    name : str
        Short key used throughout sst-hw, e.g. ``"up5k"``.
    family : str
        ``"ice40"`` or ``"ecp5"``; selects ``synth_ice40``/``synth_ecp5`` and
        ``nextpnr-ice40``/``nextpnr-ecp5``.
    part : str
        Full Lattice part number, for reports.
    nextpnr_args : tuple of str
        Arguments that select die, package (and speed grade) in nextpnr.
    synth_args : tuple of str
        Extra options for ``synth_<family>`` (``-dsp`` on the UP5K maps
        multipliers to SB_MAC16).
    lut4, ff : int
        Number of 4-input LUTs and flip-flops.
    bram, bram_bits : int
        Number of block RAMs and bits per block RAM.
    spram, spram_bits : int
        Number of single-port RAMs (UP5K only) and bits per SPRAM.
    dsp : int
        Number of hard multipliers (SB_MAC16 or MULT18X18D).
    io : int
        User I/O pins of the package.
    bram_read_bits, spram_read_bits : int
        Bits one block RAM (SPRAM) can deliver per cycle when used as a
        weight ROM: iCE40 SB_RAM40_4K reads 16 bits a cycle, an ECP5 DP16KD
        36 (two 18-bit read ports, or one 36-bit port in pseudo dual-port
        mode), an UP5K SPRAM 16. Sets the memory-bound ceiling of an engine.
    """

    name: str
    family: str
    part: str
    nextpnr_args: tuple[str, ...]
    lut4: int
    ff: int
    bram: int
    bram_bits: int
    spram: int = 0
    spram_bits: int = 0
    dsp: int = 0
    io: int = 0
    synth_args: tuple[str, ...] = field(default=())
    bram_read_bits: int = 16
    spram_read_bits: int = 16

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise ValueError(f"family must be one of {', '.join(FAMILIES)}, not {self.family!r}")

    @property
    def bram_total_bits(self) -> int:
        """Total block RAM capacity in bits."""
        return self.bram * self.bram_bits

    @property
    def memory_read_bits(self) -> int:
        """Bits all block RAMs and SPRAMs together can deliver per cycle."""
        return self.bram * self.bram_read_bits + self.spram * self.spram_read_bits

    @property
    def spram_total_bits(self) -> int:
        """Total SPRAM capacity in bits (0 where the device has none)."""
        return self.spram * self.spram_bits

    def available(self) -> dict[str, int]:
        """Resource counts keyed like :class:`sst_hw.synth.report.SynthReport` resources."""
        return {
            "lut4": self.lut4,
            "logic_cells": self.lut4,
            "ff": self.ff,
            "bram": self.bram,
            "spram": self.spram,
            "dsp": self.dsp,
            "io": self.io,
        }


DEVICES: dict[str, Device] = {d.name: d for d in (
    Device("up5k", "ice40", "iCE40UP5K-SG48",
           ("--up5k", "--package", "sg48"),
           lut4=5280, ff=5280, bram=30, bram_bits=4096,
           spram=4, spram_bits=256 * 1024, dsp=8, io=39,
           synth_args=("-dsp",)),
    Device("hx8k", "ice40", "iCE40HX8K-CT256",
           ("--hx8k", "--package", "ct256"),
           lut4=7680, ff=7680, bram=32, bram_bits=4096, dsp=0, io=206),
    Device("ecp5-25f", "ecp5", "LFE5U-25F-6BG381C",
           ("--25k", "--package", "CABGA381", "--speed", "6"),
           lut4=24288, ff=24288, bram=56, bram_bits=18432, dsp=28, io=197,
           bram_read_bits=36),
    Device("ecp5-45f", "ecp5", "LFE5U-45F-6BG381C",
           ("--45k", "--package", "CABGA381", "--speed", "6"),
           lut4=43848, ff=43848, bram=108, bram_bits=18432, dsp=72, io=203,
           bram_read_bits=36),
    Device("ecp5-85f", "ecp5", "LFE5U-85F-6BG381C",
           ("--85k", "--package", "CABGA381", "--speed", "6"),
           lut4=83640, ff=83640, bram=208, bram_bits=18432, dsp=156, io=205,
           bram_read_bits=36),
)}


def get_device(device: str | Device) -> Device:
    """Look up a target device by name (case-insensitive); a :class:`Device` passes through.

    Raises
    ------
    ValueError
        If the name is not one of :data:`DEVICES`.
    """
    if isinstance(device, Device):
        return device
    if isinstance(device, str) and device.strip().lower() in DEVICES:
        return DEVICES[device.strip().lower()]
    raise ValueError(f"Unknown device {device!r}; allowed: {', '.join(DEVICES)}")
