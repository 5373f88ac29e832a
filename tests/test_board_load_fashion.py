"""Tier 2, ``-m slow``: a real Fashion-MNIST MLP loaded over the UART into the
simulated iCEBreaker SPRAM build, then retrained and loaded again.

Two 784-1024-10 models (813,056 weights each) are trained with the real CLI
(``sst-hw train --dataset fashion-mnist``, one epoch per phase, two seeds).
The board top is built as ``sst-hw build --board icebreaker --memory spram``
builds it -- :func:`sst_hw.boards.build.make_core` (which checks the fit on the
UP5K) inside :class:`sst_hw.boards.InferenceTop` at the iCEBreaker's 12 MHz --
only with a faster UART (``DIVISOR`` clock cycles per bit) so that the
109 KB image crosses the simulated line in seconds. Verilator runs it
with the Verilog SPRAM model; the cocotb side drives ``rx`` and samples
``tx`` bit by bit (``support.load_bench``): no model at power-on, model 1
loaded by the host's own ``AsyncClient.load`` and checked bit-exact on
Fashion-MNIST test images (every logit and the class, against the golden
``net.forward``), then model 2 loaded over it and checked the same way.

Needs Debian's ``dataset-fashion-mnist`` (``make fashion-mnist``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

#: The iCEBreaker's clock (reported by INFO; the LED timing).
CLK_HZ = 12_000_000
#: Simulated clock period, ns: 12 MHz, rounded to the picosecond.
CLK_NS = 83.334
#: Clock cycles per UART bit in simulation (``MIN_DIVISOR`` is 4; the bench
#: sends 1.5 % slow).
DIVISOR = 4
TIMEOUT_BITS = 4096
SIZES = "784,1024,10"
SEEDS = (1, 2)
#: Fashion-MNIST test images run on each loaded model.
N_IMAGES = 24
#: Host read timeout in bit-times: a LOAD_COMMIT reads the whole image back
#: from SPRAM before it answers (~110K cycles, far more than the bench's 3000).
CLIENT_TIMEOUT_BITS = 250_000
#: Verilator's C++ optimisation for this build: the runner's default -O0 simulates this
#: top at about 37K cycles/s here, -O1 about 4x faster for ~25 s more compile time (the
#: run simulates about 11.5M cycles).
VERILATOR_OPT = "-O1"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two models of one topology from ``sst-hw train`` (two seeds, trained side
    by side: each uses one BLAS thread): [(path, train's JSON report)]."""
    from sst_hw.train.datasets import FASHION_MNIST_DIR
    if not FASHION_MNIST_DIR.is_dir():
        pytest.fail(f"Fashion-MNIST is not installed ({FASHION_MNIST_DIR}): run "
                    f"`make fashion-mnist`")
    out = tmp_path_factory.mktemp("fashion_models")
    t0 = time.monotonic()
    procs = []
    for seed in SEEDS:
        path = out / f"fashion_{seed}.sst"
        cmd = [sys.executable, "-m", "sst_hw.cli", "train", "--dataset", "fashion-mnist",
               "--layers", SIZES, "--epochs", "1", "--seed", str(seed), "-o", str(path),
               "--json", "--quiet"]
        procs.append((path, subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                             stderr=subprocess.PIPE, text=True)))
    models = []
    for path, proc in procs:
        stdout, stderr = proc.communicate(timeout=600)
        assert proc.returncode == 0, f"sst-hw train failed:\n{stderr}"
        models.append((path, json.loads(stdout)))
    secs = time.monotonic() - t0
    for path, rep in models:
        print(f"\ntrained {path.name} (seed {rep['seed']}): test accuracy {rep['accuracy']}, "
              f"{rep['compression']['total']['weights']} weights, {rep['seconds']:.1f} s")
    print(f"training both (in parallel): {secs:.1f} s wall")
    return models


