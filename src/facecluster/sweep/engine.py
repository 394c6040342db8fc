"""The sweep engine: embeddings and subsets in, the tidy results table out.

Each finished task (:mod:`facecluster.sweep.keys`) is checkpointed as a parquet part file in
a ``.parts`` folder, named by its key.  A re-run — after an interruption, or after a change to
one method's grid — computes only the tasks whose part is missing; parts no longer named by
the current settings are deleted after a successful run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from time import perf_counter
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from facecluster.artifacts import parquet_field, read_parquet, write_parquet
from facecluster.cluster.registry import ALGORITHMS, get_method
from facecluster.metrics import EVALUATE_KEYS
from facecluster.sweep import SweepError
from facecluster.sweep.executors import execute, worker_count
from facecluster.sweep.keys import SweepTask, canonical_params, make_tasks
from facecluster.sweep.schedule import longest_first, utilisation
from facecluster.sweep.subsets import encode_labels

if TYPE_CHECKING:
    from facecluster.config import ExecutionSettings, SweepSettings

log = logging.getLogger(__name__)

ID_COLUMNS = ("dataset", "model", "method", "params")
#: One column per key of metrics.evaluate, in order, then the label-free silhouette
#: (:func:`facecluster.metrics.sample_silhouette`).
METRIC_COLUMNS = (*EVALUATE_KEYS, "silhouette")
#: Columns that measure time: the only ones that differ between two runs of the same sweep.
RUNTIME_COLUMNS = ("runtime_s", "task_runtime_s")


def run_task(X: np.ndarray, y: np.ndarray, task: SweepTask) -> tuple[str, pd.DataFrame]:
    """Fit one method's grid on one subset and score every point (runs in a worker)."""
    from facecluster.metrics import (
        evaluate,
        sample_silhouette,
        silhouette_distances,
        silhouette_rows,
    )

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
    sample = silhouette_rows(Xs.shape[0])  # label-free score, the same faces for every method
    distances = silhouette_distances(Xs, sample)
    rows = []
    for point, lab, sec in zip(points, labels, seconds, strict=True):
        scores = evaluate(ys, lab)
        scores["silhouette"] = sample_silhouette(distances, lab[sample])
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


