"""The study report (stage ``report``): everything ``notebooks/40-report.ipynb`` displays.

:func:`build_study_report` reads every input of the study — the results tables
(``data/results/<dataset>-<model>.parquet``), the embed and faces stages' metrics JSON, the
embedding-map PNGs, the embeddings / subsets / manifests / crops for the error galleries and
the package's reference data — and

* writes ``reports/metrics.json`` (the headline numbers, ``dvc metrics show``):
  ``{dataset: {model: {method: {ari_mean, ari_2std, pairwise_f1}}}}``;
* writes the parameter-curve data as DVC plot files ``reports/plots/<model>-<method>[-k<k>].csv``
  (see :mod:`facecluster.report.plots`);
* returns a :class:`StudyReport` with the tables (pandas Stylers) and figures the notebook
  shows, in order.

:func:`render_offline_html` turns the executed notebook into ``reports/index.html`` without a
single external script (nbconvert's lab template loads require.js, MathJax and mermaid from a
CDN; the study page needs none of them) — ``python -m facecluster.report.study
reports/index.ipynb``.
"""

from __future__ import annotations

import html
import json
import logging
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from pandas.io.formats.style import Styler
from tqdm.auto import tqdm

from facecluster.config import Params
from facecluster.faces.manifest import read_manifest
from facecluster.integrity import atomic_path
from facecluster.paths import ProjectPaths
from facecluster.report import galleries as gal
from facecluster.report import plots
from facecluster.report import stats as st
from facecluster.report import tables as tb

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"
PLOTS_DIR = "plots"
GALLERY_SUBSET = 0
#: Grid points pooled in the conditions table: good clusterings that may still split faces.
CONDITION_MIN_ARI = 0.5


@dataclass
class Gallery:
    """The error gallery of one best run (``html`` is a ``<details>`` block, PNGs inline)."""

    dataset: str
    model: str
    method: str
    setting: str
    ari: float
    reproduced: bool
    summary: dict
    html: str


@dataclass
class StudyReport:
    """What the report notebook shows, section by section (see the notebook for the order)."""

    protocol: str
    status: pd.DataFrame
    status_note: str
    links_html: str
    results: pd.DataFrame
    stats: pd.DataFrame
    best: pd.DataFrame
    headline: Styler | None
    best_settings: Styler | None
    metrics: dict
    metrics_path: Path
    table_one: dict[str, dict[str, Styler]] = field(default_factory=dict)
    table_one_ari: dict[str, pd.DataFrame] = field(default_factory=dict)
    table_one_html: dict[str, list[str]] = field(default_factory=dict)
    curves: dict[str, plots.Curves] = field(default_factory=dict)
    curve_figures: list[tuple[str, Figure]] = field(default_factory=list)
    plot_files: list[Path] = field(default_factory=list)
    clusters_runtime: Styler | None = None
    runtime_figure: Figure | None = None
    verification: pd.DataFrame = field(default_factory=pd.DataFrame)
    maps_html: str = ""
    galleries: list[Gallery] = field(default_factory=list)
    conditions: Styler | None = None
    conditions_note: str = ""
    paired: Styler | None = None
    transfer: list[tuple[str, Styler]] = field(default_factory=list)
    transfer_note: str = ""
    beyond: pd.DataFrame = field(default_factory=pd.DataFrame)
    beyond_table: Styler | None = None
    notes: str = ""

    @property
    def empty(self) -> bool:
        """True when no (dataset, model) has results."""
        return self.best.empty


