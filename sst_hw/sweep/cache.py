"""The sweep cache: one JSON file per result, under ``<root>/<kind>/<key>.json``.

Kinds: ``train`` (with the trained model beside it, ``<key>.sst``), ``plan``,
``recipe`` and ``synth`` (:mod:`.keys` says what each key covers). Only the
client reads and writes the cache (workers send their results back through
the scheduler), so the workers need no shared file system. Every file is
written to a temporary name and renamed, so an interrupted sweep leaves
whole entries only: a rerun reuses them and computes the rest. Delete the
folder (or a kind's subfolder) to forget; ``--no-cache`` neither reads nor
writes it.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

__all__ = ["Cache", "KINDS", "write_atomic"]

KINDS = ("train", "plan", "recipe", "synth")


class Cache:
    """The cache under ``root``; ``root=None`` is a cache that holds nothing."""

    def __init__(self, root):
        self.root = Path(root) if root is not None else None

    @property
    def enabled(self) -> bool:
        return self.root is not None

    def _path(self, kind: str, key: str, suffix: str = ".json") -> Path:
        if kind not in KINDS:
            raise ValueError(f"cache kind must be one of {', '.join(KINDS)}, not {kind!r}")
        return self.root / kind / f"{key}{suffix}"

    def get(self, kind: str, key: str) -> dict | None:
        """The record stored under ``key``, or None (also for an unreadable file)."""
        if not self.enabled:
            return None
        try:
            return json.loads(self._path(kind, key).read_text())
        except (OSError, ValueError):
            return None

    def get_bytes(self, kind: str, key: str, suffix: str) -> bytes | None:
        if not self.enabled:
            return None
        try:
            return self._path(kind, key, suffix).read_bytes()
        except OSError:
            return None

    def put(self, kind: str, key: str, record: dict) -> None:
        if self.enabled:
            write_atomic(self._path(kind, key),
                        json.dumps(record, indent=1, sort_keys=True, default=str).encode())

    def put_bytes(self, kind: str, key: str, suffix: str, data: bytes) -> None:
        if self.enabled:
            write_atomic(self._path(kind, key, suffix), data)

    def keys(self, kind: str) -> set:
        """Keys of the ``kind`` records present."""
        if not self.enabled or not (self.root / kind).is_dir():
            return set()
        return {p.stem for p in (self.root / kind).glob("*.json")}


def write_atomic(path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder
    renamed into place: a reader (or an interrupted sweep) never sees half a
    file. Folders are made as needed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
