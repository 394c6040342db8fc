"""Stage ``reproduction``: Table I with the report's setup, and the deviation account.

Inputs: every Table I sweep (:mod:`facecluster.stages.table_one`, ``params.table_one``), the
report's 30 runs per cell (``reference/castiel_table1_runs.csv``), and for the glasses claim
the report-setup embeddings of the personal column.  Outputs: the metrics
``reports/reproduction/metrics.json`` (``dvc metrics show``) and what
``notebooks/50-reproduction.ipynb`` displays (:class:`Reproduction`), rendered to
``reports/reproduction/index.html``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from facecluster.artifacts import write_json
from facecluster.config import Params
from facecluster.paths import ProjectPaths
from facecluster.report import reproduction as rep
from facecluster.report.stats import subset_overlap
from facecluster.report.tables import load_reference
from facecluster.stages.subsets import read_subsets
from facecluster.stages.table_one import read_table_one

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reproduction:
    """What the reproduction report shows (tables are plain DataFrames)."""

    table: pd.DataFrame  # rep.reproduced_table of the report setup
    effects: pd.DataFrame  # factor × column × cell → Δ ARI with CI
    claims: pd.DataFrame
    conditions: pd.DataFrame  # personal column: split-off rate per condition
    sweeps: pd.DataFrame  # each sweep: setup, column, dataset, model, replace, faces, status
    extraction: pd.DataFrame  # faces found per dataset of the sweeps, beside the report's
    missing: tuple[str, ...] = ()


def _sweep_rows(params: Params, paths: ProjectPaths) -> tuple[pd.DataFrame, dict, dict, dict]:
    """Per sweep: its description; and, for the sweeps that ran, their results tables, cell
    scores and ``(dataset, subset indices)``."""
    rows, tables, cells, subsets = [], {}, {}, {}
    for name, spec in params.table_one.sweeps.items():
        setup, _, column = name.rpartition("-")
        status, n = "ok", math.nan
        try:
            results = read_table_one(paths, name)
        except Exception as exc:  # noqa: BLE001 — a sweep not run yet is shown as missing
            status = f"not run ({type(exc).__name__})"
            results = None
        if results is not None and results.skipped:
            status = f"skipped: {results.skip_reason}"
        elif results is not None:
            tables[name] = results.table
            cells[name] = rep.cell_scores(results.table)
            n = int(results.table["n"].iloc[0]) if len(results.table) else math.nan
            sub = read_subsets(paths.table_one_subsets(name))
            subsets[name] = (spec.dataset, sub.indices)
        rows.append(
            {
                "sweep": name,
                "setup": setup,
                "column": column,
                "dataset": spec.dataset,
                "detector": getattr(params.dataset(spec.dataset), "detector", "-"),
                "model": spec.model,
                "replace": spec.replace,
                "subset size": n,
                "status": status,
            }
        )
    table = pd.DataFrame(rows).astype({"subset size": "Int64"})
    return table, tables, cells, subsets


def _overlap(params: Params, sweep: str) -> float:
    """ρ of a Table I sweep's subsets (:func:`facecluster.report.stats.subset_overlap`)."""
    return subset_overlap(params.sweep.fraction, params.table_one.sweeps[sweep].replace)


#: How the Castiel report drew its 30 subsets (``np.random.choice(N, int(0.8 N))``).
REPORT_OVERLAP = subset_overlap(0.8, replace=True)


def deviation_effects(params: Params, cells: dict, subsets: dict) -> pd.DataFrame:
    """Every non-report sweep against the report setup of its column, cell by cell."""
    frames = []
    setups = params.table_one.setups()
    for setup, columns in setups.items():
        for column, name in columns.items():
            base = setups["report"][column]
            if setup == "report" or name not in cells or base not in cells:
                continue
            ((factor, change),) = params.table_one_factors(name).items()
            (d0, s0), (d1, s1) = subsets[base], subsets[name]
            n = min(len(s0), len(s1))  # a sweep with fewer subsets drew the first ones
            paired = d0 == d1 and s0.shape[1:] == s1.shape[1:] and np.array_equal(s0[:n], s1[:n])
            eff = rep.factor_effect(
                cells[base],
                cells[name],
                paired=paired,
                overlap=(_overlap(params, base), _overlap(params, name)),
            )
            frames.append(
                eff.assign(setup=setup, column=column, factor=rep.factor_label(factor, change))
            )
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True)


def _glasses_conditions(
    params: Params, paths: ProjectPaths, tables: dict, cells: dict, subsets: dict
) -> pd.DataFrame:
    """Split-off rate per file-name condition on the report setup's personal sweep.

    Each method at its best cell, every subset, recomputed with the sweep's seeds; a face is
    split off when it is outside its person's largest cluster.
    """
    from facecluster.report.galleries import conditions_of, recompute_labels
    from facecluster.report.gallery_section import split_conditions
    from facecluster.stages.embed import read_embeddings

    name = "report-personal"
    if name not in cells:
        return pd.DataFrame()
    spec = params.table_one.sweeps[name]
    emb = read_embeddings(paths.embeddings(spec.dataset, spec.model))
    if emb.relpaths is None or all(c is None for c in conditions_of(emb.relpaths)):
        return pd.DataFrame()
    results = tables[name]
    indices = subsets[name][1]
    faces = pd.DataFrame(
        {"identity": emb.labels.astype(str), "condition": conditions_of(emb.relpaths)}
    )
    frames = []
    for best in rep.best_cells(cells[name]).itertuples():
        params_json = rep.results_params(results, best.method, best.value)
        grid = list(results.loc[results["method"] == best.method, "params"].unique())
        for subset, rows in enumerate(indices):
            pred = recompute_labels(
                emb.X, emb.labels, rows, method=best.method, params=params_json,
                seed=params.seed, dataset=spec.dataset, model=spec.model, subset=subset,
                grid=grid,
            )  # fmt: skip
            part = faces.iloc[rows].reset_index(drop=True)
            frames.append(split_conditions(part, pred).assign(method=best.method))
    long = pd.concat(frames, ignore_index=True)
    out = long.groupby("condition").agg(faces=("faces", "sum"), split_off=("split_off", "sum"))
    out["rate"] = out["split_off"] / out["faces"]
    for method, part in long.groupby("method", sort=False):
        tot = part.groupby("condition")[["faces", "split_off"]].sum()
        out[method] = tot["split_off"] / tot["faces"]
    return out.sort_values("rate", ascending=False).reset_index()


