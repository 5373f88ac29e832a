"""Verilog and JSON sidecar of an :class:`~sst_hw.rtl.engine.SSTEngine` or a dense
baseline engine (or of their parameters: the sidecar is the parameters' alone).

The sidecar is the contract for anyone who instantiates the core
(docs/architecture.md, "The JSON sidecar: the contract"): module name,
parameters, ports, the bit offset and width of every payload field, latency
and the codebook. Schema (``format``
``"sst-hw/engine"``, ``version`` 1), as written by ``sst-hw generate --n 8
--k 2 --pe 4 --simd 2 --act-width 8 -o build/engine.v``::

    {
      "format": "sst-hw/engine", "version": 1,
      "module": "sst_engine",
      "verilog": "engine.v",                 # relative to the sidecar's folder
      "parameters": {"n": 8, "k": 2, "variant": "full", "assignment": "enum",
                     "pe": 4, "simd": 2, "act_width": 8, "act_signed": false,
                     "max_row_len": 1024, "rom": "auto", "decode_reg": true,
                     "select_reg": true, "tree_stage_levels": 1, "out_depth": 2,
                     "code_bits": 8, "acc_width": 17},
      "clock": {"port": "clk", "edge": "rising"},
      "reset": {"port": "rst", "active": "high", "synchronous": true},
      "ports": [{"name": "clk", "direction": "input", "width": 1},
                {"name": "rst", "direction": "input", "width": 1},
                {"name": "i__payload", "direction": "input", "width": 193},
                {"name": "i__valid", "direction": "input", "width": 1},
                {"name": "i__ready", "direction": "output", "width": 1},
                {"name": "o__payload", "direction": "output", "width": 68},
                {"name": "o__valid", "direction": "output", "width": 1},
                {"name": "o__ready", "direction": "input", "width": 1}],
      "streams": {
        "i": {"direction": "input", "valid": "i__valid", "ready": "i__ready",
              "payload": "i__payload", "width": 193,
              "fields": {"act":  {"offset": 0, "width": 128, "shape": [2, 8],
                                  "element": {"width": 8, "signed": false}},
                         "code": {"offset": 128, "width": 64, "shape": [4, 2],
                                  "element": {"width": 8, "signed": false}},
                         "last": {"offset": 192, "width": 1, "shape": [],
                                  "element": {"width": 1, "signed": false}}}},
        "o": {"direction": "output", "valid": "o__valid", "ready": "o__ready",
              "payload": "o__payload", "width": 68,
              "fields": {"acc": {"offset": 0, "width": 68, "shape": [4],
                                 "element": {"width": 17, "signed": true}}}}},
      "latency": {"cycles": 6, "definition": "clock edges from the edge that accepts ..."},
      "throughput": {"beats_per_cycle": 1, "weights_per_beat": 64},
      "weights": {"kind": "sst", "n": 8, "k": 2, "variant": "full", "assignment": "enum",
                  "code_bits": 8, "bits_per_weight": 1.0, "signed": true, "range": [-1, 1],
                  "zero_code": 0},
      "codebook": {"variant": "full", "assignment": "enum", "bits": 8,
                   "n": 8, "k": 2, "zero_code": 0,
                   "vectors": [[0, 0, 0, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0, 0, 0],
                               [-1, 0, 0, 0, 0, 0, 0, 0], ..., null]}
    }

A field of ``shape`` ``[d0, d1]`` holds element ``[a][b]`` at bit
``offset + (a*d1 + b) * element.width`` (row-major, bit 0 the LSB of the
payload port); signed elements are two's complement. ``vectors[c]`` is the
ternary vector (N integers in {-1, 0, 1}) of code value ``c``, ``null`` for
an unused value.

The dense baselines (:mod:`sst_hw.rtl.dense_engine`, ``sst-hw generate --weights
int8|ternary``) have the same schema, with their own ``parameters``
(``weights``, ``n``, ``weight_width``, ``dsp_mults``, ``pe``, ...) and no
``codebook`` (2^64 values for 8 int8 weights); their ``weights`` section
says how to read a code word: weight ``j`` is the field at bits ``[j*b,
(j+1)*b)`` with ``b = bits_per_weight``, ``code_bits = N*b``::

      "weights": {"kind": "int8", "bits_per_weight": 8, "signed": true, "n": 8,
                  "code_bits": 64, "zero_code": 0, "range": [-128, 127]}
      "weights": {"kind": "ternary2", "bits_per_weight": 2, "signed": true, "n": 8,
                  "code_bits": 16, "zero_code": 0, "range": [-1, 1],
                  "encoding": {"-1": 3, "0": 0, "1": 1},   # weight -> field written
                  "decode": [0, 1, 0, -1]}                 # field value -> weight

``int8`` fields are two's complement (``bits_per_weight`` may be 2..16);
``ternary2`` fields are read through ``decode`` (``10`` reads as 0 but is
never written).
"""

