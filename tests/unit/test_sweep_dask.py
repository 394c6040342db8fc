"""The Dask executor (``execution.executor: dask``) on a local cluster gives the serial table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_blobs

from facecluster.cluster.registry import ALGORITHMS
from facecluster.config import ExecutionSettings, SweepSettings
from facecluster.sweep.engine import RUNTIME_COLUMNS, run_sweep
from facecluster.sweep.subsets import draw_subsets

distributed = pytest.importorskip("distributed")

RUNTIME = list(RUNTIME_COLUMNS)
METHODS = {**dict.fromkeys(ALGORITHMS), "kmeans": {"n_init": 2}, "agglomerative": {},
           "dbscan": {"eps": [0.3, 0.6]}}  # fmt: skip


def _sweep(X, y, parts, **execution):
    cfg = SweepSettings(n_subsets=3, methods=METHODS)
    subsets = draw_subsets(len(X), n_subsets=3, fraction=0.8, seed_key=(5, "subsets", "toy"))
    return run_sweep(X, y, subsets, cfg, dataset="toy", model="m", seed=5, parts_dir=parts,
                     execution=ExecutionSettings(progress=False, **execution))  # fmt: skip


@pytest.fixture(scope="module")
def data():
    X, y = make_blobs(n_samples=50, n_features=8, centers=5, cluster_std=0.02,
                      center_box=(-1, 1), random_state=9)  # fmt: skip
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X.astype(np.float32), y


def test_sweep_dask_matches_serial(tmp_path, data):
    X, y = data
    serial = _sweep(X, y, tmp_path / "s.parts", executor="serial")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:  # fmt: skip
        parts = tmp_path / "d.parts"
        dask = _sweep(X, y, parts, executor="dask", scheduler=cluster.scheduler_address)
        pd.testing.assert_frame_equal(serial.drop(columns=RUNTIME), dask.drop(columns=RUNTIME))
        # checkpoints were written by the client as tasks finished: a re-run computes nothing
        names = sorted(p.name for p in parts.glob("*.parquet"))
        assert len(names) == 9
        # the same part files as the serial run's: execution settings are not in the task keys
        assert names == sorted(p.name for p in (tmp_path / "s.parts").glob("*.parquet"))
        again = _sweep(X, y, parts, executor="dask", scheduler=cluster.scheduler_address)
        pd.testing.assert_frame_equal(dask, again)
