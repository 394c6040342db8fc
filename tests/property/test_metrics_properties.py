"""Properties of the clustering scores (cf. scikit-learn metrics/cluster/tests/test_common.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import (
    adjusted_rand_score,
    fowlkes_mallows_score,
    normalized_mutual_info_score,
)

from facecluster.metrics import (
    EVALUATE_KEYS,
    bcubed_precision_recall_f1,
    evaluate,
    noise_to_singletons,
    pairwise_precision_recall_f1,
)

SCORES_IN_UNIT_INTERVAL = [
    "nmi",
    "pairwise_precision",
    "pairwise_recall",
    "pairwise_f1",
    "bcubed_precision",
    "bcubed_recall",
    "bcubed_f1",
    "noise_fraction",
]
PERFECT = ["ari", "nmi"] + [k for k in SCORES_IN_UNIT_INTERVAL if k != "noise_fraction"]


@st.composite
def labelings(draw: st.DrawFn, noise: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """A pair of labelings of the same items (few labels, so clusters do collide)."""
    n = draw(st.integers(min_value=1, max_value=60))
    k_true = draw(st.integers(min_value=1, max_value=8))
    k_pred = draw(st.integers(min_value=1, max_value=8))
    low = -1 if noise else 0
    true = draw(st.lists(st.integers(0, k_true - 1), min_size=n, max_size=n))
    pred = draw(st.lists(st.integers(low, k_pred - 1), min_size=n, max_size=n))
    return np.array(true), np.array(pred)


def relabel(labels: np.ndarray, seed: int) -> np.ndarray:
    """Rename the clusters by a random injective map (to larger, scattered ids)."""
    values = np.unique(labels)
    rng = np.random.default_rng(seed)
    new = rng.choice(10 * values.size + 10, size=values.size, replace=False) + 3
    return new[np.searchsorted(values, labels)]


def assert_same_scores(a: dict[str, float], b: dict[str, float]) -> None:
    for key in EVALUATE_KEYS:
        assert a[key] == pytest.approx(b[key], rel=1e-12, abs=1e-12), key


@settings(max_examples=80, deadline=None)
@given(labelings(), st.integers(0, 2**31 - 1))
def test_metrics_invariant_to_relabelling(pair: tuple[np.ndarray, np.ndarray], seed: int) -> None:
    true, pred = pair
    base = evaluate(true, pred)
    assert_same_scores(base, evaluate(relabel(true, seed), pred))
    assert_same_scores(base, evaluate(true, relabel(pred, seed + 1)))
    assert_same_scores(base, evaluate(relabel(true, seed + 2), relabel(pred, seed + 3)))


@settings(max_examples=50, deadline=None)
@given(labelings(), st.randoms(use_true_random=False))
def test_metrics_invariant_to_item_order(pair: tuple[np.ndarray, np.ndarray], rnd) -> None:
    true, pred = pair
    order = list(range(true.size))
    rnd.shuffle(order)
    assert_same_scores(evaluate(true, pred), evaluate(true[order], pred[order]))


@settings(max_examples=50, deadline=None)
@given(labelings(), st.integers(0, 2**31 - 1))
def test_metrics_perfect_match_is_one(pair: tuple[np.ndarray, np.ndarray], seed: int) -> None:
    true, _ = pair
    for pred in (true, relabel(true, seed)):
        result = evaluate(true, pred)
        for key in PERFECT:
            assert result[key] == pytest.approx(1.0), key
        assert result["n_clusters"] == result["n_true_clusters"]


@settings(max_examples=120, deadline=None)
@given(labelings(noise=True))
def test_metrics_bounds(pair: tuple[np.ndarray, np.ndarray]) -> None:
    true, pred = pair
    result = evaluate(true, pred)
    for key in SCORES_IN_UNIT_INTERVAL:
        assert 0.0 <= result[key] <= 1.0 + 1e-12, key
    assert -1.0 <= result["ari"] <= 1.0 + 1e-12
    assert 0.0 < result["bcubed_precision"] and 0.0 < result["bcubed_recall"]
    for p, r, f in (
        pairwise_precision_recall_f1(true, pred),
        bcubed_precision_recall_f1(true, pred),
    ):
        assert min(p, r) - 1e-12 <= f <= max(p, r) + 1e-12
    assert 1 <= result["n_clusters"] <= true.size
    assert result["noise_fraction"] == pytest.approx(np.mean(pred == -1))


@settings(max_examples=120, deadline=None)
@given(labelings())
def test_metrics_precision_recall_swap(pair: tuple[np.ndarray, np.ndarray]) -> None:
    true, pred = pair
    p, r, f = pairwise_precision_recall_f1(true, pred)
    p_swapped, r_swapped, f_swapped = pairwise_precision_recall_f1(pred, true)
    assert p == r_swapped and r == p_swapped and f == pytest.approx(f_swapped)
    bp, br, bf = bcubed_precision_recall_f1(true, pred)
    bp_swapped, br_swapped, bf_swapped = bcubed_precision_recall_f1(pred, true)
    assert bp == pytest.approx(br_swapped, rel=1e-12)
    assert br == pytest.approx(bp_swapped, rel=1e-12)
    assert bf == pytest.approx(bf_swapped, rel=1e-12)


@settings(max_examples=100, deadline=None)
@given(labelings())
def test_metrics_pairwise_geometric_mean_is_fowlkes_mallows(
    pair: tuple[np.ndarray, np.ndarray],
) -> None:
    true, pred = pair
    p, r, _ = pairwise_precision_recall_f1(true, pred)
    no_pairs_anywhere = np.unique(true).size == true.size and np.unique(pred).size == pred.size
    if no_pairs_anywhere:
        # documented difference: scikit-learn returns 0 here, we call the match perfect
        assert (p, r) == (1.0, 1.0)
    else:
        assert math.sqrt(p * r) == pytest.approx(fowlkes_mallows_score(true, pred), abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(labelings())
def test_metrics_ari_nmi_equal_sklearn(pair: tuple[np.ndarray, np.ndarray]) -> None:
    true, pred = pair
    result = evaluate(true, pred)
    assert result["ari"] == adjusted_rand_score(true, pred)
    assert result["nmi"] == normalized_mutual_info_score(true, pred)


@settings(max_examples=80, deadline=None)
@given(labelings(noise=True))
def test_metrics_noise_scored_as_singletons(pair: tuple[np.ndarray, np.ndarray]) -> None:
    true, pred = pair
    singles = noise_to_singletons(pred)
    assert np.array_equal(singles[pred != -1], pred[pred != -1])
    n_noise = int(np.sum(pred == -1))
    assert np.unique(singles).size == np.unique(pred[pred != -1]).size + n_noise
    with_noise, converted = evaluate(true, pred), evaluate(true, singles)
    for key in EVALUATE_KEYS:
        if key != "noise_fraction":
            assert with_noise[key] == converted[key], key
