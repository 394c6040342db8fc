"""MUCT: file naming, recursive listing, acquisition from a folder, the mirror or archives."""

from __future__ import annotations

import io
import tarfile
from collections import Counter
from pathlib import Path

import pytest

from facecluster.data import muct
from facecluster.data.download import git_blob_sha1
from facecluster.data.images import DatasetNotFoundError
from facecluster.data.muct import (
    MUCT_ARCHIVES,
    acquire_muct,
    list_muct,
    parse_muct_name,
    resolve_muct,
)
from facecluster.integrity import ChecksumError


@pytest.mark.parametrize(
    ("name", "subject", "camera"),
    [
        ("i000qa-fn.jpg", "000", "a"),
        ("i201ve-m1.jpg", "201", "e"),  # one of the three official names with a digit
        ("i276zd-mg.jpg", "276", "d"),
        ("I012TB-FN.JPG", "012", "b"),
        ("i433rc-mn.png", "433", "c"),
    ],
)
def test_parse_muct_name(name: str, subject: str, camera: str) -> None:
    parsed = parse_muct_name(name)
    assert parsed is not None and parsed.subject == subject and parsed.camera == camera


@pytest.mark.parametrize(
    "name",
    [
        "i00qa-fn.jpg",  # two digits
        "x000qa-fn.jpg",
        "i000aa-fn.jpg",  # lighting set must be q..z
        "i000qf-fn.jpg",  # camera must be a..e
        "i000qa-xn.jpg",  # gender f/m
        "i000qa-fn.txt",
        "i000qa-fn.jpg.bak",
        "i000qafn.jpg",
    ],
)
def test_non_muct_names(name: str) -> None:
    assert parse_muct_name(name) is None


def _touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xff\xd8jpeg")


def test_list_muct_recursive_with_skips(tmp_path: Path) -> None:
    root = tmp_path / "muct"
    for rel in ["a/i000qa-fn.jpg", "a/i001qa-mn.jpg", "b/deep/i000qb-fn.jpg", "i002sa-fg.jpg"]:
        _touch(root / rel)
    _touch(root / "b" / "i000qa-fn.jpg")  # same image twice
    _touch(root / "a" / "photo.jpg")
    _touch(root / ".cache" / "i009qa-fn.jpg")  # hidden folder: ignored
    (root / "README.txt").write_text("MUCT")
    records, skipped = list_muct(root)
    assert [(r.relpath, r.identity) for r in records] == [
        ("a/i000qa-fn.jpg", "000"),
        ("a/i001qa-mn.jpg", "001"),
        ("b/deep/i000qb-fn.jpg", "000"),
        ("i002sa-fg.jpg", "002"),
    ]
    reasons = {s.relpath: s.reason for s in skipped}
    assert reasons["b/i000qa-fn.jpg"] == "duplicate of a/i000qa-fn.jpg"
    assert reasons["a/photo.jpg"].startswith("ignored: not a MUCT name")
    assert reasons["README.txt"].startswith("ignored: not a MUCT name")
    assert len(skipped) == 3


def test_list_muct_missing(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="MUCT folder not found"):
        list_muct(tmp_path / "absent")


