"""Transports for :class:`~sst_hw.host.client.Client`: a serial port, or the device model.

A transport is any object with ``write(bytes)``, ``read(n, timeout) ->
bytes`` (up to ``n`` bytes, ``b""`` if none arrived within ``timeout``
seconds), ``reset_input()`` and ``close()``.
"""

from __future__ import annotations

from sst_hw.host.device_model import DeviceModel
from sst_hw.link.wire import DEFAULT_BAUD, DeviceInfo

__all__ = ["SerialTransport", "ModelTransport"]


class SerialTransport:
    """A pyserial port: 8 data bits, no parity, 1 stop bit, no flow control.

    Parameters
    ----------
    port : str
        Device name, e.g. ``/dev/ttyUSB1`` (iCEBreaker and HX8K breakout: the
        second FTDI channel; ULX3S: ``/dev/ttyUSB0``), or any pyserial URL
        (``loop://``, ``socket://host:port``).
    baud : int
        Line rate, bit/s (must match the bitstream's).
    """

    def __init__(self, port: str, baud: int = DEFAULT_BAUD):
        import serial  # pyserial, only needed for real hardware

        self.serial = serial.serial_for_url(port, baudrate=baud, bytesize=8, parity="N",
                                            stopbits=1, timeout=0.1, rtscts=False,
                                            dsrdtr=False, xonxoff=False)

    def write(self, data: bytes) -> None:
        """Send ``data`` and wait until it has left the host's buffer."""
        self.serial.write(bytes(data))
        self.serial.flush()

    def read(self, n: int, timeout: float) -> bytes:
        """Up to ``n`` bytes, waiting at most ``timeout`` seconds for the first."""
        self.serial.timeout = timeout
        first = self.serial.read(1)
        if not first:
            return b""
        self.serial.timeout = 0
        return first + self.serial.read(max(0, min(n - 1, self.serial.in_waiting)))

    def reset_input(self) -> None:
        """Drop bytes received but not read."""
        self.serial.reset_input_buffer()

    def close(self) -> None:
        """Close the port."""
        self.serial.close()


class ModelTransport:
    """A simulated device: the bytes written go to a :class:`DeviceModel`, and its
    replies are read back.

    When the reader waits while the model holds a partial frame, the model's
    idle timeout fires (as the hardware's would). Useful without hardware
    (``sst-hw infer --port model``) and for tests.

    Parameters
    ----------
    network : Network
        The golden model (may be ``None`` with a loadable ``plan``).
    info : DeviceInfo, optional
        What the device reports (default: from ``network``).
    plan : NetPlan, optional
        The plan of the built core: a loadable plan makes a device that takes
        models over the link (see :class:`DeviceModel`).
    """

    def __init__(self, network, info: DeviceInfo | None = None, *, plan=None):
        self.model = DeviceModel(network, info, plan=plan)
        self._rx = bytearray()
        self.written = bytearray()

    def write(self, data: bytes) -> None:
        """Feed ``data`` to the device model; its replies queue up for :meth:`read`."""
        self.written += bytes(data)
        self._rx += self.model.receive(data)

    def read(self, n: int, timeout: float) -> bytes:
        """Up to ``n`` queued reply bytes (the idle timeout fires if none are queued
        while a partial frame is held); never waits."""
        if not self._rx and self.model.in_frame:
            self._rx += self.model.idle_timeout()
        out = bytes(self._rx[:n])
        del self._rx[:n]
        return out

    def reset_input(self) -> None:
        """Drop queued replies."""
        self._rx.clear()

    def close(self) -> None:
        """Nothing to close."""
