"""The network core's plan (:mod:`sst_hw.plan.network`): memory images, schedule,
cycle formula and capacity checks. Pure Python, no simulation."""

from __future__ import annotations

import numpy as np
import pytest

from sst_hw.format import arith
from sst_hw.format.golden import Network
from sst_hw.plan.network import (
    CapacityError,
    block_count,
    engine_act_format,
    plan_network,
    spram_blocks)
from sst_hw.synth.devices import get_device

from support.networks import zero_network


def test_code_image_layout():
    """Every code of every layer is where the engine's code field expects it:
    word = (layer base + group*Sb + beat), PE p / subvector s at ((p*SIMD)+s)*B;
    padding rows and subvectors hold the zero code."""
    rng = np.random.default_rng(0)
    net = Network.random(rng, [37, 23, 11], 8, 2, variant="partitioned", assignment="direct")
    pe, simd = 3, 2
    plan = plan_network(net, pe=pe, simd=simd)
    cb = plan.codebook
    B = cb.bits
    image = plan.code_image()
    assert len(image) == plan.code_words == sum(lp.groups * lp.beats for lp in plan.layers)
    assert all(0 <= w < 1 << plan.code_word_bits for w in image)
    for lp, layer in zip(plan.layers, net.layers):
        for r in range(lp.groups * pe):
            g, p = divmod(r, pe)
            for sub in range(lp.beats * simd):
                b, s = divmod(sub, simd)
                word = image[lp.code_base + g * lp.beats + b]
                code = (word >> (((p * simd) + s) * B)) & ((1 << B) - 1)
                if r < layer.out_features and sub < layer.subvectors:
                    assert code == layer.codes[r, sub], (lp.index, r, sub)
                else:
                    assert code == cb.zero_code, (lp.index, r, sub)
    # Numbers of this model: 37 inputs -> S = 5, Sb = 3, G = ceil(23/3) = 8, ...
    l0, l1 = plan.layers
    assert (l0.subvectors, l0.beats, l0.groups, l0.code_base) == (5, 3, 8, 0)
    assert (l1.subvectors, l1.beats, l1.groups, l1.code_base) == (3, 2, 4, 24)
    assert plan.code_word_bits == pe * simd * B


def test_param_image():
    """C in the low bits, M above, two's complement; padded rows are 0."""
    rng = np.random.default_rng(1)
    net = Network.random(rng, [20, 7, 9, 3], 8, 2, negative_mults=True)
    plan = plan_network(net, pe=4, simd=1)
    assert plan.requant == "mult" and plan.mult_bits == 16
    words = plan.param_image()
    assert len(words) == plan.param_rows == 8 + 12
    cbits = plan.add_bits

    def signed(v, w):
        return v - (1 << w) if v >> (w - 1) else v

    row = 0
    for lp, layer in zip(plan.hidden, net.layers):
        assert lp.param_base == row
        for r in range(lp.groups * 4):
            w = words[row + r]
            if r < layer.out_features:
                assert signed(w & ((1 << cbits) - 1), cbits) == layer.add[r]
                assert signed(w >> cbits, 16) == layer.mult[r]
            else:
                assert w == 0
        row += lp.groups * 4
    assert any(m < 0 for l in net.layers[:-1] for m in l.mult)   # the sign matters


def test_loadable_table_and_image_port():
    """A loadable plan: multiplier mode even for a shift-mode model, ``C`` in
    the widest field the accumulator allows, then ``M``, then the row's
    shift in 6 bits; the image port's widths; the same topology (and
    table layout) for another model of the same shapes."""
    from sst_hw.plan.image import topology_id

    net = Network.random(np.random.default_rng(3), [20, 7, 9, 3], 8, 2, shift_mode=True)
    plan = plan_network(net, pe=4, simd=1, loadable=True)
    assert plan_network(net, pe=4, simd=1).requant == "shift"
    assert plan.loadable and plan.requant == "mult" and plan.shift_bits == 6
    cbits, mbits = plan.add_bits, plan.mult_bits
    assert cbits == arith.signed_width(*arith.add_range(plan.acc_width)) >= plan_network(
        net, pe=4, simd=1).add_bits
    assert plan.param_word_bits == cbits + mbits + 6
    words = plan.param_image()
    row = 0
    for lp, layer in zip(plan.hidden, net.layers):
        for r in range(lp.groups * 4):
            w = words[row + r]
            if r < layer.out_features:
                c = w & ((1 << cbits) - 1)
                assert c - (1 << cbits) * (c >> (cbits - 1)) == layer.add[r]
                assert (w >> cbits) & 0xFFFF == 1                       # M = 1
                assert w >> (cbits + mbits) == layer.shift
            else:
                assert w == 0
        row += lp.groups * 4
    sig = plan.image_signature.members
    assert sig["wdata"].shape == sig["rdata"].shape == plan.image_word_bits == max(
        plan.code_word_bits, plan.param_word_bits)
    assert "image" in plan.signature.members and plan_network(net).image_signature is None
    other = Network.random(np.random.default_rng(4), [20, 7, 9, 3], 8, 2)
    oplan = plan_network(other, pe=4, simd=1, loadable=True)
    assert topology_id(oplan) == topology_id(plan)
    assert (oplan.param_word_bits, oplan.param_rows) == (plan.param_word_bits, plan.param_rows)
    assert topology_id(plan_network(other, pe=4, simd=2, loadable=True)) != topology_id(plan)
    assert plan_network(net, memory="spram").loadable


def test_shift_mode_table_has_no_multiplier():
    net = Network.random(np.random.default_rng(2), [20, 7, 3], 8, 2, shift_mode=True)
    plan = plan_network(net)
    assert plan.requant == "shift" and plan.mult_bits == 0
    assert plan.param_word_bits == plan.add_bits
    assert plan_network(net, requant="mult").mult_bits == 16


