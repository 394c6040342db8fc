"""Personal folders as people really keep them: links, aliases and stray files at the top.

Each image is listed once, by its real path (a symlinked alias of a person would otherwise
repeat every photo under a second identity at distance 0.0), and what lies at the top of the
folder belongs to no person: ``ignored``, neither an image nor a damaged file.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from facecluster.data.personal import scan_personal


def _img(path: Path, shade: int = 100) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (shade, 50, 50)).save(path, format="JPEG")
    return path


def _reasons(skipped: list) -> dict[str, str]:
    return {s.relpath: s.reason for s in skipped}


@pytest.fixture()
def people(tmp_path: Path) -> Path:
    root = tmp_path / "people"
    _img(root / "person" / "p1.jpg", 10)
    _img(root / "person" / "p2.jpg", 20)
    _img(root / "zed" / "z1.jpg", 30)
    return root


def test_a_symlinked_alias_of_a_person_is_a_duplicate_not_a_second_identity(
    people: Path,
) -> None:
    (people / "alias").symlink_to("person", target_is_directory=True)  # sorts before "person"
    records, skipped = scan_personal(people)
    assert [(r.identity, r.relpath) for r in records] == [
        ("person", "person/p1.jpg"),
        ("person", "person/p2.jpg"),
        ("zed", "zed/z1.jpg"),
    ]
    assert _reasons(skipped) == {"alias": "duplicate folder: alias -> person"}
    assert skipped[0].identity is None  # the alias is no identity of the study


def test_two_links_to_a_folder_outside_keep_the_first_name(people: Path, tmp_path: Path) -> None:
    store = tmp_path / "store" / "eve"
    _img(store / "e1.jpg")
    (people / "eve").symlink_to(store, target_is_directory=True)
    (people / "eve2").symlink_to(store, target_is_directory=True)
    records, skipped = scan_personal(people)
    assert Counter(r.identity for r in records) == {"person": 2, "zed": 1, "eve": 1}
    assert _reasons(skipped) == {"eve2": "duplicate folder: eve2 -> eve"}


def test_a_link_to_an_image_already_listed_is_a_duplicate(people: Path) -> None:
    (people / "person" / "again.jpg").symlink_to("p1.jpg")  # sorts before p1.jpg
    (people / "zed" / "stolen.jpg").symlink_to(people / "person" / "p2.jpg")
    records, skipped = scan_personal(people)
    assert [r.relpath for r in records] == ["person/p1.jpg", "person/p2.jpg", "zed/z1.jpg"]
    assert _reasons(skipped) == {
        "person/again.jpg": "duplicate file: same file as person/p1.jpg",
        "zed/stolen.jpg": "duplicate file: same file as person/p2.jpg",
    }
    assert {s.relpath: s.identity for s in skipped} == {
        "person/again.jpg": "person",
        "zed/stolen.jpg": "zed",
    }


def test_a_link_into_part_of_another_person_lists_nothing_twice(people: Path) -> None:
    _img(people / "person" / "trip" / "t1.jpg", 40)
    (people / "trip").symlink_to(people / "person" / "trip", target_is_directory=True)
    records, skipped = scan_personal(people)
    assert [r.relpath for r in records] == [
        "person/p1.jpg",
        "person/p2.jpg",
        "person/trip/t1.jpg",
        "zed/z1.jpg",
    ]
    assert _reasons(skipped) == {"trip/t1.jpg": "duplicate file: same file as person/trip/t1.jpg"}


def test_a_link_to_the_dataset_folder_itself_is_not_walked(people: Path) -> None:
    (people / "all").symlink_to(people, target_is_directory=True)
    records, skipped = scan_personal(people)
    assert {r.identity for r in records} == {"person", "zed"} and len(records) == 3
    assert list(_reasons(skipped)) == ["all"]
    assert _reasons(skipped)["all"].startswith("ignored: all links to the dataset folder")


def test_stray_files_at_the_top_are_ignored_not_corrupt_images(people: Path) -> None:
    (people / "README.md").write_text("one folder per person")
    (people / "notes.txt").write_bytes(b"\x00\x01 binary junk")
    _img(people / "loose.jpg")
    (people / "dangling").symlink_to(people / "nowhere")
    records, skipped = scan_personal(people)
    assert len(records) == 3 and all(r.identity in {"person", "zed"} for r in records)
    top = "ignored: file at the top of the dataset folder, not in a person folder"
    assert _reasons(skipped) == {
        "README.md": top,
        "dangling": "ignored: broken link at the top of the dataset folder, not in a person folder",
        "loose.jpg": top,
        "notes.txt": top,
    }
    assert all(s.identity is None for s in skipped)


def test_the_faces_stage_counts_neither_stray_files_nor_aliases_as_images(
    people: Path, tmp_path: Path
) -> None:
    import yaml

    from facecluster.config import parse_params
    from facecluster.paths import ProjectPaths
    from facecluster.stages import faces as faces_stage

    root = Path(__file__).resolve().parents[2]
    (people / "README.md").write_text("my family photos\n", encoding="utf-8")
    (people / "alias").symlink_to(people / "person", target_is_directory=True)
    data = yaml.safe_load((root / "params.yaml").read_text(encoding="utf-8"))
    data["datasets"]["personal"] = {"kind": "personal", "path": str(people), "detector": "none"}
    data["execution"] = {**data.get("execution", {}), "progress": False}
    paths = ProjectPaths(tmp_path / "proj")
    summary = faces_stage.run("personal", parse_params(data), paths).summary
    counts = (summary["images"], summary["faces"], summary["identities"], summary["failed"])
    assert counts == (3, 3, 2, 0)
    assert (summary["ignored"], summary["duplicates"]) == (1, 1)
    manifest = faces_stage.read_manifest(paths, "personal")
    by_path = dict(zip(manifest["relpath"], manifest["status"], strict=True))
    assert by_path["README.md"] == "ignored"
    assert [status for path, status in by_path.items() if path.startswith("alias")] == [
        "duplicate"
    ]
