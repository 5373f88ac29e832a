"""``InferenceTop``: UART, frame protocol and a network core, with status outputs.

This is everything a board runs, without the board: pins are plain ports,
so the same top is simulated (cocotb drives ``rx`` and samples ``tx`` bit by
bit) and wrapped per board by :class:`sst_hw.boards.BoardTop`.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Shape, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from sst_hw.link.frames import FrameProtocol, payload_fields
from sst_hw.link.uart import MAX_DIVISOR, MIN_DIVISOR, UARTRx, UARTTx
from sst_hw.link.wire import DEFAULT_TIMEOUT_BITS, TIMEOUT_BITS_RANGE, DeviceInfo, LoadInfo
from sst_hw.rtl._util import CheckedComponent, check_int

__all__ = ["InferenceTop", "core_info", "stream_payload_shape"]


def stream_payload_shape(core, name: str):
    """The payload shape (or layout) of ``core``'s stream member ``name``."""
    return core.signature.members[name].signature.members["payload"].shape


def core_info(network, core, **kwargs) -> DeviceInfo:
    """The :class:`DeviceInfo` of ``core`` (a component with streams ``i`` and
    ``o``) running golden ``network``: shapes from the network, the logit
    width from the core's ``o`` payload, ``kwargs`` (``clk_hz``, ``divisor``,
    ``timeout_bits``) as given."""
    shape = stream_payload_shape(core, "o")
    name, _ = payload_fields(shape)
    width = (shape if name is None else shape[name].shape)
    info = DeviceInfo.from_network(network, logit_width=Shape.cast(width).width, **kwargs)
    plan = getattr(core, "plan", None)
    if getattr(plan, "loadable", False):
        load = LoadInfo.from_plan(plan)
        # After reset an spram device has no model: INFO then reports id 0.
        info = info.replace(load=load, model_id=load.builtin_id)
    return info


class InferenceTop(CheckedComponent):
    """The board-independent top level: ``rx`` -> UARTRx -> FrameProtocol -> core
    -> FrameProtocol -> UARTTx -> ``tx``; a loadable core's ``image`` port is
    driven by the protocol's model loader (protocol version 2).

    Parameters
    ----------
    core : wiring.Component
        The network core, with an input stream ``i`` (one feature per beat) and
        an output stream ``o`` (logits, then the class); see
        :class:`~sst_hw.link.frames.FrameProtocol` for the payloads.
    info : DeviceInfo
        Identity reported to INFO (:func:`core_info`); its ``clk_hz``,
        ``divisor`` and ``timeout_bits`` are replaced by this top's.
    clk_hz : int
        Clock frequency, Hz (reported by INFO; sets the LED timing).
    divisor : int
        Clock cycles per UART bit (:func:`~sst_hw.link.uart.uart_divisor`).
    timeout_bits : int
        Idle bit-times that end a partial frame, in
        :data:`~sst_hw.link.wire.TIMEOUT_BITS_RANGE`.
    blink_hz : float
        Heartbeat LED rate.

    Members
    -------
    rx : ``In(1)``
        UART input (idle 1), asynchronous.
    tx : ``Out(1)``
        UART output (idle 1), a register.
    led_alive : ``Out(1)``
        Heartbeat: toggles at ``blink_hz``.
    led_busy : ``Out(1)``
        A frame is in progress (stretched to at least 50 ms).
    led_error : ``Out(1)``
        On for 250 ms after each error reply.
    """

    @classmethod
    def check(cls, core, info: DeviceInfo, *, clk_hz: int, divisor: int,
              timeout_bits: int = DEFAULT_TIMEOUT_BITS, blink_hz: float = 1.0) -> dict:
        # Checked before the top exists: a refused top is never constructed.
        members = getattr(core, "signature", wiring.Signature({})).members
        for name in ("i", "o"):
            if name not in members:
                raise TypeError(f"core must be a component with streams 'i' and 'o', not "
                                f"{core!r}")
        plan = getattr(core, "plan", None)
        loadable = getattr(plan, "loadable", False)
        allowed = ("i", "o", "image") if loadable else ("i", "o")
        extra = [name for name in members if name not in allowed]
        if extra:
            raise ValueError(f"core has ports {', '.join(map(repr, extra))} besides "
                             f"{', '.join(map(repr, allowed))}; the UART front end drives "
                             f"only those")
        clk_hz = check_int("clk_hz", clk_hz)
        divisor = check_int("divisor", divisor, MIN_DIVISOR, MAX_DIVISOR)
        timeout_bits = check_int("timeout_bits", timeout_bits, *TIMEOUT_BITS_RANGE)
        if not blink_hz > 0:
            raise ValueError(f"blink_hz must be positive, not {blink_hz!r}")
        info = info.replace(clk_hz=clk_hz, divisor=divisor, timeout_bits=timeout_bits)
        protocol = FrameProtocol(info, stream_payload_shape(core, "i"),
                                 stream_payload_shape(core, "o"),
                                 timeout_cycles=timeout_bits * divisor,
                                 plan=plan if loadable else None)
        return {"core": core, "clk_hz": clk_hz, "divisor": divisor,
                "timeout_bits": timeout_bits, "blink_hz": blink_hz, "info": info,
                "protocol": protocol}

    def __init__(self, *args, **kwargs):   # the arguments of check(), already checked
        super().__init__({
            "rx": In(1, init=1),
            "tx": Out(1, init=1),
            "led_alive": Out(1),
            "led_busy": Out(1),
            "led_error": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.uart_rx = urx = UARTRx(self.divisor)
        m.submodules.uart_tx = utx = UARTTx(self.divisor)
        m.submodules.protocol = proto = self.protocol
        m.submodules.core = self.core
        m.d.comb += [urx.rx.eq(self.rx), self.tx.eq(utx.tx), proto.rx_error.eq(urx.error)]
        wiring.connect(m, urx.o, proto.rx)
        wiring.connect(m, proto.tx, utx.i)
        wiring.connect(m, proto.core_i, self.core.i)
        wiring.connect(m, self.core.o, proto.core_o)
        if "image" in self.core.signature.members:
            wiring.connect(m, proto.image, self.core.image)

        # Status LEDs, timed by a 1 ms tick (short counters, no long carry chains).
        tick_div = max(1, self.clk_hz // 1000)
        pre = Signal(range(tick_div))
        tick = Signal()
        m.d.comb += tick.eq(pre == tick_div - 1)
        m.d.sync += pre.eq(Mux(tick, 0, pre + 1))
        half = max(1, round(500 / self.blink_hz))
        blink = Signal(range(half))
        with m.If(tick):
            with m.If(blink == half - 1):
                m.d.sync += [blink.eq(0), self.led_alive.eq(~self.led_alive)]
            with m.Else():
                m.d.sync += blink.eq(blink + 1)
        for out, src, ms in ((self.led_busy, proto.busy, 50), (self.led_error, proto.error, 250)):
            left = Signal(range(ms + 1), name=f"{out.name}_hold")
            with m.If(src):
                m.d.sync += left.eq(ms)
            with m.Elif(tick & (left != 0)):
                m.d.sync += left.eq(left - 1)
            m.d.comb += out.eq(src | (left != 0))
        return m
