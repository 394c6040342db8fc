"""notebooks/40-report.ipynb end to end (papermill) on a tiny generated project.

The project (:func:`study_fixture.make_study_project`) holds what the stages before
``report`` write, through the stages' own writers — faces manifest, crops and summary,
embeddings, embed metrics and map PNGs, subsets, and results tables from the real sweep on
generated embeddings — for
``personal`` and ``muct`` × ``facenet`` and ``lightcnn``, with ``lfw`` skipped and ``muct``'s
faces at 24 px (low resolution: shown, not ranked), and ``muct-published``, a dataset of
precomputed vectors of ``facenet-20170512`` read by the features stage (no faces, maps or
galleries; compared with Table I's MUCT column).  No real face data is needed.
"""

from __future__ import annotations

import json
import os
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from facecluster.cluster.registry import ALGORITHMS
from facecluster.report.compact import BUDGET_BYTES
from facecluster.report.plots import PLOT_COLUMNS
from facecluster.stages.report import publish
from facecluster.stages.sweep import read_results
from facecluster.sweep.summary import best_scores, blind_choices
from study_fixture import make_study_project

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # ~45 s: sweeps + a kernel

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "40-report.ipynb"
FEATURE, FEATURE_MODEL = "muct-published", "facenet-20170512"
METHODS = {
    "kmeans": {"n_init": 2},
    "agglomerative": {},
    "spectral": {"gamma": [1.0], "n_init": 2},
    "dbscan": {"eps": [0.3, 0.5, 0.7, 0.9], "min_samples": 1},
    "meanshift": {"bandwidth": [0.3, 0.5, 0.7, 0.9]},
    "rank_order": {"k": [5, 10], "threshold": [0.8, 1.6]},
    "chinese_whispers": {"threshold": [0.5, 0.8], "n_iter": 10},
    "finch_k": {},
    "hdbscan": {"min_cluster_size": [2, 4], "min_samples": [1, 2]},
    "finch": {},
}


