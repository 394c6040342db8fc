"""Cells of the template notebooks (thin: load config, call the package, show results)."""


def setup(*names: str) -> str:
    """The set-up cell: logging, params, paths; ``names`` from IPython.display."""
    shown = ", ".join(sorted({"Markdown", "display", *names}))
    return f"""\
%matplotlib inline
import logging

from IPython.display import {shown}

from facecluster.config import load_params
from facecluster.log import setup_logging
from facecluster.paths import ProjectPaths

setup_logging(logging.INFO)
paths = ProjectPaths.from_root()  # the folder of dvc.yaml, wherever the kernel starts
params = load_params(paths.resolve(params_path))  # relative: to the project root"""


SETUP = setup()

FACES = [
    ("code", 'dataset = "personal"\nparams_path = "params.yaml"', ["parameters"]),
    ("code", SETUP, []),
    (
        "code",
        """\
from facecluster.report import faces as faces_report
from facecluster.stages import faces as stage

result = stage.run(dataset, params, paths)
summary = result.summary
display(Markdown(f"# Faces: `{dataset}`"))
display(Markdown(f"Dataset settings: `{params.dataset(dataset).model_dump()}`"))""",
        [],
    ),
    (
        "code",
        """\
if result.skipped:
    display(Markdown(f"**Dataset `{dataset}` was skipped: {result.skip_reason}.** "
                     "Nothing from it enters the embeddings, the sweep or the study report."))
display(faces_report.overview_table(summary))""",
        [],
    ),
    (
        "code",
        """\
manifest = stage.read_manifest(paths, dataset)
if not result.skipped:
    display(Markdown("## Failures by reason"))
    display(faces_report.failure_reasons(manifest))
    display(Markdown("## Files without a face crop (first 50)"))
    display(faces_report.failures_table(manifest))""",
        [],
    ),
    (
        "code",
        """\
if not result.skipped:
    display(Markdown("## Faces per identity"))
    display(faces_report.identity_histogram(manifest))
    display(Markdown("## Sample crops (FaceNet input)"))
    display(faces_report.sample_grid(stage.read_crops(paths, dataset, "facenet"), manifest,
                                     params.crops.sample_grid, seed=params.seed))""",
        [],
    ),
]

EMBED = [
    ("code", 'dataset = "lfw"\nmodel = "facenet"\nparams_path = "params.yaml"', ["parameters"]),
    ("code", SETUP, []),
    (
        "code",
        """\
from facecluster.report import projection
from facecluster.stages import embed as stage

info = stage.run(dataset, model, params, paths)
display(Markdown(f"# Embeddings: `{dataset}` × `{model}`"))
display(Markdown(f"Model settings: `{params.model(model).model_dump()}`"))
if info["skip_reason"] is not None:
    display(Markdown(f"**Dataset `{dataset}` was skipped by the faces stage: {info['skip_reason']}.**"))
else:
    display(Markdown(
        f"{info['study_faces']} faces of {info['identities']} identities in the clustering set "
        f"({info['faces']} embedded in all), {info['dim']}-d, L2-normalised; "
        f"{info['images_per_second']} images/s on `{info['device']}`; "
        f"weights sha256 `{info['weights_sha256']}`."))""",
        [],
    ),
    (
        "code",
        """\
if "verification" in info:
    v = info["verification"]
    display(Markdown("## LFW verification (10 folds of pairs.txt, threshold chosen on 9 folds)"))
    display(Markdown(
        f"**Accuracy {100 * v['accuracy']:.2f}% ± {100 * v['accuracy_std']:.2f}** "
        f"over {v['pairs_scored']} of {v['pairs']} pairs "
        f"({v['pairs_missing_face']} pairs had an image without a detected face; "
        f"counting them as errors: {100 * v['accuracy_all_pairs']:.2f}%)."))""",
        [],
    ),
    (
        "code",
        """\
if info["skip_reason"] is None:
    z = stage.read_embeddings(paths.embeddings(dataset, model))
    x, labels = z.X, z.labels
    same, diff = projection.pair_distance_samples(x, labels, n_pairs=20000, seed=params.seed)
    ths = info.get("verification", {}).get("thresholds") or []
    threshold = sum(ths) / len(ths) if ths else None  # mean of the 10 fold thresholds
    display(Markdown("## Distances: same vs different identity"))
    display(projection.distance_histogram(same, diff, title=f"{dataset} × {model}", threshold=threshold))""",
        [],
    ),
]

