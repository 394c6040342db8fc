"""Tables of the study report: grid statistics, headline, best settings, clusters and runtime.

Pure functions of the results rows (``data/results/<d>-<m>.parquet``, one row per dataset ×
model × method × grid point × subset, read by :mod:`facecluster.report.inputs`), the embed
metrics and the package's reference data (``facecluster/reference/*.csv``).  Means and ±2σ
bands, and the best grid point of a method, are those of :mod:`facecluster.sweep.summary`
(the one convention: population standard deviation, ``ddof=0``; best = highest mean ARI,
first in grid order on ties).  Table I beside the published values is
:mod:`facecluster.report.table_one`.

Long tables (one row per cell) are what the other report modules compute with; the
``*_display`` / ``style_*`` functions turn them into wide, formatted tables for the HTML.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pandas.io.formats.style import Styler

from facecluster.cluster.registry import ALGORITHMS
from facecluster.report.inputs import low_resolution_label
from facecluster.sweep.summary import best_points, grid_edges, grid_summary

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


# --------------------------------------------------------------------------------------------
# reference data
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
    texts = ("castiel_table1.csv", "castiel_table1_runs.csv", "castiel_settings.csv")
    dtype = {"value": str} if name in texts else None
    return pd.read_csv(path, dtype=dtype, keep_default_na=False, na_values=[""])


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
    """:func:`facecluster.sweep.summary.grid_summary` with a ``setting`` label per grid point.

    Returns
    -------
    DataFrame
        ``dataset, model, method, params``, ``<score>_mean`` / ``<score>_2std`` (ddof=0) for
        ARI, pairwise F1, BCubed F1 and NMI, ``n_clusters`` (mean found), ``n_true`` (mean
        true), ``runtime_s`` (median seconds per fit), ``runtime_total_s`` (seconds over all
        subsets), ``subsets``, ``order`` (grid order within the method) and ``setting``
        (:func:`setting_label`).
    """
    out = grid_summary(results)
    out["setting"] = [
        setting_label(m, p) for m, p in zip(out["method"], out["params"], strict=True)
    ]
    return out


#: The mark of a best setting at an end of its grid (:func:`best_configs` ``edge``).
EDGE_MARK = "†"


def best_configs(stats: pd.DataFrame) -> pd.DataFrame:
    """The best grid point of each (dataset, model, method):
    :func:`facecluster.sweep.summary.best_points` (highest mean ARI, first on ties), with
    ``edge``: the parameters at an end of their grid axis
    (:func:`facecluster.sweep.summary.grid_edges`; ``""`` when interior)."""
    best = best_points(stats)
    if not best.empty:
        best = best.assign(edge=grid_edges(stats, best))
    return best


def headline_metrics(
    best: pd.DataFrame,
    status: pd.DataFrame | None = None,
    low_resolution: Mapping[str, float] | None = None,
    blind: pd.DataFrame | None = None,
) -> dict:
    """``{dataset: {model: {method: {ari_mean, ari_2std, pairwise_f1, bcubed_f1}}}}`` for
    ``metrics.json``.

    With ``blind`` (:func:`facecluster.sweep.summary.blind_choices`) the methods that need no
    K also get ``ari_blind``: the ARI at the setting chosen without labels.

    A (dataset, model) without results gets ``{"skipped": true}`` (or ``"missing"``) so that
    ``dvc metrics show`` says so.  A low-resolution dataset (``low_resolution``: ``{dataset:
    median face px}``, :func:`facecluster.report.inputs.low_resolution_datasets`) keeps its
    values and gets two keys beside its models: ``"low_resolution": true`` and
    ``"face_px_median"`` (it is not ranked).
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
            "bcubed_f1": round(float(rec.bcubed_f1_mean), 6),
        }
    for rec in blind.itertuples() if blind is not None and not blind.empty else ():
        cell = out.get(rec.dataset, {}).get(rec.model, {}).get(rec.method)
        if cell is not None:
            cell["ari_blind"] = round(float(rec.blind_ari), 6)
    for dataset, px in (low_resolution or {}).items():
        if dataset in out:
            out[dataset] |= {"low_resolution": True, "face_px_median": round(float(px), 2)}
    return out


