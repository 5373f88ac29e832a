"""The client side of a sweep: describe, look up, submit, collect.

:func:`prepare` does everything that needs no cluster: it describes the data
sets and model files, crosses the axes into points, computes every cache key
and looks each point up. :func:`run_sweep` then submits only what the cache
lacks (one train task per distinct training, one point task per point that
needs a plan or a synthesis, fed by its train task), collects the results
as they complete, writes each to the cache at once (so an interrupted sweep
resumes where it stopped) and returns one record per point
(:mod:`.records`; :mod:`.results` turns them into tables).
"""

from __future__ import annotations

import base64
import dataclasses
import time
import types
from dataclasses import dataclass, field

from sst_hw.sweep import keys as K
from sst_hw.sweep.cache import Cache
from sst_hw.sweep.points import describe_dataset, describe_model, expand
from sst_hw.sweep.progress import Progress
from sst_hw.sweep.records import Store, point_record
from sst_hw.sweep.spec import SweepSpec

__all__ = ["Prepared", "SweepRun", "prepare", "run_sweep", "resolve_schedule"]

#: Failure stages whose result is the same on a rerun, so it is cached.
DETERMINISTIC_FAILURES = ("train", "plan")


def resolve_schedule(spec: SweepSpec, train_samples: int) -> dict:
    """Every field of the :class:`~sst_hw.train.mlp.Schedule` the points of a
    data set of ``train_samples`` training samples train with."""
    from sst_hw.train.mlp import Schedule

    sched = Schedule.for_dataset(types.SimpleNamespace(x_train=range(train_samples)))
    if spec.train.epochs is not None:
        sched.epochs_float, sched.epochs_prune, sched.epochs_sst = spec.train.epochs
    if spec.train.batch_size is not None:
        sched.batch_size = spec.train.batch_size
    sched.threads = 1
    sched.__post_init__()
    return dataclasses.asdict(sched)


@dataclass
class Prepared:
    """A sweep ready to run: its points, their keys and what the cache holds."""

    spec: SweepSpec
    points: list
    versions: dict
    tools: dict                      # family -> tool versions (synth stage only)
    freq: dict                       # family -> MHz
    datasets: dict
    models: dict
    train_jobs: dict = field(default_factory=dict)      # train key -> job
    keys: dict = field(default_factory=dict)            # point id -> {kind: key}

    @property
    def settings(self) -> dict:
        return {"versions": self.versions, "freq": self.freq, "seed": self.spec.synth.seed}


@dataclass
class SweepRun:
    """What :func:`run_sweep` returns: one record per point, in point order,
    the counts of what was computed, and the store of results."""

    spec: SweepSpec
    records: list
    summary: dict
    store: Store

    def model_bytes(self, record: dict) -> bytes | None:
        """The ``.sst`` file of a record's network (trained points and model files)."""
        tkey = record.get("keys", {}).get("train")
        if tkey:
            return self.store.get_bytes("train", tkey, ".sst")
        if record.get("model"):
            with open(record["model"], "rb") as f:
                return f.read()
        return None


def prepare(spec: SweepSpec, store: Store) -> Prepared:
    """Describe, expand and key every point of ``spec`` (no cluster); the
    synth key of a point whose recipe the store knows."""
    from sst_hw.synth.devices import get_device

    datasets = {}
    if "model" not in spec.axes:
        for name in spec.axes.get("dataset", ["digits"]):
            datasets[name] = describe_dataset(name)
    models = {str(p): describe_model(p) for p in spec.axes.get("model", [])}
    points = expand(spec, datasets, models)
    versions = K.code_versions()
    tools = {}
    if spec.runs("synth"):
        from sst_hw.synth.flow import tool_versions
        tools = {f: tool_versions(f)
                 for f in sorted({get_device(p["device"]).family for p in points})}
    freq = {f: spec.synth.freq_for(f) for f in ("ice40", "ecp5")}
    prep = Prepared(spec, points, versions, tools, freq, datasets, models)
    train_settings = spec.train.as_dict()
    for p in points:
        if p["status"] == "invalid":
            continue
        ks = {}
        src = p["source"]
        if spec.runs("train"):
            info = datasets[src["dataset"]]
            sched = resolve_schedule(spec, info.train_samples)
            tkey = K.train_key(info.sha256, src["sizes"], p["code"], sched, train_settings,
                               versions)
            ks["train"] = tkey
            prep.train_jobs.setdefault(tkey, {
                "key": tkey, "dataset": src["dataset"], "dataset_sha": info.sha256,
                "sizes": src["sizes"], "code": p["code"], "schedule": sched,
                "settings": train_settings, "versions": versions})
            ks["model"] = K.model_key(p, versions, train=tkey)
        elif src["kind"] == "model":
            ks["model"] = K.model_key(p, versions, model_sha=models[src["model"]].sha256)
        else:
            ks["model"] = K.model_key(p, versions)
        ks["plan"] = K.plan_key(ks["model"], p, versions)
        if spec.runs("synth"):
            ks["recipe"] = K.recipe_key(ks["model"], p, versions)
            recipe = store.get("recipe", ks["recipe"])
            if recipe is not None:
                fam = get_device(p["device"]).family
                ks["synth"] = K.synth_key(recipe["verilog_sha256"], p["device"], freq[fam],
                                          spec.synth.seed, tools[fam], versions)
        prep.keys[p["id"]] = ks
    return prep


