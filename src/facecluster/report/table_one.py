"""Table I of the Castiel report regenerated: every method × grid point beside the published ARI.

Long tables (one row per method, setting and dataset) from the grid statistics
(:func:`facecluster.report.tables.grid_stats`) and the package's reference data
(``facecluster/reference/castiel_table1.csv``, ``castiel_settings.csv``); the ``*_display``
functions make the wide tables of the HTML.

Each study dataset is compared with the Table I column ``params.table_one_column(dataset)``
names (``columns``): its own name for ``personal`` / ``lfw`` / ``muct``, or the dataset's
``table_one:`` key, so a dataset of published MUCT embeddings (``muct-published``) sits beside
Table I's MUCT values.  :func:`comparison_note` says in words what such a comparison is.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from facecluster.cluster.registry import ALGORITHMS
from facecluster.report.tables import (
    METHOD_ORDER,
    SCORE_NAMES,
    load_reference,
    mean_pm,
    ordered,
)

BEYOND_CSS = "background-color: #fde2cf"
#: The checkpoint of the Castiel report's Keras FaceNet (nyoki-mtl's ``facenet_keras.h5`` was
#: converted from Sandberg's 20170512-110547: Inception-ResNet-v1, MS-Celeb-1M, 128-d).
REPORT_CHECKPOINT = "20170512-110547"


def reference_settings() -> dict[str, dict[str, float]]:
    ref = load_reference("castiel_settings.csv")
    out: dict[str, dict[str, float]] = {}
    for rec in ref.itertuples():
        out.setdefault(rec.method, {})[rec.parameter] = float(rec.value)
    return out


def reference_value(value: Any) -> str | float:
    """A Table I value as a lookup key: ``"true"`` or the number rounded to 6 decimals."""
    text = str(value).strip().lower()
    return text if text == "true" else round(float(value), 6)


def reference_key(
    method: str, params: Mapping[str, Any] | str, settings: Mapping[str, Mapping[str, float]]
) -> tuple[str, str | float] | None:
    """The ``(parameter, value)`` of Castiel's Table I comparable with a grid point, or None.

    K-based methods map to ``("n_clusters", "true")``; a method with one grid axis maps to
    that parameter and its value (rounded to 6 decimals).  A point whose fixed parameters
    differ from the report's settings (``castiel_settings.csv``) has no match.
    """
    if isinstance(params, str):
        params = json.loads(params)
    spec = ALGORITHMS.get(method)
    if spec is None:
        return None
    for name, value in settings.get(method, {}).items():
        if name in params and not math.isclose(float(params[name]), value):
            return None
    if spec.needs_k:
        return ("n_clusters", "true")
    axes = [a for a in spec.grid.axis_names() if a in params]
    if len(axes) != 1:
        return None
    return (axes[0], reference_value(params[axes[0]]))


def table_one(
    stats: pd.DataFrame,
    reference: pd.DataFrame,
    *,
    model: str,
    score: str = "ari",
    columns: Mapping[str, str | None] | None = None,
    mismatch: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Every method × grid point × dataset of one model beside Castiel's published value.

    Parameters
    ----------
    stats : DataFrame
        :func:`facecluster.report.tables.grid_stats`.
    reference : DataFrame
        ``castiel_table1.csv`` (:func:`facecluster.report.tables.load_reference`).
    model, score : str
        The model's rows, the score compared (the report published ARI only).
    columns : mapping, optional
        ``{dataset: Table I column}`` (``params.table_one_column``; None or absent: no
        published value).  Default: each dataset is compared with the column of its name.
    mismatch : mapping, optional
        ``{dataset: reason}`` of the datasets whose comparison with this model is not like
        for like (``params.table_one_mismatch``, low-resolution input): their published values
        are shown, but ``comparable`` is False and ``beyond`` never True.

    Returns
    -------
    DataFrame
        One row per (method, setting, dataset): ``table_one`` (the Table I column compared
        with), ``ref_param``, ``ref_value`` (the Table I key
        the point maps to, None when none), ``mean``, ``two_std`` (ours over the subsets),
        ``published_mean``, ``published_2std`` (NaN where the report has no such cell — it
        published ARI only), ``diff`` (ours − published), ``comparable`` (a published value
        and a like-for-like setup) and ``beyond`` (comparable and ``|diff|`` larger than the
        published 2·std).
    """
    cols = [
        "method",
        "setting",
        "order",
        "dataset",
        "table_one",
        "ref_param",
        "ref_value",
        "mean",
        "two_std",
        "published_mean",
        "published_2std",
        "diff",
        "comparable",
        "beyond",
    ]
    mismatch = dict(mismatch or {})
    if stats.empty:
        return pd.DataFrame(columns=cols)
    sub = stats[stats["model"] == model]
    settings = reference_settings()
    ref = {}
    if score == "ari":
        ref = {
            (r.method, r.parameter, reference_value(r.value), r.dataset): (r.ari_mean, r.ari_2std)
            for r in reference.itertuples()
        }
    rows = []
    for rec in sub.itertuples():
        column = columns.get(rec.dataset) if columns is not None else rec.dataset
        key = reference_key(rec.method, rec.params, settings)
        pub = ref.get((rec.method, *key, column)) if key and column else None
        mean, two_std = getattr(rec, f"{score}_mean"), getattr(rec, f"{score}_2std")
        pm, ps = pub if pub else (np.nan, np.nan)
        diff = mean - pm
        comparable = pub is not None and rec.dataset not in mismatch
        rows.append(
            {
                "method": rec.method,
                "setting": rec.setting,
                "order": rec.order,
                "dataset": rec.dataset,
                "table_one": column,
                "ref_param": key[0] if key else None,
                "ref_value": key[1] if key else None,
                "mean": mean,
                "two_std": two_std,
                "published_mean": pm,
                "published_2std": ps,
                "diff": diff,
                "comparable": comparable,
                "beyond": bool(comparable and abs(diff) > ps),
            }
        )
    return pd.DataFrame(rows, columns=cols)


