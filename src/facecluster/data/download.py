"""Dataset acquisition: verified, atomic, resumable downloads; safe extraction; offline mirror.

* :func:`download` writes to ``<dest>.part`` and renames it to ``dest`` only once the whole
  file is there and its checksum matches, so ``dest`` is never a partial or a bad file.  An
  interrupted download keeps its ``.part`` and the next call resumes it with an HTTP ``Range``
  request when the server honours it (``206``); a server that answers ``200`` is downloaded
  again from the start.  A file that fails its checksum is deleted (``.part`` included).
* :func:`download_any` fetches one :class:`RemoteFile` from the first of its URLs that works:
  every URL is checked against the same digests, so a dead site, an error page or a bad copy
  moves on to the next mirror.  When all fail it raises :class:`SourcesExhaustedError`, one
  line naming the dataset, each URL with its short reason and ``$FACECLUSTER_MIRROR`` (an
  offline run must say what to do, not print a network traceback).
* :func:`safe_extract` checks *every* member of a tar or zip archive before writing anything and
  refuses the whole archive (:class:`UnsafeArchiveError`) if one would land outside the target:
  absolute names, ``..`` components, links pointing outside or through other links, device
  files and FIFOs.  It extracts into a temporary folder beside the target and renames it, so
  the target exists only when complete.
* :func:`find_in_mirror` looks for an archive or extracted folder under
  ``$FACECLUSTER_MIRROR`` (:func:`facecluster.paths.mirror_root`) before anything is downloaded.

Size (~730 lines): the archive-safety checks (links through links, both tar and zip) are most
of it and belong with the extraction they guard.
"""

from __future__ import annotations

import hashlib
import logging
import os
import posixpath
import re
import shutil
import stat
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import requests
from tqdm.auto import tqdm
from urllib3.exceptions import ReadTimeoutError

from facecluster.errors import UserError
from facecluster.integrity import CHUNK, ChecksumError, file_hash
from facecluster.paths import MIRROR_ENV, mirror_root

logger = logging.getLogger(__name__)

__all__ = [
    "DigestMismatchError",
    "DownloadError",
    "RemoteFile",
    "SourcesExhaustedError",
    "UnsafeArchiveError",
    "download",
    "download_any",
    "find_in_mirror",
    "git_blob_sha1",
    "mirror_advice",
    "safe_extract",
    "verify_checksums",
]

USER_AGENT = "facecluster-dataset-fetcher"
# tarfile's extraction filters exist from Python 3.11.4 on; without them only our own checks run.
_DATA_FILTER: Callable | None = getattr(tarfile, "data_filter", None)
_FILTER_ERROR: type[BaseException] | tuple[()] = getattr(tarfile, "FilterError", ())


class DownloadError(UserError, OSError):
    """A download failed (network, HTTP status, short read); the URL is in the message.

    ``reason`` is the short cause without the URL (``"HTTP 404 Not Found"``, ``"cannot resolve
    host example.org (offline?)"``): what :class:`SourcesExhaustedError` lists per mirror.
    """

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason or message

    def __reduce__(self) -> tuple[object, ...]:
        return DownloadError, (str(self), self.reason)


class DigestMismatchError(ChecksumError):
    """A file's digest is not the expected one; keeps the digests for a one-line summary."""

    def __init__(self, path: str | Path, algorithm: str, expected: str, actual: str) -> None:
        super().__init__(f"{algorithm} mismatch for {path}: expected {expected}, got {actual}")
        self.algorithm = algorithm
        self.expected = expected
        self.actual = actual


class SourcesExhaustedError(DownloadError):
    """Every URL of a dataset file failed and there is no offline copy.

    One line, because an offline run must tell the user what to do rather than end in a network
    traceback: the dataset, each URL tried with its short reason, and the
    ``$FACECLUSTER_MIRROR`` setting that makes the download unnecessary.
    """

    def __init__(
        self, dataset: str, filename: str, failures: list[tuple[str, str]], mirror_hint: str
    ) -> None:
        self.dataset = dataset
        self.file = filename  # not `filename`: OSError prints that attribute
        self.failures = list(failures)
        self.mirror_hint = mirror_hint
        if failures:
            tried = "; ".join(f"{url} ({why})" for url, why in failures)
            head = f"{dataset}: cannot download {filename} from any of its sources: {tried}"
        else:
            head = f"{dataset}: no download source is known for {filename}"
        super().__init__(f"{head}. {mirror_advice(mirror_hint)}", reason="every source failed")

    def __reduce__(self) -> tuple[object, ...]:
        return SourcesExhaustedError, (
            self.dataset,
            self.file,
            self.failures,
            self.mirror_hint,
        )


