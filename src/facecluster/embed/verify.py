"""LFW verification: the standard 10-fold protocol on ``pairs.txt``.

For every fold, the distance threshold is chosen on the other nine folds (the value that
maximises their accuracy, searched over the midpoints between sorted training distances) and
the accuracy is measured on the held-out fold.  Distances are euclidean between L2-normalised
embeddings.  A pair one of whose images gave no face cannot be scored: such pairs are counted
and reported, and ``accuracy_all_pairs`` scores them as errors (the conservative number).
"""

from __future__ import annotations

import numpy as np


def best_threshold(dist: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    """The threshold maximising accuracy of ``dist < t`` ⇔ same; returns (t, accuracy)."""
    order = np.argsort(dist, kind="stable")
    d, s = dist[order], same[order].astype(np.int64)
    n = len(d)
    # predicting "same" for the first i pairs: correct = same among them + different after them
    same_cum = np.concatenate([[0], np.cumsum(s)])
    diff_after = (n - np.arange(n + 1)) - (s.sum() - same_cum)
    correct = same_cum + diff_after
    # only cut between distinct distances
    valid = np.ones(n + 1, bool)
    valid[1:n] = d[1:] > d[:-1]
    i = int(np.argmax(np.where(valid, correct, -1)))
    if i == 0:
        t = d[0] - 1e-6
    elif i == n:
        t = d[-1] + 1e-6
    else:
        t = 0.5 * (d[i - 1] + d[i])
    return float(t), float(correct[i] / n)


def ten_fold_accuracy(dist: np.ndarray, same: np.ndarray, folds: np.ndarray) -> dict:
    """Mean and std of held-out accuracy over the folds, with the per-fold thresholds."""
    dist, same, folds = np.asarray(dist, float), np.asarray(same, bool), np.asarray(folds)
    if not (len(dist) == len(same) == len(folds)):
        raise ValueError("dist, same and folds must have the same length")
    accs, thresholds = [], []
    for f in np.unique(folds):
        test = folds == f
        t, _ = best_threshold(dist[~test], same[~test])
        accs.append(float(np.mean((dist[test] < t) == same[test])))
        thresholds.append(t)
    return {
        "accuracy": float(np.mean(accs)),
        "accuracy_std": float(np.std(accs)),
        "fold_accuracies": accs,
        "thresholds": thresholds,
    }


def pair_distances(
    embeddings: np.ndarray, index: dict[str, int], pairs_a: list[str], pairs_b: list[str]
) -> np.ndarray:
    """Euclidean distance per pair (NaN where an image has no embedding)."""
    out = np.full(len(pairs_a), np.nan)
    for k, (a, b) in enumerate(zip(pairs_a, pairs_b, strict=True)):
        ia, ib = index.get(a), index.get(b)
        if ia is not None and ib is not None:
            out[k] = float(np.linalg.norm(embeddings[ia] - embeddings[ib]))
    return out


def lfw_verification(
    embeddings: np.ndarray,
    relpaths: list[str],
    pairs_a: list[str],
    pairs_b: list[str],
    same: np.ndarray,
    folds: np.ndarray,
) -> dict:
    """10-fold verification accuracy on pairs named by relpath."""
    index = {p: i for i, p in enumerate(relpaths)}
    dist = pair_distances(embeddings, index, pairs_a, pairs_b)
    ok = ~np.isnan(dist)
    same, folds = np.asarray(same, bool), np.asarray(folds)
    n_missing = int((~ok).sum())
    if not ok.any():
        return {
            "accuracy": float("nan"),
            "accuracy_std": float("nan"),
            "accuracy_all_pairs": 0.0,
            "fold_accuracies": [],
            "thresholds": [],
            "pairs": int(len(dist)),
            "pairs_scored": 0,
            "pairs_missing_face": n_missing,
        }
    res = ten_fold_accuracy(dist[ok], same[ok], folds[ok])
    # conservative: unscored pairs count as errors
    res["accuracy_all_pairs"] = float(res["accuracy"] * ok.sum() / len(dist)) if len(dist) else 0.0
    res.update(
        {"pairs": int(len(dist)), "pairs_scored": int(ok.sum()), "pairs_missing_face": n_missing}
    )
    return res
