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
  (``"not an image"``, ``"zero-byte file"``, ``"unreadable: PermissionError"``, …), as are files
  lying directly in ``root`` (``"not inside a person folder"``);
* symbolic links to files or to person folders are followed; links to folders *inside* a
  person folder are not (no cycles);
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


def _candidates(root: Path, skipped: list[SkippedFile]) -> list[tuple[Path, str, str]]:
    """All non-hidden files under ``root``'s person folders as ``(path, relpath, identity)``."""
    found: list[tuple[Path, str, str]] = []
    with os.scandir(root) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        if is_hidden(entry.name):
            continue
        path = Path(entry.path)
        try:
            is_dir = entry.is_dir()  # follows a symlinked person folder
        except OSError as exc:
            skipped.append(
                SkippedFile(path, entry.name, None, f"unreadable: {type(exc).__name__}")
            )
            continue
        if not is_dir:
            skipped.append(SkippedFile(path, entry.name, None, "not inside a person folder"))
            continue
        identity = entry.name

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
    return found


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
        Non-image, empty or unreadable files, with a reason, sorted by ``relpath``.

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
