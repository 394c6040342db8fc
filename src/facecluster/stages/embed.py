"""Stage ``embed@<dataset>-<model>``: embed a dataset's face crops with one model.

Output ``data/embeddings/<dataset>-<model>.npz`` (read only through :func:`read_embeddings`):

``embeddings`` (n, d) float32 L2-normalised, ``labels`` (n,) identities, ``ids`` (n,) manifest
face ids and ``relpaths`` (n,) of the clustering set, in the faces manifest's crop order;
``extra_embeddings`` / ``extra_relpaths`` for faces outside it (LFW images that only pairs.txt
names); ``weights_sha256``, ``source_sha256`` (JSON ``{file: sha256}`` of the feature files a
dataset of precomputed vectors was read from, written by :mod:`facecluster.stages.features`;
``{}`` here), ``dataset``, ``model``; ``skip_reason`` ("" unless the faces stage
skipped the dataset, when every array is empty).

Metrics ``data/embeddings/<dataset>-<model>.json`` (:func:`read_metrics`): counts,
throughput, device, weights hash and, for LFW, the 10-fold verification accuracy on
pairs.txt.  The study report reads these, never the executed notebook; the 2-D maps of the
embeddings are the maps stage's (:mod:`facecluster.stages.maps`).
"""

from __future__ import annotations

import json
import logging
import time
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from facecluster.artifacts import (
    SKIP_FIELD,
    npz_skip_reason,
    read_metrics_record,
    write_npz,
)
from facecluster.artifacts import write_metrics as write_metrics_file
from facecluster.config import Params
from facecluster.errors import UserError
from facecluster.paths import ProjectPaths
from facecluster.stages import faces as faces_stage

log = logging.getLogger(__name__)


class EmbeddingsError(UserError, ValueError):
    """An embeddings file is missing, unreadable or malformed."""


@dataclass(frozen=True)
class Embeddings:
    """The rows of an embeddings file (the study's, or any ``.npz`` with two arrays).

    ``X`` is float32 C-contiguous and finite; ``labels`` the identity of each row.  The other
    fields are ``None`` for files that do not hold them.
    """

    X: np.ndarray
    labels: np.ndarray
    ids: np.ndarray | None = None
    relpaths: np.ndarray | None = None
    extra_X: np.ndarray | None = None
    extra_relpaths: np.ndarray | None = None
    weights_sha256: str | None = None
    source_sha256: Mapping[str, str] | None = None
    skip_reason: str | None = None

    @property
    def skipped(self) -> bool:
        return self.skip_reason is not None


# --------------------------------------------------------------------------------------------
# the stage
# --------------------------------------------------------------------------------------------
def run(dataset: str, model: str, params: Params, paths: ProjectPaths) -> dict[str, Any]:
    """Embed, then (LFW) score the 10-fold verification; writes the stage's metrics JSON."""
    params.dataset(dataset), params.model(model)  # unknown names: one config error
    faces = faces_stage.read_summary(paths, dataset)
    out_path = paths.embeddings(dataset, model)
    if faces.skipped:
        log.warning("dataset %s was skipped by the faces stage: %s", dataset, faces.skip_reason)
        write_skipped(out_path, dataset, model, faces.skip_reason or "")
        info: dict[str, Any] = {"dataset": dataset, "model": model, SKIP_FIELD: faces.skip_reason}
    else:
        info = _embed(dataset, model, params, paths)
        spec = params.dataset(dataset)
        if spec.kind == "lfw" and spec.pairs_faces:
            info["verification"] = _verify_lfw(dataset, model, paths)
    write_metrics(paths, dataset, model, info)
    return info


