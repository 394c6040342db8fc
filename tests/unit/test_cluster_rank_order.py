"""Approximate rank-order clustering: fast kernel equals the literal transcription."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from facecluster.cluster.rank_order import (
    ApproximateRankOrder,
    rank_order_distances,
    rank_order_distances_slow,
    rank_order_grid,
    top_k_lists,
)


def _fast_as_dict(X, k):
    lists = top_k_lists(X, k)
    dist = rank_order_distances(lists, k)
    return {
        (a, int(lists[a, r])): dist[a, r - 1]
        for a in range(len(lists))
        for r in range(1, lists.shape[1])
    }


@pytest.mark.parametrize(
    ("n", "d", "k", "seed"),
    [(40, 5, 2, 0), (60, 8, 7, 1), (80, 16, 20, 2), (30, 3, 29, 3), (25, 4, 100, 4)],
)
def test_rank_order_distances_equal_slow_transcription(n, d, k, seed):
    X = np.random.default_rng(seed).standard_normal((n, d))
    slow = rank_order_distances_slow(X, k)
    fast = _fast_as_dict(X, k)
    assert fast == slow  # exact float equality: both divide the same integers


def test_rank_order_distances_equal_slow_with_duplicates_and_clusters():
    X, _ = make_blobs(50, n_features=6, centers=3, random_state=5)
    X = np.vstack([X, X[:8], X[:3]])  # exact duplicates: ties at distance 0
    assert _fast_as_dict(X, 9) == rank_order_distances_slow(X, 9)


def test_shorter_lists_are_prefixes_of_the_longest():
    X = np.random.default_rng(6).standard_normal((70, 8)).astype(np.float32)
    long = top_k_lists(X, 30)
    for k in (2, 10, 30):
        np.testing.assert_array_equal(
            rank_order_distances(long, k), rank_order_distances(top_k_lists(X, k), k)
        )


def test_top_k_lists_put_self_first_and_clamp_k():
    X = np.random.default_rng(7).standard_normal((12, 3))
    lists = top_k_lists(X, 50)  # k >= n: all other points
    assert lists.shape == (12, 12)
    np.testing.assert_array_equal(lists[:, 0], np.arange(12))
    for row in lists:
        assert sorted(row) == list(range(12))


def test_rank_order_grid_equals_estimator_and_numbers_by_lowest_index():
    X, _ = make_blobs(90, n_features=12, centers=4, cluster_std=2.0, random_state=8)
    ks, thresholds = [5, 12, 30], [0.5, 1.0, 1.6, 2.5]
    grid = rank_order_grid(X, ks, thresholds)
    assert set(grid) == {(k, t) for k in ks for t in thresholds}
    for (k, t), labels in grid.items():
        np.testing.assert_array_equal(
            labels, ApproximateRankOrder(k=k, threshold=t).fit(X).labels_
        )
        first = [int(np.flatnonzero(labels == c)[0]) for c in range(labels.max() + 1)]
        assert first == sorted(first)


def test_labels_are_components_of_pairs_strictly_below_threshold():
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    X, _ = make_blobs(60, n_features=4, centers=2, random_state=9)
    k = 10
    lists = top_k_lists(X, k)
    dist = rank_order_distances(lists, k)
    for t in np.unique(dist)[1:6]:  # thresholds equal to distances that occur
        a, r = np.nonzero(dist < t)
        graph = coo_matrix((np.ones(len(a)), (a, lists[a, r + 1])), shape=(60, 60))
        _, ref = connected_components(graph, directed=False)
        labels = ApproximateRankOrder(k=k, threshold=float(t)).fit(X).labels_
        assert adjusted_rand_score(ref, labels) == 1.0
        assert len(np.unique(labels)) == len(np.unique(ref))


def test_rank_order_recovers_separated_blobs():
    X, y = make_blobs(200, n_features=16, centers=5, cluster_std=0.5, random_state=10)
    labels = ApproximateRankOrder(k=20, threshold=1.6).fit_predict(X)
    assert adjusted_rand_score(y, labels) == 1.0


@pytest.mark.parametrize(
    ("X", "kwargs", "match"),
    [
        (np.array([[0.0, np.nan], [1.0, 1.0], [2.0, 2.0]]), {}, "NaN"),
        (np.array([[0.0, np.inf], [1.0, 1.0], [2.0, 2.0]]), {}, "NaN or infinite"),
        (np.zeros(4), {}, "2-D array"),
        (np.zeros((5, 2)), {"k": 1}, "k must"),
        (np.zeros((5, 2)), {"k": 2.5}, "k must"),
        (np.zeros((5, 2)), {"threshold": 0.0}, "threshold"),
    ],
)
def test_rank_order_rejects_bad_input(X, kwargs, match):
    with pytest.raises(ValueError, match=match):
        ApproximateRankOrder(**kwargs).fit(X)


def test_rank_order_one_point_is_one_cluster_and_k_is_clamped():
    assert ApproximateRankOrder(k=5).fit_predict(np.zeros((1, 3))).tolist() == [0]
    two = np.array([[0.0, 0.0], [0.0, 0.0]])  # k = 5 >= n = 2: the one other point
    assert ApproximateRankOrder(k=5).fit_predict(two).tolist() == [0, 0]


@pytest.mark.parametrize("scale", [2.0**66, 2.0**-66, 2.0**-700, 2.0**500])
def test_rank_order_lists_do_not_depend_on_the_scale(scale):
    """Power-of-two scales are exact: same lists, even where float32 squares overflow."""
    X = np.random.default_rng(11).standard_normal((40, 6))
    np.testing.assert_array_equal(top_k_lists(X * scale, 7), top_k_lists(X, 7))


def _fast_mutual_as_dict(X, k):
    lists = top_k_lists(X, k)
    dist = rank_order_distances(lists, k, mutual=True)
    return {
        (a, int(lists[a, r])): dist[a, r - 1]
        for a in range(len(lists))
        for r in range(1, lists.shape[1])
    }


@pytest.mark.parametrize(
    ("n", "d", "k", "seed"), [(40, 5, 2, 0), (60, 8, 7, 1), (80, 16, 20, 2), (30, 3, 29, 3)]
)
def test_mutual_reading_equals_its_slow_transcription(n, d, k, seed):
    X = np.random.default_rng(seed).standard_normal((n, d))
    slow = rank_order_distances_slow(X, k, mutual=True)
    assert _fast_mutual_as_dict(X, k) == slow
    literal = rank_order_distances_slow(X, k)
    lists = top_k_lists(X, k).tolist()
    for (a, b), value in slow.items():  # mutual pairs: the same D_m; the others: infinite
        if a in lists[b]:
            assert value == literal[(a, b)]
        else:
            assert value == float("inf") and np.isfinite(literal[(a, b)])
    if k < n - 1:  # lists that hold everyone are all mutual; the others are not vacuous
        assert any(np.isinf(v) for v in slow.values())


def test_mutual_reading_merges_at_the_threshold_and_never_across_non_mutual_pairs():
    X = np.random.default_rng(11).standard_normal((60, 6))
    k = 8
    lists = top_k_lists(X, k)
    dist = rank_order_distances(lists, k, mutual=True)
    t = float(np.min(dist[np.isfinite(dist) & (dist > 0)]))  # an attained D_m value
    mutual = rank_order_grid(X, [k], [t], mutual=True)[(k, t)]
    est = ApproximateRankOrder(k=k, threshold=t, mutual=True).fit(X).labels_
    np.testing.assert_array_equal(est, mutual)
    # a pair at exactly D_m = t merges in the mutual reading (<=) but not in the literal (<)
    a, r = np.argwhere(dist == t)[0]
    b = lists[a, r + 1]
    assert mutual[a] == mutual[b]
    linked = {  # every pair the mutual reading links directly is mutual and at D_m <= t
        (i, int(lists[i, j + 1])) for i, j in np.argwhere(dist <= t)
    }
    for i, j in linked:
        assert i in lists[j] and j in lists[i]
    literal = rank_order_distances(lists, k)
    assert literal[a, r] == t and not literal[a, r] < t  # the literal reading: no direct link


def test_mutual_must_be_a_bool():
    X = np.random.default_rng(0).standard_normal((10, 3))
    with pytest.raises(ValueError, match="mutual must be a bool"):
        ApproximateRankOrder(k=3, mutual="yes").fit(X)


def test_exact_search_equals_faiss_flat_index_and_a_float64_reference():
    import faiss

    from facecluster.cluster.rank_order import SEARCH_BLOCK_ELEMENTS, exact_search

    rs = np.random.default_rng(5)
    x = rs.normal(size=(300, 24)).astype(np.float32)
    ref = ((x[:, None, :].astype(np.float64) - x[None, :, :]) ** 2).sum(-1)
    index = faiss.IndexFlatL2(24)
    index.add(x)
    for kk in (1, 7, 50, 300):
        dist, found = exact_search(x, kk)
        assert dist.shape == found.shape == (300, kk) and found.dtype == np.int64
        np.testing.assert_allclose(dist, np.sort(ref, axis=1)[:, :kk], rtol=1e-5, atol=1e-4)
        fd, fi = index.search(x, kk)
        np.testing.assert_allclose(dist, fd, rtol=1e-5, atol=1e-4)
        exact = np.argsort(ref, axis=1, kind="stable")[:, :kk]
        if kk <= 50:  # the nearest ones: the same faces in the same order as both
            np.testing.assert_array_equal(found, exact)
            np.testing.assert_array_equal(found, fi)
        else:  # far neighbours 1e-7 apart may swap under float32 rounding (as in faiss)
            assert (found != exact).mean() < 1e-3 and (found != fi).mean() < 1e-3
    # blocks of rows give the same result as one block; ties are ordered by index
    dup = np.repeat(x[:50], 2, axis=0)
    one = exact_search(dup, 5)
    import facecluster.cluster.rank_order as ro

    old, ro.SEARCH_BLOCK_ELEMENTS = ro.SEARCH_BLOCK_ELEMENTS, 7 * len(dup)
    try:
        blocked = ro.exact_search(dup, 5)
    finally:
        ro.SEARCH_BLOCK_ELEMENTS = old
    assert SEARCH_BLOCK_ELEMENTS == ro.SEARCH_BLOCK_ELEMENTS
    np.testing.assert_array_equal(one[1], blocked[1])
    assert all(row[0] < row[1] for row in one[1])  # a point and its duplicate: lower first
