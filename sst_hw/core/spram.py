"""``SPRAMMemory``: a single-port RAM built from the iCE40 UP5K's SB_SPRAM256KA.

Each SPRAM holds 16384 words of 16 bits and cannot be initialised by the
bitstream. A memory of ``width`` bits and ``depth`` words takes
``ceil(width/16)`` SPRAMs side by side (columns) times ``ceil(depth/16384)``
(banks). Yosys does not infer SPRAM from a memory with an initial value (and
Amaranth memories always have one), so the primitives are instantiated
explicitly; ``primitive=False`` builds a behavioural equivalent for
Amaranth's simulator.

For a Verilog simulator, :data:`SB_SPRAM256KA_SIM` is a behavioural model of
the primitive (the subset of Yosys' ``cells_sim.v`` model this core uses:
no power-down, no standby, nibble write masks).
"""

from __future__ import annotations

from amaranth.hdl import Cat, ClockSignal, Const, Instance, Module, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from sst_hw.rtl._util import check_int, clog2

__all__ = ["SPRAMMemory", "SB_SPRAM256KA_SIM", "SPRAM_WORDS", "SPRAM_WIDTH", "spram_count"]

SPRAM_WORDS = 16384
SPRAM_WIDTH = 16

#: A behavioural Verilog model of SB_SPRAM256KA for Verilator/Icarus.
SB_SPRAM256KA_SIM = """\
// Behavioural model of the iCE40 UP5K SPRAM (after Yosys' ice40/cells_sim.v),
// for simulation only: 16384 x 16 bits, one read-or-write port, read data
// registered and held while CHIPSELECT is low.
module SB_SPRAM256KA (
    input [13:0] ADDRESS,
    input [15:0] DATAIN,
    input [3:0] MASKWREN,
    input WREN, CHIPSELECT, CLOCK, STANDBY, SLEEP, POWEROFF,
    output reg [15:0] DATAOUT
);
    reg [15:0] mem [0:16383];
    always @(posedge CLOCK) begin
        if (CHIPSELECT && !STANDBY && !SLEEP && POWEROFF) begin
            if (!WREN) begin
                DATAOUT <= mem[ADDRESS];
            end else begin
                if (MASKWREN[0]) mem[ADDRESS][ 3: 0] <= DATAIN[ 3: 0];
                if (MASKWREN[1]) mem[ADDRESS][ 7: 4] <= DATAIN[ 7: 4];
                if (MASKWREN[2]) mem[ADDRESS][11: 8] <= DATAIN[11: 8];
                if (MASKWREN[3]) mem[ADDRESS][15:12] <= DATAIN[15:12];
            end
        end
    end
endmodule
"""


def spram_count(width: int, depth: int) -> int:
    """SB_SPRAM256KA blocks of a ``width`` x ``depth`` memory."""
    return -(-width // SPRAM_WIDTH) * -(-depth // SPRAM_WORDS)


class SPRAMMemory(wiring.Component):
    """``depth`` words of ``width`` bits in SB_SPRAM256KA blocks, one port.

    A cycle with ``we`` writes ``wdata`` at ``addr``; a cycle with ``re`` (and
    not ``we``) reads ``addr``, and ``rdata`` shows the word from the next
    cycle on, held until the next read (latency 1). The contents after
    power-up are undefined.

    Parameters
    ----------
    width, depth : int
        Word width in bits and number of words.
    primitive : bool
        Instantiate SB_SPRAM256KA (synthesis, Verilog simulation with
        :data:`SB_SPRAM256KA_SIM`); False: a behavioural Amaranth memory.

    Members
    -------
    addr : ``In(range(depth))``
    wdata : ``In(width)``
    we, re : ``In(1)``
    rdata : ``Out(width)``
    """

    def __init__(self, width: int, depth: int, *, primitive: bool = True):
        self.width = check_int("width", width)
        self.depth = check_int("depth", depth)
        self.primitive = bool(primitive)
        self.columns = -(-self.width // SPRAM_WIDTH)
        self.banks = -(-self.depth // SPRAM_WORDS)
        super().__init__({
            "addr": In(range(max(2, self.depth))),
            "wdata": In(self.width),
            "we": In(1),
            "re": In(1),
            "rdata": Out(self.width),
        })

    @property
    def blocks(self) -> int:
        return self.columns * self.banks

    def elaborate(self, platform):
        m = Module()
        if not self.primitive:
            mem = Memory(shape=unsigned(self.width), depth=self.depth, init=[])
            m.submodules.mem = mem
            wp = mem.write_port()
            rp = mem.read_port()
            m.d.comb += [wp.addr.eq(self.addr), wp.data.eq(self.wdata), wp.en.eq(self.we),
                         rp.addr.eq(self.addr), rp.en.eq(self.re & ~self.we),
                         self.rdata.eq(rp.data)]
            return m

        lo = Signal(14, name="spram_addr")
        m.d.comb += lo.eq(self.addr[:14])
        bank_bits = clog2(self.banks)
        wide = Signal(self.columns * SPRAM_WIDTH, name="spram_wdata")
        m.d.comb += wide.eq(self.wdata)
        outs = []
        for b in range(self.banks):
            sel = Const(1, 1) if self.banks == 1 else (self.addr[14:14 + bank_bits] == b)
            cs = Signal(name=f"spram_cs{b}")
            m.d.comb += cs.eq(sel & (self.we | self.re))
            words = []
            for c in range(self.columns):
                dout = Signal(SPRAM_WIDTH, name=f"spram_dout_{b}_{c}")
                m.submodules[f"spram_{b}_{c}"] = Instance(
                    "SB_SPRAM256KA",
                    i_ADDRESS=lo,
                    i_DATAIN=wide[c * SPRAM_WIDTH:(c + 1) * SPRAM_WIDTH],
                    i_MASKWREN=Const(0b1111, 4),
                    i_WREN=self.we,
                    i_CHIPSELECT=cs,
                    i_CLOCK=ClockSignal("sync"),
                    i_STANDBY=Const(0, 1),
                    i_SLEEP=Const(0, 1),
                    i_POWEROFF=Const(1, 1),
                    o_DATAOUT=dout,
                )
                words.append(dout)
            outs.append(words)
        if self.banks == 1:
            m.d.comb += self.rdata.eq(Cat(*outs[0]))
        else:
            rbank = Signal(range(self.banks), name="spram_rbank")
            with m.If(self.re & ~self.we):
                m.d.sync += rbank.eq(self.addr[14:14 + bank_bits])
            with m.Switch(rbank):
                for b in range(self.banks):
                    with m.Case(b):
                        m.d.comb += self.rdata.eq(Cat(*outs[b]))
        return m

