"""Summaries of a results table (:mod:`facecluster.sweep.summary`): best grid point, ±2σ."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from facecluster.sweep.keys import canonical_params
from facecluster.sweep.summary import best_points, best_scores, grid_summary


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
