"""``Requantizer``: one pipelined requantization unit shared by every row.

``y = clamp((acc * M_r + C_r) >> S_l, lo_l, hi_l)`` (docs/architecture.md,
"Integer arithmetic"), one accumulator per cycle, with ``M_r`` and ``C_r``
read from a table indexed by a global row number and ``S_l``, ``lo_l``,
``hi_l`` constants of the layer.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Shape, Signal, signed, unsigned
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from sst_hw.format.arith import MULT_BITS
from sst_hw.format.limits import MAX_ACC_WIDTH
from sst_hw.plan.network import REQUANT_LATENCY
from sst_hw.rtl._util import CheckedComponent, check_int

__all__ = ["Requantizer"]


class Requantizer(CheckedComponent):
    """Pipelined requantization of one accumulator per cycle.

    Pipeline (latency :attr:`latency` = 4 cycles, the network plan's
    :data:`~sst_hw.plan.network.REQUANT_LATENCY`; throughput 1 per cycle, no
    stall): cycle 0 presents ``acc``, ``row`` and ``layer`` and reads the
    table (``row``); cycle 1 registers the table word; cycle 2 multiplies
    ``acc * M`` (``M = 1`` and no multiplier in shift mode); cycle 3 adds
    ``C``, shifts right arithmetically by the layer's ``S`` and clamps to the
    layer's bounds; ``y`` is valid in cycle 4 (``o_valid``). ``tag`` travels
    alongside.

    The product ``acc * M`` is a plain ``*`` of a W-bit and a 16-bit signed
    value between two registers, which Yosys maps to SB_MAC16 (iCE40 UP5K,
    ``synth_ice40 -dsp``) or MULT18X18D (ECP5).

    Parameters
    ----------
    acc_width : int
        W, bits of the signed accumulator.
    table : list of int
        One word per row: ``C`` in the low ``add_bits`` bits, ``M`` above it
        (``MULT_BITS`` bits unless ``shift_mode``), two's complement.
    add_bits : int
        Bits of ``C`` in the table.
    shift_mode : bool
        Multiplier-free: the table holds ``C`` only and ``M = 1``.
    layers : list of (shift, lo, hi)
        Per layer index: the shift S (0..63) and the inclusive clamp bounds.
    out_shape : Shape
        Shape of ``y`` (holds every ``lo..hi``).
    tag_width : int
        Bits of ``tag``.
    shift_bits : int
        0: each layer's shift is the constant in ``layers``. Otherwise (a
        loadable core) each table row holds its shift ``S`` in its top
        ``shift_bits`` bits, and the shifter is a barrel shifter.
    bank_rows : int
        0: one bank. Otherwise a loadable block RAM table of two banks of
        ``bank_rows`` rows (a power of two, :attr:`NetPlan.param_rows_pow2
        <sst_hw.plan.network.NetPlan.param_rows_pow2>`): the bitstream's rows in
        bank 0 (``table``), the loaded ones in bank 1; ``use_loaded`` picks it.
    writable : bool
        Give the table the ``img_*`` port (a loadable core; an spram build's
        single bank starts as zeros).

    Members
    -------
    valid : ``In(1)``
    acc : ``In(signed(acc_width))``
    row : ``In(range(len(table)))``
    layer : ``In(range(len(layers)))``
    tag : ``In(tag_width)``
    o_valid : ``Out(1)``
    y : ``Out(out_shape)``
    o_tag : ``Out(tag_width)``
    img_addr, img_wdata, img_we, img_re, use_loaded : ``In``; ``img_rdata`` : ``Out``
        Only when ``writable``: the loadable bank's port (the link's, while
        the core is idle), read latency 1.
    """

    latency = REQUANT_LATENCY

    @classmethod
    def check(cls, *, acc_width: int, table, add_bits: int, shift_mode: bool, layers,
              out_shape, tag_width: int = 1, shift_bits: int = 0, bank_rows: int = 0,
              writable: bool = False) -> dict:
        acc_width = check_int("acc_width", acc_width, 2, MAX_ACC_WIDTH)
        table = [int(w) for w in table]
        if not table:
            raise ValueError("table must hold at least one row, not 0")
        add_bits = check_int("add_bits", add_bits, 2, 96)
        shift_mode = bool(shift_mode)
        layers = [(int(s), int(lo), int(hi)) for s, lo, hi in layers]
        if not layers:
            raise ValueError("layers must list at least one layer, not 0")
        for i, (s, lo, hi) in enumerate(layers):
            if not 0 <= s <= 63:
                raise ValueError(f"layer {i} shift must be in 0..63, not {s}")
            if lo > hi:
                raise ValueError(f"layer {i} clamp bounds must have lo <= hi, not {lo} > {hi}")
        return {"acc_width": acc_width, "table": table, "add_bits": add_bits,
                "shift_mode": shift_mode, "mult_bits": 0 if shift_mode else MULT_BITS,
                "layers": layers, "out_shape": Shape.cast(out_shape),
                "tag_width": check_int("tag_width", tag_width),
                "shift_bits": check_int("shift_bits", shift_bits, 0, 7),
                "bank_rows": cls._check_bank_rows(bank_rows, len(table)),
                "writable": bool(writable)}

    @staticmethod
    def _check_bank_rows(bank_rows, rows: int) -> int:
        bank_rows = check_int("bank_rows", bank_rows, 0)
        if bank_rows and (bank_rows < rows or bank_rows & (bank_rows - 1)):
            raise ValueError(f"bank_rows must be 0 or a power of two of at least {rows} "
                             f"rows, not {bank_rows}")
        return bank_rows

    def __init__(self, **kwargs):   # the arguments of check(), already checked
        members = {
            "valid": In(1),
            "acc": In(signed(self.acc_width)),
            "row": In(range(len(self.table))),
            "layer": In(range(len(self.layers))),
            "tag": In(self.tag_width),
            "o_valid": Out(1),
            "y": Out(self.out_shape),
            "o_tag": Out(self.tag_width),
        }
        if self.writable:
            members.update({"img_addr": In(range(len(self.table))),
                            "img_wdata": In(self.word_bits), "img_we": In(1), "img_re": In(1),
                            "use_loaded": In(1), "img_rdata": Out(self.word_bits)})
        super().__init__(members)

    @property
    def word_bits(self) -> int:
        """Bits of a table row: ``C``, ``M`` (unless shift mode), ``S`` (if per row)."""
        return self.add_bits + self.mult_bits + self.shift_bits

    @property
    def sum_width(self) -> int:
        """Bits of ``acc * M + C``."""
        prod = self.acc_width + (self.mult_bits or 1)
        return max(prod, self.add_bits) + 1

    def elaborate(self, platform):
        m = Module()
        W, cb, mb, sb = self.acc_width, self.add_bits, self.mult_bits, self.shift_bits
        rd = self._table(m)

        # Cycle 0 -> 1: table read; acc and the side band registered alongside.
        acc1 = Signal(signed(W), name="acc1", reset_less=True)
        v1, layer1, tag1 = Signal(name="v1"), Signal.like(self.layer, name="layer1"), \
            Signal(self.tag_width, name="tag1")
        m.d.sync += [acc1.eq(self.acc), v1.eq(self.valid), layer1.eq(self.layer),
                     tag1.eq(self.tag)]

        # Cycle 1 -> 2: the table word registered (off the block RAM's clock-to-out,
        # which would otherwise precede the multiplier), acc alongside.
        add1 = Signal(signed(cb), name="add1", reset_less=True)
        if sb:      # a loadable table: the row's own shift travels with C
            shift1 = Signal(sb, name="shift1", reset_less=True)
            m.d.sync += shift1.eq(rd.data[cb + mb:cb + mb + sb])
        acc1b = Signal(signed(W), name="acc1b", reset_less=True)
        v1b, layer1b, tag1b = Signal(name="v1b"), Signal.like(self.layer, name="layer1b"), \
            Signal(self.tag_width, name="tag1b")
        m.d.sync += [add1.eq(rd.data[:cb]), acc1b.eq(acc1), v1b.eq(v1), layer1b.eq(layer1),
                     tag1b.eq(tag1)]

        # Cycle 2 -> 3: the product.
        prod_w = W + (mb or 0)
        prod2 = Signal(signed(prod_w), name="prod2", reset_less=True)
        add2 = Signal(signed(cb), name="add2", reset_less=True)
        v2, layer2, tag2 = Signal(name="v2"), Signal.like(self.layer, name="layer2"), \
            Signal(self.tag_width, name="tag2")
        if mb:
            mult1 = Signal(signed(mb), name="mult1", reset_less=True)
            m.d.sync += mult1.eq(rd.data[cb:cb + mb])
            m.d.sync += prod2.eq(acc1b * mult1)
        else:
            m.d.sync += prod2.eq(acc1b)
        m.d.sync += [add2.eq(add1), v2.eq(v1b), layer2.eq(layer1b), tag2.eq(tag1b)]
        if sb:
            shift2 = Signal.like(shift1, name="shift2", reset_less=True)
            m.d.sync += shift2.eq(shift1)

        # Cycle 3 -> 4: add, shift, clamp (per layer constants).
        total = Signal(signed(self.sum_width), name="total")
        m.d.comb += total.eq(prod2 + add2)
        y3 = Signal(self.out_shape, name="y3", reset_less=True)
        if sb:
            self._clamp_variable(m, total, shift2, layer2, y3)
        else:
            self._clamp_constant(m, total, layer2, y3)
        v3, tag3 = Signal(name="v3"), Signal(self.tag_width, name="tag3")
        m.d.sync += [v3.eq(v2), tag3.eq(tag2)]
        m.d.comb += [self.o_valid.eq(v3), self.y.eq(y3), self.o_tag.eq(tag3)]
        return m

    def _table(self, m):
        """The table's memory and its read port (addressed by ``row``, or by the
        link's ``img_addr`` while it reads or writes)."""
        rows, wb = len(self.table), self.word_bits
        if not self.writable:
            mem = Memory(shape=unsigned(wb), depth=rows, init=self.table)
            m.submodules.table = mem
            rd = mem.read_port(domain="sync")
            m.d.comb += rd.addr.eq(self.row)
            return rd
        bank = self.bank_rows
        init = self.table + [0] * (bank - rows) + [0] * bank if bank else [0] * rows
        m.submodules.table = mem = Memory(shape=unsigned(wb), depth=len(init), init=init)
        rd, wr = mem.read_port(domain="sync"), mem.write_port()
        if bank:
            rbits = (bank - 1).bit_length()
            run_addr = Cat(self.row[:rbits], self.use_loaded)
            img_addr = Cat(self.img_addr[:rbits], Const(1, 1))
        else:
            run_addr, img_addr = self.row, self.img_addr
        m.d.comb += [rd.addr.eq(Mux(self.img_re | self.img_we, img_addr, run_addr)),
                     wr.addr.eq(img_addr), wr.data.eq(self.img_wdata), wr.en.eq(self.img_we),
                     self.img_rdata.eq(rd.data)]
        return rd

    def _clamp_variable(self, m, total, shift, layer, y3):
        """``y3 = clamp(total >> shift, lo, hi)``: the shift from the row, the
        bounds the layer's."""
        shifted = Signal(signed(self.sum_width), name="shr")
        m.d.comb += shifted.eq(total >> shift)
        lo = Signal(self.out_shape, name="clamp_lo")
        hi = Signal(self.out_shape, name="clamp_hi")
        with m.Switch(layer):
            for i, (_, l, h) in enumerate(self.layers):
                with m.Case(i):
                    m.d.comb += [lo.eq(l), hi.eq(h)]
        m.d.sync += y3.eq(Mux(shifted < lo, lo, Mux(shifted > hi, hi, shifted)))

    def _clamp_constant(self, m, total, layer2, y3):
        """``y3 = clamp(total >> S_l, lo_l, hi_l)`` with the layer's constants."""
        distinct = sorted(set(self.layers))
        cand = []
        for s, lo, hi in distinct:
            shifted = Signal(signed(self.sum_width), name=f"shr{s}")
            if s >= self.sum_width:
                m.d.comb += shifted.eq(Mux(total < 0, -1, 0))
            else:
                m.d.comb += shifted.eq(total >> s)
            c = Signal(self.out_shape, name=f"clamp_{s}_{lo}_{hi}".replace("-", "m"))
            m.d.comb += c.eq(Mux(shifted < lo, Const(lo, self.out_shape),
                                 Mux(shifted > hi, Const(hi, self.out_shape), shifted)))
            cand.append(c)
        if len(cand) == 1:
            m.d.sync += y3.eq(cand[0])
        else:
            with m.Switch(layer2):
                for i, spec in enumerate(self.layers):
                    with m.Case(i):
                        m.d.sync += y3.eq(cand[distinct.index(spec)])
