"""Section 8 of the study report: why our numbers may differ from the published ones.

Generated from the data (markdown): the sampling, the faces (``summary.json`` of the faces
stage, the manifest's image sizes, the median face size and whether it is low resolution), the
datasets of precomputed vectors (their features stage's metrics: source, description, files
and sha256, counts), the embeddings (embed metrics), the Table I cells beyond the published 2σ
and where the best setting moved, and rank-order clustering on LFW.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from facecluster.artifacts import SKIP_FIELD
from facecluster.config import Params
from facecluster.errors import UserError
from facecluster.paths import ProjectPaths
from facecluster.report import tables as tb
from facecluster.report.inputs import LOW_RESOLUTION_PX, FeatureDataset, StudyInputs
from facecluster.stages import faces as faces_stage
from facecluster.sweep.summary import best_points


def _repeat_fraction(n: int, m: int) -> float:
    """Expected share of repeats among ``m`` draws with replacement from ``n`` items."""
    if n <= 0 or m <= 0:
        return math.nan
    unique = n * (1.0 - (1.0 - 1.0 / n) ** m)
    return 1.0 - unique / m


def _source_size_note(paths: ProjectPaths, dataset: str, small: int = 96) -> str:
    """Median source image size of a dataset's faces (manifest), flagged when tiny.

    Empty when the manifest is missing or holds no sizes.
    """
    try:
        manifest = faces_stage.read_manifest(paths, dataset)
    except (OSError, ValueError, UserError):
        return ""
    ok = manifest[(manifest["status"] == "ok") & manifest["in_study"].astype(bool)]
    if ok.empty or "width" not in ok or ok["width"].isna().all():
        return ""
    w, h = int(ok["width"].median()), int(ok["height"].median())
    note = f" Source images: median {w}×{h} px."
    if min(w, h) < small:
        note += (
            " **These are tiny**: every face is upsampled to the networks' input size, so its "
            "embeddings carry far less detail than those of faces detected in full-size images "
            "(as the report's were)."
        )
    return note


def reproduction_notes(
    params: Params,
    paths: ProjectPaths,
    inputs: StudyInputs,
    *,
    best: pd.DataFrame,
    verification: pd.DataFrame,
    table_one_ari: Mapping[str, pd.DataFrame],
    beyond: pd.DataFrame,
) -> str:
    """Why our numbers may differ from the published ones, generated from the data (markdown).

    Parameters
    ----------
    params, paths
        The study's settings and locations (the manifests give the source image sizes).
    inputs : StudyInputs
        Faces summaries, embed metrics and the results status.
    best : DataFrame
        :func:`facecluster.report.tables.best_configs`.
    verification : DataFrame
        :func:`facecluster.report.tables.verification_table`.
    table_one_ari, beyond
        The ARI Table I of each model (:func:`facecluster.report.table_one.table_one`) and
        its cells beyond the published 2σ.
    """
    faces_meta: Mapping[str, Mapping[str, Any]] = inputs.faces
    embed_meta: Mapping[str, Mapping[str, Any]] = inputs.embed
    s = params.sweep
    ref_sets = tb.load_reference("castiel_datasets.csv").set_index("dataset")
    lines = ["### Sampling"]
    sizes = []
    for d in inputs.datasets:
        feature = inputs.features.get(d)
        n = feature.metrics.get("faces") if feature else faces_meta.get(d, {}).get("faces")
        if n:
            m = int(s.fraction * n)
            sizes.append(f"`{d}` {_repeat_fraction(n, m):.0%} (N = {n})")
    if s.replace:
        lines.append(
            "- Our subsets were drawn **with** replacement (`sweep.replace: true`), as "
            "the Castiel report's `np.random.choice(N, int(0.8*N))` did, but seeded."
        )
    else:
        lines.append(
            f"- Our {s.n_subsets} subsets of {s.fraction:.0%} are drawn **without** replacement "
            "(seeded). The Castiel report's `np.random.choice(N, int(0.8*N))` drew **with** "
            "replacement (unseeded), so about this share of each of its 'subsets' were repeats "
            "of a face already drawn: " + (", ".join(sizes) or "–") + ". Repeats sit at "
            "distance 0 from their twin, always share its cluster and leave fewer distinct "
            "faces per identity; its spread (2·std) is also over different random sets."
        )
    lines.append("### Faces")
    for d in [d for d in inputs.datasets if d not in inputs.features]:
        fm = faces_meta.get(d, {})
        skipped = bool(fm.get(SKIP_FIELD))
        ours = (
            f"{fm.get('faces')} faces of {fm.get('identities')} identities, detector "
            f"`{fm.get('detector')}`"
            if fm and not skipped
            else "skipped (no faces)"
            if skipped
            else "no faces metrics"
        )
        column = inputs.table_one_column(d)
        ours += _face_size_note(fm, low=d in inputs.low_resolution)
        if column in ref_sets.index:
            r = ref_sets.loc[column]
            theirs = (
                f"{int(r['faces'])} faces of {int(r['identities'])} identities, OpenCV "
                "`haarcascade_frontalface_alt2`"
            )
            extra = ""
            if column != d:
                theirs += f" (Table I's `{column}` column)"
            if column == "personal":
                spec = params.datasets.get(d)
                src = Path(getattr(spec, "path", "") or "").name or "a folder"
                extra = (
                    f" The report's personal set was private; our `{d}` is "
                    f"**{src}** (a different set of people and conditions), so its row is "
                    "not a reproduction."
                )
            extra += _source_size_note(paths, d)
            lines.append(f"- `{d}`: ours {ours}; the report's {theirs}.{extra}")
        else:
            lines.append(f"- `{d}`: ours {ours}; not in the report.{_source_size_note(paths, d)}")
    if inputs.features:
        lines.append("### Precomputed vectors")
        for feature in inputs.features.values():
            lines.append(_feature_note(feature, inputs.table_one_column(feature.name), ref_sets))
    lines.append("### Embeddings")
    for mname in inputs.models:
        spec = params.models.get(mname)
        own = [f.name for f in inputs.features.values() if f.model == mname]
        dims = {
            m.get("dim")
            for k, m in embed_meta.items()
            if (m["model"] == mname if "model" in m else k.endswith(f"-{mname}"))
        }
        dims.discard(None)
        dim = "/".join(str(x) for x in sorted(dims)) or "?"
        if spec is not None and spec.kind == "facenet":
            desc = f"FaceNet Inception-ResNet-v1, `{spec.weights}` weights, {dim}-d"
        elif spec is not None:
            desc = f"LightCNN-{spec.variant}, {dim}-d"
        elif own:
            names = ", ".join(f"`{d}`" for d in own)
            lines.append(
                f"- `{mname}`: the model that computed the precomputed vectors of {names} "
                f"({dim}-d; described above), not run here."
            )
            continue
        else:
            desc = f"{dim}-d"
        lines.append(f"- `{mname}`: {desc}, L2-normalised.")
    lines.append(
        "- The report used FaceNet trained on MS-Celeb-1M (128-d, Sandberg's "
        "20170512-110547: weights `ms-celeb-2017` above, where the study runs it). Distances "
        "between L2-normalised vectors of another network have another scale, so the best "
        "eps / bandwidth can move (below). The report's setup end to end — that model on its "
        "own Haar crops, subsets drawn with replacement — and what each difference costs are "
        "in the reproduction report (`reports/reproduction/index.html`, stage `reproduction`)."
    )
    if not verification.empty:
        accs = ", ".join(
            f"`{r['embeddings']}` {r['accuracy %']:.2f}%" for _, r in verification.iterrows()
        )
        lines.append(f"- LFW 10-fold verification accuracy of our embeddings: {accs}.")
    lines.append("### Where our ARI differs from the published Table I by more than its 2·std")
    for model, long in table_one_ari.items():
        shown = long[long["published_mean"].notna()]
        comp = shown[shown["comparable"]]
        if shown.empty:
            continue
        if comp.empty:
            lines.append(
                f"- `{model}`: no like-for-like cell ({len(shown)} shown beside a published "
                "value are not a reproduction: see the caption of its Table I)."
            )
            continue
        outside = comp[comp["beyond"]]  # not `beyond`: that is the argument, read below
        lines.append(
            f"- `{model}`: {len(outside)} of {len(comp)} like-for-like cells "
            f"(mean |Δ| {comp['diff'].abs().mean():.3f}); {len(shown) - len(comp)} more shown "
            "beside a published value are not a reproduction."
        )
        for method in ("dbscan", "meanshift"):
            shifts = _optimum_shift(long, method, model)
            if shifts:
                lines.append(f"  - best {method} setting, ours vs published: {shifts}.")
    if beyond.empty:
        lines.append("- None.")
    else:
        lines.append("\nThe cells are listed in the table below.")
    ro = _rank_order_note(best, inputs.status)
    if ro:
        lines += ["### Rank-order clustering on LFW", ro]
    return "\n".join(lines)


def _face_size_note(summary: Mapping[str, Any], *, low: bool) -> str:
    """``, median face 24 px (low resolution: not ranked)`` from a faces summary."""
    px = summary.get("face_px_median")
    if px is None:
        return ""
    text = f", median face {float(px):.0f} px (short side of the boxes, source pixels)"
    if low:
        text += (
            f" — **low resolution** (below {LOW_RESOLUTION_PX} px): every face is upsampled "
            "several-fold to the models' input, so its numbers are shown but no method is "
            "ranked on it"
        )
    return text


def _feature_note(feature: FeatureDataset, column: str | None, ref_sets: pd.DataFrame) -> str:
    """One bullet on a dataset of precomputed vectors, from its features stage's metrics."""
    m = feature.metrics
    head = f"- `{feature.name}` ({feature.kind} of `{feature.model}`)"
    if not m:
        return head + ": no metrics (its features stage has not run)."
    parts = [f"{head}: {feature.description.rstrip('.')}."]
    if m.get("faces") is not None:
        parts.append(
            f"{m.get('faces')} vectors of {m.get('identities')} identities, {m.get('dim')}-d"
            + (f", stored as {m['source_dtype']}" if m.get("source_dtype") else "")
            + "."
        )
    if m.get("norm_min") is not None and m.get("norm_max") is not None:
        how = "L2-normalised on read" if m.get("normalised") else "used as stored"
        parts.append(
            f"L2 norms as read {float(m['norm_min']):.4f}–{float(m['norm_max']):.4f} ({how})."
        )
    files = m.get("source_sha256") or {}
    if files:
        parts.append(
            "Files read: " + "; ".join(f"`{f}` sha256 `{h}`" for f, h in files.items()) + "."
        )
    if column in ref_sets.index:
        r = ref_sets.loc[column]
        parts.append(
            f"Compared with Table I's `{column}` column (the report's {int(r['faces'])} faces "
            f"of {int(r['identities'])} identities, OpenCV `haarcascade_frontalface_alt2`)."
        )
    else:
        parts.append("Not compared with Table I.")
    parts.append("No faces stage: no manifest, crops, maps or galleries.")
    return " ".join(parts)


