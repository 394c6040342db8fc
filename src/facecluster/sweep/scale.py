"""Clustering at scale: the labelled faces of all of LFW hidden among ``N`` simulated faces.

Otto, Wang and Jain cluster LFW among 123 million distractor faces and score the pairwise
F-measure on LFW's labelled faces only (0.87 on LFW alone, 0.27 at 123 M).  Here, for each
``N`` of ``scale.distractors``:

* **the collection** — the labelled faces first, then ``N`` faces *simulated* from an
  identity model fitted to the same model's LFW embeddings
  (:mod:`facecluster.sweep.distractors`; keyed blocks, so each ``N``'s distractors are a
  prefix of the next one's);
* **the neighbour lists** — exact (:func:`~facecluster.cluster.search.exact_search`, or
  :func:`~facecluster.cluster.search.sharded_search` on a Dask client) up to
  ``search.exact_max`` faces, faiss HNSW above it; recall@k of the lists measured against
  exact search on ``search.recall_queries`` random faces; at ``N = baseline`` the exact
  search is also run and timed (the quadratic cost the approximate search is measured
  against), and the best rank-order setting is scored on its lists too;
* **rank-order** over its grid (every reading of ``scale.variants``; the all-LFW protocol's
  best ``(k, threshold)`` per reading always included), from one list per ``N``, and
  **Chinese whispers** on the ``k``-nearest-neighbour graph;
* **scores** on the labelled faces only (the distractors' labels are never used), **time**
  split into neighbour search and clustering, and the process's **peak memory** (resident
  set, sampled) while the ``N`` is processed.

Arrays in, tables out: :mod:`facecluster.stages.scale` reads the embeddings and writes them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from facecluster.config import ScaleSettings
from facecluster.seeds import random_state, rng
from facecluster.sweep.keys import canonical_params
from facecluster.sweep.otto import SCORES, VARIANTS

if TYPE_CHECKING:
    from distributed import Client

log = logging.getLogger(__name__)

__all__ = ["PeakMemory", "ScaleResult", "fitted_slope", "run_scale", "search_lists"]


@dataclass(frozen=True)
class ScaleResult:
    """What one scale run produced (the stage writes each table).

    ``grid``: one row per (distractors, method, variant, params, lists) with the scores of
    :data:`~facecluster.sweep.otto.SCORES` on the labelled faces and ``cluster_s``;
    ``sizes``: one row per (distractors, search) with the search's times, recall and the
    peak memory, ``role`` ``main`` (the lists the grid was scored on) or ``baseline`` (the
    exact search at ``scale.baseline``); ``check`` / ``check_summary``: the simulation
    check's distances and per-kind summary; ``facts``: the set, the model and how it was run.
    """

    grid: pd.DataFrame
    sizes: pd.DataFrame
    check: pd.DataFrame
    check_summary: pd.DataFrame
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def main_sizes(self) -> pd.DataFrame:
        """The rows of ``sizes`` whose lists the grid was scored on (one per size)."""
        return self.sizes[self.sizes["role"] == "main"]

    @property
    def baseline_sizes(self) -> pd.DataFrame:
        """The exact baseline search's row of ``sizes`` (none when it did not run)."""
        return self.sizes[self.sizes["role"] == "baseline"]


class PeakMemory:
    """The peak resident set size of this process while the block runs, sampled every
    ``interval`` seconds from ``/proc/self/statm`` (numpy, faiss and numba memory alike);
    where there is no ``/proc``, the process's lifetime peak (``ru_maxrss``)."""

    def __init__(self, interval: float = 0.02):
        self.interval = interval
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @staticmethod
    def rss_bytes() -> int:
        try:
            pages = int(Path("/proc/self/statm").read_text().split()[1])
            import os

            return pages * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            import resource

            return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak_bytes = max(self.peak_bytes, self.rss_bytes())

    def __enter__(self) -> PeakMemory:
        self.peak_bytes = self.rss_bytes()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak_bytes = max(self.peak_bytes, self.rss_bytes())


