"""Archive attacks: nothing is written unless every member stays inside the target.

Regressions of the extraction guard of :mod:`facecluster.data.download` (path traversal,
absolute names, links pointing outside or through links, device files and FIFOs, non-archives)
and of the checksum gate in front of it (an archive found in the offline mirror whose digest is
not the official one is refused before anything is extracted).  A download that fails its
checksum is in ``test_downloads.py``.
"""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from facecluster.data import lfw
from facecluster.data.download import UnsafeArchiveError, safe_extract
from facecluster.data.lfw import acquire_lfw
from facecluster.integrity import ChecksumError


def _tar(path: Path, members: list[tarfile.TarInfo | tuple[str, bytes]]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for m in members:
            if isinstance(m, tarfile.TarInfo):
                tf.addfile(m)
            else:
                name, data = m
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return path


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def _special(name: str, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    return info


def test_safe_extract_tar(tmp_path: Path) -> None:
    archive = _tar(
        tmp_path / "good.tgz",
        [
            ("top/A/A_0001.jpg", b"a"),
            ("top/B/B_0001.jpg", b"bb"),
            _link("top/alias", "A/A_0001.jpg"),
        ],
    )
    target = tmp_path / "out" / "x"
    assert safe_extract(archive, target) == target
    assert (target / "top/B/B_0001.jpg").read_bytes() == b"bb"
    assert (target / "top/alias").is_symlink() and (target / "top/alias").read_bytes() == b"a"
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["x"]  # no temp folder left
    # an existing target is complete (atomic rename): returned as is
    (target / "marker").write_text("kept")
    safe_extract(archive, target)
    assert (target / "marker").read_text() == "kept"


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ([("ok.txt", b"1"), ("../evil.txt", b"x")], "'..'"),
        ([("/tmp/evil_abs.txt", b"x")], "absolute"),
        ([("a/../../evil.txt", b"x")], "'..'"),
        ([_link("link", "/etc")], "absolute"),
        ([_link("d/link", "../../outside")], "outside"),
        ([_link("link", "."), ("link/x.txt", b"x")], "through the link"),
        ([_link("x/y/s", "../.."), _link("l2", "x/y/s/..")], "through the link"),
        ([_link("hard", "../outside", tarfile.LNKTYPE)], "outside"),
        ([_special("dev/null", tarfile.CHRTYPE)], "device file"),
        ([_special("fifo", tarfile.FIFOTYPE)], "special file"),
    ],
)
def test_safe_extract_refuses_malicious_tar(tmp_path: Path, members: list, message: str) -> None:
    work = tmp_path / "work"
    work.mkdir()
    archive = _tar(tmp_path / "bad.tgz", [("first.txt", b"written first?"), *members])
    target = work / "target"
    with pytest.raises(UnsafeArchiveError, match=message):
        safe_extract(archive, target)
    assert list(work.iterdir()) == []  # nothing written, not even a temp folder
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "outside").exists()


def _zip(path: Path, entries: list[tuple[str | zipfile.ZipInfo, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return path


def test_safe_extract_zip(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "good.zip", [("p/q.txt", b"q"), ("r.txt", b"r")])
    target = safe_extract(archive, tmp_path / "out")
    assert (target / "p/q.txt").read_bytes() == b"q" and (target / "r.txt").read_bytes() == b"r"


def _zip_symlink(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = 0o120777 << 16
    return info


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([("../evil.txt", b"x")], "'..'"),
        ([("/evil.txt", b"x")], "absolute"),
        ([("C:/evil.txt", b"x")], "absolute"),
        ([("a\\..\\..\\evil.txt", b"x")], "'..'"),
        ([(_zip_symlink("link"), b"/etc/passwd")], "symbolic link"),
    ],
)
def test_safe_extract_refuses_malicious_zip(tmp_path: Path, entries: list, message: str) -> None:
    archive = _zip(tmp_path / "bad.zip", [("fine.txt", b"1"), *entries])
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(UnsafeArchiveError, match=message):
        safe_extract(archive, work / "t")
    assert list(work.iterdir()) == []


def test_safe_extract_refuses_non_archives(tmp_path: Path) -> None:
    f = tmp_path / "notes.tgz"
    f.write_text("plain text")
    with pytest.raises(UnsafeArchiveError, match="neither a tar nor a zip"):
        safe_extract(f, tmp_path / "t")
    assert not (tmp_path / "t").exists()


def test_a_mirror_archive_with_a_wrong_checksum_is_not_extracted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    _tar(mirror / "lfw-deepfunneled.tgz", [("lfw-deepfunneled/A/A_0001.jpg", b"jpeg")])
    monkeypatch.setenv("FACECLUSTER_MIRROR", str(mirror))
    assert lfw.LFW_ARCHIVES["deepfunneled"].filename == "lfw-deepfunneled.tgz"  # official md5
    with pytest.raises(ChecksumError, match="md5 mismatch"):
        acquire_lfw("deepfunneled", tmp_path / "raw")
    assert not (tmp_path / "raw" / "deepfunneled").exists()
