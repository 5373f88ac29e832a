"""Reading the integer inputs a user gives as ``.npy`` (``sst-hw infer``,
``sst-hw sim``): one checked path from file to an int64 batch."""

from __future__ import annotations

from pathlib import Path

from sst_hw.cli.errors import UserError


def load_input_batch(path: Path):
    """The ``.npy`` file ``path`` as an int64 array ``(batch, features)``.

    One vector ``(features,)`` becomes a batch of one. Refused with a
    ``UserError`` naming the file: a missing file, anything but one integer
    ``.npy`` array (floats, booleans, ``.npz`` archives, pickles), another
    rank, an empty batch or zero features. Value ranges are the caller's to
    check against its model or device.
    """
    import numpy as np

    if not path.is_file():
        raise UserError(f"no such input file: {path}")
    try:
        x = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise UserError(f"input {path} is not a .npy array: {e}") from None
    if not isinstance(x, np.ndarray):
        raise UserError(f"input {path} is an .npz archive, not one .npy array")
    if x.dtype == bool or not np.issubdtype(x.dtype, np.integer):
        raise UserError(f"input {path} must hold integers, not {x.dtype}")
    if x.ndim == 1:
        x = x.reshape(1, -1)
    if x.ndim != 2:
        raise UserError(f"input {path} must have shape (features,) or (batch, features), "
                        f"not {x.shape}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise UserError(f"input {path} is empty (shape {x.shape}); give at least one input "
                        f"of at least one feature")
    return x.astype(np.int64)
