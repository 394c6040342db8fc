"""Precomputed face embeddings ("features") in the formats face-clustering research publishes.

:func:`read_features` reads one feature file and its labels, validates them the way the embed
stage's own ``.npz`` reader does (:func:`facecluster.stages.embed.read_embeddings`) and returns
a :class:`FeatureSet`: float32 C-contiguous finite rows, one ``str`` identity per row, and the
sha256 of every file read so that a result can name exactly what it was computed from.

Formats (``format:``; ``"auto"`` goes by the suffix, :func:`infer_format`):

=======  ==========================  ==============================================================
format   suffixes                    layout
=======  ==========================  ==============================================================
npz      ``.npz``                    arrays ``array`` (default ``embeddings``, (n, d)) and
                                     ``labels`` (default ``labels``, (n,)), read without pickle
hdf5     ``.h5`` ``.hdf5`` ``.he5``  dataset ``array`` (a path inside the file, groups allowed:
                                     ``grp/feats``; default the only 2-D numeric dataset);
                                     labels a dataset ``labels`` in the same file or
                                     ``labels_path``; byte strings are decoded (UTF-8)
bin      ``.bin``                    learn-to-cluster's layout: raw little-endian float32 rows,
                                     no header, so ``dim`` is required; labels in ``labels_path``
                                     (its ``.meta``: one label per line)
mat      ``.mat``                    MATLAB v4-v7 (:func:`scipy.io.loadmat`): variable ``array``
                                     (default the only 2-D numeric variable) and ``labels`` (a
                                     variable name, or ``labels_path``); (n, 1) and (1, n) label
                                     vectors are flattened.  MATLAB v7.3 files are HDF5 inside:
                                     read them with ``format: hdf5``
=======  ==========================  ==============================================================

MATLAB stores matrices column-major, so a file written there often holds (d, n): set
``transpose: true`` (a label count that matches the other axis says so in the error).  A
labels file (``labels_path``) is a JSON list of ints or strings (``.json``) or text with one
label per line.  Float labels that are all whole numbers become ints first, so a label reads
``"1"``, never ``"1.0"``.

The clustering grids assume unit vectors.  Rows whose L2 norm is off 1 by more than 1e-3 are
L2-normalised on read with ``normalize: true``; otherwise they are kept as they are and a
warning says so.  Rows that are already unit vectors are never touched: ``X`` is then exactly
the stored values cast to float32.

Published feature sets (:data:`PUBLISHED`, fetched with :func:`acquire_published`):

* ``muct-facenet-20170512``: MUCT (3,755 images of 276 subjects) embedded with David Sandberg's
  FaceNet model 20170512-110547 (Inception-ResNet-v1 trained on MS-Celeb-1M, 128-d: the
  checkpoint nyoki-mtl's Keras ``facenet_keras.h5`` was converted from) on MTCNN 160x160 crops
  of the full-resolution MUCT images, as published by the GitHub repository
  ``zengsn/muct-cropped`` (folder ``FaceNet-20170512-110547``, pinned at
  :data:`PUBLISHED_COMMIT`).  The vectors are the HDF5 dataset ``dataset`` (3755, 128) float64,
  already L2-normalised; the labels a JSON list of subject indices 0-275.  One URL per file
  (raw.githubusercontent.com at the pinned commit), each verified against its sha256 and Git
  blob id; the offline mirror's copy (``muct/facenet-20170512-110547/``) is used first and must
  pass the same checks.
"""

from __future__ import annotations

import json
import logging
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from facecluster.data.download import (
    RemoteFile,
    download_any,
    find_in_mirror,
    verify_checksums,
)
from facecluster.errors import UserError
from facecluster.integrity import file_hash

log = logging.getLogger(__name__)

__all__ = [
    "FORMATS",
    "PUBLISHED",
    "PUBLISHED_COMMIT",
    "FeatureSet",
    "FeaturesError",
    "PublishedFeatures",
    "acquire_published",
    "infer_format",
    "read_features",
]

FORMATS = ("npz", "hdf5", "bin", "mat")
_SUFFIXES = {
    ".npz": "npz",
    ".h5": "hdf5",
    ".hdf5": "hdf5",
    ".he5": "hdf5",
    ".bin": "bin",
    ".mat": "mat",
}
#: rows whose L2 norm is further than this from 1 are "not normalised"
NORM_TOLERANCE = 1e-3
_MAX_LISTED = 12  # names listed in an error before "…"


