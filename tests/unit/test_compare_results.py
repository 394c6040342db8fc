"""tools/compare_results.py: identical runs pass, any changed number fails."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from project_tools import load_tool

compare_results = load_tool("compare_results")


def _run(root: Path, *, ari_shift: float = 0.0, runtime: float = 1.0, subsets: int = 3) -> Path:
    res = root / "data" / "results"
    res.mkdir(parents=True)
    rows = [
        {"dataset": "d", "model": "m", "method": meth, "params": "{}", "subset": s,
         "ari": 0.5 + 0.1 * s + ari_shift, "n_clusters": 3, "runtime_s": runtime * (s + 1),
         "task_runtime_s": runtime}
        for meth in ("kmeans", "dbscan") for s in range(subsets)
    ]  # fmt: skip
    pd.DataFrame(rows).to_parquet(res / "d-m.parquet")
    emb = root / "data" / "embeddings"
    emb.mkdir(parents=True)
    np.savez(emb / "d-m.npz", embeddings=np.eye(3, dtype=np.float32), labels=np.arange(3))
    return root


def test_same_numbers_other_runtimes_are_identical(tmp_path, capsys):
    a = _run(tmp_path / "a", runtime=1.0)
    b = _run(tmp_path / "b", runtime=7.0)
    assert compare_results.main([str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "identical  d-m.parquet 6 rows (3 subsets, 2 methods" in out


def test_a_changed_score_fails(tmp_path, capsys):
    a = _run(tmp_path / "a")
    b = _run(tmp_path / "b", ari_shift=1e-12)
    assert compare_results.main([str(a), str(b)]) == 1
    assert "'ari': '6 rows differ'" in capsys.readouterr().out


def test_fewer_subsets_compares_the_common_ones(tmp_path, capsys):
    a = _run(tmp_path / "a", subsets=5)
    b = _run(tmp_path / "b", subsets=2)
    assert compare_results.main([str(a), str(b)]) == 0
    assert "4 rows (2 subsets" in capsys.readouterr().out


def test_unfinished_sweep_is_read_from_its_parts(tmp_path):
    a = _run(tmp_path / "a")
    b = _run(tmp_path / "b")
    table = b / "data" / "results" / "d-m.parquet"
    parts = table.with_name("d-m.parts")
    parts.mkdir()
    df = pd.read_parquet(table)
    for method, rows in df.groupby("method"):
        rows.to_parquet(parts / f"{method}-s000-x.parquet")
    table.unlink()
    rec = compare_results.compare_results(a / "data" / "results" / "d-m.parquet", table)
    assert rec["after"] == "parts" and rec["status"] == "identical" and rec["rows_compared"] == 6
