"""Stage ``features@<dataset>``: a dataset of precomputed vectors, read, checked and stored.

Face-clustering research publishes *features*, not images (learn-to-cluster's ``.bin`` +
``.meta``, MATLAB ``.mat`` sets, HDF5 arrays).  A dataset of ``kind: embeddings`` names such a
file (``path``) or a published set (``source``, :data:`facecluster.data.features.PUBLISHED`),
and ``study.features`` names the model that computed it.  This stage stands in for the faces
and embed stages of an image dataset: it reads the file through
:func:`facecluster.data.features.read_features` (shape, finiteness, label count and norm
checked; rows L2-normalised on request) and writes

* ``data/embeddings/<dataset>-<model>.npz`` — the embed stage's layout, through its writer
  (:func:`facecluster.stages.embed.write_embeddings`), so subsets and sweep read it like any
  other embeddings file; ``source_sha256`` holds the sha256 of every file read, ``ids`` the
  row numbers of the source file;
* ``data/embeddings/<dataset>-<model>.json`` (metrics, :func:`facecluster.stages.embed.read_metrics`):
  counts, dimension, the source files and their sha256, the norms as read, whether rows were
  normalised.

The source files are never modified: a published set is read from the offline mirror or
downloaded (checksum-verified) into ``data/raw/<dataset>/``.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from facecluster.config import EmbeddingsDataset, Params
from facecluster.errors import UserError
from facecluster.paths import ProjectPaths
from facecluster.stages import embed as embed_stage

log = logging.getLogger(__name__)


def run(dataset: str, params: Params, paths: ProjectPaths) -> dict[str, Any]:
    """Read the feature file(s) of ``dataset`` and write its embeddings file and metrics."""
    from facecluster.data.features import PUBLISHED, acquire_published, read_features

    spec = params.dataset(dataset)
    if not isinstance(spec, EmbeddingsDataset):
        raise UserError(
            f"dataset {dataset!r} is of kind {spec.kind!r}: it has faces and embed stages, "
            "not a features stage"
        )
    model = params.feature_model(dataset)
    if spec.source is not None:
        pub = PUBLISHED[spec.source]
        vectors, labels_file = acquire_published(spec.source, paths.raw(dataset))
        features = read_features(
            vectors,
            format=pub.format,
            array=pub.array,
            labels_path=labels_file,
            normalize=spec.normalize,
        )
        described = pub.description
    else:
        assert spec.path is not None  # the config allows exactly one of source / path
        features = read_features(
            paths.resolve(spec.path),
            format=spec.format,
            array=spec.array,
            labels=spec.labels,
            labels_path=paths.resolve(spec.labels_path) if spec.labels_path else None,
            dim=spec.dim,
            transpose=spec.transpose,
            normalize=spec.normalize,
        )
        described = f"feature file {spec.path}"
    n, d = features.X.shape
    emb = embed_stage.Embeddings(
        features.X,
        features.labels,
        ids=np.arange(n, dtype=np.int64),
        source_sha256=features.sources,
    )
    out = embed_stage.write_embeddings(
        paths.embeddings(dataset, model), emb, dataset=dataset, model=model
    )
    info: dict[str, Any] = {
        "dataset": dataset,
        "model": model,
        "source": spec.source or spec.path,
        "description": described,
        "faces": int(n),
        "dim": int(d),
        "identities": int(len(np.unique(features.labels))),
        "source_dtype": features.source_dtype,
        "source_sha256": dict(features.sources),
        "norm_min": float(features.norms[0]),
        "norm_max": float(features.norms[1]),
        "normalised": bool(features.normalised),
    }
    embed_stage.write_metrics(paths, dataset, model, info)
    log.info(
        "%s: %d vectors of dimension %d, %d identities (%s) -> %s",
        dataset, n, d, info["identities"], described, out,
    )  # fmt: skip
    return info
