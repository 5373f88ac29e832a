"""The trainer, the data sets, the integer export and the compression count."""

import copy
import gzip
import re
import struct
import subprocess
import sys

import numpy as np
import pytest

from sst_hw.format import arith, modelfile
from sst_hw.format.codebook import Codebook
from sst_hw.format.compression import SHIFT_BITS, compression, format_compression
from sst_hw.format.encode import project
from sst_hw.format.golden import Network
from sst_hw.train import datasets
from sst_hw.train.datasets import (
    Dataset,
    DatasetNotFound,
    IdxFormatError,
    load_dataset,
    load_digits,
    load_fashion_mnist,
    load_idx_folder,
    read_idx,
    write_idx)
from sst_hw.train.export import (
    encode_ternary,
    export_network,
    hidden_float_activations,
    train_and_export)
from sst_hw.train.mlp import (
    MLP,
    BlasThreads,
    Schedule,
    _softmax_xent,
    keep_schedule,
    sst_dense,
    sst_weights,
    structured_mask,
    train)


# -- IDX files ------------------------------------------------------------------------------------


def test_idx_reads_hand_made_bytes(tmp_path):
    # A 2x3 big-endian int16 array and a 4-byte uint8 vector, spelt out byte by byte.
    p = tmp_path / "a.idx"
    p.write_bytes(bytes([0, 0, 0x0B, 2]) + struct.pack(">II", 2, 3)
                  + struct.pack(">6h", 1, -2, 300, -32768, 32767, 0))
    a = read_idx(p)
    assert a.dtype == np.int16 and a.shape == (2, 3)
    assert a.tolist() == [[1, -2, 300], [-32768, 32767, 0]]
    q = tmp_path / "b.idx.gz"
    q.write_bytes(gzip.compress(bytes([0, 0, 0x08, 1]) + struct.pack(">I", 4)
                                + bytes([0, 7, 128, 255])))
    b = read_idx(q)
    assert b.dtype == np.uint8 and b.tolist() == [0, 7, 128, 255]


