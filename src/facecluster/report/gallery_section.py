"""Section 6 of the study report: error galleries of the best runs, and split-off conditions.

The results tables hold scores, not labels: the best run of each method is recomputed on
subset :data:`GALLERY_SUBSET` with the sweep's seeds (:mod:`facecluster.report.galleries`),
from the embeddings, subsets, manifest and crops read through their stages' readers
(:mod:`facecluster.stages.embed`, :mod:`~facecluster.stages.subsets`,
:mod:`~facecluster.stages.faces`).  A dataset of precomputed vectors (``kind: embeddings``)
has no faces stage, hence no crops to show: it gets no gallery, and the section's ``note``
says so.
"""

from __future__ import annotations

import html
import logging
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pandas.io.formats.style import Styler
from tqdm.auto import tqdm

from facecluster.config import Params
from facecluster.errors import UserError
from facecluster.paths import ProjectPaths
from facecluster.report import galleries as gal
from facecluster.report import tables as tb
from facecluster.stages import embed as embed_stage
from facecluster.stages import faces as faces_stage
from facecluster.stages import subsets as subsets_stage

log = logging.getLogger(__name__)

GALLERY_SUBSET = 0
#: Grid points pooled in the conditions table: good clusterings that may still split faces.
CONDITION_MIN_ARI = 0.5


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class GallerySection:
    """Section 6: one gallery per best run; the conditions table and its verdicts.

    ``note`` (markdown) names the datasets without galleries and why (precomputed vectors:
    no face crops); empty when every dataset with results has its galleries.
    """

    galleries: tuple[Gallery, ...] = ()
    conditions: Styler | None = None
    conditions_note: str = ""
    note: str = ""
    conditions_by_run: Styler | None = None


@dataclass(frozen=True)
class _Inputs:
    """What one (dataset, model) gallery needs, read through the stage readers."""

    X: np.ndarray
    labels: np.ndarray
    indices: np.ndarray
    faces: pd.DataFrame
    crops: np.ndarray
    y_true: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "y_true", np.asarray(self.labels).astype(str)[self.indices])


def _read_inputs(paths: ProjectPaths, dataset: str, model: str) -> _Inputs | None:
    try:
        emb = embed_stage.read_embeddings(paths.embeddings(dataset, model))
        subsets = subsets_stage.read_subsets(paths.subsets(dataset), n=emb.X.shape[0])
        manifest = faces_stage.read_manifest(paths, dataset)
        crops = faces_stage.read_crops(paths, dataset, "facenet")
        if emb.skipped or subsets.skipped:
            raise ValueError(f"skipped: {emb.skip_reason or subsets.skip_reason}")
        if emb.ids is None:
            raise ValueError("its embeddings file has no ids")
        indices = subsets.indices[GALLERY_SUBSET]
        faces = gal.face_table(emb.ids, manifest).iloc[indices].reset_index(drop=True)
    except (OSError, ValueError, KeyError, IndexError, UserError) as exc:
        log.warning("no galleries for %s-%s: %s", dataset, model, exc)
        return None
    return _Inputs(emb.X, emb.labels, indices, faces, crops)


