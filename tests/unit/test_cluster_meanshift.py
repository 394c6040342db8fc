"""Mean shift: labels, centres and n_iter identical to scikit-learn's, on small data.

Both sides run under one OpenMP/BLAS thread (``threadpool_limits(1)``): on a busy 2-core
machine scikit-learn's per-query OpenMP barriers otherwise turn these millisecond fits into
tens of seconds.  Exactness does not depend on it: our exact fallback calls scikit-learn in
the same environment as the reference call.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import MeanShift as SkMeanShift
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score
from threadpoolctl import threadpool_limits

from facecluster.cluster import meanshift as ms
from facecluster.cluster.meanshift import FastMeanShift, mean_shift_grid


@pytest.fixture(autouse=True)
def _one_thread():
    with threadpool_limits(1):
        yield


def _faces(n_ids=30, per_id=(2, 8), d=512, seed=0):
    """L2-normalised 512-d vectors, many small identities (face-embedding-like)."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(per_id[0], per_id[1] + 1, n_ids)
    centres = rng.standard_normal((n_ids, d))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    labels = np.repeat(np.arange(n_ids), sizes)
    x = centres[labels] + rng.standard_normal((len(labels), d)) * 0.6 / np.sqrt(d)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    perm = rng.permutation(len(x))
    return x[perm], labels[perm]


def _assert_same_as_sklearn(X, bandwidth, max_iter=300):
    ref = SkMeanShift(bandwidth=bandwidth, max_iter=max_iter).fit(X)
    ours = FastMeanShift(bandwidth=bandwidth, max_iter=max_iter).fit(X)
    np.testing.assert_array_equal(ours.labels_, ref.labels_)
    np.testing.assert_array_equal(ours.cluster_centers_, ref.cluster_centers_)
    assert ours.n_iter_ == ref.n_iter_
    return ours


@pytest.mark.parametrize("bandwidth", [0.4, 1.0, 2.5, 100.0])
def test_meanshift_low_dimensional_blobs_identical(bandwidth):
    # 2-D: scikit-learn's KD-tree path; 100.0 puts every point within one bandwidth
    X, _ = make_blobs(120, centers=4, cluster_std=0.8, random_state=1)
    ours = _assert_same_as_sklearn(X, bandwidth)
    if bandwidth == 100.0:
        assert len(ours.cluster_centers_) == 1


@pytest.mark.parametrize("bandwidth", [3.0, 6.0, 7.5, 1e4])
def test_meanshift_high_dimensional_blobs_identical(bandwidth):
    # 20-D: the brute-force (GEMM) path
    X, _ = make_blobs(90, n_features=20, centers=3, cluster_std=1.5, random_state=2)
    ours = _assert_same_as_sklearn(X, bandwidth)
    if bandwidth == 1e4:
        assert np.all(ours.labels_ == 0)


@pytest.mark.parametrize("bandwidth", [0.3, 0.8, 0.95, 1.1, 1.25, 2.0])
def test_meanshift_unit_norm_face_like_identical(bandwidth):
    X, _ = _faces()
    _assert_same_as_sklearn(X, bandwidth)


def test_meanshift_float32_and_fortran_input_identical():
    X, _ = _faces(n_ids=15, seed=3)
    _assert_same_as_sklearn(X.astype(np.float32), 0.9)
    _assert_same_as_sklearn(np.asfortranarray(X), 0.9)


def test_meanshift_max_iter_cap_identical():
    X, _ = make_blobs(80, n_features=18, centers=3, cluster_std=2.0, random_state=4)
    for max_iter in (0, 1, 2):
        _assert_same_as_sklearn(X, 6.0, max_iter=max_iter)


