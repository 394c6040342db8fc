"""The faces stage: list a dataset, detect and crop faces, write crops + manifest + summary."""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from facecluster.config import Params
from facecluster.data.catalog import collect_dataset
from facecluster.data.images import ImageLoadError, load_image_rgb
from facecluster.faces.align import facenet_crop, lightcnn_crop
from facecluster.faces.detect import Detection, choose_face, make_detector
from facecluster.faces.manifest import status_counts, study_faces, write_manifest
from facecluster.integrity import atomic_path
from facecluster.paths import ProjectPaths

log = logging.getLogger(__name__)

CROPS_FACENET = "crops_facenet.npy"
CROPS_LIGHTCNN = "crops_lightcnn.npy"
SUMMARY = "summary.json"


class NoUsableFacesError(RuntimeError):
    """A dataset with images but not a single usable face."""


@dataclass
class FacesResult:
    dataset: str
    out_dir: Path
    summary: dict = field(default_factory=dict)

    @property
    def skipped(self) -> bool:
        return bool(self.summary.get("skipped"))


def _base_row(face_id: int, rec, status: str = "ok", reason: str = "") -> dict:
    return {
        "face_id": face_id,
        "relpath": rec.relpath,
        "source_path": str(rec.path),
        "identity": rec.identity,
        "in_study": bool(getattr(rec, "in_study", True)),
        "status": status,
        "reason": reason,
        "n_faces": 0,
        "score": float("nan"),
        "bbox": [],
        "landmarks": [],
        "width": 0,
        "height": 0,
        "crop_index": -1,
    }


def _save_npy(array: np.ndarray, path: Path) -> None:
    with atomic_path(path) as tmp, tmp.open("wb") as fh:
        np.save(fh, array)


def _summarise(name: str, rows: list[dict], manifest, extra: dict) -> dict:
    study = study_faces(manifest)
    in_study = manifest[manifest["in_study"]]
    reasons = Counter(
        r["reason"].split(":")[0] for r in rows if r["status"] != "ok" and r["in_study"]
    )
    return {
        "dataset": name,
        "skipped": False,
        "images": int(len(in_study)),
        "faces": int(len(study)),
        "failed": int(len(in_study) - len(study)),
        "identities": int(study["identity"].nunique()),
        "identities_listed": int(in_study["identity"].nunique()),
        "status": status_counts(in_study),
        "failure_reasons": dict(reasons.most_common()),
        "multi_face_images": int((study["n_faces"] > 1).sum()),
        "extra_images": int((~manifest["in_study"]).sum()),
        "extra_faces": int(((~manifest["in_study"]) & (manifest["status"] == "ok")).sum()),
        **extra,
    }


