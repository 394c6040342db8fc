"""Figures and tables of the faces report (one per dataset)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from pandas.io.formats.style import Styler

from facecluster.faces.manifest import images_per_identity, study_faces


def overview_table(summary: dict) -> pd.DataFrame:
    """Images, faces found, failures, identities — one row, for display."""
    if summary.get("skipped"):
        return pd.DataFrame(
            [{"dataset": summary["dataset"], "status": "skipped", "reason": summary["reason"]}]
        )
    row = {
        "dataset": summary["dataset"],
        "detector": summary.get("detector"),
        "images": summary["images"],
        "faces found": summary["faces"],
        "face rate": f"{summary['faces'] / max(summary['images'], 1):.2%}",
        "failed": summary["failed"],
        "identities": summary["identities"],
        "images with >1 face": summary.get("multi_face_images", 0),
        "seconds": summary.get("seconds"),
    }
    return pd.DataFrame([row])


def failures_table(manifest: pd.DataFrame, limit: int = 50) -> Styler:
    """Files that gave no crop, with the reason in full (first ``limit``).

    A styled table, not a DataFrame: pandas' HTML display cuts text at 50 characters, which
    turned "truncated or corrupt: image file is truncated (16 bytes not processed)" into
    "... image file is t..." in the report.
    """
    bad = manifest[manifest["status"] != "ok"]
    table = (
        bad[["relpath", "identity", "in_study", "status", "reason"]]
        .head(limit)
        .reset_index(drop=True)
    )
    return table.style.hide(axis="index")


def failure_reasons(manifest: pd.DataFrame) -> pd.DataFrame:
    bad = manifest[manifest["status"] != "ok"]
    if bad.empty:
        return pd.DataFrame(columns=["status", "reason", "files"])
    return (
        bad.assign(reason=bad["reason"].str.split(":").str[0])
        .groupby(["status", "reason"])
        .size()
        .rename("files")
        .reset_index()
        .sort_values("files", ascending=False)
    )


def identity_histogram(manifest: pd.DataFrame, *, title: str = "") -> Figure:
    """Histogram of usable faces per identity (log-scaled counts)."""
    counts = images_per_identity(manifest)
    fig = Figure(figsize=(6, 3.2), layout="constrained")
    ax = fig.subplots()
    if len(counts):
        bins = np.unique(np.round(np.logspace(0, np.log10(counts.max() + 1), 30)))
        ax.hist(counts, bins=bins, color="#4c72b0", edgecolor="white")
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set_xlabel("faces per identity")
    ax.set_ylabel("identities")
    ax.set_title(
        title or f"{len(counts)} identities, {int(counts.sum()) if len(counts) else 0} faces"
    )
    return fig


def sample_grid(
    crops: np.ndarray, manifest: pd.DataFrame, n: int = 48, *, seed: int = 0, cols: int = 12
) -> Figure:
    """A grid of ``n`` sample crops with identities (a deterministic sample)."""
    faces = study_faces(manifest)
    n = min(n, len(faces))
    fig = Figure(figsize=(cols * 1.0, max(1, int(np.ceil(n / cols))) * 1.15), layout="constrained")
    if n == 0:
        return fig
    pick = np.sort(np.random.default_rng(seed).choice(len(faces), size=n, replace=False))
    rows = int(np.ceil(n / cols))
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, i in zip(axes, pick, strict=False):
        rec = faces.iloc[i]
        ax.imshow(crops[int(rec["crop_index"])])
        ax.set_title(str(rec["identity"])[:14], fontsize=6)
    return fig
