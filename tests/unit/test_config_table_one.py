"""``table_one`` in params.yaml: the report's setup and the one-factor sweeps of Table I."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from facecluster.config import ConfigError, load_params, parse_params


@pytest.fixture(scope="module")
def base(project_root: Path) -> dict:
    return yaml.safe_load((project_root / "params.yaml").read_text())


def _with(base: dict, **sweeps) -> dict:
    data = copy.deepcopy(base)
    data["table_one"]["sweeps"].update(sweeps)
    return data


def test_default_table_one_is_the_report_setup_and_one_factor_sweeps(project_root):
    params = load_params(project_root / "params.yaml")
    t1 = params.table_one
    assert t1.methods == ["kmeans", "agglomerative", "spectral", "dbscan", "meanshift"]
    setups = t1.setups()
    assert set(setups) == {"report", "sampling", "detector", "casia", "lightcnn", "crops"}
    assert set(setups["report"]) == {"personal", "lfw", "muct"}
    report_lfw = t1.sweeps["report-lfw"]
    assert params.dataset(report_lfw.dataset).detector == "haar-castiel"
    assert report_lfw.model == "facenet-20170512" and report_lfw.replace
    assert params.models[report_lfw.model].weights == "ms-celeb-2017"
    factors = {n: params.table_one_factors(n) for n in t1.sweeps if not n.startswith("report")}
    assert factors["sampling-lfw"] == {"sampling": ("with replacement", "without")}
    assert factors["detector-lfw"] == {"detector": ("haar-castiel", "mtcnn")}
    assert factors["casia-lfw"] == {"model": ("facenet-20170512", "facenet")}
    assert factors["lightcnn-personal"] == {"model": ("facenet-20170512", "lightcnn")}
    assert factors["crops-muct"] == {"source": ("muct-published", "muct")}  # 24×32 crops
    # the preset datasets read the same images as the study's
    yale, castiel = params.dataset("yale"), params.dataset("yale-castiel")
    assert castiel.kind == yale.kind == "yale" and castiel.path == yale.path
    assert t1.sweeps["report-personal"].dataset == "yale-castiel"  # the machine-independent set
    assert factors["detector-personal"] == {"detector": ("haar-castiel", "mtcnn")}


@pytest.mark.parametrize(
    ("sweeps", "message"),
    [
        ({"both-lfw": {"dataset": "lfw", "model": "facenet", "replace": True}}, "exactly one"),
        ({"report-yale": {"dataset": "lfw", "model": "facenet", "replace": True}}, "<setup>-"),
        ({"odd-lfw": {"dataset": "nope", "model": "facenet", "replace": True}}, "unknown dataset"),
        ({"odd-lfw": {"dataset": "muct", "model": "facenet", "replace": True}}, "not 'lfw'"),
        (
            {"odd-lfw": {"dataset": "muct-published", "model": "facenet", "replace": True}},
            "no stage embeds",
        ),
        (
            {
                "sampling-lfw": {
                    "dataset": "lfw-castiel",
                    "model": "facenet-20170512",
                    "replace": True,
                }
            },  # fmt: skip
            "none",
        ),
    ],
)
def test_bad_sweeps_are_one_clear_error(base, sweeps, message):
    with pytest.raises(ConfigError, match=message):
        parse_params(_with(base, **sweeps))


def test_typo_in_a_sweep_names_the_key(base):
    data = _with(base, **{"casia-lfw": {"dataset": "lfw-castiel", "modle": "facenet",
                                         "replace": True}})  # fmt: skip
    with pytest.raises(ConfigError, match=r"table_one\.sweeps\.casia-lfw\.modle"):
        parse_params(data)


def test_table_one_datasets_and_models_are_checked(base):
    data = copy.deepcopy(base)
    data["table_one"]["datasets"].append("lfw")
    with pytest.raises(ConfigError, match="study.datasets and table_one.datasets"):
        parse_params(data)
    data = copy.deepcopy(base)
    data["table_one"]["models"].append("vgg")
    with pytest.raises(ConfigError, match="not in study.models"):
        parse_params(data)
    data = copy.deepcopy(base)
    data["table_one"]["sweeps"] = {
        "casia-lfw": {"dataset": "lfw-castiel", "model": "facenet", "replace": True}
    }
    with pytest.raises(ConfigError, match="report's setup"):
        parse_params(data)


def test_like_for_like_means_the_reports_model_on_the_reports_data(project_root):
    params = load_params(project_root / "params.yaml")
    assert params.table_one_mismatch("lfw", "facenet-20170512") is None
    assert params.table_one_mismatch("lfw-castiel", "facenet-20170512") is None
    assert params.table_one_mismatch("muct-published", "facenet-20170512") is None
    assert params.table_one_mismatch("muct", "facenet-20170512") is None  # (resolution: report)
    assert params.table_one_mismatch("lfw", "facenet").startswith("another model (facenet;")
    assert params.table_one_mismatch("lfw", "lightcnn").startswith("another model")
    assert params.table_one_mismatch("yale", "facenet-20170512").startswith("other photos")
    assert params.table_one_mismatch("personal", "facenet-20170512").startswith("other photos")
