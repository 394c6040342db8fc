"""How ``notebooks/50-reproduction.ipynb`` shows :class:`facecluster.stages.reproduction.Reproduction`:
styled tables and generated sentences (every number in a sentence comes from the tables)."""

from __future__ import annotations

import pandas as pd
from pandas.io.formats.style import Styler

from facecluster.config import Params
from facecluster.report import reproduction as rep
from facecluster.report.tables import mean_pm

COLUMN_ORDER = ("personal", "lfw", "muct")


def columns(r) -> list[str]:
    present = set(r.table.loc[r.table["n_ours"] > 0, "column"])
    return [c for c in COLUMN_ORDER if c in present]


def effect_columns(r) -> list[str]:
    if r.effects.empty:
        return []
    return [c for c in COLUMN_ORDER if c in set(r.effects["column"])]


def introduction(params: Params, r) -> str:
    t1 = params.table_one
    report = t1.setups().get("report", {})
    used = ", ".join(f"{c}: `{t1.sweeps[n].dataset}`" for c, n in report.items())
    lines = [
        "The Castiel report's setup end to end: its model (FaceNet 20170512-110547, MS-Celeb-1M, "
        "128-d, prewhitened input), its extraction (the `haar-castiel` detector preset: first "
        "Haar face, faces within 10 px of the left/top border dropped, ±5 px, scikit-image "
        f"resize to 160 px), {params.sweep.n_subsets} subsets of {params.sweep.fraction:.0%} "
        "drawn **with replacement** as its `np.random.choice(N, int(0.8*N))`, and its "
        f"methods with the scikit-learn settings of 2018 ({', '.join(t1.methods)}). "
        f"Datasets per Table I column: {used}.",
        "",
        "*Our personal column is the Yale faces (where a personal folder is configured; the "
        "report's own personal set was private), so it is a comparison, not a reproduction. "
        "The MUCT column cannot be matched: only 24×32 px crops of MUCT are available here, so "
        "it uses the published embeddings of the report's checkpoint on MTCNN crops of the "
        "full-resolution images (`muct-published`).*",
    ]
    if r.missing:
        lines += ["", f"**Sweeps not run yet:** {', '.join(r.missing)}."]
    return "\n".join(lines)


def sweeps_table(r) -> pd.DataFrame:
    return r.sweeps.set_index("sweep")


def extraction_table(r) -> pd.DataFrame:
    return r.extraction.set_index("dataset")


def extraction_note(r) -> str:
    """What the preset found, against the report's logged sample sizes."""
    e = r.extraction
    if e.empty or "faces" not in e:
        return ""
    lines = []
    for _, row in e[(e["detector"] == "haar-castiel") & e["faces"].notna()].iterrows():
        theirs = row["report's faces"]
        lines.append(
            f"- `{row['dataset']}`: {int(row['faces']):,} faces of {int(row['identities'])} "
            f"people from {int(row['images']):,} images ({int(row['no face'])} without a face, "
            f"{int(row['border rule'])} dropped by the border rule); the report's logs: "
            + (f"{int(theirs):,} faces." if pd.notna(theirs) else "no count.")
        )
    lines.append(
        "\nThe report does not say which LFW variant it read (only deep-funneled images are "
        "available here), and its OpenCV (2018) and JPEG decoder are other builds than ours: "
        "a Haar cascade's detections move with the last bit of a pixel, so the counts agree "
        "only to within a percent or so. Our personal column is the Yale faces, not the "
        "report's private 59 faces of 18 people."
    )
    return "\n".join(lines)


def table_note(r) -> str:
    t = r.table[r.table["n_ours"] > 0]
    if t.empty:
        return "No Table I sweep of the report's setup has run."
    flagged = t[t["flagged"]]
    return (
        f"Per cell: our mean ± 2σ over the subsets, the report's over its 30 runs, Δ = ours − "
        f"report's, and the two-sided p-values of Welch's t-test and the Mann-Whitney U test "
        f"of the two sets of runs. **Flagged** (bold): |Δ| > {rep.MATERIAL_DELTA} and both "
        f"tests below {rep.ALPHA}. {len(flagged)} of {len(t)} cells are flagged. The runs of "
        "one side overlap (a subset holds 80 % of the faces without replacement, 55 % with), "
        "so they are not independent samples: Welch's test inflates the variance of each mean "
        "by Nadeau & Bengio's factor (1/n + ρ/(1−ρ) instead of 1/n; ρ = 0.8 or 0.55); the "
        "Mann-Whitney p-values have no such correction and stay optimistic."
    )


