"""Stage ``features@<dataset>`` (:mod:`facecluster.stages.features`): a file of precomputed
vectors becomes an embeddings file that the subsets and sweep stages take like any other."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import numpy as np
import pytest
import yaml

from facecluster.cluster.registry import ALGORITHMS
from facecluster.config import ConfigError, parse_params
from facecluster.data.features import FeaturesError
from facecluster.errors import UserError
from facecluster.paths import ProjectPaths
from facecluster.stages import features as features_stage
from facecluster.stages import subsets as subsets_stage
from facecluster.stages import sweep as sweep_stage
from facecluster.stages.embed import read_embeddings, read_metrics

CHEAP = {**dict.fromkeys(ALGORITHMS), "kmeans": {"n_init": 2}, "dbscan": {"eps": [0.3]}}
SERIAL = {"executor": "serial", "n_jobs": 1, "progress": False}


def _project(tmp_path, project_root, **spec):
    data = yaml.safe_load((project_root / "params.yaml").read_text())
    data["sweep"]["n_subsets"] = 2
    data["sweep"]["methods"] = CHEAP
    data["execution"] = SERIAL
    data["datasets"]["vec"] = {"kind": "embeddings", **spec}
    data["study"]["features"] = {"vec": "net"}
    del data["table_one"]  # its report-muct sweep needs muct-published in the study
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(data))
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    return parse_params(data), ProjectPaths(tmp_path)


def _bin_files(tmp_path, X, y):
    X.astype("<f4").tofile(tmp_path / "feats.bin")
    (tmp_path / "feats.meta").write_text("".join(f"{v}\n" for v in y))


def test_bin_file_goes_through_features_subsets_and_sweep(tmp_path, project_root, data):
    X, y = data
    codes = np.unique(y, return_inverse=True)[1]
    _bin_files(tmp_path, X, codes)
    params, paths = _project(
        tmp_path, project_root, path="feats.bin", dim=X.shape[1], labels_path="feats.meta"
    )
    info = features_stage.run("vec", params, paths)
    emb = read_embeddings(paths.embeddings("vec", "net"))
    np.testing.assert_array_equal(emb.X, X.astype(np.float32))
    assert emb.labels.tolist() == [str(c) for c in codes]
    assert emb.ids.tolist() == list(range(len(X)))
    digests = {
        name: hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()
        for name in ("feats.bin", "feats.meta")
    }
    assert emb.source_sha256 == digests  # the sources' sha256, in the embeddings file
    metrics = read_metrics(paths, [("vec", "net")])["vec-net"]
    assert metrics == info
    assert metrics["source_sha256"] == digests
    assert (metrics["faces"], metrics["dim"], metrics["identities"]) == (90, 16, 6)
    assert not metrics["normalised"] and metrics["norm_min"] == pytest.approx(1, abs=1e-6)

    subsets = subsets_stage.run("vec", params, paths)
    assert subsets.indices.shape == (2, 72)
    results = sweep_stage.run("vec", "net", params, paths)
    assert set(results.table["dataset"]) == {"vec"} and set(results.table["model"]) == {"net"}
    best = results.table.groupby("method")["ari"].mean()
    assert best["kmeans"] == pytest.approx(1.0) and best["dbscan"] == pytest.approx(1.0)


def test_normalise_on_request_is_recorded(tmp_path, project_root, data):
    X, y = data
    np.savez(tmp_path / "v.npz", embeddings=3 * X, labels=y)
    params, paths = _project(tmp_path, project_root, path="v.npz", normalize=True)
    info = features_stage.run("vec", params, paths)
    assert info["normalised"] and info["norm_min"] == pytest.approx(3, rel=1e-5)
    emb = read_embeddings(paths.embeddings("vec", "net"))
    np.testing.assert_allclose(np.linalg.norm(emb.X, axis=1), 1, atol=1e-6)


@pytest.mark.reliability
def test_bad_file_is_an_error_and_writes_nothing(tmp_path, project_root, data):
    X, y = data
    np.savez(tmp_path / "v.npz", embeddings=X, labels=y[:-1])
    params, paths = _project(tmp_path, project_root, path="v.npz")
    with pytest.raises(FeaturesError, match="89 labels for 90 vectors"):
        features_stage.run("vec", params, paths)
    assert not paths.embeddings("vec", "net").exists()


def test_stage_names_are_checked(tmp_path, project_root, data):
    params, paths = _project(tmp_path, project_root, path="v.npz")
    with pytest.raises(UserError, match="kind 'lfw': it has faces and embed stages"):
        features_stage.run("lfw", params, paths)
    with pytest.raises(ConfigError, match="not of 'facenet'"):
        sweep_stage.run("vec", "facenet", params, paths)


@pytest.mark.reliability
def test_cli_reports_a_malformed_file_in_one_line(tmp_path, project_root):
    (tmp_path / "feats.bin").write_bytes(b"\0" * 30)
    (tmp_path / "feats.meta").write_text("1\n")
    _project(tmp_path, project_root, path="feats.bin", dim=4, labels_path="feats.meta")
    proc = subprocess.run(
        [sys.executable, "-m", "facecluster", "stage", "features", "vec"],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("facecluster features: error:") and "30 bytes" in last
    assert "Traceback" not in proc.stderr


def test_published_muct_embeddings_through_the_mirror(tmp_path, project_root, mirror):
    data = yaml.safe_load((project_root / "params.yaml").read_text())
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    params, paths = parse_params(data), ProjectPaths(tmp_path)
    info = features_stage.run("muct-published", params, paths)
    assert (info["faces"], info["dim"], info["identities"]) == (3755, 128, 276)
    assert info["source_dtype"] == "float64" and not info["normalised"]
    assert info["source_sha256"]["MUCTCropRGB_mtcnnpy_160.facenet.h5"].startswith("3f71d0b3")
    assert not paths.raw("muct-published").exists()  # read in place from the mirror
