"""Our K-based clusterers vs scikit-learn's on face-embedding-like data: time and ARI.

Generates data shaped like one 80% subset of LFW (>= 3 images per person) embedded by
FaceNet: 901 identities with heavy-tailed sizes (530, 280, 193, ... down to 3 images; 7,606
in all), an 80% subset drawn without replacement (N = 6,084), d = 512, L2-normalised, with
within-identity distances ~0.6-0.9 and between-identity distances ~1.2-1.4. Then, for each
method, times ours and scikit-learn's back to back in this process (the machine is shared,
so absolute times drift; the ratio is what to read) and reports ARI against the true
identities.

- kmeans: ``FastKMeans`` vs ``KMeans(n_clusters=K, n_init=10)``, same seeds; also whether the
  labels are identical.
- ward: ``WardClustering`` vs ``AgglomerativeClustering(linkage="ward")``; ARI between them.
- spectral-precision: the float32 vs float64 (default) dense eigensolver, mean ARI of the
  k-means step over the seeds (no scikit-learn run).
- spectral: ``FastSpectralClustering`` vs ``SpectralClustering(affinity="rbf", gamma=1)``.
  scikit-learn's is run once (~100 s on an idle 2-core machine). Its ARPACK embedding is
  recorded on the way (a wrapper around ``sklearn.cluster._spectral._spectral_embedding``
  that only keeps the result), so that its label assignment for further seeds can be
  replayed with ``FastKMeans`` (the same algorithm and draws as its ``k_means``; checked on
  the seed that really ran). Ours is fitted once for the time; its other seeds reuse the
  (seed-independent) embedding.

Usage::

    python benchmarks/bench_kmeans_spectral.py                     # all three, float64
    python benchmarks/bench_kmeans_spectral.py --methods kmeans --seeds 3
    python benchmarks/bench_kmeans_spectral.py --methods spectral --seeds 10
    python benchmarks/bench_kmeans_spectral.py --methods spectral-precision --seeds 20
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.cluster import AgglomerativeClustering, KMeans, SpectralClustering
from sklearn.metrics import adjusted_rand_score
from sklearn.utils import check_random_state

from facecluster.cluster.agglomerative import WardClustering
from facecluster.cluster.kmeans import FastKMeans
from facecluster.cluster.spectral import (
    FastSpectralClustering,
    rbf_affinity,
    spectral_embedding_fast,
)


def make_face_like(
    n_ids: int = 901,
    n_images: int = 7606,
    fraction: float = 0.8,
    dim: int = 512,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Unit-norm vectors clustered like face embeddings of an 80% LFW subset.

    Identity sizes follow ``3 + round(527 * rank^-a)`` with ``a`` set so that they sum to
    ``n_images`` (LFW >= 3: 530, 236, 144, ... images). Identity centres share a global
    direction and one of 8 "group" directions (between-identity distances ~1.2-1.4); samples
    are centre + isotropic noise, renormalised (within-identity distances ~0.6-0.9).

    Returns
    -------
    X : ndarray of float64, shape (int(fraction * n_images), dim)
    y : ndarray of int, identity labels ``0..K-1``
    """
    rng = np.random.default_rng(seed)
    rank = np.arange(1, n_ids + 1)
    lo, hi = 0.1, 3.0
    for _ in range(60):  # bisection on the exponent to hit n_images
        a = (lo + hi) / 2
        total = (3 + np.round(527 * rank**-a)).sum()
        lo, hi = (a, hi) if total > n_images else (lo, a)
    sizes = (3 + np.round(527 * rank**-a)).astype(int)
    labels = np.repeat(np.arange(n_ids), sizes)

    def unit(v: np.ndarray) -> np.ndarray:
        return v / np.linalg.norm(v, axis=-1, keepdims=True)

    common = unit(rng.standard_normal(dim))
    groups = unit(rng.standard_normal((8, dim)))
    group = rng.integers(8, size=n_ids)
    w_common = 0.2
    w_group = rng.uniform(0.1, 0.4, size=n_ids)[:, None]
    own = unit(rng.standard_normal((n_ids, dim)))
    centres = unit(
        np.sqrt(w_common) * common
        + np.sqrt(w_group) * groups[group]
        + np.sqrt(1 - w_common - w_group) * own
    )
    spread = rng.uniform(0.22, 0.55, size=n_ids)  # noise variance * dim, per identity
    noise = rng.standard_normal((labels.size, dim)) * np.sqrt(spread[labels] / dim)[:, None]
    X = unit(centres[labels] + noise)
    keep = np.sort(rng.choice(labels.size, size=int(fraction * labels.size), replace=False))
    _, y = np.unique(labels[keep], return_inverse=True)
    return X[keep], y


