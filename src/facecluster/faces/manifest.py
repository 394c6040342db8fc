"""The face manifest: one row per source file, whatever happened to it.

The schema and pure helpers on the table; :mod:`facecluster.stages.faces` writes and reads it.

Columns
-------
face_id        int    row number (stable: records are sorted by relpath)
relpath        str    path relative to the dataset root (the stable id of a source image)
source_path    str    absolute path of the source file as read
identity       str    person / subject id
in_study       bool   part of the clustering set (False: LFW images only pairs.txt needs)
status         str    one of STATUSES (NOT_COUNTED ones are not images of the set)
reason         str    why a file was skipped ("" when ok)
n_faces        int    faces the detector found (0 when none or not run)
score          float  confidence of the kept face (NaN when none)
bbox           list[float]  kept face box x1, y1, x2, y2 in source pixels (empty when none)
landmarks      list[float]  5 landmarks as x1, y1, …, x5, y5 (empty when the detector gives none)
width, height  int    source image size (0 when unreadable)
crop_index     int    row in the crop arrays (-1 when no crop)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

STATUSES = (
    "ok", "no_face", "border_face", "not_image", "corrupt", "unreadable", "detector_error",
    "ignored", "duplicate",
)  # fmt: skip
#: ``border_face``: the ``haar-castiel`` preset dropped the image, its first face starting
#: within 10 px of the left or top border (the Castiel report's rule).
#: Rows recorded for the record but not counted among the images: a file beside the person
#: folders (a README), a second path (link) to a folder or image already listed.
NOT_COUNTED = ("ignored", "duplicate")

SCHEMA = pa.schema(
    [
        ("face_id", pa.int64()),
        ("relpath", pa.string()),
        ("source_path", pa.string()),
        ("identity", pa.string()),
        ("in_study", pa.bool_()),
        ("status", pa.string()),
        ("reason", pa.string()),
        ("n_faces", pa.int32()),
        ("score", pa.float64()),
        ("bbox", pa.list_(pa.float32())),
        ("landmarks", pa.list_(pa.float32())),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("crop_index", pa.int64()),
    ]
)


def study_faces(manifest: pd.DataFrame) -> pd.DataFrame:
    """Rows of the clustering set that have a crop, ordered by crop index."""
    sel = manifest[(manifest["status"] == "ok") & manifest["in_study"]]
    return sel.sort_values("crop_index")


def status_counts(manifest: pd.DataFrame) -> dict[str, int]:
    counts = manifest["status"].value_counts()
    return {s: int(counts.get(s, 0)) for s in STATUSES}


def images_per_identity(manifest: pd.DataFrame) -> np.ndarray:
    """Number of usable study faces per identity (for the histogram)."""
    return study_faces(manifest).groupby("identity").size().to_numpy()
