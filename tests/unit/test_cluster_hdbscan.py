"""HDBSCAN over a grid: scikit-learn's labels, one tree per min_samples, noise as singletons."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.cluster import HDBSCAN
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from facecluster.cluster.hdbscan import hdbscan_grid
from facecluster.metrics import evaluate


def _sklearn(X, mcs, ms):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # the `copy` default changes in 1.10
        return HDBSCAN(min_cluster_size=mcs, min_samples=ms, algorithm="brute").fit_predict(X)


@pytest.fixture(scope="module")
def noisy_blobs() -> tuple[np.ndarray, np.ndarray]:
    """4 tight blobs of 25 (centres in a box of ±10) and 12 points scattered over ±200."""
    X, y = make_blobs(100, n_features=12, centers=4, cluster_std=0.4, random_state=0)
    scatter = np.random.default_rng(1).uniform(-200, 200, (12, 12))
    return np.concatenate([X, scatter]), np.concatenate([y, 4 + np.arange(12)])


def test_grid_labels_are_sklearns_point_for_point(noisy_blobs):
    X, _ = noisy_blobs
    settings = [(mcs, ms) for mcs in (2, 3, 5, 9) for ms in (1, 2, 4)]
    for (mcs, ms), labels in zip(settings, hdbscan_grid(X, settings), strict=True):
        np.testing.assert_array_equal(labels, _sklearn(X, mcs, ms), err_msg=f"{mcs}, {ms}")


def test_one_tree_per_min_samples(noisy_blobs, monkeypatch):
    import sklearn.cluster._hdbscan.hdbscan as sk

    calls = []
    original = sk._brute_mst
    monkeypatch.setattr(sk, "_brute_mst", lambda m, min_samples: calls.append(min_samples) or
                        original(m, min_samples))  # fmt: skip
    hdbscan_grid(noisy_blobs[0], [(2, 1), (3, 1), (5, 1), (2, 3), (5, 3)])
    assert calls == [1, 3]


def test_recovers_blobs_and_noise_becomes_singletons(noisy_blobs):
    X, y = noisy_blobs
    (labels,) = hdbscan_grid(X, [(5, 3)])
    core = y < 4
    assert adjusted_rand_score(y[core], labels[core]) == 1.0
    assert (labels[~core] == -1).all()  # the scattered points are noise
    scores = evaluate(y, labels)
    # each noise point its own cluster: 4 blobs + 12 singletons, exactly the truth
    assert scores["n_clusters"] == 16 and scores["ari"] == 1.0
    assert scores["noise_fraction"] == pytest.approx(12 / len(y))


@pytest.mark.parametrize(
    ("X", "settings", "match"),
    [
        (np.zeros((1, 3)), [(2, 1)], "at least 2 sample"),
        (np.zeros((5, 3)), [(1, 1)], r"min_cluster_size must be an int in \[2, inf\)"),
        (np.zeros((5, 3)), [(2, 0)], "min_samples"),
        (np.zeros((5, 3)), [(2, 6)], "at most n_samples=5"),
        (np.array([[0.0, np.nan], [1.0, 1.0]]), [(2, 1)], "NaN"),
    ],
)
def test_grid_rejects_bad_input(X, settings, match):
    with pytest.raises(ValueError, match=match):
        hdbscan_grid(X, settings)


def test_empty_grid():
    assert hdbscan_grid(np.zeros((3, 2)), []) == []
