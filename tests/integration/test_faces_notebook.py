"""Run notebooks/10-faces.ipynb with papermill on small slices of ../shared/data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from facecluster.paths import ProjectPaths
from facecluster.stages.faces import read_manifest, read_summary

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("dataset", "n_images", "min_faces"),
    [("personal", 24, 20), ("lfw", 24, 22), ("muct", 60, 60)],
)
def test_faces_notebook(small_project, run_notebook, dataset, n_images, min_faces):
    nb = run_notebook("10-faces.ipynb", small_project, f"faces-{dataset}", dataset=dataset)
    assert nb.metadata.papermill.parameters["dataset"] == dataset
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    # figures were rendered into the notebook (histogram + sample grid)
    pngs = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(pngs) >= 2
    faces = small_project / "data" / "faces" / dataset
    man = read_manifest(ProjectPaths(small_project), dataset)
    assert len(man) == n_images
    reports = small_project / "reports" / "faces"
    summary = json.loads((reports / f"{dataset}.json").read_text())
    run = json.loads((reports / f"{dataset}.run.json").read_text())
    full = read_summary(ProjectPaths(small_project), dataset).summary
    assert summary | run == full and not set(summary) & set(run)  # split, nothing lost
    assert {"seconds", "root", "source", "detector"} <= set(run)  # machine facts: no metric
    if dataset == "lfw":
        assert {"images_root", "pairs_txt"} <= set(run)
    assert all(
        v is None or isinstance(v, int | float | dict)
        for k, v in summary.items()
        if k != "skip_reason"
    )  # results only: `dvc metrics diff` compares them, their hash is machine-independent
    assert summary["skip_reason"] is None
    assert summary["images"] == n_images
    assert min_faces <= summary["faces"] <= n_images
    crops = np.load(faces / "crops_facenet.npy")
    assert crops.shape == (summary["faces"], 160, 160, 3)
    assert crops.std() > 10  # real image content, not blank
    ok = man[man["status"] == "ok"]
    if dataset != "muct":  # MTCNN: a box and 5 landmarks per face
        assert all(len(b) == 4 for b in ok["bbox"]) and all(
            len(lm) == 10 for lm in ok["landmarks"]
        )
        assert (ok["score"] > 0.9).all()


def test_notebook_command_renders_html_and_reports_user_errors_in_one_line(
    small_project, notebook_env, monkeypatch, capsys
):
    """What dvc.yaml runs: ``python -m facecluster notebook faces D`` (papermill + HTML)."""
    import shutil

    from facecluster.cli import main

    shutil.copytree(ROOT / "notebooks", small_project / "notebooks", dirs_exist_ok=True)
    monkeypatch.chdir(small_project)
    assert main(["notebook", "faces", "personal"]) == 0
    html = small_project / "reports" / "faces" / "personal.html"
    assert html.stat().st_size > 10_000 and b"Faces: " in html.read_bytes()
    capsys.readouterr()
    assert main(["notebook", "faces", "nosuch"]) == 2
    err = capsys.readouterr().err.strip().splitlines()  # checked before the kernel starts
    assert err == [
        "facecluster faces: error: unknown dataset 'nosuch'; "
        "params.yaml defines ['lfw', 'lfw-castiel', 'muct', 'muct-published', 'personal', "
        "'yale', 'yale-castiel']"
    ]
    assert not list((small_project / "reports" / "faces").glob("nosuch*"))
