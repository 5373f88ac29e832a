"""Verilog and JSON sidecar of a CNN core (:class:`~sst_hw.core.conv.network.SSTConvNetwork`).

The sidecar (``format`` ``"sst-hw/convnet"``, ``version`` 1) has what the
network core's has (ports, streams and fields, clock and reset, codebook,
``cycles_per_inference`` with its formula) plus the pass schedule (one entry
per pass: shapes, kernel, pool, steps and beats per row group, cycles,
engine occupancy and efficiency), the back-to-back ``period``, and the
memories. Everything in it is the core's :class:`~sst_hw.plan.convnet.ConvPlan`.
"""

from __future__ import annotations

import os

from amaranth.back import verilog

from sst_hw.core.conv.network import SSTConvNetwork
from sst_hw.emit.write import check_module_name, codebook_entry, core_head, logits_protocol, \
    output_paths, ports, stream_info, write_core
from sst_hw.plan.convnet import ConvPlan

__all__ = ["SIDECAR_FORMAT", "SIDECAR_VERSION", "DEFAULT_MODULE_NAME", "convnet_sidecar",
           "write_convnet"]

SIDECAR_FORMAT = "sst-hw/convnet"
SIDECAR_VERSION = 1
DEFAULT_MODULE_NAME = "sst_convnet"

CYCLES_DEFINITION = (
    "clock cycles from the cycle the first input beat of an inference is accepted to the "
    "cycle its class beat (last) is accepted, both included, on an idle core with the input "
    "offered back to back and o.ready high")
PERIOD_DEFINITION = (
    "clock cycles between the class beats of back-to-back inferences (the next image is "
    "loaded while the current one is computed)")


def _plan(core) -> ConvPlan:
    if isinstance(core, ConvPlan):
        return core
    if isinstance(core, SSTConvNetwork):
        return core.plan
    raise TypeError(f"core must be an SSTConvNetwork or its ConvPlan, not {core!r}")


def convnet_sidecar(core, name: str = DEFAULT_MODULE_NAME, verilog_file: str | None = None,
                    device=None) -> dict:
    plan = _plan(core)
    cb = plan.codebook
    cycles = plan.cycles()
    h, w, c = plan.input_shape
    side = {
        **core_head(SIDECAR_FORMAT, SIDECAR_VERSION, name, verilog_file, plan.params,
                    plan.signature, {"i": stream_info("i", "input", plan.in_layout),
                                     "o": stream_info("o", "output", plan.out_layout)}),
        "protocol": {
            "i": (f"{plan.input_features} input features per inference ({h}x{w}x{c} image, "
                  f"HWC order, channel fastest), one per beat"),
            "o": logits_protocol(plan.classes, plan.out_width),
        },
        "cycles_per_inference": cycles,
        "latency": {"cycles": cycles, "definition": CYCLES_DEFINITION,
                    "formula": plan.formula_text(), "evaluated": plan.formula()},
        "period": {"cycles": plan.period(), "definition": PERIOD_DEFINITION,
                   "compute_cycles": plan.compute_cycles()},
        "throughput": {"inferences_per_cycle": 1 / plan.period(),
                       "weight_ops_per_inference": plan.weight_ops,
                       "peak_weights_per_cycle": plan.peak_weights_per_cycle},
        "memory": {
            "code": {"word_bits": plan.code_word_bits, "words": plan.code_words,
                     "layout": "word = one engine beat; passes in order, groups of PE rows, "
                               "Sb words per group; padding = zero_code"},
            "input": {"word_bits": plan.in_word_bits, "bank_words": plan.in_bank_words,
                      "banks": 2, "lanes": plan.in_lanes},
            "maps": {"word_bits": plan.map_word_bits, "words": plan.map_words,
                     "regions": list(plan.map_region_words)},
            "requant": {"mode": plan.requant, "lanes": plan.rq_lanes,
                        "word_bits": plan.param_word_bits, "rows": plan.param_rows,
                        "add_bits": plan.add_bits, "mult_bits": plan.mult_bits},
            "steps": plan.step_count,
            "placement": plan.memories(),
        },
        "network": plan.describe(),
        "codebook": codebook_entry(cb),
    }
    if device is not None:
        side["resources"] = plan.resources(device)
    return side


def convnet_verilog(core: SSTConvNetwork, name: str = DEFAULT_MODULE_NAME) -> str:
    check_module_name(name, ports(core.signature))
    return verilog.convert(core, name=name, emit_src=False)


def write_convnet(core, verilog_path, json_path=None, *, name: str = DEFAULT_MODULE_NAME,
                  device=None, sim_models: bool = True) -> tuple:
    """Write ``core``'s Verilog and sidecar (default: same path, ``.json``);
    with a map region in SPRAM and ``sim_models``, also ``<stem>_sim.v``, a
    behavioural SB_SPRAM256KA for Verilog simulators (not for synthesis).
    Everything is generated before anything is written."""
    vpath, jpath = output_paths(verilog_path, json_path)
    side = convnet_sidecar(core, name, verilog_file=os.path.relpath(vpath, jpath.parent),
                           device=device)
    if isinstance(core, ConvPlan):
        core = SSTConvNetwork(core)
    return write_core(vpath, jpath, side, convnet_verilog(core, name),
                      spram_model=core.plan.map_memory == "spram" and core.spram_primitive
                      and sim_models)
