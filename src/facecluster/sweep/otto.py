"""Otto et al.'s protocol: one clustering of *all* faces, scored by pairwise F1, timed.

Otto, Wang and Jain (TPAMI 2018) and the Baydur & Erdoğan reproduction cluster all 13,233
faces of LFW at once — no subsets, 4,069 of the 5,749 people with a single image — and report
the pairwise F-measure and the clustering run time; the reproduction averages 5 runs.  Here:

* **orders** — the faces are clustered ``runs`` times, each time in an order drawn from the
  keyed stream ``("otto", "order", r)`` (:func:`shuffled_orders`); labels are mapped back to
  the input order before scoring, so a difference between runs is the algorithm's
  dependence on the order (ties in the neighbour search, nothing else for rank-order), shown
  as ``ari_to_first`` (agreement of each run's partition with the first one's);
* **rank-order, both readings** — ``literal`` (the formula as the paper writes it) and
  ``mutual`` (the public implementation's: mutual neighbours only, ``D_m <= t``), every
  ``(k, threshold)`` of the grid from one exact neighbour search per order
  (:func:`facecluster.cluster.rank_order.rank_order_from_lists`);
* **the methods without K** (DBSCAN, mean-shift, Chinese whispers) over their grids on the
  first order, through the sweep's registry (the same code as every sweep);
* **run time** — for each reading's best ``(k, threshold)`` (highest mean pairwise F1) and for
  ``timing_k`` at its best threshold, the neighbour search and the clustering are timed apart
  on every order (:func:`time_rank_order`); the other methods' best settings are timed whole
  (their neighbour graph is part of the method);
* **neighbourhoods** — how many of a face's ``k`` nearest neighbours share its identity, and
  how many of its identity's faces its list holds, for every ``k`` of the grid
  (:func:`neighbour_purity`): what relates the best ``k`` to the identity sizes.

Arrays in, tables out: :mod:`facecluster.stages.otto` reads the embeddings and writes them.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

import numpy as np
import pandas as pd

from facecluster.config import OttoSettings
from facecluster.seeds import random_state, rng
from facecluster.sweep.keys import canonical_params

log = logging.getLogger(__name__)

__all__ = [
    "VARIANTS",
    "OttoResult",
    "best_points",
    "identity_facts",
    "point_means",
    "timed_points",
    "neighbour_purity",
    "run_protocol",
    "shuffled_orders",
    "time_rank_order",
]

#: ``mutual`` flag of the estimator for each reading.
VARIANTS: dict[str, bool] = {"literal": False, "mutual": True}
#: The scores kept per clustering (pairwise first: the protocol's own measure).
SCORES = (
    "pairwise_precision",
    "pairwise_recall",
    "pairwise_f1",
    "bcubed_f1",
    "ari",
    "nmi",
    "n_clusters",
    "n_true_clusters",
    "noise_fraction",
)


@dataclass(frozen=True)
class OttoResult:
    """What one protocol run produced (the stage writes each table).

    ``grid``: one row per (method, variant, params, run) with the scores of :data:`SCORES`
    and ``ari_to_first``; ``timing``: one row per timed (method, variant, params, run) with
    ``search_s``, ``cluster_s``, ``total_s`` and ``role`` (``best`` or ``timing_k``);
    ``neighbours``: one row per ``k``; ``facts``: the set's sizes and how it was run.
    """

    grid: pd.DataFrame
    timing: pd.DataFrame
    neighbours: pd.DataFrame
    facts: dict[str, Any] = field(default_factory=dict)


def shuffled_orders(n: int, runs: int, seed: int) -> list[np.ndarray]:
    """``runs`` permutations of ``range(n)``, each from its own keyed stream."""
    return [rng(seed, "otto", "order", r).permutation(n) for r in range(runs)]


def identity_facts(labels: np.ndarray) -> dict[str, Any]:
    """Sizes of the identities: counts, singletons and the size a *face* typically has.

    ``face_identity_size_median`` weights each identity by its faces (the size of the
    identity a random face belongs to): on LFW it is far above the median identity's 1.
    """
    sizes = np.array(sorted(Counter(labels.tolist()).values()), dtype=np.int64)
    per_face = np.repeat(sizes, sizes)
    return {
        "faces": int(labels.size),
        "identities": int(sizes.size),
        "singletons": int((sizes == 1).sum()),
        "identity_size_median": float(np.median(sizes)),
        "identity_size_mean": float(sizes.mean()),
        "identity_size_max": int(sizes.max()),
        "face_identity_size_median": float(np.median(per_face)),
        "face_identity_size_p90": float(np.percentile(per_face, 90)),
    }


def neighbour_purity(lists: np.ndarray, labels: np.ndarray, ks: Sequence[int]) -> pd.DataFrame:
    """For each ``k``: the share of a face's ``k`` neighbours of its own identity
    (``precision``) and the share of its identity's other faces in its list (``recall``),
    averaged over the faces that have another face of their identity.

    ``lists`` are :func:`~facecluster.cluster.rank_order.top_k_lists` rows (self first) of
    the faces whose identities ``labels`` gives, in the same order.
    """
    _, codes = np.unique(labels, return_inverse=True)
    mates = np.bincount(codes)[codes] - 1
    has = mates > 0
    width = lists.shape[1] - 1
    same = codes[lists[:, 1:]] == codes[:, None]
    hits = np.cumsum(same, axis=1)
    rows = []
    for k in sorted(set(ks)):
        kk = min(int(k), width)
        found = hits[:, kk - 1]
        rows.append(
            {
                "k": int(k),
                "precision": float((found[has] / kk).mean()) if has.any() else float("nan"),
                "recall": float((found[has] / mates[has]).mean()) if has.any() else float("nan"),
                "faces_with_mates": int(has.sum()),
                "mates_within_k": float((mates[has] <= kk).mean()) if has.any() else float("nan"),
            }
        )
    return pd.DataFrame(rows)


def _scores(labels: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    from facecluster.metrics import evaluate

    scores = evaluate(labels, pred)
    return {k: scores[k] for k in SCORES}


def _rank_order_rows(
    X: np.ndarray,
    labels: np.ndarray,
    orders: Sequence[np.ndarray],
    settings: OttoSettings,
) -> tuple[list[dict[str, Any]], np.ndarray]:
    """Grid rows of rank-order, every variant and order; the first order's lists."""
    from facecluster.cluster.rank_order import rank_order_from_lists, top_k_lists
    from facecluster.metrics import adjusted_rand

    grid = settings.rank_order
    assert grid is not None  # Params refuses a null rank_order
    ks, thresholds = list(grid.k), list(grid.threshold)
    first: dict[tuple[str, int, float], np.ndarray] = {}
    rows: list[dict[str, Any]] = []
    first_lists = np.empty((0, 0), dtype=np.int64)
    for run, order in enumerate(orders):
        t0 = perf_counter()
        lists = top_k_lists(X[order], max(ks))
        search_s = perf_counter() - t0
        if run == 0:
            first_lists = order[lists]  # back to input indices, rows in the order's order
            first_lists = first_lists[np.argsort(order)]
        for variant in settings.variants:
            t0 = perf_counter()
            by_pair = rank_order_from_lists(lists, ks, thresholds, mutual=VARIANTS[variant])
            log.info(
                "otto run %d, rank-order %s: search %.1f s, %d settings %.1f s",
                run, variant, search_s, len(by_pair), perf_counter() - t0,
            )  # fmt: skip
            for (k, t), lab in by_pair.items():
                pred = np.empty_like(lab)
                pred[order] = lab
                key = (variant, k, t)
                if run == 0:
                    first[key] = pred
                agree = 1.0 if run == 0 else adjusted_rand(first[key], pred)
                point = {"k": int(k), "threshold": float(t)}
                rows.append(
                    {
                        "method": "rank_order",
                        "variant": variant,
                        "params": canonical_params(point),
                        **point,
                        "run": run,
                        **_scores(labels, pred),
                        "ari_to_first": agree,
                    }
                )
    return rows, first_lists


