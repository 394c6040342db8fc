"""HDBSCAN (Campello, Moulavi, Sander 2013) as scikit-learn runs it, over a whole grid at once.

``sklearn.cluster.HDBSCAN(min_cluster_size, min_samples, algorithm="brute")`` computes the
euclidean distance matrix, the mutual-reachability distances ``max(core_i, core_j, d_ij)``
(``core`` = distance to the ``min_samples``-th nearest point, the point itself counted), a
minimum spanning tree of them, the single-linkage tree, and then extracts the flat clusters
of the condensed tree for ``min_cluster_size`` (excess of mass).  Only the last step depends
on ``min_cluster_size``; only the last two on ``min_samples``' tree.  :func:`hdbscan_grid`
therefore computes the distance matrix once per subset and the tree once per
``min_samples``, and extracts every ``min_cluster_size`` from it, by calling the same
scikit-learn routines ``HDBSCAN.fit`` calls: the labels are those of the estimator
(``tests/unit/test_cluster_hdbscan.py`` checks them point for point).  Those routines are
private to scikit-learn (pinned in requirements.txt); should an upgrade move them, the
grid falls back to one public ``HDBSCAN`` fit per point, with a warning.

Why ``algorithm="brute"``
    Mutual-reachability distances tie often (every pair within a core distance gets that
    core distance), so the spanning tree is not unique and the tree-based default
    (``algorithm="auto"``, a k-d tree for euclidean) can pick another one: on an LFW subset
    (6,084 faces, 128-d) at ``min_samples=5, min_cluster_size=2`` its labels have ARI 0.967
    against brute force's, identical below ``min_samples=5``.  Brute force is also 10-20×
    faster at 128-512 dimensions.

Noise is ``-1`` (the sweep makes each noise point a singleton and records the fraction).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence

import numpy as np

from facecluster.cluster._validation import (
    INT_AT_LEAST_2,
    POSITIVE_INT,
    ConstraintError,
    check_param,
    check_X,
)

__all__ = ["hdbscan_grid"]

logger = logging.getLogger(__name__)


def _reference_labels(X: np.ndarray, min_cluster_size: int, min_samples: int) -> np.ndarray:
    """One public ``HDBSCAN(algorithm="brute")`` fit: what :func:`hdbscan_grid` reproduces."""
    from sklearn.cluster import HDBSCAN

    est = HDBSCAN(
        min_cluster_size=min_cluster_size, min_samples=min_samples, algorithm="brute", copy=True
    )
    return est.fit_predict(X).astype(np.int64)


def hdbscan_grid(X, settings: Sequence[tuple[int, int]]) -> list[np.ndarray]:
    """HDBSCAN labels for each ``(min_cluster_size, min_samples)``, sharing the work.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        At least two points (euclidean; L2-normalised face embeddings).
    settings : sequence of (int, int)
        ``min_cluster_size >= 2`` and ``1 <= min_samples <= n_samples`` per point.

    Returns
    -------
    list of ndarray
        ``labels[i] == HDBSCAN(min_cluster_size=settings[i][0], min_samples=settings[i][1],
        algorithm="brute").fit_predict(X)``; ``-1`` is noise.
    """
    owner = "hdbscan_grid"
    checked = [
        (
            check_param(owner, f"settings[{i}].min_cluster_size", mcs, [INT_AT_LEAST_2]),
            check_param(owner, f"settings[{i}].min_samples", ms, [POSITIVE_INT]),
        )
        for i, (mcs, ms) in enumerate(settings)
    ]
    X = np.asarray(check_X(X, owner=owner, min_samples=2), dtype=np.float64)
    n = X.shape[0]
    for _, ms in checked:
        if ms > n:
            raise ConstraintError(owner, "min_samples", f"at most n_samples={n}", ms)
    if not checked:
        return []
    try:
        from sklearn.cluster._hdbscan._reachability import mutual_reachability_graph
        from sklearn.cluster._hdbscan._tree import tree_to_labels
        from sklearn.cluster._hdbscan.hdbscan import _brute_mst, _process_mst
    except ImportError as exc:  # pragma: no cover - depends on the scikit-learn release
        warnings.warn(
            f"scikit-learn's HDBSCAN internals moved ({exc}); fitting HDBSCAN once per grid "
            "point instead (same labels, slower)",
            RuntimeWarning,
            stacklevel=2,
        )
        return [_reference_labels(X, mcs, ms) for mcs, ms in checked]

    from sklearn.metrics import pairwise_distances

    distances = pairwise_distances(X, metric="euclidean")  # what HDBSCAN.fit computes
    trees = {}
    out = []
    for mcs, ms in checked:
        if ms not in trees:
            reach = mutual_reachability_graph(distances.copy(), min_samples=ms)
            trees[ms] = _process_mst(_brute_mst(reach, min_samples=ms))
        labels, _ = tree_to_labels(trees[ms], mcs, "eom", False, 0.0, None)
        out.append(np.asarray(labels, dtype=np.int64))
    logger.debug("hdbscan: %d points from %d tree(s), n=%d", len(out), len(trees), n)
    return out
