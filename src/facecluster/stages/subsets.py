"""Stage ``subsets@<dataset>``: the ``n_subsets`` × ``fraction`` index sets of one dataset.

Output ``data/subsets/<dataset>.npz``: ``indices`` (n_subsets, m) int64 row indices into the
clustering set (the rows of every model's embeddings file, in the faces manifest's order; for
a dataset of precomputed vectors, the rows of the file its features stage wrote),
``meta`` (JSON: the settings that drew them and a digest of the row labels, checked on every
read) and ``skip_reason``.  Drawn once, shared by every model and method.
"""

from __future__ import annotations

import json
import logging
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from facecluster.artifacts import SKIP_FIELD, npz_skip_reason, write_npz
from facecluster.config import Params, SweepSettings
from facecluster.paths import ProjectPaths
from facecluster.stages import faces as faces_stage
from facecluster.sweep import SweepError
from facecluster.sweep.subsets import draw_subsets, labels_digest, subset_seed_key

log = logging.getLogger(__name__)

SUBSETS_FORMAT = 1


class SubsetsError(SweepError):
    """A stored subsets file does not match the settings or the embeddings."""


@dataclass(frozen=True)
class Subsets:
    """The subsets of a dataset: ``indices`` (n_subsets, m), empty when skipped."""

    indices: np.ndarray
    skip_reason: str | None = None

    @property
    def skipped(self) -> bool:
        return self.skip_reason is not None


def run(dataset: str, params: Params, paths: ProjectPaths) -> Subsets:
    """Draw (and store) the subsets of ``dataset``; the empty form for a skipped dataset.

    The rows are the faces stage's clustering set, or, for a dataset of precomputed vectors,
    the rows of the embeddings file its features stage wrote.
    """
    spec = params.dataset(dataset)  # an unknown name is a config error, before any file is read
    out = paths.subsets(dataset)
    if spec.kind == "embeddings":
        from facecluster.stages.embed import read_embeddings

        labels = read_embeddings(paths.embeddings(dataset, params.feature_model(dataset))).labels
        labels = labels.astype(str)
        out.unlink(missing_ok=True)
    else:
        faces = faces_stage.read_summary(paths, dataset)
        out.unlink(missing_ok=True)  # a stage rewrites its outs completely
        if faces.skipped:
            log.warning(
                "dataset %s was skipped (%s): writing empty subsets", dataset, faces.skip_reason
            )
            return write_skipped(out, faces.skip_reason or "skipped")
        labels = faces_stage.study_labels(paths, dataset)
    indices = load_or_draw(
        out, len(labels), params.sweep, seed=params.seed, dataset=dataset, labels=labels
    )
    dup = 1 - np.mean([len(np.unique(s)) / len(s) for s in indices])
    log.info(
        "subsets of %s: %d × %d of %d faces (replace=%s, %.1f%% repeats), seed key %s",
        dataset, *indices.shape, len(labels), params.sweep.replace, 100 * dup,
        subset_seed_key(params.seed, dataset),
    )  # fmt: skip
    return Subsets(indices)


def write_skipped(path: str | Path, reason: str) -> Subsets:
    """The empty subsets file of a skipped dataset."""
    write_npz(path, {"indices": np.zeros((0, 0), np.int64), "meta": "{}", SKIP_FIELD: reason})
    return Subsets(np.zeros((0, 0), np.int64), reason)


def _meta(
    n: int, n_subsets: int, fraction: float, replace: bool, seed_key: Sequence[Any]
) -> dict[str, Any]:
    return {
        "format": SUBSETS_FORMAT,
        "n": int(n),
        "n_subsets": int(n_subsets),
        "fraction": float(fraction),
        "replace": bool(replace),
        "seed_key": [k if isinstance(k, str) else int(k) for k in seed_key],
    }


