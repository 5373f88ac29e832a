"""A small SST network trained on scikit-learn's bundled 8x8 digits, for the
network-core tests and benchmark, and checks of that helper.

:func:`digits_network` trains a 64-32-10 MLP in NumPy (float, full-batch
Adam, a few seconds), projects both weight matrices onto SST (8,2) codes
with :func:`sst_hw.encode.encode_matrix`, and calibrates the integer
requantization (``M_r``, ``C_r``, ``S``) of the hidden layer on the training
set; the output layer gets one shared scale, so the arg-max of its raw
accumulators is the float network's. The result is a golden
:class:`~sst_hw.golden.Network` with 8-bit unsigned input (pixels scaled to
0..255) and 8-bit ReLU hidden activations.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from sst_hw import arith
from sst_hw.codebook import Codebook
from sst_hw.encode import encode_matrix
from sst_hw.golden import Layer, Network

__all__ = ["digits_data", "digits_network"]


@lru_cache(maxsize=None)
def digits_data(seed: int = 0):
    """``(x_train, y_train, x_test, y_test)``: the digits as uint8 pixels
    ``round(v * 255 / 16)``, a fixed stratified-free split (25 % test)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = np.floor(d.data * 255 / 16 + 0.5).astype(np.int64)
    y = d.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    cut = len(x) // 4
    te, tr = order[:cut], order[cut:]
    return x[tr], y[tr], x[te], y[te]


def _project(w, cb, shared):
    """SST projection of ``w``: ``alpha_r * t`` per row, or ``t`` times one
    shared scale (rows normalised to the same RMS first)."""
    from sst_hw.encode import project

    if shared:
        rms = np.sqrt((w ** 2).mean(1, keepdims=True)) + 1e-12
        t = project(w / rms, cb)[0].reshape(len(w), -1)[:, :w.shape[1]]
        return t * np.abs(w).mean()
    t, alpha = project(w, cb)[:2]
    return t.reshape(len(w), -1)[:, :w.shape[1]] * alpha[:, None]


def _train(x, y, sizes, cb, rng, epochs=(200, 600), lr=0.005):
    """Full-batch Adam on softmax cross-entropy: ``epochs[0]`` float epochs,
    then ``epochs[1]`` with SST-projected weights in the forward pass
    (straight-through estimator). The last layer has no bias and a shared
    scale, so the arg-max of its integer accumulators is the network's."""
    ws = [rng.normal(0, 1 / np.sqrt(a), (b, a)) for a, b in zip(sizes, sizes[1:])]
    bs = [np.zeros(b) for b in sizes[1:-1]]
    params = ws + bs
    m1 = [np.zeros_like(p) for p in params]
    m2 = [np.zeros_like(p) for p in params]
    onehot = np.eye(sizes[-1])[y]
    last = len(ws) - 1
    for t in range(1, sum(epochs) + 1):
        ste = t > epochs[0]
        wq = [_project(w, cb, i == last) if ste else w for i, w in enumerate(ws)]
        acts = [x]
        for w, b in zip(wq[:-1], bs):
            acts.append(np.maximum(acts[-1] @ w.T + b, 0))
        z = acts[-1] @ wq[-1].T
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        d = (p - onehot) / len(x)
        grads_w, grads_b = [None] * len(ws), [None] * len(bs)
        for i in range(last, -1, -1):
            grads_w[i] = d.T @ acts[i]
            if i < last:
                grads_b[i] = d.sum(0)
            if i:
                d = (d @ wq[i]) * (acts[i] > 0)
        for j, (p_, g) in enumerate(zip(params, grads_w + grads_b)):
            m1[j] = 0.9 * m1[j] + 0.1 * g
            m2[j] = 0.999 * m2[j] + 0.001 * g * g
            p_ -= lr * (m1[j] / (1 - 0.9 ** t)) / (np.sqrt(m2[j] / (1 - 0.999 ** t)) + 1e-8)
    return ws, bs


@lru_cache(maxsize=None)
def digits_network(hidden: int = 32, seed: int = 0, shift_mode: bool = False) -> Network:
    """The trained digits network (see the module doc); ``shift_mode`` gives
    multiplier-free requantization (every ``M_r = 1``). ``meta`` records the
    float (SST weights) and integer test accuracies."""
    from threadpoolctl import threadpool_limits

    x_tr, y_tr, x_te, y_te = digits_data()
    rng = np.random.default_rng(seed)
    cb = Codebook(8, 2)
    with threadpool_limits(1):   # small matrices: BLAS threads only contend
        (w1, w2), (b1,) = _train(x_tr / 255.0, y_tr, [64, hidden, 10], cb, rng)
    w1q, w2q = _project(w1, cb, False), _project(w2, cb, True)
    float_acc = float(((np.maximum(x_te / 255.0 @ w1q.T + b1, 0) @ w2q.T).argmax(1)
                       == y_te).mean())

    # Hidden layer: SST codes and alpha; calibrate the 8-bit activation scale.
    e1 = encode_matrix(w1, cb)
    t1 = e1.ternary().astype(np.int64)
    h = (x_tr @ t1.T) * (e1.alpha[None, :] / 255.0) + b1      # float pre-activation
    h_scale = np.percentile(np.maximum(h, 0), 99.5) / 255.0    # float per activation step
    gain = e1.alpha / 255.0 / h_scale                          # acc -> activation units
    if shift_mode:
        shift = int(np.round(-np.log2(np.median(gain))))
        mult = np.ones(hidden, np.int64)
        gain_used = np.full(hidden, 2.0 ** -shift)
    else:
        shift = int(np.floor(np.log2((arith.mult_range()[1] - 1) / gain.max())))
        mult = np.round(gain * 2.0 ** shift).astype(np.int64)
        gain_used = gain
    # shift mode: every row gets the same gain, so the bias is scaled by it.
    bias_scale = gain_used / gain / h_scale
    add = np.round(b1 * bias_scale * 2.0 ** shift).astype(np.int64) + (1 << (shift - 1))
    layer1 = Layer(64, hidden, cb, e1.codes, mult, add, shift, True, 8,
                   e1.alpha, b1.astype(np.float32))
    rms = np.sqrt((w2 ** 2).mean(1, keepdims=True))
    e2 = encode_matrix(w2 / rms, cb)
    ones, zeros = np.ones(10, np.int64), np.zeros(10, np.int64)
    layer2 = Layer(hidden, 10, cb, e2.codes, ones, zeros, 0, False, 8, e2.alpha, None)
    net = Network([layer1, layer2], 8, False)
    _, cls = net.forward(x_te)
    net.meta = {"dataset": "sklearn digits 8x8", "float_accuracy": float_acc,
                "int_accuracy": float((cls == y_te).mean()), "test_samples": int(len(y_te)),
                "shift_mode": bool(shift_mode)}
    return net


def test_digits_network_accuracy():
    """The helper's model actually classifies the digits."""
    net = digits_network()
    assert [l.in_features for l in net.layers] == [64, 32]
    assert net.meta["float_accuracy"] > 0.9, net.meta
    assert net.meta["int_accuracy"] > 0.8, net.meta