def test_meanshift_exact_ties_use_sklearn_arithmetic(monkeypatch):
    # integer lattice in 16-D with integer bandwidths: many distances equal the bandwidth
    # exactly, so membership must come from scikit-learn's own radius query
    calls = []
    original = ms._Radius.exact

    def counting(self, p):
        calls.append(1)
        return original(self, p)

    monkeypatch.setattr(ms._Radius, "exact", counting)
    rng = np.random.default_rng(5)
    X = rng.integers(0, 2, size=(60, 16)).astype(np.float64)
    X = np.vstack([X, X[:10]])  # duplicate points too
    for bandwidth in (1.0, 2.0, 3.0):
        _assert_same_as_sklearn(X, bandwidth)
    assert calls, "the exact fallback was expected to run on lattice data"


def test_meanshift_tiny_sample_brute_path_identical():
    # n <= 11 makes scikit-learn choose brute force even in 2-D
    X = np.array([[0.0, 0.0], [0.1, 0.0], [1.0, 1.0], [1.1, 1.0], [5.0, 5.0], [5.2, 5.1]])
    for bandwidth in (0.15, 1.0, 2.0, 10.0):
        _assert_same_as_sklearn(X, bandwidth)


def test_mean_shift_grid_equals_estimator():
    X, _ = _faces(n_ids=20, seed=6)
    bandwidths = [0.5, 0.9, 1.2, 0.7]  # unsorted on purpose
    grid = mean_shift_grid(X, bandwidths)
    assert len(grid) == len(bandwidths)
    for b, labels in zip(bandwidths, grid, strict=True):
        np.testing.assert_array_equal(labels, FastMeanShift(bandwidth=b).fit(X).labels_)


def test_meanshift_recovers_separated_blobs():
    X, y = make_blobs(150, n_features=16, centers=5, cluster_std=0.5, random_state=7)
    labels = FastMeanShift(bandwidth=4.0).fit_predict(X)
    assert adjusted_rand_score(y, labels) == 1.0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_features", [16, 33, 512])
def test_sequential_means_bitwise_equal_to_numpy(dtype, n_features):
    rng = np.random.default_rng(8)
    X = (rng.standard_normal((700, n_features)) * 10).astype(dtype)
    prep = ms._Prepared(X)
    sets = [np.sort(rng.choice(700, m, replace=False)) for m in (1, 2, 7, 130, 700)]
    sets.append(rng.permutation(700)[:300])  # any order, not only sorted
    indptr = np.r_[0, np.cumsum([len(s) for s in sets])]
    ours = prep.means(indptr, np.concatenate(sets))
    for row, s in zip(ours, sets, strict=True):
        assert np.array_equal(row, np.mean(X[s], axis=0))


@pytest.mark.parametrize(
    ("X", "kwargs", "match"),
    [
        (np.array([[0.0, np.nan], [1.0, 1.0]]), {"bandwidth": 1.0}, "NaN"),
        (np.array([[0.0, np.inf], [1.0, 1.0]]), {"bandwidth": 1.0}, "NaN or infinite"),
        (np.zeros(5), {"bandwidth": 1.0}, "2-D array"),
        (np.zeros((5, 2)), {"bandwidth": 0.0}, "bandwidth"),
        (np.zeros((5, 2)), {"bandwidth": -1.0}, "bandwidth"),
        (np.zeros((5, 2)), {"bandwidth": 1.0, "max_iter": -1}, "max_iter"),
    ],
)
def test_meanshift_rejects_bad_input(X, kwargs, match):
    with pytest.raises(ValueError, match=match):
        FastMeanShift(**kwargs).fit(X)
    with pytest.raises(ValueError, match=match):
        mean_shift_grid(X, [kwargs["bandwidth"]], max_iter=kwargs.get("max_iter", 300))


def test_meanshift_init_only_stores_and_is_keyword_only():
    est = FastMeanShift(bandwidth=-5)  # validated in fit, not here
    assert est.get_params() == {"bandwidth": -5, "max_iter": 300}
    with pytest.raises(TypeError):
        FastMeanShift(0.5)  # type: ignore[misc]
