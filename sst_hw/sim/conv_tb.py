"""The cocotb testbench of :class:`~sst_hw.core.conv.network.SSTConvNetwork` on its
emitted Verilog, and :func:`run_convnet`, which builds a core, computes the
golden outputs and runs the testbench.

The CNN core has the MLP core's streams (one input feature per beat in HWC
order; the logits, then the class with ``last``), so the checker is the MLP
testbench's :class:`~sst_hw.sim.network_tb.NetTB`. What differs is the
timing: the first inference on an idle core takes the sidecar's
``cycles_per_inference`` exactly, and then, the next image being loaded
while the current one computes, class beats follow each other every
``period.cycles`` exactly.
"""

from __future__ import annotations

import cocotb

from sst_hw.sim.network_tb import NetTB, check_with_stalls, simulate_core

TB_MODULE = "sst_hw.sim.conv_tb"


@cocotb.test()
async def convnet_back_to_back(dut):
    """All images back to back, o.ready high: every logit and class, the first
    inference's latency and the period between class beats, both exactly
    the sidecar's."""
    tb = NetTB(dut, seed_offset=1)
    await tb.start()
    count = len(tb.inputs)
    await tb.infer(count)
    latency = tb.measured_cycles(1)[0]
    assert latency == tb.cycles, \
        f"measured cycles of the first inference {latency} != sidecar {tb.cycles}"
    period = int(tb.side.data["period"]["cycles"])
    beats = tb.classes + 1
    ends = [tb.sink.received[(b + 1) * beats - 1][1] for b in range(count)]
    periods = sorted({b - a for a, b in zip(ends, ends[1:])})
    if count > 1:
        assert periods == [period], f"measured periods {periods} != sidecar {period}"
    await tb.idle_check()
    tb.stop()


@cocotb.test()
async def convnet_stalls(dut):
    """Random idle cycles on the input, random ready stalls on the output:
    the same values."""
    await check_with_stalls(dut, 4)


def run_convnet(network, x, build_dir, *, stall_inferences=4, name="sst_convnet", core=None,
                **core_kw):
    """Emit ``network`` (a ConvNetwork) as a CNN core (``core_kw`` for
    :class:`SSTConvNetwork`), build it, and run both scenarios on images
    ``x`` (``(B, H, W, C)`` or flat). Returns the core."""
    from sst_hw.core.conv.network import SSTConvNetwork
    from sst_hw.emit.convnet import write_convnet

    if core is None:
        core = SSTConvNetwork(network, **core_kw)
    build_dir.mkdir(parents=True, exist_ok=True)
    paths = write_convnet(core, build_dir / f"{name}.v", name=name)
    simulate_core(paths, network, network.check_input(x), build_dir, name, TB_MODULE,
                  stall_inferences=stall_inferences)
    return core
