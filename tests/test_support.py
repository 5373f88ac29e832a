"""The test support's own checks (:mod:`support`)."""

from __future__ import annotations

import numpy as np

from sst_hw.sim.amsim import run_streams, stream_get, stream_put

from support.cocotb_engine import cli_args
from support.cores import DenseTernaryCore, small_network
from support.networks import zero_network


def test_dense_core_matches_golden():
    net = small_network(3, (10, 4), input_width=6, input_signed=True)
    core = DenseTernaryCore(net)
    rng = np.random.default_rng(0)
    lo, hi = net.input_range
    xs = rng.integers(lo, hi, (3, 10), endpoint=True)
    per = net.classes + 1
    got = []

    async def producer(ctx):
        await stream_put(ctx, core.i, [{"data": int(v), "last": 0} for v in xs.reshape(-1)])

    async def consumer(ctx):
        got.extend(await stream_get(ctx, core.o, len(xs) * per))

    # 10 loads + 4 x (10 MAC + 1 emit) + 1 class beat an inference
    run_streams(core, [producer], [consumer], deadline=len(xs) * 100)
    logits, classes = net.forward(xs)
    for b, (lg, cl) in enumerate(zip(logits, classes)):
        row = got[b * per:(b + 1) * per]
        assert [p.data for p in row] == [*lg.tolist(), int(cl)]
        assert [p.last for p in row] == [0] * (per - 1) + [1]


def test_zero_network_and_cli_args():
    net = zero_network([20, 7, 3])
    assert [(l.in_features, l.out_features) for l in net.layers] == [(20, 7), (7, 3)]
    assert all((l.codes == l.codebook.zero_code).all() for l in net.layers)
    assert cli_args(dict(n=8, decode_reg=False, select_reg=True, rom="block")) == [
        "--n", "8", "--no-decode-reg", "--select-reg", "--rom", "block"]