SWEEP = [
    ("code", 'dataset = "lfw"\nmodel = "facenet"\nparams_path = "params.yaml"', ["parameters"]),
    ("code", SETUP, []),
    (
        "code",
        """\
from facecluster.report import sweep as sweep_report
from facecluster.stages import sweep as stage

results = stage.run(dataset, model, params, paths)
display(Markdown(f"# Clustering sweep: `{dataset}` × `{model}`"))
s = params.sweep
display(Markdown(
    f"Protocol: {s.n_subsets} random subsets of {s.fraction:.0%} of the faces, drawn "
    f"{'with' if s.replace else 'without'} replacement (seed {params.seed}); "
    "K-based methods get the true number of identities of each subset."))""",
        [],
    ),
    (
        "code",
        """\
if results.skipped:
    display(Markdown(f"**Dataset `{dataset}` was skipped: {results.skip_reason}; nothing to cluster.**"))
else:
    display(Markdown("## Best parameter of each method (mean ± 2σ over the subsets)"))
    display(sweep_report.best_table(results.table))""",
        [],
    ),
    (
        "code",
        """\
if not results.skipped:
    display(Markdown("## Scores against the parameter (mean ± 2σ over the subsets)"))
    for figure in sweep_report.curve_figures(results.table, title=f"{dataset} × {model}"):
        display(figure)""",
        [],
    ),
]

REPORT = [
    ("code", 'params_path = "params.yaml"', ["parameters"]),
    ("code", setup("HTML"), []),
    (
        "code",
        """\
from facecluster.report.findings import findings_markdown, heading, toc
from facecluster.report.inline import figure_html
from facecluster.stages import report as stage

report = stage.run(params, paths)
display(Markdown("# Face clustering study"))
display(Markdown(
    "Which method clusters faces best, on which kind of data, with which embedding; how "
    "sensitive it is to its parameter, how fast it is, and how our numbers compare with the "
    "published ones (R. Castiel, *FaceNet Clustering Analysis*, 2018)."))
display(Markdown(toc()))
if report.findings:
    display(Markdown(findings_markdown(report.findings)))
display(Markdown(report.overview.protocol))
if report.overview.status_note:
    display(Markdown(report.overview.status_note))
display(Markdown("Per-stage reports (faces found, embeddings, sweep of each dataset × model):"))
display(HTML(report.overview.links_html))""",
        [],
    ),
    (
        "code",
        """\
display(Markdown(heading("headline", report.leads)))
if report.empty:
    display(Markdown("**No results: every dataset was skipped or its sweep has not run.**"))
else:
    for table in report.headline.tables:  # one per dataset
        display(table)
    if report.headline.note:
        display(Markdown(report.headline.note))
    display(Markdown(report.headline.metric_note))
    for table in report.headline.best_settings:  # one per dataset
        display(table)
    if report.headline.blind is not None:
        display(Markdown("### Without labels: what a user who cannot tune against identities gets"))
        display(Markdown(report.headline.advice))
        display(report.headline.blind)
    display(Markdown(f"`dvc metrics show` prints these numbers (`reports/{report.metrics_path.name}`)."))""",
        [],
    ),
    (
        "code",
        """\
display(Markdown(heading("table-one", report.leads)))
display(Markdown(
    "The Castiel report's Table I beside ours (ARI), then the scores it did not publish "
    "(click a line to open or close a table). "
    "K-based methods were given the true K (`K=true`). The report's *personal* set was private: "
    "our `personal` row is another set of faces (see the notes at the end). Here every model "
    "runs on the study's own crops (MTCNN) and subsets (without replacement); the report's "
    "setup end to end (its model on its Haar crops, subsets drawn with replacement), with a "
    "test per cell and the cost of each difference, is the "
    "reproduction report (`reports/reproduction/index.html`, stage `reproduction`)."))
for model, blocks in report.table_one.html.items():
    display(Markdown(f"### {model}"))
    for block in blocks:
        display(HTML(block))""",
        [],
    ),
    (
        "code",
        """\
display(Markdown(heading("curves", report.leads)))
for title, figure in report.curves.figures:
    display(HTML(figure_html(figure, alt=title)))
if report.plot_files:
    display(Markdown(
        f"DVC plot data (`dvc plots show`): {len(report.plot_files)} files "
        "`reports/plots/<model>-<method>[-k<k>]-<dataset>.csv`, columns `param`, `ari`, "
        "`pairwise_f1` and their ±2σ bounds (`_lo`, `_hi`)."))""",
        [],
    ),
    (
        "code",
        """\
display(Markdown(heading("clusters", report.leads)))
if report.clusters_runtime.table is not None:
    display(report.clusters_runtime.table)
    display(HTML(figure_html(report.clusters_runtime.figure, alt="runtime per fit")))""",
        [],
    ),
    (
        "code",
        """\
display(Markdown(heading("maps", report.leads)))
if not report.maps.verification.empty:
    display(Markdown("LFW 10-fold verification accuracy of the embeddings:"))
    display(report.maps.verification)
display(HTML(report.maps.html))""",
        [],
    ),
    (
        "code",
        """\
display(Markdown(heading("galleries", report.leads)))
display(Markdown(
    "Best setting of each method, recomputed on subset 0 with the sweep's seeds. A *merge* is "
    "a cluster holding several people (captions: identity); a *split* is one person spread over "
    "clusters (captions: cluster, and the condition in the file name where there is one). "
    "Click a line to open its gallery."))
for gallery in report.galleries.galleries:
    display(HTML(gallery.html))
if report.galleries.note:
    display(Markdown(report.galleries.note))
if report.galleries.conditions is not None:
    display(Markdown("### Which conditions are split off?"))
    display(report.galleries.conditions)
    display(Markdown(report.galleries.conditions_note))
    if report.galleries.conditions_by_run is not None:
        display(report.galleries.conditions_by_run)""",
        [],
    ),
    (
        "code",
        """\
display(Markdown(heading("statistics", report.leads)))
display(Markdown("### Paired comparison of the best two methods"))
if report.statistics.paired is not None:
    display(report.statistics.paired)
display(Markdown(
    "### Parameter transfer: is the best eps / bandwidth the same for every dataset?"))
for _title, table in report.statistics.transfer:
    display(table)
if report.statistics.transfer_note:
    display(Markdown(report.statistics.transfer_note))
if report.statistics.selection is not None:
    display(Markdown("### Chosen on half the subsets, scored on the other half"))
    display(report.statistics.selection)""",
        [],
    ),
    (
        "code",
        """\
display(Markdown(heading("otto", report.leads)))
if not report.otto.results:
    display(Markdown(
        f"The otto stage has not run for {', '.join(report.otto.missing)} (`dvc repro otto`)."
        if report.otto.dataset else "No protocol: `otto.dataset` is null in params.yaml."))
else:
    display(Markdown(report.otto.facts))
    display(report.otto.published)
    display(Markdown("Every method at its best setting (pairwise F1: mean over the orders, their range in brackets):"))
    display(report.otto.best)
    for title, figure in report.otto.figures:
        display(HTML(figure_html(figure, alt=title)))
    display(HTML(figure_html(report.otto.k_figure, alt="best F1 and neighbour lists against k")))
    for text in (report.otto.explanation, report.otto.orders):
        if text:
            display(Markdown(text))
    display(Markdown("`dvc metrics show` lists `reports/otto/<model>.json`: the best setting per model and reading."))""",
        [],
    ),
    (
        "code",
        """\
display(Markdown(heading("scale", report.leads)))
if not report.scale.results:
    display(Markdown(
        f"The scale stage has not run for {', '.join(report.scale.missing)} (`dvc repro scale`)."
        if report.scale.missing else "No scale study: `scale.models` is empty in params.yaml."))
else:
    display(Markdown(report.scale.facts))
    display(report.scale.table)
    display(HTML(figure_html(report.scale.f1_figure, alt="pairwise F1 against the number of faces")))
    for title, figure in report.scale.cost_figures:
        display(HTML(figure_html(figure, alt=title)))
    display(Markdown(report.scale.check))
    for title, figure in report.scale.check_figures:
        display(HTML(figure_html(figure, alt=title)))
    display(Markdown(report.scale.estimate_text))
    display(report.scale.estimate)
    display(Markdown("`dvc metrics show` lists `reports/scale/<model>.json` (F1 and recall per N) and `reports/scale/<model>.run.json` (seconds and peak memory per N)."))""",
        [],
    ),
    (
        "code",
        """\
display(Markdown(heading("notes", report.leads)))
display(Markdown(report.notes))
if report.table_one.beyond_table is not None:
    display(report.table_one.beyond_table)""",
        [],
    ),
]

