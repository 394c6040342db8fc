"""FINCH: the first-neighbour rule, its hierarchy, and the partition nearest K."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from facecluster.cluster.finch import FINCH, closest_partition, finch_partitions, first_neighbours


def _components(n: int, edges: list[tuple[int, int]]) -> np.ndarray:
    """Connected components by depth-first search, numbered by lowest point index."""
    adj: list[set[int]] = [set() for _ in range(n)]
    for i, j in edges:
        adj[i].add(j)
        adj[j].add(i)
    labels = np.full(n, -1)
    nxt = 0
    for start in range(n):
        if labels[start] >= 0:
            continue
        stack = [start]
        labels[start] = nxt
        while stack:
            for j in adj[stack.pop()]:
                if labels[j] < 0:
                    labels[j] = nxt
                    stack.append(j)
        nxt += 1
    return labels


def _first_partition_reference(X: np.ndarray) -> np.ndarray:
    """The paper's rule, transcribed: A(i, j) = 1 if j = κ(i), or κ(j) = i, or κ(i) = κ(j)."""
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    d = 1.0 - U @ U.T
    np.fill_diagonal(d, np.inf)
    kappa = d.argmin(axis=1)
    n = len(X)
    edges = [
        (i, j)
        for i in range(n)
        for j in range(i + 1, n)
        if kappa[i] == j or kappa[j] == i or kappa[i] == kappa[j]
    ]
    return _components(n, edges)


def _hierarchy_reference(X: np.ndarray) -> list[np.ndarray]:
    """Recursion on the means of each level's clusters, with the documented stopping rule."""
    levels = [_first_partition_reference(X)]
    while True:
        labels = levels[-1]
        k = labels.max() + 1
        if k == 1:
            return levels
        means = np.stack([X[labels == c].mean(axis=0) for c in range(k)])
        merged = _first_partition_reference(means)
        if merged.max() + 1 == 1 or k - (merged.max() + 1) <= 1:
            return levels
        levels.append(_renumber(merged[labels]))


def _renumber(labels: np.ndarray) -> np.ndarray:
    first: dict[int, int] = {}
    return np.array([first.setdefault(int(v), len(first)) for v in labels])


@pytest.mark.parametrize("seed", range(4))
def test_first_partition_is_the_first_neighbour_rule(seed):
    X = np.random.default_rng(seed).standard_normal((60, 5))
    np.testing.assert_array_equal(finch_partitions(X)[0], _first_partition_reference(X))


@pytest.mark.parametrize("seed", range(4))
def test_hierarchy_matches_the_recursion_on_means(seed):
    X = np.random.default_rng(10 + seed).standard_normal((150, 4))
    ours, ref = finch_partitions(X), _hierarchy_reference(X)
    assert len(ours) == len(ref) >= 2
    for a, b in zip(ours, ref, strict=True):
        np.testing.assert_array_equal(a, b)


def test_levels_get_coarser_by_more_than_one_cluster_and_nest():
    X = np.random.default_rng(5).standard_normal((400, 8))
    levels = finch_partitions(X)
    counts = [int(lab.max()) + 1 for lab in levels]
    assert all(a - b >= 2 for a, b in zip(counts, counts[1:], strict=False)) and counts[-1] > 1
    for fine, coarse in zip(levels, levels[1:], strict=False):  # every fine cluster inside one
        assert all(np.unique(coarse[fine == c]).size == 1 for c in np.unique(fine))


def test_recovers_separated_triples_exactly():
    # 8 far-apart groups of 3 collinear points: both ends' first neighbour is the middle
    rng = np.random.default_rng(1)
    centres = rng.standard_normal((8, 16)) * 10
    step = rng.standard_normal((8, 16)) * 0.01
    X = np.concatenate([centres - step, centres, centres + step])
    y = np.tile(np.arange(8), 3)
    assert adjusted_rand_score(y, FINCH().fit_predict(X)) == 1.0
    assert adjusted_rand_score(y, FINCH(n_clusters=8).fit_predict(X)) == 1.0


def test_blobs_are_split_but_never_mixed_and_k_picks_the_nearest_level():
    X, y = make_blobs(240, n_features=16, centers=6, cluster_std=0.05, random_state=2)
    est = FINCH(n_clusters=6).fit(X)
    for labels in est.partitions_[:2]:  # the fine levels respect the blobs
        assert all(np.unique(y[labels == c]).size == 1 for c in np.unique(labels))
    counts = est.n_clusters_per_level_
    assert est.level_ == int(np.argmin([abs(c - 6) for c in counts]))
    assert np.array_equal(FINCH().fit(X).labels_, est.partitions_[0])


def test_closest_partition_prefers_the_finer_on_a_tie():
    levels = [np.arange(10), np.repeat(np.arange(6), [2, 2, 2, 2, 1, 1]), np.repeat([0, 1], 5)]
    assert closest_partition(levels, 4) == 1  # 6 and 2 are both 2 away: the finer, 6
    assert closest_partition(levels, 100) == 0 and closest_partition(levels, 1) == 2


def test_ties_and_tiny_inputs():
    # duplicates: the first neighbour is the lowest index among the equally near
    X = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    np.testing.assert_array_equal(first_neighbours(X), [1, 0, 0, 0])
    np.testing.assert_array_equal(FINCH().fit_predict(np.ones((1, 3))), [0])
    np.testing.assert_array_equal(FINCH().fit_predict(np.eye(2)), [0, 0])
    # a zero row has cosine distance 1 to everything, like scikit-learn's
    Z = np.array([[0.0, 0.0], [1.0, 0.0], [0.9, 0.1], [-1.0, 0.05]])
    assert first_neighbours(Z)[0] == 1


@pytest.mark.parametrize(
    ("X", "kwargs", "match"),
    [
        (np.array([[0.0, np.nan], [1.0, 1.0]]), {}, "NaN"),
        (np.zeros(4), {}, "2-D array"),
        (np.zeros((4, 2)), {"n_clusters": 0}, "n_clusters"),
        (np.zeros((4, 2)), {"n_clusters": 2.5}, "n_clusters"),
    ],
)
def test_finch_rejects_bad_input(X, kwargs, match):
    with pytest.raises(ValueError, match=match):
        FINCH(**kwargs).fit(X)
