"""What the study report reads: the stages' outputs, each through its stage's one reader.

===========================================  ==============================================
output                                        reader
===========================================  ==============================================
``data/results/<d>-<m>.parquet``              :func:`facecluster.stages.sweep.read_results`
``data/faces/<d>/summary.json``               :func:`facecluster.stages.faces.read_summary`
``data/embeddings/<d>-<m>.json`` (metrics)    :func:`facecluster.stages.embed.read_metrics`
===========================================  ==============================================

The galleries (:mod:`facecluster.report.gallery_section`) read embeddings, subsets, manifest
and crops through the same stage modules.  Nothing under ``reports/`` (the executed stage
notebooks and their HTML) is read: the report links to those pages without opening them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from facecluster.config import Params
from facecluster.paths import ProjectPaths
from facecluster.stages import embed as embed_stage
from facecluster.stages import faces as faces_stage
from facecluster.stages import sweep as sweep_stage

log = logging.getLogger(__name__)

STATUS_COLUMNS = (
    "dataset",
    "model",
    "status",
    "skip_reason",
    "rows",
    "subsets",
    "methods",
    "faces_per_subset",
)


@dataclass(frozen=True)
class StudyInputs:
    """Every stage output the study report uses.

    Attributes
    ----------
    datasets, models : tuple of str
        ``params.study.datasets`` / ``params.study.models``.
    results : DataFrame
        All rows of the results tables that hold results (the sweep's columns).
    status : DataFrame
        One row per (dataset, model), columns :data:`STATUS_COLUMNS` (see
        :func:`read_results_tables`).
    faces : mapping
        ``{dataset: summary}`` (``summary.json`` of the faces stage) of the datasets whose faces
        stage has run.
    embed : mapping
        ``{"<dataset>-<model>": metrics}`` of the embed stages that have run.
    """

    datasets: tuple[str, ...]
    models: tuple[str, ...]
    results: pd.DataFrame
    status: pd.DataFrame
    faces: Mapping[str, Mapping[str, Any]]
    embed: Mapping[str, Mapping[str, Any]]


def read_study(params: Params, paths: ProjectPaths) -> StudyInputs:
    """Read the results, faces summaries and embed metrics of every dataset × model."""
    datasets, models = tuple(params.study.datasets), tuple(params.study.models)
    results, status = read_results_tables(paths, datasets, models)
    return StudyInputs(
        datasets=datasets,
        models=models,
        results=results,
        status=status,
        faces=read_faces_summaries(paths, datasets),
        embed=embed_stage.read_metrics(paths, [(d, m) for d in datasets for m in models]),
    )


def read_results_tables(
    paths: ProjectPaths, datasets: Sequence[str], models: Sequence[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read every ``data/results/<dataset>-<model>.parquet`` of the study.

    Returns
    -------
    results : DataFrame
        All rows of all tables that are not skipped (the sweep's columns).
    status : DataFrame
        One row per (dataset, model): ``status`` is ``ok``, ``skipped`` (the table's
        ``skip_reason`` is set: the faces stage found nothing) or ``missing`` (no results
        file), ``skip_reason``, and the number of rows, subsets, methods and faces per subset.
    """
    frames, rows = [], []
    for dataset in datasets:
        for model in models:
            rec: dict[str, Any] = {
                "dataset": dataset,
                "model": model,
                "skip_reason": None,
                "rows": 0,
                "subsets": 0,
                "methods": 0,
                "faces_per_subset": np.nan,
            }
            try:
                res = sweep_stage.read_results(paths.results(dataset, model))
            except FileNotFoundError:
                rec["status"] = "missing"
            else:
                if res.skipped:
                    rec |= {"status": "skipped", "skip_reason": res.skip_reason}
                else:
                    df = res.table
                    rec |= {
                        "status": "ok",
                        "rows": len(df),
                        "subsets": int(df["subset"].nunique()),
                        "methods": int(df["method"].nunique()),
                        "faces_per_subset": float(df["n"].median()) if len(df) else np.nan,
                    }
                    frames.append(df)
            rows.append(rec)
    status = pd.DataFrame(rows, columns=list(STATUS_COLUMNS))
    results = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    log.info("read results: %s", status[["dataset", "model", "status", "rows"]].to_dict("records"))
    return results, status


def read_faces_summaries(
    paths: ProjectPaths, datasets: Sequence[str]
) -> dict[str, Mapping[str, Any]]:
    """``{dataset: summary}`` of the datasets whose faces stage has run."""
    out = {}
    for dataset in datasets:
        try:
            out[dataset] = faces_stage.read_summary(paths, dataset).summary
        except FileNotFoundError:
            log.info("no faces summary of %s (its faces stage has not run)", dataset)
    return out


def status_note(status: pd.DataFrame) -> str:
    """Plain sentences on the (dataset, model) pairs without results (empty when none)."""
    lines = []
    for kind, text in (
        (
            "skipped",
            "was skipped (the faces stage found no usable faces), so its results "
            "table is empty and it is absent from every table and figure below",
        ),
        ("missing", "has no results file (its sweep stage has not run)"),
    ):
        sel = status[status["status"] == kind]
        for dataset, rows in sel.groupby("dataset", sort=False):
            models = ", ".join(f"`{m}`" for m in rows["model"])
            lines.append(f"- **Dataset `{dataset}`** ({models}) {text}.")
    return "\n".join(lines)
