"""FINCH: first-neighbour clustering (Sarfraz, Sharma, Stiefelhagen, CVPR 2019).

Every point is linked to its first (nearest) neighbour; the connected components of that
graph — ``i`` and ``j`` together when ``j`` is ``i``'s first neighbour, ``i`` is ``j``'s, or
they share one — are the **first partition**.  The clusters are then replaced by the means of
their points and the rule is applied again to the means, giving coarser and coarser
partitions: the hierarchy.  No parameter, no K.

Choices, documented (checked against the author's package ``finch-clust`` 0.2.3 on real
embeddings by ``benchmarks/finch_vs_reference.py``)
    *Distance.*  Cosine, as the package's default: rows are L2-normalised in float32
    (a zero row stays zero), distances ``clip(1 - x·y, 0, 2)`` in float32, the first
    neighbour the lowest index at the smallest distance.  Cosine is blind to scale, so the
    cluster means need no normalisation beyond this.
    *Means* are those of the original points of each cluster (not means of means).
    *Stopping.*  A level that leaves one cluster, or merges no more than one cluster away
    (previous count − new count <= 1), is dropped and the hierarchy ends (the package's rule).
    *No distance cut.*  ``finch-clust``'s ``ensure_early_exit`` means to drop links longer
    than the longest first-neighbour distance of the first level, but it zeroes entries of
    a CSR matrix that scipy's ``connected_components`` still counts as edges, so it has no
    effect there; the paper has no such cut; neither do we.
    *The partition closest to K* (:class:`FINCH` with ``n_clusters``): the level whose
    number of clusters is nearest to K; of two equally near, the finer.  (The package can
    also merge down to exactly K, one pair at a time; the study reports the partition the
    hierarchy itself produced.)
    *Numbering.*  Clusters are numbered by their lowest point index.
    *Scale.*  The data is first multiplied by the power of two that puts ``max |x|`` in
    [0.5, 1) (exact, and cosine ignores it), so float32 never over- or underflows; a row
    that is still below float32's range then counts as a zero row.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin

from facecluster.cluster._common import edge_components, first_seen_labels
from facecluster.cluster._validation import (
    POSITIVE_INT,
    check_n_clusters,
    check_X,
    unit_scaled,
    validate_params,
)

__all__ = ["FINCH", "finch_partitions", "first_neighbours"]

_BLOCK = 1024


def _unit_rows(X: np.ndarray) -> np.ndarray:
    """Rows divided by their L2 norm in float32 (zero rows left zero), as scikit-learn does."""
    X32 = np.array(X, dtype=np.float32, order="C")
    norms = np.sqrt(np.einsum("ij,ij->i", X32, X32))
    norms[norms == 0] = 1.0
    X32 /= norms[:, None]
    return X32


def first_neighbours(X: np.ndarray) -> np.ndarray:
    """Index of every row's nearest *other* row by cosine distance (see the module notes).

    ``X`` needs at least two rows.  Computed in blocks of rows: memory ``O(block · n)``.
    """
    U = _unit_rows(X)
    n = U.shape[0]
    out = np.empty(n, dtype=np.int64)
    for s in range(0, n, _BLOCK):
        d = U[s : s + _BLOCK] @ U.T
        np.subtract(np.float32(1.0), d, out=d)
        np.clip(d, 0.0, 2.0, out=d)
        rows = np.arange(d.shape[0])
        d[rows, rows + s] = np.inf
        out[s : s + d.shape[0]] = np.argmin(d, axis=1)
    return out


def _first_neighbour_components(nn: np.ndarray) -> np.ndarray:
    """Components of the graph ``i — nn[i]``, numbered by first appearance."""
    return edge_components(nn.shape[0], np.arange(nn.shape[0], dtype=np.int64), nn)


def _cluster_means(X: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    sums = np.zeros((k, X.shape[1]), dtype=np.float64)
    np.add.at(sums, labels, X)
    return sums / np.bincount(labels, minlength=k)[:, None]


def finch_partitions(X) -> list[np.ndarray]:
    """The FINCH hierarchy of ``X``: one label array per level, finest first.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Points (cosine distance; L2-normalised face embeddings).

    Returns
    -------
    list of ndarray of shape (n_samples,)
        Level 1 is the first partition; each next level has fewer clusters.
    """
    X = check_X(X, owner="finch_partitions")
    n = X.shape[0]
    if n == 1:
        return [np.zeros(1, dtype=np.int64)]
    # cosine is blind to scale: a power of two (exact) keeps float32 squares in range
    X32 = unit_scaled(X, always=True)[0].astype(np.float32, copy=False)
    labels = _first_neighbour_components(first_neighbours(X32))
    levels = [labels]
    while True:
        k = int(labels.max()) + 1
        if k == 1:
            break
        means = _cluster_means(X32, labels, k)
        merged = _first_neighbour_components(first_neighbours(means))
        new_k = int(merged.max()) + 1
        if new_k == 1 or k - new_k <= 1:
            break
        labels = first_seen_labels(merged[labels])
        levels.append(labels)
    return levels


def closest_partition(levels: list[np.ndarray], n_clusters: int) -> int:
    """Index of the level whose cluster count is nearest ``n_clusters`` (the finer on ties)."""
    counts = [int(lab.max()) + 1 for lab in levels]
    gaps = [abs(c - n_clusters) for c in counts]
    return int(np.argmin(gaps))  # counts decrease, so the first minimum is the finer level


class FINCH(ClusterMixin, BaseEstimator):
    """FINCH clustering: the first partition, or the partition of the hierarchy nearest K.

    Parameters
    ----------
    n_clusters : int or None, default=None
        ``None``: ``labels_`` is the first partition (parameter-free).  An int (at most
        ``n_samples``): the level whose number of clusters is closest to it (the finer of
        two equally close).

    Attributes
    ----------
    partitions_ : list of ndarray
        Every level of the hierarchy, finest first.
    n_clusters_per_level_ : list of int
    level_ : int
        Index into ``partitions_`` of ``labels_``.
    labels_ : ndarray of shape (n_samples,)
        Numbered by lowest point index.
    """

    _parameter_constraints: dict[str, list] = {
        "n_clusters": [POSITIVE_INT, None],
    }

    def __init__(self, *, n_clusters: int | None = None):
        self.n_clusters = n_clusters

    def fit(self, X, y=None):
        """Cluster ``X`` (array of shape ``(n_samples, n_features)``)."""
        params = validate_params(self)
        X = check_X(X, owner="FINCH")
        self.partitions_ = finch_partitions(X)
        self.n_clusters_per_level_ = [int(p.max()) + 1 for p in self.partitions_]
        k = params["n_clusters"]
        if k is not None:
            check_n_clusters("FINCH", k, X.shape[0])
        self.level_ = 0 if k is None else closest_partition(self.partitions_, k)
        self.labels_ = self.partitions_[self.level_]
        self.n_features_in_ = X.shape[1]
        return self

    def fit_predict(self, X, y=None):
        """Fit and return ``labels_``."""
        return self.fit(X).labels_
