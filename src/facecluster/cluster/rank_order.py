"""Approximate rank-order clustering (Otto, Wang, Jain, TPAMI 2018, arXiv:1604.00989).

The algorithm (the paper's Algorithm 1, "approximate rank-order clustering"):

1. the top-``k`` nearest-neighbour list of every face, from an exact search
   (:func:`exact_search`: float32 squared euclidean distances by blocks of one BLAS
   product, ``|a|² + |b|² − 2 a·b`` as faiss's flat index computes them);
2. for every face ``a`` and every face ``b`` in ``a``'s list, the distance

   ``d_m(a, b) = Σ_{i=1}^{min(O_a(b), k)} I_b(O_b(f_a(i)), k)``,
   ``D_m(a, b) = (d_m(a, b) + d_m(b, a)) / min(O_a(b), O_b(a))``,

   with ``f_a(i)`` the ``i``-th face of ``a``'s list, ``O_a(x)`` the rank of ``x`` in it and
   ``I_b(x, k) = 0`` when ``x <= k`` (the face is in ``b``'s list), else 1;
3. every pair with ``D_m < threshold`` linked, clusters the connected components
   ("transitive merging").

This is the single-round approximate algorithm only: no cluster-level normalised distance
and no iterative merging of the original rank-order clustering (Zhu, Wen, Sun, CVPR 2011),
and no cluster-quality filtering.

Choices the paper leaves open, as implemented here
    *List and ranks.*  ``a``'s list is ``a`` itself at rank 0 followed by its ``k``
    nearest *other* faces at ranks ``1..k`` (the search is asked for ``k + 1`` neighbours;
    ``a`` is removed from its own result wherever it was placed, or, if exact duplicates
    pushed it out, the last result is dropped).  So ``O_a(b) ∈ {1..k}`` for ``b`` in the list and
    ``I_b(x, k) = 0`` exactly when ``x <= k``; ``b`` itself (rank 0 in its own list)
    always counts as present, so the ``i = O_a(b)`` term is 0.
    *Ties.*  Faces at equal (float32) distance are ordered by index, also at the ``k``-th
    place: the lists are one deterministic function of the input; the clustering depends
    on ties only through which faces make a list.
    *Which pairs.*  ``D_m(a, b)`` is computed for every ``b`` in ``a``'s list, as in the
    paper; a pair is linked if either direction's value is below the threshold (the two
    are equal when each is in the other's list).
    *Non-mutual pairs.*  When ``a`` is not in ``b``'s list, ``O_b(a) > k``: the formula
    itself then sums over all ``k`` faces of ``b``'s list in ``d_m(b, a)`` and divides by
    ``O_a(b)``; we use exactly that (no "infinite distance" rule as in some public code).
    *Threshold.*  Strictly below (``D_m < threshold``), the paper's "below".  ``D_m`` is a
    ratio of small integers computed in float64, so equality is possible and stays
    unlinked.  The default 1.6 is the project's; the paper tunes the threshold.
    *The mutual reading* (``mutual=True``).  The public implementation the Baydur & Erdoğan
    reproduction used (varun-suresh/Clustering) reads the algorithm differently: only
    *mutual* neighbours are linked (a pair where either face is missing from the other's
    list gets an infinite distance) and a pair merges at ``D_m <= threshold``.  On mutual
    pairs ``D_m`` is the same number in both readings; what differs is which pairs may link
    and the threshold's boundary.  (That code also takes approximate FLANN neighbours; the
    lists here stay exact.)
    *k.*  ``k >= 2``; a ``k`` of ``n_samples`` or more uses all ``n_samples - 1`` others
    (clamped, not refused: a subset smaller than the grid's largest ``k`` is valid).  One
    point (``n_samples == 1``) is one cluster, without a search.
    *Scale.*  Before the float32 search, ``X`` is multiplied by the power of two that puts
    ``max |x|`` in [0.5, 1): the neighbour lists are the same (the scaling is exact and
    commutes with rounding), but data at ``1e20`` (whose float32 squared distances would
    overflow to infinity) or ``1e-20`` (whose squares would underflow) is ranked correctly.
    A search result with a missing (``-1``) slot or a non-finite distance is refused with a
    :class:`~facecluster.cluster._validation.ConstraintError`; it never reaches the kernel.
    *Numbering.*  Clusters are numbered by their lowest point index.

:func:`rank_order_distances_slow` is a direct pure-Python transcription of the formula on
the same lists; the tests check the fast kernel equals it exactly.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
from numba import njit, prange
from sklearn.base import BaseEstimator, ClusterMixin

from facecluster.cluster._common import component_labels, uf_union_low
from facecluster.cluster._validation import (
    BOOLEAN,
    INT_AT_LEAST_2,
    POSITIVE_REAL,
    ConstraintError,
    check_neighbours,
    check_param,
    check_X,
    unit_scaled,
    validate_params,
)

__all__ = [
    "ApproximateRankOrder",
    "exact_search",
    "rank_order_distances",
    "rank_order_distances_slow",
    "rank_order_from_lists",
    "rank_order_grid",
    "top_k_lists",
]

logger = logging.getLogger(__name__)


def top_k_lists(X, k: int) -> np.ndarray:
    """Neighbour lists: row ``a`` is ``a`` then its ``k`` nearest other points, nearest first.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Points; searched exactly (:func:`exact_search`) in float32, after scaling by a
        power of two (see the module docstring).
    k : int
        Neighbours per list besides the point itself (clamped to ``n_samples - 1``).

    Returns
    -------
    ndarray of shape (n_samples, k + 1), int64

    Raises
    ------
    ConstraintError
        If the search leaves a slot empty (``-1``) or reports a non-finite distance.
    """
    owner = "top_k_lists"
    X = check_X(X, owner=owner, min_samples=2)
    k_rule = ApproximateRankOrder._parameter_constraints["k"]
    k = min(check_param(owner, "k", k, k_rule), len(X) - 1)
    x32 = np.ascontiguousarray(unit_scaled(X, always=True)[0], dtype=np.float32)
    dist, found = exact_search(x32, k + 1)
    check_neighbours(owner, dist, found, "exact search (float32 squared distances)")
    lists = _put_self_first(found.astype(np.int64, copy=False), k)
    if (lists < 0).any():  # cannot happen after check_neighbours; never feed -1 to a kernel
        raise ConstraintError(owner, "X", "data with k distinct neighbours per point", k)
    return lists


#: Elements of the distance matrix :func:`exact_search` holds at once (128 MiB of float32).
SEARCH_BLOCK_ELEMENTS = 1 << 25


def exact_search(x32: np.ndarray, kk: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``kk`` nearest points of every row of ``x32`` (itself included), ascending:
    ``(squared distances, indices)``, both ``(n, kk)``, as ``faiss.IndexFlatL2.search``.

    A block of rows at a time: one float32 BLAS product, ``|a|² + |b|² − 2 a·b`` clipped at
    0 (faiss's flat index computes the same expression on its BLAS path), then the ``kk``
    smallest of each row by (distance, index) with a heap (:func:`_smallest_rows`: ties go
    to the lower index).  Its memory is one block of :data:`SEARCH_BLOCK_ELEMENTS` distances
    besides the result.  Faster than faiss's flat index on this project's 2-core machine
    (13,232 LFW faces × 512-d, ``kk`` = 201; ``benchmarks/otto_lfw_all.py`` prints both).
    """
    n = len(x32)
    kk = min(int(kk), n)
    sq = np.einsum("ij,ij->i", x32, x32)
    block = max(1, min(n, SEARCH_BLOCK_ELEMENTS // max(n, 1)))
    dist = np.empty((n, kk), dtype=np.float32)
    found = np.empty((n, kk), dtype=np.int64)
    for start in range(0, n, block):
        stop = min(n, start + block)
        d = x32[start:stop] @ x32.T
        d *= -2.0
        d += sq[start:stop, None]
        d += sq[None, :]
        np.maximum(d, 0.0, out=d)
        _smallest_rows(d, dist[start:stop], found[start:stop])
    return dist, found


@njit(cache=True, nogil=True, inline="always")
def _after(da, ia, db, ib):  # pragma: no cover - compiled
    """``(da, ia)`` comes after ``(db, ib)``: by distance, then by index."""
    return da > db or (da == db and ia > ib)


@njit(cache=True, nogil=True)
def _sift_down(hd, hi, root, end):  # pragma: no cover - compiled
    while True:
        child = 2 * root + 1
        if child >= end:
            return
        if child + 1 < end and _after(hd[child + 1], hi[child + 1], hd[child], hi[child]):
            child += 1
        if not _after(hd[child], hi[child], hd[root], hi[root]):
            return
        hd[root], hd[child] = hd[child], hd[root]
        hi[root], hi[child] = hi[child], hi[root]
        root = child


@njit(cache=True, nogil=True, parallel=True)
def _smallest_rows(d, dist, found):  # pragma: no cover - compiled
    """Row by row, the ``kk = dist.shape[1]`` smallest ``(d, column)`` pairs, ascending.

    A max-heap of ``kk`` pairs per row (``O(n + m log kk)`` for ``m`` replacements, few on
    real data), then a heap sort; ties go to the lower column, so the result is one
    deterministic order (what ``np.lexsort((column, d))`` of the whole row would begin with).
    """
    b, n = d.shape
    kk = dist.shape[1]
    for r in prange(b):
        hd = dist[r]
        hi = found[r]
        for j in range(kk):
            hd[j] = d[r, j]
            hi[j] = j
        for root in range(kk // 2 - 1, -1, -1):
            _sift_down(hd, hi, root, kk)
        for j in range(kk, n):
            v = d[r, j]
            if v < hd[0]:  # j is above every index in the heap: a tie never displaces
                hd[0] = v
                hi[0] = j
                _sift_down(hd, hi, 0, kk)
        for end in range(kk - 1, 0, -1):
            hd[0], hd[end] = hd[end], hd[0]
            hi[0], hi[end] = hi[end], hi[0]
            _sift_down(hd, hi, 0, end)


@njit(cache=True, nogil=True)
def _put_self_first(found, k):  # pragma: no cover - compiled
    """Each row: the point, then its first ``k`` other results (``-1`` where none)."""
    n = found.shape[0]
    lists = np.full((n, k + 1), -1, dtype=np.int64)
    for a in range(n):
        lists[a, 0] = a
        c = 1
        for j in range(found.shape[1]):
            x = found[a, j]
            if x != a and x >= 0 and c <= k:
                lists[a, c] = x
                c += 1
    return lists


@njit(cache=True, nogil=True, parallel=True)
def _distances(lists, k, n_chunks, mutual):  # pragma: no cover - compiled
    """``D[a, r - 1] = D_m(a, lists[a, r])`` for ``r = 1..k`` (lists cut to ``k + 1``);
    with ``mutual``, ``inf`` where ``a`` is not in ``lists[a, r]``'s list.

    For each ``a``, ``pos[x]`` holds ``O_a(x)`` (``k + 1``: absent); then for each ``b`` in
    ``a``'s list, ``d_m(a, b) = r - #{x in L_b : 1 <= O_a(x) <= r}`` (the faces ranked
    ``1..r`` by ``a`` that ``b``'s list holds) and ``d_m(b, a) = #{i <= min(O_b(a), k) :
    O_a(f_b(i)) > k}``.
    """
    n = lists.shape[0]
    out = np.empty((n, k), dtype=np.float64)
    absent = k + 1
    chunk = (n + n_chunks - 1) // n_chunks
    for c in prange(n_chunks):
        pos = np.full(n, absent, dtype=np.int32)
        for a in range(c * chunk, min(n, (c + 1) * chunk)):
            for r in range(k + 1):
                pos[lists[a, r]] = r
            for r in range(1, k + 1):
                b = lists[a, r]
                shared = 0
                o_ba = absent
                for i in range(k + 1):
                    x = lists[b, i]
                    p = pos[x]
                    if p >= 1 and p <= r:
                        shared += 1
                    if x == a:
                        o_ba = i
                if mutual and o_ba == absent:
                    out[a, r - 1] = np.inf
                    continue
                s = min(o_ba, k)
                d_ba = 0
                for i in range(1, s + 1):
                    if pos[lists[b, i]] == absent:
                        d_ba += 1
                out[a, r - 1] = ((r - shared) + d_ba) / min(r, o_ba)
            for r in range(k + 1):
                pos[lists[a, r]] = absent
    return out


def rank_order_distances(lists: np.ndarray, k: int, *, mutual: bool = False) -> np.ndarray:
    """``D_m(a, lists[a, r])`` for ``r = 1..k``, as an ``(n_samples, k)`` float64 array.

    ``lists`` comes from :func:`top_k_lists` (for any ``k`` up to its width - 1: a shorter
    list is the prefix of a longer one).  ``mutual``: ``inf`` for the pairs that are not
    each in the other's list (the mutual reading, see the module notes).
    """
    k = min(int(k), lists.shape[1] - 1)
    sub = np.ascontiguousarray(lists[:, : k + 1])
    return _distances(sub, k, max(1, min(len(sub), 64)), bool(mutual))


def rank_order_distances_slow(X, k: int, *, mutual: bool = False) -> dict[tuple[int, int], float]:
    """The formula transcribed literally, in Python loops (for tests; O(n k²) slow).

    Returns ``{(a, b): D_m(a, b)}`` for every ``a`` and every ``b`` in ``a``'s top-``k``
    list (the lists of :func:`top_k_lists`); with ``mutual``, ``inf`` when ``a`` is not in
    ``b``'s list.
    """
    lists = top_k_lists(X, k).tolist()
    k = len(lists[0]) - 1

    def rank(owner: int, face: int) -> int:
        """O_owner(face): position in owner's list; k + 1 (i.e. > k) when not in it."""
        row = lists[owner]
        return row.index(face) if face in row else k + 1

    def indicator(x: int) -> int:
        """I(x, k): 0 when rank x is within the top-k list, else 1."""
        return 0 if x <= k else 1

    def d_m(a: int, b: int) -> int:
        return sum(indicator(rank(b, lists[a][i])) for i in range(1, min(rank(a, b), k) + 1))

    out = {}
    for a in range(len(lists)):
        for b in lists[a][1:]:
            if mutual and a not in lists[b]:
                out[(a, b)] = float("inf")
                continue
            out[(a, b)] = (d_m(a, b) + d_m(b, a)) / min(rank(a, b), rank(b, a))
    return out


@njit(cache=True, nogil=True)
def _merge_below(parent, lists, dist, order, start, threshold, inclusive):  # pragma: no cover
    """Union the pairs taken in ``order`` (ascending ``D``) from ``start`` while ``D < t``
    (``D <= t`` when ``inclusive``)."""
    k = dist.shape[1]
    t = start
    while t < order.shape[0]:
        e = order[t]
        a = e // k
        r = e % k
        d = dist[a, r]
        if not (d <= threshold if inclusive else d < threshold):
            break
        uf_union_low(parent, a, lists[a, r + 1])
        t += 1
    return t


def _labels_for_thresholds(lists, dist, thresholds, inclusive) -> dict[float, np.ndarray]:
    order = np.argsort(dist, axis=None, kind="stable")
    parent = np.arange(len(lists))
    out = {}
    start = 0
    for t in sorted(set(thresholds)):
        start = _merge_below(parent, lists, dist, order, start, t, inclusive)
        out[t] = component_labels(parent).astype(np.intp)
    return out


def rank_order_grid(
    X, ks: Sequence[int], thresholds: Sequence[float], *, mutual: bool = False
) -> dict[tuple[int, float], np.ndarray]:
    """Labels for every ``(k, threshold)``, from one exact search for ``max(ks)``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Points (euclidean; e.g. L2-normalised face embeddings).
    ks : sequence of int
        List lengths, each >= 2.
    thresholds : sequence of float
        Distance thresholds, each > 0 (pairs with ``D_m < threshold`` are merged).
    mutual : bool
        The mutual reading (module notes): mutual neighbours only, ``D_m <= threshold``.

    Returns
    -------
    dict
        ``{(k, threshold): labels}``, labels equal to
        ``ApproximateRankOrder(k=k, threshold=threshold, mutual=mutual).fit(X).labels_``.
    """
    owner, rules = "rank_order_grid", ApproximateRankOrder._parameter_constraints
    ks = [check_param(owner, f"ks[{i}]", k, rules["k"]) for i, k in enumerate(ks)]
    thresholds = [
        check_param(owner, f"thresholds[{i}]", t, rules["threshold"])
        for i, t in enumerate(thresholds)
    ]
    X = check_X(X, owner=owner)
    if not ks or not thresholds:
        return {}
    if len(X) == 1:  # one point, one cluster (no pair to rank)
        return {(k, t): np.zeros(1, dtype=np.intp) for k in ks for t in thresholds}
    if max(ks) >= len(X):
        logger.info("rank-order: k >= n_samples (%d); lists hold all other points", len(X))
    return rank_order_from_lists(top_k_lists(X, max(ks)), ks, thresholds, mutual=mutual)


def rank_order_from_lists(
    lists: np.ndarray, ks: Sequence[int], thresholds: Sequence[float], *, mutual: bool = False
) -> dict[tuple[int, float], np.ndarray]:
    """:func:`rank_order_grid` after the search: labels for every ``(k, threshold)`` from
    neighbour lists of :func:`top_k_lists` at least ``max(ks)`` long (clamped to them).

    The clustering half of the algorithm on its own, so that a protocol can time the
    neighbour search and the clustering apart (``lists`` is not validated beyond its shape:
    pass what :func:`top_k_lists` returned).
    """
    lists = np.ascontiguousarray(lists, dtype=np.int64)
    if lists.ndim != 2 or lists.shape[1] < 2:
        raise ValueError(f"lists must have shape (n, k + 1) with k >= 1, got {lists.shape}")
    out = {}
    for k in ks:
        dist = rank_order_distances(lists, k, mutual=mutual)
        sub = np.ascontiguousarray(lists[:, : dist.shape[1] + 1])
        for t, labels in _labels_for_thresholds(sub, dist, thresholds, bool(mutual)).items():
            out[(k, t)] = labels
    return out


class ApproximateRankOrder(ClusterMixin, BaseEstimator):
    """Approximate rank-order clustering of Otto, Wang and Jain (see the module docstring).

    Parameters
    ----------
    k : int, default=200
        Nearest neighbours per face list (besides the face itself), >= 2.
    threshold : float, default=1.6
        Pairs with rank-order distance ``D_m`` strictly below it are merged transitively.
    mutual : bool, default=False
        The reading of the public implementation (module notes): only mutual neighbours are
        linked, at ``D_m <= threshold``.  False: the formula as the paper writes it.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Cluster of each point, numbered by lowest point index.
    """

    _parameter_constraints: dict[str, list] = {
        "k": [INT_AT_LEAST_2],
        "threshold": [POSITIVE_REAL],
        "mutual": [BOOLEAN],
    }

    def __init__(self, *, k: int = 200, threshold: float = 1.6, mutual: bool = False):
        self.k = k
        self.threshold = threshold
        self.mutual = mutual

    def fit(self, X, y=None):
        """Cluster ``X`` (array of shape ``(n_samples, n_features)``)."""
        params = validate_params(self)
        k, threshold = params["k"], params["threshold"]
        X = check_X(X, owner="ApproximateRankOrder")
        self.labels_ = rank_order_grid(X, [k], [threshold], mutual=params["mutual"])[
            (k, threshold)
        ]
        self.n_features_in_ = X.shape[1]
        return self

    def fit_predict(self, X, y=None):
        """Fit and return ``labels_``."""
        return self.fit(X).labels_
