"""Drawing the random subsets of the protocol (the ``subsets`` stage stores them).

Subset ``i`` of a dataset comes from its own keyed stream ``seeds.rng(seed, "subsets",
dataset, i)``: another dataset never changes these subsets, and raising ``n_subsets`` keeps
the first ones.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from facecluster import seeds
from facecluster.sweep import SweepError


def subset_seed_key(seed: int, dataset: str) -> tuple[int, str, str]:
    """The seed key of a dataset's subsets: ``(seed, "subsets", dataset)``."""
    return (int(seed), "subsets", str(dataset))


def subset_size(n: int, fraction: float) -> int:
    """``int(fraction * n)`` as the report computes it (at least 1)."""
    if not 0.0 < fraction <= 1.0:
        raise SweepError(f"fraction must be in (0, 1], got {fraction}")
    return max(1, int(math.floor(fraction * n + 1e-9)))


def draw_subsets(
    n: int,
    *,
    n_subsets: int,
    fraction: float,
    replace: bool = False,
    seed_key: Sequence[Any],
) -> np.ndarray:
    """Draw ``n_subsets`` index sets of ``int(fraction * n)`` rows each.

    Parameters
    ----------
    n : int
        Number of rows (faces) to draw from.
    n_subsets : int
        Number of subsets.
    fraction : float
        Subset size as a fraction of ``n``, in (0, 1].
    replace : bool
        False (default): each subset holds distinct rows.  True: rows drawn independently
        with replacement, like the Castiel report's ``np.random.choice(N, int(0.8 * N))``
        (about 31 % of an 80 % "subset" are then repeats).
    seed_key : sequence
        ``(root_seed, *key)``, e.g. :func:`subset_seed_key` ``(seed, dataset)``.  Subset ``i``
        comes from the stream ``seeds.rng(root_seed, *key, i)``.

    Returns
    -------
    ndarray of shape (n_subsets, m), int64
        Row indices, each subset sorted ascending.
    """
    if n < 1:
        raise SweepError(f"cannot draw subsets of {n} rows")
    if n_subsets < 1:
        raise SweepError(f"n_subsets must be >= 1, got {n_subsets}")
    if not seed_key:
        raise SweepError("seed_key must start with the root seed")
    m = subset_size(n, fraction)
    root, *key = seed_key
    out = np.empty((n_subsets, m), dtype=np.int64)
    for i in range(n_subsets):
        gen = seeds.rng(int(root), *key, i)
        out[i] = np.sort(gen.choice(n, size=m, replace=bool(replace)))
    return out


def labels_digest(labels: np.ndarray) -> str:
    """A digest of row labels (ints or strings), to tie subsets to the rows they index."""
    h = hashlib.blake2b(digest_size=16)
    for value in np.asarray(labels).tolist():
        h.update(str(value).encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()


def encode_labels(labels: np.ndarray) -> np.ndarray:
    """Integer codes 0..K-1 of any label array (ints or strings), in sorted label order."""
    return np.unique(np.asarray(labels), return_inverse=True)[1].astype(np.int64).ravel()
