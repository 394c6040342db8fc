"""``facecluster check`` (:mod:`facecluster.check`): a re-run against the published
``dvc.lock`` and metrics in git, one verdict per stage."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from facecluster.check import NothingPublishedError, check_reproduction, format_verdicts
from facecluster.cli import main


def _lock(stages: dict[str, dict[str, str]]) -> str:
    return yaml.safe_dump(
        {
            "schema": "2.0",
            "stages": {
                name: {
                    "cmd": "x",
                    "outs": [{"path": p, "hash": "md5", "md5": h} for p, h in outs.items()],
                }
                for name, outs in stages.items()
            },
        }
    )


def _write(root: Path, files: dict[str, object]) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content if isinstance(content, str) else json.dumps(content), "utf-8")


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


PUBLISHED = {
    "same": {"data/a.npz": "1", "reports/same.html": "p1"},
    "close": {"data/b.npz": "2", "m/close.json": "3", "m/close.run.json": "4"},
    "far": {"data/c.npz": "5", "m/far.json": "6"},
    "gone": {"data/d.npz": "7", "m/gone.json": "8"},
    "nometrics": {"data/e.npz": "9"},
}
METRICS = {
    "m/close.json": {"lfw": {"kmeans": {"ari_mean": 0.5, "n": 10}}, "skip_reason": None},
    "m/far.json": {"ari": 0.5, "faces": 100, "skip_reason": None},
    "m/gone.json": {"ari": 0.1},
    "m/close.run.json": {"seconds": 10},
}


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "config", "user.email", "t@example.org")
    _git(tmp_path, "config", "user.name", "t")
    _write(tmp_path, {"dvc.lock": _lock(PUBLISHED), **METRICS})
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-q", "-m", "published")
    return tmp_path


def test_verdict_per_stage(project: Path) -> None:
    rerun = {name: dict(outs) for name, outs in PUBLISHED.items() if name != "gone"}
    rerun["same"]["reports/same.html"] = "other"  # an executed page never counts
    rerun["close"].update({"data/b.npz": "2b", "m/close.json": "3b", "m/close.run.json": "4b"})
    rerun["far"].update({"m/far.json": "6b"})
    rerun["nometrics"]["data/e.npz"] = "9b"
    _write(project, {"dvc.lock": _lock(rerun)})
    _write(
        project,
        {"m/close.json": {"lfw": {"kmeans": {"ari_mean": 0.5004, "n": 10}}, "skip_reason": None}},
    )
    _write(project, {"m/far.json": {"ari": 0.52, "faces": 101, "extra": 1, "skip_reason": None}})
    _write(project, {"m/close.run.json": {"seconds": 99}})  # a run record is no result
    verdicts = {v.stage: v for v in check_reproduction(project)}
    assert {k: v.verdict for k, v in verdicts.items()} == {
        "same": "identical",
        "close": "within tolerance",
        "far": "differs",
        "gone": "not run",
        "nometrics": "differs",
    }
    close = verdicts["close"]
    assert close.max_difference == pytest.approx(4e-4, rel=1e-6) and close.differing_outputs == 2
    assert close.outputs == 2 and close.reproduced  # the run record is not compared
    far = verdicts["far"].details
    assert "m/far.json: ari: 0.5 → 0.52" in far and "m/far.json: faces: 100 → 101" in far
    assert "m/far.json: extra: not published" in far
    # a tighter tolerance turns "within" into "differs"
    tight = {v.stage: v.verdict for v in check_reproduction(project, tolerance=1e-5)}
    assert tight["close"] == "differs"
    text = format_verdicts(list(verdicts.values()), 1e-3)
    assert text.splitlines()[-1] == "2 of 5 stages reproduced (identical or within 0.001)"
    assert "within tolerance (max |Δ| 0.0004 ≤ 0.001; 2/2 outputs not bit-identical)" in text


def test_a_missing_metrics_file_is_not_run_and_text_must_match(project: Path) -> None:
    rerun = {name: dict(outs) for name, outs in PUBLISHED.items()}
    rerun["gone"]["data/d.npz"] = "7b"
    rerun["far"]["data/c.npz"] = "5b"
    _write(
        project,
        {"dvc.lock": _lock(rerun), "m/far.json": {**METRICS["m/far.json"], "skip_reason": "x"}},
    )
    (project / "m" / "gone.json").unlink()
    verdicts = {v.stage: v for v in check_reproduction(project)}
    assert verdicts["gone"].verdict == "not run"
    assert verdicts["far"].verdict == "differs"
    assert "m/far.json: skip_reason: None → 'x'" in verdicts["far"].details


def test_command_exit_status_and_nothing_published(
    project: Path, tmp_path_factory, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(project)
    monkeypatch.delenv("FACECLUSTER_ROOT", raising=False)
    (project / "dvc.yaml").write_text("stages: {}\n")  # the root is found by dvc.yaml
    assert main(["check"]) == 0  # the workspace is the published state
    assert "5 of 5 stages reproduced" in capsys.readouterr().out
    (project / "dvc.lock").write_text(_lock({"same": PUBLISHED["same"]}))
    assert main(["check"]) == 1
    empty = tmp_path_factory.mktemp("empty")
    _git(empty, "init", "-q")
    with pytest.raises(NothingPublishedError, match="no dvc.lock"):
        check_reproduction(empty)
