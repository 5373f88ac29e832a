"""Data sets for training, as raw 8-bit unsigned features.

Every data set comes as a :class:`Dataset` of ``uint8`` feature matrices
(samples x features) and ``int64`` labels: exactly what the integer network
reads (``input_width = 8``, unsigned). The trainer scales them to floats
itself (``x / 255``).

``digits``
    scikit-learn's bundled 8x8 digits (1797 samples, 64 features, 10
    classes). Its pixel values 0..16 are scaled to 0..255 integers,
    ``floor(v * 255 / 16 + 1/2)``. The train/test split is fixed: 25 % of
    each class, drawn with a fixed seed, is the test set (450 test, 1347
    train samples), whatever the training seed.
``fashion-mnist``
    Zalando's Fashion-MNIST as IDX files, by default from
    ``/usr/share/datasets/fashion-mnist/`` (Debian's package
    ``dataset-fashion-mnist``): 60000 train, 10000 test, 784 features.
a folder path
    any folder of MNIST-format IDX files: ``train-images-idx3-ubyte``,
    ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
    ``t10k-labels-idx1-ubyte`` (a ``.`` instead of the last ``-`` before
    ``idx`` is accepted too), each plain or gzip-compressed (``.gz``).

The IDX format (LeCun's MNIST page): a 4-byte magic ``0x00 0x00 TYPE NDIM``,
``NDIM`` big-endian uint32 dimensions, then the data in C order, big-endian.
:func:`read_idx` reads it (gzip detected from the content, not the name) and
:func:`write_idx` writes it.
"""

from __future__ import annotations

import gzip
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["Dataset", "DatasetNotFound", "IdxFormatError", "read_idx", "write_idx",
           "load_dataset", "load_digits", "load_idx_folder", "FASHION_MNIST_DIR",
           "DATASETS", "IDX_FILES"]

#: Where Debian's ``dataset-fashion-mnist`` installs the IDX files.
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
#: Named data sets :func:`load_dataset` knows (anything else is a folder path).
DATASETS = ("digits", "fashion-mnist")
#: (split, kind, IDX rank) of the four files of an MNIST-format folder.
IDX_FILES = (("train", "images", 3), ("train", "labels", 1),
             ("t10k", "images", 3), ("t10k", "labels", 1))

#: IDX type byte -> big-endian NumPy dtype.
_IDX_TYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"),
              0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_GZIP_MAGIC = b"\x1f\x8b"
#: The fixed seed and test fraction of the digits split.
_DIGITS_SPLIT_SEED = 0
_DIGITS_TEST_FRACTION = 0.25


class DatasetNotFound(FileNotFoundError):
    """A data set whose files are not there; the message says how to get them."""


class IdxFormatError(ValueError):
    """A file that is not a well-formed IDX file."""