def galleries_section(
    params: Params,
    paths: ProjectPaths,
    results: pd.DataFrame,
    stats: pd.DataFrame,
    best: pd.DataFrame,
) -> GallerySection:
    """Recompute the best run of each method on subset 0 and draw its merges and splits.

    Parameters
    ----------
    params : Params
        ``seed`` (the sweep's seeds) and ``report.gallery_rows`` / ``gallery_faces``.
    paths : ProjectPaths
        Where the embeddings, subsets and faces stages wrote their outputs.
    results, stats, best : DataFrame
        The sweep's rows, :func:`facecluster.report.tables.grid_stats` and
        :func:`~facecluster.report.tables.best_configs`.
    """
    galleries: list[Gallery] = []
    cond_tables: list[pd.DataFrame] = []
    pairs = list(best.groupby(["dataset", "model"], sort=False))
    no_crops = list(
        dict.fromkeys(
            d
            for (d, _), _rows in pairs
            if getattr(params.datasets.get(d), "kind", "") == "embeddings"
        )
    )
    note = (
        "No galleries for "
        + ", ".join(f"`{d}`" for d in no_crops)
        + ": precomputed vectors, without face crops to show."
        if no_crops
        else ""
    )
    for (dataset, model), best_rows in tqdm(pairs, desc="galleries", unit="embedding"):
        if dataset in no_crops:
            log.info("no galleries for %s-%s: precomputed vectors, no crops", dataset, model)
            continue
        inp = _read_inputs(paths, dataset, model)
        if inp is None:
            continue
        res = results[(results["dataset"] == dataset) & (results["model"] == model)]
        st_ = stats[(stats["dataset"] == dataset) & (stats["model"] == model)]
        for rec in best_rows.itertuples():
            grid = st_[st_["method"] == rec.method].sort_values("order")["params"].tolist()
            hit = res[
                (res["method"] == rec.method)
                & (res["params"] == rec.params)
                & (res["subset"] == GALLERY_SUBSET)
            ]
            if hit.empty:
                continue
            gallery, pred = _gallery(params, inp, dataset, model, rec, grid, hit)
            galleries.append(gallery)
            if pred is not None and bool(inp.faces["condition"].notna().any()):
                run = {"dataset": dataset, "model": model, "method": rec.method}
                cond_tables.append(
                    split_conditions(inp.faces, pred, y_true=inp.y_true).assign(kind="best", **run)
                )
                cond_tables += _grid_conditions(inp, grid, params, run)
    if not cond_tables:
        return GallerySection(tuple(galleries), note=note)
    conditions, verdicts, by_run = conditions_table(pd.concat(cond_tables, ignore_index=True))
    return GallerySection(tuple(galleries), conditions, verdicts, note, by_run)


def _gallery(
    params: Params,
    inp: _Inputs,
    dataset: str,
    model: str,
    rec,
    grid: list[str],
    hit: pd.DataFrame,
) -> tuple[Gallery, np.ndarray | None]:
    """The gallery of one best run and its recomputed labels (None when that failed)."""
    expected = float(hit["ari"].iloc[0])
    try:
        pred, ari, ok = gal.reproduce_run(
            inp.X,
            inp.labels,
            inp.indices,
            method=rec.method,
            params=rec.params,
            grid=grid,
            expected_ari=expected,
            seed=params.seed,
            dataset=dataset,
            model=model,
            subset=GALLERY_SUBSET,
        )
    except Exception as exc:  # the report says so instead of failing as a whole
        log.exception("cannot recompute %s-%s %s %s", dataset, model, rec.method, rec.params)
        text = (
            f"{dataset} × {model} × {rec.method} ({rec.setting}): no gallery, "
            f"recomputing the run failed: {type(exc).__name__}: {exc}"
        )
        block = f"<p>{html.escape(text)}</p>"
        return Gallery(dataset, model, rec.method, rec.setting, math.nan, False, {}, block), None
    rows = params.report.gallery_rows
    merges = gal.false_merges(inp.y_true, pred, rows)
    splits = gal.false_splits(inp.y_true, pred, rows)
    summary = gal.error_summary(inp.y_true, pred)
    check = "" if ok else f" — recomputed ARI {ari:.4f} differs from the sweep's {expected:.4f}"
    title = (
        f"{dataset} × {model} × {rec.method} ({rec.setting}): subset "
        f"{GALLERY_SUBSET}, ARI {ari:.3f}; {summary['merged clusters']} mixed "
        f"clusters, {summary['split identities']} split identities{check}"
    )
    block = gal.gallery_html(
        {"false merges": merges, "false splits": splits},
        inp.crops,
        inp.faces,
        pred,
        summary=title,
        faces_per_row=params.report.gallery_faces,
    )
    return Gallery(dataset, model, rec.method, rec.setting, ari, ok, summary, block), pred


