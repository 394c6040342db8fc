"""The README's headline table, generated from the published ``reports/metrics.json``.

``facecluster readme`` (``make readme``) rewrites the block of ``README.md`` between
:data:`START` and :data:`END` from the metrics file git holds; ``facecluster readme --check``
fails when the two disagree, and a test runs that check, so the README can never show other
numbers than the published run.  The table is the study report's headline in brief: per
dataset × model, each method's best mean ARI over the subsets ± 2σ (the grid point chosen by
ARI, as in ``reports/index.html``), the best method of a column in bold (none of a
low-resolution dataset, which the report does not rank).  A dataset that was skipped (or has
no results) is named under the table; before any run is published the block says so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from facecluster.artifacts import read_json
from facecluster.errors import UserError
from facecluster.integrity import atomic_path

START = "<!-- headline: generated from reports/metrics.json by `make readme`; do not edit -->"
END = "<!-- /headline -->"

#: What the block says before a run is published.
NO_RUN = (
    "*No run is published yet: after `dvc repro`, `make readme` writes the headline here from "
    "`reports/metrics.json`.*"
)


class ReadmeMismatchError(UserError):
    """The README's headline is not the one the metrics file gives."""


def _cells(metrics: Mapping[str, Any]) -> tuple[list[tuple[str, str]], list[str], list[str]]:
    """The (dataset, model) columns with results, the methods in order, the notes of the
    (dataset, model) pairs without results."""
    from facecluster.report.tables import METHOD_ORDER, ordered

    columns, methods, notes = [], [], []
    for dataset, by_model in metrics.items():
        for model, cell in by_model.items():
            if not isinstance(cell, Mapping):
                continue  # a dataset-level flag (low_resolution, face_px_median)
            scores = {m: v for m, v in cell.items() if isinstance(v, Mapping)}
            if scores:
                columns.append((dataset, model))
                methods.extend(scores)
            else:
                flags = ", ".join(k for k, v in cell.items() if v is True) or "no results"
                why = [v for v in cell.values() if isinstance(v, str)]
                notes.append(f"`{dataset}` × `{model}`: {flags}" + (f" ({why[0]})" if why else ""))
    return columns, ordered(methods, METHOD_ORDER), notes


def headline_markdown(metrics: Mapping[str, Any]) -> str:
    """The headline table (markdown) of a ``reports/metrics.json`` document."""
    columns, methods, notes = _cells(metrics)
    if not columns:
        return NO_RUN
    low = [d for d, by_model in metrics.items() if by_model.get("low_resolution") is True]
    best = {  # the report ranks no low-resolution dataset: no bold there either
        col: max(v["ari_mean"] for v in metrics[col[0]][col[1]].values() if isinstance(v, Mapping))
        for col in columns
        if col[0] not in low
    }
    head = ["method", *(f"{d} · {m}" for d, m in columns)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" + "---:|" * len(columns)]
    for method in methods:
        row = [method]
        for dataset, model in columns:
            v = metrics[dataset][model].get(method)
            if v is None:
                row.append("–")
                continue
            text = f"{v['ari_mean']:.3f} ± {v['ari_2std']:.3f}"
            row.append(f"**{text}**" if v["ari_mean"] == best.get((dataset, model)) else text)
        lines.append("| " + " | ".join(row) + " |")
    lines += [
        "",
        "Best mean ARI over the subsets ± 2σ per method (the grid point chosen by ARI), the "
        "best of each ranked column in bold; pairwise and BCubed F1 are in `reports/metrics.json` and "
        "the report.",
    ]
    if low:
        lines.append(f"Low-resolution faces, not ranked in the report: {', '.join(low)}.")
    if notes:
        lines.append("Without results: " + "; ".join(notes) + ".")
    return "\n".join(lines)


def read_published(metrics_path: Path) -> dict[str, Any] | None:
    """The metrics document, or None when no run is published (no file)."""
    if not metrics_path.is_file():
        return None
    try:
        return read_json(metrics_path)
    except json.JSONDecodeError as exc:
        raise UserError(f"{metrics_path}: not JSON ({exc.msg}, line {exc.lineno})") from None
    except ValueError as exc:  # JSON, but not an object
        raise UserError(str(exc)) from None


def expected_block(metrics_path: Path) -> str:
    metrics = read_published(metrics_path)
    return NO_RUN if metrics is None else headline_markdown(metrics)


def _split(readme: str, path: Path) -> tuple[str, str, str]:
    start, end = readme.find(START), readme.find(END)
    if start < 0 or end < start:
        raise UserError(f"{path} has no headline block ({START!r} … {END!r})")
    return readme[: start + len(START)], readme[start + len(START) : end], readme[end:]


def update_readme(readme_path: Path, metrics_path: Path, *, check: bool = False) -> bool:
    """Write the headline block of ``readme_path`` from ``metrics_path``; True when it
    changed.  With ``check``, write nothing and raise :class:`ReadmeMismatchError` when the
    block differs."""
    readme = readme_path.read_text(encoding="utf-8")
    head, block, tail = _split(readme, readme_path)
    want = "\n" + expected_block(metrics_path) + "\n"
    if block == want:
        return False
    if check:
        raise ReadmeMismatchError(
            f"the headline of {readme_path.name} is not the one {metrics_path.name} gives: "
            "run `make readme`"
        )
    with atomic_path(readme_path) as tmp:
        tmp.write_text(head + want + tail, encoding="utf-8")
    return True
