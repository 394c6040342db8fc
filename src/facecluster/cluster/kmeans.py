"""k-means with greedy k-means++ seeding: scikit-learn's ``KMeans`` algorithm, fast for large K.

:class:`FastKMeans` runs the algorithm of :class:`sklearn.cluster.KMeans` (``init="k-means++"``,
``algorithm="lloyd"``) step for step: the data are centred, the greedy k-means++ seeding draws
the same random numbers in the same order from the same ``RandomState`` (one ``choice`` for the
first centre, then ``2 + int(log K)`` uniforms per further centre, keeping the candidate that
lowers the potential most), Lloyd iterations stop on unchanged labels or when the summed
squared centre shift falls below ``tol`` times the mean feature variance, empty clusters are
re-seeded with the points farthest from their centres, and of the ``n_init`` runs the one
with the lowest inertia wins (a later run replaces an earlier one only when its clustering
differs). For float64 input the labels are therefore the same as scikit-learn's for the same
``random_state``, up to floating-point ties (the tests check this).

What makes it fast where K is large (the sweep: N ~ 6,000 faces, d = 512, K ~ 900):

- k-means++ needs, for each of the K centres, the squared distances from ``2 + log K``
  candidates to every point. scikit-learn computes them from X every time (and for float32
  data upcasts X chunk by chunk), i.e. it streams all of X through memory K times per
  seeding. Here all pairwise squared distances ``S`` are computed once per fit from one BLAS
  product, in float64 (as scikit-learn's upcast) with scikit-learn's expression
  ``|x|^2 + |y|^2 - 2 x.y`` clipped at 0, and shared by the ``n_init`` seedings; a step only
  gathers the candidates' rows.
- Lloyd's E-step needs ``|x - c_k|^2`` for every point and centre. A centre is the mean of
  a group ``C`` of points, so
  ``|x - c|^2 = mean_{j in C} S[j, x] - mean_{i, j in C} S[i, j] / 2``: a cluster's row
  costs one pass over ``|C|`` rows of ``S`` (all rows together: one pass over ``S``,
  instead of an N x K x d product), and only the clusters whose group changed since the
  previous iteration are recomputed; the nearest centres are then updated only where a
  recomputed row can change them. The M-step is a sparse ``one-hot @ X`` product.
- Without room for ``S`` (more than ``_GRAM_MAX_BYTES``, i.e. N > ~11,500) every distance
  is computed from X and the centres as scikit-learn does (slower, same algorithm).

E-step distances are float64 for float32 data too (scikit-learn's are float32 there), so
near-ties may resolve differently; the tests find identical labels on float32 data as well.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.utils import check_random_state

from facecluster.cluster._validation import (
    NON_NEGATIVE_REAL,
    POSITIVE_INT,
    RANDOM_STATE,
    check_n_clusters,
    check_X,
    unit_scaled,
    validate_params,
)

__all__ = ["FastKMeans"]

logger = logging.getLogger(__name__)

#: Largest float64 pairwise-distance matrix (bytes) that a fit precomputes; above it
#: distances are recomputed from X at every step (slower, same result).
_GRAM_MAX_BYTES = 1 << 30
#: Columns per block when taking the argmin over centres of the (K, N) distance array.
_ARGMIN_BLOCK = 256


class _Geometry:
    """The (centred) data plus, when it fits in memory, all pairwise squared distances.

    ``sqdist[i, j] = max(|x_i|^2 + |x_j|^2 - 2 x_i.x_j, 0)`` in float64 from one BLAS product,
    the same expression scikit-learn's ``_euclidean_distances`` evaluates (its float32 path
    upcasts to float64 too).
    """

    def __init__(self, X: np.ndarray) -> None:
        self.X = X
        n = X.shape[0]
        self.x64 = X.astype(np.float64, copy=False)
        self.sq_norms = np.einsum("ij,ij->i", self.x64, self.x64)
        self.sqdist: np.ndarray | None = None
        if n * n * 8 <= _GRAM_MAX_BYTES:
            d = self.x64 @ self.x64.T
            d *= -2.0
            d += self.sq_norms[:, None]
            d += self.sq_norms[None, :]
            np.maximum(d, 0.0, out=d)
            self.sqdist = d

    def rows(self, idx: np.ndarray) -> np.ndarray:
        """Squared distances (float64) from the points ``idx`` to every point."""
        if self.sqdist is not None:
            return self.sqdist[idx]
        d = -2.0 * (self.x64[idx] @ self.x64.T)
        d += self.sq_norms[idx, None]
        d += self.sq_norms[None, :]
        np.maximum(d, 0.0, out=d)
        return d

    def to_centers(self, centers: np.ndarray) -> np.ndarray:
        """Squared distances (float64) from arbitrary centres to every point, (k, n)."""
        c64 = centers.astype(np.float64, copy=False)
        d = -2.0 * (c64 @ self.x64.T)
        d += np.einsum("ij,ij->i", c64, c64)[:, None]
        d += self.sq_norms[None, :]
        return d


def _kmeans_plusplus(
    geom: _Geometry, n_clusters: int, random_state: np.random.RandomState
) -> np.ndarray:
    """Greedy k-means++ (scikit-learn's ``_kmeans_plusplus``): indices of the seeds.

    Same random draws, same candidate rule, same tie-breaking. Candidate distances are
    rounded to the data's dtype before use, as scikit-learn's are.
    """
    X = geom.X
    n = X.shape[0]
    dtype = X.dtype
    weight = np.ones(n, dtype=dtype)
    weight_col = weight.reshape(-1, 1)
    n_local_trials = 2 + int(np.log(n_clusters))
    indices = np.empty(n_clusters, dtype=np.intp)
    indices[0] = random_state.choice(n, p=weight / weight.sum())
    closest = geom.rows(indices[:1])[0].astype(dtype, copy=False)
    current_pot = closest @ weight
    for c in range(1, n_clusters):
        rand_vals = random_state.uniform(size=n_local_trials) * current_pot
        candidates = np.searchsorted(np.cumsum(weight * closest), rand_vals)
        np.clip(candidates, None, n - 1, out=candidates)
        dist = geom.rows(candidates).astype(dtype, copy=False)
        np.minimum(closest, dist, out=dist)
        pots = dist @ weight_col
        best = int(np.argmin(pots))
        current_pot = pots[best]
        closest = dist[best]
        indices[c] = candidates[best]
    return indices


def _argmin_rows(dist: np.ndarray) -> np.ndarray:
    """Column-wise argmin of a (k, n) array (first minimum), fast for C order."""
    n = dist.shape[1]
    labels = np.empty(n, dtype=np.int32)
    for start in range(0, n, _ARGMIN_BLOCK):
        block = np.ascontiguousarray(dist[:, start : start + _ARGMIN_BLOCK].T)
        labels[start : start + _ARGMIN_BLOCK] = block.argmin(axis=1)
    return labels


class _CenterDistances:
    """Squared distances from the k centres to every point, (k, n) float64, kept up to date.

    With the pairwise matrix ``S`` at hand, a centre that is the mean of a group ``C`` of
    points has ``|x - c|^2 = mean_{j in C} S[j, x] - W_C`` with
    ``W_C = mean_{i, j in C} S[i, j] / 2``, so a row costs one pass over ``|C|`` rows of ``S``
    instead of a product with X, and only the rows of clusters whose group changed since the
    last update are recomputed. Without ``S`` every row is recomputed from the centres.
    """

    def __init__(self, geom: _Geometry, seeds: np.ndarray) -> None:
        self.geom = geom
        self.k = seeds.size
        self.dist = geom.rows(seeds)  # the seeds are data points: exact rows of S
        self.groups: np.ndarray | None = None  # the groups `dist` reflects (None: seeds)
        self._labels: np.ndarray | None = None  # argmin as of the last labels() call
        self._dirty: list[np.ndarray] = []  # rows rewritten since then

    def update(self, centers: np.ndarray, groups: np.ndarray, weights: np.ndarray) -> None:
        """Make the rows match ``centers``, the means of ``groups`` (empty groups explicit)."""
        geom = self.geom
        explicit = np.flatnonzero(weights == 0)
        if geom.sqdist is None:
            self.dist = geom.to_centers(centers)
            self.groups = groups.copy()
            self._labels = None
            return
        if self.groups is None:
            changed = np.arange(self.k)
        else:
            moved = self.groups != groups
            changed = np.union1d(self.groups[moved], groups[moved])
        changed = np.setdiff1d(changed, explicit, assume_unique=False)
        if changed.size:
            pos = np.full(self.k, -1, dtype=np.intp)
            pos[changed] = np.arange(changed.size)
            members = np.flatnonzero(pos[groups] >= 0)
            row = pos[groups[members]]
            size = np.bincount(row, minlength=changed.size).astype(np.float64)
            mean_op = sp.csr_matrix(
                (1.0 / size[row], (row, members)), shape=(changed.size, groups.size)
            )
            rowmean = np.asarray(mean_op @ geom.sqdist)
            within = 0.5 * np.bincount(row, weights=rowmean[row, members], minlength=changed.size)
            within /= size
            rowmean -= within[:, None]
            np.maximum(rowmean, 0.0, out=rowmean)
            self.dist[changed] = rowmean
            self._dirty.append(changed)
        if explicit.size:
            self.dist[explicit] = geom.to_centers(centers[explicit])
            self._dirty.append(explicit)
        self.groups = groups.copy()

    def labels(self) -> np.ndarray:
        """Nearest centre of every point (first one on ties), updated incrementally.

        Only the rows in ``_dirty`` changed since the last call. A point whose nearest centre
        kept its row keeps that centre unless a rewritten row is closer (or as close with a
        smaller index); a point whose nearest centre's row was rewritten is searched again
        over all rows. The result equals a full argmin.
        """
        if self._labels is None:
            labels = _argmin_rows(self.dist)
        else:
            labels = self._labels.copy()
            dirty = np.unique(np.concatenate(self._dirty)) if self._dirty else np.empty(0, int)
            if dirty.size:
                cols = np.arange(labels.size)
                sub = self.dist[dirty]
                best = _argmin_rows(sub)
                best_val = sub[best, cols]
                best_row = dirty[best]
                current_val = self.dist[labels, cols]
                take = (best_val < current_val) | ((best_val == current_val) & (best_row < labels))
                labels[take] = best_row[take]
                is_dirty = np.zeros(self.k, dtype=bool)
                is_dirty[dirty] = True
                lost = np.flatnonzero(is_dirty[self._labels])
                if lost.size:
                    labels[lost] = _argmin_rows(self.dist[:, lost])
        self._labels = labels
        self._dirty = []
        return labels.copy()


def _sums(X: np.ndarray, labels: np.ndarray, n_clusters: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-cluster sums of X and member counts (as X's dtype)."""
    n = X.shape[0]
    onehot = sp.csr_matrix(
        (np.ones(n, dtype=X.dtype), (labels, np.arange(n))), shape=(n_clusters, n)
    )
    sums = np.asarray(onehot @ X)
    weights = np.bincount(labels, minlength=n_clusters).astype(X.dtype)
    return sums, weights


def _relocate_empty(
    X: np.ndarray,
    centers_old: np.ndarray,
    sums: np.ndarray,
    weights: np.ndarray,
    labels: np.ndarray,
    groups: np.ndarray,
) -> None:
    """Give each empty cluster the point farthest from its centre (scikit-learn's rule).

    ``labels`` stay as they are (as in scikit-learn); ``groups`` records which points each
    centre is now the mean of.
    """
    empty = np.flatnonzero(weights == 0)
    n_empty = empty.size
    if n_empty == 0:
        return
    distances = ((X - centers_old[labels]) ** 2).sum(axis=1)
    far = np.argpartition(distances, -n_empty)[: -n_empty - 1 : -1]
    if np.max(distances) == 0:
        return  # more clusters than distinct points: nothing to move
    for new_id, far_idx in zip(empty, far, strict=True):
        old_id = labels[far_idx]
        sums[old_id] -= X[far_idx]
        sums[new_id] = X[far_idx]
        weights[new_id] = 1
        weights[old_id] -= 1
        groups[far_idx] = new_id


def _average(sums: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Centres from sums, in place, in scikit-learn's order (an empty one copies the largest).

    Like scikit-learn's ``_average_centers``, a cluster that is still empty takes the row
    of the heaviest cluster as it is at that moment of the loop.
    """
    if np.all(weights > 0):
        sums *= (1.0 / weights).astype(sums.dtype)[:, None]
        return sums
    argmax_weight = int(np.argmax(weights))
    for j in range(sums.shape[0]):
        if weights[j] > 0:
            sums[j] *= sums.dtype.type(1.0 / weights[j])
        else:
            sums[j] = sums[argmax_weight]
    return sums


def _lloyd(
    geom: _Geometry, seeds: np.ndarray, max_iter: int, tol: float
) -> tuple[np.ndarray, float, np.ndarray, int]:
    """One k-means run from the seed points: (labels, inertia, centers, n_iter)."""
    X = geom.X
    k = seeds.size
    centers = X[seeds].copy()
    distances = _CenterDistances(geom, seeds)
    labels_old = np.full(X.shape[0], -1, dtype=np.int32)
    strict = False
    it = 0
    for it in range(max_iter):  # noqa: B007 (n_iter reported after the loop)
        labels = distances.labels()
        sums, weights = _sums(X, labels, k)
        groups = labels.astype(np.intp)
        _relocate_empty(X, centers, sums, weights, labels, groups)
        centers_new = _average(sums, weights)
        shift = float(((centers_new - centers) ** 2).sum())
        centers = centers_new
        distances.update(centers, groups, weights)
        if np.array_equal(labels, labels_old):
            strict = True
            break
        if shift <= tol:
            break
        labels_old = labels
    if not strict:
        labels = distances.labels()
    inertia = float(((X - centers[labels]) ** 2).sum())
    return labels, inertia, centers, it + 1


def _same_clustering(labels1: np.ndarray, labels2: np.ndarray, n_clusters: int) -> bool:
    """Whether two labelings are equal up to a renaming of ``labels1``'s clusters."""
    mapping = np.full(n_clusters, -1, dtype=np.int64)
    first = np.unique(labels1, return_index=True)[1]
    mapping[labels1[first]] = labels2[first]
    return bool(np.array_equal(mapping[labels1], labels2))


class FastKMeans(ClusterMixin, BaseEstimator):
    """k-means (k-means++ seeding, Lloyd iterations): scikit-learn's ``KMeans``, faster.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of clusters K, ``1 <= K <= n_samples`` (8: scikit-learn's default).
    n_init : int, default=10
        Number of seedings; the run with the lowest inertia is kept.
    max_iter : int, default=300
        Maximum Lloyd iterations per run.
    tol : float, default=1e-4
        Convergence tolerance on the summed squared centre shift, relative to the mean
        per-feature variance of X (scikit-learn's definition).
    random_state : int, RandomState instance or None, default=None
        Seeds the k-means++ draws; the same value gives the same result. A ``RandomState``
        is used (and advanced) in place, as scikit-learn does.

    Attributes
    ----------
    labels_ : ndarray of int32, shape (n_samples,)
        Cluster of each sample.
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
        Cluster centres (in the data's dtype: float32 input gives float32 centres).
    inertia_ : float
        Sum of squared euclidean distances of the samples to their centres.
    n_iter_ : int
        Lloyd iterations of the kept run.

    Notes
    -----
    Same algorithm and random draws as ``sklearn.cluster.KMeans(n_clusters, n_init=n_init,
    max_iter=max_iter, tol=tol, random_state=random_state)``; see the module docstring for
    what differs (only how distances are computed). Extra memory: an n_samples² float64
    distance matrix while fitting (296 MB at n_samples = 6,084) unless that exceeds 1 GiB.
    """

    _parameter_constraints: dict[str, list] = {
        "n_clusters": [POSITIVE_INT],
        "n_init": [POSITIVE_INT],
        "max_iter": [POSITIVE_INT],
        "tol": [NON_NEGATIVE_REAL],
        "random_state": [*RANDOM_STATE],
    }

    def __init__(
        self,
        *,
        n_clusters: int = 8,
        n_init: int = 10,
        max_iter: int = 300,
        tol: float = 1e-4,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.n_clusters = n_clusters
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    def fit(self, X: Any, y: Any = None) -> FastKMeans:
        """Cluster X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Finite data; float32 stays float32, anything else is computed in float64 (see
            :func:`~facecluster.cluster._validation.check_X`).  Data of extreme scale
            (``max |x|`` outside ``[2^-256, 2^256]``, where squared distances underflow) is
            clustered after an exact power-of-two rescaling; centres and inertia are
            scaled back.
        y : ignored

        Returns
        -------
        self
        """
        params = validate_params(self)
        X, scale = unit_scaled(check_X(X, owner="FastKMeans"))
        n_samples = X.shape[0]
        n_clusters = check_n_clusters("FastKMeans", params["n_clusters"], n_samples)
        n_init, max_iter, tol = params["n_init"], params["max_iter"], params["tol"]
        random_state = check_random_state(params["random_state"])
        logger.debug(
            "FastKMeans: n_samples=%d n_features=%d n_clusters=%d n_init=%d dtype=%s",
            n_samples,
            X.shape[1],
            n_clusters,
            n_init,
            X.dtype,
        )

        X_mean = X.mean(axis=0)
        X = X - X_mean
        tol = float(np.mean(np.var(X, axis=0)) * tol) if tol else 0.0
        geom = _Geometry(X)

        best: tuple[np.ndarray, float, np.ndarray, int] | None = None
        for _ in range(n_init):
            seeds = _kmeans_plusplus(geom, n_clusters, random_state)
            labels, inertia, centers, n_iter = _lloyd(geom, seeds, max_iter, tol)
            if best is None or (
                inertia < best[1] and not _same_clustering(labels, best[0], n_clusters)
            ):
                best = (labels, inertia, centers, n_iter)
        assert best is not None
        labels, inertia, centers, n_iter = best

        n_distinct = np.unique(labels).size
        if n_distinct < n_clusters:
            logger.warning(
                "FastKMeans found %d distinct clusters, fewer than n_clusters=%d "
                "(duplicate points in X?)",
                n_distinct,
                n_clusters,
            )
        self.labels_ = labels
        self.cluster_centers_ = (centers + X_mean) * X.dtype.type(scale)
        self.inertia_ = inertia * scale * scale
        self.n_iter_ = n_iter
        return self