def reproduced_display(r, column: str) -> Styler:
    t = r.table[r.table["column"] == column].copy()
    t.index = [
        rep.cell_label(m, p, v)
        for m, p, v in zip(t["method"], t["parameter"], t["value"], strict=True)
    ]
    show = pd.DataFrame(
        {
            "ours": [mean_pm(m, s) for m, s in zip(t["ours_mean"], t["ours_2sd"], strict=True)],
            "report": [
                mean_pm(m, s) for m, s in zip(t["report_mean"], t["report_2sd"], strict=True)
            ],
            "Δ": t["delta"],
            "p Welch": t["p_welch"],
            "p Mann-Whitney": t["p_mannwhitney"],
        },
        index=t.index,
    )
    flagged = t["flagged"].to_numpy()

    def bold(row: pd.Series) -> list[str]:
        on = flagged[show.index.get_loc(row.name)]
        return ["font-weight: bold" if on else ""] * len(row)

    return show.style.format(
        {"Δ": "{:+.3f}", "p Welch": "{:.2g}", "p Mann-Whitney": "{:.2g}"}
    ).apply(bold, axis=1)


def effects_note(r) -> str:
    if r.effects.empty:
        return "No factor sweep has run yet."
    lines = [
        "Each factor alone switched from the report's setup to the study's default; Δ = "
        "mean ARI with the factor switched − with the report's setup, and its 95 % confidence "
        "interval, corrected for the overlap of the subsets as above: paired over subsets "
        "where both sweeps clustered the same subsets of the "
        "same faces (the model factors; a factor sweep with fewer subsets ran the first ones "
        "of the same stream), Welch's interval otherwise (sampling, detector and the MUCT "
        "crops change the subsets or the faces). Bold: the interval excludes 0. The column "
        "'report setup (ours)' is our mean on the subsets the comparison used. Largest "
        "effects:",
        "",
    ]
    for (factor, column), part in r.effects.groupby(["factor", "column"], sort=False):
        row = rep.largest(part)
        how = (
            f"paired over {int(row.n_other)} subsets"
            if row.paired
            else f"{int(row.n_other)} vs {int(row.n_base)} subsets, unpaired"
        )
        lines.append(
            f"- **{factor}**, {column} ({how}): mean |Δ| {part['delta'].abs().mean():.3f} over "
            f"{len(part)} cells; largest {rep.cell_label(row.method, row.parameter, row.value)} "
            f"{row.delta:+.3f} [{row.ci_low:+.3f}, {row.ci_high:+.3f}]"
        )
    return "\n".join(lines)


def effects_display(r, column: str) -> Styler:
    e = r.effects[r.effects["column"] == column]
    e = e.assign(
        cell=[
            rep.cell_label(m, p, v)
            for m, p, v in zip(e["method"], e["parameter"], e["value"], strict=True)
        ],
        shown=[
            f"{d:+.3f} [{lo:+.3f}, {hi:+.3f}]"
            for d, lo, hi in zip(e["delta"], e["ci_low"], e["ci_high"], strict=True)
        ],
    )
    wide = e.pivot(index="cell", columns="factor", values="shown")
    order = list(dict.fromkeys(e["cell"]))
    wide = wide.loc[order, list(dict.fromkeys(e["factor"]))]
    base = e.drop_duplicates("cell").set_index("cell")["base_mean"].loc[order]
    wide.insert(0, "report setup (ours)", base.map("{:.3f}".format))
    signif = (
        e.assign(s=(e["ci_low"] > 0) | (e["ci_high"] < 0))
        .pivot(index="cell", columns="factor", values="s")
        .loc[order]
    )

    def mark(col: pd.Series) -> list[str]:
        if col.name not in signif:
            return [""] * len(col)
        return ["font-weight: bold" if signif.loc[c, col.name] else "" for c in col.index]

    return wide.style.apply(mark, axis=0)


CLAIM_TEXT = {
    "without-K-best": "“DBSCAN and mean-shift are the best methods without knowing K”",
    "eps-0.7": "“the best eps / bandwidth is about the same for any database” (≈ 0.7 ± 0.1)",
    "ward-best-K": "“agglomerative (Ward) is the best K-based method”",
}


def claims_markdown(r) -> str:
    if r.claims.empty:
        return "No results to test the claims on."
    lines = []
    for claim, part in r.claims.groupby("claim", sort=False):
        lines.append(f"**{CLAIM_TEXT.get(claim, claim)}**")
        lines.append("")
        for row in part.itertuples():
            verdict = "holds" if row.holds else "does not hold"
            lines.append(f"- {row.column}, {row.source}: {row.answer} — *{verdict}*")
        lines.append("")
    if not r.conditions.empty:
        c = r.conditions.set_index("condition")
        overall = c["split_off"].sum() / c["faces"].sum()
        lines.append(
            "**“Sunglasses / glasses split people”** (personal column, report setup: each "
            "method at its best cell, every subset; a face is split off when it lies outside "
            "its person's largest cluster): overall split-off rate "
            f"{overall:.3f}; "
            + ", ".join(
                f"{k} {c.loc[k, 'rate']:.3f}" for k in ("glasses", "noglasses") if k in c.index
            )
            + "; highest: "
            + ", ".join(f"{k} {v:.3f}" for k, v in c["rate"].head(3).items())
            + "."
        )
    return "\n".join(lines)


def conditions_display(r) -> Styler:
    t = r.conditions.set_index("condition")
    num = [c for c in t.columns if c not in ("faces", "split_off")]
    return t.style.format({c: "{:.3f}" for c in num})
