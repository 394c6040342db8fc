from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from facecluster.config import ConfigError, apply_overrides, load_params, parse_params


def _base(project_root: Path) -> dict:
    return yaml.safe_load((project_root / "params.yaml").read_text())


def test_project_params_validate(project_root):
    params = load_params(project_root / "params.yaml")
    assert params.seed >= 0
    assert set(params.study.datasets) <= set(params.datasets)
    assert params.dataset("lfw").kind == "lfw"
    assert params.dataset("lfw").min_images_per_identity == 3
    assert params.dataset("muct").detector == "none"
    assert params.model("facenet").weights == "casia-webface"
    assert params.model("lightcnn").variant == "v4"
    assert params.detector.mtcnn.margin == 14


def test_unknown_top_level_key_is_named(project_root):
    data = _base(project_root)
    data["sede"] = 1
    with pytest.raises(ConfigError) as exc:
        parse_params(data)
    assert "sede" in str(exc.value)
    assert "allowed here" in str(exc.value) and "seed" in str(exc.value)


def test_nested_typo_names_full_key(project_root):
    data = _base(project_root)
    data["detector"]["mtcnn"]["margn"] = 3
    with pytest.raises(ConfigError) as exc:
        parse_params(data)
    msg = str(exc.value)
    assert "detector.mtcnn.margn" in msg
    assert "margin" in msg  # the allowed keys are listed


def test_typo_inside_dataset_is_named(project_root):
    data = _base(project_root)
    data["datasets"]["lfw"]["min_image_per_identity"] = 3
    with pytest.raises(ConfigError) as exc:
        parse_params(data)
    assert "min_image_per_identity" in str(exc.value)


def test_mistyped_value_is_named(project_root):
    data = _base(project_root)
    data["datasets"]["lfw"]["variant"] = "deepfunelled"
    with pytest.raises(ConfigError) as exc:
        parse_params(data)
    assert "datasets.lfw" in str(exc.value)


def test_study_must_name_defined_datasets(project_root):
    data = _base(project_root)
    data["study"]["datasets"] = ["lfw", "casia"]
    with pytest.raises(ConfigError, match="casia"):
        parse_params(data)


def test_missing_file_is_clear(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_params(tmp_path / "nope.yaml")


def test_overrides_like_dvc_exp_run(project_root):
    data = apply_overrides(_base(project_root), ["datasets.personal.path=/x/y", "seed=7"])
    params = parse_params(data)
    assert params.seed == 7
    assert params.dataset("personal").path == "/x/y"
    with pytest.raises(ConfigError):
        apply_overrides(data, ["novalue"])


def test_override_below_a_null_entry(project_root):
    data = _base(project_root)
    data["sweep"].setdefault("methods", {})["rank_order"] = None
    out = apply_overrides(data, ["sweep.methods.rank_order.k=[20]"])
    assert out["sweep"]["methods"]["rank_order"] == {"k": [20]}
