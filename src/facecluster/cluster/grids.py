"""The grid models of the clustering methods: what ``params.yaml`` may set under ``sweep.methods``.

One pydantic model per method (``extra="forbid"``): its list-valued fields are grid axes, its
scalar fields fixed settings, its defaults the study's default grid (the Castiel report's
settings where that report has them).  The per-value rules (``eps > 0``, ``k >= 2`` ...) are
the constraint objects of :mod:`facecluster.cluster._validation`, the same the estimators
check in ``fit``.

:data:`GRIDS` maps each method name, in registry order, to its :class:`GridInfo` (grid model,
one-line summary, whether it needs K).  This module imports no algorithm: the configuration
builds its ``SweepMethods`` model from :data:`GRIDS` without loading numba, scikit-learn or
faiss; :mod:`facecluster.cluster.registry` adds how each method runs.
"""

from __future__ import annotations

import itertools
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from facecluster.cluster._validation import (
    INT_AT_LEAST_2,
    POSITIVE_INT,
    POSITIVE_REAL,
    Constraint,
    pydantic_check,
    pydantic_no_bool,
)

__all__ = [
    "GRIDS",
    "AgglomerativeGrid",
    "ChineseWhispersGrid",
    "DbscanGrid",
    "GridInfo",
    "GridPoint",
    "domain_bounds",
    "KMeansGrid",
    "MeanShiftGrid",
    "MethodGrid",
    "RankOrderGrid",
    "SpectralGrid",
]

GridPoint = dict[str, Any]


def _number(type_: type, constraint: Constraint) -> Any:
    """``type_`` checked against ``constraint``; booleans and inf / NaN refused up front.

    (pydantic alone reads ``true`` as 1 and would pass ``threshold: true`` as 1.0.)
    """
    return Annotated[
        type_,
        BeforeValidator(pydantic_no_bool(constraint)),
        AfterValidator(pydantic_check(constraint)),
    ]


# refuse booleans / non-finite, pydantic's type check, then the rule shared with the estimators
PositiveInt = _number(int, POSITIVE_INT)
IntAtLeast2 = _number(int, INT_AT_LEAST_2)
PositiveFloat = _number(float, POSITIVE_REAL)


def _axis(default: Sequence[Any], description: str) -> Any:
    """A grid axis: a non-empty tuple of values (a scalar in the input means one value)."""
    return Field(default=tuple(default), description=description)


def _frange(start: float, stop: float, step: float) -> tuple[float, ...]:
    """``start, start + step, ..., stop`` rounded to 10 decimals (no 0.30000000000000004)."""
    n = int(round((stop - start) / step)) + 1
    return tuple(round(start + i * step, 10) for i in range(n))


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

    @classmethod
    def constraints(cls) -> dict[str, Constraint]:
        """``{name: constraint}``: the rule each value of a parameter is checked against."""
        out: dict[str, Constraint] = {}
        for name, field in cls.model_fields.items():
            ann = field.annotation
            metadata = list(field.metadata)
            if typing.get_origin(ann) is tuple:
                ann = typing.get_args(ann)[0]
            if typing.get_origin(ann) is Annotated:
                metadata += list(ann.__metadata__)
            for m in metadata:
                if isinstance(m, AfterValidator) and hasattr(m.func, "constraint"):
                    out[name] = m.func.constraint
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

    n_init: PositiveInt = Field(default=10, description="k-means++ restarts, best inertia kept")


class AgglomerativeGrid(MethodGrid):
    """Ward linkage with K = the true number of identities; nothing to tune."""


class SpectralGrid(MethodGrid):
    """RBF affinity ``exp(-gamma * ||a - b||^2)``, k-means label assignment, K known."""

    gamma: tuple[PositiveFloat, ...] = _axis((1.0,), "RBF affinity coefficient(s)")
    n_init: PositiveInt = Field(
        default=10, description="k-means restarts on the spectral embedding"
    )


class DbscanGrid(MethodGrid):
    """DBSCAN; with ``min_samples=1`` it is single linkage cut at ``eps`` (no noise)."""

    eps: tuple[PositiveFloat, ...] = _axis(_frange(0.1, 1.2, 0.1), "neighbourhood radii")
    min_samples: PositiveInt = Field(default=1, description="points (self included) for a core")


class HdbscanGrid(MethodGrid):
    """HDBSCAN (scikit-learn's, ``algorithm="brute"``); noise points become singletons.

    ``min_samples`` sets the core distance (the point itself counted; 1 makes the
    mutual-reachability distance the plain one: single linkage), ``min_cluster_size`` the
    smallest group the condensed tree keeps.  LFW's study set has >= 3 images a person and
    an 80% subset keeps about 2.4 of 3, so the grid starts at 2.
    """

    min_samples: tuple[PositiveInt, ...] = _axis((1, 2, 3), "neighbours (self included) of a core")
    min_cluster_size: tuple[IntAtLeast2, ...] = _axis((2, 3, 4, 6, 8), "smallest cluster kept")


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

    k: tuple[IntAtLeast2, ...] = _axis((20, 50, 100, 200), "neighbour-list sizes")
    threshold: tuple[PositiveFloat, ...] = _axis(
        (0.1, 0.2, 0.3, *_frange(0.4, 2.0, 0.2)), "merge pairs with D_m below this"
    )


