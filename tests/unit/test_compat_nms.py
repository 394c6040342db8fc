"""The pure-torch NMS equals a brute-force NMS and torchvision's entry points use it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facecluster.compat import ensure_torchvision_ops, nms_reference


def brute_force_nms(boxes: np.ndarray, scores: np.ndarray, thr: float) -> list[int]:
    """Textbook greedy NMS, one box at a time (float64)."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    keep: list[int] = []
    for i in order:
        ok = True
        for j in keep:
            x1 = max(boxes[i, 0], boxes[j, 0])
            y1 = max(boxes[i, 1], boxes[j, 1])
            x2 = min(boxes[i, 2], boxes[j, 2])
            y2 = min(boxes[i, 3], boxes[j, 3])
            inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
            area_i = (boxes[i, 2] - boxes[i, 0]) * (boxes[i, 3] - boxes[i, 1])
            area_j = (boxes[j, 2] - boxes[j, 0]) * (boxes[j, 3] - boxes[j, 1])
            if inter / (area_i + area_j - inter) > thr:
                ok = False
                break
        if ok:
            keep.append(i)
    return keep


def random_boxes(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    xy = rng.uniform(0, 100, size=(n, 2))
    wh = rng.uniform(5, 40, size=(n, 2))
    boxes = np.concatenate([xy, xy + wh], axis=1)
    scores = rng.uniform(size=n)
    scores[rng.choice(n, size=n // 5, replace=False)] = 0.5  # ties
    return boxes, scores


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("thr", [0.0, 0.3, 0.5, 0.7, 1.0])
def test_nms_equals_brute_force(seed, thr):
    rng = np.random.default_rng(seed)
    boxes, scores = random_boxes(rng, int(rng.integers(1, 120)))
    got = nms_reference(torch.from_numpy(boxes), torch.from_numpy(scores), thr).tolist()
    assert got == brute_force_nms(boxes, scores, thr)


def test_nms_empty_and_shapes():
    empty = nms_reference(torch.zeros((0, 4)), torch.zeros((0,)), 0.5)
    assert empty.dtype == torch.int64 and empty.numel() == 0
    with pytest.raises(ValueError):
        nms_reference(torch.zeros((3, 3)), torch.zeros(3), 0.5)


def test_torchvision_nms_dispatches_to_a_working_kernel():
    mode = ensure_torchvision_ops()
    assert mode in {"native", "pure-torch"}
    from torchvision.ops import batched_nms, nms

    rng = np.random.default_rng(42)
    boxes, scores = random_boxes(rng, 60)
    tb, ts = torch.from_numpy(boxes).float(), torch.from_numpy(scores).float()
    assert nms(tb, ts, 0.5).tolist() == brute_force_nms(
        tb.double().numpy(), ts.double().numpy(), 0.5
    )
    idxs = torch.from_numpy(rng.integers(0, 3, size=60))
    kept = batched_nms(tb, ts, idxs, 0.5).tolist()
    expected = []
    for c in range(3):
        sel = np.flatnonzero(idxs.numpy() == c)
        expected += [
            int(sel[k])
            for k in brute_force_nms(tb.double().numpy()[sel], ts.double().numpy()[sel], 0.5)
        ]
    assert sorted(kept) == sorted(expected)
    assert ensure_torchvision_ops() == mode  # idempotent


def test_facenet_pytorch_mtcnn_imports():
    ensure_torchvision_ops()
    from facenet_pytorch import MTCNN

    assert MTCNN(device="cpu") is not None
