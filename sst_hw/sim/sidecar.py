"""Read a generated core's JSON sidecar and pack/unpack its stream payloads.

Pure Python and NumPy: no Amaranth, no cocotb. A testbench that knows only
the sidecar (see :mod:`sst_hw.rtl.emit` for the schema) drives the Verilog
with :class:`PayloadCodec` and computes expected values from
:attr:`Sidecar.vectors`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

__all__ = ["FieldCodec", "PayloadCodec", "Sidecar"]


def _flatten(value, shape, name):
    if not shape:
        if isinstance(value, (list, tuple, np.ndarray)) and np.ndim(value) != 0:
            raise ValueError(f"field {name!r} is a scalar, not {value!r}")
        return [int(value)]
    arr = np.asarray(value, dtype=object)
    if list(arr.shape) != list(shape):
        raise ValueError(f"field {name!r} must have shape {list(shape)}, not {list(arr.shape)}")
    return [int(v) for v in arr.reshape(-1)]


class FieldCodec:
    """One payload field: ``offset``, ``width``, ``shape`` and element format."""

    def __init__(self, name: str, info: dict):
        self.name = name
        self.offset = int(info["offset"])
        self.width = int(info["width"])
        self.shape = [int(d) for d in info.get("shape", [])]
        elem = info.get("element", {"width": self.width, "signed": False})
        self.elem_width = int(elem["width"])
        self.signed = bool(elem["signed"])
        count = int(np.prod(self.shape)) if self.shape else 1
        if count * self.elem_width != self.width:
            raise ValueError(f"field {name!r}: {count} elements of {self.elem_width} bits "
                             f"do not make {self.width} bits")
        self.count = count
        if self.signed:
            self.lo, self.hi = -(1 << (self.elem_width - 1)), (1 << (self.elem_width - 1)) - 1
        else:
            self.lo, self.hi = 0, (1 << self.elem_width) - 1

    def pack(self, value) -> int:
        """The field's bits, shifted to its offset, from a (nested) value."""
        out = 0
        mask = (1 << self.elem_width) - 1
        for i, v in enumerate(_flatten(value, self.shape, self.name)):
            if not self.lo <= v <= self.hi:
                raise ValueError(f"field {self.name!r} element {v} is outside "
                                 f"{self.lo}..{self.hi}")
            out |= (v & mask) << (self.offset + i * self.elem_width)
        return out

    def unpack(self, payload: int):
        """The field's value (int, or nested lists of ints) from a whole payload."""
        mask = (1 << self.elem_width) - 1
        vals = []
        for i in range(self.count):
            v = (payload >> (self.offset + i * self.elem_width)) & mask
            if self.signed and v >> (self.elem_width - 1):
                v -= 1 << self.elem_width
            vals.append(v)
        if not self.shape:
            return vals[0]
        return np.array(vals, dtype=object).reshape(self.shape).tolist()


class PayloadCodec:
    """All fields of one stream's payload (``sidecar["streams"][name]``)."""

    def __init__(self, info: dict):
        self.width = int(info["width"])
        self.valid = info["valid"]
        self.ready = info["ready"]
        self.payload = info["payload"]
        self.fields = {name: FieldCodec(name, f) for name, f in info["fields"].items()}
        used = 0
        for f in self.fields.values():
            bits = ((1 << f.width) - 1) << f.offset
            if used & bits or f.offset + f.width > self.width:
                raise ValueError(f"field {f.name!r} overlaps another or leaves the payload")
            used |= bits

    def pack(self, **values) -> int:
        """A payload integer from every field's value."""
        missing = set(self.fields) - set(values)
        extra = set(values) - set(self.fields)
        if missing or extra:
            raise ValueError(f"payload fields are {sorted(self.fields)}; "
                             f"missing {sorted(missing)}, unknown {sorted(extra)}")
        out = 0
        for name, v in values.items():
            out |= self.fields[name].pack(v)
        return out

    def unpack(self, payload: int) -> dict:
        """Every field's value from a payload integer."""
        return {name: f.unpack(int(payload)) for name, f in self.fields.items()}


class Sidecar:
    """A loaded sidecar: module, ports, stream codecs, latency and codebook.

    Attributes
    ----------
    data : dict
        The raw JSON.
    streams : dict of PayloadCodec
    vectors : int64 array (2^B, N)
        Ternary vector of each code value (zeros where unused).
    used : bool array (2^B,)
    """

    def __init__(self, data: dict, path: Path | None = None):
        self.data = data
        self.path = path
        self.module = data["module"]
        self.params = data["parameters"]
        self.latency = int(data["latency"]["cycles"])
        self.clock = data["clock"]["port"]
        self.reset = data["reset"]["port"]
        self.reset_active_high = data["reset"].get("active", "high") == "high"
        self.streams = {name: PayloadCodec(info) for name, info in data["streams"].items()}
        cb = data["codebook"]
        self.code_bits = int(cb["bits"])
        vecs = cb["vectors"]
        if len(vecs) != 1 << self.code_bits:
            raise ValueError(f"codebook lists {len(vecs)} vectors, not 2^{self.code_bits}")
        self.used = np.array([v is not None for v in vecs])
        n = len(next(v for v in vecs if v is not None))
        self.vectors = np.array([v if v is not None else [0] * n for v in vecs], np.int64)
        self.n = n
        zero = np.flatnonzero(self.used & ~self.vectors.any(axis=1))
        if len(zero) == 0:
            raise ValueError("the codebook has no code for the zero vector")
        self.zero_code = int(cb.get("zero_code", zero[0]))
        if not (self.used[self.zero_code] and not self.vectors[self.zero_code].any()):
            raise ValueError(f"zero_code {self.zero_code} does not decode to the zero vector")

    @classmethod
    def load(cls, path) -> "Sidecar":
        path = Path(path)
        return cls(json.loads(path.read_text()), path)

    @property
    def verilog_path(self) -> Path | None:
        """The Verilog file named by the sidecar, relative to its folder."""
        if self.path is None or not self.data.get("verilog"):
            return None
        return (self.path.parent / self.data["verilog"]).resolve()
