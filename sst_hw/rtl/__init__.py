"""Amaranth RTL of the SST engine (docs/architecture.md, "Hardware architecture").

Components, one per module: :class:`CodeDecoder`, :class:`SignSelectLane`,
:class:`AdderTree`, :class:`AccumulatorBank` and :class:`SSTEngine`, which
composes them; :mod:`sst_hw.emit.engine` writes an engine's Verilog and JSON sidecar.
The dense baselines of the same interface, :class:`DenseIntEngine` (with
:class:`LUTMultiplier`) and :class:`DenseTernaryEngine`, are in
:mod:`.dense_engine`.
"""

from sst_hw.rtl.accumulator import AccumulatorBank, acc_layout
from sst_hw.rtl.adder_tree import AdderTree
from sst_hw.rtl.decoder import CodeDecoder, SlotPlan, slot_layout, slot_plan
from sst_hw.rtl.dense_engine import DenseIntEngine, DenseTernaryEngine
from sst_hw.rtl.engine import SSTEngine, input_layout
from sst_hw.rtl.lane import SignSelectLane
from sst_hw.rtl.multiplier import LUTMultiplier

__all__ = ["AccumulatorBank", "AdderTree", "CodeDecoder", "DenseIntEngine",
           "DenseTernaryEngine", "LUTMultiplier", "SignSelectLane", "SSTEngine",
           "SlotPlan", "acc_layout", "input_layout", "slot_layout", "slot_plan"]
