"""Flat-kernel mean shift, label-for-label identical to :class:`sklearn.cluster.MeanShift`.

scikit-learn's ``MeanShift(bandwidth=b)`` (every point a seed, no bin seeding,
``cluster_all=True``) climbs from each of the ``n`` seeds separately, one radius query
and one ``np.mean`` per step, so a fit costs ``O(n · steps · n · d)`` with a large Python
overhead per step.  This module computes *the same floating-point numbers* far faster:

* **All seeds at once.**  Each step handles the current positions of all still-moving
  seeds together; their radius neighbourhoods come from one GEMM per block of positions
  (``|p|² + |x|² - 2 p·x``).
* **Exact de-duplication of trajectories.**  A seed's next position depends only on its
  current position (the mean of the points within ``bandwidth`` of it) and on the step
  count, which is the same for all seeds moving together.  Seeds whose positions are
  bitwise equal therefore follow identical trajectories from then on, so only the *unique*
  positions are iterated (rows grouped by a hash, then compared in full); positions with
  the same neighbour set share one mean.
* **Bitwise-equal means.**  ``np.mean(X[idx], axis=0)`` of a C-ordered ``(m, d)`` array
  with ``d > 1`` sums the rows sequentially in index order (the inner loop runs along the
  contiguous feature axis) and divides by ``m``; a numba kernel does exactly those
  floating-point operations, so converged centres, and with them every tie-break of the
  ``(intensity, tuple(centre))`` sort, are bitwise equal.  (``tests/unit`` checks this
  against ``np.mean``.)  Below 16 features the literal ``np.mean`` expression is used.
* **Exact membership decisions.**  scikit-learn's brute-force radius query (used above 15
  features, or below 12 points) computes ``d² = |p|² + |x|² - 2 p·x`` in float64, its
  KD-tree ``Σ (p - x)²``; either errs by at most ``(d + 3) · eps · (|p| + |x|)²``
  (dot-product bound, any summation order, FMA or not).  We decide membership from a
  float32 GEMM, whose error bound (``≈ 2 (d + 3) · 2⁻²⁴ · (|p| + |x|)²``, rounding to
  float32 included) is widened by the float64 one: pairs farther than that from
  ``bandwidth²`` are decided; the few in between are recomputed with a float64 dot
  product and decided if farther than twice the float64 bound from ``bandwidth²``.  A
  query with a point closer than that (practically never for real-valued data, often for
  lattice data) takes its whole neighbourhood from scikit-learn's own
  ``NearestNeighbors(radius=bandwidth)`` called exactly as ``MeanShift`` calls it (one
  query, same fitted data), so it is identical by construction.  The same scheme decides
  the convergence test (``np.linalg.norm(new - old) <= 1e-3 * bandwidth``), the
  near-duplicate removal of centres and the nearest-centre labelling (a near tie there
  defers to scikit-learn's own ``kneighbors`` call).  Kept centres are pairwise farther
  than ``bandwidth`` apart, so a point much closer than half of that to the centre its own
  seed ended at (or to the kept centre that absorbed it) is labelled without a search.
* **Low dimensions** (``n_features <= 15`` and more than 11 points, where scikit-learn
  uses a KD-tree whose index order feeds the mean) take every neighbourhood from
  scikit-learn's tree, batched; only the bookkeeping above is ours.  These paths are for
  the exactness tests, not for speed.

:func:`mean_shift_grid` additionally shares work across bandwidths: the first step starts
at the data points themselves, so their neighbour lists at the largest bandwidth come from
one float64 Gram matrix ``X Xᵀ`` and are filtered for each smaller bandwidth; those
distances are reused for the centres that are data points (singleton neighbourhoods).

Input is converted to float64 unless it is float32 (kept, as scikit-learn keeps it; the
means are then float32 sums, the distances float64, exactly as there), except float32 data
of extreme magnitude, which ``check_X`` converts (float32 sums of it would overflow).  Distances are
euclidean.  The mean kernel runs on numba's thread pool (``NUMBA_NUM_THREADS`` or
``numba.set_num_threads`` limit it), the GEMMs on BLAS threads.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import estimate_bandwidth
from sklearn.neighbors import NearestNeighbors

from facecluster.cluster._validation import (
    NON_NEGATIVE_INT,
    POSITIVE_REAL,
    ConstraintError,
    check_param,
    check_X,
    validate_params,
)
from facecluster.cluster.meanshift_neighbours import (
    _BLOCK,
    _group_csr_rows,
    _norms_le,
    _Prepared,
    _Radius,
    _sq_norms,
    _unique_rows,
    _uses_tree,
)

__all__ = ["FastMeanShift", "mean_shift_grid"]

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------
# the algorithm
# --------------------------------------------------------------------------------------
class _Climb:
    """Result of hill-climbing every seed.

    ``means[row]``, ``count[row]`` (``len(points_within)``; 0: no point within) and
    ``single[row]`` (the one point within, when ``count == 1``, else -1) for each finishing
    event ``row``; ``seed_row[s]`` is seed ``s``'s event; ``n_iter`` scikit-learn's
    ``n_iter_``.
    """

    def __init__(self, means, count, single, seed_row, n_iter):
        self.means = means
        self.count = count
        self.single = single
        self.seed_row = seed_row
        self.n_iter = n_iter


def _climb(prep: _Prepared, radius: _Radius, bandwidth: float, max_iter: int) -> _Climb:
    X = prep.X
    n = len(X)
    stop_thresh = 1e-3 * bandwidth
    pos = X[prep.start_rows]
    seed_pos = prep.seed_start.copy()  # row of ``pos`` of each moving seed
    active = np.arange(n)
    seed_row = np.full(n, -1, dtype=np.int64)
    out_means, out_count, out_single = [], [], []
    n_done = 0
    n_iter = 0
    step = 0
    while True:
        if step == 0 and prep.first is not None and prep.first_r2 >= radius.r2:
            indptr, indices = radius.query(pos, candidates=prep.first_rows(prep.start_rows))
        else:
            indptr, indices = radius.query(pos)
        counts = np.diff(indptr)
        # positions with the same neighbour set get the same mean: compute it once
        rep, set_of = _group_csr_rows(indptr, indices)
        new = prep.means(indptr, indices, rep)[set_of]
        empty = counts == 0
        if step == max_iter:
            stop = np.ones(len(pos), dtype=bool)
        else:
            stop = _norms_le(new - pos, stop_thresh) | empty
        if stop.any():
            stop_pos = np.flatnonzero(stop)
            event = np.full(len(pos), -1, dtype=np.int64)
            event[stop_pos] = n_done + np.arange(len(stop_pos))
            n_done += len(stop_pos)
            # an empty neighbourhood leaves my_mean where it was (scikit-learn's ``break``)
            out_means.append(np.where(empty[stop_pos, None], pos[stop_pos], new[stop_pos]))
            out_count.append(counts[stop_pos])
            single = np.full(len(stop_pos), -1, dtype=np.int64)
            one = counts[stop_pos] == 1
            single[one] = indices[indptr[stop_pos[one]]]
            out_single.append(single)
            sp = seed_pos[active]
            done = stop[sp]
            seed_row[active[done]] = event[sp[done]]
            active = active[~done]
            seed_pos_active = sp[~done]
            n_iter = step
        else:
            seed_pos_active = seed_pos[active]
        if not len(active):
            break
        # the moving positions, bitwise-unique
        moving = np.flatnonzero(~stop)
        first, inverse = _unique_rows(new[moving])
        remap = np.full(len(pos), -1, dtype=np.int64)
        remap[moving] = inverse
        seed_pos = np.full(n, -1, dtype=np.int64)
        seed_pos[active] = remap[seed_pos_active]
        pos = new[moving[first]]
        step += 1
        logger.debug("mean shift step %d: %d moving positions", step, len(pos))
    return _Climb(
        np.concatenate(out_means),
        np.concatenate(out_count),
        np.concatenate(out_single),
        seed_row,
        n_iter,
    )


def _sort_centres(climb: _Climb):
    """scikit-learn's ``center_intensity_dict`` and its sort, as arrays.

    The dict is keyed by ``tuple(my_mean)`` (so ``-0.0 == 0.0``): the first seed with a key
    fixes the stored tuple, the last one its intensity; seeds with no point within are left
    out.  Returns ``(centres, single, seed_centre)`` sorted by ``(intensity, tuple)``
    descending: ``single[c]`` is the data row equal to centre ``c`` (or -1) and
    ``seed_centre[s]`` the centre seed ``s`` ended at (-1: none).
    """
    n = len(climb.seed_row)
    d = climb.means.shape[1]
    seeds = np.flatnonzero(climb.count[climb.seed_row] > 0)
    seed_centre = np.full(n, -1, dtype=np.int64)
    if not len(seeds):
        return np.zeros((0, d), dtype=climb.means.dtype), np.zeros(0, dtype=np.int64), seed_centre
    rows = climb.seed_row[seeds]
    normalised = climb.means + climb.means.dtype.type(0.0)  # -0.0 -> 0.0
    _, key_of_row = _unique_rows(normalised)
    key = key_of_row[rows]
    n_keys = int(key_of_row.max()) + 1
    first = np.full(n_keys, len(seeds), dtype=np.int64)
    np.minimum.at(first, key, np.arange(len(seeds)))
    last = np.full(n_keys, -1, dtype=np.int64)
    np.maximum.at(last, key, np.arange(len(seeds)))
    used = np.flatnonzero(last >= 0)
    centres = climb.means[rows[first[used]]]
    weights = climb.count[rows[last[used]]]
    single_of_key = np.full(n_keys, -1, dtype=np.int64)
    single_rows = np.flatnonzero(climb.single >= 0)
    single_of_key[key_of_row[single_rows]] = climb.single[single_rows]
    single = single_of_key[used]
    # sorted(..., key=lambda t: (t[1], t[0]), reverse=True): the keys are distinct, so this
    # is the ascending lexicographic order reversed; resolve (weight, first coordinate)
    # ties with Python's own tuple comparison
    order = np.lexsort((centres[:, 0], weights))
    w_s, c0_s = weights[order], centres[order, 0]
    tie = (w_s[1:] == w_s[:-1]) & (c0_s[1:] == c0_s[:-1])
    if tie.any():
        order = list(order)
        starts = np.flatnonzero(tie & ~np.r_[False, tie[:-1]])
        for a in starts:
            b = a + 1
            while b < len(tie) and tie[b]:
                b += 1
            group = order[a : b + 1]
            order[a : b + 1] = sorted(group, key=lambda c: tuple(centres[c].tolist()))
        order = np.asarray(order)
    order = order[::-1]
    centre_of_key = np.full(n_keys, -1, dtype=np.int64)
    centre_of_key[used[order]] = np.arange(len(order))
    seed_centre[seeds] = centre_of_key[key]
    return np.ascontiguousarray(centres[order]), single[order], seed_centre


def _remove_near_duplicates(prep: _Prepared, centres, single, bandwidth):
    """scikit-learn's post-processing loop.

    Returns ``(unique, absorbed_by)``: the kept centres and, for every centre, the kept
    centre whose neighbourhood removed it (itself if kept; -1 if that one was removed too).
    """
    n_c = len(centres)
    radius = _Radius(centres, bandwidth)
    if radius.tree:
        lists = list(radius.nbrs.radius_neighbors(centres, bandwidth, return_distance=False))
    else:
        lists = _centre_neighbourhoods(prep, centres, single, radius)
    unique = np.ones(n_c, dtype=bool)
    absorbed_by = np.arange(n_c)
    for i in range(n_c):
        if unique[i]:
            nb = lists[i]
            absorbed_by[nb[unique[nb]]] = i
            unique[nb] = False
            unique[i] = True
    absorbed_by[~unique[absorbed_by]] = -1
    return unique, absorbed_by


def _centre_neighbourhoods(prep: _Prepared, centres, single, radius: _Radius):
    """Radius neighbourhood (among ``centres``) of every centre, scikit-learn's decisions.

    Centres equal to a data point take their mutual ``d²`` from the first-step candidates;
    only the other centres need a GEMM against all centres.  One tolerance for every pair
    makes each in/out decision valid in both directions of the pair.
    """
    n_c = len(centres)
    r2 = radius.r2
    big = (2.0 * max(radius.dnorm_max, prep.xnorm_max)) ** 2
    tol64 = radius.c64 * big
    tol32 = radius.c32 * big + tol64
    is_point = (single >= 0) if (prep.first is not None and prep.first_r2 >= r2) else None
    rows_l, cols_l, st_l = [], [], []
    if is_point is not None and is_point.any():
        pc = np.flatnonzero(is_point)
        centre_of_row = np.full(len(prep.X), -1, dtype=np.int64)
        centre_of_row[single[pc]] = pc
        ip, ix, d2 = prep.first_rows(single[pc])
        r = np.repeat(pc, np.diff(ip))
        c = centre_of_row[ix]
        keep = (c >= 0) & (d2 <= r2 + tol64)
        rows_l.append(r[keep])
        cols_l.append(c[keep])
        st_l.append(np.where(d2[keep] > r2 - tol64, 2, 1).astype(np.int8))
        others = np.flatnonzero(~is_point)
    else:
        is_point = np.zeros(n_c, dtype=bool)
        others = np.arange(n_c)
    if len(others):
        P = centres[others]
        ones = np.ones(len(others))
        ip, ix, st, _ = radius.scan(P, radius.dn[others], tol32 * ones, tol64 * ones)
        r = others[np.repeat(np.arange(len(others)), np.diff(ip))]
        back = is_point[ix]  # the same pair seen from a point-centre
        rows_l += [r, ix[back]]
        cols_l += [ix, r[back]]
        st_l += [st, st[back]]
    rows = np.concatenate(rows_l)
    cols = np.concatenate(cols_l)
    st = np.concatenate(st_l)
    order = np.lexsort((cols, rows))
    rows, cols, st = rows[order], cols[order], st[order]
    indptr = np.zeros(n_c + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_c), out=indptr[1:])
    lists = [cols[indptr[i] : indptr[i + 1]] for i in range(n_c)]
    for i in np.unique(rows[st == 2]):
        lists[i] = radius.exact(centres[i])
    return lists


def _assign_labels(prep: _Prepared, cluster_centers, candidate, sep2: float) -> np.ndarray:
    """``NearestNeighbors(n_neighbors=1).fit(cluster_centers).kneighbors(X)``, exactly.

    ``candidate[i]``: a kept centre near point ``i`` (or -1).  Kept centres are pairwise
    farther apart than ``sqrt(sep2)`` (no kept centre is in another's neighbourhood, as
    decided within the rounding bound), so a point much closer than half that to its
    candidate has it as its unique nearest centre, by a margin larger than any rounding;
    the other points are compared with every centre, and a near tie anywhere defers to
    scikit-learn's own computation.
    """
    X = prep.X
    n_k = len(cluster_centers)
    if n_k == 1:
        return np.zeros(len(X), dtype=np.intp)

    def reference() -> np.ndarray:
        nbrs = NearestNeighbors(n_neighbors=1).fit(cluster_centers)
        return nbrs.kneighbors(X, return_distance=False).ravel()

    if _uses_tree(n_k, X.shape[1], 1):
        return reference()
    c64 = np.asarray(cluster_centers, dtype=np.float64)
    kn = _sq_norms(c64)
    big = max(float(np.sqrt(kn.max())), prep.xnorm_max)
    tol = prep.c_tol * (2.0 * big) ** 2
    labels = np.full(len(X), -1, dtype=np.intp)
    if sep2 > tol:
        has = np.flatnonzero(candidate >= 0)
        diff = np.asarray(X[has], dtype=np.float64) - c64[candidate[has]]
        delta_hi = np.sqrt(np.einsum("ij,ij->i", diff, diff) + tol)
        sep = np.sqrt(sep2)
        sure = delta_hi < (sep2 - tol) / (2.0 * sep)
        labels[has[sure]] = candidate[has[sure]]
    hard = np.flatnonzero(labels < 0)
    for s in range(0, len(hard), _BLOCK):
        rows = hard[s : s + _BLOCK]
        xb = np.asarray(X[rows], dtype=np.float64)
        d2 = prep.xn[rows, None] + (-2.0 * (xb @ c64.T)) + kn[None, :]
        best = np.argmin(d2, axis=1)
        idx = np.arange(len(rows))
        best_d2 = d2[idx, best]
        d2[idx, best] = np.inf
        if np.any(d2.min(axis=1) - best_d2 <= tol):
            return reference()  # a near tie: only scikit-learn's own arithmetic decides
        labels[rows] = best
    return labels


def _fit(prep: _Prepared, bandwidth: float, max_iter: int, owner: str = "FastMeanShift"):
    """``(labels, cluster_centers, n_iter)`` exactly as scikit-learn's ``MeanShift.fit``.

    Where scikit-learn raises its ``ValueError`` "No point was within bandwidth of any
    seed" (every point is a seed, so this happens only when rounding puts a point farther
    than ``bandwidth`` from itself: coordinates of ~1e20 against a bandwidth of ~1), a
    :class:`ConstraintError` saying so is raised instead: a user error, one line.
    """
    prep.ensure_first(bandwidth)
    radius = _Radius(prep.X, bandwidth, data_sq_norms=prep.xn)
    if not radius.tree:
        radius.share_copies(prep.X32, prep.X64)
    climb = _climb(prep, radius, bandwidth, max_iter)
    centres, single, seed_centre = _sort_centres(climb)
    if not len(centres):
        raise ConstraintError(
            owner,
            "bandwidth",
            "larger than the rounding error of the data's distances (no point was within "
            f"bandwidth={bandwidth:f} of any seed: increase the bandwidth or rescale X)",
            bandwidth,
        )
    unique, absorbed_by = _remove_near_duplicates(prep, centres, single, bandwidth)
    # kept centres are pairwise at d² >= bandwidth² - (twice scikit-learn's rounding bound)
    all_max = float(np.sqrt(_sq_norms(centres).max()))
    sep2 = bandwidth * bandwidth - prep.c_tol * (2.0 * max(all_max, prep.xnorm_max)) ** 2
    kept = np.flatnonzero(unique)
    cluster_centers = centres[kept]
    kept_index = np.full(len(centres), -1, dtype=np.int64)
    kept_index[kept] = np.arange(len(kept))
    candidate = np.full(len(prep.X), -1, dtype=np.int64)
    has = seed_centre >= 0
    absorber = absorbed_by[seed_centre[has]]
    candidate[has] = np.where(absorber >= 0, kept_index[np.maximum(absorber, 0)], -1)
    labels = _assign_labels(prep, cluster_centers, candidate, sep2)
    logger.debug(
        "mean shift bandwidth=%g: %d steps, %d centres, %d clusters, %d exact queries",
        bandwidth,
        climb.n_iter,
        len(centres),
        len(kept),
        radius.n_exact,
    )
    return labels, cluster_centers, climb.n_iter


class FastMeanShift(ClusterMixin, BaseEstimator):
    """Flat-kernel mean shift; labels identical to ``sklearn.cluster.MeanShift``.

    Every point is a seed (no bin seeding) and every point is clustered
    (``cluster_all=True``).  See the module docstring for how the result is kept bitwise
    equal to scikit-learn's while being much faster.

    Parameters
    ----------
    bandwidth : float or None, default=None
        Radius of the flat kernel, euclidean (on L2-normalised embeddings: in ``(0, 2]``).
        ``None``: ``sklearn.cluster.estimate_bandwidth(X)``, as ``MeanShift`` does (for
        float32 data scikit-learn keeps that estimate in float32, here it is a float64).
    max_iter : int, default=300
        Maximum number of steps per seed.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Cluster of each point, numbered as scikit-learn numbers them (centres by
        decreasing intensity).
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
        The centres after near-duplicate removal.
    n_iter_ : int
        Largest number of steps taken by any seed.
    """

    _parameter_constraints: dict[str, list] = {
        "bandwidth": [POSITIVE_REAL, None],
        "max_iter": [NON_NEGATIVE_INT],
    }

    def __init__(self, *, bandwidth: float | None = None, max_iter: int = 300):
        self.bandwidth = bandwidth
        self.max_iter = max_iter

    def fit(self, X, y=None):
        """Cluster ``X`` (array of shape ``(n_samples, n_features)``)."""
        params = validate_params(self)
        X = check_X(X, owner=type(self).__name__)
        bandwidth = params["bandwidth"]
        if bandwidth is None:
            estimate = float(estimate_bandwidth(X))
            bandwidth = check_param(
                type(self).__name__, "estimate_bandwidth(X)", estimate, [POSITIVE_REAL]
            )
        self.labels_, self.cluster_centers_, self.n_iter_ = _fit(
            _Prepared(X), bandwidth, params["max_iter"]
        )
        self.n_features_in_ = X.shape[1]
        return self

    def fit_predict(self, X, y=None):
        """Fit and return ``labels_``."""
        return self.fit(X).labels_


def mean_shift_grid(X, bandwidths: Sequence[float], *, max_iter: int = 300) -> list[np.ndarray]:
    """Mean-shift labels for each bandwidth, sharing the work that does not depend on it.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Points (euclidean distances; e.g. L2-normalised face embeddings).
    bandwidths : sequence of float
        Flat-kernel radii, each > 0.
    max_iter : int, default=300
        Maximum number of steps per seed.

    Returns
    -------
    list of ndarray
        ``labels[i]`` equals ``sklearn.cluster.MeanShift(bandwidth=bandwidths[i],
        max_iter=max_iter).fit(X).labels_``.
    """
    owner = "mean_shift_grid"
    rules = FastMeanShift._parameter_constraints
    bws = [
        check_param(owner, f"bandwidths[{i}]", b, [POSITIVE_REAL])
        for i, b in enumerate(bandwidths)
    ]
    max_iter = check_param(owner, "max_iter", max_iter, rules["max_iter"])
    X = check_X(X, owner=owner)
    if not bws:
        return []
    prep = _Prepared(X)
    prep.ensure_first(max(bws))
    return [_fit(prep, b, max_iter, owner)[0] for b in bws]
