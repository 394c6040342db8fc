"""Personal folder listing: identities from sub-folders, images by content, bad files skipped."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from facecluster.data.images import DatasetNotFoundError
from facecluster.data.personal import list_personal, scan_personal


def _img(path: Path, fmt: str, mode: str = "RGB") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        Image.new(mode, (8, 8), 100).save(fh, format=fmt)
    return path


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "people"
    _img(root / "alice" / "a.jpg", "JPEG")
    _img(root / "alice" / "B.PNG", "PNG")
    _img(root / "alice" / "holiday" / "2019" / "c", "GIF", "P")  # nested, no extension
    _img(root / "bob" / "bob.happy", "GIF", "P")  # Yale style
    _img(root / "bob" / "scan.pgm", "PPM", "L")
    (root / "bob" / "notes.txt").write_text("not a picture")
    (root / "bob" / "empty.jpg").write_bytes(b"")
    _img(root / "bob" / ".DS_Store", "PNG")  # hidden files are ignored
    _img(root / "bob" / ".thumbs" / "t.jpg", "JPEG")  # hidden folders too
    _img(root / ".trash" / "x.jpg", "JPEG")
    (root / "carol").mkdir()  # a person folder without images
    (root / "README.txt").write_text("one folder per person")
    _img(root / "loose.jpg", "JPEG")  # not inside a person folder
    return root


def test_scan_personal_lists_images_by_content(tree: Path) -> None:
    records, skipped = scan_personal(tree)
    assert [r.relpath for r in records] == [
        "alice/B.PNG",
        "alice/a.jpg",
        "alice/holiday/2019/c",
        "bob/bob.happy",
        "bob/scan.pgm",
    ]
    assert Counter(r.identity for r in records) == {"alice": 3, "bob": 2}
    assert all(r.path.is_absolute() and r.path.is_file() and r.in_study for r in records)
    assert all(r.path == tree.resolve() / r.relpath for r in records)
    reasons = {s.relpath: (s.identity, s.reason) for s in skipped}
    top = (None, "ignored: file at the top of the dataset folder, not in a person folder")
    assert reasons == {
        "README.txt": top,
        "bob/empty.jpg": ("bob", "zero-byte file"),
        "bob/notes.txt": ("bob", "not an image"),
        "loose.jpg": top,
    }
    assert list_personal(tree) == records


def test_scan_personal_does_not_touch_raw_files(tree: Path) -> None:
    def snapshot() -> dict[str, tuple[str, int]]:
        return {
            str(p): (hashlib.md5(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(tree.rglob("*"))
            if p.is_file()
        }

    before = snapshot()
    scan_personal(tree)
    assert snapshot() == before


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "nobody" / "here"
    with pytest.raises(DatasetNotFoundError) as err:
        list_personal(missing)
    assert isinstance(err.value, FileNotFoundError)
    assert str(missing) in str(err.value)
    assert err.value.path == missing


def test_a_file_instead_of_a_folder_is_a_clear_error(tmp_path: Path) -> None:
    f = tmp_path / "photos.zip"
    f.write_bytes(b"PK")
    with pytest.raises(DatasetNotFoundError, match="not a folder"):
        list_personal(f)


def test_empty_folder_gives_no_records(tmp_path: Path) -> None:
    assert list_personal(tmp_path) == []
    (tmp_path / "dave").mkdir()
    (tmp_path / "dave" / "list.csv").write_text("a,b\n")
    records, skipped = scan_personal(tmp_path)
    assert records == []
    assert [(s.relpath, s.reason) for s in skipped] == [("dave/list.csv", "not an image")]


def test_symlinked_person_folder_is_followed(tmp_path: Path) -> None:
    store = tmp_path / "store" / "eve"
    _img(store / "e1.jpg", "JPEG")
    root = tmp_path / "root"
    root.mkdir()
    (root / "eve").symlink_to(store, target_is_directory=True)
    records = list_personal(root)
    assert [(r.identity, r.relpath) for r in records] == [("eve", "eve/e1.jpg")]


@pytest.mark.integration
def test_real_yale_folder(shared_data: Path) -> None:
    yale = shared_data / "yale"
    if not yale.is_dir():
        pytest.skip(f"{yale} is absent")
    records, skipped = scan_personal(yale)
    counts = Counter(r.identity for r in records)
    assert len(records) == 164 and len(counts) == 15
    assert skipped == []
    assert all("." in r.path.name and r.path.suffix not in {".gif", ".GIF"} for r in records)
