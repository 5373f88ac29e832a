"""iCE40-HX8K breakout board (iCE40HX8K-CT256), 12 MHz oscillator.

UART on the FTDI's second channel (``/dev/ttyUSB1``; the board's J6/J7
jumpers must route it); LEDs D2: heartbeat, D3: busy, D4: error. The board
has no user button, so the only reset is BoardTop's power-on reset.
"""

from amaranth_boards.ice40_hx8k_b_evn import ICE40HX8KBEVNPlatform

from sst_hw.synth.devices import get_device
from sst_hw.boards.board import Board

BOARDS = [
    Board("hx8k-b-evn", "iCE40-HX8K breakout (iCE40HX8K-CT256, 12 MHz)", ICE40HX8KBEVNPlatform,
          get_device("hx8k"), 12_000_000,
          leds=(("led", 0, ("alive",)), ("led", 1, ("busy",)), ("led", 2, ("error",))),
          reset=None, serial_port="/dev/ttyUSB1"),
]
