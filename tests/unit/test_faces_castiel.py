"""The ``haar-castiel`` detector preset (:mod:`facecluster.faces.castiel`): the Castiel
report's grey conversion, first-face and border rules, ±5 px crop and scikit-image resize."""

from __future__ import annotations

import math

import numpy as np
import pytest

from facecluster.config import CropSettings, DetectorSettings, ExecutionSettings
from facecluster.faces import castiel
from facecluster.faces.detect import Detection, make_detector


def face(x: float, y: float, w: float = 60.0, h: float = 60.0) -> Detection:
    return Detection((x, y, x + w, y + h), math.nan)


def test_first_face_is_kept_not_the_largest():
    first, larger = face(40, 40, 30, 30), face(100, 100, 120, 120)
    assert castiel.choose([first, larger]).face is first


@pytest.mark.parametrize(
    ("x", "y", "kept"),
    [(10, 10, True), (11, 50, True), (9, 50, False), (50, 9.5, False), (0, 0, False)],
)
def test_border_rule_on_the_first_face(x, y, kept):
    chosen = castiel.choose([face(x, y), face(100, 100)])  # a later face never replaces it
    assert (chosen.face is not None) is kept
    if not kept:
        assert "border" in chosen.reason and "10 px" in chosen.reason


def test_no_face():
    assert castiel.choose([]) == castiel.Choice(None, "no face detected")


def test_crop_is_the_padded_box_resized_as_skimage_does():
    from skimage.transform import resize

    gen = np.random.default_rng(0)
    img = gen.integers(0, 256, size=(120, 100, 3), dtype=np.uint8)
    det = face(20, 30, 50, 40)
    got = castiel.crop(img, det, 160)
    patch = img[25:75, 15:75]  # y-5 : y+h+5, x-5 : x+w+5
    want = np.rint(resize(patch, (160, 160), mode="reflect", anti_aliasing=True) * 255)
    assert got.dtype == np.uint8 and got.shape == (160, 160, 3)
    np.testing.assert_array_equal(got, want.astype(np.uint8))
    # clipped by the slice at the right/bottom edge, as numpy slicing does in the report
    edge = castiel.crop(img, face(60, 80, 40, 40), 32)
    assert edge.shape == (32, 32, 3)


def test_crop_refuses_a_box_inside_the_padding():
    with pytest.raises(ValueError, match="padding"):
        castiel.crop(np.zeros((50, 50, 3), np.uint8), face(2, 20, 10, 10))


class _RecordingCascade:
    def __init__(self, rects):
        self.rects, self.seen = rects, []

    def detectMultiScale(self, grey, scaleFactor, minNeighbors):  # noqa: N802, N803 — OpenCV's
        self.seen.append((grey.copy(), scaleFactor, minNeighbors))
        return self.rects


def test_detector_sees_rgb_as_bgr_and_keeps_opencv_order():
    det = make_detector("haar-castiel", DetectorSettings())
    assert isinstance(det, castiel.CastielHaarDetector)  # never on a downscaled copy
    cascade = _RecordingCascade(np.array([[50, 40, 30, 30], [5, 5, 80, 80]]))
    det._cascade = cascade
    img = np.zeros((4, 4, 3), np.uint8)
    img[..., 0], img[..., 1], img[..., 2] = 200, 100, 10  # R, G, B
    (dets,) = det.detect([img])
    grey, scale, neighbours = cascade.seen[0]
    # OpenCV's BGR→grey on an RGB array: 0.114 R + 0.587 G + 0.299 B
    assert int(grey[0, 0]) == round(0.114 * 200 + 0.587 * 100 + 0.299 * 10)
    assert (scale, neighbours) == (1.1, 3)
    assert [d.box for d in dets] == [(50.0, 40.0, 80.0, 70.0), (5.0, 5.0, 85.0, 85.0)]
    assert all(math.isnan(d.score) for d in dets)


def test_real_cascade_on_a_blank_image_finds_nothing():
    det = make_detector("haar-castiel", DetectorSettings())
    assert det.detect([np.full((120, 120, 3), 128, np.uint8)]) == [[]]


