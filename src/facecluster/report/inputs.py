"""What the study report reads: the stages' outputs, each through its stage's one reader.

===========================================  ==============================================
output                                        reader
===========================================  ==============================================
``data/results/<d>-<m>.parquet``              :func:`facecluster.stages.sweep.read_results`
``data/faces/<d>/summary.json``               :func:`facecluster.stages.faces.read_summary`
``data/embeddings/<d>-<m>.json`` (metrics)    :func:`facecluster.stages.embed.read_metrics`
===========================================  ==============================================

The pairs read are exactly ``params.pairs()``: every image dataset × every model, then each
dataset of precomputed vectors (``kind: embeddings``, ``study.features``) with the one model
that computed it.  Such a *feature dataset* has no faces stage (no summary, manifest, crops or
maps): its features stage writes the embeddings file and the metrics in the embed stage's
layout, and its subsets and sweep are those of any dataset.

A dataset whose faces are small in their source images (median short side of the kept face
boxes, ``face_px_median`` of the faces summary, below :data:`LOW_RESOLUTION_PX`) is *low
resolution*: the report keeps its numbers everywhere but ranks no method on it
(:attr:`StudyInputs.low_resolution`).

The galleries (:mod:`facecluster.report.gallery_section`) read embeddings, subsets, manifest
and crops through the same stage modules.  Nothing under ``reports/`` (the executed stage
notebooks and their HTML) is read: the report links to those pages without opening them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from facecluster.config import Params
from facecluster.paths import ProjectPaths
from facecluster.stages import embed as embed_stage
from facecluster.stages import faces as faces_stage
from facecluster.stages import sweep as sweep_stage

log = logging.getLogger(__name__)

#: Below this median face size (short side of the kept face boxes, in source pixels: the faces
#: summary's ``face_px_median``) a dataset is *low resolution* and no method is ranked on it.
#: Half the smallest model input (LightCNN's 128 px crops; FaceNet's are 160 px): such faces
#: are upsampled at least twofold, far below the resolution the models were trained at (the
#: mirror's MUCT crops: 24 px; Yale about 121, LFW about 100).
LOW_RESOLUTION_PX = 64

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


def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True)
class FeatureDataset:
    """A dataset of precomputed vectors (``kind: embeddings``) in the study.

    Attributes
    ----------
    name, model : str
        The dataset and the model that computed its vectors (``study.features``).
    published : bool
        A published feature set (``source:``), not a file of the user's (``path:``).
    metrics : mapping
        Its features stage's metrics (``{}`` before that stage has run): ``source``,
        ``description``, ``faces``, ``dim``, ``identities``, ``source_sha256``, norms.
    """

    name: str
    model: str
    published: bool
    metrics: Mapping[str, Any] = field(default_factory=_empty)

    @property
    def description(self) -> str:
        """What the vectors are, as the features stage recorded it (else the source)."""
        m = self.metrics
        return str(m.get("description") or m.get("source") or "precomputed vectors")

    @property
    def kind(self) -> str:
        """``published embeddings`` or ``precomputed embeddings``."""
        return "published embeddings" if self.published else "precomputed embeddings"


@dataclass(frozen=True)
class StudyInputs:
    """Every stage output the study report uses.

    Attributes
    ----------
    datasets, models : tuple of str
        ``params.study_datasets()`` / ``params.study_models()``: the image datasets and models
        of ``study``, then the feature datasets and their models.
    results : DataFrame
        All rows of the results tables that hold results (the sweep's columns).
    status : DataFrame
        One row per (dataset, model) of :attr:`pairs`, columns :data:`STATUS_COLUMNS` (see
        :func:`read_results_tables`).
    faces : mapping
        ``{dataset: summary}`` (``summary.json`` of the faces stage) of the datasets whose faces
        stage has run (never a feature dataset: it has none).
    embed : mapping
        ``{"<dataset>-<model>": metrics}`` of the embed (or features) stages that have run.
    pairs : tuple of (dataset, model)
        ``params.pairs()``: what the study sweeps (empty: every dataset × every model).
    features : mapping
        ``{dataset: FeatureDataset}`` of the feature datasets.
    table_one_columns : mapping
        ``{dataset: column}``: the Castiel Table I column each dataset is compared with
        (``params.table_one_column``; None: none).
    low_resolution : mapping
        ``{dataset: median face px}`` of the low-resolution datasets (below
        :data:`LOW_RESOLUTION_PX`): shown everywhere, ranked nowhere.
    table_one_mismatch : mapping
        ``{(dataset, model): reason}`` of the pairs compared with a Table I column that are
        not like for like (``params.table_one_mismatch``): shown, never shaded or counted.
    """

    datasets: tuple[str, ...]
    models: tuple[str, ...]
    results: pd.DataFrame
    status: pd.DataFrame
    faces: Mapping[str, Mapping[str, Any]]
    embed: Mapping[str, Mapping[str, Any]]
    pairs: tuple[tuple[str, str], ...] = ()
    features: Mapping[str, FeatureDataset] = field(default_factory=_empty)
    table_one_columns: Mapping[str, str | None] = field(default_factory=_empty)
    low_resolution: Mapping[str, float] = field(default_factory=_empty)
    table_one_mismatch: Mapping[tuple[str, str], str] = field(default_factory=_empty)

    def pair_list(self) -> list[tuple[str, str]]:
        """The (dataset, model) pairs of the study, in study order."""
        return list(self.pairs) or [(d, m) for d in self.datasets for m in self.models]

    def models_of(self, dataset: str) -> list[str]:
        """The models the study pairs ``dataset`` with, in study order."""
        return [m for d, m in self.pair_list() if d == dataset]

    def table_one_column(self, dataset: str) -> str | None:
        """The Table I column of ``dataset`` (its own name when no mapping was read)."""
        if self.table_one_columns:
            return self.table_one_columns.get(dataset)
        return dataset


def read_study(params: Params, paths: ProjectPaths) -> StudyInputs:
    """Read the results, faces summaries and embed metrics of every pair of the study."""
    datasets, models = params.study_datasets(), params.study_models()
    pairs = tuple(params.pairs())
    results, status = read_results_tables(paths, datasets, models, pairs=pairs)
    embed = embed_stage.read_metrics(paths, list(pairs))
    features = {
        d: FeatureDataset(
            d,
            m,
            published=getattr(params.dataset(d), "source", None) is not None,
            metrics=MappingProxyType(dict(embed.get(f"{d}-{m}", {}))),
        )
        for d, m in params.study.features.items()
    }
    image_datasets = [d for d in datasets if d not in features]
    faces = read_faces_summaries(paths, image_datasets)
    low = low_resolution_datasets(faces)
    if low:
        log.info("low-resolution datasets (not ranked): %s", low)
    return StudyInputs(
        datasets=datasets,
        models=models,
        results=results,
        status=status,
        faces=faces,
        embed=embed,
        pairs=pairs,
        features=MappingProxyType(features),
        table_one_columns=MappingProxyType({d: params.table_one_column(d) for d in datasets}),
        table_one_mismatch=MappingProxyType(
            {(d, m): why for d, m in pairs if (why := params.table_one_mismatch(d, m)) is not None}
        ),
        low_resolution=MappingProxyType(low),
    )


def low_resolution_datasets(faces: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """``{dataset: face_px_median}`` of the faces summaries below :data:`LOW_RESOLUTION_PX`.

    A summary without ``face_px_median`` (written before it existed, or of a skipped dataset)
    is not low resolution: nothing says so.
    """
    out = {}
    for dataset, summary in faces.items():
        px = summary.get("face_px_median")
        if px is not None and float(px) < LOW_RESOLUTION_PX:
            out[dataset] = float(px)
    return out


def low_resolution_label(dataset: str, px: float) -> str:
    """The column header of a low-resolution dataset: ``muct (24 px faces: not ranked)``."""
    return f"{dataset} ({px:.0f} px faces: not ranked)"


def low_resolution_note(low: Mapping[str, float]) -> str:
    """The sentence under the headline on the datasets not ranked (empty when none)."""
    if not low:
        return ""
    names = ", ".join(f"`{d}` (median face {px:.0f} px)" for d, px in low.items())
    its, it = ("Their", "them") if len(low) > 1 else ("Its", "it")
    return (
        f"**Not ranked: {names}.** {its} faces are far below the resolution the models were "
        "trained at (FaceNet's 160 px and LightCNN's 128 px crops of larger faces): every "
        f"crop is upsampled and carries little detail. {its} numbers are kept in every table "
        "but not compared: no method is marked best there, no paired verdict is drawn, and "
        f"`reports/metrics.json` flags {it} `low_resolution`. (Low resolution: the median "
        f"short side of the face boxes in the source images is below {LOW_RESOLUTION_PX} px, "
        "half LightCNN's input.)"
    )


def read_results_tables(
    paths: ProjectPaths,
    datasets: Sequence[str],
    models: Sequence[str],
    *,
    pairs: Iterable[tuple[str, str]] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read every ``data/results/<dataset>-<model>.parquet`` of the study.

    ``pairs`` (``params.pairs()``) are the (dataset, model) read; by default every dataset ×
    every model.

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
    todo = list(pairs) if pairs is not None else [(d, m) for d in datasets for m in models]
    for dataset, model in todo:
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


T = TypeVar("T")


def read_per_model(
    read: Callable[[ProjectPaths, str], T],
    paths: ProjectPaths,
    models: Sequence[str],
    not_run: type[Exception],
) -> tuple[dict[str, T], tuple[str, ...]]:
    """``({model: read(paths, model)}, missing)``: the outputs of the models whose stage has
    run, and, in order, those whose reader raised ``not_run``, its stage's not-run error (any
    other error, e.g. a table missing from a folder that ran, propagates)."""
    out: dict[str, T] = {}
    missing = []
    for model in models:
        try:
            out[model] = read(paths, model)
        except not_run:
            missing.append(model)
    return out, tuple(missing)


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
