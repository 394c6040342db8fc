"""The command line refuses an output that would destroy an input, or that is a folder,
before any work; an unknown dataset or model is one line before a notebook kernel starts."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import yaml

from facecluster import cli
from facecluster.errors import EXIT_USER_ERROR

PARAMS = {
    "seed": 7,
    "study": {"datasets": ["faces"], "models": ["facenet"], "features": {"toy": "vecs"}},
    "datasets": {
        "faces": {"kind": "personal", "path": "people"},
        "toy": {"kind": "embeddings", "path": "toy-vec.npz"},
    },
    "models": {"facenet": {"kind": "facenet"}},
    "sweep": {"n_subsets": 2, "methods": {"kmeans": {"n_init": 2}}},
    "execution": {"executor": "serial", "progress": False},
}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 8)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    np.savez(tmp_path / "toy-vec.npz", embeddings=X, labels=np.arange(30) % 3)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(PARAMS), encoding="utf-8")
    (tmp_path / "dvc.yaml").write_text("stages: {}\n", encoding="utf-8")  # a project root
    monkeypatch.chdir(tmp_path)

    def no_sweep(*args, **kwargs):  # the refusal must come before any work
        raise AssertionError("the sweep ran")

    monkeypatch.setattr("facecluster.stages.sweep.sweep_file", no_sweep)
    return tmp_path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sweep(*args: str) -> int:
    return cli.main(["sweep", "toy-vec.npz", "--params", "params.yaml", "--no-progress", *args])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--out", "toy-vec.npz"], "--out toy-vec.npz is embeddings, an input"),
        (["--out", "./sub/../toy-vec.npz"], "is embeddings, an input"),
        (["--out", "params.yaml"], "is --params, an input"),
        (
            ["--out", "r.parquet", "--metrics", "toy-vec.npz"],
            "--metrics toy-vec.npz is embeddings",
        ),
        (["--out", "r.parquet", "--metrics", "r.parquet"], "is --out, another output"),
        (["--out", "r.parquet", "--subsets", "r.parquet"], "is --subsets, an input"),
        (["--out", "."], "--out . is a folder"),
    ],
)
def test_sweep_refuses_an_output_that_is_an_input_or_a_folder(project, capsys, args, message):
    (project / "sub").mkdir()
    before = digest(project / "toy-vec.npz")
    assert sweep(*args) == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert digest(project / "toy-vec.npz") == before


def test_sweep_refuses_a_link_to_an_input(project, capsys):
    (project / "alias.npz").symlink_to(project / "toy-vec.npz")
    assert sweep("--out", "alias.npz") == EXIT_USER_ERROR
    assert "is embeddings, an input" in capsys.readouterr().err


def test_render_refuses_to_overwrite_its_notebook(project, capsys):
    nb = project / "n.ipynb"
    nb.write_text("{}", encoding="utf-8")
    assert cli.main(["render", str(nb), "--out", str(nb)]) == EXIT_USER_ERROR
    assert "is notebook, an input" in capsys.readouterr().err
    assert nb.read_text(encoding="utf-8") == "{}"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["notebook", "faces", "nosuch"], "unknown dataset 'nosuch'"),
        (["notebook", "embed", "faces", "nomodel"], "unknown model 'nomodel'"),
        (["notebook", "sweep", "toy", "facenet"], "precomputed embeddings of vecs"),
        (["notebook", "sweep", "nosuch", "facenet"], "unknown dataset 'nosuch'"),
        (["stage", "subsets", "nosuch"], "unknown dataset 'nosuch'"),
        (["stage", "weights", "nomodel"], "unknown model 'nomodel'"),
    ],
)
def test_unknown_items_fail_in_one_line_before_the_kernel(project, capsys, monkeypatch, args,
                                                          message):  # fmt: skip
    def no_kernel(*a, **k):
        raise AssertionError("papermill started")

    monkeypatch.setattr(cli, "execute_notebook", no_kernel)
    assert cli.main([*args, "--params", "params.yaml"]) == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
