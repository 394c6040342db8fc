"""Nearest-neighbour lists at scale: exact, approximate (faiss HNSW), sharded over Dask.

Every searcher returns what :func:`facecluster.cluster.rank_order.exact_search` returns for
a database searched with itself: ``(squared distances, indices)``, ``(n, kk)``, ascending,
the point itself included (at distance 0, normally first).

* :func:`exact_search` (re-exported) is quadratic: ``n²·d`` multiply-adds, one BLAS block
  at a time.  It is the reference every other list is measured against.
* :func:`hnsw_search` — faiss's hierarchical navigable small-world graph
  (``IndexHNSWFlat``, Malkov & Yashunin 2018): built in ``~n log n``, searched in
  ``~log n`` per query; approximate, and with more than one thread its graph depends on the
  insertion order the threads take, so its lists may differ between runs (the exact
  searches' never do).  Chosen by measurement on this project's 2-core machine, LFW's
  13,232 faces + simulated ones, 128-d, ``k + 1 = 51``: at 10⁵ distractors HNSW (M 32,
  build beam 80, search beam 64) reached recall 0.939 (build 15-20 s, search 11-13 s)
  where faiss's IVF (``IndexIVFFlat``, 1,024 lists, ``k + 1 = 101``) reached 0.80 probing
  64 lists — the simulated faces are close to isotropic in 128 dimensions, where a coarse
  quantiser separates little; at 10⁶ the build takes 341-378 s and the search beam trades
  recall for time: 64 → 0.869 (~240 s), 128 → 0.907 (~440 s), 192 → 0.933 (~750 s).
* :func:`refine_lists` — NN-descent's local join on approximate lists: each face is offered
  its neighbours' neighbours (at 10⁵: 0.939 → 0.964 → 0.969 in two passes of ~6 s).
* :func:`sharded_search` — the exact search with the database split into shards, one per
  Dask worker, the queries broadcast block by block and each block's per-shard top-``kk``
  merged on the client: the same lists as :func:`exact_search` (same arithmetic per pair,
  ties to the lower index), for a collection that does not fit one machine.
* :func:`recall_at_k` — the share of the exact top-``k`` an approximate list holds.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
from numba import njit, prange

from facecluster.cluster._common import csr_indptr
from facecluster.cluster.rank_order import _smallest_rows, exact_search

if TYPE_CHECKING:
    from distributed import Client

__all__ = [
    "exact_search",
    "exact_rows",
    "hnsw_search",
    "recall_at_k",
    "refine_lists",
    "sharded_search",
]

log = logging.getLogger(__name__)


def _topk_against(queries: np.ndarray, base: np.ndarray, kk: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``kk`` nearest rows of ``base`` to each query: ``|q|² + |b|² − 2 q·b`` clipped at
    0, in float32, as :func:`exact_search` computes each pair; ties to the lower index."""
    kk = min(int(kk), len(base))
    d = queries @ base.T
    d *= -2.0
    d += np.einsum("ij,ij->i", queries, queries)[:, None]
    d += np.einsum("ij,ij->i", base, base)[None, :]
    np.maximum(d, 0.0, out=d)
    dist = np.empty((len(queries), kk), dtype=np.float32)
    found = np.empty((len(queries), kk), dtype=np.int64)
    _smallest_rows(d, dist, found)
    return dist, found