class FeaturesError(UserError, ValueError):
    """A feature file is unreadable or malformed (one line, starts with the path)."""


@dataclass(frozen=True)
class FeatureSet:
    """The validated rows of a feature file.

    Attributes
    ----------
    X : numpy.ndarray
        (n, d) float32, C-contiguous, finite.
    labels : numpy.ndarray
        (n,) str: the identity of each row.
    sources : dict of str to str
        ``{file name: sha256 hex}`` of every file read (the vectors, and the labels file when
        separate).
    norms : tuple of float
        ``(min, max)`` L2 norm of the rows as stored, before any normalisation.
    normalised : bool
        True when the rows were L2-normalised on read.
    source_dtype : str
        The dtype of the stored vectors (``"float64"``).
    """

    X: np.ndarray
    labels: np.ndarray
    sources: dict[str, str]
    norms: tuple[float, float]
    normalised: bool
    source_dtype: str

    @property
    def n(self) -> int:
        """Number of rows."""
        return int(self.X.shape[0])

    @property
    def dim(self) -> int:
        """Dimension of each row."""
        return int(self.X.shape[1])


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def _short(exc: BaseException) -> str:
    """An exception's text on one line (``Type`` alone when it has none)."""
    text = " ".join(str(exc).split())
    return text if text else type(exc).__name__


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:_MAX_LISTED])
    if len(names) > _MAX_LISTED:
        shown += f", … ({len(names)} in all)"
    return shown or "none"


def _is_numeric(dtype: np.dtype) -> bool:
    return dtype.kind in "iuf"


