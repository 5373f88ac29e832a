"""Where a sweep's results live while it runs, and the record of each point.

:class:`Store` is the cache plus what this run learnt (so a sweep with the
cache disabled still has its results, and a timeout, which is not cached, is
still reported). :func:`point_record` assembles one flat record of a point
from the store: the axes, the status and the first failure's stage and
reason, the accuracy, the plan's cycles, the synthesis figures, the keys,
and which stages this run computed (``computed``)::

    {"id", "label", "code", "n", "k", "variant", "assignment", "pe", "simd",
     "device", "memory", "source", "model", "sizes", "status" ("ok" | "failed"
     | "invalid"), "stage", "reason", "accuracy", "accuracy_float",
     "accuracy_sst", "compression", "cycles", "bits_per_code", "code_bits",
     "bram_estimate", "requant", "lut4", "lut4_core", "ff", "bram", "dsp",
     "fmax_mhz", "inferences_per_s", "latency_us", "computed": {"train",
     "plan", "synth"}, "keys", "worker", "seconds"}
"""

from __future__ import annotations

from sst_hw.sweep.cache import Cache
from sst_hw.sweep.spec import code_label

__all__ = ["Store", "point_record", "RECORD_FIELDS"]

#: Scalar fields of a record, in table order.
RECORD_FIELDS = ("id", "code", "n", "k", "variant", "assignment", "pe", "simd", "device",
                 "memory", "source", "sizes", "status", "stage", "reason", "accuracy",
                 "accuracy_float", "accuracy_sst", "compression", "cycles", "bits_per_code",
                 "code_bits", "bram_estimate", "requant", "lut4", "lut4_core", "ff", "bram",
                 "dsp", "fmax_mhz", "inferences_per_s", "latency_us", "worker", "seconds")


class Store:
    """The cache, and this run's results in memory in front of it."""

    def __init__(self, cache: Cache):
        self.cache = cache
        self._mem: dict = {}

    def get(self, kind: str, key: str | None) -> dict | None:
        if key is None:
            return None
        if (kind, key) in self._mem:
            return self._mem[(kind, key)]
        return self.cache.get(kind, key)

    def get_bytes(self, kind: str, key: str, suffix: str) -> bytes | None:
        if (kind, key, suffix) in self._mem:
            return self._mem[(kind, key, suffix)]
        return self.cache.get_bytes(kind, key, suffix)

    def put(self, kind: str, key: str, record: dict) -> None:
        self._mem[(kind, key)] = record
        self.cache.put(kind, key, record)

    def put_bytes(self, kind: str, key: str, suffix: str, data: bytes) -> None:
        self._mem[(kind, key, suffix)] = data
        self.cache.put_bytes(kind, key, suffix, data)

    def remember(self, kind: str, key: str, record: dict) -> None:
        """Keep ``record`` for this run only (a failure a rerun may not repeat)."""
        self._mem[(kind, key)] = record


def _failed(rec) -> bool:
    return bool(rec) and rec.get("status") not in (None, "ok")


def point_record(prep, store: Store, p: dict, res: dict | None, done: dict) -> dict:
    """The record of point ``p`` (see the module doc); ``res`` is its task's
    result in this run (None when it came from the cache), ``done`` the sets
    of what this run computed (train keys, point ids for plan and synth)."""
    spec = prep.spec
    src = p["source"]
    rec = {"id": p["id"], "label": p["label"], "code": code_label(p["code"]), **p["code"],
           "pe": p["pe"], "simd": p["simd"], "device": p["device"], "memory": p["memory"],
           "source": src.get("dataset") or src.get("model"), "model": src.get("model"),
           "sizes": "-".join(map(str, src["sizes"])), "status": "ok", "stage": None,
           "reason": None, "computed": {"train": False, "plan": False, "synth": False},
           "keys": dict(prep.keys.get(p["id"], {})), "worker": None, "seconds": None}
    if p["status"] == "invalid":
        rec.update(status="invalid", stage="spec", reason=p["reason"])
        return rec
    ks = rec["keys"]
    if res is not None:
        rec.update(worker=res.get("worker"), seconds=res.get("wall_s"))
    failures = []
    if spec.runs("train"):
        train = store.get("train", ks["train"]) or {}
        rec["computed"]["train"] = ks["train"] in done["train"]
        acc = train.get("accuracy") or {}
        rec.update(accuracy=acc.get("integer"), accuracy_float=acc.get("float"),
                   accuracy_sst=acc.get("sst"),
                   compression=(train.get("compression") or {}).get("ratio"))
        failures.append(train)
    elif src["kind"] == "model":
        rec["accuracy"] = prep.models[src["model"]].accuracy
    plan = store.get("plan", ks["plan"]) or {}
    rec["computed"]["plan"] = p["id"] in done["plan"]
    if plan.get("status") == "ok":
        rec.update({k: plan.get(k) for k in ("cycles", "bits_per_code", "code_bits",
                                             "bram_estimate", "requant")})
    failures.append(plan)
    if spec.runs("synth"):
        synth = store.get("synth", ks.get("synth")) or {}
        rec["computed"]["synth"] = p["id"] in done["synth"]
        f = synth.get("figures") or {}
        rec.update({k: f.get(k) for k in ("lut4", "lut4_core", "ff", "bram", "dsp",
                                          "fmax_mhz")})
        if f.get("fmax_mhz") and rec.get("cycles"):
            rec["inferences_per_s"] = f["fmax_mhz"] * 1e6 / rec["cycles"]
            rec["latency_us"] = rec["cycles"] / f["fmax_mhz"]
        failures.append(synth)
    failures.append(res)
    first = next((r for r in failures if _failed(r)), None)
    if first is not None:
        rec.update(status="failed", stage=first.get("stage"), reason=first.get("reason"))
    return rec
