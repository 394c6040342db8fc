"""MUCT face database: official archives, or any folder of MUCT-named images.

File names follow ``i<SSS><L><C>-<G><X>.jpg`` (e.g. ``i000qa-fn.jpg``):

* ``SSS`` the subject number, which is the identity (``"000"``);
* ``L`` the lighting set, ``q`` … ``z``; ``C`` the camera, ``a`` … ``e``;
* ``G`` gender ``f``/``m``; ``X`` glasses ``n``/``g`` — or a digit: three official images carry
  one (``i001se-m2.jpg``, ``i003se-f3.jpg``, ``i201ve-m1.jpg``), so a digit is accepted too.

The full database has 3,755 images (751 per camera) of 276 subjects.  It is published as five
archives, one per camera (``muct-a-jpg-v1.tar.gz`` … ``muct-e-jpg-v1.tar.gz``), in the
author's repository https://github.com/StephenMilborrow/muct (moved there from Google Code in
2015).  No md5/sha256 is published; each archive is verified against its Git blob id in that
repository's tree at the pinned commit (:func:`facecluster.data.download.git_blob_sha1`).
No second copy of these archives is known, so each has one URL; offline, the download fails
with :class:`~facecluster.data.download.SourcesExhaustedError` naming the mirror setting.

Any folder (searched recursively) of MUCT-named images also works, e.g. the offline mirror's
24x32 face crops ``muct/resize_32x24``; files with other names are skipped with a reason.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from facecluster.data.download import (
    RemoteFile,
    download_any,
    find_in_mirror,
    safe_extract,
    verify_checksums,
)
from facecluster.data.images import DatasetNotFoundError, ImageRecord, SkippedFile, is_hidden

logger = logging.getLogger(__name__)

__all__ = [
    "MUCT_ARCHIVES",
    "MUCT_BASE_URL",
    "MUCT_COMMIT",
    "MUCT_N_IMAGES",
    "MUCT_N_SUBJECTS",
    "MuctName",
    "acquire_muct",
    "list_muct",
    "parse_muct_name",
    "resolve_muct",
]

MUCT_COMMIT = "31ff0acb7fa77f316f8e490e6e299b889aa36bd0"
MUCT_BASE_URL = f"https://raw.githubusercontent.com/StephenMilborrow/muct/{MUCT_COMMIT}/"
#: camera -> (archive name, Git blob id in StephenMilborrow/muct at MUCT_COMMIT)
MUCT_ARCHIVES: dict[str, tuple[str, str]] = {
    "a": ("muct-a-jpg-v1.tar.gz", "3a1eb8462b1f159dab74e191493911f7af4297e1"),
    "b": ("muct-b-jpg-v1.tar.gz", "f9862b47feddfed45e40f46be2cbc87b9b330363"),
    "c": ("muct-c-jpg-v1.tar.gz", "7caa7961ada8ef3308b16063bbd37cb4f16c6a9d"),
    "d": ("muct-d-jpg-v1.tar.gz", "e780c262ee328f97099ec92946393663644f0cd2"),
    "e": ("muct-e-jpg-v1.tar.gz", "87aac1ae346e92edd96edad7934d58d41491d728"),
}
MUCT_N_IMAGES = 3755
MUCT_N_SUBJECTS = 276

_NAME_RE = re.compile(
    r"^i(?P<subject>\d{3})(?P<lighting>[q-z])(?P<camera>[a-e])-(?P<gender>[fm])"
    r"(?P<glasses>[ng0-9])\.(?:jpe?g|png)$",
    re.IGNORECASE,
)
_PATTERN_TEXT = "i<SSS><q-z><a-e>-<f|m><n|g|digit>.jpg"


@dataclass(frozen=True)
class MuctName:
    """The fields of a MUCT file name."""

    subject: str
    lighting: str
    camera: str
    gender: str
    glasses: str


def parse_muct_name(filename: str) -> MuctName | None:
    """Fields of a MUCT file name (``"i000qa-fn.jpg"`` -> subject ``"000"``), or None."""
    m = _NAME_RE.match(filename)
    if m is None:
        return None
    return MuctName(
        subject=m.group("subject"),
        lighting=m.group("lighting").lower(),
        camera=m.group("camera").lower(),
        gender=m.group("gender").lower(),
        glasses=m.group("glasses").lower(),
    )


def list_muct(root: str | Path) -> tuple[list[ImageRecord], list[SkippedFile]]:
    """MUCT-named images under ``root`` (recursive), identity = three-digit subject number.

    Parameters
    ----------
    root : str or Path
        A folder holding MUCT-named images anywhere below it.

    Returns
    -------
    records : list of ImageRecord
        Sorted by ``relpath``.
    skipped : list of SkippedFile
        Files whose names are not MUCT names, and second copies of a name already listed
        (the same image found twice under ``root``), with the reason.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetNotFoundError(root, "MUCT folder not found")
    files: list[tuple[Path, str]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not is_hidden(d))
        for name in sorted(filenames):
            if not is_hidden(name):
                path = Path(dirpath) / name
                files.append((path, path.relative_to(root).as_posix()))
    files.sort(key=lambda t: t[1])
    records: list[ImageRecord] = []
    skipped: list[SkippedFile] = []
    seen: dict[str, str] = {}
    for path, rel in tqdm(files, desc="listing MUCT", unit="file"):
        parsed = parse_muct_name(path.name)
        if parsed is None:
            reason = f"ignored: not a MUCT name ({_PATTERN_TEXT})"
            skipped.append(SkippedFile(path, rel, None, reason))
            continue
        key = path.name.lower()
        if key in seen:
            skipped.append(SkippedFile(path, rel, parsed.subject, f"duplicate of {seen[key]}"))
            continue
        seen[key] = rel
        records.append(ImageRecord(path=path, identity=parsed.subject, relpath=rel))
    n_subjects = len({r.identity for r in records})
    logger.info(
        "muct %s: %d images of %d subjects, %d files skipped (the full set: %d of %d)",
        root,
        len(records),
        n_subjects,
        len(skipped),
        MUCT_N_IMAGES,
        MUCT_N_SUBJECTS,
    )
    return records, skipped


