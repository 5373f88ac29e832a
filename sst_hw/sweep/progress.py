"""Progress lines of a running sweep, on stderr.

One line whenever a point finishes, and every ``interval`` seconds while
nothing does::

    digits-up5k: 7/18 points done (3 cached, 1 failed, 0 invalid), 2 running,
    9 waiting; trainings 4/6; 1m05s, about 2m10s left

(one line). "running" counts the tasks the workers have reported starting (a
Dask event each task logs), at most the cluster's threads; the time left is
the points still to come at the rate the computed points have finished so
far.
"""

from __future__ import annotations

import sys
import threading
import time

__all__ = ["Progress", "format_seconds"]


def format_seconds(s: float) -> str:
    s = int(round(s))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


class Progress:
    """Counts of a sweep and the lines that show them (``enabled=False``: silent)."""

    def __init__(self, total: int, trainings: int = 0, *, enabled: bool = True, stream=None,
                 interval: float = 30.0, name: str = "sweep", slots: int | None = None):
        self.total, self.trainings = total, trainings
        self.name, self.slots = name, slots
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval
        self.done = self.cached = self.failed = self.invalid = self.computed = 0
        self.trained = 0
        self.started: set = set()
        self.finished: set = set()
        self.t0 = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None

    # -- events ------------------------------------------------------------------------

    def task_started(self, tag: str) -> None:
        with self._lock:
            if tag not in self.finished:
                self.started.add(tag)

    def task_finished(self, tag: str) -> None:
        with self._lock:
            self.finished.add(tag)
            self.started.discard(tag)

    def point_done(self, *, cached: bool = False, failed: bool = False, invalid: bool = False,
                   quiet: bool = False) -> None:
        with self._lock:
            self.done += 1
            self.cached += cached
            self.failed += failed
            self.invalid += invalid
            self.computed += not (cached or invalid)
        if not quiet:
            self.line()

    def training_done(self) -> None:
        with self._lock:
            self.trained += 1

    def on_event(self, event) -> None:
        """Handler of the tasks' Dask events (``(time, msg)`` or ``msg``)."""
        msg = event[1] if isinstance(event, tuple) and len(event) == 2 else event
        if isinstance(msg, dict) and msg.get("event") == "start":
            self.task_started(msg.get("task"))

    # -- lines -------------------------------------------------------------------------

    def text(self) -> str:
        with self._lock:
            elapsed = time.monotonic() - self.t0
            running = min(len(self.started), self.total - self.done,
                          self.slots if self.slots else len(self.started))
            waiting = max(0, self.total - self.done - running)
            parts = [f"{self.name}: {self.done}/{self.total} points done ({self.cached} cached, "
                     f"{self.failed} failed, {self.invalid} invalid), {running} running, "
                     f"{waiting} waiting"]
            if self.trainings:
                parts.append(f"trainings {self.trained}/{self.trainings}")
            left = self.total - self.done
            when = format_seconds(elapsed)
            if left and self.computed:
                when += f", about {format_seconds(elapsed / self.computed * left)} left"
            elif left:
                when += ", time left not known yet"
            return "; ".join(parts + [when])

    def line(self, msg: str | None = None) -> None:
        if self.enabled:
            self.stream.write((msg if msg is not None else self.text()) + "\n")
            self.stream.flush()

    def __enter__(self):
        if self.enabled and self.interval > 0:
            def beat():
                while not self._stop.wait(self.interval):
                    self.line()
            self._thread = threading.Thread(target=beat, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1)
