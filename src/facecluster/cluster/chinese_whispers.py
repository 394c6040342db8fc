"""Chinese whispers graph clustering (Biemann 2006), as dlib / face_recognition users run it.

``dlib.chinese_whispers_clustering(descriptors, threshold)`` (what ``face_recognition``'s
and dlib's face-clustering examples call) builds a graph with an edge of weight 1 between
every two faces closer than ``threshold`` (euclidean, strictly) *and a self-loop on every
face*, then runs chinese whispers: every node starts in its own class; a node visited takes
the class with the largest total edge weight among its edges (the self-loop counts its own
current class once); ties go to the smallest class id.  This module builds the same graph
and applies the same update and tie rule.

Choices, documented
    *Visiting order.*  Each of the ``n_iter`` iterations visits every node once, in a
    fresh random order (``numpy.random.Generator.permutation`` from ``random_state``), as
    in Biemann's description.  dlib instead picks ``n_iter × n`` nodes at random *with*
    replacement; the update rule is the same.
    *Early stop.*  An iteration that changes no label leaves every node at a fixed point,
    so the remaining iterations could not change anything either; we stop there (the
    result is exactly what the full ``n_iter`` would give).
    *Weights.*  1 per edge (dlib's default ``sample_pair`` distance), so a node counts how
    many of its neighbours (and itself) carry each class.
    *Isolated nodes* have only the self-loop and keep their own class: singletons.
    *Distances* ``|x - y|² = |x|² + |y|² - 2 x·y`` in float64; an edge when ``d² < t²``.
    *Numbering.*  Final clusters are numbered by their lowest point index.
    *Determinism.*  Identical for the same ``X``, threshold, ``n_iter`` and integer
    ``random_state``; :func:`chinese_whispers_grid` gives each threshold the same stream
    the estimator would use, so its labels equal the estimator's.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
from numba import njit, prange
from sklearn.base import BaseEstimator, ClusterMixin

from facecluster.cluster._common import csr_indptr, first_seen_labels
from facecluster.cluster._validation import (
    NON_NEGATIVE_INT,
    POSITIVE_REAL,
    check_param,
    check_X,
    validate_params,
)

__all__ = [
    "ChineseWhispers",
    "chinese_whispers_from_lists",
    "chinese_whispers_grid",
    "list_distances",
]

logger = logging.getLogger(__name__)

_BLOCK = 512


@njit(cache=True, nogil=True)
def _block_neighbours(gram, row0, xn, t2):  # pragma: no cover - compiled
    """CSR ``(indptr, indices, d2)`` of ``j != i`` with ``d² < t2`` for rows ``row0 + a``."""
    b, n = gram.shape
    counts = np.zeros(b, dtype=np.int64)
    for a in range(b):
        i = row0 + a
        for j in range(n):
            if j != i and max(0.0, xn[i] + (-2.0 * gram[a, j]) + xn[j]) < t2:
                counts[a] += 1
    indptr = np.zeros(b + 1, dtype=np.int64)
    for a in range(b):
        indptr[a + 1] = indptr[a] + counts[a]
    indices = np.empty(indptr[b], dtype=np.int64)
    d2 = np.empty(indptr[b], dtype=np.float64)
    for a in range(b):
        i = row0 + a
        k = indptr[a]
        for j in range(n):
            if j != i:
                v = max(0.0, xn[i] + (-2.0 * gram[a, j]) + xn[j])
                if v < t2:
                    indices[k] = j
                    d2[k] = v
                    k += 1
    return indptr, indices, d2


@njit(cache=True, nogil=True)
def _filter(indptr, indices, d2, t2):  # pragma: no cover - compiled
    n = indptr.shape[0] - 1
    new_ptr = np.zeros(n + 1, dtype=np.int64)
    keep = d2 < t2
    for i in range(n):
        c = 0
        for e in range(indptr[i], indptr[i + 1]):
            if keep[e]:
                c += 1
        new_ptr[i + 1] = new_ptr[i] + c
    return new_ptr, indices[keep]


@njit(cache=True, nogil=True)
def _whisper_pass(indptr, indices, labels, order, weight, touched):  # pragma: no cover
    """One iteration in the given node order; returns how many labels changed."""
    changed = 0
    for i in order:
        own = labels[i]
        weight[own] = 1.0  # the self-loop
        touched[0] = own
        nt = 1
        for e in range(indptr[i], indptr[i + 1]):
            lab = labels[indices[e]]
            if weight[lab] == 0.0:
                touched[nt] = lab
                nt += 1
            weight[lab] += 1.0
        best = own
        best_w = -1.0
        for t in range(nt):
            lab = touched[t]
            w = weight[lab]
            if w > best_w or (w == best_w and lab < best):
                best = lab
                best_w = w
            weight[lab] = 0.0
        if best != own:
            labels[i] = best
            changed += 1
    return changed


def _neighbour_graph(X: np.ndarray, threshold: float):
    """CSR graph of pairs closer than ``threshold`` (no self-loops), with float64 ``d²``."""
    X64 = np.asarray(X, dtype=np.float64)
    xn = np.einsum("ij,ij->i", X64, X64)
    t2 = threshold * threshold
    ptrs, idxs, d2s = [np.zeros(1, dtype=np.int64)], [], []
    for s in range(0, len(X64), _BLOCK):
        ip, ix, d2 = _block_neighbours(X64[s : s + _BLOCK] @ X64.T, s, xn, t2)
        ptrs.append(ip[1:] + ptrs[-1][-1])
        idxs.append(ix)
        d2s.append(d2)
    return np.concatenate(ptrs), np.concatenate(idxs), np.concatenate(d2s)


def _whispers(indptr, indices, n_iter: int, random_state: int | None) -> np.ndarray:
    n = len(indptr) - 1
    rng = np.random.default_rng(random_state)
    labels = np.arange(n, dtype=np.int64)
    weight = np.zeros(n, dtype=np.float64)
    touched = np.empty(int(np.diff(indptr).max(initial=0)) + 1, dtype=np.int64)
    for it in range(n_iter):
        if _whisper_pass(indptr, indices, labels, rng.permutation(n), weight, touched) == 0:
            logger.debug("chinese whispers: converged after %d iterations", it + 1)
            break
    return first_seen_labels(labels).astype(np.intp)


def _checked(owner: str, thresholds, n_iter, random_state) -> tuple[list[float], int, int | None]:
    """The thresholds, ``n_iter`` and ``random_state`` of a grid call, each checked against
    the estimator's constraint (one ``ConstraintError`` naming the bad value)."""
    rules = ChineseWhispers._parameter_constraints
    ts = [
        check_param(owner, f"thresholds[{i}]", t, rules["threshold"])
        for i, t in enumerate(thresholds)
    ]
    n_iter = check_param(owner, "n_iter", n_iter, rules["n_iter"])
    return ts, n_iter, check_param(owner, "random_state", random_state, rules["random_state"])