def mean_pm(mean: float, spread: float) -> str:
    """``0.410 ± 0.012``: a cell that may break before the ``±`` only (no-break space after it),
    so a wide table of them can wrap (``style_table(wrap=True)``) without splitting a number."""
    return f"{mean:.3f} ±\u00a0{spread:.3f}"


def ordered(values: Iterable[str], order: Sequence[str]) -> list[str]:
    values = list(dict.fromkeys(values))
    return [v for v in order if v in values] + [v for v in values if v not in order]


def winners(
    best: pd.DataFrame, not_ranked: Iterable[str] = (), score: str = "ari_mean"
) -> pd.DataFrame:
    """The method with the highest ``score`` per (dataset, model) (all methods on exact ties).

    Datasets in ``not_ranked`` (the low-resolution ones) have no winner.
    """
    if not_ranked:
        best = best[~best["dataset"].isin(list(not_ranked))]
    if best.empty:
        return best
    top = best.groupby(["dataset", "model"], sort=False)[score].transform("max")
    return best[np.isclose(best[score], top, rtol=0, atol=1e-12)]


def ranking_disagreements(best: pd.DataFrame, not_ranked: Iterable[str] = ()) -> list[str]:
    """One markdown line per (dataset, model) whose best method by ARI is not the best by
    BCubed F1 (both at the grid point chosen by ARI)."""
    lines = []
    by_ari = winners(best, not_ranked)
    by_bcubed = winners(best, not_ranked, score="bcubed_f1_mean")
    for (dataset, model), a in by_ari.groupby(["dataset", "model"], sort=False):
        b = by_bcubed[(by_bcubed["dataset"] == dataset) & (by_bcubed["model"] == model)]
        if set(a["method"]) & set(b["method"]):
            continue
        ra, rb = a.iloc[0], b.iloc[0]
        lines.append(
            f"- **{dataset} × {model}**: best by ARI is {ra.method} (ARI {ra.ari_mean:.3f}, "
            f"BCubed F1 {ra.bcubed_f1_mean:.3f}, {ra.n_clusters:.0f} clusters for "
            f"{ra.n_true:.0f} identities); best by BCubed F1 is {rb.method} (ARI "
            f"{rb.ari_mean:.3f}, BCubed F1 {rb.bcubed_f1_mean:.3f}, {rb.n_clusters:.0f} "
            "clusters)."
        )
    return lines


#: The headline's column of what a user without labels gets (:func:`headline_display`).
NO_LABELS = "ARI without labels"
#: The headline's column of the clusters found against the true number (means over subsets).
CLUSTERS = "clusters / true"
#: What each headline score rewards (shown under the headline).
METRIC_NOTE = (
    "**What the scores reward.** ARI (adjusted Rand index) and pairwise F1 count *pairs* of "
    "faces: an identity with n faces weighs n², so the few largest identities decide them "
    "(George W. Bush has 530 of LFW's 7,606 study faces) and a method that keeps the big "
    "identities whole scores high even while it shatters or merges the small ones. BCubed F1 "
    "averages precision and recall over *faces* (each face: how much of its cluster is its "
    "identity, how much of its identity is its cluster), so every face counts once; it is the "
    "score to read when most identities are small, as in a personal photo collection. "
    "Clusters / true tells over-splitting (more clusters than identities) from over-merging."
)


