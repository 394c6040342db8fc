"""Stage ``scale@<model>``: all of ``otto.dataset`` among ``N`` simulated distractor faces.

The labelled set is the otto stage's (:func:`facecluster.stages.otto.all_faces`: LFW with
``all_images``, the 13,233 images of lfw-all); the all-LFW protocol's best rank-order and
Chinese-whispers settings come from that stage's outputs (``data/otto/<model>``).
The protocol is :mod:`facecluster.sweep.scale`; the distractors are simulated
(:mod:`facecluster.sweep.distractors`), generated on the fly and never stored.

Outputs under ``data/scale/<model>/`` (read through :func:`read_result`): ``grid.parquet``
(one row per N, method, setting and lists), ``sizes.parquet`` (one row per N and search:
times, recall, peak memory), ``check.parquet`` / ``check_summary.parquet`` (the simulation
check), ``facts.json``.  Metrics ``reports/scale/<model>.json``: per ``N`` the pairwise
P / R / F1 of each method at its all-LFW best setting and at its best on the grid, the
search's recall; the run record beside it (also listed as metrics in ``dvc.yaml``, so that
``dvc metrics show`` prints the times) holds the seconds, the peak memory and the machine.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from facecluster.artifacts import (
    read_metrics_record,
    read_tables,
    write_metrics,
    write_tables,
)
from facecluster.config import Params
from facecluster.errors import UserError
from facecluster.paths import ProjectPaths
from facecluster.stages import otto as otto_stage
from facecluster.sweep.scale import ScaleResult

log = logging.getLogger(__name__)

TABLES = ("grid", "sizes", "check", "check_summary")


class ScaleNotRunError(UserError, FileNotFoundError):
    """The scale stage of a model has not run."""


def out_dir(paths: ProjectPaths, model: str) -> Path:
    return paths.data / "scale" / model


def metrics_path(paths: ProjectPaths, model: str) -> Path:
    """The stage's DVC metrics: ``reports/scale/<model>.json``."""
    return paths.report_dir("scale") / f"{model}.json"


def best_settings(paths: ProjectPaths, model: str) -> dict[str, dict[str, Any]]:
    """The otto stage's best settings of ``model`` (read from ``data/otto/<model>``):
    ``{"rank_order_<variant>": {k, threshold}, "chinese_whispers": {threshold}}``, the
    entries of its metrics."""
    try:
        result = otto_stage.read_result(paths, model)
    except otto_stage.OttoNotRunError as exc:
        raise otto_stage.OttoNotRunError(
            f"{exc}; the scale stage takes the all-LFW protocol's best settings from it"
        ) from None
    metrics = otto_stage.metrics_record(result)
    return {
        name: {k: v for k, v in entry.items() if k in ("k", "threshold")}
        for name, entry in metrics.items()
        if isinstance(entry, dict)
        and (name in {"chinese_whispers"} or (name.startswith("rank_order_") and "_k" not in name))
        and "threshold" in entry
    }


def run(model: str, params: Params, paths: ProjectPaths) -> dict[str, Any]:
    """Run the scale protocol for ``model``; writes the tables and the metrics."""
    from facecluster.sweep.executors import dask_client
    from facecluster.sweep.scale import run_scale

    dataset = params.otto.dataset
    if dataset is None:
        raise UserError("otto.dataset is null in params.yaml: the scale stage needs its faces")
    if model not in params.scale.models:
        raise UserError(f"scale.models does not list {model!r} ({params.scale.models})")
    params.check_pair(dataset, model)
    X, labels, _ = otto_stage.all_faces(paths, dataset, model)
    best = best_settings(paths, model)
    log.info("scale %s-%s: %d labelled faces; best settings %s", dataset, model, len(X), best)
    with dask_client(params.execution) as client:
        result = run_scale(X, labels, params.scale, best, params.seed, key=("scale", model),
                           client=client)  # fmt: skip
    result.facts.update(dataset=dataset, model=model, **otto_stage.machine())
    write_result(paths, model, result)
    record = metrics_record(result)
    record["device"] = {k: result.facts[k] for k in ("cpu", "cores")}
    write_metrics(metrics_path(paths, model), record)
    return record


