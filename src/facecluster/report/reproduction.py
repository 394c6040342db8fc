"""Table I reproduced with the report's setup, and what each of the study's differences costs.

Pure functions on the Table I sweeps' results (:mod:`facecluster.stages.table_one`) and the
report's 30 published runs per cell (``reference/castiel_table1_runs.csv``):

* :func:`cell_scores` — a sweep's scores per Table I cell (method, parameter, value) and subset;
* :func:`reproduced_table` — per cell: our mean ± 2σ, the report's, Δ, Welch's t-test and the
  Mann-Whitney U test of the two sets of 30 runs, and a flag where Δ is larger than
  :data:`MATERIAL_DELTA` *and* both tests reject at :data:`ALPHA`;
* :func:`factor_effects` — the deviation account: per factor, column and cell, the change of
  the mean ARI when that factor alone is switched to the study's default, with a 95 %
  confidence interval (paired over subsets when both sweeps clustered the same subsets of the
  same rows, Welch otherwise);
* :func:`claims` — the report's prose claims answered from the reproduced table.

σ is the population standard deviation (``ddof=0``), as the report's Table I.  The 30 subsets
of one sweep overlap, so the runs are not independent samples: every interval and t-test here
inflates the variance of a mean by Nadeau & Bengio's factor (``1/n + ρ/(1−ρ)`` instead of
``1/n``, ρ the share of a subset another one holds: 0.8 without replacement, 1 − e^−0.8 ≈ 0.55
with, :func:`facecluster.report.stats.subset_overlap`), for the report's runs as for ours.
The Mann-Whitney U test has no such correction: its p-values stay optimistic.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import stats as sps

from facecluster.report.stats import paired_difference, resampled_variance_factor
from facecluster.report.table_one import reference_key, reference_settings, reference_value
from facecluster.sweep.summary import best_points

#: A difference of mean ARI smaller than this is not worth a flag, however significant.
MATERIAL_DELTA = 0.02
ALPHA = 0.05
CELL = ["method", "parameter", "value"]
K_BASED = ("kmeans", "agglomerative", "spectral")
WITHOUT_K = ("dbscan", "meanshift")


def cell_scores(results: pd.DataFrame) -> pd.DataFrame:
    """``method, parameter, value, subset, ari`` for the grid points that are Table I cells.

    ``value`` is ``"true"`` for the K-based methods and the parameter rounded to 6 decimals
    otherwise (:func:`facecluster.report.table_one.reference_key`).
    """
    settings = reference_settings()
    rows = []
    for (method, params), part in results.groupby(["method", "params"], sort=False):
        key = reference_key(method, params, settings)
        if key is None:
            continue
        rows.append(
            pd.DataFrame(
                {
                    "method": method,
                    "parameter": key[0],
                    "value": key[1],
                    "subset": part["subset"].to_numpy(),
                    "ari": part["ari"].to_numpy(float),
                }
            )
        )
    if not rows:
        return pd.DataFrame(columns=[*CELL, "subset", "ari"])
    return pd.concat(rows, ignore_index=True)


def reference_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The published runs with ``value`` keyed like :func:`cell_scores` (``column`` named)."""
    out = runs.rename(columns={"dataset": "column"})
    return out.assign(value=[reference_value(v) for v in out["value"]])


def _two_sample(
    a: np.ndarray, b: np.ndarray, overlap: tuple[float, float] = (0.0, 0.0)
) -> tuple[float, float]:
    """Two-sided p-values of Welch's t-test (each mean's variance corrected for the overlap
    of its subsets, :func:`welch_difference`) and the Mann-Whitney U test (uncorrected: it
    assumes independent runs). NaN: undefined."""
    p_welch = p_mw = math.nan
    if len(a) >= 2 and len(b) >= 2:
        if np.ptp(a) > 0 or np.ptp(b) > 0:
            p_welch = welch_difference(a, b, overlap=overlap)["p"]
        elif a[0] != b[0]:
            p_welch = 0.0  # two constant samples of different values
        if not (np.ptp(np.concatenate([a, b])) == 0):
            p_mw = float(sps.mannwhitneyu(a, b, alternative="two-sided").pvalue)
    return p_welch, p_mw


