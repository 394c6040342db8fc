"""The one explicit registry of clustering methods that drives the sweep.

``ALGORITHMS`` maps a method name (the key used in ``params.yaml`` under ``sweep.methods``)
to a :class:`MethodSpec`.  A spec knows

* its **grid model**, summary and whether it **needs K** (the true number of identities in
  the subset), from :data:`facecluster.cluster.grids.GRIDS` (the grid models live there so
  that the configuration can load them without the algorithms);
* how to **run a whole grid** on one subset, sharing work between grid points where the
  algorithm allows it (one minimum spanning tree for every DBSCAN eps, one neighbour search
  for every rank-order (k, threshold), one neighbour graph for every Chinese-whispers
  threshold, one pass of shared work for the mean-shift bandwidths, one distance matrix for
  the HDBSCAN grid and one tree per ``min_samples``).

Every distance below is euclidean on L2-normalised embeddings (so in [0, 2]); FINCH's is
cosine, which orders neighbours the same way on such vectors.

Runtime attribution
-------------------
:meth:`MethodSpec.run_grid_timed` returns a fit time per grid point.  Methods fitted once per
grid point (k-means, Ward, spectral, FINCH) get their own wall time.  Where one call of a
grid function serves several points (DBSCAN, HDBSCAN, mean-shift, rank-order, Chinese
whispers), the wall time of that call is divided **equally** among the points it served: the
sum over the grid is the true cost of the grid, and the per-point figure is the amortised
cost of one setting.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from time import perf_counter
from typing import Any

import numpy as np
from pydantic import ValidationError

from facecluster.cluster._validation import ConstraintError
from facecluster.cluster.grids import (
    GRIDS,
    AgglomerativeGrid,
    ChineseWhispersGrid,
    DbscanGrid,
    FinchGrid,
    FinchKGrid,
    GridPoint,
    HdbscanGrid,
    KMeansGrid,
    MeanShiftGrid,
    MethodGrid,
    RankOrderGrid,
    SpectralGrid,
)

__all__ = [
    "ALGORITHMS",
    "AgglomerativeGrid",
    "ChineseWhispersGrid",
    "DbscanGrid",
    "FinchGrid",
    "FinchKGrid",
    "GridPoint",
    "HdbscanGrid",
    "KMeansGrid",
    "MeanShiftGrid",
    "MethodGrid",
    "MethodSpec",
    "RankOrderGrid",
    "SpectralGrid",
    "get_method",
]

Labels = np.ndarray
#: ``(X, grid_points, n_clusters, random_state) -> [(labels, seconds), ...]`` in point order.
Runner = Callable[[np.ndarray, Sequence[GridPoint], "int | None", "int | None"], list]


# --------------------------------------------------------------------------------------------
# runners (the algorithm modules are imported lazily: loading the config stays cheap)
# --------------------------------------------------------------------------------------------
def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = perf_counter()
    out = fn()
    return out, perf_counter() - t0


def _groups(points: Sequence[GridPoint], axis: str) -> dict[tuple, list[int]]:
    """Point indices grouped by every parameter except ``axis`` (one grid call per group)."""
    groups: dict[tuple, list[int]] = {}
    for i, p in enumerate(points):
        key = tuple(sorted((k, v) for k, v in p.items() if k != axis))
        groups.setdefault(key, []).append(i)
    return groups


def _run_shared(
    points: Sequence[GridPoint], axis: str, call: Callable[[list[Any], dict[str, Any]], list]
) -> list[tuple[Labels, float]]:
    """Run ``call(axis_values, fixed)`` once per group; its time is split equally."""
    out: list[Any] = [None] * len(points)
    for key, idx in _groups(points, axis).items():
        values = [points[i][axis] for i in idx]
        labels, seconds = _timed(lambda values=values, key=key: call(values, dict(key)))
        for i, lab in zip(idx, labels, strict=True):
            out[i] = (lab, seconds / len(idx))
    return out


def _run_kmeans(X, points, n_clusters, random_state):
    from facecluster.cluster.kmeans import FastKMeans

    return [
        _timed(
            lambda p=p: FastKMeans(
                n_clusters=n_clusters, n_init=p["n_init"], random_state=random_state
            ).fit_predict(X)
        )
        for p in points
    ]


def _run_agglomerative(X, points, n_clusters, random_state):
    from facecluster.cluster.agglomerative import WardClustering

    return [_timed(lambda: WardClustering(n_clusters=n_clusters).fit_predict(X)) for _ in points]


def _run_spectral(X, points, n_clusters, random_state):
    from facecluster.cluster.spectral import FastSpectralClustering

    return [
        _timed(
            lambda p=p: FastSpectralClustering(
                n_clusters=n_clusters,
                gamma=p["gamma"],
                n_init=p["n_init"],
                random_state=random_state,
            ).fit_predict(X)
        )
        for p in points
    ]


def _run_dbscan(X, points, n_clusters, random_state):
    from facecluster.cluster.dbscan import dbscan_grid

    return _run_shared(
        points,
        "eps",
        lambda eps, fixed: dbscan_grid(X, eps, min_samples=fixed["min_samples"]),
    )


def _run_hdbscan(X, points, n_clusters, random_state):
    from facecluster.cluster.hdbscan import hdbscan_grid

    # One distance matrix serves the grid, one tree every min_cluster_size of a min_samples.
    pts = [{"pair": (p["min_cluster_size"], p["min_samples"])} for p in points]  # grid order
    return _run_shared(pts, "pair", lambda pairs, fixed: hdbscan_grid(X, pairs))


def _run_finch(X, points, n_clusters, random_state):
    from facecluster.cluster.finch import FINCH

    return [_timed(lambda: FINCH().fit_predict(X)) for _ in points]


def _run_finch_k(X, points, n_clusters, random_state):
    from facecluster.cluster.finch import FINCH

    return [_timed(lambda: FINCH(n_clusters=n_clusters).fit_predict(X)) for _ in points]


def _run_meanshift(X, points, n_clusters, random_state):
    from facecluster.cluster.meanshift import mean_shift_grid

    return _run_shared(points, "bandwidth", lambda bw, fixed: mean_shift_grid(X, bw))


def _run_rank_order(X, points, n_clusters, random_state):
    from facecluster.cluster.rank_order import rank_order_grid

    def call(pairs: list[tuple[int, float]], fixed: dict[str, Any]) -> list:
        ks = sorted({k for k, _ in pairs})
        thresholds = sorted({t for _, t in pairs})
        by_pair = rank_order_grid(X, ks, thresholds)
        return [by_pair[(k, t)] for k, t in pairs]

    # One neighbour search (for the largest k) serves every (k, threshold).
    pts = [{"pair": (p["k"], p["threshold"])} for p in points]
    return _run_shared(pts, "pair", call)


def _run_chinese_whispers(X, points, n_clusters, random_state):
    from facecluster.cluster.chinese_whispers import chinese_whispers_grid

    return _run_shared(
        points,
        "threshold",
        lambda th, fixed: chinese_whispers_grid(
            X, th, n_iter=fixed["n_iter"], random_state=random_state
        ),
    )


# --------------------------------------------------------------------------------------------
# the registry
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MethodSpec:
    """One clustering method of the sweep.

    Attributes
    ----------
    name : str
        The registry key (also the ``params.yaml`` key under ``sweep.methods``).
    grid : type[MethodGrid]
        Pydantic model of its settings; its defaults are the default grid.
    needs_k : bool
        Whether it is given K, the true number of identities in the subset.
    runner : callable
        ``(X, points, n_clusters, random_state) -> [(labels, seconds), ...]``.
    modules : tuple of str
        Every module whose code its computation runs (implementation, kernels, shared
        helpers, validation, grid model); their source is part of the sweep's checkpoint
        key, so an edit invalidates cached results.
    summary : str
        One line for reports.
    """

    name: str
    grid: type[MethodGrid]
    needs_k: bool
    runner: Runner
    modules: tuple[str, ...]
    summary: str

    @property
    def param_names(self) -> tuple[str, ...]:
        """Every parameter of a grid point of this method."""
        return self.grid.param_names()

    def default_grid(self) -> MethodGrid:
        """The study's default settings (the report's, where it has them)."""
        return self.grid()

    def validate_grid(self, data: Mapping[str, Any] | MethodGrid | None = None) -> MethodGrid:
        """Validate a settings mapping (``None``: defaults); raises ``ValueError`` naming keys."""
        if isinstance(data, self.grid):
            return data
        try:
            return self.grid.model_validate(dict(data or {}))
        except ValidationError as exc:
            raise ValueError(_one_line(exc, self.name)) from None

    def grid_points(self, grid: Mapping[str, Any] | MethodGrid | None = None) -> list[GridPoint]:
        """The grid points of ``grid`` (default grid when ``None``)."""
        return self.validate_grid(grid).points()

    def run_grid(
        self,
        X: np.ndarray,
        grid_points: Sequence[GridPoint],
        *,
        n_clusters: int | None = None,
        random_state: int | None = None,
    ) -> list[Labels]:
        """Cluster ``X`` at every grid point; one label array (int64, noise ``-1``) per point.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            Embeddings, euclidean on L2-normalised vectors.
        grid_points : sequence of dict
            Each with every parameter of :attr:`param_names` (see :meth:`grid_points`).
        n_clusters : int, optional
            K, required when :attr:`needs_k`; ``1 <= K <= n_samples``.
        random_state : int, optional
            Seed for the randomised methods (k-means, spectral, Chinese whispers).
        """
        return self.run_grid_timed(
            X, grid_points, n_clusters=n_clusters, random_state=random_state
        )[0]

    def run_grid_timed(
        self,
        X: np.ndarray,
        grid_points: Sequence[GridPoint],
        *,
        n_clusters: int | None = None,
        random_state: int | None = None,
    ) -> tuple[list[Labels], list[float]]:
        """Like :meth:`run_grid`, also returning the fit seconds of each point.

        Shared work (one tree, one neighbour search) is split equally among the points that
        used it; see the module docstring.
        """
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[0] < 1:
            raise ValueError(f"{self.name}: X must be a non-empty 2-D array, got {X.shape}")
        n = X.shape[0]
        if self.needs_k:
            if n_clusters is None:
                raise ValueError(f"{self.name} needs n_clusters (K), got None")
            if not 1 <= int(n_clusters) <= n:
                raise ValueError(
                    f"{self.name}: K = {n_clusters} clusters requested but the subset has only "
                    f"{n} faces (K must be between 1 and the number of faces)"
                )
            n_clusters = int(n_clusters)
        points = [self._check_point(p) for p in grid_points]
        if not points:
            return [], []
        results = self.runner(X, points, n_clusters, random_state)
        labels: list[Labels] = []
        seconds: list[float] = []
        for p, (lab, sec) in zip(points, results, strict=True):
            lab = np.asarray(lab, dtype=np.int64)
            if lab.shape != (n,):
                raise RuntimeError(
                    f"{self.name} at {p} returned labels of shape {lab.shape}, expected ({n},)"
                )
            labels.append(lab)
            seconds.append(float(sec))
        return labels, seconds

    def _check_point(self, point: Mapping[str, Any]) -> GridPoint:
        names = set(self.param_names)
        unknown = sorted(set(point) - names)
        missing = sorted(names - set(point))
        if unknown or missing:
            raise ValueError(
                f"{self.name} grid point {dict(point)}: "
                + (f"unknown parameter(s) {unknown}; " if unknown else "")
                + (f"missing parameter(s) {missing}; " if missing else "")
                + f"parameters are {list(self.param_names)}"
            )
        grid = self.validate_grid(point)  # range checks; scalars become one-value axes
        (only,) = grid.points()
        return only


def _one_line(exc: ValidationError, prefix: str) -> str:
    parts = []
    for err in exc.errors():
        key = ".".join([prefix, *(str(p) for p in err["loc"])])
        cause = err.get("ctx", {}).get("error")
        if err["type"] == "extra_forbidden":
            parts.append(f"unknown key '{key}'")
        elif isinstance(cause, ConstraintError):
            parts.append(f"'{key}' {cause}")  # '<key>' must be ..., got ...
        else:
            parts.append(f"'{key}': {err['msg']} (got {err.get('input')!r})")
    return "; ".join(parts)


#: Modules whose code every method runs (besides this registry, which the sweep adds).
_SHARED = ("facecluster.cluster.grids", "facecluster.cluster._validation")

#: How each method runs: its runner and the modules holding the code it executes.
_RUNS: dict[str, tuple[Runner, tuple[str, ...]]] = {
    "kmeans": (_run_kmeans, ("facecluster.cluster.kmeans",)),
    "agglomerative": (_run_agglomerative, ("facecluster.cluster.agglomerative",)),
    "spectral": (
        _run_spectral,
        ("facecluster.cluster.spectral", "facecluster.cluster.kmeans"),
    ),
    "finch_k": (_run_finch_k, ("facecluster.cluster.finch", "facecluster.cluster._common")),
    "dbscan": (_run_dbscan, ("facecluster.cluster.dbscan", "facecluster.cluster._common")),
    "hdbscan": (_run_hdbscan, ("facecluster.cluster.hdbscan",)),
    "meanshift": (
        _run_meanshift,
        (
            "facecluster.cluster.meanshift",
            "facecluster.cluster.meanshift_neighbours",
            "facecluster.cluster.meanshift_kernels",
        ),
    ),
    "rank_order": (
        _run_rank_order,
        ("facecluster.cluster.rank_order", "facecluster.cluster._common"),
    ),
    "chinese_whispers": (
        _run_chinese_whispers,
        ("facecluster.cluster.chinese_whispers", "facecluster.cluster._common"),
    ),
    "finch": (_run_finch, ("facecluster.cluster.finch", "facecluster.cluster._common")),
}

ALGORITHMS: dict[str, MethodSpec] = {
    name: MethodSpec(
        name=name,
        grid=info.grid,
        needs_k=info.needs_k,
        runner=_RUNS[name][0],
        modules=(*_RUNS[name][1], *_SHARED),
        summary=info.summary,
    )
    for name, info in GRIDS.items()
}


def get_method(name: str) -> MethodSpec:
    """The spec registered as ``name``; ``KeyError`` naming the registered methods otherwise."""
    try:
        return ALGORITHMS[name]
    except KeyError:
        raise KeyError(f"unknown method {name!r}; registered: {list(ALGORITHMS)}") from None
