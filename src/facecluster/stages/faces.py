"""Stage ``faces@<dataset>``: list a dataset, detect and crop its faces.

Outputs under ``data/faces/<dataset>/``:

``manifest.parquet``
    one row per source file, whatever happened to it (schema:
    :data:`facecluster.faces.manifest.SCHEMA`);
``crops_facenet.npy``, ``crops_lightcnn.npy``
    (n, S, S, 3) uint8 aligned crops, row ``i`` = the manifest's ``crop_index`` ``i``;
``summary.json``
    counts and facts (also the stage's DVC metrics ``reports/faces/<dataset>.json``).

An existing dataset folder without images is *skipped*: empty outputs whose summary has
``skip_reason``.  A dataset with images but no usable face raises :class:`NoUsableFacesError`.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from facecluster.artifacts import (
    SKIP_FIELD,
    read_json,
    read_metrics_record,
    write_json,
    write_metrics,
)
from facecluster.config import Params
from facecluster.errors import UserError
from facecluster.faces.manifest import NOT_COUNTED, SCHEMA, STATUSES, status_counts, study_faces
from facecluster.integrity import atomic_path
from facecluster.paths import ProjectPaths

log = logging.getLogger(__name__)

MANIFEST = "manifest.parquet"
CROPS = {"facenet": "crops_facenet.npy", "lightcnn": "crops_lightcnn.npy"}
SUMMARY = "summary.json"


class NoUsableFacesError(UserError, RuntimeError):
    """A dataset with images but not a single usable face."""


class FacesNotRunError(UserError, FileNotFoundError):
    """The faces stage of a dataset has not run (its summary is missing)."""


@dataclass(frozen=True)
class FacesOutput:
    """What the faces stage wrote for one dataset (``summary`` as in ``summary.json``)."""

    dataset: str
    out_dir: Path
    summary: dict[str, Any]

    @property
    def skip_reason(self) -> str | None:
        return self.summary.get(SKIP_FIELD)

    @property
    def skipped(self) -> bool:
        return self.skip_reason is not None


# --------------------------------------------------------------------------------------------
# the stage
# --------------------------------------------------------------------------------------------
def run(dataset: str, params: Params, paths: ProjectPaths) -> FacesOutput:
    """Run the faces stage of ``dataset``; returns what it wrote."""
    from facecluster.data.catalog import collect_dataset
    from facecluster.faces.pipeline import detect_and_crop

    spec = params.dataset(dataset)
    if spec.kind == "embeddings":
        raise UserError(f"dataset {dataset!r} is precomputed embeddings: it has no faces stage")
    out = paths.faces(dataset)
    out.mkdir(parents=True, exist_ok=True)
    for name in (MANIFEST, SUMMARY, *CROPS.values()):  # a stage rewrites its outs completely
        (out / name).unlink(missing_ok=True)
    t0 = time.perf_counter()
    listing = collect_dataset(dataset, spec, paths)
    log.info(
        "dataset %s (%s, detector=%s): %d images listed from %s (%s), %d files skipped",
        dataset, spec.kind, spec.detector, len(listing.records), listing.root, listing.source,
        len(listing.skipped),
    )  # fmt: skip
    faces = detect_and_crop(
        listing,
        detector_name=spec.detector,
        face_select=spec.face_select,
        detector=params.detector,
        crops=params.crops,
        execution=params.execution,
        name=dataset,
    )
    manifest = write_manifest(faces.rows, paths.manifest(dataset))
    if not listing.records:
        summary = skipped_summary(
            dataset, f"no images found in {paths.shown(listing.root)}", listing.source
        )
        log.warning("dataset %s skipped: %s", dataset, summary[SKIP_FIELD])
    elif faces.n_crops == 0:
        raise NoUsableFacesError(
            f"dataset {dataset!r}: not one usable face in {len(listing.records)} images "
            f"(statuses: {status_counts(manifest)}); see {paths.manifest(dataset)}"
        )
    else:
        extra = {
            **{
                k: v if v is None or isinstance(v, bool | int | float) else str(v)
                for k, v in (listing.extra or {}).items()
            },
            "source": listing.source,
            "root": str(listing.root),
            "detector": spec.detector,
            "seconds": round(time.perf_counter() - t0, 1),
        }
        summary = summarise(dataset, manifest, extra)
        log.info(
            "dataset %s: %d/%d images gave a face, %d identities, %.0f s",
            dataset, summary["faces"], summary["images"], summary["identities"],
            extra["seconds"],
        )  # fmt: skip
    _save_npy(faces.facenet, out / CROPS["facenet"])
    _save_npy(faces.lightcnn, out / CROPS["lightcnn"])
    write_summary(paths, dataset, summary)
    return FacesOutput(dataset, out, summary)


def skipped_summary(dataset: str, reason: str, source: str) -> dict[str, Any]:
    """The summary of a skipped dataset (no images): zero counts and ``skip_reason``."""
    return {
        "dataset": dataset,
        SKIP_FIELD: reason,
        "images": 0,
        "faces": 0,
        "failed": 0,
        "identities": 0,
        "status": {},
        "failure_reasons": {},
        "source": source,
    }


def summarise(dataset: str, manifest: pd.DataFrame, extra: dict[str, Any]) -> dict[str, Any]:
    """The summary of a dataset with faces: counts by status and reason, identities."""
    study = study_faces(manifest)
    listed = manifest[manifest["in_study"]]
    not_counted = listed["status"].isin(NOT_COUNTED)
    in_study = listed[~not_counted]  # the images of the set: ignored files and links are not
    failed = in_study[in_study["status"] != "ok"]
    reasons = Counter(r.split(":")[0] for r in failed["reason"])
    return {
        "dataset": dataset,
        SKIP_FIELD: None,
        "images": int(len(in_study)),
        "faces": int(len(study)),
        "failed": int(len(in_study) - len(study)),
        "identities": int(study["identity"].nunique()),
        "identities_listed": int(in_study["identity"].nunique()),
        "status": status_counts(listed),
        "ignored": int((listed["status"] == "ignored").sum()),
        "duplicates": int((listed["status"] == "duplicate").sum()),
        "failure_reasons": dict(reasons.most_common()),
        "multi_face_images": int((study["n_faces"] > 1).sum()),
        "face_px_median": face_px_median(study),
        "extra_images": int((~manifest["in_study"]).sum()),
        "extra_faces": int(((~manifest["in_study"]) & (manifest["status"] == "ok")).sum()),
        **extra,
    }


def face_px_median(faces: pd.DataFrame) -> float | None:
    """Median short side (source pixels) of the kept face boxes; None when there is none.

    The resolution the models actually see: the mirror's MUCT crops give 24, LFW's
    deep-funneled faces about 100, while FaceNet and LightCNN were trained on 160 / 128 px
    crops of larger faces.
    """
    boxes = [b for b in faces["bbox"] if b is not None and len(b) == 4]
    if not boxes:
        return None
    arr = np.asarray(boxes, dtype=np.float64)
    return float(np.median(np.minimum(arr[:, 2] - arr[:, 0], arr[:, 3] - arr[:, 1])))


# --------------------------------------------------------------------------------------------
# writers and readers
# --------------------------------------------------------------------------------------------
def metrics_path(paths: ProjectPaths, dataset: str) -> Path:
    """The stage's DVC metrics file: ``reports/faces/<dataset>.json``."""
    return paths.report_dir("faces") / f"{dataset}.json"


