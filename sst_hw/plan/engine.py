"""Engine parameters: the one place that checks them and derives the engine's figures.

An :class:`EngineParams` value (:class:`SSTParams` for the SST engine,
:class:`DenseIntParams` / :class:`DenseTernaryParams` for the dense baselines)
is made before any hardware: it checks every parameter (the bounds are
:mod:`sst_hw.format.limits`) and owns what follows from them,

* the accumulator width W, in bits (:attr:`EngineParams.acc_width`, from
  :func:`sst_hw.format.arith.acc_width` for SST);
* the latency L, in clock cycles (:attr:`EngineParams.latency`), composed of
  the pipeline stages named here (:data:`DECODE_LATENCY`,
  :func:`tree_latency`, :data:`ACC_LATENCY`, ...), which the RTL builds;
* the stream layouts (:attr:`EngineParams.in_layout`,
  :attr:`EngineParams.out_layout`, :attr:`EngineParams.signature`) and the
  bit layout of a code word (:meth:`EngineParams.code_word`).

Nothing here builds a component: Amaranth layouts and signatures are
descriptions. The components of :mod:`sst_hw.rtl` take a value of these
classes and only build hardware; the network plan (:mod:`.network`) reads
the engine's figures from here without building an engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar

from amaranth.hdl import Shape, signed, unsigned
from amaranth.lib import data, stream, wiring

from sst_hw.format import arith, limits
from sst_hw.format.codebook import ASSIGNMENTS, VARIANTS, Codebook
from sst_hw.format.dense import KINDS, WeightFormat
from sst_hw.format.limits import check_bool, check_choice, check_int, check_size

__all__ = ["EngineParams", "SSTParams", "DenseParams", "DenseIntParams", "DenseTernaryParams",
           "dense_params", "input_layout", "acc_layout", "tree_latency", "check_rom",
           "DEFAULT_MAX_ROW_LEN", "DEFAULT_FANOUT", "ROM_STYLES", "MAX_ROM_BITS",
           "DECODE_LATENCY", "INPUT_LATENCY", "ACC_LATENCY", "CODE_BIT_LAYOUT"]

#: Default longest row, in weights, the accumulators are sized for.
DEFAULT_MAX_ROW_LEN = 1024
#: Default most PEs that read one copy of a broadcast register.
DEFAULT_FANOUT = 8
#: Where an ``enum`` decode ROM lives: left to synthesis, forced into LUTs, or
#: forced into block RAM (a Yosys ``rom_style`` attribute).
ROM_STYLES = ("auto", "logic", "block")
#: Widest ``enum`` code, in bits, with a decode ROM (2^16 rows per read port).
MAX_ROM_BITS = 16

#: Cycles of the SST code decoder (its output register), without ``decode_reg``.
DECODE_LATENCY = 1
#: Cycles of a dense engine's input register (codes and activations).
INPUT_LATENCY = 1
#: Cycles of an accumulator bank from a ``last`` beat to its row offered on
#: the output (the queue register, queue empty).
ACC_LATENCY = 1

#: Where code ``(p, s)`` sits in a code word (the ``code`` field of
#: :func:`input_layout`, and a word of the network's code memory).
CODE_BIT_LAYOUT = "PE p, subvector s at bit ((p*SIMD)+s)*B"


def _clog2(x: int) -> int:
    return max(0, (int(x) - 1).bit_length())


def tree_latency(count: int, stage_levels: int) -> int:
    """Cycles through an adder tree of ``count`` terms with a register every
    ``stage_levels`` levels (and after the last): ``ceil(ceil(log2(count)) /
    stage_levels)``, 0 for ``stage_levels = 0`` or ``count = 1``."""
    levels = _clog2(count)
    if levels == 0 or stage_levels == 0:
        return 0
    return -(-levels // stage_levels)


def input_layout(n: int, simd: int, pe: int, act_shape, code_bits: int) -> data.StructLayout:
    """Payload of an engine's input stream.

    ``act``: SIMD subvectors of N activations, element j of subvector s at
    bit ``((s*N)+j)*A``; ``code``: PE x SIMD codes of B bits, with
    :data:`CODE_BIT_LAYOUT` within the field; ``last``: 1 bit.
    """
    return data.StructLayout({
        "act": data.ArrayLayout(data.ArrayLayout(act_shape, n), simd),
        "code": data.ArrayLayout(data.ArrayLayout(unsigned(code_bits), simd), pe),
        "last": 1,
    })


def acc_layout(pe: int, acc_width: int) -> data.StructLayout:
    """Payload of an engine's output stream: ``acc``, PE p at bits ``[p*W, (p+1)*W)``."""
    return data.StructLayout({"acc": data.ArrayLayout(signed(acc_width), pe)})


