"""Exact radius neighbourhoods for :mod:`facecluster.cluster.meanshift`.

:class:`_Radius` answers ``NearestNeighbors(radius=bandwidth).fit(data).radius_neighbors``
for many queries with scikit-learn's own answers (GEMM distances decided away from the
radius, scikit-learn's single query for the undecidable ones); :class:`_Prepared` holds what
every bandwidth shares for one ``X`` (norms, a blocked copy for the mean kernel, the
first-step neighbour candidates).  The rounding bounds are derived in the docstring of
:mod:`facecluster.cluster.meanshift`.
"""

from __future__ import annotations

import numpy as np
from sklearn.neighbors import NearestNeighbors

from facecluster.cluster.meanshift_kernels import (
    _csr_row_hashes,
    _csr_rows_equal,
    _decide,
    _gather_rows,
    _scan32,
    _scan_block,
    _sequential_means,
)

#: Rows of query positions per GEMM block (a block of ``_BLOCK × n`` float64 distances).
_BLOCK = 512
#: scikit-learn's ``NearestNeighbors`` uses a tree up to this many features, brute force above.
_TREE_MAX_FEATURES = 15
#: Features per block of the blocked copy of ``X`` the mean kernel reads (cache-sized).
_FEATURE_BLOCK = 32
_EPS = float(np.finfo(np.float64).eps)


# --------------------------------------------------------------------------------------
# small exact helpers
# --------------------------------------------------------------------------------------
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