REPRODUCTION = [
    ("code", 'params_path = "params.yaml"', ["parameters"]),
    ("code", SETUP, []),
    (
        "code",
        """\
from facecluster.report import reproduction_view as view
from facecluster.stages import reproduction as stage

r = stage.run(params, paths)
display(Markdown("# Table I reproduced, and what each difference costs"))
display(Markdown(view.introduction(params, r)))
display(view.sweeps_table(r))
if not r.extraction.empty:
    display(Markdown("### Faces found: the report's extraction here"))
    display(view.extraction_table(r))
    display(Markdown(view.extraction_note(r)))""",
        [],
    ),
    (
        "code",
        """\
display(Markdown("## 1. Table I with the report's setup: ours beside the report's 30 runs"))
display(Markdown(view.table_note(r)))
for column in view.columns(r):
    display(Markdown(f"### {column}"))
    display(view.reproduced_display(r, column))""",
        [],
    ),
    (
        "code",
        """\
display(Markdown("## 2. Deviation account: one factor at a time, from the report's setup"))
display(Markdown(view.effects_note(r)))
for column in view.effect_columns(r):
    display(Markdown(f"### {column}"))
    display(view.effects_display(r, column))""",
        [],
    ),
    (
        "code",
        """\
display(Markdown("## 3. The report's claims, tested"))
display(Markdown(view.claims_markdown(r)))
if not r.conditions.empty:
    display(view.conditions_display(r))""",
        [],
    ),
]

NOTEBOOKS = {
    "10-faces.ipynb": FACES,
    "20-embed.ipynb": EMBED,
    "30-sweep.ipynb": SWEEP,
    "40-report.ipynb": REPORT,
    "50-reproduction.ipynb": REPRODUCTION,
}
