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
from facecluster.faces import castiel
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

    Memory is bounded whatever the photos: a detection batch holds at most
    ``execution.detector_batch_size`` images and ``execution.detector_batch_megapixels`` of
    full-size pixels (plus the next image, decoded before the batch is known to be full), and
    the detector works on copies capped at ``detector.max_side`` (see
    :func:`~facecluster.faces.detect.make_detector`).  Boxes, landmarks, ``width`` and
    ``height`` are in full-size pixels and the crops are cut from the full image.
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
    max_count = execution.detector_batch_size if detector_name == "mtcnn" else 64
    max_pixels = execution.detector_batch_megapixels * 1e6
    margin = detector.mtcnn.margin if detector_name == "mtcnn" else detector.haar.margin
    if detector_name == "none":
        margin = 0
    crop = _Cropper(face_select, margin, crops_f, crops_l, preset=detector_name == "haar-castiel")
    bar = tqdm(
        total=len(records), desc=f"faces {name}", unit="img", disable=not execution.progress
    )
    # Images are decoded one at a time into a batch bounded by count *and* by full-size pixels,
    # so a folder of phone photos never holds 32 of them at once: an image that would take the
    # batch over ``max_pixels`` first sends the batch to the detector (it is then the first of
    # the next one; a single image larger than the bound is a batch of its own).
    batch: list[tuple[np.ndarray, dict]] = []
    held = 0  # full-size pixels in ``batch``
    unreported = 0  # records read since the bar was last moved
    for rec in records:
        if len(batch) >= max_count:
            n_crops = crop(det, batch, n_crops)
            batch, held = [], 0
            bar.update(unreported)
            unreported = 0
        row = base_row(-1, rec)
        rows.append(row)
        unreported += 1
        try:
            img = load_image_rgb(rec.path)
        except ImageLoadError as exc:
            row["status"], row["reason"] = status_for_reason(exc.reason), exc.reason
            continue
        row["height"], row["width"] = int(img.shape[0]), int(img.shape[1])
        pixels = img.shape[0] * img.shape[1]
        if batch and held + pixels > max_pixels:
            n_crops = crop(det, batch, n_crops)
            batch, held = [], 0
            bar.update(unreported - 1)
            unreported = 1
        batch.append((img, row))
        held += pixels
        del img  # the batch holds it; nothing else may keep it alive past the batch
    if batch:
        n_crops = crop(det, batch, n_crops)
    del batch
    bar.update(unreported)
    bar.close()
    for i, row in enumerate(rows):
        row["face_id"] = i
    return FaceCrops(rows, crops_f[:n_crops], crops_l[:n_crops])


@dataclass
class _Cropper:
    """Detect on one batch, choose a face per image and write its crops (full-size pixels).

    Writes crop ``n_crops``, ``n_crops + 1``, … of ``facenet``/``lightcnn`` in the batch's order
    and fills each batch row in place; called, it returns the new crop count.  ``preset``: the
    Castiel report's choice and FaceNet crop (:mod:`facecluster.faces.castiel`) instead of
    ``face_select`` and the margin.
    """

    face_select: str
    margin: int
    facenet: np.ndarray
    lightcnn: np.ndarray
    preset: bool = False

    def __call__(self, det, batch: list[tuple[np.ndarray, dict]], n_crops: int) -> int:
        fsize, lsize = self.facenet.shape[1], self.lightcnn.shape[1]
        results = _detect_safely(det, [img for img, _ in batch])
        for (img, row), dets in zip(batch, results, strict=True):
            if isinstance(dets, Exception):
                row["status"], row["reason"] = "detector_error", f"detector error: {dets}"
                continue
            row["n_faces"] = len(dets)
            if not dets:
                row["status"], row["reason"] = "no_face", "no face detected"
                continue
            if self.preset:
                chosen = castiel.choose(dets)
                if chosen.face is None:
                    row["status"], row["reason"] = "border_face", chosen.reason
                    continue
                best = chosen.face
            else:
                best = choose_face(dets, self.face_select, img.shape[1], img.shape[0])
            try:
                self.facenet[n_crops] = (
                    castiel.crop(img, best, fsize)
                    if self.preset
                    else facenet_crop(img, best, fsize, self.margin)
                )
                self.lightcnn[n_crops] = lightcnn_crop(img, best, lsize)
            except ValueError as exc:
                row["status"], row["reason"] = "detector_error", f"crop failed: {exc}"
                continue
            row["score"] = best.score
            row["bbox"] = [float(v) for v in best.box]
            if best.landmarks is not None:
                row["landmarks"] = [float(v) for v in np.asarray(best.landmarks).ravel()]
            row["crop_index"] = n_crops
            n_crops += 1
        return n_crops


def status_for_reason(reason: str) -> str:
    """The manifest status of a file the listing or the image loader rejected, from its
    reason text (``ignored``/``duplicate`` rows are not counted among the images)."""
    if reason.startswith("ignored"):
        return "ignored"  # beside the person folders (a README), or a link out of the dataset
    if reason.startswith("duplicate"):
        return "duplicate"  # a second path (link) to a folder or file already listed
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
