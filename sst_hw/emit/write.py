"""What every emitter shares: the sidecar's description of ports and streams,
the check of a Verilog module name, the sidecar's JSON text, and writing the
files of a core all at once.

:mod:`.engine` (engines) and :mod:`.network` (network cores) build their
sidecars from these, so both describe ports, streams and fields the same way,
refuse the same module names and never leave a partial set of files behind.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from amaranth.hdl import Shape
from amaranth.lib import data, wiring

__all__ = ["describe_layout", "ports", "stream_info", "check_module_name", "output_paths",
           "dumps_sidecar", "write_files", "core_head", "codebook_entry", "logits_protocol",
           "write_core"]

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
    """``{field: {"offset", "width", "shape", "element"}}`` of a struct payload
    (offsets and widths in bits)."""
    out = {}
    for name, field in layout:
        out[name] = {"offset": field.offset, "width": field.width, **_field_info(field.shape)}
    return out


def ports(signature: wiring.Signature) -> list:
    """Verilog ports of a design of interface ``signature`` (a component's, or
    the one its parameters describe): ``[{"name", "direction", "width"}]``,
    clock and reset first, then every port member as Amaranth names it
    (``i__payload``, ...); widths in bits."""
    out = [{"name": "clk", "direction": "input", "width": 1},
           {"name": "rst", "direction": "input", "width": 1}]
    for path, member in signature.members.flatten():
        if member.is_port:
            out.append({"name": "__".join(str(p) for p in path),
                        "direction": "input" if member.flow == wiring.In else "output",
                        "width": Shape.cast(member.shape).width})
    return out


def stream_info(name: str, direction: str, layout) -> dict:
    """The sidecar's entry of stream ``name``: its three ports, the payload
    width (bits) and every field of ``layout``."""
    return {"direction": direction, "valid": f"{name}__valid", "ready": f"{name}__ready",
            "payload": f"{name}__payload", "width": layout.size,
            "fields": describe_layout(layout)}


def check_module_name(name, port_list: list) -> str:
    """``name`` if it is a usable Verilog module name for a design with ports
    ``port_list`` (as :func:`ports` gives them), else a ``ValueError``."""
    if not isinstance(name, str) or not _IDENT.match(name):
        raise ValueError(f"module name must be a Verilog identifier ([A-Za-z_][A-Za-z0-9_]*), "
                         f"not {name!r}")
    if name in {p["name"] for p in port_list}:
        raise ValueError(f"module name {name!r} is also a port name (Verilator refuses that)")
    return name


def output_paths(verilog_path, json_path=None) -> tuple[Path, Path]:
    """The Verilog and sidecar paths (default sidecar: the Verilog path with
    suffix ``.json``); ``ValueError`` if they are the same file."""
    vpath = Path(verilog_path)
    jpath = Path(json_path) if json_path is not None else vpath.with_suffix(".json")
    if vpath.resolve() == jpath.resolve():
        raise ValueError(f"the Verilog and sidecar paths must differ, not both {str(vpath)!r}")
    return vpath, jpath


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


def write_files(files: dict) -> tuple[Path, ...]:
    """Write every ``{path: text}`` of ``files`` (folders made as needed), each
    through a temporary file renamed into place, so no file is ever left half
    written. The caller generates every text first, so a refused design
    writes nothing. Returns the paths, in order."""
    for path, content in files.items():
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(content)
        os.replace(tmp, path)
    return tuple(Path(p) for p in files)


def core_head(fmt: str, version: int, name: str, verilog_file, params: dict, signature,
              streams: dict) -> dict:
    """The first entries of a network or CNN core's sidecar: format, module,
    Verilog file, parameters, clock and reset, ports (checked against the
    module ``name``) and streams."""
    port_list = ports(signature)
    check_module_name(name, port_list)
    return {"format": fmt, "version": version, "module": name, "verilog": verilog_file,
            "parameters": params, "clock": {"port": "clk", "edge": "rising"},
            "reset": {"port": "rst", "active": "high", "synchronous": True},
            "ports": port_list, "streams": streams}


def codebook_entry(cb) -> dict:
    """A sidecar's ``codebook``: the code and the ternary vector of every code value."""
    return {"variant": cb.variant, "assignment": cb.assignment, "bits": cb.bits, "n": cb.n,
            "k": cb.k, "zero_code": cb.zero_code, "vectors": cb.vector_list()}


def logits_protocol(classes: int, out_width: int) -> str:
    """The ``o`` stream's protocol text of a network or CNN core."""
    return (f"{classes} logits (raw last-layer accumulators, sign-extended to {out_width} "
            "bits) in order, then the arg-max class index (lowest index on ties) with last = 1")


def write_core(vpath: Path, jpath: Path, side: dict, verilog_text: str, *,
               spram_model: bool) -> tuple[Path, ...]:
    """Write a core's Verilog and sidecar, and with ``spram_model`` also
    ``<stem>_sim.v``, a behavioural SB_SPRAM256KA for Verilog simulators (not
    for synthesis), listed in the sidecar's ``simulation_models``."""
    from sst_hw.core.spram import SB_SPRAM256KA_SIM
    files = {vpath: verilog_text}
    if spram_model:
        spath = vpath.with_name(vpath.stem + "_sim.v")
        side["simulation_models"] = [os.path.relpath(spath, jpath.parent)]
        files[spath] = SB_SPRAM256KA_SIM
    files[jpath] = dumps_sidecar(side)
    return write_files(files)
