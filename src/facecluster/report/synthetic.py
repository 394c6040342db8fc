"""A tiny synthetic study project, in the pipeline's real file formats (tests, previews).

:func:`make_study_project` writes, under a project root, what the stages before ``report``
would: ``params.yaml`` and ``dvc.yaml``, per dataset the faces stage's manifest, crops and
summary (``data/faces/<d>/``, ``reports/faces/<d>.json``), per dataset × model an embeddings
file, embed metrics and map PNGs, the subsets file, and the results table from the **real**
sweep (:func:`facecluster.sweep.run_sweep`, serial) on generated embeddings.  Identities are
Gaussian blobs on the unit sphere; file names carry Yale-like conditions
(``subject01/subject01.glasses``) and faces of one condition (``glasses``) are pushed away
from their identity so that splits have a cause to find.  A dataset listed in ``skipped``
gets the empty outputs the stages write for a dataset without faces.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from matplotlib.figure import Figure

from facecluster import seeds
from facecluster.config import load_params
from facecluster.faces.manifest import write_manifest
from facecluster.integrity import atomic_path
from facecluster.paths import ProjectPaths
from facecluster.sweep import draw_subsets, run_sweep, save_subsets, subset_seed_key

log = logging.getLogger(__name__)

CONDITIONS = ("normal", "glasses", "leftlight", "rightlight", "happy", "sad")
DEFAULT_METHODS: dict[str, Any] = {
    "kmeans": {"n_init": 2},
    "agglomerative": {},
    "spectral": None,
    "dbscan": {"eps": [0.3, 0.5, 0.7, 0.9], "min_samples": 1},
    "meanshift": {"bandwidth": [0.3, 0.5, 0.7, 0.9]},
    "rank_order": None,
    "chinese_whispers": None,
}
_DIMS = {"facenet": 16, "lightcnn": 12}


def _params_dict(
    root: Path,
    datasets: Sequence[str],
    models: Sequence[str],
    methods: Mapping[str, Any],
    n_subsets: int,
    seed: int,
) -> dict:
    kinds = {"lfw": {"kind": "lfw"}, "muct": {"kind": "muct", "detector": "none"}}
    return {
        "seed": seed,
        "study": {"datasets": list(datasets), "models": list(models)},
        "datasets": {
            d: kinds.get(d, {"kind": "personal", "path": "data/raw/yale"}) for d in datasets
        },
        "models": {
            m: (
                {"kind": "facenet", "weights": "casia-webface"}
                if m == "facenet"
                else {"kind": "lightcnn", "variant": "v4"}
            )
            for m in models
        },
        "sweep": {
            "n_subsets": n_subsets,
            "fraction": 0.8,
            "replace": False,
            "n_jobs": 1,
            "executor": "serial",
            "methods": dict(methods),
        },
        "report": {"gallery_rows": 3, "gallery_faces": 6},
    }


def _crops(identities: np.ndarray, conditions: list[str], px: int, gen) -> np.ndarray:
    """Flat-coloured squares, one hue per identity, a dark band for 'glasses'."""
    _, codes = np.unique(identities, return_inverse=True)
    hues = gen.integers(40, 255, size=(codes.max() + 1, 3))
    crops = np.empty((len(codes), px, px, 3), np.uint8)
    for i, (c, cond) in enumerate(zip(codes, conditions, strict=True)):
        crops[i] = hues[c]
        if cond == "glasses":
            crops[i, px // 3 : px // 2] = 20
    return crops


def _write_json(obj: Any, path: Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2) + "\n", encoding="utf-8")


def make_study_project(
    root: str | Path,
    *,
    datasets: Sequence[str] = ("personal", "lfw"),
    models: Sequence[str] = ("facenet", "lightcnn"),
    skipped: Sequence[str] = (),
    n_identities: int = 6,
    per_identity: int = 5,
    n_subsets: int = 3,
    crop_px: int = 32,
    methods: Mapping[str, Any] | None = None,
    seed: int = 7,
    stage_pages: bool = True,
) -> Path:
    """Write a tiny study project under ``root``; returns ``root``.

    Parameters
    ----------
    root : str or Path
        Project root (created; ``dvc.yaml`` and ``params.yaml`` written there).
    datasets, models : sequence of str
        ``study.datasets`` / ``study.models`` (models ``facenet`` and ``lightcnn`` only).
    skipped : sequence of str
        Datasets written as skipped (no faces, empty results).
    n_identities, per_identity : int
        Size of each dataset (faces cycle through :data:`CONDITIONS`).
    n_subsets : int
        ``sweep.n_subsets``.
    crop_px : int
        Side of the synthetic crops (the real ones are 160).
    methods : mapping, optional
        ``sweep.methods`` (default :data:`DEFAULT_METHODS`: k-means, Ward, DBSCAN, mean-shift).
    seed : int
        Root seed of the project (data and sweep).
    stage_pages : bool
        Also write placeholder per-stage HTML pages (``reports/{faces,embed,sweep}/…html``)
        so that the index's links resolve.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / "dvc.yaml").write_text("stages: {}\n", encoding="utf-8")
    pdict = _params_dict(root, datasets, models, methods or DEFAULT_METHODS, n_subsets, seed)
    (root / "params.yaml").write_text(yaml.safe_dump(pdict, sort_keys=False), encoding="utf-8")
    params = load_params(root / "params.yaml")
    paths = ProjectPaths.from_root(root)
    for dataset in datasets:
        _make_dataset(
            paths,
            params,
            dataset,
            models,
            dataset in skipped,
            n_identities,
            per_identity,
            crop_px,
            seed,
            stage_pages,
        )
    return root