from __future__ import annotations

import os
from pathlib import Path

from amaranth.back import verilog

from sst_hw.emit.write import (
    check_module_name as _check_name,
    describe_layout,
    dumps_sidecar,
    output_paths,
    ports,
    stream_info,
    write_files)
from sst_hw.format.codebook import MAX_TABLE_BITS
from sst_hw.plan.engine import EngineParams
from sst_hw.rtl.dense_engine import DenseIntEngine, DenseTernaryEngine
from sst_hw.rtl.engine import SSTEngine, engine_for

__all__ = ["SIDECAR_FORMAT", "SIDECAR_VERSION", "MAX_SIDECAR_CODE_BITS", "DEFAULT_MODULE_NAME",
           "ENGINE_TYPES", "describe_layout", "dumps_sidecar", "engine_ports", "engine_sidecar",
           "engine_verilog", "weights_section", "write_engine", "check_module_name",
           "default_module_name"]

SIDECAR_FORMAT = "sst-hw/engine"
SIDECAR_VERSION = 1
#: Widest code whose table of 2^B vectors the sidecar lists.
MAX_SIDECAR_CODE_BITS = MAX_TABLE_BITS
DEFAULT_MODULE_NAME = "sst_engine"
#: Default module name of each dense baseline kind (``DenseWeights.kind``).
DENSE_MODULE_NAMES = {"int8": "dense_int8_engine", "ternary2": "dense_ternary_engine"}

#: The engines this module emits (one stream interface, one sidecar schema).
ENGINE_TYPES = (SSTEngine, DenseIntEngine, DenseTernaryEngine)


def _config(engine) -> EngineParams:
    """The parameters of ``engine``: an :data:`ENGINE_TYPES` instance or its
    :class:`~sst_hw.plan.engine.EngineParams` (returned as is)."""
    if isinstance(engine, EngineParams):
        return engine
    if isinstance(engine, ENGINE_TYPES):
        return engine.config
    raise TypeError(f"engine must be one of {', '.join(t.__name__ for t in ENGINE_TYPES)} "
                    f"or their parameters, not {engine!r}")


def default_module_name(engine) -> str:
    """``sst_engine`` for an SST engine, ``dense_int8_engine`` or
    ``dense_ternary_engine`` for a dense baseline (``engine`` or its parameters)."""
    config = _config(engine)
    return DEFAULT_MODULE_NAME if config.kind == "sst" else DENSE_MODULE_NAMES[config.kind]


def engine_ports(engine) -> list:
    """Verilog ports of ``engine`` (or of the engine its parameters describe):
    ``[{"name", "direction", "width"}]``, clock and reset first, then the
    stream members as Amaranth names them."""
    return ports(engine.signature)


def weights_section(engine) -> dict:
    """The sidecar's ``weights`` section: how a code word holds N weights."""
    config = _config(engine)
    if config.kind == "sst":
        cb = config.codebook
        return {"kind": "sst", "n": cb.n, "k": cb.k, "variant": cb.variant,
                "assignment": cb.assignment, "code_bits": cb.bits,
                "bits_per_weight": cb.bits / cb.n, "signed": True, "range": [-1, 1],
                "zero_code": cb.zero_code}
    return config.weights.sidecar()


