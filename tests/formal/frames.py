"""Proof 4: the UART frame receiver returns to HUNT after a silence.

The design is :class:`~sst_hw.link.frames.FrameProtocol` of a small device
(2 inputs of 8 bits, 2 classes), emitted by Amaranth's Verilog back end;
``frames_harness.sv`` states the property.
"""

from __future__ import annotations

import re
from pathlib import Path

from amaranth.back import verilog
from amaranth.hdl import signed
from amaranth.lib import data

from sst_hw.link.frames import FrameProtocol
from sst_hw.link.wire import ERROR_PAYLOAD_LEN, DeviceInfo
from sst_hw.sim.formal import fill_template, write_design

HERE = Path(__file__).parent
TEMPLATE = HERE / "frames_harness.sv"
TOP = "frames_harness"
DUT = "frame_protocol"

INFO = DeviceInfo(n_inputs=2, input_width=8, input_signed=False, n_classes=2, logit_width=8)
IN_SHAPE = data.StructLayout({"data": 8, "last": 1})
OUT_SHAPE = data.StructLayout({"data": signed(8)})


def never_times_out(text: str) -> str:
    """The idle timer's comparison tied to 0: a partial frame waits for ever."""
    new, n = re.subn(r"^(\s*assign timed_out = )[^;]+;", r"\g<1>1'h0;", text, count=1,
                     flags=re.M)
    if n != 1:
        raise ValueError("no `assign timed_out` in the emitted Verilog")
    return new


def silence(info: DeviceInfo, timeout: int) -> int:
    """Idle cycles after which the protocol must be in HUNT: the timeout, the
    core's input padded and its result drained, the longest reply (SYNC, CMD,
    LEN, payload, CRC) and the state changes between them."""
    reply = max(len(info.to_bytes()), info.reply_len, ERROR_PAYLOAD_LEN)
    return timeout + info.n_inputs + (info.n_classes + 1) + 4 + reply + 2 + 4


def write_proof(folder, timeout: int = 3, *, mutate=None,
                silence_cycles: int | None = None) -> tuple[list[Path], str]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fp = FrameProtocol(INFO, IN_SHAPE, OUT_SHAPE, timeout_cycles=timeout)
    text = verilog.convert(fp, name=DUT, emit_src=False)
    design = write_design(folder, DUT, text, mutate)
    fill = {"IW": IN_SHAPE.size, "OW": OUT_SHAPE.size, "DUT": DUT,
            "SILENCE": silence_cycles if silence_cycles is not None else silence(INFO, timeout)}
    return [fill_template(TEMPLATE, folder, fill), design], TOP
