"""Execution settings never change a number: the results of a small sweep are identical with
n_jobs 1 and 2, serial and joblib, and the task keys (checkpoint names) do not depend on them,
so a re-run with other execution settings reuses every part and computes nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.datasets import make_blobs

from facecluster.cluster.registry import ALGORITHMS
from facecluster.config import ExecutionSettings, SweepSettings, parse_params
from facecluster.sweep import engine
from facecluster.sweep.engine import RUNTIME_COLUMNS, run_sweep
from facecluster.sweep.keys import make_tasks
from facecluster.sweep.subsets import draw_subsets

ROOT = Path(__file__).resolve().parents[2]

#: Every registered method, each with a small grid (two points where it is cheap).
GRIDS = {
    "kmeans": {"n_init": 2},
    "agglomerative": {},
    "spectral": {"gamma": [1.0], "n_init": 2},
    "dbscan": {"eps": [0.3, 0.6]},
    "meanshift": {"bandwidth": [0.3, 0.5]},
    "rank_order": {"k": [5, 10], "threshold": [1.0]},
    "chinese_whispers": {"threshold": [0.3, 0.6], "n_iter": 10},
    "finch_k": {},
    "hdbscan": {"min_samples": [1, 2], "min_cluster_size": [2]},
    "finch": {},
}
SETTINGS = SweepSettings(n_subsets=3, fraction=0.8, methods=GRIDS)
EXECUTIONS = {
    "serial": ExecutionSettings(executor="serial", progress=False),
    "joblib-1": ExecutionSettings(executor="joblib", n_jobs=1, progress=False),
    "joblib-2": ExecutionSettings(executor="joblib", n_jobs=2, progress=False),
}
DROP = list(RUNTIME_COLUMNS)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """60 unit vectors of 5 identities (string labels) and 3 subsets of 80 %."""
    X, y = make_blobs(n_samples=60, n_features=8, centers=5, cluster_std=0.05,
                      center_box=(-1, 1), random_state=3)  # fmt: skip
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    subsets = draw_subsets(60, n_subsets=3, fraction=0.8, seed_key=(7, "subsets", "blobs"))
    return X.astype(np.float32), np.array([f"id{i}" for i in y]), subsets


def _sweep(data, parts: Path, execution: ExecutionSettings) -> pd.DataFrame:
    X, y, subsets = data
    return run_sweep(X, y, subsets, SETTINGS, dataset="blobs", model="toy", seed=7,
                     parts_dir=parts, execution=execution)  # fmt: skip


def _parts(parts: Path) -> dict[str, int]:
    """``{part file name: mtime_ns}`` of a checkpoint folder."""
    return {p.name: p.stat().st_mtime_ns for p in sorted(parts.glob("*.parquet"))}


@pytest.fixture(scope="module")
def runs(data, tmp_path_factory) -> dict[str, tuple[pd.DataFrame, Path]]:
    """The same sweep under each execution setting, each into its own checkpoint folder."""
    root = tmp_path_factory.mktemp("execution")
    return {
        name: (_sweep(data, root / f"{name}.parts", ex), root / f"{name}.parts")
        for name, ex in EXECUTIONS.items()
    }


def test_every_method_is_in_the_sweep():
    assert list(SETTINGS.method_grids()) == list(ALGORITHMS)


@pytest.mark.parametrize("name", [n for n in EXECUTIONS if n != "serial"])
def test_results_identical_serial_and_joblib_1_and_2_workers(runs, name):
    serial, _ = runs["serial"]
    other, _ = runs[name]
    n_points = 1 + 1 + 1 + 1 + 2 + 2 + 2 + 2 + 2 + 1
    assert len(serial) == 3 * n_points
    assert list(serial.method.unique()) == list(ALGORITHMS)
    assert serial.ari.notna().all()
    # every column but the timings, exactly (values, dtypes, row order)
    pd.testing.assert_frame_equal(serial.drop(columns=DROP), other.drop(columns=DROP))


def test_task_keys_do_not_depend_on_execution(runs, data):
    names = {name: sorted(_parts(parts)) for name, (_, parts) in runs.items()}
    assert len(names["serial"]) == 3 * len(ALGORITHMS)
    assert names["joblib-1"] == names["serial"] and names["joblib-2"] == names["serial"]
    X, y, subsets = data
    tasks = make_tasks(X, y, subsets, SETTINGS, dataset="blobs", model="toy", seed=7)
    assert sorted(t.part_name for t in tasks) == names["serial"]


@pytest.mark.parametrize(
    ("made_by", "rerun"),
    [
        ("serial", ExecutionSettings(executor="joblib", n_jobs=2, progress=True)),
        ("joblib-2", ExecutionSettings(executor="serial", progress=False)),
        ("joblib-1", ExecutionSettings(executor="joblib", n_jobs=2, progress=False)),
    ],
)
def test_rerun_with_other_execution_settings_computes_nothing(
    runs, data, monkeypatch, made_by, rerun
):
    table, parts = runs[made_by]
    before = _parts(parts)

    def must_not_run(*args, **kwargs):
        raise AssertionError("a checkpointed task was computed again")

    monkeypatch.setattr(engine, "run_task", must_not_run)
    again = _sweep(data, parts, rerun)
    assert _parts(parts) == before  # same files, none rewritten
    pd.testing.assert_frame_equal(again, table)  # read back, runtimes included


def test_changing_execution_changes_no_science_param():
    """params.sweep (what the sweep stage depends on) is the same whatever the execution block,
    and no DVC stage lists ``execution`` among its params."""
    base = {"seed": 1, "study": {"datasets": [], "models": []}, "datasets": {}, "models": {}}
    a = parse_params({**base, "execution": {"executor": "serial", "n_jobs": 1}})
    b = parse_params({**base, "execution": {"executor": "dask", "n_jobs": -1, "device": "cpu",
                                            "embed_batch_size": 8, "progress": False}})  # fmt: skip
    assert a.sweep == b.sweep and a.execution != b.execution
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    for name, stage in stages.items():
        listed = (stage.get("do", stage)).get("params") or []
        assert not [p for p in listed if str(p).split(".")[0] == "execution"], name
