"""The architecture string of ``sst-hw train --arch``.

A network is a comma-separated list of layer tokens, read left to right from
the input image::

    c16k3p1,c16k3p1,mp2,c32k3p1,c32k3p1,mp2,c64k3p1,c64k3p1,mp2,fc256,fc256,fc10

``c<C>k<K>[s<S>][p<P>]``
    conv2d with ``C`` output channels (1..4096), a ``K x K`` kernel (1..7),
    stride ``S`` (1 or 2, default 1) and zero padding ``P`` on every side
    (0..K//2, default 0), then batch norm and ReLU (folded into the
    requantization at export).
``mp2``, ``mp3``
    max-pool 2x2 or 3x3, stride 2, on the ReLU outputs.
``fc<N>``
    dense layer of ``N`` outputs (1..65536). A flatten (HWC order) comes
    before the first one by itself. Every dense layer but the last has batch
    norm and ReLU; the last one gives the logits, so its ``N`` is the class
    count.

The string must end with a dense layer and have no conv or max-pool after a
dense layer. Geometry is checked against the input image: a kernel larger
than its (padded) input is refused with the layer token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sst_hw.format.conv import conv_output_size, pool_output_size

__all__ = ["ConvSpec", "PoolSpec", "DenseSpec", "ArchError", "parse_arch", "format_arch",
           "arch_shapes", "MAX_CHANNELS", "MAX_DENSE"]

#: Largest conv output channel count and dense output count accepted.
MAX_CHANNELS = 4096
MAX_DENSE = 65536


class ArchError(ValueError):
    """An architecture string that does not describe a valid network."""


@dataclass(frozen=True)
class ConvSpec:
    cout: int
    k: int
    stride: int = 1
    pad: int = 0

    def token(self) -> str:
        return (f"c{self.cout}k{self.k}" + (f"s{self.stride}" if self.stride != 1 else "")
                + (f"p{self.pad}" if self.pad else ""))


@dataclass(frozen=True)
class PoolSpec:
    k: int

    def token(self) -> str:
        return f"mp{self.k}"


@dataclass(frozen=True)
class DenseSpec:
    out: int

    def token(self) -> str:
        return f"fc{self.out}"


_CONV = re.compile(r"c(\d+)k(\d+)(?:s(\d+))?(?:p(\d+))?")
_POOL = re.compile(r"mp(\d+)")
_DENSE = re.compile(r"fc(\d+)")


def _token(tok: str, i: int):
    where = f"layer {i + 1} {tok!r}"
    if m := _CONV.fullmatch(tok):
        cout, k, s, p = (int(v) if v is not None else None for v in m.groups())
        s = 1 if s is None else s
        p = 0 if p is None else p
        if not 1 <= cout <= MAX_CHANNELS:
            raise ArchError(f"{where}: channel count must be in 1..{MAX_CHANNELS}, not {cout}")
        if not 1 <= k <= 7:
            raise ArchError(f"{where}: kernel must be in 1..7, not {k}")
        if s not in (1, 2):
            raise ArchError(f"{where}: stride must be 1 or 2, not {s}")
        if p > k // 2:
            raise ArchError(f"{where}: padding must be in 0..{k // 2} for kernel {k}, not {p}")
        return ConvSpec(cout, k, s, p)
    if m := _POOL.fullmatch(tok):
        k = int(m.group(1))
        if k not in (2, 3):
            raise ArchError(f"{where}: max-pool kernel must be 2 or 3, not {k}")
        return PoolSpec(k)
    if m := _DENSE.fullmatch(tok):
        n = int(m.group(1))
        if not 1 <= n <= MAX_DENSE:
            raise ArchError(f"{where}: dense size must be in 1..{MAX_DENSE}, not {n}")
        return DenseSpec(n)
    raise ArchError(f"{where}: not a layer token; expected c<C>k<K>[s<S>][p<P>] "
                    f"(conv), mp2 or mp3 (max-pool) or fc<N> (dense)")


def parse_arch(text: str, input_shape=None, classes: int | None = None) -> list:
    """The layer specs of an architecture string; with ``input_shape``
    ``(H, W, C)`` the geometry is checked too, with ``classes`` the last size."""
    if not isinstance(text, str) or not text.strip():
        raise ArchError("the architecture string is empty; e.g. c16k3p1,mp2,fc10")
    toks = [t.strip().lower() for t in text.split(",")]
    if any(not t for t in toks):
        raise ArchError(f"empty layer token in {text!r} (two commas or a trailing comma)")
    specs = [_token(t, i) for i, t in enumerate(toks)]
    if not isinstance(specs[-1], DenseSpec):
        raise ArchError(f"the last layer must be dense (fc<classes>), not {toks[-1]!r}")
    seen_dense = False
    for i, (t, s) in enumerate(zip(toks, specs)):
        if isinstance(s, DenseSpec):
            seen_dense = True
        elif seen_dense:
            raise ArchError(f"layer {i + 1} {t!r}: a conv or max-pool cannot follow a dense "
                            f"layer")
    if classes is not None and specs[-1].out != classes:
        raise ArchError(f"the last layer {toks[-1]!r} must have the data set's {classes} "
                        f"classes, not {specs[-1].out}")
    if input_shape is not None:
        arch_shapes(specs, input_shape, toks)
    return specs


def arch_shapes(specs, input_shape, toks=None) -> list[tuple]:
    """Output shape of every spec: ``(H, W, C)`` or ``(features,)``."""
    shape = tuple(int(v) for v in input_shape)
    out = []
    for i, s in enumerate(specs):
        tok = toks[i] if toks else s.token()
        try:
            if isinstance(s, ConvSpec):
                h, w = conv_output_size(shape[0], shape[1], s.k, s.k, s.stride, s.pad)
                shape = (h, w, s.cout)
            elif isinstance(s, PoolSpec):
                h, w = pool_output_size(shape[0], shape[1], s.k)
                shape = (h, w, shape[2])
            else:
                shape = (s.out,)
        except ValueError as e:
            raise ArchError(f"layer {i + 1} {tok!r} on a {shape[0]}x{shape[1]}x{shape[2]} "
                            f"input: {e}") from None
        out.append(shape)
    return out


def format_arch(specs) -> str:
    """The canonical string of a list of specs (defaults left out)."""
    return ",".join(s.token() for s in specs)
