"""Tables and curves of the per-(dataset, model) sweep report (``notebooks/30-sweep.ipynb``).

Means and bands use the study's one convention (:mod:`facecluster.sweep.summary`: mean ± 2σ,
population standard deviation over the subsets); which methods get a curve, and against which
parameter, comes from the registry's grids (:func:`facecluster.report.plots.curve_axes`).
"""

from __future__ import annotations

import json

import pandas as pd
from matplotlib.figure import Figure

from facecluster.report.plots import curve_axes
from facecluster.sweep.summary import best_points, grid_summary


def best_table(df: pd.DataFrame) -> pd.DataFrame:
    """The best grid point of each method by mean ARI, as a display table."""
    best = best_points(grid_summary(df))
    if best.empty:
        return best
    out = pd.DataFrame(
        {
            "method": best["method"],
            "params": best["params"].map(
                lambda p: ", ".join(f"{k}={v}" for k, v in json.loads(p).items()) or "K known"
            ),
            "ARI": [
                f"{m:.3f} ± {s:.3f}"
                for m, s in zip(best["ari_mean"], best["ari_2std"], strict=True)
            ],
            "pairwise F1": best["pairwise_f1_mean"].round(3),
            "BCubed F1": best["bcubed_f1_mean"].round(3),
            "NMI": best["nmi_mean"].round(3),
            "clusters (true)": [
                f"{c:.0f} ({t:.0f})"
                for c, t in zip(best["n_clusters"], best["n_true"], strict=True)
            ],
            "median s / fit": best["runtime_s"].round(3),
        }
    )
    return out.sort_values("ARI", ascending=False).reset_index(drop=True)


def curve_figure(
    df: pd.DataFrame, method: str, param: str, *, title: str = "", groups: list[str] | None = None
) -> Figure:
    """Mean ARI and pairwise F1 (± 2σ bands) against ``param`` of ``method``."""
    stats = grid_summary(df[df["method"] == method])
    values = pd.DataFrame([json.loads(p) for p in stats["params"]], index=stats.index)
    stats = stats.join(values)
    fig = Figure(figsize=(6.5, 3.2), layout="constrained")
    ax = fig.subplots()
    parts = [((), stats)] if not groups else list(stats.groupby(groups, sort=True))
    for gval, sub in parts:
        sub = sub.sort_values(param)
        for score, style in (("ari", "-"), ("pairwise_f1", "--")):
            mean, band = sub[f"{score}_mean"], sub[f"{score}_2std"]
            label = score
            if groups:
                key = gval if isinstance(gval, tuple) else (gval,)
                label += (
                    " (" + ", ".join(f"{g}={v}" for g, v in zip(groups, key, strict=True)) + ")"
                )
            ax.plot(sub[param], mean, style, marker="o", ms=3, label=label)
            ax.fill_between(sub[param], mean - band, mean + band, alpha=0.15)
    ax.set_xlabel(param)
    ax.set_ylabel("score")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(title or method)
    ax.legend(fontsize=7)
    return fig


def curve_figures(df: pd.DataFrame, *, title: str = "") -> list[Figure]:
    """One curve figure per method whose grid varies a parameter (axes from the registry)."""
    figures = []
    for method in df["method"].drop_duplicates():
        axes = curve_axes(df.drop_duplicates(["method", "params"]), method)
        if axes is None:
            continue
        x, groups = axes
        figures.append(
            curve_figure(df, method, x, groups=groups, title=f"{method}: {title}".rstrip(": "))
        )
    return figures
