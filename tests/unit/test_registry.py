"""The clustering registry: grids, their validation, and every method through ``run_grid``."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from facecluster.cluster.registry import ALGORITHMS, MethodSpec, get_method
from facecluster.config import SweepSettings

METHODS = ["kmeans", "agglomerative", "spectral", "finch_k", "dbscan", "hdbscan", "meanshift",
           "rank_order", "chinese_whispers", "finch"]  # fmt: skip

#: A grid point per method that must recover well-separated unit-norm blobs exactly.
RECOVERING_POINT = {
    "kmeans": {"n_init": 3},
    "agglomerative": {},
    "spectral": {"gamma": 1.0, "n_init": 3},
    "dbscan": {"eps": 0.3, "min_samples": 1},
    "hdbscan": {"min_cluster_size": 5, "min_samples": 2},
    "meanshift": {"bandwidth": 0.3},
    "rank_order": {"k": 8, "threshold": 1.0},
    "chinese_whispers": {"threshold": 0.3, "n_iter": 20},
}


@pytest.fixture(scope="module")
def blobs() -> tuple[np.ndarray, np.ndarray]:
    """60 unit vectors in 5 tight, far-apart groups of 12 (within < 0.1, between > 0.8)."""
    X, y = make_blobs(
        n_samples=60, n_features=16, centers=5, cluster_std=0.02, center_box=(-1, 1),
        random_state=3,
    )  # fmt: skip
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X.astype(np.float32), y


def test_registry_names_and_k():
    assert list(ALGORITHMS) == METHODS
    assert {n for n, s in ALGORITHMS.items() if s.needs_k} == {"kmeans", "agglomerative",
                                                                "spectral", "finch_k"}  # fmt: skip
    for name, spec in ALGORITHMS.items():
        assert isinstance(spec, MethodSpec) and spec.name == name
        assert get_method(name) is spec
    with pytest.raises(KeyError, match="unknown method 'dbscn'.*dbscan"):
        get_method("dbscn")


def test_registry_config_has_one_setting_per_method():
    assert list(SweepSettings().method_grids()) == METHODS


def test_registry_default_grids_are_the_reports():
    expected_01_12 = [round(0.1 * i, 10) for i in range(1, 13)]
    assert [p["eps"] for p in ALGORITHMS["dbscan"].grid_points()] == expected_01_12
    assert {p["min_samples"] for p in ALGORITHMS["dbscan"].grid_points()} == {1}
    assert [p["bandwidth"] for p in ALGORITHMS["meanshift"].grid_points()] == expected_01_12
    assert ALGORITHMS["kmeans"].grid_points() == [{"n_init": 10}]
    assert ALGORITHMS["spectral"].grid_points() == [{"gamma": 1.0, "n_init": 10}]
    assert ALGORITHMS["agglomerative"].grid_points() == [{}]
    ro = ALGORITHMS["rank_order"].grid_points()
    assert sorted({p["k"] for p in ro}) == [20, 50, 100, 200]
    assert len(ro) == 4 * len({p["threshold"] for p in ro})
    cw = [p["threshold"] for p in ALGORITHMS["chinese_whispers"].grid_points()]
    assert min(cw) <= 0.5 and max(cw) >= 0.7
    hd = ALGORITHMS["hdbscan"].grid_points()
    assert min(p["min_cluster_size"] for p in hd) == 2 and {p["min_samples"] for p in hd} >= {1}
    assert ALGORITHMS["finch"].grid_points() == ALGORITHMS["finch_k"].grid_points() == [{}]


def test_registry_grid_points_are_the_product_in_field_order():
    points = ALGORITHMS["rank_order"].grid_points({"k": [5, 10], "threshold": [0.5, 1.0, 1.5]})
    assert points == [{"k": k, "threshold": t} for k in (5, 10) for t in (0.5, 1.0, 1.5)]
    # a scalar is a one-value axis
    assert ALGORITHMS["dbscan"].grid_points({"eps": 0.4}) == [{"eps": 0.4, "min_samples": 1}]


@pytest.mark.parametrize(
    ("method", "grid", "message"),
    [
        (
            "dbscan",
            {"eps": [0.5, 0.0]},
            r"'dbscan\.eps\.1' must be a float in \(0, inf\), got 0\.0",
        ),
        ("dbscan", {"eps": [-0.1]}, r"'dbscan\.eps\.0' must be a float in \(0, inf\), got -0\.1"),
        (
            "dbscan",
            {"min_samples": 0},
            r"'dbscan\.min_samples' must be an int in \[1, inf\), got 0",
        ),
        ("dbscan", {"epsilon": [0.5]}, r"unknown key 'dbscan\.epsilon'"),
        ("meanshift", {"bandwidth": [0]}, r"meanshift\.bandwidth\.0"),
        ("rank_order", {"k": [1]}, r"'rank_order\.k\.0' must be an int in \[2, inf\), got 1"),
        ("rank_order", {"threshold": [0.0]}, r"rank_order\.threshold\.0"),
        ("rank_order", {"k": [5, 5]}, r"k lists a value twice"),
        ("rank_order", {"k": []}, r"k must list at least one value"),
        ("chinese_whispers", {"n_iter": 0}, r"chinese_whispers\.n_iter"),
        ("spectral", {"gamma": [-1.0]}, r"spectral\.gamma\.0"),
        ("kmeans", {"n_init": 0}, r"kmeans\.n_init"),
        ("agglomerative", {"n_clusters": 3}, r"unknown key 'agglomerative\.n_clusters'"),
        (
            "hdbscan",
            {"min_cluster_size": [1]},
            r"'hdbscan\.min_cluster_size\.0' must be an int in \[2, inf\), got 1",
        ),
        ("hdbscan", {"min_samples": [0]}, r"hdbscan\.min_samples\.0"),
        ("finch", {"n_clusters": 3}, r"unknown key 'finch\.n_clusters'"),
    ],
)
def test_registry_grid_validation_names_the_key(method, grid, message):
    with pytest.raises(ValueError, match=message):
        ALGORITHMS[method].validate_grid(grid)


def test_registry_run_grid_checks_points_and_k(blobs):
    X, _ = blobs
    dbscan = ALGORITHMS["dbscan"]
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['epsilon'\]"):
        dbscan.run_grid(X, [{"epsilon": 0.3, "min_samples": 1}])
    with pytest.raises(ValueError, match=r"missing parameter\(s\) \['min_samples'\]"):
        dbscan.run_grid(X, [{"eps": 0.3}])
    with pytest.raises(ValueError, match=r"dbscan\.eps\.0"):
        dbscan.run_grid(X, [{"eps": -1.0, "min_samples": 1}])
    kmeans = ALGORITHMS["kmeans"]
    with pytest.raises(ValueError, match="needs n_clusters"):
        kmeans.run_grid(X, [{"n_init": 1}])
    with pytest.raises(ValueError, match=r"K = 61 clusters requested but the subset has only 60"):
        kmeans.run_grid(X, [{"n_init": 1}], n_clusters=61)
    with pytest.raises(ValueError, match="non-empty 2-D"):
        dbscan.run_grid(X[0], [{"eps": 0.3, "min_samples": 1}])
    assert dbscan.run_grid(X, []) == []


@pytest.mark.parametrize("method", list(RECOVERING_POINT))
def test_registry_each_method_recovers_separated_clusters(method, blobs):
    X, y = blobs
    spec = ALGORITHMS[method]
    (labels,) = spec.run_grid(
        X, [RECOVERING_POINT[method]], n_clusters=5 if spec.needs_k else None, random_state=7
    )
    assert labels.dtype == np.int64 and labels.shape == y.shape
    assert adjusted_rand_score(y, labels) == pytest.approx(1.0)


def test_registry_finch_runs_the_estimator_with_and_without_k(blobs):
    # FINCH has no setting that makes it recover these blobs exactly (its levels have 11, 4
    # and 2 clusters here); the registry must run the estimator as documented
    from facecluster.cluster.finch import FINCH

    X, y = blobs
    (first,) = ALGORITHMS["finch"].run_grid(X, [{}])
    assert all(np.unique(y[first == c]).size == 1 for c in np.unique(first))  # pure
    (near_k,) = ALGORITHMS["finch_k"].run_grid(X, [{}], n_clusters=5)
    np.testing.assert_array_equal(near_k, FINCH(n_clusters=5).fit_predict(X))
    np.testing.assert_array_equal(first, FINCH().fit_predict(X))


def test_registry_grid_shares_work_and_splits_its_time(blobs, monkeypatch):
    X, y = blobs
    spec = ALGORITHMS["dbscan"]
    calls = []
    original = spec.runner

    def counting(X_, points, n_clusters, random_state):
        calls.append(len(points))
        return original(X_, points, n_clusters, random_state)

    monkeypatch.setitem(ALGORITHMS, "dbscan", dataclasses.replace(spec, runner=counting))
    points = ALGORITHMS["dbscan"].grid_points({"eps": [0.05, 0.3, 1.9]})
    labels, seconds = ALGORITHMS["dbscan"].run_grid_timed(X, points)
    assert calls == [3]
    assert len(set(seconds)) == 1 and seconds[0] >= 0  # one grid call, split equally
    # eps 0.05 splits the blobs but never merges two: each cluster lies within one identity
    assert all(np.unique(y[labels[0] == c]).size == 1 for c in np.unique(labels[0]))
    assert adjusted_rand_score(y, labels[1]) == pytest.approx(1.0)
    assert np.unique(labels[2]).size == 1  # eps 1.9 > every distance: one cluster


@pytest.mark.parametrize(
    ("method", "grid"),
    [
        ("rank_order", {"k": [4, 8], "threshold": [0.5, 1.0]}),
        ("hdbscan", {"min_cluster_size": [2, 5, 13], "min_samples": [1, 3]}),
    ],
)
def test_registry_shared_grid_points_map_to_their_settings(method, grid, blobs):
    X, _ = blobs
    spec = ALGORITHMS[method]
    points = spec.grid_points(grid)
    together = spec.run_grid(X, points)
    for point, labels in zip(points, together, strict=True):
        (alone,) = spec.run_grid(X, [point])
        assert adjusted_rand_score(alone, labels) == pytest.approx(1.0), point
