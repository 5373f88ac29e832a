"""``Board``: what a board file declares; ``BoardTop``: an InferenceTop on a board's pins."""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Elaboratable, Module, ResetInserter, Signal
from amaranth.lib import io
from amaranth.lib.cdc import FFSynchronizer

from ..synth.devices import Device

__all__ = ["Board", "BoardTop", "LED_ROLES"]

#: Status signals of :class:`~sst_hw.boards.top.InferenceTop` an LED can show.
LED_ROLES = ("alive", "busy", "error")


@dataclass(frozen=True)
class Board:
    """A board the flow can build for.

    Parameters
    ----------
    name : str
        Command-line name, e.g. ``"icebreaker"``.
    description : str
        One line for humans.
    platform_cls : type
        The ``amaranth-boards`` platform class.
    device : Device
        The FPGA, for the resource report (:mod:`sst_hw.synth.devices`).
    clk_hz : int
        Board oscillator, Hz; the network core runs on it directly (no PLL).
    leds : tuple of (resource, number, roles)
        LEDs to drive: each shows the OR of the given roles (:data:`LED_ROLES`).
    reset : (resource, number) or None
        An active-high (after the platform's inversion) button that resets
        the design while pressed; ``None`` if the board has no free button.
    uart : (resource, number)
        The UART wired to the on-board FTDI chip.
    serial_port : str
        Where the UART usually appears on a Linux host, for messages.
    """

    name: str
    description: str
    platform_cls: type
    device: Device
    clk_hz: int
    leds: tuple = ()
    reset: tuple | None = None
    uart: tuple = ("uart", 0)
    serial_port: str = "/dev/ttyUSB0"

    def __post_init__(self):
        for res, num, roles in self.leds:
            bad = [r for r in roles if r not in LED_ROLES]
            if bad:
                raise ValueError(f"LED role must be one of {', '.join(LED_ROLES)}, not {bad[0]!r}")

    @property
    def family(self) -> str:
        """``"ice40"`` or ``"ecp5"``."""
        return self.device.family

    @property
    def bitstream_suffix(self) -> str:
        """``.bin`` (iCE40, icepack) or ``.bit`` (ECP5, ecppack)."""
        return ".bin" if self.family == "ice40" else ".bit"

    def platform(self):
        """A fresh platform instance (one per build: platforms are single-use)."""
        return self.platform_cls()


class BoardTop(Elaboratable):
    """Connects an :class:`~sst_hw.boards.top.InferenceTop` to a board.

    The UART's ``rx``/``tx`` go to the FTDI pins, the status outputs to the
    LEDs of :attr:`Board.leds`, and the reset button (when the board has one)
    resets the whole design through a two-flip-flop synchronizer. The clock
    domain ``sync`` is the platform's default: the board oscillator, with the
    platform's power-on reset.
    """

    def __init__(self, board: Board, system):
        self.board = board
        self.system = system

    def elaborate(self, platform):
        m = Module()
        sysm = self.system
        if self.board.reset is not None:
            m.submodules.button = button = io.Buffer("i", platform.request(*self.board.reset,
                                                                           dir="-"))
            rst = Signal()
            m.submodules.reset_sync = FFSynchronizer(button.i, rst)
            m.submodules.system = ResetInserter(rst)(sysm)
        else:
            m.submodules.system = sysm

        uart = platform.request(*self.board.uart, dir="-")
        m.submodules.uart_rx = rx = io.Buffer("i", uart.rx)
        m.submodules.uart_tx = tx = io.Buffer("o", uart.tx)
        m.d.comb += [sysm.rx.eq(rx.i), tx.o.eq(sysm.tx)]

        role_sig = {"alive": sysm.led_alive, "busy": sysm.led_busy, "error": sysm.led_error}
        for res, num, roles in self.board.leds:
            m.submodules[f"{res}_{num}"] = led = io.Buffer("o", platform.request(res, num,
                                                                                 dir="-"))
            value = 0
            for r in roles:
                value = value | role_sig[r]
            m.d.comb += led.o.eq(value)
        return m
