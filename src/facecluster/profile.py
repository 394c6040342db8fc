"""Profiles: the study on a slice, as a separate DVC project that shares the study's cache.

A profile (``profiles/<name>.yaml``) is a mapping of dotted ``params.yaml`` keys to values,
the form of ``dvc exp run -S``.  :func:`make_profile` writes a copy of the project under
``out`` — ``dvc.yaml``, the template notebooks, the package sources (the stages' deps) and
``params.yaml`` with the profile's keys replaced and validated — with its own ``.dvc/`` whose
cache is the study's.  ``dvc repro`` there then runs the whole pipeline on the slice: its
``dvc.lock``, outputs and reports are its own, so the study's results are never touched,
and what the two share (weights, identical stages) comes from the cache.  Run it with
``PYTHONPATH=<out>/src`` (``make repro-quick`` does): the stages then import the copy's
sources, the ones its ``dvc.lock`` hashes, so editing the project while the profile runs
changes neither its results nor its lock.

Relative dataset paths are made absolute (they are relative to the study's root, where your
own folder lives), and so is ``$FACECLUSTER_MIRROR`` when the caller passes it on.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from facecluster.config import ConfigError, apply_overrides, parse_params, read_params_dict

log = logging.getLogger(__name__)

__all__ = ["PROFILES_DIR", "make_profile", "read_profile"]

PROFILES_DIR = "profiles"
#: What the copy holds of the project (the rest, data/ and reports/, it makes itself).
_COPIED = ("dvc.yaml", "notebooks", "src", ".dvcignore", ".gitignore")


def read_profile(root: Path, name: str) -> dict[str, Any]:
    """``{dotted key: value}`` of ``profiles/<name>.yaml`` (a one-line error when absent)."""
    path = root / PROFILES_DIR / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in (root / PROFILES_DIR).glob("*.yaml"))
        raise ConfigError(f"no profile {name!r} ({path} not found); profiles: {known}")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, Mapping) or not all(isinstance(k, str) for k in data):
        raise ConfigError(f"{path}: expected a mapping of dotted params keys to values")
    return dict(data)


def _absolute_paths(data: dict[str, Any], root: Path) -> dict[str, Any]:
    for spec in (data.get("datasets") or {}).values():
        if isinstance(spec, dict):
            for key in ("path", "labels_path"):
                value = spec.get(key)
                if isinstance(value, str) and not Path(value).expanduser().is_absolute():
                    spec[key] = str((root / value).resolve())
    return data


def make_profile(
    root: str | Path,
    name: str,
    out: str | Path,
    *,
    cache: str | Path | None = None,
    scm: bool = False,
) -> Path:
    """Write the profile ``name`` of the project at ``root`` as a DVC project in ``out``.

    Returns ``out``.  ``out`` is created or refreshed (its data, reports and ``dvc.lock`` are
    kept, so a second ``dvc repro`` there re-runs only what changed).  ``cache``: the DVC
    cache it uses (default the study's, ``<root>/.dvc/cache``).  ``scm``: make ``out`` a git
    repository of its own (``git init``; the project's ``.gitignore`` is copied either way),
    which ``dvc exp run`` needs; by default it is a DVC project without git (``no_scm``).
    """
    root, out = Path(root).resolve(), Path(out).resolve()
    cache = Path(cache).resolve() if cache is not None else root / ".dvc" / "cache"
    if out == root:
        raise ConfigError(f"the profile folder {out} is the project itself")
    overrides = read_profile(root, name)
    data = apply_overrides(
        read_params_dict(root / "params.yaml"),
        [f"{k}={json.dumps(v)}" for k, v in overrides.items()],  # JSON is YAML
    )
    data = _absolute_paths(data, root)
    parse_params(data, f"{root / 'params.yaml'} with profile {name}")  # one clear error
    out.mkdir(parents=True, exist_ok=True)
    for item in _COPIED:
        src, dst = root / item, out / item
        if src.is_dir():
            shutil.rmtree(dst, ignore_errors=True)
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        elif src.is_file():
            shutil.copy2(src, dst)
    (out / "params.yaml").write_text(
        f"# written by `facecluster profile {name}` from {root / 'params.yaml'} and "
        f"{PROFILES_DIR}/{name}.yaml; edit those, not this file\n"
        + yaml.safe_dump(data, sort_keys=False),
        encoding="utf-8",
    )
    dvc = out / ".dvc"
    dvc.mkdir(exist_ok=True)
    (dvc / ".gitignore").write_text("/config.local\n/tmp\n/cache\n", encoding="utf-8")
    if scm and not (out / ".git").exists():
        subprocess.run(["git", "init", "-q", str(out)], check=True)
    (dvc / "config").write_text(
        f"[core]\n    no_scm = {str(not scm).lower()}\n    analytics = false\n"
        "    autostage = false\n"
        f'[cache]\n    dir = {cache}\n    type = "reflink,hardlink,copy"\n',
        encoding="utf-8",
    )
    (out / "data" / "raw").mkdir(parents=True, exist_ok=True)
    log.info("profile %s written to %s (%d keys changed)", name, out, len(overrides))
    return out