@dataclass
class Dataset:
    """A classification data set as raw unsigned 8-bit features.

    Attributes
    ----------
    name : str
        ``"digits"``, ``"fashion-mnist"`` or the folder it came from.
    x_train, x_test : uint8 arrays (samples, features)
        Raw features, 0..255, exactly what the integer network reads.
    y_train, y_test : int64 arrays (samples,)
        Class labels 0..classes-1.
    classes : int
        Number of classes.
    image_shape : (H, W, C) or None
        The image behind the flat features (HWC order, channel fastest), for
        convolutional networks; None when the features are not an image.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: int
    image_shape: tuple | None = None

    #: Bits and signedness of a raw feature (the network's input format).
    input_width = 8
    input_signed = False

    @property
    def features(self) -> int:
        """Features per sample (the first layer's ``in_features``)."""
        return self.x_train.shape[1]

    def describe(self) -> str:
        return (f"{self.name}: {len(self.x_train)} train / {len(self.x_test)} test samples, "
                f"{self.features} features (uint8), {self.classes} classes")


# -- IDX files ---------------------------------------------------------------------------------


def read_idx(path) -> np.ndarray:
    """Read an IDX file (plain or gzip-compressed) into a native-endian array.

    Returns an array of the file's shape and type (``uint8`` for type 0x08,
    ``int8``, ``int16``, ``int32``, ``float32``, ``float64``). Raises
    :class:`IdxFormatError` naming the file for a bad magic, an unknown type,
    a truncated file or trailing bytes; :class:`FileNotFoundError` when it
    does not exist.
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, gzip.BadGzipFile) as e:
            raise IdxFormatError(f"IDX file {str(path)!r}: corrupt gzip data: {e}") from e
    return _parse_idx(raw, str(path))


def _parse_idx(raw: bytes, name: str) -> np.ndarray:
    def fail(msg):
        return IdxFormatError(f"IDX file {name!r}: {msg}")

    if len(raw) < 4:
        raise fail(f"only {len(raw)} bytes, too short for the 4-byte magic")
    if raw[0] != 0 or raw[1] != 0:
        raise fail(f"bad magic {raw[:4].hex()} (must start with 0000)")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_TYPES:
        known = ", ".join(f"0x{c:02X}" for c in _IDX_TYPES)
        raise fail(f"unknown data type 0x{code:02X} (known: {known})")
    if ndim < 1:
        raise fail("rank 0: an IDX file needs at least one dimension")
    head = 4 + 4 * ndim
    if len(raw) < head:
        raise fail(f"truncated header: {ndim} dimensions need {head} bytes, file has {len(raw)}")
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, 4))
    dtype = _IDX_TYPES[code]
    need = int(np.prod(dims, dtype=object)) * dtype.itemsize
    have = len(raw) - head
    if have < need:
        raise fail(f"truncated: shape {dims} of {dtype.name} needs {need} data bytes, "
                   f"file has {have}")
    if have > need:
        raise fail(f"{have - need} trailing bytes after the data of shape {dims}")
    data = np.frombuffer(raw, dtype, offset=head, count=need // dtype.itemsize)
    return data.astype(dtype.newbyteorder("="), copy=True).reshape(dims)


def write_idx(path, array) -> Path:
    """Write ``array`` as an IDX file; gzip-compressed when ``path`` ends in ``.gz``.

    The array's dtype must be one IDX knows (uint8, int8, int16, int32,
    float32, float64); it is written big-endian. Returns the path.
    """
    a = np.asarray(array)
    codes = {v.newbyteorder("=").str: k for k, v in _IDX_TYPES.items()}
    key = a.dtype.newbyteorder("=").str
    if key not in codes:
        raise ValueError(f"IDX cannot hold dtype {a.dtype}; use one of "
                         f"{', '.join(v.newbyteorder('=').name for v in _IDX_TYPES.values())}")
    if a.ndim < 1 or a.ndim > 255:
        raise ValueError(f"IDX arrays need rank 1..255, not {a.ndim}")
    buf = io.BytesIO()
    buf.write(bytes([0, 0, codes[key], a.ndim]))
    buf.write(np.asarray(a.shape, ">u4").tobytes())
    buf.write(np.ascontiguousarray(a, a.dtype.newbyteorder(">")).tobytes())
    data = buf.getvalue()
    path = Path(path)
    if path.name.endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)
    return path


def _find_idx(folder: Path, split: str, kind: str, rank: int) -> Path | None:
    """The file of ``split``/``kind`` in ``folder``: plain preferred over ``.gz``."""
    for sep in ("-", "."):
        for suffix in ("", ".gz"):
            p = folder / f"{split}-{kind}{sep}idx{rank}-ubyte{suffix}"
            if p.is_file():
                return p
    return None


def load_idx_folder(folder, name: str | None = None, *,
                    install_hint: str | None = None) -> Dataset:
    """An MNIST-format data set from the four IDX files in ``folder``.

    Images must be ``uint8`` of rank >= 2 (samples, ...), flattened to
    (samples, features); labels ``uint8`` of rank 1, one per image. Raises
    :class:`DatasetNotFound` (naming the missing files, plus
    ``install_hint``) and :class:`IdxFormatError` for malformed files.
    """
    folder = Path(folder)
    name = name or str(folder)
    if not folder.is_dir():
        hint = f"; {install_hint}" if install_hint else ""
        raise DatasetNotFound(f"data set {name}: folder {str(folder)!r} does not exist{hint}")
    paths = {(split, kind): _find_idx(folder, split, kind, rank)
             for split, kind, rank in IDX_FILES}
    missing = [f"{split}-{kind}-idx{rank}-ubyte[.gz]" for split, kind, rank in IDX_FILES
               if paths[split, kind] is None]
    if missing:
        hint = f"; {install_hint}" if install_hint else ""
        raise DatasetNotFound(f"data set {name}: {str(folder)!r} lacks {', '.join(missing)}"
                              f"{hint}")
    arrays = {}
    for split, kind, rank in IDX_FILES:
        p = paths[split, kind]
        a = read_idx(p)
        if a.dtype != np.uint8:
            raise IdxFormatError(f"IDX file {str(p)!r}: {kind} must be unsigned bytes (type "
                                 f"0x08), not {a.dtype}")
        if kind == "images" and a.ndim < 2:
            raise IdxFormatError(f"IDX file {str(p)!r}: images need rank >= 2 "
                                 f"(samples, ...), not shape {a.shape}")
        if kind == "labels" and a.ndim != 1:
            raise IdxFormatError(f"IDX file {str(p)!r}: labels need rank 1, not shape {a.shape}")
        arrays[split, kind] = a
    for split in ("train", "t10k"):
        xi, yl = arrays[split, "images"], arrays[split, "labels"]
        if len(xi) != len(yl):
            raise IdxFormatError(f"data set {name}: {len(xi)} {split} images but {len(yl)} "
                                 f"labels")
        if len(xi) == 0:
            raise IdxFormatError(f"data set {name}: no {split} samples")
    xtr = arrays["train", "images"].reshape(len(arrays["train", "images"]), -1)
    xte = arrays["t10k", "images"].reshape(len(arrays["t10k", "images"]), -1)
    if xtr.shape[1] != xte.shape[1]:
        raise IdxFormatError(f"data set {name}: train images have {xtr.shape[1]} features, "
                             f"test images {xte.shape[1]}")
    ytr = arrays["train", "labels"].astype(np.int64)
    yte = arrays["t10k", "labels"].astype(np.int64)
    classes = int(max(ytr.max(), yte.max())) + 1
    dims = arrays["train", "images"].shape[1:]
    image = {1: None, 2: (*dims, 1), 3: dims}.get(len(dims))
    return Dataset(name, xtr, ytr, xte, yte, classes, image)


# -- named data sets ------------------------------------------------------------------------------


def load_digits() -> Dataset:
    """scikit-learn's 8x8 digits, 0..16 scaled to 0..255, the fixed split."""
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits()
    x = np.floor(d.data * (255.0 / 16.0) + 0.5).astype(np.uint8)
    y = d.target.astype(np.int64)
    rng = np.random.default_rng(_DIGITS_SPLIT_SEED)
    test = np.zeros(len(y), bool)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        pick = rng.permutation(idx)[:int(round(_DIGITS_TEST_FRACTION * len(idx)))]
        test[pick] = True
    return Dataset("digits", x[~test], y[~test], x[test], y[test], int(y.max()) + 1, (8, 8, 1))


def load_fashion_mnist(folder=None) -> Dataset:
    """Fashion-MNIST from ``folder`` (default :data:`FASHION_MNIST_DIR`)."""
    folder = FASHION_MNIST_DIR if folder is None else Path(folder)
    return load_idx_folder(folder, "fashion-mnist", install_hint=(
        "install it with `apt-get install dataset-fashion-mnist` (Debian), or pass "
        "the folder of its IDX files as the data set"))


def load_dataset(spec) -> Dataset:
    """``"digits"``, ``"fashion-mnist"`` or the path of an IDX folder."""
    if spec == "digits":
        return load_digits()
    if spec == "fashion-mnist":
        return load_fashion_mnist()
    path = Path(spec)
    if not path.exists():
        raise DatasetNotFound(f"unknown data set {str(spec)!r}: not one of "
                              f"{', '.join(DATASETS)} and no such folder")
    return load_idx_folder(path)