def exact_rows(
    x32: np.ndarray, rows: np.ndarray, kk: int, block: int = 1024
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`exact_search`'s lists of the given ``rows`` only (the reference for
    :func:`recall_at_k`): ``len(rows) · n · d`` work instead of ``n² · d``."""
    rows = np.asarray(rows, dtype=np.int64)
    parts = [_topk_against(x32[rows[s : s + block]], x32, kk) for s in range(0, len(rows), block)]
    if not parts:
        kk = min(int(kk), len(x32))
        return np.empty((0, kk), np.float32), np.empty((0, kk), np.int64)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def hnsw_search(
    x32: np.ndarray,
    kk: int,
    *,
    m: int = 32,
    ef_construction: int = 80,
    ef_search: int = 128,
) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """Approximate ``kk`` nearest neighbours of every row (itself included) with faiss's
    ``IndexHNSWFlat``; also returns ``{"build_s", "query_s"}``.

    ``ef_search`` below ``kk`` is raised to ``kk`` (a beam narrower than the result cannot
    fill it).  Slots the graph leaves empty come back as ``-1`` with an infinite distance
    (callers refuse them, as for every search).
    """
    from time import perf_counter

    import faiss

    n, dim = x32.shape
    kk = min(int(kk), n)
    t0 = perf_counter()
    index = faiss.IndexHNSWFlat(dim, int(m))
    index.hnsw.efConstruction = int(ef_construction)
    index.add(np.ascontiguousarray(x32, dtype=np.float32))
    t1 = perf_counter()
    index.hnsw.efSearch = max(int(ef_search), kk)
    dist, found = index.search(x32, kk)
    t2 = perf_counter()
    found = found.astype(np.int64, copy=False)
    dist = np.where(found < 0, np.inf, dist).astype(np.float32, copy=False)
    return dist, found, {"build_s": t1 - t0, "query_s": t2 - t1}


@njit(cache=True, nogil=True, inline="always")
def _d2(X, a, c):  # pragma: no cover - compiled
    acc = np.float32(0.0)
    for f in range(X.shape[1]):
        t = X[a, f] - X[c, f]
        acc += t * t
    return acc


@njit(cache=True, nogil=True, inline="always")
def _offer(X, a, c, row_i, row_d, seen):  # pragma: no cover - compiled
    """Offer face ``c`` to ``a``'s ascending row; returns 1 when it entered."""
    if c < 0 or seen[c] == a:
        return 0
    seen[c] = a
    d = _d2(X, a, c)
    last = row_i.shape[0] - 1
    if d > row_d[last] or (d == row_d[last] and c > row_i[last]):
        return 0
    p = last  # insert (d, c), shifting the larger entries right
    while p > 0 and (row_d[p - 1] > d or (row_d[p - 1] == d and row_i[p - 1] > c)):
        row_d[p] = row_d[p - 1]
        row_i[p] = row_i[p - 1]
        p -= 1
    row_d[p] = d
    row_i[p] = c
    return 1


@njit(cache=True, nogil=True, parallel=True, fastmath=True)
def _refine_rows(X, found, dist, rev_ptr, rev_idx, width, n_chunks):  # pragma: no cover
    """One pass of NN-descent's local join on every row: the candidates of ``a`` are the
    first ``width`` results of each face among ``a``'s first ``width`` results and of each
    face that lists ``a`` (``rev``, CSR); a candidate's ``|x_a − x_c|²`` (float32) enters
    ``a``'s row if it beats the row's last.  Rows stay ascending by (distance, index); each
    row is built from the previous pass's lists only, so the result does not depend on the
    threads.  Returns the new lists and how many entries changed."""
    n, kk = found.shape
    new_i = found.copy()
    new_d = dist.copy()
    chunk = (n + n_chunks - 1) // n_chunks
    changed = np.zeros(n_chunks, dtype=np.int64)
    w = min(width, kk)
    for ch in prange(n_chunks):
        seen = np.full(n, -1, dtype=np.int32)
        for a in range(ch * chunk, min(n, (ch + 1) * chunk)):
            row_i = new_i[a]
            row_d = new_d[a]
            for j in range(kk):
                if row_i[j] >= 0:
                    seen[row_i[j]] = a
            for j in range(w + rev_ptr[a + 1] - rev_ptr[a]):
                b = found[a, j] if j < w else rev_idx[rev_ptr[a] + j - w]
                if b < 0:
                    continue
                for jj in range(w):
                    changed[ch] += _offer(X, a, found[b, jj], row_i, row_d, seen)
    return new_i, new_d, changed.sum()


def _reverse(found: np.ndarray, width: int, cap: int) -> tuple[np.ndarray, np.ndarray]:
    """CSR of who lists whom: row ``c`` holds (up to ``cap``) faces ``a`` with ``c`` among
    ``a``'s first ``width`` results, nearest-ranked first."""
    n = len(found)
    a = np.repeat(np.arange(n, dtype=np.int64), width)
    c = found[:, :width].ravel()
    rank = np.tile(np.arange(width), n)
    keep = (c >= 0) & (c != a)
    a, c, rank = a[keep], c[keep], rank[keep]
    order = np.lexsort((a, rank, c))
    a, c = a[order], c[order]
    start = np.searchsorted(c, np.arange(n + 1))
    pos = np.arange(len(c)) - start[c]
    keep = pos < cap
    return csr_indptr(c[keep], n), a[keep]


