"""Where the tasks of a sweep run: in this process, in joblib processes, or on Dask.

Which executor and how many workers is an execution setting (``params.yaml`` ``execution``):
it changes how long a sweep takes, never a number in its table (each task carries its own
derived random state, and the table is assembled in task order whatever order tasks finish
in).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from facecluster.sweep import SweepError
from facecluster.sweep.keys import SweepTask

if TYPE_CHECKING:
    from distributed import Client

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
        from joblib import Parallel, delayed, parallel_config

        n_jobs = worker_count(execution.n_jobs)
        # Workers end with this process even when it is killed (SIGKILL runs no clean-up),
        # and a few seconds after the sweep when it ends normally (joblib keeps them for
        # reuse, 300 s by default).
        with parallel_config(
            backend="loky", initializer=end_with_parent, idle_worker_timeout=_IDLE_WORKER_S
        ):
            parallel = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
            for key, frame in parallel(delayed(fn)(X, y, t) for t in tasks):
                on_done(key, frame)
    elif execution.executor == "dask":
        _execute_dask(fn, tasks, X, y, execution, on_done)
    else:  # pragma: no cover - the config's Literal forbids it
        raise SweepError(f"unknown executor {execution.executor!r}")


#: Seconds an idle joblib worker waits for another task before it exits.
_IDLE_WORKER_S = 5


def usable_cpus() -> int:
    """CPUs this process may use: affinity mask and cgroup quota (a container's share), ≥ 1."""
    from joblib import cpu_count

    return max(1, int(cpu_count()))


def worker_count(n_jobs: int) -> int:
    """Worker processes for ``n_jobs``: -1 is every usable CPU, and no more than that.

    More workers than CPUs make a CPU-bound sweep no faster, and each worker holds its own
    copy of the libraries and of its subset (~230 MB): ``n_jobs: 10000`` once started over
    a thousand processes and exhausted 24 GB.  A larger request is capped with a warning.
    """
    cpus = usable_cpus()
    if n_jobs == -1:
        return cpus
    if n_jobs > cpus:
        log.warning(
            "execution.n_jobs is %d but this machine lets the sweep use %d CPU(s): "
            "running %d worker(s)",
            n_jobs, cpus, cpus,
        )  # fmt: skip
        return cpus
    return max(1, n_jobs)


def end_with_parent() -> None:
    """Worker initialiser: the kernel ends this process when its parent dies (Linux).

    ``prctl(PR_SET_PDEATHSIG, SIGKILL)``; elsewhere a no-op (joblib's own shutdown then
    applies).  If the parent is already gone, exit now.
    """
    import ctypes
    import signal
    import sys

    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # no prctl: keep joblib's behaviour
        return
    if os.getppid() != parent:
        os._exit(1)


def _execute_dask(
    fn: TaskFn,
    tasks: Sequence[SweepTask],
    X: np.ndarray,
    y: np.ndarray,
    execution: ExecutionSettings,
    on_done: OnDone,
) -> None:
    from distributed import as_completed

    with dask_client(execution) as client:
        assert client is not None
        X_f, y_f = client.scatter([X, y], broadcast=True)
        futures = [
            client.submit(fn, X_f, y_f, t, key=f"facecluster-sweep-{t.key}", pure=False)
            for t in tasks
        ]
        for future in as_completed(futures):
            on_done(*future.result())


@contextmanager
def dask_client(execution: ExecutionSettings) -> Iterator[Client | None]:
    """A Dask client as ``execution`` selects it: ``None`` unless ``executor`` is ``dask``;
    then a client of ``scheduler`` when set, else of a local cluster of ``n_jobs`` worker
    processes (one thread each), closed on exit."""
    if execution.executor != "dask":
        yield None
        return
    from distributed import Client, LocalCluster

    cluster = None
    if execution.scheduler:
        log.info("dask: connecting to %s", execution.scheduler)
        client = Client(execution.scheduler)
    else:
        n_workers = worker_count(execution.n_jobs)
        log.info("dask: starting a local cluster of %d worker process(es)", n_workers)
        cluster = LocalCluster(
            n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
        client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
