"""Study-report curves: axes, long data, DVC plot files, figures and inline images."""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from facecluster.report import inline, plots
from facecluster.report import tables as tb
from study_fixture import results_frame


@pytest.fixture()
def stats() -> pd.DataFrame:
    runs = []
    for dataset in ("personal", "lfw"):
        for eps, ari in ((0.5, [0.2, 0.4]), (0.7, [0.8, 1.0])):
            runs.append((dataset, "facenet", "dbscan", {"eps": eps, "min_samples": 1}, ari))
        for k in (20, 50):
            for t in (0.8, 1.2):
                runs.append(
                    (
                        dataset,
                        "facenet",
                        "rank_order",
                        {"k": k, "threshold": t},
                        [k / 100 + t / 10] * 2,
                    )
                )
        runs.append((dataset, "facenet", "kmeans", {"n_init": 10}, [0.5, 0.5]))
    return tb.grid_stats(results_frame(runs))


def test_curve_axes(stats):
    assert plots.curve_axes(stats, "dbscan") == ("eps", [])
    assert plots.curve_axes(stats, "rank_order") == ("threshold", ["k"])
    assert plots.curve_axes(stats, "kmeans") is None
    assert plots.curve_axes(stats, "meanshift") is None


def test_curve_data_bands(stats):
    c = plots.curve_data(stats, "dbscan")
    assert (c.method, c.x, c.groups) == ("dbscan", "eps", ())
    row = c.data[(c.data["dataset"] == "lfw") & (c.data["param"] == 0.7)].iloc[0]
    assert row["ari_mean"] == pytest.approx(0.9)
    assert row["ari_lo"] == pytest.approx(0.9 - 2 * 0.1)  # population std of (0.8, 1.0)
    assert row["ari_hi"] == pytest.approx(0.9 + 0.2)
    assert row["pairwise_f1_mean"] == pytest.approx(0.91)
    ro = plots.curve_data(stats, "rank_order")
    assert ro.groups == ("k",) and [g["k"] for g, _ in ro.items("facenet")] == [20, 50]


def test_write_plot_files(stats, tmp_path):
    curves = {m: plots.curve_data(stats, m) for m in ("dbscan", "rank_order")}
    (tmp_path / "facenet-old.csv").write_text("stale")
    files = plots.write_plot_files(
        curves, tmp_path, models=["facenet"], datasets=["personal", "lfw", "muct"]
    )
    # one file per model × method (× k) × dataset with results: muct has none
    assert sorted(p.name for p in files) == sorted(
        f"facenet-{c}-{d}.csv"
        for c in ("dbscan", "rank_order-k20", "rank_order-k50")
        for d in ("personal", "lfw")
    )
    assert not (tmp_path / "facenet-old.csv").exists()
    for path in files:  # the same columns in every file: one dvc.yaml entry for the folder
        assert tuple(pd.read_csv(path).columns) == plots.PLOT_COLUMNS
    assert plots.PLOT_COLUMNS == (
        "param", "ari", "ari_lo", "ari_hi", "pairwise_f1", "pairwise_f1_lo", "pairwise_f1_hi",
    )  # fmt: skip
    df = pd.read_csv(tmp_path / "facenet-dbscan-personal.csv")
    assert df["param"].tolist() == [0.5, 0.7]
    assert df["ari"].tolist() == pytest.approx([0.3, 0.9])
    lfw = pd.read_csv(tmp_path / "facenet-dbscan-lfw.csv")
    assert lfw["ari_hi"].iloc[1] == pytest.approx(1.1)  # 0.9 + 2σ, σ = 0.1 (ddof=0)
    assert lfw["ari_lo"].iloc[1] == pytest.approx(0.7)
    assert lfw["pairwise_f1"].iloc[1] == pytest.approx(0.91)
    k50 = pd.read_csv(tmp_path / "facenet-rank_order-k50-lfw.csv")
    assert k50["param"].tolist() == [0.8, 1.2]
    assert k50["ari"].tolist() == pytest.approx([0.58, 0.62])


