"""The order a sweep's tasks start in, and how busy its workers were.

A sweep is a few hundred tasks (method × subset) of very unequal length: on LFW ≥ 3 a spectral
task takes about a minute, a DBSCAN task a second.  Run in the registry's order, the long
tasks of a late method can end up alone at the tail while the other workers idle.  Started
longest first (the classic LPT rule for identical machines), the short tasks fill the gaps at
the end.  The order changes how long a sweep takes, never a number in its table: every task
carries its own random state and the table is assembled in task order.

:data:`TASK_SECONDS` are measured seconds per task (its fits and evaluation: the mean
``task_runtime_s`` of ``sweep@lfw-facenet-20170512``, 6,084 faces a subset, 128-d, two
workers on 2 cores, default grids); only their order matters.  :func:`utilisation` reports the share of the workers' time spent in tasks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from facecluster.sweep.keys import SweepTask

__all__ = ["TASK_SECONDS", "Utilisation", "longest_first", "utilisation"]

#: Seconds per task by method (see the module notes); unknown methods count as 1 s.
TASK_SECONDS: dict[str, float] = {
    "spectral": 41.5,
    "meanshift": 12.6,
    "kmeans": 5.8,
    "hdbscan": 3.9,
    "agglomerative": 1.6,
    "rank_order": 1.4,
    "chinese_whispers": 0.5,
    "finch": 0.5,
    "finch_k": 0.4,
    "dbscan": 0.4,
}


def longest_first(tasks: Sequence[SweepTask]) -> list[SweepTask]:
    """``tasks`` by expected length, longest first; ties keep their order (stable)."""
    return sorted(tasks, key=lambda t: -TASK_SECONDS.get(t.method, 1.0))


@dataclass(frozen=True)
class Utilisation:
    """How busy a sweep kept its workers: ``busy_s`` in tasks over ``wall_s × workers``."""

    wall_s: float
    busy_s: float
    workers: int

    @property
    def fraction(self) -> float:
        return self.busy_s / (self.wall_s * self.workers) if self.wall_s > 0 else 0.0


def utilisation(wall_s: float, busy_s: float, workers: int) -> Utilisation:
    """The :class:`Utilisation` of a run (``workers`` >= 1)."""
    return Utilisation(float(wall_s), float(busy_s), max(1, int(workers)))
