"""Out-of-context (OOC) harness: place and time a core with four pins.

A bare core has more ports than a small package has pins. The harness gives
it a top level with only ``clk``, ``rst``, ``sin`` and ``sout``:

- every core input bit is driven by one stage of a shift register that
  shifts ``sin`` in, one bit per cycle (so no input is constant). Above
  ``chain_length`` bits (default 256) the register is cut into several
  chains, each loading ``sin`` at its head, with the chains enabled in turn
  by a one-hot ring counter: the stages stay distinct (different enables,
  so Yosys cannot merge them) but no chain of flip-flops is longer than
  ``chain_length``. The reason is YoWASP's Yosys: its WebAssembly call stack
  overflows (``wasm trap: call stack exhausted`` in ``techmap``'s
  topological sort) on a flip-flop chain of about 3000 stages;
- every core output bit enters a pipelined XOR tree: each level XORs groups
  of ``fold_arity`` bits (4 by default, one LUT4) into a register, and the
  last register drives ``sout`` (so no output is dead, and the fold adds one
  LUT level after the core's outputs, not a deep XOR chain);
- ``clk`` and ``rst`` drive the ``sync`` domain (active-high, synchronous
  reset, as Amaranth generates).

The harness registers are reset-less. Their cost, which a report should
subtract from the total, is :attr:`OOCHarness.overhead`: ``ff`` flip-flops
(one per input bit, the ring counter if any, the XOR-tree registers) and
``lut`` XOR LUTs.

Two cores are supported: an Amaranth :class:`~amaranth.lib.wiring.Component`
(:class:`OOCHarness`) and an existing Verilog module given by its name and
port list (:class:`VerilogHarness`, :func:`verilog_wrapper`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from amaranth.hdl import (Cat, ClockDomain, ClockSignal, Const, Instance,
                          Module, ResetSignal, Signal, Value)
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["HarnessPort", "OOCHarness", "VerilogHarness", "verilog_wrapper",
           "ports_from_sidecar", "normalize_ports"]


@dataclass(frozen=True)
class HarnessPort:
    """One core port as the harness connects it.

    Attributes
    ----------
    name : str
        Port name; for Amaranth components the member path joined by ``.``
        (e.g. ``"i.payload"``), for Verilog the module port name.
    direction : str
        ``"in"`` (core input, fed from the shift register) or ``"out"`` (core
        output, folded into ``sout``); ``"clock"``/``"reset"`` for the ports
        tied to ``clk``/``rst``.
    width : int
        Width in bits.
    offset : int
        Bit offset of the port's LSB in the input shift register (``"in"``)
        or in the concatenated output vector (``"out"``); 0 otherwise.
    """

    name: str
    direction: str
    width: int
    offset: int = 0


def _fold_levels(width: int, arity: int) -> list[int]:
    """Register counts of each level of a pipelined ``arity``-ary XOR tree over ``width`` bits."""
    levels = []
    n = max(width, 1)
    while True:
        n = -(-n // arity)
        levels.append(n)
        if n == 1:
            return levels


class _HarnessBase(wiring.Component):
    """Shared shift-register / XOR-fold logic; subclasses connect the core."""

    def __init__(self, in_ports, out_ports, *, fold_arity, chain_length):
        if isinstance(fold_arity, bool) or not isinstance(fold_arity, int) or fold_arity < 2:
            raise ValueError(f"fold_arity must be an integer >= 2, not {fold_arity!r}")
        if isinstance(chain_length, bool) or not isinstance(chain_length, int) or chain_length < 1:
            raise ValueError(f"chain_length must be a positive integer, not {chain_length!r}")
        self.fold_arity = fold_arity
        self.chain_length = chain_length
        ports, offset = [], 0
        for name, width in in_ports:
            ports.append(HarnessPort(name, "in", width, offset))
            offset += width
        self.in_width = offset
        offset = 0
        for name, width in out_ports:
            ports.append(HarnessPort(name, "out", width, offset))
            offset += width
        self.out_width = offset
        self.ports = ports
        levels = _fold_levels(self.out_width, fold_arity)
        self.chains = max(-(-self.in_width // chain_length), 1)
        ring = self.chains if self.chains > 1 else 0
        self.overhead = {
            "ff": max(self.in_width, 1) + ring + sum(levels),
            "lut": sum(levels),
            "in_bits": self.in_width,
            "out_bits": self.out_width,
            "fold_levels": len(levels),
        }
        super().__init__({"clk": In(1), "rst": In(1), "sin": In(1), "sout": Out(1)})

    def _connect_core(self, m, in_bits):
        """Add the core to ``m``; drive its inputs from ``in_bits``; return its output bits."""
        raise NotImplementedError

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = cd = ClockDomain("sync")
        m.d.comb += [cd.clk.eq(self.clk), cd.rst.eq(self.rst)]

        shreg = Signal(max(self.in_width, 1), reset_less=True)
        if self.chains == 1:
            m.d.sync += shreg.eq(Cat(self.sin, shreg[:-1]))
        else:
            # Chain c holds bits [c*L, (c+1)*L) and shifts when ring[c] is set.
            ring = Signal(self.chains, init=1, reset_less=True)
            m.d.sync += ring.eq(ring.rotate_left(1))
            length = self.chain_length
            for c in range(self.chains):
                seg = shreg[c * length:(c + 1) * length]
                with m.If(ring[c]):
                    m.d.sync += seg.eq(Cat(self.sin, seg[:-1]))

        outs = self._connect_core(m, shreg[:self.in_width] if self.in_width else Const(0, 0))
        level = Value.cast(outs) if self.out_width else Const(0, 1)
        for i, n in enumerate(_fold_levels(self.out_width, self.fold_arity)):
            nxt = Signal(n, name=f"fold{i}", reset_less=True)
            for j in range(n):
                m.d.sync += nxt[j].eq(level[j * self.fold_arity:(j + 1) * self.fold_arity].xor())
            level = nxt
        m.d.comb += self.sout.eq(level[0])
        return m


class OOCHarness(_HarnessBase):
    """Wrap an Amaranth component in the four-pin OOC harness.

    Parameters
    ----------
    core : wiring.Component
        Any component with ``In``/``Out`` ports of any width and shape
        (streams, views, arrays) and at most the ``sync`` clock domain.
    fold_arity : int
        Bits XORed per register of the output fold (default 4, one LUT4).
    chain_length : int
        Longest flip-flop chain of the input shift register (default 256).

    Members
    -------
    clk, rst, sin : In(1)
        Clock, synchronous active-high reset, serial input.
    sout : Out(1)
        Registered XOR fold of all core outputs.

    Attributes
    ----------
    ports : list of HarnessPort
        How each core port is connected.
    in_width, out_width : int
        Total core input / output bits.
    overhead : dict
        Harness cost: ``ff``, ``lut`` (XOR LUTs), ``in_bits``, ``out_bits``,
        ``fold_levels``.
    """

    def __init__(self, core, *, fold_arity=4, chain_length=256):
        if not isinstance(core, wiring.Component):
            raise TypeError(f"core must be an amaranth wiring.Component, not {core!r}")
        self.core = core
        self._members = []
        ins, outs = [], []
        for path, member, value in core.signature.flatten(core):
            name = ".".join(str(p) for p in path)
            width = len(Value.cast(value))
            if member.flow == wiring.In:
                ins.append((name, width))
            else:
                outs.append((name, width))
            self._members.append((member.flow, value, width))
        super().__init__(ins, outs, fold_arity=fold_arity, chain_length=chain_length)

    def _connect_core(self, m, in_bits):
        m.submodules.core = self.core
        offset, outs = 0, []
        for flow, value, width in self._members:
            if flow == wiring.In:
                m.d.comb += value.eq(in_bits[offset:offset + width])
                offset += width
            else:
                outs.append(Value.cast(value))
        return Cat(*outs)


def normalize_ports(ports) -> list[tuple[str, str, int]]:
    """Check a port list and return it as ``(name, "in"|"out", width)`` tuples.

    ``ports`` is an iterable of ``(name, direction, width)`` tuples or of
    dicts with ``name``, ``direction`` (or ``dir``) and ``width`` keys;
    a direction is ``in``/``input`` or ``out``/``output``.
    """
    result = []
    for port in ports:
        if isinstance(port, dict):
            try:
                name = port["name"]
                direction = port.get("direction", port.get("dir"))
                width = port["width"]
            except KeyError as e:
                raise ValueError(f"port {port!r} lacks key {e.args[0]!r}") from None
        else:
            try:
                name, direction, width = port
            except (TypeError, ValueError):
                raise ValueError(f"port must be (name, direction, width), not {port!r}") from None
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]*", name):
            raise ValueError(f"port name must be a Verilog identifier, not {name!r}")
        d = str(direction).lower()
        if d in ("in", "input", "i"):
            d = "in"
        elif d in ("out", "output", "o"):
            d = "out"
        else:
            raise ValueError(f"direction of port {name!r} must be 'in' or 'out', not {direction!r}")
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise ValueError(f"width of port {name!r} must be a positive integer, not {width!r}")
        result.append((name, d, width))
    names = [p[0] for p in result]
    dups = sorted({n for n in names if names.count(n) > 1})
    if dups:
        raise ValueError(f"duplicate port names: {', '.join(dups)}")
    return result


class VerilogHarness(_HarnessBase):
    """The OOC harness around an instance of an existing Verilog module.

    Parameters
    ----------
    module : str
        Name of the Verilog module to instantiate.
    ports : iterable
        Its ports, see :func:`normalize_ports`.
    clock, reset : str or None
        Names of the module's clock and (active-high) reset inputs; when
        present in ``ports`` they are tied to ``clk``/``rst`` instead of the
        shift register.
    fold_arity : int
        Bits XORed per register of the output fold.
    chain_length : int
        Longest flip-flop chain of the input shift register.
    """

    def __init__(self, module, ports, *, clock="clk", reset="rst", fold_arity=4,
                 chain_length=256):
        if not isinstance(module, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]*", module):
            raise ValueError(f"module must be a Verilog identifier, not {module!r}")
        self.module = module
        self._ports = normalize_ports(ports)
        self._special = {}
        ins, outs = [], []
        for name, d, width in self._ports:
            if name == clock and d == "in" and width == 1:
                self._special[name] = "clock"
            elif name == reset and d == "in" and width == 1:
                self._special[name] = "reset"
            elif d == "in":
                ins.append((name, width))
            else:
                outs.append((name, width))
        super().__init__(ins, outs, fold_arity=fold_arity, chain_length=chain_length)
        self.ports = [HarnessPort(n, k, 1) for n, k in self._special.items()] + self.ports

    def _connect_core(self, m, in_bits):
        args, outs, offset = [], [], 0
        for name, d, width in self._ports:
            kind = self._special.get(name)
            if kind == "clock":
                args.append(("i", name, ClockSignal("sync")))
            elif kind == "reset":
                args.append(("i", name, ResetSignal("sync")))
            elif d == "in":
                args.append(("i", name, in_bits[offset:offset + width]))
                offset += width
            else:
                sig = Signal(width, name=f"core_{name}")
                args.append(("o", name, sig))
                outs.append(sig)
        m.submodules.core = Instance(self.module, *args)
        return Cat(*outs)


def verilog_wrapper(module, ports, *, name="sst_ooc_top", clock="clk", reset="rst",
                    fold_arity=4, chain_length=256) -> str:
    """Verilog text of a top module ``name(clk, rst, sin, sout)`` that wraps ``module``.

    The text instantiates ``module`` (which must be read from its own file
    alongside) inside the harness described in this module's docstring. See
    :class:`VerilogHarness` for the parameters.
    """
    from amaranth.back import verilog

    if name == module:
        raise ValueError(f"wrapper name must differ from the wrapped module name, not {name!r}")
    harness = VerilogHarness(module, ports, clock=clock, reset=reset, fold_arity=fold_arity,
                             chain_length=chain_length)
    return verilog.convert(harness, name=name, emit_src=False)


def ports_from_sidecar(sidecar) -> tuple[str | None, list[tuple[str, str, int]] | None]:
    """Read the module name and port list from a JSON sidecar (path, text or dict).

    Looks for the module name under ``module``, ``module_name``, ``top`` or
    ``name``, and for ports under ``ports`` as a list of ``{name, direction,
    width}`` dicts or a dict ``{name: {direction, width}}``. Returns
    ``(module, ports)``; either is ``None`` if the sidecar does not give it.
    """
    if isinstance(sidecar, (str, Path)) and not str(sidecar).lstrip().startswith("{"):
        sidecar = json.loads(Path(sidecar).read_text())
    elif isinstance(sidecar, str):
        sidecar = json.loads(sidecar)
    if not isinstance(sidecar, dict):
        raise ValueError(f"sidecar must be a JSON object, not {type(sidecar).__name__}")
    module = None
    for key in ("module", "module_name", "top", "name"):
        value = sidecar.get(key)
        if isinstance(value, str):
            module = value
            break
        if isinstance(value, dict) and isinstance(value.get("name"), str):
            module = value["name"]
            break
    raw = sidecar.get("ports")
    if isinstance(raw, dict):
        raw = [{"name": k, **v} for k, v in raw.items() if isinstance(v, dict)]
    ports = None
    if isinstance(raw, list):
        try:
            ports = normalize_ports(raw)
        except ValueError:
            ports = None
    return module, ports
