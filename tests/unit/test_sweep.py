"""The sweep engine: subsets, embeddings input, the results table, resume and executors."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_blobs

from facecluster.cluster import ALGORITHMS
from facecluster.config import ConfigError, SweepSettings, parse_params
from facecluster.sweep import (
    EmbeddingsError,
    SubsetsError,
    SweepError,
    best_scores,
    canonical_params,
    default_checkpoint_dir,
    draw_subsets,
    load_embeddings,
    load_subsets,
    names_from_path,
    run_sweep,
    save_subsets,
    subset_seed_key,
    subset_size,
    subsets_for,
    sweep_embeddings_file,
)

ALL_OFF = dict.fromkeys(ALGORITHMS)
RUNTIME = ["runtime_s", "task_runtime_s"]


def settings(methods: dict | None = None, **kw) -> SweepSettings:
    """Sweep settings running only ``methods`` (others set to null)."""
    return SweepSettings(**{"executor": "serial", "n_subsets": 3, **kw},
                         methods={**ALL_OFF, **(methods or {})})  # fmt: skip


CHEAP = {"kmeans": {"n_init": 2}, "agglomerative": {}, "dbscan": {"eps": [0.05, 0.3, 1.9]}}


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    """90 unit vectors, 6 well-separated identities of 15 (string labels)."""
    X, y = make_blobs(
        n_samples=90, n_features=16, centers=6, cluster_std=0.02, center_box=(-1, 1),
        random_state=5,
    )  # fmt: skip
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X.astype(np.float32), np.array([f"person_{i}" for i in y])


def subsets_of(X: np.ndarray, n_subsets: int = 3) -> np.ndarray:
    return draw_subsets(len(X), n_subsets=n_subsets, fraction=0.8, seed_key=(11, "subsets", "toy"))


def sweep(X, y, cfg, out: Path, **kw) -> pd.DataFrame:
    return run_sweep(X, y, subsets_of(X, cfg.n_subsets), cfg, dataset="toy", model="blobs",
                     seed=11, out_path=out, progress=False, **kw)  # fmt: skip


# ------------------------------------------------------------------------------------------
# subsets
# ------------------------------------------------------------------------------------------
def test_sweep_subsets_are_unique_sized_sorted_and_deterministic():
    subs = draw_subsets(7606, n_subsets=4, fraction=0.8, seed_key=subset_seed_key(1, "lfw"))
    assert subs.shape == (4, 6084) and subs.dtype == np.int64  # the 80 % of LFW
    for row in subs:
        assert np.unique(row).size == row.size
        assert np.all(np.diff(row) > 0) and row.min() >= 0 and row.max() < 7606
    assert not np.array_equal(subs[0], subs[1])
    again = draw_subsets(7606, n_subsets=4, fraction=0.8, seed_key=subset_seed_key(1, "lfw"))
    np.testing.assert_array_equal(subs, again)


def test_sweep_subsets_are_keyed_by_dataset_and_seed():
    key = subset_seed_key(1, "lfw")
    first = draw_subsets(500, n_subsets=3, fraction=0.5, seed_key=key)
    other = draw_subsets(500, n_subsets=3, fraction=0.5, seed_key=subset_seed_key(1, "muct"))
    assert not np.array_equal(first, other)
    assert not np.array_equal(
        first, draw_subsets(500, n_subsets=3, fraction=0.5, seed_key=subset_seed_key(2, "lfw"))
    )
    # drawing another dataset in between, or asking for more subsets, changes nothing here
    more = draw_subsets(500, n_subsets=5, fraction=0.5, seed_key=key)
    np.testing.assert_array_equal(more[:3], first)


def test_sweep_subsets_with_replacement_repeat_rows():
    subs = draw_subsets(1000, n_subsets=2, fraction=0.8, replace=True, seed_key=(3, "s", "d"))
    assert subs.shape == (2, 800)
    for row in subs:
        # N (1 - (1 - 1/N)^m) ≈ 551 distinct rows: ~31 % of the "subset" are repeats
        assert 0.62 * 800 < np.unique(row).size < 0.76 * 800


@pytest.mark.parametrize("fraction", [0.0, 1.5, -0.2])
def test_sweep_subset_fraction_out_of_range(fraction):
    with pytest.raises(SweepError, match="fraction must be in"):
        draw_subsets(10, n_subsets=1, fraction=fraction, seed_key=(0,))


def test_sweep_subset_size_matches_the_report():
    assert subset_size(7606, 0.8) == int(0.8 * 7606) == 6084
    assert subset_size(100, 0.29) == 29 and subset_size(10, 1.0) == 10 and subset_size(3, 0.1) == 1


def test_sweep_subsets_round_trip_and_mismatch(tmp_path):
    key = subset_seed_key(4, "toy")
    labels = np.arange(50) % 7
    subs = draw_subsets(50, n_subsets=3, fraction=0.6, seed_key=key)
    path = save_subsets(tmp_path / "s" / "toy.npz", subs, n=50, fraction=0.6, replace=False,
                        seed_key=key, labels=labels)  # fmt: skip
    ok = dict(n=50, n_subsets=3, fraction=0.6, replace=False, seed_key=key, labels=labels)
    np.testing.assert_array_equal(load_subsets(path, **ok), subs)
    for change, name in [
        ({"n_subsets": 30}, "n_subsets=3"),
        ({"fraction": 0.8}, "fraction=0.6"),
        ({"replace": True}, "replace=False"),
        ({"seed_key": subset_seed_key(5, "toy")}, "seed_key"),
        ({"n": 51}, "n=50"),
        ({"labels": labels[::-1]}, "labels_digest"),
    ]:
        with pytest.raises(SubsetsError, match=name):
            load_subsets(path, **{**ok, **change})
    with pytest.raises(SubsetsError, match="not found"):
        load_subsets(tmp_path / "missing.npz")


def test_sweep_subsets_for_draws_once_then_reads(tmp_path):
    cfg = SweepSettings(n_subsets=2, fraction=0.5)
    path = tmp_path / "toy.npz"
    first = subsets_for(40, cfg, seed=1, dataset="toy", path=path)
    assert path.is_file()
    np.testing.assert_array_equal(subsets_for(40, cfg, seed=1, dataset="toy", path=path), first)
    with pytest.raises(SubsetsError, match="n_subsets=2"):
        subsets_for(40, SweepSettings(n_subsets=3, fraction=0.5), seed=1, dataset="toy",
                    path=path)  # fmt: skip


# ------------------------------------------------------------------------------------------
# embeddings input
# ------------------------------------------------------------------------------------------
def write_npz(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


def test_sweep_load_embeddings(tmp_path, data):
    X, y = data
    ids = np.array([f"img{i}.jpg" for i in range(len(X))])
    Xl, yl, idl = load_embeddings(write_npz(tmp_path / "e.npz", embeddings=X.astype(np.float64),
                                            labels=y, ids=ids))  # fmt: skip
    assert Xl.dtype == np.float32 and Xl.flags.c_contiguous
    np.testing.assert_allclose(Xl, X)
    np.testing.assert_array_equal(yl, y)
    np.testing.assert_array_equal(idl, ids)
    _, _, none = load_embeddings(write_npz(tmp_path / "f.npz", embeddings=X, labels=y))
    assert none is None


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"labels": np.zeros(4)}, r"missing array\(s\) \['embeddings'\]"),
        ({"embeddings": np.zeros((4, 2))}, r"missing array\(s\) \['labels'\]"),
        ({"embeddings": np.zeros((4, 2)), "labels": np.zeros(3)}, r"'labels' must have shape \(4,\)"),
        ({"embeddings": np.zeros(4), "labels": np.zeros(4)}, r"must have shape \(n, d\)"),
        ({"embeddings": np.zeros((4, 2)), "labels": np.zeros(4), "ids": np.zeros(5)}, "'ids'"),
        ({"embeddings": np.array([[0.0, 1.0], [np.nan, 0.0], [1.0, 0.0]]), "labels": np.zeros(3)},
         r"1 embedding row\(s\) hold NaN or infinite values \(first at row 1\)"),
        ({"embeddings": np.array([[0.0, np.inf]]), "labels": np.zeros(1)}, "NaN or infinite"),
        ({"embeddings": np.array([["a", "b"]]), "labels": np.zeros(1)}, "must be numeric"),
    ],
)  # fmt: skip
def test_sweep_load_embeddings_rejects_bad_files(tmp_path, arrays, message):
    with pytest.raises(EmbeddingsError, match=message):
        load_embeddings(write_npz(tmp_path / "bad.npz", **arrays))


def test_sweep_load_embeddings_missing_or_not_npz(tmp_path):
    with pytest.raises(EmbeddingsError, match="not found"):
        load_embeddings(tmp_path / "nope.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(EmbeddingsError, match="not a readable .npz"):
        load_embeddings(tmp_path / "text.npz")
    np.save(tmp_path / "plain.npy", np.zeros((2, 2)))
    with pytest.raises(EmbeddingsError, match="named arrays"):
        load_embeddings(tmp_path / "plain.npy")


def test_sweep_rejects_bad_arrays(tmp_path, data):
    X, y = data
    cfg = settings(CHEAP)
    with pytest.raises(SweepError, match="labels must have shape"):
        sweep(X, y[:-1], cfg, tmp_path / "r.parquet")
    bad = X.copy()
    bad[3, 0] = np.nan
    with pytest.raises(SweepError, match="NaN"):
        sweep(bad, y, cfg, tmp_path / "r.parquet")
    with pytest.raises(SweepError, match="subset indices"):
        run_sweep(X, y, np.array([[0, 1, 500]]), cfg, dataset="d", model="m", seed=0,
                  out_path=tmp_path / "r.parquet", progress=False)  # fmt: skip


# ------------------------------------------------------------------------------------------
# the table
# ------------------------------------------------------------------------------------------
def test_sweep_table_layout_and_scores(tmp_path, data):
    X, y = data
    out = tmp_path / "results" / "toy-blobs.parquet"
    df = sweep(X, y, settings(CHEAP), out)
    assert out.is_file()
    pd.testing.assert_frame_equal(pd.read_parquet(out), df)
    assert len(df) == 3 * (1 + 1 + 3)
    assert list(df.columns[:4]) == ["dataset", "model", "method", "params"]
    for col in ["eps", "min_samples", "bandwidth", "k", "threshold", "n_iter", "n_init", "gamma",
                "subset", "n", "k_true", "ari", "nmi", "pairwise_precision", "pairwise_recall",
                "pairwise_f1", "bcubed_precision", "bcubed_recall", "bcubed_f1", "n_clusters",
                "n_true_clusters", "noise_fraction", "runtime_s", "task_runtime_s"]:  # fmt: skip
        assert col in df.columns, col
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
    }
    df = sweep(X, y, settings(grids, n_subsets=2), tmp_path / "all.parquet")
    assert list(df.method.unique()) == list(ALGORITHMS)
    assert len(df) == 2 * (1 + 1 + 1 + 1 + 2 + 2 + 1)
    best = best_scores(df)
    assert list(best) == list(ALGORITHMS)
    for method, score in best.items():
        assert score["ari_mean"] == pytest.approx(1.0), method
        assert score["n_subsets"] == 2


def test_sweep_is_deterministic_and_seeded(tmp_path, data):
    X, y = data
    cfg = settings({"kmeans": {"n_init": 1}, "dbscan": {"eps": [0.3]}})
    a = sweep(X, y, cfg, tmp_path / "a.parquet")
    b = sweep(X, y, cfg, tmp_path / "b.parquet")
    pd.testing.assert_frame_equal(a.drop(columns=RUNTIME), b.drop(columns=RUNTIME))


def test_sweep_replace_mode_counts_rows_with_repeats(tmp_path, data):
    X, y = data
    subs = draw_subsets(len(X), n_subsets=2, fraction=0.8, replace=True, seed_key=(1, "x"))
    df = run_sweep(X, y, subs, settings({"dbscan": {"eps": [0.3]}}, n_subsets=2, replace=True),
                   dataset="toy", model="m", seed=1, out_path=tmp_path / "r.parquet",
                   progress=False)  # fmt: skip
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


def test_sweep_resume_recomputes_only_missing_tasks(tmp_path, data, counted):
    X, y = data
    out = tmp_path / "r.parquet"
    cfg = settings(CHEAP)
    first = sweep(X, y, cfg, out)
    assert len(counted) == 9  # 3 methods × 3 subsets
    parts = sorted(default_checkpoint_dir(out).glob("*.parquet"))
    assert len(parts) == 9
    for part in parts[:2]:
        part.unlink()
    (default_checkpoint_dir(out) / sorted(p.name for p in parts)[5]).write_bytes(b"torn")
    counted.clear()
    again = sweep(X, y, cfg, out)
    assert len(counted) == 3  # two deleted + one unreadable
    pd.testing.assert_frame_equal(first.drop(columns=RUNTIME), again.drop(columns=RUNTIME))
    counted.clear()
    sweep(X, y, cfg, out)
    assert counted == []


def test_sweep_interrupted_run_resumes(tmp_path, data, counted, monkeypatch):
    X, y = data
    out = tmp_path / "r.parquet"
    cfg = settings(CHEAP)
    spec = ALGORITHMS["dbscan"]

    def crash(*args):
        raise RuntimeError("power cut")

    monkeypatch.setitem(ALGORITHMS, "dbscan", dataclasses.replace(spec, runner=crash))
    with pytest.raises(RuntimeError, match="power cut"):
        sweep(X, y, cfg, out)
    assert not out.exists()
    assert counted == ["kmeans"] * 3 + ["agglomerative"] * 3  # tasks run method-major
    monkeypatch.setitem(ALGORITHMS, "dbscan", spec)
    counted.clear()
    df = sweep(X, y, cfg, out)
    assert counted == ["dbscan"] * 3
    assert len(df) == 15 and out.is_file()


def test_sweep_changing_one_grid_recomputes_that_method_only(tmp_path, data, counted, caplog):
    X, y = data
    out = tmp_path / "r.parquet"
    sweep(X, y, settings(CHEAP), out)
    counted.clear()
    changed = {**CHEAP, "dbscan": {"eps": [0.3, 0.6]}}
    with caplog.at_level("INFO", logger="facecluster.sweep"):
        df = sweep(X, y, settings(changed), out)
    assert counted == ["dbscan"] * 3
    assert "not reused" in caplog.text and "{'dbscan': 3}" in caplog.text  # says why
    assert sorted(df[df.method == "dbscan"].eps.unique()) == [0.3, 0.6]
    # parts of the old dbscan grid are gone; the others were kept
    assert len(list(default_checkpoint_dir(out).glob("*.parquet"))) == 9
    counted.clear()
    sweep(X, y, settings(changed), out, checkpoint_dir=tmp_path / "elsewhere")
    assert len(counted) == 9  # another checkpoint folder starts afresh


def test_sweep_keys_depend_on_data_and_seed(tmp_path, data, counted):
    X, y = data
    out = tmp_path / "r.parquet"
    cfg = settings({"dbscan": {"eps": [0.3]}})
    sweep(X, y, cfg, out)
    counted.clear()
    X2 = X.copy()
    X2[0] = X[1]
    sweep(X2, y, cfg, out)
    assert len(counted) == 3
    counted.clear()
    run_sweep(X2, y, subsets_of(X), cfg, dataset="toy", model="blobs", seed=12, out_path=out,
              progress=False)  # fmt: skip
    assert len(counted) == 3


def test_sweep_bad_method_input_is_a_sweep_error(tmp_path, data, monkeypatch):
    X, y = data
    spec = ALGORITHMS["kmeans"]

    def refuse(X_, points, k, rs):
        raise ValueError("K too large for this subset")

    monkeypatch.setitem(ALGORITHMS, "kmeans", dataclasses.replace(spec, runner=refuse))
    with pytest.raises(SweepError, match=r"kmeans on subset 0 of toy-blobs \(72 faces, K=6\)"):
        sweep(X, y, settings({"kmeans": {}}), tmp_path / "r.parquet")


# ------------------------------------------------------------------------------------------
# executors
# ------------------------------------------------------------------------------------------
def test_sweep_joblib_matches_serial(tmp_path, data):
    X, y = data
    serial = sweep(X, y, settings(CHEAP), tmp_path / "s.parquet")
    par = sweep(X, y, settings(CHEAP, executor="joblib", n_jobs=2), tmp_path / "j.parquet")
    pd.testing.assert_frame_equal(serial.drop(columns=RUNTIME), par.drop(columns=RUNTIME))


# ------------------------------------------------------------------------------------------
# summaries and the file-level entry point
# ------------------------------------------------------------------------------------------
def test_sweep_best_scores_picks_the_best_mean_ari():
    rows = []
    for subset, (a, b) in enumerate([(0.5, 0.9), (0.7, 0.7), (0.6, 0.8)]):
        for eps, ari in ((0.1, a), (0.2, b)):
            rows.append({"method": "dbscan", "params": canonical_params({"eps": eps}),
                         "subset": subset, "ari": ari, "pairwise_f1": ari / 2,
                         "bcubed_f1": ari / 3, "nmi": 1.0, "n_clusters": 4})  # fmt: skip
    rows.append({"method": "kmeans", "params": "{}", "subset": 0, "ari": 0.3,
                 "pairwise_f1": 0.1, "bcubed_f1": 0.2, "nmi": 0.4, "n_clusters": 3})  # fmt: skip
    best = best_scores(pd.DataFrame(rows))
    assert best["dbscan"]["params"] == {"eps": 0.2}
    assert best["dbscan"]["ari_mean"] == pytest.approx(0.8)
    assert best["dbscan"]["ari_2std"] == pytest.approx(2 * np.std([0.9, 0.7, 0.8]))
    assert best["dbscan"]["pairwise_f1"] == pytest.approx(0.4)
    assert best["dbscan"]["bcubed_f1"] == pytest.approx(0.8 / 3)
    assert best["dbscan"]["n_subsets"] == 3
    assert best["kmeans"] == {
        "params": {},
        "ari_mean": 0.3,
        "ari_2std": 0.0,
        "pairwise_f1": 0.1,
        "bcubed_f1": 0.2,
        "nmi": 0.4,
        "n_clusters": 3.0,
        "n_subsets": 1,
    }
    json.dumps(best)  # plain JSON types
    assert best_scores(pd.DataFrame()) == {}


def test_sweep_embeddings_file(tmp_path, data):
    X, y = data
    emb = write_npz(tmp_path / "toy-blobs.npz", embeddings=X, labels=y)
    params = parse_params({
        "seed": 3, "study": {"datasets": [], "models": []}, "datasets": {}, "models": {},
        "sweep": {"n_subsets": 2, "executor": "serial", "methods": {**ALL_OFF, **CHEAP}},
    })  # fmt: skip
    out = tmp_path / "results" / "toy-blobs.parquet"
    df = sweep_embeddings_file(
        emb,
        out,
        params,
        subsets_path=tmp_path / "subsets" / "toy.npz",
        metrics_path=tmp_path / "reports" / "m.json",
        progress=False,
    )
    assert set(df.dataset) == {"toy"} and set(df.model) == {"blobs"}
    assert len(df) == 2 * 5 and out.is_file()
    subs = load_subsets(tmp_path / "subsets" / "toy.npz", n=90, n_subsets=2,
                        seed_key=subset_seed_key(3, "toy"), labels=y)  # fmt: skip
    assert subs.shape == (2, 72)
    metrics = json.loads((tmp_path / "reports" / "m.json").read_text())
    assert set(metrics) == {"kmeans", "agglomerative", "dbscan"}
    assert metrics["dbscan"]["params"] == {"eps": 0.3, "min_samples": 1}
    assert metrics["dbscan"]["ari_mean"] == pytest.approx(1.0)


def test_sweep_names_from_path():
    assert names_from_path("data/embeddings/lfw-facenet.npz") == ("lfw", "facenet")
    assert names_from_path("x/muct-light-cnn.npz") == ("muct", "light-cnn")
    assert names_from_path("vectors.npz") == ("vectors", "unknown")


def test_sweep_config_errors_name_the_key():
    base = {"seed": 1, "study": {"datasets": [], "models": []}, "datasets": {}, "models": {}}
    for sweep_cfg, key in [
        ({"methods": {"dbscn": {}}}, "unknown key 'sweep.methods.dbscn'"),
        (
            {"methods": {"dbscan": {"epsilon": [0.5]}}},
            "unknown key 'sweep.methods.dbscan.epsilon'",
        ),
        ({"methods": {"dbscan": {"eps": [0.5, 0]}}}, "'sweep.methods.dbscan.eps.1'"),
        ({"methods": {"rank_order": {"k": [1, 20]}}}, "'sweep.methods.rank_order.k.0'"),
        ({"fraction": 0}, "'sweep.fraction'"),
        ({"fraction": 1.5}, "'sweep.fraction'"),
        ({"n_jobs": 0}, "'sweep.n_jobs'"),
        ({"executor": "spark"}, "'sweep.executor'"),
        ({"methodz": {}}, "unknown key 'sweep.methodz'"),
    ]:
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            parse_params({**base, "sweep": sweep_cfg})
    ok = parse_params({**base, "sweep": {"methods": {"spectral": None, "dbscan": {"eps": 0.7}}}})
    grids = ok.sweep.method_grids()
    assert "spectral" not in grids and grids["dbscan"].eps == (0.7,)
    assert grids["meanshift"] == ALGORITHMS["meanshift"].default_grid()


def test_sweep_params_yaml_lists_every_method():
    import yaml

    from facecluster.config import load_params

    path = Path(__file__).resolve().parents[2] / "params.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert list(raw["sweep"]["methods"]) == list(ALGORITHMS)  # every grid written out
    assert list(load_params(path).sweep.method_grids()) == list(ALGORITHMS)
