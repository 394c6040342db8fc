"""environment.yml (conda) and requirements*.txt (make venv) describe the same pinned set."""

from __future__ import annotations

import re

import yaml


def _pins(lines: list[str]) -> dict[str, str]:
    out = {}
    for line in lines:
        line = line.split("#")[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
        assert m, f"unpinned requirement: {line!r}"
        out[m.group(1).lower()] = m.group(2)
    return out


def test_requirements_are_pinned_and_match_environment_yml(project_root):
    req = _pins((project_root / "requirements.txt").read_text().splitlines())
    env = yaml.safe_load((project_root / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert _pins(pip_section) == req
    nodeps = _pins((project_root / "requirements-nodeps.txt").read_text().splitlines())
    assert set(nodeps) == {"facenet-pytorch", "torchvision"}
    text = (project_root / "environment.yml").read_text()
    for name, version in nodeps.items():  # documented for conda users
        assert f"{name}=={version}" in text


def test_named_packages_are_in_the_environment(project_root):
    req = _pins((project_root / "requirements.txt").read_text().splitlines())
    for name in [
        "jupyterlab",
        "papermill",
        "torch",
        "scikit-learn",
        "faiss-cpu",
        "umap-learn",
        "seaborn",
        "pandas",
        "dvc",
    ]:
        assert name in req, name
