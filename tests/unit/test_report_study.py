"""build_study_report on a tiny generated project; the offline HTML renderer."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest

import facecluster.report
from facecluster.cli import main as cli_main
from facecluster.config import load_params
from facecluster.paths import ProjectPaths
from facecluster.report.study import build_study_report
from facecluster.stages.sweep import read_results
from facecluster.sweep.summary import best_scores
from study_fixture import make_study_project

#: k-means, Ward and DBSCAN only: the cheapest methods (no mean-shift compilation in a unit test)
METHODS = {"kmeans": {"n_init": 2}, "agglomerative": {}, "spectral": None,
           "dbscan": {"eps": [0.3, 0.5, 0.7, 0.9]}, "meanshift": None, "rank_order": None,
           "chinese_whispers": None, "finch_k": None, "hdbscan": None, "finch": None}  # fmt: skip


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
    # the executed stage notebooks' folders are not inputs of the report: build without them
    for stage in ("faces", "embed", "sweep"):
        shutil.rmtree(root / "reports" / stage)
    params = load_params(root / "params.yaml")
    paths = ProjectPaths.from_root(root)
    return params, paths, build_study_report(params, paths)


def test_metrics_json_holds_the_sweeps_best_scores(project):
    params, paths, report = project
    metrics = json.loads((paths.reports / "metrics.json").read_text())
    assert report.metrics_path == paths.reports / "metrics.json"
    assert metrics == report.headline.metrics
    assert metrics["lfw"] == {"facenet": {"skipped": True}}
    expected = best_scores(read_results(paths.results("personal", "facenet")).table)
    got = metrics["personal"]["facenet"]
    assert set(got) == set(expected) == {"kmeans", "agglomerative", "dbscan"}
    for method, e in expected.items():
        assert got[method]["ari_mean"] == pytest.approx(e["ari_mean"], abs=1e-6)
        assert got[method]["ari_2std"] == pytest.approx(e["ari_2std"], abs=1e-6)
        assert got[method]["pairwise_f1"] == pytest.approx(e["pairwise_f1"], abs=1e-6)


def test_report_is_immutable(project):
    _, _, report = project
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.notes = ""  # type: ignore[misc]
    with pytest.raises(TypeError):
        report.table_one.styled["x"] = {}  # type: ignore[index]


def test_report_sections(project):
    params, paths, report = project
    ov = report.overview
    assert "lfw" in ov.status_note and "skipped" in ov.status_note
    assert "without replacement" in ov.protocol
    status = ov.status.set_index("dataset")
    assert status.loc["lfw", "status"] == "skipped"
    assert status.loc["lfw", "skip_reason"].startswith("no images found")
    assert [t.data.columns.get_level_values(0)[0] for t in report.headline.tables] == [
        "personal"
    ]  # one table per dataset with results (lfw was skipped)
    assert "0." in report.headline.tables[0].to_html()
    t1 = report.table_one
    assert set(t1.styled) == {"facenet"} and set(t1.styled["facenet"]) == {"ari", "other"}
    assert "published" in t1.styled["facenet"]["ari"].to_html()
    ari_block, other_block = t1.html["facenet"]
    assert ari_block.startswith("<details open>") and other_block.startswith("<details>")
    assert "BCubed F1" in other_block and "NMI" in other_block
    assert {p.name for p in report.plot_files} == {"facenet-dbscan-personal.csv"}
    assert all(p.parent == paths.reports / "plots" for p in report.plot_files)
    assert [t for t, _ in report.curves.figures] == ["dbscan × facenet"]
    cr = report.clusters_runtime
    assert cr.table is not None and cr.figure is not None
    sts = report.statistics
    assert sts.paired is not None
    assert "ρ = 0.80" in sts.paired.caption  # the sweep's 80 % subsets, without replacement
    assert sts.selection is not None
    assert list(sts.selection.data.index.get_level_values("method")) == ["dbscan"]
    assert sts.transfer == () and "at least two datasets" in sts.transfer_note
    # galleries: one per method on the one dataset with results, each reproducing the sweep
    galleries = report.galleries.galleries
    assert {g.method for g in galleries} == {"kmeans", "agglomerative", "dbscan"}
    assert all(g.reproduced for g in galleries)
    assert all("data:image/jpeg;base64," in g.html or "No false" in g.html for g in galleries)
    # file names carry Yale-like conditions, and 'glasses' faces are pushed off their people
    cond = report.galleries.conditions
    assert cond is not None and "glasses" in cond.to_html()
    note = report.galleries.conditions_note
    assert "personal" in note and "grid point" in note
    assert "grid points: split off" in cond.data.columns
    by_run = report.galleries.conditions_by_run  # rows model · method, columns conditions
    assert by_run is not None and "glasses" in by_run.data.columns
    assert by_run.data.index.names == ["dataset", "model · method"]
    # links to the stage pages are written whether or not the pages exist (same pipeline)
    assert 'href="faces/personal.html"' in ov.links_html
    assert 'href="sweep/lfw-facenet.html"' in ov.links_html and "not built" not in ov.links_html
    # maps come from data/maps (the skipped dataset's are the maps stage's placeholders)
    assert "maps/personal-facenet-umap.png" not in report.maps.html  # inlined, not linked
    assert report.maps.html.count("data:image/jpeg;base64,") == 4  # 2 datasets × umap, tsne
    notes = report.notes
    assert "**without** replacement" in notes and "**yale**" in notes
    assert "`lfw`: ours skipped" in notes and "casia-webface" in notes
    assert "`personal`: ours 20 faces of 4 identities" in notes  # data/faces/<d>/summary.json
    # Otto's protocol on the one dataset with faces: published rows, then ours
    otto = report.otto
    assert otto.dataset == "personal" and list(otto.results) == ["facenet"]
    assert otto.published is not None and "0.87" in otto.published.to_html()
    assert report.leads["otto"] == otto.lead and "Otto et al.'s protocol" in report.findings[-2]
    # the scale stage on the same faces: table, figures, the check and the 123 M estimate
    scale = report.scale
    assert list(scale.results) == ["facenet"] and scale.table is not None
    html = scale.table.to_html()
    assert "hnsw" in html and "exact" in html and "best, exact lists" in html
    assert scale.f1_figure is not None and len(scale.cost_figures) == len(scale.check_figures) == 1
    assert "simulated" in scale.facts and "**The simulation check.**" in scale.check
    assert "123 million faces, estimated" in scale.estimate_text
    assert report.leads["scale"] == scale.lead and report.findings[-1].startswith("**At scale**")


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
    assert report.empty and report.headline.tables == () and report.galleries.galleries == ()
    assert report.plot_files == () and report.curves.figures == ()
    assert json.loads((root / "reports" / "metrics.json").read_text()) == {
        "muct": {"facenet": {"skipped": True}}
    }
    assert "muct" in report.overview.status_note


def test_one_best_point_rule_in_the_report():
    """The best grid point is facecluster.sweep.summary.best_points, nowhere else."""
    for path in Path(facecluster.report.__file__).parent.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "idxmax" not in text and "argmax" not in text, path.name


def test_render_offline_html_has_no_external_resources(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("print('x')"))
    nb.cells[0].outputs = [
        nbformat.v4.new_output("display_data", {"text/html": "<b>hi</b>"}),
        nbformat.v4.new_output("stream", name="stderr", text="log line"),
    ]
    path = tmp_path / "index.ipynb"
    nbformat.write(nb, path)
    assert cli_main(["render", str(path)]) == 0
    html = (tmp_path / "index.html").read_text()
    assert "<b>hi</b>" in html
    assert "log line" not in html and "print(&#39;x&#39;)" not in html  # stderr, code hidden
    assert "<script src" not in html and "cdnjs" not in html
    assert not re.search(
        r"""(src|href)\s*=\s*["']?(https?:)?//|url\(\s*["']?(https?:)?//|@import""", html
    )
    out = tmp_path / "other.html"
    assert (
        cli_main(["render", str(path), "--out", str(out), "--title", "Face clustering study"]) == 0
    )
    assert "<title>Face clustering study</title>" in out.read_text()
    assert cli_main(["render", str(tmp_path / "missing.ipynb")]) == 2


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
    from facecluster.report.notes import _source_size_note
    from facecluster.stages.faces import write_manifest

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