def _round(v: Any, digits: int = 6) -> Any:
    return None if v is None or (isinstance(v, float) and np.isnan(v)) else round(float(v), digits)


def metrics_record(result: ScaleResult) -> dict[str, Any]:
    """The metrics: per ``N`` (``n_<N>``), the faces, the search and its recall, then per
    method and reading its all-LFW best setting (``<name>``) and the grid's best
    (``<name>_grid``): setting, pairwise P / R / F1, clusters; ``seconds`` and
    ``peak_memory_gb`` (run-record keys) beside them."""
    record: dict[str, Any] = dict(result.facts)
    check = result.check_summary.set_index("kind")
    record["simulation_check"] = {
        kind: {
            "real_median": _round(check.loc[kind, "real_median"], 4),
            "simulated_median": _round(check.loc[kind, "simulated_median"], 4),
            "ks": _round(check.loc[kind, "ks"], 4),
        }
        for kind in check.index
    }
    grid = result.grid
    baseline = result.baseline_sizes.set_index("distractors")
    for size in result.main_sizes.to_dict("records"):
        n_d = int(size["distractors"])
        entry: dict[str, Any] = {
            "faces": int(size["faces"]),
            "recall": _round(size["recall"], 4),
            "search": size["search"],
            "peak_memory_gb": _round(size["peak_rss_bytes"] / 2**30, 3),
        }
        seconds = {"search": _round(size["search_s"], 3)}
        at = grid[grid["distractors"] == n_d]
        for (method, variant), part in at[at["role"] != "baseline"].groupby(
            ["method", "variant"], sort=False
        ):
            name = method if not variant else f"{method}_{variant}"
            best = part[part["role"] == "best"]
            if len(best):
                entry[name] = _score_entry(best.iloc[0])
                seconds[name] = _round(best.iloc[0]["cluster_s"], 3)
                if method == "rank_order":
                    seconds[f"{name}_total"] = _round(
                        size["search_s"] + best.iloc[0]["cluster_s"], 3
                    )
            top = part.sort_values("pairwise_f1", ascending=False, kind="stable").iloc[0]
            entry[f"{name}_grid"] = _score_entry(top)
        if n_d in baseline.index:
            seconds["exact_search"] = _round(baseline.loc[n_d, "search_s"], 3)
            for _, row in at[at["role"] == "baseline"].iterrows():
                entry[f"rank_order_{row['variant']}_exact"] = _score_entry(row)
        entry["seconds"] = seconds
        record[f"n_{n_d}"] = entry
    return record


def _score_entry(row: pd.Series) -> dict[str, Any]:
    out: dict[str, Any] = dict(json.loads(row["params"]))
    for key in ("pairwise_precision", "pairwise_recall", "pairwise_f1", "bcubed_f1"):
        out[key] = _round(row[key])
    out["n_clusters"] = int(row["n_clusters"])
    return out


# --------------------------------------------------------------------------------------------
# writers and readers
# --------------------------------------------------------------------------------------------
def write_result(paths: ProjectPaths, model: str, result: ScaleResult) -> None:
    tables = {name: getattr(result, name) for name in TABLES}
    write_tables(out_dir(paths, model), tables, result.facts)


def read_result(paths: ProjectPaths, model: str) -> ScaleResult:
    """What ``scale@<model>`` wrote (:class:`~facecluster.sweep.scale.ScaleResult`)."""
    tables, facts = read_tables(
        out_dir(paths, model), TABLES, stage=f"scale@{model}", missing=ScaleNotRunError
    )
    return ScaleResult(**tables, facts=facts)


def read_metrics(paths: ProjectPaths, models: list[str]) -> dict[str, dict[str, Any]]:
    """``{model: metrics and run record}`` of the models whose scale stage has run."""
    return {m: read_metrics_record(p) for m in models if (p := metrics_path(paths, m)).is_file()}