def check_rom(codebook: Codebook, rom: str) -> str:
    """``rom`` if it is a valid ROM style for ``codebook``, else a ``ValueError``."""
    check_choice("rom", rom, ROM_STYLES)
    if codebook.assignment == "direct" and rom != "auto":
        raise ValueError(f"rom applies to enum codes only (direct codes are decoded by gates), "
                         f"not {rom!r}")
    if codebook.assignment == "enum" and codebook.bits > MAX_ROM_BITS:
        raise ValueError(
            f"the enum decode ROM of {codebook.describe_short()} would have 2^{codebook.bits} "
            f"rows; at most 2^{MAX_ROM_BITS} are supported: use the direct assignment")
    return rom


@dataclass(frozen=True, kw_only=True)
class EngineParams:
    """What every engine kind has: the array, activations, row length and pipeline.

    Parameters
    ----------
    pe : int
        Processing elements (output rows in flight), :data:`~sst_hw.format.limits.PE`.
    simd : int
        Subvectors per beat, :data:`~sst_hw.format.limits.SIMD`; PE x SIMD at
        most :data:`~sst_hw.format.limits.MAX_LANES`.
    act_width : int
        Activation width A, 1..32 bits (2..32 when signed).
    act_signed : bool
        Whether activations are two's complement.
    max_row_len : int
        Longest row, in weights, the accumulators hold without overflow.
    tree_stage_levels : int
        Adder levels per pipeline stage in the trees (0: no tree registers).
    out_depth : int
        Output queue depth, in rows.
    fanout : int
        Most PEs that read one copy of a broadcast register (0: one copy).

    A bad value raises ``TypeError`` or ``ValueError`` naming it, when the
    value is made. Equal parameters make equal (and equally hashed) values.
    """

    #: The weights' kind: ``"sst"``, ``"int8"`` or ``"ternary2"``.
    kind: ClassVar[str] = ""

    pe: int = 1
    simd: int = 1
    act_width: int = 8
    act_signed: bool = False
    max_row_len: int = DEFAULT_MAX_ROW_LEN
    tree_stage_levels: int = 1
    out_depth: int = 2
    fanout: int = DEFAULT_FANOUT

    def __post_init__(self):
        self._check_format()
        self._set("pe", check_size("pe", self.pe, limits.PE))
        self._set("simd", check_size("simd", self.simd, limits.SIMD))
        limits.check_lanes(self.pe, self.simd)
        self._set("act_width", check_int("act_width", self.act_width, 1, 32))
        check_bool("act_signed", self.act_signed)
        arith.act_range(self.act_width, self.act_signed)   # signed activations need 2 bits
        self._set("max_row_len", check_size("max_row_len", self.max_row_len,
                                            limits.MAX_ROW_LEN))
        self._set("tree_stage_levels", check_size("tree_stage_levels", self.tree_stage_levels,
                                                  limits.TREE_STAGE_LEVELS))
        self._set("out_depth", check_size("out_depth", self.out_depth, limits.OUT_DEPTH))
        self._set("fanout", check_size("fanout", self.fanout, limits.FANOUT))
        self._check_rest()
        if self.acc_width > limits.MAX_ACC_WIDTH:
            raise ValueError(f"accumulators of {self.acc_width} bits (max_row_len "
                             f"{self.max_row_len}) exceed the {limits.MAX_ACC_WIDTH}-bit limit")

    def _set(self, name, value):
        object.__setattr__(self, name, value)

    def _check_format(self):
        """Check the parameters of the weights' format (before the common ones)."""

    def _check_rest(self):
        """Check the kind's other parameters (after the common ones)."""

    # -- what a subclass defines ---------------------------------------------------------

    @property
    def n(self) -> int:
        """Weights per code word (the subvector length N)."""
        raise NotImplementedError

    @property
    def code_bits(self) -> int:
        """B: bits per code word."""
        raise NotImplementedError

    @property
    def acc_range(self) -> tuple[int, int]:
        """Inclusive (lo, hi) of a row's exact dot product (the accumulator's values)."""
        raise NotImplementedError

    @property
    def acc_width(self) -> int:
        """W: bits of each signed accumulator; no row of ``max_row_len`` weights wraps."""
        raise NotImplementedError

    @property
    def terms_per_pe(self) -> int:
        """Terms each PE's adder tree sums per beat."""
        raise NotImplementedError

    @property
    def term_stages(self) -> int:
        """Register stages from the engine's input to the adder trees' terms."""
        raise NotImplementedError

    def as_dict(self) -> dict:
        """The parameters, JSON-ready (the sidecar's ``parameters``, without the
        derived ``code_bits`` and ``acc_width``)."""
        raise NotImplementedError

    # -- figures -----------------------------------------------------------------------------

    def _common_dict(self) -> dict:
        return {"pe": self.pe, "simd": self.simd, "act_width": self.act_width,
                "act_signed": self.act_signed, "max_row_len": self.max_row_len,
                "tree_stage_levels": self.tree_stage_levels, "out_depth": self.out_depth,
                "fanout": self.fanout}

    @property
    def act_shape(self) -> Shape:
        """Shape of one activation: ``signed(A)`` or ``unsigned(A)``."""
        return signed(self.act_width) if self.act_signed else unsigned(self.act_width)

    @property
    def tree_latency(self) -> int:
        """L_t: cycles through each PE's adder tree (:func:`tree_latency`)."""
        return tree_latency(self.terms_per_pe, self.tree_stage_levels)

    @property
    def latency(self) -> int:
        """L: clock edges from the edge that accepts a row's ``last`` beat to the
        edge at which its output beat is first offered (output queue empty):
        the stages before the trees, the trees, the accumulators."""
        return self.term_stages + self.tree_latency + ACC_LATENCY

    @property
    def weights_per_beat(self) -> int:
        """Weights one input beat carries: ``PE * SIMD * N``."""
        return self.pe * self.simd * self.n

    @cached_property
    def in_layout(self) -> data.StructLayout:
        """Payload of the input stream ``i`` (:func:`input_layout`)."""
        return input_layout(self.n, self.simd, self.pe, self.act_shape, self.code_bits)

    @cached_property
    def out_layout(self) -> data.StructLayout:
        """Payload of the output stream ``o`` (:func:`acc_layout`, W bits per PE)."""
        return acc_layout(self.pe, self.acc_width)

    @property
    def signature(self) -> wiring.Signature:
        """The engine's interface: input stream ``i``, output stream ``o``."""
        return wiring.Signature({"i": wiring.In(stream.Signature(self.in_layout)),
                                 "o": wiring.Out(stream.Signature(self.out_layout))})

    @cached_property
    def _code_offsets(self) -> tuple:
        """Bit offset of code ``(p, s)`` in a code word, from the ``code`` field's layout."""
        code = self.in_layout["code"].shape
        return tuple(tuple(code[p].offset + code[p].shape[s].offset for s in range(self.simd))
                     for p in range(self.pe))

    def code_word(self, codes) -> int:
        """One code word (the input's ``code`` field) as an int: ``codes[p][s]``
        (``PE x SIMD`` ints of B bits) at :data:`CODE_BIT_LAYOUT`."""
        word = 0
        for row, offs in zip(codes, self._code_offsets, strict=True):
            for c, off in zip(row, offs, strict=True):
                word |= int(c) << off
        return word


