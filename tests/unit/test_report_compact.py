"""The compact study report (facecluster.report.compact) on a tiny generated page."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from facecluster.errors import UserError
from facecluster.report.compact import PHOTO_STEPS, compact_html, write_compact
from facecluster.report.inline import figure_png, img_tag, png_legend_px


def _photo(width: int, height: int, seed: int) -> bytes:
    """A noisy photo-like JPEG (smooth gradient + noise: JPEG-compressible, not trivial)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:height, :width]
    base = np.stack([x * 255 / width, y * 255 / height, (x + y) * 127 / (width + height)], -1)
    pixels = np.clip(base + rng.normal(0, 25, base.shape), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", quality=92)
    return buf.getvalue()


def _figure() -> bytes:
    fig = Figure(figsize=(6, 3))
    ax = fig.add_subplot()
    for i in range(4):
        ax.plot(np.linspace(0, 1, 50), np.sin(np.linspace(0, 6, 50) + i), label=f"curve {i}")
    ax.legend(fontsize=8)
    return figure_png(fig, dpi=90)


def _page() -> str:
    figure = _figure()
    imgs = [
        img_tag(_photo(700, 640, 0), alt="umap lfw facenet", width=560, legend_px=14.0),
        img_tag(_photo(560, 220, 1), alt="false splits: lfw"),
        img_tag(figure, alt="dbscan × facenet", legend_px=png_legend_px(figure)),
        '<img alt="icon" src="data:image/svg+xml;base64,PHN2Zy8+">',
    ]
    return (
        "<html><head><title>t</title></head><body><h1>Study</h1><table><tr><td>0.973</td></tr>"
        "</table>" + "".join(f"<p>{i}</p>" for i in imgs) + '<a href="faces/lfw.html">x</a>'
        "</body></html>"
    )


def _images(page: str) -> dict[str, tuple[str, bytes, str]]:
    """alt -> (mime, bytes, tag) of every inline PNG / JPEG."""
    out = {}
    for tag in re.findall(r"<img\b[^>]*>", page):
        src = re.search(r'src="data:image/(png|jpeg);base64,([^"]+)"', tag)
        if src:
            alt = re.search(r'alt="([^"]*)"', tag).group(1)
            out[alt] = (src.group(1), base64.b64decode(src.group(2)), tag)
    return out


def _size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as im:
        return im.size


def test_text_links_and_tags_are_kept_images_shrink():
    page = _page()
    result = compact_html(page)
    strip = re.sub(r"<img\b[^>]*>", "<img>", result.html)
    strip = re.sub(r'<div class="compact-note".*?</div>', "", strip, count=1, flags=re.S)
    assert strip == re.sub(r"<img\b[^>]*>", "<img>", page)
    assert result.step == PHOTO_STEPS[0] and (result.photos, result.figures) == (2, 1)
    assert result.bytes < result.full_bytes == len(page.encode())
    assert 'src="data:image/svg+xml;base64,PHN2Zy8+"' in result.html  # other images untouched
    assert "JPEG quality 70" in result.html  # the banner says how photos were made


def test_a_photo_is_no_wider_than_shown_and_its_legend_px_follows():
    before, after = _images(_page()), _images(compact_html(_page()).html)
    mime, data, tag = after["umap lfw facenet"]
    assert mime == "jpeg" and _size(data) == (560, round(640 * 560 / 700))
    assert 'width="560"' in tag
    legend = float(re.search(r'data-legend-px="([0-9.]+)"', tag).group(1))
    assert legend == pytest.approx(14.0 * 560 / 700, abs=0.01)  # the same size on screen
    assert len(data) < len(before["umap lfw facenet"][1])


def test_a_figure_keeps_its_pixels_size_and_legend_chunk_in_256_colours():
    before, after = _images(_page()), _images(compact_html(_page()).html)
    _, old, old_tag = before["dbscan × facenet"]
    mime, new, tag = after["dbscan × facenet"]
    assert mime == "png" and len(new) < len(old)
    assert _size(new) == _size(old) and png_legend_px(new) == png_legend_px(old)
    assert tag.replace(base64.b64encode(new).decode(), "") == old_tag.replace(
        base64.b64encode(old).decode(), ""
    )  # the same attributes (data-legend-px unchanged: same pixels)
    with Image.open(io.BytesIO(old)) as a, Image.open(io.BytesIO(new)) as b:
        diff = np.abs(np.asarray(a.convert("RGB"), int) - np.asarray(b.convert("RGB"), int))
        assert b.mode == "P" and diff.mean() < 2.0  # a palette, no visible change


def test_photos_step_down_until_the_page_fits_and_the_bytes_are_reproducible():
    page = _page()
    first = compact_html(page).bytes
    smaller = compact_html(page, budget=first - 1)
    assert smaller.bytes <= first - 1 and smaller.step != PHOTO_STEPS[0]
    gallery = _images(smaller.html)["false splits: lfw"][1]
    assert _size(gallery)[0] == round(smaller.step.scale * 560)  # a thumbnail: shown smaller
    assert compact_html(page, budget=first - 1).html == smaller.html


def test_a_page_that_cannot_fit_is_one_error_naming_its_largest_images():
    with pytest.raises(UserError, match=r"over the 0\.0 MB budget; largest images: .*umap lfw"):
        compact_html(_page(), budget=1000)


def test_write_compact_writes_the_page_beside_the_full_one(tmp_path):
    full = tmp_path / "study.html"
    full.write_text(_page(), encoding="utf-8")
    result = write_compact(full, tmp_path / "index.html")
    assert (tmp_path / "index.html").read_text(encoding="utf-8") == result.html
    assert full.read_text(encoding="utf-8") == _page()  # the full report is not touched
