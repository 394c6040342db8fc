"""Tables and curves of the per-(dataset, model) sweep report."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

SCORES = ("ari", "pairwise_f1", "bcubed_f1", "nmi")


def grid_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Mean and 2·std over subsets of every (method, params) grid point."""
    if df.empty:
        return pd.DataFrame()
    agg = {f"{s}_mean": (s, "mean") for s in SCORES}
    agg |= {f"{s}_2std": (s, lambda v: 2 * float(np.std(v.to_numpy(float)))) for s in SCORES}
    agg |= {
        "n_clusters": ("n_clusters", "mean"),
        "n_true": ("n_true_clusters", "mean"),
        "runtime_s": ("runtime_s", "median"),
        "subsets": ("subset", "nunique"),
    }
    return df.groupby(["method", "params"], sort=False).agg(**agg).reset_index()


def best_table(df: pd.DataFrame) -> pd.DataFrame:
    """The best grid point of each method by mean ARI, as a display table."""
    g = grid_summary(df)
    if g.empty:
        return g
    best = g.loc[g.groupby("method", sort=False)["ari_mean"].idxmax()]
    out = pd.DataFrame(
        {
            "method": best["method"],
            "params": best["params"].map(lambda p: ", ".join(f"{k}={v}" for k, v in json.loads(p).items()) or "K known"),
            "ARI": [f"{m:.3f} ± {s:.3f}" for m, s in zip(best["ari_mean"], best["ari_2std"], strict=True)],
            "pairwise F1": best["pairwise_f1_mean"].round(3),
            "BCubed F1": best["bcubed_f1_mean"].round(3),
            "NMI": best["nmi_mean"].round(3),
            "clusters (true)": [f"{c:.0f} ({t:.0f})" for c, t in zip(best["n_clusters"], best["n_true"], strict=True)],
            "median s / fit": best["runtime_s"].round(3),
        }
    )
    return out.sort_values("ARI", ascending=False).reset_index(drop=True)


def curve_figure(df: pd.DataFrame, method: str, param: str, *, title: str = "", group: str | None = None) -> Figure:
    """Mean ARI and pairwise F1 (± 2σ bands) against ``param`` of ``method``."""
    rows = df[df["method"] == method]
    fig = Figure(figsize=(6.5, 3.2), layout="constrained")
    ax = fig.subplots()
    groups = [(None, rows)] if group is None else list(rows.groupby(group))
    for gval, sub in groups:
        for score, style in (("ari", "-"), ("pairwise_f1", "--")):
            stats = sub.groupby(param)[score].agg(["mean", "std"]).reset_index()
            label = score if gval is None else f"{score} ({group}={gval})"
            ax.plot(stats[param], stats["mean"], style, marker="o", ms=3, label=label)
            ax.fill_between(stats[param], stats["mean"] - 2 * stats["std"], stats["mean"] + 2 * stats["std"], alpha=0.15)
    ax.set_xlabel(param)
    ax.set_ylabel("score")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(title or method)
    ax.legend(fontsize=7)
    return fig