@dataclass(frozen=True, kw_only=True)
class SSTParams(EngineParams):
    """Parameters of the SST engine (:class:`~sst_hw.rtl.engine.SSTEngine`).

    Parameters
    ----------
    n, k : int
        SST subvector length N and maximum non-zeros K.
    variant : str
        ``"full"`` or ``"partitioned"``.
    assignment : str
        ``"enum"`` (ROM decoder) or ``"direct"`` (gate decoder).
    rom : str
        ``"auto"``, ``"logic"`` or ``"block"``: where the ``enum`` decode ROM
        goes (:data:`ROM_STYLES`). Must be ``"auto"`` for ``direct``.
    decode_reg : bool
        A second register after the decoder.
    select_reg : bool
        Register the sign-selected terms before the adder tree.
    pe, simd, act_width, act_signed, max_row_len, tree_stage_levels, out_depth, fanout
        As for :class:`EngineParams`.

    W = :func:`sst_hw.format.arith.acc_width` (max_row_len, N, K, A, signed);
    ``latency = DECODE_LATENCY + decode_reg + select_reg + L_t + ACC_LATENCY``
    with ``L_t = tree_latency(K*SIMD, tree_stage_levels)``: (8,2), SIMD 1 and
    the defaults give 5 cycles.
    """

    kind: ClassVar[str] = "sst"

    n: int = 8
    k: int = 2
    variant: str = "full"
    assignment: str = "enum"
    rom: str = "auto"
    decode_reg: bool = True
    select_reg: bool = True

    def __init__(self, n: int, k: int, variant: str = "full", assignment: str = "enum", *,
                 rom: str = "auto", decode_reg: bool = True, select_reg: bool = True,
                 **common):
        # Positional n, k, variant, assignment, as SSTEngine takes them.
        for name, value in (("n", n), ("k", k), ("variant", variant), ("assignment", assignment),
                            ("rom", rom), ("decode_reg", decode_reg),
                            ("select_reg", select_reg)):
            object.__setattr__(self, name, value)
        EngineParams.__init__(self, **common)

    def _check_format(self):
        check_choice("variant", self.variant, VARIANTS)
        check_choice("assignment", self.assignment, ASSIGNMENTS)
        cb = Codebook(self.n, self.k, self.variant, self.assignment)
        self._set("n", cb.n)
        self._set("k", cb.k)
        self.__dict__["codebook"] = cb      # the cached_property below, already made

    def _check_rest(self):
        check_rom(self.codebook, self.rom)
        check_bool("decode_reg", self.decode_reg)
        check_bool("select_reg", self.select_reg)

    @cached_property
    def codebook(self) -> Codebook:
        """The code of the weights."""
        return Codebook(self.n, self.k, self.variant, self.assignment)

    @property
    def code_bits(self) -> int:
        return self.codebook.bits

    @property
    def acc_range(self) -> tuple[int, int]:
        return arith.acc_range(self.max_row_len, self.n, self.k, self.act_width,
                               self.act_signed)

    @property
    def acc_width(self) -> int:
        return arith.acc_width(self.max_row_len, self.n, self.k, self.act_width,
                               self.act_signed)

    @property
    def terms_per_pe(self) -> int:
        """K x SIMD: one term per decoder slot."""
        return self.k * self.simd

    @property
    def term_stages(self) -> int:
        """The decoder (:data:`DECODE_LATENCY`, one more with ``decode_reg``) and
        the select register."""
        return DECODE_LATENCY + int(self.decode_reg) + int(self.select_reg)

    def as_dict(self) -> dict:
        return {"n": self.n, "k": self.k, "variant": self.variant,
                "assignment": self.assignment, "pe": self.pe, "simd": self.simd,
                "act_width": self.act_width, "act_signed": self.act_signed,
                "max_row_len": self.max_row_len, "rom": self.rom,
                "decode_reg": self.decode_reg, "select_reg": self.select_reg,
                "tree_stage_levels": self.tree_stage_levels, "out_depth": self.out_depth,
                "fanout": self.fanout}


