"""Stage ``report``: the study report over every dataset × model.

Inputs: every other stage's outputs, through their stage modules' readers (never an executed
notebook).  Outputs: ``reports/metrics.json`` (the headline numbers, ``dvc metrics show``),
the parameter curves as DVC plot data ``reports/plots/<model>-<method>[-k<k>]-<dataset>.csv``
(the same columns in every file, so one ``plots:`` entry of dvc.yaml covers them) and what
``notebooks/40-report.ipynb`` displays (:class:`facecluster.report.study.StudyReport`, one
immutable result per section); the executed notebook is rendered to ``reports/index.html``.
"""

from __future__ import annotations

from facecluster.config import Params
from facecluster.paths import ProjectPaths
from facecluster.report.study import StudyReport, build_study_report


def run(params: Params, paths: ProjectPaths, *, galleries: bool = True) -> StudyReport:
    """Build the study report (writes the metrics JSON and the plot data)."""
    return build_study_report(params, paths, galleries=galleries)
