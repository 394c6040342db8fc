"""Sweep workers: never more than the CPUs this process may use, and never alive after their
sweep's process, even when it is killed with SIGKILL (which runs no clean-up)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from joblib import cpu_count


def test_n_jobs_is_capped_at_the_usable_cpus_with_a_warning(caplog):
    from facecluster.sweep.executors import usable_cpus, worker_count

    cpus = usable_cpus()
    with caplog.at_level(logging.WARNING, logger="facecluster.sweep.executors"):
        assert worker_count(10_000) == cpus
    assert f"execution.n_jobs is 10000 but this machine lets the sweep use {cpus}" in caplog.text
    assert worker_count(-1) == cpus
    assert worker_count(1) == 1


def _alive(pid: int) -> bool:
    """A process that exists and is not a zombie (a dead child nobody reaped yet)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return "State:\tZ" not in status


SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    import numpy as np
    from facecluster.config import ExecutionSettings
    from facecluster.sweep.executors import execute

    class Task:
        def __init__(self, key):
            self.key = key

    def work(X, y, task, folder=sys.argv[1]):
        open(os.path.join(folder, f"{os.getpid()}.pid"), "w").close()
        time.sleep(120)
        return task.key, None

    execute(work, [Task(str(i)) for i in range(8)], np.zeros((2, 2)), np.zeros(2),
            ExecutionSettings(executor="joblib", n_jobs=N_JOBS, progress=False),
            lambda key, frame: None)
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc and prctl (Linux)")
def test_workers_die_with_a_sigkilled_sweep(tmp_path):
    n_jobs = 2 if cpu_count() >= 2 else 1
    if n_jobs == 1:
        pytest.skip("one usable CPU: joblib runs the sweep in-process, there is no worker")
    script = tmp_path / "sweep.py"
    script.write_text(SCRIPT.replace("N_JOBS", str(n_jobs)), encoding="utf-8")
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while len(list(tmp_path.glob("*.pid"))) < n_jobs and time.monotonic() < deadline:
            assert proc.poll() is None, "the sweep script ended early"
            time.sleep(0.2)
        workers = [int(p.stem) for p in tmp_path.glob("*.pid")]
        assert len(workers) == n_jobs and proc.pid not in workers
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 10
    while any(map(_alive, workers)) and time.monotonic() < deadline:
        time.sleep(0.2)
    survivors = [pid for pid in workers if _alive(pid)]
    for pid in survivors:  # do not leave them behind for the rest of the test run
        os.kill(pid, signal.SIGKILL)
    assert not survivors, f"workers {survivors} outlived their SIGKILLed sweep by 10 s"
