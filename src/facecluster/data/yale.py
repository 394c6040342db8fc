"""The Yale Face Database (Belhumeur, Hespanha, Kriegman 1997): 15 people, 11 conditions.

The study's personal-style dataset, named so that the default configuration is the same on
every machine.  The images are 320x243 grey GIFs named ``subjectNN.<condition>`` without a
file extension; the conditions are :data:`YALE_CONDITIONS` (lighting, glasses, expression).

The archive ``yalefaces.zip`` has been served for two decades at UCSD's vision lab
(:data:`YALE_URLS`; Yale's own page is gone).  Its layout is flat, ``yalefaces/subjectNN.<c>``,
with two known defects: ``subject01.gif`` is subject 01's centre-light image under another name,
and ``subject01.glasses.gif`` is a byte-identical copy of ``subject01.glasses``.

No digest of the archive is published, so it is verified **member by member**: every image is
checked against :data:`MANIFEST` (``yalefaces.sha256`` beside this module), the sha256 of the
164 images of the study's offline mirror, keyed by ``subjectNN/subjectNN.<condition>``.  An
archive whose images do not match is rejected whole (the next URL is tried); members that are
not images of the manifest are recorded as skipped with the reason: ``Readme.txt``, the
duplicate, and ``subject01.gif``, whose checksum is unknown here because the mirror lacks it,
so every machine clusters the same 164 images.  The same check applies to the mirror and to
an extracted copy.

The published set itself repeats images: nine pairs are byte-identical (``subject04.sad`` is
``subject04.normal``, as the archive's Readme says; ``noglasses`` and ``normal`` coincide for
seven people without glasses, ``glasses`` and ``normal`` for subject 08).  They are kept, as
every published result on Yale keeps them; :func:`duplicate_groups` lists them for the report.

Layout here: ``data/raw/<dataset>/yalefaces.zip`` (the download) and
``data/raw/<dataset>/images/subjectNN/subjectNN.<condition>`` (verified images, the mirror's
layout: one folder per person, as a personal folder).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath

from facecluster.data.download import (
    SourcesExhaustedError,
    check_archive,
    download,
    find_in_mirror,
)
from facecluster.data.images import DatasetNotFoundError, ImageRecord, SkippedFile
from facecluster.data.personal import scan_personal
from facecluster.errors import UserError
from facecluster.integrity import file_hash

logger = logging.getLogger(__name__)

__all__ = [
    "MANIFEST",
    "YALE_CONDITIONS",
    "YALE_N_IMAGES",
    "YALE_URLS",
    "YaleArchiveError",
    "acquire_yale",
    "duplicate_groups",
    "list_yale",
    "parse_yale_name",
]

#: The eleven conditions of the database, in the archive's Readme order.
YALE_CONDITIONS: tuple[str, ...] = (
    "centerlight",
    "glasses",
    "happy",
    "leftlight",
    "noglasses",
    "normal",
    "rightlight",
    "sad",
    "sleepy",
    "surprised",
    "wink",
)
#: Where ``yalefaces.zip`` is served (most trusted first).
YALE_URLS: tuple[str, ...] = (
    "http://vision.ucsd.edu/datasets/yale_face_dataset_original/yalefaces.zip",
)
YALE_ARCHIVE = "yalefaces.zip"
_NAME_RE = re.compile(rf"^subject(\d{{2}})\.({'|'.join(YALE_CONDITIONS)})$")


def _manifest() -> Mapping[str, str]:
    text = (Path(__file__).with_name("yalefaces.sha256")).read_text(encoding="utf-8")
    rows = (line.split(maxsplit=1) for line in text.splitlines() if line.strip())
    return {rel.strip(): digest for digest, rel in rows}


#: ``{"subjectNN/subjectNN.<condition>": sha256}`` of the 164 verified images.
MANIFEST: Mapping[str, str] = _manifest()
YALE_N_IMAGES = len(MANIFEST)


class YaleArchiveError(UserError, ValueError):
    """A ``yalefaces.zip`` whose images are not the published ones."""


def parse_yale_name(filename: str) -> tuple[str, str] | None:
    """``"subject01.glasses"`` → ``("subject01", "glasses")``; None for any other name."""
    m = _NAME_RE.match(filename)
    return (f"subject{m.group(1)}", m.group(2)) if m else None


def duplicate_groups(manifest: Mapping[str, str] | None = None) -> list[tuple[str, ...]]:
    """Images of the set that are byte-identical (same sha256), each group sorted."""
    by_digest: dict[str, list[str]] = {}
    for rel, digest in sorted((manifest or MANIFEST).items()):
        by_digest.setdefault(digest, []).append(rel)
    return sorted(tuple(g) for g in by_digest.values() if len(g) > 1)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------------------------
# the archive
# --------------------------------------------------------------------------------------------
def _member_relpath(name: str) -> str | None:
    """The manifest key of an archive member (``yalefaces/subject01.happy``), or None."""
    parsed = parse_yale_name(PurePosixPath(name).name)
    return f"{parsed[0]}/{PurePosixPath(name).name}" if parsed else None


def extract_verified(
    archive: str | Path, target: str | Path, manifest: Mapping[str, str] | None = None
) -> tuple[Path, list[tuple[str, str]]]:
    """Write the archive's manifest images to ``target/subjectNN/…``; nothing else.

    The archive is checked for unsafe members first (:func:`check_archive`).  Every image of
    the manifest must be present with its digest, or :class:`YaleArchiveError` is raised and
    nothing is written; ``target`` appears complete (written beside it, then renamed).

    Returns
    -------
    target : Path
    left_out : list of (member, reason)
        The members not extracted (``Readme.txt``, ``subject01.gif`` …), also logged.
    """
    manifest = manifest or MANIFEST
    archive, target = Path(archive), Path(target)
    check_archive(archive)
    found: dict[str, bytes] = {}
    left_out: list[tuple[str, str]] = []
    with zipfile.ZipFile(archive) as zf:
        for info in sorted(zf.infolist(), key=lambda i: i.filename):
            if info.is_dir():
                continue
            rel = _member_relpath(info.filename)
            if rel is None or rel not in manifest:
                left_out.append((info.filename, _left_out_reason(info.filename, rel)))
                continue
            data = zf.read(info)
            if _sha256(data) != manifest[rel]:
                raise YaleArchiveError(
                    f"{archive}: {info.filename} is not the published image "
                    f"(sha256 {_sha256(data)[:12]}…, expected {manifest[rel][:12]}…)"
                )
            found.setdefault(rel, data)
    missing = sorted(set(manifest) - set(found))
    if missing:
        raise YaleArchiveError(
            f"{archive}: {len(missing)} of the {len(manifest)} Yale images are missing "
            f"(first: {missing[0]})"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        for rel, data in found.items():
            out = tmp / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(data)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for member, reason in left_out:
        logger.info("yale: %s left out (%s)", member, reason)
    return target, left_out


def _left_out_reason(member: str, rel: str | None) -> str:
    name = PurePosixPath(member).name
    if name == "subject01.glasses.gif":
        return "duplicate: byte-identical to subject01.glasses"
    if name == "subject01.gif":
        return "subject 01's centerlight image under another name; not in the checksum manifest"
    if rel is None:
        return "not a Yale image name (subjectNN.<condition>)"
    return "not in the checksum manifest"


def _download_verified(
    raw_dir: Path, urls: Iterable[str], manifest: Mapping[str, str] | None
) -> Path:
    """Download the archive from the first URL whose images verify; extract them."""
    archive = raw_dir / YALE_ARCHIVE
    failures: list[tuple[str, str]] = []
    for url in urls:
        try:
            download(url, archive)
            images, _ = extract_verified(archive, raw_dir / "images", manifest)
        except YaleArchiveError as exc:
            archive.unlink(missing_ok=True)
            failures.append((url, str(exc)))
            continue
        except UserError as exc:  # network, HTTP status, unsafe archive
            failures.append((url, getattr(exc, "reason", None) or str(exc)))
            continue
        return images
    raise SourcesExhaustedError("yale", YALE_ARCHIVE, failures, "yale/subjectNN/")


# --------------------------------------------------------------------------------------------
# finding the images
# --------------------------------------------------------------------------------------------
def _holds_yale(path: Path) -> bool:
    return path.is_dir() and any(
        parse_yale_name(p.name) for p in path.glob("subject*/subject*") if p.is_file()
    )


def acquire_yale(
    raw_dir: str | Path,
    path: str | Path | None = None,
    urls: Iterable[str] = YALE_URLS,
    manifest: Mapping[str, str] | None = None,
) -> tuple[Path, str]:
    """Find or fetch the images; returns ``(root, origin)``, ``root`` holding ``subjectNN/``.

    Order: ``path`` (a folder laid out as ``subjectNN/subjectNN.<condition>``, origin
    ``"folder"``, or a ``yalefaces.zip``, verified and extracted into ``raw_dir/images``);
    ``raw_dir/images`` (``"raw"``); the mirror's ``yale/`` (``"mirror"``); the download
    (``"download"``).  ``manifest`` (default :data:`MANIFEST`) is what an archive is checked
    against; :func:`list_yale` checks every image listed.  Offline and without the mirror:
    :class:`~facecluster.data.download.SourcesExhaustedError` naming the mirror setting.
    """
    raw_dir = Path(raw_dir)
    if path is not None:
        path = Path(path)
        if path.is_file():
            return extract_verified(path, raw_dir / "images", manifest)[0], "folder"
        if not path.is_dir():
            raise DatasetNotFoundError(path, "Yale folder or yalefaces.zip not found")
        return path, "folder"
    if _holds_yale(raw_dir / "images"):
        return raw_dir / "images", "raw"
    mirror = find_in_mirror("yale", ["yale"], accept=_holds_yale)
    if mirror is not None:
        return mirror, "mirror"
    return _download_verified(raw_dir, urls, manifest), "download"


def list_yale(
    root: str | Path, manifest: Mapping[str, str] | None = None
) -> tuple[list[ImageRecord], list[SkippedFile]]:
    """The images under ``root`` that are Yale images with their published digest.

    A file with another name, or whose sha256 differs from :data:`MANIFEST`, is skipped with
    the reason (never clustered: the published results are on the published images); an
    image of the manifest that is absent is logged as a warning.
    """
    manifest = manifest or MANIFEST
    records, skipped = scan_personal(Path(root))
    kept: list[ImageRecord] = []
    for rec in records:
        parsed = parse_yale_name(rec.path.name)
        if parsed is None or parsed[0] != rec.identity:
            reason = "ignored: not a Yale image name (subjectNN/subjectNN.<condition>)"
            skipped.append(SkippedFile(rec.path, rec.relpath, rec.identity, reason))
        elif rec.relpath not in manifest:
            reason = "not in the checksum manifest of the published images"
            skipped.append(SkippedFile(rec.path, rec.relpath, rec.identity, reason))
        elif (digest := file_hash(rec.path, "sha256")) != manifest[rec.relpath]:
            reason = f"not the published image (sha256 {digest[:12]}…)"
            skipped.append(SkippedFile(rec.path, rec.relpath, rec.identity, reason))
        else:
            kept.append(rec)
    missing = len(set(manifest) - {r.relpath for r in kept})
    if missing:
        logger.warning(
            "yale %s: %d of the %d published images are missing", root, missing, len(manifest)
        )
    return kept, skipped
