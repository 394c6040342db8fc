"""Where the tasks of a sweep run: in this process, in joblib processes, or on Dask.

Which executor and how many workers is an execution setting (``params.yaml`` ``execution``):
it changes how long a sweep takes, never a number in its table (each task carries its own
derived random state, and the table is assembled in task order whatever order tasks finish
in).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from facecluster.sweep import SweepError
from facecluster.sweep.keys import SweepTask

if TYPE_CHECKING:
    from facecluster.config import ExecutionSettings

log = logging.getLogger(__name__)

TaskFn = Callable[[np.ndarray, np.ndarray, SweepTask], tuple[str, pd.DataFrame]]
OnDone = Callable[[str, pd.DataFrame], None]


def execute(
    fn: TaskFn,
    tasks: Sequence[SweepTask],
    X: np.ndarray,
    y: np.ndarray,
    execution: ExecutionSettings,
    on_done: OnDone,
) -> None:
    """Run ``fn(X, y, task)`` for every task; call ``on_done(key, frame)`` as each finishes."""
    if not tasks:
        return
    if execution.executor == "serial":
        for task in tasks:
            on_done(*fn(X, y, task))
    elif execution.executor == "joblib":
        from joblib import Parallel, delayed

        parallel = Parallel(n_jobs=execution.n_jobs, return_as="generator_unordered")
        for key, frame in parallel(delayed(fn)(X, y, t) for t in tasks):
            on_done(key, frame)
    elif execution.executor == "dask":
        _execute_dask(fn, tasks, X, y, execution, on_done)
    else:  # pragma: no cover - the config's Literal forbids it
        raise SweepError(f"unknown executor {execution.executor!r}")


def _execute_dask(
    fn: TaskFn,
    tasks: Sequence[SweepTask],
    X: np.ndarray,
    y: np.ndarray,
    execution: ExecutionSettings,
    on_done: OnDone,
) -> None:
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if execution.scheduler:
        log.info("dask: connecting to %s", execution.scheduler)
        client = Client(execution.scheduler)
    else:
        n_workers = execution.n_jobs if execution.n_jobs > 0 else (os.cpu_count() or 1)
        log.info("dask: starting a local cluster of %d worker process(es)", n_workers)
        cluster = LocalCluster(
            n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
        client = Client(cluster)
    try:
        X_f, y_f = client.scatter([X, y], broadcast=True)
        futures = [
            client.submit(fn, X_f, y_f, t, key=f"facecluster-sweep-{t.key}", pure=False)
            for t in tasks
        ]
        for future in as_completed(futures):
            on_done(*future.result())
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