class ChineseWhispersGrid(MethodGrid):
    """Chinese whispers on the graph of faces closer than ``threshold`` (dlib's scheme).

    dlib's face_recognition uses 0.5-0.6 on its own 128-d embeddings; FaceNet on LFW puts
    same-identity faces at ~0.6-0.9 (DBSCAN's best eps there is 0.7), so the default grid
    spans 0.4 ... 1.0 in steps of 0.05.  ``n_iter`` is at least 1 here (the estimator also
    accepts 0, which leaves every face a singleton).
    """

    threshold: tuple[PositiveFloat, ...] = _axis(
        _frange(0.4, 1.0, 0.05), "edge if euclidean distance is below this"
    )
    n_iter: PositiveInt = Field(default=100, description="label-propagation sweeps")


class FinchGrid(MethodGrid):
    """FINCH's first partition (Sarfraz et al. 2019): parameter-free, no K."""


class FinchKGrid(MethodGrid):
    """The partition of the FINCH hierarchy whose cluster count is nearest K (K known)."""


@dataclass(frozen=True)
class GridInfo:
    """What the configuration needs of one method: its grid model, summary and K need.

    ``same_below`` (optional): ``params -> {axis: value}``, a value of an axis at or below
    which every smaller value gives the same clustering (for those other parameters), so a
    best setting there is at the end of what the axis can change, not only of the grid.
    """

    grid: type[MethodGrid]
    summary: str
    needs_k: bool
    same_below: Callable[[Mapping[str, Any]], Mapping[str, float]] | None = None


def rank_order_same_below(params: Mapping[str, Any]) -> dict[str, float]:
    """Rank-order thresholds at or below ``1/k`` all link the same pairs: those with
    ``D_m = 0``.  ``D_m`` is a non-negative integer over a rank of at most ``k``
    (:mod:`facecluster.cluster.rank_order`), so its smallest positive value is ``1/k``."""
    k = params.get("k")
    return {"threshold": 1.0 / k} if isinstance(k, int) and k > 0 else {}


def domain_bounds(grid: type[MethodGrid]) -> dict[str, tuple[float | None, float | None]]:
    """The values an axis of ``grid`` can take at most: ``{axis: (lowest, highest)}``.

    Read off each axis' constraint (an :class:`~facecluster.cluster._validation.Interval`):
    an inclusive bound is a value (``min_cluster_size`` >= 2: 2), an open or absent one None
    (``eps`` > 0).  A best setting at an inclusive bound is at the end of the parameter's
    range, not only of the grid: nothing beyond it to try.
    """
    out: dict[str, tuple[float | None, float | None]] = {}
    for name, field in grid.model_fields.items():
        args = typing.get_args(field.annotation)
        if typing.get_origin(field.annotation) is not tuple or not args:
            continue
        interval = next(
            (
                c
                for meta in getattr(args[0], "__metadata__", ())
                if (c := getattr(getattr(meta, "func", None), "constraint", None)) is not None
            ),
            None,
        )
        if interval is None or not hasattr(interval, "closed"):
            continue
        low = interval.left if interval.closed in ("left", "both") else None
        high = interval.right if interval.closed in ("right", "both") else None
        out[name] = (low, high)
    return out


#: Method name -> :class:`GridInfo`, in registry order (the order of the sweep and reports).
GRIDS: dict[str, GridInfo] = {
    "kmeans": GridInfo(KMeansGrid, "k-means++ (K known, n_init 10)", True),
    "agglomerative": GridInfo(AgglomerativeGrid, "Ward linkage (K known)", True),
    "spectral": GridInfo(SpectralGrid, "spectral clustering, RBF affinity (K known)", True),
    "finch_k": GridInfo(FinchKGrid, "FINCH, the level of its hierarchy nearest K", True),
    "dbscan": GridInfo(DbscanGrid, "DBSCAN (min_samples 1: single linkage cut at eps)", False),
    "hdbscan": GridInfo(
        HdbscanGrid, "HDBSCAN (scikit-learn, brute force; noise as singletons)", False
    ),
    "meanshift": GridInfo(MeanShiftGrid, "mean-shift, flat kernel, every point a seed", False),
    "rank_order": GridInfo(
        RankOrderGrid,
        "approximate rank-order clustering (Otto et al. 2018)",
        False,
        rank_order_same_below,
    ),
    "chinese_whispers": GridInfo(
        ChineseWhispersGrid, "Chinese whispers on the distance-threshold graph", False
    ),
    "finch": GridInfo(FinchGrid, "FINCH first partition (parameter-free)", False),
}
