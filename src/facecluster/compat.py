"""Compatibility shims for the pinned dependency set.

The registry's torchvision wheel is a CUDA build; with the CPU torch its C++ extension
(``torchvision._C``) does not load, so ``torchvision::nms`` is never defined and
``import torchvision`` fails in ``_meta_registrations`` (``operator torchvision::nms does not
exist``).  facenet-pytorch's MTCNN imports ``torchvision.ops.batched_nms``.

:func:`ensure_torchvision_ops` defines ``torchvision::nms`` (and the quantised ``qnms`` schema
torchvision registers a fake kernel for) with a pure-torch kernel — **only** when
torchvision's own ops cannot load.  Where torchvision's extension works (a matching CUDA or
CPU build), nothing is registered and torchvision's kernels are used.
"""

from __future__ import annotations

import glob
import importlib.util
import logging
import os

import torch

log = logging.getLogger(__name__)

_STATE: dict[str, str] = {}
_LIB: torch.library.Library | None = None


def nms_reference(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Pure-torch non-maximum suppression with torchvision's semantics.

    Boxes are ``(x1, y1, x2, y2)``; areas are ``(x2 - x1) * (y2 - y1)`` (no +1); boxes are
    visited in order of decreasing score (a stable sort, so equal scores keep index order);
    a box is suppressed when its IoU with an already kept box is **strictly greater** than
    ``iou_threshold``.  Returns the kept indices (int64) in decreasing score order.
    """
    if boxes.numel() == 0:
        return torch.empty((0,), dtype=torch.int64, device=boxes.device)
    if boxes.dim() != 2 or boxes.size(1) != 4:
        raise ValueError(f"boxes must have shape (N, 4), got {tuple(boxes.shape)}")
    if scores.dim() != 1 or scores.size(0) != boxes.size(0):
        raise ValueError(f"scores must have shape ({boxes.size(0)},), got {tuple(scores.shape)}")
    order = torch.sort(scores, dim=0, descending=True, stable=True).indices
    b = boxes[order]
    x1, y1, x2, y2 = b.unbind(1)
    areas = (x2 - x1) * (y2 - y1)
    # Pairwise IoU of the score-sorted boxes (N is small for face detection: <= a few 1000).
    xx1 = torch.maximum(x1[:, None], x1[None, :])
    yy1 = torch.maximum(y1[:, None], y1[None, :])
    xx2 = torch.minimum(x2[:, None], x2[None, :])
    yy2 = torch.minimum(y2[:, None], y2[None, :])
    inter = (xx2 - xx1).clamp(min=0) * (yy2 - yy1).clamp(min=0)
    iou = inter / (areas[:, None] + areas[None, :] - inter)
    over = (iou > iou_threshold).cpu()
    n = b.size(0)
    suppressed = torch.zeros(n, dtype=torch.bool)
    keep: list[int] = []
    for i in range(n):
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= over[i]
    return order[torch.tensor(keep, dtype=torch.int64, device=order.device)]


def _torchvision_extension_loads() -> bool | None:
    """True when torchvision's C++ ops load, False when they don't, None without torchvision."""
    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None:
        return None
    if _op_defined("nms"):
        return True
    pkg_dir = os.path.dirname(spec.origin)
    libs = sorted(
        glob.glob(os.path.join(pkg_dir, "_C*.so")) + glob.glob(os.path.join(pkg_dir, "_C*.pyd"))
    )
    if not libs:
        return False
    try:
        torch.ops.load_library(libs[0])
    except (OSError, RuntimeError) as exc:
        _STATE["reason"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
        return False
    return _op_defined("nms")


def _op_defined(name: str) -> bool:
    try:
        torch._C._dispatch_find_schema_or_throw(f"torchvision::{name}", "")
    except RuntimeError:
        return False
    return True


def ensure_torchvision_ops() -> str:
    """Make ``import torchvision`` work; returns ``"native"``, ``"pure-torch"`` or ``"absent"``.

    Idempotent.  Call before importing torchvision or facenet_pytorch's MTCNN.
    """
    global _LIB
    if "mode" in _STATE:
        return _STATE["mode"]
    loads = _torchvision_extension_loads()
    if loads is None:
        mode = "absent"
    elif loads:
        mode = "native"
    else:
        _LIB = torch.library.Library("torchvision", "DEF")  # a module global: kept alive
        for name in ("nms", "qnms"):
            if not _op_defined(name):
                _LIB.define(f"{name}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        _LIB.impl("nms", nms_reference, "CompositeExplicitAutograd")
        # torchvision's Python NMS wrappers check for the C++ extension before dispatching;
        # relax that check in the boxes module only (the other C++ ops stay unavailable).
        import torchvision.ops.boxes as tv_boxes

        tv_boxes._assert_has_ops = lambda: None
        mode = "pure-torch"
        log.info(
            "torchvision's C++ ops do not load (%s); using the pure-torch NMS",
            _STATE.get("reason", "no extension"),
        )
    _STATE["mode"] = mode
    return mode