def _optimum_shift(long: pd.DataFrame, method: str, model: str) -> str:
    """``lfw: ours eps 0.8 (0.950), published eps 0.7 (0.957)`` for each dataset.

    Over the comparable cells of ``method`` (those with a published value), the best of ours
    and the best published one, each chosen by the study's one rule
    (:func:`facecluster.sweep.summary.best_points`).
    """
    parts = []
    sub = long[(long["method"] == method) & long["published_mean"].notna()]
    if sub.empty:
        return ""
    cells = sub.assign(model=model, params=sub["setting"])
    ours = best_points(cells.assign(ari_mean=cells["mean"])).set_index("dataset")
    theirs = best_points(cells.assign(ari_mean=cells["published_mean"])).set_index("dataset")
    for dataset in dict.fromkeys(sub["dataset"]):
        o, p = ours.loc[dataset], theirs.loc[dataset]
        parts.append(
            f"`{dataset}`: ours {o['ref_param']} {o['ref_value']:g} ({o['mean']:.3f}), "
            f"published {p['ref_param']} {p['ref_value']:g} ({p['published_mean']:.3f})"
        )
    return "; ".join(parts)


def _rank_order_note(best: pd.DataFrame, status: pd.DataFrame) -> str:
    """Our best rank-order run on LFW beside Otto et al. and Baydur & Erdoğan."""
    if best.empty:
        return ""
    sel = best[(best["method"] == "rank_order") & (best["dataset"] == "lfw")]
    if sel.empty:
        return ""
    ref = tb.load_reference("rank_order_lfw.csv")
    theirs = "; ".join(
        f"{r.source} ({r.embedding}): F1 {r.pairwise_f1:.2f} on {r.faces} faces"
        for r in ref.itertuples()
    )
    size = status.set_index(["dataset", "model"])["faces_per_subset"]
    ours = "; ".join(
        f"`{r.model}` pairwise F1 {r.pairwise_f1_mean:.3f} at {r.setting} (subsets of "
        f"{size.get((r.dataset, r.model), float('nan')):.0f} faces)"
        for r in sel.itertuples()
    )
    return (
        f"- Ours (setting with the best mean ARI): {ours}.\n- Published: {theirs}.\n- "
        "Theirs cluster all of LFW (most people there have a single image); ours cluster "
        "80% subsets of the people with at least 3 images, a smaller and easier problem "
        "([§8](#otto) runs their protocol: every face at once)."
    )
