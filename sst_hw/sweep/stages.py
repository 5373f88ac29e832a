"""The work of each stage of a point, on plain data.

These run on a worker: :func:`train_job` and :func:`point_job` in a child
process (:mod:`.child`, so a point's timeout can stop them), a point that only
plans in the worker itself. A stage that cannot complete raises
:class:`StageFailure` with a one-line reason ("does not fit", "does not
route", ...); the task turns it into a failed record and the sweep goes on.

Models travel as the bytes of their ``.sst`` file (base64 in JSON). The
trained model's hardware figures come from the very file the cache keeps.
"""

from __future__ import annotations

import base64
import hashlib
import os
import tempfile
import time
from pathlib import Path

from sst_hw.sweep.keys import MODULE_NAME, STANDIN_SEED, code_versions, dataset_sha256, synth_key

__all__ = ["StageFailure", "check_versions", "standin_network", "network_from_bytes",
           "network_bytes", "train_job", "plan_stage", "synth_stage", "point_job"]


class StageFailure(Exception):
    """A stage that could not complete: ``stage`` and a one-line ``reason``."""

    def __init__(self, stage: str, reason: str):
        super().__init__(f"{stage}: {reason}")
        self.stage = stage
        self.reason = reason


def check_versions(expected: dict, kinds) -> None:
    """Refuse to work when this worker's code differs from the client's for
    ``kinds`` (keys of :func:`~sst_hw.sweep.keys.code_versions`): its results
    would be cached under the wrong key."""
    mine = code_versions()
    wrong = [k for k in kinds if expected.get(k) != mine.get(k)]
    if wrong:
        raise StageFailure("setup", f"this worker's sst-hw differs from the client's "
                                    f"({', '.join(wrong)}): install the same version on every "
                                    f"worker")


def standin_network(point: dict):
    """The network a point that does not train is planned and synthesized
    with: random codes of its codebook over its layer sizes (seed
    :data:`~sst_hw.sweep.keys.STANDIN_SEED`), requantization calibrated as
    in the tests. Cycles and code memory are exactly a trained model's; the
    requantization table's width may differ by a few bits."""
    from sst_hw.format.random_model import random_network

    c = point["code"]
    return random_network(STANDIN_SEED, point["source"]["sizes"], c["n"], c["k"],
                          c["variant"], c["assignment"])


def network_bytes(network) -> bytes:
    from sst_hw.format import modelfile

    with tempfile.TemporaryDirectory(prefix="sst-sweep-") as d:
        path = modelfile.save(network, Path(d) / "model.sst")
        return path.read_bytes()


def network_from_bytes(data: bytes):
    from sst_hw.format import modelfile

    with tempfile.TemporaryDirectory(prefix="sst-sweep-") as d:
        path = Path(d) / "model.sst"
        path.write_bytes(data)
        net = modelfile.load(path)
    return net.as_network() if hasattr(net, "as_network") else net


def train_job(job: dict) -> dict:
    """Train one network (``job``: data set name and hash, sizes, code,
    schedule, settings, versions); its accuracy and model file."""
    from sst_hw.format.codebook import Codebook
    from sst_hw.sweep.keys import CALIB_SAMPLES
    from sst_hw.train.datasets import load_dataset
    from sst_hw.train.export import train_and_export
    from sst_hw.train.mlp import Schedule

    check_versions(job["versions"], ("train", "numpy"))
    try:
        data = load_dataset(job["dataset"])
    except (OSError, ValueError) as e:
        raise StageFailure("train", f"cannot load data set {job['dataset']!r} on this "
                                    f"worker: {e}") from None
    if dataset_sha256(data) != job["dataset_sha"]:
        raise StageFailure("train", f"data set {job['dataset']!r} on this worker differs from "
                                    f"the client's (content hash)")
    c, s = job["code"], job["settings"]
    t0 = time.monotonic()
    try:
        res = train_and_export(data, job["sizes"], Codebook(**c),
                               schedule=Schedule(**job["schedule"]), seed=s["seed"],
                               shift_only=s["shift_only"], act_width=s["act_width"],
                               calib_samples=CALIB_SAMPLES)
    except ValueError as e:
        raise StageFailure("train", str(e)) from None
    acc = {k: float(v) for k, v in res["accuracy"].items()}
    comp = res["compression"]["total"]
    return {"status": "ok", "accuracy": acc,
            "compression": {k: comp[k] for k in ("total_bits", "ratio", "weight_ratio")},
            "test_samples": int(len(data.y_test)),
            "model_b64": base64.b64encode(network_bytes(res["network"])).decode(),
            "seconds": round(time.monotonic() - t0, 3)}


