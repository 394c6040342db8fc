"""The clustering protocol: every registered method over every grid point on random subsets.

The protocol (after the Castiel report, corrected):

* ``n_subsets`` subsets of ``int(fraction * N)`` faces are drawn **without replacement** from
  keyed random streams (:mod:`facecluster.sweep.subsets`), stored once per dataset by the
  ``subsets`` stage and shared by every model and method; ``replace=True`` reproduces the
  report's ``np.random.choice(N, int(0.8 * N))``.
* Methods that need K get K = the number of identities present in the subset.
* Each (method, grid point, subset) is scored by :func:`facecluster.metrics.evaluate`; the
  result is a tidy table, one row per (dataset, model, method, params, subset).

Modules: :mod:`~facecluster.sweep.subsets` (drawing), :mod:`~facecluster.sweep.keys` (tasks
and their checkpoint keys), :mod:`~facecluster.sweep.executors` (serial, joblib, Dask),
:mod:`~facecluster.sweep.engine` (:func:`~facecluster.sweep.engine.run_sweep`: arrays in,
table out), :mod:`~facecluster.sweep.summary` (the one "best grid point" and ±2σ convention).
The files of the ``subsets`` and ``sweep`` stages are read and written by
:mod:`facecluster.stages.subsets` and :mod:`facecluster.stages.sweep`.
"""

from __future__ import annotations

from facecluster.errors import UserError


class SweepError(UserError, ValueError):
    """Bad input to the sweep (the message says what and where)."""
