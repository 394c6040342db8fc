"""Stage ``otto@<model>``: Otto et al.'s protocol on every face of ``otto.dataset``.

The set is the dataset's clustering set *and* its extra faces (LFW with ``all_images``:
lfw-all, all 13,233 images; the ≥ 3 clustering set is a filter of it, embedded once by the
embed stage), identities from the faces manifest, rows sorted by ``relpath``
(:func:`all_faces`).  The protocol is :mod:`facecluster.sweep.otto`.

Outputs under ``data/otto/<model>/`` (read through :func:`read_result`): ``grid.parquet``
(one row per method, variant, setting and run), ``timing.parquet`` (the timed settings),
``neighbours.parquet`` (list purity per ``k``).  Metrics ``reports/otto/<model>.json``: the
set's sizes and, per method and rank-order reading, the best setting with its pairwise
precision, recall, F1 and clusters (``dvc metrics show``); the run record beside it holds the
times and the machine they were measured on.
"""

from __future__ import annotations

import json
import logging
import os
import platform
from pathlib import Path
from typing import Any

import numpy as np

from facecluster.artifacts import (
    read_metrics_record,
    read_tables,
    write_metrics,
    write_tables,
)
from facecluster.config import Params
from facecluster.errors import UserError
from facecluster.paths import ProjectPaths
from facecluster.stages import embed as embed_stage
from facecluster.stages import faces as faces_stage
from facecluster.sweep.otto import OttoResult, timed_points

log = logging.getLogger(__name__)

TABLES = ("grid", "timing", "neighbours")


class OttoNotRunError(UserError, FileNotFoundError):
    """The otto stage of a model has not run."""


def out_dir(paths: ProjectPaths, model: str) -> Path:
    return paths.data / "otto" / model


def metrics_path(paths: ProjectPaths, model: str) -> Path:
    """The stage's DVC metrics: ``reports/otto/<model>.json``."""
    return paths.report_dir("otto") / f"{model}.json"


def all_faces(
    paths: ProjectPaths, dataset: str, model: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(X, identities, relpaths)`` of every embedded face of ``dataset``: the clustering
    set and the extra faces, sorted by relpath (identities of extras from the manifest)."""
    emb = embed_stage.read_embeddings(paths.embeddings(dataset, model))
    if emb.skipped:
        raise UserError(f"otto: dataset {dataset!r} was skipped ({emb.skip_reason})")
    manifest = faces_stage.read_manifest(paths, dataset)
    identity = dict(zip(manifest["relpath"], manifest["identity"], strict=True))
    rel = np.asarray(emb.relpaths if emb.relpaths is not None else [], dtype=str)
    extra_rel = np.asarray(emb.extra_relpaths if emb.extra_relpaths is not None else [], str)
    if len(rel) != len(emb.X):
        raise UserError(f"otto: {paths.embeddings(dataset, model)} has no relpaths per face")
    X = emb.X if emb.extra_X is None or not len(extra_rel) else np.vstack([emb.X, emb.extra_X])
    relpaths = np.concatenate([rel, extra_rel])
    missing = [r for r in extra_rel if r not in identity]
    if missing:
        raise UserError(f"otto: {len(missing)} extra faces not in the manifest, e.g. {missing[0]}")
    labels = np.concatenate([emb.labels.astype(str), [identity[r] for r in extra_rel]])
    order = np.argsort(relpaths, kind="stable")
    return np.ascontiguousarray(X[order]), labels[order].astype(str), relpaths[order]


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count()}


def run(model: str, params: Params, paths: ProjectPaths) -> dict[str, Any]:
    """Run the protocol for ``model``; writes the tables and the metrics."""
    from facecluster.sweep.otto import run_protocol

    settings = params.otto
    dataset = settings.dataset
    if dataset is None:
        raise UserError("otto.dataset is null in params.yaml: name the dataset to cluster")
    params.check_pair(dataset, model)
    X, labels, _ = all_faces(paths, dataset, model)
    log.info("otto %s-%s: %d faces of %d identities", dataset, model, len(X), len(set(labels)))
    result = run_protocol(X, labels, settings, params.seed)
    result.facts.update(dataset=dataset, model=model, **machine())
    write_result(paths, model, result)
    record = metrics_record(result)
    record["device"] = {k: result.facts[k] for k in ("cpu", "cores", "threads")}
    write_metrics(metrics_path(paths, model), record)
    return record


def metrics_record(result: OttoResult) -> dict[str, Any]:
    """The metrics: sizes, then ``rank_order_<variant>`` (best), ``rank_order_<variant>_k<k>``
    (the timed ``k``) and ``<method>`` of each other method: setting, scores, ``seconds``."""
    facts = {k: v for k, v in result.facts.items() if k not in ("threads", "cpu", "cores")}
    record: dict[str, Any] = dict(facts)
    for row in timed_points(result).to_dict("records"):
        point = json.loads(row["params"])
        if row["method"] != "rank_order":
            name = row["method"]
        elif row["role"] == "best":
            name = f"rank_order_{row['variant']}"
        else:
            name = f"rank_order_{row['variant']}_k{point['k']}"
        record[name] = _entry(point, row)
    return record


def _entry(point: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = dict(point)
    for key in ("pairwise_precision", "pairwise_recall", "pairwise_f1", "bcubed_f1", "ari"):
        out[key] = round(float(row[key]), 6)
    out["n_clusters"] = round(float(row["n_clusters"]), 1)
    out["pairwise_f1_min"] = round(float(row["pairwise_f1_min"]), 6)
    out["pairwise_f1_max"] = round(float(row["pairwise_f1_max"]), 6)
    out["runs"] = int(row["runs"])
    out["seconds"] = {
        part: None if np.isnan(v := float(row[f"{part}_s"])) else float(f"{v:.3g}")
        for part in ("search", "cluster", "total")
    }
    return out


# --------------------------------------------------------------------------------------------
# writers and readers
# --------------------------------------------------------------------------------------------
def write_result(paths: ProjectPaths, model: str, result: OttoResult) -> None:
    tables = {name: getattr(result, name) for name in TABLES}
    write_tables(out_dir(paths, model), tables, result.facts)


def read_result(paths: ProjectPaths, model: str) -> OttoResult:
    """What ``otto@<model>`` wrote (:class:`~facecluster.sweep.otto.OttoResult`)."""
    tables, facts = read_tables(
        out_dir(paths, model), TABLES, stage=f"otto@{model}", missing=OttoNotRunError
    )
    return OttoResult(**tables, facts=facts)


def read_metrics(paths: ProjectPaths, models: list[str]) -> dict[str, dict[str, Any]]:
    """``{model: metrics and run record}`` of the models whose otto stage has run."""
    return {m: read_metrics_record(p) for m in models if (p := metrics_path(paths, m)).is_file()}
