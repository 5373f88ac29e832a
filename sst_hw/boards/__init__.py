"""Boards: top levels and bitstream builds for the iCEBreaker, ULX3S and iCE40-HX8K breakout.

Layout of this package (see also ``boards/README.md`` at the repository root,
which explains how to add a board):

* :class:`InferenceTop` (from :mod:`sst_hw.link.top`), the board-independent
  design (UART, frame protocol, network core, status LEDs) with plain
  ``rx``/``tx`` ports;
* :mod:`.board`: :class:`Board` (what a board file declares) and
  :class:`BoardTop`, which connects an ``InferenceTop`` to a board's FTDI
  UART pins, LEDs and reset button through ``amaranth-boards`` and makes the
  ``sync`` domain (board oscillator, power-on reset and button) itself;
* one file per board family, each defining ``BOARDS``: :mod:`.icebreaker`,
  :mod:`.ulx3s`, :mod:`.hx8k`;
* :mod:`.build`: :func:`~sst_hw.boards.build.make_board_top`, a model's
  network core behind the UART link on a board;
* :mod:`.flow`: :func:`build_bitstream`, which runs the platform's Yosys /
  nextpnr / pack flow with the YoWASP tools and names a bitstream only after
  place and route met the clock constraint.

:data:`BOARDS` maps every board name (``icebreaker``, ``ulx3s-12f`` ..
``ulx3s-85f``, ``hx8k-b-evn``) to its :class:`Board`.
"""

from __future__ import annotations

from sst_hw.boards.board import Board, BoardTop
from sst_hw.link.top import InferenceTop, core_info

__all__ = ["BOARDS", "Board", "BoardTop", "InferenceTop", "core_info", "get_board"]


def _collect() -> dict[str, Board]:
    from sst_hw.boards import hx8k, icebreaker, ulx3s

    boards: dict[str, Board] = {}
    for mod in (icebreaker, ulx3s, hx8k):
        for b in mod.BOARDS:
            if b.name in boards:
                raise ValueError(f"board {b.name!r} is defined twice")
            boards[b.name] = b
    return boards


#: Every supported board by name.
BOARDS: dict[str, Board] = _collect()


def get_board(name) -> Board:
    """The :class:`Board` called ``name`` (case-insensitive); ``ValueError`` listing
    the known boards otherwise."""
    if isinstance(name, Board):
        return name
    key = str(name).strip().lower()
    if key not in BOARDS:
        raise ValueError(f"Unknown board {name!r}; allowed: {', '.join(BOARDS)}")
    return BOARDS[key]
