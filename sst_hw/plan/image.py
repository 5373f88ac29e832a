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
"""

from __future__ import annotations

import json
import zlib

__all__ = ["code_word_bytes", "param_word_bytes", "image_len", "image_bytes", "topology",
           "topology_id"]


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
