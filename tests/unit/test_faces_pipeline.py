"""The faces stage on tiny generated folders: statuses, skips, errors, outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from facecluster.config import parse_params
from facecluster.faces.manifest import STATUSES, read_manifest
from facecluster.faces.pipeline import NoUsableFacesError, extract_faces, load_crops
from facecluster.paths import ProjectPaths


def _params(project_root: Path, folder: Path, detector: str):
    data = yaml.safe_load((project_root / "params.yaml").read_text())
    data["datasets"]["personal"] = {"kind": "personal", "path": str(folder), "detector": detector}
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


def test_bad_input_is_recorded_never_crashes(project_root, bad_folder, tmp_path):
    before = {p: p.read_bytes() for p in bad_folder.rglob("*") if p.is_file()}
    paths = ProjectPaths(tmp_path / "proj")
    result = extract_faces(
        "personal", _params(project_root, bad_folder, "none"), paths, progress=False
    )
    man = read_manifest(paths.manifest("personal"))
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
    crops = load_crops(result.out_dir, "facenet")
    assert crops.shape == (4, 160, 160, 3)
    assert load_crops(result.out_dir, "lightcnn").shape == (4, 128, 128, 3)
    ok = man[man["status"] == "ok"]
    assert sorted(ok["crop_index"]) == [0, 1, 2, 3]
    assert (man.loc[man["status"] != "ok", "crop_index"] == -1).all()
    assert result.summary["images"] == 7 and result.summary["faces"] == 4
    assert result.summary["identities"] == 2
    # raw data untouched
    assert {p: p.read_bytes() for p in bad_folder.rglob("*") if p.is_file()} == before
    # the stage's metrics JSON is written under reports/faces
    assert (paths.reports / "faces" / "personal.json").is_file()


def test_empty_folder_is_skipped_plainly(project_root, tmp_path):
    folder = tmp_path / "nobody"
    folder.mkdir()
    (folder / "README.md").write_text("no images here")
    paths = ProjectPaths(tmp_path / "proj")
    result = extract_faces(
        "personal", _params(project_root, folder, "mtcnn"), paths, progress=False
    )
    assert result.skipped
    assert "no images" in result.summary["reason"]
    assert load_crops(result.out_dir, "facenet").shape[0] == 0
    assert paths.manifest("personal").is_file()


def test_missing_folder_names_the_path(project_root, tmp_path):
    missing = tmp_path / "does-not-exist"
    with pytest.raises(FileNotFoundError, match=str(missing)):
        extract_faces(
            "personal",
            _params(project_root, missing, "none"),
            ProjectPaths(tmp_path),
            progress=False,
        )


def test_no_usable_face_is_a_clear_error(project_root, tmp_path):
    folder = tmp_path / "noise"
    (folder / "x").mkdir(parents=True)
    for i in range(2):
        _noise(folder / "x" / f"{i}.png", size=(64, 64), seed=10 + i)
    paths = ProjectPaths(tmp_path / "proj")
    with pytest.raises(NoUsableFacesError, match="not one usable face"):
        extract_faces("personal", _params(project_root, folder, "mtcnn"), paths, progress=False)
    man = read_manifest(paths.manifest("personal"))
    assert list(man["status"]) == ["no_face", "no_face"]  # still recorded


def test_haar_detector_runs(project_root, tmp_path):
    folder = tmp_path / "haar"
    (folder / "x").mkdir(parents=True)
    _noise(folder / "x" / "0.png", size=(64, 64))
    paths = ProjectPaths(tmp_path / "proj")
    with pytest.raises(NoUsableFacesError):
        extract_faces("personal", _params(project_root, folder, "haar"), paths, progress=False)
    assert list(read_manifest(paths.manifest("personal"))["status"]) == ["no_face"]
