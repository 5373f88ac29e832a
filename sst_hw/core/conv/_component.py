"""What every part of the CNN core shares: it is built from a checked
:class:`~sst_hw.plan.convnet.ConvPlan`."""

from __future__ import annotations

from sst_hw.plan.convnet import ConvPlan
from sst_hw.rtl._util import CheckedComponent

__all__ = ["ConvComponent"]


class ConvComponent(CheckedComponent):
    """A component of the CNN core whose only parameter is its plan."""

    @classmethod
    def check(cls, plan) -> dict:
        if not isinstance(plan, ConvPlan):
            raise TypeError(f"plan must be a ConvPlan, not {type(plan).__name__}")
        return {"plan": plan}
