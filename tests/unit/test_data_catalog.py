"""collect_dataset: dispatch on spec.kind, max_images, LFW pairs-only images, errors."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from facecluster.config import EmbeddingsDataset, LfwDataset, MuctDataset, PersonalDataset
from facecluster.data import lfw
from facecluster.data.catalog import collect_dataset
from facecluster.data.images import DatasetNotFoundError
from facecluster.paths import ProjectPaths

PEOPLE = {"Ann_Bee": 3, "Cid_Dee": 1, "Eve_Fox": 2, "Gus_Hal": 4}
# fold 0: same Ann 1-2, Gus 3-4; different Cid1-Eve2, Ann3-Zed1 (Zed_Zoo is missing)
PAIRS_TXT = "1\t2\nAnn_Bee\t1\t2\nGus_Hal\t3\t4\nCid_Dee\t1\tEve_Fox\t2\nAnn_Bee\t3\tZed_Zoo\t1\n"


def _img(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        Image.new("RGB", (4, 4)).save(fh, format="PNG")


@pytest.fixture()
def paths(tmp_path: Path) -> ProjectPaths:
    root = tmp_path / "project"
    root.mkdir()
    return ProjectPaths(root)


def test_personal_relative_path_and_max_images(paths: ProjectPaths) -> None:
    folder = paths.root / "data" / "raw" / "personal"
    for rel in ["bo/2", "al/1", "al/3", "bo/1"]:
        _img(folder / rel)
    (folder / "al" / "x.txt").write_text("no")
    listing = collect_dataset("personal", PersonalDataset(kind="personal"), paths)
    assert listing.root == folder.resolve() and listing.source == "folder"
    assert [r.relpath for r in listing.records] == ["al/1", "al/3", "bo/1", "bo/2"]
    assert listing.identities == ["al", "bo"]
    assert [s.relpath for s in listing.skipped] == ["al/x.txt"]
    small = collect_dataset("personal", PersonalDataset(kind="personal", max_images=3), paths)
    assert [r.relpath for r in small.records] == ["al/1", "al/3", "bo/1"]
    assert small.extra["n_images_total"] == 4


def test_personal_missing_and_empty(paths: ProjectPaths, tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="personal dataset folder not found"):
        collect_dataset("personal", PersonalDataset(kind="personal", path="nowhere"), paths)
    empty = tmp_path / "empty"
    empty.mkdir()
    listing = collect_dataset("personal", PersonalDataset(kind="personal", path=str(empty)), paths)
    assert listing.is_empty and listing.records == [] and listing.identities == []


@pytest.fixture()
def lfw_mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    mirror = tmp_path / "mirror"
    images = mirror / "lfw" / "lfw-deepfunneled"
    for name, n in PEOPLE.items():
        for i in range(1, n + 1):
            (images / name).mkdir(parents=True, exist_ok=True)
            (images / name / f"{name}_{i:04d}.jpg").write_bytes(b"\xff\xd8")
    pairs = mirror / "lfw" / "pairs.txt"
    pairs.write_text(PAIRS_TXT)
    monkeypatch.setitem(
        lfw.LFW_PROTOCOL_MD5, "pairs.txt", hashlib.md5(pairs.read_bytes()).hexdigest()
    )
    monkeypatch.setenv("FACECLUSTER_MIRROR", str(mirror))
    return mirror


def test_lfw_with_pairs_only_images(paths: ProjectPaths, lfw_mirror: Path) -> None:
    listing = collect_dataset("lfw", LfwDataset(kind="lfw"), paths)
    assert listing.source == "mirror"
    assert listing.root == lfw_mirror / "lfw" / "lfw-deepfunneled"
    assert listing.extra["pairs_txt"] == lfw_mirror / "lfw" / "pairs.txt"
    study = listing.study_records
    assert Counter(r.identity for r in study) == {"Ann_Bee": 3, "Gus_Hal": 4}
    pairs_only = [r.relpath for r in listing.records if not r.in_study]
    assert pairs_only == ["Cid_Dee/Cid_Dee_0001.jpg", "Eve_Fox/Eve_Fox_0002.jpg"]
    assert [r.relpath for r in listing.records] == sorted(r.relpath for r in listing.records)
    assert [(s.relpath, s.reason) for s in listing.skipped] == [
        ("Zed_Zoo/Zed_Zoo_0001.jpg", "named by pairs.txt but missing")
    ]
    assert listing.identities == ["Ann_Bee", "Gus_Hal"]
    assert listing.extra["n_pairs"] == 4 and listing.extra["pairs_complete"] is False


def test_lfw_without_pairs_and_with_max_images(paths: ProjectPaths, lfw_mirror: Path) -> None:
    listing = collect_dataset(
        "lfw", LfwDataset(kind="lfw", pairs_faces=False, min_images_per_identity=2), paths
    )
    assert all(r.in_study for r in listing.records)
    assert Counter(r.identity for r in listing.records) == {
        "Ann_Bee": 3,
        "Eve_Fox": 2,
        "Gus_Hal": 4,
    }
    small = collect_dataset("lfw", LfwDataset(kind="lfw", max_images=2), paths)
    assert [r.relpath for r in small.study_records] == [
        "Ann_Bee/Ann_Bee_0001.jpg",
        "Ann_Bee/Ann_Bee_0002.jpg",
    ]
    # pairs-only images are capped at max_images too (smoke runs), and flagged incomplete
    assert len([r for r in small.records if not r.in_study]) == 2
    assert small.extra["pairs_complete"] is False


def test_lfw_all_images_lists_every_image_outside_the_clustering_set(
    paths: ProjectPaths, lfw_mirror: Path
) -> None:
    listing = collect_dataset("lfw", LfwDataset(kind="lfw", all_images=True), paths)
    assert Counter(r.identity for r in listing.records) == PEOPLE  # lfw-all: everyone
    assert Counter(r.identity for r in listing.study_records) == {"Ann_Bee": 3, "Gus_Hal": 4}
    # the clustering set is the >= 3 filter of it; pairs.txt's images are all listed already
    assert listing.extra["n_other_images"] == 3 and listing.extra["all_complete"] is True
    assert listing.extra["n_pairs_only"] == 0
    assert listing.extra["pairs_complete"] is False  # Zed_Zoo is named but missing
    assert [r.relpath for r in listing.records] == sorted(r.relpath for r in listing.records)
    capped = collect_dataset("lfw", LfwDataset(kind="lfw", all_images=True, max_images=2), paths)
    others = [r.relpath for r in capped.records if not r.in_study]
    assert capped.extra["all_complete"] is False and len(capped.study_records) == 2
    # pairs' images the cap left out are added back (capped again), never twice
    assert len(others) == len(set(others)) and {"Cid_Dee/Cid_Dee_0001.jpg"} <= set(others)


def test_muct_from_path(paths: ProjectPaths) -> None:
    folder = paths.root / "muct-crops"
    for name in ["i001qa-mn.jpg", "i000qa-fn.jpg", "notes.txt"]:
        (folder / "x").mkdir(parents=True, exist_ok=True)
        (folder / "x" / name).write_bytes(b"\xff\xd8")
    listing = collect_dataset("muct", MuctDataset(kind="muct", path="muct-crops"), paths)
    assert listing.source == "folder" and listing.root == folder
    assert [(r.relpath, r.identity) for r in listing.records] == [
        ("x/i000qa-fn.jpg", "000"),
        ("x/i001qa-mn.jpg", "001"),
    ]
    assert [s.relpath for s in listing.skipped] == ["x/notes.txt"]


def test_embeddings_have_no_images(paths: ProjectPaths) -> None:
    with pytest.raises(ValueError, match="no images"):
        collect_dataset("vec", EmbeddingsDataset(kind="embeddings", path="x.npz"), paths)  # type: ignore[arg-type]


@pytest.mark.integration
def test_real_mirror_catalog(mirror: Path, paths: ProjectPaths) -> None:
    listing = collect_dataset("lfw", LfwDataset(kind="lfw"), paths)
    assert len(listing.study_records) == 7606 and len(listing.identities) == 901
    pairs_only = [r for r in listing.records if not r.in_study]
    assert len(pairs_only) == 4094 and listing.skipped == []
    assert listing.extra["pairs_complete"] is True
    # lfw-all (Otto et al.'s set): 13,233 images of 5,749 people, 4,069 with one image; the
    # clustering set is the >= 3 filter of it
    full = collect_dataset("lfw", LfwDataset(kind="lfw", all_images=True), paths)
    sizes = Counter(r.identity for r in full.records)
    assert (len(full.records), len(sizes)) == (13233, 5749)
    assert sum(n == 1 for n in sizes.values()) == 4069
    assert (
        [r.relpath for r in full.study_records]
        == [r.relpath for r in full.records if sizes[r.identity] >= 3]
        == [r.relpath for r in listing.study_records]
    )
    yale = collect_dataset(
        "personal", PersonalDataset(kind="personal", path=str(mirror / "yale")), paths
    )
    assert len(yale.records) == 164 and len(yale.identities) == 15
    muct = collect_dataset("muct", MuctDataset(kind="muct"), paths)
    assert len(muct.records) == 3755 and len(muct.identities) == 276
    assert muct.source == "mirror"
