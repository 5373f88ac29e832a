"""The model image of a loadable network core: what ``sst-hw load`` sends.

A loadable core (:func:`~sst_hw.plan.network.plan_network` with
``loadable=True``, or ``memory="spram"``) fixes its *topology* in hardware:
input format, layer shapes, codebook (the decoder ROM), ReLUs and activation
widths (the clamps), PE and SIMD (the code word layout), the requantization
mode and the widths of the table's fields. The codes, the multipliers, the
constants and the shifts are data: the *image*, which the link writes into
the core's memories.

The image is the code memory (:meth:`NetPlan.code_image
<sst_hw.plan.network.NetPlan.code_image>`), one word after another, each in
:func:`code_word_bytes` little-endian bytes, then the requantization table
(:meth:`NetPlan.param_image <sst_hw.plan.network.NetPlan.param_image>`),
each row in :func:`param_word_bytes` little-endian bytes. The device
computes its CRC-32 over the same bytes read back from its memories.

:func:`topology_id` is the CRC-32 of what the hardware fixes; two plans with
the same id take each other's images.

:func:`network_from_image` is the inverse of :func:`image_bytes`: the golden
model a core of ``plan`` runs once it holds an image (what the device model
computes with after a load).
"""

from __future__ import annotations

import json
import zlib

import numpy as np

__all__ = ["code_word_bytes", "param_word_bytes", "image_len", "image_bytes", "topology",
           "topology_id", "network_from_image", "stored_image"]


