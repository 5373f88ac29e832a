"""Bit-exact integer golden model of an SST network (docs/architecture.md,
"Integer arithmetic").

This is the oracle of every hardware test: the RTL must produce exactly what
this module computes, bit for bit. It implements the integer contract and
nothing else:

* dot product ``acc_r = sum_j t_rj * x_j``, exact, int64, with ``t`` the
  ternary weights decoded from the layer's code words;
* requantization of every layer but the last,
  ``y_r = clamp((acc_r * M_r + C_r) >> S, lo, hi)``, with ``M_r`` a 16-bit
  signed multiplier (exactly 1 in multiplier-free "shift" mode), ``C_r`` the
  bias plus rounding constant, ``>>`` an arithmetic shift (floor division by
  ``2^S``), ``(lo, hi) = (0, 2^A - 1)`` under ReLU and
  ``(-2^(A-1), 2^(A-1) - 1)`` (signed output) without;
* the last layer yields its raw accumulators (the logits) and the arg-max
  class, the lowest index on ties.

Widths come from :mod:`sst_hw.format.arith`, shared with the RTL generator. A
:class:`Network` refuses a configuration in which any intermediate value
could leave its width. This module knows nothing of Amaranth or cocotb.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple, Sequence

import numpy as np

from sst_hw.format import arith
from sst_hw.format.codebook import Codebook, _check_int

__all__ = ["Layer", "Network", "LayerTrace", "METHODS", "check_layer_arithmetic",
           "dense_accumulate", "dense_accumulate_codes"]

#: Ways :meth:`Layer.accumulate` may compute the dot products.
METHODS = ("auto", "float", "int")

_INT64_MAX = (1 << 63) - 1


def _check_bool(name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, not {value!r}")
    return bool(value)


def _int_array(name, value, shape) -> np.ndarray:
    """A read-only int64 copy of an integer array of the given shape."""
    a = np.asarray(value)
    if a.dtype == object or not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{name} must be an integer array, not dtype {a.dtype}")
    if a.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, not {a.shape}")
    if a.size and a.dtype == np.uint64 and int(a.max()) > _INT64_MAX:
        raise ValueError(f"{name} value {int(a.max())} does not fit int64")
    a = a.astype(np.int64, copy=True)
    a.setflags(write=False)
    return a


def _float_array(name, value, shape, nonneg=False):
    """A read-only float32 copy of a finite float array, or None."""
    if value is None:
        return None
    a = np.asarray(value)
    if a.dtype == object or not (np.issubdtype(a.dtype, np.floating)
                                 or np.issubdtype(a.dtype, np.integer)):
        raise ValueError(f"{name} must be a float array, not dtype {a.dtype}")
    if a.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, not {a.shape}")
    a = a.astype(np.float32, copy=True)
    bad = ~np.isfinite(a)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name} must be finite, not {a[i]} (NaN or inf) at row {i}")
    if nonneg and (a < 0).any():
        i = int(np.flatnonzero(a < 0)[0])
        raise ValueError(f"{name} must be >= 0, not {a[i]} at row {i}")
    a.setflags(write=False)
    return a


def _as_batch(x, features: int) -> np.ndarray:
    """``x`` as an int64 array (batch, features); a 1-D ``x`` is a batch of one."""
    a = np.asarray(x)
    if a.dtype == object or not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"input must be an integer array, not dtype {a.dtype}")
    if a.ndim == 1:
        a = a.reshape(1, -1)
    if a.ndim != 2 or a.shape[1] != features:
        raise ValueError(f"input must have shape (batch, {features}), not {np.shape(x)}")
    if a.size and a.dtype == np.uint64 and int(a.max()) > _INT64_MAX:
        raise ValueError(f"input value {int(a.max())} does not fit int64")
    return a.astype(np.int64, copy=False)


def _argmax_lowest(logits: np.ndarray) -> np.ndarray:
    """Arg-max per row, the lowest index on ties (np.argmax's rule), int64."""
    return np.argmax(logits, axis=1).astype(np.int64)


@dataclass(eq=False)
class Layer:
    """One SST layer: ternary weights as code words, then integer requantization.

    Parameters
    ----------
    in_features, out_features : int
        Inputs and outputs (rows) of the layer, >= 1.
    codebook : Codebook
        The code of the weights; codes of at most 62 bits.
    codes : int array (out_features, ceil(in_features / N))
        Code word of every row-subvector. The last subvector of a row covers
        ``in_features % N`` real weights (when not 0) and must be zero in its
        padding positions.
    mult : int array (out_features,)
        Requantization multiplier ``M_r``, 16-bit signed (``arith.mult_range``).
    add : int array (out_features,)
        Requantization constant ``C_r`` (bias and rounding ``1 << (S-1)``),
        int64; a :class:`Network` bounds it by ``arith.add_range``.
    shift : int
        Requantization shift ``S``, 0..63 (``arith.SHIFT_MAX``).
    relu : bool
        ReLU: the output is unsigned ``0..2^A - 1``; otherwise signed
        ``-2^(A-1)..2^(A-1) - 1``.
    act_width : int
        ``A``, bits of the layer's *output* activation, 1..32 (2..32 signed).
    alpha, bias : float array (out_features,), optional
        Float metadata kept for reference and compression accounting (the
        per-row scale, >= 0, and bias); finite; stored as float32. The integer
        arithmetic never reads them.

    The last layer of a :class:`Network` keeps ``mult``/``add``/``shift``/
    ``relu``/``act_width`` but the network does not apply them: it returns
    the raw accumulators. Arrays are copied and made read-only; the decoded
    ternary matrix is cached.
    """

    in_features: int
    out_features: int
    codebook: Codebook
    codes: np.ndarray
    mult: np.ndarray
    add: np.ndarray
    shift: int
    relu: bool
    act_width: int
    alpha: np.ndarray | None = None
    bias: np.ndarray | None = None
    _dense: np.ndarray = field(init=False, repr=False, compare=False)
    _dense_f64: np.ndarray | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self):
        self.in_features = _check_int("in_features", self.in_features, 1, 1 << 40)
        self.out_features = _check_int("out_features", self.out_features, 1, 1 << 40)
        if not isinstance(self.codebook, Codebook):
            raise TypeError(f"codebook must be a Codebook, not {self.codebook!r}")
        cb = self.codebook
        cb._check_vectorised()
        out, n = self.out_features, cb.n
        self.codes = _int_array("codes", self.codes, (out, self.subvectors))
        lo, hi = arith.mult_range()
        self.mult = _int_array("mult", self.mult, (out,))
        bad = (self.mult < lo) | (self.mult > hi)
        if bad.any():
            r = int(np.flatnonzero(bad)[0])
            raise ValueError(f"multiplier {int(self.mult[r])} at row {r} does not fit "
                             f"{arith.MULT_BITS}-bit signed ({lo}..{hi})")
        self.add = _int_array("add", self.add, (out,))
        self.shift = _check_int("shift", self.shift, 0, arith.SHIFT_MAX)
        self.relu = _check_bool("relu", self.relu)
        self.act_width = _check_int("act_width", self.act_width, 1, 32)
        arith.act_range(self.act_width, not self.relu)   # signed output needs >= 2 bits
        self.alpha = _float_array("alpha", self.alpha, (out,), nonneg=True)
        self.bias = _float_array("bias", self.bias, (out,))

        # Decode every code: used, and zero in the padding of the last subvector.
        flat = self.codes.reshape(-1)
        lim = 1 << cb.bits
        rng = (flat < 0) | (flat >= lim)
        if rng.any():
            i = int(np.flatnonzero(rng)[0])
            raise ValueError(
                f"code {int(flat[i])} at row {i // self.subvectors}, subvector "
                f"{i % self.subvectors} is out of range 0..{lim - 1} ({cb.bits}-bit codes of "
                f"{cb.describe_short()})")
        pos, neg, valid, used = cb.decode_slots(flat)
        if not used.all():
            i = int(np.flatnonzero(~used)[0])
            raise ValueError(
                f"code {int(flat[i])} at row {i // self.subvectors}, subvector "
                f"{i % self.subvectors} is not a used code of {cb.describe_short()}")
        rem = self.in_features - (self.subvectors - 1) * n     # real weights of the last one
        if rem < n:
            last = np.arange(len(flat)) % self.subvectors == self.subvectors - 1
            pad = valid & (pos >= rem) & last[:, None]
            if pad.any():
                i = int(np.flatnonzero(pad.any(1))[0])
                raise ValueError(
                    f"code {int(flat[i])} at row {i // self.subvectors} (last subvector) has a "
                    f"non-zero at padding position {int(pos[i][pad[i]][0])}: only positions "
                    f"0..{rem - 1} of the last subvector are weights (in_features="
                    f"{self.in_features}, N={n})")
        dense = np.zeros((len(flat), n), np.int8)
        rows = np.arange(len(flat))
        for s in range(cb.k):
            sel = valid[:, s]
            dense[rows[sel], pos[sel, s]] = np.where(neg[sel, s] == 1, -1, 1)
        dense = dense.reshape(out, self.subvectors * n)[:, :self.in_features].copy()
        dense.setflags(write=False)
        self._dense = dense
        self._dense_f64 = None

    # -- shape and formats ----------------------------------------------------------

    @property
    def subvectors(self) -> int:
        """Subvectors per row: ``ceil(in_features / N)``."""
        return -(-self.in_features // self.codebook.n)

    @property
    def out_signed(self) -> bool:
        """Whether the requantized output is signed (no ReLU)."""
        return not self.relu

    @property
    def out_range(self) -> tuple[int, int]:
        """Inclusive (lo, hi) of the requantized output: the clamp bounds."""
        return arith.act_range(self.act_width, self.out_signed)

    @property
    def shift_mode(self) -> bool:
        """Multiplier-free: every ``M_r`` is exactly 1."""
        return bool((self.mult == 1).all())

    @property
    def max_row_nonzeros(self) -> int:
        """Most non-zero weights of any row (actual, not worst case)."""
        return int(np.count_nonzero(self._dense, axis=1).max())

    def acc_width(self, in_width: int, in_signed: bool) -> int:
        """Bits of the signed accumulator for ``in_width``-bit inputs (worst case)."""
        return arith.acc_width(self.in_features, self.codebook.n, self.codebook.k,
                               in_width, in_signed)

    # -- arithmetic -----------------------------------------------------------------------

    def ternary(self) -> np.ndarray:
        """The dense ternary weights t, int8 (out_features, in_features), values
        in {-1, 0, +1}, padding dropped. Cached and read-only."""
        return self._dense

    def accumulate(self, x, *, acc_width: int | None = None, method: str = "auto") -> np.ndarray:
        """Exact dot products ``acc_r = sum_j t_rj x_j``.

        Parameters
        ----------
        x : int array (batch, in_features) or (in_features,)
            Input activations (any integer values; the layer does not know the
            input format, :meth:`Network.forward` checks the range).
        acc_width : int, optional
            Accumulator width in bits for the inputs' format
            (:meth:`acc_width`); when given, float64 is used iff it is at most
            ``arith.FLOAT_EXACT_BITS`` (52). Otherwise the bound is taken from
            the data: most non-zeros per row times the largest ``|x|``.
        method : {"auto", "float", "int"}
            ``"float"`` forces the float64 BLAS path (refused when it could be
            inexact), ``"int"`` the exact int64 path.

        Returns
        -------
        int64 array (batch, out_features).
        """
        if method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
        x = _as_batch(x, self.in_features)
        if acc_width is not None:
            acc_width = _check_int("acc_width", acc_width, 1, 64)
            float_ok = acc_width <= arith.FLOAT_EXACT_BITS
            what = f"a {acc_width}-bit accumulator"
        else:
            xmax = max(abs(int(x.min())), abs(int(x.max()))) if x.size else 0
            bound = self.max_row_nonzeros * xmax
            if bound > _INT64_MAX:
                raise ValueError(f"dot products up to {bound} in magnitude overflow int64")
            float_ok = bound < (1 << arith.FLOAT_EXACT_BITS)
            what = f"dot products up to {bound} in magnitude"
        if method == "float" and not float_ok:
            raise ValueError(f"float64 is not exact for {what} (at most "
                             f"{arith.FLOAT_EXACT_BITS} bits); use the int64 path")
        if method == "int" or not float_ok:
            return x @ self._dense.T.astype(np.int64)
        if self._dense_f64 is None:
            self._dense_f64 = np.ascontiguousarray(self._dense.T, dtype=np.float64)
        return np.rint(x.astype(np.float64) @ self._dense_f64).astype(np.int64)

    def requantize(self, acc) -> np.ndarray:
        """``clamp((acc * M + C) >> S, lo, hi)`` per row: int64 (batch, out_features).

        ``acc`` is int64 (batch, out_features) (or (out_features,)); values whose
        product could overflow int64 are refused.
        """
        acc = _as_batch(acc, self.out_features)
        if acc.size:
            amax = max(abs(int(acc.min())), abs(int(acc.max())))
            bound = (amax * max(abs(int(self.mult.min())), abs(int(self.mult.max())))
                     + max(abs(int(self.add.min())), abs(int(self.add.max()))))
            if bound > _INT64_MAX:
                raise ValueError(f"acc * M + C reaches {bound} in magnitude, beyond int64")
        y = (acc * self.mult + self.add) >> self.shift
        lo, hi = self.out_range
        return np.clip(y, lo, hi)

    def forward(self, x, *, acc_width: int | None = None) -> np.ndarray:
        """Requantized output activations, int64 (batch, out_features)."""
        return self.requantize(self.accumulate(x, acc_width=acc_width))

    # -- misc --------------------------------------------------------------------------------

    def __eq__(self, other):
        if not isinstance(other, Layer):
            return NotImplemented
        same = (self.in_features, self.out_features, self.codebook, self.shift, self.relu,
                self.act_width) == (other.in_features, other.out_features, other.codebook,
                                    other.shift, other.relu, other.act_width)
        return same and all(
            (a is None and b is None) or (a is not None and b is not None
                                          and np.array_equal(a, b))
            for a, b in [(self.codes, other.codes), (self.mult, other.mult),
                         (self.add, other.add), (self.alpha, other.alpha),
                         (self.bias, other.bias)])

    __hash__ = None


def check_layer_arithmetic(i: int, layer: Layer, acc_width: int, last: bool,
                           what: str | None = None) -> None:
    """Refuse layer ``i`` of a network if its arithmetic could wrap (ValueError).

    ``layer`` reads inputs whose worst-case accumulator is ``acc_width`` bits.
    The ``last`` layer returns raw accumulators, which must fit 64 bits; any
    other layer requantizes, so ``acc * M + C`` must fit 64 bits
    (:func:`arith.requant_width <sst_hw.format.arith.requant_width>`) and every
    ``C_r`` must lie in :func:`arith.add_range <sst_hw.format.arith.add_range>`.
    ``what`` names the layer in the requantization messages (default
    ``"layer {i}"``; a container of several layer kinds adds the kind).
    """
    if last:
        if acc_width > 64:
            raise ValueError(f"layer {i} (last) needs a {acc_width}-bit accumulator; "
                             f"at most 64 bits are supported")
        return
    what = f"layer {i}" if what is None else what
    rw = arith.requant_width(acc_width)
    if rw > 64:
        raise ValueError(
            f"{what}: acc * M + C needs {rw} bits (accumulator {acc_width} + multiplier "
            f"{arith.MULT_BITS} + 1), more than the 64 bits supported")
    lo, hi = arith.add_range(acc_width)
    bad = (layer.add < lo) | (layer.add > hi)
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{what}: add (C) {int(layer.add[r])} at row {r} is out of range "
            f"{lo}..{hi} ({rw - 1}-bit signed for a {acc_width}-bit accumulator)")


