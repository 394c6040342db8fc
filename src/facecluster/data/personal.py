"""A personal photo folder: one sub-folder per person, any image format Pillow reads.

Layout::

    root/
      alice/            identity "alice"
        IMG_0001.JPG
        holiday/2019.png        nested folders count for the same person (searched recursively)
      bob/
        bob.happy               no extension needed: images are recognised by content

Rules (also in the README):

* the identity is the name of the top-level sub-folder; files inside it are searched
  recursively, so a person's photos may be grouped in further folders;
* hidden files and folders (name starting with ``.``) are ignored silently;
* every other file is probed by content (:func:`~facecluster.data.images.probe_image`, header
  only): images become :class:`ImageRecord`, the rest :class:`SkippedFile` with the reason
  (``"not an image"``, ``"zero-byte file"``, ``"unreadable: PermissionError"``, …);
* files lying directly in ``root`` (a README, a loose photo, a broken link) belong to no person:
  they are recorded as ``"ignored: …"``, neither images nor damaged files;
* symbolic links to files or to person folders are followed; links to folders *inside* a
  person folder are not (no cycles);
* every image is listed once, by its real path: a link to a person folder already listed
  (``alias -> alice``) would repeat all of Alice's images under a second identity, each at
  distance 0.0 from its twin, so it is skipped as ``"duplicate folder: alias -> alice"`` (a real
  folder wins over links to it, whatever the names); a file reached a second time (a link to
  an image already listed) is skipped as ``"duplicate file: same file as alice/a.jpg"``;
* a missing ``root`` raises :class:`DatasetNotFoundError`; an existing folder without images
  gives an empty list (the caller skips the dataset and says so).

Truncated or corrupt images pass the header probe and are reported by the faces stage, which
decodes every image with :func:`~facecluster.data.images.load_image_rgb`.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from pathlib import Path

from tqdm.auto import tqdm

from facecluster.data.images import (
    DatasetNotFoundError,
    ImageRecord,
    SkippedFile,
    is_hidden,
    probe_image,
)

logger = logging.getLogger(__name__)

__all__ = ["list_personal", "scan_personal"]


def _person_folders(root: Path, skipped: list[SkippedFile]) -> list[tuple[str, Path]]:
    """``root``'s person folders as ``(identity, path)``, one per real folder, by name."""
    with os.scandir(root) as it:
        entries = sorted((e for e in it if not is_hidden(e.name)), key=lambda e: e.name)
    folders: list[tuple[bool, str, Path]] = []
    for entry in entries:
        path = Path(entry.path)
        try:
            is_dir = entry.is_dir()  # follows a symlinked person folder
            is_link = entry.is_symlink()
        except OSError as exc:
            skipped.append(
                SkippedFile(path, entry.name, None, f"unreadable: {type(exc).__name__}")
            )
            continue
        if not is_dir:
            what = "broken link" if is_link and not path.exists() else "file"
            reason = f"ignored: {what} at the top of the dataset folder, not in a person folder"
            skipped.append(SkippedFile(path, entry.name, None, reason))
            continue
        folders.append((is_link, entry.name, path))
    kept: list[tuple[str, Path]] = []
    owner: dict[str, str] = {}  # real path -> the identity listed from it
    top = str(root)
    for _is_link, name, path in sorted(folders):  # real folders before links to them
        real = os.path.realpath(path)
        if real in owner:
            reason = f"duplicate folder: {name} -> {owner[real]}"
            skipped.append(SkippedFile(path, name, None, reason))
            continue
        if top == real or top.startswith(real.rstrip(os.sep) + os.sep):
            reason = f"ignored: {name} links to the dataset folder or above it ({real})"
            skipped.append(SkippedFile(path, name, None, reason))
            continue
        owner[real] = name
        kept.append((name, path))
    return sorted(kept)


def _candidates(root: Path, skipped: list[SkippedFile]) -> list[tuple[Path, str, str]]:
    """All non-hidden files under ``root``'s person folders as ``(path, relpath, identity)``.

    Each real file once: of several ways to reach it, the first that is not itself a link is
    kept (else the first by relpath); the others are skipped as duplicates.
    """
    found: list[tuple[Path, str, str]] = []
    for identity, path in _person_folders(root, skipped):

        def on_error(exc: OSError, identity: str = identity) -> None:
            bad = Path(exc.filename) if exc.filename else root / identity
            rel = os.path.relpath(bad, root).replace(os.sep, "/")
            skipped.append(
                SkippedFile(bad, rel, identity, f"unreadable folder: {type(exc).__name__}")
            )

        for dirpath, dirnames, filenames in os.walk(path, onerror=on_error):
            dirnames[:] = sorted(d for d in dirnames if not is_hidden(d))
            for name in sorted(filenames):
                if is_hidden(name):
                    continue
                file_path = Path(dirpath) / name
                rel = file_path.relative_to(root).as_posix()
                found.append((file_path, rel, identity))
    unique: list[tuple[Path, str, str]] = []
    first: dict[str, str] = {}  # real path -> relpath kept
    for file_path, rel, identity in sorted(found, key=lambda t: (t[0].is_symlink(), t[1])):
        real = os.path.realpath(file_path)
        if real in first:
            reason = f"duplicate file: same file as {first[real]}"
            skipped.append(SkippedFile(file_path, rel, identity, reason))
            continue
        first[real] = rel
        unique.append((file_path, rel, identity))
    return sorted(unique, key=lambda t: t[1])


def scan_personal(root: str | Path) -> tuple[list[ImageRecord], list[SkippedFile]]:
    """List a personal folder's images and the files that were not used.

    Parameters
    ----------
    root : str or Path
        Folder with one sub-folder per person.

    Returns
    -------
    records : list of ImageRecord
        Images sorted by ``relpath`` (identity = top-level sub-folder name).
    skipped : list of SkippedFile
        Non-image, empty or unreadable files, files at the top of ``root`` (``"ignored: …"``),
        duplicate folders and files (``"duplicate folder: …"``, ``"duplicate file: …"``), with
        a reason, sorted by ``relpath``.

    Raises
    ------
    DatasetNotFoundError
        ``root`` does not exist or is not a folder.
    """
    root = Path(root).expanduser()
    if not root.exists():
        raise DatasetNotFoundError(root, "personal dataset folder not found")
    if not root.is_dir():
        raise DatasetNotFoundError(root, "personal dataset path is not a folder")
    root = root.resolve()
    skipped: list[SkippedFile] = []
    records: list[ImageRecord] = []
    candidates = _candidates(root, skipped)
    for path, rel, identity in tqdm(candidates, desc="probing images", unit="file"):
        probe = probe_image(path)
        if probe.ok:
            records.append(ImageRecord(path=path, identity=identity, relpath=rel))
        else:
            skipped.append(SkippedFile(path, rel, identity, probe.reason or "not an image"))
    records.sort(key=lambda r: r.relpath)
    skipped.sort(key=lambda s: s.relpath)
    n_ids = len({r.identity for r in records})
    logger.info(
        "personal %s: %d images of %d identities, %d files skipped",
        root,
        len(records),
        n_ids,
        len(skipped),
    )
    if skipped:
        reasons = Counter(s.reason for s in skipped)
        logger.info("skipped files by reason: %s", dict(reasons.most_common()))
    if not records:
        logger.warning("personal %s holds no images", root)
    return records, skipped


def list_personal(root: str | Path) -> list[ImageRecord]:
    """The images of a personal folder (see :func:`scan_personal`), sorted by ``relpath``."""
    return scan_personal(root)[0]
