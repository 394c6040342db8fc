"""Run notebooks/10-faces.ipynb with papermill on small slices of ../shared/data."""

from __future__ import annotations

import json

import numpy as np
import pytest

from facecluster.faces.manifest import read_manifest

pytestmark = pytest.mark.integration


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
    man = read_manifest(faces / "manifest.parquet")
    assert len(man) == n_images
    summary = json.loads((small_project / "reports" / "faces" / f"{dataset}.json").read_text())
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
