"""The findings box and the table of contents that open the study report.

Every sentence is generated from the numbers the sections below show (nothing is typed in by
hand), and ends with a link to the section that holds its evidence.  The sections' headings
and anchors live here too (:data:`SECTIONS`, :func:`heading`), so the table of contents and the
links cannot point at a heading that does not exist.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from facecluster.report.stats import PRACTICAL_ARI
from facecluster.report.tables import (
    CEILING_ARI,
    ceiling_datasets,
    ordered,
    setting_label,
    winners,
)

__all__ = ["SECTIONS", "findings", "findings_markdown", "heading", "section_leads", "toc"]

#: ``(anchor, title)`` of the study report's sections, in order.
SECTIONS: tuple[tuple[str, str], ...] = (
    ("headline", "1. Headline: the best setting of each method"),
    ("table-one", "2. Table I, regenerated: every method and parameter value"),
    ("curves", "3. Sensitivity to the parameter (mean ± 2σ over the subsets)"),
    ("clusters", "4. Clusters found vs true, and runtime"),
    ("maps", "5. Embedding maps"),
    ("galleries", "6. Error galleries: largest false merges and false splits"),
    ("statistics", "7. Statistics"),
    ("otto", "8. Otto et al.'s protocol: every face at once, pairwise F1 and run time"),
    ("scale", "9. A million faces: F1, time and memory as simulated distractors grow"),
    ("notes", "10. Reproduction notes"),
)
_TITLES = dict(SECTIONS)


def heading(anchor: str, leads: Mapping[str, str] | None = None) -> str:
    """The markdown heading of a section, with its anchor (``## …`` after ``<a id>``), and
    the section's finding sentence under it when ``leads`` (:func:`section_leads`) has one."""
    lead = (leads or {}).get(anchor)
    text = f'<a id="{anchor}"></a>\n\n## {_TITLES[anchor]}'
    return text + (f"\n\n**In short:** {lead}" if lead else "")


def toc() -> str:
    """The table of contents (markdown list of links to :data:`SECTIONS`)."""
    return "**Contents** · " + " · ".join(f"[{t}](#{a})" for a, t in SECTIONS)


def findings_markdown(sentences: Sequence[str]) -> str:
    """The findings box: a block quote headed **Findings**, one bullet per sentence."""
    return "> **Findings**\n>\n" + "\n".join(f"> - {s}" for s in sentences)


def _link(anchor: str) -> str:
    return f"([§{_TITLES[anchor].split('.')[0]}](#{anchor}))"


def findings(
    best: pd.DataFrame,
    *,
    datasets: Sequence[str],
    blind: pd.DataFrame | None = None,
    paired: pd.DataFrame | None = None,
    not_ranked: Mapping[str, float] | None = None,
    beyond: pd.DataFrame | None = None,
    verification: pd.DataFrame | None = None,
    table_one_columns: Mapping[str, str | None] | None = None,
    otto: str | None = None,
    scale: str | None = None,
) -> list[str]:
    """The report's findings, one markdown sentence each, strongest evidence first.

    Parameters
    ----------
    best : DataFrame
        :func:`facecluster.report.tables.best_configs`.
    datasets : sequence of str
        Display order.
    blind : DataFrame, optional
        :func:`facecluster.sweep.summary.blind_choices`.
    paired : DataFrame, optional
        :func:`facecluster.report.stats.paired_comparison`.
    not_ranked : mapping, optional
        ``{dataset: median face px}`` of the low-resolution datasets.
    beyond : DataFrame, optional
        :func:`facecluster.report.table_one.beyond_published` (cells beyond the report's 2σ).
    verification : DataFrame, optional
        :func:`facecluster.report.tables.verification_table`.
    table_one_columns : mapping, optional
        ``{dataset: Table I column}``, for the count of compared datasets.
    otto : str, optional
        The lead sentence of the Otto-protocol section (its own link appended).
    scale : str, optional
        The lead sentence of the scale section (its own link appended).
    """
    if best.empty:
        return []
    low, ranked, ceiling = _ranking(best, datasets, not_ranked)
    out: list[str] = []
    for dataset in ranked:
        if dataset in ceiling:
            continue
        out.append(_best_on(best, dataset))
    for dataset in ceiling:
        part = best[best["dataset"] == dataset]
        out.append(
            f"**{dataset} is at the ceiling**: {int((part['ari_mean'] >= CEILING_ARI).sum())} "
            f"of {len(part)} method × model results reach ARI ≥ {CEILING_ARI:g} there, so it "
            f"cannot tell the methods apart {_link('headline')}."
        )
    if blind is not None and not blind.empty:
        out.extend(_blind_on(blind, dataset) for dataset in ranked if dataset not in ceiling)
    if paired is not None and not paired.empty:
        out.append(_paired(paired, low))
    if low:
        names = ", ".join(f"{d} ({px:.0f} px faces)" for d, px in low.items())
        out.append(
            f"**Not ranked**: {names} — far below the models' input size; kept in every table, "
            f"compared nowhere {_link('headline')}."
        )
    if beyond is not None and table_one_columns:
        compared = sorted({d for d, c in table_one_columns.items() if c})
        n = len(beyond)
        out.append(
            f"**Table I**: {n} like-for-like cell{'s' if n != 1 else ''} (the report's model "
            f"on the report's data) of ours lie{'s' if n == 1 else ''} beyond the Castiel "
            f"report's 2σ (datasets beside a Table I column: {', '.join(compared) or 'none'}; "
            "the reproduction with the report's own extraction is reports/reproduction/) "
            f"{_link('table-one')}."
        )
    if verification is not None and not verification.empty:
        acc = ", ".join(
            f"{r['model']} {r['accuracy %']:.2f}%" + _pairs_part(r)
            for _, r in verification.iterrows()
        )
        out.append(f"**LFW verification** (10 folds of pairs.txt): {acc} {_link('maps')}.")
    if otto:  # the otto section's lead (:func:`facecluster.report.otto.otto_section`)
        out.append(f"**Otto et al.'s protocol**: {otto[0].lower()}{otto[1:-1]} {_link('otto')}.")
    if scale:  # the scale section's lead (:func:`facecluster.report.scale.scale_section`)
        out.append(f"**At scale**: {scale[0].lower()}{scale[1:-1]} {_link('scale')}.")
    return out


def _ranking(
    best: pd.DataFrame, datasets: Sequence[str], not_ranked: Mapping[str, float] | None
) -> tuple[dict[str, float], list[str], list[str]]:
    """``(low resolution, ranked datasets in display order, ranked ones at the ceiling)``."""
    low = dict(not_ranked or {})
    ranked = [d for d in ordered(best["dataset"], datasets) if d not in low]
    return low, ranked, [d for d in ceiling_datasets(best, low) if d in ranked]


def _top_over_models(best: pd.DataFrame, dataset: str, score: str = "ari_mean") -> pd.DataFrame:
    """The best method × model rows of ``dataset`` by ``score`` (every model competing;
    ties all kept), the model in ``model_name``."""
    part = best[best["dataset"] == dataset].assign(model_name=lambda d: d["model"])
    return winners(part.assign(model="*"), score=score)


def _pairs_scored(row: pd.Series) -> str:
    """``on 41 of 6000 pairs`` when the verification scored only part of pairs.txt, else ""."""
    scored, total = row.get("pairs scored"), row.get("pairs")
    if scored is None or total is None or pd.isna(scored) or scored >= total:
        return ""
    return f"on {int(scored)} of {int(total)} pairs"


def _pairs_part(row: pd.Series) -> str:
    """`` (on 41 of 6000 pairs)`` when the verification scored only part of pairs.txt."""
    scored = _pairs_scored(row)
    return f" ({scored})" if scored else ""


def _best_on(best: pd.DataFrame, dataset: str) -> str:
    top = _top_over_models(best, dataset).iloc[0]
    by_bcubed = _top_over_models(best, dataset, score="bcubed_f1_mean").iloc[0]
    text = (
        f"**On {dataset}**, {top['method']} with {top['model_name']} "
        f"({setting_label(top['method'], top['params'])}) clusters best: ARI "
        f"{top['ari_mean']:.3f} ± {top['ari_2std']:.3f}, BCubed F1 {top['bcubed_f1_mean']:.3f}, "
        f"{top['n_clusters']:.0f} clusters for {top['n_true']:.0f} identities"
    )
    if by_bcubed["method"] != top["method"] or by_bcubed["model_name"] != top["model_name"]:
        text += (
            f"; by BCubed F1 the best is {by_bcubed['method']} with "
            f"{by_bcubed['model_name']} ({by_bcubed['bcubed_f1_mean']:.3f})"
        )
    return text + f" {_link('headline')}."


def _blind_on(blind: pd.DataFrame, dataset: str) -> str:
    part = blind[blind["dataset"] == dataset]
    top = part.sort_values("blind_ari", ascending=False, kind="stable").iloc[0]
    loss = float(top["loss_ari"])
    gap = f"{loss:.3f} below" if loss >= 0 else f"{-loss:.3f} above"
    return (
        f"**Without labels on {dataset}**, {top['method']} with {top['model']} (its parameter, "
        f"if any, chosen by silhouette) gets ARI {top['blind_ari']:.3f}, {gap} its best with "
        f"labels {_link('headline')}."
    )


def _paired_counts(paired: pd.DataFrame, low: Mapping[str, float]) -> tuple[int, int]:
    """``(comparisons whose verdict is "better", comparisons)``, low-resolution ones left out."""
    rows = paired[~paired["dataset"].isin(list(low))]
    return int(rows["verdict"].str.contains(" better ").sum()), len(rows)


def _paired(paired: pd.DataFrame, low: Mapping[str, float]) -> str:
    better, rows = _paired_counts(paired, low)
    return (
        f"**Is the winner really better?** After correcting for the overlap of the subsets, "
        f"the best method beats the second by at least the practical threshold in "
        f"{better} of {rows} dataset × model comparisons {_link('statistics')}."
    )


# --------------------------------------------------------------------------------------------
# one finding sentence opening each section
# --------------------------------------------------------------------------------------------
def section_leads(
    best: pd.DataFrame,
    *,
    datasets: Sequence[str],
    stats: pd.DataFrame | None = None,
    clusters: pd.DataFrame | None = None,
    table_one: Mapping[str, pd.DataFrame] | None = None,
    verification: pd.DataFrame | None = None,
    galleries: Sequence[Any] = (),
    paired: pd.DataFrame | None = None,
    held_out: pd.DataFrame | None = None,
    mismatch: Mapping[tuple[str, str], str] | None = None,
    not_ranked: Mapping[str, float] | None = None,
) -> dict[str, str]:
    """``{section anchor: sentence}``: the finding that opens each section of the report.

    Each sentence is computed from the numbers its section shows; a section without the data
    for its sentence gets none (the key is absent).  Low-resolution datasets (``not_ranked``)
    and datasets at the ceiling are left out of "best" and "most" statements.

    Parameters
    ----------
    best : DataFrame
        :func:`facecluster.report.tables.best_configs` (with its ``edge`` column).
    datasets : sequence of str
        Display order.
    stats : DataFrame, optional
        :func:`facecluster.report.tables.grid_stats` (sensitivity: the range of mean ARI over
        each method's grid).
    clusters : DataFrame, optional
        :func:`facecluster.report.tables.clusters_runtime_table`.
    table_one : mapping, optional
        ``{model: long ARI Table I}`` (:func:`facecluster.report.table_one.table_one`).
    verification : DataFrame, optional
        :func:`facecluster.report.tables.verification_table`.
    galleries : sequence of Gallery, optional
        :class:`facecluster.report.gallery_section.Gallery` of the best runs.
    paired : DataFrame, optional
        :func:`facecluster.report.stats.paired_comparison`.
    held_out : DataFrame, optional
        :func:`facecluster.sweep.summary.held_out_choices`.
    mismatch : mapping, optional
        ``{(dataset, model): reason}`` of the pairs that are not like for like with Table I.
    not_ranked : mapping, optional
        ``{dataset: median face px}`` of the low-resolution datasets.
    """
    if best.empty:
        return {}
    low, ranked, ceiling = _ranking(best, datasets, not_ranked)
    ranked_best = best[best["dataset"].isin([d for d in ranked if d not in ceiling])]
    leads = {"headline": _lead_headline(best, ranked, ceiling, low)}
    if table_one:
        leads["table-one"] = _lead_table_one(table_one)
    if stats is not None and (text := _lead_curves(stats, ranked_best)):
        leads["curves"] = text
    if clusters is not None and (text := _lead_clusters(clusters, ranked_best)):
        leads["clusters"] = text
    if verification is not None and not verification.empty:
        top = verification.sort_values("accuracy %", ascending=False, kind="stable").iloc[0]
        leads["maps"] = (
            f"On LFW's verification pairs {top['model']} separates same from different "
            f"people best ({top['accuracy %']:.2f}%"
            + (f" {scored}" if (scored := _pairs_scored(top)) else "")
            + f"; {len(verification)} model{'s' if len(verification) != 1 else ''} scored); "
            "the maps show how tightly each embedding groups the largest identities."
        )
    if text := _lead_galleries(galleries, ranked_best):
        leads["galleries"] = text
    if text := _lead_statistics(paired, held_out, low):
        leads["statistics"] = text
    if mismatch:
        reasons = sorted(set(mismatch.values()))
        leads["notes"] = (
            f"{len(mismatch)} dataset × model pair{'s' if len(mismatch) != 1 else ''} beside a "
            "Table I column differ from the Castiel report's setup ("
            + "; ".join(reasons)
            + "): the notes below say what each difference is and where it is measured."
        )
    return leads


def _lead_headline(
    best: pd.DataFrame, ranked: Sequence[str], ceiling: Sequence[str], low: Mapping[str, float]
) -> str:
    parts = []
    for dataset in ranked:
        if dataset in ceiling:
            continue
        tied = _top_over_models(best, dataset)  # every method × model at the top ARI
        names = [f"{r.method} with {r.model_name}" for r in tied.itertuples()]
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        tie = " tied" if len(names) > 1 else ""
        parts.append(f"{dataset}: {shown} ({tied['ari_mean'].iloc[0]:.3f}{tie})")
    text = "Best method by ARI — " + ("; ".join(parts) if parts else "no dataset ranked")
    if ceiling:
        text += f"; at the ceiling, so not told apart: {', '.join(ceiling)}"
    if low:
        text += f"; not ranked (tiny faces): {', '.join(low)}"
    return text + "."


def _lead_table_one(long_tables: Mapping[str, pd.DataFrame]) -> str:
    frames = [t for t in long_tables.values() if not t.empty]
    if not frames:
        return "No Table I cell has results yet."
    cells = pd.concat(frames, ignore_index=True)
    published = cells[cells["published_mean"].notna()]
    like = published[published["comparable"].astype(bool)]
    n_beyond = int(like["beyond"].astype(bool).sum())
    others = len(published) - len(like)
    return (
        f"Of {len(published)} cells with a published value, {len(like)} are like for like "
        f"(the report's model family on the report's dataset) and {n_beyond} of those "
        f"lie{'s' if n_beyond == 1 else ''} beyond the published 2σ; the other {others} compare another model, detector or dataset "
        "and are not reproductions."
    )


def _lead_curves(stats: pd.DataFrame, ranked_best: pd.DataFrame) -> str:
    keys = ["dataset", "model", "method"]
    part = stats[stats["dataset"].isin(set(ranked_best["dataset"]))]
    spread = part.groupby(keys, sort=False)["ari_mean"].agg(["min", "max", "size"])
    spread = spread[spread["size"] > 1]
    if spread.empty:
        return ""
    spread = spread.assign(range=spread["max"] - spread["min"]).sort_values(
        "range", ascending=False, kind="stable"
    )
    (d, m, method), top = spread.index[0], spread.iloc[0]
    text = (
        f"The parameter matters most for {method} on {d} × {m} (mean ARI "
        f"{top['min']:.2f}–{top['max']:.2f} over its grid)"
    )
    if len(spread) > 1:
        (d2, m2, method2), low = spread.index[-1], spread.iloc[-1]
        text += f" and least for {method2} on {d2} × {m2} (range {low['range']:.3f})"
    edges = ranked_best.merge(spread.reset_index()[keys], on=keys)
    n_edge = int((edges["edge"].astype(str) != "").sum()) if "edge" in edges else 0
    return (
        text + f"; {n_edge} of {len(edges)} best settings lie at an end of their grid "
        "(†: the optimum may lie outside it)."
    )


def _lead_clusters(clusters: pd.DataFrame, ranked_best: pd.DataFrame) -> str:
    keys = ["dataset", "model", "method"]
    cr = clusters.merge(ranked_best[keys], on=keys).dropna(subset=["found / true"])
    if cr.empty:
        return ""
    ratio = cr.sort_values("found / true", kind="stable")
    hi, lo = ratio.iloc[-1], ratio.iloc[0]
    slow = cr.sort_values("median s / fit", ascending=False, kind="stable").iloc[0]
    return (
        f"At the best settings, {hi['method']} on {hi['dataset']} × {hi['model']} finds the "
        f"most clusters for the truth ({hi['found / true']:.2f}× the true count) and "
        f"{lo['method']} on {lo['dataset']} × {lo['model']} the fewest "
        f"({lo['found / true']:.2f}×); the slowest fit is {slow['method']} on "
        f"{slow['dataset']} × {slow['model']} ({slow['median s / fit']:.3g} s, median per fit)."
    )


def _lead_galleries(galleries: Sequence[Any], ranked_best: pd.DataFrame) -> str:
    shown = [
        g
        for g in galleries
        if g.summary and g.dataset in set(ranked_best["dataset"]) and g.method != "finch"
    ]
    if not shown:
        return ""
    worst = max(shown, key=lambda g: g.summary.get("faces in merges (not majority)", 0))
    same = sum(bool(g.reproduced) for g in galleries)
    return (
        f"The worst false merges at a best setting are {worst.method}'s on {worst.dataset} × "
        f"{worst.model} ({worst.summary['merged clusters']} clusters mixing people, "
        f"{worst.summary['faces in merges (not majority)']} faces in a cluster of someone "
        f"else, subset 0); {same} of {len(galleries)} recomputed runs match the sweep's ARI."
    )


def _lead_statistics(
    paired: pd.DataFrame | None, held_out: pd.DataFrame | None, low: Mapping[str, float]
) -> str:
    parts = []
    if paired is not None and not paired.empty:
        better, compared = _paired_counts(paired, low)
        parts.append(
            f"After correcting for the overlap of the subsets, the best method beats the "
            f"second by at least {PRACTICAL_ARI:g} ARI in {better} of {compared} "
            "dataset × model comparisons"
        )
    if held_out is not None and not held_out.empty:
        rows = held_out[~held_out["dataset"].isin(list(low))].dropna(subset=["optimism"])
        if not rows.empty:
            top = rows.sort_values("optimism", ascending=False, kind="stable").iloc[0]
            parts.append(
                f"choosing the setting on half of the subsets costs at most "
                f"{top['optimism']:.3f} ARI on the other half ({top['method']} on "
                f"{top['dataset']} × {top['model']})"
            )
    if not parts:
        return ""
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."