# --------------------------------------------------------------------------------------------
# the build
# --------------------------------------------------------------------------------------------
def build_study_report(
    params: Params, paths: ProjectPaths, *, galleries: bool = True
) -> StudyReport:
    """Load every result of the study, write ``reports/metrics.json`` and the plot data.

    Parameters
    ----------
    params : Params
        Validated study parameters (``study``, ``sweep``, ``seed``, ``report``, ``datasets``,
        ``models`` are used).
    paths : ProjectPaths
        The project's locations.
    galleries : bool
        Recompute the best runs' labels for the error galleries (``params.report
        .gallery_rows`` 0 also turns them off).

    Returns
    -------
    StudyReport
    """
    datasets, models = list(params.study.datasets), list(params.study.models)
    log.info("study report over datasets %s × models %s", datasets, models)
    results, status = tb.load_results(paths, datasets, models)
    faces_meta = tb.load_stage_metrics(paths.report_dir("faces"), datasets)
    embed_meta = tb.load_stage_metrics(
        paths.report_dir("embed"), [f"{d}-{m}" for d in datasets for m in models]
    )
    stats = tb.grid_stats(results)
    best = tb.best_configs(stats)
    metrics = tb.headline_metrics(best, status)
    metrics_path = paths.reports / METRICS_FILE
    with atomic_path(metrics_path) as tmp:
        tmp.write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    log.info("wrote %s", metrics_path)

    report = StudyReport(
        protocol=tb.protocol_line(params),
        status=status,
        status_note=tb.status_note(status),
        links_html=links_html(paths, datasets, models),
        results=results,
        stats=stats,
        best=best,
        headline=None,
        best_settings=None,
        metrics=metrics,
        metrics_path=metrics_path,
    )
    report.maps_html = maps_html(paths, datasets, models)
    report.verification = tb.verification_table(embed_meta)
    curves = (
        {m: c for m in tb.METHOD_ORDER if (c := plots.curve_data(stats, m)) is not None}
        if not stats.empty
        else {}
    )
    report.curves = curves
    report.plot_files = plots.write_plot_files(
        curves, paths.reports / PLOTS_DIR, models=models, datasets=datasets
    )
    if best.empty:
        report.notes = reproduction_notes(params, paths, report, faces_meta, embed_meta)
        return report

    _headline_sections(report, datasets, models)
    _table_one_sections(report, datasets, models)
    _figure_sections(report, datasets, models)
    _statistics_sections(report, datasets, models)
    if galleries and params.report.gallery_rows > 0:
        build_galleries(report, params, paths)
    report.notes = reproduction_notes(params, paths, report, faces_meta, embed_meta)
    return report


def _headline_sections(report: StudyReport, datasets: list[str], models: list[str]) -> None:
    """Section 1: the headline and the best settings."""
    best = report.best
    report.headline = tb.style_headline(tb.headline_display(best, datasets, models), best)
    report.best_settings = tb.style_table(
        tb.best_settings_display(best, datasets, models),
        caption="Best grid point of each method (K=true: given the true number of identities)",
    )


