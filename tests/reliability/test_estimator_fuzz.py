"""Hostile data for the clustering estimators: labels or one clear user error, never a crash.

Every outcome of ``fit_predict`` must be either a label array of length ``n_samples``
(integers, in range, and *right* where an exact reference exists) or a
:class:`~facecluster.cluster._validation.ConstraintError` (a ``ValueError`` and a
:class:`~facecluster.errors.UserError`: the command line prints it as one line, exit status
2) — never another exception, never garbage labels, never a segmentation fault.

Inputs: NaN and infinities, exact duplicates (distance 0), ``n_samples`` of 1 and 2, a
rank-order ``k >= n_samples``, ``K > n_samples``, float32 and float64, and scales from
``1e-200`` to ``1e200`` (``1e20``: float32 squared distances overflow to infinity, which made
faiss return ``-1`` neighbours and the rank-order kernel read memory at index -1).

A segfault kills the interpreter, so the known crash cases run first in a subprocess
(:func:`test_hostile_matrix_in_a_subprocess`); the in-process property tests run only when
that subprocess survived (otherwise they fail at once rather than take pytest down).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from facecluster.cluster._validation import ConstraintError
from facecluster.cluster.grids import GRIDS
from facecluster.errors import UserError

ROOT = Path(__file__).resolve().parents[2]
METHODS = tuple(GRIDS)  # the registry's methods, in its order (grids imports no algorithm)
NEEDS_K = {name for name, info in GRIDS.items() if info.needs_k}
#: Methods whose clusters do not change when every distance is multiplied by one factor.
SCALE_FREE = ("kmeans", "agglomerative", "rank_order", "finch", "finch_k")
#: Methods documented to need two points (one is refused).
NEED_TWO = ("spectral", "hdbscan")
#: Methods given K that return a partition *near* K, not exactly K clusters.
NEAR_K = ("finch_k",)

#: Builds an estimator: ``make(method, n_samples, K, k, threshold)`` (kept as source text so
#: that the subprocess builds exactly the same estimators).
MAKE_SOURCE = """
def make(method, K, k, threshold):
    from facecluster.cluster.agglomerative import WardClustering
    from facecluster.cluster.chinese_whispers import ChineseWhispers
    from facecluster.cluster.dbscan import SingleLinkageDBSCAN
    from facecluster.cluster.kmeans import FastKMeans
    from facecluster.cluster.meanshift import FastMeanShift
    from facecluster.cluster.rank_order import ApproximateRankOrder
    from facecluster.cluster.spectral import FastSpectralClustering

    if method == "kmeans":
        return FastKMeans(n_clusters=K, n_init=2, random_state=0)
    if method == "agglomerative":
        return WardClustering(n_clusters=K)
    if method == "spectral":
        return FastSpectralClustering(n_clusters=K, n_init=2, random_state=0)
    if method == "dbscan":
        return SingleLinkageDBSCAN(eps=threshold)
    if method == "meanshift":
        return FastMeanShift(bandwidth=threshold)
    if method == "rank_order":
        return ApproximateRankOrder(k=k, threshold=threshold)
    if method in ("finch", "finch_k"):
        from facecluster.cluster.finch import FINCH

        return FINCH(n_clusters=K if method == "finch_k" else None)
    if method == "hdbscan":  # scikit-learn's estimator behind the grid; noise as singletons
        from facecluster.cluster.hdbscan import hdbscan_grid
        from facecluster.metrics import noise_to_singletons

        class Grid:
            def fit_predict(self, X):
                return noise_to_singletons(hdbscan_grid(X, [(2, 1)])[0])

        return Grid()
    return ChineseWhispers(threshold=threshold, random_state=0)