class UnsafeArchiveError(UserError, ValueError):
    """An archive member would escape the target folder; nothing was extracted."""


@dataclass(frozen=True)
class RemoteFile:
    """One dataset file and the URLs known to serve it, tried in order.

    The digests are the *file's*, not a site's: every URL must serve the same bytes, so a
    mirror that serves anything else (an error page with status 200, an older release) fails
    its check and the next URL is tried.  Give at least one digest for anything downloaded.
    """

    filename: str
    urls: tuple[str, ...]
    md5: str | None = None
    sha256: str | None = None
    git_sha1: str | None = None

    @property
    def checks(self) -> dict[str, str | None]:
        """The digests as keyword arguments of :func:`download` / :func:`verify_checksums`."""
        return {"md5": self.md5, "sha256": self.sha256, "git_sha1": self.git_sha1}


# --------------------------------------------------------------------------------------------
# checksums
# --------------------------------------------------------------------------------------------
def git_blob_sha1(path: str | Path) -> str:
    """Git's object id of a file (``git hash-object``): sha1 of ``b"blob <size>\\0" + bytes``.

    Lets a file fetched from a Git repository be verified against the blob id in the tree.
    """
    path = Path(path)
    h = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_checksums(
    path: str | Path,
    *,
    md5: str | None = None,
    sha256: str | None = None,
    git_sha1: str | None = None,
) -> None:
    """Raise :class:`~facecluster.integrity.ChecksumError` unless every given digest matches."""
    expected = [("md5", md5), ("sha256", sha256), ("git-blob-sha1", git_sha1)]
    for algorithm, digest in expected:
        if digest is None:
            continue
        if algorithm == "git-blob-sha1":
            actual = git_blob_sha1(path)
        else:
            actual = file_hash(path, algorithm)
        if actual.lower() != digest.lower():
            raise DigestMismatchError(path, algorithm, digest.lower(), actual)


# --------------------------------------------------------------------------------------------
# download
# --------------------------------------------------------------------------------------------
def _part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


_RANGE_RE = re.compile(r"bytes\s+(\d+|\*)(?:-(\d+))?/(\d+|\*)")


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """``(first_byte, total)`` of a ``Content-Range`` header (None where unknown)."""
    if not value:
        return None, None
    m = _RANGE_RE.match(value.strip())
    if not m:
        return None, None
    first = int(m.group(1)) if m.group(1) != "*" else None
    total = int(m.group(3)) if m.group(3) != "*" else None
    return first, total


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and every exception it wraps (``args``, urllib3's ``reason``, causes)."""
    found: list[BaseException] = []
    todo = [exc]
    while todo:
        e = todo.pop(0)
        if any(e is f for f in found):
            continue
        found.append(e)
        nested = (getattr(e, "reason", None), e.__cause__, e.__context__, *e.args)
        todo.extend(n for n in nested if isinstance(n, BaseException))
    return found


def _network_reason(exc: BaseException, url: str) -> str:
    """A short cause of a failed request, without the URL or urllib3's nested reprs."""
    chain = _chain(exc)
    names = {cls.__name__ for e in chain for cls in type(e).__mro__}
    host = urlsplit(url).hostname or url
    # most specific first: urllib3's connection errors all derive from its ConnectTimeoutError
    if "NameResolutionError" in names or "gaierror" in names:
        return f"cannot resolve host {host} (offline?)"
    if "ConnectionRefusedError" in names:
        return f"connection refused by {host}"
    if "IncompleteRead" in names:
        return f"{host} closed the connection before the end"
    if any(isinstance(e, (requests.Timeout, ReadTimeoutError, TimeoutError)) for e in chain):
        return f"timed out waiting for {host}"
    if "SSLError" in names:
        return f"TLS error with {host}"
    if "InvalidSchema" in names or "MissingSchema" in names or "InvalidURL" in names:
        return "not a downloadable http(s) URL"
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:120]}" if text else type(exc).__name__


