"""``facecluster sweep``: a round trip through the CLI, overrides, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.datasets import make_blobs

from facecluster.cli import build_parser, main

PARAMS = {
    "seed": 7,
    "study": {"datasets": [], "models": []},
    "datasets": {},
    "models": {},
    "sweep": {
        "n_subsets": 2,
        "fraction": 0.8,
        "methods": {
            "kmeans": {"n_init": 2},
            "agglomerative": {},
            "spectral": None,
            "dbscan": {"eps": [0.3, 1.9]},
            "meanshift": None,
            "rank_order": None,
            "chinese_whispers": None,
            "finch_k": None,
            "hdbscan": None,
            "finch": None,
        },
    },
    "execution": {"executor": "serial", "progress": False},
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    X, y = make_blobs(n_samples=40, n_features=8, centers=4, cluster_std=0.02,
                      center_box=(-1, 1), random_state=2)  # fmt: skip
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    np.savez(tmp_path / "toy-vec.npz", embeddings=X.astype(np.float32), labels=y)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(PARAMS), encoding="utf-8")
    return tmp_path


def run(project: Path, *args: str) -> int:
    return main(["sweep", str(project / "toy-vec.npz"), "--params", str(project / "params.yaml"),
                 "--no-progress", *args])  # fmt: skip


def test_cli_sweep_round_trip_with_override(project):
    out = project / "results" / "toy-vec.parquet"
    rc = run(project, "--out", str(out), "-S", "sweep.n_subsets=3",
             "-S", "sweep.methods.dbscan.eps=[0.3, 0.6, 1.9]",
             "--metrics", str(project / "metrics.json"), "--subsets", str(project / "s.npz"))  # fmt: skip
    assert rc == 0
    df = pd.read_parquet(out)
    assert set(df.subset) == {0, 1, 2}  # -S sweep.n_subsets=3 won over params.yaml's 2
    assert sorted(df[df.method == "dbscan"].eps.unique()) == [0.3, 0.6, 1.9]
    assert list(df.method.unique()) == ["kmeans", "agglomerative", "dbscan"]
    assert set(df.dataset) == {"toy"} and set(df.model) == {"vec"}
    assert len(df) == 3 * (1 + 1 + 3) and set(df.n) == {32}
    metrics = json.loads((project / "metrics.json").read_text())
    assert metrics["dbscan"]["params"] == {"eps": 0.3, "min_samples": 1}
    assert metrics["kmeans"]["ari_mean"] == pytest.approx(1.0)
    assert (project / "s.npz").is_file()
    # the same subsets file serves a second run; its seed key names the dataset
    rc = run(project, "--out", str(out), "--model", "m", "--subsets", str(project / "s.npz"),
             "-S", "sweep.n_subsets=3")  # fmt: skip
    assert rc == 0
    assert set(pd.read_parquet(out).model) == {"m"}
    rc = run(project, "--out", str(out), "--dataset", "mine", "-S", "sweep.n_subsets=3")
    assert rc == 0
    assert set(pd.read_parquet(out).dataset) == {"mine"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-S", "sweep.methods.dbscn.eps=[0.5]"], "unknown key 'sweep.methods.dbscn'"),
        (["-S", "sweep.methods.dbscan.eps=[0]"], "'sweep.methods.dbscan.eps.0'"),
        (["-S", "sweep.methods.kmeans.n_init=0"], "'sweep.methods.kmeans.n_init'"),
        (["-S", "sweep.fraction=1.5"], "'sweep.fraction'"),
        (["-S", "sweep.fraction"], "is not of the form key=value"),
        (["--params", "nowhere.yaml"], "params file not found: nowhere.yaml"),
    ],
)
def test_cli_config_errors_are_one_line(project, capsys, args, message):
    rc = run(project, "--out", str(project / "r.parquet"), *args)
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert message in err
    assert err.startswith("facecluster sweep: error:") and "\n" not in err
    assert "Traceback" not in err
    assert not (project / "r.parquet").exists()


def test_cli_bad_embeddings_are_one_line(project, capsys):
    bad = project / "bad.npz"
    np.savez(bad, embeddings=np.array([[0.0, 1.0], [np.nan, 1.0]]), labels=np.array([0, 1]))
    short = project / "short.npz"
    np.savez(short, embeddings=np.zeros((3, 2)), labels=np.zeros(2))
    for path, message in [(bad, "NaN or infinite"), (short, "'labels' must have shape (3,)"),
                          (project / "none.npz", "embeddings file not found")]:  # fmt: skip
        rc = main(["sweep", str(path), "--out", str(project / "r.parquet"),
                   "--params", str(project / "params.yaml"), "--no-progress"])  # fmt: skip
        err = capsys.readouterr().err.strip()
        assert rc == 2 and message in err and "\n" not in err, err


def test_cli_mismatched_subsets_file_is_one_line(project, capsys):
    subsets = project / "s.npz"
    assert run(project, "--out", str(project / "a.parquet"), "--subsets", str(subsets)) == 0
    capsys.readouterr()
    rc = run(project, "--out", str(project / "b.parquet"), "--subsets", str(subsets),
             "-S", "sweep.fraction=0.5")  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "drawn with other settings: fraction=0.8 (now 0.5)" in err


def test_cli_parser_has_subcommands():
    parser = build_parser()
    with pytest.raises(SystemExit) as exc:
        parser.parse_args([])
    assert exc.value.code == 2
    args = parser.parse_args(["sweep", "e.npz", "--out", "r.parquet", "-S", "a=1", "-S", "b=2"])
    assert args.set == ["a=1", "b=2"] and args.params == "params.yaml"


def test_cli_console_script(project):
    """The installed ``facecluster`` entry point (pyproject) runs the same code."""
    exe = Path(sys.executable).with_name("facecluster")
    cmd = [str(exe)] if exe.is_file() else [sys.executable, "-m", "facecluster.cli"]
    out = project / "r.parquet"
    proc = subprocess.run(
        [*cmd, "sweep", str(project / "toy-vec.npz"), "--out", str(out), "--params",
         str(project / "params.yaml"), "--no-progress", "-S", "sweep.methods.kmeans=null"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert set(pd.read_parquet(out).method) == {"agglomerative", "dbscan"}
    proc = subprocess.run([*cmd, "sweep", str(project / "missing.npz"), "--out", str(out),
                           "--params", str(project / "params.yaml")],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("facecluster sweep: error:")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["stage", "subsets"], "stage subsets takes DATASET, got none"),
        (["stage", "embed", "lfw"], "stage embed takes DATASET MODEL, got lfw"),
        (["stage", "subsets", "nosuch"], "unknown dataset 'nosuch'"),
        (["notebook", "weights", "facenet"], "invalid choice: 'weights'"),
    ],
)
def test_cli_stage_user_errors_are_one_line(project, capsys, monkeypatch, args, message):
    monkeypatch.chdir(project)
    (project / "dvc.yaml").write_text("stages: {}\n", encoding="utf-8")
    try:
        rc = main([*args, "--params", str(project / "params.yaml")])
    except SystemExit as exc:  # argparse's own usage error (exit 2, one usage + one line)
        rc = exc.code
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert message in err and "Traceback" not in err


def test_the_command_blocks_unused_plugins_and_notebooks_still_validate():
    """:func:`block_unused_plugins` (what ``main`` does first): jsonschema's optional IRI
    plug-in cannot be imported, and nbformat still validates a template notebook.  In a
    fresh interpreter: ``main`` run in this process has blocked it here already."""
    root = Path(__file__).resolve().parents[2]
    code = (
        "import importlib.util\n"
        "from facecluster.cli import UNUSED_PLUGINS, block_unused_plugins\n"
        "print(all(importlib.util.find_spec(n) is not None for n in UNUSED_PLUGINS))\n"
        "block_unused_plugins()\n"
        "import nbformat, papermill\n"
        f"nb = nbformat.read({str(root / 'notebooks' / '30-sweep.ipynb')!r}, as_version=4)\n"
        "nbformat.validate(nb)\n"
        "for name in UNUSED_PLUGINS:\n"
        "    try:\n"
        "        __import__(name)\n"
        "    except ImportError:\n"
        "        print('blocked', name)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    installed, *blocked = done.stdout.splitlines()
    if installed != "True":
        pytest.skip("rfc3987_syntax is not installed: nothing to block")
    assert blocked == ["blocked rfc3987_syntax"]
