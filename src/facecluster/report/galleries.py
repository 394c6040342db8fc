"""Error galleries: the largest false merges and false splits of a clustering, as face rows.

The results tables store scores, not labels, so the labels of a configuration are recomputed
(:func:`recompute_labels`) with the clustering registry, on the same subset rows and with the
same derived ``random_state`` the sweep used (``seeds.random_state(seed, "sweep", dataset,
model, method, subset)``, see :func:`facecluster.sweep.keys.make_tasks`); the recomputed
scores are checked against the table.

* a **false merge** is a predicted cluster holding several identities; its size is the number
  of faces not of the cluster's majority identity;
* a **false split** is an identity spread over several clusters; its size is the number of its
  faces outside its largest cluster (the *split-off* faces).

Noise (``-1``) is turned into singletons first, as the scores do.  Thumbnails come from the
faces stage's ``crops_facenet.npy`` through the embeddings file's ``ids`` (manifest
``face_id``) → manifest ``crop_index``.  For a personal-style set whose file names carry a
condition (Yale: ``subject01.glasses``, ``.leftlight`` …),
:func:`facecluster.report.gallery_section.split_conditions` tabulates the conditions of the
split-off faces.
"""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFont

from facecluster import seeds
from facecluster.cluster.registry import get_method
from facecluster.metrics import evaluate, noise_to_singletons
from facecluster.report.inline import img_tag, jpeg

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset(
    {"jpg", "jpeg", "png", "bmp", "gif", "tif", "tiff", "webp", "ppm", "pgm", "pnm"}
)


# --------------------------------------------------------------------------------------------
# faces
# --------------------------------------------------------------------------------------------
def face_table(ids: np.ndarray, manifest: pd.DataFrame) -> pd.DataFrame:
    """Per embeddings row: ``face_id, identity, relpath, crop_index, condition``.

    Parameters
    ----------
    ids : ndarray of shape (n,)
        The embeddings file's ``ids`` (manifest ``face_id`` of each row).
    manifest : DataFrame
        The faces stage's manifest (:func:`facecluster.faces.manifest.read_manifest`).
    """
    m = manifest.set_index("face_id")
    missing = np.setdiff1d(np.asarray(ids), m.index.to_numpy())
    if missing.size:
        raise ValueError(
            f"{missing.size} embedding id(s) are not in the manifest (first {missing[0]}); "
            "the embeddings and faces stages are out of step"
        )
    rows = m.loc[np.asarray(ids), ["identity", "relpath", "crop_index"]].reset_index()
    rows["condition"] = conditions_of(rows["relpath"])
    return rows


def conditions_of(relpaths: Sequence[str] | pd.Series) -> list[str | None]:
    """The condition a file name carries, Yale style (``subject01.glasses`` → ``glasses``).

    The suffix after the last dot of the file name, unless it is an image extension (then
    None: the name carries no condition).
    """
    out: list[str | None] = []
    for rp in relpaths:
        name = Path(str(rp)).name
        stem, dot, suffix = name.rpartition(".")
        ok = dot and stem and suffix and suffix.lower() not in IMAGE_EXTENSIONS
        out.append(suffix.lower() if ok and re.fullmatch(r"[A-Za-z][\w-]*", suffix) else None)
    return out


# --------------------------------------------------------------------------------------------
# labels of one configuration
# --------------------------------------------------------------------------------------------
def recompute_labels(
    X: np.ndarray,
    labels: np.ndarray,
    indices: np.ndarray,
    *,
    method: str,
    params: Mapping[str, Any] | str,
    seed: int,
    dataset: str,
    model: str,
    subset: int,
    grid: Sequence[Mapping[str, Any] | str] | None = None,
) -> np.ndarray:
    """The predicted labels of one grid point on one subset, as the sweep computed them.

    Parameters
    ----------
    X : ndarray of shape (n, d)
        All embeddings of the dataset (euclidean on L2-normalised vectors).
    labels : ndarray of shape (n,)
        True identities (only their number in the subset is used: K for K-based methods).
    indices : ndarray of shape (m,)
        The subset's rows (``data/subsets/<dataset>.npz``).
    method : str
        Registry name.
    params : dict or str
        The grid point (the results' ``params`` JSON).
    seed, dataset, model, subset
        Key of the sweep's ``random_state`` for this task:
        ``seeds.random_state(seed, "sweep", dataset, model, method, subset)``.
    grid : sequence of dict or str, optional
        Grid points to run together with ``params`` (the sweep ran a method's whole grid in
        one call; pass it for methods that share work or one random stream across the grid).
        Default: only ``params``.

    Returns
    -------
    ndarray of shape (m,), int64
        Cluster labels of the subset's rows, noise (``-1``) as in the method's output.
    """
    spec = get_method(method)
    point = json.loads(params) if isinstance(params, str) else dict(params)
    points = [json.loads(p) if isinstance(p, str) else dict(p) for p in (grid or [point])]
    canon = [json.dumps(p, sort_keys=True) for p in points]
    try:
        where = canon.index(json.dumps(point, sort_keys=True))
    except ValueError:
        raise ValueError(f"{method}: grid point {point} is not in the grid given") from None
    Xs = np.ascontiguousarray(np.asarray(X, dtype=np.float32)[indices])
    k_true = int(np.unique(np.asarray(labels)[indices]).size)
    rs = seeds.random_state(seed, "sweep", dataset, model, method, int(subset))
    out = spec.run_grid(Xs, points, n_clusters=k_true if spec.needs_k else None, random_state=rs)
    return out[where]


