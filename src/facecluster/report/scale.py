"""The study report's section on clustering at scale (stage ``scale``).

F1 against the collection's size (LFW's labelled faces among ``N`` *simulated* distractors)
with Otto et al.'s published points; time and memory against the size on log-log axes with
the fitted slopes; the simulation check (nearest-neighbour distances, real against
simulated); and an estimate, from the measured growth, of what 123 million faces would cost
on this machine and on ``W`` such machines.  Reads :func:`facecluster.stages.scale.read_result`
only.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter
from pandas.io.formats.style import Styler

from facecluster.paths import ProjectPaths
from facecluster.report.inputs import read_per_model
from facecluster.report.plots import series_style
from facecluster.report.tables import load_reference, style_table
from facecluster.stages import scale as scale_stage
from facecluster.sweep.scale import ScaleResult, fitted_slope

log = logging.getLogger(__name__)

__all__ = ["ScaleSection", "estimate_table", "scale_rows", "scale_section"]

#: Otto et al.'s collection: LFW among 123 million distractors.
OTTO_FACES = 123_013_233
WORKERS = (1, 10, 100, 1000)


@dataclass(frozen=True)
class ScaleSection:
    """What the section shows; ``results`` is empty when no scale stage has run."""

    results: Mapping[str, ScaleResult] = field(default_factory=dict)
    table: Styler | None = None
    f1_figure: Figure | None = None
    cost_figures: tuple[tuple[str, Figure], ...] = ()
    check_figures: tuple[tuple[str, Figure], ...] = ()
    check: str = ""
    estimate: Styler | None = None
    estimate_text: str = ""
    facts: str = ""
    lead: str | None = None
    missing: tuple[str, ...] = ()


def scale_rows(result: ScaleResult) -> pd.DataFrame:
    """One row per size × shown setting: each method at its all-LFW best (``best``) and at
    its best on this size's grid (``grid best``), rank-order also on exact lists at the
    baseline size; scores, the lists' search and recall, the times and peak memory."""
    g = result.grid
    rows = []
    for size in result.sizes.to_dict("records"):
        n_d = int(size["distractors"])
        at = g[g["distractors"] == n_d]
        baseline = size["role"] == "baseline"
        at = at[at["role"] == "baseline"] if baseline else at[at["role"] != "baseline"]
        for (method, variant), part in at.groupby(["method", "variant"], sort=False):
            picks = []
            if baseline:
                picks.append(("best, exact lists", part.iloc[0]))
            else:
                best = part[part["role"] == "best"]
                if len(best):
                    picks.append(("all-LFW best", best.iloc[0]))
                top = part.sort_values("pairwise_f1", ascending=False, kind="stable").iloc[0]
                picks.append(("grid best", top))
            for label, row in picks:
                cluster_s = float(row["cluster_s"])
                rows.append(
                    {
                        "distractors": n_d,
                        "faces": int(size["faces"]),
                        "method": method if not variant else f"{method} ({variant})",
                        "choice": label,
                        "params": row["params"],
                        "precision": float(row["pairwise_precision"]),
                        "recall": float(row["pairwise_recall"]),
                        "f1": float(row["pairwise_f1"]),
                        "clusters": int(row["n_clusters"]),
                        "search": size["search"],
                        "list_recall": float(size["recall"]),
                        "search_s": float(size["search_s"]),
                        "cluster_s": cluster_s,
                        "peak_gb": float(size["peak_rss_bytes"]) / 2**30,
                    }
                )
    return pd.DataFrame(rows)


def _seconds(s: float) -> str:
    if not np.isfinite(s):
        return "–"
    if s < 60:
        return f"{s:.1f} s"
    m, sec = divmod(round(s), 60)
    return f"{m}:{sec:02d}"


def display_table(rows: pd.DataFrame) -> pd.DataFrame:
    """The section's table of :func:`scale_rows`' rows, formatted."""
    out = []
    for r in rows.itertuples():
        point = json.loads(r.params)
        setting = ", ".join(f"{k} {v:g}" for k, v in point.items() if k != "n_iter")
        total = r.search_s + r.cluster_s if np.isfinite(r.cluster_s) else np.nan
        out.append(
            {
                "distractors": f"{r.distractors:,}",
                "method": r.method,
                "setting": f"{r.choice}: {setting}",
                "precision": f"{r.precision:.3f}",
                "recall": f"{r.recall:.3f}",
                "pairwise F1": f"{r.f1:.3f}",
                "lists (recall@k)": f"{r.search} ({r.list_recall:.3f})",
                "search + clustering": (
                    f"{_seconds(total)} ({_seconds(r.search_s)} + {_seconds(r.cluster_s)})"
                    if np.isfinite(total)
                    else f"search {_seconds(r.search_s)}"
                ),
                "peak memory": f"{r.peak_gb:.2f} GB",
            }
        )
    return pd.DataFrame(out)


