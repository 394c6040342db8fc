"""The sections of the study report, each a function that returns its own frozen result.

========================  ===========================  =========================================
section (notebook)        function                     result
========================  ===========================  =========================================
intro                     :func:`overview_section`     :class:`Overview`
1. headline               :func:`headline_section`     :class:`Headline`
2. Table I                :func:`table_one_section`    :class:`TableOne`
3. sensitivity            :func:`curves_section`       :class:`CurvesSection`
4. clusters, runtime      :func:`clusters_section`     :class:`ClustersRuntime`
5. embedding maps         :func:`maps_section`         :class:`Maps`
6. error galleries        :func:`facecluster.report.gallery_section.galleries_section`
7. statistics             :func:`statistics_section`   :class:`Statistics`
8. Otto et al.'s protocol :func:`facecluster.report.otto.otto_section`
9. a million faces        :func:`facecluster.report.scale.scale_section`
10. reproduction notes    :func:`facecluster.report.notes.reproduction_notes`
========================  ===========================  =========================================

:func:`facecluster.report.study.build_study_report` calls them in turn; none writes a file.
Every section has an empty form (no results at all) that the notebook can display as is.
"""

from __future__ import annotations

import html
import io
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pandas as pd
from matplotlib.figure import Figure
from pandas.io.formats.style import Styler
from PIL import Image

from facecluster.config import Params
from facecluster.paths import ProjectPaths
from facecluster.report import inline, plots
from facecluster.report import stats as st
from facecluster.report import table_one as t1
from facecluster.report import tables as tb
from facecluster.report.inputs import StudyInputs, low_resolution_note, status_note
from facecluster.stages import maps as maps_stage
from facecluster.sweep.summary import held_out_choices


def _frozen(d: Mapping[str, Any]) -> Mapping[str, Any]:
    """A read-only view of a copy of ``d`` (the sections are immutable)."""
    return MappingProxyType(dict(d))


# --------------------------------------------------------------------------------------------
# intro: protocol, status, links to the per-stage reports
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Overview:
    """The protocol sentence, the (dataset, model) status and the links to the stage pages."""

    protocol: str
    status: pd.DataFrame
    status_note: str
    links_html: str


def overview_section(params: Params, inputs: StudyInputs) -> Overview:
    """The intro of the report."""
    return Overview(
        protocol=tb.protocol_line(params),
        status=inputs.status,
        status_note=status_note(inputs.status),
        links_html=links_html(
            inputs.datasets, inputs.models, pairs=inputs.pair_list(), features=inputs.features
        ),
    )


def _link(rel: str, text: str) -> str:
    """A link relative to ``reports/`` (where index.html lives)."""
    return f'<a href="{html.escape(rel, quote=True)}">{html.escape(text)}</a>'


def collapsible(body: str, summary: str, *, open_: bool = False) -> str:
    """``<details>`` around an HTML fragment (collapsible without any script)."""
    return (
        f"<details{' open' if open_ else ''}><summary>{html.escape(summary)}</summary>"
        f"{body}</details>"
    )


