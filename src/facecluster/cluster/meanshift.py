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
means are then float32 sums, the distances float64, exactly as there).  Distances are
euclidean.  The mean kernel runs on numba's thread pool (``NUMBA_NUM_THREADS`` or
``numba.set_num_threads`` limit it), the GEMMs on BLAS threads.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from numbers import Integral, Real

import numpy as np
from numba import njit, prange
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.neighbors import NearestNeighbors

from facecluster.cluster._common import check_embeddings

__all__ = ["MeanShift", "mean_shift_grid"]

logger = logging.getLogger(__name__)

#: Rows of query positions per GEMM block (a block of ``_BLOCK × n`` float64 distances).
_BLOCK = 512
#: scikit-learn's ``NearestNeighbors`` uses a tree up to this many features, brute force above.
_TREE_MAX_FEATURES = 15
#: Features per block of the blocked copy of ``X`` the mean kernel reads (cache-sized).
_FEATURE_BLOCK = 32
_EPS = float(np.finfo(np.float64).eps)


# --------------------------------------------------------------------------------------
# numba kernels
# --------------------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def _scan_block(gram, pn, xn, hi):  # pragma: no cover - compiled
    """Entries ``j`` of each row with ``d² = max(0, pn[i] - 2 gram[i, j] + xn[j]) <= hi[i]``.

    Returns CSR ``(indptr, indices, d2)``, indices ascending within a row.
    """
    b, n = gram.shape
    counts = np.zeros(b, dtype=np.int64)
    for i in range(b):
        c = 0
        for j in range(n):
            d2 = max(0.0, pn[i] + (-2.0 * gram[i, j]) + xn[j])
            if d2 <= hi[i]:
                c += 1
        counts[i] = c
    indptr = np.zeros(b + 1, dtype=np.int64)
    for i in range(b):
        indptr[i + 1] = indptr[i] + counts[i]
    indices = np.empty(indptr[b], dtype=np.int64)
    dist2 = np.empty(indptr[b], dtype=np.float64)
    for i in range(b):
        k = indptr[i]
        for j in range(n):
            d2 = max(0.0, pn[i] + (-2.0 * gram[i, j]) + xn[j])
            if d2 <= hi[i]:
                indices[k] = j
                dist2[k] = d2
                k += 1
    return indptr, indices, dist2


@njit(cache=True, nogil=True)
def _decide(indptr, indices, d2, r2, tol):  # pragma: no cover - compiled
    """Keep the entries with ``d2 <= r2 + tol[row]``; flag a row when one is within ``tol``.

    A flagged row holds an entry whose side of the radius our arithmetic cannot decide.
    """
    n = indptr.shape[0] - 1
    new_ptr = np.zeros(n + 1, dtype=np.int64)
    border = np.zeros(n, dtype=np.bool_)
    keep = np.zeros(indices.shape[0], dtype=np.bool_)
    for i in range(n):
        hi = r2 + tol[i]
        lo = r2 - tol[i]
        c = 0
        for t in range(indptr[i], indptr[i + 1]):
            if d2[t] <= hi:
                keep[t] = True
                c += 1
                if d2[t] > lo:
                    border[i] = True
        new_ptr[i + 1] = new_ptr[i] + c
    return new_ptr, indices[keep], border