def f1_figure(rows_by_model: Mapping[str, pd.DataFrame]) -> Figure:
    """Pairwise F1 on the labelled faces against the collection's size (log x), per model
    (its :func:`scale_rows`) and method at its all-LFW best setting (solid) and its grid best
    (dotted), with Otto et al.'s published points."""
    fig = Figure(figsize=(9.5, 3.6), layout="constrained")
    ax = fig.subplots()
    methods = sorted({m for rows in rows_by_model.values() for m in rows["method"]})
    style = series_style(methods)
    for model, rows in rows_by_model.items():
        rows = rows[rows["choice"] != "best, exact lists"]
        for method in methods:
            colour, marker = style[method]
            for choice, ls in (("all-LFW best", "-"), ("grid best", ":")):
                sel = rows[(rows["method"] == method) & (rows["choice"] == choice)]
                if sel.empty:
                    continue
                label = f"{method}, {choice}" + (f" ({model})" if len(rows_by_model) > 1 else "")
                ax.plot(sel["faces"], sel["f1"], ls=ls, color=colour, marker=marker, ms=4,
                        lw=1.3, label=label)  # fmt: skip
    ref = load_reference("rank_order_scale.csv")
    ax.plot(ref["faces"], ref["pairwise_f1"], "k*", ms=10, ls="--", lw=0.8,
            label="Otto et al. (their CNN; 123 M real distractors)")  # fmt: skip
    ax.set_xscale("log")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("faces clustered: LFW + simulated distractors (log)")
    ax.set_ylabel("pairwise F1 (labelled faces)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left", ncol=2)
    return fig


def _slope_label(n: np.ndarray, s: np.ndarray) -> str:
    """The slope over the two largest sizes (10⁵ → 10⁶ by default)."""
    order = np.argsort(n)
    slope = fitted_slope(np.asarray(n)[order][-2:], np.asarray(s)[order][-2:])
    return f"slope {slope:.2f}" if np.isfinite(slope) else "slope –"


