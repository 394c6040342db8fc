"""The sweep engine (:func:`facecluster.sweep.engine.run_sweep`): input checks, the results
table, checkpoints and resume, and the sweep's configuration."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from facecluster.cluster.registry import ALGORITHMS
from facecluster.config import ConfigError, SweepSettings, parse_params
from facecluster.sweep import SweepError
from facecluster.sweep.engine import RUNTIME_COLUMNS, checkpoint_dir, finalise, run_sweep
from facecluster.sweep.keys import canonical_params
from facecluster.sweep.subsets import draw_subsets
from facecluster.sweep.summary import best_scores

ALL_OFF = dict.fromkeys(ALGORITHMS)
RUNTIME = list(RUNTIME_COLUMNS)


def settings(methods: dict | None = None, **kw) -> SweepSettings:
    """Sweep settings running only ``methods`` (others set to null)."""
    return SweepSettings(**{"n_subsets": 3, **kw}, methods={**ALL_OFF, **(methods or {})})


CHEAP = {"kmeans": {"n_init": 2}, "agglomerative": {}, "dbscan": {"eps": [0.05, 0.3, 1.9]}}


def subsets_of(X: np.ndarray, n_subsets: int = 3) -> np.ndarray:
    return draw_subsets(len(X), n_subsets=n_subsets, fraction=0.8, seed_key=(11, "subsets", "toy"))


def sweep(X, y, cfg, parts: Path, **kw) -> pd.DataFrame:
    """``run_sweep`` of the toy data (serial, no progress bar unless ``execution`` is given)."""
    return run_sweep(X, y, subsets_of(X, cfg.n_subsets), cfg, dataset="toy", model="blobs",
                     seed=11, parts_dir=parts, **kw)  # fmt: skip


def parts_in(parts: Path) -> list[Path]:
    return sorted(parts.glob("*.parquet"))


# ------------------------------------------------------------------------------------------
# input checks
# ------------------------------------------------------------------------------------------
def test_sweep_rejects_bad_arrays(tmp_path, data):
    X, y = data
    cfg = settings(CHEAP)
    parts = tmp_path / "r.parts"
    with pytest.raises(SweepError, match="labels must have shape"):
        sweep(X, y[:-1], cfg, parts)
    with pytest.raises(SweepError, match="X must be 2-D"):
        sweep(X[:, 0], y, cfg, parts)
    bad = X.copy()
    bad[3, 0] = np.nan
    with pytest.raises(SweepError, match="NaN"):
        sweep(bad, y, cfg, parts)
    with pytest.raises(SweepError, match="subset indices"):
        run_sweep(X, y, np.array([[0, 1, 500]]), cfg, dataset="d", model="m", seed=0,
                  parts_dir=parts)  # fmt: skip
    with pytest.raises(SweepError, match="subsets must have shape"):
        run_sweep(X, y, np.array([0, 1, 2]), cfg, dataset="d", model="m", seed=0,
                  parts_dir=parts)  # fmt: skip
    assert not parts_in(parts)  # nothing computed


# ------------------------------------------------------------------------------------------
# the table
# ------------------------------------------------------------------------------------------
def test_sweep_table_layout_and_scores(tmp_path, data):
    X, y = data
    parts = tmp_path / "toy-blobs.parts"
    df = sweep(X, y, settings(CHEAP), parts)
    # the engine returns the table and writes only its checkpoints (the stage writes the table)
    assert [p.name for p in tmp_path.iterdir()] == ["toy-blobs.parts"]
    assert len(parts_in(parts)) == 9  # 3 methods × 3 subsets
    assert len(df) == 3 * (1 + 1 + 3)
    assert list(df.columns[:4]) == ["dataset", "model", "method", "params"]
    for col in ["eps", "min_samples", "bandwidth", "k", "threshold", "n_iter", "n_init", "gamma",
                "subset", "n", "k_true", "ari", "nmi", "pairwise_precision", "pairwise_recall",
                "pairwise_f1", "bcubed_precision", "bcubed_recall", "bcubed_f1", "n_clusters",
                "n_true_clusters", "noise_fraction", "runtime_s", "task_runtime_s"]:  # fmt: skip
        assert col in df.columns, col
    assert list(df.columns[-2:]) == RUNTIME
    assert set(df.dataset) == {"toy"} and set(df.model) == {"blobs"}
    assert list(df.method.unique()) == ["kmeans", "agglomerative", "dbscan"]
    assert set(df.subset) == {0, 1, 2} and set(df.n) == {72}
    assert (df.k_true == df.n_true_clusters).all() and set(df.k_true) == {6}
    db = df[df.method == "dbscan"]
    assert db.params.tolist()[:3] == [canonical_params({"eps": e, "min_samples": 1})
                                      for e in (0.05, 0.3, 1.9)]  # fmt: skip
    assert all(json.loads(p) == {"eps": e, "min_samples": 1}
               for p, e in zip(db.params, db.eps, strict=True))  # fmt: skip
    assert db.bandwidth.isna().all() and df[df.method == "kmeans"].eps.isna().all()
    # separated identities: K-methods and DBSCAN at eps 0.3 are perfect, eps 1.9 is one cluster
    assert np.allclose(df[df.method != "dbscan"].ari, 1.0)
    assert np.allclose(db[db.eps == 0.3][["ari", "pairwise_f1", "bcubed_f1", "nmi"]], 1.0)
    assert (db[db.eps == 1.9].n_clusters == 1).all()
    assert (df.runtime_s >= 0).all()
    # shared work: a task's grid points split its time equally and sum to the grid's time
    for _, task in db.groupby("subset"):
        assert task.runtime_s.nunique() == 1
        assert task.runtime_s.sum() <= task.task_runtime_s.iloc[0] + 1e-9


def test_sweep_empty_table_has_the_same_schema(tmp_path, data):
    X, y = data
    df = sweep(X, y, settings(CHEAP), tmp_path / "p")
    empty = finalise([])
    assert empty.empty
    assert list(empty.columns) == list(df.columns)
    for col in ("eps", "min_samples", "bandwidth", "k", "subset", "n", "k_true"):
        assert empty[col].dtype == df[col].dtype, col  # parameter columns typed as in a table


def test_sweep_every_method_end_to_end(tmp_path, data):
    X, y = data
    grids = {
        "kmeans": {"n_init": 2},
        "agglomerative": {},
        "spectral": {"gamma": [1.0], "n_init": 2},
        "dbscan": {"eps": [0.3]},
        "meanshift": {"bandwidth": [0.3, 0.5]},
        "rank_order": {"k": [5, 10], "threshold": [1.0]},
        "chinese_whispers": {"threshold": [0.3], "n_iter": 10},
        "finch_k": {},
        "hdbscan": {"min_samples": [2], "min_cluster_size": [3]},
        "finch": {},
    }
    df = sweep(X, y, settings(grids, n_subsets=2), tmp_path / "all.parts")
    assert list(df.method.unique()) == list(ALGORITHMS)
    assert len(df) == 2 * (1 + 1 + 1 + 1 + 1 + 1 + 2 + 2 + 1 + 1)
    assert df.silhouette.between(-1, 1).all()  # the label-free score of every point
    best = best_scores(df)
    assert list(best) == list(ALGORITHMS)
    for method, score in best.items():
        # FINCH has no setting: its levels need not fall on the 5 blobs (it never mixes them)
        if method.startswith("finch"):
            assert 0 < score["ari_mean"] <= 1, method
        else:
            assert score["ari_mean"] == pytest.approx(1.0), method
        assert score["n_subsets"] == 2


def test_sweep_is_deterministic_and_seeded(tmp_path, data):
    X, y = data
    cfg = settings({"kmeans": {"n_init": 1}, "dbscan": {"eps": [0.3]}})
    a = sweep(X, y, cfg, tmp_path / "a.parts")
    b = sweep(X, y, cfg, tmp_path / "b.parts")  # another folder: computed afresh
    pd.testing.assert_frame_equal(a.drop(columns=RUNTIME), b.drop(columns=RUNTIME))


def test_sweep_replace_mode_counts_rows_with_repeats(tmp_path, data):
    X, y = data
    subs = draw_subsets(len(X), n_subsets=2, fraction=0.8, replace=True, seed_key=(1, "x"))
    df = run_sweep(X, y, subs, settings({"dbscan": {"eps": [0.3]}}, n_subsets=2, replace=True),
                   dataset="toy", model="m", seed=1, parts_dir=tmp_path / "r.parts")  # fmt: skip
    assert set(df.n) == {72}
    assert np.allclose(df.ari, 1.0)


# ------------------------------------------------------------------------------------------
# checkpoints and resume
# ------------------------------------------------------------------------------------------
@pytest.fixture
def counted(monkeypatch):
    """Wrap every registered runner to count grid calls by method (serial executor only)."""
    calls: list[str] = []
    for name, spec in list(ALGORITHMS.items()):

        def runner(X, points, k, rs, _orig=spec.runner, _name=name):
            calls.append(_name)
            return _orig(X, points, k, rs)

        monkeypatch.setitem(ALGORITHMS, name, dataclasses.replace(spec, runner=runner))
    return calls


def test_checkpoint_dir_is_beside_the_results():
    assert checkpoint_dir("data/results/lfw-facenet.parquet") == Path(
        "data/results/lfw-facenet.parts"
    )


@pytest.mark.reliability
def test_sweep_resume_recomputes_only_missing_tasks(tmp_path, data, counted):
    X, y = data
    parts_dir = tmp_path / "r.parts"
    cfg = settings(CHEAP)
    first = sweep(X, y, cfg, parts_dir)
    assert len(counted) == 9  # 3 methods × 3 subsets
    parts = parts_in(parts_dir)
    assert len(parts) == 9
    for part in parts[:2]:
        part.unlink()
    (parts_dir / sorted(p.name for p in parts)[5]).write_bytes(b"torn")
    counted.clear()
    again = sweep(X, y, cfg, parts_dir)
    assert len(counted) == 3  # two deleted + one unreadable
    pd.testing.assert_frame_equal(first.drop(columns=RUNTIME), again.drop(columns=RUNTIME))
    counted.clear()
    reused = sweep(X, y, cfg, parts_dir)
    assert counted == []
    pd.testing.assert_frame_equal(again, reused)  # read back from the parts, runtimes included


@pytest.mark.reliability
def test_sweep_interrupted_run_resumes(tmp_path, data, counted, monkeypatch):
    X, y = data
    parts_dir = tmp_path / "r.parts"
    cfg = settings(CHEAP)
    spec = ALGORITHMS["dbscan"]

    def crash(*args):
        raise RuntimeError("power cut")

    monkeypatch.setitem(ALGORITHMS, "dbscan", dataclasses.replace(spec, runner=crash))
    with pytest.raises(RuntimeError, match="power cut"):
        sweep(X, y, cfg, parts_dir)
    assert counted == ["kmeans"] * 3 + ["agglomerative"] * 3  # tasks run method-major
    # the finished tasks were checkpointed, the crashed one was not
    assert sorted(p.name.split("-s")[0] for p in parts_in(parts_dir)) == (
        ["agglomerative"] * 3 + ["kmeans"] * 3
    )
    monkeypatch.setitem(ALGORITHMS, "dbscan", spec)
    counted.clear()
    df = sweep(X, y, cfg, parts_dir)
    assert counted == ["dbscan"] * 3
    assert len(df) == 15 and len(parts_in(parts_dir)) == 9


def test_sweep_changing_one_grid_recomputes_that_method_only(tmp_path, data, counted, caplog):
    X, y = data
    parts_dir = tmp_path / "r.parts"
    sweep(X, y, settings(CHEAP), parts_dir)
    torn = parts_dir / ".kmeans-s000-x.parquet.abc.part"  # a killed run's temporary file
    torn.write_bytes(b"half")
    counted.clear()
    changed = {**CHEAP, "dbscan": {"eps": [0.3, 0.6]}}
    with caplog.at_level("INFO", logger="facecluster.sweep"):
        df = sweep(X, y, settings(changed), parts_dir)
    assert counted == ["dbscan"] * 3
    assert "not reused" in caplog.text and "{'dbscan': 3}" in caplog.text  # says why
    assert sorted(df[df.method == "dbscan"].eps.unique()) == [0.3, 0.6]
    # parts of the old dbscan grid (and temporary files) are gone; the others were kept
    assert len(parts_in(parts_dir)) == 9 and not torn.exists()
    counted.clear()
    sweep(X, y, settings(changed), tmp_path / "elsewhere")
    assert len(counted) == 9  # another checkpoint folder starts afresh


def test_sweep_keys_depend_on_data_and_seed(tmp_path, data, counted):
    X, y = data
    parts_dir = tmp_path / "r.parts"
    cfg = settings({"dbscan": {"eps": [0.3]}})
    sweep(X, y, cfg, parts_dir)
    counted.clear()
    X2 = X.copy()
    X2[0] = X[1]
    sweep(X2, y, cfg, parts_dir)
    assert len(counted) == 3
    counted.clear()
    run_sweep(X2, y, subsets_of(X), cfg, dataset="toy", model="blobs", seed=12,
              parts_dir=parts_dir)  # fmt: skip
    assert len(counted) == 3


def test_sweep_bad_method_input_is_a_sweep_error(tmp_path, data, monkeypatch):
    X, y = data
    spec = ALGORITHMS["kmeans"]

    def refuse(X_, points, k, rs):
        raise ValueError("K too large for this subset")

    monkeypatch.setitem(ALGORITHMS, "kmeans", dataclasses.replace(spec, runner=refuse))
    with pytest.raises(SweepError, match=r"kmeans on subset 0 of toy-blobs \(72 faces, K=6\)"):
        sweep(X, y, settings({"kmeans": {}}), tmp_path / "r.parts")


# ------------------------------------------------------------------------------------------
# configuration
# ------------------------------------------------------------------------------------------
BASE = {"seed": 1, "study": {"datasets": [], "models": []}, "datasets": {}, "models": {}}


def test_sweep_config_errors_name_the_key():
    for block, cfg, key in [
        ("sweep", {"methods": {"dbscn": {}}}, "unknown key 'sweep.methods.dbscn'"),
        (
            "sweep",
            {"methods": {"dbscan": {"epsilon": [0.5]}}},
            "unknown key 'sweep.methods.dbscan.epsilon'",
        ),
        ("sweep", {"methods": {"dbscan": {"eps": [0.5, 0]}}}, "'sweep.methods.dbscan.eps.1'"),
        ("sweep", {"methods": {"rank_order": {"k": [1, 20]}}}, "'sweep.methods.rank_order.k.0'"),
        ("sweep", {"fraction": 0}, "'sweep.fraction'"),
        ("sweep", {"fraction": 1.5}, "'sweep.fraction'"),
        ("sweep", {"methodz": {}}, "unknown key 'sweep.methodz'"),
        ("execution", {"n_jobs": 0}, "'execution.n_jobs'"),
        ("execution", {"n_jobs": -2}, "'execution.n_jobs'"),
        ("execution", {"executor": "spark"}, "'execution.executor'"),
    ]:
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            parse_params({**BASE, block: cfg})
    ok = parse_params({**BASE, "sweep": {"methods": {"spectral": None, "dbscan": {"eps": 0.7}}}})
    grids = ok.sweep.method_grids()
    assert "spectral" not in grids and grids["dbscan"].eps == (0.7,)
    assert grids["meanshift"] == ALGORITHMS["meanshift"].default_grid()


@pytest.mark.parametrize(
    ("old", "value", "new"),
    [
        ("n_jobs", 2, "n_jobs"),
        ("executor", "serial", "executor"),
        ("scheduler", "tcp://h:8786", "scheduler"),
    ],
)
def test_sweep_execution_keys_moved_to_execution(old, value, new):
    with pytest.raises(ConfigError, match=rf"'sweep\.{old}'.*'execution\.{new}'"):
        parse_params({**BASE, "sweep": {old: value}})
    ex = parse_params({**BASE, "execution": {new: value}}).execution
    assert getattr(ex, new) == value


def test_sweep_params_yaml_lists_every_method():
    import yaml

    from facecluster.config import load_params

    path = Path(__file__).resolve().parents[2] / "params.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert list(raw["sweep"]["methods"]) == list(ALGORITHMS)  # every grid written out
    assert not {"n_jobs", "executor", "scheduler"} & set(raw["sweep"])  # they are execution's
    assert list(load_params(path).sweep.method_grids()) == list(ALGORITHMS)
