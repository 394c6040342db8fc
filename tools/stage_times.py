"""Per-stage wall time of a ``dvc repro`` run, from its log with a timestamp on every line.

``make repro-timed`` writes such a log (``.artifacts/repro.log``: each line of ``dvc repro``'s
output prefixed with ``HH:MM:SS``); this prints, from the ``Running stage '<name>':`` lines,
each stage's wall seconds (until the next stage starts, the last one until the log's last
line) and the totals per stage kind, as markdown tables.  Stages DVC skipped (unchanged) have
no such line and do not appear.

    python tools/stage_times.py .artifacts/repro.log            # totals per stage kind
    python tools/stage_times.py .artifacts/repro.log --stages   # and every stage
    python tools/stage_times.py LOG --pause 04:16:44 04:31:36   # minus a window the run was
                                                                 # stopped (SIGSTOP), repeatable
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from datetime import datetime
from pathlib import Path

STAMP = re.compile(r"^(\d\d:\d\d:\d\d) ")
RUNNING = re.compile(r"^(\d\d:\d\d:\d\d) Running stage '([^']+)'")


def _seconds(start: str, end: str) -> float:
    """Seconds from ``start`` to ``end`` (HH:MM:SS), across midnight once."""
    delta = (datetime.strptime(end, "%H:%M:%S") - datetime.strptime(start, "%H:%M:%S")).seconds
    return float(delta)


def stage_times(
    lines: list[str], pauses: list[tuple[str, str]] = ()
) -> list[tuple[str, str, float]]:
    """(stage, start, seconds) of every stage the log shows running, pauses taken out."""
    starts = [(m.group(2), m.group(1)) for m in map(RUNNING.match, lines) if m]
    stamps = [m.group(1) for m in map(STAMP.match, lines) if m]
    if not starts:
        return []
    ends = [t for _, t in starts[1:]] + [stamps[-1]]
    rows = []
    for (name, start), end in zip(starts, ends, strict=True):
        window = seconds = _seconds(start, end)
        for p0, p1 in pauses:  # a pause that began inside this stage's window
            if _seconds(start, p0) <= window and _seconds(p0, end) <= window:
                seconds -= min(_seconds(p0, p1), _seconds(p0, end))
        rows.append((name, start, seconds))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("log", type=Path)
    ap.add_argument("--stages", action="store_true", help="also print every stage")
    ap.add_argument("--pause", nargs=2, action="append", default=[], metavar=("FROM", "TO"))
    args = ap.parse_args()
    lines = args.log.read_text(encoding="utf-8", errors="replace").splitlines()
    rows = stage_times(lines, [tuple(p) for p in args.pause])
    if args.stages:
        print("| stage | started | seconds |\n|---|---|---:|")
        for name, start, seconds in rows:
            print(f"| {name} | {start} | {seconds:.0f} |")
        print()
    kinds, counts = Counter(), Counter()
    for name, _, seconds in rows:
        kinds[name.split("@")[0]] += seconds
        counts[name.split("@")[0]] += 1
    print("| stage kind | stages | seconds |\n|---|---:|---:|")
    for kind, seconds in kinds.most_common():
        print(f"| {kind} | {counts[kind]} | {seconds:.0f} |")
    print(f"| **all** | {len(rows)} | {sum(kinds.values()):.0f} |")


if __name__ == "__main__":
    main()