def _fetch(url: str, part: Path, *, resume: bool, timeout: float, chunk_size: int) -> None:
    """Stream ``url`` into ``part``, resuming from its current size when allowed."""
    offset = part.stat().st_size if (resume and part.is_file()) else 0
    for _attempt in range(2):
        headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        try:
            resp = requests.get(url, headers=headers, stream=True, timeout=timeout)
        except requests.RequestException as exc:
            raise DownloadError(
                f"cannot download {url}: {exc}", _network_reason(exc, url)
            ) from exc
        with resp:
            if offset and resp.status_code == 416:
                _, total = _content_range(resp.headers.get("Content-Range"))
                if total == offset:
                    logger.info("%s: partial file is already complete", part.name)
                    return
                logger.warning("%s: server refused the range; downloading again", url)
                offset = 0
                continue
            if resp.status_code >= 400:
                status = f"HTTP {resp.status_code} {resp.reason or ''}".strip()
                raise DownloadError(f"cannot download {url}: {status}", status)
            mode = "wb"
            if offset and resp.status_code == 206:
                first, _ = _content_range(resp.headers.get("Content-Range"))
                if first != offset:
                    logger.warning("%s: unexpected Content-Range; downloading again", url)
                    offset = 0
                    continue
                mode = "ab"
                logger.info("resuming %s at byte %d", url, offset)
            elif offset:
                logger.info(
                    "%s: server ignores ranges (HTTP %d); downloading again", url, resp.status_code
                )
                offset = 0
            length = resp.headers.get("Content-Length")
            total = offset + int(length) if length and length.isdigit() else None
            try:
                with (
                    part.open(mode) as fh,
                    tqdm(
                        total=total,
                        initial=offset,
                        unit="B",
                        unit_scale=True,
                        unit_divisor=1024,
                        desc=part.name.removesuffix(".part"),
                    ) as bar,
                ):
                    # raw bytes: never let a Content-Encoding header decompress an archive
                    for chunk in resp.raw.stream(chunk_size, decode_content=False):
                        fh.write(chunk)
                        bar.update(len(chunk))
            except Exception as exc:
                raise DownloadError(
                    f"download of {url} interrupted: {exc}",
                    f"interrupted: {_network_reason(exc, url)}",
                ) from exc
            size = part.stat().st_size
            if total is not None and size != total:
                why = f"incomplete: {size} of {total} bytes"
                raise DownloadError(f"download of {url} {why}", why)
            return
    why = "the server did not honour a restart"
    raise DownloadError(f"cannot download {url}: {why}", why)


def download(
    url: str,
    dest: str | Path,
    *,
    md5: str | None = None,
    sha256: str | None = None,
    git_sha1: str | None = None,
    resume: bool = True,
    timeout: float = 60.0,
    chunk_size: int = 1 << 16,
) -> Path:
    """Download ``url`` to ``dest`` atomically, resuming and verifying.

    Parameters
    ----------
    url : str
        HTTP(S) address.
    dest : str or Path
        Final file.  The data is written to ``<dest>.part`` first and renamed only when
        complete and verified.
    md5, sha256, git_sha1 : str, optional
        Expected digests (hex); ``git_sha1`` is Git's blob id (:func:`git_blob_sha1`).  An
        existing ``dest`` that matches is returned without downloading; without any digest an
        existing ``dest`` is trusted (it was renamed into place complete).
    resume : bool
        Keep ``.part`` on failure and continue it next time with a ``Range`` request.
    timeout : float
        Seconds to wait for the connection and between received bytes.
    chunk_size : int
        Bytes per read.

    Returns
    -------
    Path
        ``dest``.

    Raises
    ------
    DownloadError
        Network failure, HTTP error status or short read (``.part`` kept when ``resume``).
    facecluster.integrity.ChecksumError
        The downloaded file does not match; it is deleted.  ``dest`` is never left holding a
        file that fails a given digest (an existing bad one is deleted before downloading).
    """
    dest = Path(dest)
    checks = {"md5": md5, "sha256": sha256, "git_sha1": git_sha1}
    has_checks = any(v is not None for v in checks.values())
    if dest.is_file():
        if not has_checks:
            logger.info("%s exists (no checksum given); not downloading", dest)
            return dest
        try:
            verify_checksums(dest, **checks)
            logger.info("%s exists and matches its checksum", dest)
            return dest
        except ChecksumError as exc:
            logger.warning("%s; deleting it and downloading again", exc)
            dest.unlink()
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = _part_path(dest)
    if not resume:
        part.unlink(missing_ok=True)
    logger.info("downloading %s -> %s", url, dest)
    try:
        _fetch(url, part, resume=resume, timeout=timeout, chunk_size=chunk_size)
    except BaseException:
        if not resume:
            part.unlink(missing_ok=True)
        raise
    try:
        verify_checksums(part, **checks)
    except ChecksumError:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, dest)
    logger.info(
        "downloaded %s (%d bytes)%s",
        dest,
        dest.stat().st_size,
        ", checksum verified" if has_checks else "",
    )
    return dest


