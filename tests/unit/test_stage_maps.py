"""The maps stage (:mod:`facecluster.stages.maps`): every study pair's UMAP and t-SNE PNGs in
one run, a placeholder for a skipped dataset, none for a dataset of precomputed vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from facecluster.config import parse_params
from facecluster.paths import ProjectPaths
from facecluster.stages import maps
from facecluster.stages.embed import Embeddings, EmbeddingsError, write_embeddings, write_skipped

ROOT = Path(__file__).resolve().parents[2]


def _params(**maps_settings):
    data = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    data["maps"].update(maps_settings)
    return parse_params(data, "params.yaml")


def _blobs(n_id: int = 6, per: int = 8, dim: int = 16, seed: int = 0):
    gen = np.random.default_rng(seed)
    centres = gen.normal(size=(n_id, dim))
    X = np.repeat(centres, per, axis=0) + 0.05 * gen.normal(size=(n_id * per, dim))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X.astype(np.float32), np.repeat([f"p{i}" for i in range(n_id)], per)


def test_the_stage_draws_every_image_pair_of_the_study(tmp_path):
    params = _params(max_points=30)
    paths = ProjectPaths(tmp_path)
    pairs = maps.map_pairs(params)
    assert pairs == [(d, m) for d in params.study.datasets for m in params.study.models]
    assert not set(params.study.features) & {d for d, _ in pairs}  # vectors: no faces to map
    skipped = params.study.datasets[0]
    X, labels = _blobs()
    for dataset, model in pairs:
        path = paths.embeddings(dataset, model)
        path.parent.mkdir(parents=True, exist_ok=True)
        if dataset == skipped:
            write_skipped(path, dataset, model, "no images found in data/raw/personal")
        else:
            write_embeddings(path, Embeddings(X, labels), dataset=dataset, model=model)
    drawn = maps.run(params, paths)
    # at most max_points (30) faces, whole identities: 3 of the 6 people of 8 faces each
    assert drawn == {f"{d}-{m}": 0 if d == skipped else 24 for d, m in pairs}
    for dataset, model in pairs:
        for method in maps.METHODS:
            png = maps.map_path(paths, dataset, model, method)
            with Image.open(png) as im:
                if dataset == skipped:  # the placeholder says why
                    assert "legend_px" not in im.info
                else:  # a real map carries its legend size for the browser test
                    assert float(im.info["legend_px"]) > 0 and im.width > 500
    assert sorted(p.name for p in maps.out_dir(paths).iterdir()) == sorted(
        maps.map_path(paths, d, m, k).name for d, m in pairs for k in maps.METHODS
    )


def test_a_missing_embeddings_file_names_the_stage_to_run(tmp_path):
    params = _params()
    dataset, model = maps.map_pairs(params)[0]
    with pytest.raises(EmbeddingsError, match=f"run `dvc repro embed@{dataset}-{model}` first"):
        maps.run(params, ProjectPaths(tmp_path))
