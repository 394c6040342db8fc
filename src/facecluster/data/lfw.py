"""Labeled Faces in the Wild: acquisition (mirror, then official download), listing, pairs.

Sources (the official LFW site; archive names, folders and md5 digests as torchvision lists
them):

=============  =======================  ====================  ================================
variant        archive                  folder inside         md5
=============  =======================  ====================  ================================
deepfunneled   lfw-deepfunneled.tgz     lfw-deepfunneled/     68331da3eb755a505a502b5aacb3c201
funneled       lfw-funneled.tgz         lfw_funneled/         1b42dfed7d15c9b2dd63d5e5840c86ad
original       lfw.tgz                  lfw/                  a17d05bd522c52d84eca14327a23d494
=============  =======================  ====================  ================================

Protocol files: ``pairs.txt`` (md5 9f1ba174e4e1c508ff7cdf10ac338a7d) and ``people.txt``
(md5 450f0863dd89e85e73936a6d71a3474b).

Mirrors: every file is first asked of the official site, then of the long-standing figshare
copies scikit-learn's ``fetch_lfw_people`` downloads (``lfw.tgz``: files/5976018,
``lfw-funneled.tgz``: files/5976015, ``pairs.txt``: files/5976006; no copy of the
deep-funneled archive or of ``people.txt`` exists there).  Every URL of a file is checked
against the same md5 above, so a copy that is not byte for byte the official file is refused
and the next URL tried.  scikit-learn pins sha256 digests of its copies; for ``pairs.txt`` that
digest (ea42330c…) is the sha256 of the official-md5 file, so the copy is the official file.
For the two archives it cannot be checked without the archives, so the md5 alone decides.

Images are ``<root>/<Name>/<Name>_<NNNN>.jpg`` with ``NNNN`` counting from 0001; the identity is
``<Name>``.  With the default filter (at least 3 images per person) LFW has 901 identities and
7,606 images.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from facecluster.data.download import (
    RemoteFile,
    SourcesExhaustedError,
    download_any,
    find_in_mirror,
    safe_extract,
    verify_checksums,
)
from facecluster.data.images import DatasetNotFoundError, ImageRecord, SkippedFile, is_hidden
from facecluster.errors import UserError

logger = logging.getLogger(__name__)

__all__ = [
    "LFW_ARCHIVES",
    "LFW_BASE_URL",
    "LFW_PROTOCOL_MD5",
    "LFW_PROTOCOL_MIRRORS",
    "LfwArchive",
    "LfwFormatError",
    "LfwSource",
    "Pair",
    "acquire_lfw",
    "lfw_relpath",
    "list_lfw",
    "pair_image_relpaths",
    "read_pairs",
    "scan_lfw",
]

LFW_BASE_URL = "http://vis-www.cs.umass.edu/lfw/"
_FIGSHARE = "https://ndownloader.figshare.com/files/"  # scikit-learn's copies (module docstring)


@dataclass(frozen=True)
class LfwArchive:
    """One official image archive: file name, the folder it extracts to, md5, other copies.

    ``mirrors`` are full URLs tried after the official site (``base_url + filename``), each
    checked against the same ``md5``.
    """

    filename: str
    folder: str
    md5: str
    mirrors: tuple[str, ...] = ()


LFW_ARCHIVES: dict[str, LfwArchive] = {
    "deepfunneled": LfwArchive(
        "lfw-deepfunneled.tgz", "lfw-deepfunneled", "68331da3eb755a505a502b5aacb3c201"
    ),
    "funneled": LfwArchive(
        "lfw-funneled.tgz",
        "lfw_funneled",
        "1b42dfed7d15c9b2dd63d5e5840c86ad",
        (_FIGSHARE + "5976015",),
    ),
    "original": LfwArchive(
        "lfw.tgz", "lfw", "a17d05bd522c52d84eca14327a23d494", (_FIGSHARE + "5976018",)
    ),
}

LFW_PROTOCOL_MD5: dict[str, str] = {
    "pairs.txt": "9f1ba174e4e1c508ff7cdf10ac338a7d",
    "people.txt": "450f0863dd89e85e73936a6d71a3474b",
}
#: copies of the protocol files tried after the official site (same md5)
LFW_PROTOCOL_MIRRORS: dict[str, tuple[str, ...]] = {
    "pairs.txt": (_FIGSHARE + "5976006",),
    "people.txt": (),
}

_IMAGE_RE = re.compile(r"^(?P<name>.+)_(?P<num>\d{4})\.jpg$")


class LfwFormatError(UserError, ValueError):
    """A protocol file (``pairs.txt``) does not follow the official format."""


@dataclass(frozen=True)
class LfwSource:
    """Where an LFW variant was found.

    Attributes
    ----------
    images_root : Path
        Folder holding ``<Name>/<Name>_NNNN.jpg`` (used in place; never modified).
    people_txt : Path or None
        ``people.txt`` when available.
    pairs_txt : Path
        ``pairs.txt`` (10 folds x 300 same + 300 different pairs).
    origin : str
        ``"mirror"``, ``"raw"`` (acquired earlier into the raw folder) or ``"download"``.
    """

    images_root: Path
    people_txt: Path | None
    pairs_txt: Path
    origin: str


# --------------------------------------------------------------------------------------------
# acquisition
# --------------------------------------------------------------------------------------------
def _looks_like_lfw(root: Path, probe_dirs: int = 64) -> bool:
    """True when some sub-folder ``<Name>`` of ``root`` holds ``<Name>_0001.jpg``."""
    if not root.is_dir():
        return False
    try:
        with os.scandir(root) as it:
            for i, entry in enumerate(it):
                if i >= probe_dirs:
                    break
                if entry.is_dir() and (Path(entry.path) / f"{entry.name}_0001.jpg").is_file():
                    return True
    except OSError:
        return False
    return False


def _mirror_candidates(variant: str) -> list[str]:
    spec = LFW_ARCHIVES[variant]
    folders = [f"lfw/{spec.folder}", spec.folder]
    if spec.folder != spec.filename.removesuffix(".tgz"):
        folders += [f"lfw/{spec.filename.removesuffix('.tgz')}"]
    return folders + [f"lfw/{spec.filename}", spec.filename]


def _extracted_root(target: Path, folder: str) -> Path:
    inner = target / folder
    if _looks_like_lfw(inner):
        return inner
    if _looks_like_lfw(target):
        return target
    raise DatasetNotFoundError(inner, "LFW archive did not extract to the expected folder")


def _protocol_file(name: str, raw_dir: Path, base_url: str, *, may_download: bool) -> Path | None:
    """``pairs.txt``/``people.txt``: mirror, then raw folder, then (if allowed) download."""
    md5 = LFW_PROTOCOL_MD5[name]
    found = find_in_mirror(f"lfw {name}", [f"lfw/{name}", name])
    if found is not None and found.is_file():
        verify_checksums(found, md5=md5)
        return found
    local = raw_dir / name
    if not may_download:
        return local if local.is_file() else None
    remote = RemoteFile(name, (base_url + name, *LFW_PROTOCOL_MIRRORS.get(name, ())), md5=md5)
    return download_any(f"lfw {name}", remote, local, mirror_hint=f"lfw/{name}")


def acquire_lfw(
    variant: str,
    raw_dir: str | Path,
    *,
    base_url: str = LFW_BASE_URL,
) -> LfwSource:
    """Find or fetch an LFW variant and its protocol files.

    Order: an extraction already in ``raw_dir``; the offline mirror (an extracted folder is used
    in place, an archive is verified and extracted into ``raw_dir``); the official site (download
    with md5 check, then safe extraction into ``raw_dir``).

    Parameters
    ----------
    variant : {"deepfunneled", "funneled", "original"}
        Which alignment of the images.
    raw_dir : str or Path
        The dataset's raw folder (``data/raw/lfw``): downloads and extractions go there.
    base_url : str
        Where the official files are served (a test points this at a local server); each
        file's other copies (:data:`LFW_ARCHIVES`, :data:`LFW_PROTOCOL_MIRRORS`) come after.

    Returns
    -------
    LfwSource

    Raises
    ------
    facecluster.integrity.ChecksumError
        An archive or protocol file found in the mirror does not have its official md5.
    facecluster.data.download.SourcesExhaustedError
        Nothing local and every URL failed (offline, dead sites, bad copies): one line naming
        the dataset, the URLs with their reasons and ``$FACECLUSTER_MIRROR``.
    """
    if variant not in LFW_ARCHIVES:
        raise ValueError(f"unknown LFW variant {variant!r}; choose from {sorted(LFW_ARCHIVES)}")
    spec = LFW_ARCHIVES[variant]
    raw_dir = Path(raw_dir)
    target = raw_dir / variant

    images_root: Path | None = None
    origin = "raw"
    if target.is_dir():
        images_root = _extracted_root(target, spec.folder)
        logger.info("lfw %s: using earlier extraction %s", variant, images_root)
    else:
        found = find_in_mirror(f"lfw-{variant}", _mirror_candidates(variant), accept=_accept_lfw)
        if found is not None and found.is_dir():
            images_root, origin = found, "mirror"
        elif found is not None:
            verify_checksums(found, md5=spec.md5)
            images_root = _extracted_root(safe_extract(found, target), spec.folder)
            origin = "mirror"
        else:
            remote = RemoteFile(
                spec.filename, (base_url + spec.filename, *spec.mirrors), md5=spec.md5
            )
            archive = download_any(
                f"lfw-{variant}",
                remote,
                raw_dir / spec.filename,
                mirror_hint=f"lfw/{spec.folder}/ or lfw/{spec.filename}",
            )
            images_root = _extracted_root(safe_extract(archive, target), spec.folder)
            origin = "download"

    pairs = _protocol_file("pairs.txt", raw_dir, base_url, may_download=True)
    assert pairs is not None
    try:
        people = _protocol_file("people.txt", raw_dir, base_url, may_download=origin == "download")
    except SourcesExhaustedError as exc:  # only recorded in the summary: not worth failing for
        logger.warning("lfw %s: continuing without people.txt: %s", variant, exc)
        people = None
    source = LfwSource(images_root=images_root, people_txt=people, pairs_txt=pairs, origin=origin)
    logger.info("lfw %s: images %s (%s), pairs %s", variant, images_root, origin, pairs)
    return source


def _accept_lfw(path: Path) -> bool:
    return path.is_file() or _looks_like_lfw(path)


# --------------------------------------------------------------------------------------------
# listing
# --------------------------------------------------------------------------------------------
def lfw_relpath(name: str, number: int) -> str:
    """``"<Name>/<Name>_<NNNN>.jpg"``: an LFW image's path relative to the images root."""
    return f"{name}/{name}_{int(number):04d}.jpg"