@njit(cache=True, nogil=True)
def _scan32(g32, P64, D64, pn, dn, r2, tol32, tol64):  # pragma: no cover - compiled
    """Radius members of a block of queries from a float32 Gram, rechecked in float64.

    ``g32[i, j] ≈ p_i · y_j`` (float32 GEMM).  Its ``d²`` errs by at most ``tol32[i]``, so
    ``d² <= r2 - tol32`` is in and ``d² > r2 + tol32`` out; the few pairs in between get a
    float64 dot product and the float64 decision (``tol64``).  Returns CSR ``(indptr,
    indices, status)`` of the members (status 1: in; 2: too close to the radius to decide,
    counted in) and ``border[i]``: row ``i`` has a status-2 member.
    """
    b, n = g32.shape
    d = P64.shape[1]
    buf = np.empty(b * n, dtype=np.int32)
    st = np.ones(b * n, dtype=np.int8)
    border = np.zeros(b, dtype=np.bool_)
    indptr = np.zeros(b + 1, dtype=np.int64)
    k = 0
    for i in range(b):
        hi = r2 + tol32[i]
        lo = r2 - tol32[i]
        start = k
        for j in range(n):  # candidates, branch-free
            v = pn[i] + dn[j] - 2.0 * np.float64(g32[i, j])
            buf[k] = j
            k += v <= hi
        kk = start
        for t in range(start, k):  # recheck the few near the radius in float64
            j = buf[t]
            v = pn[i] + dn[j] - 2.0 * np.float64(g32[i, j])
            status = 1
            if v > lo:
                dot = 0.0
                for q in range(d):
                    dot += P64[i, q] * D64[j, q]
                w = max(0.0, pn[i] + (-2.0 * dot) + dn[j])
                if w > r2 + tol64[i]:
                    status = 0
                elif w > r2 - tol64[i]:
                    status = 2
                    border[i] = True
            if status:
                buf[kk] = j
                st[kk] = status
                kk += 1
        k = kk
        indptr[i + 1] = k
    return indptr, buf[:k].astype(np.int64), st[:k].copy(), border


@njit(cache=True, nogil=True)
def _gather_rows(indptr, indices, values, rows):  # pragma: no cover - compiled
    """The given rows of a CSR structure (with a value per entry), as a new one."""
    new_ptr = np.zeros(rows.shape[0] + 1, dtype=np.int64)
    for q in range(rows.shape[0]):
        new_ptr[q + 1] = new_ptr[q] + indptr[rows[q] + 1] - indptr[rows[q]]
    new_idx = np.empty(new_ptr[-1], dtype=indices.dtype)
    new_val = np.empty(new_ptr[-1], dtype=values.dtype)
    for q in range(rows.shape[0]):
        a = indptr[rows[q]]
        for t in range(new_ptr[q + 1] - new_ptr[q]):
            new_idx[new_ptr[q] + t] = indices[a + t]
            new_val[new_ptr[q] + t] = values[a + t]
    return new_ptr, new_idx, new_val


@njit(cache=True, nogil=True)
def _csr_row_hashes(indptr, indices):  # pragma: no cover - compiled
    """A 64-bit FNV-style hash of each CSR row (its length and indices, in order)."""
    n = indptr.shape[0] - 1
    out = np.empty(n, dtype=np.uint64)
    prime = np.uint64(1099511628211)
    for u in range(n):
        h = np.uint64(14695981039346656037) ^ np.uint64(indptr[u + 1] - indptr[u])
        for t in range(indptr[u], indptr[u + 1]):
            h = (h ^ np.uint64(indices[t])) * prime
        out[u] = h
    return out


@njit(cache=True, nogil=True)
def _csr_rows_equal(indptr, indices, rows, reps):  # pragma: no cover - compiled
    """``row == rep`` (same CSR content) for each pair; to rule out hash collisions."""
    ok = np.ones(rows.shape[0], dtype=np.bool_)
    for q in range(rows.shape[0]):
        u = rows[q]
        v = reps[q]
        a, b = indptr[u], indptr[u + 1]
        c = indptr[v]
        if b - a != indptr[v + 1] - c:
            ok[q] = False
            continue
        for t in range(b - a):
            if indices[a + t] != indices[c + t]:
                ok[q] = False
                break
    return ok


