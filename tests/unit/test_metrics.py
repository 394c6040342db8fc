"""Hand-computed examples and edge cases for facecluster.metrics."""

from __future__ import annotations

import time

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix

from facecluster import metrics
from facecluster.metrics import (
    EVALUATE_KEYS,
    adjusted_rand,
    bcubed_precision_recall_f1,
    evaluate,
    nmi,
    noise_to_singletons,
    pairwise_precision_recall_f1,
)

# truth: class 0 = {0,1,2}, class 1 = {3,4}, class 2 = {5}
# prediction: cluster 0 = {0,1}, cluster 1 = {2,3,4,5}
TRUE = [0, 0, 0, 1, 1, 2]
PRED = [0, 0, 1, 1, 1, 1]


def test_metrics_pairwise_hand_example() -> None:
    # same-cluster pairs: C(2,2) + C(4,2) = 7, of which same-identity: (0,1) and (3,4) = 2;
    # same-identity pairs: C(3,2) + C(2,2) = 4
    p, r, f = pairwise_precision_recall_f1(TRUE, PRED)
    assert p == pytest.approx(2 / 7)
    assert r == pytest.approx(2 / 4)
    assert f == pytest.approx(4 / 11)


def test_metrics_bcubed_hand_example() -> None:
    # per-item precision: 1, 1, 1/4, 2/4, 2/4, 1/4 -> 3.5 / 6
    # per-item recall:  2/3, 2/3, 1/3, 1, 1, 1   -> (14/3) / 6
    p, r, f = bcubed_precision_recall_f1(TRUE, PRED)
    assert p == pytest.approx(7 / 12)
    assert r == pytest.approx(7 / 9)
    assert f == pytest.approx(2 / 3)


def test_metrics_ari_hand_example() -> None:
    # Hubert-Arabie: index 2, expected 7 * 4 / C(6,2) = 28/15, max (7 + 4) / 2
    expected = (2 - 28 / 15) / (5.5 - 28 / 15)
    assert adjusted_rand(TRUE, PRED) == pytest.approx(expected)
    assert evaluate(TRUE, PRED)["ari"] == pytest.approx(expected)


def test_metrics_nmi_is_sklearn() -> None:
    assert nmi(TRUE, PRED) == normalized_mutual_info_score(TRUE, PRED)
    assert evaluate(TRUE, PRED)["nmi"] == normalized_mutual_info_score(TRUE, PRED)


def test_metrics_evaluate_keys_and_values() -> None:
    result = evaluate(TRUE, PRED)
    assert tuple(result) == EVALUATE_KEYS
    assert set(result) == {
        "ari",
        "nmi",
        "pairwise_precision",
        "pairwise_recall",
        "pairwise_f1",
        "bcubed_precision",
        "bcubed_recall",
        "bcubed_f1",
        "n_clusters",
        "n_true_clusters",
        "noise_fraction",
    }
    assert result["pairwise_f1"] == pytest.approx(4 / 11)
    assert result["bcubed_f1"] == pytest.approx(2 / 3)
    assert result["n_clusters"] == 2
    assert result["n_true_clusters"] == 3
    assert result["noise_fraction"] == 0.0


def test_metrics_noise_to_singletons() -> None:
    out = noise_to_singletons([0, -1, 1, -1, 1])
    assert out.tolist() == [0, 2, 1, 3, 1]
    assert out.dtype == np.int64
    assert noise_to_singletons(np.array([-1, -1, -1])).tolist() == [0, 1, 2]
    assert noise_to_singletons(np.array([3, 3])).tolist() == [3, 3]
    labels = np.array([0, -1])
    noise_to_singletons(labels)
    assert labels.tolist() == [0, -1]  # input not modified


@pytest.mark.parametrize("bad", [np.array([0.5, 1.0]), np.array(["a", "b"]), np.zeros((2, 2))])
def test_metrics_noise_to_singletons_rejects(bad: np.ndarray) -> None:
    with pytest.raises(ValueError):
        noise_to_singletons(bad)


def test_metrics_evaluate_noise_becomes_singletons() -> None:
    true = [0, 0, 1, 1]
    pred = [0, -1, 1, 1]
    result = evaluate(true, pred)
    assert result["noise_fraction"] == pytest.approx(0.25)
    assert result["n_clusters"] == 3  # {0}, {1} (noise), {2, 3}
    singletons = evaluate(true, [0, 2, 1, 1])
    for key in EVALUATE_KEYS:
        if key != "noise_fraction":
            assert result[key] == singletons[key], key
    # scored as one big "noise cluster" the two noise points would look like a pair
    all_noise = evaluate([0, 1, 2], [-1, -1, -1])
    assert all_noise["noise_fraction"] == 1.0
    assert all_noise["pairwise_f1"] == 1.0  # all singletons vs all singletons