@dataclass(frozen=True, kw_only=True)
class DenseParams(EngineParams):
    """What both dense baselines have: N weights per code word, every one stored.

    W is the width of :func:`sst_hw.format.arith.dense_acc_range`
    (``max_row_len`` x the weight x activation product range);
    ``latency = INPUT_LATENCY + multiply stages + L_t + ACC_LATENCY`` with
    ``L_t = tree_latency(N*SIMD, tree_stage_levels)``.
    """

    n: int = 8

    #: Register stages that turn a code and an activation into a term.
    multiply_stages: ClassVar[int] = 1

    @property
    def weight_width(self) -> int:
        """Bits per weight."""
        raise NotImplementedError

    def _check_format(self):
        self._set("n", self.weights.n)

    @property
    def weights(self) -> WeightFormat:
        """How a code word holds N weights (:class:`~sst_hw.format.dense.WeightFormat`)."""
        return WeightFormat(self.kind, self.n, self.weight_width)

    @property
    def code_bits(self) -> int:
        return self.weights.code_bits

    @property
    def acc_range(self) -> tuple[int, int]:
        return arith.dense_acc_range(self.max_row_len, self.weights.weight_range,
                                     self.act_width, self.act_signed)

    @property
    def acc_width(self) -> int:
        return arith.signed_width(*self.acc_range)

    @property
    def terms_per_pe(self) -> int:
        """N x SIMD: one term per weight."""
        return self.n * self.simd

    @property
    def term_stages(self) -> int:
        """The input register and the multiply stages."""
        return INPUT_LATENCY + self.multiply_stages


