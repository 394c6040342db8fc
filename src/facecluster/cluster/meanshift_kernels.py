"""The numba kernels of :mod:`facecluster.cluster.meanshift` (radius scans, CSR plumbing, means).

Compiled with ``cache=True``; each is a plain loop over arrays whose floating-point operations
are spelled out (see :mod:`facecluster.cluster.meanshift` for why they match scikit-learn's
bit for bit).  ``_sequential_means`` runs on numba's thread pool.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = [
    "_csr_row_hashes",
    "_csr_rows_equal",
    "_decide",
    "_gather_rows",
    "_scan32",
    "_scan_block",
    "_sequential_means",
]


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