def _mismatch_reason(exc: ChecksumError) -> str:
    if isinstance(exc, DigestMismatchError):
        return f"{exc.algorithm} mismatch: got {exc.actual[:12]}…, expected {exc.expected[:12]}…"
    return "checksum mismatch"


def download_any(
    dataset: str,
    remote: RemoteFile,
    dest: str | Path,
    *,
    mirror_hint: str,
    resume: bool = True,
    timeout: float = 60.0,
) -> Path:
    """Download ``remote`` to ``dest`` from the first of its URLs that serves the right bytes.

    Each URL goes through :func:`download` with the file's digests, so ``dest`` only ever
    appears complete and verified.  A network failure, an HTTP error or a checksum mismatch
    moves on to the next URL.  A ``.part`` left by an earlier attempt is resumed (the bytes are
    the same file whichever mirror wrote them); if the resumed file fails its checksum it was
    deleted and the same URL is tried once more from the start.

    Parameters
    ----------
    dataset : str
        Dataset name for the log and the error (``"lfw-deepfunneled"``).
    remote : RemoteFile
        The file, its URLs (most trusted first) and its digests.
    dest : str or Path
        Final file; an existing ``dest`` that matches the digests is returned at once.
    mirror_hint : str
        What an offline mirror would hold instead (``"lfw/lfw-deepfunneled/"``), for the error.
    resume, timeout
        As for :func:`download`.

    Returns
    -------
    Path
        ``dest``.

    Raises
    ------
    SourcesExhaustedError
        Every URL failed: one line with each URL's reason and the ``$FACECLUSTER_MIRROR`` hint.
    """
    dest = Path(dest)
    failures: list[tuple[str, str]] = []
    for url in remote.urls:
        reason = "no attempt"
        for again in (False, True):
            had_part = resume and _part_path(dest).is_file()
            try:
                return download(url, dest, **remote.checks, resume=resume, timeout=timeout)
            except ChecksumError as exc:  # the bad file is already deleted, .part included
                reason = _mismatch_reason(exc)
                if again or not had_part:
                    break
                logger.warning("%s: %s after resuming; downloading it whole", url, reason)
            except DownloadError as exc:
                reason = exc.reason
                break
        failures.append((url, reason))
        logger.warning("%s: %s failed (%s)", dataset, url, reason)
    raise SourcesExhaustedError(dataset, remote.filename, failures, mirror_hint)


# --------------------------------------------------------------------------------------------
# safe extraction
# --------------------------------------------------------------------------------------------
def _archive_kind(archive: Path) -> str:
    """``"zip"`` or ``"tar"`` from the file's content (gzip/bzip2/xz tars included)."""
    with archive.open("rb") as fh:
        head = fh.read(4)
    if head in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if tarfile.is_tarfile(archive):
        return "tar"
    if zipfile.is_zipfile(archive):
        return "zip"
    raise UnsafeArchiveError(f"{archive} is neither a tar nor a zip archive")


