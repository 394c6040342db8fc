"""Hostile values in the sweep grids (``sweep.methods`` of params.yaml), refused at load.

pydantic's lax mode reads ``true`` as 1, so ``threshold: true`` used to pass as 1.0 and
``k: true`` fail as "got 1"; infinities and NaN are no setting either.  Every refusal is a
:class:`~facecluster.config.ConfigError` whose line names the key (an axis value with its
index, ``...threshold.0``) and says what it must be, in the estimators' own words.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from facecluster.cluster.grids import GRIDS
from facecluster.config import ConfigError, parse_params

ROOT = Path(__file__).resolve().parents[2]
INF, NAN = float("inf"), float("nan")


@pytest.fixture(scope="module")
def base() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))


def error_of(base: dict, method: str, key: str, value: object) -> str:
    data = copy.deepcopy(base)
    data["sweep"]["methods"].setdefault(method, {})[key] = value
    with pytest.raises(ConfigError) as info:
        parse_params(data)
    return str(info.value)


@pytest.mark.parametrize(
    ("method", "key", "value", "line"),
    [
        # booleans, as a scalar axis value, inside a list, and as a fixed (scalar) setting
        (
            "chinese_whispers",
            "threshold",
            True,
            "'sweep.methods.chinese_whispers.threshold.0' must be a float in (0, inf), got True",
        ),
        (
            "rank_order",
            "k",
            True,
            "'sweep.methods.rank_order.k.0' must be an int in [2, inf), got True",
        ),
        (
            "rank_order",
            "k",
            [10, False],
            "'sweep.methods.rank_order.k.1' must be an int in [2, inf), got False",
        ),
        (
            "spectral",
            "gamma",
            [False],
            "'sweep.methods.spectral.gamma.0' must be a float in (0, inf), got False",
        ),
        (
            "kmeans",
            "n_init",
            True,
            "'sweep.methods.kmeans.n_init' must be an int in [1, inf), got True",
        ),
        (
            "chinese_whispers",
            "n_iter",
            True,
            "'sweep.methods.chinese_whispers.n_iter' must be an int in [1, inf), got True",
        ),
        (
            "dbscan",
            "min_samples",
            False,
            "'sweep.methods.dbscan.min_samples' must be an int in [1, inf), got False",
        ),
        # infinities and NaN, float and int fields alike
        (
            "meanshift",
            "bandwidth",
            INF,
            "'sweep.methods.meanshift.bandwidth.0' must be a float in (0, inf), got inf",
        ),
        (
            "dbscan",
            "eps",
            [0.5, NAN],
            "'sweep.methods.dbscan.eps.1' must be a float in (0, inf), got nan",
        ),
        (
            "rank_order",
            "threshold",
            -INF,
            "'sweep.methods.rank_order.threshold.0' must be a float in (0, inf), got -inf",
        ),
        (
            "rank_order",
            "k",
            [INF],
            "'sweep.methods.rank_order.k.0' must be an int in [2, inf), got inf",
        ),
        (
            "kmeans",
            "n_init",
            INF,
            "'sweep.methods.kmeans.n_init' must be an int in [1, inf), got inf",
        ),
    ],
)
def test_grid_value_is_refused_naming_the_key(base, method, key, value, line):
    message = error_of(base, method, key, value)
    assert f"  {line}" in message.splitlines(), message
    assert sum(f"'sweep.methods.{method}.{key}" in x for x in message.splitlines()) == 1


def test_every_numeric_grid_field_refuses_a_boolean(base):
    """No field of any grid model reads ``true`` as a number (axes and fixed settings)."""
    for method, info in GRIDS.items():
        for name in info.grid.param_names():
            message = error_of(base, method, name, True)
            assert f"'sweep.methods.{method}.{name}" in message, message
            assert message.rstrip().endswith("got True"), message


def test_numbers_still_load(base):
    """Ints in float axes and whole floats in int fields are numbers, as before."""
    data = copy.deepcopy(base)
    methods = data["sweep"]["methods"]
    methods["spectral"]["gamma"] = [1, 2.5]
    methods["rank_order"]["k"] = 20
    methods["chinese_whispers"]["n_iter"] = 50.0
    sweep = parse_params(data).sweep.methods
    assert sweep.spectral.gamma == (1.0, 2.5)
    assert sweep.rank_order.k == (20,)
    assert sweep.chinese_whispers.n_iter == 50