class LayerTrace(NamedTuple):
    """What one layer saw and produced (:meth:`Network.activations`), int64 arrays.

    ``output`` is the requantized activation, or for the last layer the raw
    accumulators (the logits), i.e. ``acc`` itself."""

    input: np.ndarray
    acc: np.ndarray
    output: np.ndarray


@dataclass(eq=False)
class Network:
    """A chain of SST layers and the format of its input.

    Parameters
    ----------
    layers : list of Layer
        At least one; ``layers[i].out_features == layers[i+1].in_features``.
    input_width : int
        Bits of the network input, 1..32.
    input_signed : bool
        Whether the network input is signed.
    meta : dict
        Free-form, JSON-ready metadata (dataset, accuracy, ...), saved with the
        model file.

    Layer ``i > 0`` reads ``layers[i-1].act_width``-bit activations, signed
    unless ``layers[i-1].relu``. Construction refuses any configuration whose
    arithmetic could wrap: for every requantizing layer (all but the last) the
    accumulator width ``W`` must satisfy ``arith.requant_width(W) <= 64`` and
    ``C_r`` must lie in ``arith.add_range(W)``; the last layer's accumulator
    must fit 64 bits.
    """

    layers: list
    input_width: int = 8
    input_signed: bool = False
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        self.layers = list(self.layers)
        if not self.layers:
            raise ValueError("a network needs at least one layer")
        for i, layer in enumerate(self.layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"layer {i} must be a Layer, not {type(layer).__name__}")
        self.input_width = _check_int("input_width", self.input_width, 1, 32)
        self.input_signed = _check_bool("input_signed", self.input_signed)
        arith.act_range(self.input_width, self.input_signed)
        if not isinstance(self.meta, dict):
            raise TypeError(f"meta must be a dict, not {type(self.meta).__name__}")
        for i, (a, b) in enumerate(zip(self.layers, self.layers[1:])):
            if a.out_features != b.in_features:
                raise ValueError(f"layer {i} has {a.out_features} outputs but layer {i + 1} "
                                 f"has {b.in_features} inputs")
        last = len(self.layers) - 1
        for i, (layer, w) in enumerate(zip(self.layers, self.acc_widths())):
            check_layer_arithmetic(i, layer, w, i == last)

    # -- formats ------------------------------------------------------------------------

    @property
    def input_range(self) -> tuple[int, int]:
        """Inclusive (lo, hi) of a network input value."""
        return arith.act_range(self.input_width, self.input_signed)

    @property
    def classes(self) -> int:
        """Outputs of the last layer."""
        return self.layers[-1].out_features

    def input_formats(self) -> list[tuple[int, bool]]:
        """(width, signed) of every layer's input activations."""
        fmts = [(self.input_width, self.input_signed)]
        for layer in self.layers[:-1]:
            fmts.append((layer.act_width, layer.out_signed))
        return fmts

    def acc_widths(self) -> list[int]:
        """Accumulator width W in bits of every layer (worst case, never wraps)."""
        return [layer.acc_width(w, s) for layer, (w, s) in zip(self.layers, self.input_formats())]

    # -- inference ----------------------------------------------------------------------

    def check_input(self, x) -> np.ndarray:
        """``x`` as int64 (batch, in_features) after checking every value is in
        :attr:`input_range`; ValueError naming the first bad value otherwise."""
        x = _as_batch(x, self.layers[0].in_features)
        lo, hi = self.input_range
        bad = (x < lo) | (x > hi)
        if bad.any():
            b, j = (int(v) for v in np.argwhere(bad)[0])
            kind = "signed" if self.input_signed else "unsigned"
            raise ValueError(f"input value {int(x[b, j])} at [{b}, {j}] is outside the "
                             f"{self.input_width}-bit {kind} range {lo}..{hi}")
        return x

    def activations(self, x) -> list[LayerTrace]:
        """Every layer's input, accumulators and output (see :class:`LayerTrace`)."""
        x = self.check_input(x)
        traces = []
        widths = self.acc_widths()
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            acc = layer.accumulate(x, acc_width=widths[i])
            y = acc if i == last else layer.requantize(acc)
            traces.append(LayerTrace(x, acc, y))
            x = y
        return traces

    def forward(self, x) -> tuple[np.ndarray, np.ndarray]:
        """Logits int64 (batch, classes) and arg-max classes int64 (batch,),
        the lowest index on ties. ``x`` is integer (batch, in_features) or
        (in_features,) (a batch of one), every value in :attr:`input_range`."""
        logits = self.activations(x)[-1].acc
        return logits, _argmax_lowest(logits)

    # -- misc ---------------------------------------------------------------------------

    def __eq__(self, other):
        if not isinstance(other, Network):
            return NotImplemented
        return ((self.input_width, self.input_signed, self.meta)
                == (other.input_width, other.input_signed, other.meta)
                and len(self.layers) == len(other.layers)
                and all(a == b for a, b in zip(self.layers, other.layers)))

    __hash__ = None

    # -- random models for tests (generated in :mod:`sst_hw.format.random_model`) ----------

    @classmethod
    def random(cls, rng, sizes: Sequence[int], n: int, k: int, variant: str = "full",
               assignment: str = "enum", input_width: int = 8, input_signed: bool = False,
               act_width: int | Sequence[int] = 8, relu: bool | Sequence[bool] = True,
               shift_mode: bool = False, negative_mults: bool = True,
               floats: bool = True, calib: int = 64) -> "Network":
        """A random valid network whose activations spread over their range.

        Parameters
        ----------
        rng : numpy.random.Generator or int
            Randomness (an int is a seed).
        sizes : sequence of int
            ``[in_features, hidden..., classes]``, at least two entries.
        n, k, variant, assignment :
            The codebook of every layer.
        input_width, input_signed :
            Format of the network input.
        act_width, relu :
            Output format of each hidden layer: one value for all, or one per
            hidden layer (``len(sizes) - 2``).
        shift_mode : bool
            Multiplier-free requantization (every ``M_r == 1``).
        negative_mults : bool
            Let about a quarter of the multipliers be negative.
        floats : bool
            Also make random float ``alpha`` (> 0) and ``bias`` metadata.
        calib : int
            Random inputs used to calibrate the requantization.

        Codes are drawn uniformly from the used code values (every spelling of a
        ``direct`` code included), or as random members for codebooks too big
        for a table. Each hidden layer's ``M``, ``C`` and ``S`` map the
        calibration accumulators of each row to a spread of about a quarter of the
        output range, so a few values clamp at either end but most do not. The
        last layer keeps ``M = 1, C = 0, S = 0``, no ReLU (not applied anyway).
        """
        from sst_hw.format.random_model import random_network
        return random_network(
            rng, sizes, n, k, variant, assignment, input_width=input_width,
            input_signed=input_signed, act_width=act_width, relu=relu, shift_mode=shift_mode,
            negative_mults=negative_mults, floats=floats, calib=calib, network_cls=cls)


