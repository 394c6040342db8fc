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
    assert res["p_t"] == pytest.approx(sps.ttest_rel(a, b).pvalue)  # overlap 0: plain t
    assert res["p_t_uncorrected"] == pytest.approx(res["p_t"])
    assert res["p_wilcoxon"] == pytest.approx(sps.wilcoxon(d).pvalue)
    assert res["p_t"] < 0.05 and res["ci_low"] > 0


def test_corrected_resampled_t_on_a_constructed_case():
    # J = 4 differences with mean 0.02 and sample sd 0.01; subsets sharing rho = 0.8
    d = np.array([0.01, 0.02, 0.03, 0.02]) + np.array([0.0, -0.00591752, 0.0, 0.00591752])
    b = np.full(4, 0.5)
    sd = d.std(ddof=1)
    res = st.paired_difference(b + d, b, overlap=0.8)
    se = sd * math.sqrt(1 / 4 + 0.8 / 0.2)  # Nadeau & Bengio: 1/J + n2/n1, n2/n1 = rho/(1-rho)
    assert res["t"] == pytest.approx(d.mean() / se)
    assert res["p_t"] == pytest.approx(2 * sps.t.sf(d.mean() / se, 3))
    half = sps.t.ppf(0.975, 3) * se
    assert (res["ci_low"], res["ci_high"]) == (
        pytest.approx(d.mean() - half),
        pytest.approx(d.mean() + half),
    )
    # the plain test calls it significant; corrected, the interval is ~4x wider and covers 0
    assert res["p_t_uncorrected"] < 0.05 < res["p_t"] and res["ci_low"] < 0
    plain = st.paired_difference(b + d, b)
    ratio = (res["ci_high"] - res["ci_low"]) / (plain["ci_high"] - plain["ci_low"])
    assert ratio == pytest.approx(math.sqrt((1 / 4 + 4) * 4))
    with pytest.raises(ValueError, match="overlap"):
        st.paired_difference(b + d, b, overlap=1.0)


def test_subset_overlap():
    assert st.subset_overlap(0.8, replace=False) == pytest.approx(0.8)
    assert st.subset_overlap(0.8, replace=True) == pytest.approx(1 - math.exp(-0.8))
    rng = np.random.default_rng(3)  # with replacement: the share another draw holds, simulated
    n = 20_000
    s1, s2 = (np.unique(rng.integers(0, n, int(0.8 * n))) for _ in range(2))
    assert np.isin(s1, s2).mean() == pytest.approx(st.subset_overlap(0.8, True), abs=0.01)
    with pytest.raises(ValueError, match="fraction"):
        st.subset_overlap(0.0, replace=False)


@pytest.mark.parametrize(
    ("diffs", "verdict"),
    [
        ([0.10, 0.11, 0.09, 0.10, 0.12, 0.08], "kmeans better (corrected 95% CI above 0"),
        ([0.001, 0.002, 0.0015, 0.001, 0.002, 0.0015], "practically equal"),
        ([0.004, 0.012, 0.006, 0.010, 0.005, 0.011], "kmeans ahead by less than 0.01"),
        ([0.05, -0.04, 0.06, -0.05, 0.04, -0.03], "not distinguishable"),
    ],
)
def test_verdict_needs_the_corrected_interval_and_the_practical_threshold(diffs, verdict):
    base = [0.5, 0.52, 0.48, 0.5, 0.51, 0.49]
    first = [b + d + 0.2 for b, d in zip(base, diffs, strict=True)]
    results = results_frame(
        [
            ("muct", "facenet", "kmeans", {"n_init": 10}, [f - 0.2 for f in first]),
            ("muct", "facenet", "agglomerative", {}, base),
        ]
    )
    best = tb.best_configs(tb.grid_stats(results))
    row = st.paired_comparison(results, best, overlap=0.1).iloc[0]
    assert row["first"] == "kmeans"
    assert row["verdict"].startswith(verdict), row["verdict"]


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
    assert row["verdict"] == "not distinguishable (corrected 95% CI includes 0)"  # J = 4


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
    assert row["verdict"].startswith("kmeans better (corrected 95% CI above 0")
    shared = st.paired_comparison(results, best, overlap=0.8).iloc[0]  # 80 % subsets
    assert shared["p_t"] > row["p_t"] and shared["p_t_uncorrected"] == pytest.approx(row["p_t"])


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