def write_subsets(
    path: str | Path,
    subsets: np.ndarray,
    *,
    n: int,
    fraction: float,
    replace: bool,
    seed_key: Sequence[Any],
    labels: np.ndarray | None = None,
) -> Path:
    """Write subsets with the settings that drew them (atomically) to ``path`` (.npz).

    ``labels`` (optional) stores a digest of the row labels, so that the file is not reused
    for embeddings whose rows are different faces.
    """
    subsets = np.asarray(subsets, dtype=np.int64)
    meta = _meta(n, subsets.shape[0], fraction, replace, seed_key)
    meta["labels_digest"] = labels_digest(labels) if labels is not None else None
    write_npz(path, {"indices": subsets, "meta": json.dumps(meta, sort_keys=True), SKIP_FIELD: ""})
    log.info("wrote %d subsets of %d rows to %s", subsets.shape[0], subsets.shape[1], path)
    return Path(path)


def read_subsets(
    path: str | Path,
    *,
    n: int | None = None,
    n_subsets: int | None = None,
    fraction: float | None = None,
    replace: bool | None = None,
    seed_key: Sequence[Any] | None = None,
    labels: np.ndarray | None = None,
) -> Subsets:
    """Read subsets written by this stage, checking them against expectations.

    Every keyword given is compared with what the file was drawn with; any difference raises
    :class:`SubsetsError` naming the settings that differ.  A skipped dataset's file gives
    empty indices and its ``skip_reason`` (no check).
    """
    path = Path(path)
    if not path.is_file():
        raise SubsetsError(f"subsets file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            indices = npz["indices"]
            meta = json.loads(str(npz["meta"]))
            skip = npz_skip_reason(npz)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise SubsetsError(f"{path}: not a subsets file ({exc})") from None
    if skip is not None:
        return Subsets(np.zeros((0, 0), np.int64), skip)
    expected: dict[str, Any] = {}
    if n is not None:
        expected["n"] = int(n)
    if n_subsets is not None:
        expected["n_subsets"] = int(n_subsets)
    if fraction is not None:
        expected["fraction"] = float(fraction)
    if replace is not None:
        expected["replace"] = bool(replace)
    if seed_key is not None:
        expected["seed_key"] = _meta(1, 1, 1.0, False, seed_key)["seed_key"]
    if labels is not None and meta.get("labels_digest") is not None:
        expected["labels_digest"] = labels_digest(labels)
    diffs = [
        f"{key}={meta.get(key)!r} (now {value!r})"
        for key, value in expected.items()
        if meta.get(key) != value
    ]
    if meta.get("format") != SUBSETS_FORMAT:
        diffs.insert(0, f"format={meta.get('format')!r} (now {SUBSETS_FORMAT})")
    if diffs:
        raise SubsetsError(
            f"{path} was drawn with other settings: {', '.join(diffs)}; delete it (or re-run "
            "its stage) to draw subsets for the current settings"
        )
    if indices.ndim != 2 or (n is not None and indices.size and indices.max() >= n):
        raise SubsetsError(f"{path}: indices of shape {indices.shape} do not fit {n} rows")
    return Subsets(indices.astype(np.int64, copy=False))


def load_or_draw(
    path: str | Path | None,
    n: int,
    settings: SweepSettings,
    *,
    seed: int,
    dataset: str,
    labels: np.ndarray | None = None,
) -> np.ndarray:
    """The subsets of a dataset: read from ``path`` if it exists (checked), else drawn.

    When ``path`` is given and does not exist, the drawn subsets are saved there.
    """
    key = subset_seed_key(seed, dataset)
    kwargs = {"fraction": settings.fraction, "replace": settings.replace, "seed_key": key}
    if path is not None and Path(path).is_file():
        subsets = read_subsets(path, n=n, n_subsets=settings.n_subsets, labels=labels, **kwargs)
        if subsets.skipped:
            raise SubsetsError(
                f"{path} holds the subsets of a skipped dataset: {subsets.skip_reason}"
            )
        log.info("read %d subsets from %s", subsets.indices.shape[0], path)
        return subsets.indices
    indices = draw_subsets(n, n_subsets=settings.n_subsets, **kwargs)
    if path is not None:
        write_subsets(path, indices, n=n, labels=labels, **kwargs)
    return indices
