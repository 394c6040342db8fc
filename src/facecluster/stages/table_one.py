"""Stage ``table-one@<sweep>``: one sweep of the Castiel report's Table I methods.

``params.table_one.sweeps.<sweep>`` names a dataset, the model that embeds it and the sampling
(``replace``).  The sweep is the study's protocol (:mod:`facecluster.stages.sweep`) restricted
to ``table_one.methods`` with their grids from ``sweep.methods``, on subsets drawn for this
sweep with its own ``replace`` (and ``n_subsets`` where it sets one, else
``sweep.n_subsets``; ``sweep.fraction``; the dataset's seed key: sweeps of one dataset and one
sampling share their subsets — a sweep with fewer takes the first ones — so their cells
compare paired).

Outputs ``data/table_one/<sweep>.parquet`` (the sweep's results table, read with
:func:`read_table_one`), ``data/table_one/<sweep>-subsets.npz`` (the subsets file format of
:mod:`facecluster.stages.subsets`) and the metrics ``data/table_one/<sweep>.json`` (best
grid point of each method).
"""

from __future__ import annotations

import logging
from pathlib import Path

from facecluster.config import Params
from facecluster.errors import UserError
from facecluster.paths import ProjectPaths
from facecluster.stages.sweep import Results, read_results

log = logging.getLogger(__name__)


def table_one_params(params: Params, sweep: str) -> Params:
    """``params`` whose ``sweep`` block is Table I sweep ``sweep``'s protocol."""
    spec = params.table_one.sweeps.get(sweep)
    if spec is None:
        raise UserError(
            f"unknown Table I sweep {sweep!r}; params.yaml table_one.sweeps defines "
            f"{sorted(params.table_one.sweeps)}"
        )
    methods = params.sweep.methods
    keep = set(params.table_one.methods)
    only = methods.model_copy(
        update={name: None for name in type(methods).model_fields if name not in keep}
    )
    missing = [m for m in params.table_one.methods if getattr(methods, m) is None]
    if missing:
        raise UserError(f"table_one.methods lists {missing}, which sweep.methods sets to null")
    update = {"replace": spec.replace, "methods": only}
    if spec.n_subsets is not None:
        update["n_subsets"] = spec.n_subsets
    settings = params.sweep.model_copy(update=update)
    return params.model_copy(update={"sweep": settings})


def metrics_path(paths: ProjectPaths, sweep: str) -> Path:
    return paths.table_one(sweep).with_suffix(".json")


def run(sweep: str, params: Params, paths: ProjectPaths) -> Results:
    """Run Table I sweep ``sweep`` and write its outputs."""
    from facecluster.stages.sweep import sweep_stage_embeddings

    local = table_one_params(params, sweep)
    spec = params.table_one.sweeps[sweep]
    subsets = paths.table_one_subsets(sweep)
    subsets.unlink(missing_ok=True)  # drawn again with the current settings
    log.info(
        "Table I sweep %s: %s × %s, replace=%s, methods %s",
        sweep, spec.dataset, spec.model, spec.replace, ", ".join(params.table_one.methods),
    )  # fmt: skip
    return sweep_stage_embeddings(
        spec.dataset,
        spec.model,
        local,
        paths,
        out=paths.table_one(sweep),
        subsets_path=subsets,
        metrics_path=metrics_path(paths, sweep),
    )


def read_table_one(paths: ProjectPaths, sweep: str) -> Results:
    """The results table of Table I sweep ``sweep``."""
    return read_results(paths.table_one(sweep))
