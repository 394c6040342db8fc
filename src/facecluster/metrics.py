"""Clustering scores: ARI, NMI, pairwise (Otto et al.) and BCubed precision / recall / F1.

Every score is a pure function ``(labels_true, labels_pred) -> float`` (the pairwise and BCubed
ones return a ``(precision, recall, f1)`` triple). All of them go through one input check
(:func:`check_labels`) and are computed from the sparse contingency matrix
(:func:`sklearn.metrics.cluster.contingency_matrix` with ``sparse=True``), so a call costs
O(n log n) for the label encoding plus O(number of non-empty cells); no n × n array is ever
built. :func:`evaluate` is what the sweep calls: it turns noise (``-1``) into singletons, builds
the contingency matrix once and derives every score from it.

Notation: ``n_ij`` is the number of items of true class ``i`` put in predicted cluster ``j``,
``a_i = sum_j n_ij`` the true class sizes, ``b_j = sum_i n_ij`` the predicted cluster sizes and
``n`` the number of items.

Pairwise measure (Otto, Wang, Jain, "Clustering Millions of Faces by Identity", TPAMI 2018):
over unordered pairs of distinct items,

- precision = #pairs in the same predicted cluster that share an identity
  / #pairs in the same predicted cluster = ``sum C(n_ij, 2) / sum C(b_j, 2)``;
- recall = #pairs in the same predicted cluster that share an identity
  / #pairs that share an identity = ``sum C(n_ij, 2) / sum C(a_i, 2)``;
- F1 = harmonic mean of the two, 0 when both are 0.

Degenerate cases (documented choices): when the prediction claims no pair at all (every item a
singleton) precision is **1** (no claimed pair is wrong); when the truth has no pair (every
identity a singleton) recall is **1** (no true pair is missed). So an all-singletons prediction
scores precision 1, recall 0 and F1 0 unless the truth is all singletons too, in which case all
three are 1. With these choices ``precision(t, p) == recall(p, t)`` always, and
``sqrt(precision * recall)`` equals scikit-learn's Fowlkes–Mallows index except when neither
side has a pair (scikit-learn returns 0 there, we return 1 for the perfect match).

BCubed (Bagga & Baldwin 1998; Amigó et al. 2009): per item, precision is the fraction of its
predicted cluster that shares its identity and recall the fraction of its identity that is in
its predicted cluster (each counts the item itself, so neither is ever undefined); the scores
are the averages over items, ``sum n_ij^2 / b_j / n`` and ``sum n_ij^2 / a_i / n``, and F1 is
the harmonic mean of the two averages.

Label-free (:func:`sample_silhouette`): the one score computed *without* the identities, for
choosing a parameter blind: the mean silhouette (euclidean) of up to
:data:`SILHOUETTE_SAMPLE` evenly spaced faces of the subset, under the predicted clusters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix

__all__ = [
    "EVALUATE_KEYS",
    "adjusted_rand",
    "bcubed_precision_recall_f1",
    "check_labels",
    "evaluate",
    "nmi",
    "noise_to_singletons",
    "pairwise_precision_recall_f1",
    "sample_silhouette",
    "silhouette_distances",
    "silhouette_rows",
]

#: The keys of :func:`evaluate`'s result, in order.
EVALUATE_KEYS: tuple[str, ...] = (
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
)


def check_labels(labels_true: Any, labels_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate a pair of labelings and return them as numpy arrays.

    Parameters
    ----------
    labels_true, labels_pred : array-like of shape (n_samples,)
        Ground-truth classes and predicted clusters. Any hashable, sortable values (ints,
        strings); float labels must be finite.

    Returns
    -------
    labels_true, labels_pred : ndarray of shape (n_samples,)

    Raises
    ------
    ValueError
        If either is not 1-D, they differ in length, they are empty, or a float label is NaN
        or infinite.
    """
    out = []
    for name, labels in (("labels_true", labels_true), ("labels_pred", labels_pred)):
        arr = np.asarray(labels)
        if arr.ndim != 1:
            raise ValueError(f"{name} must be 1-D, got an array of shape {arr.shape}")
        if arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} contains NaN or infinite values")
        out.append(arr)
    true, pred = out
    if true.shape[0] != pred.shape[0]:
        raise ValueError(
            f"labels_true and labels_pred differ in length: {true.shape[0]} != {pred.shape[0]}"
        )
    if true.shape[0] == 0:
        raise ValueError("labels_true and labels_pred are empty; need at least one sample")
    return true, pred


@dataclass(frozen=True)
class _Cells:
    """The non-empty cells of the contingency matrix, in row-major (class, cluster) order."""

    row: np.ndarray  # class index of each cell
    col: np.ndarray  # cluster index of each cell
    count: np.ndarray  # n_ij, int64
    class_sizes: np.ndarray  # a_i, int64
    cluster_sizes: np.ndarray  # b_j, int64
    n: int