def engine_sidecar(engine, name: str | None = None,
                   verilog_file: str | None = None) -> dict:
    """The JSON sidecar of ``engine`` (an :data:`ENGINE_TYPES` instance, or its
    parameters: the sidecar is theirs alone) emitted as module ``name`` (see
    the module docstring for the schema). Raises ``ValueError`` when an SST
    code is too wide to list its table (more than 2^20 code values)."""
    engine = _config(engine)
    name = check_module_name(engine, name)
    sst = engine.kind == "sst"
    if sst and engine.codebook.bits > MAX_SIDECAR_CODE_BITS:
        cb = engine.codebook
        raise ValueError(
            f"codes of {cb.bits} bits ({cb.describe_short()}) are too wide for the sidecar's "
            f"code table (at most {MAX_SIDECAR_CODE_BITS} bits, 2^{MAX_SIDECAR_CODE_BITS} "
            f"entries): use a smaller N or K")
    params = engine.as_dict()
    params["code_bits"] = engine.code_bits
    params["acc_width"] = engine.acc_width
    side = {
        "format": SIDECAR_FORMAT,
        "version": SIDECAR_VERSION,
        "module": name,
        "verilog": verilog_file,
        "parameters": params,
        "clock": {"port": "clk", "edge": "rising"},
        "reset": {"port": "rst", "active": "high", "synchronous": True},
        "ports": engine_ports(engine),
        "streams": {"i": stream_info("i", "input", engine.in_layout),
                    "o": stream_info("o", "output", engine.out_layout)},
        "latency": {
            "cycles": engine.latency,
            "definition": ("clock edges from the edge that accepts a row's last i beat to the "
                           "edge at which its o beat is first offered (o.valid sampled high), "
                           "with the output queue empty"),
        },
        "throughput": {"beats_per_cycle": 1, "weights_per_beat": engine.weights_per_beat},
        "weights": weights_section(engine),
    }
    if sst:
        cb = engine.codebook
        side["codebook"] = {"variant": cb.variant, "assignment": cb.assignment, "bits": cb.bits,
                            "n": cb.n, "k": cb.k, "zero_code": cb.zero_code,
                            "vectors": cb.vector_list()}
    return side


def check_module_name(engine, name: str | None) -> str:
    """``name`` if it is a usable Verilog module name for ``engine`` (or the
    engine its parameters describe); ``None`` gives :func:`default_module_name`."""
    if name is None:
        return default_module_name(engine)
    return _check_name(name, engine_ports(engine))


def engine_verilog(engine, name: str | None = None) -> str:
    """Verilog text of ``engine`` as module ``name`` (ports ``clk``, ``rst``, ...;
    default :func:`default_module_name`)."""
    name = check_module_name(engine, name)
    return verilog.convert(engine, name=name, emit_src=False)


def write_engine(engine, verilog_path, json_path=None, *,
                 name: str | None = None) -> tuple[Path, Path]:
    """Write ``engine``'s Verilog to ``verilog_path`` and its sidecar to
    ``json_path`` (default: the same path with suffix ``.json``).

    ``engine`` is an :data:`ENGINE_TYPES` instance or its parameters (an
    :class:`~sst_hw.plan.engine.EngineParams`, the engine is then built
    here, once every check has passed). Everything is generated before
    anything is written, so a bad parameter leaves no file behind. Returns
    the two paths.
    """
    vpath, jpath = output_paths(verilog_path, json_path)
    sidecar = engine_sidecar(engine, name, verilog_file=os.path.relpath(vpath, jpath.parent))
    if isinstance(engine, EngineParams):
        engine = engine_for(engine)
    text = engine_verilog(engine, sidecar["module"])
    return write_files({vpath: text, jpath: dumps_sidecar(sidecar)})
