"""From a golden :class:`~sst_hw.format.golden.Network` to the numbers of its network core.

Pure Python and NumPy, and Amaranth layouts as descriptions (no component is
built): everything the :class:`SSTNetwork <sst_hw.core.network.SSTNetwork>`
generator, the emitter (:mod:`sst_hw.emit.network`), the ``sst-hw compile``
command and the tests must agree on. The plan comes first; the core takes it
and only builds hardware.

* :func:`plan_network` checks a model against the core's parameters (PE,
  SIMD, memory kind, requantization mode, the engine's options) and returns
  a :class:`NetPlan`: the engine's parameters
  (:class:`~sst_hw.plan.engine.SSTParams`, which give its latency and
  accumulator width), each layer's schedule, memory shapes, stream layouts.
* :meth:`NetPlan.code_image` is the code memory: one word per engine beat,
  ``PE*SIMD*B`` bits laid out like the engine's ``code`` field
  (:meth:`SSTParams.code_word <sst_hw.plan.engine.EngineParams.code_word>`:
  PE ``p``, subvector ``s`` at bit ``((p*SIMD)+s)*B``). Layers are concatenated in
  order; within a layer, row group ``g`` (rows ``g*PE .. g*PE+PE-1``) takes
  ``Sb = ceil(S/SIMD)`` consecutive words, beat ``b`` holding subvectors
  ``b*SIMD .. b*SIMD+SIMD-1`` of those rows. Rows beyond ``out_features``
  (last group) and subvectors beyond ``S`` are the codebook's zero code.
* :meth:`NetPlan.param_image` is the requantization table: one word per row
  of every hidden layer, padded to whole row groups, ``C_r`` in the low
  :attr:`NetPlan.add_bits` bits, ``M_r`` above it (16 bits, absent in shift
  mode), both two's complement; padding rows are 0.
* :meth:`NetPlan.cycles` is the closed-form number of clock cycles per
  inference (see its docstring), :meth:`NetPlan.resources` the memory
  bits and blocks against a device, :meth:`NetPlan.check_fit` refuses a model
  that cannot fit.

Activation buffer: one memory of ``2*D`` words of ``SIMD*N*A`` bits (two
banks of ``D`` words, ping-pong); feature ``f`` of a layer's input lives in
word ``bank*D + f // (SIMD*N)``, lane ``f % (SIMD*N)`` (bits ``[lane*A,
(lane+1)*A)``). The network input goes to bank 0; layer ``l`` reads bank
``l % 2`` and writes bank ``(l+1) % 2``. Lanes beyond a layer's inputs are
never written and may hold anything: their weights are zero codes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from amaranth.hdl import signed, unsigned
from amaranth.lib import data, stream, wiring

from sst_hw.format import arith
from sst_hw.format.codebook import Codebook
from sst_hw.format.golden import Network
from sst_hw.format.limits import check_bool, check_choice
from sst_hw.plan.engine import CODE_BIT_LAYOUT, SSTParams

__all__ = ["ACT_MEMORIES", "ACT_LOGIC_MAX_BITS", "MEMORIES", "REQUANT_MODES", "REQUANT_LATENCY",
           "SERIALISER_LATENCY", "CLASS_BEAT", "LAYER_SWITCH", "LayerPlan", "NetPlan", "PlanFigures", "plan_network", "block_count",
           "BRAM_CONFIGS", "SPRAM_WORDS", "SPRAM_WIDTH", "CapacityError", "engine_act_format",
           "layer_code_words", "layer_param_words", "add_bits_of", "out_width", "spram_blocks"]

#: Where the code memory lives.
MEMORIES = ("bram", "spram")
#: Requantization modes: chosen from the model, multiplier-free, or with a multiplier.
REQUANT_MODES = ("auto", "shift", "mult")
#: Cycles from a serialised accumulator to its activation written in the
#: buffer: parameter read, parameter register, multiply, add/shift/clamp
#: (the :class:`~sst_hw.core.requant.Requantizer`'s pipeline).
REQUANT_LATENCY = 4
#: Cycles the serialiser register adds before the PE values of a row group.
SERIALISER_LATENCY = 1
#: Cycles from a hidden layer's last activation written to the next layer's
#: first read (0: the next layer reads the cycle after the last write).
LAYER_SWITCH = 0
#: Cycles of the class beat that follows the logits.
CLASS_BEAT = 1
#: The largest activation buffer (bits) that ``act_memory="logic"`` takes.
ACT_LOGIC_MAX_BITS = 4096
#: Where the activation buffer lives.
ACT_MEMORIES = ("bram", "logic")
#: Words and width of one iCE40 UP5K SPRAM (SB_SPRAM256KA).
SPRAM_WORDS = 16384
SPRAM_WIDTH = 16
#: (width, depth) configurations of one block RAM, per family.
BRAM_CONFIGS = {
    "ice40": ((16, 256), (8, 512), (4, 1024), (2, 2048)),
    "ecp5": ((36, 512), (18, 1024), (9, 2048), (4, 4096), (2, 8192), (1, 16384)),
}


class CapacityError(ValueError):
    """A model that does not fit the chosen device (the message says what is short)."""


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _clog2(x: int) -> int:
    return max(0, (int(x) - 1).bit_length())


def layer_code_words(engine, codes, beats: int, groups: int) -> list:
    """The code memory words of one layer (rows of ``codes``, shape (out, S)):
    row group ``g`` takes ``beats`` words, word ``b`` holding subvectors
    ``b*SIMD ..`` of its PE rows, packed by the engine's code-field layout;
    rows past ``out`` and subvectors past ``S`` are the zero code."""
    cb, pe, simd = engine.codebook, engine.pe, engine.simd
    out, S = codes.shape
    grid = np.full((groups * pe, beats * simd), cb.zero_code, np.int64)
    grid[:out, :S] = codes
    # word (g, b): PE p, subvector s -> grid[g*pe + p, b*simd + s]
    blk = grid.reshape(groups, pe, beats, simd).transpose(0, 2, 1, 3)
    return [engine.code_word(w) for w in blk.reshape(groups * beats, pe, simd).tolist()]


def add_bits_of(layers) -> int:
    """Bits of ``C_r`` in a requantization table of ``layers``: the fewest
    signed bits holding every constant (at least 2)."""
    vals = [int(v) for l in layers for v in (l.add.min(), l.add.max())]
    return max(2, arith.signed_width(min(vals, default=0), max(vals, default=0)))


def layer_param_words(layer, rows: int, add_bits: int, mult_bits: int,
                      shift_bits: int = 0) -> list:
    """The requantization table rows of one layer, padded to ``rows``: ``C_r``
    in the low ``add_bits``, ``M_r`` above (none when ``mult_bits`` is 0),
    both two's complement, and the layer's shift ``S`` above them (unsigned,
    none when ``shift_bits`` is 0: a loadable core reads it per row); padding
    rows are 0."""
    cmask, mmask = (1 << add_bits) - 1, (1 << mult_bits) - 1
    words = []
    for r in range(rows):
        w = 0
        if r < layer.out_features:
            w = int(layer.add[r]) & cmask
            if mult_bits:
                w |= (int(layer.mult[r]) & mmask) << add_bits
            if shift_bits:
                w |= int(layer.shift) << (add_bits + mult_bits)
        words.append(w)
    return words


def out_width(acc_width: int, classes: int) -> int:
    """Bits of a core's output ``data`` (signed): the logits' accumulator
    width, or more if the class index needs it."""
    return max(acc_width, _clog2(classes) + 1)


def block_count(width: int, depth: int, family: str) -> int:
    """Fewest block RAMs of ``family`` (``"ice40"``: 4 Kbit, ``"ecp5"``: 18 Kbit)
    holding ``depth`` words of ``width`` bits (0 for an empty memory)."""
    if width <= 0 or depth <= 0:
        return 0
    return min(_cdiv(width, w) * _cdiv(depth, d) for w, d in BRAM_CONFIGS[family])


def engine_act_format(formats) -> tuple[int, bool]:
    """(A, signed) of one activation format holding every ``(width, signed)``
    of ``formats``: the widest unsigned format, or, if any is signed, a signed
    format one bit wider than the widest unsigned one."""
    formats = list(formats)
    if not any(s for _, s in formats):
        return max(w for w, _ in formats), False
    return max(w if s else w + 1 for w, s in formats), True


@dataclass(frozen=True)
class LayerPlan:
    """The schedule of one layer on the engine.

    Attributes
    ----------
    index : int
    in_features, out_features : int
    subvectors : int
        ``S = ceil(in/N)``.
    beats : int
        ``Sb = ceil(S/SIMD)``: engine beats (and activation words) per row group.
    groups : int
        ``G = ceil(out/PE)``: row groups.
    period : int
        ``T = max(Sb, PE, L)``: cycles between the first beats of two row
        groups (the requantization serialiser takes PE cycles per group; the
        engine, with a two-row output queue, never stalls when groups are at
        least its latency ``L`` apart), in clock cycles.
    code_base : int
        First word of the layer in the code memory.
    param_base : int
        First row of the layer in the requantization table (hidden layers).
    shift : int
    relu : bool
    lo, hi : int
        Clamp bounds of the requantized output.
    last : bool
        The last layer (raw accumulators are the logits).
    """

    index: int
    in_features: int
    out_features: int
    subvectors: int
    beats: int
    groups: int
    period: int
    code_base: int
    param_base: int
    shift: int
    relu: bool
    lo: int
    hi: int
    last: bool

    @property
    def code_words(self) -> int:
        """Code memory words of the layer: ``G * Sb``."""
        return self.groups * self.beats


class PlanFigures:
    """What a core's plan reads through its engine (``self.engine``, an
    :class:`~sst_hw.plan.engine.SSTParams`) and its golden model
    (``self.network``): shared by the MLP and the CNN plans."""

    # -- the engine ------------------------------------------------------------------

    @property
    def pe(self) -> int:
        return self.engine.pe

    @property
    def simd(self) -> int:
        return self.engine.simd

    @property
    def codebook(self) -> Codebook:
        return self.engine.codebook

    @property
    def act_width(self) -> int:
        """A: bits of the engine's activations (:func:`engine_act_format`)."""
        return self.engine.act_width

    @property
    def act_signed(self) -> bool:
        return self.engine.act_signed

    @property
    def acc_width(self) -> int:
        """W: bits of the engine's accumulators (:attr:`SSTParams.acc_width
        <sst_hw.plan.engine.SSTParams.acc_width>`, rows of :attr:`max_row_len`)."""
        return self.engine.acc_width

    @property
    def engine_latency(self) -> int:
        """L: the engine's latency, in clock cycles (:attr:`SSTParams.latency
        <sst_hw.plan.engine.EngineParams.latency>`)."""
        return self.engine.latency

    @property
    def input_width(self) -> int:
        return self.network.input_width

    @property
    def input_signed(self) -> bool:
        return self.network.input_signed

    @property
    def lanes(self) -> int:
        """Activations per engine beat: ``SIMD * N``."""
        return self.simd * self.codebook.n


