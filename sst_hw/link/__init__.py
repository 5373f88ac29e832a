"""The board link: the wire format and the gateware that speaks it.

* :mod:`.wire`: the wire format (frames, CRC, commands, error codes, payload
  layouts, :class:`~sst_hw.link.wire.DeviceInfo`), pure Python; the host
  imports it too;
* :mod:`.uart`: the 8N1 receiver and transmitter;
* :mod:`.frames`: :class:`~sst_hw.link.frames.FrameProtocol`, the frame
  parser and reply generator in front of a network core;
* :mod:`.top`: :class:`~sst_hw.link.top.InferenceTop`, UART, frame protocol
  and core with plain ``rx``/``tx`` ports, which a board wraps.
"""
