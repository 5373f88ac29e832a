"""Portable C99 of a whole model: the embedded-CPU path (``sst-hw export-c``).

:func:`generate_c` turns a golden :class:`~sst_hw.format.golden.Network` (an
MLP) or :class:`~sst_hw.format.convnet.ConvNetwork` (conv2d, max-pool,
flatten, dense) into one header and one source file that compute exactly
what the golden model computes, bit for bit, with nothing but ``<stdint.h>``:
no dynamic allocation, no floating point, no library call. The library
exports one function,

.. code-block:: c

    int NAME_infer(const uint8_t *input, int32_t *logits);

(the input type follows the model's input format, ``int8_t`` for signed 8-bit
inputs, wider types for wider ones; the logits are ``int64_t`` when the last
layer's accumulator needs more than 32 bits). It writes the logits and
returns the arg-max class, the lowest index on ties, or -1 when an input
value lies outside the model's input range (the golden model refuses those
too; the check is only emitted where the C type can hold such a value).

Two weight forms (``weights``):

``sst``
    The model's code words, verbatim, as ``const`` arrays (they stay in flash
    on a microcontroller), one byte per code up to 8 bits, two up to 16, and
    a decode table per codebook: for every code value its ``K`` slots as
    indices into a *sign-expanded block*. Before a layer runs, its input is
    copied into a workspace where subvector ``j`` takes ``2N+1`` entries: its
    ``N`` activations, their ``N`` negations, then a zero. A slot holding
    ``+1`` at position ``p`` indexes ``p``, ``-1`` indexes ``N + p``, and an
    empty slot the zero, so the dot product is ``K`` table look-ups and ``K``
    additions per subvector: no multiply, no branch, no sign test. The copy
    costs two stores per input value, against ``K/N`` additions per weight.
``int8``
    The dense baseline: the same network with its ternary weights decoded
    and stored as a dense ``int8_t`` matrix (one byte per weight), and a
    classic multiply-accumulate loop over every weight. Its arithmetic is
    otherwise the same, so its logits and classes equal the golden model's
    too: it measures what a plain int8 kernel costs in speed and flash for
    the same network, not the accuracy of an int8 re-quantization (the model
    file's float ``alpha``/``bias`` are never read).

Arithmetic (docs/architecture.md, "Integer arithmetic"), per layer:

* accumulators are ``int32_t`` where :func:`arith.acc_width
  <sst_hw.format.arith.acc_width>` is at most 32 bits, ``int64_t`` above
  (the worst case bounds every partial sum, so neither wraps);
* the requantization ``acc * M + C`` runs in ``int32_t`` where
  :func:`arith.requant_width <sst_hw.format.arith.requant_width>` is at most
  32 bits (and the shift below 32), else in ``int64_t``; multiplier-free
  (shift-mode) layers have no multiply at all;
* the shift is a floor division by ``2^S`` written portably as
  ``v >= 0 ? v >> S : ~(~v >> S)``: ``>>`` only ever sees a non-negative
  value (C leaves ``>>`` of a negative number implementation-defined), and
  ``~v = -v - 1`` holds for the exact-width types, which C99 makes two's
  complement. Compilers turn the expression into one arithmetic shift;
* the clamp to the layer's output range, then the smallest C type that
  holds that range (``uint8_t`` for 8-bit ReLU outputs).

Convolutions are the dense rule over im2col patches (:mod:`sst_hw.format.conv`):
channels-last ``(H, W, C)`` tensors, one patch per output pixel in
``(ky, kx, c)`` order, channel fastest, zero padding; max-pool (2 or 3,
stride 2) compares the integer activations; flatten is the HWC order the
buffers already have.

State lives in ``static`` buffers (activations, the sign-expanded workspace,
the int8 patch), so ``NAME_infer`` is not reentrant. Every other name in the
source is ``static``: two models with different ``name`` link together.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sst_hw.format import arith
from sst_hw.format.codebook import Codebook
from sst_hw.format.conv import Conv2D, MaxPool
from sst_hw.format.convnet import ConvNetwork, kind_of
from sst_hw.format.golden import Layer, Network

__all__ = ["MAX_TABLE_ENTRIES", "WEIGHT_KINDS", "CModel", "c_file_names", "check_c_name",
           "driver_source", "generate_c", "write_c"]

#: ``weights`` choices: the SST codes with their decode table, or dense int8.
WEIGHT_KINDS = ("sst", "int8")
#: Largest decode table emitted (code values); wider codebooks are refused.
MAX_TABLE_ENTRIES = 1 << 16

_IDENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_C_KEYWORDS = frozenset(
    "auto break case char const continue default do double else enum extern float for goto "
    "if inline int long register restrict return short signed sizeof static struct switch "
    "typedef union unsigned void volatile while _Bool _Complex _Imaginary".split())

#: C integer types: name, short member name, signed, bits.
_TYPES = [("uint8_t", "u8", False, 8), ("int8_t", "i8", True, 8),
          ("uint16_t", "u16", False, 16), ("int16_t", "i16", True, 16),
          ("uint32_t", "u32", False, 32), ("int32_t", "i32", True, 32),
          ("int64_t", "i64", True, 64)]
_SIZEOF = {t[0]: t[3] // 8 for t in _TYPES}
_MEMBER = {t[0]: t[1] for t in _TYPES}


def _type_range(ctype: str) -> tuple[int, int]:
    for name, _m, signed, bits in _TYPES:
        if name == ctype:
            return ((-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed
                    else (0, (1 << bits) - 1))
    raise KeyError(ctype)


def _smallest(lo: int, hi: int, signed: bool | None = None) -> str:
    """Smallest C type holding ``lo..hi`` (unsigned when ``lo >= 0`` unless
    ``signed``)."""
    want_signed = lo < 0 if signed is None else signed
    for name, _m, s, _b in _TYPES:
        if s != want_signed:
            continue
        tlo, thi = _type_range(name)
        if tlo <= lo and hi <= thi:
            return name
    raise ValueError(f"no C type holds {lo}..{hi}")


def _wide(bits: int) -> str:
    """``int32_t`` for values of at most 32 bits, else ``int64_t``."""
    return "int32_t" if bits <= 32 else "int64_t"


def check_c_name(name) -> str:
    """``name`` if it is a usable prefix of C identifiers (a letter, then
    letters, digits, ``_``; not a C keyword; at most 40 characters), else a
    ``ValueError`` naming the rule."""
    if not isinstance(name, str) or not _IDENT.match(name) or len(name) > 40:
        raise ValueError(f"--name must be a C identifier prefix ([A-Za-z][A-Za-z0-9_]*, at "
                         f"most 40 characters), not {name!r}")
    if name in _C_KEYWORDS:
        raise ValueError(f"--name {name!r} is a C keyword")
    return name


def c_file_names(name: str) -> tuple[str, str]:
    """The header and source file names of model ``name``."""
    return f"{name}_model.h", f"{name}_model.c"


# -- the model as a list of steps ------------------------------------------------------------

@dataclass
class _Step:
    kind: str                      # dense / conv2d / maxpool / flatten
    index: int                     # layer index in the model
    obj: object                    # the layer object
    in_lo: int                     # input activation range
    in_hi: int
    in_type: str                   # C type of the input activations
    out_type: str | None = None    # C type of the outputs (None: logits)
    last: bool = False
    src: str = "input"             # buffer read: input / a / b
    dst: str = "a"                 # buffer written: a / b / logits


def _steps(network) -> tuple[list[_Step], tuple, int, bool]:
    """The model's layers as steps, with input/output types; also the input
    shape (None for an MLP), the input width and signedness."""
    if isinstance(network, Network):
        layers, shape = list(network.layers), None
    elif isinstance(network, ConvNetwork):
        layers, shape = list(network.layers), tuple(network.input_shape)
    else:
        raise TypeError(f"network must be a Network or ConvNetwork, not "
                        f"{type(network).__name__}")
    lo, hi = arith.act_range(network.input_width, network.input_signed)
    steps = []
    last = len(layers) - 1
    for i, layer in enumerate(layers):
        kind = kind_of(layer)
        st = _Step(kind, i, layer, lo, hi, _smallest(lo, hi))
        if kind in ("dense", "conv2d"):
            g = layer if kind == "dense" else layer.layer
            if i == last:
                st.last = True
            else:
                lo, hi = g.out_range
                st.out_type = _smallest(lo, hi)
        else:
            st.out_type = st.in_type
        steps.append(st)
    return steps, shape, network.input_width, network.input_signed


# -- text helpers --------------------------------------------------------------------------

def _array(ctype: str, name: str, values, per_line: int = 24) -> str:
    vals = [str(int(v)) for v in np.asarray(values).reshape(-1).tolist()]
    lines = [", ".join(vals[i:i + per_line]) for i in range(0, len(vals), per_line)]
    body = ",\n    ".join(lines)
    return f"static const {ctype} {name}[{len(vals)}] = {{\n    {body}\n}};\n"


def _floor_shift(var: str, shift: int) -> str:
    if shift == 0:
        return ""
    return f"        {var} = {var} >= 0 ? {var} >> {shift} : ~(~{var} >> {shift});\n"


def _clamp(var: str, rq_type: str, lo: int, hi: int) -> str:
    """Clamp statements for ``var`` of ``rq_type``, leaving out comparisons
    the type makes always true (which -Wtype-limits reports)."""
    tlo, thi = _type_range(rq_type)
    out = ""
    if lo > tlo:
        out += f"        if ({var} < {lo}) {var} = {lo};\n"
    if hi < thi:
        out += f"        if ({var} > {hi}) {var} = {hi};\n"
    return out


@dataclass
class _Buffers:
    """Elements of each C type each static buffer must hold."""

    sizes: dict = field(default_factory=dict)   # buffer -> {ctype: elements}

    def need(self, buf: str, ctype: str, elements: int):
        d = self.sizes.setdefault(buf, {})
        d[ctype] = max(d.get(ctype, 0), int(elements))

    def bytes(self, buf: str) -> int:
        return max((_SIZEOF[t] * n for t, n in self.sizes.get(buf, {}).items()), default=0)

    def declare(self, buf: str, cname: str, what: str) -> str:
        members = self.sizes.get(buf)
        if not members:
            return ""
        body = " ".join(f"{t} {_MEMBER[t]}[{n}];" for t, n in sorted(members.items()))
        return f"/* {what}: {self.bytes(buf)} bytes */\nstatic union {{ {body} }} {cname};\n"


def _ref(buf: str, ctype: str) -> str:
    """C expression of buffer ``buf`` seen as ``ctype`` elements."""
    if buf == "input":
        return "input"
    if buf == "logits":
        return "logits"
    return f"act_{buf}.{_MEMBER[ctype]}"


# -- the generator -------------------------------------------------------------------------

@dataclass
class CModel:
    """The generated library: file names and texts, and its figures.

    ``summary`` is JSON-ready: the name, weight kind, input and logit types,
    the bytes of the weights (codes and decode tables, or dense int8), of
    the requantization constants, and of the static RAM buffers.
    """

    name: str
    weights: str
    header_name: str
    source_name: str
    header: str
    source: str
    input_type: str
    logit_type: str
    in_features: int
    classes: int
    summary: dict

    def files(self, folder) -> dict:
        folder = Path(folder)
        return {folder / self.header_name: self.header, folder / self.source_name: self.source}


class _Gen:
    def __init__(self, network, name: str, weights: str):
        self.name = check_c_name(name)
        if weights not in WEIGHT_KINDS:
            raise ValueError(f"--weights must be one of {', '.join(WEIGHT_KINDS)}, "
                             f"not {weights!r}")
        self.weights = weights
        self.network = network
        self.steps, self.shape, self.in_width, self.in_signed = _steps(network)
        self.acc_widths = network.acc_widths()
        self.tables: dict = {}           # Codebook -> table name
        self.buffers = _Buffers()
        self.parts: list[str] = []       # arrays and layer functions
        self.calls: list[str] = []       # statements of NAME_infer
        self.weight_bytes = 0
        self.table_bytes = 0
        self.const_bytes = 0
        self.layers_info: list[dict] = []

    # -- checks, before any text --------------------------------------------------------

    def check(self):
        for st in self.steps:
            if st.kind not in ("dense", "conv2d"):
                continue
            g = st.obj if st.kind == "dense" else st.obj.layer
            if self.weights == "sst":
                cb = g.codebook
                entries = cb.size if cb.assignment == "enum" else cb.table_size
                if entries > MAX_TABLE_ENTRIES:
                    raise ValueError(
                        f"layer {st.index} ({st.kind}): the decode table of "
                        f"{cb.describe_short()} would have {entries} entries; export-c "
                        f"emits tables of at most {MAX_TABLE_ENTRIES} (use --weights int8)")

    # -- shared pieces ----------------------------------------------------------------------

    def _table(self, cb: Codebook) -> str:
        """Name of the decode table of ``cb`` (emitted once): for each code
        value its K slots as indices into a sign-expanded block of 2N+1."""
        if cb in self.tables:
            return self.tables[cb]
        name = f"dec{len(self.tables)}"
        self.tables[cb] = name
        entries = cb.size if cb.assignment == "enum" else cb.table_size
        pos, neg, valid, _used = cb.decode_slots(np.arange(entries, dtype=np.int64))
        idx = np.where(valid, pos + cb.n * neg, 2 * cb.n).astype(np.int64)
        self.table_bytes += idx.size
        text = (f"/* Decode table of {cb.describe_short()}: for each of the {entries} code "
                f"values its {cb.k} slot(s),\n   as indices into a sign-expanded block "
                f"(0..{cb.n - 1}: +x[p], {cb.n}..{2 * cb.n - 1}: -x[p - {cb.n}], "
                f"{2 * cb.n}: zero). */\n")
        # Eight entries per line.
        rows = ["{" + ", ".join(str(int(v)) for v in row) + "}" for row in idx]
        lines = [", ".join(rows[i:i + 8]) for i in range(0, len(rows), 8)]
        text += (f"static const uint8_t {name}[{entries}][{cb.k}] = {{\n    "
                 + ",\n    ".join(lines) + "\n};\n")
        self.parts.append(text)
        return name

    def _requant_consts(self, pre: str, g: Layer, acc_w: int):
        """Arrays of M and C (none of M in shift mode); the rq type and text."""
        rw = arith.requant_width(acc_w)
        rq = _wide(rw) if g.shift <= 31 else "int64_t"
        text = ""
        if not g.shift_mode:
            text += _array("int16_t", f"{pre}_mult", g.mult)
            self.const_bytes += 2 * g.out_features
        text += _array(rq, f"{pre}_add", g.add)
        self.const_bytes += _SIZEOF[rq] * g.out_features
        return rq, text

    def _requant_stmt(self, pre: str, g: Layer, rq: str, out_type: str, dest: str) -> str:
        lo, hi = g.out_range
        if g.shift_mode:
            s = f"        {rq} v = ({rq})acc + {pre}_add[r];\n"
        else:
            s = f"        {rq} v = ({rq})acc * {pre}_mult[r] + {pre}_add[r];\n"
        s += _floor_shift("v", g.shift)
        s += _clamp("v", rq, lo, hi)
        s += f"        {dest} = ({out_type})v;\n"
        return s

    def _dot_sst(self, g: Layer, acc: str, ws: str) -> str:
        """The SST dot product of row ``r`` over the sign-expanded ``xe``."""
        cb = g.codebook
        stride = 2 * cb.n + 1
        tab = self._table(cb)
        if cb.k <= 8:
            body = "".join(f"            acc += xb[d[{s}]];\n" for s in range(cb.k))
        else:
            body = f"            for (s = 0; s < {cb.k}; ++s) acc += xb[d[s]];\n"
        return (f"        {acc} acc = 0;\n"
                f"        const {ws} *xb = xe;\n"
                f"        for (j = 0; j < {g.subvectors}; ++j, xb += {stride}) {{\n"
                f"            const uint8_t *d = {tab}[*c++];\n"
                f"{body}"
                f"        }}\n")

    def _dot_int8(self, g: Layer, acc: str, x: str) -> str:
        return (f"        {acc} acc = 0;\n"
                f"        for (j = 0; j < {g.in_features}; ++j)\n"
                f"            acc += ({acc})w[j] * ({acc}){x}[j];\n"
                f"        w += {g.in_features};\n")

    @staticmethod
    def _codes_type(g: Layer) -> str:
        b = g.codebook.bits
        return "uint8_t" if b <= 8 else "uint16_t" if b <= 16 else "uint32_t"

    @staticmethod
    def _ws_type(st: _Step) -> str:
        """Element type of the sign-expanded workspace: holds +-every input."""
        m = max(-st.in_lo, st.in_hi)
        return _smallest(-m, m, signed=True)

    def _codes(self, pre: str, g: Layer) -> str:
        cb = g.codebook
        ctype = self._codes_type(g)
        self.weight_bytes += _SIZEOF[ctype] * g.codes.size
        return (f"/* {g.out_features} rows x {g.subvectors} codes of {cb.bits} bits "
                f"({cb.describe_short()}) */\n" + _array(ctype, f"{pre}_codes", g.codes))

    def _weights(self, pre: str, g: Layer) -> str:
        return self._codes(pre, g) if self.weights == "sst" else self._dense_weights(pre, g)

    def _dense_weights(self, pre: str, g: Layer) -> str:
        w = g.codebook.decode(g.codes).reshape(g.out_features, g.subvectors * g.codebook.n)
        w = w[:, :g.in_features]
        self.weight_bytes += w.size
        return (f"/* {g.out_features} x {g.in_features} dense int8 weights (the decoded "
                f"ternary weights) */\n" + _array("int8_t", f"{pre}_w", w, per_line=32))

    def _expand(self, g: Layer, ws: str, src_type: str) -> str:
        """Copy a vector of ``g.in_features`` activations into the workspace:
        block b = x[bN..bN+N-1], their negations, zero."""
        n = g.codebook.n
        stride = 2 * n + 1
        full, rem = divmod(g.in_features, n)
        s = (f"    {{\n        const {src_type} *px = x;\n"
             f"        {ws} *e = xe;\n"
             f"        for (j = 0; j < {full}; ++j, e += {stride}, px += {n}) {{\n"
             f"            for (s = 0; s < {n}; ++s) {{\n"
             f"                e[s] = ({ws})px[s];\n"
             f"                e[{n} + s] = ({ws})-({ws})px[s];\n"
             f"            }}\n"
             f"            e[{2 * n}] = 0;\n"
             f"        }}\n")
        if rem:
            s += (f"        for (s = 0; s < {n}; ++s) {{\n"
                  f"            {ws} v = s < {rem} ? ({ws})px[s] : 0;\n"
                  f"            e[s] = v;\n"
                  f"            e[{n} + s] = ({ws})-v;\n"
                  f"        }}\n"
                  f"        e[{2 * n}] = 0;\n")
        s += "    }\n"
        return s

    # -- layers ---------------------------------------------------------------------------

    def dense(self, st: _Step):
        g: Layer = st.obj
        pre = f"l{st.index}"
        acc_w = self.acc_widths[st.index]
        acc = _wide(acc_w)
        out_type = self.logit_type if st.last else st.out_type
        dest = "logits[r]" if st.last else "y[r]"
        text = (f"/* -- layer {st.index}: dense {g.in_features} -> {g.out_features}, "
                f"{acc_w}-bit accumulator ({acc}) -- */\n")
        info = {"index": st.index, "kind": "dense", "in": g.in_features, "out": g.out_features,
                "acc_width": acc_w, "acc_type": acc}
        text += self._weights(pre, g)
        rq = None
        if not st.last:
            rq, t = self._requant_consts(pre, g, acc_w)
            text += t
            info.update(requant_width=arith.requant_width(acc_w), requant_type=rq,
                        shift=g.shift, shift_mode=g.shift_mode)
        yparam = f"{out_type} *y" if not st.last else f"{out_type} *logits"
        text += f"static void layer{st.index}(const {st.in_type} *x, {yparam})\n{{\n"
        text += "    int r, j;\n"
        if self.weights == "sst":
            n = g.codebook.n
            ws = self._ws_type(st)
            self.buffers.need("ws", ws, g.subvectors * (2 * n + 1))
            text += f"    int s;\n    {ws} *xe = ws.{_MEMBER[ws]};\n"
            text += f"    const {self._codes_type(g)} *c = {pre}_codes;\n"
            text += self._expand(g, ws, st.in_type)
            text += f"    for (r = 0; r < {g.out_features}; ++r) {{\n"
            text += self._dot_sst(g, acc, ws)
        else:
            text += f"    const int8_t *w = {pre}_w;\n"
            text += f"    for (r = 0; r < {g.out_features}; ++r) {{\n"
            text += self._dot_int8(g, acc, "x")
        if st.last:
            text += f"        {dest} = acc;\n"
        else:
            text += self._requant_stmt(pre, g, rq, out_type, dest)
        text += "    }\n}\n"
        self.parts.append(text)
        self.layers_info.append(info)
        self._call(st)

    def conv(self, st: _Step):
        cv: Conv2D = st.obj
        g = cv.layer
        pre = f"l{st.index}"
        acc_w = self.acc_widths[st.index]
        acc = _wide(acc_w)
        h, w, c = cv.in_shape
        ho, wo, cout = cv.out_shape
        ph, pw = cv.pad
        stv = cv.stride
        text = (f"/* -- layer {st.index}: conv2d {cv.kh}x{cv.kw} stride {stv} pad ({ph}, {pw}),"
                f" {h}x{w}x{c} -> {ho}x{wo}x{cout}, rows of {g.in_features}, {acc_w}-bit "
                f"accumulator ({acc}) -- */\n")
        info = {"index": st.index, "kind": "conv2d", "in": list(cv.in_shape),
                "out": list(cv.out_shape), "acc_width": acc_w, "acc_type": acc}
        text += self._weights(pre, g)
        rq, t = self._requant_consts(pre, g, acc_w)
        text += t
        info.update(requant_width=arith.requant_width(acc_w), requant_type=rq, shift=g.shift,
                    shift_mode=g.shift_mode)
        out_type = st.out_type
        text += f"static void layer{st.index}(const {st.in_type} *x, {out_type} *y)\n{{\n"
        text += "    int oy, ox, ky, kx, ch, r, j;\n"
        if self.weights == "sst" and g.codebook.k > 8:
            text += "    int s;\n"
        n = g.codebook.n
        stride = 2 * n + 1
        if self.weights == "sst":
            ws = self._ws_type(st)
            self.buffers.need("ws", ws, g.subvectors * stride)
            text += f"    {ws} *xe = ws.{_MEMBER[ws]};\n"
            full, rem = divmod(g.in_features, n)
            # Sentinels and the padding of the last block: once per layer.
            text += (f"    for (j = 0; j < {g.subvectors}; ++j) xe[j * {stride} + {2 * n}] = 0;\n")
            if rem:
                text += (f"    for (j = {rem}; j < {n}; ++j) {{\n"
                         f"        xe[{full * stride} + j] = 0;\n"
                         f"        xe[{full * stride + n} + j] = 0;\n    }}\n")
            patch_t = ws
        else:
            patch_t = st.in_type
            self.buffers.need("patch", patch_t, g.in_features)
            text += f"    {patch_t} *pt = patch.{_MEMBER[patch_t]};\n"
        text += (f"    for (oy = 0; oy < {ho}; ++oy)\n"
                 f"    for (ox = 0; ox < {wo}; ++ox) {{\n"
                 f"        {out_type} *yp = y + (oy * {wo} + ox) * {cout};\n")
        if self.weights == "sst":
            text += f"        {ws} *e = xe;\n        int o = 0;\n"
        else:
            text += f"        {patch_t} *e = pt;\n"
        text += (f"        for (ky = 0; ky < {cv.kh}; ++ky) {{\n"
                 f"            int iy = {_lin('oy', stv, ph, 'ky')};\n"
                 f"            for (kx = 0; kx < {cv.kw}; ++kx) {{\n"
                 f"                int ix = {_lin('ox', stv, pw, 'kx')};\n")
        if ph or pw:
            text += (f"                int inside = iy >= 0 && iy < {h} && ix >= 0 && ix < {w};\n"
                     f"                const {st.in_type} *px = inside ? x + (iy * {w} + ix) * {c}"
                     f" : x;\n")
            val = f"inside ? ({patch_t})px[ch] : 0"
        else:
            text += f"                const {st.in_type} *px = x + (iy * {w} + ix) * {c};\n"
            val = f"({patch_t})px[ch]"
        text += f"                for (ch = 0; ch < {c}; ++ch) {{\n"
        text += f"                    {patch_t} v = {val};\n"
        if self.weights == "sst":
            text += (f"                    e[o] = v;\n"
                     f"                    e[{n} + o] = ({ws})-v;\n"
                     f"                    if (++o == {n}) {{ o = 0; e += {stride}; }}\n")
        else:
            text += "                    *e++ = v;\n"
        text += "                }\n            }\n        }\n"
        if self.weights == "sst":
            text += f"        {{\n        const {self._codes_type(g)} *c = {pre}_codes;\n"
            text += f"        for (r = 0; r < {cout}; ++r) {{\n"
            text += _indent(self._dot_sst(g, acc, ws), 4)
        else:
            text += f"        {{\n        const int8_t *w = {pre}_w;\n"
            text += f"        for (r = 0; r < {cout}; ++r) {{\n"
            text += _indent(self._dot_int8(g, acc, "pt"), 4)
        text += _indent(self._requant_stmt(pre, g, rq, out_type, "yp[r]"), 4)
        text += "        }\n        }\n    }\n}\n"
        self.parts.append(text)
        self.layers_info.append(info)
        self._call(st)

    def pool(self, st: _Step):
        mp: MaxPool = st.obj
        h, w, c = mp.in_shape
        ho, wo, _ = mp.out_shape
        k, s = mp.kernel, mp.stride
        t = st.in_type
        text = (f"/* -- layer {st.index}: max-pool {k}x{k} stride {s}, {h}x{w}x{c} -> "
                f"{ho}x{wo}x{c} -- */\n"
                f"static void layer{st.index}(const {t} *x, {t} *y)\n{{\n"
                f"    int oy, ox, ch, dy, dx;\n"
                f"    for (oy = 0; oy < {ho}; ++oy)\n"
                f"    for (ox = 0; ox < {wo}; ++ox)\n"
                f"    for (ch = 0; ch < {c}; ++ch) {{\n"
                f"        const {t} *p = x + (oy * {s} * {w} + ox * {s}) * {c} + ch;\n"
                f"        {t} m = p[0];\n"
                f"        for (dy = 0; dy < {k}; ++dy)\n"
                f"            for (dx = 0; dx < {k}; ++dx) {{\n"
                f"                {t} v = p[(dy * {w} + dx) * {c}];\n"
                f"                if (v > m) m = v;\n"
                f"            }}\n"
                f"        y[(oy * {wo} + ox) * {c} + ch] = m;\n"
                f"    }}\n}}\n")
        self.parts.append(text)
        self.layers_info.append({"index": st.index, "kind": "maxpool", "in": list(mp.in_shape),
                                 "out": list(mp.out_shape)})
        self._call(st)

    def _call(self, st: _Step):
        src = _ref(st.src, st.in_type)
        dst = "logits" if st.last else _ref(st.dst, st.out_type)
        self.calls.append(f"    layer{st.index}({src}, {dst});\n")

    # -- buffers ----------------------------------------------------------------------------

    def assign_buffers(self):
        """Which static buffer every step reads and writes. An SST dense
        layer copies its input into the workspace first, so it may write
        over its own input; everything else ping-pongs between a and b."""
        cur = "input"
        for st in self.steps:
            st.src = cur
            if st.kind == "flatten":
                st.dst = cur
                continue
            if st.last:
                st.dst = "logits"
                continue
            if st.kind == "dense" and self.weights == "sst":
                st.dst = "a" if cur == "input" else cur
            else:
                st.dst = "b" if cur == "a" else "a"
            out_elems = (st.obj.out_features if st.kind == "dense"
                         else int(np.prod(st.obj.out_shape)))
            self.buffers.need(st.dst, st.out_type, out_elems)
            cur = st.dst

    # -- the whole file ---------------------------------------------------------------------

    def run(self) -> CModel:
        self.check()
        net = self.network
        last_w = self.acc_widths[-1]
        self.logit_type = _wide(last_w)
        self.assign_buffers()
        for st in self.steps:
            if st.kind == "dense":
                self.dense(st)
            elif st.kind == "conv2d":
                self.conv(st)
            elif st.kind == "maxpool":
                self.pool(st)
        in_type = self.steps[0].in_type
        in_lo, in_hi = arith.act_range(self.in_width, self.in_signed)
        tlo, thi = _type_range(in_type)
        in_features = (net.layers[0].in_features if self.shape is None
                       else int(np.prod(self.shape)))
        classes = net.classes
        up = self.name.upper()
        header_name, source_name = c_file_names(self.name)
        infer = f"{self.name}_infer"
        proto = f"int {infer}(const {in_type} *input, {self.logit_type} *logits)"
        cbs = sorted({(st.obj if st.kind == "dense" else st.obj.layer).codebook.describe_short()
                      for st in self.steps if st.kind in ("dense", "conv2d")})
        shape_txt = (f"{in_features} values" if self.shape is None
                     else f"{'x'.join(map(str, self.shape))} (H x W x C, channels last; "
                          f"{in_features} values in HWC order)")
        kind_txt = ("SST codes with per-codebook decode tables (add/subtract only)"
                    if self.weights == "sst" else
                    "dense int8 weights (the decoded ternary weights), multiply-accumulate")
        fmt = f"{self.in_width}-bit {'signed' if self.in_signed else 'unsigned'}"
        header = (
            f"/* {header_name}: generated by `sst-hw export-c` (sst-hw); do not edit.\n"
            f" *\n"
            f" * Model: {len(net.layers)} layers ({', '.join(st.kind for st in self.steps)}),"
            f" {', '.join(cbs)}\n"
            f" * Weights: {kind_txt}.\n"
            f" * Input: {shape_txt}, {fmt} ({in_lo}..{in_hi}).\n"
            f" * Bit-exact with the sst-hw golden model: same logits, same class.\n"
            f" */\n"
            f"#ifndef {up}_MODEL_H\n#define {up}_MODEL_H\n\n"
            f"#include <stdint.h>\n\n"
            f"#ifdef __cplusplus\nextern \"C\" {{\n#endif\n\n"
            f"#define {up}_IN_FEATURES {in_features}\n"
            f"#define {up}_CLASSES {classes}\n"
            f"#define {up}_INPUT_MIN ({in_lo})\n"
            f"#define {up}_INPUT_MAX ({in_hi})\n\n"
            f"typedef {in_type} {self.name}_input_t;\n"
            f"typedef {self.logit_type} {self.name}_logit_t;\n\n"
            f"/* Runs one inference: input[{up}_IN_FEATURES] -> logits[{up}_CLASSES].\n"
            f" * Returns the arg-max class (the lowest index on ties), or -1 (logits\n"
            f" * untouched) when an input value is outside {up}_INPUT_MIN..{up}_INPUT_MAX.\n"
            f" * Uses static buffers: not reentrant. */\n"
            f"{proto};\n\n"
            f"#ifdef __cplusplus\n}}\n#endif\n\n#endif /* {up}_MODEL_H */\n")
        checks = []
        if in_lo > tlo:
            checks.append(f"input[i] < {in_lo}")
        if in_hi < thi:
            checks.append(f"input[i] > {in_hi}")
        body = "    int i, best = 0;\n"
        if checks:
            body += (f"    for (i = 0; i < {in_features}; ++i)\n"
                     f"        if ({' || '.join(checks)}) return -1;\n")
        body += "".join(self.calls)
        body += (f"    for (i = 1; i < {classes}; ++i)\n"
                 f"        if (logits[i] > logits[best]) best = i;\n"
                 f"    return best;\n")
        ram = {b: self.buffers.bytes(b) for b in ("a", "b", "ws", "patch")}
        source = (
            f"/* {source_name}: generated by `sst-hw export-c` (sst-hw); do not edit.\n"
            f" * Portable C99, <stdint.h> only: no allocation, no floating point.\n"
            f" *\n"
            f" * Arithmetic per layer: acc = sum of +-x over the non-zero weights\n"
            f" * (int32_t or int64_t, sized so it never wraps); requantization\n"
            f" * y = clamp(floor((acc * M + C) / 2^S), lo, hi) with the floor written\n"
            f" * as v >= 0 ? v >> S : ~(~v >> S), so >> never sees a negative value;\n"
            f" * the last layer returns its accumulators (the logits).\n"
            f" */\n"
            f"#include \"{header_name}\"\n\n"
            + self.buffers.declare("a", "act_a", "activations, buffer a")
            + self.buffers.declare("b", "act_b", "activations, buffer b")
            + self.buffers.declare("ws", "ws", "sign-expanded input of the running layer")
            + self.buffers.declare("patch", "patch", "im2col patch of the running conv")
            + "\n" + "\n".join(self.parts) + "\n"
            + f"{proto}\n{{\n{body}}}\n")
        summary = {
            "name": self.name, "weights": self.weights,
            "files": [header_name, source_name],
            "input_type": in_type, "logit_type": self.logit_type,
            "in_features": in_features, "classes": classes,
            "weight_bytes": self.weight_bytes + self.table_bytes,
            "code_bytes": self.weight_bytes if self.weights == "sst" else 0,
            "table_bytes": self.table_bytes,
            "const_bytes": self.const_bytes,
            "ram_bytes": sum(ram.values()), "ram": ram,
            "layers": self.layers_info,
        }
        return CModel(self.name, self.weights, header_name, source_name, header, source,
                      in_type, self.logit_type, in_features, classes, summary)


def _lin(o: str, stride: int, pad: int, k: str) -> str:
    """``o * stride - pad + k`` without the ``* 1`` and ``- 0``."""
    return (f"{o} * {stride}" if stride != 1 else o) + (f" - {pad}" if pad else "") + f" + {k}"


def _indent(text: str, n: int) -> str:
    pad = " " * n
    return "".join(pad + line if line.strip() else line for line in text.splitlines(True))


def generate_c(network, name: str = "sst", weights: str = "sst") -> CModel:
    """The C library of ``network`` (see the module docstring).

    Parameters
    ----------
    network : Network or ConvNetwork
        A golden model (checked at construction, so every width is in range).
    name : str
        Prefix of the files (``NAME_model.h``, ``NAME_model.c``), of the
        function ``NAME_infer`` and of the header's macros (upper case).
    weights : str
        ``"sst"`` (codes and decode tables) or ``"int8"`` (dense int8 baseline).

    Returns
    -------
    CModel
        Texts and figures; nothing is written. ``ValueError`` for a bad name
        or weight kind, or a codebook whose decode table would exceed
        :data:`MAX_TABLE_ENTRIES` entries.
    """
    return _Gen(network, name, weights).run()


def driver_source(model: CModel) -> str:
    """A test driver ``main``: reads raw inputs (``in_features`` values of the
    input type each, native byte order) from stdin until EOF and prints, per
    input, one line ``class logit0 logit1 ...`` (just ``-1`` for a refused
    input). Uses ``<stdio.h>``; the library itself does not."""
    up = model.name.upper()
    return (
        f"/* Test driver of {model.header_name}: raw inputs on stdin, one line per input. */\n"
        f"#include <stdio.h>\n#include <stdint.h>\n#include \"{model.header_name}\"\n\n"
        f"int main(void)\n{{\n"
        f"    static {model.input_type} x[{up}_IN_FEATURES];\n"
        f"    {model.logit_type} logits[{up}_CLASSES];\n"
        f"    while (fread(x, sizeof x[0], {up}_IN_FEATURES, stdin) == {up}_IN_FEATURES) {{\n"
        f"        int i, c = {model.name}_infer(x, logits);\n"
        f"        printf(\"%d\", c);\n"
        f"        if (c >= 0)\n"
        f"            for (i = 0; i < {up}_CLASSES; ++i) printf(\" %lld\", (long long)logits[i]);\n"
        f"        printf(\"\\n\");\n"
        f"    }}\n"
        f"    return 0;\n}}\n")


def write_c(model: CModel, folder, driver: bool = False) -> tuple[Path, ...]:
    """Write the header and source of ``model`` into ``folder`` (created as
    needed), each file atomically; with ``driver``, also ``NAME_driver.c``
    (:func:`driver_source`). Returns the paths."""
    from sst_hw.emit.write import write_files
    files = model.files(folder)
    if driver:
        files[Path(folder) / f"{model.name}_driver.c"] = driver_source(model)
    return write_files(files)
