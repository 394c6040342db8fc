"""A user error inside a notebook stage is one line and exit status 2, with no traceback, and
the failed run never overwrites the last good executed notebook."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow  # starts a Jupyter kernel


def test_a_missing_personal_folder_is_one_line_from_the_notebook_stage(tmp_path):
    (tmp_path / "dvc.yaml").write_text("stages: {}\n", encoding="utf-8")
    (tmp_path / "notebooks").symlink_to(ROOT / "notebooks")
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["datasets"]["personal"]["path"] = str(tmp_path / "no-such-folder")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    good = tmp_path / "reports" / "faces" / "personal.ipynb"
    good.parent.mkdir(parents=True)
    good.write_text('{"the": "last good report"}', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "FACECLUSTER_ROOT"}
    proc = subprocess.run(
        [sys.executable, "-m", "facecluster", "notebook", "faces", "personal"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("facecluster faces: error: DatasetNotFoundError:")
    assert "no-such-folder" in last and "personal.failed.ipynb" in last
    assert "Traceback" not in proc.stderr and "PapermillExecutionError" not in proc.stderr
    assert good.read_text(encoding="utf-8") == '{"the": "last good report"}'
    assert (good.parent / "personal.failed.ipynb").is_file()
