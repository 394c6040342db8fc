"""WardClustering: the same partition as sklearn AgglomerativeClustering(linkage="ward")."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.cluster.hierarchy import ward
from sklearn.base import clone
from sklearn.cluster import AgglomerativeClustering
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from facecluster.cluster.agglomerative import WardClustering, cut_linkage, ward_linkage


def test_cluster_agglomerative_recovers_separated_blobs() -> None:
    X, y = make_blobs(120, 5, centers=4, cluster_std=0.3, random_state=0)
    labels = WardClustering(n_clusters=4).fit_predict(X)
    assert adjusted_rand_score(y, labels) == 1.0


@pytest.mark.parametrize(
    ("seed", "n", "d", "k", "kind"),
    [
        (0, 200, 8, 12, "blobs"),
        (1, 150, 3, 1, "blobs"),
        (2, 150, 30, 40, "normal"),
        (3, 90, 5, 90, "normal"),
        (4, 300, 16, 25, "unit"),
        (5, 2, 4, 2, "normal"),
    ],
)
def test_cluster_agglomerative_identical_to_sklearn(seed, n, d, k, kind) -> None:
    rng = np.random.default_rng(seed)
    if kind == "blobs":
        X, _ = make_blobs(n, d, centers=7, cluster_std=2.0, random_state=seed)
    else:
        X = rng.standard_normal((n, d))
        if kind == "unit":
            X /= np.linalg.norm(X, axis=1, keepdims=True)
    ours = WardClustering(n_clusters=k).fit(X).labels_
    ref = AgglomerativeClustering(n_clusters=k, linkage="ward").fit(X).labels_
    assert adjusted_rand_score(ref, ours) == 1.0
    assert np.unique(ours).size == k


def test_cluster_agglomerative_same_tree_as_scipy() -> None:
    X = np.random.default_rng(6).standard_normal((80, 6))
    ours, ref = ward_linkage(X), ward(X)
    np.testing.assert_array_equal(ours[:, [0, 1, 3]], ref[:, [0, 1, 3]])
    np.testing.assert_allclose(ours[:, 2], ref[:, 2], rtol=1e-10)


def test_cluster_agglomerative_cut_numbering() -> None:
    # points 0,1 merge first, then 2,3; cutting into 2 clusters keeps both merges
    X = np.array([[0.0], [0.1], [5.0], [5.2], [20.0]])
    Z = ward_linkage(X)
    assert cut_linkage(Z, 5).tolist() == [0, 1, 2, 3, 4]
    assert cut_linkage(Z, 3).tolist() == [0, 0, 1, 1, 2]
    assert cut_linkage(Z, 1).tolist() == [0, 0, 0, 0, 0]


def test_cluster_agglomerative_estimator_api() -> None:
    est = WardClustering(n_clusters=2)
    assert est.get_params() == {"n_clusters": 2}
    assert clone(est).get_params() == {"n_clusters": 2}
    with pytest.raises(TypeError):
        WardClustering(2)  # keyword-only
    assert WardClustering(n_clusters=1).fit(np.ones((1, 3))).labels_.tolist() == [0]


@pytest.mark.parametrize(
    ("X", "k", "match"),
    [
        (np.array([[0.0, 1.0], [np.nan, 2.0]]), 1, "NaN or infinite"),
        (np.zeros(4), 1, "2-D"),
        (np.eye(3), 4, r"WardClustering: n_clusters must be an int in \[1, n_samples=3\], got 4"),
        (np.eye(3), 0, r"WardClustering: n_clusters must be an int in \[1, inf\), got 0"),
    ],
)
def test_cluster_agglomerative_rejects_bad_input(X: np.ndarray, k: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        WardClustering(n_clusters=k).fit(X)