def test_figures(stats):
    fig = plots.curve_figure(
        plots.curve_data(stats, "rank_order"), model="facenet", datasets=["personal", "lfw"]
    )
    assert isinstance(fig, Figure) and len(fig.axes) == 4  # (ARI, F1) × 2 k values
    assert fig.axes[0].get_xlabel() == "threshold"
    lines = fig.axes[0].get_lines()
    assert [ln.get_label() for ln in lines if not ln.get_label().startswith("_")] == [
        "personal",
        "lfw",
    ]  # one line per dataset

    # ARI rises with k and the threshold: the best point (k=50, threshold 1.2) is the grid's
    # largest threshold, flagged on the k=50 panel of each dataset, nowhere else
    def marks(ax):
        return [ln for ln in ax.get_lines() if ln.get_marker() in ("<", ">")]

    assert marks(fig.axes[0]) == [] and marks(fig.axes[2]) == marks(fig.axes[3]) == []
    edges = marks(fig.axes[1])
    assert len(edges) == 2 and all(ln.get_xdata()[0] == 1.2 for ln in edges)
    legend = [t.get_text() for t in fig.axes[-1].get_legend().get_texts()]
    assert legend[-1] == "best at the grid's end"
    peaked = tb.grid_stats(
        results_frame(
            [
                ("lfw", "facenet", "dbscan", {"eps": e, "min_samples": 1}, [a, a])
                for e, a in ((0.3, 0.2), (0.5, 0.9), (0.7, 0.4))
            ]
        )
    )
    flat = plots.curve_figure(
        plots.curve_data(peaked, "dbscan"), model="facenet", datasets=["lfw"]
    )
    assert not [ln for ax in flat.axes for ln in ax.get_lines() if ln.get_marker() in "<>"]
    assert [t.get_text() for t in flat.axes[-1].get_legend().get_texts()] == ["lfw"]
    table = tb.clusters_runtime_table(stats, tb.best_configs(stats))
    fig = plots.runtime_figure(table, datasets=["personal", "lfw"], models=["facenet"])
    assert fig.axes[0].get_yscale() == "log"


def test_inline_png(tmp_path):
    fig = Figure(figsize=(1, 1))
    fig.subplots().plot([0, 1])
    png = inline.figure_png(fig, dpi=30)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    (tmp_path / "x.png").write_bytes(png)
    uri = inline.data_uri(tmp_path / "x.png")
    assert base64.b64decode(uri.split(",", 1)[1]) == png
    tag = inline.img_tag(png, alt='a "map"', width=100)
    assert tag.startswith('<img src="data:image/png;base64,') and 'alt="a &quot;map&quot;"' in tag
    assert np.frombuffer(png, np.uint8).size > 50


def test_the_smallest_legend_text_travels_with_the_figure(tmp_path):
    fig = Figure(figsize=(4, 2))
    left, right = fig.subplots(1, 2)
    left.plot([0, 1], label="a")
    left.legend(fontsize=9)
    right.plot([1, 0], label="b")
    right.legend(fontsize=6)  # the smallest: 6 pt = 7.5 px at 90 dpi
    assert inline.legend_px(fig, 90) == pytest.approx(7.5)
    assert inline.legend_px(Figure(), 90) is None  # no legend: nothing to check
    tag = inline.figure_html(fig, alt="curves")
    assert ' data-legend-px="7.50"' in tag and 'alt="curves"' in tag
    path = inline.save_png(fig, tmp_path / "maps" / "m.png", dpi=110)  # the maps stage's maps
    assert inline.png_legend_px(path) == pytest.approx(6 * 110 / 72, abs=0.01)
    assert inline.png_legend_px(inline.figure_png(Figure(), dpi=30)) is None


def test_jpeg_flattens_downsamples_and_is_typed_in_its_uri(tmp_path):
    from PIL import Image

    rgba = Image.new("RGBA", (1000, 500), (255, 0, 0, 0))  # transparent: flattened on white
    rgba.paste((0, 0, 255, 255), (0, 0, 500, 500))
    path = tmp_path / "map.png"
    rgba.save(path)
    data = inline.jpeg(path, max_width=400)
    out = Image.open(io.BytesIO(data))
    assert out.format == "JPEG" and out.size == (400, 200) and out.mode == "RGB"
    r, g, b = out.getpixel((350, 100))
    assert min(r, g, b) > 230  # the transparent half is white, not black
    assert inline.data_uri(data).startswith("data:image/jpeg;base64,")
    assert inline.data_uri(path).startswith("data:image/png;base64,")
    small = inline.jpeg(Image.new("L", (50, 40)), max_width=400)
    assert Image.open(io.BytesIO(small)).size == (50, 40)  # never enlarged
    rng = np.random.default_rng(0)  # photo-like: smooth shading and sensor noise
    y, x = np.mgrid[0:320, 0:480]
    grey = 128 + 60 * np.sin(x / 20) * np.cos(y / 30) + rng.normal(0, 6, (320, 480))
    photo = Image.fromarray(np.repeat(grey.clip(0, 255).astype(np.uint8)[..., None], 3, -1))
    buf = io.BytesIO()
    photo.save(buf, format="PNG", optimize=True)
    assert len(inline.jpeg(photo)) < len(buf.getvalue()) / 3  # measured: 25 kB vs 135 kB


def test_series_get_colour_blind_safe_colours_and_their_own_markers(stats):
    style = plots.series_style(["personal", "lfw", "muct"])
    assert len({c for c, _ in style.values()}) == len({m for _, m in style.values()}) == 3
    assert all(c in plots.OKABE_ITO for c, _ in style.values())
    fig = plots.curve_figure(
        plots.curve_data(stats, "dbscan"), model="facenet", datasets=["personal", "lfw"]
    )
    lines = [ln for ln in fig.axes[0].get_lines() if not ln.get_label().startswith("_")]
    assert [(ln.get_color(), ln.get_marker()) for ln in lines] == [
        style["personal"],
        style["lfw"],
    ]
