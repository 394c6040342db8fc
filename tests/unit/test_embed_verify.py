import numpy as np

from facecluster.embed.verify import best_threshold, lfw_verification, ten_fold_accuracy


def test_best_threshold_separable():
    dist = np.array([0.1, 0.2, 0.3, 1.0, 1.1, 1.2])
    same = np.array([1, 1, 1, 0, 0, 0], bool)
    t, acc = best_threshold(dist, same)
    assert 0.3 < t < 1.0 and acc == 1.0


def test_best_threshold_brute_force_agrees():
    rng = np.random.default_rng(0)
    dist = np.round(rng.uniform(0, 2, 200), 2)  # ties
    same = rng.uniform(size=200) < 1 / (1 + np.exp(6 * (dist - 1)))
    t, acc = best_threshold(dist, same)
    cands = np.concatenate([[dist.min() - 1], np.unique(dist) + 1e-9])
    brute = max(np.mean((dist < c) == same) for c in cands)
    assert acc == brute
    assert np.mean((dist < t) == same) == acc


def test_ten_fold_uses_held_out_folds():
    rng = np.random.default_rng(1)
    n = 600
    same = np.repeat([True, False], n // 2)
    dist = np.where(same, rng.normal(0.7, 0.15, n), rng.normal(1.3, 0.15, n))
    folds = np.tile(np.arange(10), n // 10)
    res = ten_fold_accuracy(dist, same, folds)
    assert len(res["fold_accuracies"]) == 10
    assert 0.95 < res["accuracy"] <= 1.0


def test_lfw_verification_counts_missing_pairs():
    emb = np.eye(4, dtype=np.float32)
    rel = ["a/1", "a/2", "b/1", "c/1"]
    pa, pb = ["a/1", "b/1", "a/1", "x/1"], ["a/2", "c/1", "c/1", "a/1"]
    res = lfw_verification(emb, rel, pa, pb, np.array([1, 0, 0, 1], bool), np.array([0, 0, 1, 1]))
    assert res["pairs"] == 4 and res["pairs_scored"] == 3 and res["pairs_missing_face"] == 1
    assert res["accuracy_all_pairs"] <= res["accuracy"]