def _other_rows(
    X: np.ndarray, labels: np.ndarray, order: np.ndarray, settings: OttoSettings, seed: int
) -> list[dict[str, Any]]:
    """Grid rows of the methods without K, on one order (``run`` 0)."""
    from facecluster.cluster.registry import get_method

    rows: list[dict[str, Any]] = []
    Xp = X[order]
    for method, grid in settings.other_grids().items():
        spec = get_method(method)
        points = spec.grid_points(grid)
        t0 = perf_counter()
        labs, _ = spec.run_grid_timed(Xp, points, random_state=random_state(seed, "otto", method))
        log.info("otto %s: %d settings in %.1f s", method, len(points), perf_counter() - t0)
        for point, lab in zip(points, labs, strict=True):
            pred = np.empty_like(lab)
            pred[order] = lab
            rows.append(
                {
                    "method": method,
                    "variant": "",
                    "params": canonical_params(point),
                    "k": np.nan,
                    "threshold": np.nan,
                    "run": 0,
                    **_scores(labels, pred),
                    "ari_to_first": 1.0,
                }
            )
    return rows


_POINT = ["method", "variant", "params"]


def point_means(grid: pd.DataFrame, score: str = "pairwise_f1") -> pd.DataFrame:
    """One row per (method, variant, params) in grid order: ``k``, ``threshold``, the mean
    of every score over the runs, the runs' range of ``score`` (``<score>_min`` /
    ``<score>_max``) and the number of ``runs``."""
    numeric = [c for c in (*SCORES, "ari_to_first") if c in grid]
    by = grid.groupby(_POINT, sort=False)
    spread = by[score].agg(["min", "max"])
    spread.columns = [f"{score}_min", f"{score}_max"]
    parts = [by[["k", "threshold"]].first(), by[numeric].mean(), spread, by["run"].nunique()]
    return pd.concat(parts, axis=1).rename(columns={"run": "runs"}).reset_index()