def _wire_seconds(image_len: int, chunk: int, baud: float) -> tuple[int, int, float]:
    """(LOAD frames, bytes on the wire both ways, seconds at ``baud``) of one
    load: LOAD_BEGIN (8-byte payload), the LOAD_DATA chunks (4-byte offset +
    data), LOAD_COMMIT (12), each frame 4 header + payload + 2 CRC bytes and
    answered by a 6-byte ACK; 10 bits per byte (8N1)."""
    n_data = -(-image_len // chunk)
    payloads = [8] + [4 + min(chunk, image_len - off) for off in range(0, image_len, chunk)]
    payloads += [12]
    frames = len(payloads)
    assert frames == n_data + 2
    wire = sum(6 + p for p in payloads) + 6 * frames
    return frames, wire, wire * 10 / baud


@pytest.mark.slow
def test_fashion_load_spram_icebreaker(tmp_path, trained, monkeypatch):
    """The issue's line: the 784-1024-10 Fashion-MNIST MLP (about 813K weights,
    trained with `sst-hw train`) loads and infers bit-exact on the simulated
    iCEBreaker SPRAM build; retrained, it loads again."""
    from amaranth.back import verilog

    from sst_hw.boards import InferenceTop, core_info, get_board
    from sst_hw.boards.build import make_core
    from sst_hw.core.spram import SB_SPRAM256KA_SIM
    from sst_hw.format import modelfile
    from sst_hw.sim.runner import build_verilog, run_tests
    from sst_hw.train.datasets import load_dataset

    (path1, rep1), (path2, rep2) = trained
    for rep in (rep1, rep2):
        assert rep["sizes"] == [784, 1024, 10]
        assert rep["compression"]["total"]["weights"] == 813_056
        assert rep["accuracy"]["integer"] > 0.80, rep["accuracy"]
    net1 = modelfile.load(path1)
    assert net1.input_range == (0, 255)     # raw uint8 pixels, as `sst-hw infer` sends a .npy

    # Fashion-MNIST test images, as the trainer reads them: raw uint8 pixels.
    ds = load_dataset("fashion-mnist")
    images = tmp_path / "images.npz"
    np.savez(images, x=ds.x_test[:N_IMAGES].astype(np.int64), y=ds.y_test[:N_IMAGES])

    t0 = time.monotonic()
    core = make_core(net1, get_board("icebreaker"), memory="spram")   # checks the UP5K fit
    top = InferenceTop(core, core_info(net1, core), clk_hz=CLK_HZ, divisor=DIVISOR,
                       timeout_bits=TIMEOUT_BITS)
    load = top.info.load
    assert load.loadable and not load.builtin and top.info.model_id == 0
    sources = [tmp_path / "sst_board_top.v", tmp_path / "sb_spram256ka.v"]
    sources[0].write_text(verilog.convert(top, name="sst_board_top"))
    sources[1].write_text(SB_SPRAM256KA_SIM)
    t1 = time.monotonic()
    if "SST_HW_VERILATOR_OPT" not in os.environ:
        monkeypatch.setenv("SST_HW_VERILATOR_OPT", VERILATOR_OPT)
    build = build_verilog(sources, "sst_board_top", tmp_path / "sim")
    t2 = time.monotonic()
    print(f"\nVerilog {t1 - t0:.1f} s, Verilator build ({os.environ['SST_HW_VERILATOR_OPT']}) "
          f"{t2 - t1:.1f} s")
    for baud in (115_200, 1_000_000):
        frames, wire, secs = _wire_seconds(load.image_len, load.max_chunk, baud)
        print(f"image {load.image_len} bytes, max_chunk {load.max_chunk}: {frames} LOAD frames, "
              f"{wire} bytes on the wire: {secs:.2f} s at {baud} baud")

    run_tests(build, "test_board_load_fashion", config={
        "models": {"m1": str(path1), "m2": str(path2)}, "images": str(images),
        "info": top.info.to_bytes().hex(), "divisor": DIVISOR, "clk_ns": CLK_NS,
        "timeout_bits": TIMEOUT_BITS, "memory": "spram", "seed": 5})
    print(f"cocotb run {time.monotonic() - t2:.1f} s")
    log = (tmp_path / "sim" / "run" / "sim.log").read_text(errors="replace")
    print("\n".join(line for line in log.splitlines() if "fashion:" in line))


# -- cocotb side -----------------------------------------------------------------------------------

try:
    import cocotb
    from cocotb.utils import get_sim_time

    from support.load_bench import start_bench as _bench
except ImportError:  # pragma: no cover
    cocotb = None


if cocotb is not None:

    async def _fashion_bench(dut):
        b = await _bench(dut)
        b.client.timeout = CLIENT_TIMEOUT_BITS
        data = np.load(b.cfg["images"])
        return b, data["x"], data["y"]

    async def _load(b, key):
        """Load model ``key`` with the host client; log wall and simulated time."""
        from sst_hw.link.wire import ModelState, model_id
        net = b.nets[key]
        frames = []
        request = b.client.request

        async def counted(cmd, payload=b""):
            start = get_sim_time("ns")
            reply = await request(cmd, payload)
            frames.append((cmd, get_sim_time("ns") - start, len(payload), len(reply)))
            return reply

        b.client.request = counted
        t0, s0 = time.monotonic(), get_sim_time("ns")
        try:
            info = await b.client.load(net)
        finally:
            b.client.request = request
        wall, sim_ms = time.monotonic() - t0, (get_sim_time("ns") - s0) / 1e6
        from sst_hw.link.wire import CMD_INFO, CMD_LOAD_COMMIT
        n_load = sum(1 for c, *_ in frames if c != CMD_INFO)
        # The commit reads the image back from SPRAM: its time past the frames' own.
        _, ns, n_req, n_rep = next(f for f in frames if f[0] == CMD_LOAD_COMMIT)
        wire_ns = 10 * b.bit_ns * (1.015 * (6 + n_req) + 6 + n_rep)
        commit_cycles = (ns - wire_ns) / b.cfg["clk_ns"]
        b.dut._log.info(f"fashion: load {key}: {n_load} LOAD frames, {info.load.image_len} "
                        f"bytes, {wall:.1f} s wall, {sim_ms:.1f} ms simulated; the commit's "
                        f"read-back about {commit_cycles:.0f} cycles")
        assert info.load.state == ModelState.READY and info.model_id == model_id(net)
        assert n_load == -(-info.load.image_len // info.load.max_chunk) + 2

    async def _infer_all(b, key, xs, ys):
        """Every image: logits and class bit-exact with the golden model."""
        net = b.nets[key]
        logits, classes = net.forward(xs)
        t0 = time.monotonic()
        for x, want_logits, want_cls in zip(xs, logits, classes):
            res = await b.client.infer(x)
            assert res.logits.tolist() == want_logits.tolist(), key
            assert res.cls == int(want_cls), key
        wall = time.monotonic() - t0
        acc = float(np.mean(classes == ys))
        b.dut._log.info(f"fashion: {key}: {len(xs)} test images bit-exact ({acc:.0%} "
                        f"correct), {wall:.1f} s wall")
        return classes

    @cocotb.test()
    async def fashion_power_on_no_model(dut):
        """The SPRAM build has no model at power-on."""
        b, _, _ = await _fashion_bench(dut)
        await b.check_no_model()

    @cocotb.test()
    async def fashion_load_retrain_load(dut):
        """Model 1 loads and runs Fashion-MNIST test images bit-exact; the retrained
        model 2 loads over it and runs them bit-exact too."""
        from sst_hw.link.wire import ModelState, model_id
        b, xs, ys = await _fashion_bench(dut)
        assert model_id(b.nets["m1"]) != model_id(b.nets["m2"])
        await b.check_no_model()
        await _load(b, "m1")
        c1 = await _infer_all(b, "m1", xs, ys)
        await _load(b, "m2")
        c2 = await _infer_all(b, "m2", xs, ys)
        assert await b.state() == (ModelState.READY, model_id(b.nets["m2"]))
        b.dut._log.info(f"fashion: the two models disagree on {int(np.sum(c1 != c2))} "
                        f"of {len(xs)} images")
        assert b.pins.framing_errors == 0
