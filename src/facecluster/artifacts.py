"""The file primitives every stage module writes its outputs with (and reads them back).

One JSON writer, one ``.npz`` writer, one parquet writer, all atomic (a killed stage never
leaves a half-written output), and one way to say that a dataset was skipped: the field
``skip_reason`` — ``None`` (JSON ``null``, npz ``""``, absent from the parquet metadata) for a
normal output, the reason otherwise.  The stage modules (:mod:`facecluster.stages`) build
their typed readers and writers on these.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from facecluster.integrity import atomic_path

#: The field, in every artefact, that says a dataset was skipped (and why).
SKIP_FIELD = "skip_reason"


def write_json(path: str | Path, obj: Mapping[str, Any], *, sort_keys: bool = True) -> Path:
    """Write ``obj`` as indented JSON (UTF-8, trailing newline), atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=sort_keys) + "\n", encoding="utf-8")
    return path


#: Suffix of a stage's run record, beside its metrics (``lfw.json`` → ``lfw.run.json``).
RUN_RECORD_SUFFIX = ".run.json"
#: Keys that are facts of a run, not results: never in a metrics file.
RUN_KEYS = frozenset({"seconds", "images_per_second", "device", "peak_memory_gb"})


def run_record_path(metrics: str | Path) -> Path:
    """The run record beside a metrics file: ``reports/faces/lfw.json`` → ``lfw.run.json``."""
    metrics = Path(metrics)
    return metrics.with_name(metrics.stem + RUN_RECORD_SUFFIX)


def _split(record: Mapping[str, Any], *, top: bool = True) -> tuple[dict, dict]:
    """``(results, rest)`` of a record, nested mappings split key by key: a number (or
    None, a bool) is a result; text, lists, timings (:data:`RUN_KEYS`) are the rest.  An
    empty mapping is a result (no failures: ``{}``)."""
    results: dict[str, Any] = {}
    rest: dict[str, Any] = {}
    for key, value in record.items():
        if top and key == SKIP_FIELD:
            results[key] = value
        elif key in RUN_KEYS:
            rest[key] = value
        elif isinstance(value, Mapping):
            inner, other = _split(value, top=False)
            if inner or not other:
                results[key] = inner
            if other:
                rest[key] = other
        elif value is None or isinstance(value, bool | int | float):
            results[key] = value
        else:
            rest[key] = value
    return results, rest


def write_metrics(path: str | Path, record: Mapping[str, Any]) -> Path:
    """Write a stage's record as DVC metrics (results only) and a run record (the rest).

    The metrics file keeps the numbers that are results (counts, scores, and the numbers of
    nested mappings: LFW verification's accuracy, not its per-fold lists) and
    ``skip_reason``, so ``dvc metrics diff`` compares results and its hash is the same on
    every machine that reproduces them.  Timings, the device, paths, sources, lists and other
    text go to the run record (:func:`run_record_path`), an output that is no metric, under
    the same keys.
    """
    metrics, rest = _split(record)
    write_json(run_record_path(path), rest)
    return write_json(path, metrics)


def _merged(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for key, value in b.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merged(out[key], value)
        else:
            out[key] = value
    return out


def read_metrics_record(path: str | Path) -> dict[str, Any]:
    """The record :func:`write_metrics` split: the metrics and the run record, merged."""
    run = run_record_path(path)
    return _merged(read_json(path), read_json(run) if run.is_file() else {})


def read_json(path: str | Path) -> dict[str, Any]:
    """Read a JSON object written by :func:`write_json`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"not found: {path}")
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


#: The facts file of a folder of tables (:func:`write_tables`).
FACTS_FILE = "facts.json"


def write_tables(folder: str | Path, tables: Mapping[str, Any], facts: Mapping[str, Any]) -> Path:
    """A folder of named tables (``<name>.parquet``, without the frames' ``attrs``) and
    :data:`FACTS_FILE` (JSON, indent 1, keys sorted), each written atomically."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        table = table.copy()
        table.attrs = {}
        with atomic_path(folder / f"{name}.parquet") as tmp:
            table.to_parquet(tmp, index=False)
    with atomic_path(folder / FACTS_FILE) as tmp:
        tmp.write_text(json.dumps(dict(facts), indent=1, sort_keys=True), encoding="utf-8")
    return folder


def read_tables(
    folder: str | Path, names: Sequence[str], *, stage: str, missing: type[Exception]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``({name: DataFrame}, facts)`` of a folder :func:`write_tables` wrote; raises
    ``missing`` (naming ``dvc repro <stage>``) when its :data:`FACTS_FILE` is absent."""
    import pandas as pd

    folder = Path(folder)
    if not (folder / FACTS_FILE).is_file():
        raise missing(f"{folder / FACTS_FILE} not found; run `dvc repro {stage}` first")
    tables = {name: pd.read_parquet(folder / f"{name}.parquet") for name in names}
    return tables, read_json(folder / FACTS_FILE)


def write_npz(path: str | Path, arrays: Mapping[str, Any]) -> Path:
    """Write named arrays (no pickles) as an uncompressed ``.npz``, atomically."""
    path = Path(path)
    with atomic_path(path) as tmp, tmp.open("wb") as fh:
        np.savez(fh, **{k: np.asarray(v) for k, v in arrays.items()})
    return path


def npz_skip_reason(files: Mapping[str, Any]) -> str | None:
    """``skip_reason`` of an npz's arrays (``None`` when absent or empty)."""
    if SKIP_FIELD not in files:
        return None
    value = str(np.asarray(files[SKIP_FIELD]))
    return value or None


def write_parquet(
    path: str | Path,
    table: Any,
    *,
    skip_reason: str | None = None,
    fields: Mapping[str, str] | None = None,
) -> Path:
    """Write a DataFrame as parquet (no index), atomically, recording ``skip_reason`` and
    any other named text ``fields`` in the file's metadata (:func:`parquet_field`)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrow = pa.Table.from_pandas(table, preserve_index=False)
    extra = {SKIP_FIELD: skip_reason} if skip_reason is not None else {}
    extra.update(fields or {})
    if extra:
        meta = dict(arrow.schema.metadata or {})
        meta.update({_meta_key(k): v.encode("utf-8") for k, v in extra.items()})
        arrow = arrow.replace_schema_metadata(meta)
    path = Path(path)
    with atomic_path(path) as tmp:
        pq.write_table(arrow, tmp)
    return path


def _meta_key(name: str) -> bytes:
    return b"facecluster." + name.encode("utf-8")


def parquet_field(path: str | Path, name: str) -> str | None:
    """A text field :func:`write_parquet` recorded in ``path`` (``None`` when absent);
    reads only the file's footer."""
    import pyarrow.parquet as pq

    raw = (pq.read_schema(path).metadata or {}).get(_meta_key(name))
    return raw.decode("utf-8") if raw is not None else None


def read_parquet(path: str | Path) -> tuple[Any, str | None]:
    """A parquet written by :func:`write_parquet`: ``(DataFrame, skip_reason)``."""
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"not found: {path}")
    arrow = pq.read_table(path)
    raw = (arrow.schema.metadata or {}).get(_meta_key(SKIP_FIELD))
    return arrow.to_pandas(), (raw.decode("utf-8") if raw is not None else None)
