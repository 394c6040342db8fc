"""build_study_report on a tiny generated project; the offline HTML renderer."""

from __future__ import annotations

import json
import re

import nbformat
import pandas as pd
import pytest

from facecluster.config import load_params
from facecluster.paths import ProjectPaths
from facecluster.report.study import build_study_report, main, render_offline_html
from facecluster.report.synthetic import make_study_project
from facecluster.sweep import best_scores

#: k-means, Ward and DBSCAN only: the cheapest methods (no mean-shift compilation in a unit test)
METHODS = {"kmeans": {"n_init": 2}, "agglomerative": {}, "spectral": None,
           "dbscan": {"eps": [0.3, 0.5, 0.7, 0.9]}, "meanshift": None, "rank_order": None,
           "chinese_whispers": None}  # fmt: skip


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = make_study_project(
        tmp_path_factory.mktemp("study"),
        datasets=("personal", "lfw"),
        models=("facenet",),
        skipped=("lfw",),
        n_identities=4,
        per_identity=5,
        n_subsets=2,
        methods=METHODS,
    )
    params = load_params(root / "params.yaml")
    paths = ProjectPaths.from_root(root)
    return params, paths, build_study_report(params, paths)


def test_metrics_json_holds_the_sweeps_best_scores(project):
    params, paths, report = project
    metrics = json.loads((paths.reports / "metrics.json").read_text())
    assert metrics == report.metrics
    assert metrics["lfw"] == {"facenet": {"skipped": True}}
    expected = best_scores(pd.read_parquet(paths.results("personal", "facenet")))
    got = metrics["personal"]["facenet"]
    assert set(got) == set(expected) == {"kmeans", "agglomerative", "dbscan"}
    for method, e in expected.items():
        assert got[method]["ari_mean"] == pytest.approx(e["ari_mean"], abs=1e-6)
        assert got[method]["ari_2std"] == pytest.approx(e["ari_2std"], abs=1e-6)
        assert got[method]["pairwise_f1"] == pytest.approx(e["pairwise_f1"], abs=1e-6)


def test_report_sections(project):
    params, paths, report = project
    assert "lfw" in report.status_note and "skipped" in report.status_note
    assert "without replacement" in report.protocol
    assert report.headline is not None and "0." in report.headline.to_html()
    assert set(report.table_one) == {"facenet"}
    assert set(report.table_one["facenet"]) == {"ari", "other"}
    assert "published" in report.table_one["facenet"]["ari"].to_html()
    ari_block, other_block = report.table_one_html["facenet"]
    assert ari_block.startswith("<details open>") and other_block.startswith("<details>")
    assert "BCubed F1" in other_block and "NMI" in other_block
    assert {p.name for p in report.plot_files} == {"facenet-dbscan.csv"}
    assert all(p.parent == paths.reports / "plots" for p in report.plot_files)
    assert [t for t, _ in report.curve_figures] == ["dbscan × facenet"]
    assert report.clusters_runtime is not None and report.runtime_figure is not None
    assert report.paired is not None
    assert report.transfer == [] and "at least two datasets" in report.transfer_note
    # galleries: one per method on the one dataset with results, each reproducing the sweep
    assert {g.method for g in report.galleries} == {"kmeans", "agglomerative", "dbscan"}
    assert all(g.reproduced for g in report.galleries)
    assert all(
        "data:image/png;base64," in g.html or "No false" in g.html for g in report.galleries
    )
    # file names carry Yale-like conditions, and 'glasses' faces are pushed off their people
    assert report.conditions is not None and "glasses" in report.conditions.to_html()
    assert "personal" in report.conditions_note and "grid point" in report.conditions_note
    assert "grid points: split off" in report.conditions.data.columns
    assert 'href="faces/personal.html"' in report.links_html
    assert "embed/personal-facenet-umap.png" not in report.maps_html  # inlined, not linked
    assert report.maps_html.count("data:image/png;base64,") == 4  # 2 datasets × umap, tsne
    notes = report.notes
    assert "**without** replacement" in notes and "**yale**" in notes
    assert "`lfw`: ours skipped" in notes and "casia-webface" in notes


def test_report_without_any_results(tmp_path):
    root = make_study_project(
        tmp_path,
        datasets=("muct",),
        models=("facenet",),
        skipped=("muct",),
        n_subsets=1,
        methods=METHODS,
    )
    report = build_study_report(load_params(root / "params.yaml"), ProjectPaths.from_root(root))
    assert report.empty and report.headline is None and report.galleries == []
    assert json.loads((root / "reports" / "metrics.json").read_text()) == {
        "muct": {"facenet": {"skipped": True}}
    }
    assert "muct" in report.status_note


def test_render_offline_html_has_no_external_resources(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("print('x')"))
    nb.cells[0].outputs = [
        nbformat.v4.new_output("display_data", {"text/html": "<b>hi</b>"}),
        nbformat.v4.new_output("stream", name="stderr", text="log line"),
    ]
    path = tmp_path / "index.ipynb"
    nbformat.write(nb, path)
    assert main([str(path)]) == 0
    html = (tmp_path / "index.html").read_text()
    assert "<b>hi</b>" in html
    assert "log line" not in html and "print(&#39;x&#39;)" not in html  # stderr, code hidden
    assert "<script src" not in html and "cdnjs" not in html
    assert not re.search(
        r"""(src|href)\s*=\s*["']?(https?:)?//|url\(\s*["']?(https?:)?//|@import""", html
    )
    out = render_offline_html(path, tmp_path / "other.html")
    assert out.is_file() and "<title>Face clustering study</title>" in out.read_text()
    assert main([]) == 2


def _manifest_rows(size: tuple[int, int], n: int = 3) -> list[dict]:
    return [
        {
            "face_id": i,
            "relpath": f"p/{i}.jpg",
            "source_path": f"/x/p/{i}.jpg",
            "identity": "p",
            "in_study": True,
            "status": "ok",
            "reason": "",
            "n_faces": 1,
            "score": 1.0,
            "bbox": [0.0, 0.0, float(size[0]), float(size[1])],
            "landmarks": [],
            "width": size[0],
            "height": size[1],
            "crop_index": i,
        }
        for i in range(n)
    ]


def test_source_size_note_flags_tiny_images(tmp_path):
    from facecluster.faces.manifest import write_manifest
    from facecluster.report.study import _source_size_note

    paths = ProjectPaths.from_root(tmp_path)
    assert _source_size_note(paths, "muct") == ""  # no manifest: nothing to say
    paths.faces("muct").mkdir(parents=True)
    write_manifest(_manifest_rows((24, 32)), paths.manifest("muct"))
    note = _source_size_note(paths, "muct")
    assert "median 24×32 px" in note and "tiny" in note
    paths.faces("lfw").mkdir(parents=True)
    write_manifest(_manifest_rows((250, 250)), paths.manifest("lfw"))
    note = _source_size_note(paths, "lfw")
    assert "median 250×250 px" in note and "tiny" not in note
