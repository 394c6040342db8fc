"""DBSCAN with ``min_samples=1`` as single linkage: one spanning forest, cut at every eps.

With ``min_samples=1`` every point is a core point (its own neighbourhood counts), so
``sklearn.cluster.DBSCAN(eps, min_samples=1)`` returns the connected components of the
graph with an edge wherever the euclidean distance is ``<= eps``: single linkage cut at
``eps``.  The components of ``{edges with d <= t}`` for *every* ``t`` are those of the
minimum spanning forest's edges ``<= t``, so one forest per ``X`` serves a whole eps grid.

Exactness
    scikit-learn numbers clusters in the order of the lowest point index of each (its
    ``dbscan_inner`` starts a new label at each still-unlabelled point, scanning ``i`` up);
    we number the same way.  Which pairs are within ``eps`` is decided with distances that
    differ from scikit-learn's by rounding only: both compute ``d²`` in float64 with an error
    of at most ``(d + 3) eps (|x| + |y|)²``.  Let ``tol`` be twice that bound for the largest
    norm.  scikit-learn's edge set lies between our edges ``d² <= eps² - tol`` and our edges
    ``d² <= eps² + tol``; when no forest edge has ``d²`` in between (the usual case), both
    give the same components and the labels are identical.  Otherwise that eps is
    delegated to ``sklearn.cluster.DBSCAN`` itself, so the result is identical always.

Memory
    The forest is built block by block (``_BLOCK`` rows of the Gram matrix at a time): the
    candidate edges of a block (pairs with ``d² <= max(eps)² + tol``) are merged with the
    forest so far by Kruskal's algorithm (an edge left out of the forest of a subset of the
    edges is the heaviest on a cycle, so never in the forest of all edges), so memory stays
    ``O(n + edges per block)``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
from numba import njit
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import DBSCAN

from facecluster.cluster._common import edge_components, uf_find
from facecluster.cluster._validation import (
    POSITIVE_INT,
    POSITIVE_REAL,
    check_param,
    check_X,
    validate_params,
)

__all__ = ["SingleLinkageDBSCAN", "dbscan_grid", "single_linkage_forest"]

logger = logging.getLogger(__name__)

_BLOCK = 512
_EPS = float(np.finfo(np.float64).eps)


@njit(cache=True, nogil=True)
def _block_edges(gram, row0, xn, hi):  # pragma: no cover - compiled
    """Pairs ``(i, j)``, ``j > i``, of rows ``row0 + a`` and columns ``row0 + c``.

    ``gram[a, c] = x_{row0+a} · x_{row0+c}``; keeps ``d² = max(0, |x_i|² - 2 g + |x_j|²)
    <= hi``.
    """
    b, m = gram.shape
    count = 0
    for a in range(b):
        i = row0 + a
        for c in range(a + 1, m):
            d2 = max(0.0, xn[i] + (-2.0 * gram[a, c]) + xn[row0 + c])
            if d2 <= hi:
                count += 1
    ei = np.empty(count, dtype=np.int64)
    ej = np.empty(count, dtype=np.int64)
    ew = np.empty(count, dtype=np.float64)
    k = 0
    for a in range(b):
        i = row0 + a
        for c in range(a + 1, m):
            d2 = max(0.0, xn[i] + (-2.0 * gram[a, c]) + xn[row0 + c])
            if d2 <= hi:
                ei[k] = i
                ej[k] = row0 + c
                ew[k] = d2
                k += 1
    return ei, ej, ew


@njit(cache=True, nogil=True)
def _kruskal(n, ei, ej, ew, order):  # pragma: no cover - compiled
    """Minimum spanning forest of the edges taken in ``order`` (ascending weight)."""
    parent = np.arange(n)
    size = np.ones(n, dtype=np.int64)
    fi = np.empty(max(n - 1, 0), dtype=np.int64)
    fj = np.empty(max(n - 1, 0), dtype=np.int64)
    fw = np.empty(max(n - 1, 0), dtype=np.float64)
    k = 0
    for t in order:
        a = uf_find(parent, ei[t])
        b = uf_find(parent, ej[t])
        if a == b:
            continue
        if size[a] < size[b]:
            a, b = b, a
        parent[b] = a
        size[a] += size[b]
        fi[k] = ei[t]
        fj[k] = ej[t]
        fw[k] = ew[t]
        k += 1
        if k == n - 1:
            break
    return fi[:k], fj[:k], fw[:k]


def single_linkage_forest(X, max_distance: float):
    """Minimum spanning forest of the graph of pairs closer than ``max_distance`` (+ rounding).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Points (finite; euclidean distances).
    max_distance : float
        Largest euclidean distance whose cut is wanted.

    Returns
    -------
    fi, fj : ndarray of int64
        End points of the forest edges, sorted by ascending weight.
    fw : ndarray of float64
        Squared euclidean distances of those edges (GEMM arithmetic, see module notes).
    tol : float
        Bound on the difference between these ``d²`` and scikit-learn's.
    """
    X = check_X(X, owner="single_linkage_forest")
    eps_rule = SingleLinkageDBSCAN._parameter_constraints["eps"]
    max_distance = check_param("single_linkage_forest", "max_distance", max_distance, eps_rule)
    n, d = X.shape
    X64 = np.asarray(X, dtype=np.float64)
    xn = np.einsum("ij,ij->i", X64, X64)
    tol = 4.0 * (d + 4) * _EPS * (2.0 * float(np.sqrt(xn.max()))) ** 2 if n else 0.0
    hi = max_distance * max_distance + tol
    fi = np.zeros(0, dtype=np.int64)
    fj = np.zeros(0, dtype=np.int64)
    fw = np.zeros(0, dtype=np.float64)
    for s in range(0, n, _BLOCK):
        gram = X64[s : s + _BLOCK] @ X64[s:].T
        ei, ej, ew = _block_edges(gram, s, xn, hi)
        ei = np.concatenate([fi, ei])
        ej = np.concatenate([fj, ej])
        ew = np.concatenate([fw, ew])
        fi, fj, fw = _kruskal(n, ei, ej, ew, np.argsort(ew, kind="stable"))
    return fi, fj, fw, tol


def dbscan_grid(X, eps_values: Sequence[float], *, min_samples: int = 1) -> list[np.ndarray]:
    """DBSCAN labels for each eps; identical to ``sklearn.cluster.DBSCAN``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Points; euclidean distances (e.g. L2-normalised face embeddings).
    eps_values : sequence of float
        Neighbourhood radii, each > 0.
    min_samples : int, default=1
        With 1 (single linkage) one spanning forest serves every eps; otherwise each eps is
        run by ``sklearn.cluster.DBSCAN`` (noise is ``-1`` there).

    Returns
    -------
    list of ndarray
        ``labels[i] == sklearn.cluster.DBSCAN(eps=eps_values[i],
        min_samples=min_samples).fit(X).labels_``.
    """
    owner, rules = "dbscan_grid", SingleLinkageDBSCAN._parameter_constraints
    eps_list = [
        check_param(owner, f"eps_values[{i}]", e, rules["eps"]) for i, e in enumerate(eps_values)
    ]
    min_samples = check_param(owner, "min_samples", min_samples, rules["min_samples"])
    X = check_X(X, owner=owner)
    if not eps_list:
        return []
    if min_samples > 1:
        return [DBSCAN(eps=e, min_samples=min_samples).fit(X).labels_ for e in eps_list]
    n = len(X)
    fi, fj, fw, tol = single_linkage_forest(X, max(eps_list))
    out = []
    for eps in eps_list:
        t = eps * eps
        if np.any((fw > t - tol) & (fw <= t + tol)):
            # a forest edge too close to eps to decide by our arithmetic: ask scikit-learn
            logger.debug("dbscan eps=%g: borderline edge, delegating to scikit-learn", eps)
            out.append(DBSCAN(eps=eps, min_samples=1).fit(X).labels_)
            continue
        n_edges = int(np.searchsorted(fw, t, side="right"))
        out.append(edge_components(n, fi[:n_edges], fj[:n_edges]).astype(np.intp))
    return out


class SingleLinkageDBSCAN(ClusterMixin, BaseEstimator):
    """DBSCAN whose ``min_samples=1`` case runs as single linkage cut at ``eps``.

    Labels are identical to ``sklearn.cluster.DBSCAN(eps=eps, min_samples=min_samples)``
    (euclidean).  With ``min_samples > 1`` the work is delegated to scikit-learn and noise
    points get ``-1``; with ``min_samples == 1`` there is no noise.

    Parameters
    ----------
    eps : float, default=0.5
        Neighbourhood radius (euclidean; on L2-normalised embeddings in ``(0, 2]``; 0.5:
        scikit-learn's default).
    min_samples : int, default=1
        Points (itself included) a core point needs within ``eps``.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Cluster of each point, numbered by the lowest point index of each cluster.
    """

    _parameter_constraints: dict[str, list] = {
        "eps": [POSITIVE_REAL],
        "min_samples": [POSITIVE_INT],
    }

    def __init__(self, *, eps: float = 0.5, min_samples: int = 1):
        self.eps = eps
        self.min_samples = min_samples

    def fit(self, X, y=None):
        """Cluster ``X`` (array of shape ``(n_samples, n_features)``)."""
        params = validate_params(self)
        X = check_X(X, owner="SingleLinkageDBSCAN")
        self.labels_ = dbscan_grid(X, [params["eps"]], min_samples=params["min_samples"])[0]
        self.n_features_in_ = X.shape[1]
        return self

    def fit_predict(self, X, y=None):
        """Fit and return ``labels_``."""
        return self.fit(X).labels_