def _extraction(params: Params, paths: ProjectPaths) -> pd.DataFrame:
    """Per image dataset of the Table I sweeps: images, faces kept, why the others were not,
    beside the faces the report's logs give for its column."""
    from facecluster.stages import faces as faces_stage

    published = load_reference("castiel_datasets.csv").set_index("dataset")
    rows = []
    for dataset in dict.fromkeys(s.dataset for s in params.table_one.sweeps.values()):
        spec = params.dataset(dataset)
        if spec.kind == "embeddings":
            continue
        column = params.table_one_column(dataset)
        row: dict[str, Any] = {"dataset": dataset, "column": column, "detector": spec.detector}
        try:
            summary = faces_stage.read_summary(paths, dataset)
        except Exception as exc:  # noqa: BLE001 — a faces stage not run yet is shown as such
            rows.append(row | {"status": f"not run ({type(exc).__name__})"})
            continue
        if summary.skipped:
            rows.append(row | {"status": f"skipped: {summary.skip_reason}"})
            continue
        counts = faces_stage.read_manifest(paths, dataset)["status"].value_counts()
        s = summary.summary
        rows.append(
            row
            | {
                "status": "ok",
                "images": s.get("images"),
                "faces": s.get("faces"),
                "identities": s.get("identities"),
                "no face": int(counts.get("no_face", 0)),
                "border rule": int(counts.get("border_face", 0)),
                "several faces found": s.get("multi_face_images"),
                "report's faces": published["faces"].get(column),
                "report's identities": published["identities"].get(column),
            }
        )
    counts = ["images", "faces", "identities", "no face", "border rule", "several faces found",
              "report's faces", "report's identities"]  # fmt: skip
    out = pd.DataFrame(rows)
    return out.astype({c: "Int64" for c in counts if c in out})


def run(params: Params, paths: ProjectPaths) -> Reproduction:
    """Build the reproduction (writes the metrics JSON)."""
    sweeps, tables, cells, subsets = _sweep_rows(params, paths)
    report_cells = {
        column: cells[name]
        for column, name in params.table_one.setups().get("report", {}).items()
        if name in cells
    }
    rho = {c: _overlap(params, n) for c, n in params.table_one.setups().get("report", {}).items()}
    table = rep.reproduced_table(
        report_cells,
        load_reference("castiel_table1_runs.csv"),
        overlap=rho,
        report_overlap=REPORT_OVERLAP,
    )
    effects = deviation_effects(params, cells, subsets)
    claims = rep.claims(table, report_cells, overlap=rho)
    conditions = _glasses_conditions(params, paths, tables, cells, subsets)
    missing = tuple(sweeps.loc[sweeps["status"] != "ok", "sweep"])
    extraction = _extraction(params, paths)
    out = Reproduction(table, effects, claims, conditions, sweeps, extraction, missing)
    write_json(metrics_path(paths), metrics(out), sort_keys=False)
    return out


def metrics_path(paths: ProjectPaths):
    return paths.report_dir("reproduction") / "metrics.json"


def metrics(r: Reproduction) -> dict[str, Any]:
    """``dvc metrics show``: per column and cell, ours vs the report's mean ARI; the flagged
    cells; per factor and column the mean and largest |Δ ARI|."""
    out: dict[str, Any] = {"missing_sweeps": list(r.missing)}
    for column, part in r.table.groupby("column", sort=False):
        out[column] = {
            rep.cell_label(row.method, row.parameter, row.value): {
                "ours": _num(row.ours_mean),
                "report": _num(row.report_mean),
                "delta": _num(row.delta),
                "p_welch": _sig(row.p_welch),
                "flagged": bool(row.flagged),
            }
            for row in part.itertuples()
        }
    out["flagged_cells"] = int(r.table["flagged"].sum())
    if not r.effects.empty:
        effects = {}
        for (factor, column), part in r.effects.groupby(["factor", "column"], sort=False):
            top = rep.largest(part)
            effects.setdefault(factor, {})[column] = {
                "mean_abs_delta": _num(part["delta"].abs().mean()),
                "largest": rep.cell_label(top["method"], top["parameter"], top["value"]),
                "largest_delta": _num(top["delta"]),
            }
        out["deviation"] = effects
    return out


def _num(x: Any) -> float | None:
    x = float(x)
    return None if math.isnan(x) else round(x, 6)


def _sig(p: Any) -> float | None:
    """A p-value to 3 significant digits (``round`` would turn 1e-9 into 0)."""
    p = float(p)
    return None if math.isnan(p) else float(f"{p:.3g}")
