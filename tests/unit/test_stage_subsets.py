"""Stage ``subsets@<dataset>`` (:mod:`facecluster.stages.subsets`): the stored subsets file,
its checks, and the stage on the faces manifest's study set (or a skipped dataset)."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from facecluster.config import ConfigError, SweepSettings, parse_params
from facecluster.paths import ProjectPaths
from facecluster.stages import faces as faces_stage
from facecluster.stages import subsets as subsets_stage
from facecluster.stages.faces import FacesNotRunError
from facecluster.stages.subsets import SubsetsError, load_or_draw, read_subsets, write_subsets
from facecluster.sweep import SweepError
from facecluster.sweep.subsets import draw_subsets, subset_seed_key
from study_fixture import manifest_row

# ------------------------------------------------------------------------------------------
# the file
# ------------------------------------------------------------------------------------------


def test_subsets_error_is_a_sweep_error():
    assert issubclass(SubsetsError, SweepError)


def test_subsets_round_trip_and_mismatch(tmp_path):
    key = subset_seed_key(4, "toy")
    labels = np.arange(50) % 7
    subs = draw_subsets(50, n_subsets=3, fraction=0.6, seed_key=key)
    path = write_subsets(tmp_path / "s" / "toy.npz", subs, n=50, fraction=0.6, replace=False,
                         seed_key=key, labels=labels)  # fmt: skip
    ok = dict(n=50, n_subsets=3, fraction=0.6, replace=False, seed_key=key, labels=labels)
    stored = read_subsets(path, **ok)
    np.testing.assert_array_equal(stored.indices, subs)
    assert stored.indices.dtype == np.int64
    assert not stored.skipped and stored.skip_reason is None
    np.testing.assert_array_equal(read_subsets(path).indices, subs)  # no expectations: no check
    for change, name in [
        ({"n_subsets": 30}, "n_subsets=3"),
        ({"fraction": 0.8}, "fraction=0.6"),
        ({"replace": True}, "replace=False"),
        ({"seed_key": subset_seed_key(5, "toy")}, "seed_key"),
        ({"n": 51}, "n=50"),
        ({"labels": labels[::-1]}, "labels_digest"),
    ]:
        with pytest.raises(SubsetsError, match=name):
            read_subsets(path, **{**ok, **change})
    with pytest.raises(SubsetsError, match="not found"):
        read_subsets(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(SubsetsError, match="not a subsets file"):
        read_subsets(tmp_path / "junk.npz")


def test_load_or_draw_draws_once_then_reads(tmp_path):
    cfg = SweepSettings(n_subsets=2, fraction=0.5)
    path = tmp_path / "toy.npz"
    first = load_or_draw(path, 40, cfg, seed=1, dataset="toy")
    assert path.is_file() and first.shape == (2, 20)
    np.testing.assert_array_equal(
        first, draw_subsets(40, n_subsets=2, fraction=0.5, seed_key=subset_seed_key(1, "toy"))
    )
    np.testing.assert_array_equal(load_or_draw(path, 40, cfg, seed=1, dataset="toy"), first)
    with pytest.raises(SubsetsError, match="n_subsets=2"):
        load_or_draw(path, 40, SweepSettings(n_subsets=3, fraction=0.5), seed=1, dataset="toy")
    # without a path: drawn in memory, the same subsets, nothing written
    np.testing.assert_array_equal(load_or_draw(None, 40, cfg, seed=1, dataset="toy"), first)


def test_load_or_draw_checks_the_labels(tmp_path):
    cfg = SweepSettings(n_subsets=2, fraction=0.5)
    path = tmp_path / "toy.npz"
    labels = np.array([f"p{i % 4}" for i in range(40)])
    load_or_draw(path, 40, cfg, seed=1, dataset="toy", labels=labels)
    load_or_draw(path, 40, cfg, seed=1, dataset="toy", labels=labels)  # same rows: fine
    with pytest.raises(SubsetsError, match="labels_digest"):
        load_or_draw(path, 40, cfg, seed=1, dataset="toy", labels=labels[::-1])


# ------------------------------------------------------------------------------------------
# the stage
# ------------------------------------------------------------------------------------------


def write_faces(paths: ProjectPaths, dataset: str, rows: list[dict]) -> None:
    """What the faces stage writes for a dataset with faces: the manifest and the summary."""
    manifest = faces_stage.write_manifest(rows, paths.manifest(dataset))
    faces_stage.write_summary(paths, dataset, faces_stage.summarise(dataset, manifest, {}))


@pytest.fixture()
def project(tmp_path, project_root):
    data = yaml.safe_load((project_root / "params.yaml").read_text())
    data["sweep"]["n_subsets"] = 4
    data["execution"] = {"executor": "serial", "n_jobs": 1, "progress": False}
    for name in ("d", "empty"):  # the stages accept only datasets that params.yaml defines
        data["datasets"][name] = {"kind": "personal", "path": f"data/raw/{name}"}
    return parse_params(data), ProjectPaths(tmp_path)


def test_subsets_follow_the_manifest_study_set(project):
    params, paths = project
    rows = [manifest_row(i, f"p{i % 3}", crop=i) for i in range(30)]
    rows.append(manifest_row(30, "x", status="no_face"))
    rows.append(manifest_row(31, "pairs_only", in_study=False, crop=30))
    write_faces(paths, "d", rows)
    labels = faces_stage.study_labels(paths, "d")
    assert len(labels) == 30 and "pairs_only" not in labels and "x" not in labels
    subsets = subsets_stage.run("d", params, paths)
    assert not subsets.skipped
    assert subsets.indices.shape == (4, 24)
    assert all(len(np.unique(s)) == 24 for s in subsets.indices)  # without replacement
    # stored, and checked against the settings and the study set's labels on read
    stored = read_subsets(paths.subsets("d"), n=30, n_subsets=4, fraction=params.sweep.fraction,
                          seed_key=subset_seed_key(params.seed, "d"), labels=labels)  # fmt: skip
    np.testing.assert_array_equal(stored.indices, subsets.indices)
    again = subsets_stage.run("d", params, paths)  # keyed, reproducible
    np.testing.assert_array_equal(subsets.indices, again.indices)


def test_skipped_dataset_gives_empty_subsets(project):
    params, paths = project
    faces_stage.write_manifest([], paths.manifest("empty"))
    faces_stage.write_summary(paths, "empty", {"dataset": "empty", "skip_reason": "no images"})
    subsets = subsets_stage.run("empty", params, paths)
    assert subsets.skipped and subsets.skip_reason == "no images"
    assert subsets.indices.size == 0
    stored = read_subsets(paths.subsets("empty"), n=0, n_subsets=4)
    assert stored.skip_reason == "no images" and stored.indices.size == 0
    with pytest.raises(SubsetsError, match="skipped dataset"):
        load_or_draw(paths.subsets("empty"), 10, params.sweep, seed=1, dataset="empty")


def test_subsets_stage_needs_a_defined_dataset_whose_faces_stage_ran(project):
    params, paths = project
    with pytest.raises(ConfigError, match="unknown dataset 'nope'"):
        subsets_stage.run("nope", params, paths)
    with pytest.raises(FacesNotRunError, match=r"faces@d"):
        subsets_stage.run("d", params, paths)
    assert not paths.subsets("d").exists()
