"""One interface over the embedders of params.yaml ``models``: weights, network, preprocessing."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from facecluster.config import FacenetModel, LightcnnModel
from facecluster.device import resolve_device

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

    def inputs(self, batch: np.ndarray) -> torch.Tensor:
        """The network's input for a batch of uint8 NHWC crops: preprocessed, on the
        device, in the channels-last layout the module is kept in (:func:`load_embedder`)."""
        return self.preprocess(batch).to(
            self.device, memory_format=torch.channels_last, non_blocking=True
        )


def load_embedder(
    name: str,
    spec: FacenetModel | LightcnnModel,
    weights: Path,
    weights_sha256: str,
    device: str = "auto",
) -> Embedder:
    """Load the network of model ``name`` from its weights file (the weights stage's output)."""
    dev = resolve_device(device)
    path, sha = Path(weights), weights_sha256
    if spec.kind == "facenet":
        from facecluster.embed.facenet import load_facenet, preprocess_facenet

        module = load_facenet(spec.weights, state_dict_path=path, device=dev)
        pre, family = preprocess_facenet, "facenet"  # 2018 models: fixed standardisation
        if spec.weights == "ms-celeb-2017":  # 20170512-110547: per-image prewhitening
            from facecluster.embed.facenet_keras import prewhiten as pre
    else:
        from facecluster.embed.lightcnn import load_lightcnn, preprocess_lightcnn

        module = load_lightcnn(spec.variant, path, device=dev)
        variant = spec.variant

        def pre(batch: np.ndarray) -> torch.Tensor:
            return preprocess_lightcnn(variant, batch)

        family = "lightcnn"
    # channels-last (NHWC) convolutions: oneDNN's fast path on the CPU (measured on 2 cores,
    # batches of 64: FaceNet 1.3x, LightCNN-v4 1.4x; embeddings equal within 2e-6, the
    # summation order) and cuDNN's on the GPU; benchmarks/embed_throughput.py checks it
    module.eval().to(memory_format=torch.channels_last)
    log.info(
        "model %s: %s weights %s (sha256 %s…) on %s", name, spec.kind, path.name, sha[:12], dev
    )
    return Embedder(name, module, pre, family, path, sha, dev)
