"""Check a re-run against the published results: one verdict per stage.

The published results are what git holds at a revision (default ``HEAD``): its ``dvc.lock``
and the stages' metrics files.  After ``dvc repro`` the workspace holds yours.  For every
stage of the published lock:

``identical``
    every output hash of the stage equals the published one (bit for bit);
``within tolerance``
    some output differs, but every number of the stage's metrics files is within
    ``tolerance`` of the published one (and no result key is missing or extra): the expected
    verdict where BLAS, thread counts or a CPU's vector width change float sums;
``differs``
    a metrics number beyond ``tolerance`` (the largest differences are named), a result key
    added or missing, or an output that differs in a stage without metrics to judge it by;
``not run``
    the stage is in the published lock, not in yours (or its metrics file is missing).

Executed notebooks, their HTML pages and run records (``.ipynb``, ``.html``, ``.run.json``
outputs) are left out: they record when and where they ran, so they are never bit-identical.
Metrics files are the other ``.json`` outputs of a stage; they hold results only
(:func:`facecluster.artifacts.write_metrics`).  Text values (a ``skip_reason``) must be
equal.  ``facecluster check`` prints the table and exits 0 when every stage is identical or
within tolerance.
"""

from __future__ import annotations

import json
import math
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from facecluster.artifacts import RUN_RECORD_SUFFIX
from facecluster.errors import UserError

__all__ = ["DEFAULT_TOLERANCE", "StageVerdict", "check_reproduction", "format_verdicts"]

#: Largest absolute difference of a metrics number that still counts as reproduced.
DEFAULT_TOLERANCE = 1e-3
REPRODUCED = ("identical", "within tolerance")


class NothingPublishedError(UserError, FileNotFoundError):
    """The revision holds no ``dvc.lock``: nothing to check against."""


@dataclass(frozen=True)
class StageVerdict:
    """One stage's verdict, with the differences behind it (``key: published → yours``)."""

    stage: str
    verdict: str
    outputs: int
    differing_outputs: int
    max_difference: float = 0.0
    details: tuple[str, ...] = field(default_factory=tuple)

    @property
    def reproduced(self) -> bool:
        return self.verdict in REPRODUCED


def _git_show(root: Path, rev: str, path: str) -> str | None:
    proc = subprocess.run(
        ["git", "show", f"{rev}:{path}"], cwd=root, capture_output=True, text=True, check=False
    )
    return proc.stdout if proc.returncode == 0 else None


#: Outputs that record their own run (execution times, paths, the machine): never compared.
PAGES = (".ipynb", ".html", RUN_RECORD_SUFFIX)


def _outs(lock: Mapping[str, Any]) -> dict[str, dict[str, str | None]]:
    """``{stage: {out path: hash}}`` of a parsed ``dvc.lock``, pages (:data:`PAGES`) left out."""
    stages = lock.get("stages") or {}
    return {
        name: {
            o["path"]: o.get("md5") or o.get("etag")
            for o in (stage.get("outs") or [])
            if not str(o["path"]).endswith(PAGES)
        }
        for name, stage in stages.items()
    }


def _leaves(obj: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(obj, Mapping):
        for key, value in obj.items():
            yield from _leaves(value, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix, obj


def _compare(published: Mapping[str, Any], yours: Mapping[str, Any], tolerance: float):
    """``(max |difference|, [differences beyond tolerance], [differences within])``."""
    a, b = dict(_leaves(published)), dict(_leaves(yours))
    worst, beyond = 0.0, []
    for key in sorted(a.keys() | b.keys()):
        if key not in b or key not in a:
            beyond.append(f"{key}: {'missing' if key not in b else 'not published'}")
            worst = math.inf
            continue
        x, y = a[key], b[key]
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (x, y))
        if numbers:
            d = abs(float(x) - float(y))
            if math.isnan(d) and not (math.isnan(float(x)) and math.isnan(float(y))):
                d = math.inf
            elif math.isnan(d):
                d = 0.0
            worst = max(worst, d)
            if d > tolerance:
                beyond.append(f"{key}: {x} → {y}")
        elif x != y:
            beyond.append(f"{key}: {x!r} → {y!r}")
            worst = math.inf
    return worst, beyond


def check_reproduction(
    root: str | Path, *, rev: str = "HEAD", tolerance: float = DEFAULT_TOLERANCE
) -> list[StageVerdict]:
    """Compare the workspace's ``dvc.lock`` and metrics with those git holds at ``rev``."""
    root = Path(root)
    text = _git_show(root, rev, "dvc.lock")
    if text is None:
        raise NothingPublishedError(
            f"{rev} holds no dvc.lock: no published results to check against (commit dvc.lock "
            "and the metrics files of a full run to publish them)"
        )
    published = _outs(yaml.safe_load(text) or {})
    lock_path = root / "dvc.lock"
    yours = (
        _outs(yaml.safe_load(lock_path.read_text(encoding="utf-8")) or {})
        if lock_path.is_file()
        else {}
    )
    verdicts = []
    for stage, outs in published.items():
        mine = yours.get(stage)
        if mine is None:
            verdicts.append(StageVerdict(stage, "not run", len(outs), len(outs)))
            continue
        differing = [p for p, h in outs.items() if mine.get(p) != h]
        metrics = [p for p in outs if p.endswith(".json")]
        if not differing:
            verdicts.append(StageVerdict(stage, "identical", len(outs), 0))
            continue
        worst, details, missing = 0.0, [], False
        for path in metrics:
            theirs = _git_show(root, rev, path)
            file = root / path
            if theirs is None:
                details.append(f"{path}: not published")
                worst = math.inf
                continue
            if not file.is_file():
                missing = True
                details.append(f"{path}: missing")
                continue
            d, beyond = _compare(
                json.loads(theirs), json.loads(file.read_text("utf-8")), tolerance
            )
            worst = max(worst, d)
            details += [f"{path}: {b}" for b in beyond]
        if missing:
            verdict = "not run"
        elif not metrics:
            verdict = "differs"
            details.append("outputs differ and the stage has no metrics to compare")
        else:
            verdict = "differs" if details else "within tolerance"
        verdicts.append(
            StageVerdict(stage, verdict, len(outs), len(differing), worst, tuple(details))
        )
    return verdicts


def format_verdicts(verdicts: list[StageVerdict], tolerance: float, *, limit: int = 3) -> str:
    """The table ``facecluster check`` prints: a line per stage, its first differences under
    it, then the count of stages reproduced."""
    width = max((len(v.stage) for v in verdicts), default=5)
    lines = []
    for v in verdicts:
        extra = ""
        if v.verdict == "within tolerance":
            extra = f" (max |Δ| {v.max_difference:.2g} ≤ {tolerance:g}; {v.differing_outputs}/{v.outputs} outputs not bit-identical)"
        lines.append(f"{v.stage:<{width}}  {v.verdict}{extra}")
        lines += [f"{'':<{width}}    {d}" for d in v.details[:limit]]
        if len(v.details) > limit:
            lines.append(f"{'':<{width}}    … {len(v.details) - limit} more")
    ok = sum(v.reproduced for v in verdicts)
    lines.append(f"{ok} of {len(verdicts)} stages reproduced (identical or within {tolerance:g})")
    return "\n".join(lines)
