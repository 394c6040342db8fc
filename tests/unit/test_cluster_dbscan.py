"""DBSCAN(min_samples=1) as single linkage: labels identical to scikit-learn's DBSCAN."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import DBSCAN
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score
from threadpoolctl import threadpool_limits

from facecluster.cluster import dbscan as db
from facecluster.cluster.dbscan import SingleLinkageDBSCAN, dbscan_grid


@pytest.fixture(autouse=True)
def _one_thread():
    # scikit-learn's OpenMP neighbour search crawls on a busy 2-core machine otherwise
    with threadpool_limits(1):
        yield


def _faces(n_ids=40, d=64, seed=0):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 9, n_ids)
    centres = rng.standard_normal((n_ids, d))
    labels = np.repeat(np.arange(n_ids), sizes)
    x = centres / np.linalg.norm(centres, axis=1, keepdims=True)
    x = x[labels] + rng.standard_normal((len(labels), d)) * 0.5 / np.sqrt(d)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x[rng.permutation(len(x))]


def _assert_grid_matches_sklearn(X, eps_values, min_samples=1):
    grid = dbscan_grid(X, eps_values, min_samples=min_samples)
    assert len(grid) == len(eps_values)
    for eps, labels in zip(eps_values, grid, strict=True):
        ref = DBSCAN(eps=eps, min_samples=min_samples).fit(X).labels_
        np.testing.assert_array_equal(labels, ref)
        est = SingleLinkageDBSCAN(eps=eps, min_samples=min_samples).fit(X)
        np.testing.assert_array_equal(est.labels_, ref)


def test_dbscan_low_dimensional_blobs_identical():
    X, _ = make_blobs(300, centers=4, cluster_std=1.0, random_state=0)
    _assert_grid_matches_sklearn(X, [0.05, 0.2, 0.5, 1.0, 3.0, 1000.0])


def test_dbscan_face_like_identical_including_float32():
    X = _faces()
    eps = [0.1, 0.3, 0.5, 0.7, 0.9, 1.1, 1.3, 1.5, 2.1]
    _assert_grid_matches_sklearn(X, eps)
    _assert_grid_matches_sklearn(X.astype(np.float32), eps)


def test_dbscan_lattice_ties_and_duplicates_identical(monkeypatch):
    # integer points: many distances equal eps exactly -> scikit-learn decides those eps
    delegated = []
    original = db.DBSCAN

    def spy(*args, **kwargs):
        delegated.append(kwargs.get("eps"))
        return original(*args, **kwargs)

    monkeypatch.setattr(db, "DBSCAN", spy)
    rng = np.random.default_rng(1)
    X = rng.integers(0, 4, size=(150, 3)).astype(np.float64)
    X = np.vstack([X, X[:20]])
    _assert_grid_matches_sklearn(X, [0.5, 1.0, 1.5, 2.0])
    assert 1.0 in delegated  # d == 1 occurs: undecidable by our arithmetic


def test_dbscan_numbers_clusters_by_lowest_index():
    X = np.array([[10.0], [0.0], [10.1], [5.0], [0.1]])
    labels = dbscan_grid(X, [0.5])[0]
    np.testing.assert_array_equal(labels, [0, 1, 0, 2, 1])
    np.testing.assert_array_equal(labels, DBSCAN(eps=0.5, min_samples=1).fit(X).labels_)


def test_dbscan_min_samples_above_one_delegates_with_noise():
    X, _ = make_blobs(120, centers=3, cluster_std=1.5, random_state=2)
    X = np.vstack([X, [[50.0, 50.0]]])  # an isolated point: noise
    _assert_grid_matches_sklearn(X, [0.8, 1.5], min_samples=4)
    assert dbscan_grid(X, [0.8], min_samples=4)[0][-1] == -1


def test_dbscan_recovers_separated_blobs():
    X, y = make_blobs(200, n_features=10, centers=5, cluster_std=0.3, random_state=3)
    labels = SingleLinkageDBSCAN(eps=3.0).fit_predict(X)
    assert adjusted_rand_score(y, labels) == 1.0
    assert labels.min() == 0  # no noise with min_samples=1


def test_single_linkage_forest_is_minimum_spanning_tree():
    from scipy.sparse.csgraph import minimum_spanning_tree
    from scipy.spatial.distance import cdist

    X, _ = make_blobs(60, n_features=5, centers=3, random_state=4)
    fi, fj, fw, _ = db.single_linkage_forest(X, max_distance=1e3)
    assert len(fi) == len(X) - 1
    assert np.all(np.diff(fw) >= 0)
    ref = minimum_spanning_tree(cdist(X, X)).toarray()
    assert np.isclose(np.sqrt(fw).sum(), ref.sum())


@pytest.mark.parametrize(
    ("X", "kwargs", "match"),
    [
        (np.array([[0.0, np.nan], [1.0, 1.0]]), {"eps": 1.0}, "NaN"),
        (np.array([[0.0, np.inf], [1.0, 1.0]]), {"eps": 1.0}, "NaN or infinite"),
        (np.zeros(4), {"eps": 1.0}, "2-D array"),
        (np.zeros((4, 2)), {"eps": 0.0}, "eps"),
        (np.zeros((4, 2)), {"eps": -0.1}, "eps"),
        (np.zeros((4, 2)), {"eps": 0.5, "min_samples": 0}, "min_samples"),
    ],
)
def test_dbscan_rejects_bad_input(X, kwargs, match):
    with pytest.raises(ValueError, match=match):
        SingleLinkageDBSCAN(**kwargs).fit(X)
    with pytest.raises(ValueError, match=match):
        dbscan_grid(X, [kwargs["eps"]], min_samples=kwargs.get("min_samples", 1))