def _make_dataset(
    paths: ProjectPaths,
    params: Any,
    dataset: str,
    models: Sequence[str],
    skip: bool,
    n_identities: int,
    per_identity: int,
    crop_px: int,
    seed: int,
    stage_pages: bool,
) -> None:
    gen = seeds.rng(seed, "synthetic", dataset)
    n = 0 if skip else n_identities * per_identity
    identities = np.array([f"subject{i // per_identity + 1:02d}" for i in range(n)])
    conditions = [CONDITIONS[i % per_identity % len(CONDITIONS)] for i in range(n)]
    relpaths = [f"{p}/{p}.{c}" for p, c in zip(identities, conditions, strict=True)]
    rows = [
        {
            "face_id": i,
            "relpath": rp,
            "source_path": f"/synthetic/{rp}",
            "identity": ident,
            "in_study": True,
            "status": "ok",
            "reason": "",
            "n_faces": 1,
            "score": 0.99,
            "bbox": [0.0, 0.0, 1.0, 1.0],
            "landmarks": [],
            "width": crop_px,
            "height": crop_px,
            "crop_index": i,
        }
        for i, (rp, ident) in enumerate(zip(relpaths, identities, strict=True))
    ]
    out = paths.faces(dataset)
    out.mkdir(parents=True, exist_ok=True)
    write_manifest(rows, paths.manifest(dataset))
    crops = (
        _crops(identities, conditions, crop_px, gen)
        if n
        else np.zeros((0, crop_px, crop_px, 3), np.uint8)
    )
    for name in ("crops_facenet.npy", "crops_lightcnn.npy"):
        with atomic_path(out / name) as tmp, tmp.open("wb") as fh:
            np.save(fh, crops)
    summary = {
        "dataset": dataset,
        "skipped": skip,
        "detector": "mtcnn",
        "images": n,
        "faces": n,
        "failed": 0,
        "identities": len(set(identities)),
    }
    if skip:
        summary["reason"] = "no images found (synthetic)"
    _write_json(summary, out / "summary.json")
    _write_json(summary, paths.report_dir("faces") / f"{dataset}.json")
    if stage_pages:
        _page(paths.report_dir("faces") / f"{dataset}.html", f"faces {dataset}")
    if n:
        subsets = draw_subsets(
            n,
            n_subsets=params.sweep.n_subsets,
            fraction=params.sweep.fraction,
            replace=params.sweep.replace,
            seed_key=subset_seed_key(params.seed, dataset),
        )
        save_subsets(
            paths.subsets(dataset),
            subsets,
            n=n,
            fraction=params.sweep.fraction,
            replace=params.sweep.replace,
            seed_key=subset_seed_key(params.seed, dataset),
            labels=identities,
        )
    else:  # what the subsets stage writes for a skipped dataset
        with atomic_path(paths.subsets(dataset)) as tmp, tmp.open("wb") as fh:
            np.savez(
                fh,
                indices=np.zeros((0, 0), np.int64),
                meta=np.array(json.dumps({"skipped": True})),
            )
    for model in models:
        _make_embeddings(
            paths,
            params,
            dataset,
            model,
            identities,
            relpaths,
            conditions,
            skip,
            seed,
            stage_pages,
        )


