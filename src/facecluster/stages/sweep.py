"""Stage ``sweep@<dataset>-<model>``: the clustering protocol on one embeddings file.

Output ``data/results/<dataset>-<model>.parquet`` (read only through :func:`read_results`):
one row per (method, grid point, subset) — the columns of
:func:`facecluster.sweep.engine.run_sweep` — and, for a skipped dataset, the empty table of
the same schema with ``skip_reason`` in the file's metadata.  Metrics
``reports/sweep/<dataset>-<model>.json``: the best grid point of each method
(:func:`facecluster.sweep.summary.best_scores`).  Finished tasks are checkpointed in
``data/results/<dataset>-<model>.parts/`` so an interrupted sweep resumes.

:func:`sweep_file` is the same protocol on any embeddings file (``facecluster sweep``).
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from facecluster.artifacts import SKIP_FIELD, read_json, read_parquet, write_json, write_parquet
from facecluster.config import Params
from facecluster.errors import UserError
from facecluster.paths import ProjectPaths
from facecluster.stages import faces as faces_stage
from facecluster.stages.embed import Embeddings, read_embeddings
from facecluster.stages.subsets import load_or_draw
from facecluster.sweep.engine import checkpoint_dir, finalise, run_sweep
from facecluster.sweep.summary import best_scores

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Results:
    """A results table; empty (same columns) with ``skip_reason`` for a skipped dataset."""

    table: pd.DataFrame
    skip_reason: str | None = None

    @property
    def skipped(self) -> bool:
        return self.skip_reason is not None


def run(dataset: str, model: str, params: Params, paths: ProjectPaths) -> Results:
    """Run the protocol on ``data/embeddings/<dataset>-<model>.npz`` with the stage's subsets."""
    params.check_pair(dataset, model)  # unknown names: one config error
    return sweep_stage_embeddings(
        dataset,
        model,
        params,
        paths,
        out=paths.results(dataset, model),
        subsets_path=paths.subsets(dataset),
        metrics_path=metrics_path(paths, dataset, model),
    )


def sweep_stage_embeddings(
    dataset: str,
    model: str,
    params: Params,
    paths: ProjectPaths,
    *,
    out: Path,
    subsets_path: Path,
    metrics_path: Path,
) -> Results:
    """The protocol of ``params.sweep`` on a stage's embeddings of ``dataset`` × ``model``.

    The rows are checked against the faces manifest (a dataset of precomputed vectors has
    none); a skipped dataset gets the empty table and a metrics file naming the reason.
    """
    emb_path = paths.embeddings(dataset, model)
    emb = read_embeddings(emb_path)
    if emb.skipped:
        log.warning("dataset %s was skipped: writing an empty results table", dataset)
        shutil.rmtree(checkpoint_dir(out), ignore_errors=True)  # parts of an earlier run
        results = Results(finalise([]), emb.skip_reason)
        write_results(out, results)
        write_json(metrics_path, {SKIP_FIELD: emb.skip_reason})
        return results
    precomputed = params.dataset(dataset).kind == "embeddings"  # no faces manifest to match
    expected = emb.labels.astype(str) if precomputed else faces_stage.study_labels(paths, dataset)
    if not np.array_equal(emb.labels.astype(str), expected):
        raise UserError(
            f"{emb_path} rows do not match the faces manifest of {dataset!r}; "
            f"re-run embed@{dataset}-{model}"
        )
    return _sweep(
        emb,
        out,
        params,
        dataset=dataset,
        model=model,
        subsets_path=subsets_path,
        metrics_path=metrics_path,
    )


def sweep_file(
    embeddings_path: str | Path,
    out_path: str | Path,
    params: Params,
    *,
    dataset: str | None = None,
    model: str | None = None,
    subsets_path: str | Path | None = None,
    metrics_path: str | Path | None = None,
) -> Results:
    """The protocol on any embeddings file: results table (and metrics JSON) out.

    Parameters
    ----------
    embeddings_path : str or Path
        ``.npz`` with ``embeddings`` and ``labels``
        (:func:`facecluster.stages.embed.read_embeddings`).
    out_path : str or Path
        Results parquet (checkpoints go to ``<stem>.parts`` beside it).
    params : Params
        ``params.seed`` and ``params.sweep`` define the protocol; ``params.execution`` how it
        runs.
    dataset, model : str, optional
        Names for the table and the seeds; default from the file name ``<dataset>-<model>``.
    subsets_path : str or Path, optional
        Subsets file: read and checked when it exists, else drawn and written there.
        ``None``: drawn in memory.
    metrics_path : str or Path, optional
        Where to write the best grid point of each method as JSON.
    """
    guessed = names_from_path(embeddings_path)
    emb = read_embeddings(embeddings_path)
    if emb.skipped:
        raise UserError(f"{embeddings_path} is a skipped dataset's file: {emb.skip_reason}")
    return _sweep(
        emb,
        out_path,
        params,
        dataset=dataset or guessed[0],
        model=model or guessed[1],
        subsets_path=subsets_path,
        metrics_path=metrics_path,
    )


def _sweep(
    emb: Embeddings,
    out_path: str | Path,
    params: Params,
    *,
    dataset: str,
    model: str,
    subsets_path: str | Path | None,
    metrics_path: str | Path | None,
) -> Results:
    """The protocol on read embeddings (each file is read once, by the caller)."""
    log.info("sweep settings: %s", params.sweep.model_dump(mode="json"))
    subsets = load_or_draw(
        subsets_path, emb.X.shape[0], params.sweep, seed=params.seed, dataset=dataset,
        labels=emb.labels,
    )  # fmt: skip
    table = run_sweep(
        emb.X,
        emb.labels,
        subsets,
        params.sweep,
        dataset=dataset,
        model=model,
        seed=params.seed,
        parts_dir=checkpoint_dir(out_path),
        execution=params.execution,
    )
    results = Results(table)
    write_results(out_path, results)
    log.info("wrote %d rows to %s", len(table), out_path)
    if metrics_path is not None:
        write_json(metrics_path, {SKIP_FIELD: None, **best_scores(table)}, sort_keys=False)
        log.info("wrote best scores to %s", metrics_path)
    return results


def names_from_path(path: str | Path) -> tuple[str, str]:
    """``data/embeddings/lfw-facenet.npz`` → ``("lfw", "facenet")`` (model ``"unknown"``
    when the stem has no ``-``)."""
    stem = Path(path).stem
    dataset, sep, model = stem.partition("-")
    return dataset, (model if sep and model else "unknown")


# --------------------------------------------------------------------------------------------
# writers and readers
# --------------------------------------------------------------------------------------------
def metrics_path(paths: ProjectPaths, dataset: str, model: str) -> Path:
    """The stage's DVC metrics file: ``reports/sweep/<dataset>-<model>.json``."""
    return paths.report_dir("sweep") / f"{dataset}-{model}.json"


def read_metrics(path: str | Path) -> dict[str, Any]:
    """The best-scores JSON the stage wrote."""
    return read_json(path)


def write_results(path: str | Path, results: Results) -> Path:
    """Write a results table (atomically), recording ``skip_reason``."""
    return write_parquet(path, results.table, skip_reason=results.skip_reason)


def read_results(path: str | Path) -> Results:
    """A results table written by :func:`write_results`."""
    table, skip = read_parquet(path)
    if skip is None and "ari" not in table.columns:
        raise UserError(f"{path} is not a results table of the sweep (no 'ari' column)")
    return Results(table, skip)
