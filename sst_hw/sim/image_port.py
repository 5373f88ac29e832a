"""cocotb driver of a loadable network core's ``image`` port (cocotb 2.x).

The port (:attr:`NetPlan.image_signature
<sst_hw.plan.network.NetPlan.image_signature>`, described by the sidecar's
``image`` entry, :class:`~sst_hw.sim.sidecar.ImagePort`) writes and reads
back the words of the code memory (``sel`` 0) and of the requantization
table (``sel`` 1) while the core is idle. Cycle-based like the stream
drivers (:mod:`.stream`): after a rising edge the driver sets the port for
the coming cycle; reads are sampled in the read-only phase after the edge
that took them (read latency 1), one word per cycle.

* :func:`idle_image` drives every input of the port to 0 (and ``use_loaded``).
* :func:`write_image` writes a whole image (code words, then table rows),
  one word per cycle, then drops ``we`` and sets ``use_loaded``.
* :func:`read_image` reads the words of one memory back.
"""

from __future__ import annotations

from cocotb.triggers import ReadOnly, RisingEdge

__all__ = ["idle_image", "write_image", "read_image"]


def _handles(dut, port) -> dict:
    return {name: getattr(dut, p) for name, p in port.ports.items()}


def idle_image(dut, port, *, use_loaded: int = 0) -> None:
    """Every input of ``port`` (a :class:`~sst_hw.sim.sidecar.ImagePort`) of
    ``dut`` to 0, ``use_loaded`` as given (call before reset)."""
    h = _handles(dut, port)
    for name in ("sel", "addr", "wdata", "we", "re"):
        h[name].value = 0
    h["use_loaded"].value = int(use_loaded)


async def write_image(clk, dut, port, code, table=(), *, use_loaded: int = 1) -> int:
    """Write ``code`` at words 0.. of the code memory and ``table`` at rows
    0.. of the requantization table through ``port``, one word per cycle
    (call right after a rising edge, with the core idle); then drop ``we``
    and set ``use_loaded``. Returns the cycles taken. A ``ValueError``
    (before anything is driven) unless the words are whole images of the
    port's memories."""
    port.check_image(code, table)
    h = _handles(dut, port)
    cycles = 0
    for sel, words in ((0, code), (1, table)):
        if not len(words):
            continue
        h["sel"].value = sel
        for addr, word in enumerate(words):
            h["addr"].value = addr
            h["wdata"].value = int(word)
            h["we"].value = 1
            await RisingEdge(clk)
            cycles += 1
    h["we"].value = 0
    h["use_loaded"].value = int(use_loaded)
    return cycles


async def read_image(clk, dut, port, sel: int, count: int) -> list:
    """Words 0 .. ``count``-1 of memory ``sel`` read back through ``port``,
    one per cycle (call right after a rising edge, with the core idle); ``re``
    is low again when it returns, right after a rising edge."""
    h = _handles(dut, port)
    out = []
    if count <= 0:
        return out
    h["sel"].value = sel
    h["addr"].value = 0
    h["re"].value = 1
    for addr in range(count):
        await RisingEdge(clk)           # this edge reads word ``addr``
        if addr + 1 < count:
            h["addr"].value = addr + 1
        else:
            h["re"].value = 0
        await ReadOnly()
        out.append(h["rdata"].value.to_unsigned())
    await RisingEdge(clk)
    return out
