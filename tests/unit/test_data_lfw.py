"""LFW: listing with the per-identity filter, pairs.txt parsing, acquisition (mirror/download)."""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections import Counter
from pathlib import Path

import pytest

from facecluster.data import lfw
from facecluster.data.images import DatasetNotFoundError
from facecluster.data.lfw import (
    LfwArchive,
    LfwFormatError,
    acquire_lfw,
    lfw_relpath,
    list_lfw,
    pair_image_relpaths,
    read_pairs,
    scan_lfw,
)
from facecluster.integrity import ChecksumError

PEOPLE = {"Ann_Bee": 3, "Cid_Dee": 1, "Eve_Fox": 2, "Gus_Hal": 4}

PAIRS_TXT = """2\t2
Ann_Bee\t1\t2
Gus_Hal\t3\t4
Cid_Dee\t1\tEve_Fox\t2
Ann_Bee\t3\tGus_Hal\t1
Gus_Hal\t1\t2
Eve_Fox\t1\t2
Ann_Bee\t1\tCid_Dee\t1
Eve_Fox\t1\tGus_Hal\t4
"""


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _make_tree(root: Path, people: dict[str, int] = PEOPLE) -> Path:
    for name, n in people.items():
        (root / name).mkdir(parents=True)
        for i in range(1, n + 1):
            (root / name / f"{name}_{i:04d}.jpg").write_bytes(b"\xff\xd8jpeg")
    return root


def test_list_lfw_filters_by_count_and_sorts(tmp_path: Path) -> None:
    root = _make_tree(tmp_path / "lfw-deepfunneled")
    (root / "Gus_Hal" / "Gus_Hal_1.jpg").write_bytes(b"x")  # not an LFW name
    (root / "Gus_Hal" / "Ann_Bee_0009.jpg").write_bytes(b"x")  # someone else's name
    (root / "Gus_Hal" / ".DS_Store").write_bytes(b"x")  # hidden: ignored
    (root / "README").write_text("stray")
    records = list_lfw(root)  # default: >= 3 images
    assert Counter(r.identity for r in records) == {"Ann_Bee": 3, "Gus_Hal": 4}
    assert [r.relpath for r in records] == sorted(r.relpath for r in records)
    assert records[0].relpath == "Ann_Bee/Ann_Bee_0001.jpg"
    assert records[0].path == root / "Ann_Bee" / "Ann_Bee_0001.jpg"
    all_records, skipped = scan_lfw(root, 1)
    assert len(all_records) == 10
    assert sorted((s.relpath, s.reason[:8]) for s in skipped) == [
        ("Gus_Hal/Ann_Bee_0009.jpg", "name doe"),
        ("Gus_Hal/Gus_Hal_1.jpg", "name doe"),
        ("README", "ignored:"),
    ]
    assert {r.identity for r in list_lfw(root, 2)} == {"Ann_Bee", "Eve_Fox", "Gus_Hal"}
    assert list_lfw(root, 5) == []


def test_list_lfw_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="LFW images folder not found"):
        list_lfw(tmp_path / "absent")
    with pytest.raises(ValueError, match="min_images_per_identity"):
        list_lfw(tmp_path, 0)


def test_read_pairs_official_format(tmp_path: Path) -> None:
    path = tmp_path / "pairs.txt"
    path.write_text(PAIRS_TXT)
    pairs = read_pairs(path)
    assert len(pairs) == 8
    assert [p.fold for p in pairs] == [0, 0, 0, 0, 1, 1, 1, 1]
    assert [p.same for p in pairs] == [True, True, False, False] * 2
    assert pairs[0].relpath1 == "Ann_Bee/Ann_Bee_0001.jpg"
    assert pairs[0].relpath2 == "Ann_Bee/Ann_Bee_0002.jpg"
    assert (pairs[2].name1, pairs[2].number1, pairs[2].name2, pairs[2].number2) == (
        "Cid_Dee",
        1,
        "Eve_Fox",
        2,
    )
    rels = pair_image_relpaths(pairs)
    assert rels == sorted(set(rels))
    expected = [lfw_relpath(n, i) for n in PEOPLE for i in range(1, PEOPLE[n] + 1)]
    assert rels == sorted(expected)  # every image of the fake tree, each once
    assert lfw_relpath("X_Y", 7) == "X_Y/X_Y_0007.jpg"


