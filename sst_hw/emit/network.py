"""Verilog and JSON sidecar of a network core (:class:`~sst_hw.core.network.SSTNetwork`).

Same conventions as the engine's sidecar (:mod:`.engine`, both built from
:mod:`.write`): ports, streams with the offset/width/shape of every payload
field, clock and reset, codebook; plus ``cycles_per_inference`` (and its
``latency`` alias) with the formula and its definition, the memories, the
layer schedule and, given a device, the resources against it (``format``
``"sst-hw/network"``, ``version`` 1). Everything in the sidecar is the
core's :class:`~sst_hw.plan.network.NetPlan`, so it is written from a plan
or from a core alike; only the Verilog needs the core.
"""

from __future__ import annotations

import os

from amaranth.back import verilog

from sst_hw.core.network import SSTNetwork
from sst_hw.emit.write import (
    check_module_name,
    codebook_entry,
    core_head,
    logits_protocol,
    output_paths,
    ports,
    stream_info,
    write_core)
from sst_hw.plan.network import NetPlan

__all__ = ["SIDECAR_FORMAT", "SIDECAR_VERSION", "DEFAULT_MODULE_NAME", "network_sidecar",
           "network_verilog", "write_network"]

SIDECAR_FORMAT = "sst-hw/network"
SIDECAR_VERSION = 1
DEFAULT_MODULE_NAME = "sst_network"

#: What ``cycles_per_inference`` counts.
CYCLES_DEFINITION = (
    "clock cycles from the cycle the first input beat of an inference is accepted to the "
    "cycle its class beat (last) is accepted, both included, with the input offered back to "
    "back and o.ready high; the next inference can start on the following cycle")


def _plan(core) -> NetPlan:
    if isinstance(core, NetPlan):
        return core
    if isinstance(core, SSTNetwork):
        return core.plan
    raise TypeError(f"core must be an SSTNetwork or its NetPlan, not {core!r}")


def network_sidecar(core, name: str = DEFAULT_MODULE_NAME,
                    verilog_file: str | None = None, device=None) -> dict:
    """The JSON sidecar of ``core`` (an :class:`SSTNetwork` or its plan)
    emitted as module ``name``; ``verilog_file`` is the Verilog's path
    relative to the sidecar's folder; ``device`` (a
    :class:`~sst_hw.synth.devices.Device`) adds the resources against it."""
    plan = _plan(core)
    cb = plan.codebook
    streams = {"i": stream_info("i", "input", plan.in_layout),
               "o": stream_info("o", "output", plan.out_layout)}
    if plan.load_layout is not None:
        streams["load"] = stream_info("load", "input", plan.load_layout)
    cycles = plan.cycles()
    side = {
        **core_head(SIDECAR_FORMAT, SIDECAR_VERSION, name, verilog_file, plan.params,
                    plan.signature, streams),
        "protocol": {
            "i": f"{plan.input_features} input features per inference, one per beat, in order",
            "o": logits_protocol(plan.classes, plan.out_width),
            **({"load": (f"after reset, exactly {plan.code_words} code words of "
                         f"{plan.code_word_bits} bits (code_memory.image order) before the "
                         "first inference")} if plan.load_layout is not None else {}),
        },
        "cycles_per_inference": cycles,
        "latency": {"cycles": cycles, "definition": CYCLES_DEFINITION,
                    "formula": plan.formula_text(),
                    "evaluated": plan.formula()},
        "throughput": {"inferences_per_cycle": 1 / cycles},
        "memory": {
            "code": {"kind": plan.memory, "word_bits": plan.code_word_bits,
                     "words": plan.code_words, "bits": plan.code_bits,
                     "layout": plan.code_layout_text,
                     "initialised": plan.memory == "bram"},
            "activations": {"word_bits": plan.act_word_bits, "words": plan.act_words,
                            "bank_words": plan.act_bank_words, "bits": plan.act_bits},
            "requant": {"mode": plan.requant, "word_bits": plan.param_word_bits,
                        "words": plan.param_rows, "add_bits": plan.add_bits,
                        "mult_bits": plan.mult_bits},
        },
        "network": plan.describe(),
        "codebook": codebook_entry(cb),
    }
    if device is not None:
        side["resources"] = plan.resources(device)
    return side


def network_verilog(core: SSTNetwork, name: str = DEFAULT_MODULE_NAME) -> str:
    """Verilog text of ``core`` as module ``name``."""
    check_module_name(name, ports(core.signature))
    return verilog.convert(core, name=name, emit_src=False)


def write_network(core, verilog_path, json_path=None, *, name: str = DEFAULT_MODULE_NAME,
                  device=None, sim_models: bool = True, spram_primitive: bool = True) -> tuple:
    """Write ``core``'s Verilog and sidecar (default: same path, ``.json``).

    ``core`` is an :class:`SSTNetwork`, or its :class:`NetPlan` (the core is
    then built here, with ``spram_primitive``, once every check has passed).
    In spram mode with ``sim_models`` and the SB_SPRAM256KA primitive, also
    write ``<stem>_sim.v``: a behavioural SB_SPRAM256KA for Verilog
    simulators (not for synthesis). Everything is generated before anything
    is written. Returns the paths written.
    """
    vpath, jpath = output_paths(verilog_path, json_path)
    side = network_sidecar(core, name, verilog_file=os.path.relpath(vpath, jpath.parent),
                           device=device)
    if isinstance(core, NetPlan):
        core = SSTNetwork(core, spram_primitive=spram_primitive)
    return write_core(vpath, jpath, side, network_verilog(core, name),
                      spram_model=core.memory == "spram" and core.spram_primitive and sim_models)