def chinese_whispers_grid(
    X, thresholds: Sequence[float], *, n_iter: int = 100, random_state: int | None = None
) -> list[np.ndarray]:
    """Chinese-whispers labels for each threshold, from one neighbour graph.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Points (euclidean; e.g. L2-normalised face embeddings, where dlib uses 0.5-0.6).
    thresholds : sequence of float
        Edge when the distance is strictly below the threshold; each > 0.
    n_iter : int, default=100
        Passes over all nodes (at most; see the module docstring on early stopping).
    random_state : int or None
        Seed of the visiting orders; each threshold restarts the same stream.

    Returns
    -------
    list of ndarray
        ``labels[i] == ChineseWhispers(threshold=thresholds[i], n_iter=n_iter,
        random_state=random_state).fit(X).labels_`` (for an integer ``random_state``).
    """
    ts, n_iter, random_state = _checked("chinese_whispers_grid", thresholds, n_iter, random_state)
    X = check_X(X, owner="chinese_whispers_grid")
    if not ts:
        return []
    indptr, indices, d2 = _neighbour_graph(X, max(ts))
    out = []
    for t in ts:
        sub_ptr, sub_idx = _filter(indptr, indices, d2, t * t)
        out.append(_whispers(sub_ptr, sub_idx, n_iter, random_state))
    return out


@njit(cache=True, nogil=True, parallel=True)
def _list_d2(X, lists):  # pragma: no cover - compiled
    """``d²(a, lists[a, j])`` in float64, as :func:`_neighbour_graph` computes it."""
    n, w = lists.shape
    out = np.empty((n, w), dtype=np.float64)
    for a in prange(n):
        xa = 0.0
        for f in range(X.shape[1]):
            xa += np.float64(X[a, f]) * np.float64(X[a, f])
        for j in range(w):
            b = lists[a, j]
            xb = 0.0
            g = 0.0
            for f in range(X.shape[1]):
                vb = np.float64(X[b, f])
                xb += vb * vb
                g += np.float64(X[a, f]) * vb
            out[a, j] = max(0.0, xa + (-2.0 * g) + xb)
    return out


