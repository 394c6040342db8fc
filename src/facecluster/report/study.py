"""The study report (stage ``report``): everything ``notebooks/40-report.ipynb`` displays.

:func:`build_study_report` reads every stage output it needs through the stages' readers
(:mod:`facecluster.report.inputs`), computes each section (:mod:`facecluster.report.sections`,
:mod:`facecluster.report.gallery_section`, :mod:`facecluster.report.notes`) and

* writes ``reports/metrics.json`` (the headline numbers, ``dvc metrics show``):
  ``{dataset: {model: {method: {ari_mean, ari_2std, pairwise_f1}}}}``, and beside the models
  of a low-resolution dataset (not ranked) ``"low_resolution": true`` and its
  ``"face_px_median"``;
* writes the parameter-curve data as DVC plot files
  ``reports/plots/<model>-<method>[-k<k>]-<dataset>.csv`` (:mod:`facecluster.report.plots`);
* returns one immutable :class:`StudyReport`, a result per section, that the notebook shows
  in order.

``python -m facecluster notebook report`` executes the notebook and renders it as
``reports/index.html`` (:func:`facecluster.report.render.render_html`: not a single external
script).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import pandas as pd

from facecluster.artifacts import write_json
from facecluster.config import Params
from facecluster.paths import ProjectPaths
from facecluster.report import plots
from facecluster.report import tables as tb
from facecluster.report.findings import findings, section_leads
from facecluster.report.gallery_section import Gallery, GallerySection, galleries_section
from facecluster.report.inputs import StudyInputs, read_study
from facecluster.report.notes import reproduction_notes
from facecluster.report.otto import OttoSection, otto_section
from facecluster.report.scale import ScaleSection, scale_section
from facecluster.report.sections import (
    ClustersRuntime,
    CurvesSection,
    Headline,
    Maps,
    Overview,
    Statistics,
    TableOne,
    clusters_section,
    curves_section,
    headline_section,
    maps_section,
    overview_section,
    statistics_section,
    table_one_section,
)
from facecluster.report.stats import subset_overlap
from facecluster.sweep.summary import blind_choices

__all__ = ["Gallery", "StudyReport", "build_study_report"]

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"
PLOTS_DIR = "plots"


@dataclass(frozen=True)
class StudyReport:
    """What the report notebook shows, one result per section, and the files it wrote.

    Attributes
    ----------
    inputs : StudyInputs
        What was read (results rows, status, faces summaries, embed metrics).
    stats, best : DataFrame
        :func:`facecluster.report.tables.grid_stats` and
        :func:`~facecluster.report.tables.best_configs` of the results.
    overview, headline, table_one, curves, clusters_runtime, maps, galleries, statistics, otto, scale
        The sections (:mod:`facecluster.report.sections`,
        :mod:`facecluster.report.gallery_section`, :mod:`facecluster.report.otto`,
        :mod:`facecluster.report.scale`).
    notes : str
        Reproduction notes (markdown, :mod:`facecluster.report.notes`).
    findings : tuple of str
        The findings box (markdown sentences, :func:`facecluster.report.findings.findings`).
    leads : mapping
        ``{section anchor: sentence}``, the finding opening each section
        (:func:`facecluster.report.findings.section_leads`).
    metrics_path : Path
        ``reports/metrics.json`` (written).
    plot_files : tuple of Path
        The DVC plot data files written under ``reports/plots/``.
    """

    inputs: StudyInputs
    stats: pd.DataFrame
    best: pd.DataFrame
    overview: Overview
    headline: Headline
    table_one: TableOne
    curves: CurvesSection
    clusters_runtime: ClustersRuntime
    maps: Maps
    galleries: GallerySection
    statistics: Statistics
    notes: str
    metrics_path: Path
    plot_files: tuple[Path, ...]
    findings: tuple[str, ...] = ()
    leads: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    otto: OttoSection = field(default_factory=OttoSection)
    scale: ScaleSection = field(default_factory=ScaleSection)

    @property
    def results(self) -> pd.DataFrame:
        """All results rows of the study."""
        return self.inputs.results

    @property
    def empty(self) -> bool:
        """True when no (dataset, model) has results."""
        return self.best.empty


def build_study_report(
    params: Params, paths: ProjectPaths, *, galleries: bool = True
) -> StudyReport:
    """Read every result of the study, write ``reports/metrics.json`` and the plot data.

    Parameters
    ----------
    params : Params
        Validated study parameters (``study``, ``sweep``, ``seed``, ``report``, ``datasets``,
        ``models`` are used).  The pairs reported are ``params.pairs()``: image datasets ×
        models, then each dataset of precomputed vectors with its own model.
    paths : ProjectPaths
        The project's locations.
    galleries : bool
        Recompute the best runs' labels for the error galleries (``params.report
        .gallery_rows`` 0 also turns them off).

    Returns
    -------
    StudyReport
    """
    inputs = read_study(params, paths)
    log.info("study report over datasets %s × models %s", inputs.datasets, inputs.models)
    stats = tb.grid_stats(inputs.results)
    best = tb.best_configs(stats)
    blind = blind_choices(inputs.results)
    headline = headline_section(best, inputs, blind, stats)
    metrics_path = write_json(paths.reports / METRICS_FILE, headline.metrics, sort_keys=False)
    log.info("wrote %s", metrics_path)
    curves = curves_section(stats, inputs)
    plot_files = plots.write_plot_files(
        curves.curves,
        paths.reports / PLOTS_DIR,
        models=inputs.models,
        datasets=inputs.datasets,
    )
    table_one = table_one_section(stats, inputs)
    maps = maps_section(paths, inputs)
    gallery = (
        galleries_section(params, paths, inputs.results, stats, best)
        if galleries and params.report.gallery_rows > 0 and not best.empty
        else GallerySection()
    )
    notes = reproduction_notes(
        params,
        paths,
        inputs,
        best=best,
        verification=maps.verification,
        table_one_ari=table_one.ari,
        beyond=table_one.beyond,
    )
    overlap = subset_overlap(params.sweep.fraction, params.sweep.replace)
    statistics = statistics_section(inputs.results, stats, best, curves, inputs, overlap)
    paired = statistics.paired.data.reset_index() if statistics.paired is not None else None
    otto = (
        otto_section(params.otto.dataset, params.study.models, paths, params.otto.timing_k)
        if params.otto.dataset is not None
        else OttoSection()
    )
    scale = scale_section(params.scale.models, paths) if params.scale.models else ScaleSection()
    found = findings(
        best,
        datasets=inputs.datasets,
        blind=blind,
        paired=paired,
        not_ranked=inputs.low_resolution,
        beyond=table_one.beyond,
        verification=maps.verification,
        table_one_columns=inputs.table_one_columns,
        otto=otto.lead,
        scale=scale.lead,
    )
    selection = (
        statistics.selection.data.reset_index() if statistics.selection is not None else None
    )
    clusters = clusters_section(stats, best, inputs)
    leads = section_leads(
        best,
        datasets=inputs.datasets,
        stats=stats,
        clusters=clusters.table.data.reset_index() if clusters.table is not None else None,
        table_one=table_one.ari,
        verification=maps.verification,
        galleries=gallery.galleries,
        paired=paired,
        held_out=selection,
        mismatch=inputs.table_one_mismatch,
        not_ranked=inputs.low_resolution,
    )
    if otto.lead:
        leads = {**leads, "otto": otto.lead}
    if scale.lead:
        leads = {**leads, "scale": scale.lead}
    return StudyReport(
        inputs=inputs,
        stats=stats,
        best=best,
        overview=overview_section(params, inputs),
        headline=headline,
        table_one=table_one,
        curves=curves,
        clusters_runtime=clusters,
        maps=maps,
        galleries=gallery,
        statistics=statistics,
        notes=notes,
        metrics_path=metrics_path,
        findings=tuple(found),
        leads=MappingProxyType(leads),
        plot_files=tuple(plot_files),
        otto=otto,
        scale=scale,
    )