def code_word_bytes(plan) -> int:
    """Bytes of one code memory word in the image: ``ceil(PE*SIMD*B / 8)``."""
    return -(-plan.code_word_bits // 8)


def param_word_bytes(plan) -> int:
    """Bytes of one requantization table row in the image."""
    return -(-plan.param_word_bits // 8)


def image_len(plan) -> int:
    """Bytes of the image."""
    return plan.code_words * code_word_bytes(plan) + plan.param_rows * param_word_bytes(plan)


def _words_bytes(words, nbytes: int) -> bytes:
    return b"".join(int(w).to_bytes(nbytes, "little") for w in words)


def image_bytes(plan) -> bytes:
    """The image of ``plan``'s model (see the module doc)."""
    return (_words_bytes(plan.code_image(), code_word_bytes(plan))
            + _words_bytes(plan.param_image(), param_word_bytes(plan)))


def topology(plan) -> dict:
    """What the hardware of ``plan`` fixes, JSON-ready (what :func:`topology_id` covers)."""
    cb = plan.codebook
    net = plan.network
    return {
        "input": [net.input_width, net.input_signed],
        "codebook": [cb.n, cb.k, cb.variant, cb.assignment],
        "layers": [[lp.in_features, lp.out_features, lp.relu, lp.lo, lp.hi, lp.last]
                   for lp in plan.layers],
        "pe": plan.pe, "simd": plan.simd, "requant": plan.requant,
        "code": [plan.code_words, plan.code_word_bits],
        "table": [plan.param_rows, plan.add_bits, plan.mult_bits, plan.shift_bits],
        "acc_width": plan.acc_width, "out_width": plan.out_width,
    }


def topology_id(plan) -> int:
    """CRC-32 of :func:`topology` (INFO's ``topology_id``, LOAD_BEGIN's check)."""
    return zlib.crc32(json.dumps(topology(plan), sort_keys=True).encode()) & 0xFFFFFFFF


def _sext(v: int, bits: int) -> int:
    """The ``bits``-bit two's-complement value of the low bits of ``v``."""
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def _words(data: bytes, nbytes: int, bits: int) -> list:
    """``data`` as little-endian words of ``nbytes`` bytes, each cut to ``bits`` bits."""
    mask = (1 << bits) - 1
    return [int.from_bytes(data[i:i + nbytes], "little") & mask
            for i in range(0, len(data), nbytes)]


def _image_words(plan, data: bytes) -> tuple[list, list]:
    """The code words and the table rows of image ``data``, each cut to its width."""
    data = bytes(data)
    if len(data) != image_len(plan):
        raise ValueError(f"a model image for this core is {image_len(plan)} bytes, not "
                         f"{len(data)}")
    ncode = plan.code_words * code_word_bytes(plan)
    return (_words(data[:ncode], code_word_bytes(plan), plan.code_word_bits),
            _words(data[ncode:], param_word_bytes(plan), plan.param_word_bits))


def stored_image(plan, data: bytes) -> bytes:
    """Image ``data`` as a core of ``plan`` stores it: every code word cut to
    ``code_word_bits`` and every table row to ``param_word_bits`` (the padding
    bits of a word's last byte are not stored and read back as 0). The
    device's LOAD_COMMIT check is the CRC-32 of these bytes; for an image of
    :func:`image_bytes` they are the image itself. ValueError if ``data`` is
    not :func:`image_len` bytes."""
    code, table = _image_words(plan, data)
    return (_words_bytes(code, code_word_bytes(plan))
            + _words_bytes(table, param_word_bytes(plan)))


def network_from_image(plan, data: bytes):
    """The golden :class:`~sst_hw.format.golden.Network` that a core of
    ``plan`` computes with when its memories hold the image ``data``: the
    inverse of :func:`image_bytes`.

    The topology comes from ``plan`` (input format, shapes, codebook, ReLUs,
    activation widths; see :func:`topology`), the codes, multipliers,
    constants and shifts from the image: per hidden layer ``C_r`` is the
    two's complement of a row's low ``add_bits``, ``M_r`` the 16 bits above
    (1 in shift mode), ``S`` the unsigned top ``shift_bits`` (the plan's
    shift when the table holds none). Bits above a word's width (the padding
    of its last byte) are not part of the word and are ignored, as are the
    code words of rows past a layer's ``out_features`` and the table's
    padding rows, whose results the core never reads.

    The image does not carry the last layer's ``mult``/``add``/``shift``,
    which the core does not apply (it returns raw accumulators): the result
    has ``M = 1, C = 0, S = 0`` there, as every exported and random model has
    (its ReLU and width are the topology's). So ``model_id`` of the result
    equals that of the model the image was made from only if that model's
    last layer has these placeholders; the device reports the ``model_id``
    the host sends with LOAD_COMMIT, never one computed from the image. The
    float metadata (``alpha``, ``bias``, ``meta``) is not in the image either.

    Raises
    ------
    ValueError
        ``data`` is not :func:`image_len` bytes; a subvector past a row's
        ``S`` is not the zero code (the core would multiply activations
        outside the layer's input); the rows of a layer carry different
        shifts (a golden layer has one); or the decoded values are not a
        valid model (an unused code, ``C_r`` out of range...: the message
        says which).
    """
    from sst_hw.format.golden import Layer, Network

    code, table = _image_words(plan, data)
    engine, cb = plan.engine, plan.codebook
    offsets = engine._code_offsets       # the engine's own code-field layout
    bmask = (1 << cb.bits) - 1
    add_bits, mult_bits, shift_bits = plan.add_bits, plan.mult_bits, plan.shift_bits
    layers = []
    for lp, ref in zip(plan.layers, plan.network.layers):
        words = code[lp.code_base:lp.code_base + lp.code_words]
        # word (g, b), PE p, subvector s -> row g*PE + p, subvector b*SIMD + s
        blk = np.array([[[(w >> off) & bmask for off in offs] for offs in offsets]
                        for w in words], dtype=np.int64)
        grid = (blk.reshape(lp.groups, lp.beats, plan.pe, plan.simd).transpose(0, 2, 1, 3)
                .reshape(lp.groups * plan.pe, lp.beats * plan.simd)[:lp.out_features])
        pad = grid[:, lp.subvectors:] != cb.zero_code
        if pad.any():
            r, s = (int(v) for v in np.argwhere(pad)[0])
            raise ValueError(f"layer {lp.index} row {r}: subvector {lp.subvectors + s} is past "
                             f"the layer's {lp.subvectors} and must be the zero code "
                             f"{cb.zero_code}, not {int(grid[r, lp.subvectors + s])}")
        codes = grid[:, :lp.subvectors]
        out = lp.out_features
        if lp.last:
            mult, add, shift = np.ones(out, np.int64), np.zeros(out, np.int64), 0
        else:
            rows = table[lp.param_base:lp.param_base + out]
            add = np.array([_sext(w, add_bits) for w in rows], np.int64)
            mult = (np.array([_sext(w >> add_bits, mult_bits) for w in rows], np.int64)
                    if mult_bits else np.ones(out, np.int64))
            shifts = ({w >> (add_bits + mult_bits) for w in rows} if shift_bits
                      else {lp.shift})
            if len(shifts) != 1:
                raise ValueError(f"layer {lp.index}: the rows carry shifts {sorted(shifts)}; "
                                 f"a layer has one shift")
            shift = shifts.pop()
        try:
            layers.append(Layer(lp.in_features, out, cb, codes, mult, add, shift, ref.relu,
                                ref.act_width))
        except ValueError as e:
            raise ValueError(f"layer {lp.index}: {e}") from None
    net = plan.network
    return Network(layers, net.input_width, net.input_signed)