def _table_one_sections(report: StudyReport, datasets: list[str], models: list[str]) -> None:
    """Section 2: Table I per model, beside the published values (and the other scores)."""
    reference = tb.load_reference()
    for model in [m for m in models if m in set(report.stats["model"])]:
        long = tb.table_one(report.stats, reference, model=model, score="ari")
        report.table_one_ari[model] = long
        table, css = tb.table_one_display(long, datasets)
        ari = tb.style_table(
            table,
            css,
            caption=f"ARI, {model}: mean ± 2σ over the subsets beside the Castiel "
            "report's Table I (Δ = ours − published; shaded: |Δ| > the published 2σ)",
        )
        other = tb.style_table(
            tb.scores_display(report.stats, model=model, datasets=datasets),
            caption=f"Pairwise F1, BCubed F1 and NMI, {model}: mean ± 2σ over the subsets "
            "(the Castiel report published ARI only)",
        )
        report.table_one[model] = {"ari": ari, "other": other}
        report.table_one_html[model] = [
            collapsible(
                ari.to_html(), f"ARI, {model}: Table I beside the published values", open_=True
            ),
            collapsible(other.to_html(), f"Pairwise F1, BCubed F1, NMI, {model}"),
        ]
    report.beyond = tb.beyond_published(report.table_one_ari)
    if not report.beyond.empty:
        report.beyond_table = tb.style_table(
            report.beyond.set_index(["model", "dataset", "method", "setting"]),
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


def _figure_sections(report: StudyReport, datasets: list[str], models: list[str]) -> None:
    """Sections 3 and 4: parameter curves, clusters found and runtime."""
    for method, c in report.curves.items():
        for model in models:
            if (c.data["model"] == model).any():
                report.curve_figures.append(
                    (f"{method} × {model}", plots.curve_figure(c, model=model, datasets=datasets))
                )
    cr = tb.clusters_runtime_table(report.stats, report.best)
    report.clusters_runtime = tb.style_clusters_runtime(cr)
    report.runtime_figure = plots.runtime_figure(cr, datasets=datasets, models=models)


def _statistics_sections(report: StudyReport, datasets: list[str], models: list[str]) -> None:
    """Section 7: paired comparison of the best two methods and parameter transfer."""
    paired = st.paired_comparison(report.results, report.best)
    if not paired.empty:
        report.paired = tb.style_table(
            paired.set_index(["dataset", "model"]),
            caption="Best two methods per dataset × model, paired over the same subsets "
            "(difference = first − second in ARI; 95% t interval; two-sided tests)",
        ).format(
            {
                "mean_diff": "{:+.4f}",
                "ci_low": "{:+.4f}",
                "ci_high": "{:+.4f}",
                "t": "{:.2f}",
                "p_t": "{:.2g}",
                "w": "{:.1f}",
                "p_wilcoxon": "{:.2g}",
            },
            na_rep="–",
        )
    for method in [m for m in tb.METHOD_ORDER if m in report.curves]:
        for model in models:
            long = st.parameter_transfer(
                report.stats, method=method, model=model, datasets=datasets
            )
            if long.empty or long["chosen_on"].nunique() < 2:
                continue
            report.transfer.append(
                (
                    f"{method} × {model}",
                    tb.style_table(
                        st.transfer_display(long),
                        caption=f"{method} × {model}: mean ARI on each dataset (columns) with the "
                        "setting that is best on another (rows); in brackets the loss against "
                        "the column's own best",
                    ),
                )
            )
    if not report.transfer:
        report.transfer_note = (
            "Parameter transfer needs results on at least two datasets for a method with a "
            f"parameter grid; the results cover {report.best['dataset'].nunique()} dataset(s)."
        )


# --------------------------------------------------------------------------------------------
# HTML pieces
# --------------------------------------------------------------------------------------------
def _link(paths: ProjectPaths, rel: str, text: str) -> str:
    """A link relative to ``reports/`` (where index.html lives), or plain text if absent."""
    if (paths.reports / rel).is_file():
        return f'<a href="{html.escape(rel, quote=True)}">{html.escape(text)}</a>'
    return f'<span class="missing">{html.escape(text)} (not built)</span>'


def collapsible(body: str, summary: str, *, open_: bool = False) -> str:
    """``<details>`` around an HTML fragment (collapsible without any script)."""
    return (
        f"<details{' open' if open_ else ''}><summary>{html.escape(summary)}</summary>"
        f"{body}</details>"
    )


def links_html(paths: ProjectPaths, datasets: list[str], models: list[str]) -> str:
    """A table of links to the per-stage reports (faces, embed, sweep), relative to reports/."""
    head = "".join(
        f"<th>embed {html.escape(m)}</th><th>sweep {html.escape(m)}</th>" for m in models
    )
    rows = []
    for d in datasets:
        cells = [_link(paths, f"faces/{d}.html", "faces")]
        for m in models:
            cells.append(_link(paths, f"embed/{d}-{m}.html", f"{d}-{m}"))
            cells.append(_link(paths, f"sweep/{d}-{m}.html", f"{d}-{m}"))
        rows.append(
            f"<tr><th>{html.escape(d)}</th>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"
        )
    return (
        f'<table class="study-table links"><thead><tr><th>dataset</th><th>faces</th>{head}'
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def maps_html(paths: ProjectPaths, datasets: list[str], models: list[str]) -> str:
    """The embed stage's UMAP / t-SNE PNGs, inline, one collapsible block per dataset."""
    blocks = []
    for i, d in enumerate(datasets):
        figs = []
        for m in models:
            for kind in ("umap", "tsne"):
                png = paths.report_dir("embed") / f"{d}-{m}-{kind}.png"
                if png.is_file():
                    figs.append(
                        f'<figure style="display:inline-block;margin:4px">'
                        f"{plots.img_tag(png, alt=f'{kind} {d} {m}', width=420)}"
                        f"<figcaption>{kind.upper()} · {html.escape(d)} × {html.escape(m)}"
                        "</figcaption></figure>"
                    )
        body = "".join(figs) or "<p>No embedding maps (the embed stage made none).</p>"
        blocks.append(
            f"<details{' open' if i == 0 else ''}><summary>{html.escape(d)}</summary>"
            f"{body}</details>"
        )
    return "".join(blocks)


# --------------------------------------------------------------------------------------------
# galleries
# --------------------------------------------------------------------------------------------
def build_galleries(report: StudyReport, params: Params, paths: ProjectPaths) -> None:
    """Recompute the best run of each method on subset 0 and draw its merges and splits."""
    from facecluster.faces.pipeline import load_crops
    from facecluster.sweep import load_embeddings

    rows, faces_per_row = params.report.gallery_rows, params.report.gallery_faces
    cond_tables = []
    pairs = list(report.best.groupby(["dataset", "model"], sort=False))
    for (dataset, model), best in tqdm(pairs, desc="galleries", unit="embedding"):
        try:
            X, labels, ids = load_embeddings(paths.embeddings(dataset, model))
            with np.load(paths.subsets(dataset), allow_pickle=False) as z:
                indices = z["indices"][GALLERY_SUBSET]
            manifest = read_manifest(paths.manifest(dataset))
            crops = load_crops(paths.faces(dataset), "facenet")
        except (OSError, ValueError, KeyError, IndexError) as exc:
            log.warning("no galleries for %s-%s: %s", dataset, model, exc)
            continue
        if ids is None:
            log.warning("no galleries for %s-%s: its embeddings file has no ids", dataset, model)
            continue
        faces = gal.face_table(ids, manifest).iloc[indices].reset_index(drop=True)
        has_conditions = bool(faces["condition"].notna().any())
        y_true = np.asarray(labels).astype(str)[indices]
        res = report.results
        res = res[(res["dataset"] == dataset) & (res["model"] == model)]
        st_ = report.stats
        for rec in best.itertuples():
            grid = (
                st_[
                    (st_["dataset"] == dataset)
                    & (st_["model"] == model)
                    & (st_["method"] == rec.method)
                ]
                .sort_values("order")["params"]
                .tolist()
            )
            hit = res[
                (res["method"] == rec.method)
                & (res["params"] == rec.params)
                & (res["subset"] == GALLERY_SUBSET)
            ]
            if hit.empty:
                continue
            try:
                pred, ari, ok = gal.reproduce_run(
                    X,
                    labels,
                    indices,
                    method=rec.method,
                    params=rec.params,
                    grid=grid,
                    expected_ari=float(hit["ari"].iloc[0]),
                    seed=params.seed,
                    dataset=dataset,
                    model=model,
                    subset=GALLERY_SUBSET,
                )
            except Exception as exc:  # the report says so instead of failing as a whole
                log.exception(
                    "cannot recompute %s-%s %s %s", dataset, model, rec.method, rec.params
                )
                text = (
                    f"{dataset} × {model} × {rec.method} ({rec.setting}): no gallery, "
                    f"recomputing the run failed: {type(exc).__name__}: {exc}"
                )
                report.galleries.append(
                    Gallery(
                        dataset,
                        model,
                        rec.method,
                        rec.setting,
                        math.nan,
                        False,
                        {},
                        f"<p>{html.escape(text)}</p>",
                    )
                )
                continue
            merges = gal.false_merges(y_true, pred, rows)
            splits = gal.false_splits(y_true, pred, rows)
            summary = gal.error_summary(y_true, pred)
            check = (
                ""
                if ok
                else f" — recomputed ARI {ari:.4f} differs from the sweep's "
                f"{float(hit['ari'].iloc[0]):.4f}"
            )
            title = (
                f"{dataset} × {model} × {rec.method} ({rec.setting}): subset "
                f"{GALLERY_SUBSET}, ARI {ari:.3f}; {summary['merged clusters']} mixed "
                f"clusters, {summary['split identities']} split identities{check}"
            )
            block = gal.gallery_html(
                {"false merges": merges, "false splits": splits},
                crops,
                faces,
                pred,
                summary=title,
                faces_per_row=faces_per_row,
            )
            report.galleries.append(
                Gallery(dataset, model, rec.method, rec.setting, ari, ok, summary, block)
            )
            if has_conditions:
                run = {"dataset": dataset, "model": model, "method": rec.method}
                cond_tables.append(
                    gal.split_conditions(faces, pred, y_true=y_true).assign(kind="best", **run)
                )
                cond_tables += _grid_conditions(
                    X, labels, indices, faces, y_true, grid, params, run
                )
    if cond_tables:
        _conditions(report, pd.concat(cond_tables, ignore_index=True))


def _grid_conditions(
    X: np.ndarray,
    labels: np.ndarray,
    indices: np.ndarray,
    faces: pd.DataFrame,
    y_true: np.ndarray,
    grid: list[str],
    params: Params,
    run: dict,
) -> list[pd.DataFrame]:
    """Split-off conditions at every grid point of a method on the gallery subset whose ARI
    is at least :data:`CONDITION_MIN_ARI` (clusterings that are good but not perfect are where
    the hard faces show)."""
    from facecluster.metrics import evaluate

    if len(grid) < 2:
        return []
    try:
        all_labels = gal.grid_labels(
            X,
            labels,
            indices,
            method=run["method"],
            grid=grid,
            seed=params.seed,
            dataset=run["dataset"],
            model=run["model"],
            subset=GALLERY_SUBSET,
        )
    except Exception:  # the best-run gallery already says whether the method runs
        log.exception("cannot recompute the grid of %s", run)
        return []
    out = []
    for point, pred in zip(grid, all_labels, strict=True):
        if evaluate(y_true, pred)["ari"] >= CONDITION_MIN_ARI:
            out.append(
                gal.split_conditions(faces, pred, y_true=y_true).assign(
                    kind="grid", params=point, **run
                )
            )
    return out


def _conditions(report: StudyReport, long: pd.DataFrame) -> None:
    """Condition table (split-off rates) and the generated verdicts, per dataset."""
    notes, frames = [], []
    for dataset, d in long.groupby("dataset", sort=False):
        best = d[d["kind"] == "best"]
        grid = d[d["kind"] == "grid"]
        faces = best.groupby("condition", sort=False)["faces"].first()
        table = pd.DataFrame({"faces (subset 0)": faces})
        for name, part in (("best runs", best), ("grid points", grid)):
            tot = part.groupby("condition").agg(
                faces=("faces", "sum"), split_off=("split_off", "sum")
            )
            table[f"{name}: split off"] = tot["split_off"] / tot["faces"]
            if not part.empty:
                verdict = gal.conditions_verdict(tot.reset_index())
                what = (
                    "the best run of every method and model"
                    if name == "best runs"
                    else f"every grid point with ARI ≥ {CONDITION_MIN_ARI:g} of every method "
                    f"and model ({part.groupby(['model', 'method', 'params']).ngroups} runs)"
                )
                notes.append(f"- **{dataset}**, {what} on subset {GALLERY_SUBSET}: {verdict}")
        per_run = grid.assign(run=grid["model"] + " · " + grid["method"])
        if not per_run.empty:
            rates = per_run.groupby(["condition", "run"]).agg(
                f=("faces", "sum"), s=("split_off", "sum")
            )
            rates = (rates["s"] / rates["f"]).unstack("run")
            table = table.join(rates)
        table = table.sort_values(
            table.columns[2] if len(table.columns) > 2 else table.columns[1], ascending=False
        )
        table.index = pd.MultiIndex.from_product(
            [[dataset], table.index], names=["dataset", "condition"]
        )
        frames.append(table)
    table = pd.concat(frames)
    fmt = {c: "{:.0%}" for c in table.columns}
    fmt["faces (subset 0)"] = "{:.0f}"
    report.conditions = tb.style_table(
        table,
        caption="Share of each condition's faces split off their identity's main "
        "cluster (conditions from the file names, e.g. Yale's glasses / leftlight / "
        f"rightlight): at the best runs, and pooled over the grid points with ARI ≥ "
        f"{CONDITION_MIN_ARI:g} (per model · method on the right)",
    ).format(fmt, na_rep="–")
    report.conditions_note = "\n".join(notes)


# --------------------------------------------------------------------------------------------
# reproduction notes
# --------------------------------------------------------------------------------------------
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
        manifest = read_manifest(paths.manifest(dataset))
    except (OSError, ValueError):
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
    report: StudyReport,
    faces_meta: dict[str, dict],
    embed_meta: dict[str, dict],
) -> str:
    """Why our numbers may differ from the published ones, generated from the data (markdown)."""
    s = params.sweep
    ref_sets = tb.load_reference("castiel_datasets.csv").set_index("dataset")
    lines = ["### Sampling"]
    sizes = []
    for d in params.study.datasets:
        n = faces_meta.get(d, {}).get("faces")
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
    for d in params.study.datasets:
        fm = faces_meta.get(d, {})
        ours = (
            f"{fm.get('faces')} faces of {fm.get('identities')} identities, detector "
            f"`{fm.get('detector')}`"
            if fm and not fm.get("skipped")
            else "skipped (no faces)"
            if fm.get("skipped")
            else "no faces metrics"
        )
        if d in ref_sets.index:
            r = ref_sets.loc[d]
            theirs = (
                f"{int(r['faces'])} faces of {int(r['identities'])} identities, OpenCV "
                "`haarcascade_frontalface_alt2`"
            )
            extra = ""
            if d == "personal":
                spec = params.datasets.get(d)
                src = Path(getattr(spec, "path", "") or "").name or "a folder"
                extra = (
                    f" The report's personal set was private; our `personal` is "
                    f"**{src}** (a different set of people and conditions), so its row is "
                    "not a reproduction."
                )
            extra += _source_size_note(paths, d)
            lines.append(f"- `{d}`: ours {ours}; the report's {theirs}.{extra}")
        else:
            lines.append(f"- `{d}`: ours {ours}; not in the report.{_source_size_note(paths, d)}")
    lines.append("### Embeddings")
    for mname in params.study.models:
        spec = params.models.get(mname)
        dims = {m.get("dim") for k, m in embed_meta.items() if k.endswith(f"-{mname}")}
        dims.discard(None)
        dim = "/".join(str(x) for x in sorted(dims)) or "?"
        if spec is not None and spec.kind == "facenet":
            desc = f"FaceNet Inception-ResNet-v1, `{spec.weights}` weights, {dim}-d"
        elif spec is not None:
            desc = f"LightCNN-{spec.variant}, {dim}-d"
        else:
            desc = f"{dim}-d"
        lines.append(f"- `{mname}`: {desc}, L2-normalised.")
    lines.append(
        "- The report used FaceNet trained on MS-Celeb-1M (128-d, Sandberg's "
        "20170512-110547). Distances between L2-normalised vectors of another network "
        "have another scale, so the best eps / bandwidth can move (below)."
    )
    if not report.verification.empty:
        accs = ", ".join(
            f"`{r['embeddings']}` {r['accuracy %']:.2f}%"
            for _, r in report.verification.iterrows()
        )
        lines.append(f"- LFW 10-fold verification accuracy of our embeddings: {accs}.")
    lines.append("### Where our ARI differs from the published Table I by more than its 2·std")
    for model, long in report.table_one_ari.items():
        comp = long[long["published_mean"].notna()]
        if comp.empty:
            continue
        beyond = comp[comp["beyond"]]
        lines.append(
            f"- `{model}`: {len(beyond)} of {len(comp)} comparable cells "
            f"(mean |Δ| {comp['diff'].abs().mean():.3f})."
        )
        for method in ("dbscan", "meanshift"):
            shifts = _optimum_shift(long, method)
            if shifts:
                lines.append(f"  - best {method} setting, ours vs published: {shifts}.")
    if report.beyond.empty:
        lines.append("- None.")
    else:
        lines.append("\nThe cells are listed in the table below.")
    ro = _rank_order_note(report)
    if ro:
        lines += ["### Rank-order clustering on LFW", ro]
    return "\n".join(lines)


def _optimum_shift(long: pd.DataFrame, method: str) -> str:
    """``lfw: ours eps 0.8 (0.950), published eps 0.7 (0.957)`` for each dataset."""
    parts = []
    sub = long[(long["method"] == method) & long["published_mean"].notna()]
    for dataset, d in sub.groupby("dataset", sort=False):
        o = d.loc[d["mean"].idxmax()]
        p = d.loc[d["published_mean"].idxmax()]
        parts.append(
            f"`{dataset}`: ours {o['ref_param']} {o['ref_value']:g} ({o['mean']:.3f}), "
            f"published {p['ref_param']} {p['ref_value']:g} ({p['published_mean']:.3f})"
        )
    return "; ".join(parts)


def _rank_order_note(report: StudyReport) -> str:
    """Our best rank-order run on LFW beside Otto et al. and Baydur & Erdoğan."""
    best = report.best
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
    size = report.status.set_index(["dataset", "model"])["faces_per_subset"]
    ours = "; ".join(
        f"`{r.model}` pairwise F1 {r.pairwise_f1_mean:.3f} at {r.setting} (subsets of "
        f"{size.get((r.dataset, r.model), float('nan')):.0f} faces)"
        for r in sel.itertuples()
    )
    return (
        f"- Ours (setting with the best mean ARI): {ours}.\n- Published: {theirs}.\n- "
        "Theirs cluster all of LFW (most people there have a single image); ours cluster "
        "80% subsets of the people with at least 3 images, a smaller and easier problem."
    )


# --------------------------------------------------------------------------------------------
# offline HTML
# --------------------------------------------------------------------------------------------


def render_offline_html(notebook: str | Path, out: str | Path | None = None) -> Path:
    """The study report's HTML: :func:`facecluster.report.render.render_html` with its title."""
    from facecluster.report.render import render_html

    out = render_html(notebook, out, title="Face clustering study")
    log.info("wrote %s (%.1f MB)", out, out.stat().st_size / 1e6)
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m facecluster.report.study NOTEBOOK.ipynb [OUT.html]``."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0].startswith("-"):
        sys.stderr.write("usage: python -m facecluster.report.study NOTEBOOK.ipynb [OUT.html]\n")
        return 2
    render_offline_html(*args[:2])
    return 0


if __name__ == "__main__":
    sys.exit(main())