@dataclass(frozen=True)
class NetPlan(PlanFigures):
    """Everything derived from a model for the network core (see the module doc).

    Build with :func:`plan_network`. :attr:`engine` holds the engine's
    parameters; the engine's figures read through it (``pe``, ``simd``,
    ``codebook``, ``act_width``, ``acc_width``, ``engine_latency``).
    """

    network: Network = field(repr=False)
    memory: str
    requant: str
    engine: SSTParams
    layers: tuple
    mem_reg: bool = True
    act_memory: str = "bram"
    #: The code memory and the requantization table are writable from the
    #: ``image`` port (models loaded over the link): see :attr:`image_layout`.
    loadable: bool = False

    @property
    def max_row_len(self) -> int:
        """The widest layer's input, in weights."""
        return self.engine.max_row_len

    # -- formats ---------------------------------------------------------------------

    @property
    def input_features(self) -> int:
        return self.layers[0].in_features

    @property
    def classes(self) -> int:
        return self.layers[-1].out_features


    @property
    def out_width(self) -> int:
        """Bits of the output stream's ``data`` field (signed): the accumulator
        width, or more if the class index needs it."""
        return out_width(self.acc_width, self.classes)

    @property
    def hidden(self) -> tuple:
        return self.layers[:-1]

    # -- streams -----------------------------------------------------------------------

    @property
    def in_layout(self) -> data.StructLayout:
        """Payload of the input stream ``i``: ``data``, one input feature of
        ``input_width`` bits (signed as ``input_signed``)."""
        shape = signed(self.input_width) if self.input_signed else unsigned(self.input_width)
        return data.StructLayout({"data": shape})

    @property
    def out_layout(self) -> data.StructLayout:
        """Payload of the output stream ``o``: ``data`` (:attr:`out_width` bits,
        signed: a logit, or the class index), ``last`` (1 bit: the class beat)."""
        return data.StructLayout({"data": signed(self.out_width), "last": 1})

    @property
    def image_word_bits(self) -> int:
        """Bits of the ``image`` port's data: the wider of a code word and a table row."""
        return max(self.code_word_bits, self.param_word_bits)

    @property
    def image_signature(self) -> wiring.Signature | None:
        """The ``image`` port of a loadable core (else None), from the core's side.

        Members
        -------
        sel : ``In(1)``
            0: the code memory, 1: the requantization table.
        addr : ``In(range(max(code_words, param_rows)))``
            Word of the selected memory (of its loadable bank).
        wdata : ``In(image_word_bits)``
        we : ``In(1)``
            Write ``wdata`` at ``addr``.
        re : ``In(1)``
            Read ``addr``: ``rdata`` shows the word the next cycle (a code
            word stays until the next read; a table row only that cycle).
        rdata : ``Out(image_word_bits)``
        use_loaded : ``In(1)``
            Run the loaded bank, not the bitstream's model (block RAM builds;
            an spram core has only the loaded bank). Change it only while the
            core is idle.

        Reads and writes are only allowed while the core is idle (between
        inferences): they share the memories' ports with inference.
        """
        if not self.loadable:
            return None
        depth = max(2, self.code_words, self.param_rows)
        return wiring.Signature({
            "sel": wiring.In(1), "addr": wiring.In(range(depth)),
            "wdata": wiring.In(self.image_word_bits), "we": wiring.In(1), "re": wiring.In(1),
            "rdata": wiring.Out(self.image_word_bits), "use_loaded": wiring.In(1)})

    @property
    def signature(self) -> wiring.Signature:
        """The core's interface: streams ``i``, ``o`` and, when loadable, the
        ``image`` port."""
        members = {"i": wiring.In(stream.Signature(self.in_layout)),
                   "o": wiring.Out(stream.Signature(self.out_layout))}
        if self.loadable:
            members["image"] = wiring.Out(self.image_signature)   # the signature is the core's side
        return wiring.Signature(members)

    @property
    def params(self) -> dict:
        """JSON-ready parameters of the core (the sidecar's ``parameters``)."""
        e = self.engine
        return {
            "pe": self.pe, "simd": self.simd, "memory": self.memory, "requant": self.requant,
            "n": e.n, "k": e.k, "variant": e.variant, "assignment": e.assignment,
            "code_bits": e.code_bits, "act_width": self.act_width,
            "act_signed": self.act_signed, "acc_width": self.acc_width,
            "max_row_len": self.max_row_len, "input_width": self.input_width,
            "input_signed": self.input_signed, "input_features": self.input_features,
            "classes": self.classes, "out_width": self.out_width, "rom": e.rom,
            "select_reg": e.select_reg, "tree_stage_levels": e.tree_stage_levels,
            "mem_reg": self.mem_reg, "engine_latency": self.engine_latency,
            **({"act_memory": self.act_memory} if self.act_memory != "bram" else {}),
            **({"loadable": True} if self.loadable else {}),
        }

    # -- code memory -------------------------------------------------------------------

    @property
    def code_word_bits(self) -> int:
        """``PE * SIMD * B``."""
        return self.pe * self.simd * self.codebook.bits

    @property
    def code_words(self) -> int:
        return sum(lp.code_words for lp in self.layers)

    @property
    def code_bits(self) -> int:
        """Bits of the code memory (padding included)."""
        return self.code_words * self.code_word_bits

    @property
    def model_code_bits(self) -> int:
        """Bits of the model's codes alone (no padding)."""
        return sum(l.codes.size for l in self.network.layers) * self.codebook.bits

    @property
    def code_layout_text(self) -> str:
        """How a code memory word is laid out, in words (the sidecar's
        ``memory.code.layout``)."""
        return (f"word = one engine beat: {CODE_BIT_LAYOUT}; layers in order, groups of PE "
                f"rows, Sb words per group; padding = zero_code")

    def code_image(self) -> list:
        """The code memory, one Python int per word (see the module doc), each
        packed by the engine's own code-field layout (:meth:`SSTParams.code_word
        <sst_hw.plan.engine.EngineParams.code_word>`)."""
        words = []
        for lp, layer in zip(self.layers, self.network.layers):
            words += layer_code_words(self.engine, layer.codes, lp.beats, lp.groups)
        return words

    # -- requantization table ----------------------------------------------------------------

    @property
    def mult_bits(self) -> int:
        """Bits of ``M_r`` in the table: 16, or 0 in shift mode."""
        return 0 if self.requant == "shift" else arith.MULT_BITS

    @property
    def add_bits(self) -> int:
        """Bits of ``C_r`` in the table: the fewest signed bits holding every
        ``C_r`` of the hidden layers (at least 2); in a loadable core, every
        ``C_r`` the arithmetic contract allows (``arith.add_range(W)``), so
        that any model of the same topology fits."""
        if self.loadable:
            return arith.signed_width(*arith.add_range(self.acc_width))
        return add_bits_of(self.network.layers[:-1])

    @property
    def shift_bits(self) -> int:
        """Bits of the shift ``S`` in each table row: 6 (0..SHIFT_MAX) in a loadable
        core, which takes a retrained model's shifts with its codes; else 0 (the
        shifts are constants of the hardware)."""
        return arith.SHIFT_MAX.bit_length() if self.loadable else 0

    @property
    def param_rows(self) -> int:
        return sum(lp.groups * self.pe for lp in self.hidden)

    @property
    def banks(self) -> int:
        """Banks of the code memory and the table: 2 in a loadable block RAM build
        (the bitstream's model, then the loaded one), else 1."""
        return 2 if self.loadable and self.memory == "bram" else 1

    @property
    def param_rows_pow2(self) -> int:
        """:attr:`param_rows` rounded up to a power of two: one bank of a
        loadable block RAM table (the bank is the row number's top bit)."""
        return 1 << max(1, (self.param_rows - 1).bit_length())

    @property
    def param_word_bits(self) -> int:
        return self.add_bits + self.mult_bits + self.shift_bits

    def param_image(self) -> list:
        """The requantization table, one Python int per row (see the module doc)."""
        words = []
        for lp, layer in zip(self.hidden, self.network.layers):
            words += layer_param_words(layer, lp.groups * self.pe, self.add_bits, self.mult_bits,
                                       self.shift_bits)
        return words

    # -- activation buffer ---------------------------------------------------------------------

    @property
    def act_word_bits(self) -> int:
        """``SIMD * N * A``."""
        return self.lanes * self.act_width

    @property
    def act_bank_words(self) -> int:
        """``D``: words of one bank, enough for the widest layer input."""
        return max(lp.beats for lp in self.layers)

    @property
    def act_words(self) -> int:
        return 2 * self.act_bank_words

    @property
    def act_bits(self) -> int:
        return self.act_words * self.act_word_bits

    @property
    def act_in_logic_ok(self) -> bool:
        """Whether the activation buffer is small and shallow enough for logic
        (at most :data:`ACT_LOGIC_MAX_BITS`, at most 64 words: a block RAM of it
        would be mostly empty)."""
        return self.act_bits <= ACT_LOGIC_MAX_BITS and self.act_words <= 64

    # -- timing -----------------------------------------------------------------------------

    def _layer_terms(self, last: bool) -> tuple:
        """The addends of one layer's cycles, in order: ``(symbol, term)`` where
        ``term(lp)`` gives the addend of layer ``lp`` as ``(text, cycles)``.
        :meth:`layer_cycles`, :meth:`cycles`, :meth:`formula_text` and
        :meth:`formula` all read these."""
        r = int(self.mem_reg)
        L = self.engine_latency
        # The core's constants: the serialiser register, then the requantizer
        # and the layer switch (hidden layer) or the class beat (last layer).
        c = SERIALISER_LATENCY + (CLASS_BEAT if last else REQUANT_LATENCY + LAYER_SWITCH)
        return (("(G-1)*T", lambda lp: (f"({lp.groups}-1)*{lp.period}",
                                        (lp.groups - 1) * lp.period)),
                ("Sb", lambda lp: (str(lp.beats), lp.beats)),
                (str(r), lambda lp: (str(r), r)),
                ("L", lambda lp: (str(L), L)),
                ("PE", lambda lp: (str(self.pe), self.pe)),
                (str(c), lambda lp: (str(c), c)))

    def layer_cycles(self, lp: LayerPlan) -> int:
        """Cycles of one layer, from its first code-memory read to the first
        read of the next layer (hidden layer) or to the cycle its class beat
        is accepted (last layer)."""
        return sum(term(lp)[1] for _, term in self._layer_terms(lp.last))

    def cycles(self) -> int:
        """Clock cycles per inference, when the input arrives back to back and
        ``o.ready`` stays high: from the cycle the first input beat is accepted
        to the cycle the class beat (``last``) is accepted, both included.
        Another inference can start on the next cycle, so this is also the
        period of back-to-back inferences.

        ``F0 + sum_hidden[(G-1)T + Sb + R + L + PE + 5] + (G-1)T + Sb + R + L + PE + 2``
        with ``F0`` input features, per layer ``G`` row groups, ``T`` cycles per
        group, ``Sb`` beats per group, ``R`` = 1 with the memory output
        register (``mem_reg``) else 0, ``L`` the engine latency. The constants:
        the serialiser register (1) and the requantizer (4) plus the layer
        switch (0: the next layer reads the cycle after the last write) for a
        hidden layer; the serialiser (1) and the class beat (1) for the last.
        """
        return self.input_features + sum(self.layer_cycles(lp) for lp in self.layers)

    def formula_text(self) -> str:
        """The symbolic formula of :meth:`cycles`."""
        def layer(last):
            return " + ".join(symbol for symbol, _ in self._layer_terms(last))
        return f"F0 + sum_hidden[{layer(False)}] + {layer(True)}"

    def formula(self) -> str:
        """:meth:`cycles` as text, with this model's numbers."""
        terms = [f"F0={self.input_features}"]
        for lp in self.layers:
            terms.append("+".join(term(lp)[0] for _, term in self._layer_terms(lp.last)))
        return " + ".join(terms) + f" = {self.cycles()}"

    @property
    def weights(self) -> int:
        """Weights of the model (``sum in*out``)."""
        return sum(lp.in_features * lp.out_features for lp in self.layers)

    # -- resources ---------------------------------------------------------------------------

    def resources(self, device) -> dict:
        """Memory needed against ``device`` (a :class:`~sst_hw.synth.devices.Device`).

        Returns a JSON-ready dict: raw bits and estimated blocks of the code
        memory, activation buffer and requantization table, the totals per
        block kind and what the device has. Block counts are estimates (Yosys
        may put a very small memory in logic instead).
        """
        fam = device.family
        code_bram = 0
        spram = 0
        banks = self.banks      # a loadable block RAM build keeps the bitstream's model too
        if self.memory == "bram":
            code_bram = block_count(self.code_word_bits, banks * self.code_words, fam)
        else:
            spram = spram_blocks(self.code_word_bits, self.code_words)
        act_bram = (0 if self.act_memory == "logic"
                    else block_count(self.act_word_bits, self.act_words, fam))
        par_bram = block_count(self.param_word_bits, banks * self.param_rows_pow2
                               if banks == 2 else self.param_rows, fam)
        bram = code_bram + act_bram + par_bram
        return {
            "device": device.name,
            "code_memory": {"kind": self.memory, "word_bits": self.code_word_bits,
                            "words": self.code_words, "bits": self.code_bits,
                            "model_code_bits": self.model_code_bits,
                            "bram": code_bram, "spram": spram},
            "activation_buffer": {"word_bits": self.act_word_bits, "words": self.act_words,
                                  "bits": self.act_bits, "bram": act_bram,
                                  "kind": self.act_memory},
            "requant_table": {"word_bits": self.param_word_bits, "words": self.param_rows,
                              "bits": self.param_word_bits * self.param_rows,
                              "bram": par_bram},
            "bram": {"used": bram, "available": device.bram, "bits_each": device.bram_bits},
            "spram": {"used": spram, "available": device.spram,
                      "bits_each": device.spram_bits},
        }

    def check_fit(self, device) -> dict:
        """:meth:`resources`, or :class:`CapacityError` saying what does not fit."""
        res = self.resources(device)
        problems = []
        if self.memory == "spram":
            if device.spram == 0:
                problems.append(f"--memory spram needs SPRAM, and {device.name} has none "
                                f"(use --memory bram or the up5k)")
            elif self.code_word_bits > SPRAM_WIDTH * device.spram:
                problems.append(
                    f"code words of {self.code_word_bits} bits (PE*SIMD*B = {self.pe}*"
                    f"{self.simd}*{self.codebook.bits}) need {_cdiv(self.code_word_bits, 16)} "
                    f"SPRAMs side by side; {device.name} has {device.spram} of 16 bits "
                    f"(at most {SPRAM_WIDTH * device.spram}-bit words: lower --pe or --simd)")
            elif res["spram"]["used"] > device.spram:
                problems.append(
                    f"the code memory needs {res['spram']['used']} SPRAMs ("
                    f"{self.code_words} words of {self.code_word_bits} bits = "
                    f"{self.code_bits} bits); {device.name} has {device.spram} "
                    f"({device.spram_total_bits} bits)")
        if res["bram"]["used"] > device.bram:
            parts = ", ".join(f"{name} {res[key]['bram']}" for name, key in (
                ("code memory", "code_memory"), ("activation buffer", "activation_buffer"),
                ("requantization table", "requant_table")) if res[key]["bram"])
            hint = ""
            others = res["bram"]["used"] - res["code_memory"]["bram"]
            if (self.memory == "bram" and device.spram and others <= device.bram
                    and spram_blocks(self.code_word_bits, self.code_words) <= device.spram
                    and self.code_word_bits <= SPRAM_WIDTH * device.spram):
                hint = " (try --memory spram)"     # only where SPRAM would fix it
            elif (self.act_memory == "bram" and self.act_in_logic_ok
                  and res["bram"]["used"] - res["activation_buffer"]["bram"] <= device.bram):
                hint = (f" (the activation buffer, {self.act_bits} bits in "
                        f"{res['activation_buffer']['bram']} blocks, fits in logic: "
                        f"--act-memory logic)")
            problems.append(
                f"block RAM: needs {res['bram']['used']} blocks ({parts}; code memory "
                f"{self.code_bits} bits, activation buffer {self.act_bits} bits), "
                f"{device.name} has {device.bram} blocks of {device.bram_bits} bits{hint}")
        if problems:
            raise CapacityError(f"the model does not fit the {device.name}: "
                                + "; ".join(problems))
        return res

    def describe(self) -> dict:
        """JSON-ready summary of the plan (the sidecar's ``network`` entry)."""
        return {
            "input_features": self.input_features, "classes": self.classes,
            "weights": self.weights,
            "layers": [{"in_features": lp.in_features, "out_features": lp.out_features,
                        "subvectors": lp.subvectors, "beats_per_group": lp.beats,
                        "groups": lp.groups, "period": lp.period,
                        "code_base": lp.code_base, "code_words": lp.code_words,
                        "param_base": lp.param_base, "shift": lp.shift, "relu": lp.relu,
                        "clamp": None if lp.last else [lp.lo, lp.hi], "last": lp.last,
                        "cycles": self.layer_cycles(lp)}
                       for lp in self.layers],
        }


