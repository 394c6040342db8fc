"""Figures of the study report and the DVC plot data behind the parameter curves.

Curves (the Castiel report's Fig. 3): mean ARI and pairwise F1 against a method's swept
parameter, one line per dataset with a ±2σ band (population std over the subsets,
:mod:`facecluster.sweep.summary`).  The same numbers are written as CSV files under
``reports/plots/`` so ``dvc plots show`` can draw them: one file per model × method (× value
of a second grid axis, e.g. rank-order's ``k``) × dataset,
``reports/plots/<model>-<method>[-<axis><value>]-<dataset>.csv``, one row per parameter value,
and every file has the same columns, :data:`PLOT_COLUMNS`: ``param, ari, ari_lo, ari_hi,
pairwise_f1, pairwise_f1_lo, pairwise_f1_hi`` (mean, mean − 2σ, mean + 2σ).  One ``plots:``
entry for the folder in dvc.yaml (``x: param``, ``y: [ari, pairwise_f1]``) covers them all,
whatever the datasets and models; a dataset without results has no file.

Figures are :class:`matplotlib.figure.Figure` objects (no pyplot state), embedded in the HTML
by :mod:`facecluster.report.inline`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from facecluster.cluster.registry import ALGORITHMS
from facecluster.integrity import atomic_path
from facecluster.sweep.summary import best_points, grid_edge_axes

log = logging.getLogger(__name__)

CURVE_SCORES = ("ari", "pairwise_f1")
_SCORE_LABEL = {"ari": "ARI", "pairwise_f1": "pairwise F1"}


#: Okabe & Ito's colour-blind-safe palette (black left out: it is the grid and text colour).
OKABE_ITO = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7")
#: One marker per series as well, so lines stay apart in grey print.
MARKERS = ("o", "s", "^", "D", "v", "P", "X")


def series_style(names: Sequence[str]) -> dict[str, tuple[str, str]]:
    """``{name: (colour, marker)}``, one distinct pair per series (cycled past seven)."""
    return {
        n: (OKABE_ITO[i % len(OKABE_ITO)], MARKERS[i % len(MARKERS)]) for i, n in enumerate(names)
    }


# --------------------------------------------------------------------------------------------
# curve data
# --------------------------------------------------------------------------------------------
def curve_axes(stats: pd.DataFrame, method: str) -> tuple[str, list[str]] | None:
    """``(x, groups)`` of a method's curves, or None when its grid has a single point.

    ``x`` is the last grid axis of the registry that takes more than one value in the results;
    the other axes with several values (rank-order's ``k``) make one curve each.
    """
    sub = stats[stats["method"] == method]
    spec = ALGORITHMS.get(method)
    if sub.empty or spec is None:
        return None
    values = pd.DataFrame([json.loads(p) for p in sub["params"]])
    varying = [a for a in spec.grid.axis_names() if a in values and values[a].nunique() > 1]
    if not varying:
        return None
    return varying[-1], varying[:-1]


@dataclass(frozen=True)
class Curves:
    """The curve data of one method (every model and dataset).

    Attributes
    ----------
    method : str
    x : str
        The swept parameter on the x axis (``eps``, ``bandwidth``, ``threshold``).
    groups : tuple of str
        Other grid axes with several values; one curve per combination (rank-order: ``k``).
    data : DataFrame
        ``model, dataset, <groups…>, param`` (the x value), then per score of
        :data:`CURVE_SCORES` ``<score>_mean``, ``<score>_lo``, ``<score>_hi`` (mean ∓ 2·std)
        and ``subsets``.
    edges : DataFrame
        The rows of ``data`` that are a (dataset, model)'s best grid point
        (:func:`facecluster.sweep.summary.best_points`) lying at an end of the ``x`` axis
        (:func:`facecluster.sweep.summary.grid_edge_axes`): the optimum may lie outside the grid.
    """

    method: str
    x: str
    groups: tuple[str, ...]
    data: pd.DataFrame
    edges: pd.DataFrame = field(default_factory=pd.DataFrame)

    def items(self, model: str | None = None) -> list[tuple[dict, pd.DataFrame]]:
        """``[(group values, rows), …]`` (one item with ``{}`` when there are no groups)."""
        data = self.data if model is None else self.data[self.data["model"] == model]
        if not self.groups:
            return [({}, data)]
        return [
            (dict(zip(self.groups, key if isinstance(key, tuple) else (key,), strict=True)), g)
            for key, g in data.groupby(list(self.groups), sort=True)
        ]


def curve_data(stats: pd.DataFrame, method: str) -> Curves | None:
    """The curves of one method from :func:`facecluster.report.tables.grid_stats`, or None
    when its grid has a single point."""
    axes = curve_axes(stats, method)
    if axes is None:
        return None
    x, groups = axes
    sub = stats[stats["method"] == method].reset_index(drop=True)
    values = pd.DataFrame([json.loads(p) for p in sub["params"]])
    out = sub[["model", "dataset"]].copy()
    for g in groups:
        out[g] = values[g].to_numpy()
    out["param"] = values[x].astype(float).to_numpy()
    for s in CURVE_SCORES:
        mean, two = sub[f"{s}_mean"], sub[f"{s}_2std"]
        out[f"{s}_mean"], out[f"{s}_lo"], out[f"{s}_hi"] = mean, mean - two, mean + two
    out["subsets"] = sub["subsets"]
    best = best_points(sub)
    keys = ["model", "dataset", "params"]
    flagged = {
        tuple(rec)
        for rec, edges in zip(
            best[keys].itertuples(index=False), grid_edge_axes(sub, best), strict=True
        )
        if x in edges
    }
    edges = out[[tuple(rec) in flagged for rec in sub[keys].itertuples(index=False)]]
    out = out.sort_values([*groups, "model", "dataset", "param"], kind="stable")
    return Curves(
        method, x, tuple(groups), out.reset_index(drop=True), edges.reset_index(drop=True)
    )


def curve_figure(
    curves: Curves, *, model: str, datasets: Sequence[str], title: str = ""
) -> Figure:
    """ARI and pairwise F1 against the parameter, one line (±2σ band) per dataset.

    Without other grid axes: two panels side by side (ARI, pairwise F1).  With them
    (rank-order's ``k``): one row per score and one column per value of the other axes.
    """
    items = curves.items(model)
    n = len(items)
    if n == 1:
        fig = Figure(figsize=(9.5, 3.0), layout="constrained")
        axes = fig.subplots(1, len(CURVE_SCORES), squeeze=False)
        cells = [(axes[0, j], items[0], score) for j, score in enumerate(CURVE_SCORES)]
    else:
        fig = Figure(figsize=(min(3.0 * n, 13.0), 5.2), layout="constrained")
        axes = fig.subplots(len(CURVE_SCORES), n, squeeze=False, sharey=True)
        cells = [
            (axes[i, j], item, score)
            for i, score in enumerate(CURVE_SCORES)
            for j, item in enumerate(items)
        ]
    style = series_style(datasets)
    edges = curves.edges
    if not edges.empty:
        edges = edges[edges["model"] == model]
    edge_shown = False
    for ax, (gvals, g), score in cells:
        for dataset in [d for d in datasets if d in set(g["dataset"])]:
            c = g[g["dataset"] == dataset].sort_values("param")
            color, marker = style[dataset]
            ax.plot(
                c["param"], c[f"{score}_mean"], marker=marker, ms=4, color=color, label=dataset
            )
            ax.fill_between(
                c["param"],
                c[f"{score}_lo"],
                c[f"{score}_hi"],
                color=color,
                alpha=0.15,
                linewidth=0,
            )
            if score != "ari" or edges.empty:
                continue
            mine = edges[edges["dataset"] == dataset]
            for k, v in gvals.items():
                mine = mine[mine[k] == v]
            for rec in mine.itertuples():  # the best point at an end of the grid: flag it
                ax.plot(
                    rec.param,
                    rec.ari_mean,
                    marker="<" if rec.param == c["param"].min() else ">",
                    ms=10,
                    mfc="none",
                    mew=1.5,
                    color=color,
                    linestyle="none",
                )
                edge_shown = True
        ax.set_xlabel(curves.x)
        ax.set_ylabel(_SCORE_LABEL[score])
        ax.set_ylim(-0.05, 1.05)
        ax.grid(alpha=0.3)
        suffix = ", ".join(f"{k}={v}" for k, v in gvals.items())
        ax.set_title(_SCORE_LABEL[score] + (f" ({suffix})" if suffix else ""), fontsize=9)
    last = cells[len(cells) - 1][0]
    handles, labels = last.get_legend_handles_labels()
    if edge_shown:
        handles.append(Line2D([], [], marker=">", ms=8, mfc="none", color="0.3", linestyle="none"))
        labels.append("best at the grid's end")
    last.legend(handles, labels, fontsize=8, loc="best")
    fig.suptitle(title or f"{curves.method} × {model}: mean ± 2σ over the subsets", fontsize=10)
    return fig


#: The columns of every plot data file.
PLOT_COLUMNS = ("param", *(f"{s}{part}" for s in CURVE_SCORES for part in ("", "_lo", "_hi")))


def plot_file_name(model: str, method: str, dataset: str, group: dict | None = None) -> str:
    """``facenet-dbscan-lfw.csv``; with a second axis ``facenet-rank_order-k50-lfw.csv``."""
    suffix = "".join(f"-{k}{v}" for k, v in (group or {}).items())
    return f"{model}-{method}{suffix}-{dataset}.csv"


def plot_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """DVC plot data of one curve (rows of one model, group and dataset of
    :attr:`Curves.data`): :data:`PLOT_COLUMNS`, one row per parameter value, sorted."""
    rows = rows.sort_values("param", kind="stable")
    out = pd.DataFrame({"param": rows["param"].to_numpy()})
    for s in CURVE_SCORES:
        out[s] = rows[f"{s}_mean"].to_numpy()
        out[f"{s}_lo"] = rows[f"{s}_lo"].to_numpy()
        out[f"{s}_hi"] = rows[f"{s}_hi"].to_numpy()
    return out[list(PLOT_COLUMNS)]


def write_plot_files(
    curves_by_method: Mapping[str, Curves],
    out_dir: str | Path,
    *,
    models: Sequence[str],
    datasets: Sequence[str],
) -> list[Path]:
    """Write every curve as DVC plot CSV under ``out_dir`` (stale CSVs there are removed).

    One file per (model, method, group, dataset) with results, named by
    :func:`plot_file_name`, holding :func:`plot_frame`; ``models`` and ``datasets`` give the
    order.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for method, curves in curves_by_method.items():
        for model in models:
            for gvals, g in curves.items(model):
                for dataset in datasets:
                    rows = g[g["dataset"] == dataset]
                    if rows.empty:
                        continue
                    path = out_dir / plot_file_name(model, method, dataset, gvals)
                    with atomic_path(path) as tmp:
                        plot_frame(rows).to_csv(tmp, index=False, float_format="%.6g")
                    written.append(path)
    keep = set(written)
    for stale in out_dir.glob("*.csv"):
        if stale not in keep:
            stale.unlink()
    log.info("wrote %d plot data files to %s", len(written), out_dir)
    return written


# --------------------------------------------------------------------------------------------
# runtime
# --------------------------------------------------------------------------------------------
def runtime_figure(
    table: pd.DataFrame, *, datasets: Sequence[str], models: Sequence[str]
) -> Figure:
    """Median seconds per fit at the best point, per method (log scale), one panel per model.

    ``table`` is :func:`facecluster.report.tables.clusters_runtime_table`.  Each panel has a
    bar group per dataset with results for its model (a dataset of precomputed vectors has
    one model); a dataset keeps its colour across panels, and a panel whose datasets differ
    from the first panel's has a legend of its own.
    """
    models = [m for m in models if m in set(table["model"])]
    fig = Figure(figsize=(9.5, 3.0), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, max(len(models), 1), squeeze=False)).ravel()
    methods = list(dict.fromkeys(table["method"]))
    present = [d for d in datasets if d in set(table["dataset"])]
    present += [d for d in dict.fromkeys(table["dataset"]) if d not in present]
    colors = {d: c for d, (c, _) in series_style(present).items()}
    first: list[str] | None = None
    for ax, model in zip(axes, models, strict=False):
        rows = table[table["model"] == model]
        here = [d for d in present if d in set(rows["dataset"])]
        width = 0.8 / max(len(here), 1)
        for i, dataset in enumerate(here):
            t = rows[rows["dataset"] == dataset].set_index("method")
            y = [float(t.loc[m, "median s / fit"]) if m in t.index else np.nan for m in methods]
            x = np.arange(len(methods)) + i * width
            ax.bar(x, y, width, label=dataset, color=colors[dataset])
        ax.set_yscale("log")
        ax.set_xticks(np.arange(len(methods)) + width * (len(here) - 1) / 2)
        ax.set_xticklabels(methods, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel("median s per fit")
        ax.set_title(model, fontsize=9)
        ax.grid(alpha=0.3, axis="y")
        if first is None or here != first:
            ax.legend(fontsize=8)
        first = here if first is None else first
    return fig
