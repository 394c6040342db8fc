"""CI's slice of the quick profile (profiles/ci.yaml) run end to end by ``dvc repro``.

Every stage kind of dvc.yaml runs as DVC runs it — faces, weights (from the package
registry), embed, subsets, sweep, features, Table I faces / embed / sweeps, otto, scale, reproduction
and the study report — on Yale's first 44 images, the published MUCT vectors and the report's
model, in its own git repository, DVC project and cache under a temporary folder.  Then a
second ``dvc repro`` must find nothing to do: the stages' deps and outs are stable.  Last, the
README's worked example (``dvc exp run -S …``, ``dvc exp show``, ``dvc plots show``) runs on
the committed run.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from facecluster.artifacts import read_metrics_record
from facecluster.profile import make_profile
from facecluster.report.compact import BUDGET_BYTES

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _dvc(project: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    dvc = Path(sys.executable).with_name("dvc")
    return subprocess.run(
        [str(dvc), *args], cwd=project, env=env, capture_output=True, text=True, timeout=1800
    )


@pytest.fixture(scope="module")
def ci_project(tmp_path_factory, shared_data) -> tuple[Path, str, dict[str, str]]:
    tmp = tmp_path_factory.mktemp("ci-profile")
    project = make_profile(ROOT, "ci", tmp / "ci", cache=tmp / "cache", scm=True)
    env = os.environ | {
        "GIT_AUTHOR_NAME": "ci",
        "GIT_AUTHOR_EMAIL": "ci@localhost",
        "GIT_COMMITTER_NAME": "ci",
        "GIT_COMMITTER_EMAIL": "ci@localhost",
        "PYTHONPATH": str(project / "src"),  # the copy's sources, as make repro-quick runs
        "FACECLUSTER_MIRROR": str(shared_data),
        "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"],
    }
    env.pop("FACECLUSTER_ROOT", None)
    run = _dvc(project, "repro", env=env)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    return project, _dvc(project, "status", env=env).stdout, env


def test_every_stage_ran_and_wrote_its_report(ci_project):
    project, _, _ = ci_project
    lock = yaml.safe_load((project / "dvc.lock").read_text())["stages"]
    stages = set(yaml.safe_load((project / "dvc.yaml").read_text())["stages"])
    ran = {name.split("@")[0] for name in lock}
    assert ran == stages  # every stage kind of the pipeline
    metrics = json.loads((project / "reports" / "metrics.json").read_text())
    yale = metrics["yale"]["facenet-20170512"]
    assert {"kmeans", "dbscan", "rank_order", "chinese_whispers"} <= set(yale)
    assert all(0 <= yale[m]["ari_mean"] <= 1 for m in ("kmeans", "dbscan"))
    assert yale["agglomerative"]["ari_mean"] > 0.8  # Yale is easy: K-based methods near perfect
    assert "muct-published" in metrics  # the features path
    index = (project / "reports" / "index.html").read_text(encoding="utf-8")
    assert 'class="compact-note"' in index and len(index.encode()) <= BUDGET_BYTES
    assert (project / "reports" / "study.html").stat().st_size > len(index.encode())
    for anchor in ("headline", "table-one", "curves", "statistics", "otto", "scale", "notes"):
        assert f'id="{anchor}"' in index
    scale = read_metrics_record(project / "reports" / "scale" / "facenet-20170512.json")
    assert scale["n_400"]["search"] == "hnsw" and 0 < scale["n_400"]["recall"] <= 1  # run record
    assert scale["n_400"]["seconds"]["search"] > 0
    assert "rank_order_literal" in scale["n_0"] and "simulation_check" in scale
    assert "In short:" in index and "Findings" in index
    repro = project / "reports" / "reproduction" / "index.html"
    assert repro.stat().st_size > 10_000


def test_a_second_repro_has_nothing_to_do(ci_project):
    _, status, _ = ci_project
    assert "Data and pipelines are up to date" in status, status


def _worked_example() -> list[str]:
    """The command lines of the README's worked example (the block after its marker)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- worked-example.*?-->\n```bash\n(.*?)```", readme, re.S)
    assert block, "README.md lost its worked-example block"
    return block.group(1).strip().splitlines()


def test_the_readme_worked_example_runs_an_experiment_dvc_shows(ci_project):
    """On the committed run: git holds the metrics and curve files (not the data); the
    README's `dvc exp run -S` re-runs what the change touches, `dvc exp show` puts the
    experiment's threshold list and score beside the baseline's, `dvc plots show` renders
    the curves.  The README names LFW x FaceNet; the slice has MUCT's published vectors x the
    report's model, where the coarser grid moves the score."""
    project, _, env = ci_project
    git = {"cwd": project, "env": env, "capture_output": True, "text": True, "check": True}
    subprocess.run(["git", "add", "-A"], **git)
    subprocess.run(["git", "commit", "-qm", "the CI profile, run"], **git)
    tracked = subprocess.run(["git", "ls-files"], **git).stdout.split()
    assert {"dvc.lock", "params.yaml", "reports/metrics.json"} <= set(tracked)
    assert any(p.startswith("reports/plots/") for p in tracked)
    assert "reports/index.html" in tracked and "reports/study.html" not in tracked  # compact
    outputs = [p for p in tracked if p.startswith(("data/", "reports/"))]
    outputs.remove("reports/index.html")
    assert outputs and all(p.endswith((".json", ".csv")) for p in outputs), outputs
    run, show, plots = _worked_example()
    assert run.startswith("dvc exp run -n ") and show.startswith("dvc exp show ")
    name = shlex.split(run)[4]
    ours = r"muct-published\.facenet-20170512\."
    show = show.replace(r"lfw\.facenet\.", ours)
    assert show != _worked_example()[1], "the example's metric pattern changed"
    for line in (run, plots):
        done = _dvc(project, *shlex.split(line)[1:], env=env)
        assert done.returncode == 0, line + "\n" + done.stdout[-3000:] + done.stderr[-3000:]
    done = _dvc(project, *shlex.split(show)[1:], "--csv", env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    threshold = next(c for c in rows[0] if c.endswith("chinese_whispers.threshold"))
    score = next(c for c in rows[0] if c.endswith("chinese_whispers.ari_mean"))
    workspace, baseline = rows[:2]  # then the experiments of HEAD (the baseline)
    exp = next(r for r in rows if r["Experiment"] == name)
    assert workspace[threshold] == exp[threshold]  # `dvc exp run` leaves its result there
    assert json.loads(baseline[threshold]) == [0.7] and json.loads(exp[threshold]) == [0.6, 0.8]
    assert 0 < float(exp[score]) <= 1 and float(exp[score]) != float(baseline[score])
    index = project / shlex.split(plots)[-1] / "index.html"
    assert "reports/plots/" in index.read_text(encoding="utf-8")