def grid_labels(
    X: np.ndarray,
    labels: np.ndarray,
    indices: np.ndarray,
    *,
    method: str,
    grid: Sequence[Mapping[str, Any] | str],
    seed: int,
    dataset: str,
    model: str,
    subset: int,
) -> list[np.ndarray]:
    """The labels of every grid point on one subset, in one call as the sweep ran it.

    Same seed key and K as :func:`recompute_labels`; one label array per point of ``grid``.
    """
    spec = get_method(method)
    points = [json.loads(p) if isinstance(p, str) else dict(p) for p in grid]
    Xs = np.ascontiguousarray(np.asarray(X, dtype=np.float32)[indices])
    k_true = int(np.unique(np.asarray(labels)[indices]).size)
    rs = seeds.random_state(seed, "sweep", dataset, model, method, int(subset))
    return spec.run_grid(Xs, points, n_clusters=k_true if spec.needs_k else None, random_state=rs)


def reproduce_run(
    X: np.ndarray,
    labels: np.ndarray,
    indices: np.ndarray,
    *,
    method: str,
    params: str,
    grid: Sequence[str],
    expected_ari: float,
    seed: int,
    dataset: str,
    model: str,
    subset: int,
) -> tuple[np.ndarray, float, bool]:
    """Recompute a run's labels and check them against the ARI in the results table.

    The point alone is run first; if its ARI differs from ``expected_ari`` the method's whole
    ``grid`` is run as the sweep did (shared work or random streams).  Returns the labels,
    their ARI and whether it matches (within 1e-6).
    """
    key = {
        "method": method,
        "params": params,
        "seed": seed,
        "dataset": dataset,
        "model": model,
        "subset": subset,
    }
    y_true = np.asarray(labels)[indices]
    pred = recompute_labels(X, labels, indices, **key)
    ok, ari = check_reproduced(y_true, pred, expected_ari)
    if not ok and len(grid) > 1:
        log.info(
            "%s %s alone gave ARI %.6f (sweep %.6f): running its whole grid",
            method,
            params,
            ari,
            expected_ari,
        )
        pred = recompute_labels(X, labels, indices, grid=list(grid), **key)
        ok, ari = check_reproduced(y_true, pred, expected_ari)
    if not ok:
        log.warning(
            "%s-%s %s %s on subset %d: recomputed ARI %.6f, the sweep's %.6f",
            dataset,
            model,
            method,
            params,
            subset,
            ari,
            expected_ari,
        )
    return pred, ari, ok


# --------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------
@dataclass
class ErrorGroup:
    """One false merge (a cluster) or false split (an identity), for a gallery row.

    Attributes
    ----------
    kind : {"merge", "split"}
    key : str
        The cluster id (merge) or identity (split).
    members : ndarray of int
        Positions (in the subset) of the group's faces, in display order (interleaved across
        identities / clusters so a short row still shows the mix).
    errors : int
        Faces not of the cluster's majority identity (merge) / outside the identity's largest
        cluster (split).
    parts : dict
        ``{identity: count}`` (merge) or ``{cluster: count}`` (split), largest first.
    split_off : ndarray of int
        (split) positions of the faces outside the largest cluster.
    """

    kind: str
    key: str
    members: np.ndarray
    errors: int
    parts: dict = field(default_factory=dict)
    split_off: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def describe(self) -> str:
        shown = ", ".join(f"{k} ({v})" for k, v in list(self.parts.items())[:6])
        more = f", ... ({len(self.parts)} in all)" if len(self.parts) > 6 else ""
        if self.kind == "merge":
            return (
                f"cluster {self.key}: {len(self.members)} faces of {len(self.parts)} "
                f"identities ({shown}{more})"
            )
        return (
            f"identity {self.key}: {len(self.members)} faces in {len(self.parts)} "
            f"clusters ({shown}{more})"
        )


