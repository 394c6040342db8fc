"""Statistics neither source report did: paired method comparison and parameter transfer.

* :func:`paired_comparison` — the two best methods of each (dataset, model) were run on the
  *same* subsets, so their scores are paired by subset: mean difference with a 95 % confidence
  interval and a verdict against a practical threshold (:data:`PRACTICAL_ARI`).  The subsets
  overlap (two 80 % subsets share 80 % of their faces), so the J per-subset differences are
  not independent and the plain paired t-test overclaims (it called +0.0016 ARI "better" at
  p = 1.7e-31).  The interval is the corrected resampled t of Nadeau & Bengio (2003, "Inference
  for the generalization error"): the variance of the mean is ``s² (1/J + ρ/(1−ρ))`` instead
  of ``s²/J``, with ρ the correlation between two subsets' scores, taken as the share of a
  subset's faces that another subset holds (:func:`subset_overlap`; Nadeau & Bengio's
  ``n_test/n_train`` is ``ρ/(1−ρ)`` for their train/test splits).  That ρ is a heuristic, not
  an estimate: it is stated in the report beside the interval.  The uncorrected p-values
  (t, Wilcoxon) are kept for comparison.
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

#: The smallest ARI difference the study calls a difference in practice (a verdict needs the
#: corrected interval to clear zero *and* the mean to reach it).
PRACTICAL_ARI = 0.01


def subset_overlap(fraction: float, replace: bool) -> float:
    """Expected share of one subset's distinct faces that another subset also holds.

    Without replacement, two subsets of ``fraction · N`` faces drawn independently share a
    ``fraction`` of each; with replacement (``fraction · N`` draws) a subset holds
    ``1 − e^(−fraction)`` of the faces, and that is also the share another one holds of them.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    return float(-math.expm1(-fraction)) if replace else float(fraction)


def resampled_variance_factor(n: int, overlap: float) -> float:
    """Nadeau & Bengio's factor on a variance for the mean of ``n`` runs on overlapping
    subsets: ``1/n + ρ/(1−ρ)`` (``1/n`` for independent runs, ρ = 0); ``ValueError`` unless
    ρ is in ``[0, 1)``."""
    if not 0 <= overlap < 1:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")
    return 1 / n + overlap / (1 - overlap)


def paired_difference(
    a: np.ndarray, b: np.ndarray, *, confidence: float = 0.95, overlap: float = 0.0
) -> dict:
    """Paired comparison of two score vectors over the same subsets.

    Parameters
    ----------
    a, b : ndarray of shape (n,)
        Scores of two methods on the same ``n`` subsets (same order).
    confidence : float
        Level of the t confidence interval of the mean difference.
    overlap : float
        ρ in ``[0, 1)``, the correlation between the scores of two subsets
        (:func:`subset_overlap`): the interval and ``t``/``p_t`` are the corrected resampled t
        (variance ``s² (1/n + ρ/(1−ρ))``, ``n − 1`` degrees of freedom).  0: the plain paired t.

    Returns
    -------
    dict
        ``n``, ``mean_diff`` (mean of ``a - b``), ``ci_low``, ``ci_high``, ``t``, ``p_t``
        (two-sided, corrected by ``overlap``), ``p_t_uncorrected`` (the plain paired t-test),
        ``w``, ``p_wilcoxon`` (two-sided Wilcoxon signed-rank, zero differences dropped —
        scipy's ``zero_method="wilcox"``; it assumes independent subsets too).  Statistics
        that are undefined (fewer than 2 subsets; t when all differences are equal, Wilcoxon
        when all are zero) are NaN.
    """
    resampled_variance_factor(1, overlap)  # refuses a ρ outside [0, 1) before any work
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
        "p_t_uncorrected": math.nan,
        "w": math.nan,
        "p_wilcoxon": math.nan,
    }
    if n < 2:
        return out
    sd = float(d.std(ddof=1))
    if sd <= 1e-12:  # constant differences (up to rounding): no spread, no t statistic
        sd = 0.0
    se = sd * math.sqrt(resampled_variance_factor(n, overlap))
    half = float(sps.t.ppf(0.5 + confidence / 2, n - 1)) * se
    out["ci_low"], out["ci_high"] = out["mean_diff"] - half, out["mean_diff"] + half
    if sd > 0:
        out["t"] = out["mean_diff"] / se
        out["p_t"] = float(2 * sps.t.sf(abs(out["t"]), n - 1))
        out["p_t_uncorrected"] = float(sps.ttest_rel(a, b).pvalue)
    if np.count_nonzero(d) >= 1 and not np.allclose(d, 0):
        res = sps.wilcoxon(d, zero_method="wilcox")
        out["w"], out["p_wilcoxon"] = float(res.statistic), float(res.pvalue)
    return out


def paired_comparison(
    results: pd.DataFrame,
    best: pd.DataFrame,
    *,
    score: str = "ari",
    overlap: float = 0.0,
    threshold: float = PRACTICAL_ARI,
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
    overlap : float
        ρ of :func:`paired_difference` (:func:`subset_overlap` of the sweep's sampling).
    threshold : float
        The practical threshold of the verdict: "better" needs the corrected 95 % interval
        above 0 and a mean difference of at least ``threshold``; an interval inside
        ``(−threshold, threshold)`` is "practically equal".
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
        res = paired_difference(
            x.loc[common].to_numpy(), y.loc[common].to_numpy(), overlap=overlap
        )
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
                "verdict": _verdict(res, m1, threshold, dataset in not_ranked),
            }
        )
    return pd.DataFrame(rows)


def _verdict(res: dict, first: str, threshold: float, not_ranked: bool) -> str:
    """One line from the corrected interval and the practical threshold."""
    lo, hi, mean = res["ci_low"], res["ci_high"], res["mean_diff"]
    if not_ranked:
        return "not ranked (low-resolution input)"
    if math.isnan(lo):
        return "no interval (fewer than 2 subsets)"
    if lo > 0 and mean >= threshold:
        return f"{first} better (corrected 95% CI above 0, Δ ≥ {threshold:g})"
    if -threshold < lo and hi < threshold:
        return f"practically equal (corrected 95% CI within ±{threshold:g})"
    if lo > 0:
        return f"{first} ahead by less than {threshold:g} (corrected 95% CI above 0)"
    return "not distinguishable (corrected 95% CI includes 0)"


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
