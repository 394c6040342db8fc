"""Stage ``sweep@<dataset>-<model>`` (:mod:`facecluster.stages.sweep`): the protocol on an
embeddings file, the results file, skipped datasets and the row/label check."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from facecluster.cluster.registry import ALGORITHMS
from facecluster.config import ConfigError, parse_params
from facecluster.errors import UserError
from facecluster.paths import ProjectPaths
from facecluster.stages import faces as faces_stage
from facecluster.stages import sweep as sweep_stage
from facecluster.stages.embed import Embeddings, write_embeddings, write_skipped
from facecluster.stages.subsets import read_subsets
from facecluster.stages.sweep import (
    Results,
    names_from_path,
    read_metrics,
    read_results,
    sweep_file,
    write_results,
)
from facecluster.sweep.engine import RUNTIME_COLUMNS, finalise
from facecluster.sweep.subsets import subset_seed_key
from study_fixture import manifest_row

ALL_OFF = dict.fromkeys(ALGORITHMS)
CHEAP = {"kmeans": {"n_init": 2}, "agglomerative": {}, "dbscan": {"eps": [0.05, 0.3, 1.9]}}
SERIAL = {"executor": "serial", "n_jobs": 1, "progress": False}


def toy_params(**sweep):
    return parse_params({
        "seed": 3, "study": {"datasets": [], "models": []}, "datasets": {}, "models": {},
        "sweep": {"n_subsets": 2, "methods": {**ALL_OFF, **CHEAP}, **sweep},
        "execution": SERIAL,
    })  # fmt: skip


def write_npz(path: Path, **arrays) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return path


# ------------------------------------------------------------------------------------------
# the protocol on any embeddings file
# ------------------------------------------------------------------------------------------
def test_sweep_file(tmp_path, data):
    X, y = data
    emb = write_npz(tmp_path / "toy-blobs.npz", embeddings=X, labels=y)
    out = tmp_path / "results" / "toy-blobs.parquet"
    results = sweep_file(
        emb,
        out,
        toy_params(),
        subsets_path=tmp_path / "subsets" / "toy.npz",
        metrics_path=tmp_path / "reports" / "m.json",
    )
    df = results.table
    assert not results.skipped and results.skip_reason is None
    assert set(df.dataset) == {"toy"} and set(df.model) == {"blobs"}  # names from the file
    assert len(df) == 2 * 5 and out.is_file()
    stored = read_results(out)
    assert stored.skip_reason is None
    pd.testing.assert_frame_equal(stored.table, df)
    assert len(list((tmp_path / "results" / "toy-blobs.parts").glob("*.parquet"))) == 6
    subs = read_subsets(tmp_path / "subsets" / "toy.npz", n=90, n_subsets=2,
                        seed_key=subset_seed_key(3, "toy"), labels=y)  # fmt: skip
    assert subs.indices.shape == (2, 72)
    metrics = read_metrics(tmp_path / "reports" / "m.json")
    assert set(metrics) == {"skip_reason", "kmeans", "agglomerative", "dbscan"}
    assert metrics["skip_reason"] is None
    assert metrics["dbscan"]["params"] == {"eps": 0.3, "min_samples": 1}
    assert metrics["dbscan"]["ari_mean"] == pytest.approx(1.0)


def test_sweep_file_names_and_stored_subsets(tmp_path, data):
    X, y = data
    emb = write_npz(tmp_path / "vectors.npz", embeddings=X, labels=y)
    subsets_path = tmp_path / "subsets.npz"
    first = sweep_file(emb, tmp_path / "a.parquet", toy_params(), dataset="mine", model="x",
                       subsets_path=subsets_path)  # fmt: skip
    assert set(first.table.dataset) == {"mine"} and set(first.table.model) == {"x"}
    assert subsets_path.is_file()
    # the stored subsets are reused (and checked): the same numbers into another file
    again = sweep_file(emb, tmp_path / "b.parquet", toy_params(), dataset="mine", model="x",
                       subsets_path=subsets_path)  # fmt: skip
    pd.testing.assert_frame_equal(
        first.table.drop(columns=list(RUNTIME_COLUMNS)),
        again.table.drop(columns=list(RUNTIME_COLUMNS)),
    )
    with pytest.raises(UserError, match="n_subsets=2"):
        sweep_file(emb, tmp_path / "c.parquet", toy_params(n_subsets=3), dataset="mine",
                   model="x", subsets_path=subsets_path)  # fmt: skip


def test_sweep_file_interrupted_writes_no_results(tmp_path, data, monkeypatch):
    import dataclasses

    X, y = data
    emb = write_npz(tmp_path / "toy-blobs.npz", embeddings=X, labels=y)
    out = tmp_path / "toy-blobs.parquet"

    def crash(*args):
        raise RuntimeError("power cut")

    spec = ALGORITHMS["dbscan"]
    monkeypatch.setitem(ALGORITHMS, "dbscan", dataclasses.replace(spec, runner=crash))
    with pytest.raises(RuntimeError, match="power cut"):
        sweep_file(emb, out, toy_params())
    assert not out.exists()
    assert len(list((tmp_path / "toy-blobs.parts").glob("*.parquet"))) == 4  # finished tasks
    monkeypatch.setitem(ALGORITHMS, "dbscan", spec)
    assert len(sweep_file(emb, out, toy_params()).table) == 10 and out.is_file()


def test_sweep_file_refuses_a_skipped_dataset(tmp_path):
    emb = tmp_path / "empty-facenet.npz"
    write_skipped(emb, "empty", "facenet", "no images")
    with pytest.raises(UserError, match="skipped dataset's file: no images"):
        sweep_file(emb, tmp_path / "r.parquet", toy_params())


def test_sweep_names_from_path():
    assert names_from_path("data/embeddings/lfw-facenet.npz") == ("lfw", "facenet")
    assert names_from_path("x/muct-light-cnn.npz") == ("muct", "light-cnn")
    assert names_from_path("vectors.npz") == ("vectors", "unknown")


def test_results_file_round_trip_and_skip_reason(tmp_path):
    empty = Results(finalise([]), "no images found in /x")
    write_results(tmp_path / "e.parquet", empty)
    back = read_results(tmp_path / "e.parquet")
    assert back.skipped and back.skip_reason == "no images found in /x"
    assert back.table.empty and list(back.table.columns) == list(empty.table.columns)
    pd.DataFrame({"x": [1]}).to_parquet(tmp_path / "other.parquet")
    with pytest.raises(UserError, match="not a results table"):
        read_results(tmp_path / "other.parquet")
    with pytest.raises(FileNotFoundError):
        read_results(tmp_path / "missing.parquet")


# ------------------------------------------------------------------------------------------
# the stage
# ------------------------------------------------------------------------------------------


@pytest.fixture()
def project(tmp_path, project_root):
    data = yaml.safe_load((project_root / "params.yaml").read_text())
    data["sweep"]["n_subsets"] = 2
    data["sweep"]["methods"] = {**ALL_OFF, **CHEAP}
    data["execution"] = SERIAL
    for name in ("d", "empty"):  # the stages accept only datasets that params.yaml defines
        data["datasets"][name] = {"kind": "personal", "path": f"data/raw/{name}"}
    return parse_params(data), ProjectPaths(tmp_path)


def test_sweep_stage_runs_on_the_study_set(project, data):
    params, paths = project
    X, y = data
    manifest = faces_stage.write_manifest(
        [manifest_row(i, str(label), crop=i) for i, label in enumerate(y)], paths.manifest("d")
    )
    faces_stage.write_summary(paths, "d", faces_stage.summarise("d", manifest, {}))
    write_embeddings(paths.embeddings("d", "facenet"), Embeddings(X, y), dataset="d",
                     model="facenet")  # fmt: skip
    results = sweep_stage.run("d", "facenet", params, paths)
    assert not results.skipped and len(results.table) == 2 * 5
    assert set(results.table.dataset) == {"d"} and set(results.table.model) == {"facenet"}
    pd.testing.assert_frame_equal(read_results(paths.results("d", "facenet")).table, results.table)
    metrics = read_metrics(sweep_stage.metrics_path(paths, "d", "facenet"))
    assert metrics["skip_reason"] is None and metrics["dbscan"]["ari_mean"] == pytest.approx(1.0)
    assert paths.subsets("d").is_file()


def test_skipped_dataset_gives_empty_results(project):
    params, paths = project
    faces_stage.write_manifest([], paths.manifest("empty"))
    faces_stage.write_summary(paths, "empty", {"dataset": "empty", "skip_reason": "no images"})
    write_skipped(paths.embeddings("empty", "facenet"), "empty", "facenet", "no images")
    results = sweep_stage.run("empty", "facenet", params, paths)
    assert results.skipped and results.skip_reason == "no images"
    assert results.table.empty
    assert list(results.table.columns) == list(finalise([]).columns)  # same schema
    stored = read_results(paths.results("empty", "facenet"))
    assert stored.table.empty and stored.skip_reason == "no images"
    metrics = read_metrics(paths.reports / "sweep" / "empty-facenet.json")
    assert metrics == {"skip_reason": "no images"}


def test_sweep_refuses_rows_that_do_not_match_the_manifest(project):
    params, paths = project
    faces_stage.write_manifest([manifest_row(i, f"p{i % 3}", crop=i) for i in range(12)],
                               paths.manifest("d"))  # fmt: skip
    emb = paths.embeddings("d", "facenet")
    x = np.random.default_rng(0).normal(size=(12, 8)).astype(np.float32)
    write_npz(emb, embeddings=x, labels=np.array([f"q{i % 3}" for i in range(12)]))
    with pytest.raises(UserError, match="do not match"):
        sweep_stage.run("d", "facenet", params, paths)
    assert not paths.results("d", "facenet").exists()


def test_sweep_stage_refuses_unknown_names(project):
    params, paths = project
    with pytest.raises(ConfigError, match="unknown dataset 'nope'"):
        sweep_stage.run("nope", "facenet", params, paths)
    with pytest.raises(ConfigError, match="unknown model 'nope'"):
        sweep_stage.run("d", "nope", params, paths)
