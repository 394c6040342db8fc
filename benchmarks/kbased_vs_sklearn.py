"""K-based methods (k-means, spectral) vs scikit-learn on the sweep's own subsets.

The issue's acceptance for ``kmeans`` and ``spectral``: the same algorithm as scikit-learn's,
>= 4x faster, and a mean ARI over the 30 subsets within 0.01 of scikit-learn's.  This script
reads a dataset's embeddings and its stored subsets (``data/subsets/<dataset>.npz``, the ones
the sweep used), and for each subset, in this one process, back to back:

* fits ours exactly as the sweep does (registry grid, ``K`` = true identities in the subset,
  ``random_state = seeds.random_state(seed, "sweep", dataset, model, method, i)``),
* fits ``sklearn.cluster.KMeans(n_clusters=K, n_init)`` or
  ``SpectralClustering(n_clusters=K, affinity="rbf", gamma, n_init)`` with the same seed,

and prints both times, their ratio, both ARIs and, when ``--results`` is given, whether our
ARI equals the one the sweep stored (a check that the sweep table is reproducible).  The last
lines give the mean ARI of each and the difference, over the subsets run.

scikit-learn's spectral clustering takes ~1.5 min per LFW subset on 2 cores, so ``--subsets``
limits the run to the first N subsets; what was run is printed.

Usage::

    python benchmarks/kbased_vs_sklearn.py data/embeddings/lfw-facenet.npz \
        --subsets-file data/subsets/lfw.npz --results data/results/lfw-facenet.parquet \
        --methods kmeans,spectral --subsets 30 --json /tmp/kbased.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score

from facecluster import seeds
from facecluster.cluster.registry import get_method
from facecluster.config import load_params
from facecluster.stages.embed import read_embeddings
from facecluster.stages.subsets import read_subsets
from facecluster.stages.sweep import names_from_path, read_results
from facecluster.sweep.keys import canonical_params

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sweep_speed import sklearn_estimator  # noqa: E402  (same folder: one baseline definition)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("embeddings", help="embeddings .npz of one dataset and model")
    parser.add_argument("--subsets-file", required=True, help="the sweep's subsets .npz")
    parser.add_argument("--results", default=None, help="the sweep's results parquet (check)")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--methods", default="kmeans,spectral")
    parser.add_argument("--subsets", type=int, default=30, help="first N subsets (30)")
    parser.add_argument("--json", default=None, help="also write the rows here")
    args = parser.parse_args(argv)

    params = load_params(args.params)
    dataset, model = names_from_path(args.embeddings)
    emb = read_embeddings(args.embeddings)
    X, y = emb.X, emb.labels
    subsets = read_subsets(args.subsets_file, n=X.shape[0]).indices[: args.subsets]
    grids = params.sweep.method_grids()
    stored = read_results(args.results).table if args.results else None

    rows = []
    runs = [
        (method, point)
        for method in args.methods.split(",")
        for point in get_method(method).grid_points(grids[method].model_dump(mode="json"))
    ]
    try:
        _compare(X, y, subsets, runs, params.seed, dataset, model, stored, rows)
    except KeyboardInterrupt:  # the summary covers the subsets finished so far
        print(f"\ninterrupted; summary of the {len(rows)} fits finished")
    _summary(pd.DataFrame(rows), args.json)
    return 0


def _compare(X, y, subsets, runs, seed, dataset, model, stored, rows) -> None:
    for i, idx in enumerate(subsets):  # subset-major: an early stop still covers every method
        Xs, ys = X[idx], y[idx]
        k = int(np.unique(ys).size)
        for method, point in runs:
            spec = get_method(method)
            rs = seeds.random_state(seed, "sweep", dataset, model, method, i)
            t0 = time.perf_counter()
            ours = spec.run_grid(Xs, [point], n_clusters=k, random_state=rs)[0]
            t_ours = time.perf_counter() - t0
            est = sklearn_estimator(method, point, k, rs)
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # ARPACK/graph-connectivity chatter
                theirs = est.fit_predict(Xs)
            t_sk = time.perf_counter() - t0
            row = {
                "method": method,
                "params": json.dumps(point, sort_keys=True),
                "subset": i,
                "n": int(Xs.shape[0]),
                "k": k,
                "ours_s": t_ours,
                "sklearn_s": t_sk,
                "ratio": t_sk / t_ours,
                "ari_ours": adjusted_rand_score(ys, ours),
                "ari_sklearn": adjusted_rand_score(ys, theirs),
                "ari_between": adjusted_rand_score(theirs, ours),
            }
            if stored is not None:
                sel = (stored.method == method) & (stored.subset == i)
                hit = stored[sel & (stored.params == canonical_params(point))]
                row["ari_stored"] = float(hit["ari"].iloc[0]) if len(hit) == 1 else np.nan
            rows.append(row)
            print(
                f"{method:9s} subset {i:2d} n={row['n']} K={k}: ours {t_ours:7.2f} s, "
                f"sklearn {t_sk:7.2f} s, ratio {row['ratio']:5.1f}x | ARI ours "
                f"{row['ari_ours']:.4f} sklearn {row['ari_sklearn']:.4f} between "
                f"{row['ari_between']:.4f}"
                + (f" stored {row['ari_stored']:.4f}" if "ari_stored" in row else ""),
                flush=True,
            )


def _summary(df: pd.DataFrame, json_path: str | None) -> None:
    print()
    if df.empty:
        return
    for (method, prm), g in df.groupby(["method", "params"], sort=False):
        line = (
            f"{method} {prm}: {len(g)} subsets | time ours {g.ours_s.sum():.1f} s, sklearn "
            f"{g.sklearn_s.sum():.1f} s, ratio {g.sklearn_s.sum() / g.ours_s.sum():.1f}x | mean "
            f"ARI ours {g.ari_ours.mean():.4f}, sklearn {g.ari_sklearn.mean():.4f}, difference "
            f"{g.ari_ours.mean() - g.ari_sklearn.mean():+.4f}"
        )
        if "ari_stored" in g:
            same = np.isclose(g.ari_stored, g.ari_ours, rtol=0, atol=1e-12)
            line += f" | sweep table reproduced on {int(same.sum())}/{len(g)}"
        print(line)
    if json_path:
        Path(json_path).write_text(df.to_json(orient="records", indent=1))


if __name__ == "__main__":
    sys.exit(main())
