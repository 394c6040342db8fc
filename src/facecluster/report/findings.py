"""The findings box and the table of contents that open the study report.

Every sentence is generated from the numbers the sections below show (nothing is typed in by
hand), and ends with a link to the section that holds its evidence.  The sections' headings
and anchors live here too (:data:`SECTIONS`, :func:`heading`), so the table of contents and the
links cannot point at a heading that does not exist.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from facecluster.report.tables import (
    CEILING_ARI,
    ceiling_datasets,
    ordered,
    setting_label,
    winners,
)

__all__ = ["SECTIONS", "findings", "findings_markdown", "heading", "toc"]

#: ``(anchor, title)`` of the study report's sections, in order.
SECTIONS: tuple[tuple[str, str], ...] = (
    ("headline", "1. Headline: the best setting of each method"),
    ("table-one", "2. Table I, regenerated: every method and parameter value"),
    ("curves", "3. Sensitivity to the parameter (mean ± 2σ over the subsets)"),
    ("clusters", "4. Clusters found vs true, and runtime"),
    ("maps", "5. Embedding maps"),
    ("galleries", "6. Error galleries: largest false merges and false splits"),
    ("statistics", "7. Statistics"),
    ("notes", "8. Reproduction notes"),
)
_TITLES = dict(SECTIONS)


def heading(anchor: str) -> str:
    """The markdown heading of a section, with its anchor (``## …`` after ``<a id>``)."""
    return f'<a id="{anchor}"></a>\n\n## {_TITLES[anchor]}'


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
    """
    if best.empty:
        return []
    low = dict(not_ranked or {})
    out: list[str] = []
    ranked = [d for d in ordered(best["dataset"], datasets) if d not in low]
    ceiling = [d for d in ceiling_datasets(best, low) if d in ranked]
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
    return out


def _pairs_part(row: pd.Series) -> str:
    """`` (on 41 of 6000 pairs)`` when the verification scored only part of pairs.txt."""
    scored, total = row.get("pairs scored"), row.get("pairs")
    if scored is None or total is None or pd.isna(scored) or scored >= total:
        return ""
    return f" (on {int(scored)} of {int(total)} pairs)"


def _best_on(best: pd.DataFrame, dataset: str) -> str:
    part = best[best["dataset"] == dataset].assign(model_name=lambda d: d["model"])
    top = winners(part.assign(model="*")).iloc[0]  # best over every model
    by_bcubed = winners(part.assign(model="*"), score="bcubed_f1_mean").iloc[0]
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


def _paired(paired: pd.DataFrame, low: Mapping[str, float]) -> str:
    rows = paired[~paired["dataset"].isin(list(low))]
    better = rows[rows["verdict"].str.contains(" better ")]
    return (
        f"**Is the winner really better?** After correcting for the overlap of the subsets, "
        f"the best method beats the second by at least the practical threshold in "
        f"{len(better)} of {len(rows)} dataset × model comparisons {_link('statistics')}."
    )