"""
_namespace: dict = {}
exec(MAKE_SOURCE, _namespace)  # noqa: S102 - our own source text, shared with the subprocess
make = _namespace["make"]


def outcome(method: str, X: np.ndarray, K: int = 2, k: int = 5, threshold: float = 0.5):
    """``("labels", labels)`` or ``("error", exc)``; any other exception propagates."""
    try:
        return "labels", np.asarray(make(method, K, k, threshold).fit_predict(X))
    except ConstraintError as exc:
        return "error", exc


def assert_user_error(exc: BaseException) -> None:
    assert isinstance(exc, ConstraintError), type(exc)
    assert isinstance(exc, UserError) and isinstance(exc, ValueError)
    text = str(exc)
    assert text and "\n" not in text


def assert_label_array(labels: np.ndarray, n: int) -> None:
    assert labels.shape == (n,), labels.shape
    assert labels.dtype.kind in "iu", labels.dtype
    assert (labels >= 0).all(), labels  # no noise here (HDBSCAN's is made singletons)


# --------------------------------------------------------------------------------------------
# the known crash, and a matrix of hostile cases, in a subprocess
# --------------------------------------------------------------------------------------------
MATRIX_SCRIPT = MAKE_SOURCE + textwrap.dedent("""
    import json, sys, warnings
    import numpy as np
    from facecluster.cluster._validation import ConstraintError
    from facecluster.errors import UserError

    warnings.simplefilter("ignore")
    rng = np.random.default_rng(0)
    unit = rng.standard_normal((30, 20))
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    nan = unit.copy(); nan[3, 4] = np.nan
    inf = unit.copy(); inf[0, 0] = np.inf
    cases = {
        "x1e20": (unit * 1e20, {}),           # float32 squared distances overflow (the crash)
        "x1e20_float32": ((unit * 1e20).astype(np.float32), {}),
        "x1e-20": (unit * 1e-20, {}),
        "x1e200": (unit * 1e200, {}),         # float64 squared distances overflow
        "nan": (nan, {}),
        "inf": (inf, {}),
        "duplicates": (np.repeat(unit[:3], 10, axis=0), {}),
        "n1": (unit[:1], {"K": 1}),
        "n2": (unit[:2], {}),
        "k_ge_n": (unit[:6], {"k": 50}),
    }
    skip = json.loads(sys.argv[1])  # [method, case] pairs an earlier run did (or died in)
    for case, (X, kw) in cases.items():
        for method in sys.argv[2:]:
            if [method, case] in skip:
                continue
            print(json.dumps({"method": method, "case": case, "started": True}), flush=True)
            try:
                labels = np.asarray(make(method, kw.get("K", 2), kw.get("k", 5), 0.5).fit_predict(X))
                rec = {"outcome": "labels", "shape": list(labels.shape),
                       "kind": labels.dtype.kind, "min": int(labels.min())}
            except ConstraintError as exc:
                rec = {"outcome": "error", "user": isinstance(exc, UserError), "message": str(exc)}
            except Exception as exc:
                rec = {"outcome": "other", "type": type(exc).__name__, "message": str(exc)}
            rec.update(method=method, case=case, n=len(X))
            print(json.dumps(rec), flush=True)
    """)
#: Cases that must be refused (whatever the method): non-finite data, data too large for
#: float64 squared distances.
MUST_REFUSE = {"nan", "inf", "x1e200"}


@pytest.fixture(scope="module")
def matrix() -> list[dict]:
    """The hostile matrix, run in a subprocess: one record per (method, case).

    A case that kills the interpreter is recorded as ``"crash"`` (with the exit status) and
    a new subprocess goes on after it, so every other case still runs.
    """
    records: list[dict] = []
    for _ in range(len(METHODS) * 10):
        done = [[r["method"], r["case"]] for r in records]
        proc = subprocess.run(
            [sys.executable, "-c", MATRIX_SCRIPT, json.dumps(done), *METHODS],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=300,
        )
        lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
        records += [r for r in lines if "outcome" in r]
        if proc.returncode == 0:
            break
        last = lines[-1] if lines else {}
        if "started" not in last:  # died outside any case: report it as one record
            records.append({"outcome": "crash", "method": "?", "case": "?", "rc": proc.returncode,
                            "stderr": proc.stderr[-2000:]})  # fmt: skip
            break
        records.append(
            {**last, "outcome": "crash", "rc": proc.returncode, "stderr": proc.stderr[-500:]}
        )
    return records


def test_hostile_matrix_in_a_subprocess(matrix):
    assert len(matrix) == 10 * len(METHODS), matrix
    problems = []
    for r in matrix:
        where = f"{r['method']} on {r['case']}"
        if r["outcome"] == "crash":
            problems.append(f"{where}: the interpreter died (exit status {r['rc']})")
        elif r["outcome"] == "other":
            problems.append(f"{where}: {r['type']}: {r['message']}")
        elif r["outcome"] == "error":
            if not r["user"] or "\n" in r["message"]:
                problems.append(f"{where}: not a one-line user error: {r['message']!r}")
            elif r["case"] not in MUST_REFUSE and not (
                r["case"] == "n1" and r["method"] in NEED_TWO  # documented: n >= 2
            ):
                problems.append(f"{where}: refused valid data: {r['message']}")
        else:
            if r["case"] in MUST_REFUSE:
                problems.append(f"{where}: returned labels for data it must refuse")
            elif r["shape"] != [r["n"]] or r["kind"] not in "iu" or r["min"] < 0:
                problems.append(f"{where}: bad labels {r}")
    assert not problems, "\n".join(problems)


@pytest.fixture(scope="module")
def survives(matrix) -> None:
    """The in-process fuzz may run: no subprocess case crashed (else this one could too)."""
    crashes = [f"{r['method']} on {r['case']}" for r in matrix if r["outcome"] == "crash"]
    if crashes:
        pytest.fail(f"not fuzzing in-process: the hostile matrix crashed ({', '.join(crashes)})")


# --------------------------------------------------------------------------------------------
# property tests (in-process, deterministic)
# --------------------------------------------------------------------------------------------
#: Exact powers of two (scaling by them is exact) and two decimal extremes.  2**66 ~ 7e19:
#: float32 squares overflow; 2**-66: they underflow; 2**-700: float64 squares underflow;
#: 2**500 ~ 3e150: float64 squares still fit; 1e200: they do not (refused).
SCALES = [1.0, 2.0**66, 2.0**-66, 2.0**-700, 2.0**500, 1e200, 1e-200]
FUZZ = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@st.composite
def hostile(draw: st.DrawFn) -> dict:
    """Lattice points (many exact duplicates and ties), scaled, maybe poisoned, and settings."""
    n = draw(st.integers(1, 9))
    d = draw(st.integers(1, 4))
    n_distinct = draw(st.integers(1, n))
    rows = draw(
        st.lists(
            st.lists(st.integers(-2, 2), min_size=d, max_size=d),
            min_size=n_distinct,
            max_size=n_distinct,
        )
    )
    pick = draw(st.lists(st.integers(0, n_distinct - 1), min_size=n, max_size=n))
    base = np.asarray(rows, dtype=np.float64)[pick]
    scale = draw(st.sampled_from(SCALES))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    with np.errstate(over="ignore"):
        X = (base * scale).astype(dtype)
    poison = draw(st.sampled_from([None, None, np.nan, np.inf, -np.inf]))
    if poison is not None:
        X[draw(st.integers(0, n - 1)), draw(st.integers(0, d - 1))] = poison
    return {
        "X": X,
        "base": base,
        "scale": scale,
        "K": draw(st.integers(1, n + 1)),
        "k": draw(st.integers(2, n + 3)),
        "threshold": draw(st.sampled_from([0.5, 1.5, 2.5])),
    }


def _too_large(X: np.ndarray) -> bool:
    """The documented refusal: squared distances summed over the samples overflow float64."""
    with np.errstate(over="ignore", invalid="ignore"):
        sq = np.einsum("ij,ij->i", X, X, dtype=np.float64).max()
        return not 4.0 * len(X) * sq <= np.finfo(np.float64).max


def _exact_within(X: np.ndarray, t: float, strict: bool) -> np.ndarray:
    """Adjacency ``|x_i - x_j| <= t`` (``< t`` if strict) in exact rational arithmetic."""
    F = [[Fraction(float(v)) for v in row] for row in X]
    t2 = Fraction(t) ** 2
    n = len(F)
    adj = np.zeros((n, n), dtype=bool)
    for i in range(n):
        for j in range(i + 1, n):
            d2 = sum((a - b) ** 2 for a, b in zip(F[i], F[j], strict=True))
            adj[i, j] = adj[j, i] = d2 < t2 if strict else d2 <= t2
    return adj


def _components(adj: np.ndarray) -> np.ndarray:
    """Connected components numbered by lowest point index (scikit-learn's DBSCAN order)."""
    n = len(adj)
    labels = np.full(n, -1)
    nxt = 0
    for s in range(n):
        if labels[s] < 0:
            stack, labels[s] = [s], nxt
            while stack:
                i = stack.pop()
                for j in np.flatnonzero(adj[i] & (labels < 0)):
                    labels[j] = nxt
                    stack.append(j)
            nxt += 1
    return labels


@pytest.mark.parametrize("method", METHODS)
@FUZZ
@given(case=hostile())
def test_fuzz_labels_or_one_line_user_error(survives, method, case):
    X, K = case["X"], case["K"]
    n = len(X)
    poisoned = not np.isfinite(X).all()
    kind, result = outcome(method, X, K=K, k=case["k"], threshold=case["threshold"])
    must_refuse = (
        poisoned
        or _too_large(X)
        or (method in NEEDS_K and K > n)
        or (method in NEED_TWO and n == 1)
    )
    if kind == "error":
        assert_user_error(result)
        # valid data is refused only by mean shift (scikit-learn's "no point within bandwidth",
        # when rounding puts a point farther than the bandwidth from itself)
        assert must_refuse or method == "meanshift", f"refused valid data: {result}"
        return
    assert not must_refuse, f"{method} returned labels for data it must refuse"
    assert_label_array(result, n)
    if method in NEEDS_K and method not in NEAR_K:
        assert result.max() < K
    if method == "agglomerative":  # a cut of the tree: exactly K clusters, always
        assert len(np.unique(result)) == K
    if method == "dbscan":  # min_samples = 1: the components of the exact eps-graph
        ref = _components(_exact_within(X, case["threshold"], strict=False))
        np.testing.assert_array_equal(result, ref)
    if method == "chinese_whispers":  # classes lie within components of the exact graph
        comp = _components(_exact_within(X, case["threshold"], strict=True))
        for lab in np.unique(result):
            assert len(np.unique(comp[result == lab])) == 1


@pytest.mark.parametrize("method", SCALE_FREE)
@pytest.mark.parametrize("exponent", [66, -66, -700, 500])
@FUZZ
@given(case=hostile())
def test_fuzz_scale_free_methods_do_not_depend_on_the_scale(survives, method, exponent, case):
    """k-means, Ward, rank-order and FINCH give the same labels on ``X * 2**e`` as on ``X``."""
    base = case["base"]
    scaled = base * 2.0**exponent  # exact
    kw = {"K": min(case["K"], len(base)), "k": case["k"], "threshold": case["threshold"]}
    kind, ref = outcome(method, base, **kw)
    assert kind == "labels", ref
    kind, got = outcome(method, scaled, **kw)
    assert kind == "labels", got
    np.testing.assert_array_equal(got, ref)
