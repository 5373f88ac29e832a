"""From a golden :class:`~sst_hw.format.convnet.ConvNetwork` to the numbers of its CNN core.

Pure Python (no component is built): everything the
:class:`~sst_hw.core.conv.network.SSTConvNetwork` generator, its emitter, the
commands and the tests must agree on. The core runs every layer on one SST
engine, so the plan first turns the network into a list of *passes*, each a
convolution over a stored feature map:

* a conv2d layer is a pass; a max-pool right after it is fused into the same
  pass (on the accumulators of each window, before the requantization, which
  is monotone; the unpooled map is never stored);
* a dense layer after a flatten of an ``(H, W, C)`` map is a convolution with
  an ``H x W`` kernel, no padding, over that map: one output position, and its
  row is the flatten's HWC order, which is the conv row order ``(ky, kx, c)``;
* a dense layer after a dense layer is a 1x1 convolution over a 1x1 map.

**Feature maps** are stored one pixel after another, row by row, each pixel
as ``Cg = ceil(C / lanes)`` words of ``lanes = SIMD * N`` activations (word
``(y*W + x)*Cg + g`` holds channels ``g*lanes ..``). The network input is kept
in its own double-buffered memory of ``in_lanes = min(lanes, C0)``-wide words
(so a 1-channel image is not stored 8 times too wide): the next image is
loaded while the current one is computed. The maps between passes live in one
memory of two regions; pass ``l`` writes region ``l % 2`` and reads the other
(pass 0 reads the input memory).

**The gather program** of a pass is its list of *steps*: for each engine beat
of a row (``SIMD*N`` row elements), the distinct stored words it needs, in
order, each with the kernel offset ``(ky, kx)``, its address offset from the
window's first pixel, and which beat lanes it fills from which word lanes.
The program does not depend on the output position, so one program serves
every position and every row group: a beat costs as many cycles as it has
steps. When ``C`` is a multiple of ``lanes`` every beat is one word (one
step); a 3x3 kernel over one channel needs 9 words for its 9 weights. A step
whose pixel falls in the zero padding reads as zero; no padded copy exists.

**Schedule.** For each pooling window (each output position when there is
no pool), for each group of PE output channels, for each position of the
window, the step program is issued one step per cycle and the group's code
words are read again (codes are re-read for every position). The pool unit
after the engine keeps the max (and min) of a window's accumulators and
hands one result per window and group on (see :mod:`sst_hw.core.conv.pool`
for why that is exact). Issue groups start ``T = max(steps, ceil(drain /
k^2), L)`` cycles apart, where ``drain = ceil(PE/R)`` cycles for the ``R``
requantizer lanes to take a result (``PE`` in the last pass, one logit per
cycle) and ``L`` is the engine latency, so nothing ever stalls and the timing
is closed form (:meth:`ConvPlan.cycles`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from amaranth.hdl import signed, unsigned
from amaranth.lib import data, stream, wiring

from sst_hw.format import arith
from sst_hw.format.codebook import Codebook
from sst_hw.format.conv import Conv2D
from sst_hw.format.convnet import ConvNetwork
from sst_hw.format.golden import Layer
from sst_hw.format.limits import check_choice, check_int
from sst_hw.plan.engine import SSTParams
from sst_hw.plan.network import (
    BRAM_CONFIGS, REQUANT_LATENCY, PlanFigures, REQUANT_MODES, SPRAM_WIDTH, SPRAM_WORDS, CapacityError,
    add_bits_of, block_count, engine_act_format, layer_code_words, layer_param_words, out_width,
    spram_blocks)

__all__ = ["Step", "PassPlan", "ConvPlan", "plan_convnet", "is_convnet", "FEED_LATENCY",
           "DECODES", "MAP_MEMORIES", "step_bits", "step_fields", "lane_sources", "HIDDEN_TAIL", "LAST_TAIL", "START_LATENCY", "POOL_LATENCY", "gather_steps"]

#: Cycles from a step's issue to its beat at the engine's input: step ROM,
#: address register, map read, beat register.
FEED_LATENCY = 4
#: Cycles a hidden pass adds after its serialiser's last chunk: the serialiser
#: register, the requantizer, the writer's word written in the cycle the
#: requantizer's output is valid, then the next pass's first step
#: (``1 + REQUANT_LATENCY - 1``).
HIDDEN_TAIL = REQUANT_LATENCY
#: Cycles the last pass adds after its last logit: the class beat.
LAST_TAIL = 1
#: Cycles the pool unit adds (a window's last result goes through combined
#: with the running max).
POOL_LATENCY = 0
#: Cycles from the input's last feature accepted to the first step issued.
START_LATENCY = 1


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def is_convnet(model) -> bool:
    """Whether ``model`` is a :class:`ConvNetwork` with a conv2d or max-pool layer."""
    return isinstance(model, ConvNetwork) and any(k in ("conv2d", "maxpool")
                                                   for k in model.kinds)


@dataclass(frozen=True)
class Step:
    """One stored word read by the gather program.

    ``src[t]`` is the lane of the read word that beat lane ``t`` takes, or -1
    (the lane is not filled by this step). ``first``: the first step of a
    beat (lanes it does not fill are zero); ``beat_last``: the beat is
    complete after it; ``row_last``: that beat is the row's last (``last``
    at the engine).
    """

    ky: int
    kx: int
    offset: int
    src: tuple
    first: bool
    beat_last: bool
    row_last: bool


@dataclass(frozen=True)
class PassPlan:
    """One pass of the core: a convolution (dense layers included), its
    optional fused max-pool, and its place in the memories.

    ``in_shape`` (H, W, C) is the map read; ``conv_shape`` (Ho, Wo) the
    convolution's output; ``out_shape`` (Hp, Wp, Cout) the map written
    (after the pool). ``pool`` is ``(k, s)`` or ``(1, 1)``. ``src_lanes``
    and ``src_cg``: lanes per word and words per pixel of the map read;
    ``dst_cg``: words per pixel of the map written. ``positions``: output
    positions computed (pool windows times their positions).
    """

    index: int
    layers: tuple            # indices of the network layers it runs
    kind: str                # "conv2d" or "dense"
    in_shape: tuple
    kernel: tuple
    stride: int
    pad: tuple
    cout: int
    pool: tuple
    conv_shape: tuple
    out_shape: tuple
    src_lanes: int
    src_cg: int
    dst_cg: int
    row_len: int
    subvectors: int
    beats: int
    groups: int
    steps: tuple
    period: int
    positions: int
    code_base: int
    param_base: int
    step_base: int
    shift: int
    lo: int
    hi: int
    relu: bool
    reads_input: bool
    last: bool

    @property
    def nsteps(self) -> int:
        return len(self.steps)

    @property
    def read_region(self) -> int:
        """The map region the pass reads (pass 0 reads the input memory)."""
        return 0 if self.reads_input else (self.index - 1) % 2

    @property
    def write_region(self) -> int:
        """The map region the pass writes: ``index % 2``."""
        return self.index % 2

    @property
    def code_words(self) -> int:
        return self.groups * self.beats

    @property
    def weight_ops(self) -> int:
        """Useful weight operations of one inference (every stored weight times
        the output positions it is applied at, pool recomputation included)."""
        return self.positions * self.cout * self.row_len

    @property
    def out_words(self) -> int:
        h, w, _ = self.out_shape
        return h * w * self.dst_cg

    def position_list(self) -> list:
        """The conv output positions of one row group, in the order the pass
        computes them: pooling windows row by row, each window's positions
        row by row (for each group in turn)."""
        k, s = self.pool
        hp, wp, _ = self.out_shape
        return [(py * s + dy, px * s + dx) for py in range(hp) for px in range(wp)
                for dy in range(k) for dx in range(k)]


def gather_steps(kernel, cin, src_lanes, lanes, simd_beats) -> list:
    """The gather program of a row of ``kh*kw*cin`` elements over words of
    ``src_lanes`` channels (``ceil(cin/src_lanes)`` words per pixel), in
    beats of ``lanes`` elements (see the module doc): tuples ``(ky, kx,
    group, src, first, beat_last, row_last)``."""
    kh, kw = kernel
    cg = _cdiv(cin, src_lanes)
    L = kh * kw * cin
    steps = []
    for b in range(simd_beats):
        words = {}
        for t in range(lanes):
            j = b * lanes + t
            if j >= L:
                break
            ky, rem = divmod(j, kw * cin)
            kx, c = divmod(rem, cin)
            key = (ky, kx, c // src_lanes)
            words.setdefault(key, [-1] * lanes)[t] = c % src_lanes
        keys = list(words)
        for i, (ky, kx, g) in enumerate(keys):
            steps.append((ky, kx, g, tuple(words[(ky, kx, g)]), i == 0, i == len(keys) - 1,
                          i == len(keys) - 1 and b == simd_beats - 1))
    return steps


@dataclass(frozen=True)
class ConvPlan(PlanFigures):
    """Everything derived from a CNN for its core (see the module doc).

    Build with :func:`plan_convnet`.
    """

    network: ConvNetwork = field(repr=False)
    requant: str
    rq_lanes: int
    engine: SSTParams
    passes: tuple
    map_region_words: tuple
    in_lanes: int
    in_cg: int
    map_memory: str = "bram"
    code_main_words: int = 0
    family: str | None = None

    # -- the engine ------------------------------------------------------------------

    @property
    def model_codebook(self):
        """The model's codebook (the engine's may be its direct re-encoding)."""
        return self.network.sst_layers()[0].codebook

    @property
    def act_shape(self):
        return self.engine.act_shape

    # -- formats and streams ---------------------------------------------------------

    @property
    def input_shape(self) -> tuple:
        return tuple(self.network.input_shape)

    @property
    def input_features(self) -> int:
        return self.network.in_features

    @property
    def classes(self) -> int:
        return self.network.classes

    @property
    def out_width(self) -> int:
        return out_width(self.acc_width, self.classes)

    @property
    def hidden(self) -> tuple:
        return self.passes[:-1]

    @property
    def in_layout(self) -> data.StructLayout:
        shape = signed(self.input_width) if self.input_signed else unsigned(self.input_width)
        return data.StructLayout({"data": shape})

    @property
    def out_layout(self) -> data.StructLayout:
        return data.StructLayout({"data": signed(self.out_width), "last": 1})

    @property
    def signature(self) -> wiring.Signature:
        return wiring.Signature({"i": wiring.In(stream.Signature(self.in_layout)),
                                 "o": wiring.Out(stream.Signature(self.out_layout))})

    @property
    def params(self) -> dict:
        e = self.engine
        return {
            "kind": "cnn", "pe": self.pe, "simd": self.simd, "rq_lanes": self.rq_lanes,
            "requant": self.requant, "n": e.n, "k": e.k, "variant": e.variant,
            "assignment": e.assignment, "model_assignment": self.model_codebook.assignment,
            "code_bits": e.code_bits,
            "act_width": self.act_width, "act_signed": self.act_signed,
            "acc_width": self.acc_width, "input_shape": list(self.input_shape),
            "input_width": self.input_width, "input_signed": self.input_signed,
            "input_features": self.input_features, "classes": self.classes,
            "out_width": self.out_width, "rom": e.rom, "engine_latency": self.engine_latency,
        }

    # -- memories ----------------------------------------------------------------------

    @property
    def code_word_bits(self) -> int:
        return self.pe * self.simd * self.codebook.bits

    @property
    def code_words(self) -> int:
        return sum(p.code_words for p in self.passes)

    def code_image(self) -> list:
        """One int per code word: pass by pass, row group ``g`` takes ``Sb``
        words, word ``b`` holding subvectors ``b*SIMD ..`` of its PE rows
        (the engine's code-field layout); padding is the zero code."""
        cb, words = self.codebook, []
        for p in self.passes:
            layer = self._layer(p)
            codes = layer.codes
            if layer.codebook != cb:   # re-encoded: the same ternary vectors
                codes = cb.encode(layer.codebook.decode(codes.reshape(-1))).reshape(codes.shape)
            words += layer_code_words(self.engine, codes, p.beats, p.groups)
        return words

    def _layer(self, p: PassPlan) -> Layer:
        layer = self.network.layers[p.layers[0]]
        return layer.layer if isinstance(layer, Conv2D) else layer

    @property
    def mult_bits(self) -> int:
        return 0 if self.requant == "shift" else arith.MULT_BITS

    @property
    def add_bits(self) -> int:
        return add_bits_of(self._layer(p) for p in self.hidden)

    @property
    def param_rows(self) -> int:
        return sum(p.groups * self.pe for p in self.hidden)

    @property
    def param_word_bits(self) -> int:
        return self.add_bits + self.mult_bits

    def param_images(self) -> list:
        """The requantization table of each requantizer lane ``r``: the rows
        ``r, r+R, ..`` of every hidden pass (padded to whole groups), ``C_r``
        in the low :attr:`add_bits`, ``M_r`` above (none in shift mode)."""
        rows = []
        for p in self.hidden:
            rows += layer_param_words(self._layer(p), p.groups * self.pe, self.add_bits,
                                      self.mult_bits)
        rows = rows or [0]
        R = self.rq_lanes
        return [rows[r::R] or [0] for r in range(R)]

    def negative_rows(self) -> list:
        """Per row group of the hidden passes (in table order), an int whose
        bit ``p`` says row ``p`` of the group has ``M_r < 0`` (its max-pool
        takes the smallest accumulator); all 0 in shift mode."""
        out = []
        for p in self.hidden:
            mult = self._layer(p).mult
            for g in range(p.groups):
                bits = 0
                for j in range(self.pe):
                    r = g * self.pe + j
                    if self.mult_bits and r < p.cout and int(mult[r]) < 0:
                        bits |= 1 << j
                out.append(bits)
        return out

    @property
    def in_word_bits(self) -> int:
        return self.in_lanes * self.act_width

    @property
    def in_bank_words(self) -> int:
        h, w, _ = self.input_shape
        return h * w * self.in_cg

    @property
    def map_word_bits(self) -> int:
        return self.lanes * self.act_width

    @property
    def map_words(self) -> int:
        return max(1, sum(self.map_region_words))

    @property
    def code_tail_words(self) -> int:
        """Code words kept in logic: the few past the last whole block RAM row
        (a memory just deeper than a block would take a whole row of blocks
        for them)."""
        return self.code_words - self.code_main_words

    def memories(self) -> list:
        """Every memory of the core: ``{"name", "word_bits", "words", "kind",
        "blocks", "why"}`` with ``kind`` one of ``bram``, ``spram``, ``logic``
        (block counts for :attr:`family`, or iCE40's when none was given)."""
        fam = self.family or "ice40"
        out = []

        def add(name, width, depth, kind, why=""):
            blocks = (block_count(width, depth, fam) if kind == "bram" else
                      spram_blocks(width, depth) if kind == "spram" else 0)
            out.append({"name": name, "word_bits": width, "words": depth, "kind": kind,
                        "blocks": blocks, "why": why})

        add("code", self.code_word_bits, self.code_main_words, "bram")
        if self.code_tail_words:
            add("code tail", self.code_word_bits, self.code_tail_words, "logic",
                f"{self.code_tail_words} words past {self.code_main_words}: logic instead of "
                f"another row of block RAMs")
        add("input (2 banks)", self.in_word_bits, 2 * self.in_bank_words, "bram")
        r0, r1 = self.map_region_words
        add("map region 0", self.map_word_bits, max(1, r0), self.map_memory,
            "SPRAM: single port, and a pass never reads and writes the same region"
            if self.map_memory == "spram" else "")
        if r1:
            add("map region 1", self.map_word_bits, r1, "bram")
        if self.hidden:
            for r, t in enumerate(self.param_images()):
                add(f"requant table {r}", self.param_word_bits, len(t), "bram")
        add("step program", step_bits(self), self.step_count, "bram")
        return out

    @property
    def step_count(self) -> int:
        return sum(p.nsteps for p in self.passes)

    @property
    def pool_words(self) -> int:
        """Words of the max-pool buffer: the most output words per pixel of a pooled pass."""
        return max([p.dst_cg for p in self.hidden if p.pool[0] > 1], default=0)

    # -- timing ------------------------------------------------------------------------------

    def pass_cycles(self, p: PassPlan) -> int:
        """Cycles of a pass from its first step issued to the next pass's first
        step (hidden) or to the cycle its class beat is accepted (last):
        ``(J-1)*T + steps + FEED + L + POOL + drain + tail`` with ``J = positions *
        groups``, ``drain = ceil(PE/R)`` chunks (hidden) or ``PE`` logits
        (last), ``tail =`` :data:`HIDDEN_TAIL` or :data:`LAST_TAIL`. The
        constants are the pipeline's; every simulation checks the sum."""
        J = p.positions * p.groups
        drain = self.pe if p.last else _cdiv(self.pe, self.rq_lanes)
        tail = LAST_TAIL if p.last else HIDDEN_TAIL
        return ((J - 1) * p.period + p.nsteps + FEED_LATENCY + self.engine_latency
                + POOL_LATENCY + drain + tail)

    def compute_cycles(self) -> int:
        """Cycles from the input's last feature accepted (excluded) to the class
        beat accepted (included)."""
        return START_LATENCY + sum(self.pass_cycles(p) for p in self.passes)

    def cycles(self) -> int:
        """Cycles of one inference on an idle core, the input offered back to back
        and ``o.ready`` high: from the first input beat accepted to the class
        beat accepted, both included: ``F0 + START + sum(pass cycles)``."""
        return self.input_features + self.compute_cycles()

    def period(self) -> int:
        """Cycles between the class beats of back-to-back inferences (input
        always offered, ``o.ready`` high): the next image is loaded while the
        current one computes, so the compute cycles, or the input's ``F0`` if
        that is longer."""
        return max(self.compute_cycles(), self.input_features)

    def formula_text(self) -> str:
        return (f"F0 + {START_LATENCY} + sum_passes[(positions*G-1)*T + steps + "
                f"{FEED_LATENCY} + L + {POOL_LATENCY} + drain + tail], drain = ceil(PE/R) (hidden) or PE "
                f"(last), tail = {HIDDEN_TAIL} (hidden) or {LAST_TAIL} (last)")

    def formula(self) -> str:
        parts = [f"F0={self.input_features}", str(START_LATENCY)]
        for p in self.passes:
            parts.append(f"({p.positions}*{p.groups}-1)*{p.period}+{p.nsteps}+"
                         f"{FEED_LATENCY}+{self.engine_latency}+{POOL_LATENCY}+"
                         f"{self.pe if p.last else _cdiv(self.pe, self.rq_lanes)}+"
                         f"{LAST_TAIL if p.last else HIDDEN_TAIL}")
        return " + ".join(parts) + f" = {self.cycles()}"

    @property
    def peak_weights_per_cycle(self) -> int:
        return self.pe * self.simd * self.codebook.n

    def efficiency(self, p: PassPlan) -> dict:
        """Per pass: ``occupancy`` (engine beats per cycle of the pass) and
        ``useful`` (model weight operations per cycle over the peak
        ``PE*SIMD*N``)."""
        cyc = self.pass_cycles(p)
        beats = p.positions * p.groups * p.beats
        return {"cycles": cyc, "beats": beats, "occupancy": beats / cyc,
                "useful": p.weight_ops / (cyc * self.peak_weights_per_cycle)}

    @property
    def weight_ops(self) -> int:
        """Weight operations the core computes per inference (pool windows'
        positions only: a floor-size pool skips the rest)."""
        return sum(p.weight_ops for p in self.passes)

    @property
    def network_macs(self) -> int:
        """The network's multiply-accumulates per inference, as usually
        counted: every weight at every conv output position."""
        return sum(p.conv_shape[0] * p.conv_shape[1] * p.cout * p.row_len for p in self.passes)

    # -- resources ---------------------------------------------------------------------------

    def resources(self, device) -> dict:
        """Memory blocks against ``device`` (estimates: Yosys may put a small
        memory in logic), per memory (:meth:`memories`) and in total."""
        mems = self.memories() if device.family == (self.family or "ice40") else [
            {**m, "blocks": block_count(m["word_bits"], m["words"], device.family)
             if m["kind"] == "bram" else m["blocks"]} for m in self.memories()]
        bram = sum(m["blocks"] for m in mems if m["kind"] == "bram")
        spram = sum(m["blocks"] for m in mems if m["kind"] == "spram")
        return {"device": device.name, "memories": mems,
                "bram": {"used": bram, "available": device.bram, "bits_each": device.bram_bits},
                "spram": {"used": spram, "available": device.spram}}

    def check_fit(self, device) -> dict:
        """:meth:`resources`, or :class:`CapacityError` saying what does not fit."""
        res = self.resources(device)
        problems = []
        if res["spram"]["used"] > device.spram:
            problems.append(f"SPRAM: needs {res['spram']['used']}, {device.name} has "
                            f"{device.spram} (use --map-memory bram)")
        if res["bram"]["used"] > device.bram:
            parts = ", ".join(f"{m['name']} {m['blocks']}" for m in res["memories"]
                              if m["kind"] == "bram" and m["blocks"])
            hint = (" (try --map-memory spram)" if device.spram and self.map_memory == "bram"
                    and block_count(self.map_word_bits, self.map_region_words[0],
                                    device.family) >= res["bram"]["used"] - device.bram
                    else "")
            problems.append(f"block RAM: needs {res['bram']['used']} blocks ({parts}), "
                            f"{device.name} has {device.bram}{hint}")
        if problems:
            raise CapacityError(f"the model does not fit the {device.name}: "
                                + "; ".join(problems))
        return res

    def describe(self) -> dict:
        out = []
        for p in self.passes:
            eff = self.efficiency(p)
            out.append({
                "pass": p.index, "layers": list(p.layers), "kind": p.kind,
                "in_shape": list(p.in_shape), "kernel": list(p.kernel), "stride": p.stride,
                "pad": list(p.pad), "cout": p.cout,
                "pool": None if p.pool[0] == 1 else list(p.pool),
                "out_shape": list(p.out_shape), "positions": p.positions,
                "row_len": p.row_len, "beats_per_group": p.beats, "steps_per_group": p.nsteps,
                "groups": p.groups, "period": p.period, "code_base": p.code_base,
                "code_words": p.code_words, "weight_ops": p.weight_ops,
                "cycles": eff["cycles"], "occupancy": round(eff["occupancy"], 4),
                "efficiency": round(eff["useful"], 4), "last": p.last,
                "clamp": None if p.last else [p.lo, p.hi], "shift": p.shift,
            })
        return {"input_shape": list(self.input_shape), "classes": self.classes,
                "weight_ops": self.weight_ops, "network_macs": self.network_macs,
                "passes": out}


def _passes_of(net: ConvNetwork) -> list:
    """``[(layer indices, golden layer, kind, in_shape, kernel, stride, pad, pool)]``."""
    kinds, layers = net.kinds, net.layers
    shapes = [tuple(net.input_shape)] + [tuple(s) for s in net.shapes]
    out, i = [], 0
    while i < len(layers):
        kind, layer = kinds[i], layers[i]
        where = f"layer {i} ({kind})"
        if kind == "conv2d":
            idx, pool = [i], (1, 1)
            if i + 1 < len(layers) and kinds[i + 1] == "maxpool":
                mp = layers[i + 1]
                pool = (mp.kernel, mp.stride)
                idx.append(i + 1)
            out.append((tuple(idx), layer.layer, "conv2d", shapes[i], (layer.kh, layer.kw),
                        layer.stride, tuple(layer.pad), pool))
            i += len(idx)
        elif kind == "maxpool":
            raise ValueError(f"{where}: the CNN core fuses a max-pool into the conv before it; "
                             f"a max-pool after {'the input' if i == 0 else kinds[i - 1]} "
                             f"is not supported")
        elif kind == "flatten":
            i += 1
        else:
            shp = shapes[i]
            if len(shp) == 1:   # a dense after a dense (or the input flattened): 1x1 map
                src = shapes[i - 1] if i and kinds[i - 1] == "flatten" else None
                shp = src if src is not None and len(src) == 3 else (1, 1, shp[0])
            out.append(((i,), layer, "dense", shp, (shp[0], shp[1]), 1, (0, 0), (1, 1)))
            i += 1
    return out


#: How the engine decodes codes: ``"model"`` (the model's own assignment),
#: ``"direct"`` (codes re-encoded to the direct assignment of the same codebook,
#: whose decoder is a few gates instead of a ROM) or ``"auto"`` (direct when
#: that takes no more bits per code than the model's).
DECODES = ("auto", "model", "direct")


#: Where the largest feature map region goes.
MAP_MEMORIES = ("auto", "bram", "spram")


def plan_convnet(network: ConvNetwork, *, pe: int = 8, simd: int = 1, rq_lanes: int = 1,
                 requant: str = "auto", rom: str = "auto", decode: str = "auto",
                 map_memory: str = "auto", device=None) -> ConvPlan:
    """Check ``network`` against the CNN core's parameters and lay it out.

    Parameters
    ----------
    network : ConvNetwork
        Every conv and dense layer must use the same codebook; a max-pool must
        follow a conv (it is fused into it).
    pe, simd : int
        Engine processing elements and subvectors per beat.
    rq_lanes : int
        Requantizers side by side (``R``); must divide PE and ``SIMD*N``.
    requant : str
        ``"auto"``, ``"shift"`` or ``"mult"`` (as for the MLP core).
    rom : str
        The engine's decode ROM style (enum codes).
    map_memory : str
        :data:`MAP_MEMORIES`: map region 0 (pass 0's output, usually the
        largest map) in block RAM or in the UP5K's SPRAM; ``auto``: SPRAM
        when ``device`` has it.
    device : Device or None
        The target, for memory shapes (block RAM depths, SPRAM).
    decode : str
        :data:`DECODES`. Re-encoding keeps every ternary vector, so the
        results are the same bit for bit; only the code memory's words and
        the decoder change.
    """
    if not isinstance(network, ConvNetwork):
        raise TypeError(f"network must be a ConvNetwork, not {type(network).__name__}")
    check_choice("requant", requant, REQUANT_MODES)
    sst = network.sst_layers()
    cb = sst[0].codebook
    for i, layer in enumerate(sst[1:], 1):
        if layer.codebook != cb:
            raise ValueError(f"every conv and dense layer must use the same codebook for one "
                             f"engine: the first uses {cb.describe_short()}, SST layer {i} "
                             f"{layer.codebook.describe_short()}")
    check_choice("decode", decode, DECODES)
    ecb = cb
    if cb.assignment == "enum" and decode != "model":
        direct = Codebook(cb.n, cb.k, cb.variant, "direct")
        if decode == "direct" or direct.bits <= cb.bits:
            ecb = direct
    if ecb.assignment == "direct":
        rom = "auto"
    fmts = network.input_formats()
    act_width, act_signed = engine_act_format(fmts)
    rows = [l.in_features for l in sst]
    engine = SSTParams(ecb.n, ecb.k, ecb.variant, ecb.assignment, pe=pe, simd=simd,
                       act_width=act_width, act_signed=act_signed, max_row_len=max(rows),
                       rom=rom, out_depth=2)
    pe, simd = engine.pe, engine.simd
    lanes = simd * cb.n
    rq_lanes = check_int("rq_lanes", rq_lanes, 1, 64)
    if pe % rq_lanes or lanes % rq_lanes:
        raise ValueError(f"rq_lanes must divide PE ({pe}) and SIMD*N ({lanes}), not {rq_lanes}")
    hidden_shift = all(l.shift_mode for l in sst[:-1])
    if requant == "auto":
        requant = "shift" if hidden_shift else "mult"
    elif requant == "shift" and not hidden_shift:
        raise ValueError("requant 'shift' needs every multiplier M_r = 1 (use 'mult' or 'auto')")

    specs = _passes_of(network)
    c0 = network.input_shape[2]
    in_lanes = min(lanes, c0)
    in_cg = _cdiv(c0, in_lanes)
    passes, regions = [], [0, 0]
    code_base = param_base = step_base = 0
    last = len(specs) - 1
    for j, (idx, layer, kind, in_shape, kernel, stride, pad, pool) in enumerate(specs):
        H, W, C = in_shape
        src_lanes = in_lanes if j == 0 else lanes
        src_cg = _cdiv(C, src_lanes)
        S = layer.subvectors
        Sb = _cdiv(S, simd)
        G = _cdiv(layer.out_features, pe)
        raw = gather_steps(kernel, C, src_lanes, lanes, Sb)
        steps = tuple(Step(ky, kx, (ky * W + kx) * src_cg + g, src, first, bl, rl)
                      for ky, kx, g, src, first, bl, rl in raw)
        ho = (H + 2 * pad[0] - kernel[0]) // stride + 1
        wo = (W + 2 * pad[1] - kernel[1]) // stride + 1
        k, s = pool
        hp, wp = ((ho - k) // s + 1, (wo - k) // s + 1) if k > 1 else (ho, wo)
        cout = layer.out_features
        is_last = j == last
        # The serialiser drains one result per window and group: k*k periods.
        drain = pe if is_last else _cdiv(pe, rq_lanes)
        T = max(len(steps), _cdiv(drain, pool[0] ** 2), engine.latency)
        lo, hi = layer.out_range
        p = PassPlan(j, idx, kind, (H, W, C), kernel, stride, pad, cout, pool, (ho, wo),
                     (hp, wp, cout), src_lanes, src_cg, _cdiv(cout, lanes), layer.in_features,
                     S, Sb, G, steps, T, hp * wp * k * k, code_base, param_base, step_base,
                     layer.shift, lo, hi, layer.relu, j == 0, is_last)
        if not is_last:
            regions[p.write_region] = max(regions[p.write_region], p.out_words)
            param_base += G * pe
        passes.append(p)
        code_base += G * Sb
        step_base += len(steps)
    check_choice("map_memory", map_memory, MAP_MEMORIES)
    family = device.family if device is not None else None
    if map_memory == "auto":
        map_memory = "spram" if device is not None and device.spram else "bram"
    if map_memory == "spram":
        if lanes * act_width > SPRAM_WIDTH * 4 or regions[0] > SPRAM_WORDS:
            raise ValueError(f"--map-memory spram holds words of at most 64 bits (4 SPRAMs "
                             f"side by side), not {lanes * act_width} (SIMD*N*A)")
    code_words = sum(p.code_words for p in passes)
    main = code_words
    if family is not None:
        width = pe * simd * cb.bits
        # The deepest block configuration of no more blocks per row than the widest.
        depth = _row_depth(width, family)
        tail = code_words % depth
        if code_words > depth and 0 < tail and tail * width <= 1024:
            main = code_words - tail
    return ConvPlan(network, requant, rq_lanes, engine, tuple(passes), tuple(regions), in_lanes,
                    in_cg, map_memory, main, family)


def _row_depth(width: int, family: str) -> int:
    """Words of one row of blocks in the configuration that needs fewest blocks per row."""
    configs = BRAM_CONFIGS[family]
    best = min(configs, key=lambda c: (_cdiv(width, c[0]), -c[1]))
    return best[1]


def lane_sources(plan) -> list:
    """Per beat lane, the sorted word lanes any step of any pass takes it from
    (the inputs of that lane's multiplexer)."""
    out = [set() for _ in range(plan.lanes)]
    for p in plan.passes:
        for st in p.steps:
            for t, u in enumerate(st.src):
                if u >= 0:
                    out[t].add(u)
    return [sorted(x) or [0] for x in out]


def step_fields(plan) -> dict:
    """The fields of a step ROM word and their widths: kernel offset, address
    offset, the flags, a lane enable mask, and for each lane with several
    sources (:func:`lane_sources`) the index of its source."""
    steps = [s for p in plan.passes for s in p.steps]
    fields = {"ky": max(1, max(s.ky for s in steps).bit_length()),
              "kx": max(1, max(s.kx for s in steps).bit_length()),
              "offset": max(1, max(s.offset for s in steps).bit_length()),
              "first": 1, "beat_last": 1, "row_last": 1, "en": plan.lanes}
    for t, src in enumerate(lane_sources(plan)):
        if len(src) > 1:
            fields[f"sel{t}"] = (len(src) - 1).bit_length()
    return fields


def step_bits(plan) -> int:
    """Bits of one step ROM word."""
    return sum(step_fields(plan).values())


#: The CNN core's configuration for the UP5K reference CNN (``sst-hw compile
#: --device up5k`` of a CNN model), and for the VGG-9-topology CNN on the ECP5 85F.
UP5K_CNN_CORE = {"pe": 8, "simd": 1, "rq_lanes": 1}
ECP5_CNN_CORE = {"pe": 32, "simd": 2, "rq_lanes": 4}
__all__ += ["UP5K_CNN_CORE", "ECP5_CNN_CORE"]