def plan_stage(point: dict, network) -> tuple:
    """(plan, figures) of ``network`` on ``point``'s engine and device:
    cycles per inference and the memories against the device;
    :class:`StageFailure` if it does not fit or the engine cannot exist."""
    from sst_hw.plan.network import CapacityError, plan_network
    from sst_hw.synth.devices import get_device

    try:
        plan = plan_network(network, pe=point["pe"], simd=point["simd"],
                            memory=point["memory"])
    except (TypeError, ValueError) as e:
        raise StageFailure("plan", str(e)) from None
    device = get_device(point["device"])
    try:
        res = plan.check_fit(device)
    except CapacityError as e:
        raise StageFailure("plan", f"does not fit: {e}") from None
    return plan, {
        "cycles": plan.cycles(), "formula": plan.formula(), "weights": plan.weights,
        "code_bits": plan.code_bits, "model_code_bits": plan.model_code_bits,
        "bits_per_code": plan.codebook.bits, "act_width": plan.act_width,
        "acc_width": plan.acc_width, "engine_latency": plan.engine_latency,
        "requant": plan.requant, "bram_estimate": res["bram"]["used"],
        "spram_estimate": res["spram"]["used"]}


def _first_error(text: str) -> str:
    for line in (text or "").splitlines():
        if line.startswith("ERROR") or "error:" in line.lower():
            return line.strip()
    return ""


def synth_stage(point: dict, plan, settings: dict, known_synth=(), build_root=None) -> dict:
    """Compile ``plan``'s core to Verilog (as ``sst-hw compile``) and place and
    route it (as ``sst-hw synth`` of that file); the synth key, the Verilog's
    hash and, unless the key is in ``known_synth`` (the client has it), the
    figures."""
    from sst_hw.emit.network import write_network
    from sst_hw.synth.devices import get_device
    from sst_hw.synth.flow import SynthesisError, VerilogDesign, synthesize, tool_versions

    device = get_device(point["device"])
    freq, seed = settings["freq"][device.family], settings["seed"]
    with tempfile.TemporaryDirectory(prefix=f"sst-sweep-{point['id']}-", dir=build_root) as d:
        vpath = Path(d) / "net.v"
        write_network(plan, vpath, name=MODULE_NAME, device=device)
        verilog_sha = hashlib.sha256(vpath.read_bytes()).hexdigest()
        tools = tool_versions(device.family)
        skey = synth_key(verilog_sha, device.name, freq, seed, tools, settings["versions"])
        out = {"verilog_sha256": verilog_sha, "synth_key": skey, "tools": tools}
        if skey in set(known_synth):
            return dict(out, cached=True)
        try:
            report = synthesize(VerilogDesign.from_sidecar(vpath), device, freq,
                                Path(d) / "build", seed=seed)
        except SynthesisError as e:
            first = str(e).splitlines()[0]
            detail = _first_error(e.tail)
            what = "does not place or route" if e.tool and e.tool.startswith("nextpnr") \
                else "synthesis failed"
            # A tool that ran and failed fails again on the same Verilog (cacheable);
            # a tool that is missing on this worker says nothing about the design.
            reason = f"{what}: {first}" + (f" ({detail})" if detail else "")
            return dict(out, cached=False, figures=None, report=None,
                        cacheable=e.log_path is not None, failure=reason)
    r = report
    figures = {
        "lut4": r.lut4, "lut4_core": (r.core_estimate or {}).get("lut4"), "ff": r.ff,
        "logic_cells": r.used("logic_cells"), "bram": r.used("bram"),
        "spram": r.used("spram"), "dsp": r.used("dsp"), "fmax_mhz": r.fmax_mhz,
        "freq_mhz": freq, "seed": seed, "fits": r.fits, "meets_timing": r.meets_timing,
        "lut4_available": device.lut4, "runtime_s": r.runtime_s}
    report_dict = r.to_dict()
    report_dict.pop("files", None)
    out.update(cached=False, figures=figures, report=report_dict)
    if not r.fits:
        over = [f"{k} {v.used} of {v.available}" for k, v in r.resources.items() if not v.fits]
        out["failure"] = f"does not fit the {device.name} after synthesis: {', '.join(over)}"
    return out


def point_job(request: dict) -> dict:
    """One point's plan (and synth) on its network: the trained model's bytes
    (``model_b64``), a model file's, or the stand-in network."""
    point, settings = request["point"], request["settings"]
    kinds = ["plan"] + (["hardware", "synth", "amaranth"] if request.get("synth") else [])
    check_versions(settings["versions"], kinds)
    t0 = time.monotonic()
    if request.get("model_b64"):
        network = network_from_bytes(base64.b64decode(request["model_b64"]))
    else:
        network = standin_network(point)
    plan, figures = plan_stage(point, network)
    out = {"status": "ok", "plan": figures}
    if request.get("synth"):
        out["synth"] = synth_stage(point, plan, settings, request.get("known_synth", ()),
                                   os.environ.get("SST_SWEEP_BUILD_ROOT"))
        if "failure" in out["synth"]:
            out.update(status="failed", stage="synth", reason=out["synth"]["failure"])
    out["seconds"] = round(time.monotonic() - t0, 3)
    return out