def test_cycle_formula_by_hand():
    """64-32-10, (8,2), PE 4, SIMD 2, engine latency 5, no memory register:
    layer 0: S=8, Sb=4, G=8, T=max(4,4,5)=5 -> 7*5 + 4 + 5 + 4 + (1 + 4) = 53;
    layer 1: S=4, Sb=2, G=3, T=5 -> 2*5 + 2 + 5 + 4 + (1 + 1) = 23; plus F0 = 64.
    The memory output register adds one cycle per layer."""
    net = zero_network([64, 32, 10])
    plan = plan_network(net, pe=4, simd=2, mem_reg=False)
    assert [lp.period for lp in plan.layers] == [5, 5]
    assert plan.engine_latency == plan.engine.latency == 5   # (8,2), SIMD 2: tree of 4 terms
    assert plan.cycles() == 64 + 53 + 23 == 140
    # The text forms are made of the same terms as the figure.
    assert plan.formula() == "F0=64 + (8-1)*5+4+0+5+4+5 + (3-1)*5+2+0+5+4+2 = 140"
    assert plan.formula_text() == ("F0 + sum_hidden[(G-1)*T + Sb + 0 + L + PE + 5] + "
                                   "(G-1)*T + Sb + 0 + L + PE + 2")
    assert [plan.layer_cycles(lp) for lp in plan.layers] == [53, 23]
    assert plan_network(net, pe=4, simd=2).cycles() == 142
    big = plan_network(zero_network([784, 1024, 10]), pe=8, simd=1, memory="spram", mem_reg=False)
    # 784 -> S = Sb = 98, G = 128; 1024 -> S = Sb = 128, G = 2; SIMD 1: latency 4.
    assert big.engine_latency == 4
    assert big.cycles() == 784 + (127 * 98 + 98 + 4 + 8 + 5) + (1 * 128 + 128 + 4 + 8 + 2)
    # Memory-bound: a big layer issues one code word per cycle.
    assert big.layers[0].period == big.layers[0].beats


def test_engine_act_format():
    assert engine_act_format([(8, False), (8, False)]) == (8, False)
    assert engine_act_format([(8, False), (6, False)]) == (8, False)
    assert engine_act_format([(8, False), (8, True)]) == (9, True)
    assert engine_act_format([(4, True), (8, True)]) == (8, True)
    assert engine_act_format([(7, False), (8, True)]) == (8, True)


def test_formats_and_widths():
    net = Network.random(np.random.default_rng(3), [30, 10, 5], 8, 2, input_width=6,
                         input_signed=True, act_width=8, relu=True)
    plan = plan_network(net)
    assert (plan.act_width, plan.act_signed) == (9, True)
    assert plan.acc_width == arith.acc_width(30, 8, 2, 9, True)
    assert plan.out_width == max(plan.acc_width, 4)
    assert plan.act_word_bits == 2 * 8 * 9


def test_mixed_codebooks_refused():
    a = zero_network([16, 8, 4])
    b = zero_network([8, 4], n=4, k=1)
    net = Network([a.layers[0], b.layers[0]])
    with pytest.raises(ValueError, match="every layer must use the same codebook"):
        plan_network(net)


@pytest.mark.parametrize("width, depth, family, blocks", [
    (128, 8, "ice40", 8), (64, 38, "ice40", 4), (39, 32, "ice40", 3), (8, 512, "ice40", 1),
    (64, 12800, "ice40", 200), (128, 8, "ecp5", 4), (64, 12800, "ecp5", 50), (0, 5, "ice40", 0),
])
def test_block_count(width, depth, family, blocks):
    assert block_count(width, depth, family) == blocks


def test_capacity_800k_in_spram():
    """784-1024-10 at (8,2): 813K weights, about 800 Kbit of codes: too big for
    the UP5K's block RAM, fits its four SPRAMs with 64-bit words."""
    net = zero_network([784, 1024, 10])
    up5k = get_device("up5k")
    spram = plan_network(net, pe=8, simd=1, memory="spram")
    assert spram.weights == 813056 >= 800_000
    res = spram.check_fit(up5k)
    assert res["spram"] == {"used": 4, "available": 4, "bits_each": 256 * 1024}
    assert res["code_memory"]["bits"] == 12800 * 64
    assert spram_blocks(64, 12800) == 4
    bram = plan_network(net, pe=8, simd=1, memory="bram")
    with pytest.raises(CapacityError, match=r"does not fit the up5k: block RAM: needs \d+ "
                                            r"blocks .*\(try --memory spram\)"):
        bram.check_fit(up5k)
    wide = plan_network(net, pe=8, simd=2, memory="spram")
    with pytest.raises(CapacityError, match="code words of 128 bits .* need 8 SPRAMs side by "
                                            "side; up5k has 4"):
        wide.check_fit(up5k)
    with pytest.raises(CapacityError, match="--memory spram needs SPRAM, and ecp5-85f has none"):
        spram.check_fit(get_device("ecp5-85f"))
    # The ECP5 85F holds it in block RAM.
    assert bram.check_fit(get_device("ecp5-85f"))["bram"]["used"] <= 208


def test_plan_parameter_errors():
    net = zero_network([16, 4])
    with pytest.raises(ValueError, match="pe must be an integer in 1..256, not 0"):
        plan_network(net, pe=0)
    with pytest.raises(ValueError, match="memory must be one of 'bram', 'spram', not 'flash'"):
        plan_network(net, memory="flash")
    with pytest.raises(TypeError, match="network must be a Network"):
        plan_network("model.npz")
