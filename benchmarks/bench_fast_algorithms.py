"""Speed (and exactness) of our mean shift, DBSCAN, rank-order and chinese whispers.

Generates unit-norm face-embedding-like data (see :func:`make_face_like`), then prints, per
method, our time against scikit-learn's on the same data in the same process, the ratio,
and whether the labels are identical.

    python benchmarks/bench_fast_algorithms.py                       # everything
    python benchmarks/bench_fast_algorithms.py --methods meanshift --sklearn-cache /tmp/sk

scikit-learn's neighbour searches use OpenMP; on a busy 2-core machine its per-query
barriers make it many times slower than on an idle one, which would flatter our ratio.
``--sklearn-threads 1`` (the default) therefore runs scikit-learn single-threaded, the
conservative baseline; ``--sklearn-threads 0`` leaves it as is.  Our side runs with the
default threads, and (``--ours-one-thread``) also single-threaded.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits


def make_face_like(
    n: int = 6084,
    n_ids: int = 897,
    d: int = 512,
    seed: int = 0,
    noise: tuple[float, float] = (0.45, 0.85),
    hard_fraction: float = 0.1,
    hard_noise: float = 1.2,
    n_groups: int = 12,
    group_weight: float = 0.35,
    shared_weight: float = 0.2,
    max_size: int = 430,
):
    """Unit vectors like FaceNet embeddings of LFW people with >= 3 images (an 80% subset).

    Identity sizes are heavy-tailed (Pareto, capped like George W. Bush's 530 × 0.8);
    identity centres share a global direction and one of ``n_groups`` group directions
    (look-alike populations); each face is its centre plus isotropic noise, renormalised,
    with a per-identity noise level and a fraction of hard (profile/blurred) faces.
    Within-identity distances come out mostly 0.6-1.0, between-identity 1.1-1.4.
    """
    rng = np.random.default_rng(seed)
    w = rng.pareto(1.2, n_ids) + 1.0
    sizes = np.clip(np.floor(w / w.sum() * n), 2, max_size).astype(int)
    while sizes.sum() > n:
        sizes[np.argmax(sizes)] -= 1
    while sizes.sum() < n:
        sizes[rng.integers(n_ids)] += 1

    def unit(a):
        return a / np.linalg.norm(a, axis=-1, keepdims=True)

    g0 = unit(rng.standard_normal(d))
    groups = unit(rng.standard_normal((n_groups, d)))
    gid = rng.integers(n_groups, size=n_ids)
    centres = unit(
        np.sqrt(shared_weight) * g0
        + np.sqrt(group_weight) * groups[gid]
        + np.sqrt(1 - shared_weight - group_weight) * unit(rng.standard_normal((n_ids, d)))
    )
    labels = np.repeat(np.arange(n_ids), sizes)
    s = rng.uniform(*noise, n_ids)[labels]
    s = np.where(rng.random(n) < hard_fraction, hard_noise, s)
    x = unit(centres[labels] + rng.standard_normal((n, d)) / np.sqrt(d) * s[:, None])
    perm = rng.permutation(n)
    return x[perm], labels[perm]


def _limit(threads: int):
    return threadpool_limits(threads) if threads > 0 else contextlib.nullcontext()


def _timed(fn, *args, **kwargs):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - wall, time.process_time() - cpu


def _sklearn_runs(name, grid, fit_one, cache: Path | None, threads: int):
    """Per-grid-point scikit-learn labels, wall and cpu seconds (optionally cached on disk)."""
    path = cache / f"{name}.npz" if cache else None
    if path is not None and path.exists():
        data = np.load(path)
        print(f"  (scikit-learn results read from {path})")
        return list(data["labels"]), list(data["seconds"]), list(data["cpu"])
    labels, seconds, cpus = [], [], []
    for value in grid:
        with _limit(threads):
            out, wall, cpu = _timed(fit_one, value)
        labels.append(out)
        seconds.append(wall)
        cpus.append(cpu)
        print(f"  scikit-learn {name} {value}: {wall:.2f} s wall, {cpu:.2f} s cpu", flush=True)
        if path is not None:  # save as we go: a long run can be resumed by hand
            path.parent.mkdir(parents=True, exist_ok=True)
            np.savez(path.with_suffix(".partial.npz"), labels=np.array(labels),
                     seconds=np.array(seconds), cpu=np.array(cpus))  # fmt: skip
    if path is not None:
        np.savez(path, labels=np.array(labels), seconds=np.array(seconds), cpu=np.array(cpus))
    return labels, seconds, cpus


def _report(name, grid, ours_labels, ours_wall, ours_cpu, sk_labels, sk_seconds, sk_cpu,
            extra=""):  # fmt: skip
    same = [np.array_equal(a, b) for a, b in zip(ours_labels, sk_labels, strict=True)]
    total, total_cpu = float(np.sum(sk_seconds)), float(np.sum(sk_cpu))
    print(
        f"{name}: ours {ours_wall:.2f} s wall ({ours_cpu:.2f} s cpu) for {len(grid)} values; "
        f"scikit-learn {total:.1f} s wall ({total_cpu:.1f} s cpu); ratio {total / ours_wall:.1f}x "
        f"wall, {total_cpu / ours_cpu:.1f}x cpu; identical labels {sum(same)}/{len(same)}{extra}"
    )
    return {"ours_s": ours_wall, "ours_cpu_s": ours_cpu, "sklearn_s": total,
            "sklearn_cpu_s": total_cpu, "ratio_wall": total / ours_wall,
            "ratio_cpu": total_cpu / ours_cpu, "identical": int(sum(same)),
            "n": len(same)}  # fmt: skip


def bench_meanshift(X, args, results):
    from sklearn.cluster import MeanShift as SkMeanShift

    from facecluster.cluster.meanshift import mean_shift_grid

    grid = [round(0.1 * i, 1) for i in range(1, 13)]
    mean_shift_grid(X[:50], [0.5])  # JIT / cache load outside the timing
    ours, wall, cpu = _timed(mean_shift_grid, X, grid)
    print(f"  ours mean_shift_grid: {wall:.2f} s wall, {cpu:.2f} s cpu", flush=True)
    extra = ""
    if args.ours_one_thread:
        with threadpool_limits(1):
            _, wall1, _ = _timed(mean_shift_grid, X, grid)
        extra = f"; ours single-threaded {wall1:.2f} s"
    if args.skip_sklearn:
        return
    sk, secs, cpus = _sklearn_runs(
        "meanshift",
        grid,
        lambda b: SkMeanShift(bandwidth=b).fit(X).labels_,
        args.sklearn_cache,
        args.sklearn_threads,
    )
    results["meanshift"] = _report("meanshift", grid, ours, wall, cpu, sk, secs, cpus, extra)
    if args.ours_one_thread:
        results["meanshift"]["ours_one_thread_s"] = wall1


def bench_dbscan(X, args, results):
    from sklearn.cluster import DBSCAN

    from facecluster.cluster.dbscan import dbscan_grid

    grid = [round(0.1 * i, 1) for i in range(1, 13)]
    dbscan_grid(X[:50], [0.5])
    ours, wall, cpu = _timed(dbscan_grid, X, grid)
    print(f"  ours dbscan_grid: {wall:.2f} s wall, {cpu:.2f} s cpu", flush=True)
    if args.skip_sklearn:
        return
    sk, secs, cpus = _sklearn_runs(
        "dbscan",
        grid,
        lambda e: DBSCAN(eps=e, min_samples=1).fit(X).labels_,
        args.sklearn_cache,
        args.sklearn_threads,
    )
    results["dbscan"] = _report("dbscan", grid, ours, wall, cpu, sk, secs, cpus)


def bench_rank_order(args, results):
    from facecluster.cluster.rank_order import rank_order_grid

    X, _ = make_face_like(n=13233, n_ids=5749, max_size=530, seed=args.seed)
    X = X.astype(np.float32)
    _, cold, _ = _timed(rank_order_grid, X[:300], [20], [1.6])
    _, wall, cpu = _timed(rank_order_grid, X, [200], [1.6])
    print(
        f"rank_order: 13,233 x 512, k=200: {wall:.2f} s wall, {cpu:.2f} s cpu "
        f"(target <= 5 s); first call on 300 points incl. JIT/cache load {cold:.2f} s"
    )
    _, wall_grid, _ = _timed(rank_order_grid, X, [20, 50, 100, 200], [0.6, 1.0, 1.4, 1.6, 2.0])
    print(f"  rank_order_grid k in (20, 50, 100, 200) x 5 thresholds: {wall_grid:.2f} s")
    results["rank_order"] = {"k200_s": wall, "cpu_s": cpu, "first_call_s": cold,
                             "grid_s": wall_grid}  # fmt: skip


def bench_chinese_whispers(X, args, results):
    from facecluster.cluster.chinese_whispers import chinese_whispers_grid

    grid = [0.4, 0.5, 0.6, 0.7, 0.8]
    chinese_whispers_grid(X[:50], [0.5], random_state=0)
    _, wall, cpu = _timed(chinese_whispers_grid, X, grid, random_state=0)
    print(f"chinese_whispers: grid of {len(grid)} thresholds: {wall:.2f} s wall, {cpu:.2f} s cpu")
    results["chinese_whispers"] = {"grid_s": wall, "cpu_s": cpu}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="meanshift,dbscan,rank_order,chinese_whispers")
    parser.add_argument("--n", type=int, default=6084)
    parser.add_argument("--ids", type=int, default=897)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sklearn-threads", type=int, default=1)
    parser.add_argument("--sklearn-cache", type=Path, default=None)
    parser.add_argument("--skip-sklearn", action="store_true")
    parser.add_argument("--ours-one-thread", action="store_true")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args(argv)
    methods = args.methods.split(",")
    X, _ = make_face_like(n=args.n, n_ids=args.ids, seed=args.seed)
    print(f"data: {X.shape}, {args.ids} identities, seed {args.seed}; load {os.getloadavg()}")
    results: dict = {}
    if "meanshift" in methods:
        bench_meanshift(X, args, results)
    if "dbscan" in methods:
        bench_dbscan(X, args, results)
    if "rank_order" in methods:
        bench_rank_order(args, results)
    if "chinese_whispers" in methods:
        bench_chinese_whispers(X, args, results)
    print(f"load at the end {os.getloadavg()}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
