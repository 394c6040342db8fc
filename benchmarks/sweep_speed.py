"""Speed of the sweep's clustering methods against scikit-learn, and the projected protocol time.

For one 80 % subset of an embeddings file (or of generated face-like data) this prints, per
method, the time of our implementation through the registry (the whole default grid, as the
sweep runs it) and of scikit-learn's estimator on the same subset in the same process, with
their ratio and both ARIs against the true identities:

* kmeans: ``FastKMeans(n_init=10)`` vs ``sklearn.cluster.KMeans(n_init=10)``
* spectral: ``FastSpectralClustering`` vs ``SpectralClustering(affinity="rbf", gamma=1)``
* agglomerative: ``WardClustering`` vs ``AgglomerativeClustering(linkage="ward")``
* dbscan: the whole eps grid vs ``DBSCAN(eps, min_samples=1)`` once per eps
* meanshift: the whole bandwidth grid vs ``MeanShift(bandwidth)`` once per bandwidth
  (``--sklearn-meanshift-bandwidths`` runs scikit-learn on some bandwidths only and
  extrapolates the others, saying so)
* rank_order: no scikit-learn counterpart; absolute time on *all* points with k = 200 (the
  issue's target: <= 5 s on the 13,233 LFW faces) and of the whole grid on the subset
* chinese_whispers: absolute time of the whole threshold grid

and the projected time of the full protocol: ``n_subsets × (per-subset time of every grid,
fits and scoring) / workers``.

Examples::

    python benchmarks/sweep_speed.py --synthetic --skip-sklearn spectral,meanshift
    python benchmarks/sweep_speed.py data/embeddings/lfw-facenet.npz \
        --sklearn-meanshift-bandwidths 0.5,0.8

The scikit-learn baselines of spectral clustering and mean-shift take minutes at this size.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import adjusted_rand_score

from facecluster.cluster.registry import ALGORITHMS
from facecluster.metrics import evaluate
from facecluster.stages.embed import read_embeddings
from facecluster.sweep.subsets import draw_subsets

METHODS = list(ALGORITHMS)
SKLEARN_METHODS = ["kmeans", "spectral", "agglomerative", "dbscan", "meanshift"]


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------
def synthetic_faces(
    n: int = 7606, k: int = 901, d: int = 512, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Face-like unit vectors: ``k`` identities with heavy-tailed sizes (>= 3, max ~530).

    Identity centres share a common direction (pairwise centre cosine ~0.2); each face is
    its centre plus isotropic noise of a per-identity scale, normalised.  Euclidean
    distances: within an identity ~0.6-0.9, between identities ~1.2-1.4 (like FaceNet on
    LFW).
    """
    rng = np.random.default_rng(seed)
    if n < 3 * k:
        raise ValueError(f"need n >= 3k faces, got n={n}, k={k}")
    weights = rng.pareto(1.1, k) + 1e-3
    sizes = 3 + rng.multinomial(n - 3 * k, weights / weights.sum())
    while sizes.max() > 530:  # cap like LFW's largest identity, spread the surplus
        surplus = int(np.maximum(sizes - 530, 0).sum())
        sizes = np.minimum(sizes, 530)
        free = sizes < 530
        sizes[free] += rng.multinomial(surplus, weights[free] / weights[free].sum())
    common = rng.standard_normal(d)
    common /= np.linalg.norm(common)
    own = rng.standard_normal((k, d))
    own /= np.linalg.norm(own, axis=1, keepdims=True)
    centres = 0.47 * common + 0.88 * own
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    labels = np.repeat(np.arange(k), sizes)
    sigma = rng.uniform(0.45, 0.8, k)[labels]
    noise = rng.standard_normal((n, d)) / np.sqrt(d)
    X = centres[labels] + sigma[:, None] * noise
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    order = rng.permutation(n)
    return X[order].astype(np.float32), labels[order]