@njit(cache=True, nogil=True, parallel=True)
def _sequential_means(Xb, indptr, indices, rows, out):  # pragma: no cover - compiled
    """``out[q] = np.mean(X[indices[indptr[u]:indptr[u + 1]]], axis=0)``, ``u = rows[q]``.

    Bitwise as numpy: numpy reduces a C-ordered ``(m, d)`` array (``d > 1``) along axis 0
    by adding whole rows, in order, into a copy of the first row, then divides by ``m``
    cast to the array's dtype; this does the same additions per feature.  ``Xb`` is ``X``
    in feature blocks, ``Xb[blk, i, :] = X[i, blk * f : (blk + 1) * f]`` (zero-padded), so
    that one block of all rows stays in cache while every set is summed; blocks run in
    parallel (each feature's sum is still sequential over the set).
    """
    nb, _, f = Xb.shape
    d = out.shape[1]
    for blk in prange(nb):
        acc = np.empty(f, dtype=Xb.dtype)
        k0 = blk * f
        kmax = min(f, d - k0)
        for q in range(rows.shape[0]):
            u = rows[q]
            a = indptr[u]
            b = indptr[u + 1]
            if b == a:
                continue
            i0 = indices[a]
            for k in range(f):
                acc[k] = Xb[blk, i0, k]
            for t in range(a + 1, b):
                i = indices[t]
                for k in range(f):
                    acc[k] += Xb[blk, i, k]
            den = Xb.dtype.type(b - a)
            for k in range(kmax):
                out[q, k0 + k] = acc[k] / den


# --------------------------------------------------------------------------------------
# validation and small helpers
# --------------------------------------------------------------------------------------
def _validate_X(X) -> np.ndarray:
    """2-D finite array, float64 (float32 kept, as scikit-learn keeps it), C-ordered."""
    return check_embeddings(X, what="mean-shift")


def _validate_bandwidth(bandwidth) -> float:
    if isinstance(bandwidth, bool) or not isinstance(bandwidth, Real):
        raise ValueError(f"bandwidth must be a positive real number, got {bandwidth!r}")
    if not (np.isfinite(bandwidth) and bandwidth > 0):
        raise ValueError(f"bandwidth must be > 0 and finite, got {bandwidth!r}")
    return float(bandwidth)


def _validate_max_iter(max_iter) -> int:
    if isinstance(max_iter, bool) or not isinstance(max_iter, Integral) or max_iter < 0:
        raise ValueError(f"max_iter must be an integer >= 0, got {max_iter!r}")
    return int(max_iter)


def _tol_factor(n_features: int) -> float:
    """Bound on |our d² - scikit-learn's d²| per unit of ``(|p| + |x|)²``.

    Each side computes ``|p|² + |x|² - 2 p·x`` (or ``Σ (p - x)²``) in float64 with an error
    of at most ``(d + 3) eps (|p| + |x|)²`` (dot-product bound ``γ_d Σ|p_k x_k|``, any
    summation order, FMA or not, plus three roundings); twice that, with margin.
    """
    return 4.0 * (n_features + 4) * _EPS


def _tol_factor32(n_features: int) -> float:
    """Bound on |float32-GEMM d² - exact d²| per unit of ``(|p| + |x|)²``, with margin.

    Rounding ``p`` and ``x`` to float32 (``u32 |p||x|`` each) and the float32 dot product
    (``γ_d |p||x|``), doubled for ``-2 p·x``, and doubled again.
    """
    return 4.0 * (n_features + 4) * float(np.finfo(np.float32).eps)


def _sq_norms(A: np.ndarray) -> np.ndarray:
    A = np.asarray(A, dtype=np.float64)
    return np.einsum("ij,ij->i", A, A)


