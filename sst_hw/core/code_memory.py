"""``CodeMemory``: the codes of every layer, read in order.

The code image (:meth:`NetPlan.code_image
<sst_hw.plan.network.NetPlan.code_image>`) holds one word per engine beat in
the order the sequencer issues them, so the memory is addressed by a pointer
that steps once per beat and goes back to word 0 for each inference. It
lives in block RAM initialised from the model (``memory="bram"``) or in the
UP5K's SPRAM (``memory="spram"``, :class:`~sst_hw.core.spram.SPRAMMemory`),
which the bitstream cannot initialise. A loadable plan adds a write port for
the link (the image is then written between inferences); in block RAM the
bitstream's model keeps its own bank.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import wiring
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
    and goes back to the first word of the running bank on ``rewind``.

    With ``plan.memory == "spram"`` the contents after power-up are undefined
    until the link writes an image; with ``"bram"`` the model's words are the
    initial contents (of bank 0, when loadable).

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
        The code image is in memory (always 1: a loadable core leaves it to
        the link to run only a committed model).
    img_addr, img_wdata, img_we, img_re, use_loaded : ``In``
        Only when ``plan.loadable``: the loadable bank's port (the ``image``
        port of :attr:`NetPlan.image_signature
        <sst_hw.plan.network.NetPlan.image_signature>`, code memory side):
        ``img_we`` writes ``img_wdata`` at ``img_addr``; ``img_re`` reads it
        onto ``read.data`` (latency 1). Only while the core is idle.
        ``use_loaded`` makes ``rewind`` point at the loaded bank (block RAM:
        the bitstream's model is bank 0, the loaded one bank 1).
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
        if plan.loadable:
            members.update({
                "img_addr": In(range(max(2, plan.code_words))),
                "img_wdata": In(plan.code_word_bits),
                "img_we": In(1), "img_re": In(1), "use_loaded": In(1)})
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        plan, read = self.plan, self.read
        words = plan.code_words
        banks = plan.banks      # loadable block RAM: the bitstream's model, then the loaded one
        addr = Signal(range(max(2, banks * words)), name="code_addr")
        with m.If(read.step):
            m.d.sync += addr.eq(addr + 1)
        with m.If(self.rewind):
            m.d.sync += addr.eq(self.use_loaded * words if banks == 2 else 0)
        if not plan.loadable:
            mem = Memory(shape=unsigned(plan.code_word_bits), depth=words,
                         init=plan.code_image(), attrs={"rom_style": "block"})
            m.submodules.code_mem = mem
            port = mem.read_port(domain="sync")
            m.d.comb += [port.addr.eq(addr), port.en.eq(read.en), read.data.eq(port.data),
                         self.ready.eq(1)]
            return m
        m.d.comb += self.ready.eq(1)
        # The link's accesses (only while the core is idle) take the port from the pointer.
        img_addr = Signal.like(addr, name="code_img_addr")
        m.d.comb += img_addr.eq(self.img_addr + (words if banks == 2 else 0))
        access = self.img_we | self.img_re
        port_addr = Signal.like(addr, name="code_port_addr")
        m.d.comb += port_addr.eq(Mux(access, img_addr, addr))
        if plan.memory == "bram":
            mem = Memory(shape=unsigned(plan.code_word_bits), depth=banks * words,
                         init=plan.code_image() + [0] * words, attrs={"rom_style": "block"})
            m.submodules.code_mem = mem
            rport = mem.read_port(domain="sync")
            wport = mem.write_port()
            m.d.comb += [rport.addr.eq(port_addr), rport.en.eq(read.en | self.img_re),
                         read.data.eq(rport.data), wport.addr.eq(img_addr),
                         wport.data.eq(self.img_wdata), wport.en.eq(self.img_we)]
        else:
            spram = SPRAMMemory(plan.code_word_bits, words, primitive=self.primitive)
            m.submodules.spram = spram
            m.d.comb += [spram.addr.eq(port_addr), spram.re.eq(read.en | self.img_re),
                         spram.we.eq(self.img_we), spram.wdata.eq(self.img_wdata),
                         read.data.eq(spram.rdata)]
        return m