def cost_figure(result: ScaleResult, rows: pd.DataFrame) -> Figure:
    """Left: time against faces (log-log): the neighbour search, the rank-order clustering at
    the all-LFW best setting (from ``result``'s :func:`scale_rows`), their sum, and the exact
    search at the baseline size; the slope between the two largest sizes in the legend.
    Right: peak memory."""
    fig = Figure(figsize=(9.5, 3.4), layout="constrained")
    left, right = fig.subplots(1, 2)
    sizes = result.main_sizes.sort_values("faces")
    ro = rows[(rows["method"].str.startswith("rank_order")) & (rows["choice"] == "all-LFW best")]
    ro = ro.drop_duplicates("faces").sort_values("faces")
    n = sizes["faces"].to_numpy(float)
    series = [
        ("neighbour search", n, sizes["search_s"].to_numpy(float), "-", "o"),
        ("rank-order clustering", ro["faces"].to_numpy(float), ro["cluster_s"].to_numpy(float), "--", "s"),
        ("search + clustering", ro["faces"].to_numpy(float),
         (ro["search_s"] + ro["cluster_s"]).to_numpy(float), "-", "D"),
    ]  # fmt: skip
    for label, x, y, ls, marker in series:
        left.plot(x, y, ls=ls, marker=marker, ms=4, label=f"{label} ({_slope_label(x, y)})")
    exact = result.baseline_sizes
    exact_n = sizes[sizes["search"] != "hnsw"]
    if len(exact):
        xs = np.concatenate([exact_n["faces"].to_numpy(float), exact["faces"].to_numpy(float)])
        ys = np.concatenate(
            [exact_n["search_s"].to_numpy(float), exact["search_s"].to_numpy(float)]
        )
        order = np.argsort(xs)
        left.plot(xs[order], ys[order], "k:", marker="x", ms=5,
                  label=f"exact search ({_slope_label(xs, ys)})")  # fmt: skip
    right.plot(n, sizes["peak_rss_bytes"].to_numpy(float) / 2**30, marker="o", ms=4,
               label=f"peak resident memory ({_slope_label(n, sizes['peak_rss_bytes'].to_numpy(float))})")  # fmt: skip
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("faces (log)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8, loc="upper left")
    left.set_ylabel("seconds (log)")
    right.set_ylabel("GB (log)")
    right.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    right.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    return fig


def check_figure(result: ScaleResult) -> Figure:
    """Nearest-neighbour distances of held-out real identities and of simulated ones with
    the same sizes: to the nearest face of the same identity and of another, side by side."""
    fig = Figure(figsize=(9.5, 3.0), layout="constrained")
    axes = fig.subplots(1, 2, sharex=True, sharey=True)
    c = result.check
    bins = np.linspace(0.0, float(c["distance"].max()) * 1.02 if len(c) else 2.0, 60)
    for ax, source in zip(axes, ("real", "simulated"), strict=True):
        for kind, colour in (("same", "tab:green"), ("different", "tab:red")):
            values = c[(c["source"] == source) & (c["kind"] == kind)]["distance"]
            ax.hist(values, bins=bins, alpha=0.55, color=colour, density=True,
                    label=f"nearest {'same' if kind == 'same' else 'other'} identity")  # fmt: skip
        ax.set_title(f"{source} identities", fontsize=9)
        ax.set_xlabel("euclidean distance")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("density")
    axes[0].legend(fontsize=8)
    return fig


def _fit(n: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    """``(a, b)`` of ``s = a · n^b`` over the two largest sizes (``b`` 1 when only one)."""
    order = np.argsort(n)
    n, s = np.asarray(n, float)[order][-2:], np.asarray(s, float)[order][-2:]
    b = fitted_slope(n, s)
    if not np.isfinite(b):
        b = 1.0
    return float(s[-1] / n[-1] ** b), float(b)


def estimate_table(
    result: ScaleResult,
    rows: pd.DataFrame,
    target: int = OTTO_FACES,
    workers: Sequence[int] = WORKERS,
) -> pd.DataFrame:
    """Hours for ``target`` faces on ``W`` machines like this one, from the growth measured
    in ``result`` (``rows``: its :func:`scale_rows`).

    * HNSW, database sharded, queries broadcast: each machine builds the graph of its
      ``target / W`` faces and answers *every* query on it — build ``a_b (target/W)^b_b``,
      queries ``target · q(target / W)`` with ``q(n)`` the measured seconds per query on an
      ``n``-face graph (the query phase is not divided by ``W``);
    * exact search, sharded: ``t(n_baseline) · (target / n_baseline)² / W``;
    * the NN-descent refinement: linear in the faces (``O(n k²)``), divided by ``W``;
    * rank-order clustering on one machine: its measured growth; memory per machine: the
      smallest size's peak plus the measured bytes per face (between the two largest sizes)
      times the shard's faces.
    The merge of the shards' lists and the network are not measured, nor counted.
    """
    sizes = result.main_sizes
    hnsw = sizes[sizes["search"] == "hnsw"]
    ro = rows[(rows["method"].str.startswith("rank_order")) & (rows["choice"] == "all-LFW best")]
    ro = ro.drop_duplicates("faces")
    out = []
    have_hnsw = len(hnsw) >= 1 and "build_s" in hnsw
    if have_hnsw:
        a_b, b_b = _fit(hnsw["faces"], hnsw["build_s"])
        per_query = hnsw["query_s"] / hnsw["faces"]
        a_q, b_q = _fit(hnsw["faces"], per_query)
    base = result.baseline_sizes
    a_c, b_c = _fit(ro["faces"], ro["cluster_s"]) if len(ro) else (np.nan, 1.0)
    by_n = sizes.sort_values("faces")
    n_hi, n_lo = float(by_n["faces"].iloc[-1]), float(by_n["faces"].iloc[0])
    m_hi, m_lo = float(by_n["peak_rss_bytes"].iloc[-1]), float(by_n["peak_rss_bytes"].iloc[0])
    per_face = (m_hi - m_lo) / (n_hi - n_lo) if n_hi > n_lo else m_hi / n_hi
    refine = hnsw.sort_values("faces").iloc[-1] if have_hnsw else None
    for w in workers:
        shard = target / w
        row: dict[str, object] = {"machines": w}
        if have_hnsw:
            row["HNSW build (h)"] = a_b * shard**b_b / 3600
            row["HNSW queries (h)"] = target * a_q * shard**b_q / 3600
            if refine is not None and np.isfinite(refine.get("refine_s", np.nan)):
                row["refinement (h)"] = (
                    float(refine["refine_s"]) * target / float(refine["faces"]) / w / 3600
                )
        if len(base):
            b = base.iloc[0]
            row["exact search (h)"] = (
                float(b["search_s"]) * (target / float(b["faces"])) ** 2 / w / 3600
            )
        row["rank-order clustering, one machine (h)"] = a_c * target**b_c / 3600
        row["memory per machine (GB)"] = (m_lo + per_face * shard) / 2**30
        out.append(row)
    table = pd.DataFrame(out)
    table.attrs.update(build_slope=b_b if have_hnsw else np.nan,
                       query_slope=b_q if have_hnsw else np.nan, cluster_slope=b_c)  # fmt: skip
    return table


def _estimate_styler(table: pd.DataFrame) -> Styler:
    shown = table.copy()
    for col in shown.columns[1:]:
        shown[col] = [f"{v:,.1f}" if v >= 10 else f"{v:.2f}" for v in shown[col]]
    shown["machines"] = [f"{w:,}" for w in table["machines"]]
    return style_table(shown, wrap=True).hide(axis="index")


def _facts(result: ScaleResult) -> str:
    f = result.facts
    sizes = result.main_sizes
    largest = sizes.sort_values("faces").iloc[-1]
    return (
        f"**The collection**: the {f['labelled_faces']:,} labelled faces of `{f['dataset']}` "
        f"({f['identities']:,} people) and N **simulated** distractor faces, for N in "
        + ", ".join(f"{int(n):,}" for n in sizes["distractors"])
        + ". The distractors are not real faces: identities drawn from a model fitted to "
        f"{f['model']}'s own LFW embeddings (identity centres from a Gaussian mixture of "
        f"{f.get('components', 1)} component(s) fitted to the identity means, faces from the "
        "pooled within-identity scatter, projected to the unit sphere, identity sizes drawn "
        "from LFW's), generated on the fly from keyed seeds (each N's distractors are the "
        "first N of the next). Scores are pairwise precision / recall / F1 on the labelled "
        "faces only, as Otto et al. score theirs: a distractor merged into a labelled cluster "
        "costs nothing directly, but it can link two people. Neighbour lists: exact search up "
        f"to {int(f.get('exact_max', 0)):,} faces, above it faiss HNSW (M "
        f"{f.get('hnsw_m', '?')}, search beam {f.get('ef_search', '?')}) and "
        f"{f.get('refine_passes', 0)} pass(es) of NN-descent's local join (recall@k on "
        f"{int(largest['recall_queries']):,} random "
        "faces against exact search, in the table). Times on "
        f"{f.get('cpu', 'this machine')} ({f.get('cores', '?')} cores); memory is the "
        "process's peak resident set while a size is processed."
    )


def _check_text(result: ScaleResult) -> str:
    s = result.check_summary.set_index("kind")
    f = result.facts

    def one(kind: str, what: str) -> str:
        r = s.loc[kind]
        return (
            f"to the nearest {what}, median {r.real_median:.3f} real vs "
            f"{r.simulated_median:.3f} simulated (Kolmogorov-Smirnov D {r.ks:.2f})"
        )

    same_far = s.loc["same", "simulated_median"] > s.loc["same", "real_median"]
    other_far = s.loc["different", "simulated_median"] > s.loc["different", "real_median"]
    return (
        f"**The simulation check.** The model is fitted on half of LFW's identities and a "
        f"simulated set with the other half's sizes ({f['check_identities']:,} identities, "
        f"{f['check_faces']:,} faces) is compared with those real faces: "
        + one("same", "face of the same identity")
        + "; "
        + one("different", "face of another identity")
        + ". Simulated faces of one person sit "
        + ("farther apart" if same_far else "closer together")
        + " than real ones (real photos include near-duplicates, the left tail of the real "
        "panel), and simulated people sit "
        + ("farther from" if other_far else "at least as close to")
        + " each other than real ones"
        + (
            ": the simulated distractors are somewhat easier to keep apart from LFW's people "
            "than real faces would be, so the F1 at scale below is, if anything, optimistic."
            if other_far
            else "."
        )
    )


def _estimate_text(table: pd.DataFrame, result: ScaleResult) -> str:
    one, many = table.iloc[0], table.iloc[-1]
    mem = float(one["memory per machine (GB)"])
    parts_of = [c for c in table.columns if c.endswith("(h)") and c != "exact search (h)"]
    top_one = max(parts_of, key=lambda c: float(one[c])).replace(" (h)", "")
    top_many = max(parts_of, key=lambda c: float(many[c])).replace(" (h)", "")
    w = int(many["machines"])
    text = [
        f"**{OTTO_FACES / 1e6:.0f} million faces, estimated** from the growth measured here "
        f"(HNSW build slope {table.attrs['build_slope']:.2f}, seconds per query slope "
        f"{table.attrs['query_slope']:.2f}, rank-order clustering slope "
        f"{table.attrs['cluster_slope']:.2f}, between the two largest sizes; memory and the "
        f"refinement linear in the faces). One machine like this one would need {mem:,.0f} GB "
        "of memory" + (" — it does not fit" if mem > 24 else "") + f"; its time would be "
        f"{sum(float(one[c]) for c in parts_of):,.0f} h, most of it the {top_one}."
    ]
    if "HNSW queries (h)" in table:
        text.append(
            f"With the database sharded over {w:,} machines and every query broadcast, the "
            f"build and the refinement divide by the machines but the queries do not — each "
            f"machine answers all {OTTO_FACES / 1e6:.0f} M queries on its shard "
            f"({float(many['HNSW queries (h)']):,.1f} h each) — and the largest part is the {top_many}; "
            "routing each query to the few shards that can hold its neighbours (an IVF-style "
            "partition of the database) is what would make a cluster pay off."
        )
    if "exact search (h)" in table:
        text.append(
            f"Exact search would take {float(one['exact search (h)']):,.0f} h on one machine "
            f"and {float(many['exact search (h)']):,.1f} h on {w:,}."
        )
    return " ".join(text)


def _lead(model: str, result: ScaleResult, all_rows: pd.DataFrame) -> str | None:
    """The section's sentence on ``model`` (``all_rows``: its :func:`scale_rows`)."""
    rows = all_rows[all_rows["choice"] == "all-LFW best"]
    if rows.empty:
        return None
    small, large = rows["faces"].min(), rows["faces"].max()
    parts = []
    grid = all_rows[(all_rows["choice"] == "grid best") & (all_rows["faces"] == large)]
    for method, sel in rows.groupby("method", sort=False):
        a = sel[sel["faces"] == small]["f1"]
        b = sel[sel["faces"] == large]["f1"]
        if len(a) and len(b):
            text = f"{method} {a.iloc[0]:.3f} → {b.iloc[0]:.3f}"
            tuned = grid[grid["method"] == method]
            if len(tuned) and tuned["f1"].iloc[0] > b.iloc[0] + 0.01:
                point = json.loads(tuned["params"].iloc[0])
                text += (
                    f" at its all-LFW setting ({tuned['f1'].iloc[0]:.3f} re-tuned, t "
                    f"{point['threshold']:g})"
                )
            parts.append(text)
    sizes = result.main_sizes
    top = sizes.sort_values("faces").iloc[-1]
    ro = rows[(rows["faces"] == large) & rows["method"].str.startswith("rank_order")]
    total = float((ro["search_s"] + ro["cluster_s"]).iloc[0]) if len(ro) else float("nan")
    return (
        f"Among {int(top['distractors']):,} simulated distractors ({model}), pairwise F1 on "
        f"LFW's faces goes " + ", ".join(parts) + " (Otto et al.: 0.87 → 0.27 among 123 M real "
        f"ones); rank-order end to end takes {_seconds(total)} for {int(top['faces']):,} faces "
        f"on this machine, peak memory {float(top['peak_rss_bytes']) / 2**30:.1f} GB, lists' "
        f"recall@k {float(top['recall']):.3f}."
    )


def scale_section(models: Sequence[str], paths: ProjectPaths) -> ScaleSection:
    """The section from the scale stage's outputs of ``models`` (those that ran)."""
    results, missing = read_per_model(
        scale_stage.read_result, paths, models, scale_stage.ScaleNotRunError
    )
    if not results:
        return ScaleSection(missing=missing)
    rows = {m: scale_rows(r) for m, r in results.items()}
    first_model, first = next(iter(results.items()))
    estimate = estimate_table(first, rows[first_model])
    return ScaleSection(
        results=results,
        table=style_table(
            pd.concat([display_table(r).assign(model=m) for m, r in rows.items()]).pipe(
                lambda t: t if len(results) > 1 else t.drop(columns="model")
            ),
            wrap=["setting", "method"],
        ).hide(axis="index"),
        f1_figure=f1_figure(rows),
        cost_figures=tuple(
            (f"time and memory, {m}", cost_figure(r, rows[m])) for m, r in results.items()
        ),
        check_figures=tuple(
            (f"simulation check, {m}", check_figure(r)) for m, r in results.items()
        ),
        check=_check_text(first),
        estimate=_estimate_styler(estimate),
        estimate_text=_estimate_text(estimate, first),
        facts=_facts(first),
        lead=_lead(first_model, first, rows[first_model]),
        missing=missing,
    )
