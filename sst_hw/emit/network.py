"""Verilog and JSON sidecar of a network core (:class:`~sst_hw.core.network.SSTNetwork`).

Same conventions as the engine's sidecar (:mod:`.engine`, both built from
:mod:`.write`): ports, streams with the offset/width/shape of every payload
field, clock and reset, codebook; plus ``cycles_per_inference`` (and its
``latency`` alias) with the formula and its definition, the memories, the
layer schedule and, given a device, the resources against it (``format``
``"sst-hw/network"``, ``version`` 1). A loadable core (``plan.loadable``)
also has an ``image`` entry: the Verilog port of each member of its
``image`` port (``"sel": "image__sel"``, ... as a stream's ``"valid":
"i__valid"``), their ``widths``, the ``read_latency``, the ``memories`` the
port reaches (``code``: ``sel`` 0, and with hidden layers ``table``: ``sel``
1; the ``words`` and ``word_bits`` of each image), ``bitstream_model``
(whether ``use_loaded`` 0 runs the bitstream's model) and the
``topology_id`` (:func:`sst_hw.plan.image.topology_id`); non-loadable
sidecars are as before. Everything in the sidecar is the
core's :class:`~sst_hw.plan.network.NetPlan`, so it is written from a plan
or from a core alike; only the Verilog needs the core.
"""

from __future__ import annotations

import os

from amaranth.back import verilog
from amaranth.hdl import Shape

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
from sst_hw.plan.image import topology_id
from sst_hw.plan.network import NetPlan

__all__ = ["SIDECAR_FORMAT", "SIDECAR_VERSION", "DEFAULT_MODULE_NAME", "IMAGE_READ_LATENCY",
           "network_sidecar", "image_info", "network_verilog", "write_network"]

SIDECAR_FORMAT = "sst-hw/network"
SIDECAR_VERSION = 1
DEFAULT_MODULE_NAME = "sst_network"
#: Cycles from a cycle with ``image.re`` to its word on ``image.rdata``.
IMAGE_READ_LATENCY = 1

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
    cycles = plan.cycles()
    side = {
        **core_head(SIDECAR_FORMAT, SIDECAR_VERSION, name, verilog_file, plan.params,
                    plan.signature, streams),
        "protocol": {
            "i": f"{plan.input_features} input features per inference, one per beat, in order",
            "o": logits_protocol(plan.classes, plan.out_width),
            **({"image": _image_protocol(plan)} if plan.loadable else {}),
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
    if plan.loadable:
        side["memory"]["code"]["loadable"] = True
        side["memory"]["requant"]["shift_bits"] = plan.shift_bits
        side["image"] = image_info(plan)
    if device is not None:
        side["resources"] = plan.resources(device)
    return side


def image_info(plan: NetPlan) -> dict:
    """The sidecar's ``image`` entry of a loadable plan: the port of every
    member of the ``image`` port, their widths, the read latency, the memories
    it reaches (``sel``, words and bits of each image) and the topology id."""
    prefix = "image"
    widths = {name: Shape.cast(member.shape).width
              for name, member in plan.image_signature.members.items()}
    memories = {"code": {"sel": 0, "words": plan.code_words, "word_bits": plan.code_word_bits}}
    if plan.param_rows:
        memories["table"] = {"sel": 1, "words": plan.param_rows,
                             "word_bits": plan.param_word_bits}
    return {**{name: f"{prefix}__{name}" for name in widths}, "widths": widths,
            "read_latency": IMAGE_READ_LATENCY, "memories": memories,
            "bitstream_model": plan.memory == "bram", "topology_id": topology_id(plan)}


def _image_protocol(plan: NetPlan) -> str:
    """The ``image`` port's protocol text."""
    table = (f"sel 1: the requantization table, {plan.param_rows} rows of "
             f"{plan.param_word_bits} bits (NetPlan.param_image order); " if plan.param_rows
             else "")
    banks = ("use_loaded 1 runs the loaded image, 0 the bitstream's model (the loaded bank "
             "starts as zeros)" if plan.memory == "bram" else
             "the code memory is undefined and the table zeros until written; drive "
             "use_loaded 1")
    return (f"only while the core is idle: a cycle with we writes wdata at word addr, one with "
            f"re reads it (rdata from the next cycle on) of the memory sel selects; sel 0: the "
            f"code memory, {plan.code_words} words of {plan.code_word_bits} bits "
            f"(NetPlan.code_image order); {table}{banks}")


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
