"""Checks every command runs on its output paths *before* any long work.

A user who points ``-o`` or ``--build-dir`` at a read-only or missing-permission
folder must hear so at once, in one line with exit status 2, and not after a
training run or a place-and-route. The check creates (and removes) a probe
file in the folder that would receive the output, because permission bits
alone do not tell: root ignores them, and a read-only mount refuses everyone.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from sst_hw.cli.errors import UserError


def _nearest_existing(path: Path) -> Path:
    """``path`` or its closest ancestor that exists."""
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _probe(folder: Path, label: str) -> None:
    """Raise ``UserError`` (message starting with ``label``) unless files can be
    created in ``folder`` or, where it does not exist yet, in its nearest
    existing ancestor."""
    base = _nearest_existing(folder.absolute())
    if not base.is_dir():
        raise UserError(f"{label}: {str(base)!r} is not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".sst-hw-probe-", dir=base)
    except OSError as e:
        raise UserError(f"{label}: {str(base)!r} is not writable ({e.strerror or e})") from None
    os.close(fd)
    os.unlink(probe)


def check_writable_dir(folder, what: str = "output folder") -> Path:
    """Refuse (``UserError``) a folder that cannot be created or written into.

    Parameters
    ----------
    folder : path-like
        The folder that will receive files; it need not exist yet, but the
        part of it that exists must be a folder we can create files in.
    what : str
        How the error names it, e.g. ``"--build-dir"``.

    Returns
    -------
    Path
        ``folder`` as a :class:`~pathlib.Path`. Nothing is left behind: no
        probe file and no created folder.
    """
    folder = Path(folder)
    _probe(folder, f"cannot write to {what} {str(folder)!r}")
    return folder


def check_output_file(path, what: str = "output") -> Path:
    """Refuse (``UserError``) an output file that could not be written.

    ``path`` must not be a folder, and its folder must be creatable and
    writable. Returns ``path`` as a :class:`~pathlib.Path`.
    """
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{what} {str(path)!r} is a folder; give a file name")
    _probe(path.parent, f"cannot write {what} {str(path)!r}")
    return path
