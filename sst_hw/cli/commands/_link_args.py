"""The link settings ``sst-hw build`` and ``sst-hw infer`` take: a UART rate and a reply
timeout, checked the same way in both."""

from __future__ import annotations

from sst_hw.cli.errors import UserError

#: UART rates a host serial port can be asked for, bit/s (FTDI chips: up to 12 Mbaud).
BAUD_RANGE = (300, 12_000_000)
#: Seconds to wait for a reply: more than nothing, at most an hour.
TIMEOUT_RANGE = (0.001, 3600.0)


def check_link_args(baud, timeout=None) -> None:
    """Refuse a UART rate or reply timeout outside :data:`BAUD_RANGE` / :data:`TIMEOUT_RANGE`.

    Parameters
    ----------
    baud : int
        ``--baud``, bit/s.
    timeout : float, optional
        ``--timeout``, seconds (not checked when ``None``).

    Raises
    ------
    UserError
        Naming the value and the range.
    """
    lo, hi = BAUD_RANGE
    if not lo <= baud <= hi:
        raise UserError(f"--baud must be in {lo}..{hi} bit/s, not {baud}")
    if timeout is not None:
        lo, hi = TIMEOUT_RANGE
        if not (lo <= timeout <= hi):   # also refuses NaN
            raise UserError(f"--timeout must be in {lo:g}..{hi:g} seconds, not {timeout:g}")