def list_distances(X, lists: np.ndarray) -> np.ndarray:
    """Squared euclidean distances ``d²(a, lists[a, j])``, float64 (the graph's edges)."""
    return _list_d2(np.ascontiguousarray(X), np.ascontiguousarray(lists, dtype=np.int64))


def _list_graph(lists: np.ndarray, d2: np.ndarray, t2: float, n: int):
    """CSR of the undirected graph with an edge ``a - b`` when ``b`` is in ``a``'s list (or
    ``a`` in ``b``'s) and ``d² < t2``; no self-loops, each edge once per direction."""
    a = np.repeat(np.arange(n, dtype=np.int64), lists.shape[1])
    b = lists.ravel()
    keep = (d2.ravel() < t2) & (a != b) & (b >= 0)
    a, b = a[keep], b[keep]
    keys = np.unique(np.concatenate([a * n + b, b * n + a]))
    return csr_indptr(keys // n, n), keys % n


def chinese_whispers_from_lists(
    lists: np.ndarray,
    d2: np.ndarray,
    thresholds: Sequence[float],
    *,
    n_iter: int = 100,
    random_state: int | None = None,
) -> list[np.ndarray]:
    """Chinese whispers on a k-nearest-neighbour graph: for each threshold, the edges
    ``a - b`` with ``b`` among ``a``'s listed neighbours (or ``a`` among ``b``'s) and
    ``d² < threshold²``, then the same passes as :func:`chinese_whispers_grid`.

    ``lists`` (``(n, w)``, e.g. :func:`~facecluster.cluster.rank_order.top_k_lists` rows,
    self included or not) and ``d2`` (their :func:`list_distances`).  Where every face's
    list holds all faces closer than the threshold — lists of all ``n - 1`` others, or
    thresholds below every ``k``-th neighbour distance — the graph is dlib's dense one and
    the labels equal :func:`chinese_whispers_grid`'s; otherwise edges beyond the ``k``-th
    neighbour are missing (the price of not building an ``n²`` graph).
    """
    ts, n_iter, random_state = _checked(
        "chinese_whispers_from_lists", thresholds, n_iter, random_state
    )
    lists = np.asarray(lists, dtype=np.int64)
    d2 = np.asarray(d2, dtype=np.float64)
    if lists.ndim != 2 or lists.shape != d2.shape:
        raise ValueError(f"lists {lists.shape} and d2 {d2.shape} must be equal 2-d shapes")
    out = []
    for t in ts:
        indptr, indices = _list_graph(lists, d2, t * t, len(lists))
        out.append(_whispers(indptr, indices, n_iter, random_state))
    return out


class ChineseWhispers(ClusterMixin, BaseEstimator):
    """Chinese whispers on the graph of faces closer than ``threshold`` (dlib's graph).

    Parameters
    ----------
    threshold : float, default=0.6
        Euclidean distance below which two points are joined by an edge of weight 1.
    n_iter : int, default=100
        Passes over all nodes, each in a fresh random order.
    random_state : int or None, default=None
        Seed of the visiting orders (results are deterministic for an integer).

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Cluster of each point, numbered by lowest point index.
    """

    _parameter_constraints: dict[str, list] = {
        "threshold": [POSITIVE_REAL],
        "n_iter": [NON_NEGATIVE_INT],
        "random_state": [NON_NEGATIVE_INT, None],
    }

    def __init__(
        self, *, threshold: float = 0.6, n_iter: int = 100, random_state: int | None = None
    ):
        self.threshold = threshold
        self.n_iter = n_iter
        self.random_state = random_state

    def fit(self, X, y=None):
        """Cluster ``X`` (array of shape ``(n_samples, n_features)``)."""
        params = validate_params(self)
        X = check_X(X, owner="ChineseWhispers")
        self.labels_ = chinese_whispers_grid(
            X, [params["threshold"]], n_iter=params["n_iter"], random_state=params["random_state"]
        )[0]
        self.n_features_in_ = X.shape[1]
        return self

    def fit_predict(self, X, y=None):
        """Fit and return ``labels_``."""
        return self.fit(X).labels_