def reproduced_table(
    ours: Mapping[str, pd.DataFrame],
    runs: pd.DataFrame,
    *,
    overlap: Mapping[str, float] | None = None,
    report_overlap: float = 0.0,
) -> pd.DataFrame:
    """Table I, ours beside the report's, per column (``ours``: column → :func:`cell_scores`).

    ``overlap`` (``{column: ρ}`` of our subsets, 0 where absent) and ``report_overlap`` (ρ of
    the report's) correct Welch's test (:func:`facecluster.report.stats.subset_overlap`).

    Columns: ``column, method, parameter, value, n_ours, ours_mean, ours_2sd, n_report,
    report_mean, report_2sd, delta, p_welch, p_mannwhitney, flagged``; one row per published
    cell (our side NaN where a column was not run).
    """
    ref = reference_runs(runs)
    ours_rho = dict(overlap or {})
    out = []
    for (column, method, parameter, value), theirs in ref.groupby(["column", *CELL], sort=False):
        b = theirs["ari"].to_numpy(float)
        mine = ours.get(column)
        a = np.array([])
        if mine is not None and not mine.empty:
            sel = mine[(mine["method"] == method) & (mine["value"] == value)]
            a = sel["ari"].to_numpy(float)
        p_welch, p_mw = _two_sample(a, b, (ours_rho.get(column, 0.0), report_overlap))
        delta = float(a.mean() - b.mean()) if a.size else math.nan
        out.append(
            {
                "column": column,
                "method": method,
                "parameter": parameter,
                "value": value,
                "n_ours": int(a.size),
                "ours_mean": float(a.mean()) if a.size else math.nan,
                "ours_2sd": float(2 * a.std()) if a.size else math.nan,
                "n_report": int(b.size),
                "report_mean": float(b.mean()),
                "report_2sd": float(2 * b.std()),
                "delta": delta,
                "p_welch": p_welch,
                "p_mannwhitney": p_mw,
                "flagged": bool(abs(delta) > MATERIAL_DELTA and p_welch < ALPHA and p_mw < ALPHA),
            }
        )
    return pd.DataFrame(out)


