"""ULX3S (ECP5 LFE5U-12F/25F/45F/85F, CABGA381), 25 MHz oscillator.

UART on the FTDI (``/dev/ttyUSB0``); LED 0: heartbeat, LED 1: busy, LED 2:
error; button F1 ("fire 1"): reset. The amaranth-boards platform lists
``openFPGALoader`` among its required tools even when not programming; the
build flow (:mod:`.flow`) runs the toolchain without that check.
"""

from amaranth_boards.ulx3s import (ULX3S_12F_Platform, ULX3S_25F_Platform, ULX3S_45F_Platform,
                                   ULX3S_85F_Platform)

from sst_hw.synth.devices import Device, get_device
from sst_hw.boards.board import Board

#: The 12F is not in the synthesis device table; data-sheet figures of LFE5U-12F.
ECP5_12F = Device("ecp5-12f", "ecp5", "LFE5U-12F-6BG381C",
                  ("--12k", "--package", "CABGA381", "--speed", "6"),
                  lut4=12288, ff=12288, bram=32, bram_bits=18432, dsp=28, io=197)

_LEDS = (("led", 0, ("alive",)), ("led", 1, ("busy",)), ("led", 2, ("error",)))

BOARDS = [
    Board(f"ulx3s-{size}", f"ULX3S (LFE5U-{size.upper()}, 25 MHz)", cls, dev, 25_000_000,
          leds=_LEDS, reset=("button_fire", 0), serial_port="/dev/ttyUSB0")
    for size, cls, dev in (("12f", ULX3S_12F_Platform, ECP5_12F),
                           ("25f", ULX3S_25F_Platform, get_device("ecp5-25f")),
                           ("45f", ULX3S_45F_Platform, get_device("ecp5-45f")),
                           ("85f", ULX3S_85F_Platform, get_device("ecp5-85f")))
]
