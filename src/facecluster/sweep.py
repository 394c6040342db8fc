"""The clustering sweep: every registered method over every grid point on random subsets.

The protocol (issue 4, after the Castiel report, corrected):

* ``n_subsets`` subsets of ``int(fraction * N)`` faces are drawn **without replacement** from
  keyed random streams (:func:`draw_subsets`), stored once per dataset
  (``data/subsets/<dataset>.npz``) and shared by every model and method; ``replace=True``
  reproduces the report's ``np.random.choice(N, int(0.8 * N))``.
* Methods that need K get K = the number of identities present in the subset.
* Each (method, grid point, subset) is scored by :func:`facecluster.metrics.evaluate`; the
  result is a tidy table, one row per (dataset, model, method, params, subset).

A *task* is one subset × one method's whole grid (so work shared between grid points — one
tree, one neighbour search — is done once).  Tasks run serially, in processes (joblib) or on a
Dask cluster, and each finished task is checkpointed as a parquet part file in
``<out>.parts/`` named by a hash of everything its result depends on (the embeddings and
labels, the subset's indices, the method, its grid, the derived random state, the source of
the method's modules and the versions of numpy, scipy, scikit-learn and faiss).  A re-run —
after an interruption, or after a change to one method's grid — computes only the tasks
whose part is missing, then writes the table atomically.  Parts no longer named by the
current settings are deleted after a successful run.

Entry points: :func:`sweep_embeddings_file` (what the CLI ``facecluster sweep`` and the sweep
notebook call) and :func:`run_sweep` (arrays in, table out).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import math
import os
import sys
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

import facecluster
from facecluster import seeds
from facecluster.cluster.registry import ALGORITHMS, get_method
from facecluster.integrity import atomic_path
from facecluster.metrics import EVALUATE_KEYS

if TYPE_CHECKING:
    from facecluster.config import Params, SweepSettings

log = logging.getLogger(__name__)

#: Bump when the table layout or the meaning of a task changes (invalidates every part file).
SWEEP_FORMAT = 1
SUBSETS_FORMAT = 1

ID_COLUMNS = ("dataset", "model", "method", "params")
METRIC_COLUMNS = EVALUATE_KEYS  # one column per key of metrics.evaluate, in order


class SweepError(ValueError):
    """Bad input to the sweep (the message says what and where)."""


class EmbeddingsError(SweepError):
    """An embeddings file is missing, unreadable or malformed."""


class SubsetsError(SweepError):
    """A stored subsets file does not match the settings or the embeddings."""


# --------------------------------------------------------------------------------------------
# embeddings
# --------------------------------------------------------------------------------------------
def load_embeddings(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Read and validate an embeddings file.

    Parameters
    ----------
    path : str or Path
        An ``.npz`` with ``embeddings`` (n, d) numeric, ``labels`` (n,) (identity of each
        row: ints or strings) and optionally ``ids`` (n,).

    Returns
    -------
    X : ndarray of shape (n, d), float32, C-contiguous
    labels : ndarray of shape (n,)
    ids : ndarray of shape (n,) or None

    Raises
    ------
    EmbeddingsError
        Missing file or array, wrong shapes, mismatched lengths, NaN or infinite values.
    """
    path = Path(path)
    if not path.is_file():
        raise EmbeddingsError(f"embeddings file not found: {path}")
    try:
        npz = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise EmbeddingsError(f"{path}: not a readable .npz file ({exc})") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise EmbeddingsError(f"{path}: expected an .npz archive with named arrays, got an array")
    with npz:
        missing = [k for k in ("embeddings", "labels") if k not in npz.files]
        if missing:
            raise EmbeddingsError(
                f"{path}: missing array(s) {missing}; it has {sorted(npz.files)} "
                "(expected 'embeddings' (n, d) and 'labels' (n,), optionally 'ids')"
            )
        try:
            X = npz["embeddings"]
            labels = npz["labels"]
            ids = npz["ids"] if "ids" in npz.files else None
        except ValueError as exc:  # object arrays need pickle
            raise EmbeddingsError(f"{path}: cannot read arrays ({exc})") from None
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
        raise EmbeddingsError(f"{path}: 'embeddings' must have shape (n, d), got {X.shape}")
    if not (np.issubdtype(X.dtype, np.floating) or np.issubdtype(X.dtype, np.integer)):
        raise EmbeddingsError(f"{path}: 'embeddings' must be numeric, got dtype {X.dtype}")
    if labels.ndim != 1 or labels.shape[0] != X.shape[0]:
        raise EmbeddingsError(
            f"{path}: 'labels' must have shape ({X.shape[0]},) like 'embeddings' "
            f"{X.shape}, got {labels.shape}"
        )
    if ids is not None and (ids.ndim != 1 or ids.shape[0] != X.shape[0]):
        raise EmbeddingsError(
            f"{path}: 'ids' must have shape ({X.shape[0]},) like 'embeddings', got {ids.shape}"
        )
    X = np.ascontiguousarray(X, dtype=np.float32)
    finite = np.isfinite(X).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise EmbeddingsError(
            f"{path}: {bad.size} embedding row(s) hold NaN or infinite values "
            f"(first at row {int(bad[0])})"
        )
    if np.issubdtype(labels.dtype, np.floating) and not np.isfinite(labels).all():
        raise EmbeddingsError(f"{path}: 'labels' hold NaN or infinite values")
    norms = np.linalg.norm(X, axis=1)
    if np.abs(norms - 1.0).max() > 1e-3:
        log.warning(
            "%s: embeddings are not L2-normalised (norms %.3g..%.3g); the default grids "
            "assume unit vectors",
            path,
            norms.min(),
            norms.max(),
        )
    return X, labels, ids


