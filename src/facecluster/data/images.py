"""Image records, content sniffing and decoding shared by every dataset loader.

Images are recognised by their *content*, never by their file name (the Yale faces have no
extension).  Raw files are only ever opened read-only.

Two levels of checking exist on purpose:

* :func:`probe_image` reads the header only (fast enough to run over every file of a dataset
  while listing it) and never raises; it returns why a file is not usable.
* :func:`load_image_rgb` decodes the whole image; a truncated or corrupt file raises
  :class:`ImageLoadError` whose ``reason`` the faces stage records in its manifest.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from facecluster.errors import UserError

logger = logging.getLogger(__name__)

__all__ = [
    "DatasetNotFoundError",
    "ImageLoadError",
    "ImageProbe",
    "ImageRecord",
    "SkippedFile",
    "is_hidden",
    "load_image_rgb",
    "probe_image",
    "sniff_image",
]


@dataclass(frozen=True)
class ImageRecord:
    """One image of a dataset.

    Attributes
    ----------
    path : Path
        Absolute location of the raw file (read-only).
    identity : str
        The person's label (folder name, LFW name or MUCT subject number ``"000"``).
    relpath : str
        POSIX path relative to the dataset root: the record's stable id.
    in_study : bool
        False for images that are only needed by a side protocol (LFW ``pairs.txt`` images of
        people below ``min_images_per_identity``): the faces stage crops them, the clustering
        set excludes them.
    """

    path: Path
    identity: str
    relpath: str
    in_study: bool = True


@dataclass(frozen=True)
class SkippedFile:
    """A file found while listing a dataset but not used, with the reason (for the manifest)."""

    path: Path
    relpath: str
    identity: str | None
    reason: str


@dataclass(frozen=True)
class ImageProbe:
    """Result of :func:`probe_image`.

    Attributes
    ----------
    ok : bool
        Whether Pillow recognises the content as an image (and, with ``decode=True``, decodes it).
    format : str or None
        Pillow's format name (``"JPEG"``, ``"PNG"``, ``"GIF"``, ``"PPM"`` for PBM/PGM/PPM, …).
    reason : str or None
        Why the file is not usable (``"zero-byte file"``, ``"not an image"``,
        ``"unreadable: PermissionError"``, ``"truncated or corrupt: …"``); None when ``ok``.
    size : tuple of int or None
        ``(width, height)`` in pixels, from the header.
    """

    ok: bool
    format: str | None
    reason: str | None
    size: tuple[int, int] | None = None


class DatasetNotFoundError(UserError, FileNotFoundError):
    """A dataset folder (or file) does not exist; the message names the path."""

    def __init__(self, path: str | Path, what: str = "dataset folder not found") -> None:
        super().__init__(errno.ENOENT, what, str(path))
        self.path = Path(path)
        self.what = what

    def __str__(self) -> str:
        return f"{self.what}: {self.path}"


class ImageLoadError(Exception):
    """An image cannot be decoded; ``reason`` is the short text recorded in the manifest."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"cannot load {path}: {reason}")
        self.path = Path(path)
        self.reason = reason


def is_hidden(name: str) -> bool:
    """Dot-files and AppleDouble files (``.DS_Store``, ``._IMG_0001.jpg``) are ignored."""
    return name.startswith(".")


def _describe(exc: BaseException) -> str:
    msg = str(exc).strip()
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__


