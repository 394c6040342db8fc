"""Face detectors: MTCNN (facenet-pytorch, its shipped weights), OpenCV Haar, and ``none``.

Every detector maps a batch of RGB uint8 images to a list of :class:`Detection` lists, one per
image, sorted by decreasing confidence.  The faces stage keeps the most confident face (the
Castiel report's code kept the *first* Haar detection; we record how many were found).

MTCNN and Haar run on a bounded-size copy (:class:`BoundedDetector`, ``detector.max_side``):
their memory grows with the pixels they are given (MTCNN turns the whole batch into float32
and builds an image pyramid from it: about 50 bytes per input pixel), so a 12 MP phone photo
would otherwise cost about 1 GB.  Boxes and landmarks come back in full-resolution pixels, and
the crops are cut from the full image.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from facecluster.config import DetectorSettings, HaarSettings, MtcnnSettings
from facecluster.device import resolve_device

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Detection:
    """One face: box ``(x1, y1, x2, y2)`` in pixels, a confidence, optional 5 landmarks.

    Landmarks are ``(5, 2)`` pixel coordinates in MTCNN's order: left eye, right eye, nose,
    left mouth corner, right mouth corner (left/right as seen in the image).
    """

    box: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray | None = None


class Detector(Protocol):
    name: str

    def detect(self, images: list[np.ndarray]) -> list[list[Detection]]: ...


class MtcnnDetector:
    """facenet-pytorch's MTCNN (P/R/O-Net weights ship inside the package).

    It sees the images it is given: through :func:`make_detector` these are the copies capped
    at ``detector.max_side``, so ``min_face_size`` is in pixels *of the copy* (with the default
    1600, a face must be about 50 px wide in a 4032×3024 photo, 20 px in a 1600 px one).
    """

    name = "mtcnn"

    def __init__(self, settings: MtcnnSettings, device: str = "auto") -> None:
        from facecluster.compat import ensure_torchvision_ops

        ensure_torchvision_ops()
        from facenet_pytorch import MTCNN

        self.settings = settings
        self.device = resolve_device(device)
        self._mtcnn = MTCNN(
            min_face_size=settings.min_face_size,
            thresholds=list(settings.thresholds),
            factor=settings.factor,
            select_largest=False,  # sort by probability, not by size
            keep_all=True,
            device=self.device,
        )

    def detect(self, images: list[np.ndarray]) -> list[list[Detection]]:
        import torch

        out: list[list[Detection]] = [[] for _ in images]
        # MTCNN batches images of one size; group by shape.
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, img in enumerate(images):
            groups.setdefault(img.shape, []).append(i)
        for idx in groups.values():
            # A tensor, not an array: facenet-pytorch copies a numpy batch once more before
            # converting it to float (same pixels, one uint8 copy of the batch less).
            batch = torch.from_numpy(np.stack([images[i] for i in idx]))
            boxes, probs, points = self._mtcnn.detect(batch, landmarks=True)
            del batch
            for j, i in enumerate(idx):
                if boxes[j] is None:
                    continue
                dets = [
                    Detection(tuple(float(v) for v in b), float(p), np.asarray(lm, np.float32))
                    for b, p, lm in zip(boxes[j], probs[j], points[j], strict=True)
                ]
                out[i] = sorted(dets, key=lambda d: -d.score)
        return out


class HaarDetector:
    """OpenCV's ``haarcascade_frontalface_alt2`` (the Castiel report's detector).

    Confidence is the cascade's level weight (``detectMultiScale3`` with reject levels).  As
    for MTCNN, ``min_size`` is in pixels of the image it is given (the capped copy).
    """

    name = "haar"

    def __init__(self, settings: HaarSettings) -> None:
        import cv2

        path = Path(settings.cascade)
        if not path.is_file():
            path = Path(cv2.data.haarcascades) / settings.cascade
        if not path.is_file():
            raise FileNotFoundError(
                f"Haar cascade not found: {settings.cascade} (looked in {path.parent})"
            )
        self._cascade = cv2.CascadeClassifier(str(path))
        if self._cascade.empty():
            raise RuntimeError(f"OpenCV could not load the Haar cascade {path}")
        self.settings = settings

    def detect(self, images: list[np.ndarray]) -> list[list[Detection]]:
        import cv2

        out: list[list[Detection]] = []
        for img in images:
            grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
            rects, _levels, weights = self._cascade.detectMultiScale3(
                grey,
                scaleFactor=self.settings.scale_factor,
                minNeighbors=self.settings.min_neighbors,
                minSize=(self.settings.min_size, self.settings.min_size),
                outputRejectLevels=True,
            )
            dets = [
                Detection((float(x), float(y), float(x + w), float(y + h)), float(s))
                for (x, y, w, h), s in zip(
                    np.asarray(rects).reshape(-1, 4), np.ravel(weights), strict=True
                )
            ]
            out.append(sorted(dets, key=lambda d: -d.score))
        return out


class WholeImage:
    """``none``: the image already is a face crop (e.g. the MUCT 24×32 crops)."""

    name = "none"

    def detect(self, images: list[np.ndarray]) -> list[list[Detection]]:
        return [
            [Detection((0.0, 0.0, float(im.shape[1]), float(im.shape[0])), 1.0)] for im in images
        ]


def detection_copy(image: np.ndarray, max_side: int | None) -> tuple[np.ndarray, float, float]:
    """The image a detector sees, and the factors ``(sx, sy)`` mapping its pixels back.

    An image whose longest side is at most ``max_side`` (or any image when ``max_side`` is
    None) is returned itself with factors 1: no resampling, so its detections are exactly
    those of the full image.  A larger one is shrunk with ``cv2.INTER_AREA`` (which averages
    the pixels it drops, so small faces are not aliased away) until its longest side is
    ``max_side``; ``x_full = x_copy * sx`` (and ``sy`` for y) undoes it, each axis separately
    because the copy's sides are rounded to whole pixels.
    """
    h, w = image.shape[:2]
    if max_side is None or max(h, w) <= max_side:
        return image, 1.0, 1.0
    import cv2

    scale = max_side / max(h, w)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    copy = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
    return copy, w / nw, h / nh


def rescale_detection(det: Detection, sx: float, sy: float) -> Detection:
    """``det`` found on a copy, in the full image's pixels (box and landmarks scaled)."""
    if sx == 1.0 and sy == 1.0:
        return det
    x1, y1, x2, y2 = det.box
    landmarks = None
    if det.landmarks is not None:
        landmarks = (np.asarray(det.landmarks, np.float64) * [sx, sy]).astype(np.float32)
    return Detection((x1 * sx, y1 * sy, x2 * sx, y2 * sy), det.score, landmarks)


