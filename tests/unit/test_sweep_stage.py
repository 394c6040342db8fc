"""subsets@ and sweep@ stage wrappers: shared subsets, skipped datasets, row/label checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from facecluster.config import parse_params
from facecluster.faces.manifest import write_manifest
from facecluster.paths import ProjectPaths
from facecluster.sweep_stage import study_labels, subsets_stage, sweep_stage


def _row(i: int, identity: str, status: str = "ok", in_study: bool = True, crop: int = -1) -> dict:
    return {
        "face_id": i,
        "relpath": f"{identity}/{i}",
        "source_path": f"/x/{identity}/{i}",
        "identity": identity,
        "in_study": in_study,
        "status": status,
        "reason": "",
        "n_faces": 1,
        "score": 1.0,
        "bbox": [0, 0, 1, 1],
        "landmarks": [],
        "width": 1,
        "height": 1,
        "crop_index": crop,
    }


@pytest.fixture()
def project(tmp_path, project_root):
    data = yaml.safe_load((project_root / "params.yaml").read_text())
    data["sweep"]["n_subsets"] = 4
    data["sweep"]["n_jobs"] = 1
    data["sweep"]["executor"] = "serial"
    return parse_params(data), ProjectPaths(tmp_path)


def test_subsets_follow_the_manifest_study_set(project):
    params, paths = project
    rows = [_row(i, f"p{i % 3}", crop=i) for i in range(30)]
    rows.append(_row(30, "x", status="no_face"))
    rows.append(_row(31, "pairs_only", in_study=False, crop=30))
    write_manifest(rows, paths.manifest("d"))
    labels = study_labels("d", paths)
    assert len(labels) == 30 and "pairs_only" not in labels
    subsets = subsets_stage("d", params, paths)
    assert subsets.shape == (4, 24)
    assert all(len(np.unique(s)) == 24 for s in subsets)  # without replacement
    assert np.array_equal(subsets, subsets_stage("d", params, paths))  # keyed, reproducible


def test_skipped_dataset_gives_empty_outputs(project):
    params, paths = project
    write_manifest([], paths.manifest("empty"))
    assert subsets_stage("empty", params, paths).size == 0
    emb = paths.embeddings("empty", "facenet")
    emb.parent.mkdir(parents=True)
    np.savez(emb, skipped=True, dataset="empty", model="facenet", reason="no images")
    table = sweep_stage("empty", "facenet", params, paths)
    assert table.empty
    assert pd.read_parquet(paths.results("empty", "facenet")).empty
    assert (paths.reports / "sweep" / "empty-facenet.json").read_text().strip().startswith("{")


def test_sweep_refuses_rows_that_do_not_match_the_manifest(project):
    params, paths = project
    write_manifest([_row(i, f"p{i % 3}", crop=i) for i in range(12)], paths.manifest("d"))
    emb = paths.embeddings("d", "facenet")
    emb.parent.mkdir(parents=True)
    x = np.random.default_rng(0).normal(size=(12, 8)).astype(np.float32)
    np.savez(emb, embeddings=x, labels=np.array([f"q{i % 3}" for i in range(12)]))
    with pytest.raises(ValueError, match="do not match"):
        sweep_stage("d", "facenet", params, paths)
