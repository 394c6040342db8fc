"""Table I reproduced on a slice of real Yale faces: the ``haar-castiel`` preset's faces
notebook, the embed notebook, two ``table-one`` sweeps (with and without replacement) and the
reproduction notebook, as ``dvc repro`` runs them."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def project(small_project, tmp_path_factory):
    """A copy of the small project (weights fetched by earlier tests come with it) whose
    Table I block sweeps 24 Yale images through the report's extraction."""
    root = tmp_path_factory.mktemp("reproduction") / "p"
    shutil.copytree(small_project, root, ignore=shutil.ignore_patterns("reports"))
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["sweep"]["n_subsets"] = 3
    params["execution"].update(n_jobs=1, progress=False)
    params["table_one"] = {
        "datasets": ["yale-castiel"],  # kind yale: the mirror's images, checked by sha256
        "models": ["facenet"],
        "methods": ["kmeans", "agglomerative", "spectral", "dbscan", "meanshift"],
        "sweeps": {
            "report-personal": {"dataset": "yale-castiel", "model": "facenet", "replace": True},
            "sampling-personal": {"dataset": "yale-castiel", "model": "facenet", "replace": False},
        },
    }  # fmt: skip
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return root


def _errors(nb) -> list:
    return [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]


def test_table_one_chain_on_yale(project, run_notebook, monkeypatch):
    from facecluster.cli import main
    from facecluster.paths import ProjectPaths
    from facecluster.stages import faces, table_one

    monkeypatch.chdir(project)
    paths = ProjectPaths(project)
    nb = run_notebook("10-faces.ipynb", project, "faces-pc", dataset="yale-castiel")
    assert not _errors(nb)
    manifest = faces.read_manifest(paths, "yale-castiel")
    assert len(manifest) == 24 and set(manifest["status"]) <= {"ok", "no_face", "border_face"}
    assert (manifest["status"] == "ok").sum() >= 20  # Yale's frontal faces: Haar finds them
    assert manifest.loc[manifest["status"] == "ok", "score"].isna().all()  # no confidence
    if not any((project / "data" / "models" / "facenet").glob("*")):
        assert main(["stage", "weights", "facenet"]) == 0
    nb = run_notebook(
        "20-embed.ipynb", project, "embed-pc", dataset="yale-castiel", model="facenet"
    )
    assert not _errors(nb)
    for sweep in ("report-personal", "sampling-personal"):
        assert main(["stage", "table_one", sweep]) == 0
        res = table_one.read_table_one(paths, sweep).table
        assert set(res["method"]) == {"kmeans", "agglomerative", "spectral", "dbscan", "meanshift"}
    notebooks = project / "notebooks"  # where JupyterLab starts the kernel
    notebooks.mkdir(exist_ok=True)
    nb = run_notebook("50-reproduction.ipynb", project, "reproduction", cwd=notebooks)
    assert not _errors(nb)
    text = "".join(
        o.get("text", "") + "".join(o.get("data", {}).get("text/markdown", ""))
        for c in nb.cells for o in c.get("outputs", [])
    )  # fmt: skip
    assert "Deviation account" in text and "sampling: with replacement → without" in text
    metrics = json.loads((project / "reports" / "reproduction" / "metrics.json").read_text())
    cell = metrics["personal"]["agglomerative (K=true)"]
    assert cell["report"] == pytest.approx(0.812108, abs=1e-6) and cell["ours"] is not None
    assert metrics["missing_sweeps"] == []
    assert set(metrics["deviation"]) == {"sampling: with replacement → without"}