def probe_image(path: str | Path, *, decode: bool = False) -> ImageProbe:
    """Recognise an image by its content; never raises.

    Parameters
    ----------
    path : str or Path
        The file to look at; it is opened read-only.
    decode : bool
        Also decode the pixels, which catches truncated or corrupt data at the cost of a full
        decode.  The default reads the header only.

    Returns
    -------
    ImageProbe
        ``ok`` with the Pillow format name, or not ``ok`` with a reason.
    """
    path = Path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return ImageProbe(False, None, "missing file")
    except OSError as exc:
        return ImageProbe(False, None, f"unreadable: {type(exc).__name__}")
    if not stat.S_ISREG(st.st_mode):
        return ImageProbe(False, None, "not a regular file")
    if st.st_size == 0:
        return ImageProbe(False, None, "zero-byte file")
    fmt: str | None = None
    size: tuple[int, int] | None = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with path.open("rb") as fh, Image.open(fh) as img:
                fmt = img.format
                size = (int(img.width), int(img.height))
                if decode:
                    img.load()
    except PermissionError as exc:
        return ImageProbe(False, None, f"unreadable: {type(exc).__name__}")
    except UnidentifiedImageError:
        return ImageProbe(False, None, "not an image")
    except Image.DecompressionBombError as exc:
        return ImageProbe(False, fmt, f"too large: {exc}", size)
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        return ImageProbe(False, fmt, f"truncated or corrupt: {_describe(exc)}", size)
    except Exception as exc:  # a Pillow plugin bug must not stop a whole listing
        return ImageProbe(False, fmt, f"unreadable: {_describe(exc)}", size)
    return ImageProbe(True, fmt, None, size)


def sniff_image(path: str | Path) -> str | None:
    """Pillow's format name of an image file (by content), or None when it is not one."""
    probe = probe_image(path)
    return probe.format if probe.ok else None


def _to_rgb(img: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB; transparency is composited over white."""
    mode = img.mode
    if mode == "RGB":
        return img
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode.startswith("I") or mode == "F":
        # 16/32-bit integer or float grey (16-bit PNG/PGM, TIFF): scale to 8 bits.
        arr = np.asarray(img).astype(np.float64)
        if mode.startswith("I;16"):
            arr = arr / 257.0
        elif arr.size and (arr.max() > 255 or arr.min() < 0):
            lo, hi = float(arr.min()), float(arr.max())
            arr = (arr - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(arr)
        grey = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
        return Image.fromarray(np.stack([grey] * 3, axis=-1))
    return img.convert("RGB")


def load_image_rgb(path: str | Path) -> np.ndarray:
    """Decode an image fully into an RGB array, honouring its EXIF orientation.

    Grey, palette, CMYK, 16-bit and alpha images become 8-bit RGB (alpha over white); for
    animated GIF/TIFF the first frame is used.  The file is opened read-only.

    Parameters
    ----------
    path : str or Path
        Image file; its name (extension) does not matter.

    Returns
    -------
    numpy.ndarray
        ``(height, width, 3)`` uint8 array, rows top to bottom as the image is meant to be seen.

    Raises
    ------
    ImageLoadError
        Zero-byte, unreadable, not an image, truncated or corrupt; ``reason`` says which.
    """
    path = Path(path)
    try:
        if os.stat(path).st_size == 0:
            raise ImageLoadError(path, "zero-byte file")
    except OSError as exc:
        raise ImageLoadError(path, f"unreadable: {type(exc).__name__}") from exc
    try:
        with path.open("rb") as fh, Image.open(fh) as img:
            img.seek(0)
            img.load()
            try:
                oriented = ImageOps.exif_transpose(img)
            except Exception as exc:  # malformed EXIF: keep the pixels as stored
                logger.warning("%s: ignoring unreadable EXIF orientation (%s)", path, exc)
                oriented = img
            rgb = _to_rgb(oriented)
            array = np.array(rgb, dtype=np.uint8)
    except ImageLoadError:
        raise
    except PermissionError as exc:
        raise ImageLoadError(path, f"unreadable: {type(exc).__name__}") from exc
    except UnidentifiedImageError as exc:
        raise ImageLoadError(path, "not an image") from exc
    except Image.DecompressionBombError as exc:
        raise ImageLoadError(path, f"too large: {exc}") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageLoadError(path, f"truncated or corrupt: {_describe(exc)}") from exc
    except Exception as exc:
        raise ImageLoadError(path, f"cannot decode: {_describe(exc)}") from exc
    if array.ndim != 3 or array.shape[2] != 3 or 0 in array.shape:
        raise ImageLoadError(path, f"unexpected decoded shape {array.shape}")
    return array
