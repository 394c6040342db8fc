"""Crops for the embedders.

* FaceNet (160×160 RGB): the detection box plus a margin given in output pixels, cropped and
  resized bilinearly — facenet-pytorch's ``extract_face`` convention, with which its
  casia-webface model reaches 99.05% on LFW.
* LightCNN (128×128): a similarity transform from the 5 MTCNN landmarks that puts the eye
  midpoint at (64, 40) and the mouth midpoint at (64, 88) — LightCNN's alignment (midpoint of
  the eyes 48 px from the midpoint of the mouth, eyes at y=48 in 144×144, centre-cropped to
  128).  Without landmarks (Haar, ``none``) the square around the box centre is used.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from facecluster.faces.detect import Detection

# LightCNN 128×128 template: eye midpoint and mouth midpoint.
LIGHTCNN_EYES = (64.0, 40.0)
LIGHTCNN_MOUTH = (64.0, 88.0)


def margin_box(
    box: tuple[float, float, float, float], image_size: int, margin: int, width: int, height: int
) -> tuple[int, int, int, int]:
    """The integer crop box: ``box`` grown so that ``margin`` px of the output are context."""
    x1, y1, x2, y2 = box
    mx = margin * (x2 - x1) / (image_size - margin)
    my = margin * (y2 - y1) / (image_size - margin)
    return (
        int(max(x1 - mx / 2, 0)),
        int(max(y1 - my / 2, 0)),
        int(min(x2 + mx / 2, width)),
        int(min(y2 + my / 2, height)),
    )


def crop_box(image: np.ndarray, box: tuple[int, int, int, int], size: int) -> np.ndarray:
    """Crop ``box`` from an RGB uint8 image and resize it to ``size``×``size`` (bilinear)."""
    x1, y1, x2, y2 = box
    if x2 <= x1 or y2 <= y1:
        raise ValueError(f"empty crop box {box}")
    pil = Image.fromarray(image).crop(box).resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(pil, dtype=np.uint8)


def facenet_crop(image: np.ndarray, det: Detection, size: int, margin: int) -> np.ndarray:
    """FaceNet input: box + margin, ``size``×``size`` RGB uint8."""
    h, w = image.shape[:2]
    return crop_box(image, margin_box(det.box, size, margin, w, h), size)


def similarity_from_two_points(
    src: tuple[np.ndarray, np.ndarray], dst: tuple[tuple[float, float], tuple[float, float]]
) -> np.ndarray:
    """The 2×3 similarity (rotation, uniform scale, translation) mapping src[i] → dst[i]."""
    s0, s1 = (np.asarray(p, np.float64) for p in src)
    d0, d1 = (np.asarray(p, np.float64) for p in dst)
    vs, vd = s1 - s0, d1 - d0
    zs, zd = complex(vs[0], vs[1]), complex(vd[0], vd[1])
    if abs(zs) < 1e-6:
        raise ValueError("degenerate landmarks (eyes and mouth coincide)")
    a = zd / zs  # rotation + scale as one complex number
    m = np.array([[a.real, -a.imag, 0.0], [a.imag, a.real, 0.0]])
    m[:, 2] = d0 - m[:, :2] @ s0
    return m


def lightcnn_crop(image: np.ndarray, det: Detection, size: int = 128) -> np.ndarray:
    """LightCNN input: landmark-aligned ``size``×``size`` RGB uint8 (grey conversion later)."""
    import cv2

    if det.landmarks is None:
        x1, y1, x2, y2 = det.box
        side = max(x2 - x1, y2 - y1)
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        h, w = image.shape[:2]
        box = (
            int(max(cx - side / 2, 0)),
            int(max(cy - side / 2, 0)),
            int(min(cx + side / 2, w)),
            int(min(cy + side / 2, h)),
        )
        return crop_box(image, box, size)
    lm = np.asarray(det.landmarks, np.float64)
    eyes = (lm[0] + lm[1]) / 2
    mouth = (lm[3] + lm[4]) / 2
    scale = size / 128.0
    dst = (
        (LIGHTCNN_EYES[0] * scale, LIGHTCNN_EYES[1] * scale),
        (LIGHTCNN_MOUTH[0] * scale, LIGHTCNN_MOUTH[1] * scale),
    )
    m = similarity_from_two_points((eyes, mouth), dst)
    return cv2.warpAffine(
        image, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