def _make_embeddings(
    paths: ProjectPaths,
    params: Any,
    dataset: str,
    model: str,
    identities: np.ndarray,
    relpaths: list[str],
    conditions: list[str],
    skip: bool,
    seed: int,
    stage_pages: bool,
) -> None:
    gen = seeds.rng(seed, "synthetic", dataset, model)
    d = _DIMS.get(model, 8)
    n = len(identities)
    ids, codes = np.unique(identities, return_inverse=True)
    centers = gen.normal(size=(len(ids), d))
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    x = centers[codes] + gen.normal(scale=0.12, size=(n, d)) if n else np.zeros((0, d))
    glasses = np.array([c == "glasses" for c in conditions], dtype=bool)
    if glasses.any():  # a condition that pushes faces away from their identity
        x[glasses] += 0.6 * gen.normal(size=(1, d))
    x = (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)
    emb = paths.embeddings(dataset, model)
    emb.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(emb) as tmp, tmp.open("wb") as fh:
        np.savez(
            fh,
            embeddings=x,
            labels=identities.astype(str),
            ids=np.arange(n, dtype=np.int64),
            relpaths=np.array(relpaths, dtype=str),
            weights_sha256=np.array("0" * 64),
            dataset=np.array(dataset),
            model=np.array(model),
            skipped=np.array(skip),
        )
    meta: dict[str, Any] = {
        "dataset": dataset,
        "model": model,
        "dim": d,
        "faces": n,
        "study_faces": n,
        "identities": len(ids),
        "skipped": skip,
    }
    if dataset == "lfw" and not skip:
        meta["verification"] = {
            "accuracy": 0.9,
            "accuracy_std": 0.01,
            "pairs": 6000,
            "pairs_scored": 6000,
            "accuracy_all_pairs": 0.9,
        }
    _write_json(meta, paths.report_dir("embed") / f"{dataset}-{model}.json")
    for kind in ("umap", "tsne"):
        fig = Figure(figsize=(2, 2))
        ax = fig.subplots()
        if n:
            ax.scatter(x[:, 0], x[:, 1], c=codes, s=4)
        ax.set_title(f"{kind} {dataset}-{model}", fontsize=6)
        fig.savefig(paths.report_dir("embed") / f"{dataset}-{model}-{kind}.png", dpi=50)
    if stage_pages:
        _page(paths.report_dir("embed") / f"{dataset}-{model}.html", f"embed {dataset}-{model}")
        _page(paths.report_dir("sweep") / f"{dataset}-{model}.html", f"sweep {dataset}-{model}")
    out = paths.results(dataset, model)
    if skip:
        out.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(out) as tmp:
            pd.DataFrame(
                {
                    "dataset": pd.Series(dtype=str),
                    "model": pd.Series(dtype=str),
                    "method": pd.Series(dtype=str),
                    "subset": pd.Series(dtype=int),
                }
            ).to_parquet(tmp)
        return
    with np.load(paths.subsets(dataset)) as z:
        subsets = z["indices"]
    run_sweep(
        x,
        identities,
        subsets,
        params.sweep,
        dataset=dataset,
        model=model,
        seed=params.seed,
        out_path=out,
        progress=False,
    )


def results_frame(
    runs: Sequence[tuple[str, str, str, Mapping[str, Any], Sequence[float]]],
    *,
    n: int = 40,
    k_true: int = 8,
) -> pd.DataFrame:
    """A results table in the sweep's layout from per-subset ARI values (for tests).

    Parameters
    ----------
    runs : sequence of (dataset, model, method, params, ari per subset)
        Subset ``i`` gets ``ari[i]``; the other scores are derived from it (pairwise F1 =
        ARI + 0.01, BCubed F1 = ARI + 0.02, NMI = ARI + 0.03, clusters = k_true + i,
        runtime 0.1·(i + 1) s) so tests can tell them apart.
    n, k_true : int
        Faces and true identities per subset.
    """
    from facecluster.sweep import canonical_params

    rows = []
    for dataset, model, method, params, aris in runs:
        for i, ari in enumerate(aris):
            rows.append(
                {
                    "dataset": dataset,
                    "model": model,
                    "method": method,
                    "params": canonical_params(params),
                    **params,
                    "subset": i,
                    "n": n,
                    "k_true": k_true,
                    "ari": ari,
                    "nmi": ari + 0.03,
                    "pairwise_precision": ari,
                    "pairwise_recall": ari,
                    "pairwise_f1": ari + 0.01,
                    "bcubed_precision": ari,
                    "bcubed_recall": ari,
                    "bcubed_f1": ari + 0.02,
                    "n_clusters": k_true + i,
                    "n_true_clusters": k_true,
                    "noise_fraction": 0.0,
                    "runtime_s": 0.1 * (i + 1),
                    "task_runtime_s": 0.1 * (i + 1),
                }
            )
    return pd.DataFrame(rows)


def _page(path: Path, title: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title>"
        f"</head><body><h1>{title}</h1></body></html>\n",
        encoding="utf-8",
    )
