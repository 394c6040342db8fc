"""Stage ``maps``: the 2-D maps (UMAP and t-SNE) of every study pair's embeddings, in one run.

Outputs ``data/maps/<dataset>-<model>-{umap,tsne}.png`` (:func:`map_path`) for each image
dataset × model of the study (:meth:`~facecluster.config.Params.pairs`, less the datasets of
precomputed vectors, which have no faces to show), from at most ``maps.max_points`` faces
(:func:`~facecluster.report.projection.subsample`: the largest identities in colour); a
dataset the faces stage skipped gets a placeholder PNG that says why.  The study report (§5)
embeds these files.

One stage for all pairs, not one per embed stage: UMAP compiles its numba kernels once per
process (~10 s, against ~0.1 s to map a few hundred faces), and a change of a map setting
(``maps`` in params.yaml) re-draws the maps without re-embedding any face.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from facecluster.config import Params
from facecluster.paths import ProjectPaths
from facecluster.stages import embed as embed_stage

log = logging.getLogger(__name__)

#: The projections drawn, in the order the report shows them.
METHODS = ("umap", "tsne")


def out_dir(paths: ProjectPaths) -> Path:
    return paths.data / "maps"


def map_path(paths: ProjectPaths, dataset: str, model: str, method: str) -> Path:
    """The map PNG of ``dataset`` × ``model`` by ``method`` (umap or tsne)."""
    return out_dir(paths) / f"{dataset}-{model}-{method}.png"


def map_pairs(params: Params) -> list[tuple[str, str]]:
    """The (dataset, model) pairs the stage draws: the study's image datasets × models."""
    features = set(params.study.features)
    return [(d, m) for d, m in params.pairs() if d not in features]


def run(
    params: Params, paths: ProjectPaths, pairs: Sequence[tuple[str, str]] | None = None
) -> dict[str, Any]:
    """Draw the maps of ``pairs`` (default :func:`map_pairs`, what the stage draws); returns
    ``{"<dataset>-<model>": faces mapped}`` (0 for a skipped dataset)."""
    from facecluster.report.projection import placeholder_png, project, save_map, subsample

    settings = params.maps
    drawn: dict[str, Any] = {}
    for dataset, model in map_pairs(params) if pairs is None else pairs:
        path = paths.embeddings(dataset, model)
        if not path.is_file():
            raise embed_stage.EmbeddingsError(
                f"maps: {path} not found; run `dvc repro embed@{dataset}-{model}` first"
            )
        emb = embed_stage.read_embeddings(path)
        if emb.skipped:
            for method in METHODS:
                placeholder_png(
                    map_path(paths, dataset, model, method),
                    f"{dataset}: skipped ({emb.skip_reason})",
                )
            drawn[f"{dataset}-{model}"] = 0
            continue
        pick = subsample(emb.labels, settings.max_points, params.seed, dataset, model)
        for method in METHODS:
            coords = project(
                emb.X[pick],
                method,
                seed=params.seed,
                n_neighbors=settings.umap_neighbors,
                perplexity=settings.tsne_perplexity,
            )
            save_map(
                coords,
                emb.labels[pick],
                map_path(paths, dataset, model, method),
                title=f"{method.upper()}: {dataset} × {model}",
            )
        drawn[f"{dataset}-{model}"] = len(pick)
        log.info("maps %s × %s: %d of %d faces", dataset, model, len(pick), len(emb.X))
    return drawn
