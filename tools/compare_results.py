"""Compare two runs of the study: every output identical except the runtime columns?

Usage::

    python tools/compare_results.py BEFORE_ROOT AFTER_ROOT [--json OUT.json]

Each root is a project folder after ``dvc repro`` (or a partial run).  Compared, for every
file present in both:

* ``data/results/*.parquet`` — the sweep tables, row for row on ``(dataset, model, method,
  params, subset)``, every column except ``runtime_s`` and ``task_runtime_s``, exactly
  (values and dtypes).  A table that exists only as checkpoint parts (an unfinished sweep,
  ``*.parts/``) is read from its parts (values compared exactly; parts are not finalised, so
  their integer parameter columns may be float).  Rows present in one run only are counted, not
  compared: a run with fewer subsets (``-S sweep.n_subsets=3``) checks those subsets;
* ``data/embeddings/*.npz`` — every array the two files share (``embeddings`` exactly);
* ``data/subsets/*.npz`` — ``indices`` and the drawing settings;
* ``data/faces/*/`` — the manifest (source paths compared relative to the dataset root) and
  both crop arrays.

Prints one line per file and exits 1 when anything differs.  Written for the refactor check
of issue 9 ("same numbers before and after"); any two runs can be compared this way.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from facecluster.sweep.engine import RUNTIME_COLUMNS

KEYS = ["dataset", "model", "method", "params", "subset"]


def read_table(results: Path) -> tuple[pd.DataFrame | None, str]:
    """A results table, or the union of its checkpoint parts when the sweep did not finish."""
    if results.is_file():
        return pd.read_parquet(results), "table"
    parts = sorted(results.with_name(results.stem + ".parts").glob("*.parquet"))
    if parts:
        return pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True), "parts"
    return None, "absent"


def compare_results(before: Path, after: Path) -> dict:
    a, how_a = read_table(before)
    b, how_b = read_table(after)
    rec: dict = {"file": before.name, "before": how_a, "after": how_b}
    if a is None or b is None:
        rec["status"] = "not compared"
        return rec
    cols = [c for c in a.columns if c not in RUNTIME_COLUMNS]
    rec["columns_only_in_one"] = sorted(
        set(cols) ^ {c for c in b.columns if c not in RUNTIME_COLUMNS}
    )
    cols = [c for c in cols if c in b.columns]
    a = a[cols].drop_duplicates(KEYS).set_index(KEYS).sort_index()
    b = b[cols].drop_duplicates(KEYS).set_index(KEYS).sort_index()
    common = a.index.intersection(b.index)
    rec.update(
        rows_before=len(a), rows_after=len(b), rows_compared=len(common),
        subsets_compared=int(common.get_level_values("subset").nunique()),
        methods_compared=sorted(set(common.get_level_values("method"))),
    )  # fmt: skip
    x, y = a.loc[common], b.loc[common]
    diffs = {}
    both_tables = how_a == how_b == "table"  # parts are not finalised: their dtypes differ
    for col in x.columns:
        u, v = x[col], y[col]
        if str(u.dtype) != str(v.dtype):
            if both_tables:
                diffs[col] = f"dtype {u.dtype} vs {v.dtype}"
                continue
            if pd.api.types.is_numeric_dtype(u) and pd.api.types.is_numeric_dtype(v):
                u, v = u.astype("float64"), v.astype("float64")
        same = (u == v) | (u.isna() & v.isna())
        if not bool(same.all()):
            diffs[col] = f"{int((~same).sum())} rows differ"
    rec["differences"] = diffs
    missing_columns = rec["columns_only_in_one"] if both_tables else []  # parts: own params only
    ok = not diffs and not missing_columns and len(common) > 0
    rec["status"] = "identical" if ok else "DIFFERENT"
    return rec


def compare_npz(before: Path, after: Path, name: str) -> dict:
    rec: dict = {"file": name}
    if not (before.is_file() and after.is_file()):
        return rec | {"status": "not compared"}
    with np.load(before) as za, np.load(after) as zb:
        shared = sorted(set(za.files) & set(zb.files))
        rec["only_in_one"] = sorted(set(za.files) ^ set(zb.files))
        diffs = [k for k in shared if not np.array_equal(za[k], zb[k])]
        if "meta" in diffs:  # subsets: compare the drawing settings, not the JSON text
            if json.loads(str(za["meta"])) == json.loads(str(zb["meta"])):
                diffs.remove("meta")
    rec.update(arrays_compared=shared, differences=diffs)
    rec["status"] = "identical" if not diffs and shared else "DIFFERENT"
    return rec


def compare_faces(before: Path, after: Path) -> dict:
    rec: dict = {"file": f"faces/{before.name}"}
    if not ((before / "manifest.parquet").is_file() and (after / "manifest.parquet").is_file()):
        return rec | {"status": "not compared"}
    ma = pd.read_parquet(before / "manifest.parquet").drop(columns="source_path")
    mb = pd.read_parquet(after / "manifest.parquet").drop(columns="source_path")
    diffs = []
    try:
        pd.testing.assert_frame_equal(ma, mb, check_exact=True)
    except AssertionError as exc:
        diffs.append(f"manifest: {str(exc).splitlines()[0]}")
    for crops in ("crops_facenet.npy", "crops_lightcnn.npy"):
        if not np.array_equal(np.load(before / crops), np.load(after / crops)):
            diffs.append(crops)
    rec.update(rows=len(ma), differences=diffs, status="identical" if not diffs else "DIFFERENT")
    return rec


def compare(before: Path, after: Path) -> list[dict]:
    out = []
    for d in sorted((before / "data" / "faces").glob("*")):
        out.append(compare_faces(d, after / "data" / "faces" / d.name))
    for kind in ("embeddings", "subsets"):
        for f in sorted((before / "data" / kind).glob("*.npz")):
            out.append(compare_npz(f, after / "data" / kind / f.name, f"{kind}/{f.name}"))
    names = {p.name for p in (before / "data" / "results").glob("*.parquet")}
    names |= {
        p.name[: -len(".parts")] + ".parquet"
        for p in (before / "data" / "results").glob("*.parts")
    }
    for name in sorted(names):
        out.append(
            compare_results(before / "data" / "results" / name, after / "data" / "results" / name)
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--json", type=Path, help="write the comparison here")
    args = parser.parse_args(argv)
    records = compare(args.before, args.after)
    for rec in records:
        extra = ""
        if "rows_compared" in rec:
            extra = (
                f" {rec['rows_compared']} rows ({rec['subsets_compared']} subsets, "
                f"{len(rec['methods_compared'])} methods; before {rec['before']} "
                f"{rec['rows_before']}, after {rec['after']} {rec['rows_after']})"
            )
        if rec.get("differences"):
            extra += f" differences: {rec['differences']}"
        print(f"{rec['status']:>12}  {rec['file']}{extra}")
    if args.json:
        args.json.write_text(json.dumps(records, indent=2, default=str) + "\n", encoding="utf-8")
    compared = [r for r in records if r["status"] != "not compared"]
    return 0 if compared and all(r["status"] == "identical" for r in compared) else 1


if __name__ == "__main__":
    sys.exit(main())