def table_one_display(
    long: pd.DataFrame, datasets: Sequence[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Wide Table I: rows (method, setting); per dataset ``ours``, ``published``, ``Δ``.

    Returns the table of strings and a same-shaped table of CSS (cells beyond the published
    2·std shaded, like-for-like cells only; the Δ of the others in brackets).  The published and Δ columns are left out when no cell has a published value.
    The columns are keyed by dataset; :func:`column_labels` gives the headers of the datasets
    compared with a Table I column of another name.
    """
    if long.empty:
        return pd.DataFrame(), pd.DataFrame()
    with_ref = long["published_mean"].notna().any()
    datasets = ordered(long["dataset"], datasets)
    sub_cols = ("ours", "published", "Δ") if with_ref else ("ours",)
    cols = pd.MultiIndex.from_tuples(
        [(d, c) for d in datasets for c in sub_cols], names=["dataset", ""]
    )
    keys = (
        long[["method", "setting", "order"]]
        .drop_duplicates(["method", "setting"])
        .assign(m=lambda x: x["method"].map({m: i for i, m in enumerate(METHOD_ORDER)}).fillna(99))
        .sort_values(["m", "order"])
    )
    index = pd.MultiIndex.from_frame(keys[["method", "setting"]])
    table = pd.DataFrame("", index=index, columns=cols)
    css = pd.DataFrame("", index=index, columns=cols)
    for rec in long.itertuples():
        row = (rec.method, rec.setting)
        table.loc[row, (rec.dataset, "ours")] = mean_pm(rec.mean, rec.two_std)
        if with_ref and not np.isnan(rec.published_mean):
            table.loc[row, (rec.dataset, "published")] = mean_pm(
                rec.published_mean, rec.published_2std
            )
            table.loc[row, (rec.dataset, "Δ")] = (
                f"{rec.diff:+.3f}" if rec.comparable else f"({rec.diff:+.3f})"
            )
            if rec.beyond:
                css.loc[row, (rec.dataset, "Δ")] = BEYOND_CSS
    return table, css


def column_labels(columns: Mapping[str, str | None], datasets: Sequence[str]) -> dict[str, str]:
    """Headers of the datasets compared with a Table I column of another name:
    ``{"muct-published": "muct-published (vs Table I muct)"}``."""
    return {
        d: f"{d} (vs Table I {col})"
        for d in datasets
        if (col := columns.get(d)) is not None and col != d
    }


def comparison_note(
    dataset: str,
    column: str | None,
    *,
    model: str,
    description: str,
    kind: str = "published embeddings",
) -> str:
    """One sentence on what the Table I comparison of a feature dataset is.

    ``description`` is the features stage's own (its metrics' ``description``); the sentence
    says whether the vectors come from the report's checkpoint family
    (:data:`REPORT_CHECKPOINT`, recognised in the description or the model name).
    """
    family = REPORT_CHECKPOINT.split("-")[0]
    same = family in description or family in model
    against = f"beside Table I's {column} column" if column else "with no Table I column"
    text = f"{dataset} × {model} ({against}): {kind}, {description.rstrip('.')}"
    if same:
        text += (
            f"; the same checkpoint family (Sandberg {REPORT_CHECKPOINT}) as the report's "
            "Keras model, on other crops (the report's: OpenCV Haar cascade)"
        )
    else:
        text += f"; not the report's checkpoint (Sandberg {REPORT_CHECKPOINT})"
    return text + "."


def scores_display(
    stats: pd.DataFrame,
    *,
    model: str,
    datasets: Sequence[str],
    scores: Sequence[str] = ("pairwise_f1", "bcubed_f1", "nmi"),
) -> pd.DataFrame:
    """Table I layout for the scores the Castiel report did not publish, side by side.

    Rows (method, setting) in registry and grid order; columns (dataset, score name) holding
    ``mean ± 2σ`` over the subsets.
    """
    sub = stats[stats["model"] == model] if not stats.empty else stats
    if sub.empty:
        return pd.DataFrame()
    datasets = ordered(sub["dataset"], datasets)
    keys = (
        sub[["method", "setting", "order"]]
        .drop_duplicates(["method", "setting"])
        .assign(m=lambda x: x["method"].map({m: i for i, m in enumerate(METHOD_ORDER)}).fillna(99))
        .sort_values(["m", "order"])
    )
    index = pd.MultiIndex.from_frame(keys[["method", "setting"]])
    cols = pd.MultiIndex.from_tuples(
        [(d, SCORE_NAMES[s]) for d in datasets for s in scores], names=["dataset", ""]
    )
    table = pd.DataFrame("", index=index, columns=cols)
    for rec in sub.itertuples():
        for s in scores:
            table.loc[(rec.method, rec.setting), (rec.dataset, SCORE_NAMES[s])] = mean_pm(
                getattr(rec, f"{s}_mean"), getattr(rec, f"{s}_2std")
            )
    return table


def beyond_published(long_tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Cells (of every model's ARI Table I) where ours differs by more than the published 2·std."""
    frames = [t.assign(model=m) for m, t in long_tables.items() if not t.empty]
    if not frames:
        return pd.DataFrame()
    df = pd.concat(frames, ignore_index=True)
    df = df[df["beyond"]]
    return df[
        [
            "model",
            "dataset",
            "method",
            "setting",
            "mean",
            "two_std",
            "published_mean",
            "published_2std",
            "diff",
        ]
    ].reset_index(drop=True)
