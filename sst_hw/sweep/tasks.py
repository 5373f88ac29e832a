"""The Dask tasks of a sweep: top-level functions of plain data, so a worker
needs only sst-hw installed.

* :func:`train_task` trains one network (shared by every point of that
  data set, layer sizes and code);
* :func:`point_task` plans (and synthesizes) one point, given its trained
  model (the result of its train task, which Dask hands over) or none.

Both return a dict and never raise: a failure is ``{"status": "failed",
"stage", "reason"}``. Training and synthesis run in a child process
(:mod:`.child`) killed, with its tools, when ``timeout`` seconds are up; a
point that only plans runs in the worker. Each task reports its start to the
client (a Dask event on :data:`EVENT_TOPIC`) so the progress lines can count
what is running.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

__all__ = ["train_task", "point_task", "EVENT_TOPIC", "run_child"]

EVENT_TOPIC = "sst-hw-sweep"
_SINGLE_THREAD = {v: "1" for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                   "MKL_NUM_THREADS")}


def _worker_address() -> str | None:
    try:
        from distributed import get_worker
        return get_worker().address
    except (ImportError, ValueError):
        return None


def _started(tag: str) -> None:
    try:
        from distributed import get_worker
        get_worker().log_event(EVENT_TOPIC, {"event": "start", "task": tag})
    except (ImportError, ValueError):
        pass


def _tail(text: str, lines: int = 3) -> str:
    return " | ".join(x.strip() for x in text.strip().splitlines()[-lines:])


def run_child(request: dict, timeout: float) -> dict:
    """Run ``request`` in ``python -m sst_hw.sweep.child``; its result, or a
    failed one when it times out or dies."""
    from sst_hw.sweep.child import RESULT_PREFIX

    env = dict(os.environ, **_SINGLE_THREAD)
    proc = subprocess.Popen([sys.executable, "-m", "sst_hw.sweep.child"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)
    try:
        out, err = proc.communicate(json.dumps(request), timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.communicate()
        return {"status": "failed", "stage": "timeout",
                "reason": f"timed out after {timeout:g} s (the point's timeout)"}
    for line in reversed(out.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX):])
    return {"status": "failed", "stage": "worker",
            "reason": f"the stage process exited with status {proc.returncode}: "
                      f"{_tail(err) or 'no output'}"}


def train_task(job: dict, timeout: float) -> dict:
    """Train ``job`` (see :func:`sst_hw.sweep.stages.train_job`) within ``timeout`` s."""
    _started(f"train:{job['key']}")
    t0 = time.monotonic()
    out = run_child({"op": "train", "job": job}, timeout)
    out.update(key=job["key"], worker=_worker_address(),
               wall_s=round(time.monotonic() - t0, 3))
    return out


def point_task(point: dict, settings: dict, model: dict | None, synth: bool,
               known_synth: list, timeout: float) -> dict:
    """Plan (and, with ``synth``, synthesize) ``point`` on ``model`` (a train
    result with ``model_b64``, a failed one, or None for the stand-in)."""
    _started(f"point:{point['id']}")
    t0 = time.monotonic()
    if model is not None and model.get("status") != "ok":
        return {"status": "failed", "stage": model.get("stage", "train"),
                "reason": model.get("reason", "training failed"), "worker": _worker_address(),
                "wall_s": 0.0}
    request = {"op": "point", "point": point, "settings": settings, "synth": synth,
               "known_synth": known_synth,
               "model_b64": model.get("model_b64") if model else None}
    if synth:
        out = run_child(request, timeout)
    else:
        from sst_hw.sweep.child import run
        out = run(request)
    out.update(worker=_worker_address(), wall_s=round(time.monotonic() - t0, 3))
    return out