@pytest.mark.parametrize("dtype", ["u1", "i1", "i2", "i4", "f4", "f8"])
@pytest.mark.parametrize("name", ["x-idx3-ubyte", "x-idx3-ubyte.gz"])
def test_idx_round_trip(tmp_path, dtype, name):
    rng = np.random.default_rng(1)
    a = (rng.normal(0, 50, (3, 4, 5))).astype(dtype)
    p = write_idx(tmp_path / name, a)
    assert (p.read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")
    b = read_idx(p)
    assert b.dtype == a.dtype.newbyteorder("=") and b.shape == a.shape
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("data, message", [
    (b"\x00\x00", "too short"),
    (b"\x01\x00\x08\x01" + struct.pack(">I", 1) + b"\x00", "bad magic"),
    (b"\x00\x00\x07\x01" + struct.pack(">I", 1) + b"\x00", "unknown data type 0x07"),
    (b"\x00\x00\x08\x00", "rank 0"),
    (b"\x00\x00\x08\x02" + struct.pack(">I", 1), "truncated header"),
    (b"\x00\x00\x08\x01" + struct.pack(">I", 5) + b"\x00" * 4, "needs 5 data bytes, file has 4"),
    (b"\x00\x00\x08\x01" + struct.pack(">I", 2) + b"\x00" * 3, "1 trailing bytes"),
    (b"\x1f\x8b\x08\x00garbage", "corrupt gzip"),
])
def test_idx_malformed(tmp_path, data, message):
    p = tmp_path / "bad-idx1-ubyte"
    p.write_bytes(data)
    with pytest.raises(IdxFormatError, match=message) as e:
        read_idx(p)
    assert str(p) in str(e.value)


def test_idx_write_refuses_unknown_dtype(tmp_path):
    with pytest.raises(ValueError, match="IDX cannot hold dtype uint16"):
        write_idx(tmp_path / "x", np.zeros(3, np.uint16))


def _mnist_folder(path, n_train=12, n_test=5, side=4, gz=(), dot=False, seed=0):
    """A small MNIST-format folder; ``gz`` names the files to compress."""
    rng = np.random.default_rng(seed)
    path.mkdir(parents=True, exist_ok=True)
    arrays = {("train", "images"): rng.integers(0, 256, (n_train, side, side), dtype=np.uint8),
              ("train", "labels"): rng.integers(0, 10, n_train).astype(np.uint8),
              ("t10k", "images"): rng.integers(0, 256, (n_test, side, side), dtype=np.uint8),
              ("t10k", "labels"): rng.integers(0, 10, n_test).astype(np.uint8)}
    arrays["train", "labels"][0] = 9
    for (split, kind), a in arrays.items():
        rank = 3 if kind == "images" else 1
        name = f"{split}-{kind}{'.' if dot else '-'}idx{rank}-ubyte"
        if f"{split}-{kind}" in gz:
            name += ".gz"
        write_idx(path / name, a)
    return arrays


@pytest.mark.parametrize("gz, dot", [((), False),
                                     (("train-images", "t10k-labels"), False),
                                     (("train-images", "train-labels", "t10k-images",
                                       "t10k-labels"), True)])
def test_idx_folder(tmp_path, gz, dot):
    arrays = _mnist_folder(tmp_path / "m", gz=gz, dot=dot)
    d = load_dataset(str(tmp_path / "m"))
    assert isinstance(d, Dataset) and d.name == str(tmp_path / "m")
    assert d.x_train.dtype == np.uint8 and d.x_train.shape == (12, 16)
    assert d.x_test.shape == (5, 16) and d.features == 16 and d.classes == 10
    np.testing.assert_array_equal(d.x_train, arrays["train", "images"].reshape(12, 16))
    np.testing.assert_array_equal(d.y_test, arrays["t10k", "labels"])
    assert d.y_train.dtype == np.int64


def test_idx_folder_errors(tmp_path):
    arrays = _mnist_folder(tmp_path / "m")
    (tmp_path / "m" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DatasetNotFound, match=r"lacks t10k-labels-idx1-ubyte\[\.gz\]"):
        load_idx_folder(tmp_path / "m")
    write_idx(tmp_path / "m" / "t10k-labels-idx1-ubyte", arrays["t10k", "labels"][:4])
    with pytest.raises(IdxFormatError, match="5 t10k images but 4 labels"):
        load_idx_folder(tmp_path / "m")
    write_idx(tmp_path / "m" / "t10k-labels-idx1-ubyte", arrays["t10k", "labels"].astype(np.int32))
    with pytest.raises(IdxFormatError, match="labels must be unsigned bytes"):
        load_idx_folder(tmp_path / "m")
    with pytest.raises(DatasetNotFound, match="unknown data set .*not one of digits, "
                                              "fashion-mnist"):
        load_dataset(str(tmp_path / "nowhere"))


def test_fashion_mnist_missing_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "FASHION_MNIST_DIR", tmp_path / "absent")
    with pytest.raises(DatasetNotFound, match=r"apt-get install dataset-fashion-mnist"):
        load_dataset("fashion-mnist")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetNotFound, match=r"lacks train-images-idx3-ubyte.*apt-get install "
                                              r"dataset-fashion-mnist"):
        load_fashion_mnist(tmp_path / "empty")
    _mnist_folder(tmp_path / "fm", side=28, gz=("train-images", "train-labels", "t10k-images",
                                                "t10k-labels"))
    monkeypatch.setattr(datasets, "FASHION_MNIST_DIR", tmp_path / "fm")
    d = load_dataset("fashion-mnist")
    assert d.name == "fashion-mnist" and d.features == 784


