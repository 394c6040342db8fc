"""Chinese whispers: dlib's graph and update rule, deterministic for a seed."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from facecluster.cluster.chinese_whispers import ChineseWhispers, chinese_whispers_grid


def _reference(X, threshold, n_iter, random_state):
    """Plain-Python chinese whispers with the documented rules (dense distances)."""
    n = len(X)
    d = np.sqrt(((X[:, None, :] - X[None, :, :]) ** 2).sum(-1))
    neighbours = [[j for j in range(n) if j != i and d[i, j] < threshold] for i in range(n)]
    labels = list(range(n))
    rng = np.random.default_rng(random_state)
    for _ in range(n_iter):
        changed = 0
        for i in rng.permutation(n):
            weight = {labels[i]: 1.0}  # self-loop
            for j in neighbours[i]:
                weight[labels[j]] = weight.get(labels[j], 0.0) + 1.0
            best = min(weight, key=lambda lab: (-weight[lab], lab))
            changed += best != labels[i]
            labels[i] = best
        if not changed:
            break
    first = {}
    return np.array([first.setdefault(lab, len(first)) for lab in labels])


@pytest.mark.parametrize(("threshold", "seed"), [(0.9, 0), (1.4, 1), (2.0, 2)])
def test_chinese_whispers_matches_plain_python_reference(threshold, seed):
    X = np.random.default_rng(seed).standard_normal((70, 3))
    ours = ChineseWhispers(threshold=threshold, n_iter=30, random_state=seed).fit_predict(X)
    np.testing.assert_array_equal(ours, _reference(X, threshold, 30, seed))


def test_chinese_whispers_deterministic_for_a_seed():
    X, _ = make_blobs(150, n_features=6, centers=6, cluster_std=2.5, random_state=3)
    a = ChineseWhispers(threshold=3.0, random_state=7).fit_predict(X)
    b = ChineseWhispers(threshold=3.0, random_state=7).fit_predict(X)
    np.testing.assert_array_equal(a, b)


def test_chinese_whispers_grid_equals_estimator():
    X, _ = make_blobs(120, n_features=8, centers=4, cluster_std=1.5, random_state=4)
    thresholds = [1.0, 3.0, 2.0, 6.0]
    grid = chinese_whispers_grid(X, thresholds, n_iter=50, random_state=11)
    for t, labels in zip(thresholds, grid, strict=True):
        est = ChineseWhispers(threshold=t, n_iter=50, random_state=11).fit(X)
        np.testing.assert_array_equal(labels, est.labels_)


def test_chinese_whispers_recovers_separated_blobs():
    X, y = make_blobs(200, n_features=16, centers=5, cluster_std=0.5, random_state=5)
    labels = ChineseWhispers(threshold=3.0, random_state=0).fit_predict(X)
    assert adjusted_rand_score(y, labels) == 1.0


def test_isolated_points_stay_singletons_and_pairs_merge():
    X = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [10.0, 0.0]])
    for seed in range(5):
        labels = ChineseWhispers(threshold=0.5, random_state=seed).fit_predict(X)
        np.testing.assert_array_equal(labels, [0, 0, 1, 2])
    # strict threshold: a distance equal to it is no edge
    labels = ChineseWhispers(threshold=5.0, random_state=0).fit_predict(np.array([[0.0], [5.0]]))
    np.testing.assert_array_equal(labels, [0, 1])


def test_zero_iterations_leave_every_point_alone():
    X, _ = make_blobs(30, centers=2, random_state=6)
    labels = ChineseWhispers(threshold=100.0, n_iter=0).fit_predict(X)
    np.testing.assert_array_equal(labels, np.arange(30))


@pytest.mark.parametrize(
    ("X", "kwargs", "match"),
    [
        (np.array([[0.0, np.nan], [1.0, 1.0]]), {}, "NaN"),
        (np.array([[0.0, np.inf], [1.0, 1.0]]), {}, "NaN or infinite"),
        (np.zeros(4), {}, "2-D array"),
        (np.zeros((4, 2)), {"threshold": 0.0}, "threshold"),
        (np.zeros((4, 2)), {"threshold": -1.0}, "threshold"),
        (np.zeros((4, 2)), {"n_iter": -1}, "n_iter"),
        (np.zeros((4, 2)), {"random_state": 1.5}, "random_state"),
    ],
)
def test_chinese_whispers_rejects_bad_input(X, kwargs, match):
    with pytest.raises(ValueError, match=match):
        ChineseWhispers(**kwargs).fit(X)