def test_resolve_explicit_folder(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    _touch(folder / "i000qa-fn.jpg")
    assert resolve_muct(tmp_path / "raw", folder) == (folder, "folder")
    with pytest.raises(DatasetNotFoundError, match=str(tmp_path / "nope")):
        acquire_muct(tmp_path / "raw", tmp_path / "nope")


def test_resolve_mirror_crops(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mirror = tmp_path / "mirror"
    _touch(mirror / "muct" / "resize_32x24" / "i000qa-fn.jpg")
    monkeypatch.setenv("FACECLUSTER_MIRROR", str(mirror))
    root, origin = resolve_muct(tmp_path / "raw")
    assert (root, origin) == (mirror / "muct" / "resize_32x24", "mirror")
    assert not (tmp_path / "raw").exists()


def _camera_archive(path: Path, cam: str, subjects: range) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for s in subjects:
            data = f"{s}{cam}".encode()
            info = tarfile.TarInfo(f"jpg/i{s:03d}q{cam}-fn.jpg")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture()
def fake_archives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Five tiny per-camera archives; their Git blob ids replace the official ones."""
    folder = tmp_path / "archives"
    folder.mkdir()
    for cam, (name, _blob) in MUCT_ARCHIVES.items():
        archive = _camera_archive(folder / name, cam, range(3))
        monkeypatch.setitem(muct.MUCT_ARCHIVES, cam, (name, git_blob_sha1(archive)))
    return folder


def test_resolve_mirror_archives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_archives: Path
) -> None:
    mirror = tmp_path / "mirror"
    fake_archives.rename(mirror)
    _touch(mirror / "muct" / "resize_32x24" / "i000qa-fn.jpg")  # archives come first
    monkeypatch.setenv("FACECLUSTER_MIRROR", str(mirror))
    raw = tmp_path / "raw"
    root, origin = resolve_muct(raw)
    assert (root, origin) == (raw / "jpg", "mirror")
    records, skipped = list_muct(root)
    assert len(records) == 15 and skipped == []
    assert Counter(r.identity for r in records) == {"000": 5, "001": 5, "002": 5}
    assert resolve_muct(raw) == (raw / "jpg", "raw")


@pytest.mark.reliability
def test_resolve_rejects_corrupt_archives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_archives: Path
) -> None:
    monkeypatch.setitem(muct.MUCT_ARCHIVES, "c", ("muct-c-jpg-v1.tar.gz", "0" * 40))
    mirror = tmp_path / "mirror"
    (mirror / "muct").mkdir(parents=True)
    fake_archives.rename(mirror / "muct" / "archives")
    for p in (mirror / "muct" / "archives").iterdir():
        p.rename(mirror / "muct" / p.name)
    monkeypatch.setenv("FACECLUSTER_MIRROR", str(mirror))
    with pytest.raises(ChecksumError, match="git-blob-sha1"):
        resolve_muct(tmp_path / "raw")
    assert not (tmp_path / "raw" / "jpg").exists()  # all verified before any extraction


def test_resolve_ignores_an_incomplete_archive_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_archives: Path
) -> None:
    mirror = tmp_path / "mirror"
    fake_archives.rename(mirror)
    (mirror / "muct-e-jpg-v1.tar.gz").unlink()
    _touch(mirror / "muct" / "resize_32x24" / "i000qa-fn.jpg")
    monkeypatch.setenv("FACECLUSTER_MIRROR", str(mirror))
    assert resolve_muct(tmp_path / "raw") == (mirror / "muct" / "resize_32x24", "mirror")


@pytest.fixture()
def served_archives(fake_archives: Path, serve_folder) -> str:
    return serve_folder(fake_archives)


def test_resolve_downloads_the_five_archives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, served_archives: str
) -> None:
    monkeypatch.delenv("FACECLUSTER_MIRROR", raising=False)
    raw = tmp_path / "raw"
    root, origin = resolve_muct(raw, base_url=served_archives)
    assert (root, origin) == (raw / "jpg", "download")
    assert sorted(p.name for p in (raw / "archives").iterdir()) == sorted(
        name for name, _ in MUCT_ARCHIVES.values()
    )
    assert len(list_muct(root)[0]) == 15


@pytest.mark.integration
def test_real_muct_crops(mirror: Path, tmp_path: Path) -> None:
    crops = mirror / "muct" / "resize_32x24"
    if not crops.is_dir():
        pytest.skip(f"{crops} is absent")
    root, origin = resolve_muct(tmp_path / "raw")
    assert (root, origin) == (crops, "mirror")
    records, skipped = list_muct(root)
    assert len(records) == 3755 and skipped == []
    assert len({r.identity for r in records}) == 276
    cams = Counter(parse_muct_name(r.path.name).camera for r in records)  # type: ignore[union-attr]
    assert cams == {c: 751 for c in "abcde"}