def _embed(dataset: str, model: str, params: Params, paths: ProjectPaths) -> dict[str, Any]:
    from facecluster.embed.extract import embed_batches, make_loader
    from facecluster.embed.models import load_embedder
    from facecluster.stages.weights import read_weights

    spec, ex = params.model(model), params.execution
    weights = read_weights(model, params, paths)
    embedder = load_embedder(model, spec, weights.path, weights.sha256, ex.device)
    manifest = faces_stage.read_manifest(paths, dataset)
    ok = manifest[manifest["status"] == "ok"].sort_values("crop_index")
    crops = faces_stage.read_crops(paths, dataset, embedder.crop_family)
    t0 = time.perf_counter()
    loader = make_loader(crops, ok["crop_index"].to_numpy(), ex.embed_batch_size, ex.num_workers)
    emb = embed_batches(embedder, loader, progress=ex.progress, desc=f"embed {dataset}-{model}")
    seconds = time.perf_counter() - t0
    study = ok["in_study"].to_numpy()
    write_embeddings(
        paths.embeddings(dataset, model),
        Embeddings(
            emb[study],
            ok["identity"].to_numpy()[study].astype(str),
            ids=ok["face_id"].to_numpy()[study].astype(np.int64),
            relpaths=ok["relpath"].to_numpy()[study].astype(str),
            extra_X=emb[~study],
            extra_relpaths=ok["relpath"].to_numpy()[~study].astype(str),
            weights_sha256=embedder.weights_sha256,
        ),
        dataset=dataset,
        model=model,
    )
    info = {
        "dataset": dataset,
        "model": model,
        SKIP_FIELD: None,
        "faces": int(len(ok)),
        "study_faces": int(study.sum()),
        "identities": int(ok.loc[ok["in_study"], "identity"].nunique()),
        "dim": int(emb.shape[1]),
        "seconds": round(seconds, 1),
        "images_per_second": round(len(ok) / max(seconds, 1e-9), 1),
        "device": embedder.device,
        "weights_sha256": embedder.weights_sha256,
    }
    log.info(
        "embedded %d faces of %s with %s: dim %d, %.1f img/s",
        len(ok), dataset, model, info["dim"], info["images_per_second"],
    )  # fmt: skip
    return info


def _verify_lfw(dataset: str, model: str, paths: ProjectPaths) -> dict[str, Any]:
    """10-fold accuracy on every pair of pairs.txt (people with < 3 images included)."""
    from facecluster.data.lfw import read_pairs
    from facecluster.embed.verify import lfw_verification

    pairs_txt = faces_stage.read_summary(paths, dataset).summary.get("pairs_txt")
    if not pairs_txt or not Path(pairs_txt).is_file():
        raise UserError(
            f"pairs.txt of dataset {dataset!r} not recorded by the faces stage (got {pairs_txt!r})"
        )
    pairs = read_pairs(pairs_txt)
    z = read_embeddings(paths.embeddings(dataset, model))
    assert z.extra_X is not None and z.relpaths is not None and z.extra_relpaths is not None
    emb = np.concatenate([z.X, z.extra_X.reshape(-1, z.X.shape[1])])
    rel = list(z.relpaths) + list(z.extra_relpaths)
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
        model, 100 * res["accuracy"], 100 * res["accuracy_std"], res["pairs_scored"],
        res["pairs"],
    )  # fmt: skip
    return res


# --------------------------------------------------------------------------------------------
# writers and readers
# --------------------------------------------------------------------------------------------
def metrics_path(paths: ProjectPaths, dataset: str, model: str) -> Path:
    """The stage's DVC metrics file: ``data/embeddings/<dataset>-<model>.json``."""
    return paths.embeddings(dataset, model).with_suffix(".json")


def write_embeddings(path: Path, emb: Embeddings, *, dataset: str, model: str) -> Path:
    """Write an embeddings file (the layout in this module's docstring)."""
    n = emb.X.shape[0]
    extra = emb.extra_X if emb.extra_X is not None else np.zeros((0, emb.X.shape[1]), np.float32)
    return write_npz(
        path,
        {
            "embeddings": emb.X,
            "labels": emb.labels,
            "ids": emb.ids if emb.ids is not None else np.arange(n, dtype=np.int64),
            "relpaths": emb.relpaths if emb.relpaths is not None else np.zeros(n, str),
            "extra_embeddings": extra,
            "extra_relpaths": (
                emb.extra_relpaths if emb.extra_relpaths is not None else np.zeros(0, str)
            ),
            "weights_sha256": emb.weights_sha256 or "",
            "source_sha256": json.dumps(dict(emb.source_sha256 or {}), sort_keys=True),
            "dataset": dataset,
            "model": model,
            SKIP_FIELD: emb.skip_reason or "",
        },
    )


def write_metrics(paths: ProjectPaths, dataset: str, model: str, info: dict[str, Any]) -> Path:
    """Write the stage's metrics (counts, verification) for one pair; throughput, device and
    the other text go to its run record (:func:`facecluster.artifacts.write_metrics`)."""
    return write_metrics_file(metrics_path(paths, dataset, model), info)


def read_metrics(paths: ProjectPaths, names: list[tuple[str, str]]) -> dict[str, dict]:
    """``{"<dataset>-<model>": metrics}`` of the pairs whose embed stage has run."""
    out = {}
    for dataset, model in names:
        if (p := metrics_path(paths, dataset, model)).is_file():
            out[f"{dataset}-{model}"] = read_metrics_record(p)
    return out


