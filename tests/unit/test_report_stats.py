"""Study-report statistics: paired comparison over subsets and parameter transfer."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from facecluster.report import stats as st
from facecluster.report import tables as tb
from study_fixture import results_frame


def test_paired_difference_matches_scipy():
    rng = np.random.default_rng(0)
    b = rng.uniform(0.4, 0.6, 12)
    a = b + rng.normal(0.05, 0.02, 12)
    res = st.paired_difference(a, b)
    d = a - b
    lo, hi = sps.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=sps.sem(d))
    assert res["n"] == 12
    assert res["mean_diff"] == pytest.approx(d.mean())
    assert (res["ci_low"], res["ci_high"]) == (pytest.approx(lo), pytest.approx(hi))
    assert res["p_t"] == pytest.approx(sps.ttest_rel(a, b).pvalue)
    assert res["p_wilcoxon"] == pytest.approx(sps.wilcoxon(d).pvalue)
    assert res["p_t"] < 0.05 and res["ci_low"] > 0


def test_paired_difference_degenerate_cases():
    same = st.paired_difference(np.ones(5), np.ones(5))
    assert same["mean_diff"] == 0 and math.isnan(same["p_t"]) and math.isnan(same["p_wilcoxon"])
    shift = st.paired_difference(np.arange(6) + 0.1, np.arange(6.0))  # constant difference
    assert shift["mean_diff"] == pytest.approx(0.1)
    assert shift["ci_low"] == pytest.approx(0.1) and shift["ci_high"] == pytest.approx(0.1)
    assert math.isnan(shift["p_t"])  # no variance: the t statistic is undefined
    assert shift["p_wilcoxon"] == pytest.approx(0.03125)  # 6 positive ranks, exact two-sided
    one = st.paired_difference([0.5], [0.4])
    assert one["n"] == 1 and math.isnan(one["ci_low"])
    with pytest.raises(ValueError, match="equal length"):
        st.paired_difference([1, 2], [1])


def test_paired_comparison_pairs_by_subset():
    results = results_frame(
        [
            ("muct", "facenet", "kmeans", {"n_init": 10}, [0.90, 0.80, 0.70, 0.95]),
            ("muct", "facenet", "agglomerative", {}, [0.85, 0.78, 0.60, 0.94]),
            ("muct", "facenet", "dbscan", {"eps": 0.5, "min_samples": 1}, [0.1, 0.1, 0.1, 0.1]),
            ("lfw", "facenet", "kmeans", {"n_init": 10}, [0.5, 0.5]),
        ]
    )
    shuffled = results.sample(frac=1.0, random_state=1)  # row order must not matter
    best = tb.best_configs(tb.grid_stats(shuffled))
    out = st.paired_comparison(shuffled, best)
    assert len(out) == 1  # lfw has a single method
    row = out.iloc[0]
    assert (row["first"], row["second"]) == ("kmeans", "agglomerative")
    assert row["n"] == 4
    assert row["mean_diff"] == pytest.approx(np.mean([0.05, 0.02, 0.10, 0.01]))
    assert row["p_wilcoxon"] == pytest.approx(0.125)  # 4 positive differences, exact
    assert row["verdict"] == "no significant difference (p ≥ 0.05)"


def test_paired_comparison_values():
    results = results_frame(
        [
            ("muct", "facenet", "kmeans", {"n_init": 10}, [0.9, 0.8, 0.7, 0.95, 0.85, 0.9]),
            ("muct", "facenet", "agglomerative", {}, [0.8, 0.75, 0.6, 0.9, 0.8, 0.8]),
        ]
    )
    best = tb.best_configs(tb.grid_stats(results))
    row = st.paired_comparison(results, best).iloc[0]
    d = np.array([0.1, 0.05, 0.1, 0.05, 0.05, 0.1])
    assert row["mean_diff"] == pytest.approx(d.mean())
    assert row["p_t"] == pytest.approx(sps.ttest_1samp(d, 0).pvalue)
    assert row["verdict"] == "kmeans better (both tests p < 0.05)"


def _transfer_stats():
    runs = []
    for dataset, best_eps in (("personal", 0.7), ("lfw", 0.5), ("muct", 0.5)):
        for eps in (0.3, 0.5, 0.7):
            ari = 0.9 - abs(eps - best_eps) - (0.1 if dataset == "muct" else 0.0)
            runs.append((dataset, "facenet", "dbscan", {"eps": eps, "min_samples": 1}, [ari] * 2))
    return tb.grid_stats(results_frame(runs))


def test_parameter_transfer():
    long = st.parameter_transfer(
        _transfer_stats(), method="dbscan", model="facenet", datasets=["personal", "lfw", "muct"]
    )
    assert len(long) == 9
    t = long.set_index(["chosen_on", "applied_to"])
    assert t.loc[("personal", "personal"), "setting"] == "eps=0.7"
    assert t.loc[("personal", "personal"), "loss"] == pytest.approx(0.0)
    assert t.loc[("personal", "lfw"), "score"] == pytest.approx(0.7)  # eps 0.7 on lfw
    assert t.loc[("personal", "lfw"), "loss"] == pytest.approx(0.2)
    assert t.loc[("lfw", "muct"), "loss"] == pytest.approx(0.0)  # same best eps
    wide = st.transfer_display(long)
    assert wide.loc["personal (eps=0.7)", "lfw"] == "0.700 (−0.200)"
    assert wide.loc["lfw (eps=0.5)", "lfw"] == "0.900"
    assert list(wide.columns) == ["personal", "lfw", "muct"]


def test_parameter_transfer_needs_a_grid():
    stats = tb.grid_stats(results_frame([("muct", "facenet", "kmeans", {"n_init": 10}, [0.5])]))
    assert st.parameter_transfer(stats, method="kmeans", model="facenet").empty
    assert st.transfer_display(st.parameter_transfer(stats, method="x", model="facenet")).empty


def test_paired_comparison_draws_no_verdict_on_a_dataset_not_ranked():
    runs = [
        (d, "facenet", "kmeans", {"n_init": 10}, [0.9, 0.8, 0.95, 0.85])
        for d in ("personal", "muct")
    ] + [(d, "facenet", "agglomerative", {}, [0.1, 0.2, 0.15, 0.05]) for d in ("personal", "muct")]
    results = results_frame(runs)
    best = tb.best_configs(tb.grid_stats(results))
    out = st.paired_comparison(results, best, not_ranked={"muct": 24.0}).set_index("dataset")
    assert out.loc["muct", "verdict"] == "not ranked (low-resolution input)"
    assert out.loc["personal", "verdict"].startswith("kmeans better")
    assert out.loc["muct", "mean_diff"] == pytest.approx(out.loc["personal", "mean_diff"])