def _uses_tree(n_fit: int, n_features: int, n_neighbors: int) -> bool:
    """scikit-learn's ``algorithm='auto'`` choice for euclidean ``NearestNeighbors``."""
    return not (n_features > _TREE_MAX_FEATURES or n_neighbors >= n_fit // 2)


def _csr_from_lists(lists) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.fromiter((len(r) for r in lists), dtype=np.int64, count=len(lists))
    indptr = np.zeros(len(lists) + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    if len(lists) and indptr[-1]:
        indices = np.concatenate([np.asarray(r, dtype=np.int64) for r in lists])
    else:
        indices = np.zeros(0, dtype=np.int64)
    return indptr, indices


def _group_csr_rows(indptr: np.ndarray, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows with identical content: ``(first, inverse)``, ``first[inverse[u]]`` equals ``u``."""
    n = len(indptr) - 1
    hashes = _csr_row_hashes(indptr, indices)
    _, first, inverse = np.unique(hashes, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    if _csr_rows_equal(indptr, indices, np.arange(n), first[inverse]).all():
        return first, inverse
    # a hash collision (practically never): group by content exactly
    seen: dict[bytes, int] = {}
    inverse = np.fromiter(
        (seen.setdefault(indices[indptr[u] : indptr[u + 1]].tobytes(), len(seen))
         for u in range(n)),
        dtype=np.int64,
        count=n,
    )  # fmt: skip
    first = np.full(len(seen), n, dtype=np.int64)
    np.minimum.at(first, inverse, np.arange(n))
    return first, inverse


def _unique_rows(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bitwise-unique rows: ``(first, inverse)`` with ``A[first][inverse] == A``."""
    A = np.ascontiguousarray(A)
    n, d = A.shape
    words = A.view(np.uint64 if A.dtype.itemsize == 8 else np.uint32).astype(np.int64)
    indptr = np.arange(n + 1, dtype=np.int64) * d
    return _group_csr_rows(indptr, words.reshape(-1))


def _norms_le(diff: np.ndarray, thresh: float) -> np.ndarray:
    """``np.linalg.norm(diff[u]) <= thresh`` per row, decided exactly as numpy decides it."""
    sq = _sq_norms(diff)
    t2 = thresh * thresh
    result = sq <= t2
    # numpy's BLAS dot in diff's dtype errs by at most (d + 2) eps(dtype) relative
    margin = 4.0 * (diff.shape[1] + 4) * float(np.finfo(diff.dtype).eps)
    for u in np.flatnonzero(np.abs(sq - t2) <= margin * np.maximum(sq, t2)):
        result[u] = np.linalg.norm(diff[u]) <= thresh
    return result


# --------------------------------------------------------------------------------------
# the data, prepared once per X
# --------------------------------------------------------------------------------------
class _Prepared:
    """``X`` with what every bandwidth shares: norms, blocked copy, first-step neighbours."""

    def __init__(self, X: np.ndarray):
        self.X = X
        n, d = X.shape
        self.xn = _sq_norms(X)
        self.xnorm_max = float(np.sqrt(self.xn.max()))
        self.c_tol = _tol_factor(d)
        self.tree = _uses_tree(n, d, 5)
        self.start_rows, self.seed_start = _unique_rows(X)
        self.X64 = np.ascontiguousarray(X, dtype=np.float64)
        self.X32 = np.ascontiguousarray(X, dtype=np.float32)
        self.fast_means = d > _TREE_MAX_FEATURES
        if self.fast_means:
            f = _FEATURE_BLOCK
            nb = -(-d // f)
            padded = np.zeros((n, nb * f), dtype=X.dtype)
            padded[:, :d] = X
            self.Xb = np.ascontiguousarray(padded.reshape(n, nb, f).transpose(1, 0, 2))
        self.first_r2 = -1.0
        self.first: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def row_tol(self, sq_norms: np.ndarray, other_max: float | None = None) -> np.ndarray:
        other = self.xnorm_max if other_max is None else other_max
        return self.c_tol * (np.sqrt(sq_norms) + other) ** 2

    def means(self, indptr: np.ndarray, indices: np.ndarray, rows=None) -> np.ndarray:
        """Means of the CSR rows (all, or ``rows``), bitwise as ``np.mean(X[idx], axis=0)``."""
        if rows is None:
            rows = np.arange(len(indptr) - 1)
        out = np.zeros((len(rows), self.X.shape[1]), dtype=self.X.dtype)
        if self.fast_means:
            _sequential_means(self.Xb, indptr, indices, rows, out)
        else:
            for q, u in enumerate(rows):
                if indptr[u + 1] > indptr[u]:
                    out[q] = np.mean(self.X[indices[indptr[u] : indptr[u + 1]]], axis=0)
        return out

    def ensure_first(self, bandwidth: float) -> None:
        """GEMM candidates (``d² <= r2 + tol``) of every data point, for radii up to this."""
        r2 = bandwidth * bandwidth
        if self.tree or r2 <= self.first_r2:
            return
        X64 = self.X64
        hi = r2 + self.row_tol(self.xn)
        ptrs, idxs, d2s = [np.zeros(1, dtype=np.int64)], [], []
        for s in range(0, len(X64), _BLOCK):
            gram = X64[s : s + _BLOCK] @ X64.T
            ip, ix, d2 = _scan_block(gram, self.xn[s : s + _BLOCK], self.xn, hi[s:])
            ptrs.append(ip[1:] + ptrs[-1][-1])
            idxs.append(ix)
            d2s.append(d2)
        self.first = (np.concatenate(ptrs), np.concatenate(idxs), np.concatenate(d2s))
        self.first_r2 = r2

    def first_rows(self, rows: np.ndarray):
        """First-step candidates ``(indptr, indices, d2)`` of the given data rows."""
        assert self.first is not None
        return _gather_rows(*self.first, rows)


class _Radius:
    """``NearestNeighbors(radius=bandwidth).fit(data).radius_neighbors([p])`` for many ``p``.

    Each answer equals scikit-learn's (same indices, same order): arithmetic decisions away
    from the radius, scikit-learn's own single-query answer for a query with a point too
    close to the radius to decide.
    """

    def __init__(self, data: np.ndarray, bandwidth: float, data_sq_norms=None):
        self.data = data
        self.bandwidth = bandwidth
        self.r2 = bandwidth * bandwidth
        d = data.shape[1]
        self.c64 = _tol_factor(d)
        self.c32 = _tol_factor32(d)
        self.tree = _uses_tree(len(data), d, 5)
        self.dn = _sq_norms(data) if data_sq_norms is None else data_sq_norms
        self.dnorm_max = float(np.sqrt(self.dn.max()))
        self._nbrs: NearestNeighbors | None = None
        self._d32: np.ndarray | None = None
        self._d64: np.ndarray | None = None
        self.n_exact = 0

    @property
    def nbrs(self) -> NearestNeighbors:
        if self._nbrs is None:
            self._nbrs = NearestNeighbors(radius=self.bandwidth, n_jobs=1).fit(self.data)
        return self._nbrs

    def share_copies(self, d32: np.ndarray, d64: np.ndarray) -> None:
        """Use these float32 / float64 copies of ``data`` (shared across bandwidths)."""
        self._d32, self._d64 = d32, d64

    def exact(self, p: np.ndarray) -> np.ndarray:
        """scikit-learn's answer for one query, asked as ``MeanShift`` asks it."""
        self.n_exact += 1
        res = self.nbrs.radius_neighbors([p], self.bandwidth, return_distance=False)[0]
        return np.asarray(res, dtype=np.int64)

    def scan(self, P: np.ndarray, pn: np.ndarray, tol32: np.ndarray, tol64: np.ndarray):
        """Members with status (1 in, 2 undecidable) of each row of ``P``: float32 GEMM."""
        if self._d32 is None:
            self._d32 = np.ascontiguousarray(self.data, dtype=np.float32)
            self._d64 = np.ascontiguousarray(self.data, dtype=np.float64)
        # float32 products keep their relative error bound only well inside float32's range
        use32 = 1e-15 < self.dnorm_max < 1e15
        if not use32:
            tol32 = tol64
        ptrs, idxs, sts, borders = [np.zeros(1, dtype=np.int64)], [], [], []
        for s in range(0, len(P), _BLOCK):
            p64 = np.ascontiguousarray(P[s : s + _BLOCK], dtype=np.float64)
            if use32:
                g32 = p64.astype(np.float32) @ self._d32.T
            else:
                g32 = p64 @ self._d64.T
            ip, ix, st, bd = _scan32(
                g32, p64, self._d64, pn[s : s + _BLOCK], self.dn, self.r2,
                tol32[s : s + _BLOCK], tol64[s : s + _BLOCK],
            )  # fmt: skip
            ptrs.append(ip[1:] + ptrs[-1][-1])
            idxs.append(ix)
            sts.append(st)
            borders.append(bd)
        return (
            np.concatenate(ptrs),
            np.concatenate(idxs) if idxs else np.zeros(0, dtype=np.int64),
            np.concatenate(sts) if sts else np.zeros(0, dtype=np.int8),
            np.concatenate(borders) if borders else np.zeros(0, dtype=bool),
        )

    def query(self, P: np.ndarray, candidates=None) -> tuple[np.ndarray, np.ndarray]:
        """CSR ``(indptr, indices)`` of the neighbourhoods of the rows of ``P``.

        ``candidates``: optional ``(indptr, indices, d2)`` per row of ``P``, a superset of
        each neighbourhood with float64 GEMM ``d²`` (from :meth:`_Prepared.first_rows`).
        """
        if self.tree:
            return _csr_from_lists(self.nbrs.radius_neighbors(P, self.bandwidth, False))
        pn = _sq_norms(P)
        scale = (np.sqrt(pn) + self.dnorm_max) ** 2
        tol64 = self.c64 * scale
        if candidates is not None:
            indptr, indices, border = _decide(*candidates, self.r2, tol64)
        else:
            indptr, indices, _, border = self.scan(P, pn, self.c32 * scale + tol64, tol64)
        if not border.any():
            return indptr, indices
        lists = [indices[indptr[i] : indptr[i + 1]] for i in range(len(P))]
        for i in np.flatnonzero(border):
            lists[i] = self.exact(P[i])
        return _csr_from_lists(lists)


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


def _fit(prep: _Prepared, bandwidth: float, max_iter: int):
    """``(labels, cluster_centers, n_iter)`` exactly as scikit-learn's ``MeanShift.fit``."""
    prep.ensure_first(bandwidth)
    radius = _Radius(prep.X, bandwidth, data_sq_norms=prep.xn)
    if not radius.tree:
        radius.share_copies(prep.X32, prep.X64)
    climb = _climb(prep, radius, bandwidth, max_iter)
    centres, single, seed_centre = _sort_centres(climb)
    if not len(centres):
        raise ValueError(
            f"No point was within bandwidth={bandwidth:f} of any seed. Try a different "
            "seeding strategy or increase the bandwidth."
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


class MeanShift(ClusterMixin, BaseEstimator):
    """Flat-kernel mean shift; labels identical to ``sklearn.cluster.MeanShift``.

    Every point is a seed (no bin seeding) and every point is clustered
    (``cluster_all=True``).  See the module docstring for how the result is kept bitwise
    equal to scikit-learn's while being much faster.

    Parameters
    ----------
    bandwidth : float
        Radius of the flat kernel, euclidean (on L2-normalised embeddings: in ``(0, 2]``).
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

    def __init__(self, *, bandwidth: float, max_iter: int = 300):
        self.bandwidth = bandwidth
        self.max_iter = max_iter

    def fit(self, X, y=None):
        """Cluster ``X`` (array of shape ``(n_samples, n_features)``)."""
        bandwidth = _validate_bandwidth(self.bandwidth)
        max_iter = _validate_max_iter(self.max_iter)
        X = _validate_X(X)
        self.labels_, self.cluster_centers_, self.n_iter_ = _fit(_Prepared(X), bandwidth, max_iter)
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
    bws = [_validate_bandwidth(b) for b in bandwidths]
    max_iter = _validate_max_iter(max_iter)
    X = _validate_X(X)
    if not bws:
        return []
    prep = _Prepared(X)
    prep.ensure_first(max(bws))
    return [_fit(prep, b, max_iter)[0] for b in bws]
