"""Tables of the study report: inputs, headline, Table I beside the published values, counts.

Everything here is a pure function of the results tables (``data/results/<d>-<m>.parquet``,
one row per dataset × model × method × grid point × subset, see :mod:`facecluster.sweep`), the
stage metrics JSON files and the package's reference data (``facecluster/reference/*.csv``).
Means and ``2·std`` are over the subsets, with the population standard deviation (``ddof=0``)
as in the Castiel report and :func:`facecluster.sweep.best_scores`.

Long tables (one row per cell) are what the other report modules compute with; the
``*_display`` / ``style_*`` functions turn them into wide, formatted tables for the HTML.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pandas.io.formats.style import Styler

from facecluster.cluster.registry import ALGORITHMS
from facecluster.report.sweep import grid_summary

log = logging.getLogger(__name__)

#: Display names of the scores.
SCORE_NAMES: dict[str, str] = {
    "ari": "ARI",
    "pairwise_f1": "pairwise F1",
    "bcubed_f1": "BCubed F1",
    "nmi": "NMI",
}
#: Row order of datasets/models/methods when nothing else says (registry order for methods).
METHOD_ORDER: tuple[str, ...] = tuple(ALGORITHMS)
WINNER_CSS = "background-color: #d9f2d9; font-weight: bold"
BEYOND_CSS = "background-color: #fde2cf"


# --------------------------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------------------------
def reference_path(name: str) -> Path:
    """Path of a file of the package's reference data (``facecluster/reference/<name>``)."""
    return Path(str(resources.files("facecluster").joinpath("reference", name)))


def load_reference(name: str = "castiel_table1.csv") -> pd.DataFrame:
    """A reference CSV of published figures (see ``facecluster/reference/README.md``).

    ``castiel_table1.csv`` is read with ``value`` as text (``"true"`` for the K-based rows,
    ``"0.1"`` … for eps / bandwidth).
    """
    path = reference_path(name)
    dtype = {"value": str} if name in ("castiel_table1.csv", "castiel_settings.csv") else None
    return pd.read_csv(path, dtype=dtype, keep_default_na=False, na_values=[""])


