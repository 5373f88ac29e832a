"""``CodeMemory``: the codes of every layer, read in order.

The code image (:meth:`NetPlan.code_image
<sst_hw.plan.network.NetPlan.code_image>`) holds one word per engine beat in
the order the sequencer issues them, so the memory is addressed by a pointer
that steps once per beat and goes back to word 0 for each inference. It
lives in block RAM initialised from the model (``memory="bram"``) or in the
UP5K's SPRAM (``memory="spram"``, :class:`~sst_hw.core.spram.SPRAMMemory`),
which the bitstream cannot initialise: the memory then takes the image on a
``load`` stream after reset, through the same pointer, before it is ready.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from sst_hw.core._checks import check_plan
from sst_hw.core.spram import SPRAMMemory
from sst_hw.format.limits import check_bool
from sst_hw.rtl._util import CheckedComponent

__all__ = ["CodeMemory", "code_read_signature"]


def code_read_signature(width: int) -> wiring.Signature:
    """Reading the code memory in order, from the memory's side (``Out``).

    Members
    -------
    en : ``In(1)``
        Read the word at the pointer; it shows on ``data`` from the next cycle
        on and is held until the next read.
    step : ``In(1)``
        Move the pointer to the next word (after this cycle's read).
    data : ``Out(width)``
    """
    return wiring.Signature({"en": In(1), "step": In(1), "data": Out(width)})


class CodeMemory(CheckedComponent):
    """``plan.code_words`` words of ``plan.code_word_bits`` bits behind a read pointer.

    Read latency 1: a cycle with ``read.en`` reads the word at the pointer,
    which shows on ``read.data`` from the next cycle on (held while ``en`` is
    low). The pointer starts at word 0 after reset, steps on ``read.step``
    and goes back to 0 on ``rewind``.

    With ``plan.memory == "spram"`` the contents after power-up are undefined:
    from reset, the memory takes ``plan.code_words`` words on ``load`` (always
    ready until then), writing them at the pointer in order, and ``ready``
    rises the cycle after the last one (the pointer is then back at 0). With
    ``"bram"`` the words are the initial contents and ``ready`` is always 1.

    Parameters
    ----------
    plan : NetPlan
        Uses ``memory``, ``code_words``, ``code_word_bits`` and
        ``code_image()``.
    primitive : bool
        With spram: instantiate SB_SPRAM256KA, or a behavioural memory for
        Amaranth's simulator (:class:`~sst_hw.core.spram.SPRAMMemory`).

    Members
    -------
    read : ``Out(code_read_signature(plan.code_word_bits))``
    rewind : ``In(1)``
        Point at word 0 from the next cycle on (wins over ``read.step``).
    ready : ``Out(1)``
        The code image is in memory.
    load : ``In(stream.Signature(plan.load_layout))``
        Only with spram: the code image, one ``data`` word of
        ``plan.code_word_bits`` bits per beat, in order, after reset.
    """

    @classmethod
    def check(cls, plan, *, primitive: bool = True) -> dict:
        return {"plan": check_plan(plan), "primitive": check_bool("primitive", primitive)}

    def __init__(self, plan, *, primitive: bool = True):   # checked by check()
        members = {
            "read": Out(code_read_signature(plan.code_word_bits)),
            "rewind": In(1),
            "ready": Out(1),
        }
        if plan.memory == "spram":
            members["load"] = In(stream.Signature(plan.load_layout))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        plan, read = self.plan, self.read
        addr = Signal(range(max(2, plan.code_words)), name="code_addr")
        with m.If(read.step):
            m.d.sync += addr.eq(addr + 1)
        if plan.memory == "bram":
            mem = Memory(shape=unsigned(plan.code_word_bits), depth=plan.code_words,
                         init=plan.code_image(), attrs={"rom_style": "block"})
            m.submodules.code_mem = mem
            port = mem.read_port(domain="sync")
            m.d.comb += [port.addr.eq(addr), port.en.eq(read.en), read.data.eq(port.data),
                         self.ready.eq(1)]
        else:
            self._spram(m, addr)
        with m.If(self.rewind):
            m.d.sync += addr.eq(0)
        return m

    def _spram(self, m, addr):
        """The SPRAM and its loading: written at the pointer until the last word."""
        plan = self.plan
        spram = SPRAMMemory(plan.code_word_bits, plan.code_words, primitive=self.primitive)
        m.submodules.spram = spram
        loaded = Signal(name="loaded")
        m.d.comb += [spram.addr.eq(addr), spram.re.eq(self.read.en),
                     self.read.data.eq(spram.rdata), self.ready.eq(loaded)]
        with m.If(~loaded):
            m.d.comb += [self.load.ready.eq(1), spram.wdata.eq(self.load.payload.data)]
            with m.If(self.load.valid):
                m.d.comb += spram.we.eq(1)
                m.d.sync += addr.eq(addr + 1)
                with m.If(addr == plan.code_words - 1):
                    m.d.sync += [addr.eq(0), loaded.eq(1)]
