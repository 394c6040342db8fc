"""The one explicit registry of clustering methods that drives the sweep.

``ALGORITHMS`` maps a method name (the key used in ``params.yaml`` under ``sweep.methods``)
to a :class:`MethodSpec`.  A spec knows

* its **grid model**: a pydantic model (``extra="forbid"``) whose list-valued fields are grid
  axes and whose scalar fields are fixed settings; it validates the ranges (``eps > 0``,
  ``k >= 2`` ...) and its defaults are the study's default grid (the Castiel report's settings
  where that report has them);
* whether it **needs K**, the true number of identities in the subset (the report's
  assumption for k-means, Ward and spectral clustering);
* how to **run a whole grid** on one subset, sharing work between grid points where the
  algorithm allows it (one minimum spanning tree for every DBSCAN eps, one neighbour search
  for every rank-order (k, threshold), one neighbour graph for every Chinese-whispers
  threshold, one pass of shared work for the mean-shift bandwidths).

Every distance below is euclidean on L2-normalised embeddings (so in [0, 2]).

Runtime attribution
-------------------
:meth:`MethodSpec.run_grid_timed` returns a fit time per grid point.  Methods fitted once per
grid point (k-means, Ward, spectral) get their own wall time.  Where one call of a grid
function serves several points (DBSCAN, mean-shift, rank-order, Chinese whispers), the wall
time of that call is divided **equally** among the points it served: the sum over the grid is
the true cost of the grid, and the per-point figure is the amortised cost of one setting.
"""

from __future__ import annotations

import itertools
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from time import perf_counter
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

Labels = np.ndarray
GridPoint = dict[str, Any]
#: ``(X, grid_points, n_clusters, random_state) -> [(labels, seconds), ...]`` in point order.
Runner = Callable[[np.ndarray, Sequence[GridPoint], "int | None", "int | None"], list]

PositiveFloat = Annotated[float, Field(gt=0)]


def _axis(default: Sequence[Any], description: str) -> Any:
    """A grid axis: a non-empty tuple of values (a scalar in the input means one value)."""
    return Field(default=tuple(default), description=description)


def _frange(start: float, stop: float, step: float) -> tuple[float, ...]:
    """``start, start + step, ..., stop`` rounded to 10 decimals (no 0.30000000000000004)."""
    n = int(round((stop - start) / step)) + 1
    return tuple(round(start + i * step, 10) for i in range(n))


