"""One entry point for the faces stage: the images (and skipped files) of a configured dataset."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from facecluster.config import LfwDataset, MuctDataset, PersonalDataset, YaleDataset
from facecluster.data.images import ImageRecord, SkippedFile
from facecluster.data.lfw import acquire_lfw, pair_image_relpaths, read_pairs, scan_lfw
from facecluster.data.muct import list_muct, resolve_muct
from facecluster.data.personal import scan_personal
from facecluster.data.yale import acquire_yale, list_yale
from facecluster.paths import ProjectPaths

logger = logging.getLogger(__name__)

__all__ = ["DatasetListing", "collect_dataset"]


@dataclass(frozen=True)
class DatasetListing:
    """The images of one dataset as the faces stage consumes them.

    Attributes
    ----------
    records : list of ImageRecord
        Sorted by ``relpath``.  Records with ``in_study=False`` (LFW pairs-only images) are to
        be cropped but left out of the clustering set.
    skipped : list of SkippedFile
        Files found but not used, with the reason (for the manifest).
    root : Path
        The dataset root every ``relpath`` is relative to.
    source : str
        Where the data came from: ``"folder"``, ``"mirror"``, ``"raw"`` or ``"download"``.
    extra : dict
        Dataset-specific facts (LFW: ``pairs_txt``, ``variant``, counts …).
    """

    records: list[ImageRecord]
    skipped: list[SkippedFile]
    root: Path
    source: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def study_records(self) -> list[ImageRecord]:
        """The records of the clustering set (``in_study``)."""
        return [r for r in self.records if r.in_study]

    @property
    def identities(self) -> list[str]:
        """Sorted identities of the clustering set."""
        return sorted({r.identity for r in self.records if r.in_study})

    @property
    def is_empty(self) -> bool:
        """No image at all: the caller skips the dataset and the report says so."""
        return not self.records


def _first(records: list[ImageRecord], max_images: int | None) -> list[ImageRecord]:
    ordered = sorted(records, key=lambda r: r.relpath)
    return ordered if max_images is None else ordered[:max_images]


def _collect_lfw(name: str, spec: LfwDataset, paths: ProjectPaths) -> DatasetListing:
    source = acquire_lfw(spec.variant, paths.raw(name))
    everything, skipped = scan_lfw(source.images_root, 1)
    counts = Counter(r.identity for r in everything)
    kept = [r for r in everything if counts[r.identity] >= spec.min_images_per_identity]
    study = _first(kept, spec.max_images)
    extra: dict[str, Any] = {
        "variant": spec.variant,
        "images_root": source.images_root,
        "pairs_txt": source.pairs_txt,
        "people_txt": source.people_txt,
        "min_images_per_identity": spec.min_images_per_identity,
        "n_images_total": len(everything),
        "n_identities_total": len(counts),
        "n_images_filtered": len(kept),
        "n_identities_filtered": len({r.identity for r in kept}),
    }
    records = list(study)
    listed = {r.relpath for r in study}
    if spec.all_images:  # lfw-all: every other image too, outside the clustering set
        others = [replace(r, in_study=False) for r in everything if r.relpath not in listed]
        kept_others = others if spec.max_images is None else others[: spec.max_images]
        records += kept_others
        listed.update(r.relpath for r in kept_others)
        extra.update(n_other_images=len(kept_others), all_complete=len(kept_others) == len(others))
    if spec.pairs_faces:
        pairs = read_pairs(source.pairs_txt)
        by_rel = {r.relpath: r for r in everything}
        named = pair_image_relpaths(pairs)
        needed = [rel for rel in named if rel not in listed]
        present = [rel for rel in needed if rel in by_rel]
        missing = [rel for rel in needed if rel not in by_rel]
        for rel in missing:
            skipped.append(
                SkippedFile(
                    source.images_root / rel,
                    rel,
                    rel.split("/", 1)[0],
                    "named by pairs.txt but missing",
                )
            )
        pairs_only = [replace(by_rel[rel], in_study=False) for rel in present]
        complete = spec.max_images is None or len(pairs_only) <= spec.max_images
        if not complete:
            pairs_only = pairs_only[: spec.max_images]
        records += pairs_only
        n_named_listed = sum(rel in listed for rel in named) + len(pairs_only)
        extra.update(
            n_pairs=len(pairs),
            n_pairs_only=len(pairs_only),
            n_pairs_missing=len(missing),
            pairs_complete=complete and not missing and n_named_listed == len(named),
        )
    records.sort(key=lambda r: r.relpath)
    skipped.sort(key=lambda s: s.relpath)
    return DatasetListing(records, skipped, source.images_root, source.origin, extra)


def collect_dataset(
    name: str,
    spec: PersonalDataset | YaleDataset | LfwDataset | MuctDataset,
    paths: ProjectPaths,
) -> DatasetListing:
    """List the images of the dataset ``name`` as configured by ``spec``.

    Parameters
    ----------
    name : str
        The dataset's key in params.yaml (names its raw folder ``data/raw/<name>``).
    spec : PersonalDataset, YaleDataset, LfwDataset or MuctDataset
        Its settings; ``spec.max_images`` keeps the first N records by ``relpath`` (smoke runs;
        for LFW the pairs-only images are capped at N too and ``extra["pairs_complete"]`` is
        False).
    paths : ProjectPaths
        Project locations (relative ``spec.path`` values are relative to the project root).

    Returns
    -------
    DatasetListing
        ``records`` may be empty (a personal folder with no images): the caller skips the
        dataset and reports it.

    Raises
    ------
    facecluster.data.images.DatasetNotFoundError
        A configured folder does not exist (the message names it).
    ValueError
        ``spec`` is not an image dataset (e.g. ``kind: embeddings``).
    """
    kind = getattr(spec, "kind", None)
    logger.info("dataset %s: %s", name, spec.model_dump() if hasattr(spec, "model_dump") else spec)
    if kind == "personal":
        root = paths.resolve(spec.path)
        records, skipped = scan_personal(root)
        listing = DatasetListing(
            _first(records, spec.max_images),
            skipped,
            root.resolve(),
            "folder",
            {"n_images_total": len(records)},
        )
    elif kind == "yale":
        root, origin = acquire_yale(
            paths.raw(name), paths.resolve(spec.path) if spec.path else None
        )
        records, skipped = list_yale(root)
        listing = DatasetListing(
            _first(records, spec.max_images),
            skipped,
            root.resolve(),
            origin,
            {"n_images_total": len(records)},
        )
    elif kind == "lfw":
        listing = _collect_lfw(name, spec, paths)
    elif kind == "muct":
        path = paths.resolve(spec.path) if spec.path else None
        root, origin = resolve_muct(paths.raw(name), path)
        records, skipped = list_muct(root)
        listing = DatasetListing(
            _first(records, spec.max_images),
            skipped,
            root,
            origin,
            {"n_images_total": len(records)},
        )
    else:
        raise ValueError(f"dataset {name!r} of kind {kind!r} has no images to list")
    logger.info(
        "dataset %s (%s, %s): %d records (%d in study, %d identities), %d skipped",
        name,
        listing.source,
        listing.root,
        len(listing.records),
        len(listing.study_records),
        len(listing.identities),
        len(listing.skipped),
    )
    return listing
