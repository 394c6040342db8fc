"""The pipeline's ``subsets@<dataset>`` and ``sweep@<dataset>-<model>`` stages.

Subsets are drawn once per dataset from the faces stage's clustering set (the rows of every
model's embeddings file, in the same order) and shared by every model and method.  A dataset
the faces stage skipped gives empty outputs that say so.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd

from facecluster.config import Params
from facecluster.faces.manifest import read_manifest, study_faces
from facecluster.integrity import atomic_path
from facecluster.paths import ProjectPaths
from facecluster.sweep import (
    load_embeddings,
    subset_seed_key,
    subsets_for,
    sweep_embeddings_file,
    write_metrics,
)

log = logging.getLogger(__name__)


def study_labels(dataset: str, paths: ProjectPaths) -> np.ndarray:
    """Identities of the clustering set, in the order of the embeddings files' rows."""
    return study_faces(read_manifest(paths.manifest(dataset)))["identity"].to_numpy().astype(str)


def subsets_stage(dataset: str, params: Params, paths: ProjectPaths) -> np.ndarray:
    """Draw (and store) the subsets of ``dataset``; empty for a skipped dataset."""
    labels = study_labels(dataset, paths)
    out = paths.subsets(dataset)
    out.unlink(missing_ok=True)  # a stage rewrites its outs completely
    if len(labels) == 0:
        log.warning("dataset %s has no faces (skipped): writing empty subsets", dataset)
        with atomic_path(out) as tmp, tmp.open("wb") as fh:
            np.savez(fh, indices=np.zeros((0, 0), np.int64), meta=np.array(json.dumps({"skipped": True})))
        return np.zeros((0, 0), np.int64)
    subsets = subsets_for(
        len(labels), params.sweep, seed=params.seed, dataset=dataset, path=out, labels=labels
    )
    dup = 1 - np.mean([len(np.unique(s)) / len(s) for s in subsets])
    log.info(
        "subsets of %s: %d × %d of %d faces (replace=%s, %.1f%% repeats), seed key %s",
        dataset, *subsets.shape, len(labels), params.sweep.replace, 100 * dup,
        subset_seed_key(params.seed, dataset),
    )
    return subsets


def sweep_metrics_path(paths: ProjectPaths, dataset: str, model: str):
    return paths.report_dir("sweep") / f"{dataset}-{model}.json"


def sweep_stage(dataset: str, model: str, params: Params, paths: ProjectPaths) -> pd.DataFrame:
    """Run the protocol on ``data/embeddings/<dataset>-<model>.npz``; empty when skipped."""
    emb_path = paths.embeddings(dataset, model)
    out = paths.results(dataset, model)
    metrics = sweep_metrics_path(paths, dataset, model)
    with np.load(emb_path, allow_pickle=False) as z:
        skipped = bool(z["skipped"]) if "skipped" in z.files else False
    if skipped:
        log.warning("dataset %s was skipped: writing an empty results table", dataset)
        table = pd.DataFrame({"dataset": pd.Series(dtype=str), "model": pd.Series(dtype=str),
                              "method": pd.Series(dtype=str), "subset": pd.Series(dtype=int)})
        out.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(out) as tmp:
            table.to_parquet(tmp)
        write_metrics(metrics, {"skipped": True})
        return table
    X, labels, _ = load_embeddings(emb_path)
    expected = study_labels(dataset, paths)
    if not np.array_equal(labels.astype(str), expected):
        raise ValueError(
            f"{emb_path} rows do not match the faces manifest of {dataset!r}; re-run embed@{dataset}-{model}"
        )
    return sweep_embeddings_file(
        emb_path,
        out,
        params,
        dataset=dataset,
        model=model,
        subsets_path=paths.subsets(dataset),
        metrics_path=metrics,
    )
