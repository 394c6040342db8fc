"""Hostile values in params.yaml: booleans are not numbers, infinities are no setting, and a
typo is one message that names the key as written and the keys allowed there."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from facecluster.config import ConfigError, parse_params

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def base() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))


def error_of(base: dict, key: str, value: object) -> str:
    data = copy.deepcopy(base)
    *path, last = key.split(".")
    node = data
    for part in path:
        node = node[part]
    node[last] = value
    with pytest.raises(ConfigError) as info:
        parse_params(data)
    return str(info.value)


@pytest.mark.parametrize(
    "key",
    [
        "seed",
        "sweep.n_subsets",
        "sweep.fraction",
        "execution.n_jobs",
        "execution.detector_batch_size",
        "maps.tsne_perplexity",
        "detector.mtcnn.factor",
        "detector.max_side",
        "crops.facenet_size",
    ],
)
def test_a_boolean_is_not_a_number(base, key):
    message = error_of(base, key, True)
    assert f"'{key}'" in message and "True" in message


def test_a_boolean_inside_a_list_is_not_a_number(base):
    message = error_of(base, "detector.mtcnn.thresholds", [True, 0.7, 0.7])
    assert "'detector.mtcnn.thresholds.0'" in message


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
@pytest.mark.parametrize("key", ["maps.tsne_perplexity", "execution.detector_batch_megapixels"])
def test_infinities_and_nan_are_refused_at_load(base, key, value):
    assert "finite number" in error_of(base, key, value)


def test_a_number_is_not_a_boolean(base):
    assert "'datasets.lfw.pairs_faces'" in error_of(base, "datasets.lfw.pairs_faces", 1)


def test_a_typo_in_a_dataset_names_the_real_key_and_the_allowed_keys(base):
    message = error_of(base, "datasets.personal.detecter", "mtcnn")
    assert "'datasets.personal.detecter'" in message  # not datasets.personal.personal.…
    assert "allowed here: detector, face_select, kind, max_images, path" in message


def test_a_typo_in_a_model_names_the_real_key_and_the_allowed_keys(base):
    message = error_of(base, "models.facenet.weight", "vggface2")
    assert "unknown key 'models.facenet.weight' (allowed here: kind, weights)" in message


def test_an_unknown_kind_lists_the_kinds(base):
    message = error_of(base, "datasets.personal.kind", "persnal")
    assert "'datasets.personal.kind' must be one of personal, yale, lfw, muct" in message
    assert "'path'" not in message  # the block itself is not dumped


def test_an_unknown_study_dataset_is_one_short_line(base):
    message = error_of(base, "study.datasets", ["personal", "nosuch"])
    assert "study.datasets names 'nosuch'" in message
    assert "'seed'" not in message and len(message) < 300  # not the whole params dict


def test_the_committed_params_still_load(base):
    params = parse_params(base)
    assert params.detector.max_side == 1600
