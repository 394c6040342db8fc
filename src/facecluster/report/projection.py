"""Embedding maps (UMAP, t-SNE) and same/different-identity distance histograms."""

from __future__ import annotations

import logging

import numpy as np
from matplotlib.figure import Figure

from facecluster.report.inline import save_png
from facecluster.seeds import rng as keyed_rng

log = logging.getLogger(__name__)


def subsample(labels: np.ndarray, max_points: int, seed: int, *key: object) -> np.ndarray:
    """Indices of at most ``max_points`` points, whole identities at a time (largest first)."""
    n = len(labels)
    if n <= max_points:
        return np.arange(n)
    ids, counts = np.unique(labels, return_counts=True)
    gen = keyed_rng(seed, "map", *key)
    order = np.lexsort((gen.random(len(ids)), -counts))
    keep, total = [], 0
    for i in order:
        if total + counts[i] > max_points:
            continue
        keep.append(ids[i])
        total += counts[i]
    return np.flatnonzero(np.isin(labels, keep))


def project(
    x: np.ndarray, method: str, *, seed: int, n_neighbors: int = 15, perplexity: float = 30.0
) -> np.ndarray:
    """2-D coordinates by ``umap`` or ``tsne`` (euclidean on the L2-normalised vectors)."""
    if len(x) < 5:
        return np.zeros((len(x), 2))
    if method == "umap":
        import umap

        reducer = umap.UMAP(n_neighbors=min(n_neighbors, len(x) - 1), random_state=seed, n_jobs=1)
        return reducer.fit_transform(x)
    if method == "tsne":
        from sklearn.manifold import TSNE

        return TSNE(
            n_components=2,
            perplexity=min(perplexity, (len(x) - 1) / 3),
            init="pca",
            random_state=seed,
        ).fit_transform(x)
    raise ValueError(f"unknown projection {method!r}")


def map_figure(
    coords: np.ndarray, labels: np.ndarray, *, title: str, n_colored: int = 20
) -> Figure:
    """Scatter coloured by identity: the ``n_colored`` largest identities in colour, others grey."""
    fig = Figure(figsize=(6.5, 6), layout="constrained")
    ax = fig.subplots()
    ids, counts = np.unique(labels, return_counts=True)
    top = ids[np.argsort(-counts, kind="stable")[:n_colored]]
    rest = ~np.isin(labels, top)
    ax.scatter(coords[rest, 0], coords[rest, 1], s=3, c="#c8c8c8", linewidths=0, label="other")
    cmap = __import__("matplotlib").colormaps["tab20"]
    for i, ident in enumerate(top):
        sel = labels == ident
        ax.scatter(
            coords[sel, 0],
            coords[sel, 1],
            s=6,
            color=cmap(i % 20),
            linewidths=0,
            label=str(ident)[:18],
        )
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    if len(top) <= 20:
        ax.legend(
            fontsize=9, markerscale=2, loc="center left", bbox_to_anchor=(1, 0.5), frameon=False
        )
    return fig


def pair_distance_samples(
    x: np.ndarray, labels: np.ndarray, *, n_pairs: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Euclidean distances of random same-identity and different-identity pairs."""
    gen = keyed_rng(seed, "pairs")
    n = len(labels)
    i, j = gen.integers(0, n, size=(2, n_pairs * 4))
    keep = i != j
    i, j = i[keep], j[keep]
    same = labels[i] == labels[j]
    d = np.linalg.norm(x[i] - x[j], axis=1)
    diff = d[~same][:n_pairs]
    # same-identity pairs are rare among random pairs: draw them within identities
    _, inv, counts = np.unique(labels, return_inverse=True, return_counts=True)
    multi = np.flatnonzero(counts[inv] > 1)
    s_pairs = []
    if len(multi):
        groups = {}
        for k in multi:
            groups.setdefault(inv[k], []).append(k)
        members = list(groups.values())
        sizes = np.array([len(m) for m in members], float)
        # pairs per identity proportional to its number of pairs
        w = sizes * (sizes - 1)
        picks = gen.choice(len(members), size=n_pairs, p=w / w.sum())
        for g in picks:
            a, b = gen.choice(members[g], size=2, replace=False)
            s_pairs.append(np.linalg.norm(x[a] - x[b]))
    return np.asarray(s_pairs), diff


def distance_histogram(
    same: np.ndarray, diff: np.ndarray, *, title: str, threshold: float | None = None
) -> Figure:
    fig = Figure(figsize=(6.5, 3.2), layout="constrained")
    ax = fig.subplots()
    bins = np.linspace(0, 2, 81)
    ax.hist(
        diff,
        bins=bins,
        alpha=0.6,
        density=True,
        label=f"different identity (n={len(diff)})",
        color="#dd8452",
    )
    ax.hist(
        same,
        bins=bins,
        alpha=0.6,
        density=True,
        label=f"same identity (n={len(same)})",
        color="#4c72b0",
    )
    if threshold is not None:
        ax.axvline(
            threshold, color="k", lw=1, ls="--", label=f"verification threshold {threshold:.3f}"
        )
    ax.set_xlabel("euclidean distance between L2-normalised embeddings")
    ax.set_ylabel("density")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


#: Resolution of the map PNGs (6.5 in wide: 715 px).
MAP_DPI = 110


def save_map(coords: np.ndarray, labels: np.ndarray, path, *, title: str) -> Figure:
    """Draw the map, write it as PNG (the study report embeds these files), return it."""
    from pathlib import Path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = map_figure(coords, labels, title=title)
    save_png(fig, path, dpi=MAP_DPI)
    return fig


def placeholder_png(path, text: str) -> None:
    """A small PNG that says why there is no map (skipped dataset)."""
    from pathlib import Path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = Figure(figsize=(5, 1.2))
    fig.text(0.5, 0.5, text, ha="center", va="center", wrap=True)
    fig.savefig(path, dpi=80)