def distance_summary(X: np.ndarray, y: np.ndarray, seed: int = 0) -> dict[str, list[float]]:
    """5/50/95th percentiles of within- and between-identity distances (sampled pairs)."""
    rng = np.random.default_rng(seed)
    i, j = rng.integers(len(y), size=(2, 200_000))
    d = np.linalg.norm(X[i] - X[j], axis=1)
    same = (y[i] == y[j]) & (i != j)
    return {
        "within": np.percentile(d[same], [5, 50, 95]).round(3).tolist(),
        "between": np.percentile(d[~same], [5, 50, 95]).round(3).tolist(),
    }


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def bench_kmeans(X: np.ndarray, y: np.ndarray, k: int, seeds: list[int]) -> dict[str, Any]:
    rows = []
    for seed in seeds:
        ours, t_ours = timed(lambda s=seed: FastKMeans(n_clusters=k, random_state=s).fit(X))
        ref, t_ref = timed(lambda s=seed: KMeans(n_clusters=k, n_init=10, random_state=s).fit(X))
        row = {
            "seed": seed,
            "ours_s": t_ours,
            "sklearn_s": t_ref,
            "ratio": t_ref / t_ours,
            "ari_ours": adjusted_rand_score(y, ours.labels_),
            "ari_sklearn": adjusted_rand_score(y, ref.labels_),
            "identical_labels": bool(np.array_equal(ours.labels_, ref.labels_)),
        }
        print("kmeans", json.dumps(row), flush=True)
        rows.append(row)
    return summarise("kmeans", rows)


def bench_ward(X: np.ndarray, y: np.ndarray, k: int) -> dict[str, Any]:
    ours, t_ours = timed(lambda: WardClustering(n_clusters=k).fit(X))
    ref, t_ref = timed(lambda: AgglomerativeClustering(n_clusters=k, linkage="ward").fit(X))
    row = {
        "ours_s": t_ours,
        "sklearn_s": t_ref,
        "ratio": t_ref / t_ours,
        "ari_ours": adjusted_rand_score(y, ours.labels_),
        "ari_sklearn": adjusted_rand_score(y, ref.labels_),
        "ari_ours_vs_sklearn": adjusted_rand_score(ref.labels_, ours.labels_),
    }
    print("ward", json.dumps(row), flush=True)
    return row


def _kmeans_after_arpack_draws(embedding: np.ndarray, k: int, seed: int) -> np.ndarray:
    """The k-means step of (Fast)SpectralClustering(random_state=seed) on a given embedding."""
    rs = check_random_state(seed)
    rs.uniform(-1, 1, embedding.shape[0])  # the ARPACK start vector's draws
    return FastKMeans(n_clusters=k, n_init=10, random_state=rs).fit(embedding).labels_


def bench_spectral(
    X: np.ndarray, y: np.ndarray, k: int, seeds: list[int], run_sklearn: bool
) -> dict[str, Any]:
    first = seeds[0]
    ours, t_ours = timed(
        lambda: FastSpectralClustering(n_clusters=k, gamma=1.0, random_state=first).fit(X)
    )
    print(f"spectral ours seed={first}: {t_ours:.1f} s", flush=True)
    embedding = ours.embedding_  # seed-independent: reused for the other seeds
    ours_labels = {first: ours.labels_}
    for seed in seeds[1:]:
        ours_labels[seed] = _kmeans_after_arpack_draws(embedding, k, seed)
    assert np.array_equal(ours_labels[first], _kmeans_after_arpack_draws(embedding, k, first))
    ari_ours = [adjusted_rand_score(y, ours_labels[s]) for s in seeds]
    result: dict[str, Any] = {
        "ours_s": t_ours,
        "ari_ours_per_seed": ari_ours,
        "ari_ours_mean": float(np.mean(ari_ours)),
    }
    if run_sklearn:
        import sklearn.cluster._spectral as sk_spectral

        recorded: dict[str, np.ndarray] = {}
        original = sk_spectral._spectral_embedding

        def recording(*args: Any, **kwargs: Any) -> np.ndarray:
            out = original(*args, **kwargs)
            recorded["embedding"] = out
            return out

        sk_spectral._spectral_embedding = recording
        try:
            ref, t_ref = timed(
                lambda: SpectralClustering(
                    n_clusters=k, affinity="rbf", gamma=1.0, random_state=first
                ).fit(X)
            )
        finally:
            sk_spectral._spectral_embedding = original
        arpack = recorded["embedding"]
        replay = {s: _kmeans_after_arpack_draws(arpack, k, s) for s in seeds}
        ari_ref = [adjusted_rand_score(y, replay[s]) for s in seeds]
        result.update(
            {
                "sklearn_s": t_ref,
                "ratio": t_ref / t_ours,
                "ari_sklearn_ran": adjusted_rand_score(y, ref.labels_),
                "replay_matches_sklearn": bool(np.array_equal(replay[first], ref.labels_)),
                "ari_sklearn_per_seed_replayed": ari_ref,
                "ari_sklearn_mean_replayed": float(np.mean(ari_ref)),
                "ari_ours_vs_sklearn_same_seed": adjusted_rand_score(ref.labels_, ours.labels_),
                "mean_ari_difference": float(np.mean(ari_ours) - np.mean(ari_ref)),
            }
        )
    print("spectral", json.dumps(result), flush=True)
    return result


