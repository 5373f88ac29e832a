"""A cocotb testbench that replays payloads into a core and records what comes out.

The testbench of ``sst-hw sim`` (:mod:`sst_hw.sim.session`). It knows the DUT
only through its JSON sidecar (ports, clock, reset, stream names) and checks
nothing itself: the host packs the input payloads, and after the run it
unpacks the recorded output beats and compares them with the golden model
(driver and monitor here, model and checker on the host side). This keeps
the comparison in one place, which counts mismatches instead of stopping
at the first one.

Configuration (:func:`sst_hw.sim.runner.load_config`)::

    {"sidecar": "/path/core.json",
     "inputs": ["1f", "0", ...],       # payloads of stream i, hex, in order
     "image": {"code": ["..."],        # optional (loadable core): code words, hex,
               "table": ["..."]},      #   and table rows, written first through the image port
     "use_loaded": 1,                  # image.use_loaded from then on (default 1)
     "outputs": 330,                   # output beats to wait for
     "timeout_cycles": 100000,         # give up after this many cycles
     "idle_cycles": 50,                # then watch this long for extra beats
     "results": "/path/results.json"}  # where the record goes

Stimulus: reset for 3 cycles (the ``image`` port's inputs low), then the
``image`` (if any) written through the port, one word per cycle (every code
word, then every table row), ``use_loaded`` set, and the image read back;
then the ``i`` payloads offered back to back (valid high whenever one is
queued), ``o.ready`` high on every cycle: the conditions under which the
sidecar's latency and cycles per inference are defined.

Record (``results``)::

    {"sent": [c0, c1, ...],           # edge at which each i payload was accepted
     "received": [[v, t, "hex"], ...],  # per o beat: edge valid first seen, edge taken, payload
     "timed_out": false, "extra_beats": 0, "cycles": 1234,
     "image_cycles": 0,                # edges spent writing the image
     "image_read": {"code": [...], "table": [...]}}  # the image read back, hex

Edges are numbered from the first edge after reset (the drivers' shared
:class:`~sst_hw.sim.stream.CycleCounter`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge, SimTimeoutError, with_timeout

from sst_hw.sim.image_port import idle_image, read_image, write_image
from sst_hw.sim.runner import load_config
from sst_hw.sim.sidecar import Sidecar
from sst_hw.sim.stream import CycleCounter, StreamSink, StreamSource

CLOCK_NS = 10
#: Reset cycles before the first beat.
RESET_CYCLES = 3


@cocotb.test()
async def replay(dut):
    """Send every configured payload, record every output beat with its cycles."""
    cfg = load_config()
    side = Sidecar.load(cfg["sidecar"])
    si, so, port = side.streams["i"], side.streams["o"], side.image
    clk = getattr(dut, side.clock)
    rst = getattr(dut, side.reset)
    Clock(clk, CLOCK_NS, unit="ns").start()
    getattr(dut, si.valid).value = 0
    getattr(dut, so.ready).value = 0
    if port is not None:
        idle_image(dut, port)
    rst.value = 1 if side.reset_active_high else 0
    await ClockCycles(clk, RESET_CYCLES)
    rst.value = 0 if side.reset_active_high else 1
    counter = CycleCounter(clk)
    await RisingEdge(clk)

    image = cfg.get("image")
    image_cycles, image_read = 0, {}
    if image:
        if port is None:
            raise AssertionError("the configuration has an image but the sidecar has no "
                                 "image port")
        code = [int(w, 16) for w in image.get("code", [])]
        table = [int(w, 16) for w in image.get("table", [])]
        image_cycles = await write_image(clk, dut, port, code, table,
                                         use_loaded=int(cfg.get("use_loaded", 1)))
        for name, words in (("code", code), ("table", table)):
            if words:
                back = await read_image(clk, dut, port, port.memories[name]["sel"], len(words))
                image_read[name] = [format(w, "x") for w in back]

    source = StreamSource(clk, getattr(dut, si.valid), getattr(dut, si.ready),
                          getattr(dut, si.payload), counter)
    sink = StreamSink(clk, getattr(dut, so.valid), getattr(dut, so.ready),
                      getattr(dut, so.payload), counter)
    for p in cfg["inputs"]:
        source.send(int(p, 16))
    expected = int(cfg["outputs"])
    timed_out = False
    try:
        await with_timeout(sink.wait_for(expected), int(cfg["timeout_cycles"]) * CLOCK_NS, "ns")
    except SimTimeoutError:
        timed_out = True
    await ClockCycles(clk, int(cfg.get("idle_cycles", 50)))
    source.stop()
    sink.stop()
    record = {
        "sent": [c for c, _ in source.sent],
        "received": [[v, t, format(p, "x")] for v, t, p in sink.received],
        "timed_out": timed_out,
        "extra_beats": max(0, len(sink.received) - expected),
        "cycles": counter.now,
        "image_cycles": image_cycles,
        "image_read": image_read,
    }
    out = Path(cfg["results"])
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(record))
    os.replace(tmp, out)