def _cells(labels_true: np.ndarray, labels_pred: np.ndarray) -> _Cells:
    """The contingency cells of two checked labelings.

    Small non-negative integer labels (what clustering returns; the sweep's case) take a fast
    path: dense re-coding by ``bincount`` and one sort of the combined keys, which yields
    exactly the cells of scikit-learn's sparse contingency matrix (the test-suite checks
    this) at a fraction of the cost of its two ``np.unique`` calls. Any other labels go
    through :func:`sklearn.metrics.cluster.contingency_matrix` (``sparse=True``).
    """
    n = int(labels_true.shape[0])
    if _small_nonnegative_ints(labels_true, n) and _small_nonnegative_ints(labels_pred, n):
        true_code, n_classes = _dense_codes(labels_true)
        pred_code, n_clusters = _dense_codes(labels_pred)
        keys = np.sort(true_code * n_clusters + pred_code)
        starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
        count = np.diff(np.append(starts, n)).astype(np.int64)
        row, col = np.divmod(keys[starts], n_clusters)
        class_sizes = np.bincount(true_code, minlength=n_classes).astype(np.int64)
        cluster_sizes = np.bincount(pred_code, minlength=n_clusters).astype(np.int64)
        return _Cells(row, col, count, class_sizes, cluster_sizes, n)
    table = contingency_matrix(labels_true, labels_pred, sparse=True, dtype=np.int64)
    n_classes, n_clusters = table.shape
    count = np.asarray(table.data, dtype=np.int64)
    indptr = np.asarray(table.indptr)
    row = np.repeat(np.arange(n_classes), np.diff(indptr))
    col = np.asarray(table.indices, dtype=np.intp)
    # every class and every cluster has at least one member, so no row slice is empty
    class_sizes = np.add.reduceat(count, indptr[:-1])
    cluster_sizes = np.bincount(col, weights=count, minlength=n_clusters).astype(np.int64)
    return _Cells(row, col, count, class_sizes, cluster_sizes, n)


def _small_nonnegative_ints(labels: np.ndarray, n: int) -> bool:
    """Integer labels in ``[0, 4 n + 1024)``, cheap to re-code with ``bincount``."""
    if labels.dtype.kind not in "iu":
        return False
    return bool(labels.min() >= 0 and labels.max() < 4 * n + 1024)


def _dense_codes(labels: np.ndarray) -> tuple[np.ndarray, int]:
    """Labels re-coded to ``0..k-1`` in sorted order (what ``np.unique`` would give)."""
    present = np.bincount(labels) > 0
    code = np.cumsum(present, dtype=np.int64) - 1
    return code[labels], int(code[-1]) + 1