def _normalise_member(name: str, archive: Path) -> str:
    """A member name as a clean relative POSIX path, or :class:`UnsafeArchiveError`."""
    raw = name.replace("\\", "/")
    if raw.startswith("/") or re.match(r"^[A-Za-z]:", raw):
        raise UnsafeArchiveError(f"{archive}: member {name!r} has an absolute path")
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchiveError(f"{archive}: member {name!r} contains '..'")
    if "\0" in raw:
        raise UnsafeArchiveError(f"{archive}: member {name!r} contains a NUL byte")
    return "/".join(parts)


def _through_link(rel: str, links: set[str]) -> str | None:
    """The first prefix of ``rel`` (``rel`` itself included) that is a link member."""
    parts = rel.split("/") if rel else []
    for i in range(1, len(parts) + 1):
        prefix = "/".join(parts[:i])
        if prefix in links:
            return prefix
    return None


def _walk_link_target(base: str, target: str, links: set[str]) -> tuple[bool, str | None]:
    """Follow ``base/target`` component by component, lexically.

    Returns ``(inside, via)``: whether every step stays inside the extraction folder, and the
    first link member the walk passes through (links to or through links are refused, which
    rules out chains such as ``s -> ../..`` followed by ``l -> x/s/..``).
    """
    current: list[str] = []
    for comp in posixpath.join(base, target).split("/"):
        if comp in ("", "."):
            continue
        if comp == "..":
            if not current:
                return False, None
            current.pop()
            continue
        current.append(comp)
        joined = "/".join(current)
        if joined in links:
            return True, joined
    return True, None


def _check_tar(tf: tarfile.TarFile, archive: Path) -> list[tarfile.TarInfo]:
    members = tf.getmembers()
    symlinks: set[str] = set()
    names: list[tuple[tarfile.TarInfo, str]] = []
    for m in members:
        rel = _normalise_member(m.name, archive)
        if not (m.isreg() or m.isdir() or m.issym() or m.islnk()):
            kind = "device file" if (m.ischr() or m.isblk()) else "special file"
            raise UnsafeArchiveError(f"{archive}: member {m.name!r} is a {kind}")
        names.append((m, rel))
        if m.issym():
            symlinks.add(rel)
    for m, rel in names:
        via = _through_link(rel.rsplit("/", 1)[0] if "/" in rel else "", symlinks)
        if via is not None:
            raise UnsafeArchiveError(
                f"{archive}: member {m.name!r} is written through the link {via!r}"
            )
        if m.issym() or m.islnk():
            target = m.linkname.replace("\\", "/")
            if target.startswith("/") or re.match(r"^[A-Za-z]:", target):
                raise UnsafeArchiveError(
                    f"{archive}: link {m.name!r} points to the absolute path {m.linkname!r}"
                )
            base = posixpath.dirname(rel) if m.issym() else ""  # hard links: from the root
            inside, via = _walk_link_target(base, target, symlinks - {rel})
            if not inside:
                raise UnsafeArchiveError(
                    f"{archive}: link {m.name!r} -> {m.linkname!r} points outside the target"
                )
            if via is not None:
                raise UnsafeArchiveError(
                    f"{archive}: link {m.name!r} -> {m.linkname!r} goes through the link {via!r}"
                )
    return members


def _check_zip(zf: zipfile.ZipFile, archive: Path) -> None:
    for info in zf.infolist():
        _normalise_member(info.filename, archive)
        mode = info.external_attr >> 16
        if mode and stat.S_ISLNK(mode):
            raise UnsafeArchiveError(f"{archive}: member {info.filename!r} is a symbolic link")
        if mode and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)) and stat.S_IFMT(mode):
            raise UnsafeArchiveError(f"{archive}: member {info.filename!r} is a special file")


def check_archive(archive: str | Path) -> str:
    """Validate every member of ``archive`` without extracting; returns ``"tar"`` or ``"zip"``.

    Raises
    ------
    UnsafeArchiveError
        A member would escape the extraction folder (see module docstring).
    """
    archive = Path(archive)
    kind = _archive_kind(archive)
    if kind == "tar":
        with tarfile.open(archive, "r:*") as tf:
            _check_tar(tf, archive)
    else:
        with zipfile.ZipFile(archive) as zf:
            _check_zip(zf, archive)
    return kind