def test_pipeline_applies_the_preset(monkeypatch, tmp_path):
    """First face touching the border: the image is a ``border_face`` row (the good second
    face is not used); otherwise the crop is the preset's."""
    from PIL import Image

    from facecluster.data.catalog import DatasetListing
    from facecluster.data.images import ImageRecord
    from facecluster.faces import pipeline

    gen = np.random.default_rng(1)
    records = []
    for i in range(2):
        path = tmp_path / "p" / f"img{i}.png"
        path.parent.mkdir(exist_ok=True)
        Image.fromarray(gen.integers(0, 256, (100, 100, 3), dtype=np.uint8)).save(path)
        records.append(ImageRecord(path=path, relpath=f"p/img{i}.png", identity="p"))

    class Fake:
        name = "haar-castiel"

        def detect(self, images):
            return [[face(3, 40, 30, 30), face(40, 40, 30, 30)], [face(20, 20, 40, 40)]]

    monkeypatch.setattr(pipeline, "make_detector", lambda *a, **k: Fake())
    out = pipeline.detect_and_crop(
        DatasetListing(records=records, skipped=[], root=tmp_path, source="folder"),
        detector_name="haar-castiel",
        face_select="score",
        detector=DetectorSettings(),
        crops=CropSettings(),
        execution=ExecutionSettings(progress=False),
    )
    first, second = out.rows
    assert first["status"] == "border_face" and "left border" in first["reason"]
    assert first["n_faces"] == 2 and first["crop_index"] == -1
    assert second["status"] == "ok" and out.n_crops == 1
    img = np.asarray(Image.open(records[1].path).convert("RGB"))
    np.testing.assert_array_equal(out.facenet[0], castiel.crop(img, face(20, 20, 40, 40), 160))


def test_border_and_first_face_rules_on_a_constructed_image(shared_data):
    """A real Yale face pasted on a canvas with the real cascade: well inside, it is kept with
    the ±5 px crop; cut so the cascade's box starts a few px from the left edge, the image is
    dropped; both on one canvas, the preset keeps OpenCV's first detection, not the other."""
    from PIL import Image

    face_img = np.asarray(Image.open(shared_data / "yale" / "subject01" / "subject01.normal"))
    face_img = np.stack([face_img] * 3, axis=-1)
    det = castiel.CastielHaarDetector()
    (found,) = det.detect([face_img])
    assert len(found) == 1
    x1, y1, x2, y2 = (int(v) for v in found[0].box)
    patch = face_img[max(y1 - 30, 0) : y2 + 30, max(x1 - 30, 0) : x2 + 30]
    h, w = patch.shape[:2]

    inside = np.full((h + 80, w + 80, 3), 128, np.uint8)
    inside[40 : 40 + h, 40 : 40 + w] = patch
    chosen = castiel.choose(det.detect([inside])[0])
    assert chosen.face is not None and chosen.face.box[0] >= castiel.BORDER_PX
    assert castiel.crop(inside, chosen.face).shape == (160, 160, 3)

    cut = patch[:, 30 + 6 :]  # the cascade's box now starts a few px from the left edge
    edge = np.full((h + 80, cut.shape[1] + 40, 3), 128, np.uint8)
    edge[40 : 40 + h, : cut.shape[1]] = cut
    (near,) = det.detect([edge])
    assert len(near) == 1 and near[0].box[0] < castiel.BORDER_PX
    dropped = castiel.choose(near)
    assert dropped.face is None and "left border" in dropped.reason

    both = np.full((h + 80, cut.shape[1] + w + 80, 3), 128, np.uint8)
    both[40 : 40 + h, : cut.shape[1]] = cut
    both[40 : 40 + h, cut.shape[1] + 40 : cut.shape[1] + 40 + w] = patch
    (two,) = det.detect([both])
    assert len(two) == 2 and {d.box[0] < castiel.BORDER_PX for d in two} == {True, False}
    first = castiel.choose(two)
    if two[0].box[0] < castiel.BORDER_PX:
        assert first.face is None  # the good second face does not replace it
    else:
        assert first.face is two[0]