def _interleave(groups: list[np.ndarray]) -> np.ndarray:
    """Round-robin over groups (largest first): a0 b0 c0 a1 b1 a2 …"""
    out = []
    for i in range(max((len(g) for g in groups), default=0)):
        out.extend(int(g[i]) for g in groups if i < len(g))
    return np.asarray(out, dtype=np.int64)


def _groups_of(keys: np.ndarray, sel: np.ndarray, of: np.ndarray) -> tuple[list, list]:
    """Within positions ``sel``, split by ``of``: (values largest first, position arrays)."""
    vals, counts = np.unique(of[sel], return_counts=True)
    order = np.lexsort((vals.astype(str), -counts))
    return [vals[i] for i in order], [sel[of[sel] == vals[i]] for i in order]


def false_merges(
    y_true: np.ndarray, y_pred: np.ndarray, limit: int | None = None
) -> list[ErrorGroup]:
    """Predicted clusters with more than one identity, most misplaced faces first.

    Ties are broken by cluster size (larger first), then cluster id.
    """
    y_true = np.asarray(y_true)
    y_pred = noise_to_singletons(np.asarray(y_pred))
    groups = []
    for c in np.unique(y_pred):
        sel = np.flatnonzero(y_pred == c)
        ids, parts = _groups_of(y_true, sel, y_true)
        if len(ids) < 2:
            continue
        errors = len(sel) - len(parts[0])
        groups.append(
            ErrorGroup(
                "merge",
                str(c),
                _interleave(parts),
                errors,
                {str(i): len(p) for i, p in zip(ids, parts, strict=True)},
            )
        )
    groups.sort(key=lambda g: (-g.errors, -len(g.members), int(g.key)))
    return groups[:limit] if limit is not None else groups


def false_splits(
    y_true: np.ndarray, y_pred: np.ndarray, limit: int | None = None
) -> list[ErrorGroup]:
    """Identities spread over more than one cluster, most split-off faces first.

    Ties are broken by the number of clusters (more first), then identity.
    """
    y_true = np.asarray(y_true)
    y_pred = noise_to_singletons(np.asarray(y_pred))
    groups = []
    for ident in np.unique(y_true):
        sel = np.flatnonzero(y_true == ident)
        clusters, parts = _groups_of(y_pred, sel, y_pred)
        if len(clusters) < 2:
            continue
        off = np.sort(np.concatenate(parts[1:]))
        groups.append(
            ErrorGroup(
                "split",
                str(ident),
                _interleave(parts),
                len(off),
                {str(c): len(p) for c, p in zip(clusters, parts, strict=True)},
                off,
            )
        )
    groups.sort(key=lambda g: (-g.errors, -len(g.parts), g.key))
    return groups[:limit] if limit is not None else groups


def error_summary(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, int]:
    """Counts for a caption: faces, clusters, merged clusters, split identities, misplaced."""
    merges = false_merges(y_true, y_pred)
    splits = false_splits(y_true, y_pred)
    return {
        "faces": int(len(y_true)),
        "clusters": int(np.unique(noise_to_singletons(np.asarray(y_pred))).size),
        "identities": int(np.unique(y_true).size),
        "merged clusters": len(merges),
        "faces in merges (not majority)": int(sum(g.errors for g in merges)),
        "split identities": len(splits),
        "split-off faces": int(sum(g.errors for g in splits)),
    }


# --------------------------------------------------------------------------------------------
# images
# --------------------------------------------------------------------------------------------
def _caption(group: ErrorGroup, rec: pd.Series, cluster: int) -> list[str]:
    if group.kind == "merge":
        return [str(rec["identity"])]
    lines = [f"cluster {cluster}"]
    if rec.get("condition"):
        lines.append(str(rec["condition"]))
    return lines


