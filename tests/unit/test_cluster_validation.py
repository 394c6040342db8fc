"""The one parameter / data check of the estimators, their defaults, and the import layering."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from numbers import Integral, Real

import numpy as np
import pytest
import sklearn.cluster
from sklearn.base import clone

from facecluster.cluster import _validation as v
from facecluster.cluster.agglomerative import WardClustering
from facecluster.cluster.chinese_whispers import ChineseWhispers, chinese_whispers_grid
from facecluster.cluster.dbscan import SingleLinkageDBSCAN, dbscan_grid
from facecluster.cluster.finch import FINCH
from facecluster.cluster.grids import GRIDS
from facecluster.cluster.kmeans import FastKMeans
from facecluster.cluster.meanshift import FastMeanShift, mean_shift_grid
from facecluster.cluster.rank_order import ApproximateRankOrder, rank_order_grid
from facecluster.cluster.registry import ALGORITHMS
from facecluster.cluster.spectral import FastSpectralClustering

ESTIMATORS = [
    FastKMeans,
    WardClustering,
    FastSpectralClustering,
    SingleLinkageDBSCAN,
    FastMeanShift,
    ApproximateRankOrder,
    ChineseWhispers,
]
X4 = np.arange(8.0).reshape(4, 2)


# --------------------------------------------------------------------------------------
# one message format, naming the estimator and the parameter
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("estimator", "message"),
    [
        (FastKMeans(n_clusters=0), "FastKMeans: n_clusters must be an int in [1, inf), got 0"),
        (FastKMeans(n_init=True), "FastKMeans: n_init must be an int in [1, inf), got True"),
        (FastKMeans(tol=float("inf")), "FastKMeans: tol must be a float in [0, inf), got inf"),
        (
            FastKMeans(random_state="a"),
            "FastKMeans: random_state must be an int in [0, 4294967295] or a numpy RandomState"
            " or None, got 'a'",
        ),
        (
            WardClustering(n_clusters=2.0),
            "WardClustering: n_clusters must be an int in [1, inf), got 2.0",
        ),
        (
            FastSpectralClustering(gamma=0),
            "FastSpectralClustering: gamma must be a float in (0, inf), got 0",
        ),
        (
            FastSpectralClustering(eigen_dtype="float16"),
            "FastSpectralClustering: eigen_dtype must be one of 'float64', 'float32', got 'float16'",
        ),
        (
            SingleLinkageDBSCAN(eps=float("nan")),
            "SingleLinkageDBSCAN: eps must be a float in (0, inf), got nan",
        ),
        (
            SingleLinkageDBSCAN(min_samples=0),
            "SingleLinkageDBSCAN: min_samples must be an int in [1, inf), got 0",
        ),
        (
            FastMeanShift(bandwidth=-1.0),
            "FastMeanShift: bandwidth must be a float in (0, inf) or None, got -1.0",
        ),
        (FastMeanShift(max_iter=-1), "FastMeanShift: max_iter must be an int in [0, inf), got -1"),
        (ApproximateRankOrder(k=1), "ApproximateRankOrder: k must be an int in [2, inf), got 1"),
        (
            ApproximateRankOrder(threshold="1"),
            "ApproximateRankOrder: threshold must be a float in (0, inf), got '1'",
        ),
        (
            ChineseWhispers(random_state=1.5),
            "ChineseWhispers: random_state must be an int in [0, inf) or None, got 1.5",
        ),
    ],
)
def test_cluster_validation_one_message_format(estimator, message):
    with pytest.raises(ValueError) as info:
        estimator.fit(X4)
    assert str(info.value) == message
    assert isinstance(info.value, v.ConstraintError)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: dbscan_grid(X4, [0.5, 0.0]),
            "dbscan_grid: eps_values[1] must be a float in (0, inf), got 0.0",
        ),
        (
            lambda: mean_shift_grid(X4, [None]),
            "mean_shift_grid: bandwidths[0] must be a float in (0, inf), got None",
        ),
        (
            lambda: rank_order_grid(X4, [2, 1], [1.0]),
            "rank_order_grid: ks[1] must be an int in [2, inf), got 1",
        ),
        (
            lambda: chinese_whispers_grid(X4, [0.5], n_iter=-2),
            "chinese_whispers_grid: n_iter must be an int in [0, inf), got -2",
        ),
    ],
)
def test_cluster_validation_grid_functions_use_the_same_format(call, message):
    with pytest.raises(ValueError) as info:
        call()
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("X", "message"),
    [
        (np.zeros(3), "Owner: X must be a 2-D array (n_samples, n_features), got shape (3,)"),
        (
            np.zeros((1, 2)),
            "Owner: X must be an array with at least 2 sample(s) and 1 feature, got shape (1, 2)",
        ),
        (
            np.zeros((3, 0)),
            "Owner: X must be an array with at least 2 sample(s) and 1 feature, got shape (3, 0)",
        ),
        (np.array([["a", "b"]] * 2), "Owner: X must be an array of real numbers, got dtype <U1"),
        (
            np.array([[np.nan, 1.0], [np.inf, 0.0]]),
            "Owner: X must be finite, got 2 NaN or infinite value(s)",
        ),
    ],
)
def test_cluster_validation_check_X_messages(X, message):
    with pytest.raises(ValueError) as info:
        v.check_X(X, owner="Owner", min_samples=2)
    assert str(info.value) == message


def test_cluster_validation_check_X_dtype_and_order():
    f32 = v.check_X(np.asfortranarray(np.ones((3, 2), dtype=np.float32)), owner="o")
    assert f32.flags.c_contiguous and f32.dtype == np.float32
    for data in ([[1, 2], [3, 4]], np.ones((2, 2), dtype=np.float16), np.ones((2, 2), bool)):
        out = v.check_X(data, owner="o")
        assert out.dtype == np.float64 and out.flags.c_contiguous


def test_cluster_validation_constraints():
    pos_int, pos_real = v.POSITIVE_INT, v.POSITIVE_REAL
    assert str(pos_int) == "an int in [1, inf)" and str(pos_real) == "a float in (0, inf)"
    assert str(v.Interval(Real, None, 1, closed="right")) == "a float in (-inf, 1]"
    assert str(v.Interval(Integral, None, None)) == "an int"
    assert pos_int.is_satisfied_by(np.int64(3)) and not pos_int.is_satisfied_by(True)
    assert not pos_int.is_satisfied_by(2.0) and not pos_real.is_satisfied_by(0.0)
    assert not pos_real.is_satisfied_by(float("inf")) and pos_real.is_satisfied_by(10**400)
    # numbers come back as Python int / float
    out = v.check_param("o", "x", np.float32(0.5), [pos_real])
    assert type(out) is float and out == 0.5
    assert type(v.check_param("o", "x", np.int32(2), [pos_int])) is int
    assert v.check_param("o", "x", None, [pos_real, None]) is None
    with pytest.raises(ValueError, match=r"^o: n_clusters must be an int in \[1, n_samples=3\]"):
        v.check_n_clusters("o", 4, 3)


def test_cluster_validation_validate_params_coerces():
    params = v.validate_params(SingleLinkageDBSCAN(eps=np.float32(0.25), min_samples=np.int8(2)))
    assert params == {"eps": 0.25, "min_samples": 2}
    assert type(params["eps"]) is float and type(params["min_samples"]) is int


# --------------------------------------------------------------------------------------
# estimator API: keyword-only defaults, constraints declared for every parameter
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_cluster_validation_every_parameter_has_a_default_and_a_constraint(cls):
    signature = inspect.signature(cls.__init__)
    params = [p for name, p in signature.parameters.items() if name != "self"]
    assert params and all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params)
    assert all(p.default is not inspect.Parameter.empty for p in params), cls
    assert set(cls._parameter_constraints) == {p.name for p in params}
    est = cls()
    assert est.get_params() == {p.name: p.default for p in params}
    assert clone(est).get_params() == est.get_params()
    v.validate_params(est)  # the defaults satisfy the constraints
    bad = cls(**{p.name: "bad" for p in params})  # __init__ only stores
    assert all(value == "bad" for value in bad.get_params().values())


def test_cluster_validation_defaults_match_sklearn():
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(c, 0.3, (20, 3)) for c in (0.0, 3.0, 6.0)])
    ref = sklearn.cluster.MeanShift().fit(X)  # bandwidth None: estimate_bandwidth(X)
    np.testing.assert_array_equal(FastMeanShift().fit(X).labels_, ref.labels_)
    ref = sklearn.cluster.DBSCAN(min_samples=1).fit(X)  # eps 0.5
    np.testing.assert_array_equal(SingleLinkageDBSCAN().fit(X).labels_, ref.labels_)


def test_cluster_validation_names_do_not_shadow_sklearn_cluster():
    modules = {sys.modules[cls.__module__] for cls in ESTIMATORS}
    ours = {name for m in modules for name in m.__all__}
    assert not ours & set(dir(sklearn.cluster))


def test_cluster_validation_grids_share_the_estimators_constraints():
    estimator_of = {
        "kmeans": FastKMeans,
        "agglomerative": WardClustering,
        "spectral": FastSpectralClustering,
        "dbscan": SingleLinkageDBSCAN,
        "meanshift": FastMeanShift,
        "rank_order": ApproximateRankOrder,
        "chinese_whispers": ChineseWhispers,
        "finch": FINCH,
        "finch_k": FINCH,
    }
    # HDBSCAN is scikit-learn's estimator: its grid checks hdbscan_grid's own rules
    hdbscan_rules = {"min_cluster_size": v.INT_AT_LEAST_2, "min_samples": v.POSITIVE_INT}
    for method, info in GRIDS.items():
        grid_rules = info.grid.constraints()
        assert set(grid_rules) == set(info.grid.param_names()), method
        for name, rule in grid_rules.items():
            if (method, name) == ("chinese_whispers", "n_iter"):
                assert rule is v.POSITIVE_INT  # the sweep asks for >= 1 pass; 0 is allowed
                continue
            if method == "hdbscan":
                assert rule is hdbscan_rules[name]
                continue
            own = estimator_of[method]._parameter_constraints[name]
            assert any(c is rule for c in own), (method, name)


# --------------------------------------------------------------------------------------
# import layering: the grids load no algorithm; each spec lists the modules it runs
# --------------------------------------------------------------------------------------
def _loaded_after(code: str) -> dict[str, list[str]]:
    script = (
        "import json, sys\n"
        f"{code}\n"
        "ours = sorted(m for m in sys.modules if m.startswith('facecluster'))\n"
        "libs = sorted({m.split('.')[0] for m in sys.modules} & "
        "{'numba', 'sklearn', 'scipy', 'faiss'})\n"
        "print(json.dumps({'ours': ours, 'libs': libs}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=300
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_cluster_validation_grids_import_no_algorithm():
    loaded = _loaded_after("import facecluster.cluster.grids")
    assert loaded["ours"] == [
        "facecluster",
        "facecluster.cluster",
        "facecluster.cluster._validation",
        "facecluster.cluster.grids",
        "facecluster.errors",  # UserError, the base of ConstraintError (no imports of its own)
    ]
    assert loaded["libs"] == []
    assert _loaded_after("import facecluster.cluster")["ours"] == [
        "facecluster",
        "facecluster.cluster",
    ]


@pytest.mark.parametrize("method", list(ALGORITHMS))
def test_cluster_validation_spec_modules_are_the_modules_it_runs(method):
    spec = ALGORITHMS[method]
    code = (
        "import numpy as np\n"
        "from facecluster.cluster.registry import get_method\n"
        f"spec = get_method({method!r})\n"
        "X = np.random.default_rng(0).standard_normal((12, 20))\n"
        "X /= np.linalg.norm(X, axis=1, keepdims=True)\n"
        "spec.run_grid(X, spec.grid_points()[:1], n_clusters=3 if spec.needs_k else None,"
        " random_state=0)\n"
    )
    ours = set(_loaded_after(code)["ours"])
    ours -= {"facecluster", "facecluster.cluster", "facecluster.cluster.registry"}
    ours -= {"facecluster.errors"}  # the UserError base class only: it computes nothing
    assert ours == set(spec.modules)