def infer_format(path: str | Path) -> str:
    """The feature format of ``path`` from its suffix (one of :data:`FORMATS`).

    Parameters
    ----------
    path : str or Path
        A feature file: ``.npz``; ``.h5``, ``.hdf5`` or ``.he5``; ``.bin``; ``.mat``.

    Raises
    ------
    FeaturesError
        Any other suffix: set ``format:`` explicitly.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    fmt = _SUFFIXES.get(suffix)
    if fmt is None:
        shown = repr(path.suffix) if path.suffix else "no suffix"
        raise FeaturesError(
            f"{path}: cannot tell the feature format from the suffix ({shown}); set format: to "
            f"one of {', '.join(FORMATS)}"
        )
    return fmt


# --------------------------------------------------------------------------------------------
# labels
# --------------------------------------------------------------------------------------------
def _label_strings(raw: Any, where: str, *, strip: bool = False) -> np.ndarray:
    """Labels of any stored kind as a (n,) str array; ``where`` starts every error."""
    arr = np.asarray(raw)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.ravel()
    if arr.ndim != 1:
        raise FeaturesError(f"{where}: labels must be one per row, (n,), got shape {arr.shape}")
    kind = arr.dtype.kind
    if kind == "O":  # h5py variable-length strings, MATLAB cell arrays
        items = []
        for i, item in enumerate(arr.tolist()):
            if isinstance(item, np.ndarray):
                if item.size != 1:
                    raise FeaturesError(
                        f"{where}: label {i} holds {item.size} values, not one (shape "
                        f"{item.shape})"
                    )
                item = item.item()
            if isinstance(item, bytes):
                item = _decode(item, where)
            if isinstance(item, bool) or not isinstance(item, (str, int, float)):
                raise FeaturesError(
                    f"{where}: label {i} is a {type(item).__name__}; labels must be integers "
                    "or strings"
                )
            items.append(item)
        if all(isinstance(v, str) for v in items):
            arr = np.array(items, dtype=str)
        elif any(isinstance(v, str) for v in items):
            arr = np.array([_number_text(v) if not isinstance(v, str) else v for v in items])
        else:
            arr = np.array(items)
        kind = arr.dtype.kind
    if kind == "S":
        arr = np.array([_decode(b, where) for b in arr.tolist()], dtype=str)
        kind = "U"
    if kind == "f":
        if not np.isfinite(arr).all():
            bad = np.flatnonzero(~np.isfinite(arr))
            raise FeaturesError(
                f"{where}: {bad.size} label(s) are NaN or infinite (first at row {int(bad[0])})"
            )
        if np.all(arr == np.round(arr)) and np.abs(arr).max(initial=0) < 2**53:
            arr = arr.astype(np.int64)
        return arr.astype(str)
    if kind in "iu":
        return arr.astype(str)
    if kind == "U":
        out = arr.astype(str)
        return np.char.strip(out) if strip else out
    raise FeaturesError(
        f"{where}: labels must be integers or strings, got dtype {arr.dtype} "
        "(give labels_path: a .json list or a text file, one label per line)"
    )


def _number_text(v: float | int) -> str:
    return str(int(v)) if isinstance(v, float) and math.isfinite(v) and v.is_integer() else str(v)


def _decode(value: bytes, where: str) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FeaturesError(f"{where}: a label is not valid UTF-8 ({_short(exc)})") from None


def _read_labels_file(path: Path) -> np.ndarray:
    """Labels from a ``.json`` list or a text file with one label per line."""
    if not path.is_file():
        raise FeaturesError(f"{path}: labels file not found")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FeaturesError(f"{path}: labels file is not UTF-8 text ({_short(exc)})") from None
    except OSError as exc:
        raise FeaturesError(f"{path}: cannot read the labels file ({_short(exc)})") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FeaturesError(
                f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
            ) from None
        if not isinstance(data, list):
            raise FeaturesError(
                f"{path}: expected a JSON list of labels (ints or strings), got a "
                f"{type(data).__name__}"
            )
        for i, item in enumerate(data):
            if isinstance(item, bool) or not isinstance(item, (int, str)):
                raise FeaturesError(
                    f"{path}: item {i} is {json.dumps(item)[:40]}; labels must be ints or strings"
                )
        if not data:
            raise FeaturesError(f"{path}: the labels list is empty")
        return np.array([str(v) for v in data], dtype=str)
    lines = [line.strip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    if not lines:
        raise FeaturesError(f"{path}: the labels file holds no labels")
    for number, line in enumerate(lines, start=1):
        if not line:
            raise FeaturesError(
                f"{path}: line {number} is blank; a labels file holds one label per line"
            )
    return np.array(lines, dtype=str)


# --------------------------------------------------------------------------------------------
# the formats: each returns (vectors as stored, labels as stored or None)
# --------------------------------------------------------------------------------------------
def _read_npz(path: Path, array: str | None, labels: str | None) -> tuple[np.ndarray, Any]:
    array = array or "embeddings"
    try:
        npz = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise FeaturesError(f"{path}: not a readable .npz file ({_short(exc)})") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise FeaturesError(f"{path}: expected an .npz archive with named arrays, got one array")
    with npz:
        names = sorted(npz.files)
        wanted = [array] if labels is None else [array, labels]
        missing = [k for k in wanted if k not in npz.files]
        if missing:
            raise FeaturesError(
                f"{path}: no array {', '.join(map(repr, missing))}; it holds "
                f"{_listing(names)} (set array: / labels:)"
            )
        try:
            X = npz[array]
            y = npz[labels] if labels is not None else None
        except (ValueError, OSError, zipfile.BadZipFile) as exc:  # object arrays need pickle
            raise FeaturesError(f"{path}: cannot read its arrays ({_short(exc)})") from None
    return X, y


def _h5_datasets(f: Any) -> dict[str, Any]:
    import h5py

    found: dict[str, Any] = {}

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Dataset):
            found[name] = obj

    f.visititems(visit)
    return found


def _describe(name: str, ds: Any) -> str:
    return f"{name} {tuple(ds.shape)} {ds.dtype}"


def _h5_labels(ds: Any, where: str) -> Any:
    import h5py

    if h5py.check_string_dtype(ds.dtype) is not None:
        return ds.asstr()[()] if ds.dtype.kind == "O" else ds[()]
    if ds.dtype.kind not in "iufSU":
        raise FeaturesError(
            f"{where}: labels must be integers or strings, got dtype {ds.dtype} "
            "(give labels_path: a .json list or a text file, one label per line)"
        )
    return ds[()]


def _only_matrix(
    path: Path,
    shapes: dict[str, tuple[tuple[int, ...], np.dtype]],
    labels: str | None,
    what: str,
    listed: str,
) -> str:
    """The name of the file's one 2-D numeric array (not the labels'): the default ``array``.

    (n, 1) label columns are 2-D too, so when several qualify the one with both sides > 1
    is taken if it is alone; otherwise the user must name it.
    """
    candidates = [
        k
        for k, (shape, dtype) in shapes.items()
        if len(shape) == 2 and _is_numeric(dtype) and k != labels
    ]
    if len(candidates) > 1:
        wide = [k for k in candidates if min(shapes[k][0]) > 1]
        candidates = wide if len(wide) == 1 else candidates
    if len(candidates) != 1:
        which = "no" if not candidates else "several"
        raise FeaturesError(
            f"{path}: {which} 2-D numeric {what}(s) to read the vectors from; it holds "
            f"{listed}; set array: to one"
        )
    return candidates[0]


def _read_hdf5(path: Path, array: str | None, labels: str | None) -> tuple[np.ndarray, Any]:
    import h5py

    if not h5py.is_hdf5(path):
        with path.open("rb") as fh:
            head = fh.read(6)
        hint = " (a MATLAB v4-v7 file? set format: mat)" if head == b"MATLAB" else ""
        raise FeaturesError(f"{path}: not an HDF5 file{hint}")
    try:
        with h5py.File(path, "r") as f:
            datasets = _h5_datasets(f)
            listed = _listing([_describe(k, v) for k, v in datasets.items()])
            label_key = labels.strip("/") if labels is not None else None
            if label_key is not None:
                if label_key not in datasets:
                    raise FeaturesError(
                        f"{path}: no dataset {labels!r} for the labels; it holds {listed}"
                    )
            if array is None:
                shapes = {k: (ds.shape, ds.dtype) for k, ds in datasets.items()}
                key = _only_matrix(path, shapes, label_key, "dataset", listed)
            else:
                key = array.strip("/")
                if key not in datasets:
                    kind = "a group, not a dataset" if key in f else "not in the file"
                    raise FeaturesError(
                        f"{path}: array {array!r} is {kind}; its datasets are {listed}"
                    )
            ds = datasets[key]
            if not _is_numeric(ds.dtype):
                raise FeaturesError(
                    f"{path}: dataset {key!r} must be numeric (integer or float), got dtype "
                    f"{ds.dtype}"
                )
            X = ds[()]
            y = _h5_labels(datasets[label_key], f"{path}") if label_key is not None else None
    except FeaturesError:
        raise
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise FeaturesError(f"{path}: cannot read the HDF5 file ({_short(exc)})") from None
    return np.asarray(X), y


def _read_bin(path: Path, dim: int | None) -> np.ndarray:
    if dim is None:
        raise FeaturesError(
            f"{path}: a .bin feature file has no header; set dim: to the vector dimension"
        )
    size = path.stat().st_size
    if size % (4 * dim):
        raise FeaturesError(
            f"{path}: {size} bytes is not a whole number of float32 rows of dim {dim} "
            f"({4 * dim} bytes each); check dim:"
        )
    try:
        flat = np.fromfile(path, dtype="<f4")
    except (OSError, ValueError) as exc:
        raise FeaturesError(f"{path}: cannot read the .bin file ({_short(exc)})") from None
    return flat.reshape(-1, dim)


def _read_mat(path: Path, array: str | None, labels: str | None) -> tuple[np.ndarray, Any]:
    import h5py
    import scipy.io

    try:
        contents = scipy.io.loadmat(path)
    except Exception as exc:  # scipy raises anything from IndexError to NotImplementedError
        if h5py.is_hdf5(path):
            raise FeaturesError(
                f"{path}: a MATLAB v7.3 file (HDF5 inside) that scipy cannot read; set "
                "format: hdf5 (MATLAB stores (d, n): transpose: true may be needed)"
            ) from None
        raise FeaturesError(f"{path}: not a readable MATLAB .mat file ({_short(exc)})") from None
    variables = {k: v for k, v in contents.items() if not k.startswith("__")}

    def describe(k: str) -> str:
        v = variables[k]
        return f"{k} {v.shape} {v.dtype}" if isinstance(v, np.ndarray) else k

    listed = _listing([describe(k) for k in variables])
    if labels is not None and labels not in variables:
        raise FeaturesError(f"{path}: no variable {labels!r} for the labels; it holds {listed}")
    if array is None:
        shapes = {k: (v.shape, v.dtype) for k, v in variables.items() if isinstance(v, np.ndarray)}
        array = _only_matrix(path, shapes, labels, "variable", listed)
    elif array not in variables:
        raise FeaturesError(f"{path}: no variable {array!r}; it holds {listed}")
    X = variables[array]
    if not isinstance(X, np.ndarray):
        raise FeaturesError(f"{path}: variable {array!r} is not a matrix")
    return X, (variables[labels] if labels is not None else None)


# --------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------
def _sources(paths: list[Path]) -> dict[str, str]:
    out: dict[str, str] = {}
    for p in paths:
        key = p.name if p.name not in out else str(p)
        out[key] = file_hash(p, "sha256")
    return out


def read_features(
    path: str | Path,
    *,
    format: str = "auto",
    array: str | None = None,
    labels: str | None = None,
    labels_path: str | Path | None = None,
    dim: int | None = None,
    transpose: bool = False,
    normalize: bool = False,
) -> FeatureSet:
    """Read and validate a feature file and its labels.

    Parameters
    ----------
    path : str or Path
        The vectors (see the module docstring for the formats).
    format : {"auto", "npz", "hdf5", "bin", "mat"}
        ``"auto"``: from the suffix (:func:`infer_format`).
    array : str, optional
        The vectors' array (npz), dataset path (hdf5, ``"grp/feats"``) or variable (mat).
        Default: ``embeddings`` (npz); the only 2-D numeric dataset / variable (hdf5, mat).
        Not used by bin.
    labels : str, optional
        The labels' array, dataset or variable in the same file (npz default ``labels``).
        Give either this or ``labels_path``.
    labels_path : str or Path, optional
        A separate labels file: ``.json`` list of ints/strings, or text, one label per line
        (bin's ``.meta``).  Required for bin.
    dim : int, optional
        The vector dimension: required for bin (which has no header); for the other formats a
        check of the dimension read.
    transpose : bool
        The file stores (d, n) (MATLAB's column-major layout): transpose it to (n, d).
    normalize : bool
        L2-normalise rows whose norm is off 1 by more than 1e-3 (otherwise a warning).

    Returns
    -------
    FeatureSet

    Raises
    ------
    FeaturesError
        One line starting with the path: a missing file, a format that cannot be read, a
        missing array, wrong shapes or dtypes, a label count that is not the row count, NaN or
        infinite values, a zero row that cannot be normalised.
    """
    path = Path(path)
    if format != "auto" and format not in FORMATS:
        raise FeaturesError(
            f"{path}: unknown feature format {format!r}; set format: to auto or one of "
            f"{', '.join(FORMATS)}"
        )
    fmt = infer_format(path) if format == "auto" else format
    if not path.is_file():
        raise FeaturesError(f"{path}: feature file not found")
    if labels is not None and labels_path is not None:
        raise FeaturesError(
            f"{path}: give labels: (an array in the file) or labels_path: (a file), not both"
        )
    if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int) or dim < 1):
        raise FeaturesError(f"{path}: dim must be a whole number >= 1, got {dim!r}")
    lpath = Path(labels_path) if labels_path is not None else None

    if fmt == "npz":
        raw_X, raw_y = _read_npz(path, array, labels or (None if lpath else "labels"))
    elif fmt == "hdf5":
        raw_X, raw_y = _read_hdf5(path, array, labels)
    elif fmt == "bin":
        if array is not None or labels is not None:
            raise FeaturesError(
                f"{path}: a .bin file holds only vectors: array:/labels: do not apply; give "
                "labels_path: (its .meta file)"
            )
        raw_X, raw_y = _read_bin(path, dim), None
        if lpath is None:
            raise FeaturesError(
                f"{path}: a .bin file holds no labels; set labels_path: (its .meta file, one "
                "label per line)"
            )
    else:
        raw_X, raw_y = _read_mat(path, array, labels)
    if raw_y is None and lpath is None:
        raise FeaturesError(
            f"{path}: no labels given; set labels: (an array in the file) or labels_path: "
            "(a .json list or a text file, one label per line)"
        )

    raw_X = np.asarray(raw_X)
    source_dtype = str(raw_X.dtype)
    if not _is_numeric(raw_X.dtype):
        raise FeaturesError(
            f"{path}: the vectors must be numeric (integer or float), got dtype {raw_X.dtype}"
        )
    if transpose:
        if raw_X.ndim != 2:
            raise FeaturesError(f"{path}: cannot transpose vectors of shape {raw_X.shape}")
        raw_X = raw_X.T
    if raw_X.ndim != 2 or raw_X.shape[0] < 1 or raw_X.shape[1] < 1:
        raise FeaturesError(
            f"{path}: the vectors must have shape (n, d) with n, d >= 1, got {raw_X.shape}"
        )
    n, d = raw_X.shape
    if dim is not None and fmt != "bin" and d != dim:
        hint = "; stored as (d, n)? set transpose: true" if n == dim and not transpose else ""
        raise FeaturesError(f"{path}: vectors have dimension {d}, not dim: {dim}{hint}")

    if lpath is not None:
        y = _read_labels_file(lpath)
    else:
        y = _label_strings(raw_y, f"{path}", strip=fmt == "mat")
    if y.shape[0] != n:
        where = f" in {lpath}" if lpath is not None else ""
        hint = ""
        if y.shape[0] == d and not transpose:
            hint = "; stored as (d, n)? set transpose: true"
        elif y.shape[0] == d and transpose:
            hint = "; transpose: true is set, the file may hold (n, d) already"
        raise FeaturesError(f"{path}: {y.shape[0]} labels{where} for {n} vectors{hint}")

    if raw_X.dtype.kind == "f":
        finite = np.isfinite(raw_X).all(axis=1)
        if not finite.all():
            bad = np.flatnonzero(~finite)
            raise FeaturesError(
                f"{path}: {bad.size} of {n} vector rows hold NaN or infinite values "
                f"(first at row {int(bad[0])})"
            )
    with np.errstate(over="ignore"):
        X = np.ascontiguousarray(raw_X, dtype=np.float32)
    if raw_X.dtype != np.float32 and not np.isfinite(X).all():
        bad = np.flatnonzero(~np.isfinite(X).all(axis=1))
        raise FeaturesError(
            f"{path}: {bad.size} of {n} vector rows hold values beyond the float32 range "
            f"(first at row {int(bad[0])})"
        )

    norms = np.linalg.norm(raw_X.astype(np.float64, copy=False), axis=1)
    norm_range = (float(norms.min()), float(norms.max()))
    normalised = False
    if np.abs(norms - 1.0).max() > NORM_TOLERANCE:
        if normalize:
            zero = np.flatnonzero(norms == 0)
            if zero.size:
                raise FeaturesError(
                    f"{path}: vector row {int(zero[0])} is all zeros and cannot be "
                    f"L2-normalised ({zero.size} such row(s))"
                )
            unit = raw_X.astype(np.float64, copy=False) / norms[:, None]
            X = np.ascontiguousarray(unit, dtype=np.float32)
            normalised = True
        else:
            log.warning(
                "%s: vectors are not L2-normalised (norms %.4g..%.4g); set normalize: true to "
                "L2-normalise them",
                path, norm_range[0], norm_range[1],
            )  # fmt: skip

    files = [path] if lpath is None else [path, lpath]
    log.info(
        "%s: %d vectors of dimension %d (%s), %d identities%s",
        path, n, d, source_dtype, len(np.unique(y)), ", L2-normalised" if normalised else "",
    )  # fmt: skip
    return FeatureSet(
        X=X,
        labels=y,
        sources=_sources(files),
        norms=norm_range,
        normalised=normalised,
        source_dtype=source_dtype,
    )


# --------------------------------------------------------------------------------------------
# published feature sets
# --------------------------------------------------------------------------------------------
PUBLISHED_COMMIT = "ba26cacc7268ffba1efea84c86e7a86e9ce0dd6c"  # zengsn/muct-cropped
_ZENGSN_BASE = (
    f"https://raw.githubusercontent.com/zengsn/muct-cropped/{PUBLISHED_COMMIT}/"
    "FaceNet-20170512-110547/"
)


@dataclass(frozen=True)
class PublishedFeatures:
    """A feature set published by others: where it lives and how to read it.

    ``mirror_dir`` is relative to ``$FACECLUSTER_MIRROR``; ``format``, ``array`` are the
    :func:`read_features` settings of ``vectors``; ``labels`` is a separate labels file
    (``labels_path``).  ``n``, ``n_identities`` and ``dim`` are what the files hold.
    """

    name: str
    description: str
    mirror_dir: str
    vectors: RemoteFile
    labels: RemoteFile
    format: str
    array: str
    n: int
    n_identities: int
    dim: int


def _zengsn_file(filename: str, sha256: str, git_sha1: str) -> RemoteFile:
    return RemoteFile(filename, (_ZENGSN_BASE + filename,), sha256=sha256, git_sha1=git_sha1)


PUBLISHED: dict[str, PublishedFeatures] = {
    "muct-facenet-20170512": PublishedFeatures(
        name="muct-facenet-20170512",
        description=(
            "MUCT embedded with Sandberg's FaceNet 20170512-110547 (Inception-ResNet-v1, "
            "MS-Celeb-1M, 128-d) on MTCNN 160x160 crops of the full-resolution images, as "
            f"published by github.com/zengsn/muct-cropped at {PUBLISHED_COMMIT[:12]}"
        ),
        mirror_dir="muct/facenet-20170512-110547",
        vectors=_zengsn_file(
            "MUCTCropRGB_mtcnnpy_160.facenet.h5",
            sha256="3f71d0b30f9372e27ec32ed9680f201a7fba90aaba394e801e8e0c6f1ac473a4",
            git_sha1="6327b61e0abedc0c715abae26d8e2a993b225052",
        ),
        labels=_zengsn_file(
            "MUCTCropRGB_mtcnnpy_160.labels.json",
            sha256="e2e47601f308289fe54717d4c434464cf7d0c723b6d0f58ef234a80666208519",
            git_sha1="6a57aa823d859bfd3435fe3d15221bd42cdc1e70",
        ),
        format="hdf5",
        array="dataset",
        n=3755,
        n_identities=276,
        dim=128,
    ),
}


def _acquire_file(spec: PublishedFeatures, remote: RemoteFile, raw_dir: Path) -> Path:
    rel = f"{spec.mirror_dir}/{remote.filename}"
    found = find_in_mirror(spec.name, [rel])
    if found is not None and found.is_file():
        verify_checksums(found, **remote.checks)  # a bad copy is an error, never replaced
        return found
    return download_any(spec.name, remote, raw_dir / remote.filename, mirror_hint=rel)


def acquire_published(name: str, raw_dir: str | Path) -> tuple[Path, Path]:
    """Find or fetch a published feature set; returns ``(vectors path, labels path)``.

    Each file comes from the offline mirror (``$FACECLUSTER_MIRROR/<mirror_dir>/<file>``) when
    it holds it, with its checksums verified; otherwise it is downloaded into ``raw_dir``
    (:func:`~facecluster.data.download.download_any`, verified, atomic; a verified copy
    already there is reused).

    Parameters
    ----------
    name : str
        A key of :data:`PUBLISHED`.
    raw_dir : str or Path
        Where downloads go (``raw_dir/<file name>``).

    Returns
    -------
    tuple of Path
        The vectors file and the labels file; read them with :func:`read_features`
        (``format=spec.format, array=spec.array, labels_path=<labels path>``).

    Raises
    ------
    FeaturesError
        ``name`` is not a published feature set.
    facecluster.integrity.ChecksumError
        The mirror's copy of a file does not have the pinned digests (one line naming it).
    facecluster.data.download.SourcesExhaustedError
        Not in the mirror and the download failed (offline): one line naming the URL and
        ``$FACECLUSTER_MIRROR``.
    """
    spec = PUBLISHED.get(name)
    if spec is None:
        raise FeaturesError(
            f"{name}: not a published feature set; known: {', '.join(sorted(PUBLISHED))}"
        )
    raw_dir = Path(raw_dir)
    vectors = _acquire_file(spec, spec.vectors, raw_dir)
    labels = _acquire_file(spec, spec.labels, raw_dir)
    return vectors, labels