def fitted_slope(n: np.ndarray, seconds: np.ndarray) -> float:
    """Least-squares slope of ``log seconds`` against ``log n`` (the exponent of the
    cost's growth: 1 linear, 2 quadratic); NaN with fewer than two usable points."""
    n = np.asarray(n, dtype=np.float64)
    seconds = np.asarray(seconds, dtype=np.float64)
    ok = (n > 0) & (seconds > 0) & np.isfinite(seconds)
    if ok.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(n[ok]), np.log(seconds[ok]), 1)[0])


def search_lists(
    X: np.ndarray,
    k: int,
    settings: ScaleSettings,
    *,
    exact: bool,
    client: Client | None = None,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Neighbour lists (self first, then ``k`` others) and their squared distances of every
    row of ``X``: exact (sharded over ``client`` when given) or HNSW; with a record of the
    search (``search``, ``search_s``, ``build_s``, ``query_s``)."""
    from facecluster.cluster._validation import check_neighbours
    from facecluster.cluster.rank_order import _put_self_first
    from facecluster.cluster.search import (
        exact_search,
        hnsw_search,
        refine_lists,
        sharded_search,
    )

    kk = min(int(k) + 1, len(X))
    t0 = perf_counter()
    record: dict[str, Any] = {}
    if exact:
        if client is not None:
            dist, found = sharded_search(X, kk, client)
            record["search"] = "exact-sharded"
        else:
            dist, found = exact_search(X, kk)
            record["search"] = "exact"
    else:
        s = settings.search
        dist, found, times = hnsw_search(
            X, kk, m=s.hnsw_m, ef_construction=s.ef_construction, ef_search=s.ef_search
        )
        record.update(search="hnsw", **times)
        if s.refine_passes:
            t1 = perf_counter()
            dist, found, changed = refine_lists(X, dist, found, passes=s.refine_passes)
            record.update(refine_passes=len(changed), refine_s=perf_counter() - t1,
                          refine_changed=int(sum(changed)))  # fmt: skip
    check_neighbours(
        "scale", dist, found, f"{record['search']} search (raise scale.search.ef_search)"
    )
    lists = _put_self_first(found, kk - 1)
    d2 = _self_first_d2(found, dist, lists)
    record["search_s"] = perf_counter() - t0
    return lists, d2, record


def _self_first_d2(found: np.ndarray, dist: np.ndarray, lists: np.ndarray) -> np.ndarray:
    """The squared distances in the order of ``lists`` (:func:`_put_self_first`'s: the
    point at 0, then the other results in the search's order)."""
    is_self = found == np.arange(len(found))[:, None]
    has = is_self.any(axis=1)
    moved = np.take_along_axis(dist, np.argsort(~is_self, axis=1, kind="stable"), axis=1)
    width = lists.shape[1]
    d2 = np.zeros(lists.shape, dtype=np.float32)
    d2[has, 1:] = moved[has, 1:width]
    d2[~has, 1:] = dist[~has, : width - 1]
    return d2


def _scores(labels: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    from facecluster.metrics import evaluate

    scores = evaluate(labels, pred[: len(labels)])
    return {k: scores[k] for k in SCORES}


def _recall(X: np.ndarray, lists: np.ndarray, n: int, seed: int, queries: int) -> dict[str, Any]:
    """recall@k of ``lists`` (self excluded) against exact lists of random rows."""
    from facecluster.cluster.search import exact_rows, recall_at_k

    rows = np.sort(rng(seed, "scale", "recall", n).choice(len(X), min(queries, len(X)), False))
    k = lists.shape[1] - 1
    t0 = perf_counter()
    _, found = exact_rows(X, rows, k + 1)
    exact = _put_self_first_rows(found, rows, k)
    return {
        "recall_queries": int(len(rows)),
        "recall": recall_at_k(lists[rows, 1:], exact[:, 1:]),
        "recall_s": perf_counter() - t0,
    }


def _put_self_first_rows(found: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """The lists :func:`~facecluster.cluster.rank_order.top_k_lists` would hold for the
    query ``rows`` (each row: the query, then its ``k`` nearest others) from their results."""
    relabel = np.where(found == rows[:, None], -2, found)  # self -> a marker
    lists = np.empty((len(rows), k + 1), dtype=np.int64)
    lists[:, 0] = rows
    for i in range(len(rows)):
        others = relabel[i][relabel[i] != -2][:k]
        lists[i, 1 : 1 + len(others)] = others
        lists[i, 1 + len(others) :] = -1
    return lists


def run_scale(
    X: np.ndarray,
    labels: np.ndarray,
    settings: ScaleSettings,
    best: Mapping[str, Mapping[str, Any]],
    seed: int,
    *,
    key: tuple = (),
    client: Client | None = None,
) -> ScaleResult:
    """Run the scale protocol (module notes) on the labelled faces ``X`` (identities
    ``labels``).

    ``best``: the all-LFW protocol's best settings, ``{"rank_order_<variant>": {"k", "threshold"},
    "chinese_whispers": {"threshold"}}`` (a missing entry: the grid only).  ``key``: the
    keyed-stream prefix of the distractors (the stage passes the model's name).
    """
    from facecluster.cluster.chinese_whispers import (
        chinese_whispers_from_lists,
        list_distances,
    )
    from facecluster.cluster.rank_order import rank_order_from_lists
    from facecluster.sweep.distractors import (
        fit_identity_model,
        generate_distractors,
        simulation_check,
    )

    X = np.ascontiguousarray(X, dtype=np.float32)
    labels = np.asarray(labels).astype(str)
    n_lab = len(X)
    grid = settings.rank_order
    assert grid is not None  # Params refuses a null rank_order
    ro_best = {
        v: (int(b["k"]), float(b["threshold"]))
        for v in settings.variants
        if (b := best.get(f"rank_order_{v}"))
    }
    ks = sorted({*grid.k, *(kb for kb, _ in ro_best.values())})
    thresholds = sorted({*grid.threshold, *(tb for _, tb in ro_best.values())})
    cw = settings.chinese_whispers
    cw_ts = sorted({*(cw.threshold if cw else ())})
    if cw and "chinese_whispers" in best:
        cw_ts = sorted({*cw_ts, float(best["chinese_whispers"]["threshold"])})
    k_list = max([*ks, cw.k if cw else 0])

    t0 = perf_counter()
    check, check_summary = simulation_check(
        X, labels, seed, settings.held_out, key=(*key,), components=settings.components
    )
    model = fit_identity_model(
        X, labels, components=settings.components, seed=random_state(seed, *key, "fit")
    )
    log.info("scale: simulation model and check in %.1f s", perf_counter() - t0)

    grid_rows: list[dict[str, Any]] = []
    size_rows: list[dict[str, Any]] = []
    for n_d in settings.distractors:
        t0 = perf_counter()
        D, _ = generate_distractors(model, n_d, seed, (*key, "distractors"))
        Xall = np.ascontiguousarray(np.vstack([X, D]))
        del D
        gen_s = perf_counter() - t0
        n = len(Xall)
        exact = n <= settings.search.exact_max
        base = {"distractors": int(n_d), "faces": int(n)}
        with PeakMemory() as mem:
            lists, d2, rec = search_lists(Xall, k_list, settings, exact=exact, client=client)
            rec.update(_recall(Xall, lists, n_d, seed, settings.search.recall_queries))
            log.info(
                "scale N=%d: %s search of %d faces in %.1f s, recall@%d %.4f",
                n_d, rec["search"], n, rec["search_s"], lists.shape[1] - 1, rec["recall"],
            )  # fmt: skip
            for variant in settings.variants:
                mutual = VARIANTS[variant]
                c0 = perf_counter()
                by_pair = rank_order_from_lists(lists, ks, thresholds, mutual=mutual)
                log.info("scale N=%d rank-order %s: grid in %.1f s", n_d, variant,
                         perf_counter() - c0)  # fmt: skip
                timed = {}
                if variant in ro_best:  # the best setting alone (after the grid, warm): its time
                    c0 = perf_counter()
                    rank_order_from_lists(lists, [ro_best[variant][0]], [ro_best[variant][1]],
                                          mutual=mutual)  # fmt: skip
                    timed[ro_best[variant]] = perf_counter() - c0
                for (k, t), lab in by_pair.items():
                    grid_rows.append(_row(
                        base, "rank_order", variant, {"k": int(k), "threshold": float(t)},
                        rec["search"], "best" if (k, t) in timed else "grid", labels, lab,
                        timed.get((k, t), np.nan),
                    ))  # fmt: skip
            if cw:
                c0 = perf_counter()
                sub = np.ascontiguousarray(lists[:, 1 : cw.k + 1])
                cw_d2 = list_distances(Xall, sub)
                graph_s = perf_counter() - c0
                best_t = best.get("chinese_whispers", {}).get("threshold")
                for t in cw_ts:
                    c0 = perf_counter()
                    lab = chinese_whispers_from_lists(
                        sub,
                        cw_d2,
                        [t],
                        n_iter=cw.n_iter,
                        random_state=random_state(seed, "scale", "chinese_whispers"),
                    )[0]
                    grid_rows.append(_row(
                        base, "chinese_whispers", "",
                        {"k": cw.k, "threshold": float(t), "n_iter": cw.n_iter}, rec["search"],
                        "best" if best_t is not None and t == best_t else "grid", labels, lab,
                        graph_s + perf_counter() - c0,
                    ))  # fmt: skip
        size_rows.append({**base, **rec, "role": "main", "generate_s": gen_s,
                          "peak_rss_bytes": int(mem.peak_bytes)})  # fmt: skip
        if settings.baseline is not None and n_d == settings.baseline and not exact:
            rows, size_row = _baseline(Xall, labels, base, ro_best, settings, client)
            grid_rows += rows
            size_rows.append(size_row)
        del Xall, lists, d2
    facts = {
        "labelled_faces": int(n_lab),
        "identities": int(len(set(labels.tolist()))),
        "dim": int(X.shape[1]),
        "check_identities": int(check_summary.attrs.get("identities", 0)),
        "check_faces": int(check_summary.attrs.get("faces", 0)),
        "distractor_identity_sizes": "drawn from the labelled set's identity sizes",
        "components": settings.components,
        "exact_max": settings.search.exact_max,
        "hnsw_m": settings.search.hnsw_m,
        "ef_search": settings.search.ef_search,
        "refine_passes": settings.search.refine_passes,
    }
    return ScaleResult(
        pd.DataFrame(grid_rows), pd.DataFrame(size_rows), check, check_summary, facts
    )


def _row(
    base: Mapping[str, int],
    method: str,
    variant: str,
    point: Mapping[str, Any],
    lists: str,
    role: str,
    labels: np.ndarray,
    pred: np.ndarray,
    cluster_s: float,
) -> dict[str, Any]:
    """One row of ``grid``: a clustering ``pred`` of the whole collection at ``point``,
    scored on the labelled faces."""
    return {
        **base,
        "method": method,
        "variant": variant,
        "params": canonical_params(dict(point)),
        "k": int(point["k"]),
        "threshold": float(point["threshold"]),
        "lists": lists,
        "role": role,
        **_scores(labels, pred),
        "clusters_all": int(pred.max()) + 1,
        "cluster_s": cluster_s,
    }


def _baseline(
    Xall: np.ndarray,
    labels: np.ndarray,
    base: Mapping[str, int],
    ro_best: Mapping[str, tuple[int, float]],
    settings: ScaleSettings,
    client: Client | None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The exact search at the baseline ``N``: the best rank-order settings scored on its
    lists (rows of ``grid``, ``role`` baseline) and its time (a row of ``sizes``)."""
    from facecluster.cluster.rank_order import rank_order_from_lists

    rows = []
    with PeakMemory() as mem:
        k = max([kb for kb, _ in ro_best.values()], default=max(settings.rank_order.k))
        lists, _, rec = search_lists(Xall, k, settings, exact=True, client=client)
        log.info(
            "scale N=%d: exact baseline search in %.1f s", base["distractors"], rec["search_s"]
        )
        for variant, (kb, tb) in ro_best.items():
            c0 = perf_counter()
            lab = rank_order_from_lists(lists, [kb], [tb], mutual=VARIANTS[variant])[(kb, tb)]
            rows.append(_row(base, "rank_order", variant, {"k": kb, "threshold": tb},
                             rec["search"], "baseline", labels, lab, perf_counter() - c0))  # fmt: skip
    size_row = {**base, **rec, "recall": 1.0, "role": "baseline",
                "peak_rss_bytes": int(mem.peak_bytes)}  # fmt: skip
    return rows, size_row
