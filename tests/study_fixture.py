"""A tiny synthetic study project written by the stages' own writers (tests of the report).

:func:`make_study_project` writes, under a project root, what the stages before ``report``
would, each file through the writer of the stage that owns it:

* faces: :func:`facecluster.stages.faces.write_manifest`, the crop arrays at
  ``data/faces/<d>/`` + :data:`facecluster.stages.faces.CROPS`, and
  :func:`~facecluster.stages.faces.write_summary` of
  :func:`~facecluster.stages.faces.summarise` (or the skipped summary the stage writes);
* embed: :func:`facecluster.stages.embed.write_embeddings` and its metrics JSON at
  :func:`~facecluster.stages.embed.metrics_path`;
* maps: the PNGs at :func:`facecluster.stages.maps.map_path`, drawn by the stage's own
  :func:`~facecluster.report.projection.save_map` from two coordinates of the embeddings
  (no UMAP: the report only embeds the files);
* subsets: the stage itself, :func:`facecluster.stages.subsets.run`;
* sweep: the stage itself, :func:`facecluster.stages.sweep.run` (the real protocol on the
  generated embeddings and the stage's subsets);
* otto: the stage itself, :func:`facecluster.stages.otto.run` (small grids,
  :data:`OTTO_GRIDS`), on ``lfw`` when it has faces, else on the first dataset that has;
* scale: the stage itself, :func:`facecluster.stages.scale.run`, for the first model on the
  otto dataset (:data:`SCALE_GRIDS`: up to 150 simulated distractors, HNSW above 100 faces).

A dataset listed in ``skipped`` gets the faces stage's skipped summary, and then the skipped
forms of the later stages from the stages themselves (``stages.embed.run``,
``stages.maps.run`` and ``stages.subsets.run`` on a skipped dataset write the empty
embeddings, the placeholder maps and the empty subsets, ``stages.sweep.run`` the empty
results table).

A dataset listed in ``low_resolution`` gets face boxes of :data:`LOW_RES_FACE_PX` source
pixels (the mirror's MUCT crops: 24), so its faces summary's ``face_px_median`` is below the
report's threshold; the others' boxes are :data:`FACE_PX`.

``features`` (``{dataset: model}``) adds datasets of precomputed vectors (``kind:
embeddings``, ``study.features``): a generated ``.npz`` under ``data/raw/<dataset>/`` read by
the features stage itself (:func:`facecluster.stages.features.run`, or the embed writers when
that stage cannot be imported), then the subsets and sweep stages.  No faces stage, no maps,
no faces or embed page: what the real pipeline leaves for such a dataset.

Identities are Gaussian blobs on the unit sphere; file names carry Yale-like conditions
(``subject01/subject01.glasses``) and faces of one condition (``glasses``) are pushed away
from their identity so that splits have a cause to find.

:func:`results_frame` builds a results table with chosen ARI values (table tests).

Import it from a test as ``from study_fixture import make_study_project`` (``tests/`` is on
``sys.path``: pytest's rootdir conftest).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from facecluster import seeds
from facecluster.artifacts import SKIP_FIELD, write_json
from facecluster.config import Params, load_params
from facecluster.integrity import atomic_path
from facecluster.metrics import EVALUATE_KEYS
from facecluster.paths import ProjectPaths
from facecluster.report.projection import save_map
from facecluster.stages import embed as embed_stage
from facecluster.stages import faces as faces_stage
from facecluster.stages import maps as maps_stage
from facecluster.stages import otto as otto_stage
from facecluster.stages import scale as scale_stage
from facecluster.stages import subsets as subsets_stage
from facecluster.stages import sweep as sweep_stage
from facecluster.sweep.engine import finalise
from facecluster.sweep.keys import canonical_params

CONDITIONS = ("normal", "glasses", "leftlight", "rightlight", "happy", "sad")
DEFAULT_METHODS: dict[str, Any] = {
    "kmeans": {"n_init": 2},
    "agglomerative": {},
    "spectral": None,
    "dbscan": {"eps": [0.3, 0.5, 0.7, 0.9], "min_samples": 1},
    "meanshift": {"bandwidth": [0.3, 0.5, 0.7, 0.9]},
    "rank_order": None,
    "chinese_whispers": None,
    "finch_k": {},
    "hdbscan": {"min_cluster_size": [2, 4], "min_samples": [1, 2]},
    "finch": {},
}
SKIP_REASON = "no images found in data/raw/<dataset> (synthetic)"
_DIMS = {"facenet": 16, "lightcnn": 12}
#: Short side of the synthetic face boxes (source pixels), and of the low-resolution ones.
FACE_PX = 112
LOW_RES_FACE_PX = 24
#: Otto-protocol grids of the fixture (on ``lfw`` when it has faces, else the first dataset
#: that has).
OTTO_GRIDS: dict[str, Any] = {
    "runs": 2,
    "timing_k": 5,
    "rank_order": {"k": [3, 5], "threshold": [0.4, 1.0]},
    "dbscan": {"eps": [0.5]},
    "meanshift": {"bandwidth": [0.7]},
    "chinese_whispers": {"threshold": [0.7]},
}
#: Scale-stage settings of the fixture (the first model, on the otto dataset's faces).
SCALE_GRIDS: dict[str, Any] = {
    "distractors": [0, 50, 150],
    "baseline": 150,
    "components": 2,
    "search": {"exact_max": 100, "recall_queries": 20, "ef_search": 32},
    "rank_order": {"k": [3, 5], "threshold": [0.4, 1.0]},
    "chinese_whispers": {"k": 5, "threshold": [0.7]},
}
#: The Table I column of a feature dataset of the fixture (``table_one:``).
FEATURE_TABLE_ONE = "muct"


def manifest_row(
    i: int, identity: str, status: str = "ok", in_study: bool = True, crop: int = -1
) -> dict:
    """One row of a faces manifest (the schema of :mod:`facecluster.faces.manifest`)."""
    return {
        "face_id": i,
        "relpath": f"{identity}/{i}",
        "source_path": f"/x/{identity}/{i}",
        "identity": identity,
        "in_study": in_study,
        "status": status,
        "reason": "",
        "n_faces": 1,
        "score": 1.0,
        "bbox": [0, 0, 1, 1],
        "landmarks": [],
        "width": 1,
        "height": 1,
        "crop_index": crop,
    }


def feature_file(dataset: str) -> str:
    """The generated feature file of a feature dataset (relative to the project root)."""
    return f"data/raw/{dataset}/features.npz"


def _params_dict(
    datasets: Sequence[str],
    models: Sequence[str],
    methods: Mapping[str, Any],
    n_subsets: int,
    seed: int,
    features: Mapping[str, str] | None = None,
    otto: str | None = None,
) -> dict:
    kinds = {"lfw": {"kind": "lfw"}, "muct": {"kind": "muct", "detector": "none"}}
    specs = {d: kinds.get(d, {"kind": "personal", "path": "data/raw/yale"}) for d in datasets}
    for d in features or {}:
        specs[d] = {"kind": "embeddings", "path": feature_file(d), "table_one": FEATURE_TABLE_ONE}
    return {
        "seed": seed,
        "study": {
            "datasets": list(datasets),
            "models": list(models),
            "features": dict(features or {}),
        },
        "datasets": specs,
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
            "methods": dict(methods),
        },
        "report": {"gallery_rows": 3, "gallery_faces": 6},
        "otto": {"dataset": otto, **OTTO_GRIDS} if otto else {"dataset": None},
        "scale": {"models": list(models)[:1], **SCALE_GRIDS} if otto else {"models": []},
        "execution": {"executor": "serial", "n_jobs": 1, "progress": False, "device": "cpu"},
    }


def make_study_project(
    root: str | Path,
    *,
    datasets: Sequence[str] = ("personal", "lfw"),
    models: Sequence[str] = ("facenet", "lightcnn"),
    skipped: Sequence[str] = (),
    low_resolution: Sequence[str] = (),
    features: Mapping[str, str] | None = None,
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
        Datasets written as skipped (no images: the skipped form of every stage's outputs).
    low_resolution : sequence of str
        Datasets whose face boxes are :data:`LOW_RES_FACE_PX` px (``face_px_median`` of their
        faces summary; the others': :data:`FACE_PX`).
    features : mapping, optional
        ``{dataset: model}``: datasets of precomputed vectors (``study.features``), compared
        with Table I's :data:`FEATURE_TABLE_ONE` column; the model is a name only.
    n_identities, per_identity : int
        Size of each dataset (faces cycle through :data:`CONDITIONS`).
    n_subsets : int
        ``sweep.n_subsets``.
    crop_px : int
        Side of the synthetic crops (the real ones are 160).
    methods : mapping, optional
        ``sweep.methods`` (default :data:`DEFAULT_METHODS`).
    seed : int
        Root seed of the project (data and sweep).
    stage_pages : bool
        Also write placeholder per-stage HTML pages (``reports/{faces,embed,sweep}/…html``),
        the executed notebooks' pages the index links to.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / "dvc.yaml").write_text("stages: {}\n", encoding="utf-8")
    with_faces = [d for d in datasets if d not in skipped]
    otto = "lfw" if "lfw" in with_faces else next(iter(with_faces), None)
    pdict = _params_dict(
        datasets, models, methods or DEFAULT_METHODS, n_subsets, seed, features, otto
    )
    (root / "params.yaml").write_text(yaml.safe_dump(pdict, sort_keys=False), encoding="utf-8")
    params = load_params(root / "params.yaml")
    paths = ProjectPaths.from_root(root)
    for dataset in datasets:
        if dataset in skipped:
            _skipped_dataset(paths, params, dataset, models)
        else:
            face_px = LOW_RES_FACE_PX if dataset in low_resolution else FACE_PX
            _dataset(paths, params, dataset, models, n_identities, per_identity, crop_px, face_px)
        if stage_pages:
            _page(paths.report_dir("faces") / f"{dataset}.html", f"faces {dataset}")
            for model in models:
                for stage in ("embed", "sweep"):
                    _page(
                        paths.report_dir(stage) / f"{dataset}-{model}.html",
                        f"{stage} {dataset}-{model}",
                    )
    for model in models if otto else ():
        otto_stage.run(model, params, paths)
    for model in params.scale.models:
        scale_stage.run(model, params, paths)
    for dataset, model in (features or {}).items():
        _feature_dataset(paths, params, dataset, model, n_identities, per_identity)
        if stage_pages:  # the sweep notebook's page only: no faces or embed stage
            _page(paths.report_dir("sweep") / f"{dataset}-{model}.html", f"sweep {dataset}")
    return root


# --------------------------------------------------------------------------------------------
# a dataset with faces
# --------------------------------------------------------------------------------------------
def _manifest_rows(
    relpaths: list[str], identities: np.ndarray, px: int, face_px: int = FACE_PX
) -> list[dict]:
    return [
        {
            "face_id": i,
            "relpath": rp,
            "source_path": f"/synthetic/{rp}",
            "identity": str(ident),
            "in_study": True,
            "status": "ok",
            "reason": "",
            "n_faces": 1,
            "score": 0.99,
            "bbox": [0.0, 0.0, float(face_px), float(face_px)],
            "landmarks": [],
            "width": max(px, face_px),
            "height": max(px, face_px),
            "crop_index": i,
        }
        for i, (rp, ident) in enumerate(zip(relpaths, identities, strict=True))
    ]


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


def _save_npy(array: np.ndarray, path: Path) -> None:
    with atomic_path(path) as tmp, tmp.open("wb") as fh:
        np.save(fh, array)


def _dataset(
    paths: ProjectPaths,
    params: Params,
    dataset: str,
    models: Sequence[str],
    n_identities: int,
    per_identity: int,
    crop_px: int,
    face_px: int = FACE_PX,
) -> None:
    gen = seeds.rng(params.seed, "synthetic", dataset)
    n = n_identities * per_identity
    identities = np.array([f"subject{i // per_identity + 1:02d}" for i in range(n)])
    conditions = [CONDITIONS[i % per_identity % len(CONDITIONS)] for i in range(n)]
    relpaths = [f"{p}/{p}.{c}" for p, c in zip(identities, conditions, strict=True)]
    out = paths.faces(dataset)
    out.mkdir(parents=True, exist_ok=True)
    manifest = faces_stage.write_manifest(
        _manifest_rows(relpaths, identities, crop_px, face_px), paths.manifest(dataset)
    )
    crops = _crops(identities, conditions, crop_px, gen)
    for name in faces_stage.CROPS.values():
        _save_npy(crops, out / name)
    extra = {"source": "synthetic", "root": str(paths.raw(dataset)), "detector": "mtcnn"}
    faces_stage.write_summary(paths, dataset, faces_stage.summarise(dataset, manifest, extra))

    labels = faces_stage.study_labels(paths, dataset)
    subsets_stage.run(dataset, params, paths)
    for model in models:
        emb = _embeddings(params, dataset, model, labels, relpaths, conditions)
        _write_embed_outputs(paths, dataset, model, emb)
        sweep_stage.run(dataset, model, params, paths)


def _embeddings(
    params: Params,
    dataset: str,
    model: str,
    labels: np.ndarray,
    relpaths: list[str],
    conditions: list[str],
) -> embed_stage.Embeddings:
    gen = seeds.rng(params.seed, "synthetic", dataset, model)
    d = _DIMS.get(model, 8)
    ids, codes = np.unique(labels, return_inverse=True)
    centers = gen.normal(size=(len(ids), d))
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    x = centers[codes] + gen.normal(scale=0.12, size=(len(labels), d))
    glasses = np.array([c == "glasses" for c in conditions], dtype=bool)
    if glasses.any():  # a condition that pushes faces away from their identity
        x[glasses] += 0.6 * gen.normal(size=(1, d))
    x = (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)
    return embed_stage.Embeddings(
        x,
        labels.astype(str),
        ids=np.arange(len(labels), dtype=np.int64),
        relpaths=np.array(relpaths, dtype=str),
        weights_sha256="0" * 64,
    )


def _write_embed_outputs(
    paths: ProjectPaths, dataset: str, model: str, emb: embed_stage.Embeddings
) -> None:
    """The embed stage's embeddings file and metrics JSON, and the maps stage's maps of them
    (first two coordinates, no UMAP: fast)."""
    path = paths.embeddings(dataset, model)
    path.parent.mkdir(parents=True, exist_ok=True)
    embed_stage.write_embeddings(path, emb, dataset=dataset, model=model)
    emb = embed_stage.read_embeddings(path)  # what the later stages see
    info: dict[str, Any] = {
        "dataset": dataset,
        "model": model,
        SKIP_FIELD: None,
        "faces": int(len(emb.labels)),
        "study_faces": int(len(emb.labels)),
        "identities": int(np.unique(emb.labels).size),
        "dim": int(emb.X.shape[1]),
        "device": "cpu",
        "weights_sha256": emb.weights_sha256,
    }
    if dataset == "lfw":
        info["verification"] = {
            "accuracy": 0.9,
            "accuracy_std": 0.01,
            "pairs": 6000,
            "pairs_scored": 6000,
            "accuracy_all_pairs": 0.9,
        }
    write_json(embed_stage.metrics_path(paths, dataset, model), info)
    for method in maps_stage.METHODS:
        save_map(
            emb.X[:, :2],
            emb.labels,
            maps_stage.map_path(paths, dataset, model, method),
            title=f"{method.upper()}: {dataset} × {model}",
        )


# --------------------------------------------------------------------------------------------
# a dataset of precomputed vectors
# --------------------------------------------------------------------------------------------
def _feature_dataset(
    paths: ProjectPaths,
    params: Params,
    dataset: str,
    model: str,
    n_identities: int,
    per_identity: int,
) -> None:
    """A generated feature file read by the features stage, then subsets and sweep."""
    n = n_identities * per_identity
    labels = np.array([f"id{i // per_identity:03d}" for i in range(n)])
    conditions = ["normal"] * n  # no file names: no conditions
    emb = _embeddings(params, dataset, model, labels, [f"row{i}" for i in range(n)], conditions)
    source = paths.resolve(feature_file(dataset))
    source.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(source) as tmp, tmp.open("wb") as fh:
        np.savez(fh, embeddings=emb.X.astype(np.float64), labels=labels)
    try:
        from facecluster.stages import features as features_stage

        features_stage.run(dataset, params, paths)
    except ImportError:  # the features reader is not there: its layout, by the embed writers
        _write_feature_outputs(paths, dataset, model, emb, source)
    subsets_stage.run(dataset, params, paths)
    sweep_stage.run(dataset, model, params, paths)


def _write_feature_outputs(
    paths: ProjectPaths, dataset: str, model: str, emb: embed_stage.Embeddings, source: Path
) -> None:
    """What :func:`facecluster.stages.features.run` writes: embeddings file and metrics."""
    from facecluster.integrity import file_hash

    sources = {source.name: file_hash(source)}
    path = paths.embeddings(dataset, model)
    path.parent.mkdir(parents=True, exist_ok=True)
    emb = embed_stage.Embeddings(
        emb.X, emb.labels, ids=np.arange(len(emb.labels), dtype=np.int64), source_sha256=sources
    )
    embed_stage.write_embeddings(path, emb, dataset=dataset, model=model)
    norms = np.linalg.norm(emb.X, axis=1)
    info = {
        "dataset": dataset,
        "model": model,
        "source": feature_file(dataset),
        "description": f"feature file {feature_file(dataset)}",
        "faces": int(len(emb.labels)),
        "dim": int(emb.X.shape[1]),
        "identities": int(np.unique(emb.labels).size),
        "source_dtype": "float64",
        "source_sha256": sources,
        "norm_min": float(norms.min()),
        "norm_max": float(norms.max()),
        "normalised": False,
    }
    embed_stage.write_metrics(paths, dataset, model, info)


# --------------------------------------------------------------------------------------------
# a skipped dataset
# --------------------------------------------------------------------------------------------
def _skipped_dataset(
    paths: ProjectPaths, params: Params, dataset: str, models: Sequence[str]
) -> None:
    """The skipped forms: faces as its stage writes them for a folder without images, then
    the stages that follow, run on it."""
    out = paths.faces(dataset)
    out.mkdir(parents=True, exist_ok=True)
    faces_stage.write_manifest([], paths.manifest(dataset))
    empty = np.zeros((0, 32, 32, 3), np.uint8)
    for name in faces_stage.CROPS.values():
        _save_npy(empty, out / name)
    faces_stage.write_summary(
        paths,
        dataset,
        faces_stage.skipped_summary(
            dataset, SKIP_REASON.replace("<dataset>", dataset), "synthetic"
        ),
    )
    subsets_stage.run(dataset, params, paths)  # the empty subsets of a skipped dataset
    for model in models:
        embed_stage.run(dataset, model, params, paths)  # empty embeddings
        maps_stage.run(params, paths, [(dataset, model)])  # the placeholder maps
        sweep_stage.run(dataset, model, params, paths)  # the empty table of a skipped dataset


# --------------------------------------------------------------------------------------------
# results with chosen scores, for table tests
# --------------------------------------------------------------------------------------------
def results_frame(
    runs: Sequence[tuple[str, str, str, Mapping[str, Any], Sequence[float]]],
    *,
    n: int = 40,
    k_true: int = 8,
) -> pd.DataFrame:
    """A results table of the sweep's schema (:func:`facecluster.sweep.engine.finalise`) from
    per-subset ARI values.

    Parameters
    ----------
    runs : sequence of (dataset, model, method, params, ari per subset)
        Subset ``i`` gets ``ari[i]``; the other scores are derived from it (pairwise F1 =
        ARI + 0.01, BCubed F1 = ARI + 0.02, NMI = ARI + 0.03, other pair / BCubed scores =
        ARI, clusters = k_true + i, runtime 0.1·(i + 1) s) so tests can tell them apart.
    n, k_true : int
        Faces and true identities per subset.
    """
    rows = []
    for dataset, model, method, params, aris in runs:
        for i, ari in enumerate(aris):
            scores = {key: ari for key in EVALUATE_KEYS}
            scores |= {
                "nmi": ari + 0.03,
                "pairwise_f1": ari + 0.01,
                "bcubed_f1": ari + 0.02,
                "n_clusters": k_true + i,
                "n_true_clusters": k_true,
                "noise_fraction": 0.0,
            }
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
                    **scores,
                    "runtime_s": 0.1 * (i + 1),
                    "task_runtime_s": 0.1 * (i + 1),
                }
            )
    return finalise([pd.DataFrame(rows)])


def _page(path: Path, title: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title>"
        f"</head><body><h1>{title}</h1></body></html>\n",
        encoding="utf-8",
    )


def identity_blobs(n_id: int = 40, dim: int = 16, noise: float = 0.3, seed: int = 0):
    """``(X, labels)``: identities of 1-6 faces around random centres, on the unit sphere
    (float32, no exact ties), for the protocol tests of the otto and scale stages."""
    rs = np.random.default_rng(seed)
    sizes = rs.integers(1, 7, n_id)
    labels = np.repeat([f"p{i:03d}" for i in range(n_id)], sizes)
    centres = rs.normal(size=(n_id, dim))
    X = centres[np.repeat(np.arange(n_id), sizes)] + noise * rs.normal(size=(sizes.sum(), dim))
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32), labels