def build_report_site(base: Path) -> Path:
    """Generate the project under ``base``, run the report notebook, render its full-size
    ``study.html`` and the compact ``index.html`` the browser test opens.

    Idempotent within a test session (the browser test reuses the site).
    """
    root = base / "report-project"
    if (root / "reports" / "index.html").is_file():
        return root
    make_study_project(
        root,
        datasets=("personal", "lfw", "muct"),
        models=("facenet", "lightcnn"),
        skipped=("lfw",),
        low_resolution=("muct",),
        features={FEATURE: FEATURE_MODEL},
        n_identities=4,
        per_identity=5,
        n_subsets=2,
        methods=METHODS,
    )
    import papermill as pm

    (root / "notebooks").mkdir(exist_ok=True)
    with pytest.MonkeyPatch.context() as mp:  # the kernel is `python` from PATH
        mp.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
        mp.delenv("FACECLUSTER_ROOT", raising=False)
        pm.execute_notebook(
            str(NOTEBOOK),
            str(root / "reports" / "study.ipynb"),
            parameters={"params_path": "params.yaml"},
            cwd=str(root / "notebooks"),  # as JupyterLab starts it: the root is found above
            log_output=False,
            progress_bar=False,
            kernel_name="python3",
        )
    publish(root / "reports" / "study.ipynb")
    return root


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    return build_report_site(tmp_path_factory.getbasetemp())


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs, self.srcs, self.scripts = [], [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a" and a.get("href"):
            self.hrefs.append(a["href"])
        if tag == "img":
            self.srcs.append(a.get("src", ""))
        if tag == "script":
            self.scripts.append(a)


def test_notebook_ran_with_its_parameters(site):
    nb = nbformat.read(site / "reports" / "study.ipynb", as_version=4)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors[0]["evalue"] if errors else ""
    assert nb.metadata.papermill.parameters == {"params_path": "params.yaml"}
    assert not any(
        "def " in c.source or "class " in c.source for c in nb.cells if c.cell_type == "code"
    )  # thin notebook


def test_metrics_json_is_the_headline(site):
    metrics = json.loads((site / "reports" / "metrics.json").read_text())
    assert metrics["lfw"] == {"facenet": {"skipped": True}, "lightcnn": {"skipped": True}}
    assert metrics["muct"]["low_resolution"] is True and metrics["muct"]["face_px_median"] == 24
    assert "low_resolution" not in metrics["personal"] and set(metrics[FEATURE]) == {FEATURE_MODEL}
    pairs = [(d, m) for d in ("personal", "muct") for m in ("facenet", "lightcnn")]
    for dataset, model in [*pairs, (FEATURE, FEATURE_MODEL)]:
        table = read_results(site / "data" / "results" / f"{dataset}-{model}.parquet").table
        expected = best_scores(table)
        blind = blind_choices(table).set_index("method")["blind_ari"]
        got = metrics[dataset][model]
        assert set(got) == set(METHODS)
        for method, e in expected.items():
            free = not ALGORITHMS[method].needs_k  # chosen without labels too
            assert set(got[method]) == {"ari_mean", "ari_2std", "pairwise_f1", "bcubed_f1"} | (
                {"ari_blind"} if free else set()
            )
            assert got[method]["ari_mean"] == pytest.approx(e["ari_mean"], abs=1e-6)
            assert -1 <= got[method]["ari_mean"] <= 1
            if free:
                assert got[method]["ari_blind"] == pytest.approx(blind[method], abs=1e-6)


def test_plot_data_files(site):
    names = sorted(p.name for p in (site / "reports" / "plots").glob("*.csv"))
    curves = (
        "dbscan",
        "hdbscan-min_samples1",
        "hdbscan-min_samples2",
        "meanshift",
        "chinese_whispers",
        "rank_order-k5",
        "rank_order-k10",
    )  # one curve per grid line: hdbscan's x-axis is min_cluster_size, one line per min_samples
    expected = sorted(
        [
            f"{m}-{x}-{d}.csv"
            for m in ("facenet", "lightcnn")
            for x in curves
            for d in ("personal", "muct")  # lfw was skipped: no results, no curve
        ]
        + [f"{FEATURE_MODEL}-{x}-{FEATURE}.csv" for x in curves]  # its one model
    )
    assert names == expected
    for name in names:  # one dvc.yaml plots entry for the folder: the same columns everywhere
        assert tuple(pd.read_csv(site / "reports" / "plots" / name).columns) == PLOT_COLUMNS
    df = pd.read_csv(site / "reports" / "plots" / "facenet-dbscan-personal.csv")
    assert df["param"].tolist() == [0.3, 0.5, 0.7, 0.9]
    assert df["ari"].between(-1, 1).all()
    assert (df["ari_lo"] <= df["ari"]).all() and (df["ari"] <= df["ari_hi"]).all()


def test_index_html_is_offline_and_linked(site):
    html = (site / "reports" / "index.html").read_text(encoding="utf-8")
    parser = _Links()
    parser.feed(html)
    assert all("src" not in s for s in parser.scripts)  # inline scripts only (none, in fact)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//|url\(\s*["']?(https?:)?//""", html)
    assert parser.srcs and all(
        s.startswith(("data:image/png;base64,", "data:image/jpeg;base64,")) for s in parser.srcs
    )
    links = [h for h in parser.hrefs if not h.startswith("#")]
    assert "faces/personal.html" in links and "sweep/muct-lightcnn.html" in links
    assert f"sweep/{FEATURE}-{FEATURE_MODEL}.html" in links
    assert (
        f"faces/{FEATURE}.html" not in links
        and f"embed/{FEATURE}-{FEATURE_MODEL}.html" not in links
    )
    for href in links:  # relative, and every one resolves from reports/
        assert not href.startswith(("/", "file:")) and (site / "reports" / href).is_file(), href
    for heading in (
        "1. Headline",
        "2. Table I",
        "3. Sensitivity",
        "4. Clusters found",
        "5. Embedding maps",
        "6. Error galleries",
        "7. Statistics",
        "8. Otto et al.",
        "9. A million faces",
        "10. Reproduction notes",
    ):
        assert heading in html
    assert "Baydur &amp; Erdoğan" in html and "rank_order (mutual)" in html  # section 8
    assert 'class="study-table headline"' in html
    assert "Dataset <code>lfw</code>" in html and "was skipped" in html
    assert html.count("<details") >= 2 * 7  # galleries of 7 methods on 2 datasets × 2 models
    assert "Which conditions are split off?" in html and "glasses" in html
    # the low-resolution dataset: marked in the headline and explained under it
    assert "muct (24 px faces: not ranked)" in html and "Not ranked: <code>muct</code>" in html
    # the feature dataset: Table I beside the MUCT column, no galleries, described in the notes
    assert f"{FEATURE} (vs Table I muct)" in html and "same checkpoint family" in html
    assert f"No galleries for <code>{FEATURE}</code>" in html
    assert "Precomputed vectors" in html
    assert "INFO" not in html and "facecluster.report" not in html  # logs (stderr) dropped


def test_the_compact_report_is_the_full_one_with_smaller_images(site):
    """reports/index.html (committed) is reports/study.html (local) image for image smaller:
    the same text, tables, links and number of images, under the budget."""
    full = (site / "reports" / "study.html").read_text(encoding="utf-8")
    compact = (site / "reports" / "index.html").read_text(encoding="utf-8")

    def text(page: str) -> str:
        page = re.sub(r'<div class="compact-note".*?</div>', "", page, count=1, flags=re.S)
        return re.sub(r"<img\b[^>]*>", "<img>", page)

    assert 'class="compact-note"' in compact and 'class="compact-note"' not in full
    assert text(compact) == text(full)
    assert len(compact.encode()) <= BUDGET_BYTES and len(compact) < len(full)
