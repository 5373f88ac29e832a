"""The parts every engine kind shares around its terms: row flow control on
the input, the valid/last pipeline, and adder trees into accumulator banks.
(The parameters they share are checked by
:class:`~sst_hw.plan.engine.EngineParams`.)

:class:`~.engine.SSTEngine` and the dense baselines
(:mod:`~.dense_engine`) differ only in how a beat's codes become signed terms
(sign-select lanes, multipliers, ternary gates); these helpers build the rest
identically, so the comparison between them measures that difference alone.
"""

from __future__ import annotations

from typing import ClassVar

from amaranth.hdl import Signal

from sst_hw.plan.engine import DEFAULT_FANOUT, EngineParams
from sst_hw.rtl._util import CheckedComponent
from sst_hw.rtl.accumulator import AccumulatorBank
from sst_hw.rtl.adder_tree import AdderTree

__all__ = ["EngineComponent", "row_flow_control", "delay_flags", "pe_groups",
           "broadcast_registers", "trees_into_accumulators", "DEFAULT_FANOUT"]


class EngineComponent(CheckedComponent):
    """An engine built from its parameters, an :class:`~sst_hw.plan.engine.EngineParams`.

    Construct it with the parameters' own arguments (``SSTEngine(8, 2,
    pe=4)``) or with a value of them (``SSTEngine(SSTParams(8, 2, pe=4))``);
    either way they are checked before the engine exists. :attr:`config`
    holds them, and every parameter and figure of it (``pe``, ``acc_width``,
    ``latency``, ``in_layout``, ...) reads as an attribute of the engine.
    The interface is ``config.signature``: streams ``i`` and ``o``.
    """

    #: The class of :attr:`config` (a subclass of ``EngineParams``).
    params_type: ClassVar[type]

    @classmethod
    def check(cls, *args, **kwargs) -> dict:
        if len(args) == 1 and not kwargs and isinstance(args[0], EngineParams):
            config = args[0]
            if not isinstance(config, cls.params_type):
                raise TypeError(f"{cls.__name__} takes {cls.params_type.__name__}, not "
                                f"{type(config).__name__}")
        else:
            config = cls.params_type(*args, **kwargs)
        return {"config": config}

    def __init__(self, *args, **kwargs):   # the arguments of check(), already checked
        super().__init__(self.config.signature)

    def __getattr__(self, name):
        # Only for names the engine itself lacks: the parameters and figures of config.
        if not name.startswith("_") and name != "config" and hasattr(self.config, name):
            return getattr(self.config, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @property
    def params(self) -> dict:
        """The parameters, JSON-ready (the sidecar's ``parameters``)."""
        return self.config.as_dict()

#: The attribute on every copy of a replicated register. Identical registers
#: are otherwise merged back into one by Yosys's ``opt_merge``; the synthesis
#: flow (:mod:`sst_hw.synth.flow`) moves it from the wire to the flip-flop,
#: where ``opt_merge`` honours it.
KEEP = {"keep": 1}


def row_flow_control(m, i, o, depth: int):
    """Admit rows while fewer than ``depth`` are in flight or queued.

    ``i.ready`` is a register, high while fewer than ``depth`` rows (counted
    from their ``last`` beat until their ``o`` beat leaves) are pending, so
    ``o.ready`` never reaches ``i.ready`` combinationally. Returns
    ``(accept, close)``: a beat is taken this cycle; it is a ``last`` beat.
    """
    pending = Signal(range(depth + 1))
    ready = Signal(init=1)
    accept = Signal()
    close = Signal()
    emit = Signal()
    m.d.comb += [
        i.ready.eq(ready),
        accept.eq(i.valid & ready),
        close.eq(accept & i.p.last),
        emit.eq(o.valid & o.ready),
    ]
    pending_next = Signal(range(depth + 2))
    m.d.comb += pending_next.eq(pending + close - emit)
    m.d.sync += [pending.eq(pending_next), ready.eq(pending_next < depth)]
    return accept, close


def delay_flags(m, valid, last, cycles: int, name: str, attrs=None):
    """``valid`` and ``last`` delayed by ``cycles`` registers (named ``name``,
    with the Verilog attributes ``attrs``)."""
    for c in range(cycles):
        v = Signal(name=f"{name}_v{c}", attrs=attrs or {})
        lst = Signal(name=f"{name}_l{c}", attrs=attrs or {})
        m.d.sync += [v.eq(valid), lst.eq(last)]
        valid, last = v, lst
    return valid, last


def pe_groups(pe: int, fanout: int) -> list[range]:
    """PEs ``0..pe-1`` in consecutive groups of at most ``fanout`` (0: one group).

    Each group reads its own copy of the registers broadcast to every PE
    (activations, valid and last), so no such register drives more than
    ``fanout`` PEs: in a large engine on ECP5 one shared activation register
    cost 16 ns of routing (58 PE x 4 SIMD placed at 52.8 MHz).
    """
    size = pe if fanout == 0 else min(pe, fanout)
    return [range(lo, min(lo + size, pe)) for lo in range(0, pe, size)]


def broadcast_registers(m, value, groups: list[range], name: str) -> list:
    """One register (no reset) loading ``value`` every cycle per PE group;
    returns, for each PE, the copy it reads. With several groups the copies
    are marked to survive synthesis as separate flip-flops."""
    many = len(groups) > 1
    regs = [Signal.like(value, reset_less=True, name=f"{name}_g{g}" if many else name,
                        attrs=KEEP if many else {}) for g in range(len(groups))]
    m.d.sync += [r.eq(value) for r in regs]
    return [regs[g] for g, group in enumerate(groups) for _ in group]


def trees_into_accumulators(m, terms, cins, term_range, acc_width: int, *,
                            stage_levels: int, valid, last, tree_latency: int, depth: int,
                            o, groups: list[range] | None = None):
    """One adder tree per PE over ``terms[p]`` (carry-ins ``cins[p]``), into
    :class:`AccumulatorBank` s of ``depth`` rows whose streams drive ``o``.

    ``valid``/``last`` flag the terms' cycle; they are delayed by
    ``tree_latency`` to meet the trees' sums. With several PE ``groups`` (see
    :func:`pe_groups`), each group has its own copy of those delay registers
    and its own bank (the banks' control registers are kept apart), so the
    flags and queue pointers drive one group's accumulators each. All banks
    see the same pushes and pops, so they agree on ``o.valid``.
    """
    groups = groups or [range(len(terms))]
    trees = []
    for p, pe_terms in enumerate(terms):
        tree = AdderTree(len(pe_terms), term_range, acc_width, stage_levels=stage_levels)
        m.submodules[f"tree_{p}"] = tree
        for j, t in enumerate(pe_terms):
            m.d.comb += tree.terms[j].eq(t)
        m.d.comb += tree.cins.eq(cins[p])
        trees.append(tree)
    many = len(groups) > 1
    if many and tree_latency:   # each group its own (kept) delay registers
        flags = [delay_flags(m, valid, last, tree_latency, f"tree_g{g}", KEEP)
                 for g in range(len(groups))]
    else:
        flags = [delay_flags(m, valid, last, tree_latency, "tree")] * len(groups)
    for g, (group, (v, lst)) in enumerate(zip(groups, flags)):
        bank = AccumulatorBank(len(group), trees[0].sum_width, acc_width, depth=depth,
                               keep_control=many)
        m.submodules[f"acc_g{g}" if many else "acc"] = bank
        m.d.comb += [bank.valid.eq(v), bank.last.eq(lst), bank.o.ready.eq(o.ready)]
        for j, p in enumerate(group):
            m.d.comb += [bank.addend[j].eq(trees[p].sum), bank.cin[j].eq(trees[p].cout),
                         o.p.acc[p].eq(bank.o.p.acc[j])]
        if g == 0:
            m.d.comb += o.valid.eq(bank.o.valid)
