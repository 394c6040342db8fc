"""What a report shows of a failure is the whole reason, not its first 50 characters."""

from __future__ import annotations

import pandas as pd

from facecluster.report.faces import failures_table

REASON = "truncated or corrupt: image file is truncated (16 bytes not processed)"


def test_the_faces_report_shows_the_whole_reason():
    manifest = pd.DataFrame(
        [
            {"relpath": "a/1.jpg", "identity": "a", "in_study": True, "status": "corrupt",
             "reason": REASON},
            {"relpath": "a/2.jpg", "identity": "a", "in_study": True, "status": "ok",
             "reason": ""},
        ]
    )  # fmt: skip
    html = failures_table(manifest)._repr_html_()  # what the notebook (and the HTML) shows
    assert REASON in html and "a/2.jpg" not in html
