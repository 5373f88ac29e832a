"""What a client sends to load a model (protocol version 2), without the I/O.

:class:`LoadJob` checks a golden model against the INFO of a device, before
any LOAD frame is sent, and gives the request frames of the load in order
(LOAD_BEGIN, the LOAD_DATA chunks, LOAD_COMMIT) and the check of the INFO
that follows. :meth:`Client.load <sst_hw.host.client.Client.load>` and
:meth:`AsyncClient.load <sst_hw.host.client.AsyncClient.load>` run it over
their transports.
"""

from __future__ import annotations

import dataclasses
from typing import Iterator

from sst_hw.link.wire import (
    CMD_LOAD_BEGIN,
    CMD_LOAD_COMMIT,
    CMD_LOAD_DATA,
    LOAD_BEGIN_STRUCT,
    LOAD_COMMIT_STRUCT,
    LOAD_OFFSET_LEN,
    MAX_CHUNK,
    DeviceInfo,
    ModelMismatch,
    ModelState,
    ProtocolError,
    crc32,
    model_id)

__all__ = ["LoadJob"]

#: What differs when the model's image does not fit and INFO cannot say more.
TOPOLOGY_DIFFERS = ("layer shapes, codebook, ReLUs or activation widths differ from the built "
                    "core's")


class LoadJob:
    """One load of golden ``network`` into the device that reported ``info``.

    Construction refuses, with :class:`~sst_hw.link.wire.ModelMismatch`
    naming the reason, a device that cannot take the model: a version-1
    device, one whose model is fixed in the bitstream, a model whose input
    format or class count differs from INFO's, one that needs multipliers
    on a shift-only core, or whose image (planned with the device's PE,
    SIMD and requantization mode, :func:`~sst_hw.plan.network.plan_network`
    with ``loadable=True``) has another ``add_bits``, length or topology id.

    Attributes
    ----------
    image : bytes
        The model image (:func:`sst_hw.plan.image.image_bytes`).
    model_id : int
        The model's fingerprint, sent with LOAD_COMMIT.
    chunk : int
        Image bytes per LOAD_DATA frame (the device's ``max_chunk``).
    """

    def __init__(self, info: DeviceInfo, network):
        from sst_hw.plan.image import image_bytes, topology_id
        from sst_hw.plan.network import plan_network

        if info.version < 2 or info.load is None:
            raise ModelMismatch(f"the device speaks protocol version {info.version}, which "
                                f"cannot load models (a bitstream from before version 2)")
        load = info.load
        if not load.loadable:
            raise ModelMismatch("the device's model is fixed in its bitstream (it is not "
                                "loadable: a CNN core, or an MLP core built with "
                                "sst-hw build --no-loadable)")
        if hasattr(network, "kinds"):
            raise ModelMismatch("a convolutional model cannot be loaded: loadable cores are "
                                "MLP cores")
        # The shapes and the logit width INFO reports, as `infer --model` checks them; the
        # state and the model id are what the load changes.
        ready = info.replace(load=dataclasses.replace(load, state=ModelState.READY))
        try:
            ready.check_network(network, check_id=False)
        except ModelMismatch as e:
            raise ModelMismatch(f"the model does not fit the device: {e}") from None
        if load.requant == "shift":
            for i, layer in enumerate(network.layers[:-1]):
                if not layer.shift_mode:
                    r = next(r for r, m in enumerate(layer.mult.tolist()) if m != 1)
                    raise ModelMismatch(
                        f"the model needs multipliers (layer {i} row {r} has M = "
                        f"{int(layer.mult[r])}), but the device's core requantizes by shifts "
                        f"only (built with requant 'shift')")
        try:
            plan = plan_network(network, pe=load.pe, simd=load.simd, requant=load.requant,
                                loadable=True)
        except ValueError as e:
            raise ModelMismatch(f"the model does not fit the device's core (PE {load.pe}, "
                                f"SIMD {load.simd}, requant {load.requant}): {e}") from None
        if plan.add_bits != load.add_bits:
            raise ModelMismatch(f"the model's table needs {plan.add_bits}-bit constants C_r, "
                                f"the device's holds {load.add_bits}: {TOPOLOGY_DIFFERS}")
        self.image = image_bytes(plan)
        topo = topology_id(plan)
        if len(self.image) != load.image_len or topo != load.topology_id:
            raise ModelMismatch(f"the model's image ({len(self.image)} bytes, topology "
                                f"{topo:#010x}) does not fit the device's ({load.image_len} "
                                f"bytes, topology {load.topology_id:#010x}): "
                                f"{TOPOLOGY_DIFFERS}")
        if load.max_chunk < 1:
            raise ProtocolError("the device is loadable but reports max_chunk 0")
        self.topology_id = topo
        self.model_id = model_id(network)
        self.chunk = min(load.max_chunk, MAX_CHUNK)

    @property
    def total(self) -> int:
        """Bytes of the image."""
        return len(self.image)

    def requests(self) -> Iterator[tuple[int, bytes, int | None]]:
        """The request frames of the load, in order, as ``(cmd, payload, sent)``:
        ``sent`` is the image bytes sent once a LOAD_DATA frame is answered
        (``None`` for LOAD_BEGIN and LOAD_COMMIT)."""
        yield CMD_LOAD_BEGIN, LOAD_BEGIN_STRUCT.pack(self.topology_id, self.total), None
        for off in range(0, self.total, self.chunk):
            data = self.image[off:off + self.chunk]
            yield (CMD_LOAD_DATA, off.to_bytes(LOAD_OFFSET_LEN, "little") + data,
                   off + len(data))
        yield (CMD_LOAD_COMMIT,
               LOAD_COMMIT_STRUCT.pack(self.model_id, self.total, crc32(self.image)), None)

    def check(self, info: DeviceInfo) -> DeviceInfo:
        """``info`` if the device, asked INFO after the commit, runs the loaded
        model; :class:`~sst_hw.link.wire.ProtocolError` otherwise."""
        if info.state != ModelState.READY or info.model_id != self.model_id:
            raise ProtocolError(f"after the load the device reports state "
                                f"{info.state.name.lower()} and model id {info.model_id:#010x}, "
                                f"not the loaded model's {self.model_id:#010x}")
        return info
