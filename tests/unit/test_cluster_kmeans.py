"""FastKMeans: the algorithm and random draws of sklearn KMeans, checked label for label."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

import facecluster.cluster.kmeans as kmeans_module
from facecluster.cluster.kmeans import FastKMeans


def _blobs(seed: int, n: int = 150, d: int = 5, centers: int = 6, std: float = 1.5):
    return make_blobs(n, d, centers=centers, cluster_std=std, random_state=seed)


def test_cluster_kmeans_recovers_separated_blobs() -> None:
    X, y = make_blobs(200, 8, centers=5, cluster_std=0.3, random_state=0)
    labels = FastKMeans(n_clusters=5, random_state=0).fit_predict(X)
    assert adjusted_rand_score(y, labels) == 1.0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    ("seed", "n", "d", "k"), [(0, 120, 4, 7), (1, 300, 10, 25), (2, 60, 2, 30), (3, 200, 16, 1)]
)
def test_cluster_kmeans_identical_to_sklearn(dtype, seed: int, n: int, d: int, k: int) -> None:
    X, _ = _blobs(seed, n=n, d=d)
    X = X.astype(dtype)
    ours = FastKMeans(n_clusters=k, n_init=3, random_state=seed).fit(X)
    ref = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(X)
    np.testing.assert_array_equal(ours.labels_, ref.labels_)
    assert ours.inertia_ == pytest.approx(ref.inertia_, rel=1e-5)
    np.testing.assert_allclose(ours.cluster_centers_, ref.cluster_centers_, rtol=1e-4, atol=1e-5)
    assert ours.n_iter_ == ref.n_iter_
    assert ours.cluster_centers_.dtype == dtype


def test_cluster_kmeans_without_gram_matrix_same_result(monkeypatch) -> None:
    X, _ = _blobs(4, n=250, d=6, centers=10)
    with_gram = FastKMeans(n_clusters=12, n_init=2, random_state=4).fit(X)
    monkeypatch.setattr(kmeans_module, "_GRAM_MAX_BYTES", 0)
    without = FastKMeans(n_clusters=12, n_init=2, random_state=4).fit(X)
    np.testing.assert_array_equal(with_gram.labels_, without.labels_)
    assert with_gram.inertia_ == pytest.approx(without.inertia_, rel=1e-10)


@pytest.mark.parametrize("gram", [True, False])
@pytest.mark.parametrize("seed", [16, 42])  # data/seeds where a cluster empties mid-run
def test_cluster_kmeans_empty_cluster_relocation_as_sklearn(monkeypatch, gram, seed) -> None:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((30, 2))
    seeds = rng.choice(30, 12, replace=False)
    if not gram:
        monkeypatch.setattr(kmeans_module, "_GRAM_MAX_BYTES", 0)
    relocated = []
    original = kmeans_module._relocate_empty

    def spy(X_, centers, sums, weights, labels, groups):
        relocated.append(int(np.sum(weights == 0)))
        original(X_, centers, sums, weights, labels, groups)

    monkeypatch.setattr(kmeans_module, "_relocate_empty", spy)
    geom = kmeans_module._Geometry(X - X.mean(axis=0))
    labels, inertia, _, _ = kmeans_module._lloyd(geom, seeds, max_iter=300, tol=0.0)
    assert max(relocated) >= 1  # the branch under test really ran
    ref = KMeans(n_clusters=12, init=X[seeds], n_init=1, tol=0.0).fit(X)
    np.testing.assert_array_equal(labels, ref.labels_)
    assert inertia == pytest.approx(ref.inertia_, rel=1e-10)


def test_cluster_kmeans_more_clusters_than_distinct_points_as_sklearn() -> None:
    X = np.repeat(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 5.0]]), [4, 3, 3], axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = KMeans(n_clusters=5, n_init=2, random_state=0).fit(X)
    ours = FastKMeans(n_clusters=5, n_init=2, random_state=0).fit(X)
    np.testing.assert_array_equal(ours.labels_, ref.labels_)
    assert np.unique(ours.labels_).size == 3


def test_cluster_kmeans_deterministic_given_random_state() -> None:
    X, _ = _blobs(5, n=200, centers=15, std=3.0)
    a = FastKMeans(n_clusters=15, n_init=2, random_state=11).fit(X)
    b = FastKMeans(n_clusters=15, n_init=2, random_state=11).fit(X)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    assert a.inertia_ == b.inertia_
    rs = np.random.RandomState(11)
    c = FastKMeans(n_clusters=15, n_init=2, random_state=rs).fit(X)
    np.testing.assert_array_equal(a.labels_, c.labels_)


def test_cluster_kmeans_best_of_n_init_by_inertia() -> None:
    X, _ = _blobs(6, n=300, centers=20, std=4.0)
    # the first of the five runs is the n_init=1 run with the same seed
    first = FastKMeans(n_clusters=20, n_init=1, random_state=3).fit(X)
    best = FastKMeans(n_clusters=20, n_init=5, random_state=3).fit(X)
    assert best.inertia_ <= first.inertia_
    assert best.inertia_ == pytest.approx(
        float(((X - best.cluster_centers_[best.labels_]) ** 2).sum()), rel=1e-9
    )


def test_cluster_kmeans_estimator_api() -> None:
    est = FastKMeans(n_clusters=3, n_init=2, random_state=0)
    assert est.get_params() == {
        "n_clusters": 3,
        "n_init": 2,
        "max_iter": 300,
        "tol": 1e-4,
        "random_state": 0,
    }
    assert clone(est).get_params() == est.get_params()
    assert not hasattr(est, "labels_")  # __init__ only stores arguments
    with pytest.raises(TypeError):
        FastKMeans(3)  # keyword-only
    X, _ = _blobs(7, n=40)
    labels = est.fit_predict(X)
    assert labels is not None and labels.shape == (40,) and labels.dtype == np.int32
    np.testing.assert_array_equal(labels, est.labels_)


@pytest.mark.parametrize(
    ("X", "params", "match"),
    [
        (
            np.array([[0.0, 1.0], [np.nan, 2.0]]),
            {"n_clusters": 1},
            r"FastKMeans: X must be finite, got 1 NaN",
        ),
        (np.array([[0.0, np.inf], [1.0, 2.0]]), {"n_clusters": 1}, "NaN or infinite"),
        (np.zeros(5), {"n_clusters": 1}, r"X must be a 2-D array .* got shape \(5,\)"),
        (np.zeros((0, 3)), {"n_clusters": 1}, "at least 1 sample"),
        (
            np.zeros((4, 2)),
            {"n_clusters": 5},
            r"FastKMeans: n_clusters must be an int in \[1, n_samples=4\], got 5",
        ),
        (
            np.zeros((4, 2)),
            {"n_clusters": 0},
            r"FastKMeans: n_clusters must be an int in \[1, inf\), got 0",
        ),
        (np.zeros((4, 2)), {"n_clusters": 2.5}, r"n_clusters must be an int .*, got 2.5"),
        (
            np.zeros((4, 2)),
            {"n_clusters": 2, "n_init": 0},
            r"FastKMeans: n_init must be an int in \[1, inf\), got 0",
        ),
        (np.zeros((4, 2)), {"n_clusters": 2, "max_iter": 0}, "max_iter"),
        (
            np.zeros((4, 2)),
            {"n_clusters": 2, "tol": -1.0},
            r"tol must be a float in \[0, inf\), got -1.0",
        ),
    ],
)
def test_cluster_kmeans_rejects_bad_input(X: np.ndarray, params: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        FastKMeans(**params).fit(X)
