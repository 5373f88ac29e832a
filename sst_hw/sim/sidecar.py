"""Read a generated core's JSON sidecar and pack/unpack its stream payloads.

Pure Python and NumPy: no Amaranth, no cocotb. A testbench that knows only
the sidecar (see :mod:`sst_hw.emit.engine` for the schema) drives the Verilog
with :class:`PayloadCodec` and computes expected values from the weights
that :meth:`Sidecar.decode` reads out of each code word.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

__all__ = ["FieldCodec", "PayloadCodec", "ImagePort", "Sidecar"]


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


class ImagePort:
    """The ``image`` port of a loadable network core (``sidecar["image"]``).

    Attributes
    ----------
    ports : dict
        Verilog port of each member (``sel``, ``addr``, ``wdata``, ``we``,
        ``re``, ``rdata``, ``use_loaded``).
    widths : dict
        Bits of each member.
    read_latency : int
    memories : dict
        ``{"code": {"sel", "words", "word_bits"}, "table": {...}}`` (``table``
        only when the core has hidden layers).
    bitstream_model : bool
        ``use_loaded`` 0 runs the bitstream's model (block RAM builds).
    topology_id : int
    """

    MEMBERS = ("sel", "addr", "wdata", "we", "re", "rdata", "use_loaded")

    def __init__(self, info: dict):
        self.ports = {name: info[name] for name in self.MEMBERS}
        self.widths = {name: int(info["widths"][name]) for name in self.MEMBERS}
        self.read_latency = int(info.get("read_latency", 1))
        self.memories = {name: {k: int(v) for k, v in mem.items()}
                         for name, mem in info["memories"].items()}
        self.bitstream_model = bool(info.get("bitstream_model", False))
        self.topology_id = info.get("topology_id")

    def check_image(self, code, table=()) -> None:
        """A ``ValueError`` unless ``code`` and ``table`` are whole images of
        this port's memories (counts and widths)."""
        for name, words in (("code", code), ("table", table)):
            mem = self.memories.get(name, {"words": 0, "word_bits": 0})
            words = [int(w) for w in words]
            if len(words) != mem["words"]:
                raise ValueError(f"the {name} image has {len(words)} words; the core's "
                                 f"{name} memory takes {mem['words']}")
            bad = [w for w in words if not 0 <= w < 1 << mem["word_bits"]]
            if bad:
                raise ValueError(f"{name} word {bad[0]:#x} is wider than {mem['word_bits']} "
                                 f"bits")


class Sidecar:
    """A loaded sidecar: module, ports, stream codecs, latency and weight format.

    Works for the three engine kinds (the ``weights`` section's ``kind``):
    ``"sst"`` (codebook table; sidecars written before the ``weights``
    section existed are SST), ``"int8"`` and ``"ternary2"`` (dense: each
    weight a field of ``bits_per_weight`` bits of the code word).

    Attributes
    ----------
    data : dict
        The raw JSON.
    streams : dict of PayloadCodec
    image : ImagePort or None
        The ``image`` port of a loadable network core.
    kind : str
        ``"sst"``, ``"int8"`` or ``"ternary2"``.
    weights : dict
        The ``weights`` section.
    n, code_bits, zero_code : int
        Weights per code word, bits per code word, the zero subvector's code.
    weight_range : (int, int)
        Inclusive range of one weight.
    bits_per_weight : int, dense kinds only
        ``b``: weight ``j`` is the field at bits ``[j*b, (j+1)*b)`` of a code.
    vectors : int64 array (2^B, N), SST only (``None`` for dense kinds)
        Ternary vector of each code value (zeros where unused).
    used : bool array (2^B,), SST only (``None`` for dense kinds)
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
        self.image = ImagePort(data["image"]) if data.get("image") else None
        self.weights = dict(data.get("weights") or {"kind": "sst"})
        self.kind = self.weights["kind"]
        self.vectors = self.used = None
        if self.kind == "sst":
            self._load_codebook(data["codebook"])
            self.weight_range = (-1, 1)
        else:
            self._load_dense(self.weights)

    def _load_codebook(self, cb: dict):
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

    def _load_dense(self, w: dict):
        if self.kind not in ("int8", "ternary2"):
            raise ValueError(f"unknown weight kind {self.kind!r} (sst, int8 or ternary2)")
        self.n = int(w["n"])
        self.bits_per_weight = int(w["bits_per_weight"])
        self.code_bits = int(w.get("code_bits", self.n * self.bits_per_weight))
        if self.code_bits != self.n * self.bits_per_weight:
            raise ValueError(f"code_bits {self.code_bits} != n {self.n} x bits_per_weight "
                             f"{self.bits_per_weight}")
        self.zero_code = int(w.get("zero_code", 0))
        b = self.bits_per_weight
        if "decode" in w:
            self._field_values = [int(v) for v in w["decode"]]
            if len(self._field_values) != 1 << b:
                raise ValueError(f"decode lists {len(self._field_values)} values, not 2^{b}")
            if "encoding" in w:
                self._field_of = {int(k): int(v) for k, v in w["encoding"].items()}
            else:   # the lowest field value of each weight
                self._field_of = {v: f for f, v in reversed(list(enumerate(self._field_values)))}
        elif w.get("signed", True):
            self._field_values = [v - (1 << b) if v >> (b - 1) else v for v in range(1 << b)]
            self._field_of = None
        else:
            self._field_values = list(range(1 << b))
            self._field_of = None
        self.weight_range = (min(self._field_values), max(self._field_values))
        if any(self.decode(self.zero_code)):
            raise ValueError(f"zero_code {self.zero_code} does not decode to the zero vector")

    def decode(self, code: int) -> list:
        """The N integer weights of code word ``code``."""
        code = int(code)
        if not 0 <= code < 1 << self.code_bits:
            raise ValueError(f"code {code} is outside 0..2^{self.code_bits}-1")
        if self.kind == "sst":
            if not self.used[code]:
                raise ValueError(f"code {code} is not a codebook member")
            return [int(v) for v in self.vectors[code]]
        b = self.bits_per_weight
        mask = (1 << b) - 1
        return [self._field_values[(code >> (j * b)) & mask] for j in range(self.n)]

    def encode(self, weights) -> int:
        """The code word of N integer ``weights`` (for SST, the first code whose
        vector they are); a ``ValueError`` if there is none."""
        weights = [int(v) for v in weights]
        if len(weights) != self.n:
            raise ValueError(f"a code word holds {self.n} weights, not {len(weights)}")
        if self.kind == "sst":
            hit = np.flatnonzero(self.used & (self.vectors == weights).all(axis=1))
            if not len(hit):
                raise ValueError(f"{weights} is not in the codebook")
            return int(hit[0])
        lo, hi = self.weight_range
        code = 0
        for j, v in enumerate(weights):
            if not lo <= v <= hi:
                raise ValueError(f"weight {v} is outside {lo}..{hi}")
            field = (self._field_of[v] if self._field_of is not None
                     else v & ((1 << self.bits_per_weight) - 1))
            code |= field << (j * self.bits_per_weight)
        return code

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