def write_skipped(path: Path, dataset: str, model: str, reason: str) -> None:
    """The empty embeddings file of a skipped dataset (the same layout, every array empty)."""
    empty = Embeddings(
        np.zeros((0, 0), np.float32), np.zeros(0, str), skip_reason=reason or "skipped"
    )
    write_embeddings(path, empty, dataset=dataset, model=model)


def read_embeddings(path: str | Path) -> Embeddings:
    """Read and validate an embeddings file: the study's, or any ``.npz`` with two arrays.

    Parameters
    ----------
    path : str or Path
        An ``.npz`` with ``embeddings`` (n, d) numeric and ``labels`` (n,) (identity of each
        row: ints or strings), optionally ``ids`` (n,) and the embed stage's other arrays.

    Returns
    -------
    Embeddings
        A skipped dataset's file gives empty arrays and ``skip_reason``.

    Raises
    ------
    EmbeddingsError
        Missing file or array, wrong shapes, mismatched lengths, NaN or infinite values.
    """
    path = Path(path)
    if not path.is_file():
        raise EmbeddingsError(f"embeddings file not found: {path}")
    try:
        npz = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise EmbeddingsError(f"{path}: not a readable .npz file ({exc})") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise EmbeddingsError(f"{path}: expected an .npz archive with named arrays, got an array")
    with npz:
        missing = [k for k in ("embeddings", "labels") if k not in npz.files]
        if missing and "skipped" in npz.files:
            raise EmbeddingsError(
                f"{path} was written by an older version of the embed stage; re-run it "
                "(`dvc repro` does)"
            )
        if missing:
            raise EmbeddingsError(
                f"{path}: missing array(s) {missing}; it has {sorted(npz.files)} "
                "(expected 'embeddings' (n, d) and 'labels' (n,), optionally 'ids')"
            )
        try:
            arrays = {k: npz[k] for k in npz.files}
        except ValueError as exc:  # object arrays need pickle
            raise EmbeddingsError(f"{path}: cannot read arrays ({exc})") from None
    skip = npz_skip_reason(arrays)
    if skip is not None:
        return Embeddings(np.zeros((0, 0), np.float32), np.zeros(0, str), skip_reason=skip)
    X, labels, ids = arrays["embeddings"], arrays["labels"], arrays.get("ids")
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
        raise EmbeddingsError(f"{path}: 'embeddings' must have shape (n, d), got {X.shape}")
    if not (np.issubdtype(X.dtype, np.floating) or np.issubdtype(X.dtype, np.integer)):
        raise EmbeddingsError(f"{path}: 'embeddings' must be numeric, got dtype {X.dtype}")
    if labels.ndim != 1 or labels.shape[0] != X.shape[0]:
        raise EmbeddingsError(
            f"{path}: 'labels' must have shape ({X.shape[0]},) like 'embeddings' "
            f"{X.shape}, got {labels.shape}"
        )
    for name in ("ids", "relpaths"):
        a = arrays.get(name)
        if a is not None and (a.ndim != 1 or a.shape[0] != X.shape[0]):
            raise EmbeddingsError(
                f"{path}: {name!r} must have shape ({X.shape[0]},) like 'embeddings', "
                f"got {a.shape}"
            )
    X = np.ascontiguousarray(X, dtype=np.float32)
    finite = np.isfinite(X).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise EmbeddingsError(
            f"{path}: {bad.size} embedding row(s) hold NaN or infinite values "
            f"(first at row {int(bad[0])})"
        )
    if np.issubdtype(labels.dtype, np.floating) and not np.isfinite(labels).all():
        raise EmbeddingsError(f"{path}: 'labels' hold NaN or infinite values")
    norms = np.linalg.norm(X, axis=1)
    if np.abs(norms - 1.0).max() > 1e-3:
        log.warning(
            "%s: embeddings are not L2-normalised (norms %.3g..%.3g); the default grids "
            "assume unit vectors",
            path, norms.min(), norms.max(),
        )  # fmt: skip
    sha = arrays.get("weights_sha256")
    try:
        sources = json.loads(str(arrays["source_sha256"])) if "source_sha256" in arrays else None
    except ValueError:
        raise EmbeddingsError(f"{path}: 'source_sha256' is not JSON") from None
    return Embeddings(
        X,
        labels,
        ids=ids,
        relpaths=arrays.get("relpaths"),
        extra_X=arrays.get("extra_embeddings"),
        extra_relpaths=arrays.get("extra_relpaths"),
        weights_sha256=str(sha) if sha is not None else None,
        source_sha256=sources,
    )