def _n_pairs(counts: np.ndarray) -> int:
    """Number of unordered pairs, ``sum C(c, 2)``, exact in int64."""
    return int((counts * (counts - 1)).sum() // 2)


def _pair_counts(cells: _Cells) -> tuple[int, int, int]:
    """(same-class-and-cluster pairs, same-cluster pairs, same-class pairs)."""
    return _n_pairs(cells.count), _n_pairs(cells.cluster_sizes), _n_pairs(cells.class_sizes)


def _f1(precision: float, recall: float) -> float:
    total = precision + recall
    return 0.0 if total == 0 else 2.0 * precision * recall / total


def _pairwise_from_counts(both: int, pred: int, true: int) -> tuple[float, float, float]:
    precision = 1.0 if pred == 0 else both / pred
    recall = 1.0 if true == 0 else both / true
    return precision, recall, _f1(precision, recall)


def _bcubed(cells: _Cells) -> tuple[float, float, float]:
    sq = cells.count.astype(np.float64) ** 2
    precision = float((sq / cells.cluster_sizes[cells.col]).sum() / cells.n)
    recall = float((sq / cells.class_sizes[cells.row]).sum() / cells.n)
    return precision, recall, _f1(precision, recall)


def _ari(cells: _Cells) -> float:
    """ARI with scikit-learn's formula and special case, from the pair counts.

    scikit-learn counts ordered pairs: ``tp = 2 * both``, ``fp = 2 * (pred - both)``,
    ``fn = 2 * (true - both)`` and ``tn`` the rest of the ``n * (n - 1)`` ordered pairs; the
    arithmetic below is the same, in Python integers, so the result is bit-identical.
    """
    both, pred, true = _pair_counts(cells)
    n = cells.n
    tp = 2 * both
    fp = 2 * (pred - both)
    fn = 2 * (true - both)
    tn = n * (n - 1) - tp - fp - fn
    if fn == 0 and fp == 0:
        return 1.0
    return 2.0 * (tp * tn - fn * fp) / ((tp + fn) * (fn + tn) + (tp + fp) * (fp + tn))


def _entropy(sizes: np.ndarray) -> float:
    """Entropy (nats) of a labeling from its cluster sizes, as scikit-learn computes it."""
    pi = sizes.astype(np.float64)
    if pi.size == 1:
        return 0.0
    pi_sum = pi.sum()
    return float(-np.sum((pi / pi_sum) * (np.log(pi) - math.log(pi_sum))))


def _mutual_info(cells: _Cells) -> float:
    """Mutual information (nats): scikit-learn's ``mutual_info_score`` arithmetic, cell order."""
    pi, pj = cells.class_sizes, cells.cluster_sizes
    if pi.size == 1 or pj.size == 1:
        return 0.0
    total = cells.n
    nz_val = cells.count
    log_contingency_nm = np.log(nz_val)
    contingency_nm = nz_val / total
    outer = pi.take(cells.row) * pj.take(cells.col)
    log_outer = -np.log(outer) + math.log(pi.sum()) + math.log(pj.sum())
    mi = contingency_nm * (log_contingency_nm - math.log(total)) + contingency_nm * log_outer
    mi = np.where(np.abs(mi) < np.finfo(mi.dtype).eps, 0.0, mi)
    return float(np.clip(mi.sum(), 0.0, None))


def _nmi(cells: _Cells) -> float:
    """Arithmetic-mean NMI with scikit-learn's special cases."""
    if cells.class_sizes.size == cells.cluster_sizes.size == 1:
        return 1.0
    mi = _mutual_info(cells)
    if mi == 0:
        return 0.0
    normalizer = np.mean([_entropy(cells.class_sizes), _entropy(cells.cluster_sizes)])
    return float(mi / normalizer)


def adjusted_rand(labels_true: Any, labels_pred: Any) -> float:
    """Adjusted Rand index (scikit-learn's :func:`~sklearn.metrics.adjusted_rand_score`).

    Parameters
    ----------
    labels_true, labels_pred : array-like of shape (n_samples,)
        Ground-truth classes and predicted clusters.

    Returns
    -------
    float
        1 for identical partitions, about 0 for chance agreement, may be negative.
    """
    true, pred = check_labels(labels_true, labels_pred)
    return float(adjusted_rand_score(true, pred))


def nmi(labels_true: Any, labels_pred: Any) -> float:
    """Normalised mutual information, arithmetic-mean normalisation (scikit-learn's default).

    Parameters
    ----------
    labels_true, labels_pred : array-like of shape (n_samples,)
        Ground-truth classes and predicted clusters.

    Returns
    -------
    float
        In [0, 1]; 1 for identical partitions.
    """
    true, pred = check_labels(labels_true, labels_pred)
    return float(normalized_mutual_info_score(true, pred))


def pairwise_precision_recall_f1(labels_true: Any, labels_pred: Any) -> tuple[float, float, float]:
    """Otto et al.'s pairwise precision, recall and F1 (see the module docstring).

    Parameters
    ----------
    labels_true, labels_pred : array-like of shape (n_samples,)
        Ground-truth classes and predicted clusters.

    Returns
    -------
    precision, recall, f1 : float
        Each in [0, 1]. No predicted pair gives precision 1; no true pair gives recall 1.
    """
    true, pred = check_labels(labels_true, labels_pred)
    return _pairwise_from_counts(*_pair_counts(_cells(true, pred)))


def bcubed_precision_recall_f1(labels_true: Any, labels_pred: Any) -> tuple[float, float, float]:
    """BCubed precision, recall and F1 (averages over items; see the module docstring).

    Parameters
    ----------
    labels_true, labels_pred : array-like of shape (n_samples,)
        Ground-truth classes and predicted clusters.

    Returns
    -------
    precision, recall, f1 : float
        Each in (0, 1].
    """
    true, pred = check_labels(labels_true, labels_pred)
    return _bcubed(_cells(true, pred))


def noise_to_singletons(labels: Any) -> np.ndarray:
    """Give every noise point (label ``-1``) a cluster of its own.

    Parameters
    ----------
    labels : array-like of int, shape (n_samples,)
        Cluster labels; ``-1`` marks noise (DBSCAN's convention). Other negative labels are
        kept as they are.

    Returns
    -------
    ndarray of int64, shape (n_samples,)
        A copy in which the noise points get the new labels ``max + 1, max + 2, ...`` in
        order of appearance (``0, 1, ...`` when every point is noise).

    Raises
    ------
    ValueError
        If ``labels`` is not a 1-D array of integers.
    """
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ValueError(f"labels must be 1-D, got an array of shape {arr.shape}")
    if arr.dtype.kind not in "iub" and not (arr.size == 0 and arr.dtype.kind == "f"):
        raise ValueError(f"labels must be integers, got dtype {arr.dtype}")
    out = arr.astype(np.int64, copy=True)
    noise = out == -1
    n_noise = int(noise.sum())
    if n_noise:
        start = int(out[~noise].max()) + 1 if n_noise < out.size else 0
        out[noise] = np.arange(start, start + n_noise, dtype=np.int64)
    return out


def evaluate(labels_true: Any, labels_pred: Any) -> dict[str, float]:
    """Every score of one clustering, as the sweep stores it.

    Noise (``-1`` in an integer ``labels_pred``) is first turned into singletons
    (:func:`noise_to_singletons`); the scores are then computed from one sparse contingency
    matrix. ``ari`` and ``nmi`` equal scikit-learn's ``adjusted_rand_score`` and
    ``normalized_mutual_info_score`` (the same formulas evaluated on the shared contingency
    matrix, which saves two label encodings per call; the test-suite checks the equality).

    Parameters
    ----------
    labels_true : array-like of shape (n_samples,)
        Ground-truth identities.
    labels_pred : array-like of shape (n_samples,)
        Predicted clusters, ``-1`` for noise.

    Returns
    -------
    dict[str, float]
        Exactly the keys of :data:`EVALUATE_KEYS`: ``ari``, ``nmi``, ``pairwise_precision``,
        ``pairwise_recall``, ``pairwise_f1``, ``bcubed_precision``, ``bcubed_recall``,
        ``bcubed_f1``, ``n_clusters`` (predicted clusters after noise became singletons,
        an ``int``), ``n_true_clusters`` (an ``int``) and ``noise_fraction`` (share of points
        labelled ``-1``, in [0, 1]).
    """
    true, pred = check_labels(labels_true, labels_pred)
    noise_fraction = 0.0
    if pred.dtype.kind in "iu":
        n_noise = int(np.count_nonzero(pred == -1))
        if n_noise:
            noise_fraction = n_noise / pred.size
            pred = noise_to_singletons(pred)
    cells = _cells(true, pred)
    pw_p, pw_r, pw_f = _pairwise_from_counts(*_pair_counts(cells))
    bc_p, bc_r, bc_f = _bcubed(cells)
    return {
        "ari": _ari(cells),
        "nmi": _nmi(cells),
        "pairwise_precision": pw_p,
        "pairwise_recall": pw_r,
        "pairwise_f1": pw_f,
        "bcubed_precision": bc_p,
        "bcubed_recall": bc_r,
        "bcubed_f1": bc_f,
        "n_clusters": int(cells.cluster_sizes.size),
        "n_true_clusters": int(cells.class_sizes.size),
        "noise_fraction": float(noise_fraction),
    }


# --------------------------------------------------------------------------------------------
# label-free: what a user without identities can compute (the blind choice of a parameter)
# --------------------------------------------------------------------------------------------
#: Points of a subset on which the silhouette is computed (evenly spaced rows).
SILHOUETTE_SAMPLE = 1000


def silhouette_rows(n: int, size: int = SILHOUETTE_SAMPLE) -> np.ndarray:
    """``min(n, size)`` evenly spaced row indices of ``0 .. n-1`` (the same for every method).

    Deterministic and seed-free, so every method and grid point of a subset is judged on
    the same faces; the subsets' rows are a random draw already.
    """
    if n < 1 or size < 1:
        raise ValueError(f"need n >= 1 and size >= 1, got n={n}, size={size}")
    return np.unique(np.linspace(0, n - 1, min(n, size)).round().astype(np.int64))


def silhouette_distances(X: Any, rows: np.ndarray) -> np.ndarray:
    """Euclidean distances among ``X[rows]`` (float64, zero diagonal): one matrix per subset."""
    from sklearn.metrics import pairwise_distances

    S = np.asarray(X, dtype=np.float64)[rows]
    D = pairwise_distances(S, metric="euclidean")
    np.fill_diagonal(D, 0.0)
    return D


def sample_silhouette(distances: np.ndarray, labels: Any) -> float:
    """Mean silhouette of the sampled points under ``labels`` (theirs), NaN where undefined.

    Noise (``-1``) becomes singletons first; a point alone in its cluster *within the sample*
    scores 0 (scikit-learn's convention).  Undefined (NaN) with fewer than 2 clusters or as
    many clusters as points, as for :func:`sklearn.metrics.silhouette_score`.
    """
    from sklearn.metrics import silhouette_score

    lab = noise_to_singletons(np.asarray(labels))
    k = np.unique(lab).size
    if not 2 <= k <= lab.size - 1:
        return float("nan")
    return float(silhouette_score(distances, lab, metric="precomputed"))
