"""Face detectors: MTCNN (facenet-pytorch, its shipped weights), OpenCV Haar, and ``none``.

Every detector maps a batch of RGB uint8 images to a list of :class:`Detection` lists, one per
image, sorted by decreasing confidence.  The faces stage keeps the most confident face (the
Castiel report's code kept the *first* Haar detection; we record how many were found).
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
    """facenet-pytorch's MTCNN (P/R/O-Net weights ship inside the package)."""

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
        out: list[list[Detection]] = [[] for _ in images]
        # MTCNN batches images of one size; group by shape.
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, img in enumerate(images):
            groups.setdefault(img.shape, []).append(i)
        for idx in groups.values():
            batch = np.stack([images[i] for i in idx])
            boxes, probs, points = self._mtcnn.detect(batch, landmarks=True)
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

    Confidence is the cascade's level weight (``detectMultiScale3`` with reject levels).
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
    """The detector named in a dataset's ``detector`` setting."""
    if name == "mtcnn":
        return MtcnnDetector(settings.mtcnn, device)
    if name == "haar":
        return HaarDetector(settings.haar)
    if name == "none":
        return WholeImage()
    raise ValueError(f"unknown detector {name!r} (known: mtcnn, haar, none)")