def scan_lfw(
    images_root: str | Path, min_images_per_identity: int = 1
) -> tuple[list[ImageRecord], list[SkippedFile]]:
    """List LFW images by their official names, keeping people with enough images.

    Parameters
    ----------
    images_root : str or Path
        Folder with ``<Name>/<Name>_NNNN.jpg``.
    min_images_per_identity : int
        Keep only identities with at least this many correctly named images.

    Returns
    -------
    records : list of ImageRecord
        Sorted by ``relpath`` (hence by identity, then image number).
    skipped : list of SkippedFile
        Files whose names do not follow the LFW pattern, and files outside person folders.
        People filtered out by the count are *not* listed here.
    """
    if min_images_per_identity < 1:
        raise ValueError(f"min_images_per_identity must be >= 1, got {min_images_per_identity}")
    root = Path(images_root)
    if not root.is_dir():
        raise DatasetNotFoundError(root, "LFW images folder not found")
    skipped: list[SkippedFile] = []
    by_identity: dict[str, list[ImageRecord]] = {}
    with os.scandir(root) as it:
        entries = sorted((e for e in it if not is_hidden(e.name)), key=lambda e: e.name)
    for entry in tqdm(entries, desc="listing LFW", unit="person"):
        if not entry.is_dir():
            skipped.append(
                SkippedFile(
                    Path(entry.path), entry.name, None, "ignored: not inside a person folder"
                )
            )
            continue
        name = entry.name
        kept: list[ImageRecord] = []
        with os.scandir(entry.path) as files:
            for f in sorted(files, key=lambda e: e.name):
                if is_hidden(f.name):
                    continue
                rel = f"{name}/{f.name}"
                m = _IMAGE_RE.match(f.name)
                if m is None or m.group("name") != name or not f.is_file():
                    skipped.append(
                        SkippedFile(
                            Path(f.path),
                            rel,
                            name,
                            "name does not follow LFW <Name>/<Name>_NNNN.jpg",
                        )
                    )
                    continue
                kept.append(ImageRecord(path=Path(f.path), identity=name, relpath=rel))
        if len(kept) >= min_images_per_identity:
            by_identity[name] = kept
    records = sorted((r for rs in by_identity.values() for r in rs), key=lambda r: r.relpath)
    logger.info(
        "lfw %s: %d images of %d identities with >= %d images; %d files skipped",
        root,
        len(records),
        len(by_identity),
        min_images_per_identity,
        len(skipped),
    )
    return records, skipped


