"""Summaries of a results table (:mod:`facecluster.sweep.summary`): best grid point, ±2σ."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from facecluster.sweep.keys import canonical_params
from facecluster.sweep.summary import (
    best_points,
    best_scores,
    blind_choices,
    grid_edge_axes,
    grid_edges,
    grid_summary,
    held_out_choices,
)


def _rows() -> list[dict]:
    rows = []
    for subset, (a, b) in enumerate([(0.5, 0.9), (0.7, 0.7), (0.6, 0.8)]):
        for eps, ari in ((0.1, a), (0.2, b)):
            rows.append({"dataset": "d", "model": "m", "method": "dbscan",
                         "params": canonical_params({"eps": eps}), "subset": subset, "ari": ari,
                         "pairwise_f1": ari / 2, "bcubed_f1": ari / 3, "nmi": 1.0,
                         "n_clusters": 4, "n_true_clusters": 5, "runtime_s": 0.1})  # fmt: skip
    rows.append({"dataset": "d", "model": "m", "method": "kmeans", "params": "{}", "subset": 0,
                 "ari": 0.3, "pairwise_f1": 0.1, "bcubed_f1": 0.2, "nmi": 0.4, "n_clusters": 3,
                 "n_true_clusters": 3, "runtime_s": 0.2})  # fmt: skip
    return rows


def test_sweep_best_scores_picks_the_best_mean_ari():
    best = best_scores(pd.DataFrame(_rows()))
    assert best["dbscan"]["params"] == {"eps": 0.2}
    assert best["dbscan"]["ari_mean"] == pytest.approx(0.8)
    assert best["dbscan"]["ari_2std"] == pytest.approx(2 * np.std([0.9, 0.7, 0.8]))
    assert best["dbscan"]["pairwise_f1"] == pytest.approx(0.4)
    assert best["dbscan"]["bcubed_f1"] == pytest.approx(0.8 / 3)
    assert best["dbscan"]["n_subsets"] == 3
    assert best["kmeans"] == {
        "params": {},
        "ari_mean": 0.3,
        "ari_2std": 0.0,
        "pairwise_f1": 0.1,
        "bcubed_f1": 0.2,
        "nmi": 0.4,
        "n_clusters": 3.0,
        "n_subsets": 1,
    }
    json.dumps(best)  # plain JSON types
    assert best_scores(pd.DataFrame()) == {}


def test_sweep_grid_summary_keeps_grid_order_and_uses_population_std():
    summary = grid_summary(pd.DataFrame(_rows()))
    assert list(summary.method) == ["dbscan", "dbscan", "kmeans"]
    assert list(summary.order) == [0, 1, 0]
    first = summary.iloc[0]
    assert first.ari_mean == pytest.approx(0.6)
    assert first.ari_2std == pytest.approx(2 * np.std([0.5, 0.7, 0.6], ddof=0))
    assert first.subsets == 3 and first.n_true == 5
    best = best_points(summary)
    assert list(best.params) == [canonical_params({"eps": 0.2}), "{}"]


def test_sweep_best_points_ties_go_to_the_first_grid_point():
    rows = [{"dataset": "d", "model": "m", "method": "dbscan", "params": p, "ari_mean": 0.5}
            for p in ("a", "b")]  # fmt: skip
    assert list(best_points(pd.DataFrame(rows)).params) == ["a"]


def test_blind_choice_takes_each_subsets_best_silhouette_against_the_oracle():
    # eps 0.2 is the oracle (mean ARI 0.8); the silhouette prefers 0.1 on subsets 0 and 2,
    # 0.2 on subset 1 (a tie with NaN skipped), so blind ARI = mean(0.5, 0.7, 0.6) = 0.6
    silhouettes = {(0, 0.1): 0.4, (0, 0.2): 0.3, (1, 0.1): float("nan"), (1, 0.2): 0.1,
                   (2, 0.1): 0.2, (2, 0.2): 0.2}  # fmt: skip
    rows = []
    for r in _rows():
        if r["method"] == "dbscan":
            eps = json.loads(r["params"])["eps"]
            r["silhouette"] = silhouettes[r["subset"], eps]
        else:
            r["silhouette"] = 0.9
        rows.append(r)
    rows.append({**rows[0], "method": "finch", "params": "{}", "ari": 0.4, "silhouette": 0.1})
    table = blind_choices(pd.DataFrame(rows)).set_index("method")
    assert "kmeans" not in table.index  # needs K: not a blind choice
    d = table.loc["dbscan"]
    assert d.oracle_params == canonical_params({"eps": 0.2})
    assert d.blind_params == canonical_params({"eps": 0.1})  # chosen on 2 of 3 subsets
    # subset 2 ties at 0.2: the first grid point (eps 0.1) wins; subset 1 skips the NaN
    assert d.blind_ari == pytest.approx(np.mean([0.5, 0.7, 0.6]))
    assert d.oracle_ari == pytest.approx(0.8) and d.loss_ari == pytest.approx(0.2)
    assert d.agree == pytest.approx(1 / 3) and d.subsets == 3
    assert d.blind_pairwise_f1 == pytest.approx(np.mean([0.5, 0.7, 0.6]) / 2)
    f = table.loc["finch"]  # one grid point: the same both ways
    assert f.blind_ari == f.oracle_ari == pytest.approx(0.4) and f.loss_ari == 0
    assert blind_choices(pd.DataFrame(_rows())).empty  # no silhouette column


def test_held_out_choice_is_chosen_on_one_half_and_scored_on_the_other():
    # dbscan, subsets 0..3: eps 0.1 wins the even subsets (0, 2), eps 0.2 the odd ones (1, 3)
    aris = {0: (0.9, 0.5), 1: (0.4, 0.8), 2: (0.8, 0.6), 3: (0.5, 0.9)}
    rows = []
    for subset, pair in aris.items():
        for eps, ari in zip((0.1, 0.2), pair, strict=True):
            rows.append({"dataset": "d", "model": "m", "method": "dbscan", "subset": subset,
                         "params": canonical_params({"eps": eps}), "ari": ari})  # fmt: skip
    rows.append({"dataset": "d", "model": "m", "method": "kmeans", "subset": 0, "params": "{}",
                 "ari": 0.3})  # fmt: skip
    out = held_out_choices(pd.DataFrame(rows)).set_index("method")
    assert list(out.index) == ["dbscan"]  # one grid point: nothing to choose
    d = out.loc["dbscan"]
    # chosen on even (0.1) -> odd subsets score 0.45; chosen on odd (0.2) -> even score 0.55
    assert d.held_out_ari == pytest.approx(np.mean([0.45, 0.55]))
    assert d.oracle_ari == pytest.approx(0.7)  # eps 0.2 over all four: (0.5+0.8+0.6+0.9)/4
    assert d.optimism == pytest.approx(0.2) and not d.same_choice and d.points == 2
    assert held_out_choices(pd.DataFrame(columns=["dataset"])).empty


def test_grid_edges_flag_an_end_of_the_grid_but_not_of_the_parameter():
    def row(method, params, ari):
        return {"dataset": "d", "model": "m", "method": method, "subset": 0, "ari": ari,
                "pairwise_f1": ari, "bcubed_f1": ari, "nmi": ari, "n_clusters": 3,
                "n_true_clusters": 3, "runtime_s": 0.1,
                "params": canonical_params(params)}  # fmt: skip

    rows = [row("dbscan", {"eps": e, "min_samples": 1}, a) for e, a in ((0.3, 0.2), (0.5, 0.9))]
    rows += [
        row("meanshift", {"bandwidth": b}, a) for b, a in ((0.3, 0.2), (0.5, 0.9), (0.7, 0.1))
    ]
    rows += [
        row("rank_order", {"k": k, "threshold": t}, a)
        for k, t, a in ((20, 0.1, 0.9), (20, 0.4, 0.5), (200, 0.1, 0.3), (200, 0.4, 0.2))
    ]
    rows += [  # min_samples 1 and min_cluster_size 2 are the ends of what they can take
        row("hdbscan", {"min_samples": s, "min_cluster_size": c}, a)
        for s, c, a in ((1, 2, 0.9), (1, 4, 0.5), (2, 2, 0.4), (2, 4, 0.3))
    ]
    summary = grid_summary(pd.DataFrame(rows))
    best = best_points(summary)
    edges = dict(zip(best["method"], grid_edges(summary, best), strict=True))
    axes = dict(zip(best["method"], grid_edge_axes(summary, best), strict=True))
    assert axes["rank_order"] == {"k": "smallest", "threshold": "smallest"}
    assert axes["meanshift"] == axes["hdbscan"] == {}
    assert edges == {
        "dbscan": "eps (largest)",
        "meanshift": "",  # interior
        "rank_order": "k (smallest); threshold (smallest)",  # k >= 2: 20 is an edge
        "hdbscan": "",
    }
    # at k = 50 every threshold <= 1/50 links exactly the pairs with D_m = 0: 0.02 is the end
    # of what the threshold can change, not of the grid (LFW × facenet-20170512's best)
    rows = [
        row("rank_order", {"k": 50, "threshold": t}, a) for t, a in ((0.02, 0.9), (0.4, 0.5))
    ] + [row("rank_order", {"k": 20, "threshold": t}, a) for t, a in ((0.02, 0.1), (0.4, 0.2))]
    summary = grid_summary(pd.DataFrame(rows))
    assert grid_edge_axes(summary, best_points(summary)) == [{"k": "largest"}]
    rows = [row("rank_order", {"k": 20, "threshold": t}, a) for t, a in ((0.1, 0.9), (0.4, 0.5))]
    summary = grid_summary(pd.DataFrame(rows))  # 0.1 > 1/20: a smaller threshold may differ
    assert grid_edge_axes(summary, best_points(summary)) == [{"threshold": "smallest"}]
