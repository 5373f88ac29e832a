"""``Board``: what a board file declares; ``BoardTop``: an InferenceTop on a board's pins."""

from __future__ import annotations

import math
from dataclasses import dataclass

from amaranth.build import ResourceError
from amaranth.hdl import ClockDomain, ClockSignal, Elaboratable, Module, ResetSignal, Signal
from amaranth.lib import io, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

from sst_hw.rtl._util import check_int
from sst_hw.synth.devices import Device

__all__ = ["Board", "BoardTop", "LED_ROLES", "POR_SECONDS", "PowerOnReset", "por_cycles"]

#: How long :class:`BoardTop` holds the design in reset after configuration, in seconds.
#: iCE40 block RAMs read as zeroes for about 3 us after configuration (amaranth's iCE40
#: platform waits 15 us for the same reason); ECP5 would not need it, but one power-on
#: behaviour on every board is simpler to test and to reason about.
POR_SECONDS = 15e-6

#: Status signals of :class:`~sst_hw.link.top.InferenceTop` an LED can show.
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
        It must be the frequency of the platform's default clock resource.
    leds : tuple of (resource, number, roles)
        LEDs to drive: each shows the OR of the given roles (:data:`LED_ROLES`).
    reset : (resource, number) or None
        An active-high (after the platform's inversion) button that resets
        the design while pressed; ``None`` if the board has no free button
        (the power-on reset still runs). The platform's ``default_rst`` is
        not used.
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


def por_cycles(clk_hz: int) -> int:
    """Clock cycles of the power-on reset at ``clk_hz`` (at least :data:`POR_SECONDS`)."""
    return max(1, math.ceil(POR_SECONDS * clk_hz))


class PowerOnReset(wiring.Component):
    """A synchronous reset: high for ``cycles`` clock cycles after configuration,
    then while ``button`` is high.

    Parameters
    ----------
    cycles : int
        Length of the power-on reset, >= 1 (:func:`por_cycles`).
    domain : str
        Clock domain of its registers. It must be reset-less (what it drives
        is that reset, not something reset by it).

    Members
    -------
    button : ``In(1)``
        Active high, asynchronous (a two-flip-flop synchronizer follows).
    rst : ``Out(1)``
        The reset, a register.
    """

    def __init__(self, cycles: int, *, domain: str = "por"):
        self.cycles = check_int("cycles", cycles, 1)
        self.domain = domain
        super().__init__({"button": In(1), "rst": Out(1, init=1)})

    def elaborate(self, platform):
        m = Module()
        # The timer counts up from 0: iCE40 flip-flops come out of configuration
        # as 0, whatever their init value says.
        timer = Signal(range(self.cycles + 1))
        with m.If(timer != self.cycles):
            m.d[self.domain] += timer.eq(timer + 1)
        pressed = Signal()
        m.submodules.button_sync = FFSynchronizer(self.button, pressed, o_domain=self.domain)
        # A register: the reset net starts at one flip-flop, not at the
        # timer's compare logic.
        m.d[self.domain] += self.rst.eq((timer != self.cycles) | pressed)
        return m


class BoardTop(Elaboratable):
    """Connects an :class:`~sst_hw.link.top.InferenceTop` to a board.

    The UART's ``rx``/``tx`` go to the FTDI pins, the status outputs to the
    LEDs of :attr:`Board.leds`.

    The clock domain ``sync`` is made here, the same way on every board: its
    clock is the oscillator pin of the platform's default clock resource (so
    the platform still writes that pin's clock constraint for nextpnr), its
    reset a register that is high for :data:`POR_SECONDS` after configuration
    and while the reset button of :attr:`Board.reset` is pressed (through a
    two-flip-flop synchronizer). The platform's own default domain is not
    used: on ECP5 it is reset-less (the platform resets through GSR instead),
    and the network core reads ``ResetSignal("sync")``.
    """

    def __init__(self, board: Board, system):
        self.board = board
        self.system = system

    def elaborate(self, platform):
        board, sysm = self.board, self.system
        clk_name = platform.default_clk
        try:
            clk_res = platform.lookup(clk_name)
        except ResourceError:
            # e.g. "SB_HFOSC": an internal oscillator has no pin to request.
            raise ValueError(f"board {board.name!r}: the platform's default clock {clk_name!r} "
                             f"is not an oscillator pin resource") from None
        freq = clk_res.clock.frequency if clk_res.clock is not None else None
        if freq != board.clk_hz:
            raise ValueError(f"board {board.name!r}: clk_hz is {board.clk_hz}, but the "
                             f"platform's {clk_name!r} runs at {freq!r} Hz")

        m = Module()
        # Requesting the resource is what adds its clock constraint to the build.
        m.submodules.clk_buf = clk_buf = io.Buffer("i", platform.request(clk_name, dir="-"))

        # "por" has the same clock and no reset: it makes the reset of "sync",
        # so nothing that makes the reset is itself reset.
        m.domains.por = ClockDomain("por", reset_less=True, local=True)
        m.domains.sync = ClockDomain("sync")
        m.d.comb += [ClockSignal("por").eq(clk_buf.i), ClockSignal("sync").eq(clk_buf.i)]

        m.submodules.por = por = PowerOnReset(por_cycles(board.clk_hz), domain="por")
        if board.reset is not None:
            m.submodules.button = button = io.Buffer("i", platform.request(*board.reset,
                                                                           dir="-"))
            m.d.comb += por.button.eq(button.i)
        m.d.comb += ResetSignal("sync").eq(por.rst)

        m.submodules.system = sysm
        uart = platform.request(*board.uart, dir="-")
        m.submodules.uart_rx = rx = io.Buffer("i", uart.rx)
        m.submodules.uart_tx = tx = io.Buffer("o", uart.tx)
        m.d.comb += [sysm.rx.eq(rx.i), tx.o.eq(sysm.tx)]

        role_sig = {"alive": sysm.led_alive, "busy": sysm.led_busy, "error": sysm.led_error}
        for res, num, roles in board.leds:
            m.submodules[f"{res}_{num}"] = led = io.Buffer("o", platform.request(res, num,
                                                                                 dir="-"))
            value = 0
            for r in roles:
                value = value | role_sig[r]
            m.d.comb += led.o.eq(value)
        return m
