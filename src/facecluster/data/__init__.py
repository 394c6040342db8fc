"""Dataset acquisition and listing: personal folders, LFW, MUCT; downloads and the mirror.

The faces stage calls :func:`collect_dataset`; everything else is public for tests, notebooks
and other tools.
"""

from facecluster.data.catalog import DatasetListing, collect_dataset
from facecluster.data.download import (
    DownloadError,
    UnsafeArchiveError,
    download,
    find_in_mirror,
    safe_extract,
)
from facecluster.data.images import (
    DatasetNotFoundError,
    ImageLoadError,
    ImageProbe,
    ImageRecord,
    SkippedFile,
    load_image_rgb,
    probe_image,
    sniff_image,
)
from facecluster.data.lfw import LfwSource, Pair, acquire_lfw, list_lfw, read_pairs
from facecluster.data.muct import acquire_muct, list_muct
from facecluster.data.personal import list_personal, scan_personal

__all__ = [
    "DatasetListing",
    "DatasetNotFoundError",
    "DownloadError",
    "ImageLoadError",
    "ImageProbe",
    "ImageRecord",
    "LfwSource",
    "Pair",
    "SkippedFile",
    "UnsafeArchiveError",
    "acquire_lfw",
    "acquire_muct",
    "collect_dataset",
    "download",
    "find_in_mirror",
    "list_lfw",
    "list_muct",
    "list_personal",
    "load_image_rgb",
    "probe_image",
    "read_pairs",
    "safe_extract",
    "scan_personal",
    "sniff_image",
]