def write_summary(paths: ProjectPaths, dataset: str, summary: dict[str, Any]) -> None:
    """The summary beside the crops and, as the stage's DVC metrics, under reports/faces/:
    its results in ``<dataset>.json``, its paths, source and timing in ``<dataset>.run.json``
    (:func:`facecluster.artifacts.write_metrics`)."""
    write_json(paths.faces(dataset) / SUMMARY, summary)
    write_metrics(metrics_path(paths, dataset), summary)


def read_summary(paths: ProjectPaths, dataset: str) -> FacesOutput:
    """What the faces stage of ``dataset`` wrote (its summary)."""
    out = paths.faces(dataset)
    if not (out / SUMMARY).is_file():
        raise FacesNotRunError(f"{out / SUMMARY} not found; run `dvc repro faces@{dataset}` first")
    summary = read_json(out / SUMMARY)
    if SKIP_FIELD not in summary:
        raise UserError(
            f"{out / SUMMARY} has no {SKIP_FIELD!r} field: written by an older version; "
            f"re-run `dvc repro faces@{dataset}`"
        )
    return FacesOutput(dataset, out, summary)


def read_metrics(paths: ProjectPaths, datasets: list[str]) -> dict[str, dict[str, Any]]:
    """``{dataset: metrics and run record}`` of the datasets whose faces stage has run."""
    return {d: read_metrics_record(p) for d in datasets if (p := metrics_path(paths, d)).is_file()}


def write_manifest(rows: list[dict], path: Path) -> pd.DataFrame:
    """Validate the rows against :data:`SCHEMA` and write them atomically as parquet."""
    for row in rows:
        if row["status"] not in STATUSES:
            raise ValueError(f"unknown manifest status {row['status']!r}")
    table = pa.Table.from_pylist(rows, schema=SCHEMA)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return table.to_pandas()


def read_manifest(paths: ProjectPaths, dataset: str) -> pd.DataFrame:
    """The manifest of ``dataset`` (schema checked)."""
    path = paths.manifest(dataset)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; run `dvc repro faces@{dataset}`")
    table = pq.read_table(path)
    missing = set(SCHEMA.names) - set(table.column_names)
    if missing:
        raise UserError(f"{path} is not a face manifest: missing columns {sorted(missing)}")
    return table.to_pandas()


def read_crops(paths: ProjectPaths, dataset: str, family: str) -> np.ndarray:
    """The crop array of ``family`` (``facenet`` or ``lightcnn``), memory-mapped."""
    try:
        name = CROPS[family]
    except KeyError:
        raise ValueError(f"unknown crop family {family!r} (known: {sorted(CROPS)})") from None
    return np.load(paths.faces(dataset) / name, mmap_mode="r")


def study_labels(paths: ProjectPaths, dataset: str) -> np.ndarray:
    """Identities of the clustering set, in the order of the embeddings files' rows."""
    faces = study_faces(read_manifest(paths, dataset))
    return faces["identity"].to_numpy().astype(str)


def _save_npy(array: np.ndarray, path: Path) -> None:
    with atomic_path(path) as tmp, tmp.open("wb") as fh:
        np.save(fh, array)
