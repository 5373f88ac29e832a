"""The CNN core's plan (:mod:`sst_hw.plan.convnet`): passes, gather programs,
code image, memory shapes and refusals, without building hardware. The
cycle formula is checked against the Verilog in ``test_conv_cocotb.py``."""

from __future__ import annotations

import re

import numpy as np
import pytest

from sst_hw.format import modelfile
from sst_hw.format.random_model import random_convnet
from sst_hw.plan.convnet import gather_steps, plan_convnet
from sst_hw.synth.devices import get_device


def test_aligned_channels_take_one_step_per_beat():
    """32 channels in words of 8 lanes: each beat of a 3x3 row is one word,
    kernel offsets in (ky, kx, c) order, every lane from its own lane."""
    steps = gather_steps((3, 3), 32, 8, 8, 36)
    assert len(steps) == 36
    assert all(s[4] and s[5] for s in steps)                 # first and last of its beat
    assert [(s[0], s[1], s[2]) for s in steps[:5]] == [(0, 0, 0), (0, 0, 1), (0, 0, 2),
                                                       (0, 0, 3), (0, 1, 0)]
    assert all(s[3] == tuple(range(8)) for s in steps)
    assert [s[6] for s in steps] == [False] * 35 + [True]


def test_one_channel_takes_a_step_per_pixel():
    """A 3x3 kernel over 1 channel at N = 8: beat 0 holds 8 pixels (8 steps,
    each filling one lane from word lane 0), beat 1 the ninth."""
    steps = gather_steps((3, 3), 1, 1, 8, 2)
    assert len(steps) == 9
    assert [(s[0], s[1]) for s in steps] == [(ky, kx) for ky in range(3) for kx in range(3)]
    for t, s in enumerate(steps[:8]):
        assert s[3] == tuple(0 if j == t else -1 for j in range(8))
    assert steps[8][3] == (0,) + (-1,) * 7
    assert [s[4] for s in steps] == [True] + [False] * 7 + [True]
    assert [s[5] for s in steps] == [False] * 7 + [True, True]


def test_passes_of_the_up5k_cnn():
    """Three convs with their pools fused, then the two dense layers as an
    H x W conv over the last map and a 1x1 conv; pooled passes compute only
    the positions their floor-size windows use."""
    net = modelfile.load("models/fashion_up5k_cnn.sst")
    plan = plan_convnet(net, pe=8)
    got = [(p.kind, p.in_shape, p.kernel, p.pool, p.out_shape, p.positions) for p in plan.passes]
    assert got == [
        ("conv2d", (28, 28, 1), (3, 3), (2, 2), (14, 14, 32), 784),
        ("conv2d", (14, 14, 32), (3, 3), (2, 2), (7, 7, 32), 196),
        ("conv2d", (7, 7, 32), (3, 3), (2, 2), (3, 3, 64), 36),     # 7x7 -> 3x3: 36 of 49
        ("dense", (3, 3, 64), (3, 3), (1, 1), (1, 1, 64), 1),
        ("dense", (1, 1, 64), (1, 1), (1, 1), (1, 1, 10), 1)]
    assert plan.network_macs == 784 * 32 * 9 + 196 * 32 * 288 + 49 * 64 * 288 + 576 * 64 + 640
    # Window-major order: the first pool window's four positions come first.
    assert plan.passes[0].position_list()[:5] == [(0, 0), (0, 1), (1, 0), (1, 1), (0, 2)]


def test_code_image_keeps_every_ternary_vector():
    """Re-encoded into the direct assignment, the code memory decodes, word by
    word, to the model's own ternary weights (padding rows and subvectors
    zero)."""
    net = random_convnet(3, (6, 5, 3), [("conv", 7, 3, 1, 1), ("pool", 2), ("flatten",),
                                        ("dense", 5)])
    plan = plan_convnet(net, pe=4, simd=2)
    assert plan.model_codebook.assignment == "enum" and plan.codebook.assignment == "direct"
    words = plan.code_image()
    cb, B = plan.codebook, plan.codebook.bits
    for p in plan.passes:
        layer = plan._layer(p)
        want = layer.codebook.decode(layer.codes.reshape(-1)).reshape(p.cout, -1)
        got = np.zeros((p.groups * plan.pe, p.beats * plan.simd * cb.n), np.int64)
        for g in range(p.groups):
            for b in range(p.beats):
                w = words[p.code_base + g * p.beats + b]
                for pe in range(plan.pe):
                    for s in range(plan.simd):
                        # PE p, subvector s at bit ((p*SIMD)+s)*B (CODE_BIT_LAYOUT)
                        code = (w >> (((pe * plan.simd) + s) * B)) & ((1 << B) - 1)
                        vec = cb.decode(np.array([code]))[0]
                        col = (b * plan.simd + s) * cb.n
                        got[g * plan.pe + pe, col:col + cb.n] = vec
        assert (got[:p.cout, :want.shape[1]] == want).all()
        assert not got[p.cout:].any() and not got[:, p.subvectors * cb.n:].any()


def test_up5k_memory_shapes():
    """On the UP5K: the largest map in SPRAM, the code memory's last words in
    logic, and everything else within the 30 block RAMs."""
    net = modelfile.load("models/fashion_up5k_cnn.sst")
    up5k = get_device("up5k")
    plan = plan_convnet(net, pe=8, device=up5k)
    kinds = {m["name"]: (m["kind"], m["words"]) for m in plan.memories()}
    assert kinds["map region 0"] == ("spram", 784) and kinds["code tail"] == ("logic", 8)
    assert kinds["code"] == ("bram", 1024)
    res = plan.check_fit(up5k)
    assert res["bram"]["used"] <= 30 and res["spram"]["used"] == 4


@pytest.mark.parametrize("spec, kw, message", [
    ([("pool", 2), ("conv", 3, 3), ("flatten",), ("dense", 2)], {},
     "layer 0 (maxpool): the CNN core fuses a max-pool into the conv before it"),
    ([("conv", 4, 3), ("flatten",), ("dense", 2)], {"rq_lanes": 3},
     "rq_lanes must divide PE (8) and SIMD*N (8), not 3"),
])
def test_refusals(spec, kw, message):
    net = random_convnet(1, (8, 8, 2), spec)
    with pytest.raises(ValueError, match=re.escape(message)):
        plan_convnet(net, pe=8, **kw)