def gallery_image(
    groups: Sequence[ErrorGroup],
    crops: np.ndarray,
    faces: pd.DataFrame,
    y_pred: np.ndarray,
    *,
    faces_per_row: int = 8,
    thumb_px: int = 64,
) -> Image.Image:
    """Rows of face thumbnails with captions, one row per error group (a Pillow image).

    Parameters
    ----------
    groups : sequence of ErrorGroup
        From :func:`false_merges` or :func:`false_splits`.
    crops : ndarray of shape (N, H, W, 3), uint8
        ``crops_facenet.npy`` (memory-mapped is fine).
    faces : DataFrame
        :func:`face_table` of the subset's rows (position ``i`` = subset row ``i``).
    y_pred : ndarray
        Predicted labels of the subset (noise becomes singletons).
    faces_per_row : int
        Thumbnails per row (the rest of a group is counted in the row's title).
    thumb_px : int
        Thumbnail side in pixels.

    Each row: a title (:meth:`ErrorGroup.describe`), then the thumbnails, each captioned with
    its identity (merges) or its cluster and file-name condition (splits).
    """
    y_pred = noise_to_singletons(np.asarray(y_pred))
    font = ImageFont.load_default(size=11)
    gap, title_h, line_h = 6, 16, 12
    cap_lines = 1 if all(g.kind == "merge" for g in groups) else 2
    row_h = title_h + thumb_px + cap_lines * line_h + gap
    width = gap + faces_per_row * (thumb_px + gap)
    img = Image.new("RGB", (max(width, 200), max(row_h * len(groups), 1)), "white")
    draw = ImageDraw.Draw(img)
    max_chars = max(4, (thumb_px + gap) // 6)
    for r, group in enumerate(groups):
        y0 = r * row_h
        shown = group.members[:faces_per_row]
        extra = len(group.members) - len(shown)
        title = group.describe() + (f"; {extra} more not shown" if extra > 0 else "")
        limit = max(20, width // 6)
        title = title if len(title) <= limit else title[: limit - 3] + "..."
        draw.text((gap, y0 + 2), title, fill="black", font=font)
        for c, pos in enumerate(shown):
            rec = faces.iloc[int(pos)]
            crop = np.asarray(crops[int(rec["crop_index"])], dtype=np.uint8)
            thumb = Image.fromarray(crop).convert("RGB").resize((thumb_px, thumb_px))
            x0 = gap + c * (thumb_px + gap)
            img.paste(thumb, (x0, y0 + title_h))
            for k, line in enumerate(_caption(group, rec, int(y_pred[int(pos)]))[:cap_lines]):
                draw.text(
                    (x0, y0 + title_h + thumb_px + k * line_h),
                    line[:max_chars],
                    fill="#333333",
                    font=font,
                )
    return img


def gallery_jpeg(
    groups: Sequence[ErrorGroup],
    crops: np.ndarray,
    faces: pd.DataFrame,
    y_pred: np.ndarray,
    **kwargs: Any,
) -> bytes:
    """:func:`gallery_image` as JPEG bytes (:func:`facecluster.report.inline.jpeg`)."""
    return jpeg(gallery_image(groups, crops, faces, y_pred, **kwargs))


def gallery_html(
    groups_by_kind: Mapping[str, Sequence[ErrorGroup]],
    crops: np.ndarray,
    faces: pd.DataFrame,
    y_pred: np.ndarray,
    *,
    summary: str,
    **kwargs: Any,
) -> str:
    """A collapsible block (``<details>``, no script) with each kind's gallery PNG inline.

    ``groups_by_kind`` maps a heading (``"false merges"``) to its groups.
    """
    parts = []
    for kind, groups in groups_by_kind.items():
        if groups:
            png = gallery_jpeg(groups, crops, faces, y_pred, **kwargs)
            parts.append(
                f"<p><b>Largest {html.escape(kind)}</b></p>"
                + img_tag(png, alt=f"{kind}: {summary}")
            )
        else:
            parts.append(f"<p><b>No {html.escape(kind)}.</b></p>")
    return f"<details><summary>{html.escape(summary)}</summary>{''.join(parts)}</details>"


def check_reproduced(
    y_true: np.ndarray, y_pred: np.ndarray, expected_ari: float, *, tol: float = 1e-6
) -> tuple[bool, float]:
    """Whether recomputed labels give the ARI the results table holds for that run."""
    ari = float(evaluate(y_true, y_pred)["ari"])
    return abs(ari - float(expected_ari)) <= tol, ari