def finalise(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """One table with a stable schema (every registered parameter has a column).

    With no frames it is the empty table of that schema (a skipped dataset's results).
    """
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    kinds = _param_kinds()
    for name, kind in kinds.items():
        if name not in df:
            df[name] = np.nan
        df[name] = df[name].astype("Int64" if kind is int else "float64")
    extra = [c for c in df.columns if c not in (*ID_COLUMNS, *kinds)]
    head = ["subset", "n", "k_true"]
    metrics = list(METRIC_COLUMNS) + [
        c for c in extra if c not in (*head, *METRIC_COLUMNS, *RUNTIME_COLUMNS)
    ]
    columns = [*ID_COLUMNS, *kinds, *head, *metrics, *RUNTIME_COLUMNS]
    for col in columns:
        if col not in df:
            df[col] = pd.Series(dtype="float64")
    for col in ("subset", "n", "k_true"):
        df[col] = df[col].astype("int64")
    return df[columns].reset_index(drop=True)


def checkpoint_dir(out_path: str | Path) -> Path:
    """``data/results/lfw-facenet.parquet`` → ``data/results/lfw-facenet.parts``."""
    out_path = Path(out_path)
    return out_path.with_name(out_path.stem + ".parts")


#: The metadata field of a checkpoint part naming the task it holds (its full key).
TASK_KEY_FIELD = "task_key"


def _write_part(path: Path, task: SweepTask, frame: pd.DataFrame) -> None:
    write_parquet(path, frame, fields={TASK_KEY_FIELD: task.key})


def _read_part(path: Path, task: SweepTask) -> pd.DataFrame | None:
    """The checkpointed frame of ``task``, or ``None`` (recompute) when the part is torn,
    foreign, or holds another task (a part copied or renamed over this one's name)."""
    try:
        key = parquet_field(path, TASK_KEY_FIELD)
        if key != task.key:
            log.warning(
                "ignoring checkpoint %s: it holds task %s, not %s; recomputing",
                path, (key or "(none recorded)")[:20], task.key[:20],
            )  # fmt: skip
            return None
        frame, _ = read_parquet(path)
    except Exception as exc:  # a torn or foreign file: recompute it
        log.warning("ignoring unreadable checkpoint %s (%s)", path, exc)
        return None
    return frame  # type: ignore[no-any-return]


def _check_inputs(X: np.ndarray, labels: np.ndarray, subsets: np.ndarray) -> None:
    if X.ndim != 2:
        raise SweepError(f"X must be 2-D (n, d), got shape {X.shape}")
    if labels.shape != (X.shape[0],):
        raise SweepError(
            f"labels must have shape ({X.shape[0]},) like X {X.shape}, got {labels.shape}"
        )
    if not np.isfinite(X).all():
        raise SweepError("X holds NaN or infinite values")
    if subsets.ndim != 2 or subsets.shape[1] < 1:
        raise SweepError(f"subsets must have shape (n_subsets, m), got {subsets.shape}")
    if subsets.min() < 0 or subsets.max() >= X.shape[0]:
        raise SweepError(f"subset indices must lie in [0, {X.shape[0]}), X has that many rows")


def run_sweep(
    X: np.ndarray,
    labels: np.ndarray,
    subsets: np.ndarray,
    settings: SweepSettings,
    *,
    dataset: str,
    model: str,
    seed: int,
    parts_dir: str | Path,
    execution: ExecutionSettings | None = None,
    schedule: Callable[[Sequence[SweepTask]], list[SweepTask]] = longest_first,
) -> pd.DataFrame:
    """Run every enabled method's grid on every subset; return the tidy table.

    Parameters
    ----------
    X : ndarray of shape (n, d)
        Embeddings (euclidean on L2-normalised vectors), finite.
    labels : ndarray of shape (n,)
        True identity of each row (ints or strings).
    subsets : ndarray of shape (n_subsets, m)
        Row indices of each subset (:func:`facecluster.sweep.subsets.draw_subsets`).
    settings : SweepSettings
        The protocol: methods and their grids (what changes the numbers).
    dataset, model : str
        Names written to the table and used in the random-state keys.
    seed : int
        Root seed; method ``m`` on subset ``i`` gets
        ``seeds.random_state(seed, "sweep", dataset, model, m, i)``.
    parts_dir : str or Path
        Where each finished task's part file goes (:func:`checkpoint_dir`).
    execution : ExecutionSettings, optional
        Executor (``serial`` | ``joblib`` with ``n_jobs`` processes | ``dask`` with
        ``scheduler``) and progress bar; default serial without a bar.  Never changes a
        number of the table.
    schedule : callable
        The order the tasks to compute start in (:func:`facecluster.sweep.schedule
        .longest_first`); it changes the wall time only.

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
    from facecluster.config import ExecutionSettings

    execution = execution or ExecutionSettings(executor="serial", progress=False)
    X = np.ascontiguousarray(X, dtype=np.float32)
    labels = np.asarray(labels)
    subsets = np.asarray(subsets)
    _check_inputs(X, labels, subsets)
    y = encode_labels(labels)
    parts_dir = Path(parts_dir)

    grids = settings.method_grids()
    log.info(
        "sweep %s-%s: %d faces × %d dims, %d identities; %d subsets of %d; executor %s "
        "(n_jobs %d); methods %s",
        dataset, model, X.shape[0], X.shape[1], int(y.max()) + 1, subsets.shape[0],
        subsets.shape[1], execution.executor, execution.n_jobs,
        {m: len(g.points()) for m, g in grids.items()},
    )  # fmt: skip
    tasks = make_tasks(X, labels, subsets, settings, dataset=dataset, model=model, seed=seed)
    parts_dir.mkdir(parents=True, exist_ok=True)
    frames: dict[str, pd.DataFrame] = {}
    for task in tasks:
        part = parts_dir / task.part_name
        if part.is_file() and (frame := _read_part(part, task)) is not None:
            frames[task.key] = frame
    todo = schedule([t for t in tasks if t.key not in frames])
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
        len(tasks), len(tasks) - len(todo), parts_dir, len(todo),
    )  # fmt: skip
    by_key = {t.key: t for t in tasks}
    bar = tqdm(
        total=len(tasks),
        initial=len(tasks) - len(todo),
        desc=f"sweep {dataset}-{model}",
        unit="task",
        disable=not execution.progress,
    )

    busy = [0.0]

    def on_done(key: str, frame: pd.DataFrame) -> None:
        task = by_key[key]
        _write_part(parts_dir / task.part_name, task, frame)
        frames[key] = frame
        busy[0] += float(frame["task_runtime_s"].iloc[0]) if len(frame) else 0.0
        bar.set_postfix_str(f"{task.method} s{task.subset}", refresh=False)
        bar.update()

    t0 = perf_counter()
    try:
        execute(run_task, todo, X, y, execution, on_done)
    finally:
        bar.close()
    if todo:
        workers = 1 if execution.executor == "serial" else worker_count(execution.n_jobs)
        use = utilisation(perf_counter() - t0, busy[0], workers)
        log.info(
            "sweep %s-%s: %d task(s) in %.0f s on %d worker(s): the tasks kept them %.0f%% "
            "busy",
            dataset, model, len(todo), use.wall_s, use.workers, 100 * use.fraction,
        )  # fmt: skip

    table = finalise([frames[t.key] for t in tasks])
    for old in [*parts_dir.glob("*.parquet"), *parts_dir.glob(".*.part")]:
        if old.name not in current:  # parts of other settings, temp files of killed runs
            old.unlink(missing_ok=True)
    return table
