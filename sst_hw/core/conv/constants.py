"""Per-pass constants held in registers, loaded when a pass starts.

A register per figure (rather than a look-up by the pass index wherever it
is used) keeps the pass index off every path that reads them.
"""

from __future__ import annotations

from amaranth.hdl import Array, Const, Signal, signed, unsigned

__all__ = ["PassConstants", "by_index"]


def _shape(vals):
    lo, hi = min(vals), max(vals)
    if lo < 0:
        bits = max((-lo - 1).bit_length(), hi.bit_length()) + 1
        return signed(bits)
    return unsigned(max(1, hi.bit_length()))


def by_index(values, index, shape=None):
    """``values[index]`` in hardware: a constant when all are equal, else a look-up."""
    values = [int(v) for v in values]
    shape = shape or _shape(values)
    if len(set(values)) == 1:
        return Const(values[0], shape)
    return Array(Const(v, shape) for v in values)[index]


class PassConstants:
    """Registers ``name -> per-pass values``; ``[name]`` is the register."""

    def __init__(self, prefix="", **values):
        self.regs = {}
        for name, vals in values.items():
            vals = [int(v) for v in vals]
            reg = Signal(_shape(vals), init=vals[0], name=prefix + name)
            self.regs[name] = (reg, vals)

    def __getitem__(self, name):
        return self.regs[name][0]

    def load(self, index) -> list:
        """Statements loading every register for pass ``index``."""
        return [reg.eq(by_index(vals, index, reg.shape())) for reg, vals in self.regs.values()]
