"""The compact study report: ``reports/index.html``, small enough to commit and read from git.

The report stage renders the full-size report (``reports/study.html``, a local DVC output of
~10 MB) and from it this compact copy, which git holds beside ``dvc.lock`` and the metrics, so
a reader of a fresh clone opens the study's results offline without running anything.  It is
the same page, every image still inline, made smaller image by image:

* **photos** (JPEG: the error galleries and the embedding maps) are re-encoded no wider than
  they are shown (their ``width`` attribute) and at a lower quality; galleries, which are shown
  at their own size, become thumbnails of a fraction of it;
* **figures** (PNG: the sweep curves, cost plots) keep their pixels and lose only colours: a
  256-colour palette holds matplotlib's flat fills and anti-aliased lines with no visible
  change, and text stays sharp;
* an image's ``data-legend-px`` (its smallest legend text in pixels of the image, which the
  browser test turns into the size a reader sees) is scaled with it.

When the page is still over the budget, the photos step down (narrower, lower quality) until
it fits; if it cannot fit at the smallest step, one error names the largest images.  The same
input always gives the same bytes: no step depends on time or randomness.
"""

from __future__ import annotations

import base64
import html
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from facecluster.errors import UserError
from facecluster.integrity import atomic_path

#: Largest compact report, in bytes (issue: "a compact, self-contained reports/index.html of
#: at most 5 MB").
BUDGET_BYTES = 5_000_000


@dataclass(frozen=True)
class PhotoStep:
    """How photos are re-encoded: at most ``scale`` × their shown width, JPEG ``quality``."""

    scale: float
    quality: int


#: The photo steps tried in order until the page fits the budget.  Figures (PNG) are the same
#: at every step.
PHOTO_STEPS: tuple[PhotoStep, ...] = (
    PhotoStep(1.0, 70),
    PhotoStep(0.85, 62),
    PhotoStep(0.7, 55),
    PhotoStep(0.6, 50),
    PhotoStep(0.5, 45),
)

#: The note at the top of the compact page (links to stage reports resolve after a run).
BANNER = (
    '<div class="compact-note" style="border:1px solid #ccc;background:#fafafa;padding:6px 10px;'
    'margin:8px 0;font-size:13px">This is the <b>compact</b> copy of the study report that '
    "the repository holds: photos re-encoded smaller ({photos}), figures reduced to a "
    "256-colour palette; every number and table is the full report's. The full-size report "
    "(<code>reports/study.html</code>) and the stage reports it links to are written by "
    "<code>dvc repro</code>.</div>"
)

_IMG = re.compile(r"<img\b[^>]*>", re.S)
_SRC = re.compile(r'src="data:image/(png|jpeg);base64,([A-Za-z0-9+/=\s]+)"')
_WIDTH = re.compile(r'\swidth="(\d+)"')
_LEGEND = re.compile(r'data-legend-px="([0-9.]+)"')
_BODY = re.compile(r"<body[^>]*>")


@dataclass(frozen=True)
class Compacted:
    """The compact page and how it was made."""

    html: str
    step: PhotoStep
    full_bytes: int
    photos: int
    figures: int

    @property
    def bytes(self) -> int:
        return len(self.html.encode("utf-8"))


def compact_html(full: str, *, budget: int = BUDGET_BYTES) -> Compacted:
    """The compact copy of a rendered report (see the module docstring).

    Raises :class:`UserError` naming the largest images when even the smallest photo step
    leaves the page over ``budget`` bytes.
    """
    figures: dict[str, str] = {}  # each PNG is quantised once, whatever the photo step
    for step in PHOTO_STEPS:
        out = _compact_at(full, step, figures)
        if out.bytes <= budget:
            return out
    largest = sorted(_images(out.html), reverse=True)[:3]
    named = "; ".join(f"{alt or '(no alt)'}: {size / 1e3:.0f} kB" for size, alt in largest)
    raise UserError(
        f"the compact report is {out.bytes / 1e6:.1f} MB at the smallest photo step, over the "
        f"{budget / 1e6:.1f} MB budget; largest images: {named}"
    )