def _have(store: Store, kind: str, key: str | None) -> dict | None:
    if key is None:
        return None
    rec = store.get(kind, key)
    if kind == "train" and rec is not None and rec.get("status") == "ok" \
            and store.get_bytes("train", key, ".sst") is None:
        return None
    return rec


def missing_work(prep: Prepared, store: Store, p: dict) -> dict:
    """What point ``p`` still needs: ``{"train": bool, "point": bool, "synth": bool}``."""
    spec, ks = prep.spec, prep.keys[p["id"]]
    need = {"train": False, "point": False, "synth": False}
    if spec.runs("train"):
        train = _have(store, "train", ks["train"])
        if train is None:
            need.update(train=True, point=True, synth=spec.runs("synth"))
            return need
        if train.get("status") != "ok":
            return need                      # a cached training failure ends the point
    plan = _have(store, "plan", ks["plan"])
    if plan is not None and plan.get("status") != "ok":
        return need
    synth = spec.runs("synth") and _have(store, "synth", ks.get("synth")) is None
    need.update(point=plan is None or synth, synth=synth)
    return need


def needs_cluster(prep: Prepared, cache: Cache) -> bool:
    """Whether any point of ``prep`` has work the cache lacks."""
    store = Store(cache)
    return any(missing_work(prep, store, p)["point"] for p in prep.points
               if p["status"] != "invalid")


def run_sweep(spec: SweepSpec, client, cache: Cache, *, progress: bool = True,
              interval: float = 30.0, stream=None, prep: Prepared | None = None) -> SweepRun:
    """Run ``spec`` on the Dask ``client``; see the module doc. ``client`` may
    be None when the cache holds everything (:func:`needs_cluster`)."""
    from distributed import as_completed

    from sst_hw.sweep.tasks import EVENT_TOPIC, point_task, train_task

    t0 = time.monotonic()
    store = Store(cache)
    prep = prep or prepare(spec, store)
    points = prep.points
    valid = [p for p in points if p["status"] != "invalid"]
    needs = {p["id"]: missing_work(prep, store, p) for p in valid}
    todo = [p for p in valid if needs[p["id"]]["point"]]
    trainings = sorted({prep.keys[p["id"]]["train"] for p in todo if needs[p["id"]]["train"]})
    if todo and client is None:
        raise ValueError("run_sweep needs a Dask client: points are to be computed")
    try:
        slots = sum(client.nthreads().values()) or None
    except Exception:
        slots = None
    prog = Progress(len(points), len(trainings), enabled=progress, stream=stream,
                    interval=interval, name=spec.name, slots=slots)
    for p in points:
        if p["status"] == "invalid":
            prog.point_done(invalid=True, quiet=True)
        elif not needs[p["id"]]["point"]:
            prog.point_done(cached=True, quiet=True,
                            failed=_cached_failure(prep, store, p))
    n_invalid = len(points) - len(valid)
    prog.line(f"{spec.name}: {len(points)} points: {len(todo)} to compute, "
              f"{len(valid) - len(todo)} from the cache, {n_invalid} invalid; "
              f"{len(trainings)} trainings")
    results: dict = {}
    done = {"train": set(), "plan": set(), "synth": set(), "synth_reused": set()}
    if todo:
        try:
            client.subscribe_topic(EVENT_TOPIC, prog.on_event)
        except Exception:            # no running counts, everything else works
            pass
        known_synth = sorted(cache.keys("synth"))
        owner = {}
        train_futures = {}
        for tkey in trainings:
            fut = client.submit(train_task, prep.train_jobs[tkey], spec.timeout,
                                key=f"sst-train-{tkey[:16]}-{time.time_ns()}", pure=False)
            train_futures[tkey] = fut
            owner[fut.key] = ("train", tkey)
        futures = list(train_futures.values())
        for p in todo:
            model = _model_input(prep, store, p, train_futures)
            fut = client.submit(point_task, p, prep.settings, model, needs[p["id"]]["synth"],
                                known_synth, spec.timeout,
                                key=f"sst-point-{p['id']}-{time.time_ns()}", pure=False)
            owner[fut.key] = ("point", p["id"])
            futures.append(fut)
        by_id = {p["id"]: p for p in points}
        with prog:
            for fut in as_completed(futures):
                kind, ident = owner[fut.key]
                try:
                    res = fut.result()
                except Exception as e:        # a worker died, a task was lost
                    res = {"status": "failed", "stage": "worker",
                           "reason": f"{type(e).__name__}: {e}".splitlines()[0]}
                prog.task_finished(f"{kind}:{ident}")
                if kind == "train":
                    _store_train(store, ident, res, done)
                    prog.training_done()
                else:
                    _store_point(prep, store, by_id[ident], res, done)
                    results[ident] = res
                    prog.point_done(cached=False, failed=res.get("status") != "ok")
                fut.release()
        try:
            client.unsubscribe_topic(EVENT_TOPIC)
        except Exception:
            pass
    records = [point_record(prep, store, p, results.get(p["id"]), done) for p in points]
    computed = {k: len(v) for k, v in done.items()}
    summary = {
        "points": len(points), "ok": sum(r["status"] == "ok" for r in records),
        "failed": sum(r["status"] == "failed" for r in records), "invalid": n_invalid,
        "from_cache": len(valid) - len(todo),
        "submitted": {"train": len(trainings), "point": len(todo)},
        "computed": computed, "seconds": round(time.monotonic() - t0, 2),
        "workers": len(client.scheduler_info().get("workers", {})) if client else 0,
    }
    prog.line(f"{spec.name}: done in {summary['seconds']:.1f} s: {summary['ok']} ok, "
              f"{summary['failed']} failed, {n_invalid} invalid; computed "
              f"{computed['train']} trainings, {computed['plan']} plans, "
              f"{computed['synth']} syntheses ({computed['synth_reused']} reused)")
    return SweepRun(spec, records, summary, store)


