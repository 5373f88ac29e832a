"""Argument checks shared by the network core's components."""

from __future__ import annotations

from sst_hw.plan.network import NetPlan

__all__ = ["check_plan"]


def check_plan(plan) -> NetPlan:
    """``plan`` if it is a :class:`~sst_hw.plan.network.NetPlan`, else TypeError."""
    if not isinstance(plan, NetPlan):
        raise TypeError(f"plan must be a NetPlan, not {type(plan).__name__}")
    return plan
