"""FastSpectralClustering: sklearn SpectralClustering(rbf, kmeans) with a dense eigensolver."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.cluster import SpectralClustering
from sklearn.datasets import make_blobs
from sklearn.manifold import spectral_embedding
from sklearn.metrics import adjusted_rand_score
from sklearn.metrics.pairwise import rbf_kernel

from facecluster.cluster.spectral import (
    FastSpectralClustering,
    rbf_affinity,
    spectral_embedding_fast,
)


def _unit_blobs(seed: int, n: int, k: int, std: float, d: int = 6):
    X, y = make_blobs(n, d, centers=k, cluster_std=std, random_state=seed)
    return X / np.linalg.norm(X, axis=1, keepdims=True), y


def test_cluster_spectral_recovers_separated_blobs() -> None:
    X, y = _unit_blobs(0, 160, 4, 0.5)
    labels = FastSpectralClustering(n_clusters=4, gamma=5.0, random_state=0).fit_predict(X)
    assert adjusted_rand_score(y, labels) == 1.0


def test_cluster_spectral_rbf_affinity_matches_sklearn() -> None:
    X, _ = _unit_blobs(1, 50, 3, 2.0)
    np.testing.assert_allclose(rbf_affinity(X, 1.7), rbf_kernel(X, gamma=1.7), atol=1e-14)


@pytest.mark.parametrize(("seed", "n", "k"), [(0, 120, 3), (1, 90, 5), (2, 200, 2)])
def test_cluster_spectral_embedding_matches_sklearn(seed: int, n: int, k: int) -> None:
    X, _ = _unit_blobs(seed, n, k, 1.0)
    affinity = rbf_kernel(X, gamma=2.0)
    before = affinity.copy()
    ref = spectral_embedding(affinity, n_components=k, drop_first=False, random_state=0)
    exact = spectral_embedding_fast(affinity, k)  # float64 eigensolver (default)
    np.testing.assert_array_equal(affinity, before)  # input untouched
    scale = np.abs(ref).max()
    np.testing.assert_allclose(exact, ref, atol=1e-9 * scale)
    fast = spectral_embedding_fast(affinity, k, dtype=np.float32)
    np.testing.assert_allclose(fast, ref, atol=1e-4 * scale)


@pytest.mark.parametrize(("seed", "n", "k", "std"), [(0, 150, 4, 1.0), (3, 100, 6, 2.0)])
def test_cluster_spectral_labels_identical_to_sklearn(seed: int, n: int, k: int, std) -> None:
    X, _ = _unit_blobs(seed, n, k, std)
    ours = FastSpectralClustering(n_clusters=k, gamma=1.5, random_state=seed).fit(X)
    ref = SpectralClustering(
        n_clusters=k, affinity="rbf", gamma=1.5, assign_labels="kmeans", random_state=seed
    ).fit(X)
    np.testing.assert_array_equal(ours.labels_, ref.labels_)


def test_cluster_spectral_consumes_random_stream_like_sklearn() -> None:
    X, _ = _unit_blobs(4, 80, 3, 1.0)
    ours_rs, ref_rs = np.random.RandomState(5), np.random.RandomState(5)
    FastSpectralClustering(n_clusters=3, random_state=ours_rs).fit(X)
    SpectralClustering(n_clusters=3, random_state=ref_rs).fit(X)
    assert ours_rs.random_sample() == ref_rs.random_sample()


def test_cluster_spectral_deterministic_given_random_state() -> None:
    X, _ = _unit_blobs(5, 120, 8, 3.0)
    a = FastSpectralClustering(n_clusters=8, random_state=2).fit(X)
    b = FastSpectralClustering(n_clusters=8, random_state=2).fit(X)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    assert a.embedding_.shape == (120, 8)


def test_cluster_spectral_estimator_api() -> None:
    est = FastSpectralClustering(n_clusters=2)
    assert est.get_params() == {
        "n_clusters": 2,
        "gamma": 1.0,
        "n_init": 10,
        "random_state": None,
        "eigen_dtype": "float64",
    }
    assert clone(est).get_params() == est.get_params()
    with pytest.raises(TypeError):
        FastSpectralClustering(2)  # keyword-only


@pytest.mark.parametrize(
    ("X", "params", "match"),
    [
        (np.array([[0.0, 1.0], [np.nan, 2.0]]), {"n_clusters": 1}, "NaN or infinite"),
        (np.zeros(4), {"n_clusters": 1}, "2-D"),
        (np.eye(3), {"n_clusters": 4}, r"n_clusters must be an int in \[1, n_samples=3\], got 4"),
        (
            np.eye(3),
            {"n_clusters": 0},
            r"FastSpectralClustering: n_clusters must be an int in \[1, inf\)",
        ),
        (np.eye(3), {"n_clusters": 2, "gamma": 0.0}, "gamma"),
        (np.eye(3), {"n_clusters": 2, "n_init": 0}, "n_init"),
        (np.ones((1, 3)), {"n_clusters": 1}, "X must be an array with at least 2 sample"),
    ],
)
def test_cluster_spectral_rejects_bad_input(X: np.ndarray, params: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        FastSpectralClustering(**params).fit(X)


def test_cluster_spectral_embedding_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="square"):
        spectral_embedding_fast(np.ones((3, 4)), 2)
    with pytest.raises(
        ValueError,
        match=r"spectral_embedding_fast: n_components must be an int in \[1, n_samples=3\], got 5",
    ):
        spectral_embedding_fast(np.ones((3, 3)), 5)
    with pytest.raises(ValueError, match="dtype"):
        spectral_embedding_fast(np.ones((3, 3)), 2, dtype=np.int64)
    with pytest.raises(ValueError, match="dtype"):
        FastSpectralClustering(n_clusters=2, eigen_dtype="float16").fit(np.eye(4))


def test_cluster_spectral_float32_solver_is_an_option() -> None:
    X, y = _unit_blobs(0, 160, 4, 0.5)
    for dtype in ("float32", "float64"):
        est = FastSpectralClustering(n_clusters=4, gamma=5.0, eigen_dtype=dtype, random_state=0)
        assert adjusted_rand_score(y, est.fit_predict(X)) == 1.0