def links_html(
    datasets: Sequence[str],
    models: Sequence[str],
    *,
    pairs: Sequence[tuple[str, str]] | None = None,
    features: Collection[str] = (),
) -> str:
    """A table of links to the per-stage reports (faces, embed, sweep), relative to reports/.

    The pages are outputs of the same pipeline (``reports/<stage>/<item>.html``), so the links
    are written without looking for the files: the report depends on none of them.  Only the
    (dataset, model) ``pairs`` of the study get links (default: every dataset × every model);
    a dataset of precomputed vectors (in ``features``) has no faces or embed page (its
    features stage writes no notebook): those cells say "precomputed vectors" instead.
    """
    head = "".join(
        f"<th>embed {html.escape(m)}</th><th>sweep {html.escape(m)}</th>" for m in models
    )
    study = set(pairs) if pairs is not None else {(d, m) for d in datasets for m in models}
    rows = []
    for d in datasets:
        feature = d in features
        cells = ["–" if feature else _link(f"faces/{d}.html", "faces")]
        for m in models:
            if (d, m) not in study:
                cells += ["", ""]
                continue
            cells.append(
                '<span title="the features stage read the vectors (no faces, no embed stage)">'
                "precomputed vectors</span>"
                if feature
                else _link(f"embed/{d}-{m}.html", f"{d}-{m}")
            )
            cells.append(_link(f"sweep/{d}-{m}.html", f"{d}-{m}"))
        rows.append(
            f"<tr><th>{html.escape(d)}</th>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"
        )
    return (
        f'<table class="study-table links"><thead><tr><th>dataset</th><th>faces</th>{head}'
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


# --------------------------------------------------------------------------------------------
# 1. headline
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Headline:
    """The best grid point of each method: styled tables and the ``metrics.json`` content.

    ``tables`` holds one table per dataset (rows methods, columns model × score): with
    three models and the column without labels, one wide table no longer fits a screen;
    ``best_settings`` likewise (rows methods, columns the dataset's models).

    ``note`` (markdown, shown under the tables) says which datasets are not ranked and why
    (low-resolution input, :data:`facecluster.report.inputs.LOW_RESOLUTION_PX`); empty when
    every dataset is ranked.
    """

    metrics: Mapping[str, Any]
    tables: tuple[Styler, ...] = ()
    best_settings: tuple[Styler, ...] = ()
    note: str = ""
    blind: Styler | None = None
    advice: str = ""
    metric_note: str = ""


def headline_section(
    best: pd.DataFrame,
    inputs: StudyInputs,
    blind: pd.DataFrame | None = None,
    stats: pd.DataFrame | None = None,
) -> Headline:
    """Section 1 (``metrics`` is :func:`facecluster.report.tables.headline_metrics`).

    Low-resolution datasets keep their columns, but no winner is highlighted there and their
    headers say "not ranked"; ``metrics.json`` flags them (``"low_resolution": true``).
    ``blind`` (:func:`facecluster.sweep.summary.blind_choices`, with ``stats`` for the
    Castiel rule) adds the column of what a user without labels gets, the table of the
    choice without labels and the advice per dataset (``advice``, markdown).
    """
    low = {d: px for d, px in inputs.low_resolution.items() if d in set(best.get("dataset", ()))}
    metrics = tb.headline_metrics(best, inputs.status, low, blind)
    if best.empty:
        return Headline(metrics)
    datasets, models = inputs.datasets, inputs.models
    blind_table, advice = None, ""
    if blind is not None and not blind.empty:
        shown = tb.blind_display(blind, stats)
        blind_table = tb.style_table(
            shown.set_index(["dataset", "model", "method"]),
            caption="Choosing without labels: on each subset the setting with the highest "
            "silhouette (a sample of ≤ 1,000 faces; no identity used), against the best "
            "setting chosen with the labels on the same subsets (optimistic); methods given K "
            "are left out.  The blind setting may differ between subsets, so it can beat the "
            "one best setting: a negative loss",
            wrap=[c for c in shown.columns if "setting" in str(c) or "chosen" in str(c)],
        )
        advice = tb.blind_advice(blind, datasets, models, not_ranked=low)
    parts = tb.split_by_dataset(tb.headline_display(best, datasets, models, blind))
    return Headline(
        metrics,
        tuple(tb.style_headline(t, best, low, caption=i == 0) for i, t in enumerate(parts)),
        tuple(
            tb.mark_not_ranked(
                tb.style_table(
                    part,
                    caption="Best grid point of each method (K=true: given the true number "
                    "of identities)"
                    if i == 0
                    else "",
                    wrap=True,
                ),
                low,
            )
            for i, part in enumerate(
                tb.split_by_dataset(tb.best_settings_display(best, datasets, models))
            )
        ),
        low_resolution_note(low),
        blind_table,
        advice,
        _metric_note(best, low),
    )


def _metric_note(best: pd.DataFrame, not_ranked: Collection[str]) -> str:
    """What each headline score rewards, and where ARI and BCubed F1 rank differently."""
    lines = tb.ranking_disagreements(best, not_ranked)
    if not lines:
        return tb.METRIC_NOTE + " ARI and BCubed F1 name the same best method everywhere here."
    return (
        tb.METRIC_NOTE
        + " **Where they disagree** (the best method differs between the two scores):\n\n"
        + "\n".join(lines)
    )


# --------------------------------------------------------------------------------------------
# 2. Table I
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TableOne:
    """Table I per model: ``styled[model]["ari" | "other"]``, the long ARI tables, the
    collapsible HTML blocks and the cells beyond the published 2σ."""

    styled: Mapping[str, Mapping[str, Styler]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    ari: Mapping[str, pd.DataFrame] = field(default_factory=lambda: MappingProxyType({}))
    html: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))
    beyond: pd.DataFrame = field(default_factory=pd.DataFrame)
    beyond_table: Styler | None = None


