"""Content sniffing, probing and decoding of images (tiny images generated with Pillow)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import FrozenInstanceError
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, features

from facecluster.data.images import (
    ImageLoadError,
    ImageRecord,
    is_hidden,
    load_image_rgb,
    probe_image,
    sniff_image,
)


def _rgb(w: int = 16, h: int = 12, color: tuple[int, int, int] = (200, 30, 30)) -> Image.Image:
    return Image.new("RGB", (w, h), color)


def _save(img: Image.Image, path: Path, fmt: str, **kw: object) -> Path:
    with path.open("wb") as fh:
        img.save(fh, format=fmt, **kw)
    return path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("fmt", "mode", "name", "expected"),
    [
        ("JPEG", "RGB", "photo.jpg", "JPEG"),
        ("PNG", "RGB", "no_extension", "PNG"),
        ("GIF", "P", "subject01.happy", "GIF"),
        ("PPM", "L", "face.pgm", "PPM"),
        ("BMP", "RGB", "face.BMP", "BMP"),
        ("TIFF", "RGB", "scan.tif", "TIFF"),
        ("PNG", "RGB", "misnamed.jpg", "PNG"),  # extension lies: content wins
    ],
)
def test_sniff_recognises_formats_by_content(
    tmp_path: Path, fmt: str, mode: str, name: str, expected: str
) -> None:
    path = _save(_rgb().convert(mode), tmp_path / name, fmt)
    assert sniff_image(path) == expected
    probe = probe_image(path)
    assert probe.ok and probe.reason is None and probe.size == (16, 12)


def test_sniff_webp_when_pillow_supports_it(tmp_path: Path) -> None:
    if not features.check("webp"):
        pytest.skip("this Pillow build has no WebP support")
    assert sniff_image(_save(_rgb(), tmp_path / "x", "WEBP")) == "WEBP"


@pytest.mark.reliability
def test_probe_reasons_for_unusable_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "notes.jpg"
    text.write_text("this is a text file with an image extension\n" * 3)
    folder = tmp_path / "folder.png"
    folder.mkdir()
    assert probe_image(empty).reason == "zero-byte file"
    assert probe_image(text).reason == "not an image"
    assert probe_image(folder).reason == "not a regular file"
    assert probe_image(tmp_path / "absent.png").reason == "missing file"
    for p in (empty, text, folder):
        assert sniff_image(p) is None
        assert not probe_image(p).ok


def test_probe_reports_permission_error_without_raising(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _save(_rgb(), tmp_path / "locked.png", "PNG")
    real_open = Path.open

    def deny(self: Path, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", deny)
    assert probe_image(path).reason == "unreadable: PermissionError"
    with pytest.raises(ImageLoadError) as err:
        load_image_rgb(path)
    assert err.value.reason == "unreadable: PermissionError"


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads 0o000")
def test_probe_unreadable_file_mode(tmp_path: Path) -> None:
    path = _save(_rgb(), tmp_path / "locked.png", "PNG")
    path.chmod(0)
    try:
        assert probe_image(path).reason == "unreadable: PermissionError"
    finally:
        path.chmod(0o644)


def _truncated_jpeg(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    noise = Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    full = _save(noise, tmp_path / "full.jpg", "JPEG", quality=95)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    return cut


@pytest.mark.reliability
def test_truncated_jpeg_passes_header_probe_but_not_decode(tmp_path: Path) -> None:
    cut = _truncated_jpeg(tmp_path)
    assert probe_image(cut).ok  # header only
    deep = probe_image(cut, decode=True)
    assert not deep.ok and deep.format == "JPEG"
    assert deep.reason.startswith("truncated or corrupt")
    with pytest.raises(ImageLoadError) as err:
        load_image_rgb(cut)
    assert err.value.reason.startswith("truncated or corrupt")
    assert err.value.path == cut


@pytest.mark.reliability
def test_load_rejects_empty_and_non_images(tmp_path: Path) -> None:
    empty = tmp_path / "e"
    empty.write_bytes(b"")
    text = tmp_path / "t.png"
    text.write_text("hello")
    with pytest.raises(ImageLoadError, match="zero-byte file"):
        load_image_rgb(empty)
    with pytest.raises(ImageLoadError, match="not an image"):
        load_image_rgb(text)
    with pytest.raises(ImageLoadError, match="unreadable"):
        load_image_rgb(tmp_path / "absent")


def test_load_honours_exif_orientation(tmp_path: Path) -> None:
    # stored 40 wide x 20 high: left half red, right half blue; orientation 6 = rotate 90 CW
    stored = np.zeros((20, 40, 3), dtype=np.uint8)
    stored[:, :20] = (255, 0, 0)
    stored[:, 20:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = _save(Image.fromarray(stored), tmp_path / "rotated.jpg", "JPEG", exif=exif, quality=95)
    arr = load_image_rgb(path)
    assert arr.shape == (40, 20, 3) and arr.dtype == np.uint8
    top, bottom = arr[:15].reshape(-1, 3).mean(0), arr[-15:].reshape(-1, 3).mean(0)
    assert top[0] > 200 and top[2] < 60  # the left (red) edge is now on top
    assert bottom[2] > 200 and bottom[0] < 60


def test_load_converts_modes_to_rgb(tmp_path: Path) -> None:
    grey = _save(Image.new("L", (8, 6), 77), tmp_path / "grey", "PNG")
    arr = load_image_rgb(grey)
    assert arr.shape == (6, 8, 3) and (arr == 77).all()

    pgm = _save(Image.new("L", (5, 4), 130), tmp_path / "face.pgm", "PPM")
    assert (load_image_rgb(pgm) == 130).all()

    rgba = Image.new("RGBA", (4, 4), (10, 20, 30, 255))
    rgba.putpixel((0, 0), (0, 0, 0, 0))  # fully transparent -> white background
    arr = load_image_rgb(_save(rgba, tmp_path / "a.png", "PNG"))
    assert tuple(arr[0, 0]) == (255, 255, 255) and tuple(arr[1, 1]) == (10, 20, 30)

    deep = Image.fromarray(np.array([[0, 257 * 100, 65535]], dtype=np.uint16))
    arr = load_image_rgb(_save(deep, tmp_path / "deep.png", "PNG"))
    assert arr[0, :, 0].tolist() == [0, 100, 255]

    cmyk = _save(Image.new("CMYK", (3, 3), (0, 0, 0, 0)), tmp_path / "c.jpg", "JPEG")
    assert load_image_rgb(cmyk).min() > 240  # no ink = white


def test_load_gif_uses_first_frame(tmp_path: Path) -> None:
    frames = [_rgb(6, 6, (255, 0, 0)), _rgb(6, 6, (0, 255, 0)), _rgb(6, 6, (0, 0, 255))]
    path = tmp_path / "anim"  # Yale-style: no extension
    with path.open("wb") as fh:
        frames[0].save(fh, format="GIF", save_all=True, append_images=frames[1:], duration=50)
    arr = load_image_rgb(path)
    assert arr.shape == (6, 6, 3)
    assert arr[..., 0].mean() > 200 and arr[..., 1].mean() < 50


@pytest.mark.reliability
def test_load_never_modifies_the_file(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 3
    path = _save(_rgb(), tmp_path / "x.jpg", "JPEG", exif=exif)
    before = (_digest(path), path.stat().st_mtime_ns)
    load_image_rgb(path)
    probe_image(path, decode=True)
    assert (_digest(path), path.stat().st_mtime_ns) == before


def test_image_record_is_frozen_and_in_study_by_default(tmp_path: Path) -> None:
    rec = ImageRecord(path=tmp_path / "a.jpg", identity="a", relpath="a/a.jpg")
    assert rec.in_study is True
    with pytest.raises(FrozenInstanceError):
        rec.identity = "b"  # type: ignore[misc]


def test_is_hidden() -> None:
    assert is_hidden(".DS_Store") and is_hidden("._IMG_0001.jpg")
    assert not is_hidden("IMG_0001.jpg")
