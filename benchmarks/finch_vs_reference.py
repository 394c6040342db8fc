"""The study's FINCH against the author's package ``finch-clust``: same partitions? how fast?

    python benchmarks/finch_vs_reference.py --embeddings data/embeddings/lfw-facenet.npz \
        [--reference DIR] [--subsets 5] [--fraction 0.8]

``finch-clust`` is not a dependency of the study.  Get its wheel without installing it
(``pip download --no-deps finch-clust==0.2.3 -d /tmp/finch && cd /tmp/finch && unzip *.whl``)
and pass the unpacked folder as ``--reference`` (or have ``finch`` importable).  On random
``--fraction`` subsets of the embeddings file (the sweep's subset size), prints for every
subset whether every level of the two hierarchies is the same partition, the cluster counts,
and the run time of each with their ratio.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np

from facecluster.cluster.finch import finch_partitions
from facecluster.stages.embed import read_embeddings


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two label arrays group the points identically (label names aside)."""
    pairs = np.unique(np.stack([a, b]), axis=1)
    return len(pairs[0]) == len(np.unique(a)) == len(np.unique(b))


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--embeddings", required=True)
    ap.add_argument("--reference", default=None, help="folder holding finch-clust's `finch`")
    ap.add_argument("--subsets", type=int, default=5)
    ap.add_argument("--fraction", type=float, default=0.8)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.reference:
        sys.path.insert(0, args.reference)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pynndescent missing: exact path only, fine here
            from finch import FINCH
    except ImportError:
        raise SystemExit("finch-clust not importable: see this script's docstring") from None

    X = read_embeddings(args.embeddings).X
    rng = np.random.default_rng(args.seed)
    ours_t = theirs_t = 0.0
    all_same = True
    for s in range(args.subsets):
        idx = np.sort(rng.choice(len(X), int(args.fraction * len(X)), replace=False))
        Xs = np.ascontiguousarray(X[idx])
        t0 = time.perf_counter()
        ours = finch_partitions(Xs)
        t1 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            c, num_clust, _ = FINCH(Xs, verbose=False)
        t2 = time.perf_counter()
        ours_t, theirs_t = ours_t + t1 - t0, theirs_t + t2 - t1
        c = c.reshape(len(Xs), -1)
        same = len(ours) == c.shape[1] and all(
            same_partition(o, c[:, j]) for j, o in enumerate(ours)
        )
        all_same &= same
        counts = [int(o.max()) + 1 for o in ours]
        print(
            f"subset {s}: n={len(Xs)} levels ours {counts} finch-clust {list(num_clust)} "
            f"same partitions: {same}  ({t1 - t0:.2f} s vs {t2 - t1:.2f} s)"
        )
    print(
        f"\nall levels identical on {args.subsets} subsets: {all_same}; time ours {ours_t:.2f} s, "
        f"finch-clust {theirs_t:.2f} s, speed-up {theirs_t / max(ours_t, 1e-9):.1f}x"
    )


if __name__ == "__main__":
    main()
