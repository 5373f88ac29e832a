"""A bit-level UART on a cocotb DUT's ``rx``/``tx`` pins, for the board-top tests.

:class:`UARTPins` is an async transport for :class:`sst_hw.host.client.AsyncClient`;
:func:`read_frame` reads the next reply frame with the host's frame parser.
"""

from __future__ import annotations

import cocotb
from cocotb.triggers import Event, FallingEdge, First, Timer


class UARTPins:
    """Bit-level UART on the DUT's pins: an async transport for :class:`AsyncClient`.

    ``write`` drives ``rx`` with 8N1 characters at ``bit_ns`` per bit
    (timer-based, so not aligned with the DUT's clock; ``skew`` makes the
    rate a little off). A monitor samples ``tx`` at mid-bit and collects the
    bytes; ``read(n, timeout)`` returns what has arrived, waiting at most
    ``timeout`` bit-times for the first byte (``b""`` on timeout).
    """

    def __init__(self, dut, bit_ns: float, rx_bit_ns: float | None = None):
        self.dut = dut
        self.bit_ns = bit_ns                 # the DUT's own bit time (for sampling tx)
        self.rx_bit_ns = rx_bit_ns or bit_ns  # what we send at
        self.buf = bytearray()
        self.framing_errors = 0
        self._event = Event()
        dut.rx.value = 1
        self._task = cocotb.start_soon(self._monitor())

    async def write(self, data: bytes):
        for byte in bytes(data):
            for bit in [0] + [(byte >> i) & 1 for i in range(8)] + [1]:
                self.dut.rx.value = bit
                await Timer(self.rx_bit_ns, unit="ns", round_mode="round")

    async def idle(self, bits: float):
        self.dut.rx.value = 1
        await Timer(self.rx_bit_ns * bits, unit="ns", round_mode="round")

    async def _monitor(self):
        tx = self.dut.tx
        while True:
            await FallingEdge(tx)
            await Timer(self.bit_ns / 2, unit="ns", round_mode="round")
            if tx.value != 0:
                continue
            byte = 0
            for i in range(8):
                await Timer(self.bit_ns, unit="ns", round_mode="round")
                byte |= int(tx.value) << i
            await Timer(self.bit_ns, unit="ns", round_mode="round")
            if tx.value != 1:
                self.framing_errors += 1
                continue
            self.buf.append(byte)
            self._event.set()

    async def read(self, n: int, timeout: float) -> bytes:
        if not self.buf:
            self._event.clear()
            await First(self._event.wait(), Timer(self.bit_ns * timeout, unit="ns", round_mode="round"))
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def reset_input(self):
        self.buf.clear()


async def read_frame(pins: UARTPins, timeout_bits: float = 3000):
    """The next complete frame from the DUT (via the host's FrameReader)."""
    from sst_hw.link.wire import FrameReader
    reader = FrameReader()
    while True:
        data = await pins.read(4096, timeout_bits)
        assert data, "no reply from the device"
        frames = reader.feed(data)
        if frames:
            assert len(frames) == 1 and not reader.pending
            return frames[0]