def table_one_section(stats: pd.DataFrame, inputs: StudyInputs) -> TableOne:
    """Section 2: Table I per model beside the published values (and the other scores)."""
    if stats.empty:
        return TableOne()
    datasets = inputs.datasets
    columns = {d: inputs.table_one_column(d) for d in datasets}
    labels = t1.column_labels(columns, datasets)
    reference = tb.load_reference()
    styled, ari, blocks = {}, {}, {}
    for model in [m for m in inputs.models if m in set(stats["model"])]:
        mismatch = {d: why for (d, m), why in inputs.table_one_mismatch.items() if m == model} | {
            d: "low-resolution input" for d in inputs.low_resolution
        }
        long = t1.table_one(
            stats, reference, model=model, score="ari", columns=columns, mismatch=mismatch
        )
        ari[model] = long
        table, css = t1.table_one_display(long, datasets)
        notes = [
            t1.comparison_note(
                d, columns.get(d), model=model, description=f.description, kind=f.kind
            )
            for d, f in inputs.features.items()
            if f.model == model and d in set(long["dataset"])
        ]
        ari_table = _relabel(
            tb.style_table(
                table,
                css,
                caption=f"ARI, {model}: mean ± 2σ over the subsets beside the Castiel "
                "report's Table I (Δ = ours − published; shaded: |Δ| > the published 2σ, "
                "like-for-like cells only)"
                + _not_reproductions(
                    mismatch, set(long.loc[long["published_mean"].notna(), "dataset"])
                )
                + "".join(f". {n}" for n in notes),
                wrap=True,  # mean ± 2σ cells break before the ± (tables.mean_pm), never inside
            ),
            labels,
        )
        other = tb.style_table(
            t1.scores_display(stats, model=model, datasets=datasets),
            caption=f"Pairwise F1, BCubed F1 and NMI, {model}: mean ± 2σ over the subsets "
            "(the Castiel report published ARI only)",
            wrap=True,
        )
        styled[model] = _frozen({"ari": ari_table, "other": other})
        blocks[model] = (
            collapsible(
                ari_table.to_html(),
                f"ARI, {model}: Table I beside the published values",
                open_=True,
            ),
            collapsible(other.to_html(), f"Pairwise F1, BCubed F1, NMI, {model}"),
        )
    beyond = t1.beyond_published(ari)
    beyond_table = None
    if not beyond.empty:
        beyond_table = tb.style_table(
            beyond.set_index(["model", "dataset", "method", "setting"]),
            caption="ARI cells where ours differs from the published value by more than the "
            "published 2σ",
        ).format(
            {
                "mean": "{:.3f}",
                "two_std": "{:.3f}",
                "published_mean": "{:.3f}",
                "published_2std": "{:.3f}",
                "diff": "{:+.3f}",
            }
        )
    return TableOne(_frozen(styled), _frozen(ari), _frozen(blocks), beyond, beyond_table)


def _not_reproductions(mismatch: Mapping[str, str], compared: Collection[str]) -> str:
    """Caption text: the compared datasets that are not a reproduction, and why."""
    named = [f"{d}: {why}" for d, why in mismatch.items() if d in compared]
    if not named:
        return ""
    return ". Not a reproduction, Δ in brackets, never shaded or counted — " + "; ".join(named)


def _relabel(styler: Styler, labels: Mapping[str, str]) -> Styler:
    """Show ``labels[dataset]`` as the header of a dataset column (first column level)."""
    if not labels or styler.data.empty:
        return styler
    level = 0 if isinstance(styler.data.columns, pd.MultiIndex) else None
    return styler.format_index(lambda v: labels.get(v, v), axis=1, level=level, escape="html")


