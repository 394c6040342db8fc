"""Datasets of precomputed vectors in params.yaml: ``kind: embeddings`` and ``study.features``."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest
import yaml

from facecluster.config import ConfigError, PublishedFeatures, load_params, parse_params


def _base(project_root: Path) -> dict:
    return yaml.safe_load((project_root / "params.yaml").read_text())


def _with_file(project_root: Path, **spec) -> dict:
    data = _base(project_root)
    data["datasets"]["mine"] = {"kind": "embeddings", **spec}
    data["study"]["features"]["mine"] = "my-model"
    return data


def test_default_study_sweeps_the_published_muct_embeddings(project_root):
    params = load_params(project_root / "params.yaml")
    assert params.study.features == {"muct-published": "facenet-20170512"}
    spec = params.dataset("muct-published")
    assert spec.kind == "embeddings" and spec.source == "muct-facenet-20170512"
    assert params.pairs()[-1] == ("muct-published", "facenet-20170512")
    assert params.study_datasets()[-1] == "muct-published"
    assert params.study_models()[-1] == "facenet-20170512"
    assert params.table_one_column("muct-published") == "muct"
    assert params.table_one_column("lfw") == "lfw"
    assert params.feature_model("muct-published") == "facenet-20170512"


def test_config_names_every_published_set_the_reader_knows():
    from facecluster.data.features import PUBLISHED

    assert set(typing.get_args(PublishedFeatures)) == set(PUBLISHED)


def test_a_file_of_yours_validates(project_root):
    params = parse_params(
        _with_file(project_root, path="feats.bin", dim=256, labels_path="x.meta")
    )
    assert params.dataset("mine").dim == 256
    assert ("mine", "my-model") in params.pairs()
    assert params.table_one_column("mine") is None


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ({}, "exactly one of 'source'"),
        ({"path": "a.npz", "source": "muct-facenet-20170512"}, "exactly one of 'source'"),
        ({"source": "muct-facenet-20170512", "array": "x"}, r"fixes how its files are read"),
        ({"path": "feats.bin", "labels_path": "x.meta"}, "needs 'dim'"),
        ({"path": "a.h5", "format": "hdf", "labels": "y"}, "format"),
        ({"path": "a.bin", "dim": 0}, "dim"),
        ({"path": "a.npz", "normalise": True}, "normalise"),
        ({"source": "muct-facenet-2017"}, "source"),
    ],
)
def test_bad_feature_dataset_is_one_error_naming_the_key(project_root, spec, match):
    with pytest.raises(ConfigError, match=match) as exc:
        parse_params(_with_file(project_root, **spec))
    assert "datasets.mine" in str(exc.value)


def test_feature_dataset_belongs_under_study_features(project_root):
    data = _with_file(project_root, path="a.npz")
    data["study"]["datasets"].append("mine")
    with pytest.raises(ConfigError, match="list it under study.features"):
        parse_params(data)


def test_study_features_names_only_feature_datasets(project_root):
    data = _base(project_root)
    data["study"]["features"] = {"lfw": "facenet"}
    with pytest.raises(ConfigError, match="not a dataset of kind embeddings"):
        parse_params(data)


@pytest.mark.parametrize("name", ["", "-x", "a b", "a/b"])
def test_feature_model_name_must_be_a_file_name(project_root, name):
    data = _with_file(project_root, path="a.npz")
    data["study"]["features"] = {"mine": name}
    with pytest.raises(ConfigError, match="study.features"):
        parse_params(data)


def test_check_pair_knows_which_model_computed_a_feature_set(project_root):
    params = parse_params(_with_file(project_root, path="a.npz"))
    params.check_pair("mine", "my-model")
    params.check_pair("lfw", "facenet")
    with pytest.raises(ConfigError, match="precomputed embeddings of my-model, not of 'facenet'"):
        params.check_pair("mine", "facenet")
    with pytest.raises(ConfigError, match="unknown model"):
        params.check_pair("lfw", "my-model")