def test_digits(digits):
    d = digits
    assert d.x_train.dtype == np.uint8 and d.features == 64 and d.classes == 10
    assert (len(d.x_train), len(d.x_test)) == (1347, 450)
    assert d.x_train.max() == 255 and d.x_train.min() == 0
    # sklearn's 0..16 scaled: exactly 17 distinct values.
    assert len(np.unique(np.concatenate([d.x_train, d.x_test]))) == 17
    # Fixed split: the same every time, 25 % of every class in the test set.
    again = load_digits()
    np.testing.assert_array_equal(d.x_test, again.x_test)
    counts = np.bincount(d.y_test, minlength=10)
    total = counts + np.bincount(d.y_train, minlength=10)
    assert np.all(np.abs(counts - 0.25 * total) <= 0.5)


# -- trainer pieces ----------------------------------------------------------------------------


@pytest.mark.parametrize("variant, keep", [("full", 8), ("full", 5), ("full", 2),
                                           ("partitioned", 8), ("partitioned", 5),
                                           ("partitioned", 2)])
def test_structured_mask(variant, keep):
    cb = Codebook(8, 2, variant)
    rng = np.random.default_rng(3)
    w = rng.normal(size=(7, 21))          # 3 subvectors, the last one of 5
    m = structured_mask(w, cb, keep)
    assert m.shape == w.shape and set(np.unique(m)) <= {0.0, 1.0}
    pad = np.pad(np.abs(w) * m, ((0, 0), (0, 3))).reshape(7, 3, 8)
    kept = np.pad(m, ((0, 0), (0, 3))).reshape(7, 3, 8)
    dropped = np.pad(np.abs(w) * (1 - m), ((0, 0), (0, 3))).reshape(7, 3, 8)
    if variant == "full":
        assert kept.sum(-1).max() <= keep
        assert kept[:, :2].sum(-1).min() == min(keep, 8)
        # Every kept magnitude beats every dropped one of its subvector.
        lo = np.where(kept > 0, pad, np.inf).min(-1)
        assert np.all(lo >= dropped.max(-1))
    else:
        per = -(-keep // 2)
        seg = kept.reshape(7, 3, 2, 4)
        assert seg.sum(-1).max() <= min(per, 4)
        lo = np.where(seg > 0, pad.reshape(7, 3, 2, 4), np.inf).min(-1)
        assert np.all(lo >= dropped.reshape(7, 3, 2, 4).max(-1))


def test_keep_schedule():
    ks = [keep_schedule(p, 8, 2) for p in np.linspace(0, 1, 101)]
    assert ks[0] == 8 and ks[-1] == 2
    assert all(a >= b for a, b in zip(ks, ks[1:]))
    assert keep_schedule(0.75, 8, 2) == 2        # the last quarter holds at K
    assert keep_schedule(0.1, 16, 4) < 16


@pytest.mark.parametrize("variant", ["full", "partitioned"])
def test_sst_weights(variant):
    cb = Codebook(8, 2, variant)
    rng = np.random.default_rng(4)
    w = rng.normal(size=(6, 20))
    t, alpha = sst_weights(w, cb, per_row=True)
    t_ref, a_ref, *_ = project(w, cb)
    np.testing.assert_array_equal(t, t_ref.reshape(6, -1)[:, :20])
    np.testing.assert_allclose(alpha, a_ref)
    t1, a1 = sst_weights(w, cb, per_row=False)
    assert np.all(a1 == a1[0]) and a1[0] > 0
    assert cb.is_member(np.pad(t1, ((0, 0), (0, 4))).reshape(-1, 8)).all()
    # One alpha for the layer: the exact projection of the rows laid end to end
    # (same subvectors), never better than one alpha per row.
    flat = np.pad(w, ((0, 0), (0, 4))).reshape(1, -1)
    tf, af, *_ = project(flat, cb)
    np.testing.assert_array_equal(t1, tf.reshape(6, 24)[:, :20])
    assert a1[0] == pytest.approx(af[0])
    err_layer = ((w - a1[:, None] * t1) ** 2).sum()
    err_rows = ((w - alpha[:, None] * t) ** 2).sum()
    assert err_rows <= err_layer + 1e-9


def test_structured_mask_ties():
    """Equal magnitudes: still exactly ``keep`` per subvector (argpartition settles ties)."""
    w = np.array([[1, -1, 1, 1, -1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5],
                  [0, 0, 0, 0, 0, 0, 0, 0, 3, 2, 2, 2, 1, 1, 1, 1]], np.float32)
    for keep in (1, 2, 3, 5, 7):
        m = structured_mask(w, Codebook(8, 2), keep)
        assert m.reshape(2, 2, 8).sum(-1).tolist() == [[keep, keep], [keep, keep]]
        assert m[1, 8] == 1.0
    m = structured_mask(w, Codebook(8, 2, "partitioned"), 2)
    assert (m.reshape(2, 2, 2, 4).sum(-1) == 1).all()


_MATS = {
    "normal": np.random.default_rng(5).normal(size=(7, 21)),
    "ternary": np.random.default_rng(6).integers(-1, 2, (9, 30)).astype(float),
    "rounded": np.round(np.random.default_rng(7).normal(size=(6, 19))),
    "zeros": np.zeros((3, 10)),
    "narrow": np.random.default_rng(8).normal(size=(5, 3)),
    "zero-row": np.vstack([np.zeros(16), np.random.default_rng(9).normal(size=(3, 16))]),
}


@pytest.mark.parametrize("cb", [Codebook(8, 2), Codebook(8, 2, "partitioned"), Codebook(16, 2),
                                Codebook(4, 1), Codebook(8, 8), Codebook(6, 3, "partitioned"),
                                Codebook(8, 1, "partitioned"), Codebook(5, 3)],
                         ids=lambda cb: cb.describe_short())
def test_sst_dense_is_the_exact_projection(cb):
    """The training forward pass's fast projection equals the exact one (ties included)."""
    for name, w in _MATS.items():
        w = w.astype(np.float32)
        for per_row in (True, False):
            dense, alpha = sst_dense(w, cb, per_row)
            t, a_ref = sst_weights(w, cb, per_row)
            assert dense.dtype == np.float32 and dense.shape == w.shape
            np.testing.assert_array_equal(dense, (t * a_ref[:, None]).astype(np.float32),
                                          err_msg=f"{name} per_row={per_row}")
            np.testing.assert_allclose(alpha, a_ref, rtol=1e-12)


@pytest.mark.parametrize("center", [True, False])
@pytest.mark.parametrize("shift_only", [False, True])
@pytest.mark.parametrize("phase", ["float", "prune"])
def test_gradients(shift_only, phase, center):
    """Back-propagation against central differences (float64, no dropout)."""
    m = MLP([12, 9, 7, 4], Codebook(4, 2), shift_only=shift_only, seed=1, center=center)
    m.phase, m.keep = phase, 3
    rng = np.random.default_rng(0)
    m.V = [v.astype(np.float64) for v in m.V]
    m.gamma = [rng.normal(1, 0.3, g.shape) for g in m.gamma]
    m.beta = [rng.normal(0, 0.3, b.shape) for b in m.beta]
    m.log_tau = m.log_tau.astype(np.float64)
    x = rng.random((16, 12))
    y = rng.integers(0, 4, 16)

    def loss():
        return _softmax_xent(m.forward_train(x, momentum=0)[0], y)[0]

    logits, cache = m.forward_train(x, momentum=0)
    _, d = _softmax_xent(logits, y)
    grads = m.backward(cache, logits, d)
    assert len(grads) == len(m.params())
    for i, (p, g) in enumerate(zip(m.params(), grads)):
        assert g.shape == p.shape
        if phase == "prune" and i < 3:
            continue   # straight-through mask: not the true gradient of V
        for j in range(min(p.size, 12)):
            idx = np.unravel_index(j, p.shape)
            old = p[idx]
            p[idx] = old + 1e-6
            lp = loss()
            p[idx] = old - 1e-6
            lm = loss()
            p[idx] = old
            num = (lp - lm) / 2e-6
            assert abs(num - g[idx]) <= 1e-5 + 1e-4 * abs(num), (i, idx, num, g[idx])


def test_training_is_repeatable(digits):
    sched = Schedule(1, 1, 1, batch_size=64)
    a = train(digits, [64, 16, 10], Codebook(8, 2), schedule=sched, seed=5)
    b = train(digits, [64, 16, 10], Codebook(8, 2), schedule=sched, seed=5)
    c = train(digits, [64, 16, 10], Codebook(8, 2), schedule=sched, seed=6)
    for va, vb in zip(a.model.V, b.model.V):
        np.testing.assert_array_equal(va, vb)
    assert a.accuracy == b.accuracy
    assert not np.array_equal(a.model.V[0], c.model.V[0])
    assert [h["phase"] for h in a.history] == ["float", "prune", "sst"]


def test_train_continues_a_model(digits):
    """Float pre-training alone, then pruning and fine-tuning of a copy with another
    codebook (what the accuracy bench does)."""
    sched = Schedule(2, 1, 1, batch_size=64)
    pre = train(digits, [64, 16, 10], Codebook(8, 2), schedule=sched, seed=3, phases=("float",))
    assert set(pre.accuracy) == {"float"} and {h["phase"] for h in pre.history} == {"float"}
    m = copy.deepcopy(pre.model)
    r = train(digits, [64, 16, 10], Codebook(16, 2), schedule=Schedule(0, 1, 1, batch_size=64),
              seed=3, model=m)
    assert r.model is m and m.codebook == Codebook(16, 2)
    assert r.accuracy["float"] == pre.accuracy["float"]        # untouched, same statistics
    assert [h["phase"] for h in r.history] == ["prune", "sst"]
    t, _ = m.ternary(0)
    assert np.count_nonzero(t.reshape(16, 4, 16), axis=2).max() <= 2
    with pytest.raises(ValueError, match=r"model's layer sizes \[64, 16, 10\] differ"):
        train(digits, [64, 12, 10], Codebook(8, 2), schedule=sched, model=m)
    with pytest.raises(ValueError, match="the model has shift_only=False"):
        train(digits, [64, 16, 10], Codebook(8, 2), schedule=sched, model=m, shift_only=True)
    with pytest.raises(ValueError, match="phases must be some of float, prune, sst"):
        train(digits, [64, 16, 10], Codebook(8, 2), schedule=sched, phases=("warm",))


def test_blas_threads():
    fixed = BlasThreads(1)
    assert not fixed.auto and fixed.for_step(0) == 1 and fixed.choice == 1
    with pytest.raises(ValueError, match="threads must be an integer >= 0"):
        BlasThreads(-1)
    with pytest.raises(ValueError, match="threads must be an integer >= 0"):
        Schedule(1, 1, 1, threads=-2)
    auto = BlasThreads(0, probe=3)
    if not auto.auto:
        pytest.skip("one core or no threadpoolctl: nothing to choose")
    with auto:
        one, many = auto.candidates
        auto.start_epoch()
        times = {one: 0.5, many: 0.1}
        for b in range(6):                        # alternating probes, the first two ignored
            n = auto.for_step(b)
            auto.record(n, b, 99.0 if b < 2 else times[n])
        assert auto.choice == many and auto.for_step(6) == many
        auto.start_epoch()
        times = {one: 0.1, many: 0.5}
        for b in range(6):
            n = auto.for_step(b)
            auto.record(n, b, times[n])
        assert auto.choice == one


def test_train_refuses_wrong_sizes(digits):
    with pytest.raises(ValueError, match="first layer size must be the data set's 64"):
        train(digits, [60, 16, 10], Codebook(8, 2), schedule=Schedule(1, 1, 1))
    with pytest.raises(ValueError, match="last layer size must be the data set's 10"):
        train(digits, [64, 16, 9], Codebook(8, 2), schedule=Schedule(1, 1, 1))
    with pytest.raises(ValueError, match="sst phase needs at least 1 epoch"):
        Schedule(1, 1, 0)


# -- export ------------------------------------------------------------------------------------


def _check_export(model, net, info, data, act_width=8):
    """The exported network computes what the SST float network computes."""
    cb = model.codebook
    for l, layer in enumerate(net.layers):
        t, _ = model.ternary(l)
        if l < len(net.layers) - 1:
            # Rows may be negated (negative folded gain); otherwise the same weights.
            g, _ = model.bn_fold(l)
            t = np.where((g < 0)[:, None], -t, t)
        np.testing.assert_array_equal(layer.ternary(), t)
        np.testing.assert_array_equal(layer.codes, encode_ternary(t, cb))
    traces = net.activations(data.x_test.astype(np.int64))
    floats = hidden_float_activations(model, data.x_test, info["act_scales"])
    hi = (1 << act_width) - 1
    for l, f in enumerate(floats):
        diff = np.abs(traces[l].output - np.clip(f, 0, hi))
        assert diff.mean() < 0.35, (l, diff.mean())
        if l == 0:   # the input is exact: only M's rounding and the final rounding
            assert diff.max() <= 1.0
    sst = model.predict(data.x_test, "sst")
    _, cls = net.forward(data.x_test.astype(np.int64))
    return np.mean(sst == cls)


def test_export_shift_only_two_hidden_layers(digits, tmp_path):
    res = train_and_export(digits, [64, 32, 24, 10], Codebook(8, 2, "partitioned", "direct"),
                           schedule=Schedule(4, 4, 4, batch_size=64), seed=2, shift_only=True)
    net = res["network"]
    for layer in net.layers:
        assert layer.shift_mode and np.all(layer.mult == 1)
        assert np.all(layer.alpha == layer.alpha[0])
    hidden = net.layers[:-1]
    assert all(layer.relu and layer.act_width == 8 for layer in hidden)
    assert all(layer.shift >= 1 for layer in hidden)
    for l, layer in enumerate(hidden):
        # C carries the rounding constant 1 << (S - 1) on top of the folded bias.
        s_out = res["export"]["layers"][l]["act_scale"]
        expect = np.round(layer.bias.astype(np.float64) / s_out * 2.0 ** layer.shift) \
            + (1 << (layer.shift - 1))
        assert np.all(np.abs(layer.add - expect) <= 1)
    agree = _check_export(res["train"].model, net, res["export"], digits)
    assert agree >= 0.97
    assert res["accuracy"]["agreement"] == agree
    assert res["accuracy"]["integer"] > 0.5


def test_export_refuses_shift_only_for_multiplier_model(digits):
    r = train(digits, [64, 16, 10], Codebook(8, 2), schedule=Schedule(0, 0, 1, batch_size=128),
              seed=0)
    r.model.shift_only = True
    with pytest.raises(ValueError, match="shift-only export needs one gain for every row"):
        export_network(r.model, digits.x_train)


def test_digits_train_export_accuracy(digits, tmp_path):
    """The target: digits 64-128-10 at SST (8,2); the integer golden model
    within 1 point of the same network in float arithmetic (the default suite,
    ~10 s on one core)."""
    res = train_and_export(digits, [64, 128, 10], Codebook(8, 2), seed=0)
    acc, net = res["accuracy"], res["network"]
    assert abs(acc["integer"] - acc["sst"]) <= 0.01, acc
    assert acc["integer"] >= acc["float"] - 0.02, acc
    assert acc["integer"] >= 0.94, acc
    assert acc["agreement"] >= 0.99, acc
    agree = _check_export(res["train"].model, net, res["export"], digits)
    assert agree == acc["agreement"]
    layer = net.layers[0]
    lo, hi = arith.mult_range()
    assert not layer.shift_mode and 1 << 14 <= layer.mult.max() <= hi and layer.mult.min() >= 0
    assert net.layers[-1].out_features == 10 and not net.layers[-1].relu
    # The model file round trip gives the same network and the same classes.
    path = modelfile.save(net, tmp_path / "digits.sst")
    again = modelfile.load(path)
    assert again == net
    _, cls = again.forward(digits.x_test.astype(np.int64))
    assert np.mean(cls == digits.y_test) == acc["integer"]
    assert again.meta["test_accuracy"]["integer"] == acc["integer"]
    assert again.meta["act_scales"][0] == pytest.approx(1 / 255)
    comp = res["compression"]["total"]
    assert comp["code_bits"] == 128 * 8 * 8 + 10 * 16 * 8
    assert comp["weight_ratio"] == 32.0 and comp["ratio"] > 15


# -- compression -------------------------------------------------------------------------------


@pytest.mark.parametrize("shift_mode", [False, True])
def test_compression_counts(shift_mode):
    net = Network.random(7, [20, 9, 5], 8, 2, "partitioned", "enum", shift_mode=shift_mode)
    rep = compression(net)
    l0, l1 = rep["layers"]
    assert l0["code_bits"] == 9 * 3 * 7 and l1["code_bits"] == 5 * 2 * 7
    assert l0["mult_bits"] == (0 if shift_mode else 9 * 16)
    width = arith.signed_width(int(net.layers[0].add.min()), int(net.layers[0].add.max()))
    assert l0["add_bits"] == 9 * width and l0["shift_bits"] == SHIFT_BITS == 6
    assert l1["mult_bits"] == l1["add_bits"] == l1["shift_bits"] == 0
    assert l0["fp32_bits"] == 32 * (20 * 9 + 9)
    assert l1["fp32_bits"] == 32 * (9 * 5 + 5)      # random() gives the last layer a bias
    tot = rep["total"]
    assert tot["total_bits"] == l0["total_bits"] + l1["total_bits"]
    assert tot["ratio"] == pytest.approx(tot["fp32_bits"] / tot["total_bits"])
    assert tot["weight_ratio"] == pytest.approx(32 * 225 / (189 + 70))
    assert l0["float_total_bits"] == 189 + 9 * 64
    text = format_compression(rep)
    assert "all" in text and f"x{tot['ratio']:>5.1f}" in text


# -- command line ------------------------------------------------------------------------------


def test_cli_train(tmp_path):
    out = tmp_path / "sub" / "d.sst"
    r = subprocess.run([sys.executable, "-m", "sst_hw.cli", "train", "--dataset", "digits",
                        "--layers", "64,24,10", "--n", "8", "--k", "2", "--epochs", "2,2,3",
                        "--batch-size", "64", "--seed", "1", "--shift-only", "-o", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "[sst     3/3]" in r.stderr           # per-epoch progress on stderr
    assert "accuracy     float" in r.stdout and "integer" in r.stdout
    assert "compression" in r.stdout and "all" in r.stdout
    net = modelfile.load(out)
    assert [layer.out_features for layer in net.layers] == [24, 10]
    assert all(layer.shift_mode for layer in net.layers)
    assert net.meta["dataset"] == "digits" and net.meta["epochs"] == [2, 2, 3]


@pytest.mark.parametrize("args, message", [
    (["--dataset", "/nonexistent/idx"], "unknown data set '/nonexistent/idx'"),
    (["--layers", "64,10,9"], "must start with the data set's 64 features and end with its 10"),
    (["--layers", "64,x,10"], "--layers must be comma-separated integers"),
    (["--epochs", "1,2"], "--epochs takes one number or three"),
    (["--k", "9"], "K \\(non-zeros per subvector\\) must be in 1..8, not 9"),
])
def test_cli_train_errors(tmp_path, args, message):
    r = subprocess.run([sys.executable, "-m", "sst_hw.cli", "train", "--quiet", "-o",
                        str(tmp_path / "m.sst"), *args], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2
    assert "sst-hw train: error:" in r.stderr
    assert re.search(message, r.stderr), r.stderr
    assert not (tmp_path / "m.sst").exists()