def _has_muct_images(path: Path) -> bool:
    if path.is_file():
        return True
    for _dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = [d for d in dirnames if not is_hidden(d)]
        if any(_NAME_RE.match(f) for f in filenames):
            return True
    return False


def _official_complete(extracted: Path) -> bool:
    return all((extracted / cam).is_dir() for cam in MUCT_ARCHIVES)


def _extract_official(archives: dict[str, Path], extracted: Path) -> Path:
    """Verify all five archives first, then extract each into ``extracted/<camera>``."""
    for cam, archive in archives.items():
        verify_checksums(archive, git_sha1=MUCT_ARCHIVES[cam][1])
    for cam, archive in archives.items():
        safe_extract(archive, extracted / cam)
    return extracted


def resolve_muct(
    raw_dir: str | Path, path: str | Path | None = None, *, base_url: str = MUCT_BASE_URL
) -> tuple[Path, str]:
    """Find or fetch MUCT; returns ``(root, origin)``.

    ``origin`` is ``"folder"`` (an explicit ``path``), ``"raw"`` (extracted earlier),
    ``"mirror"`` or ``"download"``.  Order: ``path``; ``raw_dir/jpg`` when all five cameras are
    extracted there; the mirror (``muct/jpg`` extracted full-resolution images, the five
    archives, then any folder of MUCT-named images such as ``muct/resize_32x24``); download of
    the five official archives into ``raw_dir/archives`` and safe extraction into
    ``raw_dir/jpg/<camera>``.

    Raises
    ------
    facecluster.data.download.SourcesExhaustedError
        Nothing local and an archive cannot be downloaded (offline): one line naming MUCT,
        the URL with its reason and ``$FACECLUSTER_MIRROR``.
    """
    raw_dir = Path(raw_dir)
    if path is not None:
        folder = Path(path).expanduser()
        if not folder.exists():
            raise DatasetNotFoundError(folder, "MUCT folder not found")
        if not folder.is_dir():
            raise DatasetNotFoundError(folder, "MUCT path is not a folder")
        return folder, "folder"

    extracted = raw_dir / "jpg"
    if _official_complete(extracted):
        logger.info("muct: using earlier extraction %s", extracted)
        return extracted, "raw"

    found = find_in_mirror("muct (full resolution)", ["muct/jpg"], accept=_has_muct_images)
    if found is not None:
        return found, "mirror"
    first = find_in_mirror(
        "muct archives", [f"muct/{MUCT_ARCHIVES['a'][0]}", MUCT_ARCHIVES["a"][0]]
    )
    if first is not None:
        archives = {cam: first.parent / name for cam, (name, _blob) in MUCT_ARCHIVES.items()}
        absent = [p.name for p in archives.values() if not p.is_file()]
        if not absent:
            return _extract_official(archives, extracted), "mirror"
        logger.warning("muct: mirror %s lacks %s; ignoring its archives", first.parent, absent)
    found = find_in_mirror(
        "muct (any MUCT-named images)", ["muct/resize_32x24", "muct"], accept=_has_muct_images
    )
    if found is not None:
        return found, "mirror"

    hint = (
        "muct/jpg/ (full-resolution images), the five muct/muct-?-jpg-v1.tar.gz archives or "
        "muct/resize_32x24/ (face crops)"
    )
    downloaded = {
        cam: download_any(
            "muct",
            RemoteFile(name, (base_url + name,), git_sha1=blob),
            raw_dir / "archives" / name,
            mirror_hint=hint,
        )
        for cam, (name, blob) in MUCT_ARCHIVES.items()
    }
    return _extract_official(downloaded, extracted), "download"


def acquire_muct(raw_dir: str | Path, path: str | Path | None = None) -> Path:
    """The folder to list with :func:`list_muct` (see :func:`resolve_muct` for the order)."""
    return resolve_muct(raw_dir, path)[0]
