"""Verilog and JSON sidecar of an :class:`~.engine.SSTEngine` or a dense baseline engine.

The sidecar is the contract for anyone who instantiates the core (DESIGN.md
section 3): module name, parameters, ports, the bit offset and width of every
payload field, latency and the codebook. Schema (``format``
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

The dense baselines (:mod:`.dense_engine`, ``sst-hw generate --weights
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

import json
import os
import re
from pathlib import Path

from amaranth.back import verilog
from amaranth.hdl import Shape
from amaranth.lib import data, wiring

from sst_hw.format.codebook import MAX_TABLE_BITS
from sst_hw.rtl.dense_engine import DenseIntEngine, DenseTernaryEngine
from sst_hw.rtl.engine import SSTEngine

__all__ = ["SIDECAR_FORMAT", "SIDECAR_VERSION", "MAX_SIDECAR_CODE_BITS", "DEFAULT_MODULE_NAME",
           "ENGINE_TYPES", "describe_layout", "engine_ports", "engine_sidecar", "engine_verilog",
           "weights_section", "write_engine"]

SIDECAR_FORMAT = "sst-hw/engine"
SIDECAR_VERSION = 1
#: Widest code whose table of 2^B vectors the sidecar lists.
MAX_SIDECAR_CODE_BITS = MAX_TABLE_BITS
DEFAULT_MODULE_NAME = "sst_engine"
#: Default module name of each dense baseline kind (``DenseWeights.kind``).
DENSE_MODULE_NAMES = {"int8": "dense_int8_engine", "ternary2": "dense_ternary_engine"}


def default_module_name(engine) -> str:
    """``sst_engine`` for an SST engine, ``dense_int8_engine`` or
    ``dense_ternary_engine`` for a dense baseline."""
    if isinstance(engine, SSTEngine):
        return DEFAULT_MODULE_NAME
    return DENSE_MODULE_NAMES[engine.weights.kind]

#: The engines this module emits (one stream interface, one sidecar schema).
ENGINE_TYPES = (SSTEngine, DenseIntEngine, DenseTernaryEngine)

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _field_info(shape) -> dict:
    dims = []
    while isinstance(shape, data.ArrayLayout):
        dims.append(shape.length)
        shape = shape.elem_shape
    if isinstance(shape, data.Layout):
        raise TypeError(f"only arrays of plain values are described, not {shape!r}")
    elem = Shape.cast(shape)
    return {"shape": dims, "element": {"width": elem.width, "signed": elem.signed}}


def describe_layout(layout: data.StructLayout) -> dict:
    """``{field: {"offset", "width", "shape", "element"}}`` of a struct payload."""
    out = {}
    for name, field in layout:
        out[name] = {"offset": field.offset, "width": field.width, **_field_info(field.shape)}
    return out


def engine_ports(engine) -> list:
    """Verilog ports of ``engine``: ``[{"name", "direction", "width"}]``, clock
    and reset first, then the stream members as Amaranth names them."""
    ports = [{"name": "clk", "direction": "input", "width": 1},
             {"name": "rst", "direction": "input", "width": 1}]
    for path, member, value in engine.signature.flatten(engine):
        ports.append({"name": "__".join(str(p) for p in path),
                      "direction": "input" if member.flow == wiring.In else "output",
                      "width": len(value.as_value()) if hasattr(value, "as_value") else len(value)})
    return ports


def _stream_info(name: str, direction: str, layout) -> dict:
    return {"direction": direction, "valid": f"{name}__valid", "ready": f"{name}__ready",
            "payload": f"{name}__payload", "width": layout.size, "fields": describe_layout(layout)}


def weights_section(engine) -> dict:
    """The sidecar's ``weights`` section: how a code word holds N weights."""
    if isinstance(engine, SSTEngine):
        cb = engine.codebook
        return {"kind": "sst", "n": cb.n, "k": cb.k, "variant": cb.variant,
                "assignment": cb.assignment, "code_bits": cb.bits,
                "bits_per_weight": cb.bits / cb.n, "signed": True, "range": [-1, 1],
                "zero_code": cb.zero_code}
    return engine.weights.sidecar()


