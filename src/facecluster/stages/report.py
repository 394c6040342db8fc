"""Stage ``report``: the study report over every dataset × model.

Inputs: every other stage's outputs, through their stage modules' readers (never an executed
notebook).  Outputs:

* ``reports/metrics.json``: the headline numbers (``dvc metrics show``);
* the parameter curves as DVC plot data ``reports/plots/<model>-<method>[-k<k>]-<dataset>.csv``
  (the same columns in every file, so one ``plots:`` entry of dvc.yaml covers them);
* what ``notebooks/40-report.ipynb`` displays (:class:`facecluster.report.study.StudyReport`,
  one immutable result per section), executed to ``reports/study.ipynb`` and rendered to the
  full-size ``reports/study.html`` (a local output);
* ``reports/index.html``: its compact copy (:mod:`facecluster.report.compact`, ≤ 5 MB), which
  git holds with ``dvc.lock`` and the metrics, so a fresh clone opens the published results.
"""

from __future__ import annotations

import logging
from pathlib import Path

from facecluster.config import Params
from facecluster.paths import ProjectPaths
from facecluster.report.compact import Compacted, write_compact
from facecluster.report.render import render_html
from facecluster.report.study import StudyReport, build_study_report

log = logging.getLogger(__name__)

#: The title of the study report's page.
TITLE = "Face clustering study"
#: The compact page beside the executed notebook (``reports/index.html``).
COMPACT_NAME = "index.html"


def run(params: Params, paths: ProjectPaths, *, galleries: bool = True) -> StudyReport:
    """Build the study report (writes the metrics JSON and the plot data)."""
    return build_study_report(params, paths, galleries=galleries)


def publish(notebook: str | Path) -> Compacted:
    """Render the executed report notebook: its full-size HTML beside it
    (``reports/study.html``) and the compact copy ``reports/index.html``."""
    notebook = Path(notebook)
    full = render_html(notebook, title=TITLE)
    compact = write_compact(full, notebook.with_name(COMPACT_NAME))
    log.info(
        "wrote %s (%.1f MB) and its compact copy %s (%.1f MB; photos at %.0f%% of their shown "
        "width, JPEG quality %d)", full, compact.full_bytes / 1e6, COMPACT_NAME,
        compact.bytes / 1e6, 100 * compact.step.scale, compact.step.quality,
    )  # fmt: skip
    return compact
