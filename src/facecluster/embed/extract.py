"""The embed stage: batched, deterministic inference over a dataset's face crops."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from facecluster.config import Params
from facecluster.embed.models import Embedder, load_embedder
from facecluster.faces.manifest import read_manifest
from facecluster.faces.pipeline import load_crops, load_summary
from facecluster.integrity import atomic_path
from facecluster.paths import ProjectPaths

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


def make_loader(crops: np.ndarray, rows: np.ndarray, batch_size: int, num_workers: int = 0) -> DataLoader:
    """The DataLoader the embed stage (and its benchmark) iterates: ordered, no shuffling."""
    return DataLoader(
        CropArray(crops, rows),
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        collate_fn=stack_uint8,
    )


@torch.inference_mode()
def embed_batches(embedder: Embedder, loader: DataLoader, *, progress: bool = True, desc: str = "") -> np.ndarray:
    """L2-normalised float32 embeddings of every crop the loader yields, in order."""
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    out: list[np.ndarray] = []
    for batch in tqdm(loader, desc=desc or f"embed {embedder.name}", unit="batch", disable=not progress):
        x = embedder.preprocess(batch).to(embedder.device, non_blocking=True)
        feats = embedder.module(x)
        feats = torch.nn.functional.normalize(feats.float(), dim=1)
        out.append(feats.cpu().numpy().astype(np.float32, copy=False))
    if not out:
        return np.zeros((0, 0), np.float32)
    return np.concatenate(out)


def extract_embeddings(
    dataset: str, model: str, params: Params, paths: ProjectPaths, *, progress: bool = True
) -> dict:
    """Embed the faces of ``dataset`` with ``model``; writes ``data/embeddings/<d>-<m>.npz``.

    The npz holds ``embeddings`` (n, d) float32 L2-normalised, ``labels`` (n,) identities,
    ``ids`` (n,) manifest face ids and ``relpaths`` for the clustering set, plus
    ``extra_embeddings``/``extra_relpaths`` for faces outside it (LFW images that only
    pairs.txt names), and ``weights_sha256``.  A skipped dataset gives empty arrays and
    ``skipped=True``.  Returns a summary dict (also the stage's metrics).
    """
    spec = params.model(model)
    faces_dir = paths.faces(dataset)
    summary = load_summary(faces_dir / "summary.json")
    out_path = paths.embeddings(dataset, model)
    if summary.get("skipped"):
        log.warning("dataset %s was skipped by the faces stage: %s", dataset, summary.get("reason"))
        _save(out_path, skipped=True, dataset=dataset, model=model, reason=summary.get("reason", ""))
        return {"dataset": dataset, "model": model, "skipped": True, "reason": summary.get("reason")}
    embedder = load_embedder(model, spec, paths, params.embed.device)
    manifest = read_manifest(paths.manifest(dataset))
    ok = manifest[manifest["status"] == "ok"].sort_values("crop_index")
    crops = load_crops(faces_dir, embedder.crop_family)
    t0 = time.perf_counter()
    loader = make_loader(crops, ok["crop_index"].to_numpy(), spec.batch_size, params.embed.num_workers)
    emb = embed_batches(embedder, loader, progress=progress, desc=f"embed {dataset}-{model}")
    seconds = time.perf_counter() - t0
    study = ok["in_study"].to_numpy()
    _save(
        out_path,
        embeddings=emb[study],
        labels=ok["identity"].to_numpy()[study].astype(str),
        ids=ok["face_id"].to_numpy()[study].astype(np.int64),
        relpaths=ok["relpath"].to_numpy()[study].astype(str),
        extra_embeddings=emb[~study],
        extra_relpaths=ok["relpath"].to_numpy()[~study].astype(str),
        weights_sha256=embedder.weights_sha256,
        dataset=dataset,
        model=model,
        skipped=False,
    )
    info = {
        "dataset": dataset,
        "model": model,
        "skipped": False,
        "faces": int(len(ok)),
        "study_faces": int(study.sum()),
        "identities": int(ok.loc[ok["in_study"], "identity"].nunique()),
        "dim": int(emb.shape[1]),
        "seconds": round(seconds, 1),
        "images_per_second": round(len(ok) / max(seconds, 1e-9), 1),
        "device": embedder.device,
        "weights_sha256": embedder.weights_sha256,
    }
    log.info("embedded %d faces of %s with %s: dim %d, %.1f img/s", len(ok), dataset, model, info["dim"], info["images_per_second"])
    return info


def _save(path: Path, **arrays) -> None:
    with atomic_path(path) as tmp, tmp.open("wb") as fh:
        np.savez(fh, **{k: np.asarray(v) for k, v in arrays.items()})


def load_embedding_file(path: str | Path) -> dict[str, np.ndarray]:
    """All arrays of an embeddings npz (no pickles)."""
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}