def best_points(grid: pd.DataFrame, score: str = "pairwise_f1") -> pd.DataFrame:
    """One row per (method, variant): the params with the highest mean ``score`` over the
    runs (ties: the first in grid order), with the columns of :func:`point_means`."""
    table = point_means(grid, score)
    table["_pos"] = np.arange(len(table))
    table = table.sort_values([score, "_pos"], ascending=[False, True], kind="stable")
    best = table.groupby(["method", "variant"], sort=False).head(1)
    return best.drop(columns="_pos").sort_values(["method", "variant"]).reset_index(drop=True)


def timed_points(result: OttoResult) -> pd.DataFrame:
    """One row per timed setting and ``role`` (``best``, ``timing_k``): the columns of
    :func:`point_means` and the mean ``search_s`` / ``cluster_s`` / ``total_s`` over every
    timed run of that setting — what the stage's metrics and the report both show."""
    times = result.timing.groupby(_POINT, sort=False)[["search_s", "cluster_s", "total_s"]]
    roles = result.timing[[*_POINT, "role"]].drop_duplicates()
    return roles.merge(times.mean().reset_index(), on=_POINT).merge(
        point_means(result.grid), on=_POINT
    )


def time_rank_order(
    X: np.ndarray, k: int, threshold: float, *, mutual: bool
) -> tuple[np.ndarray, float, float]:
    """One rank-order clustering of ``X``, timed: ``(labels, search_s, cluster_s)``."""
    from facecluster.cluster.rank_order import rank_order_from_lists, top_k_lists

    t0 = perf_counter()
    lists = top_k_lists(X, k)
    t1 = perf_counter()
    labels = rank_order_from_lists(lists, [k], [threshold], mutual=mutual)[(k, threshold)]
    return labels, t1 - t0, perf_counter() - t1


def _timing_rows(
    X: np.ndarray,
    labels: np.ndarray,
    orders: Sequence[np.ndarray],
    grid: pd.DataFrame,
    settings: OttoSettings,
    seed: int,
) -> list[dict[str, Any]]:
    from facecluster.cluster.registry import get_method

    best = best_points(grid)
    timed: list[tuple[str, str, Mapping[str, Any], str]] = []
    ro = grid[grid["method"] == "rank_order"]
    for variant in settings.variants:
        row = best[(best["method"] == "rank_order") & (best["variant"] == variant)].iloc[0]
        timed.append(
            ("rank_order", variant, {"k": int(row.k), "threshold": row.threshold}, "best")
        )
        at_k = ro[(ro["variant"] == variant) & (ro["k"] == settings.timing_k)]
        if len(at_k):
            t = best_points(at_k).iloc[0].threshold
            timed.append(
                ("rank_order", variant, {"k": settings.timing_k, "threshold": t}, "timing_k")
            )
    for row in best[best["method"] != "rank_order"].itertuples():
        timed.append((row.method, "", json.loads(row.params), "best"))
    rows = []
    for method, variant, point, role in timed:
        for run, order in enumerate(orders if method == "rank_order" else orders[:1]):
            Xp = X[order]
            if method == "rank_order":
                lab, search_s, cluster_s = time_rank_order(
                    Xp, int(point["k"]), float(point["threshold"]), mutual=VARIANTS[variant]
                )
            else:
                spec = get_method(method)
                t0 = perf_counter()
                lab = spec.run_grid(
                    Xp, [dict(point)], random_state=random_state(seed, "otto", method)
                )[0]
                search_s, cluster_s = float("nan"), perf_counter() - t0
            pred = np.empty_like(lab)
            pred[order] = lab
            rows.append(
                {
                    "method": method,
                    "variant": variant,
                    "params": canonical_params(point),
                    "role": role,
                    "run": run,
                    "search_s": search_s,
                    "cluster_s": cluster_s,
                    "total_s": np.nansum([search_s, cluster_s]),
                    "pairwise_f1": _scores(labels, pred)["pairwise_f1"],
                }
            )
    return rows


def run_protocol(
    X: np.ndarray, labels: np.ndarray, settings: OttoSettings, seed: int
) -> OttoResult:
    """Run the protocol on every face ``X`` (identities ``labels``); see the module notes."""
    from threadpoolctl import threadpool_info

    X = np.ascontiguousarray(X, dtype=np.float32)
    labels = np.asarray(labels).astype(str)
    if X.ndim != 2 or len(X) != len(labels):
        raise ValueError(f"X {X.shape} and labels {labels.shape} do not match")
    if len(X) < 3:
        raise ValueError(f"the protocol needs at least 3 faces, got {len(X)}")
    orders = shuffled_orders(len(X), settings.runs, seed)
    rows, first_lists = _rank_order_rows(X, labels, orders, settings)
    rows += _other_rows(X, labels, orders[0], settings, seed)
    grid = pd.DataFrame(rows)
    assert settings.rank_order is not None
    neighbours = neighbour_purity(first_lists, labels, settings.rank_order.k)
    timing = pd.DataFrame(_timing_rows(X, labels, orders, grid, settings, seed))
    facts = {
        **identity_facts(labels),
        "dim": int(X.shape[1]),
        "runs": settings.runs,
        "threads": max(  # the BLAS threads of the search (numpy's OpenBLAS)
            (p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"),
            default=os.cpu_count() or 1,
        ),
    }
    return OttoResult(grid, timing, neighbours, facts)