# --------------------------------------------------------------------------------------------
# 3. curves, 4. clusters and runtime
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CurvesSection:
    """The curve data of each method with a grid, and one figure per method × model."""

    curves: Mapping[str, plots.Curves] = field(default_factory=lambda: MappingProxyType({}))
    figures: tuple[tuple[str, Figure], ...] = ()


def curves_section(stats: pd.DataFrame, inputs: StudyInputs) -> CurvesSection:
    """Section 3: ARI and pairwise F1 against each method's swept parameter."""
    if stats.empty:
        return CurvesSection()
    curves = {m: c for m in tb.METHOD_ORDER if (c := plots.curve_data(stats, m)) is not None}
    figures = tuple(
        (
            f"{method} × {model}",
            plots.curve_figure(c, model=model, datasets=inputs.datasets),
        )
        for method, c in curves.items()
        for model in inputs.models
        if (c.data["model"] == model).any()
    )
    return CurvesSection(_frozen(curves), figures)


@dataclass(frozen=True)
class ClustersRuntime:
    """Clusters found vs true at the best point and the runtime (table and figure)."""

    table: Styler | None = None
    figure: Figure | None = None


def clusters_section(
    stats: pd.DataFrame, best: pd.DataFrame, inputs: StudyInputs
) -> ClustersRuntime:
    """Section 4."""
    if best.empty:
        return ClustersRuntime()
    cr = tb.clusters_runtime_table(stats, best)
    return ClustersRuntime(
        tb.style_clusters_runtime(cr),
        plots.runtime_figure(cr, datasets=inputs.datasets, models=inputs.models),
    )


# --------------------------------------------------------------------------------------------
# 5. maps
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Maps:
    """LFW verification accuracy of the embeddings and the maps stage's maps (inline HTML)."""

    verification: pd.DataFrame
    html: str


def maps_section(paths: ProjectPaths, inputs: StudyInputs) -> Maps:
    """Section 5: the maps stage's UMAP / t-SNE PNGs, inline, one block per dataset.

    Only the study's pairs are looked at; a dataset of precomputed vectors has no embed stage,
    hence no maps, and its block says so.
    """
    blocks = []
    for i, d in enumerate(inputs.datasets):
        if d in inputs.features:
            blocks.append(
                f"<details><summary>{html.escape(d)}</summary><p>Precomputed vectors (the "
                "features stage read them): no embed stage, no embedding maps.</p></details>"
            )
            continue
        figs = []
        for m in inputs.models_of(d):
            for kind in maps_stage.METHODS:
                png = maps_stage.map_path(paths, d, m, kind)
                if png.is_file():
                    figs.append(
                        f'<figure style="display:inline-block;margin:4px">'
                        f"{_map_img(png, alt=f'{kind} {d} {m}')}"
                        f"<figcaption>{kind.upper()} · {html.escape(d)} × {html.escape(m)}"
                        "</figcaption></figure>"
                    )
        body = "".join(figs) or "<p>No embedding maps (the maps stage made none).</p>"
        blocks.append(
            f"<details{' open' if i == 0 else ''}><summary>{html.escape(d)}</summary>"
            f"{body}</details>"
        )
    return Maps(tb.verification_table(inputs.embed), "".join(blocks))


#: Shown width of an embedding map (two side by side on a 1366 px screen) and the widest
#: JPEG kept of it (sharp on a 2x display).
MAP_WIDTH, MAP_MAX_PX = 560, 1120


def _map_img(png: Path, *, alt: str) -> str:
    """A map PNG as an inline JPEG, shown :data:`MAP_WIDTH` wide, with its legend size (the
    PNG's ``legend_px``, rescaled to the JPEG)."""
    raw = png.read_bytes()
    with Image.open(io.BytesIO(raw)) as im:
        width = im.width
    px = inline.png_legend_px(raw)
    scale = min(1.0, MAP_MAX_PX / width)  # inline.jpeg downsamples to MAP_MAX_PX, never up
    return inline.img_tag(
        inline.jpeg(raw, max_width=MAP_MAX_PX),
        alt=alt,
        width=MAP_WIDTH,
        legend_px=None if px is None else px * scale,
    )


