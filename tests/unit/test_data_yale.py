"""The Yale loader: names, the checksum manifest, the archive checked member by member."""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facecluster.config import load_params
from facecluster.data.catalog import collect_dataset
from facecluster.data.download import SourcesExhaustedError, UnsafeArchiveError
from facecluster.data.yale import (
    MANIFEST,
    YALE_CONDITIONS,
    YaleArchiveError,
    acquire_yale,
    duplicate_groups,
    extract_verified,
    list_yale,
    parse_yale_name,
)
from facecluster.paths import ProjectPaths


def _gif(seed: int) -> bytes:
    """A small grey GIF, different for every seed."""
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (12, 16), dtype=np.uint8)).save(buf, format="GIF")
    return buf.getvalue()


#: A tiny published set: two people, three images each (subject02's normal repeats noglasses).
IMAGES = {
    "subject01/subject01.glasses": _gif(1),
    "subject01/subject01.happy": _gif(2),
    "subject01/subject01.wink": _gif(3),
    "subject02/subject02.noglasses": _gif(4),
    "subject02/subject02.normal": _gif(4),
    "subject02/subject02.sad": _gif(5),
}
SMALL = {rel: hashlib.sha256(data).hexdigest() for rel, data in IMAGES.items()}


def _archive(path: Path, images: dict[str, bytes] = IMAGES, *, extras: bool = True) -> Path:
    """``yalefaces.zip`` as published: flat, with its Readme, its misnamed and doubled files."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("yalefaces/", b"")
        for rel, data in images.items():
            zf.writestr(f"yalefaces/{Path(rel).name}", data)
        if extras:
            zf.writestr("yalefaces/Readme.txt", b"The Yale Face Database")
            zf.writestr("yalefaces/subject01.gif", _gif(9))  # centerlight, misnamed
            zf.writestr("yalefaces/subject01.glasses.gif", IMAGES["subject01/subject01.glasses"])
            zf.writestr("__MACOSX/yalefaces/._subject01.happy", b"\0\5\26\7")
    return path


def _folder(root: Path, images: dict[str, bytes] = IMAGES) -> Path:
    for rel, data in images.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def test_names_and_conditions():
    assert len(YALE_CONDITIONS) == 11 and "centerlight" in YALE_CONDITIONS
    assert parse_yale_name("subject01.glasses") == ("subject01", "glasses")
    assert parse_yale_name("subject15.centerlight") == ("subject15", "centerlight")
    for bad in ("subject01.gif", "subject01.glasses.gif", "subject1.happy", "Readme.txt"):
        assert parse_yale_name(bad) is None, bad


def test_the_manifest_is_the_published_set_less_one_image():
    assert len(MANIFEST) == 164 and all(len(d) == 64 for d in MANIFEST.values())
    parsed = [parse_yale_name(Path(rel).name) for rel in MANIFEST]
    assert all(
        p is not None and Path(rel).parent.name == p[0]
        for rel, p in zip(MANIFEST, parsed, strict=True)
    )
    per_subject = Counter(p[0] for p in parsed if p)
    assert len(per_subject) == 15 and set(per_subject.values()) == {10, 11}
    assert per_subject["subject01"] == 10  # its centerlight image ships misnamed
    assert "subject01/subject01.centerlight" not in MANIFEST
    groups = duplicate_groups()
    assert len(groups) == 9 and all(len(g) == 2 for g in groups)
    assert ("subject04/subject04.normal", "subject04/subject04.sad") in groups  # the Readme's


def test_extract_keeps_the_verified_images_only(tmp_path: Path):
    target, left_out = extract_verified(_archive(tmp_path / "y.zip"), tmp_path / "images", SMALL)
    got = {
        p.relative_to(target).as_posix(): p.read_bytes() for p in target.rglob("*") if p.is_file()
    }
    assert got == IMAGES
    reasons = dict(left_out)
    assert reasons["yalefaces/subject01.glasses.gif"].startswith("duplicate")
    assert "centerlight" in reasons["yalefaces/subject01.gif"]
    assert reasons["yalefaces/Readme.txt"].startswith("not a Yale image name")
    assert set(reasons) == {
        "yalefaces/subject01.glasses.gif",
        "yalefaces/subject01.gif",
        "yalefaces/Readme.txt",
        "__MACOSX/yalefaces/._subject01.happy",
    }
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".images-")]  # no temp left


def test_extract_rejects_a_changed_or_incomplete_archive(tmp_path: Path):
    changed = dict(IMAGES, **{"subject02/subject02.sad": _gif(6)})
    with pytest.raises(YaleArchiveError, match="subject02.sad is not the published image"):
        extract_verified(_archive(tmp_path / "a.zip", changed), tmp_path / "images", SMALL)
    short = {k: v for k, v in IMAGES.items() if "wink" not in k}
    with pytest.raises(YaleArchiveError, match="1 of the 6 Yale images are missing"):
        extract_verified(_archive(tmp_path / "b.zip", short), tmp_path / "images", SMALL)
    assert not (tmp_path / "images").exists()  # nothing written


def test_extract_refuses_an_unsafe_archive(tmp_path: Path):
    bad = tmp_path / "evil.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("../subject01.happy", IMAGES["subject01/subject01.happy"])
    with pytest.raises(UnsafeArchiveError):
        extract_verified(bad, tmp_path / "images", SMALL)
    assert not (tmp_path / "images").exists()


def test_list_skips_what_is_not_the_published_image(tmp_path: Path):
    root = _folder(tmp_path / "yale")
    (root / "subject02" / "subject02.sad").write_bytes(_gif(7))  # edited
    (root / "subject02" / "holiday.jpg").write_bytes(_gif(8))  # a photo of someone's own
    (root / "subject01" / "subject02.happy").write_bytes(_gif(2))  # in the wrong folder
    records, skipped = list_yale(root, SMALL)
    assert sorted(r.relpath for r in records) == sorted(k for k in IMAGES if "sad" not in k)
    assert {r.identity for r in records} == {"subject01", "subject02"}
    why = {s.relpath: s.reason for s in skipped}
    assert why["subject02/subject02.sad"].startswith("not the published image (sha256 ")
    assert why["subject02/holiday.jpg"].startswith("ignored: not a Yale image name")
    assert why["subject01/subject02.happy"].startswith("ignored: not a Yale image name")


def test_acquire_order_folder_zip_raw_mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("FACECLUSTER_MIRROR", raising=False)
    raw = tmp_path / "raw"
    folder = _folder(tmp_path / "mine")
    assert acquire_yale(raw, folder, manifest=SMALL) == (folder, "folder")
    zipped = _archive(tmp_path / "yalefaces.zip")
    assert acquire_yale(raw, zipped, manifest=SMALL) == (raw / "images", "folder")
    assert acquire_yale(raw, manifest=SMALL) == (raw / "images", "raw")  # extracted before
    mirror = tmp_path / "mirror"
    _folder(mirror / "yale")
    monkeypatch.setenv("FACECLUSTER_MIRROR", str(mirror))
    assert acquire_yale(tmp_path / "raw2", manifest=SMALL) == (mirror / "yale", "mirror")


@pytest.fixture()
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, serve_folder):
    """A local HTTP server over ``tmp_path/www``: ``good.zip`` and a changed ``bad.zip``."""
    www = tmp_path / "www"
    www.mkdir()
    _archive(www / "good.zip")
    _archive(www / "bad.zip", dict(IMAGES, **{"subject01/subject01.wink": _gif(11)}))
    monkeypatch.delenv("FACECLUSTER_MIRROR", raising=False)
    return serve_folder(www)


def test_download_moves_past_a_source_whose_images_differ(tmp_path: Path, served: str):
    raw = tmp_path / "raw"
    urls = (served + "bad.zip", served + "missing.zip", served + "good.zip")
    root, origin = acquire_yale(raw, urls=urls, manifest=SMALL)
    assert (root, origin) == (raw / "images", "download")
    assert len(list_yale(root, SMALL)[0]) == len(IMAGES)
    assert (raw / "yalefaces.zip").is_file()  # the verified archive is kept


def test_download_failure_is_one_line_naming_the_mirror(tmp_path: Path, served: str):
    with pytest.raises(SourcesExhaustedError) as info:
        acquire_yale(tmp_path / "raw", urls=(served + "bad.zip",), manifest=SMALL)
    text = str(info.value)
    assert "\n" not in text and "bad.zip" in text and "FACECLUSTER_MIRROR" in text
    assert "not the published image" in text
    assert not (tmp_path / "raw" / "yalefaces.zip").exists()  # the wrong archive is deleted


@pytest.mark.integration
def test_the_mirror_is_the_published_set(mirror: Path, tmp_path: Path, project_root: Path):
    params = load_params(project_root / "params.yaml")
    assert params.dataset("yale").kind == "yale"  # in the default study, on every machine
    listing = collect_dataset("yale", params.dataset("yale"), ProjectPaths(tmp_path))
    assert listing.source == "mirror" and listing.root == (mirror / "yale").resolve()
    assert len(listing.records) == 164 and listing.skipped == []
    assert len(listing.identities) == 15