def _encode_labels(labels: np.ndarray) -> np.ndarray:
    """Integer codes 0..K-1 of any label array (ints or strings)."""
    return np.unique(np.asarray(labels), return_inverse=True)[1].astype(np.int64).ravel()


def _labels_digest(labels: np.ndarray) -> str:
    h = hashlib.blake2b(digest_size=16)
    for value in np.asarray(labels).tolist():
        h.update(str(value).encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()


# --------------------------------------------------------------------------------------------
# subsets
# --------------------------------------------------------------------------------------------
def subset_seed_key(seed: int, dataset: str) -> tuple[int, str, str]:
    """The seed key of a dataset's subsets: ``(seed, "subsets", dataset)``."""
    return (int(seed), "subsets", str(dataset))


def subset_size(n: int, fraction: float) -> int:
    """``int(fraction * n)`` as the report computes it (at least 1)."""
    if not 0.0 < fraction <= 1.0:
        raise SweepError(f"fraction must be in (0, 1], got {fraction}")
    return max(1, int(math.floor(fraction * n + 1e-9)))


def draw_subsets(
    n: int,
    *,
    n_subsets: int,
    fraction: float,
    replace: bool = False,
    seed_key: Sequence[Any],
) -> np.ndarray:
    """Draw ``n_subsets`` index sets of ``int(fraction * n)`` rows each.

    Parameters
    ----------
    n : int
        Number of rows (faces) to draw from.
    n_subsets : int
        Number of subsets.
    fraction : float
        Subset size as a fraction of ``n``, in (0, 1].
    replace : bool
        False (default): each subset holds distinct rows.  True: rows drawn independently
        with replacement, like the Castiel report's ``np.random.choice(N, int(0.8 * N))``
        (about 31 % of an 80 % "subset" are then repeats).
    seed_key : sequence
        ``(root_seed, *key)``, e.g. :func:`subset_seed_key` ``(seed, dataset)``.  Subset ``i``
        comes from the stream ``seeds.rng(root_seed, *key, i)``: another dataset's key never
        changes these subsets, and raising ``n_subsets`` keeps the first ones.

    Returns
    -------
    ndarray of shape (n_subsets, m), int64
        Row indices, each subset sorted ascending.
    """
    if n < 1:
        raise SweepError(f"cannot draw subsets of {n} rows")
    if n_subsets < 1:
        raise SweepError(f"n_subsets must be >= 1, got {n_subsets}")
    if not seed_key:
        raise SweepError("seed_key must start with the root seed")
    m = subset_size(n, fraction)
    root, *key = seed_key
    out = np.empty((n_subsets, m), dtype=np.int64)
    for i in range(n_subsets):
        gen = seeds.rng(int(root), *key, i)
        out[i] = np.sort(gen.choice(n, size=m, replace=bool(replace)))
    return out


def _subsets_meta(
    n: int, n_subsets: int, fraction: float, replace: bool, seed_key: Sequence[Any]
) -> dict[str, Any]:
    return {
        "format": SUBSETS_FORMAT,
        "n": int(n),
        "n_subsets": int(n_subsets),
        "fraction": float(fraction),
        "replace": bool(replace),
        "seed_key": [k if isinstance(k, str) else int(k) for k in seed_key],
    }


def save_subsets(
    path: str | Path,
    subsets: np.ndarray,
    *,
    n: int,
    fraction: float,
    replace: bool,
    seed_key: Sequence[Any],
    labels: np.ndarray | None = None,
) -> Path:
    """Write subsets with the settings that drew them (atomically) to ``path`` (.npz).

    ``labels`` (optional) stores a digest of the row labels, so that the file is not reused
    for embeddings whose rows are different faces.
    """
    subsets = np.asarray(subsets, dtype=np.int64)
    meta = _subsets_meta(n, subsets.shape[0], fraction, replace, seed_key)
    meta["labels_digest"] = _labels_digest(labels) if labels is not None else None
    path = Path(path)
    with atomic_path(path) as tmp, tmp.open("wb") as fh:
        np.savez(fh, indices=subsets, meta=np.array(json.dumps(meta, sort_keys=True)))
    log.info("wrote %d subsets of %d rows to %s", subsets.shape[0], subsets.shape[1], path)
    return path


def load_subsets(
    path: str | Path,
    *,
    n: int | None = None,
    n_subsets: int | None = None,
    fraction: float | None = None,
    replace: bool | None = None,
    seed_key: Sequence[Any] | None = None,
    labels: np.ndarray | None = None,
) -> np.ndarray:
    """Read subsets written by :func:`save_subsets`, checking them against expectations.

    Every keyword given is compared with what the file was drawn with; any difference raises
    :class:`SubsetsError` naming the settings that differ.
    """
    path = Path(path)
    if not path.is_file():
        raise SubsetsError(f"subsets file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            indices = npz["indices"]
            meta = json.loads(str(npz["meta"]))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise SubsetsError(f"{path}: not a subsets file ({exc})") from None
    expected: dict[str, Any] = {}
    if n is not None:
        expected["n"] = int(n)
    if n_subsets is not None:
        expected["n_subsets"] = int(n_subsets)
    if fraction is not None:
        expected["fraction"] = float(fraction)
    if replace is not None:
        expected["replace"] = bool(replace)
    if seed_key is not None:
        expected["seed_key"] = _subsets_meta(1, 1, 1.0, False, seed_key)["seed_key"]
    if labels is not None and meta.get("labels_digest") is not None:
        expected["labels_digest"] = _labels_digest(labels)
    diffs = [
        f"{key}={meta.get(key)!r} (now {value!r})"
        for key, value in expected.items()
        if meta.get(key) != value
    ]
    if meta.get("format") != SUBSETS_FORMAT:
        diffs.insert(0, f"format={meta.get('format')!r} (now {SUBSETS_FORMAT})")
    if diffs:
        raise SubsetsError(
            f"{path} was drawn with other settings: {', '.join(diffs)}; delete it (or re-run "
            "its stage) to draw subsets for the current settings"
        )
    if indices.ndim != 2 or (n is not None and indices.size and indices.max() >= n):
        raise SubsetsError(f"{path}: indices of shape {indices.shape} do not fit {n} rows")
    return indices.astype(np.int64, copy=False)


def subsets_for(
    n: int,
    settings: SweepSettings,
    *,
    seed: int,
    dataset: str,
    path: str | Path | None = None,
    labels: np.ndarray | None = None,
) -> np.ndarray:
    """The subsets of a dataset: read from ``path`` if it exists (checked), else drawn.

    When ``path`` is given and does not exist, the drawn subsets are saved there.
    """
    key = subset_seed_key(seed, dataset)
    kwargs = {"fraction": settings.fraction, "replace": settings.replace, "seed_key": key}
    if path is not None and Path(path).is_file():
        subsets = load_subsets(path, n=n, n_subsets=settings.n_subsets, labels=labels, **kwargs)
        log.info("read %d subsets from %s", subsets.shape[0], path)
        return subsets
    subsets = draw_subsets(n, n_subsets=settings.n_subsets, **kwargs)
    if path is not None:
        save_subsets(path, subsets, n=n, labels=labels, **kwargs)
    return subsets


# --------------------------------------------------------------------------------------------
# tasks
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SweepTask:
    """One subset × one method's whole grid (the unit of work, progress and checkpointing)."""

    method: str
    grid: dict[str, Any]
    subset: int
    indices: np.ndarray
    random_state: int
    dataset: str
    model: str
    key: str

    @property
    def part_name(self) -> str:
        return f"{self.method}-s{self.subset:03d}-{self.key[:20]}.parquet"


def canonical_params(point: Mapping[str, Any]) -> str:
    """The canonical JSON of a grid point (sorted keys, no spaces): the ``params`` column."""
    return json.dumps(dict(point), sort_keys=True, separators=(",", ":"))


def _digest(*parts: Any) -> str:
    h = hashlib.blake2b(digest_size=20)
    for part in parts:
        if isinstance(part, np.ndarray):
            h.update(str((part.dtype.str, part.shape)).encode())
            h.update(np.ascontiguousarray(part).tobytes())
        elif isinstance(part, bytes):
            h.update(part)
        else:
            h.update(json.dumps(part, sort_keys=True, default=str).encode("utf-8"))
        h.update(b"|")
    return h.hexdigest()


def _package_version(*names: str) -> str:
    for name in names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "absent"


def code_version(method: str) -> str:
    """Digest of what a method's results depend on besides data and settings.

    The package version, :data:`SWEEP_FORMAT`, the source of the method's modules, of the
    registry and of ``facecluster.metrics``, and the versions of numpy, scipy, scikit-learn
    and faiss.
    """
    spec = get_method(method)
    parts: list[Any] = [
        facecluster.__version__,
        SWEEP_FORMAT,
        {
            dist: _package_version(*alts)
            for dist, alts in {
                "numpy": ("numpy",),
                "scipy": ("scipy",),
                "scikit-learn": ("scikit-learn",),
                "faiss": ("faiss-cpu", "faiss-gpu", "faiss"),
            }.items()
        },
    ]
    for module in (*spec.modules, "facecluster.cluster.registry", "facecluster.metrics"):
        parts.append(module)
        parts.append(_module_source(module))
    return _digest(*parts)


def _module_source(module: str) -> bytes:
    """The source bytes of a module, without importing it (``b"-"`` when there is none)."""
    loaded = sys.modules.get(module)
    origin = getattr(loaded, "__file__", None) if loaded is not None else None
    if origin is None and loaded is None:
        try:
            found = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            found = None
        origin = found.origin if found is not None else None
    return Path(origin).read_bytes() if origin and Path(origin).is_file() else b"-"


def _run_task(X: np.ndarray, y: np.ndarray, task: SweepTask) -> tuple[str, pd.DataFrame]:
    """Fit one method's grid on one subset and score every point (runs in a worker)."""
    from facecluster.metrics import evaluate

    spec = get_method(task.method)
    points = spec.grid_points(task.grid)
    Xs = X[task.indices]
    ys = y[task.indices]
    k_true = int(np.unique(ys).size)
    t0 = perf_counter()
    try:
        labels, seconds = spec.run_grid_timed(
            Xs,
            points,
            n_clusters=k_true if spec.needs_k else None,
            random_state=task.random_state,
        )
    except ValueError as exc:  # bad input for this method (e.g. K larger than the subset)
        raise SweepError(
            f"{task.method} on subset {task.subset} of {task.dataset}-{task.model} "
            f"({Xs.shape[0]} faces, K={k_true}): {exc}"
        ) from exc
    except Exception as exc:  # a bug: keep its traceback, say where it happened
        exc.add_note(f"in {task.method} on subset {task.subset} of {task.dataset}-{task.model}")
        raise
    task_seconds = perf_counter() - t0
    rows = []
    for point, lab, sec in zip(points, labels, seconds, strict=True):
        scores = evaluate(ys, lab)
        rows.append(
            {
                "dataset": task.dataset,
                "model": task.model,
                "method": task.method,
                "params": canonical_params(point),
                **point,
                "subset": task.subset,
                "n": int(Xs.shape[0]),
                "k_true": k_true,
                **{k: scores[k] for k in scores},
                "runtime_s": sec,
                "task_runtime_s": task_seconds,
            }
        )
    return task.key, pd.DataFrame(rows)


def _param_kinds() -> dict[str, type]:
    """Every parameter column of the registry, in registry order, with its scalar type."""
    kinds: dict[str, type] = {}
    for spec in ALGORITHMS.values():
        for name, kind in spec.grid.param_kinds().items():
            kinds[name] = float if kinds.get(name, kind) is float else kind
    return kinds


def _finalise(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """One table with a stable schema (every registered parameter has a column)."""
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    kinds = _param_kinds()
    for name, kind in kinds.items():
        if name not in df:
            df[name] = np.nan
        df[name] = df[name].astype("Int64" if kind is int else "float64")
    extra = [c for c in df.columns if c not in (*ID_COLUMNS, *kinds)]
    head = ["subset", "n", "k_true"]
    metrics = list(METRIC_COLUMNS) + [
        c for c in extra if c not in (*head, *METRIC_COLUMNS, "runtime_s", "task_runtime_s")
    ]
    columns = [*ID_COLUMNS, *kinds, *head, *metrics, "runtime_s", "task_runtime_s"]
    for col in columns:
        if col not in df:
            df[col] = pd.Series(dtype="float64")
    for col in ("subset", "n", "k_true"):
        df[col] = df[col].astype("int64")
    return df[columns].reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# executors
# --------------------------------------------------------------------------------------------
def _execute(
    tasks: Sequence[SweepTask],
    X: np.ndarray,
    y: np.ndarray,
    settings: SweepSettings,
    on_done: Callable[[str, pd.DataFrame], None],
) -> None:
    if not tasks:
        return
    if settings.executor == "serial":
        for task in tasks:
            on_done(*_run_task(X, y, task))
    elif settings.executor == "joblib":
        from joblib import Parallel, delayed

        parallel = Parallel(n_jobs=settings.n_jobs, return_as="generator_unordered")
        for key, frame in parallel(delayed(_run_task)(X, y, t) for t in tasks):
            on_done(key, frame)
    elif settings.executor == "dask":
        _execute_dask(tasks, X, y, settings, on_done)
    else:  # pragma: no cover - the config's Literal forbids it
        raise SweepError(f"unknown executor {settings.executor!r}")


def _execute_dask(
    tasks: Sequence[SweepTask],
    X: np.ndarray,
    y: np.ndarray,
    settings: SweepSettings,
    on_done: Callable[[str, pd.DataFrame], None],
) -> None:
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if settings.scheduler:
        log.info("dask: connecting to %s", settings.scheduler)
        client = Client(settings.scheduler)
    else:
        n_workers = settings.n_jobs if settings.n_jobs > 0 else (os.cpu_count() or 1)
        log.info("dask: starting a local cluster of %d worker process(es)", n_workers)
        cluster = LocalCluster(
            n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
        client = Client(cluster)
    try:
        X_f, y_f = client.scatter([X, y], broadcast=True)
        futures = [
            client.submit(_run_task, X_f, y_f, t, key=f"facecluster-sweep-{t.key}", pure=False)
            for t in tasks
        ]
        for future in as_completed(futures):
            on_done(*future.result())
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


# --------------------------------------------------------------------------------------------
# the sweep
# --------------------------------------------------------------------------------------------
def default_checkpoint_dir(out_path: str | Path) -> Path:
    """``data/results/lfw-facenet.parquet`` → ``data/results/lfw-facenet.parts``."""
    out_path = Path(out_path)
    return out_path.with_name(out_path.stem + ".parts")


def make_tasks(
    X: np.ndarray,
    y: np.ndarray,
    subsets: np.ndarray,
    settings: SweepSettings,
    *,
    dataset: str,
    model: str,
    seed: int,
) -> list[SweepTask]:
    """The tasks of a sweep, method-major in registry order, each with its checkpoint key."""
    data_digest = _digest(np.ascontiguousarray(X, dtype=np.float32), _encode_labels(y))
    tasks = []
    for method, grid in settings.method_grids().items():
        grid_json = grid.model_dump(mode="json")
        code = code_version(method)
        for i, indices in enumerate(subsets):
            rs = seeds.random_state(seed, "sweep", dataset, model, method, i)
            key = _digest(data_digest, code, method, grid_json, i, indices, rs, dataset, model)
            tasks.append(SweepTask(method, grid_json, i, indices, rs, dataset, model, key))
    return tasks


def _read_part(path: Path) -> pd.DataFrame | None:
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # a torn or foreign file: recompute it
        log.warning("ignoring unreadable checkpoint %s (%s)", path, exc)
        return None


def run_sweep(
    X: np.ndarray,
    labels: np.ndarray,
    subsets: np.ndarray,
    settings: SweepSettings,
    *,
    dataset: str,
    model: str,
    seed: int,
    out_path: str | Path,
    progress: bool = True,
    checkpoint_dir: str | Path | None = None,
) -> pd.DataFrame:
    """Run every enabled method's grid on every subset; write and return the tidy table.

    Parameters
    ----------
    X : ndarray of shape (n, d)
        Embeddings (euclidean on L2-normalised vectors), finite.
    labels : ndarray of shape (n,)
        True identity of each row (ints or strings).
    subsets : ndarray of shape (n_subsets, m)
        Row indices of each subset (:func:`draw_subsets`).
    settings : SweepSettings
        Methods and grids, executor (``serial`` | ``joblib`` with ``n_jobs`` processes |
        ``dask`` with ``scheduler``).
    dataset, model : str
        Names written to the table and used in the random-state keys.
    seed : int
        Root seed; method ``m`` on subset ``i`` gets
        ``seeds.random_state(seed, "sweep", dataset, model, m, i)``.
    out_path : str or Path
        Parquet file written atomically at the end.
    progress : bool
        Show a tqdm bar over tasks (one task = one subset × one method's grid).
    checkpoint_dir : str or Path, optional
        Where part files go; default ``<out_path stem>.parts`` beside ``out_path``.

    Returns
    -------
    pandas.DataFrame
        One row per (method, grid point, subset): ``dataset, model, method, params`` (canonical
        JSON), one column per parameter of the registry (empty where the method has none),
        ``subset, n, k_true``, every metric of :func:`facecluster.metrics.evaluate`,
        ``runtime_s`` (fit seconds of the point; shared work split equally among the points of
        a grid call, see :mod:`facecluster.cluster.registry`) and ``task_runtime_s`` (seconds of
        the whole grid on that subset).
    """
    X = np.ascontiguousarray(X, dtype=np.float32)
    labels = np.asarray(labels)
    if X.ndim != 2:
        raise SweepError(f"X must be 2-D (n, d), got shape {X.shape}")
    if labels.shape != (X.shape[0],):
        raise SweepError(
            f"labels must have shape ({X.shape[0]},) like X {X.shape}, got {labels.shape}"
        )
    if not np.isfinite(X).all():
        raise SweepError("X holds NaN or infinite values")
    subsets = np.asarray(subsets)
    if subsets.ndim != 2 or subsets.shape[1] < 1:
        raise SweepError(f"subsets must have shape (n_subsets, m), got {subsets.shape}")
    if subsets.min() < 0 or subsets.max() >= X.shape[0]:
        raise SweepError(f"subset indices must lie in [0, {X.shape[0]}), X has that many rows")
    y = _encode_labels(labels)
    out_path = Path(out_path)
    parts_dir = Path(checkpoint_dir) if checkpoint_dir else default_checkpoint_dir(out_path)

    grids = settings.method_grids()
    log.info(
        "sweep %s-%s: %d faces × %d dims, %d identities; %d subsets of %d; executor %s "
        "(n_jobs %d); methods %s",
        dataset,
        model,
        X.shape[0],
        X.shape[1],
        int(y.max()) + 1,
        subsets.shape[0],
        subsets.shape[1],
        settings.executor,
        settings.n_jobs,
        {m: len(g.points()) for m, g in grids.items()},
    )
    tasks = make_tasks(X, labels, subsets, settings, dataset=dataset, model=model, seed=seed)
    parts_dir.mkdir(parents=True, exist_ok=True)
    frames: dict[str, pd.DataFrame] = {}
    for task in tasks:
        part = parts_dir / task.part_name
        if part.is_file() and (frame := _read_part(part)) is not None:
            frames[task.key] = frame
    todo = [t for t in tasks if t.key not in frames]
    current = {t.part_name for t in tasks}
    stale: dict[str, int] = {}
    for part in parts_dir.glob("*.parquet"):
        if part.name not in current:
            method = part.name.split("-s", 1)[0]
            stale[method] = stale.get(method, 0) + 1
    if stale:
        log.info(
            "not reused: checkpoints made with other embeddings, subsets, grids, seed or code "
            "(method source, library versions): %s; they are deleted after this run",
            stale,
        )
    log.info(
        "%d task(s): %d checkpointed in %s, %d to compute",
        len(tasks),
        len(tasks) - len(todo),
        parts_dir,
        len(todo),
    )
    by_key = {t.key: t for t in tasks}
    bar = tqdm(
        total=len(tasks),
        initial=len(tasks) - len(todo),
        desc=f"sweep {dataset}-{model}",
        unit="task",
        disable=not progress,
    )

    def on_done(key: str, frame: pd.DataFrame) -> None:
        task = by_key[key]
        with atomic_path(parts_dir / task.part_name) as tmp:
            frame.to_parquet(tmp, index=False)
        frames[key] = frame
        bar.set_postfix_str(f"{task.method} s{task.subset}", refresh=False)
        bar.update()

    try:
        _execute(todo, X, y, settings, on_done)
    finally:
        bar.close()

    table = _finalise([frames[t.key] for t in tasks])
    with atomic_path(out_path) as tmp:
        table.to_parquet(tmp, index=False)
    keep = {t.part_name for t in tasks}
    for stale in [*parts_dir.glob("*.parquet"), *parts_dir.glob(".*.part")]:
        if stale.name not in keep:  # parts of other settings, temp files of killed runs
            stale.unlink(missing_ok=True)
    log.info("wrote %d rows to %s", len(table), out_path)
    return table


# --------------------------------------------------------------------------------------------
# summaries
# --------------------------------------------------------------------------------------------
def best_scores(df: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Best grid point of each method by mean ARI over subsets (for a DVC metrics JSON).

    Returns
    -------
    dict
        ``{method: {"params": {...}, "ari_mean", "ari_2std", "pairwise_f1", "bcubed_f1",
        "nmi", "n_clusters", "n_subsets"}}``: means over the subsets of the grid point with
        the highest mean ARI (the first in grid order on ties); ``ari_2std`` is twice the
        population standard deviation (``ddof=0``, numpy's default, as in the report).
    """
    out: dict[str, dict[str, Any]] = {}
    if df.empty:
        return out
    for method, rows in df.groupby("method", sort=False):
        agg = rows.groupby("params", sort=False).agg(
            ari_mean=("ari", "mean"),
            ari_std=("ari", lambda s: float(np.std(s.to_numpy(dtype=float)))),
            pairwise_f1=("pairwise_f1", "mean"),
            bcubed_f1=("bcubed_f1", "mean"),
            nmi=("nmi", "mean"),
            n_clusters=("n_clusters", "mean"),
            n_subsets=("subset", "nunique"),
        )
        best = agg.index[int(np.argmax(agg["ari_mean"].to_numpy()))]
        row = agg.loc[best]
        out[str(method)] = {
            "params": json.loads(best),
            "ari_mean": float(row["ari_mean"]),
            "ari_2std": 2.0 * float(row["ari_std"]),
            "pairwise_f1": float(row["pairwise_f1"]),
            "bcubed_f1": float(row["bcubed_f1"]),
            "nmi": float(row["nmi"]),
            "n_clusters": float(row["n_clusters"]),
            "n_subsets": int(row["n_subsets"]),
        }
    return out


def write_metrics(path: str | Path, scores: Mapping[str, Any]) -> Path:
    """Write a metrics mapping as indented JSON, atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(scores, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return path


def names_from_path(path: str | Path) -> tuple[str, str]:
    """``data/embeddings/lfw-facenet.npz`` → ``("lfw", "facenet")`` (model ``"unknown"``
    when the stem has no ``-``)."""
    stem = Path(path).stem
    dataset, sep, model = stem.partition("-")
    return dataset, (model if sep and model else "unknown")


def sweep_embeddings_file(
    embeddings_path: str | Path,
    out_path: str | Path,
    params: Params,
    *,
    dataset: str | None = None,
    model: str | None = None,
    subsets_path: str | Path | None = None,
    metrics_path: str | Path | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """The sweep stage: embeddings file in, results table (and metrics JSON) out.

    Parameters
    ----------
    embeddings_path : str or Path
        ``.npz`` with ``embeddings`` and ``labels`` (:func:`load_embeddings`).
    out_path : str or Path
        Results parquet (checkpoints go to ``<stem>.parts`` beside it).
    params : Params
        Validated study parameters; ``params.seed`` and ``params.sweep`` are used.
    dataset, model : str, optional
        Names for the table and the seeds; default from the file name ``<dataset>-<model>``.
    subsets_path : str or Path, optional
        Subsets file: read and checked when it exists, else drawn and written there.
        ``None``: drawn in memory.
    metrics_path : str or Path, optional
        Where to write :func:`best_scores` as JSON.
    progress : bool
        Show progress bars.
    """
    guessed = names_from_path(embeddings_path)
    dataset = dataset or guessed[0]
    model = model or guessed[1]
    settings = params.sweep
    X, labels, _ = load_embeddings(embeddings_path)
    log.info("sweep settings: %s", settings.model_dump(mode="json"))
    subsets = subsets_for(
        X.shape[0], settings, seed=params.seed, dataset=dataset, path=subsets_path, labels=labels
    )
    table = run_sweep(
        X,
        labels,
        subsets,
        settings,
        dataset=dataset,
        model=model,
        seed=params.seed,
        out_path=out_path,
        progress=progress,
    )
    if metrics_path is not None:
        write_metrics(metrics_path, best_scores(table))
        log.info("wrote best scores to %s", metrics_path)
    return table