def load_results(
    paths: Any, datasets: Sequence[str], models: Sequence[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read every ``data/results/<dataset>-<model>.parquet`` of the study.

    Parameters
    ----------
    paths : ProjectPaths
        The project's locations.
    datasets, models : sequence of str
        ``params.study.datasets`` / ``params.study.models``.

    Returns
    -------
    results : DataFrame
        All rows of all tables (the sweep's columns).
    status : DataFrame
        One row per (dataset, model): ``status`` is ``ok``, ``skipped`` (the sweep wrote an
        empty table: the faces stage found nothing) or ``missing`` (no results file), with the
        number of rows, subsets, methods and faces per subset.
    """
    frames, rows = [], []
    for dataset in datasets:
        for model in models:
            path = paths.results(dataset, model)
            rec: dict[str, Any] = {
                "dataset": dataset,
                "model": model,
                "rows": 0,
                "subsets": 0,
                "methods": 0,
                "faces_per_subset": np.nan,
            }
            if not Path(path).is_file():
                rec["status"] = "missing"
            else:
                df = pd.read_parquet(path)
                if df.empty or "ari" not in df.columns:
                    rec["status"] = "skipped"
                else:
                    rec |= {
                        "status": "ok",
                        "rows": len(df),
                        "subsets": int(df["subset"].nunique()),
                        "methods": int(df["method"].nunique()),
                        "faces_per_subset": float(df["n"].median()),
                    }
                    frames.append(df)
            rows.append(rec)
    status = pd.DataFrame(
        rows,
        columns=["dataset", "model", "status", "rows", "subsets", "methods", "faces_per_subset"],
    )
    results = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    log.info("read results: %s", status[["dataset", "model", "status", "rows"]].to_dict("records"))
    return results, status


def load_stage_metrics(directory: Path, names: Iterable[str]) -> dict[str, dict]:
    """``{name: json}`` of the metrics files ``<directory>/<name>.json`` that exist."""
    out = {}
    for name in names:
        path = Path(directory) / f"{name}.json"
        if path.is_file():
            out[name] = json.loads(path.read_text(encoding="utf-8"))
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


# --------------------------------------------------------------------------------------------
# grid statistics and best configurations
# --------------------------------------------------------------------------------------------
def setting_label(method: str, params: Mapping[str, Any] | str) -> str:
    """A short label of a grid point: ``eps=0.5``, ``K=true``, ``k=50, threshold=1.2``.

    Grid axes are always shown; fixed settings only where they differ from the registry's
    default (``K=true, n_init=2``).
    """
    if isinstance(params, str):
        params = json.loads(params)
    spec = ALGORITHMS.get(method)
    parts = ["K=true"] if spec is not None and spec.needs_k else []
    if spec is None:
        parts += [f"{n}={_fmt_value(v)}" for n, v in params.items()]
        return ", ".join(parts) or "-"
    axes = spec.grid.axis_names()
    fields = spec.grid.model_fields
    parts += [f"{n}={_fmt_value(params[n])}" for n in axes if n in params]
    parts += [
        f"{n}={_fmt_value(v)}"
        for n, v in params.items()
        if n not in axes and (n not in fields or fields[n].default != v)
    ]
    return ", ".join(parts) if parts else "-"


def _fmt_value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def grid_stats(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and 2·std of every score for every (dataset, model, method, grid point).

    Returns
    -------
    DataFrame
        ``dataset, model, method, params`` then, from :func:`facecluster.report.sweep.grid_summary`,
        ``<score>_mean`` / ``<score>_2std`` for ARI, pairwise F1, BCubed F1 and NMI,
        ``n_clusters`` (mean found), ``n_true`` (mean true), ``runtime_s`` (median seconds per
        fit), ``subsets``; plus ``runtime_total_s`` (seconds over all subsets), ``setting``
        (label) and ``order`` (grid order within the method).
    """
    if results.empty:
        return pd.DataFrame()
    parts = []
    for (dataset, model), rows in results.groupby(["dataset", "model"], sort=False):
        g = grid_summary(rows)
        total = rows.groupby(["method", "params"], sort=False)["runtime_s"].sum()
        g["runtime_total_s"] = [
            total[(m, p)] for m, p in zip(g["method"], g["params"], strict=True)
        ]
        g.insert(0, "model", model)
        g.insert(0, "dataset", dataset)
        parts.append(g)
    out = pd.concat(parts, ignore_index=True)
    out["setting"] = [
        setting_label(m, p) for m, p in zip(out["method"], out["params"], strict=True)
    ]
    out["order"] = out.groupby(["dataset", "model", "method"], sort=False).cumcount()
    return out


def best_configs(stats: pd.DataFrame) -> pd.DataFrame:
    """The grid point with the highest mean ARI of each (dataset, model, method).

    Ties go to the first point in grid order (as :func:`facecluster.sweep.best_scores`).
    """
    if stats.empty:
        return stats
    idx = stats.groupby(["dataset", "model", "method"], sort=False)["ari_mean"].idxmax()
    return stats.loc[idx.to_numpy()].reset_index(drop=True)


def headline_metrics(best: pd.DataFrame, status: pd.DataFrame | None = None) -> dict:
    """``{dataset: {model: {method: {ari_mean, ari_2std, pairwise_f1}}}}`` for ``metrics.json``.

    A (dataset, model) without results gets ``{"skipped": true}`` (or ``"missing"``) so that
    ``dvc metrics show`` says so.
    """
    out: dict[str, dict] = {}
    if status is not None:
        for rec in status.itertuples():
            if rec.status != "ok":
                out.setdefault(rec.dataset, {})[rec.model] = {rec.status: True}
    for rec in best.itertuples():
        out.setdefault(rec.dataset, {}).setdefault(rec.model, {})[rec.method] = {
            "ari_mean": round(float(rec.ari_mean), 6),
            "ari_2std": round(float(rec.ari_2std), 6),
            "pairwise_f1": round(float(rec.pairwise_f1_mean), 6),
        }
    return out


def _ordered(values: Iterable[str], order: Sequence[str]) -> list[str]:
    values = list(dict.fromkeys(values))
    return [v for v in order if v in values] + [v for v in values if v not in order]


def winners(best: pd.DataFrame) -> pd.DataFrame:
    """The method with the highest mean ARI per (dataset, model) (all methods on exact ties)."""
    if best.empty:
        return best
    top = best.groupby(["dataset", "model"], sort=False)["ari_mean"].transform("max")
    return best[np.isclose(best["ari_mean"], top, rtol=0, atol=1e-12)]


def headline_display(
    best: pd.DataFrame, datasets: Sequence[str], models: Sequence[str]
) -> pd.DataFrame:
    """Wide headline: rows methods, columns (dataset, model, ``ARI ± 2σ`` | ``pairwise F1``)."""
    if best.empty:
        return pd.DataFrame()
    datasets = _ordered(best["dataset"], datasets)
    models = _ordered(best["model"], models)
    methods = _ordered(best["method"], METHOD_ORDER)
    cols = pd.MultiIndex.from_tuples(
        [(d, m, c) for d in datasets for m in models for c in ("ARI ± 2σ", "pairwise F1")],
        names=["dataset", "model", ""],
    )
    table = pd.DataFrame("", index=pd.Index(methods, name="method"), columns=cols)
    for rec in best.itertuples():
        table.loc[rec.method, (rec.dataset, rec.model, "ARI ± 2σ")] = (
            f"{rec.ari_mean:.3f} ± {rec.ari_2std:.3f}"
        )
        table.loc[rec.method, (rec.dataset, rec.model, "pairwise F1")] = (
            f"{rec.pairwise_f1_mean:.3f}"
        )
    return table


def best_settings_display(
    best: pd.DataFrame, datasets: Sequence[str], models: Sequence[str]
) -> pd.DataFrame:
    """Wide table of the best grid point's label: rows methods, columns (dataset, model)."""
    if best.empty:
        return pd.DataFrame()
    table = best.pivot(index="method", columns=["dataset", "model"], values="setting")
    cols = [
        (d, m)
        for d in _ordered(best["dataset"], datasets)
        for m in _ordered(best["model"], models)
        if (d, m) in table.columns
    ]
    return table.reindex(index=_ordered(best["method"], METHOD_ORDER), columns=cols).fillna("")


def style_headline(table: pd.DataFrame, best: pd.DataFrame) -> Styler:
    """The headline with the winner of each (dataset, model) highlighted."""
    win = winners(best)
    css = pd.DataFrame("", index=table.index, columns=table.columns)
    for rec in win.itertuples():
        for c in ("ARI ± 2σ", "pairwise F1"):
            if (rec.dataset, rec.model, c) in css.columns:
                css.loc[rec.method, (rec.dataset, rec.model, c)] = WINNER_CSS
    return (
        table.style.apply(lambda _: css, axis=None)
        .set_caption("Best grid point of each method (by mean ARI); winner per column highlighted")
        .set_table_attributes('class="study-table headline"')
    )


# --------------------------------------------------------------------------------------------
# Table I beside the published values
# --------------------------------------------------------------------------------------------
def _reference_settings() -> dict[str, dict[str, float]]:
    ref = load_reference("castiel_settings.csv")
    out: dict[str, dict[str, float]] = {}
    for rec in ref.itertuples():
        out.setdefault(rec.method, {})[rec.parameter] = float(rec.value)
    return out


def _ref_value(value: Any) -> str | float:
    """A Table I value as a lookup key: ``"true"`` or the number rounded to 6 decimals."""
    text = str(value).strip().lower()
    return text if text == "true" else round(float(value), 6)


def reference_key(
    method: str, params: Mapping[str, Any] | str, settings: Mapping[str, Mapping[str, float]]
) -> tuple[str, str | float] | None:
    """The ``(parameter, value)`` of Castiel's Table I comparable with a grid point, or None.

    K-based methods map to ``("n_clusters", "true")``; a method with one grid axis maps to
    that parameter and its value (rounded to 6 decimals).  A point whose fixed parameters
    differ from the report's settings (``castiel_settings.csv``) has no match.
    """
    if isinstance(params, str):
        params = json.loads(params)
    spec = ALGORITHMS.get(method)
    if spec is None:
        return None
    for name, value in settings.get(method, {}).items():
        if name in params and not math.isclose(float(params[name]), value):
            return None
    if spec.needs_k:
        return ("n_clusters", "true")
    axes = [a for a in spec.grid.axis_names() if a in params]
    if len(axes) != 1:
        return None
    return (axes[0], _ref_value(params[axes[0]]))


def table_one(
    stats: pd.DataFrame,
    reference: pd.DataFrame,
    *,
    model: str,
    score: str = "ari",
) -> pd.DataFrame:
    """Every method × grid point × dataset of one model beside Castiel's published value.

    Returns
    -------
    DataFrame
        One row per (method, setting, dataset): ``ref_param``, ``ref_value`` (the Table I key
        the point maps to, None when none), ``mean``, ``two_std`` (ours over the subsets),
        ``published_mean``, ``published_2std`` (NaN where the report has no such cell — it
        published ARI only), ``diff`` (ours − published) and ``beyond`` (``|diff|`` larger
        than the published 2·std).
    """
    cols = [
        "method",
        "setting",
        "order",
        "dataset",
        "ref_param",
        "ref_value",
        "mean",
        "two_std",
        "published_mean",
        "published_2std",
        "diff",
        "beyond",
    ]
    if stats.empty:
        return pd.DataFrame(columns=cols)
    sub = stats[stats["model"] == model]
    settings = _reference_settings()
    ref = {}
    if score == "ari":
        ref = {
            (r.method, r.parameter, _ref_value(r.value), r.dataset): (r.ari_mean, r.ari_2std)
            for r in reference.itertuples()
        }
    rows = []
    for rec in sub.itertuples():
        key = reference_key(rec.method, rec.params, settings)
        pub = ref.get((rec.method, *key, rec.dataset)) if key else None
        mean, two_std = getattr(rec, f"{score}_mean"), getattr(rec, f"{score}_2std")
        pm, ps = pub if pub else (np.nan, np.nan)
        diff = mean - pm
        rows.append(
            {
                "method": rec.method,
                "setting": rec.setting,
                "order": rec.order,
                "dataset": rec.dataset,
                "ref_param": key[0] if key else None,
                "ref_value": key[1] if key else None,
                "mean": mean,
                "two_std": two_std,
                "published_mean": pm,
                "published_2std": ps,
                "diff": diff,
                "beyond": bool(pub is not None and abs(diff) > ps),
            }
        )
    return pd.DataFrame(rows, columns=cols)


def table_one_display(
    long: pd.DataFrame, datasets: Sequence[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Wide Table I: rows (method, setting); per dataset ``ours``, ``published``, ``Δ``.

    Returns the table of strings and a same-shaped table of CSS (cells beyond the published
    2·std shaded).  The published and Δ columns are left out when no cell has a published value.
    """
    if long.empty:
        return pd.DataFrame(), pd.DataFrame()
    with_ref = long["published_mean"].notna().any()
    datasets = _ordered(long["dataset"], datasets)
    sub_cols = ("ours", "published", "Δ") if with_ref else ("ours",)
    cols = pd.MultiIndex.from_tuples(
        [(d, c) for d in datasets for c in sub_cols], names=["dataset", ""]
    )
    keys = (
        long[["method", "setting", "order"]]
        .drop_duplicates(["method", "setting"])
        .assign(m=lambda x: x["method"].map({m: i for i, m in enumerate(METHOD_ORDER)}).fillna(99))
        .sort_values(["m", "order"])
    )
    index = pd.MultiIndex.from_frame(keys[["method", "setting"]])
    table = pd.DataFrame("", index=index, columns=cols)
    css = pd.DataFrame("", index=index, columns=cols)
    for rec in long.itertuples():
        row = (rec.method, rec.setting)
        table.loc[row, (rec.dataset, "ours")] = f"{rec.mean:.3f} ± {rec.two_std:.3f}"
        if with_ref and not np.isnan(rec.published_mean):
            table.loc[row, (rec.dataset, "published")] = (
                f"{rec.published_mean:.3f} ± {rec.published_2std:.3f}"
            )
            table.loc[row, (rec.dataset, "Δ")] = f"{rec.diff:+.3f}"
            if rec.beyond:
                css.loc[row, (rec.dataset, "Δ")] = BEYOND_CSS
    return table, css


def scores_display(
    stats: pd.DataFrame,
    *,
    model: str,
    datasets: Sequence[str],
    scores: Sequence[str] = ("pairwise_f1", "bcubed_f1", "nmi"),
) -> pd.DataFrame:
    """Table I layout for the scores the Castiel report did not publish, side by side.

    Rows (method, setting) in registry and grid order; columns (dataset, score name) holding
    ``mean ± 2σ`` over the subsets.
    """
    sub = stats[stats["model"] == model] if not stats.empty else stats
    if sub.empty:
        return pd.DataFrame()
    datasets = _ordered(sub["dataset"], datasets)
    keys = (
        sub[["method", "setting", "order"]]
        .drop_duplicates(["method", "setting"])
        .assign(m=lambda x: x["method"].map({m: i for i, m in enumerate(METHOD_ORDER)}).fillna(99))
        .sort_values(["m", "order"])
    )
    index = pd.MultiIndex.from_frame(keys[["method", "setting"]])
    cols = pd.MultiIndex.from_tuples(
        [(d, SCORE_NAMES[s]) for d in datasets for s in scores], names=["dataset", ""]
    )
    table = pd.DataFrame("", index=index, columns=cols)
    for rec in sub.itertuples():
        for s in scores:
            table.loc[(rec.method, rec.setting), (rec.dataset, SCORE_NAMES[s])] = (
                f"{getattr(rec, f'{s}_mean'):.3f} ± {getattr(rec, f'{s}_2std'):.3f}"
            )
    return table


def style_table(
    table: pd.DataFrame, css: pd.DataFrame | None = None, *, caption: str = ""
) -> Styler:
    """A display table as a Styler with the study's table class (and optional cell CSS)."""
    styler = table.style.set_table_attributes('class="study-table"')
    if css is not None and not css.empty:
        styler = styler.apply(lambda _: css, axis=None)
    if caption:
        styler = styler.set_caption(caption)
    return styler


def beyond_published(long_tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Cells (of every model's ARI Table I) where ours differs by more than the published 2·std."""
    frames = [t.assign(model=m) for m, t in long_tables.items() if not t.empty]
    if not frames:
        return pd.DataFrame()
    df = pd.concat(frames, ignore_index=True)
    df = df[df["beyond"]]
    return df[
        [
            "model",
            "dataset",
            "method",
            "setting",
            "mean",
            "two_std",
            "published_mean",
            "published_2std",
            "diff",
        ]
    ].reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# clusters, runtime, verification
# --------------------------------------------------------------------------------------------
def clusters_runtime_table(stats: pd.DataFrame, best: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, model, method): clusters found vs true at the best point, and runtime.

    Columns ``setting``, ``clusters found`` (mean over subsets), ``true identities``,
    ``found / true``, ``median s / fit`` (median over subsets at the best point),
    ``grid s / subset`` (the method's whole grid on one subset, mean over subsets) and
    ``total s`` (every grid point on every subset: the method's share of the sweep).
    """
    if best.empty:
        return pd.DataFrame()
    totals = stats.groupby(["dataset", "model", "method"], sort=False).agg(
        total_s=("runtime_total_s", "sum"), subsets=("subsets", "max")
    )
    rows = []
    for rec in best.itertuples():
        tot = totals.loc[(rec.dataset, rec.model, rec.method)]
        rows.append(
            {
                "dataset": rec.dataset,
                "model": rec.model,
                "method": rec.method,
                "setting": rec.setting,
                "clusters found": rec.n_clusters,
                "true identities": rec.n_true,
                "found / true": rec.n_clusters / rec.n_true if rec.n_true else np.nan,
                "median s / fit": rec.runtime_s,
                "grid s / subset": tot["total_s"] / max(int(tot["subsets"]), 1),
                "total s": tot["total_s"],
            }
        )
    return pd.DataFrame(rows)


def style_clusters_runtime(table: pd.DataFrame) -> Styler:
    """Formatted :func:`clusters_runtime_table`."""
    return style_table(table.set_index(["dataset", "model", "method"])).format(
        {
            "clusters found": "{:.1f}",
            "true identities": "{:.0f}",
            "found / true": "{:.2f}",
            "median s / fit": "{:.3g}",
            "grid s / subset": "{:.3g}",
            "total s": "{:.4g}",
        }
    )


def verification_table(embed_metrics: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """LFW 10-fold verification accuracy of each embed stage that scored it."""
    rows = []
    for name, m in embed_metrics.items():
        v = m.get("verification")
        if not v:
            continue
        rows.append(
            {
                "embeddings": name,
                "model": m.get("model", name.partition("-")[2]),
                "accuracy %": 100 * v["accuracy"],
                "± std %": 100 * v.get("accuracy_std", np.nan),
                "pairs scored": v.get("pairs_scored"),
                "pairs": v.get("pairs"),
                "accuracy % (unscored pairs as errors)": 100 * v.get("accuracy_all_pairs", np.nan),
            }
        )
    return pd.DataFrame(rows)


def protocol_line(params: Any) -> str:
    """The sweep protocol in one sentence, from ``params.sweep`` and ``params.seed``."""
    s = params.sweep
    return (
        f"Protocol: {s.n_subsets} random subsets of {s.fraction:.0%} of each dataset's faces, "
        f"drawn {'with' if s.replace else 'without'} replacement from keyed streams of seed "
        f"{params.seed} and shared by every model and method; K-based methods get the true "
        "number of identities of each subset; scores are means ± 2·std (population std) over "
        "the subsets."
    )
