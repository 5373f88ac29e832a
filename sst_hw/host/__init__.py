"""The host side of the board link: client, transports and a reference device.

* :mod:`.client`: :class:`Client` (blocking) and :class:`AsyncClient`;
* :mod:`.load`: :class:`~sst_hw.host.load.LoadJob`, what their ``load``
  checks and sends (protocol version 2), without the I/O;
* :mod:`.transport`: :class:`SerialTransport` (pyserial) and
  :class:`ModelTransport` (the device model behind a transport);
* :mod:`.device_model`: :class:`DeviceModel`, the byte-level reference of
  the device's frame parser, model loading included, around the golden
  model.

The wire format they speak (frames, CRC, :class:`DeviceInfo`, the protocol
errors) is :mod:`sst_hw.link.wire`; the names a client's caller handles are
re-exported here.
"""

from __future__ import annotations

from sst_hw.host.client import AsyncClient, Client, ReplyTimeout
from sst_hw.host.device_model import DeviceModel
from sst_hw.host.transport import ModelTransport, SerialTransport
from sst_hw.link.wire import DeviceError, DeviceInfo, InferResult, ModelMismatch, ProtocolError

__all__ = ["Client", "AsyncClient", "ReplyTimeout", "SerialTransport", "ModelTransport",
           "DeviceModel", "DeviceInfo", "InferResult", "ProtocolError", "DeviceError",
           "ModelMismatch"]
