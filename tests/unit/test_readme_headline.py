"""README.md's headline table and the published reports/metrics.json (facecluster readme)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from facecluster.cli import main
from facecluster.report.readme import (
    END,
    NO_RUN,
    START,
    ReadmeMismatchError,
    headline_markdown,
    update_readme,
)

ROOT = Path(__file__).resolve().parents[2]

METRICS = {
    "personal": {"facenet": {"skipped": True}},
    "yale": {
        "facenet": {
            "kmeans": {"ari_mean": 0.91, "ari_2std": 0.02, "pairwise_f1": 0.9, "bcubed_f1": 0.9},
            "dbscan": {"ari_mean": 0.975, "ari_2std": 0.0101, "pairwise_f1": 1, "bcubed_f1": 1},
        },
        "lightcnn": {
            "kmeans": {"ari_mean": 0.5, "ari_2std": 0.1, "pairwise_f1": 0.5, "bcubed_f1": 0.5},
        },
    },
    "muct": {
        "facenet": {
            "kmeans": {"ari_mean": 0.3, "ari_2std": 0.01, "pairwise_f1": 0.3, "bcubed_f1": 0.3},
        },
        "low_resolution": True,
        "face_px_median": 24.0,
    },
}


def test_the_committed_readme_shows_the_committed_metrics():
    """The README's headline is the one `make readme` writes from reports/metrics.json (or
    says no run is published when git holds none)."""
    assert not update_readme(ROOT / "README.md", ROOT / "reports" / "metrics.json", check=True)


def test_the_table_has_a_column_per_result_and_bolds_each_best():
    table = headline_markdown(METRICS)
    lines = table.splitlines()
    assert lines[0] == "| method | yale · facenet | yale · lightcnn | muct · facenet |"
    assert lines[1] == "|---|---:|---:|---:|"
    assert lines[2] == "| kmeans | 0.910 ± 0.020 | **0.500 ± 0.100** | 0.300 ± 0.010 |"
    assert lines[3] == "| dbscan | **0.975 ± 0.010** | – | – |"  # methods in registry order
    assert "Low-resolution faces, not ranked in the report: muct." in table  # no bold there
    assert "Without results: `personal` × `facenet`: skipped." in table


def test_no_results_at_all_is_the_no_run_text():
    assert headline_markdown({"personal": {"facenet": {"skipped": True}}}) == NO_RUN


def _readme(tmp_path: Path, block: str) -> Path:
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{START}\n{block}\n{END}\n\nmore\n", encoding="utf-8")
    return readme


def test_update_writes_the_block_and_check_catches_a_disagreement(tmp_path):
    readme, metrics = _readme(tmp_path, NO_RUN), tmp_path / "metrics.json"
    assert not update_readme(readme, metrics, check=True)  # no metrics, no run: agree
    metrics.write_text(json.dumps(METRICS), encoding="utf-8")
    with pytest.raises(ReadmeMismatchError, match="run `make readme`"):
        update_readme(readme, metrics, check=True)
    assert NO_RUN in readme.read_text(encoding="utf-8")  # --check writes nothing
    assert update_readme(readme, metrics)
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("# x\n\n") and text.endswith(f"{END}\n\nmore\n")
    assert headline_markdown(METRICS) in text and NO_RUN not in text
    assert not update_readme(readme, metrics, check=True)
    changed = json.loads(json.dumps(METRICS))
    changed["yale"]["facenet"]["dbscan"]["ari_mean"] = 0.974
    metrics.write_text(json.dumps(changed), encoding="utf-8")
    with pytest.raises(ReadmeMismatchError):  # one number off is a disagreement
        update_readme(readme, metrics, check=True)


def test_the_command_is_one_line_on_a_readme_without_the_block(tmp_path, monkeypatch, capsys):
    (tmp_path / "README.md").write_text("# no block\n", encoding="utf-8")
    (tmp_path / "dvc.yaml").write_text("stages: {}\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FACECLUSTER_ROOT", str(tmp_path))
    assert main(["readme", "--check"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("facecluster readme: error:") and "no headline block" in err
    assert "\n" not in err
