"""``python -m sst_hw.sweep.child``: one stage job in its own process.

Reads one JSON request on stdin (``{"op": "train", "job": {...}}`` or
``{"op": "point", ...}``, see :mod:`.stages`), writes one JSON result line
prefixed with :data:`RESULT_PREFIX` on stdout; anything else the job prints
goes to stderr. A :class:`~.stages.StageFailure` becomes a failed result with
its reason. The parent (:mod:`.tasks`) kills the process group when the
point's time is up.
"""

from __future__ import annotations

import json
import sys

RESULT_PREFIX = "SST-SWEEP-RESULT "


def run(request: dict) -> dict:
    from sst_hw.sweep.stages import StageFailure, point_job, train_job

    try:
        if request.get("op") == "train":
            return train_job(request["job"])
        if request.get("op") == "point":
            return point_job(request)
        return {"status": "failed", "stage": "setup",
                "reason": f"unknown child request {request.get('op')!r}"}
    except StageFailure as e:
        return {"status": "failed", "stage": e.stage, "reason": e.reason}


def main() -> int:
    request = json.loads(sys.stdin.read())
    out, sys.stdout = sys.stdout, sys.stderr
    try:
        result = run(request)
    finally:
        sys.stdout = out
    out.write(RESULT_PREFIX + json.dumps(result) + "\n")
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
