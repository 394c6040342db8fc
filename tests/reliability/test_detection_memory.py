"""Bounded detection memory (issue 10): capped detection copies, batches bounded by pixels.

The detectors are spies that record what they are given, so these tests run in a second on
tiny generated images; one test runs the real MTCNN on an LFW image from the shared mirror.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facecluster.config import CropSettings, DetectorSettings, ExecutionSettings
from facecluster.data.catalog import DatasetListing
from facecluster.data.images import ImageRecord
from facecluster.faces import detect as detect_mod
from facecluster.faces.align import facenet_crop, lightcnn_crop
from facecluster.faces.detect import (
    BoundedDetector,
    Detection,
    WholeImage,
    detection_copy,
    make_detector,
)
from facecluster.faces.pipeline import detect_and_crop

# fractions of the image the spy "finds": a box and MTCNN-ordered landmarks
BOX = (0.25, 0.25, 0.75, 0.75)
LANDMARKS = np.array([[0.35, 0.4], [0.65, 0.4], [0.5, 0.55], [0.4, 0.7], [0.6, 0.7]])


class SpyDetector:
    """Records the shape of every image it is given; finds one face at fixed fractions."""

    name = "spy"

    def __init__(self) -> None:
        self.calls: list[list[tuple[int, int]]] = []

    def detect(self, images: list[np.ndarray]) -> list[list[Detection]]:
        self.calls.append([(int(im.shape[0]), int(im.shape[1])) for im in images])
        out = []
        for im in images:
            h, w = im.shape[:2]
            box = (BOX[0] * w, BOX[1] * h, BOX[2] * w, BOX[3] * h)
            out.append([Detection(box, 0.9, (LANDMARKS * [w, h]).astype(np.float32))])
        return out

    @property
    def shapes(self) -> list[tuple[int, int]]:
        return [s for call in self.calls for s in call]


class BrightestSpot(SpyDetector):
    """A content-dependent fake: a 20 px box around the brightest pixel (any resampling of
    the image would move it or change the score)."""

    def detect(self, images: list[np.ndarray]) -> list[list[Detection]]:
        super().detect(images)
        out = []
        for im in images:
            grey = im.astype(np.int64).sum(axis=2)
            y, x = np.unravel_index(int(np.argmax(grey)), grey.shape)
            box = (x - 10.0, y - 10.0, x + 10.0, y + 10.0)
            out.append([Detection(box, float(grey.max()) / 765, None)])
        return out


def _image(w: int, h: int, seed: int = 0) -> np.ndarray:
    """A smooth image with some noise (compresses well, not constant)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 // max(w, 1), yy * 255 // max(h, 1), (xx + yy) % 256], axis=-1)
    noise = rng.integers(0, 40, (h, w, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def _listing(folder: Path, sizes: list[tuple[int, int]], fmt: str = "PNG") -> DatasetListing:
    """A listing of generated images of ``sizes`` (w, h), one identity per image."""
    records = []
    for i, (w, h) in enumerate(sizes):
        (folder / f"p{i}").mkdir(parents=True, exist_ok=True)
        path = folder / f"p{i}" / f"{i}.{fmt.lower()}"
        Image.fromarray(_image(w, h, seed=i)).save(path, format=fmt)
        records.append(ImageRecord(path, f"p{i}", f"p{i}/{path.name}"))
    return DatasetListing(records, [], folder, "folder")


def _run(listing, detector_name="haar", max_side=64, batch=32, megapixels=8.0, select="score"):
    return detect_and_crop(
        listing,
        detector_name=detector_name,
        face_select=select,
        detector=DetectorSettings(max_side=max_side),
        crops=CropSettings(),
        execution=ExecutionSettings(
            progress=False, detector_batch_size=batch, detector_batch_megapixels=megapixels
        ),
    )


def _plain(row: dict) -> dict:
    """A row without its coordinates (float round-off) and with NaN as None (NaN != NaN)."""
    return {
        k: (None if isinstance(v, float) and np.isnan(v) else v)
        for k, v in row.items()
        if k not in ("bbox", "landmarks")
    }


@pytest.fixture()
def spy(monkeypatch: pytest.MonkeyPatch) -> SpyDetector:
    """The spy stands in for both MTCNN and Haar inside make_detector."""
    spy = SpyDetector()
    monkeypatch.setattr(detect_mod, "MtcnnDetector", lambda settings, device="auto": spy)
    monkeypatch.setattr(detect_mod, "HaarDetector", lambda settings: spy)
    return spy


# --------------------------------------------------------------------------------------------
# the detection copy
# --------------------------------------------------------------------------------------------
def test_detection_copy_leaves_fitting_images_alone():
    img = _image(100, 80)
    for max_side in (100, 128, None):
        copy, sx, sy = detection_copy(img, max_side)
        assert copy is img and (sx, sy) == (1.0, 1.0)


def test_detection_copy_caps_the_longest_side():
    img = _image(300, 200)  # w=300, h=200
    copy, sx, sy = detection_copy(img, 64)
    assert copy.shape == (43, 64, 3) and copy.dtype == np.uint8
    assert (sx, sy) == (300 / 64, 200 / 43)
    tall, sx, sy = detection_copy(_image(90, 1000), 100)
    assert tall.shape == (100, 9, 3) and (sx, sy) == (10.0, 10.0)


def test_none_detector_is_never_wrapped():
    assert isinstance(make_detector("none", DetectorSettings(max_side=64)), WholeImage)


@pytest.mark.parametrize("detector_name", ["mtcnn", "haar"])
def test_detector_never_sees_more_than_max_side(spy, tmp_path, detector_name):
    sizes = [(512, 384), (384, 512), (1000, 90), (60, 40)]
    faces = _run(_listing(tmp_path, sizes), detector_name, max_side=64)
    assert sorted(spy.shapes) == sorted([(48, 64), (64, 48), (6, 64), (40, 60)])
    assert all(max(s) <= 64 for s in spy.shapes)
    assert [r["status"] for r in faces.rows] == ["ok"] * 4
    # width/height of the full image, box and landmarks mapped back to its pixels
    for row, (w, h) in zip(faces.rows, sizes, strict=True):
        assert (row["width"], row["height"]) == (w, h)
        np.testing.assert_allclose(row["bbox"], [0.25 * w, 0.25 * h, 0.75 * w, 0.75 * h])
        np.testing.assert_allclose(
            np.reshape(row["landmarks"], (5, 2)), LANDMARKS * [w, h], rtol=1e-6
        )


def test_crops_are_cut_from_the_full_image(spy, tmp_path):
    listing = _listing(tmp_path, [(512, 384)])
    faces = _run(listing, "mtcnn", max_side=64)
    full = np.asarray(Image.open(listing.records[0].path).convert("RGB"))
    det = Detection((128.0, 96.0, 384.0, 288.0), 0.9, (LANDMARKS * [512, 384]).astype(np.float32))
    margin = DetectorSettings().mtcnn.margin
    np.testing.assert_array_equal(faces.facenet[0], facenet_crop(full, det, 160, margin))
    np.testing.assert_array_equal(faces.lightcnn[0], lightcnn_crop(full, det, 128))


def test_images_that_fit_give_identical_results(monkeypatch, tmp_path):
    spy = BrightestSpot()
    monkeypatch.setattr(detect_mod, "HaarDetector", lambda settings: spy)
    listing = _listing(tmp_path, [(100, 120), (128, 64), (90, 90)])
    capped = _run(listing, "haar", max_side=128)
    uncapped = _run(listing, "haar", max_side=None)
    assert spy.shapes[:3] == spy.shapes[3:] == [(120, 100), (64, 128), (90, 90)]
    assert capped.rows == uncapped.rows
    np.testing.assert_array_equal(capped.facenet, uncapped.facenet)
    np.testing.assert_array_equal(capped.lightcnn, uncapped.lightcnn)


def test_bounded_detector_maps_boxes_back():
    spy = SpyDetector()
    dets = BoundedDetector(spy, 100).detect([_image(400, 200), _image(50, 50)])
    assert spy.calls == [[(50, 100), (50, 50)]]
    assert dets[0][0].box == (100.0, 50.0, 300.0, 150.0)
    assert dets[1][0].box == (12.5, 12.5, 37.5, 37.5)
    np.testing.assert_allclose(dets[0][0].landmarks, LANDMARKS * [400, 200], rtol=1e-6)


# --------------------------------------------------------------------------------------------
# batches bounded by pixels
# --------------------------------------------------------------------------------------------
def test_batches_are_bounded_by_megapixels(spy, tmp_path):
    # 100×100 = 0.01 MP each, 200×200 = 0.04 MP: with 0.025 MP per batch at most two small
    # images go together and the large one is a batch of its own.
    sizes = [(100, 100)] * 3 + [(200, 200)] + [(100, 100)] * 2
    listing = _listing(tmp_path, sizes)
    faces = _run(listing, "mtcnn", max_side=None, batch=32, megapixels=0.025)
    totals = [sum(h * w for h, w in call) for call in spy.calls]
    assert [len(c) for c in spy.calls] == [2, 1, 1, 2]
    assert max(totals[i] for i in (0, 1, 3)) <= 25_000 and spy.calls[2] == [(200, 200)]
    # the count bound still holds with room to spare in pixels
    spy.calls.clear()
    by_count = _run(listing, "mtcnn", max_side=None, batch=2, megapixels=100.0)
    assert [len(c) for c in spy.calls] == [2, 2, 2]
    # batching changes nothing in the rows or crops
    assert faces.rows == by_count.rows
    np.testing.assert_array_equal(faces.facenet, by_count.facenet)


def test_row_semantics_are_kept_around_bad_files(spy, tmp_path):
    sizes = [(100, 100), (200, 150), (100, 100)]
    listing = _listing(tmp_path, sizes)
    bad = tmp_path / "p9" / "empty.png"
    bad.parent.mkdir()
    bad.write_bytes(b"")
    records = [*listing.records[:2], ImageRecord(bad, "p9", "p9/empty.png"), listing.records[2]]
    listing = DatasetListing(records, [], tmp_path, "folder")
    small = _run(listing, "mtcnn", max_side=64, megapixels=0.015)
    big = _run(listing, "mtcnn", max_side=None, megapixels=100.0)
    assert [r["status"] for r in small.rows] == ["ok", "ok", "corrupt", "ok"]
    assert [r["face_id"] for r in small.rows] == [0, 1, 2, 3]
    assert [r["crop_index"] for r in small.rows] == [0, 1, -1, 2]
    for a, b in zip(small.rows, big.rows, strict=True):
        assert _plain(a) == _plain(b)
        np.testing.assert_allclose(a["bbox"], b["bbox"], rtol=1e-6)


def test_full_size_pixels_held_are_bounded(spy, tmp_path):
    # 8 images of 1 MP (3 MB each as RGB); with 2 MP per batch no more than two of them plus
    # the one being decoded (Pillow's bytes and the array: 6 MB) and the crop arrays (1 MB)
    # may be alive at once: 13 MB.  The old loop held the whole chunk: 24 MB and more.
    listing = _listing(tmp_path, [(1000, 1000)] * 8, fmt="JPEG")
    tracemalloc.start()
    try:
        faces = _run(listing, "haar", max_side=128, megapixels=2.0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert faces.n_crops == 8
    assert max(len(c) for c in spy.calls) == 2
    assert peak < 5 * 3_000_000, f"peak {peak / 1e6:.1f} MB of arrays"


# --------------------------------------------------------------------------------------------
# the real MTCNN on an LFW image
# --------------------------------------------------------------------------------------------
def test_real_mtcnn_capped_matches_uncapped(shared_data):
    path = shared_data / "lfw" / "lfw-deepfunneled" / "Aaron_Eckhart" / "Aaron_Eckhart_0001.jpg"
    if not path.is_file():
        pytest.skip(f"needs the LFW image {path} from the shared data mirror")
    img = np.asarray(Image.open(path).convert("RGB"))
    assert img.shape == (250, 250, 3)
    capped = make_detector("mtcnn", DetectorSettings(), "cpu")
    uncapped = make_detector("mtcnn", DetectorSettings(max_side=None), "cpu")
    a, b = capped.detect([img])[0], uncapped.detect([img])[0]
    assert a and len(a) == len(b)
    for da, db in zip(a, b, strict=True):  # a fitting image is never resampled: identical
        assert da.box == db.box and da.score == db.score
        np.testing.assert_array_equal(da.landmarks, db.landmarks)
    # 4× upscaled and detected on a 250 px copy: mapped back, close to 4× the original box
    big = np.asarray(Image.fromarray(img).resize((1000, 1000), Image.Resampling.BICUBIC))
    small_side = make_detector("mtcnn", DetectorSettings(max_side=250), "cpu")
    up = small_side.detect([big])[0]
    assert up and up[0].score > 0.95
    np.testing.assert_allclose(up[0].box, np.array(a[0].box) * 4, atol=4 * 4)
    np.testing.assert_allclose(up[0].landmarks, a[0].landmarks * 4, atol=4 * 4)
