"""Amaranth RTL of the SST engine (DESIGN.md section 3).

Components, one per module: :class:`CodeDecoder`, :class:`SignSelectLane`,
:class:`AdderTree`, :class:`AccumulatorBank` and :class:`SSTEngine`, which
composes them; :mod:`.emit` writes an engine's Verilog and JSON sidecar.
The dense baselines of the same interface, :class:`DenseIntEngine` (with
:class:`LUTMultiplier`) and :class:`DenseTernaryEngine`, are in
:mod:`.dense_engine`.
"""

from .accumulator import AccumulatorBank, acc_layout
from .adder_tree import AdderTree
from .decoder import CodeDecoder, SlotPlan, slot_layout, slot_plan
from .dense_engine import DenseIntEngine, DenseTernaryEngine
from .engine import SSTEngine, input_layout
from .lane import SignSelectLane
from .multiplier import LUTMultiplier

__all__ = ["AccumulatorBank", "AdderTree", "CodeDecoder", "DenseIntEngine",
           "DenseTernaryEngine", "LUTMultiplier", "SignSelectLane", "SSTEngine",
           "SlotPlan", "acc_layout", "input_layout", "slot_layout", "slot_plan"]
