"""A tiny project (params over a small slice of ../shared/data) for notebook runs."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def small_project(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """A project root with dvc.yaml and a params.yaml over a few images of each dataset."""
    root = tmp_path_factory.mktemp("project")
    shutil.copy(ROOT / "dvc.yaml", root / "dvc.yaml")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["datasets"]["personal"].update(path=str(shared_data / "yale"), max_images=24)
    for yale in ("yale", "yale-castiel"):  # kind yale: the mirror's copy, checked by sha256
        params["datasets"][yale].update(max_images=24)
    params["datasets"]["lfw"].update(max_images=24, pairs_faces=False, all_images=False)
    params["datasets"]["muct"].update(max_images=60)
    params["crops"]["sample_grid"] = 12
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return root


@pytest.fixture()
def notebook_env(monkeypatch: pytest.MonkeyPatch, shared_data: Path) -> None:
    """The kernel must be this interpreter (its kernelspec runs `python` from PATH)."""
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    monkeypatch.setenv("FACECLUSTER_MIRROR", str(shared_data))
    monkeypatch.delenv("FACECLUSTER_ROOT", raising=False)


@pytest.fixture()
def run_notebook(notebook_env):
    """``run_notebook(name, project, out_name, **parameters)`` → the executed notebook."""
    return _run_notebook


def _run_notebook(
    name: str, project: Path, out_name: str, cwd: Path | None = None, **parameters
) -> dict:
    """Execute ``notebooks/<name>`` in ``project`` with papermill; returns the executed nb.

    The kernel starts in ``cwd`` (default ``project``): ``project / "notebooks"`` is where
    JupyterLab starts it when a user opens a template.
    """
    import nbformat
    import papermill as pm

    out = project / "reports" / f"{out_name}.ipynb"
    out.parent.mkdir(parents=True, exist_ok=True)
    pm.execute_notebook(
        str(ROOT / "notebooks" / name),
        str(out),
        parameters={"params_path": "params.yaml", **parameters},
        cwd=str(cwd or project),
        log_output=False,
        progress_bar=False,
        kernel_name="python3",
    )
    return nbformat.read(out, as_version=4)