def list_lfw(images_root: str | Path, min_images_per_identity: int = 3) -> list[ImageRecord]:
    """LFW images of people with at least ``min_images_per_identity`` images, sorted by relpath.

    See :func:`scan_lfw`; on the official tree the default gives 901 identities, 7,606 images.
    """
    return scan_lfw(images_root, min_images_per_identity)[0]


# --------------------------------------------------------------------------------------------
# pairs.txt
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Pair:
    """One verification pair of ``pairs.txt``.

    Attributes
    ----------
    fold : int
        0-based fold index (0..9 for the 10-fold ``pairs.txt``).
    name1, number1, name2, number2
        The two images (``number`` is LFW's 1-based image number).
    """

    fold: int
    name1: str
    number1: int
    name2: str
    number2: int

    @property
    def same(self) -> bool:
        """Whether both images show the same person."""
        return self.name1 == self.name2

    @property
    def relpath1(self) -> str:
        return lfw_relpath(self.name1, self.number1)

    @property
    def relpath2(self) -> str:
        return lfw_relpath(self.name2, self.number2)


def read_pairs(pairs_txt: str | Path) -> list[Pair]:
    """Parse the official ``pairs.txt`` format.

    The first line is ``<folds> <n>`` (``10 300``), or just ``<n>`` for the single-set
    ``pairsDevTrain.txt``/``pairsDevTest.txt``.  Each fold then has ``n`` same-person lines
    ``name i j`` followed by ``n`` different-person lines ``name1 i name2 j``.

    Returns
    -------
    list of Pair
        In file order, each with its fold index.

    Raises
    ------
    LfwFormatError
        Wrong header, wrong number of lines, or a line of the wrong shape (the line number is
        named).
    """
    path = Path(pairs_txt)
    lines = [ln.split() for ln in path.read_text(encoding="utf-8").splitlines()]
    numbered = [(i + 1, parts) for i, parts in enumerate(lines) if parts]
    if not numbered:
        raise LfwFormatError(f"{path}: empty file")
    _, header = numbered[0]
    try:
        if len(header) == 2:
            n_folds, n_per = int(header[0]), int(header[1])
        elif len(header) == 1:
            n_folds, n_per = 1, int(header[0])
        else:
            raise ValueError
    except ValueError:
        raise LfwFormatError(f"{path}: line 1 must be '<folds> <pairs>', got {header}") from None
    body = numbered[1:]
    expected = n_folds * 2 * n_per
    if len(body) != expected:
        raise LfwFormatError(
            f"{path}: header announces {n_folds} folds x {2 * n_per} pairs = {expected} lines, "
            f"found {len(body)}"
        )
    pairs: list[Pair] = []
    for k, (lineno, parts) in enumerate(body):
        fold, within = divmod(k, 2 * n_per)
        same = within < n_per
        try:
            if same:
                if len(parts) != 3:
                    raise ValueError("expected 'name i j'")
                pairs.append(Pair(fold, parts[0], int(parts[1]), parts[0], int(parts[2])))
            else:
                if len(parts) != 4:
                    raise ValueError("expected 'name1 i name2 j'")
                pairs.append(Pair(fold, parts[0], int(parts[1]), parts[2], int(parts[3])))
        except ValueError as exc:
            kind = "same-person" if same else "different-person"
            raise LfwFormatError(
                f"{path}: line {lineno} ({kind} pair of fold {fold}): {exc}: {' '.join(parts)!r}"
            ) from None
    return pairs


def pair_image_relpaths(pairs: Iterable[Pair]) -> list[str]:
    """Sorted, unique relpaths of every image the pairs name (people with < 3 images too)."""
    return sorted({rel for p in pairs for rel in (p.relpath1, p.relpath2)})
