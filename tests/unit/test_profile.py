"""Profiles: the study on a slice as its own DVC project sharing the study's cache."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from facecluster.cli import main
from facecluster.config import ConfigError, load_params
from facecluster.profile import make_profile, read_profile

ROOT = Path(__file__).resolve().parents[2]


def test_the_quick_profile_is_the_study_with_its_keys_replaced(tmp_path):
    out = make_profile(ROOT, "quick", tmp_path / "quick")
    params = load_params(out / "params.yaml")
    study = load_params(ROOT / "params.yaml")
    assert params.sweep.n_subsets == 2 and study.sweep.n_subsets == 30
    assert params.dataset("lfw").max_images == 250
    assert params.table_one.sweeps["casia-lfw"].n_subsets == 2
    assert params.study == study.study  # the same datasets and models: the same report
    assert params.table_one.sweeps.keys() == study.table_one.sweeps.keys()
    personal = params.dataset("personal").path
    assert Path(personal).is_absolute() and Path(personal) == ROOT / "data" / "raw" / "personal"
    assert (out / "dvc.yaml").read_text() == (ROOT / "dvc.yaml").read_text()
    assert (out / "src" / "facecluster" / "profile.py").is_file()  # the stages' deps
    assert (out / "notebooks" / "40-report.ipynb").is_file()
    config = (out / ".dvc" / "config").read_text()
    assert f"dir = {ROOT / '.dvc' / 'cache'}" in config and "no_scm = true" in config
    assert set(read_profile(ROOT, "quick")) <= {
        k for k in _dotted(yaml.safe_load((out / "params.yaml").read_text()))
    }


def _dotted(data, prefix=""):
    for key, value in data.items():
        name = f"{prefix}{key}"
        yield name
        if isinstance(value, dict):
            yield from _dotted(value, name + ".")


def test_a_bad_profile_is_one_clear_error(tmp_path, capsys):
    (tmp_path / "profiles").mkdir()
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    (tmp_path / "profiles" / "typo.yaml").write_text("sweep.n_subset: 3\n")
    with pytest.raises(ConfigError, match="n_subset"):
        make_profile(tmp_path, "typo", tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing written
    with pytest.raises(ConfigError, match=r"no profile 'nosuch'.*profiles: \['typo'\]"):
        make_profile(tmp_path, "nosuch", tmp_path / "out")
    with pytest.raises(ConfigError, match="is the project itself"):
        make_profile(tmp_path, "typo", tmp_path)


def test_the_command_writes_the_profile(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    assert main(["profile", "quick", "--out", str(tmp_path / "q")]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "q")
    assert main(["profile", "nosuch", "--out", str(tmp_path / "n")]) == 2
    assert "no profile 'nosuch'" in capsys.readouterr().err
