"""Sweep checkpoints: a part holds the key of its task, and a part that holds another task
(copied or renamed over this one's name) is recomputed, never read as this task's result."""

from __future__ import annotations

import logging
import shutil

import pandas as pd

from facecluster.cluster.registry import ALGORITHMS
from facecluster.config import SweepSettings
from facecluster.sweep.engine import RUNTIME_COLUMNS, run_sweep
from facecluster.sweep.subsets import draw_subsets

SETTINGS = SweepSettings(
    n_subsets=2, methods={**dict.fromkeys(ALGORITHMS), "kmeans": {"n_init": 2}}
)


def sweep(data, parts):
    X, y = data
    subsets = draw_subsets(len(X), n_subsets=2, fraction=0.8, seed_key=(3, "subsets", "toy"))
    return run_sweep(X, y, subsets, SETTINGS, dataset="toy", model="blobs", seed=3,
                     parts_dir=parts)  # fmt: skip


def test_a_swapped_checkpoint_part_is_recomputed(tmp_path, data, caplog):
    parts = tmp_path / "toy-blobs.parts"
    first = sweep(data, parts)
    a, b = sorted(parts.glob("*.parquet"))
    tmp = tmp_path / "swap"
    shutil.move(a, tmp)
    shutil.move(b, a)
    shutil.move(tmp, b)
    with caplog.at_level(logging.WARNING, logger="facecluster.sweep.engine"):
        again = sweep(data, parts)
    assert caplog.text.count("ignoring checkpoint") == 2 and "it holds task" in caplog.text
    runtime = list(RUNTIME_COLUMNS)
    pd.testing.assert_frame_equal(first.drop(columns=runtime), again.drop(columns=runtime))
    assert again["subset"].tolist() == first["subset"].tolist() == [0, 1]


def test_a_part_without_a_task_key_is_recomputed(tmp_path, data, caplog):
    parts = tmp_path / "toy-blobs.parts"
    first = sweep(data, parts)
    part = sorted(parts.glob("*.parquet"))[0]
    pd.read_parquet(part).to_parquet(part, index=False)  # a foreign writer: no key recorded
    with caplog.at_level(logging.WARNING, logger="facecluster.sweep.engine"):
        again = sweep(data, parts)
    assert "(none recorded)" in caplog.text
    runtime = list(RUNTIME_COLUMNS)
    pd.testing.assert_frame_equal(first.drop(columns=runtime), again.drop(columns=runtime))
