"""Summaries of a results table: the one "best grid point" rule and the one ±2σ convention.

Every table and figure of the study that shows a mean over the subsets with a band uses
:func:`grid_summary`: the mean and **twice the population standard deviation** (``ddof=0``,
numpy's default, as the Castiel report computes its ± 2σ) of each score over the subsets of a
grid point.  The best grid point of a method is the one with the highest mean ARI, the first
in grid order on ties (:func:`best_points`).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

#: The scores summarised (mean and 2σ) for every grid point.
SCORES = ("ari", "pairwise_f1", "bcubed_f1", "nmi")
#: Population standard deviation over the subsets (numpy's default).
DDOF = 0


def two_std(values: pd.Series | np.ndarray) -> float:
    """Twice the population standard deviation (``ddof=0``) of ``values``."""
    return 2.0 * float(np.std(np.asarray(values, dtype=float), ddof=DDOF))


def grid_summary(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and 2σ over the subsets of every grid point, in the table's own order.

    Parameters
    ----------
    results : DataFrame
        Rows of the sweep's table (:mod:`facecluster.sweep.engine`), one or several
        (dataset, model) pairs.

    Returns
    -------
    DataFrame
        One row per ``dataset, model, method, params`` (grid order kept): ``<score>_mean`` and
        ``<score>_2std`` for every score of :data:`SCORES`, ``n_clusters`` (mean found),
        ``n_true`` (mean true), ``runtime_s`` (median seconds per fit), ``runtime_total_s``
        (seconds over all subsets), ``subsets`` (how many), ``order`` (grid order within the
        method).  Empty for an empty table.
    """
    keys = ["dataset", "model", "method", "params"]
    if results.empty:
        return pd.DataFrame(columns=keys)
    agg: dict[str, Any] = {f"{s}_mean": (s, "mean") for s in SCORES}
    agg |= {f"{s}_2std": (s, two_std) for s in SCORES}
    agg |= {
        "n_clusters": ("n_clusters", "mean"),
        "n_true": ("n_true_clusters", "mean"),
        "runtime_s": ("runtime_s", "median"),
        "runtime_total_s": ("runtime_s", "sum"),
        "subsets": ("subset", "nunique"),
    }
    out = results.groupby(keys, sort=False).agg(**agg).reset_index()
    out["order"] = out.groupby(["dataset", "model", "method"], sort=False).cumcount()
    return out


def best_points(summary: pd.DataFrame) -> pd.DataFrame:
    """The grid point with the highest mean ARI of each (dataset, model, method).

    ``summary`` is :func:`grid_summary`'s table (or one with the same key and ``ari_mean``
    columns); ties go to the first point in grid order.
    """
    if summary.empty:
        return summary
    idx = summary.groupby(["dataset", "model", "method"], sort=False)["ari_mean"].idxmax()
    return summary.loc[idx.to_numpy()].reset_index(drop=True)


