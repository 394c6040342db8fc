"""The Dask executor (``sweep.executor: dask``) on a local cluster gives the serial table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_blobs

from facecluster.cluster import ALGORITHMS
from facecluster.config import SweepSettings
from facecluster.sweep import default_checkpoint_dir, draw_subsets, run_sweep

distributed = pytest.importorskip("distributed")

RUNTIME = ["runtime_s", "task_runtime_s"]
METHODS = {**dict.fromkeys(ALGORITHMS), "kmeans": {"n_init": 2}, "agglomerative": {},
           "dbscan": {"eps": [0.3, 0.6]}}  # fmt: skip


def _sweep(X, y, out, **kw):
    cfg = SweepSettings(n_subsets=3, methods=METHODS, **kw)
    subsets = draw_subsets(len(X), n_subsets=3, fraction=0.8, seed_key=(5, "subsets", "toy"))
    return run_sweep(X, y, subsets, cfg, dataset="toy", model="m", seed=5, out_path=out,
                     progress=False)  # fmt: skip


@pytest.fixture(scope="module")
def data():
    X, y = make_blobs(n_samples=50, n_features=8, centers=5, cluster_std=0.02,
                      center_box=(-1, 1), random_state=9)  # fmt: skip
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X.astype(np.float32), y


def test_sweep_dask_matches_serial(tmp_path, data):
    X, y = data
    serial = _sweep(X, y, tmp_path / "s.parquet", executor="serial")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:  # fmt: skip
        out = tmp_path / "d.parquet"
        dask = _sweep(X, y, out, executor="dask", scheduler=cluster.scheduler_address)
        pd.testing.assert_frame_equal(serial.drop(columns=RUNTIME), dask.drop(columns=RUNTIME))
        # checkpoints were written by the client as tasks finished: a re-run computes nothing
        assert len(list(default_checkpoint_dir(out).glob("*.parquet"))) == 9
        again = _sweep(X, y, out, executor="dask", scheduler=cluster.scheduler_address)
        pd.testing.assert_frame_equal(dask, again)