#: Headers of the paired table (words, so that they wrap).
PAIRED_HEADERS = {
    "mean_diff": "mean Δ",
    "ci_low": "95% CI low",
    "ci_high": "95% CI high",
    "p_t": "p (corrected t)",
    "p_t_uncorrected": "p (plain t)",
    "p_wilcoxon": "p (Wilcoxon)",
}


# --------------------------------------------------------------------------------------------
# 7. statistics
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Statistics:
    """Paired comparison of the best two methods; parameter transfer between datasets."""

    paired: Styler | None = None
    transfer: tuple[tuple[str, Styler], ...] = ()
    transfer_note: str = ""
    selection: Styler | None = None


def statistics_section(
    results: pd.DataFrame,
    stats: pd.DataFrame,
    best: pd.DataFrame,
    curves: CurvesSection,
    inputs: StudyInputs,
    overlap: float = 0.0,
) -> Statistics:
    """Section 7 (``overlap``: ρ of :func:`facecluster.report.stats.subset_overlap`)."""
    if best.empty:
        return Statistics()
    paired = st.paired_comparison(results, best, overlap=overlap, not_ranked=inputs.low_resolution)
    paired_table = None
    if not paired.empty:
        paired_table = tb.style_table(
            paired.set_index(["dataset", "model"])
            .drop(columns=["score", "w", "t"])
            .rename(columns=PAIRED_HEADERS),
            wrap=["first setting", "second setting", "verdict"],
            caption="Best two methods per dataset × model, paired over the same subsets "
            "(difference = first − second in ARI). The subsets overlap, so the interval "
            f"and p (corrected t) are Nadeau & Bengio's corrected resampled t (ρ = {overlap:.2f}, the "
            "share of a subset's faces another subset holds: variance × (1/J + ρ/(1−ρ)) "
            f"instead of 1/J); a verdict needs the interval above 0 and Δ ≥ {st.PRACTICAL_ARI:g}"
            " ARI. p (plain t) and p (Wilcoxon) assume independent subsets (they overclaim)",
        ).format(
            {
                PAIRED_HEADERS["mean_diff"]: "{:+.4f}",
                PAIRED_HEADERS["ci_low"]: "{:+.4f}",
                PAIRED_HEADERS["ci_high"]: "{:+.4f}",
                PAIRED_HEADERS["p_t"]: "{:.2g}",
                PAIRED_HEADERS["p_t_uncorrected"]: "{:.2g}",
                PAIRED_HEADERS["p_wilcoxon"]: "{:.2g}",
            },
            na_rep="–",
        )
    transfer = []
    for method in [m for m in tb.METHOD_ORDER if m in curves.curves]:
        for model in inputs.models:
            long = st.parameter_transfer(
                stats, method=method, model=model, datasets=inputs.datasets
            )
            if long.empty or long["chosen_on"].nunique() < 2:
                continue
            transfer.append(
                (
                    f"{method} × {model}",
                    tb.style_table(
                        st.transfer_display(long),
                        caption=f"{method} × {model}: mean ARI on each dataset (columns) with "
                        "the setting that is best on another (rows); in brackets the loss "
                        "against the column's own best",
                    ),
                )
            )
    note = ""
    if not transfer:
        note = (
            "Parameter transfer needs results on at least two datasets for a method with a "
            f"parameter grid; the results cover {best['dataset'].nunique()} dataset(s)."
        )
    held = held_out_choices(results)
    selection = None
    if not held.empty:
        selection = tb.style_table(
            held.set_index(["dataset", "model", "method"]),
            caption="The best setting chosen on half of the subsets (by parity of their id) "
            "and scored on the other half, both ways, against the best chosen and scored on "
            "all of them (the figure everywhere else in this report): optimism = oracle − "
            "held out; methods with a single grid point are absent",
        ).format(
            {"oracle_ari": "{:.3f}", "held_out_ari": "{:.3f}", "optimism": "{:+.3f}"},
            na_rep="–",
        )
    return Statistics(paired_table, tuple(transfer), note, selection)
