"""Tasks of a sweep and the checkpoint key of each.

A *task* is one subset × one method's whole grid (so work shared between grid points — one
tree, one neighbour search — is done once).  Its key is a digest of everything its result
depends on: the embeddings and labels, the subset's indices, the method, its grid, the derived
random state, the source of the method's modules and the versions of numpy, scipy,
scikit-learn and faiss.  Execution settings (executor, workers) are not part of it: they never
change a result.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

import facecluster
from facecluster import seeds
from facecluster.cluster.registry import get_method
from facecluster.sweep.subsets import encode_labels

if TYPE_CHECKING:
    from facecluster.config import SweepSettings

#: Bump when the table layout or the meaning of a task changes (invalidates every part file).
SWEEP_FORMAT = 2  # 2: the label-free silhouette column


@dataclass(frozen=True)
class SweepTask:
    """One subset × one method's whole grid (the unit of work, progress and checkpointing)."""

    method: str
    grid: dict[str, Any]
    subset: int
    indices: np.ndarray
    random_state: int
    dataset: str
    model: str
    key: str

    @property
    def part_name(self) -> str:
        return f"{self.method}-s{self.subset:03d}-{self.key[:20]}.parquet"


def canonical_params(point: Mapping[str, Any]) -> str:
    """The canonical JSON of a grid point (sorted keys, no spaces): the ``params`` column."""
    return json.dumps(dict(point), sort_keys=True, separators=(",", ":"))


def digest(*parts: Any) -> str:
    """A blake2b digest of arrays, bytes and JSON-able values, in order."""
    h = hashlib.blake2b(digest_size=20)
    for part in parts:
        if isinstance(part, np.ndarray):
            h.update(str((part.dtype.str, part.shape)).encode())
            h.update(np.ascontiguousarray(part).tobytes())
        elif isinstance(part, bytes):
            h.update(part)
        else:
            h.update(json.dumps(part, sort_keys=True, default=str).encode("utf-8"))
        h.update(b"|")
    return h.hexdigest()


def _package_version(*names: str) -> str:
    for name in names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "absent"


def _module_source(module: str) -> bytes:
    """The source bytes of a module, without importing it (``b"-"`` when there is none)."""
    loaded = sys.modules.get(module)
    origin = getattr(loaded, "__file__", None) if loaded is not None else None
    if origin is None and loaded is None:
        try:
            found = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            found = None
        origin = found.origin if found is not None else None
    return Path(origin).read_bytes() if origin and Path(origin).is_file() else b"-"


def code_version(method: str) -> str:
    """Digest of what a method's results depend on besides data and settings.

    The package version, :data:`SWEEP_FORMAT`, the source of the method's modules, of the
    registry and of ``facecluster.metrics``, and the versions of numpy, scipy, scikit-learn
    and faiss.
    """
    spec = get_method(method)
    parts: list[Any] = [
        facecluster.__version__,
        SWEEP_FORMAT,
        {
            dist: _package_version(*alts)
            for dist, alts in {
                "numpy": ("numpy",),
                "scipy": ("scipy",),
                "scikit-learn": ("scikit-learn",),
                "faiss": ("faiss-cpu", "faiss-gpu", "faiss"),
            }.items()
        },
    ]
    for module in (*spec.modules, "facecluster.cluster.registry", "facecluster.metrics"):
        parts.append(module)
        parts.append(_module_source(module))
    return digest(*parts)


def make_tasks(
    X: np.ndarray,
    y: np.ndarray,
    subsets: np.ndarray,
    settings: SweepSettings,
    *,
    dataset: str,
    model: str,
    seed: int,
) -> list[SweepTask]:
    """The tasks of a sweep, method-major in registry order, each with its checkpoint key.

    Method ``m`` on subset ``i`` gets ``seeds.random_state(seed, "sweep", dataset, model, m,
    i)``.
    """
    data_digest = digest(np.ascontiguousarray(X, dtype=np.float32), encode_labels(y))
    tasks = []
    for method, grid in settings.method_grids().items():
        grid_json = grid.model_dump(mode="json")
        code = code_version(method)
        for i, indices in enumerate(subsets):
            rs = seeds.random_state(seed, "sweep", dataset, model, method, i)
            key = digest(data_digest, code, method, grid_json, i, indices, rs, dataset, model)
            tasks.append(SweepTask(method, grid_json, i, indices, rs, dataset, model, key))
    return tasks
