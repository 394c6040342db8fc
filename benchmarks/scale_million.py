"""Rank-order clustering of LFW among a million simulated faces: time, memory, recall, growth.

Loads every face of the otto protocol's dataset for one model (lfw-all,
:func:`facecluster.stages.otto.all_faces`), fits the scale stage's identity model and, for
each ``--sizes`` N, clusters LFW + N simulated distractors with rank-order at the all-LFW
protocol's best setting (the otto stage's outputs): the approximate search (HNSW + NN-descent
refinement, ``scale.search`` of params.yaml) and the clustering timed apart, the peak
resident memory, the lists' recall@k on ``scale.search.recall_queries`` random faces against
exact search, and pairwise F1 on LFW's faces.  At the smallest N the exact (quadratic)
search runs too, in the same process: the baseline.  Prints the issue's targets:

* LFW + 10⁶: search + clustering <= 15 min, peak memory <= 8 GB, recall@k >= 0.95;
* the log-log slope of total time between the two largest N (near-linear is the goal), and
  the exact search's time extrapolated (slope 2) beside the approximate one's.

Example (after ``dvc repro otto@facenet-20170512``)::

    python benchmarks/scale_million.py --model facenet-20170512 --sizes 100000,1000000
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from time import perf_counter

import numpy as np

from facecluster.cluster.rank_order import rank_order_from_lists
from facecluster.config import load_params
from facecluster.metrics import pairwise_precision_recall_f1
from facecluster.paths import ProjectPaths
from facecluster.seeds import random_state
from facecluster.stages.otto import all_faces
from facecluster.stages.scale import best_settings
from facecluster.sweep.distractors import fit_identity_model, generate_distractors
from facecluster.sweep.scale import PeakMemory, _recall, fitted_slope, search_lists

TARGET_S = 15 * 60
TARGET_GB = 8.0
TARGET_RECALL = 0.95


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="facenet-20170512")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--sizes", default="100000,1000000")
    args = ap.parse_args(argv)
    params = load_params(args.params)
    paths = ProjectPaths.from_root(Path(args.params).parent)
    dataset = params.otto.dataset or "lfw"
    X, labels, _ = all_faces(paths, dataset, args.model)
    best = best_settings(paths, args.model)["rank_order_literal"]
    k, t = int(best["k"]), float(best["threshold"])
    settings = params.scale
    key = ("scale", args.model)
    model = fit_identity_model(
        X, labels, components=settings.components, seed=random_state(params.seed, *key, "fit")
    )
    sizes = sorted(int(s) for s in args.sizes.split(","))
    print(f"{dataset} x {args.model}: {len(X):,} labelled faces; rank-order k={k} t={t:g}")
    rows = []
    for i, n_d in enumerate(sizes):
        D, _ = generate_distractors(model, n_d, params.seed, (*key, "distractors"))
        Xall = np.ascontiguousarray(np.vstack([X, D]))
        del D
        runs = [("approximate", False)] + ([("exact", True)] if i == 0 else [])
        for name, exact in runs:
            with PeakMemory() as mem:
                lists, _, rec = search_lists(Xall, k, settings, exact=exact)
                c0 = perf_counter()
                lab = rank_order_from_lists(lists, [k], [t])[(k, t)]
                cluster_s = perf_counter() - c0
            recall = 1.0 if exact else _recall(Xall, lists, n_d, params.seed, 1000)["recall"]
            f1 = pairwise_precision_recall_f1(labels, lab[: len(labels)])[2]
            total = rec["search_s"] + cluster_s
            rows.append(
                (n_d, len(Xall), name, rec["search_s"], cluster_s, total, mem.peak_bytes, recall)
            )
            print(
                f"  N={n_d:>9,} {name:11s} search {rec['search_s']:8.1f} s + clustering "
                f"{cluster_s:6.1f} s = {total:8.1f} s; peak {mem.peak_bytes / 2**30:5.2f} GB; "
                f"recall@{k} {recall:.4f}; pairwise F1 {f1:.3f}"
            )
        del Xall, lists
    approx = [r for r in rows if r[2] == "approximate"]
    exact = [r for r in rows if r[2] == "exact"]
    slope = fitted_slope(
        np.array([r[1] for r in approx[-2:]]), np.array([r[5] for r in approx[-2:]])
    )
    print(f"log-log slope of total time, N {approx[-2][0]:,} -> {approx[-1][0]:,}: {slope:.2f}")
    if exact:
        e = exact[0]
        print(
            f"at N={e[0]:,}: exact search {e[3]:.1f} s vs approximate {approx[0][3]:.1f} s "
            f"(exact / approximate = {e[3] / approx[0][3]:.2f}); exact extrapolated to {approx[-1][1]:,} faces "
            f"(slope 2): {e[3] * (approx[-1][1] / e[1]) ** 2 / 60:.0f} min vs "
            f"{approx[-1][3] / 60:.1f} min measured"
        )
    top = approx[-1]
    ok = top[5] <= TARGET_S and top[6] / 2**30 <= TARGET_GB and top[7] >= TARGET_RECALL
    print(
        f"targets at N={top[0]:,}: end to end {top[5] / 60:.1f} min (<= 15: "
        f"{'met' if top[5] <= TARGET_S else 'NOT met'}), peak {top[6] / 2**30:.2f} GB (<= 8: "
        f"{'met' if top[6] / 2**30 <= TARGET_GB else 'NOT met'}), recall {top[7]:.4f} (>= 0.95: "
        f"{'met' if top[7] >= TARGET_RECALL else 'NOT met'})"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
