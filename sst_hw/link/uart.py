"""A minimal 8N1 UART: :class:`UARTRx` and :class:`UARTTx`, byte streams on the fabric side.

Both run in the ``sync`` domain and count ``divisor`` clock cycles per bit
(:func:`uart_divisor` picks it from the clock and the baud rate). Frames are
8N1: one start bit (0), eight data bits least significant first, one stop bit
(1); the idle line is 1. There is no parity and no flow control.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

from sst_hw.link.wire import MAX_DIVISOR
from sst_hw.rtl._util import check_int

__all__ = ["UARTRx", "UARTTx", "uart_divisor", "MIN_DIVISOR", "MAX_DIVISOR", "BAUD_TOLERANCE"]

#: Fewest clock cycles per bit the receiver handles (it samples at mid-bit).
MIN_DIVISOR = 4
#: Largest relative baud error :func:`uart_divisor` accepts (2 %: the far end may be off
#: by as much again before the 10th bit is sampled outside its cell).
BAUD_TOLERANCE = 0.02


def uart_divisor(clk_hz: float, baud: float, tolerance: float = BAUD_TOLERANCE) -> int:
    """Clock cycles per bit for ``baud`` bit/s at a ``clk_hz`` Hz clock.

    The nearest integer, which must be in ``MIN_DIVISOR..MAX_DIVISOR`` and
    give an actual rate within ``tolerance`` (relative) of ``baud``;
    otherwise a ``ValueError`` naming the baud rate and the allowed range.
    """
    if not clk_hz > 0:
        raise ValueError(f"clk_hz must be positive, not {clk_hz!r}")
    if isinstance(baud, bool) or not isinstance(baud, (int, float)) or not baud > 0:
        raise ValueError(f"baud must be a positive number, not {baud!r}")
    div = round(clk_hz / baud)
    lo, hi = clk_hz / MAX_DIVISOR, clk_hz / MIN_DIVISOR
    if not MIN_DIVISOR <= div <= MAX_DIVISOR:
        raise ValueError(f"baud {baud:g} is out of range for a {clk_hz / 1e6:g} MHz clock: "
                         f"must be in {lo:.0f}..{hi:.0f} bit/s ({MIN_DIVISOR}..{MAX_DIVISOR} "
                         f"clock cycles per bit)")
    err = abs(clk_hz / div - baud) / baud
    if err > tolerance:
        raise ValueError(f"baud {baud:g} is {100 * err:.1f} % off at a {clk_hz / 1e6:g} MHz "
                         f"clock ({div} cycles per bit give {clk_hz / div:.0f} bit/s); at most "
                         f"{100 * tolerance:g} % is allowed")
    return div


class UARTRx(wiring.Component):
    """8N1 UART receiver.

    The ``rx`` pin is synchronized (two flip-flops), a start bit is confirmed at
    its middle, then each data bit and the stop bit are sampled at their middle,
    ``divisor`` cycles apart. The receiver is ready for the next start bit from
    the middle of the stop bit on, so it tolerates a sender a little faster
    than itself.

    A received byte is offered on ``o`` until taken; ``o.payload`` and
    ``o.valid`` are registers. A byte completed while the previous one is still
    waiting is dropped and ``error`` pulses (overrun); so does a stop bit read
    as 0 (framing error: the byte is dropped, and after a break the receiver
    waits for the line to return to 1).

    Latency: ``o.valid`` rises about 9.5 bit-times plus 3 cycles after the
    falling edge of the start bit. Throughput: one byte per 10 bit-times.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit, ``MIN_DIVISOR..MAX_DIVISOR`` (4..65535).

    Members
    -------
    rx : ``In(1)``
        The serial input, asynchronous to the clock; idle 1.
    o : ``Out(stream.Signature(8))``
        Received bytes.
    error : ``Out(1)``
        One-cycle pulse on a framing error or an overrun.
    busy : ``Out(1)``
        High while a character is being received.
    """

    def __init__(self, divisor: int):
        self.divisor = check_int("divisor", divisor, MIN_DIVISOR, MAX_DIVISOR)
        super().__init__({
            "rx": In(1, init=1),
            "o": Out(stream.Signature(8)),
            "error": Out(1),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        div = self.divisor
        rx = Signal(init=1)
        m.submodules.sync_rx = FFSynchronizer(self.rx, rx, init=1)

        timer = Signal(range(div))
        bits = Signal(range(8))
        shreg = Signal(8)
        m.d.sync += self.error.eq(0)
        with m.If(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(timer != 0):
            m.d.sync += timer.eq(timer - 1)

        with m.FSM(name="rx_fsm"):
            with m.State("IDLE"):
                with m.If(~rx):
                    m.d.sync += timer.eq(div // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                m.d.comb += self.busy.eq(1)
                with m.If(timer == 0):
                    with m.If(~rx):
                        m.d.sync += [timer.eq(div - 1), bits.eq(0)]
                        m.next = "DATA"
                    with m.Else():               # a glitch, not a start bit
                        m.next = "IDLE"
            with m.State("DATA"):
                m.d.comb += self.busy.eq(1)
                with m.If(timer == 0):
                    m.d.sync += [shreg.eq(Cat(shreg[1:], rx)), timer.eq(div - 1),
                                 bits.eq(bits + 1)]
                    with m.If(bits == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                m.d.comb += self.busy.eq(1)
                with m.If(timer == 0):
                    with m.If(rx):
                        with m.If(self.o.valid & ~self.o.ready):
                            m.d.sync += self.error.eq(1)          # overrun: drop the byte
                        with m.Else():
                            m.d.sync += [self.o.payload.eq(shreg), self.o.valid.eq(1)]
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += self.error.eq(1)              # framing error
                        m.next = "BREAK"
            with m.State("BREAK"):
                with m.If(rx):
                    m.next = "IDLE"
        return m


class UARTTx(wiring.Component):
    """8N1 UART transmitter.

    Takes a byte from ``i`` when idle (``i.ready`` is high only then, and does
    not depend on ``i.valid``) and shifts out start bit, data bits (LSB first)
    and stop bit, ``divisor`` cycles each; ``tx`` is a register. A byte
    offered when the previous stop bit ends is taken at once, so a stream of
    bytes leaves back to back: one byte per 10 bit-times.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit, ``MIN_DIVISOR..MAX_DIVISOR``.

    Members
    -------
    i : ``In(stream.Signature(8))``
        Bytes to send.
    tx : ``Out(1)``
        The serial output; idle 1.
    busy : ``Out(1)``
        High while a character is on the line.
    """

    def __init__(self, divisor: int):
        self.divisor = check_int("divisor", divisor, MIN_DIVISOR, MAX_DIVISOR)
        super().__init__({
            "i": In(stream.Signature(8)),
            "tx": Out(1, init=1),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        div = self.divisor
        timer = Signal(range(div))
        shreg = Signal(9, init=0x1FF)       # data bits then the stop bit
        left = Signal(range(11))            # bits still to send, start bit included
        m.d.comb += [self.i.ready.eq(left == 0), self.busy.eq(left != 0)]

        with m.If(left == 0):
            with m.If(self.i.valid):
                m.d.sync += [self.tx.eq(0), shreg.eq(Cat(self.i.payload, Const(1, 1))),
                             timer.eq(div - 1), left.eq(10)]
        with m.Elif(timer != 0):
            m.d.sync += timer.eq(timer - 1)
        with m.Else():
            m.d.sync += [left.eq(left - 1), timer.eq(div - 1)]
            with m.If(left != 1):
                m.d.sync += [self.tx.eq(shreg[0]), shreg.eq(Cat(shreg[1:], Const(1, 1)))]
        return m
