"""Pieces shared by the graph-based estimators (DBSCAN, rank-order, Chinese whispers).

(The input checks live in :mod:`facecluster.cluster._validation`.)

* ``uf_find`` / ``uf_union_low`` — a path-halving union-find over an ``int`` parent
  array; the union links the higher root under the lower one, so a component's
  root is always its lowest point index.
* ``first_seen_labels`` / ``component_labels`` — number components (or any labels)
  0, 1, 2, … in the order their first point appears, which is the numbering
  scikit-learn's DBSCAN produces and makes label arrays comparable with ``==``.
* ``edge_components`` — the connected components of an edge list, numbered that way
  (DBSCAN's single-linkage cut, FINCH's first-neighbour graph).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "component_labels",
    "edge_components",
    "first_seen_labels",
    "uf_find",
    "uf_union_low",
]


@njit(cache=True, nogil=True)
def uf_find(parent, i):  # pragma: no cover - compiled
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


@njit(cache=True, nogil=True)
def uf_union_low(parent, i, j):  # pragma: no cover - compiled
    """Join the sets of ``i`` and ``j`` under the lower root; True if they were apart."""
    a = uf_find(parent, i)
    b = uf_find(parent, j)
    if a == b:
        return False
    if a < b:
        parent[b] = a
    else:
        parent[a] = b
    return True


@njit(cache=True, nogil=True)
def first_seen_labels(labels):  # pragma: no cover - compiled
    """Renumber non-negative ``labels`` 0, 1, … in order of first appearance."""
    n = labels.shape[0]
    m = 0
    for i in range(n):
        if labels[i] + 1 > m:
            m = labels[i] + 1
    new_of = np.full(m, -1, dtype=np.int64)
    out = np.empty(n, dtype=np.int64)
    nxt = 0
    for i in range(n):
        lab = labels[i]
        if new_of[lab] < 0:
            new_of[lab] = nxt
            nxt += 1
        out[i] = new_of[lab]
    return out


@njit(cache=True, nogil=True)
def component_labels(parent):  # pragma: no cover - compiled
    """Connected components of a union-find forest, numbered by first appearance."""
    n = parent.shape[0]
    roots = np.empty(n, dtype=np.int64)
    for i in range(n):
        roots[i] = uf_find(parent, i)
    return first_seen_labels(roots)


@njit(cache=True, nogil=True)
def edge_components(n, fi, fj):  # pragma: no cover - compiled
    """Connected components of the graph on ``n`` points with edges ``fi[t] — fj[t]``."""
    parent = np.arange(n)
    for t in range(fi.shape[0]):
        uf_union_low(parent, fi[t], fj[t])
    return component_labels(parent)


def csr_indptr(rows: np.ndarray, n: int) -> np.ndarray:
    """The ``indptr`` of a CSR graph of ``n`` nodes whose edges, sorted by source, have the
    sources ``rows``: ``indptr[i]:indptr[i + 1]`` are node ``i``'s edges."""
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    return indptr