def spram_blocks(width: int, depth: int) -> int:
    """SB_SPRAM256KA blocks for ``depth`` words of ``width`` bits."""
    return _cdiv(width, SPRAM_WIDTH) * _cdiv(depth, SPRAM_WORDS)


def plan_network(network: Network, *, pe: int = 4, simd: int = 2, memory: str = "bram",
                 requant: str = "auto", rom: str = "auto", select_reg: bool = False,
                 tree_stage_levels: int = 1, mem_reg: bool = True,
                 act_memory: str = "bram", loadable: bool = False) -> NetPlan:
    """Check ``network`` against the core's parameters and lay it out.

    Takes the parameters of :class:`~sst_hw.core.network.SSTNetwork` (the
    core then only builds the hardware of this plan); every check of them is
    here, with no component built.

    Parameters
    ----------
    network : Network
        The golden model. Every layer must use the same codebook.
    pe, simd : int
        Engine processing elements and subvectors per beat.
    memory : str
        ``"bram"`` (code memory initialised from the model) or ``"spram"``
        (which the bitstream cannot initialise: the core is loadable, and
        takes its model through the ``image`` port).
    requant : str
        ``"shift"`` (multiplier-free; every hidden ``M_r`` must be 1),
        ``"mult"`` (16-bit multiplier) or ``"auto"`` (shift when the model
        allows it).
    rom, select_reg, tree_stage_levels :
        The engine's (:class:`~sst_hw.plan.engine.SSTParams`; the engine
        has its decode register and an output queue of 2 rows).
    mem_reg : bool
        Whether a register stage sits between the memories and the engine.
    act_memory : str
        ``"bram"`` or ``"logic"``: where the activation buffer lives. A buffer
        much wider than deep (``SIMD*N*A`` bits, a few words) wastes most of
        its block RAMs; in logic it costs a flip-flop per bit. ``logic`` is
        refused above :data:`ACT_LOGIC_MAX_BITS` bits or 64 words.
    loadable : bool
        Make the code memory and the requantization table writable through
        the core's ``image`` port, so that a model of the same topology
        (:func:`sst_hw.plan.image.topology_id`) can replace the built one.
        The table then holds each row's shift and the widest ``C_r`` the
        arithmetic allows; a block RAM build keeps the bitstream's model in a
        second bank. ``memory="spram"`` is always loadable.
    """
    if not isinstance(network, Network):
        raise TypeError(f"network must be a Network, not {type(network).__name__}")
    check_choice("memory", memory, MEMORIES)
    check_choice("requant", requant, REQUANT_MODES)
    mem_reg = check_bool("mem_reg", mem_reg)
    loadable = check_bool("loadable", loadable) or memory == "spram"
    layers = network.layers
    cb = layers[0].codebook
    act_width, act_signed = engine_act_format(network.input_formats())
    engine = SSTParams(cb.n, cb.k, cb.variant, cb.assignment, pe=pe, simd=simd,
                       act_width=act_width, act_signed=act_signed,
                       max_row_len=max(l.in_features for l in layers), rom=rom,
                       select_reg=select_reg, tree_stage_levels=tree_stage_levels, out_depth=2)
    pe, simd = engine.pe, engine.simd
    for i, layer in enumerate(layers[1:], 1):
        if layer.codebook != cb:
            raise ValueError(f"every layer must use the same codebook for one engine: layer 0 "
                             f"uses {cb.describe_short()}, layer {i} {layer.codebook.describe_short()}")
    hidden_shift = all(l.shift_mode for l in layers[:-1])
    if requant == "auto":
        # A loadable core multiplies: the next model may need M_r != 1.
        requant = "shift" if hidden_shift and not loadable else "mult"
    elif requant == "shift" and not hidden_shift:
        i, l = next((i, l) for i, l in enumerate(layers[:-1]) if not l.shift_mode)
        r = int(np.flatnonzero(l.mult != 1)[0])
        raise ValueError(f"requant 'shift' needs every multiplier M_r = 1, but layer {i} row "
                         f"{r} has M = {int(l.mult[r])} (use requant 'mult' or 'auto')")
    plans = []
    code_base = param_base = 0
    last = len(layers) - 1
    for i, layer in enumerate(layers):
        S = layer.subvectors
        Sb = _cdiv(S, simd)
        G = _cdiv(layer.out_features, pe)
        T = max(Sb, pe, engine.latency)
        lo, hi = layer.out_range
        plans.append(LayerPlan(i, layer.in_features, layer.out_features, S, Sb, G, T,
                               code_base, param_base, layer.shift, layer.relu, lo, hi,
                               i == last))
        code_base += G * Sb
        if i != last:
            param_base += G * pe
    check_choice("act_memory", act_memory, ACT_MEMORIES)
    plan = NetPlan(network, memory, requant, engine, tuple(plans), mem_reg, act_memory,
                   loadable)
    if act_memory == "logic" and not plan.act_in_logic_ok:
        raise ValueError(f"--act-memory logic takes at most {ACT_LOGIC_MAX_BITS} bits in at "
                         f"most 64 words; this activation buffer is {plan.act_words} x "
                         f"{plan.act_word_bits} bits ({plan.act_bits} bits): keep it in bram")
    return plan
