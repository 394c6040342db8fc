"""The embed stage of one dataset × model: embeddings, LFW verification, report figures."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from facecluster.config import Params
from facecluster.embed.extract import extract_embeddings, load_embedding_file
from facecluster.embed.verify import lfw_verification
from facecluster.faces.pipeline import load_summary
from facecluster.integrity import atomic_path
from facecluster.paths import ProjectPaths

log = logging.getLogger(__name__)


def run_embed_stage(dataset: str, model: str, params: Params, paths: ProjectPaths) -> dict:
    """Embed, then (LFW) score the 10-fold verification; writes the stage's metrics JSON."""
    info = extract_embeddings(dataset, model, params, paths)
    if info.get("skipped"):
        from facecluster.report.projection import placeholder_png

        for method in ("umap", "tsne"):
            placeholder_png(
                paths.report_dir("embed") / f"{dataset}-{model}-{method}.png",
                f"{dataset}: skipped ({info.get('reason')})",
            )
    spec = params.dataset(dataset)
    if not info.get("skipped") and spec.kind == "lfw" and spec.pairs_faces:
        info["verification"] = verify_lfw(dataset, model, params, paths)
    write_json(info, metrics_path(paths, dataset, model))
    return info


def metrics_path(paths: ProjectPaths, dataset: str, model: str) -> Path:
    return paths.report_dir("embed") / f"{dataset}-{model}.json"


def verify_lfw(dataset: str, model: str, params: Params, paths: ProjectPaths) -> dict:
    """10-fold accuracy on every pair of pairs.txt (people with < 3 images included)."""
    from facecluster.data.lfw import read_pairs

    summary = load_summary(paths.faces(dataset) / "summary.json")
    pairs_txt = summary.get("pairs_txt")
    if not pairs_txt or not Path(pairs_txt).is_file():
        raise FileNotFoundError(
            f"pairs.txt of dataset {dataset!r} not recorded by the faces stage (got {pairs_txt!r})"
        )
    pairs = read_pairs(pairs_txt)
    z = load_embedding_file(paths.embeddings(dataset, model))
    emb = np.concatenate([z["embeddings"], z["extra_embeddings"].reshape(-1, z["embeddings"].shape[1])])
    rel = list(z["relpaths"]) + list(z["extra_relpaths"])
    res = lfw_verification(
        emb,
        rel,
        [p.relpath1 for p in pairs],
        [p.relpath2 for p in pairs],
        np.array([p.same for p in pairs]),
        np.array([p.fold for p in pairs]),
    )
    log.info(
        "LFW verification %s: %.2f%% ± %.2f (%d/%d pairs scored)",
        model, 100 * res["accuracy"], 100 * res["accuracy_std"], res["pairs_scored"], res["pairs"],
    )
    return res


def write_json(obj: dict, path: Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n", encoding="utf-8")