def safe_extract(archive: str | Path, target: str | Path, *, overwrite: bool = False) -> Path:
    """Extract a ``.tar``/``.tgz``/``.tar.gz``/``.tar.bz2``/``.tar.xz``/``.zip`` safely.

    Every member is checked first; if any would escape ``target`` nothing is written.  The
    archive is extracted into a temporary folder beside ``target`` which is then renamed, so
    ``target`` appears only complete.

    Parameters
    ----------
    archive : str or Path
        The archive (its type is read from its content, not its name).
    target : str or Path
        Folder that receives the archive's members (``target/<member name>``).
    overwrite : bool
        Replace an existing ``target``; by default an existing one is returned as is (it can
        only exist complete).

    Returns
    -------
    Path
        ``target``.

    Raises
    ------
    UnsafeArchiveError
        A member has an absolute name or ``..``, a link points outside ``target`` or through
        another link, or a member is a device file / FIFO.
    """
    archive = Path(archive)
    target = Path(target)
    if target.exists() and not overwrite:
        logger.info("%s already extracted in %s", archive.name, target)
        return target
    kind = check_archive(archive)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(
        tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".extracting", dir=target.parent)
    )
    try:
        if kind == "tar":
            with tarfile.open(archive, "r:*") as tf:
                members = _check_tar(tf, archive)
                bar = tqdm(members, desc=f"extracting {archive.name}", unit="file")
                for member in bar:
                    if _DATA_FILTER is not None:  # second line of defence
                        tf.extract(member, tmp, filter="data")
                    else:
                        tf.extract(member, tmp)
        else:
            with zipfile.ZipFile(archive) as zf:
                for info in tqdm(zf.infolist(), desc=f"extracting {archive.name}", unit="file"):
                    zf.extract(info, tmp)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except _FILTER_ERROR as exc:
        raise UnsafeArchiveError(f"{archive}: {exc}") from exc
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    logger.info("extracted %s into %s", archive, target)
    return target


# --------------------------------------------------------------------------------------------
# offline mirror
# --------------------------------------------------------------------------------------------
def mirror_advice(wanted: str) -> str:
    """What to do when a dataset cannot be downloaded: the mirror setting, and its state now."""
    root = mirror_root()
    if root is None:
        state = f"{MIRROR_ENV} is not set"
    elif not root.is_dir():
        state = f"{MIRROR_ENV}={root} is not a folder"
    else:
        state = f"{MIRROR_ENV}={root} does not hold it"
    return (
        f"Offline? {state}; point {MIRROR_ENV} at a folder laid out like the shared data "
        f"mirror (../shared/data) that holds {wanted}"
    )


def _usable(path: Path) -> bool:
    if path.is_dir():
        try:
            with os.scandir(path) as it:
                return any(not e.name.startswith(".") for e in it)
        except OSError:
            return False
    return path.is_file() and path.stat().st_size > 0


def find_in_mirror(
    dataset: str,
    candidates: Iterable[str],
    *,
    accept: Callable[[Path], bool] | None = None,
) -> Path | None:
    """The first of ``candidates`` present under the offline mirror (``$FACECLUSTER_MIRROR``).

    Parameters
    ----------
    dataset : str
        Dataset name, for the log.
    candidates : sequence of str
        Paths relative to the mirror root, most preferred first: extracted folders
        (``"lfw/lfw-deepfunneled"``) or archives (``"lfw/lfw-deepfunneled.tgz"``).
    accept : callable, optional
        Extra check of a found path (e.g. that a folder really holds the dataset).

    Returns
    -------
    Path or None
        The path found (an empty folder or empty file does not count); None when the mirror is
        unset, missing, or holds none of the candidates.
    """
    root = mirror_root()
    if root is None:
        logger.debug("%s: %s is not set; no mirror lookup", dataset, MIRROR_ENV)
        return None
    if not root.is_dir():
        logger.warning("%s=%s is not a folder; ignoring the mirror", MIRROR_ENV, root)
        return None
    tried = []
    for rel in candidates:
        path = root / rel
        tried.append(rel)
        if not _usable(path):
            continue
        if accept is not None and not accept(path):
            logger.debug("%s: mirror candidate %s rejected", dataset, path)
            continue
        logger.info("%s: using mirror %s", dataset, path)
        return path
    logger.info("%s: not in mirror %s (looked for %s)", dataset, root, ", ".join(tried))
    return None
