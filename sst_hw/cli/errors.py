"""The error a command raises for bad input from the user."""

from __future__ import annotations

__all__ = ["UserError"]


class UserError(Exception):
    """Bad input from the user: :func:`sst_hw.cli.main` prints it as one line and
    exits with status 2."""
