"""The Castiel report's face extraction as a detector preset: ``detector: haar-castiel``.

What the report's code (RodrigoCastiel/keras-facenet, ``../shared/reference/README.md``) did
to every image, step by step, so that Table I can be reproduced on the same kind of crops:

1. ``imageio.imread`` gives an RGB array, which it hands to OpenCV as if it were BGR: the grey
   image the cascade sees is ``0.114 R + 0.587 G + 0.299 B`` (red and blue weights swapped).
2. ``haarcascade_frontalface_alt2``, ``detectMultiScale(scaleFactor=1.1, minNeighbors=3)``
   (OpenCV's default ``minSize``), on the full image.
3. The *first* detection ``faces[0]``, in OpenCV's order (not the largest, not the most
   confident).
4. The image is dropped when that face's box starts less than 10 px from the left or the top
   border (a face that would need padding the image does not have).
5. ``img[y-5:y+h+5, x-5:x+w+5]``: the box grown by 5 px on each side (clipped by the slice at
   the right and bottom), resized to 160×160 by scikit-image's
   ``resize(mode='reflect', anti_aliasing=True)``.

The report kept the resized float image; the faces stage stores crops as uint8, so each crop
is rounded to the nearest of 256 levels (at most 1/510 of the range per pixel; the report's
prewhitening is invariant to the scale).  Folders with fewer than 3 image files were skipped
before detection: that is the LFW listing's ``min_images_per_identity: 3``.  The LightCNN crop
of a preset face is the square around its box (there are no landmarks).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facecluster.faces.detect import Detection

CASCADE = "haarcascade_frontalface_alt2.xml"
SCALE_FACTOR = 1.1
MIN_NEIGHBORS = 3
#: A face whose box starts closer than this to the left or top border is dropped.
BORDER_PX = 10
#: Pixels added on each side of the box before resizing.
PAD_PX = 5


class CastielHaarDetector:
    """The report's cascade call: every detection, in OpenCV's order, on the full image.

    ``detectMultiScale`` gives no confidence; each detection's ``score`` is NaN.
    """

    name = "haar-castiel"

    def __init__(self) -> None:
        import cv2

        path = Path(cv2.data.haarcascades) / CASCADE
        self._cascade = cv2.CascadeClassifier(str(path))
        if self._cascade.empty():
            raise RuntimeError(f"OpenCV could not load the Haar cascade {path}")

    def detect(self, images: list[np.ndarray]) -> list[list[Detection]]:
        import cv2

        out: list[list[Detection]] = []
        for img in images:
            # The report passed imageio's RGB array where OpenCV expects BGR.
            grey = cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_BGR2GRAY)
            rects = self._cascade.detectMultiScale(
                grey, scaleFactor=SCALE_FACTOR, minNeighbors=MIN_NEIGHBORS
            )
            out.append(
                [
                    Detection((float(x), float(y), float(x + w), float(y + h)), float("nan"))
                    for x, y, w, h in np.asarray(rects, dtype=np.int64).reshape(-1, 4)
                ]
            )
        return out


@dataclass(frozen=True)
class Choice:
    """The face the preset keeps (``None`` with the reason when it keeps none)."""

    face: Detection | None
    reason: str = ""


def choose(dets: list[Detection]) -> Choice:
    """The first detection, unless its box starts within :data:`BORDER_PX` of the left/top."""
    if not dets:
        return Choice(None, "no face detected")
    first = dets[0]
    x, y = first.box[0], first.box[1]
    if x < BORDER_PX or y < BORDER_PX:
        side = "left" if x < BORDER_PX else "top"
        offset = x if side == "left" else y
        return Choice(
            None,
            f"first face starts {offset:g} px from the {side} border (the report dropped "
            f"faces closer than {BORDER_PX} px)",
        )
    return Choice(first)


def crop(image: np.ndarray, det: Detection, size: int = 160) -> np.ndarray:
    """``image[y-5:y+h+5, x-5:x+w+5]`` resized to ``size``×``size`` as the report did, uint8."""
    from skimage.transform import resize

    x1, y1, x2, y2 = (int(round(v)) for v in det.box)
    if x1 < PAD_PX or y1 < PAD_PX:
        raise ValueError(f"box {det.box} starts inside the {PAD_PX} px padding")
    patch = image[y1 - PAD_PX : y2 + PAD_PX, x1 - PAD_PX : x2 + PAD_PX]
    if patch.shape[0] < 2 or patch.shape[1] < 2:
        raise ValueError(f"empty crop for box {det.box}")
    resized = resize(patch, (size, size), mode="reflect", anti_aliasing=True)  # float in [0, 1]
    return np.clip(np.rint(resized * 255.0), 0, 255).astype(np.uint8)
