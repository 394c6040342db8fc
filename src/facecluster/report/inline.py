"""Figures and images inline in the HTML reports: PNG, JPEG, ``data:`` URIs, ``<img>``.

A figure's smallest legend text (:func:`legend_px`) travels with it: in the PNG text chunk
``legend_px`` when it is written as a file (:func:`save_png`; the maps stage's maps) and as
the ``data-legend-px`` attribute of its ``<img>`` (:func:`img_tag`), so the browser test can
check the size a reader sees.  No dependency beyond matplotlib and Pillow: the embed stage
imports this module.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from facecluster.integrity import atomic_path


def figure_png(fig: Figure, *, dpi: int = 90) -> bytes:
    """PNG bytes of a figure, its :func:`legend_px` in the PNG text chunk ``legend_px``."""
    buf = io.BytesIO()
    px = legend_px(fig, dpi)
    fig.savefig(
        buf, format="png", dpi=dpi, metadata=None if px is None else {LEGEND_KEY: f"{px:.2f}"}
    )
    return buf.getvalue()


#: The PNG text key holding the smallest legend text of a figure, in pixels of the PNG.
LEGEND_KEY = "legend_px"


def legend_px(fig: Figure, dpi: float) -> float | None:
    """The smallest legend text of ``fig`` in pixels when saved at ``dpi`` (points × dpi/72),
    or None when it has no legend.  With the shown width of the image, the browser test turns
    it into the size a reader sees (``data-legend-px`` of :func:`img_tag`)."""
    legends = [*fig.legends, *(a.get_legend() for a in fig.axes)]
    sizes = [
        t.get_fontsize()
        for leg in legends
        if leg is not None and leg.get_visible()
        for t in leg.get_texts()
        if t.get_visible() and t.get_text()
    ]
    return min(sizes) * dpi / 72.0 if sizes else None


def png_legend_px(png: bytes | str | Path) -> float | None:
    """The ``legend_px`` a PNG was written with (:func:`figure_png`, :func:`save_png`)."""
    from PIL import Image

    with Image.open(io.BytesIO(png) if isinstance(png, (bytes, bytearray)) else png) as im:
        value = im.info.get(LEGEND_KEY)
    return float(value) if value is not None else None


def save_png(fig: Figure, path: str | Path, *, dpi: int) -> Path:
    """Write ``fig`` as a PNG file (atomic), its :func:`legend_px` in the text chunk."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_bytes(figure_png(fig, dpi=dpi))
    return path


def figure_html(fig: Figure, *, alt: str, dpi: int = 90) -> str:
    """A figure as an inline PNG ``<img>`` that carries its smallest legend text size."""
    png = figure_png(fig, dpi=dpi)
    return img_tag(png, alt=alt, legend_px=legend_px(fig, dpi))


#: JPEG quality of the inline photos (galleries, embedding maps): ~10x smaller than PNG for
#: face crops and dense scatter plots, no visible loss at the size the report shows them.
JPEG_QUALITY = 82


def jpeg(image: bytes | str | Path | Any, *, max_width: int | None = None) -> bytes:
    """JPEG bytes of an image (PNG bytes, an image file or a PIL image), RGB, at most
    ``max_width`` pixels wide (downsampled with Lanczos; never enlarged)."""
    from PIL import Image

    if isinstance(image, (bytes, bytearray)):
        image = Image.open(io.BytesIO(image))
    elif isinstance(image, (str, Path)):
        image = Image.open(image)
    if image.mode in ("RGBA", "LA", "P"):
        image = image.convert("RGBA")
        flat = Image.new("RGB", image.size, (255, 255, 255))
        flat.paste(image, mask=image.getchannel("A"))
        image = flat
    image = image.convert("RGB")
    if max_width and image.width > max_width:
        height = round(image.height * max_width / image.width)
        image = image.resize((max_width, height), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return buf.getvalue()


def data_uri(image: bytes | str | Path) -> str:
    """A ``data:image/…;base64,…`` URI of PNG or JPEG bytes (or such a file), typed by its
    magic bytes."""
    if isinstance(image, (str, Path)):
        image = Path(image).read_bytes()
    mime = "image/jpeg" if image[:3] == b"\xff\xd8\xff" else "image/png"
    return f"data:{mime};base64," + base64.b64encode(image).decode("ascii")


def img_tag(
    png: bytes | str | Path,
    *,
    alt: str,
    width: int | None = None,
    legend_px: float | None = None,
) -> str:
    """An ``<img>`` element holding the image inline (works offline).

    ``legend_px`` (the smallest legend text in pixels of the image, :func:`legend_px`) is
    written as ``data-legend-px``: the browser test scales it by the shown width.
    """
    w = f' width="{int(width)}"' if width else ""
    lg = f' data-legend-px="{legend_px:.2f}"' if legend_px is not None else ""
    return f'<img src="{data_uri(png)}" alt="{html.escape(alt, quote=True)}"{w}{lg}>'