def _compact_at(full: str, step: PhotoStep, figures: dict[str, str]) -> Compacted:
    """The page with its photos at ``step`` and its figures in a palette (``figures``: the
    palette PNGs made so far, by their base64 source)."""
    counts = {"jpeg": 0, "png": 0}

    def rewrite(match: re.Match[str]) -> str:
        tag = match.group(0)
        src = _SRC.search(tag)
        if src is None:
            return tag
        kind, data = src.group(1), re.sub(r"\s", "", src.group(2))
        counts[kind] += 1
        if kind == "png":
            if data not in figures:
                figures[data] = _b64(_palette_png(base64.b64decode(data)))
            return tag.replace(src.group(0), f'src="data:image/png;base64,{figures[data]}"')
        return _shrink_photo(tag, src.group(0), base64.b64decode(data), step)

    body = _IMG.sub(rewrite, full)
    photos = f"at most {step.scale:.0%} of their shown width, JPEG quality {step.quality}"
    banner = BANNER.format(photos=html.escape(photos))
    opening = _BODY.search(body)
    if opening is not None:
        body = body[: opening.end()] + banner + body[opening.end() :]
    return Compacted(body, step, len(full.encode("utf-8")), counts["jpeg"], counts["png"])


def write_compact(full_html: Path, out: Path, *, budget: int = BUDGET_BYTES) -> Compacted:
    """Write the compact copy of ``full_html`` to ``out`` (atomic)."""
    result = compact_html(full_html.read_text(encoding="utf-8"), budget=budget)
    with atomic_path(out) as tmp:
        tmp.write_text(result.html, encoding="utf-8")
    return result


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _palette_png(png: bytes) -> bytes:
    """The same PNG reduced to 256 colours (fast octree, no dithering), its text chunks kept;
    the original when that is not smaller."""
    from PIL import Image, PngImagePlugin

    with Image.open(io.BytesIO(png)) as im:
        info = PngImagePlugin.PngInfo()
        for key, value in im.info.items():
            if isinstance(value, str):
                info.add_text(key, value)
        rgba = im.convert("RGBA")
        opaque = rgba.getchannel("A").getextrema() == (255, 255)  # matplotlib's white figures
        pixels = rgba.convert("RGB") if opaque else rgba
        pal = pixels.quantize(
            colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE
        )
        buf = io.BytesIO()
        pal.save(buf, format="PNG", optimize=True, pnginfo=info)
    small = buf.getvalue()
    return small if len(small) < len(png) else png


def _shrink_photo(tag: str, src: str, jpeg_bytes: bytes, step: PhotoStep) -> str:
    """The ``<img>`` of a JPEG re-encoded at ``step``: no wider than ``step.scale`` × its
    shown width (its ``width`` attribute, else its own width, which then shrinks on the page
    too: a thumbnail), its ``data-legend-px`` scaled with it."""
    from PIL import Image

    with Image.open(io.BytesIO(jpeg_bytes)) as im:
        natural = im.width
        shown = _WIDTH.search(tag)
        target = round(step.scale * (int(shown.group(1)) if shown else natural))
        width = min(natural, max(target, 1))
        image = im.convert("RGB")
        if width < natural:
            size = (width, max(round(im.height * width / natural), 1))
            image = image.resize(size, Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        image.save(buf, format="JPEG", quality=step.quality, optimize=True)
        small = buf.getvalue()
    if len(small) >= len(jpeg_bytes) and width == natural:
        return tag
    tag = tag.replace(src, f'src="data:image/jpeg;base64,{_b64(small)}"')
    legend = _LEGEND.search(tag)
    if legend is not None and width != natural:
        scaled = float(legend.group(1)) * width / natural
        tag = tag.replace(legend.group(0), f'data-legend-px="{scaled:.2f}"')
    return tag


def _images(page: str) -> Iterator[tuple[int, str]]:
    """(bytes, alt text) of every inline image of a page."""
    for match in _IMG.finditer(page):
        src = _SRC.search(match.group(0))
        alt = re.search(r'alt="([^"]*)"', match.group(0))
        if src is not None:
            yield len(src.group(2)) * 3 // 4, html.unescape(alt.group(1)) if alt else ""
