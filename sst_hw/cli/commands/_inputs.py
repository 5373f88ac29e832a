"""Reading the integer inputs a user gives as ``.npy`` (``sst-hw infer``,
``sst-hw sim``): one checked path from file to an int64 batch."""

from __future__ import annotations

from pathlib import Path

from sst_hw.cli.errors import UserError

#: Largest float that still holds every integer up to it exactly (2**53).
_FLOAT_EXACT = 2.0 ** 53


def read_npy(path: Path, integral_floats: bool = False):
    """The ``.npy`` file ``path`` as an int64 array of any rank.

    Refused with a ``UserError`` naming the file: a missing file, anything
    but one ``.npy`` array (``.npz`` archives, pickles), booleans, integers
    beyond int64, and floats -- unless ``integral_floats``, then floats
    that are all exactly integers (``3.0``, not ``3.5``, NaN or inf) are
    taken as those integers.
    """
    import numpy as np

    if not path.is_file():
        raise UserError(f"no such input file: {path}")
    try:
        x = np.load(path, allow_pickle=False)
    except Exception as e:  # noqa: BLE001 - a damaged header raises SyntaxError, TokenError...
        why = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"input {path} is not a .npy array: {why}") from None
    if not isinstance(x, np.ndarray):
        raise UserError(f"input {path} is an .npz archive, not one .npy array")
    if integral_floats and np.issubdtype(x.dtype, np.floating):
        exact = np.isfinite(x) & (x == np.round(x)) & (np.abs(x) <= _FLOAT_EXACT)
        if not exact.all():
            idx = tuple(int(v) for v in np.argwhere(~exact)[0])
            raise UserError(f"input {path} must hold integers (or floats that are exactly "
                            f"integers), not {x[idx]!r} at {list(idx)}")
        return x.astype(np.int64)
    if x.dtype.kind not in "iu":          # not bool, nor timedelta64 (a NumPy "integer")
        raise UserError(f"input {path} must hold integers, not {x.dtype}")
    if x.size and x.dtype == np.uint64 and int(x.max()) > np.iinfo(np.int64).max:
        raise UserError(f"input {path} holds {int(x.max())}, beyond any input range")
    return x.astype(np.int64)


def load_input_batch(path: Path):
    """The ``.npy`` file ``path`` as an int64 array ``(batch, features)``.

    One vector ``(features,)`` becomes a batch of one. Refused with a
    ``UserError`` naming the file: a missing file, anything but one integer
    ``.npy`` array (floats, booleans, ``.npz`` archives, pickles), another
    rank, an empty batch or zero features. Value ranges are the caller's to
    check against its model or device.
    """
    return check_batch(read_npy(path), path)


def check_batch(x, path: Path):
    """``x`` (int64, read from ``path``) as a non-empty ``(batch, features)``
    batch: a ``(features,)`` vector becomes a batch of one; another rank, an
    empty batch or zero features is a ``UserError``."""
    if x.ndim == 1:
        x = x.reshape(1, -1)
    if x.ndim != 2:
        raise UserError(f"input {path} must have shape (features,) or (batch, features), "
                        f"not {x.shape}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise UserError(f"input {path} is empty (shape {x.shape}); give at least one input "
                        f"of at least one feature")
    return x
