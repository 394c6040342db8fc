"""tools/stage_times.py: per-stage wall seconds from a timestamped `dvc repro` log."""

from __future__ import annotations

from project_tools import load_tool

TOOL = load_tool("stage_times")

LOG = """\
23:58:00 Running stage 'faces@yale':
23:58:01 > python -m facecluster notebook faces yale
23:58:30 faces yale: 100%
23:58:40 Running stage 'embed@yale-facenet':
00:01:40 Updating lock file 'dvc.lock'
00:01:50 Running stage 'embed@yale-lightcnn':
00:02:10 Use `dvc push` to send your updates to remote storage.
""".splitlines()


def test_each_stage_runs_until_the_next_starts_the_last_until_the_log_ends():
    rows = TOOL.stage_times(LOG)
    assert rows == [
        ("faces@yale", "23:58:00", 40.0),
        ("embed@yale-facenet", "23:58:40", 190.0),  # across midnight
        ("embed@yale-lightcnn", "00:01:50", 20.0),
    ]


def test_a_pause_is_taken_out_of_the_stage_it_began_in_only():
    rows = TOOL.stage_times(LOG, [("23:59:00", "00:00:30")])
    assert [s for _, _, s in rows] == [40.0, 100.0, 20.0]


def test_a_log_without_stages_has_no_rows():
    assert TOOL.stage_times(["12:00:00 Data and pipelines are up to date."]) == []