# -- dense baselines --------------------------------------------------------------------------

def dense_accumulate(weights, x) -> np.ndarray:
    """Exact dot products ``acc_r = sum_j w_rj x_j`` of a dense integer layer.

    The oracle of the dense baseline engines (:mod:`sst_hw.format.dense`), with the
    same contract as :meth:`Layer.accumulate`: exact, int64.

    Parameters
    ----------
    weights : int array (out_features, in_features)
        Any integer weights (int8, ternary, ...).
    x : int array (batch, in_features) or (in_features,)
        Input activations.

    Returns
    -------
    int64 array (batch, out_features). A ``ValueError`` when the worst case
    (``in_features * max|w| * max|x|``, every partial sum included) could
    leave int64.
    """
    w = np.asarray(weights)
    if w.dtype == object or not np.issubdtype(w.dtype, np.integer):
        raise ValueError(f"weights must be an integer array, not dtype {w.dtype}")
    if w.ndim != 2:
        raise ValueError(f"weights must have shape (out_features, in_features), not {w.shape}")
    x = _as_batch(x, w.shape[1])
    if w.size and w.dtype == np.uint64 and int(w.max()) > _INT64_MAX:
        raise ValueError(f"weight {int(w.max())} does not fit int64")
    w = w.astype(np.int64)
    if w.size and x.size:
        wmax = max(abs(int(w.min())), abs(int(w.max())))
        xmax = max(abs(int(x.min())), abs(int(x.max())))
        bound = w.shape[1] * wmax * xmax
        if bound > _INT64_MAX:
            raise ValueError(f"dot products up to {bound} in magnitude overflow int64")
    # Integer matmul: exact (NumPy does not route integers through BLAS).
    return x @ w.T


