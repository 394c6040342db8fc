"""Statistics neither source report did: paired method comparison and parameter transfer.

* :func:`paired_comparison` — the two best methods of each (dataset, model) were run on the
  *same* subsets, so their scores are paired by subset: mean difference with a 95 % confidence
  interval (Student t on the per-subset differences), the paired t-test and the Wilcoxon
  signed-rank test (scipy).
* :func:`parameter_transfer` — the Castiel report claimed the best eps / bandwidth is "about
  the same for any database": for each method with a grid, the score each dataset gets with the
  grid point chosen on another dataset (its best point,
  :func:`facecluster.sweep.summary.best_points`), and what that costs against its own best.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Collection, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from facecluster.sweep.summary import best_points

log = logging.getLogger(__name__)


def paired_difference(a: np.ndarray, b: np.ndarray, *, confidence: float = 0.95) -> dict:
    """Paired comparison of two score vectors over the same subsets.

    Parameters
    ----------
    a, b : ndarray of shape (n,)
        Scores of two methods on the same ``n`` subsets (same order).
    confidence : float
        Level of the t confidence interval of the mean difference.

    Returns
    -------
    dict
        ``n``, ``mean_diff`` (mean of ``a - b``), ``ci_low``, ``ci_high``, ``t``, ``p_t``
        (two-sided paired t-test), ``w``, ``p_wilcoxon`` (two-sided Wilcoxon signed-rank,
        zero differences dropped — scipy's ``zero_method="wilcox"``).  Statistics that are
        undefined (fewer than 2 subsets; t when all differences are equal, Wilcoxon when all
        are zero) are NaN.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired scores must be 1-D of equal length, got {a.shape} and {b.shape}")
    d = a - b
    n = d.size
    out = {
        "n": int(n),
        "mean_diff": float(d.mean()) if n else math.nan,
        "ci_low": math.nan,
        "ci_high": math.nan,
        "t": math.nan,
        "p_t": math.nan,
        "w": math.nan,
        "p_wilcoxon": math.nan,
    }
    if n < 2:
        return out
    sd = float(d.std(ddof=1))
    if sd <= 1e-12:  # constant differences (up to rounding): no spread, no t statistic
        sd = 0.0
    half = float(sps.t.ppf(0.5 + confidence / 2, n - 1)) * sd / math.sqrt(n)
    out["ci_low"], out["ci_high"] = out["mean_diff"] - half, out["mean_diff"] + half
    if sd > 0:
        res = sps.ttest_rel(a, b)
        out["t"], out["p_t"] = float(res.statistic), float(res.pvalue)
    if np.count_nonzero(d) >= 1 and not np.allclose(d, 0):
        res = sps.wilcoxon(d, zero_method="wilcox")
        out["w"], out["p_wilcoxon"] = float(res.statistic), float(res.pvalue)
    return out


def paired_comparison(
    results: pd.DataFrame,
    best: pd.DataFrame,
    *,
    score: str = "ari",
    alpha: float = 0.05,
    not_ranked: Collection[str] = (),
) -> pd.DataFrame:
    """The best two methods of each (dataset, model), compared subset by subset.

    Parameters
    ----------
    results : DataFrame
        The sweep's rows (all datasets and models).
    best : DataFrame
        :func:`facecluster.report.tables.best_configs` (the best grid point of each method).
    score : str
        The score compared (its best point is still chosen by mean ARI).
    alpha : float
        Level for the one-line verdict.
    not_ranked : collection of str
        Datasets on which no method is ranked (low-resolution input,
        :data:`facecluster.report.inputs.LOW_RESOLUTION_PX`): their rows keep the numbers,
        and the verdict says "not ranked".

    Returns
    -------
    DataFrame
        One row per (dataset, model) with at least two methods: ``first``, ``second`` (by mean
        ARI of their best points), their settings, and :func:`paired_difference` of
        ``first − second`` plus a ``verdict``.
    """
    rows = []
    if best.empty:
        return pd.DataFrame()
    for (dataset, model), b in best.groupby(["dataset", "model"], sort=False):
        if len(b) < 2:
            continue
        top = b.sort_values("ari_mean", ascending=False, kind="stable").head(2)
        (m1, p1, s1), (m2, p2, s2) = top[["method", "params", "setting"]].itertuples(index=False)
        r = results[(results["dataset"] == dataset) & (results["model"] == model)]
        x = r[(r["method"] == m1) & (r["params"] == p1)].set_index("subset")[score]
        y = r[(r["method"] == m2) & (r["params"] == p2)].set_index("subset")[score]
        common = x.index.intersection(y.index).sort_values()
        res = paired_difference(x.loc[common].to_numpy(), y.loc[common].to_numpy())
        pvals = [p for p in (res["p_t"], res["p_wilcoxon"]) if not np.isnan(p)]
        if dataset in not_ranked:
            verdict = "not ranked (low-resolution input)"
        elif not pvals:
            verdict = "no test possible (identical scores or < 2 subsets)"
        elif all(p < alpha for p in pvals):
            which = "both tests" if len(pvals) == 2 else "the one defined test"
            verdict = f"{m1} better ({which} p < {alpha:g})"
        elif any(p < alpha for p in pvals):
            verdict = f"{m1} better by one test only (p < {alpha:g})"
        else:
            verdict = f"no significant difference (p ≥ {alpha:g})"
        rows.append(
            {
                "dataset": dataset,
                "model": model,
                "first": m1,
                "first setting": s1,
                "second": m2,
                "second setting": s2,
                "score": score,
                **res,
                "verdict": verdict,
            }
        )
    return pd.DataFrame(rows)


def parameter_transfer(
    stats: pd.DataFrame,
    *,
    method: str,
    model: str,
    score: str = "ari",
    datasets: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Score on each dataset with the grid point chosen on each other dataset.

    Parameters
    ----------
    stats : DataFrame
        :func:`facecluster.report.tables.grid_stats`.
    method, model : str
        Which method's grid and which embedding.
    score : str
        Score reported; the grid point is chosen on each dataset as everywhere in the study,
        by :func:`facecluster.sweep.summary.best_points` (highest mean ARI).
    datasets : sequence of str, optional
        Order of the datasets.

    Returns
    -------
    DataFrame
        One row per (chosen_on, applied_to): ``setting`` chosen on ``chosen_on``, ``score``
        (mean over ``applied_to``'s subsets at that setting; NaN if that grid point was not run
        there), ``own_best`` (``applied_to``'s best mean) and ``loss`` (own best − score).
    """
    cols = ["chosen_on", "applied_to", "setting", "params", "score", "own_best", "loss"]
    sub = stats[(stats["method"] == method) & (stats["model"] == model)]
    if sub.empty or sub.groupby("dataset")["params"].nunique().max() < 2:
        return pd.DataFrame(columns=cols)
    key = f"{score}_mean"
    names = list(dict.fromkeys(datasets or [])) or list(dict.fromkeys(sub["dataset"]))
    names = [d for d in names if d in set(sub["dataset"])]
    table = {d: sub[sub["dataset"] == d].set_index("params") for d in names}
    best = best_points(sub[sub["dataset"].isin(names)])
    chosen = dict(zip(best["dataset"], best["params"], strict=True))
    rows = []
    for src in names:
        p = chosen[src]
        for dst in names:
            t = table[dst]
            value = float(t.loc[p, key]) if p in t.index else math.nan
            own = float(t[key].max())
            rows.append(
                {
                    "chosen_on": src,
                    "applied_to": dst,
                    "setting": table[src].loc[p, "setting"],
                    "params": p,
                    "score": value,
                    "own_best": own,
                    "loss": own - value,
                }
            )
    return pd.DataFrame(rows, columns=cols)


def transfer_display(long: pd.DataFrame) -> pd.DataFrame:
    """Wide transfer table: rows 'chosen on (setting)', columns 'applied to' datasets."""
    if long.empty:
        return pd.DataFrame()
    long = long.assign(
        row=long["chosen_on"] + " (" + long["setting"] + ")",
        cell=[
            f"{s:.3f} (−{loss:.3f})" if loss > 5e-4 else f"{s:.3f}"
            for s, loss in zip(long["score"], long["loss"], strict=True)
        ],
    )
    order = list(dict.fromkeys(long["row"]))
    wide = long.pivot(index="row", columns="applied_to", values="cell")
    wide = wide.reindex(index=order, columns=list(dict.fromkeys(long["applied_to"])))
    wide.index.name = "chosen on (setting)"
    wide.columns.name = "applied to"
    return wide