def _cached_failure(prep: Prepared, store: Store, p: dict) -> bool:
    ks = prep.keys[p["id"]]
    recs = [store.get("train", ks.get("train")), store.get("plan", ks["plan"]),
            store.get("synth", ks.get("synth"))]
    return any(r is not None and r.get("status") != "ok" for r in recs)


def _model_input(prep: Prepared, store: Store, p: dict, train_futures: dict):
    """The network a point task builds on: a train future, a cached training
    (the model file's bytes), a model file's bytes, or None (stand-in)."""
    if prep.spec.runs("train"):
        tkey = prep.keys[p["id"]]["train"]
        if tkey in train_futures:
            return train_futures[tkey]
        data = store.get_bytes("train", tkey, ".sst")
        return {"status": "ok", "model_b64": base64.b64encode(data).decode()}
    if p["source"]["kind"] == "model":
        with open(p["source"]["model"], "rb") as f:
            return {"status": "ok", "model_b64": base64.b64encode(f.read()).decode()}
    return None


def _store_train(store: Store, tkey: str, res: dict, done: dict) -> None:
    if res.get("status") == "ok":
        done["train"].add(tkey)
        store.put_bytes("train", tkey, ".sst", base64.b64decode(res["model_b64"]))
        store.put("train", tkey, {k: v for k, v in res.items() if k != "model_b64"})
    elif res.get("stage") in DETERMINISTIC_FAILURES:
        done["train"].add(tkey)
        store.put("train", tkey, res)
    else:
        store.remember("train", tkey, res)   # a timeout: this run only


def _store_point(prep: Prepared, store: Store, p: dict, res: dict, done: dict) -> None:
    ks = prep.keys[p["id"]]
    if "plan" in res:
        done["plan"].add(p["id"])
        store.put("plan", ks["plan"], {"status": "ok", **res["plan"]})
    elif res.get("stage") == "plan":
        done["plan"].add(p["id"])
        store.put("plan", ks["plan"], {k: res.get(k) for k in ("status", "stage", "reason")})
    syn = res.get("synth")
    if syn is None:
        return
    ks["synth"] = syn["synth_key"]
    store.put("recipe", ks["recipe"], {"verilog_sha256": syn["verilog_sha256"]})
    if syn.get("cached"):
        done["synth_reused"].add(p["id"])
        return
    done["synth"].add(p["id"])
    rec = {"status": "failed" if "failure" in syn else "ok",
           "verilog_sha256": syn["verilog_sha256"], "tools": syn["tools"],
           "figures": syn["figures"], "report": syn["report"]}
    if "failure" in syn:
        rec.update(stage="synth", reason=syn["failure"])
    if syn.get("cacheable", True):
        store.put("synth", syn["synth_key"], rec)
    else:
        store.remember("synth", syn["synth_key"], rec)