def headline_display(
    best: pd.DataFrame,
    datasets: Sequence[str],
    models: Sequence[str],
    blind: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Wide headline: rows methods, columns (dataset, model, ``ARI ± 2σ`` | ``BCubed F1`` |
    :data:`CLUSTERS` [| :data:`NO_LABELS`]).

    BCubed F1 rather than pairwise F1 beside ARI: both ARI and pairwise F1 count pairs, so the
    largest identities dominate them and they nearly agree; BCubed averages over faces
    (:data:`METRIC_NOTE`).  Clusters found / true (means over the subsets) shows over- and
    under-splitting at a glance.
    Only the (dataset, model) pairs with results get columns (a feature dataset has one model).
    With ``blind`` (:func:`facecluster.sweep.summary.blind_choices`) a third column per pair
    gives the ARI at the setting chosen without labels; a method that is given K says so.
    """
    if best.empty:
        return pd.DataFrame()
    datasets = ordered(best["dataset"], datasets)
    models = ordered(best["model"], models)
    methods = ordered(best["method"], METHOD_ORDER)
    present = set(zip(best["dataset"], best["model"], strict=True))
    with_blind = blind is not None and not blind.empty
    scores = ("ARI ± 2σ", "BCubed F1", CLUSTERS, *((NO_LABELS,) if with_blind else ()))
    cols = pd.MultiIndex.from_tuples(
        [(d, m, c) for d in datasets for m in models if (d, m) in present for c in scores],
        names=["dataset", "model", ""],
    )
    table = pd.DataFrame("", index=pd.Index(methods, name="method"), columns=cols)
    for rec in best.itertuples():
        edge = f" {EDGE_MARK}" if getattr(rec, "edge", "") else ""
        table.loc[rec.method, (rec.dataset, rec.model, "ARI ± 2σ")] = (
            f"{mean_pm(rec.ari_mean, rec.ari_2std)}{edge}"
        )
        table.loc[rec.method, (rec.dataset, rec.model, "BCubed F1")] = f"{rec.bcubed_f1_mean:.3f}"
        table.loc[rec.method, (rec.dataset, rec.model, CLUSTERS)] = (
            f"{rec.n_clusters:.0f} / {rec.n_true:.0f}"
        )
        if with_blind:
            spec = ALGORITHMS.get(rec.method)
            table.loc[rec.method, (rec.dataset, rec.model, NO_LABELS)] = (
                "given K" if spec is not None and spec.needs_k else "–"
            )
    if with_blind:
        for rec in blind.itertuples():
            cell = (rec.method, (rec.dataset, rec.model, NO_LABELS))
            if rec.method in table.index and cell[1] in table.columns:
                table.loc[cell] = f"{rec.blind_ari:.3f}"
    return table


def split_by_dataset(table: pd.DataFrame) -> list[pd.DataFrame]:
    """The wide headline (:func:`headline_display`) as one table per dataset, in column
    order, each keeping its dataset as the top header and only the methods it has."""
    parts = []
    for dataset in dict.fromkeys(table.columns.get_level_values(0)):
        part = table.loc[:, [dataset]]
        parts.append(part[(part != "").any(axis=1)])
    return parts


#: The Castiel report's rule of thumb, the baseline of the blind choice: "the best eps /
#: bandwidth is about 0.7 for any database".
CASTIEL_RULE: dict[str, dict[str, float]] = {
    "dbscan": {"eps": 0.7},
    "meanshift": {"bandwidth": 0.7},
}


def blind_display(blind: pd.DataFrame, stats: pd.DataFrame | None = None) -> pd.DataFrame:
    """The blind-choice table: per (dataset, model, method) oracle vs blind ARI and BCubed F1.

    ``blind`` is :func:`facecluster.sweep.summary.blind_choices`; ``stats`` the grid
    statistics, for the Castiel rule column (:data:`CASTIEL_RULE`; ``–`` where it has none
    or without ``stats``).
    """
    if blind.empty:
        return pd.DataFrame()
    rule = {}
    for method, point in CASTIEL_RULE.items() if stats is not None and not stats.empty else ():
        at = stats[stats["method"] == method]
        at = at[[_matches(json.loads(p), point) for p in at["params"]]]
        rule |= {(r.dataset, r.model, method): r.ari_mean for r in at.itertuples()}
    rows = []
    for rec in blind.itertuples():
        fixed = rule.get((rec.dataset, rec.model, rec.method))
        rows.append(
            {
                "dataset": rec.dataset,
                "model": rec.model,
                "method": rec.method,
                "ARI with labels": f"{rec.oracle_ari:.3f}",
                "ARI without": f"{rec.blind_ari:.3f}",
                "ARI lost": f"{rec.loss_ari:+.3f}",
                "BCubed F1 with": f"{rec.oracle_bcubed_f1:.3f}",
                "BCubed F1 without": f"{rec.blind_bcubed_f1:.3f}",
                "setting with labels": setting_label(rec.method, rec.oracle_params),
                "chosen without (most subsets)": (
                    setting_label(rec.method, rec.blind_params) if rec.blind_params else "–"
                ),
                "same choice": f"{rec.agree:.0%}",
                "ARI at 0.7 (Castiel rule)": "–" if fixed is None else f"{fixed:.3f}",
            }
        )
    table = pd.DataFrame(rows)
    order = {m: i for i, m in enumerate(METHOD_ORDER)}
    return table.sort_values(
        ["dataset", "model", "method"],
        key=lambda c: c.map(order) if c.name == "method" else c,
        kind="stable",
    ).reset_index(drop=True)


def _matches(params: Mapping[str, Any], point: Mapping[str, float]) -> bool:
    return all(
        k in params and np.isclose(params[k], v, rtol=0, atol=1e-9) for k, v in point.items()
    )


def blind_advice(
    blind: pd.DataFrame,
    datasets: Sequence[str],
    models: Sequence[str],
    not_ranked: Iterable[str] = (),
) -> str:
    """Markdown: per dataset and model, the method to use without labels, with its numbers.

    The method with the highest ARI at its blind choice (:data:`NO_LABELS`); its BCubed F1
    and what the labels would have added beside it.  Low-resolution datasets are named but
    not advised on.
    """
    if blind.empty:
        return ""
    lines = []
    skip = set(not_ranked)
    for d in ordered(blind["dataset"], datasets):
        for m in ordered(blind.loc[blind["dataset"] == d, "model"], models):
            part = blind[(blind["dataset"] == d) & (blind["model"] == m)]
            if d in skip:
                lines.append(f"- **{d}** × {m}: not ranked (low-resolution faces).")
                continue
            top = part.sort_values("blind_ari", ascending=False, kind="stable").iloc[0]
            lines.append(
                f"- **{d}** × {m}: **{top['method']}** "
                f"({setting_label(top['method'], top['blind_params'] or '{}')} on most subsets): "
                f"ARI {top['blind_ari']:.3f}, BCubed F1 {top['blind_bcubed_f1']:.3f} "
                f"without labels; {top['loss_ari']:+.3f} ARI below its best with labels "
                f"({top['oracle_ari']:.3f})."
            )
    return "\n".join(lines)


def best_settings_display(
    best: pd.DataFrame, datasets: Sequence[str], models: Sequence[str]
) -> pd.DataFrame:
    """Wide table of the best grid point's label: rows methods, columns (dataset, model)."""
    if best.empty:
        return pd.DataFrame()
    if "edge" in best:
        label = [
            f"{s} {EDGE_MARK} grid edge: {e}" if e else s
            for s, e in zip(best["setting"], best["edge"], strict=True)
        ]
        best = best.assign(setting=label)
    table = best.pivot(index="method", columns=["dataset", "model"], values="setting")
    cols = [
        (d, m)
        for d in ordered(best["dataset"], datasets)
        for m in ordered(best["model"], models)
        if (d, m) in table.columns
    ]
    return table.reindex(index=ordered(best["method"], METHOD_ORDER), columns=cols).fillna("")


def style_headline(
    table: pd.DataFrame,
    best: pd.DataFrame,
    low_resolution: Mapping[str, float] | None = None,
    caption: bool = True,
) -> Styler:
    """The headline (or one dataset's part of it) with the winner of each (dataset, model)
    highlighted.

    A low-resolution dataset (``{dataset: median face px}``) has no winner and its column
    header says so (:func:`mark_not_ranked`).  ``caption=False`` for the parts after the
    first (one caption above them all).
    """
    low = dict(low_resolution or {})
    css = pd.DataFrame("", index=table.index, columns=table.columns)
    for column, score in (("ARI ± 2σ", "ari_mean"), ("BCubed F1", "bcubed_f1_mean")):
        for rec in winners(best, not_ranked=low, score=score).itertuples():
            if (rec.dataset, rec.model, column) in css.columns and rec.method in css.index:
                css.loc[rec.method, (rec.dataset, rec.model, column)] = WINNER_CSS
    text = ""
    if caption:
        text = (
            "Best grid point of each method (by mean ARI); the best ARI and the best BCubed F1 "
            "of each dataset × model highlighted"
        )
        if low and set(low) & set(best["dataset"]):
            text += " (low-resolution datasets are not ranked: see below)"
        if "edge" in best and best["edge"].astype(bool).any():
            text += (
                f"; {EDGE_MARK}: the best setting is at an end of its grid, so the optimum may "
                "lie outside it (the settings table names the parameter)"
            )
    styler = (
        table.style.apply(lambda _: css, axis=None)
        .set_caption(text)
        .set_table_attributes('class="study-table headline"')
    )
    ceiling = {
        d: f"{d} (at the ceiling: most methods reach ARI ≥ {CEILING_ARI:g})"
        for d in ceiling_datasets(best, low)
    }
    return mark_not_ranked(styler, low, also=ceiling)


#: A dataset on which most methods reach this ARI cannot tell them apart (a ceiling).
CEILING_ARI = 0.99


def ceiling_datasets(best: pd.DataFrame, not_ranked: Iterable[str] = ()) -> list[str]:
    """The ranked datasets where at least half of the method × model best points reach
    :data:`CEILING_ARI`: a winner there says little (Yale: nearly every method is perfect)."""
    skip = set(not_ranked)
    out = []
    for dataset, part in best.groupby("dataset", sort=False):
        if dataset not in skip and bool((part["ari_mean"] >= CEILING_ARI).mean() >= 0.5):
            out.append(str(dataset))
    return out


def mark_not_ranked(
    styler: Styler,
    low_resolution: Mapping[str, float] | None,
    also: Mapping[str, str] | None = None,
) -> Styler:
    """Relabel the dataset headers (first column level) of the low-resolution datasets:
    ``muct (24 px faces: not ranked)``, and of the datasets in ``also`` (``{dataset:
    header}``, e.g. a ceiling); the table's keys stay the dataset names."""
    labels = dict(also or {}) | {
        d: low_resolution_label(d, px) for d, px in (low_resolution or {}).items()
    }
    if not labels or styler.data.empty:
        return styler
    level = 0 if isinstance(styler.data.columns, pd.MultiIndex) else None
    return styler.format_index(lambda v: labels.get(v, v), axis=1, level=level, escape="html")


# --------------------------------------------------------------------------------------------
# Table I beside the published values
# --------------------------------------------------------------------------------------------
def style_table(
    table: pd.DataFrame,
    css: pd.DataFrame | None = None,
    *,
    caption: str = "",
    wrap: Sequence[Any] | bool = (),
) -> Styler:
    """A display table as a Styler with the study's table class (and optional cell CSS).

    Cells stay on one line (numbers never break); ``wrap`` names the text columns that may
    wrap (``True``: every column) so that a wide table fits a 1366 px screen.
    """
    styler = table.style.set_table_attributes('class="study-table"')
    if css is not None and not css.empty:
        styler = styler.apply(lambda _: css, axis=None)
    columns = list(table.columns) if wrap is True else [c for c in wrap or () if c in table]
    if columns:
        styler = styler.set_properties(subset=columns, **{"white-space": "normal"})
    if caption:
        styler = styler.set_caption(caption)
    return styler


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
