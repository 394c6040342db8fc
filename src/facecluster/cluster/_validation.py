"""The one place where clustering inputs are checked: parameter constraints and the data X.

In the scikit-learn style (``sklearn.utils._param_validation``), each estimator declares
``_parameter_constraints: dict[str, list]``, every parameter mapped to the constraints it may
satisfy (any one suffices): an :class:`Interval`, an :class:`Options`, an :class:`InstanceOf`
or ``None`` (the value ``None``).  :func:`validate_params` checks them at the start of ``fit``;
the grid functions check their arguments with :func:`check_param` against the same objects,
and the pydantic grid models of :mod:`facecluster.cluster.grids` validate their values with
:func:`pydantic_check` built from them.  One message format everywhere::

    FastKMeans: n_clusters must be an int in [1, inf), got 0

This is a small own version rather than scikit-learn's private ``_param_validation``: that
module is private API (it changed between releases), and importing it loads scikit-learn and
scipy, which the configuration (through the grid models) must not.  Only numpy, the
standard library and :mod:`facecluster.errors` are imported here.

Every refusal is a :class:`ConstraintError`: a ``ValueError`` (scikit-learn's convention)
and a :class:`facecluster.errors.UserError` (the command line prints it as one line, exit
status 2).  Data checks (:func:`check_X`, :func:`check_neighbours`) use the same format,
with ``X`` as the name.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np

from facecluster.errors import UserError

__all__ = [
    "INT_AT_LEAST_2",
    "NON_NEGATIVE_INT",
    "NON_NEGATIVE_REAL",
    "POSITIVE_INT",
    "POSITIVE_REAL",
    "RANDOM_SEED",
    "RANDOM_STATE",
    "ConstraintError",
    "InstanceOf",
    "Interval",
    "Options",
    "check_X",
    "check_n_clusters",
    "check_neighbours",
    "check_param",
    "pydantic_check",
    "pydantic_no_bool",
    "unit_scaled",
    "validate_params",
]


class ConstraintError(UserError, ValueError):
    """A value that satisfies none of its constraints; ``str()`` is the whole (one-line) message.

    A user error: bad settings or bad data, never a bug of the estimator.
    """

    def __init__(
        self, owner: str | None, name: str, requirement: str, value: Any, got: str | None = None
    ) -> None:
        self.owner, self.name, self.requirement, self.value = owner, name, requirement, value
        prefix = (f"{owner}: " if owner else "") + (f"{name} " if name else "")
        shown = repr(value) if got is None else got
        super().__init__(f"{prefix}must be {requirement}, got {shown}")


class Interval:
    """Numbers of ``type_`` (``Integral`` or ``Real``; never ``bool``) in a range.

    ``left`` / ``right`` of ``None`` are -inf / inf (always excluded: a ``Real`` interval
    holds finite values only, NaN never).  ``closed``: "left", "right", "both", "neither".
    ``right_name`` shows the right bound as ``name=value`` (e.g. ``n_samples=4``).
    """

    def __init__(
        self,
        type_: type,
        left: float | None,
        right: float | None,
        *,
        closed: str = "left",
        right_name: str | None = None,
    ) -> None:
        if type_ not in (Integral, Real) or closed not in ("left", "right", "both", "neither"):
            raise ValueError(f"bad Interval({type_!r}, closed={closed!r})")
        self.type, self.left, self.right, self.closed = type_, left, right, closed
        self.right_name = right_name

    def is_satisfied_by(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, self.type):
            return False
        if not (isinstance(value, Integral) or math.isfinite(value)):
            return False
        if self.left is not None:
            if value < self.left or (value == self.left and self.closed in ("right", "neither")):
                return False
        if self.right is not None:
            if value > self.right or (value == self.right and self.closed in ("left", "neither")):
                return False
        return True

    def coerce(self, value: Any) -> int | float:
        """``int(value)`` or ``float(value)`` (numpy scalars become Python numbers)."""
        return int(value) if self.type is Integral else float(value)

    def __str__(self) -> str:
        kind = "an int" if self.type is Integral else "a float"
        if self.left is None and self.right is None:
            return kind
        lo = "-inf" if self.left is None else _bound(self.left)
        hi = "inf" if self.right is None else _bound(self.right)
        if self.right_name and self.right is not None:
            hi = f"{self.right_name}={hi}"
        lb = "[" if self.closed in ("left", "both") and self.left is not None else "("
        rb = "]" if self.closed in ("right", "both") and self.right is not None else ")"
        return f"{kind} in {lb}{lo}, {hi}{rb}"


def _bound(x: float) -> str:
    return str(x) if isinstance(x, Integral) else f"{x:g}"


class Options:
    """One of a fixed set of values (e.g. strings)."""

    def __init__(self, options: Sequence[Any]) -> None:
        self.options = tuple(options)

    def is_satisfied_by(self, value: Any) -> bool:
        return isinstance(value, str | int | float) and value in self.options

    def coerce(self, value: Any) -> Any:
        return value

    def __str__(self) -> str:
        return "one of " + ", ".join(repr(o) for o in self.options)


class InstanceOf:
    """An instance of ``type_`` (described as ``description``)."""

    def __init__(self, type_: type, description: str) -> None:
        self.type, self.description = type_, description

    def is_satisfied_by(self, value: Any) -> bool:
        return isinstance(value, self.type)

    def coerce(self, value: Any) -> Any:
        return value

    def __str__(self) -> str:
        return self.description


Constraint = Interval | Options | InstanceOf | None

#: Shared by the estimators and the grid models (:mod:`facecluster.cluster.grids`).
POSITIVE_INT = Interval(Integral, 1, None, closed="left")
NON_NEGATIVE_INT = Interval(Integral, 0, None, closed="left")
INT_AT_LEAST_2 = Interval(Integral, 2, None, closed="left")
POSITIVE_REAL = Interval(Real, 0, None, closed="neither")
NON_NEGATIVE_REAL = Interval(Real, 0, None, closed="left")
BOOLEAN = InstanceOf((bool, np.bool_), "a bool")  # type: ignore[arg-type]
#: What ``numpy.random.RandomState`` / ``default_rng`` accept as an integer seed.
RANDOM_SEED = Interval(Integral, 0, 2**32 - 1, closed="both")
#: What ``sklearn.utils.check_random_state`` accepts (the constraints of one parameter).
RANDOM_STATE = (RANDOM_SEED, InstanceOf(np.random.RandomState, "a numpy RandomState"), None)


def check_param(owner: str | None, name: str, value: Any, constraints: Sequence[Constraint]):
    """``value`` if it satisfies one of ``constraints`` (numbers as Python int / float).

    Raises
    ------
    ConstraintError
        ``"{owner}: {name} must be {constraint} or {constraint}, got {value!r}"``.
    """
    for c in constraints:
        if c is None:
            if value is None:
                return None
        elif c.is_satisfied_by(value):
            return c.coerce(value)
    requirement = " or ".join("None" if c is None else str(c) for c in constraints)
    raise ConstraintError(owner, name, requirement, value)


def validate_params(estimator: Any) -> dict[str, Any]:
    """Check every parameter of ``estimator`` against its class's ``_parameter_constraints``.

    Returns ``{name: value}`` with numbers as Python int / float.  A parameter without
    constraints is returned unchecked.
    """
    owner = type(estimator).__name__
    constraints: dict[str, list] = type(estimator)._parameter_constraints
    return {
        name: check_param(owner, name, value, constraints[name]) if name in constraints else value
        for name, value in estimator.get_params(deep=False).items()
    }


def check_n_clusters(owner: str, value: Any, n_samples: int, name: str = "n_clusters") -> int:
    """``1 <= value <= n_samples`` (the data-dependent part of a K check)."""
    bound = Interval(Integral, 1, n_samples, closed="both", right_name="n_samples")
    return check_param(owner, name, value, [bound])


#: float32 data is kept float32 (scikit-learn's arithmetic) only with ``max |x|`` in this
#: range (or all zero): beyond it float32 squares and sums overflow (``2^64`` squared is
#: past float32's ``3.4e38``) or lose their precision to subnormals, so float64 is used.
_FLOAT32_RANGE = (2.0**-60, 2.0**60)
#: :func:`unit_scaled` leaves data with ``max |x|`` in this range as it is: squared
#: differences keep full relative precision in float64 (no subnormals) and their sums stay
#: far below overflow.
_UNSCALED_RANGE = (2.0**-256, 2.0**256)
_FLOAT64_MAX = float(np.finfo(np.float64).max)


def check_X(X: Any, *, owner: str, min_samples: int = 1) -> np.ndarray:
    """The one check of clustering data.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Real, finite numbers; at least ``min_samples`` rows and one column; small enough
        that the squared euclidean distances summed over all samples are finite in float64
        (``4 n_samples max|x_i|² <= 1.8e308``: row norms below ~``1e153``; what k-means'
        inertia and Ward's merge costs add up).
    owner : str
        Estimator or function name, the prefix of the messages.

    Returns
    -------
    ndarray
        C-contiguous; float32 input stays float32 when ``max |x|`` is in ``[2^-60, 2^60]``
        (or all zero), anything else becomes float64 (float32 squares would overflow or
        underflow there).

    Raises
    ------
    ConstraintError
        ``"{owner}: X must be ..., got ..."``.
    """
    arr = np.asarray(X)
    if arr.ndim != 2:
        requirement = "a 2-D array (n_samples, n_features)"
        raise ConstraintError(owner, "X", requirement, arr.shape, f"shape {arr.shape}")
    if arr.shape[0] < min_samples or arr.shape[1] < 1:
        requirement = f"an array with at least {min_samples} sample(s) and 1 feature"
        raise ConstraintError(owner, "X", requirement, arr.shape, f"shape {arr.shape}")
    if arr.dtype.kind not in "biuf":
        requirement = "an array of real numbers"
        raise ConstraintError(owner, "X", requirement, arr.dtype, f"dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=np.float32 if arr.dtype == np.float32 else np.float64)
    if not np.isfinite(arr).all():
        n_bad = int(np.count_nonzero(~np.isfinite(arr)))
        got = f"{n_bad} NaN or infinite value(s)"
        raise ConstraintError(owner, "X", "finite", n_bad, got)
    if not arr.size:
        return arr
    amax = float(np.abs(arr).max())
    with np.errstate(over="ignore"):
        sq_max = float(np.einsum("ij,ij->i", arr, arr, dtype=np.float64).max())
    if not 4.0 * arr.shape[0] * sq_max <= _FLOAT64_MAX:
        requirement = (
            "small enough that its squared distances, summed over the samples, are finite "
            "in float64 (rescale it, e.g. L2-normalise)"
        )
        raise ConstraintError(owner, "X", requirement, amax, f"max |x| = {amax:.3g}")
    if arr.dtype == np.float32 and amax and not _FLOAT32_RANGE[0] <= amax <= _FLOAT32_RANGE[1]:
        arr = arr.astype(np.float64)
    return arr


def unit_scaled(X: np.ndarray, *, always: bool = False) -> tuple[np.ndarray, float]:
    """``(X / scale, scale)`` with ``scale`` a power of two putting ``max |x|`` in [0.5, 1).

    For the scale-free methods (k-means, Ward, rank-order: their clusters do not change when
    all distances are multiplied by one factor).  Multiplying by a power of two is exact and
    commutes with every floating-point rounding as long as nothing over- or underflows, so
    the result is the same as on the unscaled data wherever that data was safe, and correct
    where it was not (squared differences of data at ``1e-200`` underflow to 0 in float64,
    squares of data at ``1e20`` overflow float32).  Data with ``max |x|`` in
    ``[2^-256, 2^256]`` is returned unchanged (``scale == 1.0``) unless ``always``; all-zero
    data always is.
    """
    amax = float(np.abs(X).max()) if X.size else 0.0
    if amax == 0.0 or (not always and _UNSCALED_RANGE[0] <= amax <= _UNSCALED_RANGE[1]):
        return X, 1.0
    exponent = math.frexp(amax)[1]  # amax = m * 2**exponent, 0.5 <= m < 1
    return np.ldexp(X, -exponent).astype(X.dtype, copy=False), math.ldexp(1.0, exponent)


def check_neighbours(
    owner: str, distances: np.ndarray, indices: np.ndarray, what: str = "neighbour search"
) -> None:
    """Refuse a neighbour-search result with missing (``-1``) slots or non-finite distances.

    faiss fills a slot it could not rank (a NaN or infinite distance) with index ``-1``;
    such a slot must never reach a compiled kernel, which would index memory with it.

    Raises
    ------
    ConstraintError
        ``"{owner}: X must be data whose {what} finds every neighbour at a finite
        distance, got ..."``.
    """
    missing = int(np.count_nonzero(indices < 0))
    infinite = int(np.count_nonzero(~np.isfinite(distances)))
    if missing or infinite:
        requirement = f"data whose {what} finds every neighbour at a finite distance"
        got = f"{missing} missing (-1) neighbour slot(s), {infinite} non-finite distance(s)"
        raise ConstraintError(owner, "X", requirement, missing + infinite, got)


def pydantic_check(constraint: Constraint) -> Callable[[Any], Any]:
    """A pydantic ``AfterValidator`` function checking one value against ``constraint``.

    It raises a :class:`ConstraintError` without owner or name (``"must be a float in
    (0, inf), got 0.0"``): pydantic's error location names the field.  The constraint is
    kept as the function's ``constraint`` attribute.
    """

    def check(value: Any) -> Any:
        check_param(None, "", value, [constraint])
        return value

    check.constraint = constraint  # type: ignore[attr-defined]
    return check


def pydantic_no_bool(constraint: Constraint) -> Callable[[Any], Any]:
    """A pydantic ``BeforeValidator`` function refusing booleans and non-finite floats.

    pydantic's lax mode reads ``true`` as ``1`` / ``1.0`` before any ``AfterValidator`` sees
    the value, so ``threshold: true`` would pass as 1.0 and ``k: true`` fail only as "got
    1"; this runs before that conversion.  (Infinity and NaN never satisfy an
    :class:`Interval`; refusing them here too gives int fields the same message.)  Raises a
    :class:`ConstraintError` without owner or name, like :func:`pydantic_check`.
    """

    def check(value: Any) -> Any:
        if isinstance(value, bool | np.bool_) or (
            isinstance(value, float) and not math.isfinite(value)
        ):
            check_param(None, "", value, [constraint])  # raises: no constraint takes these
        return value

    return check