def engine_sidecar(engine, name: str | None = None,
                   verilog_file: str | None = None) -> dict:
    """The JSON sidecar of ``engine`` (an :data:`ENGINE_TYPES` instance) emitted
    as module ``name`` (see the module docstring for the schema). Raises
    ``ValueError`` when an SST code is too wide to list its table (more than
    2^20 code values)."""
    _check_engine(engine)
    name = check_module_name(engine, name)
    sst = isinstance(engine, SSTEngine)
    if sst and engine.codebook.bits > MAX_SIDECAR_CODE_BITS:
        cb = engine.codebook
        raise ValueError(
            f"codes of {cb.bits} bits ({cb.describe_short()}) are too wide for the sidecar's "
            f"code table (at most {MAX_SIDECAR_CODE_BITS} bits, 2^{MAX_SIDECAR_CODE_BITS} "
            f"entries): use a smaller N or K")
    params = dict(engine.params)
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
        "streams": {"i": _stream_info("i", "input", engine.in_layout),
                    "o": _stream_info("o", "output", engine.out_layout)},
        "latency": {
            "cycles": engine.latency,
            "definition": ("clock edges from the edge that accepts a row's last i beat to the "
                           "edge at which its o beat is first offered (o.valid sampled high), "
                           "with the output queue empty"),
        },
        "throughput": {"beats_per_cycle": 1,
                       "weights_per_beat": engine.pe * engine.simd * engine.n},
        "weights": weights_section(engine),
    }
    if sst:
        cb = engine.codebook
        side["codebook"] = {"variant": cb.variant, "assignment": cb.assignment, "bits": cb.bits,
                            "n": cb.n, "k": cb.k, "zero_code": cb.zero_code,
                            "vectors": cb.vector_list()}
    return side


def _check_engine(engine):
    if not isinstance(engine, ENGINE_TYPES):
        raise TypeError(f"engine must be one of {', '.join(t.__name__ for t in ENGINE_TYPES)}, "
                        f"not {engine!r}")


def check_module_name(engine, name: str | None) -> str:
    """``name`` if it is a usable Verilog module name for ``engine``; ``None``
    gives :func:`default_module_name`."""
    if name is None:
        return default_module_name(engine)
    if not isinstance(name, str) or not _IDENT.match(name):
        raise ValueError(f"module name must be a Verilog identifier ([A-Za-z_][A-Za-z0-9_]*), "
                         f"not {name!r}")
    if name in {p["name"] for p in engine_ports(engine)}:
        raise ValueError(f"module name {name!r} is also a port name (Verilator refuses that)")
    return name


def engine_verilog(engine, name: str | None = None) -> str:
    """Verilog text of ``engine`` as module ``name`` (ports ``clk``, ``rst``, ...;
    default :func:`default_module_name`)."""
    name = check_module_name(engine, name)
    return verilog.convert(engine, name=name, emit_src=False)


def _dumps(value, indent: int = 0) -> str:
    """JSON with containers of scalars kept on one line (vectors, shapes, ports)."""
    def flat(v):
        items = v.values() if isinstance(v, dict) else v
        return all(not isinstance(x, (dict, list)) or (isinstance(x, dict) and not x)
                   for x in items) or (isinstance(v, dict) and all(
                       isinstance(x, (dict, list)) and flat(x) for x in v.values())
                       and len(json.dumps(v)) < 90)
    if not isinstance(value, (dict, list)) or flat(value):
        return json.dumps(value, separators=(", ", ": "))
    pad = "  " * (indent + 1)
    if isinstance(value, dict):
        body = ",\n".join(f"{pad}{json.dumps(k)}: {_dumps(v, indent + 1)}"
                          for k, v in value.items())
        return "{\n" + body + "\n" + "  " * indent + "}"
    body = ",\n".join(pad + _dumps(v, indent + 1) for v in value)
    return "[\n" + body + "\n" + "  " * indent + "]"


def dumps_sidecar(sidecar: dict) -> str:
    """JSON text of a sidecar: indented, small objects and each code vector on one line."""
    return _dumps(sidecar) + "\n"


def write_engine(engine, verilog_path, json_path=None, *,
                 name: str | None = None) -> tuple[Path, Path]:
    """Write ``engine``'s Verilog to ``verilog_path`` and its sidecar to
    ``json_path`` (default: the same path with suffix ``.json``).

    Everything is generated before anything is written, so a bad parameter
    leaves no file behind. Returns the two paths.
    """
    vpath = Path(verilog_path)
    jpath = Path(json_path) if json_path is not None else vpath.with_suffix(".json")
    if vpath.resolve() == jpath.resolve():
        raise ValueError(f"the Verilog and sidecar paths must differ, not both {str(vpath)!r}")
    try:
        sidecar = engine_sidecar(engine, name, verilog_file=os.path.relpath(vpath, jpath.parent))
        text = engine_verilog(engine, name)
    except Exception:
        engine._MustUse__silence = True    # refused: no "never used" warning on top
        raise
    side = dumps_sidecar(sidecar)
    for path, content in ((vpath, text), (jpath, side)):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(content)
        os.replace(tmp, path)
    return vpath, jpath
