"""iCEBreaker (iCE40 UP5K, SG48), 12 MHz oscillator.

UART on the FTDI's second channel (``/dev/ttyUSB1``); green LED: heartbeat,
on while busy; red LED: error; user button: reset.
"""

from amaranth_boards.icebreaker import ICEBreakerPlatform

from sst_hw.synth.devices import get_device
from sst_hw.boards.board import Board

BOARDS = [
    Board("icebreaker", "iCEBreaker (iCE40UP5K-SG48, 12 MHz)", ICEBreakerPlatform,
          get_device("up5k"), 12_000_000,
          leds=(("led_g", 0, ("alive", "busy")), ("led_r", 0, ("error",))),
          reset=("button", 0), serial_port="/dev/ttyUSB1"),
]