def welch_difference(
    a: np.ndarray,
    b: np.ndarray,
    *,
    confidence: float = 0.95,
    overlap: tuple[float, float] = (0.0, 0.0),
) -> dict:
    """Mean of ``a`` minus mean of ``b`` with Welch's confidence interval (unpaired).

    ``overlap`` ``(ρ_a, ρ_b)``: the runs of each sample come from overlapping subsets, so the
    variance of its mean is ``s² (1/n + ρ/(1−ρ))`` (Nadeau & Bengio's correction, as
    :func:`facecluster.report.stats.paired_difference`) instead of ``s²/n``; the degrees of
    freedom follow Welch–Satterthwaite on those variances.  ``p``: two-sided.
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    diff = float(a.mean() - b.mean())
    va = a.var(ddof=1) * resampled_variance_factor(a.size, overlap[0])
    vb = b.var(ddof=1) * resampled_variance_factor(b.size, overlap[1])
    se = math.sqrt(va + vb)
    if se <= 1e-15:
        return {"mean_diff": diff, "ci_low": diff, "ci_high": diff, "p": math.nan}
    df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    half = float(sps.t.ppf(0.5 + confidence / 2, df)) * se
    p = float(2 * sps.t.sf(abs(diff) / se, df))
    return {"mean_diff": diff, "ci_low": diff - half, "ci_high": diff + half, "p": p}


def factor_effect(
    base: pd.DataFrame,
    other: pd.DataFrame,
    *,
    paired: bool,
    overlap: tuple[float, float] = (0.0, 0.0),
) -> pd.DataFrame:
    """Per Table I cell: ``other`` minus ``base`` mean ARI with its 95 % CI.

    ``paired``: both sweeps clustered the same subsets of the same rows, so the difference is
    taken subset by subset on the subsets both ran (the corrected resampled t on the
    differences); else Welch's interval on all of each.  ``overlap`` ``(ρ_base, ρ_other)``
    (:func:`facecluster.report.stats.subset_overlap` of each sweep's sampling) corrects both
    for the overlap of the subsets.  ``n_base`` / ``n_other``: the subsets used.
    """
    rows = []
    for (method, parameter, value), b in base.groupby(CELL, sort=False):
        o = other[(other["method"] == method) & (other["value"] == value)]
        if o.empty or len(b) < 2 or len(o) < 2:
            continue
        if paired:  # on the subsets both ran (a sweep with fewer ran the first ones)
            j = b.merge(o, on="subset", suffixes=("_b", "_o"))
            d = paired_difference(j["ari_o"].to_numpy(), j["ari_b"].to_numpy(), overlap=overlap[0])
            base_mean, n_base, n_other = float(j["ari_b"].mean()), len(j), len(j)
        else:
            d = welch_difference(
                o["ari"].to_numpy(), b["ari"].to_numpy(), overlap=(overlap[1], overlap[0])
            )
            base_mean, n_base, n_other = float(b["ari"].mean()), len(b), len(o)
        rows.append(
            {
                "method": method,
                "parameter": parameter,
                "value": value,
                "n_base": n_base,
                "n_other": n_other,
                "base_mean": base_mean,
                "other_mean": float(o["ari"].mean()),
                "delta": d["mean_diff"],
                "ci_low": d["ci_low"],
                "ci_high": d["ci_high"],
                "paired": paired,
            }
        )
    return pd.DataFrame(rows)


def cell_label(method: str, parameter: str, value) -> str:
    """``kmeans (K=true)``, ``dbscan eps=0.7``."""
    if value == "true":
        return f"{method} (K=true)"
    return f"{method} {parameter}={float(value):g}"


def best_cells(cells: pd.DataFrame) -> pd.DataFrame:
    """Per method: the cell of highest mean ARI (``method, parameter, value, ari_mean``), by
    the study's one best-point rule (:func:`facecluster.sweep.summary.best_points`)."""
    means = cells.groupby(CELL, sort=False)["ari"].mean().reset_index(name="ari_mean")
    return _best(means)


def _best(means: pd.DataFrame) -> pd.DataFrame:
    """:func:`~facecluster.sweep.summary.best_points` of a table of cells with ``ari_mean``."""
    keyed = means.assign(dataset="", model="")
    return best_points(keyed).drop(columns=["dataset", "model"])


def largest(frame: pd.DataFrame, column: str = "delta") -> pd.Series:
    """The row of ``frame`` with the largest absolute ``column``."""
    return frame.loc[frame[column].abs().sort_values(ascending=False, kind="stable").index[0]]


def claims(
    table: pd.DataFrame,
    ours: Mapping[str, pd.DataFrame],
    *,
    overlap: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """The report's prose claims per column, answered on our runs and on the report's
    (``overlap``: ``{column: ρ}`` of our subsets, for the paired intervals; 0 where absent).

    Rows: ``claim, column, source (ours | report), answer, holds``.  Claims:
    ``without-K-best`` — "DBSCAN and mean-shift are the best methods without knowing K" (their
    best grid point beats every K-based method; a best chosen with the labels);
    ``eps-0.7`` — "the best eps / bandwidth is about the same for any database" (≈ 0.7);
    ``ward-best-K`` — "agglomerative is the best K-based method".
    """
    rows = []
    sources = {
        "report": table.rename(columns={"report_mean": "mean"}),
        "ours": table.rename(columns={"ours_mean": "mean"}),
    }
    for source, t in sources.items():
        for column, part in t.dropna(subset=["mean"]).groupby("column", sort=False):
            best = _best(part.rename(columns={"mean": "ari_mean"})).set_index("method")
            best = best.rename(columns={"ari_mean": "mean"})
            k_best = best.loc[[m for m in K_BASED if m in best.index], "mean"]
            if k_best.empty:
                continue
            top_k = str(k_best.sort_values(ascending=False, kind="stable").index[0])
            free = best.loc[[m for m in WITHOUT_K if m in best.index]]
            beats = free["mean"] > k_best.max()
            rows.append(
                {
                    "claim": "without-K-best",
                    "column": column,
                    "source": source,
                    "answer": "; ".join(
                        f"{m} {p}={float(v):g}: {s:.3f}"
                        for m, p, v, s in zip(
                            free.index,
                            free["parameter"],
                            free["value"],
                            free["mean"],
                            strict=True,
                        )
                    )
                    + f" vs best K-based {top_k} {k_best.max():.3f}",
                    "holds": bool(beats.all()),
                }
            )
            for method in WITHOUT_K:
                if method not in best.index:
                    continue
                v = float(best.loc[method, "value"])
                at = part[(part["method"] == method) & (part["value"] == 0.7)]["mean"]
                rows.append(
                    {
                        "claim": "eps-0.7",
                        "column": column,
                        "source": source,
                        "answer": f"{method}: best {best.loc[method, 'parameter']}={v:g} "
                        f"({best.loc[method, 'mean']:.3f}); at 0.7: "
                        + (f"{float(at.iloc[0]):.3f}" if len(at) else "not run"),
                        "holds": bool(abs(v - 0.7) <= 0.1 + 1e-9),
                    }
                )
            rows.append(
                {
                    "claim": "ward-best-K",
                    "column": column,
                    "source": source,
                    "answer": ", ".join(f"{m} {s:.3f}" for m, s in k_best.items()),
                    "holds": bool(top_k == "agglomerative"),
                }
            )
    for column, cells in ours.items():
        if cells.empty:
            continue
        k = cells[cells["method"].isin(K_BASED)].pivot_table(
            index="subset", columns="method", values="ari"
        )
        if "agglomerative" not in k:
            continue
        for other in (m for m in K_BASED if m in k and m != "agglomerative"):
            d = paired_difference(
                k["agglomerative"].to_numpy(),
                k[other].to_numpy(),
                overlap=dict(overlap or {}).get(column, 0.0),
            )
            rows.append(
                {
                    "claim": "ward-best-K",
                    "column": column,
                    "source": "ours (paired)",
                    "answer": f"agglomerative − {other}: {d['mean_diff']:+.3f} "
                    f"[{d['ci_low']:+.3f}, {d['ci_high']:+.3f}] over {d['n']} subsets",
                    "holds": bool(d["ci_low"] > 0),
                }
            )
    return pd.DataFrame(rows, columns=["claim", "column", "source", "answer", "holds"])


def results_params(results: pd.DataFrame, method: str, value) -> str:
    """The ``params`` JSON of the grid point of ``method`` that is Table I cell ``value``."""
    settings = reference_settings()
    for params in results.loc[results["method"] == method, "params"].unique():
        key = reference_key(method, params, settings)
        if key is not None and key[1] == value:
            return str(params)
    raise KeyError(f"no grid point of {method} is the Table I cell {value!r}")


def factor_label(factor: str, change: tuple) -> str:
    """``(a) sampling: with replacement → without``."""
    return f"{factor}: {change[0]} → {change[1]}"
