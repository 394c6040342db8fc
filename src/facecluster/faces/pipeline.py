"""Detection and cropping of a listed dataset, in memory (the faces stage writes the result).

:func:`detect_and_crop` turns a :class:`~facecluster.data.catalog.DatasetListing` into one
manifest row per source file (whatever happened to it) and the aligned crop arrays of both
embedder families; :mod:`facecluster.stages.faces` writes them and is their only reader.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from facecluster.config import CropSettings, DetectorSettings, ExecutionSettings
from facecluster.data.catalog import DatasetListing
from facecluster.data.images import ImageLoadError, load_image_rgb
from facecluster.faces.align import facenet_crop, lightcnn_crop
from facecluster.faces.detect import Detection, choose_face, make_detector

log = logging.getLogger(__name__)


@dataclass
class FaceCrops:
    """The faces of one dataset: manifest rows (``face_id`` in order) and the crop arrays."""

    rows: list[dict]
    facenet: np.ndarray  # (n_crops, S, S, 3) uint8, row i = manifest crop_index i
    lightcnn: np.ndarray  # (n_crops, s, s, 3) uint8

    @property
    def n_crops(self) -> int:
        return int(self.facenet.shape[0])


def base_row(face_id: int, rec, status: str = "ok", reason: str = "") -> dict:
    """A manifest row of a listed (or rejected) file before detection."""
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


def detect_and_crop(
    listing: DatasetListing,
    *,
    detector_name: str,
    face_select: str,
    detector: DetectorSettings,
    crops: CropSettings,
    execution: ExecutionSettings,
    name: str = "",
) -> FaceCrops:
    """Detect, choose one face per image and crop it for both embedder families.

    Files the listing rejected come first (their status from their reason); every listed
    image then gets ``ok`` with a crop, or the status saying why not.  ``face_id`` is the
    row number.  Bad input never raises: it is a row with a status.
    """
    records = listing.records
    fsize, lsize = crops.facenet_size, crops.lightcnn_size
    rows: list[dict] = []
    for rec in listing.skipped:  # files the listing already rejected (not images, …)
        row = base_row(-1, rec, status_for_reason(rec.reason), rec.reason)
        row["identity"] = rec.identity or ""
        row["in_study"] = True
        rows.append(row)
    if not records:
        for i, row in enumerate(rows):
            row["face_id"] = i
        empty = np.zeros((0, fsize, fsize, 3), np.uint8), np.zeros((0, lsize, lsize, 3), np.uint8)
        return FaceCrops(rows, *empty)

    det = make_detector(detector_name, detector, execution.device)
    crops_f = np.zeros((len(records), fsize, fsize, 3), np.uint8)
    crops_l = np.zeros((len(records), lsize, lsize, 3), np.uint8)
    n_crops = 0
    batch = execution.detector_batch_size if detector_name == "mtcnn" else 64
    margin = detector.mtcnn.margin if detector_name == "mtcnn" else detector.haar.margin
    if detector_name == "none":
        margin = 0
    bar = tqdm(
        total=len(records), desc=f"faces {name}", unit="img", disable=not execution.progress
    )
    for start in range(0, len(records), batch):
        chunk = records[start : start + batch]
        images, ok_rows = [], []
        for rec in chunk:
            row = base_row(-1, rec)
            try:
                img = load_image_rgb(rec.path)
            except ImageLoadError as exc:
                row["status"], row["reason"] = status_for_reason(exc.reason), exc.reason
            else:
                row["height"], row["width"] = int(img.shape[0]), int(img.shape[1])
                images.append(img)
                ok_rows.append(row)
            rows.append(row)
        for img, row, dets in zip(images, ok_rows, _detect_safely(det, images), strict=True):
            if isinstance(dets, Exception):
                row["status"], row["reason"] = "detector_error", f"detector error: {dets}"
                continue
            row["n_faces"] = len(dets)
            if not dets:
                row["status"], row["reason"] = "no_face", "no face detected"
                continue
            best = choose_face(dets, face_select, img.shape[1], img.shape[0])
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
    return FaceCrops(rows, crops_f[:n_crops], crops_l[:n_crops])


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