def _grid_conditions(
    inp: _Inputs, grid: list[str], params: Params, run: dict
) -> list[pd.DataFrame]:
    """Split-off conditions at every grid point of a method on the gallery subset whose ARI
    is at least :data:`CONDITION_MIN_ARI` (clusterings that are good but not perfect are where
    the hard faces show)."""
    from facecluster.metrics import evaluate

    if len(grid) < 2:
        return []
    try:
        all_labels = gal.grid_labels(
            inp.X,
            inp.labels,
            inp.indices,
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
        if evaluate(inp.y_true, pred)["ari"] >= CONDITION_MIN_ARI:
            out.append(
                split_conditions(inp.faces, pred, y_true=inp.y_true).assign(
                    kind="grid", params=point, **run
                )
            )
    return out


def conditions_table(long: pd.DataFrame) -> tuple[Styler, str, Styler | None]:
    """Condition table (split-off rates), the generated verdicts (markdown), per dataset, and
    the rates per model · method (rows) and condition (columns): one column per run would
    not fit a screen."""
    notes, frames, per_runs = [], [], []
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
                verdict = conditions_verdict(tot.reset_index())
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
            rates = (rates["s"] / rates["f"]).unstack("condition")
            rates.index = pd.MultiIndex.from_product(
                [[dataset], rates.index], names=["dataset", "model · method"]
            )
            per_runs.append(rates)
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
    styled = tb.style_table(
        table,
        caption="Share of each condition's faces split off their identity's main "
        "cluster (conditions from the file names, e.g. Yale's glasses / leftlight / "
        f"rightlight): at the best runs, and pooled over the grid points with ARI ≥ "
        f"{CONDITION_MIN_ARI:g} (per model · method in the next table)",
    ).format(fmt, na_rep="–")
    by_run = None
    if per_runs:
        runs = pd.concat(per_runs)
        by_run = tb.style_table(
            runs,
            caption="Share of each condition's faces split off, per model · method (its grid "
            f"points with ARI ≥ {CONDITION_MIN_ARI:g} pooled)",
        ).format("{:.0%}", na_rep="–")
    return styled, "\n".join(notes), by_run


# --------------------------------------------------------------------------------------------
# conditions of split-off faces (Yale)
# --------------------------------------------------------------------------------------------
def split_conditions(
    faces: pd.DataFrame, y_pred: np.ndarray, *, y_true: np.ndarray | None = None
) -> pd.DataFrame:
    """Per condition: faces in the subset, faces split off their identity's largest cluster.

    Parameters
    ----------
    faces : DataFrame
        :func:`facecluster.report.galleries.face_table` of the subset's rows (needs ``identity`` and ``condition``).
    y_pred : ndarray
        Predicted labels of the subset.
    y_true : ndarray, optional
        Identities (default ``faces["identity"]``).

    Returns
    -------
    DataFrame
        ``condition, faces, split_off, rate`` (split_off / faces), sorted by rate; empty when
        the file names carry no conditions.
    """
    cond = faces["condition"]
    if cond.isna().all():
        return pd.DataFrame(columns=["condition", "faces", "split_off", "rate"])
    y_true = faces["identity"].to_numpy() if y_true is None else np.asarray(y_true)
    off = np.zeros(len(faces), dtype=bool)
    for g in gal.false_splits(y_true, y_pred):
        off[g.split_off] = True
    df = pd.DataFrame({"condition": cond.fillna("(none)").to_numpy(), "off": off})
    out = (
        df.groupby("condition").agg(faces=("off", "size"), split_off=("off", "sum")).reset_index()
    )
    out["rate"] = out["split_off"] / out["faces"]
    return out.sort_values(["rate", "faces"], ascending=[False, False]).reset_index(drop=True)


def conditions_verdict(table: pd.DataFrame, *, factor: float = 2.0, min_faces: int = 2) -> str:
    """One generated sentence: which conditions are over-represented among split-off faces.

    ``table`` has ``condition, faces, split_off`` (summed over the runs considered).  A
    condition "drives" splits when its split-off rate is at least ``factor`` times the overall
    rate and it accounts for at least ``min_faces`` split-off faces.
    """
    total_faces = int(table["faces"].sum())
    total_off = int(table["split_off"].sum())
    if total_faces == 0:
        return "No faces with conditions."
    if total_off == 0:
        return "No face was split off its identity's main cluster: no condition drives splits."
    base = total_off / total_faces
    rate = table["split_off"] / table["faces"]
    hot = table[(rate >= factor * base) & (table["split_off"] >= min_faces)]
    share = {r.condition: r.split_off / total_off for r in hot.itertuples()}
    head = (
        f"{total_off} of {total_faces} face placements ({base:.1%}) were split off their "
        "identity's main cluster"
    )
    if hot.empty:
        return (
            head + f"; no condition is over-represented (none has ≥ {factor:g}× the overall "
            "split-off rate), so splits are not driven by a particular condition."
        )
    parts = [
        f"`{c}` ({rate[i]:.0%} of its faces, {share[c]:.0%} of all split-offs)"
        for i, c in zip(hot.index, hot["condition"], strict=True)
    ]
    return (
        head
        + "; over-represented (≥ "
        + f"{factor:g}× the overall rate): "
        + "; ".join(parts)
        + "."
    )
