"""Every location of the project, derived from the project root (no absolute paths in code).

The root is the folder holding ``dvc.yaml``; it is found from the current working directory
(DVC and papermill run stages there) or set with the environment variable
``FACECLUSTER_ROOT``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

MIRROR_ENV = "FACECLUSTER_MIRROR"
ROOT_ENV = "FACECLUSTER_ROOT"


def find_root(start: Path | None = None) -> Path:
    """Return the project root: ``$FACECLUSTER_ROOT`` or the nearest parent with ``dvc.yaml``."""
    env = os.environ.get(ROOT_ENV)
    if env:
        return Path(env).resolve()
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "dvc.yaml").is_file():
            return candidate
    raise FileNotFoundError(
        f"no dvc.yaml found in {here} or its parents; run from the project or set {ROOT_ENV}"
    )


@dataclass(frozen=True)
class ProjectPaths:
    """The project's folders; every stage output lives under ``data/`` or ``reports/``."""

    root: Path

    @classmethod
    def from_root(cls, root: Path | str | None = None) -> ProjectPaths:
        return cls(Path(root).resolve() if root is not None else find_root())

    def resolve(self, path: Path | str) -> Path:
        """A path from params.yaml: relative ones are relative to the project root."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else (self.root / p)

    def shown(self, path: Path | str) -> str:
        """``path`` as results name it: relative to the project root when inside it (the
        same on every machine), else as it is."""
        p = Path(path)
        try:
            return p.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return str(p)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    def raw(self, dataset: str) -> Path:
        """Where acquired (downloaded / extracted) data of a dataset lives; never edited."""
        return self.data / "raw" / dataset

    def faces(self, dataset: str) -> Path:
        return self.data / "faces" / dataset

    def manifest(self, dataset: str) -> Path:
        return self.faces(dataset) / "manifest.parquet"

    def models(self) -> Path:
        return self.data / "models"

    def embeddings(self, dataset: str, model: str) -> Path:
        return self.data / "embeddings" / f"{dataset}-{model}.npz"

    def subsets(self, dataset: str) -> Path:
        return self.data / "subsets" / f"{dataset}.npz"

    def results(self, dataset: str, model: str) -> Path:
        return self.data / "results" / f"{dataset}-{model}.parquet"

    def table_one(self, sweep: str) -> Path:
        """Results of Table I sweep ``sweep`` (``<setup>-<column>``)."""
        return self.data / "table_one" / f"{sweep}.parquet"

    def table_one_subsets(self, sweep: str) -> Path:
        return self.data / "table_one" / f"{sweep}-subsets.npz"

    def report_dir(self, stage: str) -> Path:
        return self.reports / stage


def mirror_root() -> Path | None:
    """The offline mirror folder named by ``$FACECLUSTER_MIRROR``, or None when unset."""
    value = os.environ.get(MIRROR_ENV)
    if not value:
        return None
    return Path(value).expanduser().resolve()