# --------------------------------------------------------------------------------------------
# grid models
# --------------------------------------------------------------------------------------------
class MethodGrid(BaseModel):
    """Base of the per-method grid models.

    Fields annotated ``tuple[..., ...]`` are grid axes (YAML lists; a scalar is read as a
    one-value list); other fields are fixed settings.  :meth:`points` is the cartesian product
    of the axes, in field order, each point carrying every field as a scalar.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    @classmethod
    def axis_names(cls) -> tuple[str, ...]:
        """Names of the fields that are grid axes (list-valued)."""
        return tuple(
            name
            for name, field in cls.model_fields.items()
            if typing.get_origin(field.annotation) is tuple
        )

    @classmethod
    def param_names(cls) -> tuple[str, ...]:
        """Every parameter of a grid point (axes and fixed settings), in field order."""
        return tuple(cls.model_fields)

    @classmethod
    def param_kinds(cls) -> dict[str, type]:
        """``{name: int | float}``: the scalar type of each parameter (for table columns)."""
        out: dict[str, type] = {}
        for name, field in cls.model_fields.items():
            ann = field.annotation
            if typing.get_origin(ann) is tuple:
                ann = typing.get_args(ann)[0]
            while typing.get_origin(ann) is Annotated:
                ann = typing.get_args(ann)[0]
            out[name] = int if ann is int else float
        return out

    @model_validator(mode="before")
    @classmethod
    def _scalars_to_axes(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            axes = cls.axis_names()
            data = {
                k: ([v] if k in axes and isinstance(v, (int, float)) else v)
                for k, v in data.items()
            }
        return data

    @model_validator(mode="after")
    def _axes_unique(self) -> MethodGrid:
        for name in self.axis_names():
            values = getattr(self, name)
            if not values:
                raise ValueError(f"{name} must list at least one value")
            if len(set(values)) != len(values):
                raise ValueError(f"{name} lists a value twice: {list(values)}")
        return self

    def points(self) -> list[GridPoint]:
        """The grid points: one dict per combination of axis values (first axis outermost)."""
        axes = [
            [(name, v) for v in value] if isinstance(value, tuple) else [(name, value)]
            for name, value in ((n, getattr(self, n)) for n in self.param_names())
        ]
        return [dict(combo) for combo in itertools.product(*axes)]


class KMeansGrid(MethodGrid):
    """k-means++ with K = the true number of identities (the report: sklearn ``n_init=10``)."""

    n_init: int = Field(default=10, ge=1, description="k-means++ restarts, best inertia kept")


class AgglomerativeGrid(MethodGrid):
    """Ward linkage with K = the true number of identities; nothing to tune."""


class SpectralGrid(MethodGrid):
    """RBF affinity ``exp(-gamma * ||a - b||^2)``, k-means label assignment, K known."""

    gamma: tuple[PositiveFloat, ...] = _axis((1.0,), "RBF affinity coefficient(s)")
    n_init: int = Field(default=10, ge=1, description="k-means restarts on the spectral embedding")


class DbscanGrid(MethodGrid):
    """DBSCAN; with ``min_samples=1`` it is single linkage cut at ``eps`` (no noise)."""

    eps: tuple[PositiveFloat, ...] = _axis(_frange(0.1, 1.2, 0.1), "neighbourhood radii")
    min_samples: int = Field(default=1, ge=1, description="points (self included) for a core")


class MeanShiftGrid(MethodGrid):
    """Flat-kernel mean-shift, every point a seed, no bin seeding (sklearn's defaults)."""

    bandwidth: tuple[PositiveFloat, ...] = _axis(_frange(0.1, 1.2, 0.1), "kernel radii")


class RankOrderGrid(MethodGrid):
    """Approximate rank-order clustering (Otto, Wang, Jain 2018): merge pairs with D_m < t.

    D_m is divided by the pair's rank, so its useful range shrinks as k grows: on generated
    face-like data (``benchmarks/sweep_speed.py --synthetic``) the best threshold was about
    1.4 at k = 10, 0.8 at k = 50 and 0.2 at k = 200.  Mutual nearest neighbours have
    D_m = 0 and merge at any threshold.  The default grid spans 0.1 ... 2.0, covering those
    optima, the 1.1 of Otto et al.'s public LFW demo and the estimator's default 1.6.
    """

    k: tuple[Annotated[int, Field(ge=2)], ...] = _axis((20, 50, 100, 200), "neighbour-list sizes")
    threshold: tuple[PositiveFloat, ...] = _axis(
        (0.1, 0.2, 0.3, *_frange(0.4, 2.0, 0.2)), "merge pairs with D_m below this"
    )


class ChineseWhispersGrid(MethodGrid):
    """Chinese whispers on the graph of faces closer than ``threshold`` (dlib's scheme).

    dlib's face_recognition uses 0.5-0.6 on its own 128-d embeddings; FaceNet on LFW puts
    same-identity faces at ~0.6-0.9 (DBSCAN's best eps there is 0.7), so the default grid
    spans 0.4 ... 1.0 in steps of 0.05.
    """

    threshold: tuple[PositiveFloat, ...] = _axis(
        _frange(0.4, 1.0, 0.05), "edge if euclidean distance is below this"
    )
    n_iter: int = Field(default=100, ge=1, description="label-propagation sweeps")


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
        The modules holding its implementation (their source is part of the sweep's
        checkpoint key, so an edit invalidates cached results).
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
        if err["type"] == "extra_forbidden":
            parts.append(f"unknown key '{key}'")
        else:
            parts.append(f"'{key}': {err['msg']} (got {err.get('input')!r})")
    return "; ".join(parts)


ALGORITHMS: dict[str, MethodSpec] = {
    spec.name: spec
    for spec in (
        MethodSpec(
            name="kmeans",
            grid=KMeansGrid,
            needs_k=True,
            runner=_run_kmeans,
            modules=("facecluster.cluster.kmeans",),
            summary="k-means++ (K known, n_init 10)",
        ),
        MethodSpec(
            name="agglomerative",
            grid=AgglomerativeGrid,
            needs_k=True,
            runner=_run_agglomerative,
            modules=("facecluster.cluster.agglomerative", "facecluster.cluster.kmeans"),
            summary="Ward linkage (K known)",
        ),
        MethodSpec(
            name="spectral",
            grid=SpectralGrid,
            needs_k=True,
            runner=_run_spectral,
            modules=("facecluster.cluster.spectral", "facecluster.cluster.kmeans"),
            summary="spectral clustering, RBF affinity (K known)",
        ),
        MethodSpec(
            name="dbscan",
            grid=DbscanGrid,
            needs_k=False,
            runner=_run_dbscan,
            modules=("facecluster.cluster.dbscan", "facecluster.cluster._common"),
            summary="DBSCAN (min_samples 1: single linkage cut at eps)",
        ),
        MethodSpec(
            name="meanshift",
            grid=MeanShiftGrid,
            needs_k=False,
            runner=_run_meanshift,
            modules=("facecluster.cluster.meanshift", "facecluster.cluster._common"),
            summary="mean-shift, flat kernel, every point a seed",
        ),
        MethodSpec(
            name="rank_order",
            grid=RankOrderGrid,
            needs_k=False,
            runner=_run_rank_order,
            modules=("facecluster.cluster.rank_order", "facecluster.cluster._common"),
            summary="approximate rank-order clustering (Otto et al. 2018)",
        ),
        MethodSpec(
            name="chinese_whispers",
            grid=ChineseWhispersGrid,
            needs_k=False,
            runner=_run_chinese_whispers,
            modules=("facecluster.cluster.chinese_whispers", "facecluster.cluster._common"),
            summary="Chinese whispers on the distance-threshold graph",
        ),
    )
}


def get_method(name: str) -> MethodSpec:
    """The spec registered as ``name``; ``KeyError`` naming the registered methods otherwise."""
    try:
        return ALGORITHMS[name]
    except KeyError:
        raise KeyError(f"unknown method {name!r}; registered: {list(ALGORITHMS)}") from None
