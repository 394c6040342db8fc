"""Batched, deterministic inference over face crops (the embed stage's computation).

:mod:`facecluster.stages.embed` runs it over a dataset and writes the embeddings file.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from facecluster.embed.models import Embedder

log = logging.getLogger(__name__)


class CropArray(Dataset):
    """Rows of a (memory-mapped) uint8 crop array, selected by index."""

    def __init__(self, crops: np.ndarray, rows: np.ndarray) -> None:
        self.crops = crops
        self.rows = np.asarray(rows, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> np.ndarray:
        return np.asarray(self.crops[self.rows[i]])


def stack_uint8(batch: list[np.ndarray]) -> np.ndarray:
    return np.stack(batch)


def make_loader(
    crops: np.ndarray, rows: np.ndarray, batch_size: int, num_workers: int = 0
) -> DataLoader:
    """The DataLoader the embed stage (and its benchmark) iterates: ordered, no shuffling."""
    return DataLoader(
        CropArray(crops, rows),
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        collate_fn=stack_uint8,
    )


@torch.inference_mode()
def embed_batches(
    embedder: Embedder, loader: DataLoader, *, progress: bool = True, desc: str = ""
) -> np.ndarray:
    """L2-normalised float32 embeddings of every crop the loader yields, in order."""
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    out: list[np.ndarray] = []
    for batch in tqdm(
        loader, desc=desc or f"embed {embedder.name}", unit="batch", disable=not progress
    ):
        x = embedder.inputs(batch)
        feats = embedder.module(x)
        feats = torch.nn.functional.normalize(feats.float(), dim=1)
        out.append(feats.cpu().numpy().astype(np.float32, copy=False))
    if not out:
        return np.zeros((0, 0), np.float32)
    return np.concatenate(out)
