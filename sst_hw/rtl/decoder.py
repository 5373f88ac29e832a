"""The SST code decoder: code words -> K slots (select, sign, valid)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from amaranth.hdl import Cat, Const, Module, Signal, unsigned
from amaranth.lib import data
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from sst_hw.format.codebook import Codebook
from sst_hw.plan.engine import DECODE_LATENCY, MAX_ROM_BITS, ROM_STYLES, check_rom
from sst_hw.rtl._util import CheckedComponent, check_bool, check_int, clog2

__all__ = ["SlotPlan", "slot_plan", "slot_layout", "check_rom", "CodeDecoder", "ROM_STYLES",
           "MAX_ROM_BITS"]


@dataclass(frozen=True)
class SlotPlan:
    """Which activations each decoder slot can select.

    Slot ``i`` selects activation ``base[i] + sel`` of its subvector, with
    ``sel`` in ``0..span[i]-1``: for ``partitioned`` codebooks slot ``i``
    serves segment ``i`` (``base = i*N/K``, ``span = N/K``); for ``full``
    codebooks the span is the range of positions the slot ever takes.
    """

    base: tuple
    span: tuple

    @property
    def sel_bits(self) -> int:
        """Width of every slot's ``sel`` field (the widest slot's)."""
        return max(clog2(s) for s in self.span)

    @property
    def k(self) -> int:
        return len(self.base)


def slot_plan(cb: Codebook) -> SlotPlan:
    """The :class:`SlotPlan` of the hardware decoder of ``cb``."""
    n, k = cb.n, cb.k
    if cb.assignment == "direct":
        if cb._slot_fields:
            return SlotPlan((0,) * k, (n,) * k)
        seg = n // k
        return SlotPlan(tuple(i * seg for i in range(k)), (seg,) * k)
    pos, _neg, valid, _used = cb.table
    base, span = [], []
    for i in range(k):
        p = pos[valid[:, i], i]
        if len(p) == 0:  # pragma: no cover - every slot is used for K <= N
            base.append(0)
            span.append(1)
        else:
            base.append(int(p.min()))
            span.append(int(p.max()) - int(p.min()) + 1)
    return SlotPlan(tuple(base), tuple(span))


def slot_layout(sel_bits: int) -> data.StructLayout:
    """One decoded slot: ``sel`` (``sel_bits``), ``neg`` (1 = negate), ``valid``."""
    return data.StructLayout({"sel": unsigned(sel_bits), "neg": 1, "valid": 1})


def rom_words(cb: Codebook, plan: SlotPlan) -> list:
    """Decode-ROM contents: one word per code value, slot ``i`` at bits
    ``[i*(S+2), (i+1)*(S+2))`` as ``sel | neg << S | valid << (S+1)``."""
    pos, neg, valid, _used = cb.table
    sb = plan.sel_bits
    words = np.zeros(cb.table_size, dtype=object)
    for i in range(cb.k):
        sel = np.where(valid[:, i], pos[:, i] - plan.base[i], 0).astype(np.int64)
        field = (sel | (neg[:, i].astype(np.int64) << sb)
                 | (valid[:, i].astype(np.int64) << (sb + 1)))
        field = np.where(valid[:, i], field, 0)
        words = words + (field.astype(object) << (i * (sb + 2)))
    return [int(w) for w in words]


class CodeDecoder(CheckedComponent):
    """Decodes ``count`` SST code words in parallel into K slots each.

    ``enum`` codes read a ROM (:class:`~amaranth.lib.memory.Memory` with one
    synchronous read port per code, kept in LUTs or block RAM by the ``rom``
    parameter); ``direct`` codes are decoded by gates followed by a register.
    Unused code values decode to no valid slot. The decode of every code
    value equals :attr:`Codebook.table <sst_hw.format.codebook.Codebook.table>`,
    with ``sel = pos - plan.base[i]``.

    Latency :data:`~sst_hw.plan.engine.DECODE_LATENCY` = 1 cycle (2 with
    ``extra_reg``), throughput one set of codes per cycle; there is no
    enable: the outputs follow the inputs of the cycle before (two before).

    Parameters
    ----------
    codebook : Codebook
        The code to decode.
    count : int
        Codes decoded per cycle (PE x SIMD in the engine).
    rom : str
        ``"auto"``, ``"logic"`` or ``"block"``: where an ``enum`` ROM is kept
        (a ``rom_style`` attribute for Yosys). Must be ``"auto"`` for ``direct``.
    extra_reg : bool
        A second output register: a block RAM's clock-to-output delay (about
        6 ns on ECP5) then stays out of the next stage.

    Members
    -------
    codes : ``In(ArrayLayout(unsigned(B), count))``
        Code words, B = ``codebook.bits``.
    slots : ``Out(ArrayLayout(ArrayLayout(slot_layout(S), K), count))``
        Decoded slots of each code, one cycle later; S = ``plan.sel_bits``.
    """

    @classmethod
    def check(cls, codebook: Codebook, count: int = 1, *, rom: str = "auto",
              extra_reg: bool = False) -> dict:
        if not isinstance(codebook, Codebook):
            raise TypeError(f"codebook must be a Codebook, not {codebook!r}")
        count = check_int("count", count)
        rom = check_rom(codebook, rom)
        extra_reg = check_bool("extra_reg", extra_reg)
        plan = slot_plan(codebook)
        return {"codebook": codebook, "count": count, "rom": rom, "extra_reg": extra_reg,
                "latency": DECODE_LATENCY + int(extra_reg), "plan": plan,
                "slot_shape": slot_layout(plan.sel_bits)}

    def __init__(self, *args, **kwargs):   # the arguments of check(), already checked
        codebook = self.codebook
        super().__init__({
            "codes": In(data.ArrayLayout(unsigned(codebook.bits), self.count)),
            "slots": Out(data.ArrayLayout(data.ArrayLayout(self.slot_shape, codebook.k),
                                          self.count)),
        })

    def elaborate(self, platform):
        m = Module()
        out = self.slots
        if self.extra_reg:
            out = Signal.like(self.slots, reset_less=True, name="slots_1")
            m.d.sync += self.slots.eq(out)
        if self.codebook.assignment == "enum":
            self._elaborate_rom(m, out)
        else:
            for c in range(self.count):
                decoded = self._direct_gates(m, self.codes[c], c)
                m.d.sync += out[c].eq(decoded)
        return m

    def _elaborate_rom(self, m, out):
        cb, sb = self.codebook, self.plan.sel_bits
        attrs = {} if self.rom == "auto" else {"rom_style": self.rom}
        rom = Memory(shape=unsigned(cb.k * (sb + 2)), depth=cb.table_size,
                     init=rom_words(cb, self.plan), attrs=attrs)
        m.submodules.rom = rom
        for c in range(self.count):
            port = rom.read_port(domain="sync")
            m.d.comb += [port.addr.eq(self.codes[c]), out[c].eq(port.data)]

    def _direct_gates(self, m, code, c):
        """Combinational decode of one direct code word (see :class:`Codebook`)."""
        cb, plan = self.codebook, self.plan
        k, f = cb.k, cb.field_bits
        out = Signal(data.ArrayLayout(self.slot_shape, k), name=f"dec{c}")
        fields = [code[i * f:(i + 1) * f] for i in range(k)]
        if cb._slot_fields:
            pb = cb.pos_bits
            pos = [fl[:pb] for fl in fields]
            neg = [fl[pb] for fl in fields]
            used = Const(1, 1)
            if (1 << pb) != cb.n:
                used = Cat(*[p < cb.n for p in pos]).all()
            for i in range(k):
                keep = [pos[j] != pos[i] for j in range(i)]
                keep += [~((pos[j] == pos[i]) & (neg[j] != neg[i])) for j in range(i + 1, k)]
                valid = Cat(used, *keep).all()
                m.d.comb += [out[i].sel.eq(pos[i]), out[i].neg.eq(neg[i]),
                             out[i].valid.eq(valid)]
        else:
            seg = cb.n // k
            used = Const(1, 1)
            if (1 << f) - 1 > 2 * seg:
                used = Cat(*[fl <= 2 * seg for fl in fields]).all()
            for i in range(k):
                v1 = Signal(f, name=f"dec{c}_v{i}")
                m.d.comb += v1.eq(fields[i] - 1)
                m.d.comb += [out[i].valid.eq(used & (fields[i] != 0)),
                             out[i].neg.eq(v1[0])]
                if plan.sel_bits:
                    m.d.comb += out[i].sel.eq(v1[1:])
        return out