def best_scores(results: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """The best grid point of each method of one (dataset, model) table, for metrics JSON.

    Returns
    -------
    dict
        ``{method: {"params": {...}, "ari_mean", "ari_2std", "pairwise_f1", "bcubed_f1",
        "nmi", "n_clusters", "n_subsets"}}`` (means over the subsets of the best point).
    """
    out: dict[str, dict[str, Any]] = {}
    for rec in best_points(grid_summary(results)).itertuples():
        out[str(rec.method)] = {
            "params": json.loads(rec.params),
            "ari_mean": float(rec.ari_mean),
            "ari_2std": float(rec.ari_2std),
            "pairwise_f1": float(rec.pairwise_f1_mean),
            "bcubed_f1": float(rec.bcubed_f1_mean),
            "nmi": float(rec.nmi_mean),
            "n_clusters": float(rec.n_clusters),
            "n_subsets": int(rec.subsets),
        }
    return out


# --------------------------------------------------------------------------------------------
# choosing the parameter without labels
# --------------------------------------------------------------------------------------------
#: The label-free criterion of the blind choice (a column of the results table).
BLIND_CRITERION = "silhouette"


def blind_choices(
    results: pd.DataFrame, criterion: str = BLIND_CRITERION, scores: tuple[str, ...] = SCORES
) -> pd.DataFrame:
    """What a user without labels gets, against the best setting chosen with them.

    For every (dataset, model, method) that needs no K, **on each subset** the grid point
    with the highest ``criterion`` (computed without the identities; NaN points skipped,
    the first in grid order on ties) is taken, and its scores are averaged over the subsets.
    The oracle is :func:`best_points` (highest mean ARI, chosen on the same subsets: an
    optimistic figure).  A method with one grid point (FINCH) gets that point both ways.

    Returns
    -------
    DataFrame
        One row per (dataset, model, method): ``oracle_params``, ``blind_params`` (the
        point chosen on most subsets), ``agree`` (share of subsets whose blind choice is the
        oracle's point), ``subsets``, and per score ``oracle_<s>``, ``blind_<s>``,
        ``loss_<s>`` (oracle − blind).  Empty when nothing qualifies.
    """
    from facecluster.cluster.registry import ALGORITHMS

    keys = ["dataset", "model", "method"]
    if results.empty or criterion not in results:
        return pd.DataFrame(columns=keys)
    free = results[results["method"].map(lambda m: not ALGORITHMS[m].needs_k)]
    if free.empty:
        return pd.DataFrame(columns=keys)
    summary = grid_summary(free)
    oracle = best_points(summary).set_index(keys)
    rows = []
    for key, group in free.groupby(keys, sort=False):
        order = {p: i for i, p in enumerate(dict.fromkeys(group["params"]))}
        g = group.assign(_order=group["params"].map(order)).sort_values(["subset", "_order"])
        crit = g[criterion].astype(float)
        chosen = (
            g[crit.notna()]
            .loc[lambda d: d[criterion] == d.groupby("subset")[criterion].transform("max")]
            .groupby("subset", sort=True)
            .head(1)
        )
        best = oracle.loc[key]
        row: dict[str, Any] = dict(zip(keys, key, strict=True))
        row["oracle_params"] = best["params"]
        row["blind_params"] = chosen["params"].mode().iloc[0] if len(chosen) else None
        row["agree"] = float((chosen["params"] == best["params"]).mean()) if len(chosen) else 0.0
        row["subsets"] = int(chosen["subset"].nunique())
        for s in scores:
            row[f"oracle_{s}"] = float(best[f"{s}_mean"])
            row[f"blind_{s}"] = float(chosen[s].mean()) if len(chosen) else float("nan")
            row[f"loss_{s}"] = row[f"oracle_{s}"] - row[f"blind_{s}"]
        rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# selection on one half of the subsets, score on the other
# --------------------------------------------------------------------------------------------
def held_out_choices(results: pd.DataFrame, score: str = "ari") -> pd.DataFrame:
    """The best grid point chosen on half of the subsets, scored on the other half.

    The study's "best setting" (:func:`best_points`) is chosen on the same subsets it is
    reported on, an optimistic figure.  Here the subsets are split by parity of their id;
    the point with the highest mean ``score`` on the even subsets is scored on the odd ones
    and vice versa, and the two held-out means are averaged (ties: first in grid order).
    Only methods with more than one grid point and at least two subsets qualify.

    Returns
    -------
    DataFrame
        One row per (dataset, model, method): ``oracle_<score>`` (the best mean over all
        subsets), ``held_out_<score>``, ``optimism`` (oracle − held out), ``points`` (grid
        size) and ``same_choice`` (whether both halves chose the same point).
    """
    keys = ["dataset", "model", "method"]
    cols = [*keys, f"oracle_{score}", f"held_out_{score}", "optimism", "points", "same_choice"]
    if results.empty:
        return pd.DataFrame(columns=cols)
    rows = []
    for key, group in results.groupby(keys, sort=False):
        order = list(dict.fromkeys(group["params"]))
        if len(order) < 2 or group["subset"].nunique() < 2:
            continue
        half = group["subset"] % 2
        means = group.groupby([half, "params"])[score].mean().unstack("params")[order]
        if len(means) < 2:
            continue
        chosen = {h: means.loc[h].idxmax() for h in (0, 1)}
        held = [means.loc[1 - h, chosen[h]] for h in (0, 1)]
        oracle = float(group.groupby("params", sort=False)[score].mean()[order].max())
        held_out = float(np.mean(held))
        rows.append(
            dict(zip(keys, key, strict=True))
            | {
                f"oracle_{score}": oracle,
                f"held_out_{score}": held_out,
                "optimism": oracle - held_out,
                "points": len(order),
                "same_choice": bool(chosen[0] == chosen[1]),
            }
        )
    return pd.DataFrame(rows, columns=cols)


# --------------------------------------------------------------------------------------------
# grid edges
# --------------------------------------------------------------------------------------------
def grid_edge_axes(summary: pd.DataFrame, best: pd.DataFrame) -> list[dict[str, str]]:
    """For each row of ``best``, the parameters whose best value is an end of its grid axis.

    An axis is a parameter with at least two values among the grid points of that (dataset,
    model, method) in ``summary`` (:func:`grid_summary`); a best value equal to the axis'
    smallest or largest is an edge: the optimum may lie outside the grid, unless the value is
    also the end of what the parameter can take (``min_samples=1``, ``k=2``:
    :func:`facecluster.cluster.grids.domain_bounds`) or of what it can change (a rank-order
    threshold ≤ 1/k: :attr:`facecluster.cluster.grids.GridInfo.same_below`).  Returns one ``{axis: "smallest" |
    "largest"}`` per row of ``best``, empty when the optimum is interior or the method has
    no axis.
    """
    from facecluster.cluster.grids import GRIDS, domain_bounds

    keys = ["dataset", "model", "method"]
    if best.empty:
        return []
    axes: dict[tuple, dict[str, list]] = {}
    for key, group in summary.groupby(keys, sort=False):
        values: dict[str, set] = {}
        for params in group["params"]:
            for name, value in json.loads(params).items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    values.setdefault(name, set()).add(value)
        axes[key] = {n: sorted(v) for n, v in values.items() if len(v) > 1}
    out = []
    for rec in best.itertuples():
        grid = axes.get((rec.dataset, rec.model, rec.method), {})
        info = GRIDS.get(str(rec.method))
        limits = domain_bounds(info.grid) if info is not None else {}
        chosen = json.loads(rec.params)
        same = info.same_below(chosen) if info is not None and info.same_below else {}
        edges: dict[str, str] = {}
        for name, values in grid.items():
            low, high = limits.get(name, (None, None))
            value = chosen.get(name)
            if name in same and value <= same[name] + 1e-12:
                continue  # every smaller value gives the same clustering
            if value == values[0] and value != low:
                edges[name] = "smallest"
            elif value == values[-1] and value != high:
                edges[name] = "largest"
        out.append(edges)
    return out


def grid_edges(summary: pd.DataFrame, best: pd.DataFrame) -> list[str]:
    """:func:`grid_edge_axes` as text, one per row of ``best``: ``"k (largest)"``, several
    joined by ``"; "``, ``""`` when the optimum is interior or the method has no axis."""
    return [
        "; ".join(f"{name} ({end})" for name, end in edges.items())
        for edges in grid_edge_axes(summary, best)
    ]