def test_read_pairs_single_set_header(tmp_path: Path) -> None:
    path = tmp_path / "pairsDevTest.txt"
    path.write_text("1\nAnn_Bee\t1\t3\nAnn_Bee\t2\tGus_Hal\t4\n")
    pairs = read_pairs(path)
    assert [(p.fold, p.same) for p in pairs] == [(0, True), (0, False)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty file"),
        ("ten 300\n", "line 1"),
        ("1\t1\nAnn_Bee\t1\t2\n", "announces"),
        ("1\t1\nAnn_Bee\t1\nAnn_Bee\t1\tGus_Hal\t2\n", "line 2 .same-person"),
        ("1\t1\nAnn_Bee\t1\t2\nAnn_Bee\t1\tGus_Hal\n", "line 3 .different-person"),
        ("1\t1\nAnn_Bee\tone\t2\nAnn_Bee\t1\tGus_Hal\t2\n", "line 2"),
    ],
)
def test_read_pairs_rejects_malformed_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "pairs.txt"
    path.write_text(text)
    with pytest.raises(LfwFormatError, match=message):
        read_pairs(path)


# --------------------------------------------------------------------------------------------
# acquisition
# --------------------------------------------------------------------------------------------
@pytest.fixture()
def fake_protocol(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Small pairs.txt / people.txt whose md5s replace the official ones for the test."""
    src = tmp_path / "protocol"
    src.mkdir()
    (src / "pairs.txt").write_text(PAIRS_TXT)
    (src / "people.txt").write_text("1\n4\nAnn_Bee\t3\nCid_Dee\t1\nEve_Fox\t2\nGus_Hal\t4\n")
    for name in ("pairs.txt", "people.txt"):
        monkeypatch.setitem(lfw.LFW_PROTOCOL_MD5, name, _md5(src / name))
    return {"pairs.txt": src / "pairs.txt", "people.txt": src / "people.txt"}


def _fake_archive(path: Path, folder: str) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, n in PEOPLE.items():
            for i in range(1, n + 1):
                data = b"\xff\xd8jpeg"
                info = tarfile.TarInfo(f"{folder}/{name}/{name}_{i:04d}.jpg")
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return path


def test_acquire_from_extracted_mirror_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_protocol: dict[str, Path]
) -> None:
    mirror = tmp_path / "mirror"
    _make_tree(mirror / "lfw" / "lfw-deepfunneled")
    for name, p in fake_protocol.items():
        (mirror / "lfw" / name).write_bytes(p.read_bytes())
    monkeypatch.setenv("FACECLUSTER_MIRROR", str(mirror))
    raw = tmp_path / "raw"
    src = acquire_lfw("deepfunneled", raw)
    assert src.images_root == mirror / "lfw" / "lfw-deepfunneled"
    assert src.pairs_txt == mirror / "lfw" / "pairs.txt"
    assert src.people_txt == mirror / "lfw" / "people.txt"
    assert src.origin == "mirror"
    assert not raw.exists()  # used in place, nothing copied


def test_acquire_original_variant_ignores_the_mirror_dataset_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_protocol: dict[str, Path]
) -> None:
    """Mirror ``lfw/`` holds the protocol files, not the original images: not an LFW tree."""
    mirror = tmp_path / "mirror"
    (mirror / "lfw").mkdir(parents=True)
    for name, p in fake_protocol.items():
        (mirror / "lfw" / name).write_bytes(p.read_bytes())
    archive = _fake_archive(tmp_path / "lfw.tgz", "lfw")
    (mirror / "lfw.tgz").write_bytes(archive.read_bytes())
    monkeypatch.setitem(lfw.LFW_ARCHIVES, "original", LfwArchive("lfw.tgz", "lfw", _md5(archive)))
    monkeypatch.setenv("FACECLUSTER_MIRROR", str(mirror))
    src = acquire_lfw("original", tmp_path / "raw")
    assert src.images_root == tmp_path / "raw" / "original" / "lfw"
    assert len(list_lfw(src.images_root, 1)) == 10


def test_acquire_from_mirror_archive_extracts_into_raw(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_protocol: dict[str, Path]
) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    archive = _fake_archive(mirror / "lfw-funneled.tgz", "lfw_funneled")
    for name, p in fake_protocol.items():
        (mirror / name).write_bytes(p.read_bytes())
    spec = LfwArchive("lfw-funneled.tgz", "lfw_funneled", _md5(archive))
    monkeypatch.setitem(lfw.LFW_ARCHIVES, "funneled", spec)
    monkeypatch.setenv("FACECLUSTER_MIRROR", str(mirror))
    raw = tmp_path / "raw"
    src = acquire_lfw("funneled", raw)
    assert src.images_root == raw / "funneled" / "lfw_funneled"
    assert src.origin == "mirror"
    assert len(list_lfw(src.images_root)) == 7
    assert sorted(p.name for p in mirror.iterdir()) == [
        "lfw-funneled.tgz",
        "pairs.txt",
        "people.txt",
    ]
    again = acquire_lfw("funneled", raw)
    assert again.origin == "raw" and again.images_root == src.images_root


# a mirror archive with a wrong md5: tests/reliability/test_archives.py


@pytest.mark.reliability
def test_acquire_rejects_a_wrong_pairs_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mirror = tmp_path / "mirror"
    _make_tree(mirror / "lfw" / "lfw-deepfunneled")
    (mirror / "lfw" / "pairs.txt").write_text(PAIRS_TXT)  # not the official file
    monkeypatch.setenv("FACECLUSTER_MIRROR", str(mirror))
    with pytest.raises(ChecksumError):
        acquire_lfw("deepfunneled", tmp_path / "raw")


@pytest.fixture()
def file_server(tmp_path: Path, serve_folder) -> tuple[str, Path]:
    served = tmp_path / "served"
    served.mkdir()
    return serve_folder(served) + "lfw/", served


def test_acquire_downloads_verifies_and_extracts(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fake_protocol: dict[str, Path],
    file_server: tuple[str, Path],
) -> None:
    base_url, served = file_server
    (served / "lfw").mkdir()
    archive = _fake_archive(served / "lfw" / "lfw-deepfunneled.tgz", "lfw-deepfunneled")
    for name, p in fake_protocol.items():
        (served / "lfw" / name).write_bytes(p.read_bytes())
    spec = LfwArchive("lfw-deepfunneled.tgz", "lfw-deepfunneled", _md5(archive))
    monkeypatch.setitem(lfw.LFW_ARCHIVES, "deepfunneled", spec)
    monkeypatch.delenv("FACECLUSTER_MIRROR", raising=False)
    raw = tmp_path / "raw"
    src = acquire_lfw("deepfunneled", raw, base_url=base_url)
    assert src.origin == "download"
    assert src.images_root == raw / "deepfunneled" / "lfw-deepfunneled"
    assert src.pairs_txt == raw / "pairs.txt" and src.people_txt == raw / "people.txt"
    assert (raw / "lfw-deepfunneled.tgz").read_bytes() == archive.read_bytes()
    assert len(list_lfw(src.images_root)) == 7


def test_acquire_unknown_variant(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown LFW variant"):
        acquire_lfw("superfunneled", tmp_path)


# --------------------------------------------------------------------------------------------
# the real mirror
# --------------------------------------------------------------------------------------------
@pytest.mark.integration
def test_real_lfw_counts(mirror: Path, tmp_path: Path) -> None:
    src = acquire_lfw("deepfunneled", tmp_path / "raw")
    assert src.origin == "mirror" and src.images_root == mirror / "lfw" / "lfw-deepfunneled"
    records = list_lfw(src.images_root)
    counts = Counter(r.identity for r in records)
    assert len(records) == 7606 and len(counts) == 901
    assert counts["George_W_Bush"] == 530
    everything, skipped = scan_lfw(src.images_root, 1)
    assert len(everything) == 13233 and skipped == []
    pairs = read_pairs(src.pairs_txt)
    assert len(pairs) == 6000 and Counter(p.fold for p in pairs) == {f: 600 for f in range(10)}
    assert sum(p.same for p in pairs) == 3000
    rels = pair_image_relpaths(pairs)
    assert set(rels) <= {r.relpath for r in everything}
    assert len(set(rels) - {r.relpath for r in records}) > 0  # people with < 3 images too