def extract_faces(
    name: str, params: Params, paths: ProjectPaths, *, progress: bool = True
) -> FacesResult:
    """Run the faces stage for dataset ``name``; returns the summary written to disk.

    Outputs under ``data/faces/<name>/``: ``manifest.parquet`` (every source file and what
    happened to it), ``crops_facenet.npy`` (n, S, S, 3) uint8 and ``crops_lightcnn.npy``
    (n, s, s, 3) uint8 indexed by the manifest's ``crop_index``, and ``summary.json``.
    An existing dataset folder without images is *skipped*: empty outputs and a summary that
    says so.  A dataset with images but no usable face raises :class:`NoUsableFacesError`.
    """
    spec = params.dataset(name)
    if spec.kind == "embeddings":
        raise ValueError(f"dataset {name!r} is precomputed embeddings: it has no faces stage")
    out = paths.faces(name)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    listing = collect_dataset(name, spec, paths)
    records = listing.records
    log.info(
        "dataset %s (%s, detector=%s): %d images listed from %s (%s), %d files skipped",
        name, spec.kind, spec.detector, len(records), listing.root, listing.source,
        len(listing.skipped),
    )
    fsize, lsize = params.crops.facenet_size, params.crops.lightcnn_size
    rows: list[dict] = []
    for rec in listing.skipped:  # files the listing already rejected (not images, …)
        row = _base_row(-1, rec, status_for_reason(rec.reason), rec.reason)
        row["identity"] = rec.identity or ""
        row["in_study"] = True
        rows.append(row)

    if not records:
        summary = {
            "dataset": name,
            "skipped": True,
            "reason": f"no images found in {listing.root}",
            "images": 0,
            "faces": 0,
            "failed": 0,
            "identities": 0,
            "status": {},
            "failure_reasons": {},
            "source": listing.source,
        }
        log.warning("dataset %s skipped: %s", name, summary["reason"])
        for i, row in enumerate(rows):
            row["face_id"] = i
        write_manifest(rows, paths.manifest(name))
        _save_npy(np.zeros((0, fsize, fsize, 3), np.uint8), out / CROPS_FACENET)
        _save_npy(np.zeros((0, lsize, lsize, 3), np.uint8), out / CROPS_LIGHTCNN)
        _write_summary(summary, out, paths, name)
        return FacesResult(name, out, summary)

    detector = make_detector(spec.detector, params.detector)
    crops_f = np.zeros((len(records), fsize, fsize, 3), np.uint8)
    crops_l = np.zeros((len(records), lsize, lsize, 3), np.uint8)
    n_crops = 0
    batch = params.detector.mtcnn.batch_size if spec.detector == "mtcnn" else 64
    margin = params.detector.mtcnn.margin if spec.detector == "mtcnn" else params.detector.haar.margin
    if spec.detector == "none":
        margin = 0
    bar = tqdm(total=len(records), desc=f"faces {name}", unit="img", disable=not progress)
    for start in range(0, len(records), batch):
        chunk = records[start : start + batch]
        images, ok_rows = [], []
        for rec in chunk:
            row = _base_row(-1, rec)
            try:
                img = load_image_rgb(rec.path)
            except ImageLoadError as exc:
                row["status"], row["reason"] = status_for_reason(exc.reason), exc.reason
            else:
                row["height"], row["width"] = int(img.shape[0]), int(img.shape[1])
                images.append(img)
                ok_rows.append(row)
            rows.append(row)
        for img, row, dets in zip(images, ok_rows, _detect_safely(detector, images), strict=True):
            if isinstance(dets, Exception):
                row["status"], row["reason"] = "detector_error", f"detector error: {dets}"
                continue
            row["n_faces"] = len(dets)
            if not dets:
                row["status"], row["reason"] = "no_face", "no face detected"
                continue
            best = choose_face(dets, spec.face_select, img.shape[1], img.shape[0])
            try:
                crops_f[n_crops] = facenet_crop(img, best, fsize, margin)
                crops_l[n_crops] = lightcnn_crop(img, best, lsize)
            except ValueError as exc:
                row["status"], row["reason"] = "detector_error", f"crop failed: {exc}"
                continue
            row["score"] = best.score
            row["bbox"] = [float(v) for v in best.box]
            if best.landmarks is not None:
                row["landmarks"] = [float(v) for v in np.asarray(best.landmarks).ravel()]
            row["crop_index"] = n_crops
            n_crops += 1
        bar.update(len(chunk))
    bar.close()
    for i, row in enumerate(rows):
        row["face_id"] = i
    manifest = write_manifest(rows, paths.manifest(name))
    if n_crops == 0:
        raise NoUsableFacesError(
            f"dataset {name!r}: not one usable face in {len(records)} images "
            f"(statuses: {status_counts(manifest)}); see {paths.manifest(name)}"
        )
    _save_npy(crops_f[:n_crops], out / CROPS_FACENET)
    _save_npy(crops_l[:n_crops], out / CROPS_LIGHTCNN)
    extra = {
        **{k: str(v) for k, v in (listing.extra or {}).items()},
        "source": listing.source,
        "root": str(listing.root),
        "detector": spec.detector,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    summary = _summarise(name, rows, manifest, extra)
    _write_summary(summary, out, paths, name)
    log.info(
        "dataset %s: %d/%d images gave a face, %d identities, %.0f s",
        name, summary["faces"], summary["images"], summary["identities"], extra["seconds"],
    )
    return FacesResult(name, out, summary)


def status_for_reason(reason: str) -> str:
    """The manifest status of a file the image loader rejected, from its reason text."""
    if reason.startswith("unreadable") or reason == "missing file":
        return "unreadable"
    if reason.startswith("not an image") or reason == "not a regular file":
        return "not_image"
    return "corrupt"  # zero-byte, truncated or corrupt, too large


def _detect_safely(detector, images: list[np.ndarray]) -> list[list[Detection] | Exception]:
    """Detect on a batch; if the batch fails, retry image by image and keep the errors."""
    if not images:
        return []
    try:
        return list(detector.detect(images))
    except Exception:  # noqa: BLE001 — a bad image must not stop the stage
        log.warning("batch detection failed; retrying %d images one by one", len(images))
    results: list[list[Detection] | Exception] = []
    for img in images:
        try:
            results.append(detector.detect([img])[0])
        except Exception as exc:  # noqa: BLE001
            results.append(exc)
    return results


def _write_json(obj: dict, path: Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _write_summary(summary: dict, out: Path, paths: ProjectPaths, name: str) -> None:
    """The summary beside the crops and, as the stage's DVC metrics, under reports/faces/."""
    _write_json(summary, out / SUMMARY)
    metrics = {k: v for k, v in summary.items() if k not in ("root",)}
    _write_json(metrics, paths.report_dir("faces") / f"{name}.json")


def load_summary(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def load_crops(out_dir: Path, family: str) -> np.ndarray:
    """The crop array of ``family`` (``facenet`` or ``lightcnn``), memory-mapped."""
    name = {"facenet": CROPS_FACENET, "lightcnn": CROPS_LIGHTCNN}[family]
    return np.load(Path(out_dir) / name, mmap_mode="r")
