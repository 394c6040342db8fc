"""Ward agglomerative clustering: scikit-learn's ``AgglomerativeClustering(linkage="ward")``.

scikit-learn (no connectivity constraint) builds the whole tree with
``scipy.cluster.hierarchy.ward(X)`` -- which computes the condensed euclidean distances with
``scipy.spatial.distance.pdist`` and runs the nearest-neighbour-chain algorithm -- and then
undoes the last ``n_clusters - 1`` merges. :class:`WardClustering` does the same with two
changes that do not change the tree:

- the pairwise distances come from one BLAS product on the centred data
  (``|x|^2 + |y|^2 - 2 x.y``; Ward's criterion is translation invariant) instead of
  ``pdist``'s per-pair loop, which is most of scikit-learn's time at n ~ 6,000, d = 512;
- the cut keeps the first ``n_samples - n_clusters`` merges of the distance-sorted linkage
  (a vectorised union-find), the same partition as scikit-learn's ``_hc_cut``.

The labels are identical to scikit-learn's up to a renaming of the clusters (the tests check
this); merges tied at the cut could in principle resolve differently at the last bit.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from scipy.cluster.hierarchy import linkage
from scipy.spatial.distance import squareform
from sklearn.base import BaseEstimator, ClusterMixin

from facecluster.cluster._validation import (
    POSITIVE_INT,
    check_n_clusters,
    check_X,
    unit_scaled,
    validate_params,
)

__all__ = ["WardClustering", "cut_linkage", "ward_linkage"]

logger = logging.getLogger(__name__)


def ward_linkage(X: np.ndarray) -> np.ndarray:
    """Ward linkage matrix of X (scipy's format), from BLAS-computed euclidean distances.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), n_samples >= 2
        Finite data (euclidean geometry).  Data of extreme scale (``max |x|`` outside
        ``[2^-256, 2^256]``) is linked after an exact power-of-two rescaling (the tree does
        not depend on the scale; squared distances at ``1e-200`` would underflow to 0) and
        the heights are scaled back.

    Returns
    -------
    ndarray of float64, shape (n_samples - 1, 4)
        ``scipy.cluster.hierarchy.linkage`` output: merged ids, merge height, new size;
        rows sorted by height.
    """
    x, scale = unit_scaled(np.asarray(X, dtype=np.float64))
    x = x - x.mean(axis=0)
    sq = np.einsum("ij,ij->i", x, x)
    dist = x @ x.T
    dist *= -2.0
    dist += sq[:, None]
    dist += sq[None, :]
    np.maximum(dist, 0.0, out=dist)
    np.fill_diagonal(dist, 0.0)
    condensed = squareform(dist, checks=False)
    del dist
    np.sqrt(condensed, out=condensed)
    Z = linkage(condensed, method="ward")
    if scale != 1.0:
        Z[:, 2] *= scale
    return Z


def cut_linkage(Z: np.ndarray, n_clusters: int) -> np.ndarray:
    """Flat clusters from a sorted linkage matrix by keeping its first ``n - n_clusters`` merges.

    Parameters
    ----------
    Z : ndarray of shape (n_samples - 1, 4)
        Linkage matrix (scipy's format, rows sorted by merge height).
    n_clusters : int
        Number of clusters, ``1 <= n_clusters <= n_samples``.

    Returns
    -------
    ndarray of int64, shape (n_samples,)
        Labels ``0..n_clusters-1`` numbered by each cluster's smallest sample index.
    """
    n = Z.shape[0] + 1
    n_clusters = check_n_clusters("cut_linkage", n_clusters, n)
    n_merges = n - n_clusters
    parent = np.arange(2 * n - 1)
    children = Z[:n_merges, :2].astype(np.intp)
    new_ids = n + np.arange(n_merges)
    parent[children[:, 0]] = new_ids
    parent[children[:, 1]] = new_ids
    while True:  # pointer jumping: O(log depth) passes
        grand = parent[parent]
        if np.array_equal(grand, parent):
            break
        parent = grand
    roots = parent[:n]
    _, first, inverse = np.unique(roots, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first, kind="stable"), kind="stable")
    return order[inverse].astype(np.int64)


class WardClustering(ClusterMixin, BaseEstimator):
    """Ward-linkage agglomerative clustering into a given number of clusters.

    Parameters
    ----------
    n_clusters : int, default=2
        Number of clusters K, ``1 <= K <= n_samples`` (2: scikit-learn's default).

    Attributes
    ----------
    labels_ : ndarray of int64, shape (n_samples,)
        Cluster of each sample (same partition as scikit-learn's
        ``AgglomerativeClustering(n_clusters=K, linkage="ward")``).

    Notes
    -----
    Deterministic; memory: an n_samples² float64 distance matrix while fitting (296 MB at
    n_samples = 6,084) plus its condensed copy.
    """

    _parameter_constraints: dict[str, list] = {"n_clusters": [POSITIVE_INT]}

    def __init__(self, *, n_clusters: int = 2) -> None:
        self.n_clusters = n_clusters

    def fit(self, X: Any, y: Any = None) -> WardClustering:
        """Cluster X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Finite data.
        y : ignored

        Returns
        -------
        self
        """
        params = validate_params(self)
        X = check_X(X, owner="WardClustering")
        n_samples = X.shape[0]
        n_clusters = check_n_clusters("WardClustering", params["n_clusters"], n_samples)
        logger.debug("WardClustering: n_samples=%d n_clusters=%d", n_samples, n_clusters)
        if n_samples == 1:
            self.labels_ = np.zeros(1, dtype=np.int64)
            return self
        self.labels_ = cut_linkage(ward_linkage(X), n_clusters)
        return self
