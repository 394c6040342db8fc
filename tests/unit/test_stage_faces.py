"""The faces stage (:mod:`facecluster.stages.faces`) on tiny generated folders: statuses,
skips, errors, outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from facecluster.config import parse_params
from facecluster.errors import UserError
from facecluster.faces.manifest import STATUSES
from facecluster.paths import ProjectPaths
from facecluster.stages import faces as faces_stage
from facecluster.stages.faces import NoUsableFacesError, read_crops, read_manifest


def _params(project_root: Path, folder: Path, detector: str):
    data = yaml.safe_load((project_root / "params.yaml").read_text())
    data["datasets"]["personal"] = {"kind": "personal", "path": str(folder), "detector": detector}
    data["execution"] = {**data.get("execution", {}), "progress": False}
    return parse_params(data)


def _noise(path: Path, fmt: str = "PNG", size=(40, 50), seed: int = 0) -> None:
    arr = np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(arr).save(path, format=fmt)


@pytest.fixture()
def bad_folder(tmp_path: Path) -> Path:
    root = tmp_path / "people"
    (root / "alice").mkdir(parents=True)
    (root / "bob").mkdir()
    _noise(root / "alice" / "a1.png")
    _noise(root / "alice" / "a2", fmt="GIF", seed=1)  # no extension: recognised by content
    _noise(root / "bob" / "b1.jpg", fmt="JPEG", seed=2)
    (root / "bob" / "empty.jpg").write_bytes(b"")  # zero-byte
    (root / "bob" / "notes.jpg").write_text("not an image at all")  # non-image with .jpg name
    full = root / "bob" / "full.jpg"
    _noise(full, fmt="JPEG", size=(120, 120), seed=3)
    (root / "bob" / "truncated.jpg").write_bytes(full.read_bytes()[:300])
    return root


@pytest.mark.reliability
def test_bad_input_is_recorded_never_crashes(project_root, bad_folder, tmp_path):
    before = {p: p.read_bytes() for p in bad_folder.rglob("*") if p.is_file()}
    paths = ProjectPaths(tmp_path / "proj")
    result = faces_stage.run("personal", _params(project_root, bad_folder, "none"), paths)
    assert result.dataset == "personal" and result.out_dir == paths.faces("personal")
    assert not result.skipped and result.skip_reason is None
    man = read_manifest(paths, "personal")
    assert set(man["status"]) <= set(STATUSES)
    by_name = dict(zip(man["relpath"].map(lambda r: Path(r).name), man["status"], strict=True))
    assert by_name["a1.png"] == "ok" and by_name["a2"] == "ok" and by_name["b1.jpg"] == "ok"
    assert by_name["full.jpg"] == "ok"
    assert by_name["empty.jpg"] == "corrupt"
    assert by_name["notes.jpg"] == "not_image"
    assert by_name["truncated.jpg"] == "corrupt"
    reasons = dict(zip(man["relpath"].map(lambda r: Path(r).name), man["reason"], strict=True))
    assert "zero-byte" in reasons["empty.jpg"]
    assert reasons["a1.png"] == ""
    # crops line up with the manifest and have the configured sizes
    crops = read_crops(paths, "personal", "facenet")
    assert crops.shape == (4, 160, 160, 3)
    assert read_crops(paths, "personal", "lightcnn").shape == (4, 128, 128, 3)
    ok = man[man["status"] == "ok"]
    assert sorted(ok["crop_index"]) == [0, 1, 2, 3]
    assert (man.loc[man["status"] != "ok", "crop_index"] == -1).all()
    assert result.summary["images"] == 7 and result.summary["faces"] == 4
    assert result.summary["identities"] == 2
    # the clustering set's labels follow the crops
    labels = faces_stage.study_labels(paths, "personal")
    assert sorted(labels) == ["alice", "alice", "bob", "bob"]
    # raw data untouched
    assert {p: p.read_bytes() for p in bad_folder.rglob("*") if p.is_file()} == before
    # the summary is read back, and the stage's metrics JSON is written under reports/faces
    assert faces_stage.read_summary(paths, "personal").summary == result.summary
    assert (paths.reports / "faces" / "personal.json").is_file()
    assert faces_stage.read_metrics(paths, ["personal"])["personal"]["faces"] == 4


def test_empty_folder_is_skipped_plainly(project_root, tmp_path):
    folder = tmp_path / "nobody"
    folder.mkdir()
    (folder / "README.md").write_text("no images here")
    paths = ProjectPaths(tmp_path / "proj")
    result = faces_stage.run("personal", _params(project_root, folder, "mtcnn"), paths)
    assert result.skipped
    assert "no images" in result.skip_reason
    assert result.summary["skip_reason"] == result.skip_reason  # one field marks the skip
    assert "reason" not in result.summary and "skipped" not in result.summary
    assert read_crops(paths, "personal", "facenet").shape[0] == 0
    assert paths.manifest("personal").is_file()
    again = faces_stage.read_summary(paths, "personal")
    assert again.skipped and again.skip_reason == result.skip_reason
    assert result.skip_reason == f"no images found in {folder}"  # outside the project


def test_skip_reason_names_a_folder_inside_the_project_relative_to_its_root(
    project_root, tmp_path
):
    """A skip reason is a metric: the same on every machine that clones the project."""
    paths = ProjectPaths(tmp_path / "proj")
    folder = paths.root / "data" / "raw" / "personal"
    folder.mkdir(parents=True)
    result = faces_stage.run("personal", _params(project_root, folder, "mtcnn"), paths)
    assert result.skip_reason == "no images found in data/raw/personal"
    assert paths.shown(tmp_path / "elsewhere") == str(tmp_path / "elsewhere")


def test_missing_folder_names_the_path(project_root, tmp_path):
    missing = tmp_path / "does-not-exist"
    with pytest.raises(FileNotFoundError, match=str(missing)):
        faces_stage.run("personal", _params(project_root, missing, "none"), ProjectPaths(tmp_path))


def test_no_usable_face_is_a_clear_error(project_root, tmp_path):
    folder = tmp_path / "noise"
    (folder / "x").mkdir(parents=True)
    for i in range(2):
        _noise(folder / "x" / f"{i}.png", size=(64, 64), seed=10 + i)
    paths = ProjectPaths(tmp_path / "proj")
    with pytest.raises(NoUsableFacesError, match="not one usable face"):
        faces_stage.run("personal", _params(project_root, folder, "mtcnn"), paths)
    man = read_manifest(paths, "personal")
    assert list(man["status"]) == ["no_face", "no_face"]  # still recorded


def test_haar_detector_runs(project_root, tmp_path):
    folder = tmp_path / "haar"
    (folder / "x").mkdir(parents=True)
    _noise(folder / "x" / "0.png", size=(64, 64))
    paths = ProjectPaths(tmp_path / "proj")
    with pytest.raises(NoUsableFacesError):
        faces_stage.run("personal", _params(project_root, folder, "haar"), paths)
    assert list(read_manifest(paths, "personal")["status"]) == ["no_face"]


def test_read_crops_and_manifest_errors(tmp_path):
    paths = ProjectPaths(tmp_path)
    with pytest.raises(ValueError, match="unknown crop family 'arcface'"):
        read_crops(paths, "d", "arcface")
    with pytest.raises(FileNotFoundError, match="faces@d"):
        read_manifest(paths, "d")
    with pytest.raises(ValueError, match="unknown manifest status 'weird'"):
        faces_stage.write_manifest([{"status": "weird"}], paths.manifest("d"))


def test_summary_without_skip_reason_asks_for_a_rerun(tmp_path):
    paths = ProjectPaths(tmp_path)
    paths.faces("d").mkdir(parents=True)
    (paths.faces("d") / "summary.json").write_text('{"dataset": "d", "skipped": true}')
    with pytest.raises(UserError, match=r"no 'skip_reason' field.*faces@d"):
        faces_stage.read_summary(paths, "d")
