"""The inputs of ``sst-hw infer``: ``.npy`` arrays (flat rows or images) and
image files, as one checked int64 batch ``(batch, features)``.

A model with an input shape ``(H, W, C)`` (a
:class:`~sst_hw.format.convnet.ConvNetwork`) takes, from a ``.npy``:

* flat rows, ``(H*W*C,)`` or ``(batch, H*W*C)``, in HWC order (channel
  fastest), as before;
* one image ``(H, W, C)`` -- or ``(H, W)`` when ``C == 1`` -- or a batch of
  them, ``(batch, H, W, C)`` / ``(batch, H, W)``.

Integers, or floats that are exactly integers. An image file (anything
Pillow reads: ``.png``, ``.jpg``, ``.bmp``, ``.pgm``, ...) is converted to
grayscale (``C == 1``) or RGB (``C == 3``); it must already be ``W x H``
pixels (nothing is resized), and its pixels are 0..255, so the model's input
range must hold 0..255. Without a known input shape (no ``--model``, or an
MLP model file) a ``.npy`` is flat rows and an image file is read as it is --
grayscale if it has one channel (or a gray palette), RGB otherwise -- and
flattened; the device's feature count is checked later. Images are
flattened as ``x.reshape(batch, -1)`` of the channels-last array.

Value ranges of ``.npy`` inputs and the feature count are checked by the
caller against the device's identity.
"""

from __future__ import annotations

from pathlib import Path

from sst_hw.cli.commands._inputs import check_batch, read_npy
from sst_hw.cli.errors import UserError

__all__ = ["load_infer_inputs", "image_rows", "npy_rows"]

#: First bytes of every ``.npy`` file.
_NPY_MAGIC = b"\x93NUMPY"
#: Image file suffixes named in messages.
_IMAGE_KINDS = ".png, .jpg, .bmp, .pgm"


def load_infer_inputs(paths, model=None):
    """The files ``paths`` (``.npy`` arrays or image files) as one int64
    batch ``(batch, features)``, rows in file order. ``model`` (the loaded
    model file, or ``None``) gives the input shape (its ``input_shape``, if
    it has one) and the input range an image file must fit. ``UserError``
    on a missing or unreadable file, a wrong shape, size or range, or files
    of different feature counts."""
    import numpy as np

    shape = getattr(model, "input_shape", None)
    shape = tuple(int(v) for v in shape) if shape is not None else None
    rng = model.input_range if model is not None else None
    has_model = model is not None
    batches = []
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise UserError(f"no such input file: {path}")
        if _is_npy(path):
            x = npy_rows(read_npy(path, integral_floats=True), path, shape, has_model)
        else:
            x = image_rows(path, shape, rng)
        if batches and x.shape[1] != batches[0][1].shape[1]:
            first, xf = batches[0]
            raise UserError(f"input {path} has {x.shape[1]} features per input, "
                            f"{first} {xf.shape[1]}")
        batches.append((path, x))
    return np.concatenate([x for _, x in batches]) if len(batches) > 1 else batches[0][1]


def npy_rows(a, path: Path, shape=None, has_model: bool = False):
    """The int64 array ``a`` read from ``path`` as ``(batch, features)``:
    flat rows as they are, images of ``shape`` (H, W, C) flattened in HWC
    order. Without ``shape`` only flat rows (rank 1 or 2) are taken."""
    if shape is None:
        if a.ndim > 2:
            why = ("the model takes flat inputs" if has_model else
                   "give --model to send images of the model's input shape")
            raise UserError(f"input {path} has shape {a.shape}; {why}, or give "
                            f"(features,) or (batch, features)")
        return check_batch(a, path)
    h, w, c = shape
    features = h * w * c
    if a.ndim == 1 or (a.ndim == 2 and a.shape[1] == features):
        return check_batch(a, path)      # flat rows; the feature count is checked later
    if a.shape == shape or (c == 1 and a.shape == (h, w)):
        a = a[None]
    elif not ((a.ndim == 4 and a.shape[1:] == shape)
              or (c == 1 and a.ndim == 3 and a.shape[1:] == (h, w))):
        raise UserError(f"input {path} has shape {a.shape}; the model takes "
                        f"{_shapes_text(shape)}")
    return check_batch(a.reshape(a.shape[0], features), path)


def image_rows(path: Path, shape=None, input_range=None):
    """The image file ``path`` as an int64 batch of one ``(1, H*W*C)``, HWC
    order, pixels 0..255. With ``shape`` (H, W, C): converted to grayscale
    (C 1) or RGB (C 3), and it must be W x H pixels; with ``input_range``
    (lo, hi) the range must hold 0..255."""
    import numpy as np
    from PIL import Image

    if shape is not None and shape[2] not in (1, 3):
        raise UserError(f"the model takes {shape[2]} channels per pixel; an image file gives "
                        f"1 (grayscale) or 3 (RGB): give {path} as a .npy of shape "
                        f"{shape} instead")
    if input_range is not None and (input_range[0] > 0 or input_range[1] < 255):
        lo, hi = input_range
        raise UserError(f"image {path} has pixels 0..255, the model takes inputs {lo}..{hi}: "
                        f"scale the pixels yourself and give them as a .npy")
    try:
        im = Image.open(path)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise UserError(f"input {path} is neither a .npy array nor an image file Pillow "
                        f"reads ({_IMAGE_KINDS}): {e}") from None
    with im:
        if shape is not None and im.size != (shape[1], shape[0]):
            w, h = im.size
            raise UserError(f"image {path} is {w}x{h} pixels, the model takes "
                            f"{shape[1]}x{shape[0]} (width x height); resize it first")
        if im.mode == "F" or im.mode.startswith("I"):
            raise UserError(f"image {path} has {im.mode} pixels (more than 8 bits); give an "
                            f"8-bit image, or the values as a .npy")
        try:
            if shape is not None:
                a = np.asarray(im.convert("L" if shape[2] == 1 else "RGB"))
            elif im.mode in ("1", "L", "LA", "La"):
                a = np.asarray(im.convert("L"))
            else:
                a = np.asarray(im.convert("RGB"))
                if im.mode in ("P", "PA") and (a == a[..., :1]).all():
                    a = a[..., 0]        # a gray palette: one channel
        except (OSError, ValueError, SyntaxError) as e:
            raise UserError(f"cannot read image {path}: {e}") from None
    return a.reshape(1, -1).astype(np.int64)


def _is_npy(path: Path) -> bool:
    """A ``.npy`` / ``.npz`` name, or ``.npy`` content under any name."""
    if path.suffix.lower() in (".npy", ".npz"):
        return True
    try:
        with open(path, "rb") as f:
            return f.read(len(_NPY_MAGIC)) == _NPY_MAGIC
    except OSError as e:
        raise UserError(f"cannot read input {path}: {e.strerror or e}") from None


def _shapes_text(shape) -> str:
    h, w, c = shape
    f = h * w * c
    one = f"({h}, {w}) or ({h}, {w}, 1)" if c == 1 else f"({h}, {w}, {c})"
    batch = f"(B, {h}, {w}) or (B, {h}, {w}, 1)" if c == 1 else f"(B, {h}, {w}, {c})"
    return f"one image {one}, a batch {batch}, or flat rows ({f},) or (B, {f})"