def test_metrics_degenerate_singletons_and_one_cluster() -> None:
    # prediction claims no pair: precision 1 (vacuous), recall 0
    assert pairwise_precision_recall_f1([0, 0, 1], [0, 1, 2]) == (1.0, 0.0, 0.0)
    # truth has no pair: recall 1 (vacuous), precision 0
    assert pairwise_precision_recall_f1([0, 1, 2], [0, 0, 0]) == (0.0, 1.0, 0.0)
    # neither has a pair: a perfect match
    assert pairwise_precision_recall_f1([0, 1, 2], [5, 6, 7]) == (1.0, 1.0, 1.0)
    assert evaluate([0, 1, 2], [5, 6, 7])["ari"] == 1.0
    # one class, one cluster
    assert pairwise_precision_recall_f1([1, 1, 1], [4, 4, 4]) == (1.0, 1.0, 1.0)
    assert bcubed_precision_recall_f1([1, 1, 1], [4, 4, 4]) == (1.0, 1.0, 1.0)
    # a single sample
    single = evaluate([7], [3])
    assert single["ari"] == 1.0 and single["nmi"] == 1.0 and single["bcubed_f1"] == 1.0
    # one cluster for everything: BCubed recall 1, precision = sum a_i^2 / n^2
    p, r, _ = bcubed_precision_recall_f1([0, 0, 1, 2], [0, 0, 0, 0])
    assert (p, r) == (pytest.approx((4 + 1 + 1) / 16), 1.0)


@pytest.mark.parametrize(
    ("true", "pred", "match"),
    [
        (np.zeros((2, 2)), np.zeros(4), "1-D"),
        ([0, 1], [0, 1, 2], "differ in length"),
        ([], [], "empty"),
        ([0.0, np.nan], [0, 1], "NaN"),
    ],
)
def test_metrics_input_check(true: object, pred: object, match: str) -> None:
    for fn in (
        adjusted_rand,
        nmi,
        pairwise_precision_recall_f1,
        bcubed_precision_recall_f1,
        evaluate,
    ):
        with pytest.raises(ValueError, match=match):
            fn(true, pred)


def test_metrics_string_labels() -> None:
    true = ["ann", "ann", "bob", "bob", "cy"]
    pred = [1, 1, 1, 2, 3]
    coded = [0, 0, 1, 1, 2]
    assert evaluate(true, pred) == evaluate(coded, pred)


def test_metrics_fast_contingency_matches_sklearn() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        n = int(rng.integers(1, 200))
        true = rng.integers(0, int(rng.integers(1, 30)), n) * int(rng.integers(1, 4))
        pred = rng.integers(0, int(rng.integers(1, 30)), n)
        cells = metrics._cells(true, pred)
        table = contingency_matrix(true, pred, sparse=True).tocoo()
        order = np.lexsort((table.col, table.row))
        np.testing.assert_array_equal(cells.row, table.row[order])
        np.testing.assert_array_equal(cells.col, table.col[order])
        np.testing.assert_array_equal(cells.count, table.data[order])
        # the scikit-learn path (float labels) gives the same cells
        slow = metrics._cells(true.astype(float), pred.astype(float))
        np.testing.assert_array_equal(cells.count, slow.count)
        np.testing.assert_array_equal(cells.class_sizes, slow.class_sizes)
        np.testing.assert_array_equal(cells.cluster_sizes, slow.cluster_sizes)


def test_metrics_evaluate_scales_linearly() -> None:
    # 300,000 items: anything quadratic (4.5e10 pairs) would not finish
    rng = np.random.default_rng(1)
    true = rng.integers(0, 20_000, 300_000)
    pred = np.where(rng.random(300_000) < 0.9, true, rng.integers(0, 20_000, 300_000))
    start = time.perf_counter()
    result = evaluate(true, pred)
    assert time.perf_counter() - start < 10
    assert result["ari"] == adjusted_rand_score(true, pred)
    assert 0.7 < result["pairwise_f1"] < 1.0


def test_sample_silhouette_equals_sklearn_on_the_evenly_spaced_rows():
    from sklearn.metrics import silhouette_score

    from facecluster.metrics import sample_silhouette, silhouette_distances, silhouette_rows

    rng = np.random.default_rng(0)
    X = rng.standard_normal((2500, 6))
    labels = rng.integers(0, 7, 2500)
    rows = silhouette_rows(len(X))
    assert len(rows) == 1000 and rows[0] == 0 and rows[-1] == 2499
    assert np.all(np.diff(rows) > 0)
    D = silhouette_distances(X, rows)
    assert sample_silhouette(D, labels[rows]) == pytest.approx(
        silhouette_score(X[rows], labels[rows]), abs=1e-12
    )
    np.testing.assert_array_equal(silhouette_rows(5), np.arange(5))


def test_sample_silhouette_noise_is_singletons_and_degenerate_is_nan():
    from facecluster.metrics import sample_silhouette, silhouette_distances

    X = np.array([[0.0], [0.1], [5.0], [5.1], [9.0]])
    D = silhouette_distances(X, np.arange(5))
    noisy = sample_silhouette(D, np.array([0, 0, 1, 1, -1]))
    explicit = sample_silhouette(D, np.array([0, 0, 1, 1, 2]))
    assert noisy == explicit  # the noise point is a cluster of its own (silhouette 0)
    assert np.isnan(sample_silhouette(D, np.zeros(5, int)))  # one cluster
    assert np.isnan(sample_silhouette(D, np.arange(5)))  # every point alone
    with pytest.raises(ValueError, match="n >= 1"):
        from facecluster.metrics import silhouette_rows

        silhouette_rows(0)
