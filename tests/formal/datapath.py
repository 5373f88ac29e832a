"""Proof 1: the engine datapath (decoder -> sign-select lanes -> adder tree).

:class:`Datapath` wires the real components exactly as
:class:`~sst_hw.rtl.engine.SSTEngine` does for one PE (a decoder of SIMD
codes, SIMD lanes, one tree over their K*SIMD terms and carries), with the
activations going straight into the lanes. Its Verilog is emitted by
Amaranth's Verilog back end (as :func:`sst_hw.emit.engine.engine_verilog`
emits the engine), and ``datapath_harness.sv`` states the property around it.
"""

from __future__ import annotations

from pathlib import Path

from amaranth.back import verilog
from amaranth.hdl import Cat, Module, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from sst_hw.plan.engine import SSTParams
from sst_hw.rtl.adder_tree import AdderTree
from sst_hw.rtl.decoder import CodeDecoder, slot_plan
from sst_hw.rtl.lane import SignSelectLane, term_range
from sst_hw.sim.formal import fill_template, write_design

HERE = Path(__file__).parent
TEMPLATE = HERE / "datapath_harness.sv"
TOP = "datapath_harness"
DUT = "sst_datapath"


class Datapath(wiring.Component):
    """Decoder, SIMD lanes and one adder tree of an engine of parameters ``p``
    (an :class:`~sst_hw.plan.engine.SSTParams`; ``pe`` is ignored)."""

    def __init__(self, p: SSTParams):
        self.p = p
        cb = p.codebook
        self.decoder = CodeDecoder(cb, p.simd, rom=p.rom, extra_reg=p.decode_reg)
        plan = slot_plan(cb)
        self.lanes = [SignSelectLane(plan, p.n, p.act_width, p.act_signed,
                                     registered=p.select_reg) for _ in range(p.simd)]
        self.tree = AdderTree(p.k * p.simd, term_range(p.act_width, p.act_signed),
                              p.acc_width, stage_levels=p.tree_stage_levels)
        super().__init__({
            "code": In(data.ArrayLayout(unsigned(cb.bits), p.simd)),
            "act": In(data.ArrayLayout(data.ArrayLayout(p.act_shape, p.n), p.simd)),
            "sum": Out(signed(self.tree.sum_width)),
            "cout": Out(1),
        })

    @property
    def code_latency(self) -> int:
        """Cycles from a code at ``code`` to its decoded slots at the lanes."""
        return self.decoder.latency

    @property
    def act_latency(self) -> int:
        """Cycles from the lanes' inputs to the tree's sum."""
        return self.lanes[0].latency + self.tree.latency

    def elaborate(self, platform):
        m = Module()
        m.submodules.decoder = dec = self.decoder
        m.submodules.tree = tree = self.tree
        terms, corrs = [], []
        for s, lane in enumerate(self.lanes):
            m.submodules[f"lane_{s}"] = lane
            m.d.comb += [dec.codes[s].eq(self.code[s]), lane.act.eq(self.act[s]),
                         lane.slots.eq(dec.slots[s])]
            terms.extend(lane.terms[i] for i in range(self.p.k))
            corrs.extend(lane.corr[i] for i in range(self.p.k))
        for j, t in enumerate(terms):
            m.d.comb += tree.terms[j].eq(t)
        m.d.comb += [tree.cins.eq(Cat(*corrs)), self.sum.eq(tree.sum), self.cout.eq(tree.cout)]
        return m


def table_lines(cb, *, flip: int | None = None) -> list[str]:
    """The harness's decode table: one ``case`` line per used code value whose
    vector is not zero, 2 bits per weight (bit 2j: +1, bit 2j+1: -1).
    ``flip`` negates the first non-zero weight of that code value's entry
    (the broken reference)."""
    vectors, used = cb.vectors, cb.used
    lines = []
    for c in range(cb.table_size):
        v = [int(x) for x in vectors[c]]
        if not used[c] or not any(v):
            continue
        if c == flip:
            j = next(i for i, x in enumerate(v) if x)
            v[j] = -v[j]
        bits = 0
        for j, x in enumerate(v):
            if x == 1:
                bits |= 1 << (2 * j)
            elif x == -1:
                bits |= 1 << (2 * j + 1)
        lines.append(f"            {cb.bits}'d{c}: vec = {2 * cb.n}'h{bits:x};")
    return lines


def decode_function(cb, *, flip: int | None = None) -> str:
    """The harnesses' ``vec(code)`` function: the decode table of ``cb``
    (:func:`table_lines`, ``flip`` as there), 2 bits per weight."""
    return "\n".join([
        "    // The decode table: 2 bits per weight, {negative, positive}.",
        f"    function automatic [{2 * cb.n - 1}:0] vec(input [{cb.bits - 1}:0] c);",
        "        case (c)",
        *table_lines(cb, flip=flip),
        f"            default: vec = {2 * cb.n}'d0;",
        "        endcase",
        "    endfunction"])


def flip_candidate(cb) -> int:
    """A used code value with a non-zero vector (the last: the most signs)."""
    return max(c for c in range(cb.table_size) if cb.used[c] and cb.vectors[c].any())


def write_proof(folder, p: SSTParams, *, flip: int | None = None,
                mutate=None) -> tuple[list[Path], str]:
    """The design (``sst_datapath.v``) and its harness (``datapath_harness.sv``)
    of parameters ``p`` in ``folder``: ``(files, top)``. ``flip`` breaks the
    reference table (:func:`table_lines`); ``mutate(text) -> text`` breaks a
    copy of the emitted Verilog."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    dp = Datapath(p)
    text = verilog.convert(dp, name=DUT, emit_src=False)
    design = write_design(folder, DUT, text, mutate)

    lo, hi = term_range(p.act_width, p.act_signed)
    count = p.k * p.simd
    exact = max(count * abs(lo), count * (hi + 1)).bit_length() + 1
    sum_width = dp.tree.sum_width
    capped = sum_width < exact
    rw = max(exact, sum_width) + 1
    cb = p.codebook
    fill = {
        "SIMD": p.simd, "N": p.n, "A": p.act_width, "ASIGNED": int(p.act_signed),
        "B": cb.bits, "S": sum_width, "CW": sum_width if capped else rw, "RW": rw,
        "LDEC": dp.code_latency, "LREST": dp.act_latency, "DUT": DUT,
        "DECODE": decode_function(cb, flip=flip),
    }
    return [fill_template(TEMPLATE, folder, fill), design], TOP


def latency(p: SSTParams) -> int:
    """Code-to-sum latency of the datapath of ``p`` (the induction depth needed)."""
    return p.term_stages + p.tree_latency