def distance_summary(X: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> str:
    idx = rng.choice(len(X), size=min(len(X), 2000), replace=False)
    Xs, ys = X[idx].astype(np.float64), y[idx]
    sq = np.maximum(2.0 - 2.0 * Xs @ Xs.T, 0.0)
    dist = np.sqrt(sq)
    same = ys[:, None] == ys[None, :]
    np.fill_diagonal(same, False)
    other = ys[:, None] != ys[None, :]
    w, b = dist[same], dist[other]
    return (
        f"within-identity distance p5/p50/p95 {np.percentile(w, 5):.2f}/{np.median(w):.2f}/"
        f"{np.percentile(w, 95):.2f}; between p5/p50/p95 {np.percentile(b, 5):.2f}/"
        f"{np.median(b):.2f}/{np.percentile(b, 95):.2f}"
    )


# --------------------------------------------------------------------------------------------
# timing
# --------------------------------------------------------------------------------------------
CPU: dict[str, float] = {}  # CPU seconds of the last timed() call (all threads)


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """``(fn(), wall seconds)``; the CPU seconds of the process go to ``CPU["last"]``."""
    c0, t0 = time.process_time(), time.perf_counter()
    out = fn()
    wall = time.perf_counter() - t0
    CPU["last"] = time.process_time() - c0
    return out, wall


def ours(method: str, X: np.ndarray, K: int, grid: dict | None, seed: int) -> dict[str, Any]:
    """Run a method's whole grid through the registry (as one sweep task does)."""
    spec = ALGORITHMS[method]
    points = spec.grid_points(grid)
    (labels, seconds), total = timed(
        lambda: spec.run_grid_timed(
            X, points, n_clusters=K if spec.needs_k else None, random_state=seed
        )
    )
    return {"points": points, "labels": labels, "seconds": seconds, "total": total,
            "cpu": CPU["last"]}  # fmt: skip


def sklearn_estimator(method: str, point: dict, K: int, seed: int) -> Any:
    """scikit-learn's estimator for one grid point of ``method``: the baseline of ours."""
    from sklearn import cluster as skc

    if method == "kmeans":
        return skc.KMeans(n_clusters=K, n_init=point["n_init"], random_state=seed)
    if method == "spectral":
        return skc.SpectralClustering(
            n_clusters=K, affinity="rbf", gamma=point["gamma"], n_init=point["n_init"],
            assign_labels="kmeans", random_state=seed,
        )  # fmt: skip
    if method == "agglomerative":
        return skc.AgglomerativeClustering(n_clusters=K, linkage="ward")
    if method == "dbscan":
        return skc.DBSCAN(eps=point["eps"], min_samples=point["min_samples"])
    if method == "meanshift":
        return skc.MeanShift(bandwidth=point["bandwidth"])
    raise ValueError(f"no scikit-learn counterpart for {method!r}")


def sklearn_runs(
    method: str,
    X: np.ndarray,
    K: int,
    points: list[dict],
    seed: int,
    only: list[float] | None,
    kmeans_n_init: int | None = None,
) -> list[tuple[dict, np.ndarray | None, float | None]]:
    """scikit-learn on each grid point (``None`` times for points not run)."""
    out = []
    CPU["sklearn"] = 0.0
    for p in points:
        if method == "meanshift" and only is not None:
            if not any(abs(p["bandwidth"] - b) < 1e-9 for b in only):
                out.append((p, None, None))
                continue
        est = sklearn_estimator(method, p, K, seed)
        if method == "kmeans":
            est.set_params(n_init=min(kmeans_n_init or p["n_init"], p["n_init"]))
        labels, sec = timed(lambda est=est: est.fit_predict(X))
        if method == "kmeans" and est.n_init < p["n_init"]:
            scale = p["n_init"] / est.n_init
            print(f"    sklearn kmeans n_init={est.n_init}: {sec:.2f} s (CPU {CPU['last']:.1f} s); "
                  f"EXTRAPOLATED × {scale:g} to n_init={p['n_init']} (restarts cost alike)")  # fmt: skip
            sec, CPU["last"] = sec * scale, CPU["last"] * scale
        CPU["sklearn"] += CPU["last"]
        print(f"    sklearn {method} {json.dumps(p)}: {sec:.2f} s (CPU {CPU['last']:.1f} s)",
              flush=True)  # fmt: skip
        out.append((p, labels, sec))
    return out


def extrapolate_meanshift(runs: list[tuple[dict, Any, float | None]]) -> tuple[float, list[str]]:
    """A lower estimate of scikit-learn's time on the bandwidths it did not run.

    scikit-learn's mean-shift time grows with the bandwidth (more neighbours per step), so
    an unmeasured bandwidth is given the time of the nearest measured bandwidth below it,
    and one below every measured bandwidth is counted as 0 s.  The total, and the speed-up
    computed from it, are therefore lower bounds.
    """
    measured = sorted((p["bandwidth"], s) for p, _, s in runs if s is not None)
    total, notes = 0.0, []
    for p, _, s in runs:
        if s is not None:
            total += s
            continue
        below = [t for b, t in measured if b <= p["bandwidth"]]
        est = below[-1] if below else 0.0
        total += est
        notes.append(f"{p['bandwidth']}: " + (f"~{est:.1f} s" if below else "not counted"))
    return total, notes


def fmt_s(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds:.2f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


# --------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("embeddings", nargs="?", help="embeddings .npz (embeddings, labels)")
    src.add_argument("--synthetic", action="store_true", help="generated face-like data")
    parser.add_argument("--synthetic-n", type=int, default=7606, help="faces (default 7606)")
    parser.add_argument("--synthetic-k", type=int, default=901, help="identities (default 901)")
    parser.add_argument("--fraction", type=float, default=0.8, help="subset fraction (0.8)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--methods", default=",".join(METHODS), help="comma list (default all)")
    parser.add_argument("--skip-sklearn", default="", help="comma list of baselines to skip")
    parser.add_argument(
        "--sklearn-meanshift-bandwidths",
        default=None,
        help="run sklearn MeanShift on these bandwidths only and extrapolate the rest",
    )
    parser.add_argument(
        "--sklearn-kmeans-n-init",
        type=int,
        default=None,
        help="run sklearn KMeans with this n_init and scale its time to the grid's n_init",
    )
    parser.add_argument("--params", default=None, help="take the grids from this params.yaml")
    parser.add_argument("--n-subsets", type=int, default=30, help="for the projection (30)")
    parser.add_argument("--workers", type=int, default=2, help="for the projection (2)")
    parser.add_argument(
        "--threads", type=int, default=None, help="limit BLAS/OpenMP threads (threadpoolctl)"
    )
    parser.add_argument("--json", default=None, help="also write the measurements here")
    args = parser.parse_args(argv)

    methods = [m for m in args.methods.split(",") if m]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        parser.error(f"unknown method(s) {unknown}; choose from {METHODS}")
    skip = {m for m in args.skip_sklearn.split(",") if m}
    ms_only = (
        [float(b) for b in args.sklearn_meanshift_bandwidths.split(",")]
        if args.sklearn_meanshift_bandwidths
        else None
    )
    grids: dict[str, Any] = {}
    if args.params:
        from facecluster.config import load_params

        grids = {
            k: v.model_dump() for k, v in load_params(args.params).sweep.method_grids().items()
        }

    if args.threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=args.threads)

    rng = np.random.default_rng(args.seed)
    if args.synthetic:
        X_all, y_all = synthetic_faces(args.synthetic_n, args.synthetic_k, seed=args.seed)
        source = f"synthetic face-like data (seed {args.seed})"
    else:
        emb = read_embeddings(args.embeddings)
        X_all, labels = emb.X, emb.labels
        y_all = np.unique(labels, return_inverse=True)[1].ravel()
        source = args.embeddings
    (idx,) = draw_subsets(
        len(X_all), n_subsets=1, fraction=args.fraction, seed_key=(args.seed, "benchmark")
    )
    X, y = X_all[idx], y_all[idx]
    K = int(np.unique(y).size)
    print(f"input: {source}: N = {len(X_all)}, d = {X_all.shape[1]}, "
          f"{np.unique(y_all).size} identities")  # fmt: skip
    print(f"subset: {len(X)} faces ({args.fraction:.0%}), K = {K}; "
          + distance_summary(X, y, rng))  # fmt: skip
    print(f"threads: {args.threads or 'library default'} on {os.cpu_count()} CPUs; load average "
          f"{os.getloadavg()[0]:.1f} (other processes compete when it exceeds the CPUs); "
          f"python {sys.version.split()[0]}")  # fmt: skip
    print(flush=True)

    results: dict[str, dict[str, Any]] = {}
    per_subset = 0.0
    per_subset_sklearn = 0.0
    sklearn_complete = True
    for method in methods:
        print(f"== {method}", flush=True)
        mine = ours(method, X, K, grids.get(method), args.seed)
        _, eval_s = timed(lambda mine=mine: [evaluate(y, lab) for lab in mine["labels"]])
        aris = [adjusted_rand_score(y, lab) for lab in mine["labels"]]
        best = int(np.argmax(aris))
        row: dict[str, Any] = {
            "points": len(mine["points"]),
            "ours_s": mine["total"],
            "scoring_s": eval_s,
            "ours_best_ari": aris[best],
            "ours_best_point": mine["points"][best],
        }
        per_subset += mine["total"] + eval_s
        row["ours_cpu_s"] = mine["cpu"]
        print(f"  ours: {len(mine['points'])} grid point(s) in {fmt_s(mine['total'])} "
              f"(CPU {mine['cpu']:.1f} s) "
              f"(+ scoring {eval_s:.2f} s); best ARI {aris[best]:.4f} at "
              f"{json.dumps(mine['points'][best])}", flush=True)  # fmt: skip
        if method == "rank_order":
            ks = [p["k"] for p in mine["points"]]
            kmax = 200 if 200 in ks else max(ks)
            point = next(p for p in mine["points"] if p["k"] == kmax)
            _, all_s = timed(lambda p=point: ALGORITHMS["rank_order"].run_grid(X_all, [p]))
            row["all_points_s"] = all_s
            row["all_points_n"] = len(X_all)
            print(f"  ours on all {len(X_all)} faces, k = {kmax} (one threshold): {all_s:.2f} s "
                  f"(target <= 5 s on LFW's 13,233 faces)", flush=True)  # fmt: skip
        if method in SKLEARN_METHODS and method not in skip:
            runs = sklearn_runs(
                method, X, K, mine["points"], args.seed, ms_only, args.sklearn_kmeans_n_init
            )
            note = ""
            if method == "kmeans" and args.sklearn_kmeans_n_init:
                note = (f" (EXTRAPOLATED from n_init={args.sklearn_kmeans_n_init}; its ARI is "
                        "that of the shorter run)")  # fmt: skip
                row["sklearn_extrapolated"] = True
            if any(s is None for _, _, s in runs):
                sk_total, notes = extrapolate_meanshift(runs)
                note = (" (EXTRAPOLATED lower bound: a bandwidth not run takes the time of the "
                        "nearest measured bandwidth below it, or 0 s below all of them: "
                        + ", ".join(notes) + ")")  # fmt: skip
                row["sklearn_extrapolated"] = True
            else:
                sk_total = sum(s for _, _, s in runs)
            sk_aris = [adjusted_rand_score(y, lab) if lab is not None else None
                       for _, lab, _ in runs]  # fmt: skip
            same = [
                bool(np.array_equal(lab, mine_lab))
                if method in ("dbscan", "meanshift") and lab is not None
                else None
                for (_, lab, _), mine_lab in zip(runs, mine["labels"], strict=True)
            ]
            measured_ours = sum(
                s for (_, _, sk), s in zip(runs, mine["seconds"], strict=True) if sk is not None
            )
            measured_sk = sum(s for _, _, s in runs if s is not None)
            row.update(sklearn_s=sk_total, ratio=sk_total / mine["total"],
                       sklearn_aris=sk_aris, identical_labels=same)  # fmt: skip
            per_subset_sklearn += sk_total + eval_s
            print(f"  sklearn: {fmt_s(sk_total)} (CPU {CPU['sklearn']:.1f} s){note}")
            print(f"  ratio sklearn / ours (wall): {sk_total / mine['total']:.1f}x"
                  + (f" (on the bandwidths both ran: {measured_sk / measured_ours:.1f}x)"
                     if method == "meanshift" and note else ""))  # fmt: skip
            if not (method == "meanshift" and note):
                row["cpu_ratio"] = CPU["sklearn"] / max(mine["cpu"], 1e-9)
                print(f"  CPU-time ratio sklearn / ours: {row['cpu_ratio']:.1f}x")
            if method in ("kmeans", "spectral", "agglomerative"):
                print(f"  ARI ours {aris[0]:.4f} vs sklearn {sk_aris[0]:.4f}")
            if method in ("dbscan", "meanshift"):
                checked = [s for s in same if s is not None]
                print(f"  labels identical to sklearn on {sum(checked)}/{len(checked)} point(s)")
        else:
            if method in SKLEARN_METHODS:
                sklearn_complete = False
                print("  sklearn: skipped")
            per_subset_sklearn += mine["total"] + eval_s  # no counterpart: count ours
        results[method] = row
        print(flush=True)

    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    hours = args.n_subsets * per_subset / args.workers
    print("== projected full protocol (every method and grid point above)")
    print(f"  ours: {args.n_subsets} subsets × {fmt_s(per_subset)} / {args.workers} workers "
          f"= {fmt_s(hours)} (target <= 45 min)")  # fmt: skip
    sk_hours = args.n_subsets * per_subset_sklearn / args.workers
    print(f"  with scikit-learn's estimators where they exist"
          f"{'' if sklearn_complete else ' (skipped baselines counted at our time)'}: "
          f"{fmt_s(sk_hours)}")  # fmt: skip
    print("  (assumes the workers scale linearly; measure with --threads 1 for the per-worker "
          "time of single-threaded workers)")  # fmt: skip
    if args.json:
        payload = {
            "source": source, "n": len(X_all), "subset_n": len(X), "K": K,
            "threads": args.threads, "methods": results,
            "per_subset_s": per_subset, "projected_s": hours, "projected_sklearn_s": sk_hours,
        }  # fmt: skip
        Path(args.json).write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
