"""Sweep scheduling: the registry's task order against longest first, same process, same data.

    python benchmarks/sweep_schedule.py --embeddings data/embeddings/lfw-facenet-20170512.npz \
        [--faces 3000] [--subsets 4] [--n-jobs 2]

Runs the sweep of the default grids twice on the first ``--faces`` rows of the embeddings
file (the same subsets, fresh checkpoint folders), once with the tasks in registry order and
once longest first (:func:`facecluster.sweep.schedule.longest_first`), with ``--n-jobs``
joblib workers, and prints the wall time of each, how busy the workers were (task seconds over
wall × workers) and the ratio.  The two tables are checked to be identical.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

from facecluster.config import ExecutionSettings, SweepSettings
from facecluster.stages.embed import read_embeddings
from facecluster.sweep.engine import run_sweep
from facecluster.sweep.schedule import longest_first
from facecluster.sweep.subsets import draw_subsets


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--embeddings", required=True)
    ap.add_argument("--faces", type=int, default=3000)
    ap.add_argument("--subsets", type=int, default=4)
    ap.add_argument("--n-jobs", type=int, default=2)
    args = ap.parse_args()
    z = read_embeddings(args.embeddings)
    X, y = z.X[: args.faces], z.labels[: args.faces]
    settings = SweepSettings(n_subsets=args.subsets)
    subsets = draw_subsets(
        len(X), n_subsets=args.subsets, fraction=settings.fraction, seed_key=(1, "bench")
    )
    execution = ExecutionSettings(executor="joblib", n_jobs=args.n_jobs, progress=False)
    with tempfile.TemporaryDirectory() as parts:  # warm-up: numba caches, worker start
        run_sweep(
            X[:200], y[:200], draw_subsets(min(200, len(X)), n_subsets=1, fraction=0.8, seed_key=(2,)),
            SweepSettings(n_subsets=1), dataset="warm", model="m", seed=1,
            parts_dir=Path(parts), execution=execution,
        )  # fmt: skip
    tables = {}
    for name, order in (("registry order", list), ("longest first", longest_first)):
        with tempfile.TemporaryDirectory() as parts:
            t0 = time.perf_counter()
            table = run_sweep(
                X, y, subsets, settings, dataset="bench", model="m", seed=1,
                parts_dir=Path(parts), execution=execution, schedule=order,
            )  # fmt: skip
            wall = time.perf_counter() - t0
        busy = table.drop_duplicates(["method", "subset"])["task_runtime_s"].sum()
        tables[name] = (table, wall)
        print(
            f"{name:>15}: {wall:7.1f} s wall, {busy:7.1f} task s on {args.n_jobs} workers: "
            f"{100 * busy / (wall * args.n_jobs):.0f}% busy"
        )
    (a, wa), (b, wb) = tables.values()
    cols = [c for c in a.columns if c not in ("runtime_s", "task_runtime_s")]
    pd.testing.assert_frame_equal(a[cols], b[cols])
    print(f"tables identical; longest first / registry order wall time: {wb / wa:.2f}")


if __name__ == "__main__":
    main()