@dataclass(frozen=True, kw_only=True)
class DenseIntParams(DenseParams):
    """Parameters of :class:`~sst_hw.rtl.dense_engine.DenseIntEngine`.

    Parameters
    ----------
    n : int
        Weights per code word, 1..64.
    weight_width : int
        Bits per weight, 2..16.
    dsp_mults : int or None
        How many multipliers use ``*`` (DSP blocks), 0..PE*SIMD*N; ``None``
        for all (the value then holds PE*SIMD*N).

    Latency ``6 + L_t`` cycles (4 multiply stages); N=8, SIMD=1: 9 cycles.
    """

    kind: ClassVar[str] = "int8"
    #: Operand registers, the product and two more registers (see the engine).
    multiply_stages: ClassVar[int] = 4

    weight_width: int = 8
    dsp_mults: int | None = None

    def __init__(self, n: int, *, weight_width: int = 8, dsp_mults: int | None = None,
                 **common):
        object.__setattr__(self, "n", n)
        object.__setattr__(self, "weight_width", weight_width)
        object.__setattr__(self, "dsp_mults", dsp_mults)
        EngineParams.__init__(self, **common)

    def _check_format(self):
        self._set("weight_width", check_int("weight_width", self.weight_width, 2, 16))
        super()._check_format()

    def _check_rest(self):
        mults = self.mults
        self._set("dsp_mults", mults if self.dsp_mults is None
                  else check_int("dsp_mults", self.dsp_mults, 0, mults))

    @property
    def mults(self) -> int:
        """Multipliers: one per weight of a beat, ``PE * SIMD * N``."""
        return self.pe * self.simd * self.n

    def as_dict(self) -> dict:
        return {"weights": self.kind, "n": self.n, "weight_width": self.weight_width,
                "dsp_mults": self.dsp_mults, **self._common_dict()}


@dataclass(frozen=True, kw_only=True)
class DenseTernaryParams(DenseParams):
    """Parameters of :class:`~sst_hw.rtl.dense_engine.DenseTernaryEngine`:
    N weights of 2 bits per code word (n in 1..64); W is SST's rule with K = N.

    Latency ``3 + L_t`` cycles (one sign-select stage).
    """

    kind: ClassVar[str] = "ternary2"

    def __init__(self, n: int, **common):
        object.__setattr__(self, "n", n)
        EngineParams.__init__(self, **common)

    @property
    def weight_width(self) -> int:
        return 2

    def as_dict(self) -> dict:
        return {"weights": self.kind, "n": self.n, **self._common_dict()}


#: The dense parameter class of each weight kind.
_DENSE = {"int8": DenseIntParams, "ternary2": DenseTernaryParams}


def dense_params(kind: str, n: int, **kwargs) -> DenseParams:
    """The parameters of a dense engine of weight ``kind`` (``"int8"`` or ``"ternary2"``)."""
    if kind not in _DENSE:
        raise ValueError(f"dense weight kind must be one of {', '.join(map(repr, KINDS))}, "
                         f"not {kind!r}")
    return _DENSE[kind](n, **kwargs)