def bench_spectral_precision(X: np.ndarray, y: np.ndarray, k: int, seeds: list[int]) -> dict:
    """Float32 vs float64 dense eigensolver: mean ARI of the k-means step over many seeds.

    The float64 embedding equals scikit-learn's ARPACK one to ~1e-13 on small problems (see
    tests/unit/test_cluster_spectral.py); this measures what float32 costs in ARI.
    """
    affinity = rbf_affinity(X, 1.0)
    out: dict[str, Any] = {}
    for dtype in ("float32", "float64"):
        embedding, seconds = timed(lambda d=dtype: spectral_embedding_fast(affinity, k, dtype=d))
        aris = [adjusted_rand_score(y, _kmeans_after_arpack_draws(embedding, k, s)) for s in seeds]
        out[dtype] = {
            "embedding_s": seconds,
            "ari_per_seed": aris,
            "ari_mean": float(np.mean(aris)),
        }
        print(f"spectral-precision {dtype}", json.dumps(out[dtype]), flush=True)
    diffs = np.subtract(out["float32"]["ari_per_seed"], out["float64"]["ari_per_seed"])
    out["mean_ari_difference"] = float(diffs.mean())
    out["difference_std_error"] = float(diffs.std(ddof=1) / np.sqrt(diffs.size))
    print("spectral-precision summary", json.dumps(out), flush=True)
    return out


def summarise(name: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    out = {
        "ours_s_total": sum(r["ours_s"] for r in rows),
        "sklearn_s_total": sum(r["sklearn_s"] for r in rows),
        "ari_ours_mean": float(np.mean([r["ari_ours"] for r in rows])),
        "ari_sklearn_mean": float(np.mean([r["ari_sklearn"] for r in rows])),
    }
    out["ratio"] = out["sklearn_s_total"] / out["ours_s_total"]
    out["mean_ari_difference"] = out["ari_ours_mean"] - out["ari_sklearn_mean"]
    print(f"{name} summary", json.dumps(out), flush=True)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", default="kmeans,ward,spectral")
    parser.add_argument("--seeds", type=int, default=2, help="random_state 0..seeds-1")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    parser.add_argument("--data-seed", type=int, default=0)
    parser.add_argument(
        "--no-sklearn-spectral", action="store_true", help="skip scikit-learn's ~100 s run"
    )
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")

    X, y = make_face_like(seed=args.data_seed)
    X = X.astype(args.dtype)
    k = int(y.max()) + 1
    print(
        f"data: N={X.shape[0]} d={X.shape[1]} K={k} dtype={X.dtype} "
        f"largest identity={np.bincount(y).max()} distances={distance_summary(X, y)}",
        flush=True,
    )
    seeds = list(range(args.seeds))
    methods = args.methods.split(",")
    if "kmeans" in methods:
        bench_kmeans(X, y, k, seeds)
    if "ward" in methods:
        bench_ward(X, y, k)
    if "spectral-precision" in methods:
        bench_spectral_precision(X, y, k, seeds)
    if "spectral" in methods:
        bench_spectral(X, y, k, seeds, run_sklearn=not args.no_sklearn_spectral)


if __name__ == "__main__":
    main()