class BoundedDetector:
    """A detector run on copies no larger than ``max_side`` (see :func:`detection_copy`).

    Why: detector memory is proportional to the pixels it is given, and phone photos are
    12 MP or more while a face needs a few thousand pixels to be found.  The copies of a batch
    are made together (they are never larger than the batch they come from) and dropped as
    soon as the inner detector returns; the caller keeps the full images for the crops.
    Detections come back in full-image pixels, in the inner detector's order.
    """

    def __init__(self, inner: Detector, max_side: int) -> None:
        self.inner = inner
        self.max_side = max_side
        self.name = inner.name

    def detect(self, images: list[np.ndarray]) -> list[list[Detection]]:
        copies, factors = [], []
        for img in images:
            copy, sx, sy = detection_copy(img, self.max_side)
            copies.append(copy)
            factors.append((sx, sy))
        results = self.inner.detect(copies)
        del copies
        return [
            [rescale_detection(d, sx, sy) for d in dets]
            for dets, (sx, sy) in zip(results, factors, strict=True)
        ]


def choose_face(dets: list[Detection], mode: str, width: int, height: int) -> Detection:
    """The face to keep among several: ``score`` (most confident; ties → first),
    ``largest`` (box area) or ``center`` (box centre nearest the image centre)."""
    if not dets:
        raise ValueError("no detections to choose from")
    if mode == "score":
        return max(dets, key=lambda d: d.score)
    if mode == "largest":
        return max(dets, key=lambda d: (d.box[2] - d.box[0]) * (d.box[3] - d.box[1]))
    if mode == "center":
        cx, cy = width / 2, height / 2
        return min(
            dets,
            key=lambda d: ((d.box[0] + d.box[2]) / 2 - cx) ** 2
            + ((d.box[1] + d.box[3]) / 2 - cy) ** 2,
        )
    raise ValueError(f"unknown face selection {mode!r} (score, largest, center)")


def make_detector(name: str, settings: DetectorSettings, device: str = "auto") -> Detector:
    """The detector named in a dataset's ``detector`` setting.

    MTCNN and Haar are wrapped in :class:`BoundedDetector` unless ``settings.max_side`` is
    None; ``none`` is not (it reads nothing but the image size), nor is the ``haar-castiel``
    preset (the report detected on the full image).
    """
    det: Detector
    if name == "mtcnn":
        det = MtcnnDetector(settings.mtcnn, device)
    elif name == "haar":
        det = HaarDetector(settings.haar)
    elif name == "haar-castiel":  # the report ran its cascade on the full image
        from facecluster.faces.castiel import CastielHaarDetector

        return CastielHaarDetector()
    elif name == "none":
        return WholeImage()
    else:
        raise ValueError(f"unknown detector {name!r} (known: mtcnn, haar, haar-castiel, none)")
    return det if settings.max_side is None else BoundedDetector(det, settings.max_side)
