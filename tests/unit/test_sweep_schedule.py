"""Sweep scheduling: longest tasks first, stable, and the utilisation it reports."""

from __future__ import annotations

import numpy as np
import pytest

from facecluster.cluster.registry import ALGORITHMS
from facecluster.sweep.keys import SweepTask
from facecluster.sweep.schedule import TASK_SECONDS, longest_first, utilisation


def _task(method: str, subset: int) -> SweepTask:
    return SweepTask(method, {}, subset, np.arange(3), 0, "d", "m", f"{method}{subset}")


def test_longest_tasks_start_first_and_ties_keep_their_order():
    tasks = [_task(m, s) for m in ("kmeans", "dbscan", "spectral", "meanshift") for s in (0, 1)]
    order = [(t.method, t.subset) for t in longest_first(tasks)]
    assert order == [("spectral", 0), ("spectral", 1), ("meanshift", 0), ("meanshift", 1),
                     ("kmeans", 0), ("kmeans", 1), ("dbscan", 0), ("dbscan", 1)]  # fmt: skip
    assert [t.method for t in longest_first([_task("new", 0), _task("finch", 0)])] == [
        "new",  # unknown methods count as 1 s, FINCH as its measured 0.5 s
        "finch",
    ]


def test_every_registered_method_has_a_measured_length():
    assert set(TASK_SECONDS) == set(ALGORITHMS)


def test_utilisation_is_busy_time_over_worker_time():
    use = utilisation(wall_s=100.0, busy_s=150.0, workers=2)
    assert use.fraction == pytest.approx(0.75)
    assert utilisation(0.0, 0.0, 2).fraction == 0.0
    assert utilisation(10.0, 5.0, 0).workers == 1
