"""Stage records: metrics that hold results only, the run record beside them."""

from __future__ import annotations

import json


def test_metrics_keep_results_and_the_run_record_the_rest(tmp_path):
    from facecluster.artifacts import read_metrics_record, run_record_path, write_metrics

    record = {
        "faces": 160, "identities": 15, "face_px_median": 120.8, "skip_reason": None,
        "status": {"ok": 160, "no_face": 4}, "seconds": 24.0, "images_per_second": 6.7,
        "device": "cpu", "root": "/abs/path/yale", "source": "mirror", "dataset": "yale",
        "verification": {"accuracy": 0.985, "pairs": 6000, "fold_accuracies": [0.98, 0.99],
                         "thresholds": [1.1, 1.2]},  # the embed stage's shape
        "failure_reasons": {},
    }  # fmt: skip
    path = write_metrics(tmp_path / "yale.json", record)
    metrics = json.loads(path.read_text())
    run = json.loads(run_record_path(path).read_text())
    assert run_record_path(path).name == "yale.run.json"
    assert set(metrics) == {"faces", "identities", "face_px_median", "skip_reason", "status",
                            "verification", "failure_reasons"}  # fmt: skip
    # the accuracy is a metric (dvc metrics show / diff); the per-fold lists are not
    assert metrics["verification"] == {"accuracy": 0.985, "pairs": 6000}
    assert set(run) == {"seconds", "images_per_second", "device", "root", "source", "dataset",
                        "verification"}  # fmt: skip
    assert set(run["verification"]) == {"fold_accuracies", "thresholds"}
    assert read_metrics_record(path) == record
    skipped = write_metrics(tmp_path / "p.json", {"skip_reason": "no images", "faces": 0})
    assert json.loads(skipped.read_text()) == {"skip_reason": "no images", "faces": 0}