def refine_lists(
    x32: np.ndarray,
    dist: np.ndarray,
    found: np.ndarray,
    *,
    passes: int = 1,
    width: int = 0,
    reverse: int = 0,
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Improve approximate lists by NN-descent's local join (Dong, Moses & Li, WWW 2011):
    ``passes`` rounds in which each face is offered the lists of its listed neighbours (the
    first ``width`` of each, default all) and of up to ``reverse`` faces that list it.
    Exact lists come back unchanged (no candidate beats them); an approximate one can only
    gain nearer faces.  Returns the lists and the entries each pass changed (a pass that
    changes nothing ends the rounds)."""
    x32 = np.ascontiguousarray(x32, dtype=np.float32)
    found = np.ascontiguousarray(found, dtype=np.int64)
    dist = np.ascontiguousarray(dist, dtype=np.float32)
    width = int(width) or found.shape[1]
    counts = []
    for _ in range(int(passes)):
        if reverse:
            ptr, idx = _reverse(found, min(width, found.shape[1]), int(reverse))
        else:
            ptr, idx = np.zeros(len(found) + 1, dtype=np.int64), np.empty(0, dtype=np.int64)
        found, dist, changed = _refine_rows(x32, found, dist, ptr, idx, width, 16)
        counts.append(int(changed))
        if not changed:
            break
    return dist, found, counts


def recall_at_k(found: np.ndarray, exact: np.ndarray, k: int | None = None) -> float:
    """Mean over rows of ``|found[i, :k] ∩ exact[i, :k]| / k`` (as sets; ``-1`` never
    matches).  ``k`` defaults to the lists' width."""
    found = np.asarray(found)
    exact = np.asarray(exact)
    if found.shape[0] != exact.shape[0]:
        raise ValueError(f"{found.shape[0]} approximate rows for {exact.shape[0]} exact rows")
    k = int(min(found.shape[1], exact.shape[1]) if k is None else k)
    if k < 1 or k > found.shape[1] or k > exact.shape[1]:
        raise ValueError(f"k must be in 1..{min(found.shape[1], exact.shape[1])}, got {k}")
    if found.shape[0] == 0:
        return float("nan")
    a = found[:, :k].astype(np.int64)
    b = exact[:, :k].astype(np.int64)
    span = int(max(a.max(initial=0), b.max(initial=0))) + 2  # a key per (row, index)
    rows = np.arange(len(a), dtype=np.int64)[:, None] * span
    hit = np.isin(rows + b, np.where(a >= 0, rows + a, -1)) & (b >= 0)
    hits = hit.sum(axis=1)
    return float(hits.mean() / k)


def _shard_topk(queries: np.ndarray, shard: np.ndarray, offset: int, kk: int):
    dist, found = _topk_against(queries, shard, kk)
    found += offset
    return dist, found


def sharded_search(
    x32: np.ndarray,
    kk: int,
    client: Client,
    *,
    n_shards: int | None = None,
    query_block: int = 4096,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`exact_search` of ``x32`` with itself, sharded over the workers of ``client``.

    The rows are split into ``n_shards`` contiguous shards (default: one per worker), each
    scattered to one worker and kept there; the queries go out ``query_block`` rows at a
    time to every shard, each shard returns its own top-``kk`` (global indices), and the
    client keeps the ``kk`` smallest of the ``n_shards · kk`` candidates.  Candidates are
    concatenated shard by shard, each shard's ascending by (distance, index), so among equal
    distances the lower column is the lower global index: the merge's ties go to the lower
    index, as the single search's do, and the lists are identical to it.
    """
    x32 = np.ascontiguousarray(x32, dtype=np.float32)
    n = len(x32)
    kk = min(int(kk), n)
    workers = list(client.scheduler_info()["workers"])
    n_shards = max(1, min(n, int(n_shards or len(workers) or 1)))
    bounds = np.linspace(0, n, n_shards + 1).astype(np.int64)
    shards: list[tuple[Any, int]] = []
    for s in range(n_shards):
        lo, hi = int(bounds[s]), int(bounds[s + 1])
        where = [workers[s % len(workers)]] if workers else None
        shards.append((client.scatter(x32[lo:hi], workers=where), lo))
    log.info("sharded search: %d faces in %d shards on %d workers", n, n_shards, len(workers))
    dist = np.empty((n, kk), dtype=np.float32)
    found = np.empty((n, kk), dtype=np.int64)
    for start in range(0, n, query_block):
        stop = min(n, start + query_block)
        q = client.scatter(x32[start:stop], broadcast=True)
        futures = [
            client.submit(_shard_topk, q, shard, lo, kk, pure=False) for shard, lo in shards
        ]
        parts = client.gather(futures)
        cand_d = np.concatenate([p[0] for p in parts], axis=1)
        cand_i = np.concatenate([p[1] for p in parts], axis=1)
        cols = np.empty((stop - start, kk), dtype=np.int64)
        _smallest_rows(cand_d, dist[start:stop], cols)
        found[start:stop] = np.take_along_axis(cand_i, cols, axis=1)
    return dist, found