def dense_accumulate_codes(fmt, codes, x) -> np.ndarray:
    """:func:`dense_accumulate` of a layer given as code words of ``fmt``.

    Parameters
    ----------
    fmt : sst_hw.format.dense.WeightFormat
    codes : int array (out_features, subvectors)
        One code word per N weights, the last subvector zero-padded.
    x : int array (batch, in_features) or (in_features,)
        ``in_features`` in ``(subvectors - 1) * N + 1 .. subvectors * N``.

    Returns
    -------
    int64 array (batch, out_features). Padding weights must be zero.
    """
    from sst_hw.format.dense import WeightFormat
    if not isinstance(fmt, WeightFormat):
        raise TypeError(f"fmt must be a WeightFormat, not {fmt!r}")
    c = np.asarray(codes)
    if c.ndim != 2:
        raise ValueError(f"codes must have shape (out_features, subvectors), not {c.shape}")
    w = fmt.unpack(c).reshape(c.shape[0], c.shape[1] * fmt.n)
    features = np.shape(x)[-1] if np.ndim(x) else 0
    if not (c.shape[1] - 1) * fmt.n < features <= c.shape[1] * fmt.n:
        raise ValueError(f"{c.shape[1]} subvectors of {fmt.n} weights need "
                         f"{(c.shape[1] - 1) * fmt.n + 1}..{c.shape[1] * fmt.n} inputs, "
                         f"not {features}")
    if w[:, features:].any():
        raise ValueError("padding weights (beyond the inputs) must be zero")
    return dense_accumulate(w[:, :features], x)
