from __future__ import annotations

import numpy as np
import pytest

from facecluster.faces.align import (
    LIGHTCNN_EYES,
    LIGHTCNN_MOUTH,
    facenet_crop,
    lightcnn_crop,
    margin_box,
    similarity_from_two_points,
)
from facecluster.faces.detect import Detection, WholeImage


def test_margin_box_matches_facenet_pytorch_convention():
    # margin is in output pixels: a 100 px box with margin 14 at 160 px grows by 14*100/146.
    box = margin_box((50.0, 60.0, 150.0, 160.0), 160, 14, 250, 250)
    grow = 14 * 100 / 146 / 2
    assert box == (int(50 - grow), int(60 - grow), int(150 + grow), int(160 + grow))
    # clipped at the image border
    assert margin_box((0.0, 0.0, 250.0, 250.0), 160, 14, 250, 250) == (0, 0, 250, 250)


def test_similarity_maps_points_exactly():
    src = (np.array([100.0, 80.0]), np.array([110.0, 140.0]))
    m = similarity_from_two_points(src, (LIGHTCNN_EYES, LIGHTCNN_MOUTH))
    for s, d in zip(src, (LIGHTCNN_EYES, LIGHTCNN_MOUTH), strict=True):
        np.testing.assert_allclose(m[:, :2] @ s + m[:, 2], d, atol=1e-9)
    with pytest.raises(ValueError):
        similarity_from_two_points((src[0], src[0]), (LIGHTCNN_EYES, LIGHTCNN_MOUTH))


def test_lightcnn_crop_puts_landmarks_on_template():
    img = np.zeros((250, 250, 3), np.uint8)
    # paint the eye midpoint and mouth midpoint white; after alignment they land on the template
    eyes, mouth = np.array([120.0, 100.0]), np.array([126.0, 160.0])
    img[99:102, 119:122] = 255
    img[159:162, 125:128] = 255
    lm = np.array(
        [eyes - [15, 0], eyes + [15, 0], (eyes + mouth) / 2, mouth - [12, 0], mouth + [12, 0]]
    )
    out = lightcnn_crop(img, Detection((80, 60, 170, 190), 0.99, lm.astype(np.float32)), 128)
    assert out.shape == (128, 128, 3) and out.dtype == np.uint8
    ys, xs = np.nonzero(out[..., 0] > 100)
    pts = np.stack([xs, ys], 1)
    near_eyes = pts[np.linalg.norm(pts - LIGHTCNN_EYES, axis=1) < 4]
    near_mouth = pts[np.linalg.norm(pts - LIGHTCNN_MOUTH, axis=1) < 4]
    assert len(near_eyes) and len(near_mouth)
    assert len(near_eyes) + len(near_mouth) == len(pts)


def test_crops_without_landmarks_and_whole_image():
    img = (np.arange(32 * 24 * 3) % 255).astype(np.uint8).reshape(32, 24, 3)
    det = WholeImage().detect([img])[0][0]
    assert det.box == (0.0, 0.0, 24.0, 32.0) and det.landmarks is None
    assert facenet_crop(img, det, 160, 0).shape == (160, 160, 3)
    assert lightcnn_crop(img, det, 128).shape == (128, 128, 3)


def test_choose_face_modes():
    from facecluster.faces.detect import choose_face

    small_sure = Detection((0.0, 0.0, 20.0, 20.0), 0.9999)
    big_centre = Detection((60.0, 60.0, 190.0, 190.0), 0.99)
    big_edge = Detection((100.0, 0.0, 250.0, 150.0), 0.98)
    dets = [small_sure, big_centre, big_edge]
    assert choose_face(dets, "score", 250, 250) is small_sure
    assert choose_face(dets, "largest", 250, 250) is big_edge
    assert choose_face(dets, "center", 250, 250) is big_centre
    with pytest.raises(ValueError):
        choose_face(dets, "first", 250, 250)
