"""The Dask client of a sweep: an existing scheduler, or a ``LocalCluster``.

``scheduler="tcp://HOST:8786"`` connects to a scheduler started with ``dask
scheduler`` and waits (``wait`` seconds) for at least one worker. Without
one, a ``distributed.LocalCluster`` of ``workers`` processes (default: the
cores this process may use), one thread each, runs for the length of the
sweep. Connection problems are a :class:`ClusterError` (a ``ValueError``:
the command line reports it in one line, exit status 2).
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager

__all__ = ["ClusterError", "default_workers", "dask_client"]


class ClusterError(ValueError):
    """The scheduler cannot be reached or has no workers."""


def default_workers() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def check_address(address: str) -> str:
    """``tcp://HOST:PORT`` (or ``HOST:PORT``, taken as tcp), checked."""
    import re

    addr = address if "://" in address else f"tcp://{address}"
    if not re.fullmatch(r"(tcp|tls|inproc|ws|wss)://[^\s:/]+(:\d{1,5})?", addr):
        raise ClusterError(f"--scheduler must look like tcp://HOST:8786, not {address!r}")
    return addr


@contextmanager
def dask_client(scheduler: str | None = None, workers: int | None = None,
                wait: float = 60.0):
    """A ``distributed.Client`` for the sweep (closed, with its local cluster, on exit)."""
    from distributed import Client, LocalCluster

    if scheduler is not None:
        addr = check_address(scheduler)
        try:
            client = Client(addr, timeout=f"{min(wait, 30.0)}s")
        except (OSError, TimeoutError) as e:
            raise ClusterError(f"cannot reach the Dask scheduler at {addr}: {e}") from None
        try:
            try:
                client.wait_for_workers(1, timeout=wait)
            except TimeoutError:
                raise ClusterError(f"no worker joined the scheduler at {addr} within "
                                   f"{wait:g} s (start one with `dask worker {addr}`)") from None
            yield client
        finally:
            client.close()
        return
    n = workers or default_workers()
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                           dashboard_address=":0", silence_logs=logging.ERROR)
    try:
        client = Client(cluster)
        try:
            yield client
        finally:
            client.close()
    finally:
        cluster.close()
