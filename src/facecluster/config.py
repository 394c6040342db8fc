"""Typed configuration: ``params.yaml`` validated into frozen pydantic objects.

``load_params`` is the only reader of params.yaml.  Every model forbids unknown keys, so a
typo fails at load time with one error that names the key, its location and the allowed keys.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from facecluster.cluster._validation import ConstraintError
from facecluster.errors import UserError

#: ``haar-castiel``: the Castiel report's extraction as a fixed preset
#: (:mod:`facecluster.faces.castiel`: first Haar face, border rule, ±5 px, scikit-image resize).
DetectorName = Literal["mtcnn", "haar", "haar-castiel", "none"]


class ConfigError(UserError, ValueError):
    """params.yaml does not validate; the message names each offending key."""


class Strict(BaseModel):
    """Base of every params model: unknown keys, booleans as numbers and non-finite numbers
    all fail at load (``strict``: YAML already gives typed values, so ``true`` is never 1 and
    ``"3"`` never 3; ``.inf`` and ``.nan`` are no setting's value)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


Probability = Annotated[float, Field(strict=True, ge=0.0, le=1.0)]


# --------------------------------------------------------------------------------------------
# datasets
# --------------------------------------------------------------------------------------------
#: The dataset columns of the Castiel report's Table I.
TableOneColumn = Literal["personal", "lfw", "muct"]


class _DatasetBase(Strict):
    detector: DetectorName = "mtcnn"
    table_one: TableOneColumn | None = Field(
        default=None,
        description="the Castiel Table I column this dataset is compared with (default: its "
        "name, when that is personal, lfw or muct)",
    )
    face_select: Literal["score", "largest", "center"] = Field(
        default="score",
        description="which face to keep when the detector finds several: the most confident, "
        "the largest, or the one nearest the image centre (LFW centres its subject)",
    )
    max_images: int | None = Field(
        default=None, ge=1, description="take only the first N images (sorted) — for smoke runs"
    )


class PersonalDataset(_DatasetBase):
    """A folder with one sub-folder per person; images recognised by content."""

    kind: Literal["personal"]
    path: str = "data/raw/personal"


class YaleDataset(_DatasetBase):
    """The Yale Face Database (15 people x 11 conditions), images checked against their
    published sha256 (:mod:`facecluster.data.yale`)."""

    kind: Literal["yale"]
    path: str | None = Field(
        default=None,
        description="a folder subjectNN/subjectNN.<condition> or a yalefaces.zip; default: "
        "data/raw/<dataset>, the mirror, or the download",
    )


class LfwDataset(_DatasetBase):
    """Labeled Faces in the Wild, keeping people with at least ``min_images_per_identity``."""

    kind: Literal["lfw"]
    variant: Literal["deepfunneled", "funneled", "original"] = "deepfunneled"
    min_images_per_identity: int = Field(default=3, ge=1)
    pairs_faces: bool = Field(
        default=True,
        description="also extract faces of images named by pairs.txt (verification protocol)",
    )
    all_images: bool = Field(
        default=False,
        description="also extract faces of every other image of the variant (all 13,233: "
        "the Otto protocol's lfw-all set; the clustering set stays the >= min_images filter)",
    )


class MuctDataset(_DatasetBase):
    """MUCT: official archives or any folder of MUCT-named images (``i000qa-fn.jpg``)."""

    kind: Literal["muct"]
    path: str | None = Field(
        default=None, description="a folder of MUCT-named images; default: mirror or download"
    )


#: The published feature sets a dataset of ``kind: embeddings`` can name as its ``source``
#: (:data:`facecluster.data.features.PUBLISHED`; a test keeps the two equal).
PublishedFeatures = Literal["muct-facenet-20170512"]
FeatureFormat = Literal["auto", "npz", "hdf5", "bin", "mat"]


class EmbeddingsDataset(Strict):
    """Precomputed vectors: a published feature set (``source``) or a file of yours (``path``).

    No faces or embed stage: the ``features`` stage reads and validates the file
    (:func:`facecluster.data.features.read_features`), and ``study.features`` names the model
    that computed it.  Formats: ``.npz``, HDF5, learn-to-cluster ``.bin`` + ``.meta`` and
    MATLAB ``.mat``; the reading settings below apply to ``path`` only (a ``source`` fixes
    its own).
    """

    kind: Literal["embeddings"]
    source: PublishedFeatures | None = Field(
        default=None, description="a published feature set (mirror, else downloaded)"
    )
    path: str | None = Field(default=None, description="your feature file")
    format: FeatureFormat = Field(default="auto", description="auto: from the file suffix")
    array: str | None = Field(
        default=None,
        description="the vectors' array (npz, HDF5 dataset path, .mat variable); default: "
        "'embeddings' in an .npz, else the file's only 2-D numeric array",
    )
    labels: str | None = Field(
        default=None, description="the labels' array in the same file (npz default 'labels')"
    )
    labels_path: str | None = Field(
        default=None, description="a labels file: a JSON list, or one label per line (.meta)"
    )
    dim: int | None = Field(default=None, ge=1, description="vector length of a .bin file")
    transpose: bool = Field(default=False, description="the file stores (d, n), as MATLAB")
    normalize: bool = Field(
        default=False, description="L2-normalise rows that are not unit vectors (else: warn)"
    )
    table_one: TableOneColumn | None = Field(
        default=None, description="the Castiel Table I column these vectors are compared with"
    )

    @model_validator(mode="after")
    def _one_source(self) -> EmbeddingsDataset:
        if (self.source is None) == (self.path is None):
            raise ValueError(
                "give exactly one of 'source' (a published feature set) or 'path' (your file)"
            )
        if self.source is not None:
            reading = ("format", "array", "labels", "labels_path", "dim", "transpose")
            if fixed := [k for k in reading if k in self.model_fields_set]:
                raise ValueError(
                    f"'source: {self.source}' fixes how its files are read; remove {fixed}"
                )
        is_bin = self.format == "bin" or (
            self.format == "auto" and str(self.path).lower().endswith(".bin")
        )
        if self.path is not None and is_bin and self.dim is None:
            raise ValueError("a .bin feature file needs 'dim' (the vector length)")
        return self


DatasetSpec = Annotated[
    PersonalDataset | YaleDataset | LfwDataset | MuctDataset | EmbeddingsDataset,
    Field(discriminator="kind"),
]


# --------------------------------------------------------------------------------------------
# face detection and crops
# --------------------------------------------------------------------------------------------
class MtcnnSettings(Strict):
    margin: int = Field(default=14, ge=0, description="pixels of margin in the 160 px crop")
    min_face_size: int = Field(default=20, ge=4)
    thresholds: tuple[Probability, Probability, Probability] = Field(
        default=(0.6, 0.7, 0.7),
        strict=False,  # a YAML list; each value is still a strict number
        description="P-, R- and O-Net score thresholds",
    )
    factor: float = Field(default=0.709, gt=0, lt=1)


class HaarSettings(Strict):
    cascade: str = "haarcascade_frontalface_alt2.xml"
    scale_factor: float = Field(default=1.1, gt=1)
    min_neighbors: int = Field(default=3, ge=0)
    min_size: int = Field(default=20, ge=1)
    margin: int = Field(default=14, ge=0)


class DetectorSettings(Strict):
    max_side: int | None = Field(
        default=1600,
        ge=64,
        description="detect on a copy whose longest side is at most this many pixels (boxes "
        "and landmarks mapped back, crops cut from the full image); null: never downscale",
    )
    mtcnn: MtcnnSettings = MtcnnSettings()
    haar: HaarSettings = HaarSettings()


class CropSettings(Strict):
    """Aligned crops written by the faces stage, one array per embedder family."""

    facenet_size: int = Field(default=160, ge=16)
    lightcnn_size: int = Field(default=128, ge=16)
    sample_grid: int = Field(default=48, ge=0, description="crops shown in the faces report")


# --------------------------------------------------------------------------------------------
# models and embedding
# --------------------------------------------------------------------------------------------
class FacenetModel(Strict):
    kind: Literal["facenet"]
    weights: Literal["casia-webface", "vggface2", "ms-celeb-2017"] = Field(
        default="casia-webface",
        description="Sandberg's checkpoint: casia-webface (20180408-102900, 512-d), vggface2 "
        "(20180402-114759, 512-d, online only) or ms-celeb-2017 (20170512-110547, MS-Celeb-1M, "
        "128-d, prewhitened input: the Castiel report's model)",
    )


class LightcnnModel(Strict):
    kind: Literal["lightcnn"]
    variant: Literal["9", "29", "29v2", "v4"] = "v4"
    checkpoint: str | None = Field(
        default=None, description="user-supplied checkpoint for 9/29/29v2 (v4 is acquired)"
    )


ModelSpec = Annotated[FacenetModel | LightcnnModel, Field(discriminator="kind")]


class MapsSettings(Strict):
    """The maps stage's 2-D maps (UMAP, t-SNE) of each study pair's embeddings."""

    umap_neighbors: int = Field(default=15, ge=2)
    tsne_perplexity: float = Field(default=30.0, gt=0)
    max_points: int = Field(default=3000, ge=10, description="faces per map (a sample)")


# --------------------------------------------------------------------------------------------
# sweep: the per-method grids come from the clustering registry (one source of truth)
# --------------------------------------------------------------------------------------------
def _sweep_methods_model() -> type[Strict]:
    """``SweepMethods``: one optional field per registered method, its grid model as type.

    A method set to ``null`` is left out of the sweep; a method not mentioned runs its
    default grid.  Unknown method names and unknown parameters fail (``extra="forbid"``).
    The grids come from :mod:`facecluster.cluster.grids`, which imports no algorithm.
    """
    from pydantic import create_model

    from facecluster.cluster.grids import GRIDS

    fields: dict[str, Any] = {
        name: (info.grid | None, Field(default_factory=info.grid, description=info.summary))
        for name, info in GRIDS.items()
    }
    return create_model(  # type: ignore[call-overload,no-any-return]
        "SweepMethods", __base__=Strict, __doc__="Grids of the sweep, by method.", **fields
    )


SweepMethods = _sweep_methods_model()


class SweepSettings(Strict):
    """The clustering protocol: subsets and methods with their grids (how it runs, workers and
    executor, is :class:`ExecutionSettings`)."""

    n_subsets: int = Field(default=30, ge=1, description="random subsets per dataset")
    fraction: float = Field(default=0.8, description="subset size as a fraction of the faces")
    replace: bool = Field(
        default=False, description="draw with replacement (the Castiel report's sampling)"
    )
    methods: SweepMethods = Field(default_factory=SweepMethods)  # type: ignore[valid-type]

    @field_validator("fraction")
    @classmethod
    def _fraction_in_unit_interval(cls, v: float) -> float:
        if not 0.0 < v <= 1.0:
            raise ValueError(f"fraction must be in (0, 1], got {v}")
        return v

    def method_grids(self) -> dict[str, Any]:
        """``{method: grid model}`` of the methods that run, in registry order."""
        return {
            name: grid
            for name in type(self.methods).model_fields
            if (grid := getattr(self.methods, name)) is not None
        }


Device = Literal["auto", "cpu", "cuda"]


class ExecutionSettings(Strict):
    """How the stages run: **never changes a number**, so no stage lists it as a param.

    Changing a worker count, the executor, the device or a batch size re-runs nothing
    (``dvc status`` stays clean); a test proves that a sweep gives identical results with
    1 and 2 workers, serial and joblib.  (On a GPU, embeddings agree with the CPU's to
    floating-point tolerance, not bit for bit.)
    """

    device: Device = Field(
        default="auto", description="face detection (MTCNN) and embedding: auto | cpu | cuda"
    )
    detector_batch_size: int = Field(
        default=32, ge=1, description="at most this many images per MTCNN batch"
    )
    detector_batch_megapixels: float = Field(
        default=8.0,
        gt=0,
        description="at most this many megapixels of full-size images held per detection "
        "batch (a larger image is a batch of its own)",
    )
    embed_batch_size: int = Field(default=64, ge=1, description="crops per forward pass")
    num_workers: int = Field(default=0, ge=0, description="DataLoader worker processes")
    executor: Literal["serial", "joblib", "dask"] = Field(
        default="joblib", description="where sweep tasks run"
    )
    n_jobs: int = Field(default=1, description="sweep workers (joblib/local dask; -1: all cores)")
    scheduler: str | None = Field(
        default=None,
        description="dask scheduler address (tcp://host:8786); none: a local dask cluster",
    )
    progress: bool = Field(default=True, description="progress bars")

    @field_validator("n_jobs")
    @classmethod
    def _n_jobs_nonzero(cls, v: int) -> int:
        if v == 0 or v < -1:
            raise ValueError(f"n_jobs must be >= 1 or -1 (all cores), got {v}")
        return v


class ReportSettings(Strict):
    gallery_rows: int = Field(default=5, ge=0)
    gallery_faces: int = Field(default=8, ge=1)


#: A model name in file names and tables (``data/embeddings/<dataset>-<model>.npz``).
ModelName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]


class StudySettings(Strict):
    """Which datasets and models the pipeline fans out over (dvc.yaml ``foreach``/``matrix``)."""

    datasets: list[str]
    models: list[str]
    features: dict[str, ModelName] = Field(
        default_factory=dict,
        description="datasets of kind embeddings, each with the name of the model that "
        "computed its vectors (a name under models when it is that model)",
    )


#: The methods of the Castiel report's Table I, in its order.
TABLE_ONE_METHODS = ("kmeans", "agglomerative", "spectral", "dbscan", "meanshift")


class TableOneSweep(Strict):
    """One sweep of Table I's methods: a dataset, the model that embeds it, the sampling."""

    dataset: str
    model: str
    replace: bool = Field(description="draw the subsets with replacement (the report did)")
    n_subsets: int | None = Field(
        default=None,
        ge=2,
        description="subsets of this sweep (default sweep.n_subsets): the first ones of the "
        "dataset's keyed stream, so a factor sweep with fewer subsets pairs with the report "
        "setup's first ones",
    )


class TableOneSettings(Strict):
    """Table I reproduced with the report's setup, and what each difference of ours costs.

    ``sweeps`` are named ``<setup>-<column>`` (column: personal, lfw or muct, the dataset's
    Table I column).  Setup ``report`` is the report's setup end to end; every other setup
    changes one factor of it — the sampling (``replace``), the detector (a dataset of the same
    source with another ``detector``) or the model — and the reproduction report measures
    what that factor costs, cell by cell.
    """

    datasets: list[str] = Field(
        default_factory=list,
        description="image datasets only these sweeps use (faces + embeddings of every model "
        "of `models`, stages table-one-faces / table-one-embed)",
    )
    models: list[str] = Field(default_factory=list)
    methods: list[Literal["kmeans", "agglomerative", "spectral", "dbscan", "meanshift"]] = Field(
        default_factory=lambda: list(TABLE_ONE_METHODS),
        description="the methods swept (their grids: sweep.methods)",
    )
    sweeps: dict[str, TableOneSweep] = Field(default_factory=dict)

    def setups(self) -> dict[str, dict[str, str]]:
        """``{setup: {column: sweep name}}`` from the sweep names, in params order."""
        out: dict[str, dict[str, str]] = {}
        for name in self.sweeps:
            setup, _, column = name.rpartition("-")
            out.setdefault(setup, {})[column] = name
        return out


#: Readings of approximate rank-order the Otto protocol runs (``mutual`` of the estimator).
OttoVariant = Literal["literal", "mutual"]


def _otto_grid(method: str, **defaults: Any) -> Any:
    from facecluster.cluster.grids import GRIDS

    grid = GRIDS[method].grid
    return Field(default_factory=lambda: grid(**defaults), description=GRIDS[method].summary)


def _otto_grid_type(method: str) -> Any:
    from facecluster.cluster.grids import GRIDS

    return GRIDS[method].grid | None


class OttoSettings(Strict):
    """Otto et al.'s protocol: one clustering of *all* faces of a dataset (LFW with
    ``all_images``: the 13,233 of lfw-all), no subsets, repeated over shuffled input orders;
    pairwise precision / recall / F1 and run time (neighbour search and clustering apart).

    ``rank_order`` is the grid of both readings; the methods without K below are run over
    their grid on the first order and reported at their best setting (null: left out).
    """

    dataset: str | None = Field(
        default=None,
        description="a study dataset: its clustering set plus every extra face (LFW with "
        "all_images: lfw-all); null: no protocol",
    )
    runs: int = Field(default=5, ge=1, description="shuffled input orders (the reproduction: 5)")
    variants: list[OttoVariant] = Field(
        default_factory=lambda: ["literal", "mutual"], min_length=1
    )
    timing_k: int = Field(
        default=200, ge=2, description="also time rank-order at this k (its best threshold)"
    )
    rank_order: _otto_grid_type("rank_order") = _otto_grid("rank_order")  # type: ignore[valid-type]
    dbscan: _otto_grid_type("dbscan") = _otto_grid("dbscan")  # type: ignore[valid-type]
    meanshift: _otto_grid_type("meanshift") = _otto_grid("meanshift")  # type: ignore[valid-type]
    chinese_whispers: _otto_grid_type("chinese_whispers") = _otto_grid(  # type: ignore[valid-type]
        "chinese_whispers"
    )

    @field_validator("variants")
    @classmethod
    def _distinct(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError(f"variants must be distinct, got {v}")
        return v

    def other_grids(self) -> dict[str, Any]:
        """``{method: grid}`` of the methods without K besides rank-order that run."""
        return {
            m: g for m in ("dbscan", "meanshift", "chinese_whispers") if (g := getattr(self, m))
        }


class ScaleSearch(Strict):
    """The scale stage's neighbour search: exact up to ``exact_max`` faces, above it faiss's
    HNSW graph (``IndexHNSWFlat``), whose recall@k is measured against exact search."""

    exact_max: int = Field(
        default=50_000, ge=2, description="exact search up to this many faces; HNSW above"
    )
    hnsw_m: int = Field(default=32, ge=4, description="HNSW: links per node (faiss M)")
    ef_construction: int = Field(default=80, ge=8, description="HNSW: build beam width")
    ef_search: int = Field(
        default=64, ge=8, description="HNSW: search beam width (raised to k + 1 if smaller)"
    )
    refine_passes: int = Field(
        default=3,
        ge=0,
        description="rounds of neighbours-of-neighbours on the HNSW lists (NN-descent's "
        "local join; 0: the lists as HNSW returns them)",
    )
    recall_queries: int = Field(
        default=1000, ge=1, description="random faces whose lists are checked against exact"
    )


class ScaleWhispers(Strict):
    """Chinese whispers at scale: on each face's ``k`` nearest neighbours closer than the
    threshold (a k-nearest-neighbour graph; dlib's dense graph is quadratic)."""

    k: int = Field(default=50, ge=1, description="neighbours per face the graph may hold")
    threshold: list[Annotated[float, Field(gt=0)]] = Field(
        default_factory=lambda: [0.6, 0.65, 0.7, 0.75, 0.8], min_length=1
    )
    n_iter: int = Field(default=100, ge=1)


class ScaleSettings(Strict):
    """Clustering at scale: all of ``otto.dataset`` (lfw-all, labelled) hidden among ``N``
    *simulated* distractor faces for each ``N`` of ``distractors``
    (:mod:`facecluster.sweep.distractors`); pairwise P / R / F1 on the labelled faces only,
    neighbour-search and clustering time, peak memory, the search's recall."""

    models: list[str] = Field(
        default_factory=list, description="models of study.models to run (empty: no stage)"
    )
    distractors: list[Annotated[int, Field(ge=0)]] = Field(
        default_factory=lambda: [0, 10_000, 100_000, 1_000_000], min_length=1
    )
    baseline: int | None = Field(
        default=100_000,
        ge=0,
        description="at this N the exact (quadratic) search is also run and timed, the "
        "baseline the approximate search is measured against (null: never)",
    )
    held_out: Probability = Field(
        default=0.5, description="share of real identities the simulation check holds out"
    )
    components: int = Field(
        default=32,
        ge=1,
        description="Gaussian-mixture components of the simulated identity centres (1: one "
        "Gaussian)",
    )
    search: ScaleSearch = ScaleSearch()
    variants: list[OttoVariant] = Field(default_factory=lambda: ["literal"], min_length=1)
    rank_order: _otto_grid_type("rank_order") = _otto_grid(  # type: ignore[valid-type]
        "rank_order", k=(10, 20, 50)
    )
    chinese_whispers: ScaleWhispers | None = ScaleWhispers()

    @field_validator("distractors", "variants")
    @classmethod
    def _distinct_values(cls, v: list) -> list:
        if len(set(v)) != len(v):
            raise ValueError(f"values must be distinct, got {v}")
        return v


class Params(Strict):
    seed: int = Field(ge=0)
    study: StudySettings
    datasets: dict[str, DatasetSpec]
    detector: DetectorSettings = DetectorSettings()
    crops: CropSettings = CropSettings()
    models: dict[str, ModelSpec]
    maps: MapsSettings = MapsSettings()
    sweep: SweepSettings = SweepSettings()
    report: ReportSettings = ReportSettings()
    table_one: TableOneSettings = TableOneSettings()
    otto: OttoSettings = OttoSettings()
    scale: ScaleSettings = ScaleSettings()
    execution: ExecutionSettings = ExecutionSettings()

    @model_validator(mode="after")
    def _study_names_exist(self) -> Params:
        for name in self.study.datasets:
            if name not in self.datasets:
                raise ValueError(
                    f"study.datasets names {name!r}, which is not defined under datasets "
                    f"(defined: {sorted(self.datasets)})"
                )
        for name in self.study.models:
            if name not in self.models:
                raise ValueError(
                    f"study.models names {name!r}, which is not defined under models "
                    f"(defined: {sorted(self.models)})"
                )
        for name in self.study.datasets:
            if self.datasets[name].kind == "embeddings":
                raise ValueError(
                    f"study.datasets names {name!r}, a dataset of precomputed embeddings: "
                    "list it under study.features with the name of its model instead"
                )
        for name in self.study.features:
            spec = self.datasets.get(name)
            if spec is None or spec.kind != "embeddings":
                raise ValueError(
                    f"study.features names {name!r}, which is not a dataset of kind embeddings "
                    f"(those defined: {self.feature_datasets()})"
                )
            if name in self.study.datasets:
                raise ValueError(f"{name!r} is in both study.datasets and study.features")
        self._check_table_one()
        if self.otto.dataset is not None and self.otto.dataset not in self.study.datasets:
            raise ValueError(
                f"otto.dataset names {self.otto.dataset!r}, which is not in study.datasets "
                f"({self.study.datasets}): the protocol clusters a study dataset's faces"
            )
        if self.otto.rank_order is None:
            raise ValueError("otto.rank_order: the protocol's own method cannot be null")
        for name in self.scale.models:
            if name not in self.study.models:
                raise ValueError(f"scale.models names {name!r}, which is not in study.models")
        if self.scale.models and self.otto.dataset is None:
            raise ValueError(
                "scale.models is set but otto.dataset is null: the scale stage hides "
                "otto.dataset's faces among distractors and takes its best settings"
            )
        if self.scale.rank_order is None:
            raise ValueError("scale.rank_order: the stage's own method cannot be null")
        return self

    def _check_table_one(self) -> None:
        """Table I sweeps name defined datasets and models, ``<setup>-<column>`` names agree
        with each dataset's column, and every setup differs from ``report`` in one factor."""
        t1 = self.table_one
        for name in t1.datasets:
            if name not in self.datasets or self.datasets[name].kind == "embeddings":
                raise ValueError(f"table_one.datasets names {name!r}, not an image dataset")
            if name in self.study.datasets:
                raise ValueError(
                    f"{name!r} is in study.datasets and table_one.datasets (its faces "
                    "and embeddings would be written by two stages): list it once"
                )
        for name in t1.models:
            if name not in self.study.models:  # the weights stage fans out over study.models
                raise ValueError(f"table_one.models names {name!r}, which is not in study.models")
        embedded = {(d, m) for d in t1.datasets for m in t1.models}
        embedded |= set(self.pairs())
        for name, sweep in t1.sweeps.items():
            setup, _, column = name.rpartition("-")
            where = f"table_one.sweeps.{name}"
            if not setup or column not in typing.get_args(TableOneColumn):
                raise ValueError(f"{where}: name it <setup>-<column> (personal, lfw or muct)")
            if sweep.dataset not in self.datasets:
                raise ValueError(f"{where}: unknown dataset {sweep.dataset!r}")
            if (sweep.dataset, sweep.model) not in embedded:
                raise ValueError(
                    f"{where}: no stage embeds {sweep.dataset!r} with {sweep.model!r} (add them "
                    "to table_one.datasets / table_one.models, or to the study)"
                )
            if self.table_one_column(sweep.dataset) != column:
                raise ValueError(
                    f"{where}: dataset {sweep.dataset!r} is compared with Table I's "
                    f"{self.table_one_column(sweep.dataset)!r} column, not {column!r}"
                )
        setups = t1.setups()
        if t1.sweeps and "report" not in setups:
            raise ValueError("table_one.sweeps needs the report's setup: report-<column>")
        for setup, columns in setups.items():
            for column, name in columns.items():
                if setup != "report" and column not in setups["report"]:
                    raise ValueError(
                        f"table_one.sweeps.{name}: no report-{column} to compare it with"
                    )
                if setup != "report" and len(self.table_one_factors(name)) != 1:
                    raise ValueError(
                        f"table_one.sweeps.{name} must differ from report-{column} in exactly "
                        f"one factor (sampling, detector or model), not "
                        f"{self.table_one_factors(name) or 'none'}"
                    )

    def table_one_factors(self, sweep: str) -> dict[str, tuple[Any, Any]]:
        """What Table I sweep ``sweep`` changes from the report's setup of its column:
        ``{factor: (report's value, this sweep's)}``, factors ``sampling`` (replace),
        ``detector``, ``model`` (``source``: a dataset of another kind or source)."""
        t1 = self.table_one
        mine = t1.sweeps[sweep]
        column = sweep.rpartition("-")[2]
        base = t1.sweeps[f"report-{column}"]
        out: dict[str, tuple[Any, Any]] = {}
        if base.replace != mine.replace:
            out["sampling"] = (
                "with replacement" if base.replace else "without",
                "with replacement" if mine.replace else "without",
            )
        if base.dataset != mine.dataset:
            a, b = self.datasets[base.dataset], self.datasets[mine.dataset]
            how = {
                "detector",
                "face_select",
                "pairs_faces",
                "all_images",
                "table_one",
            }  # not the images
            same_source = a.model_dump(exclude=how) == b.model_dump(exclude=how)
            if same_source and a.kind != "embeddings":
                out["detector"] = (a.detector, b.detector)
            else:
                out["source"] = (base.dataset, mine.dataset)
        if base.model != mine.model:
            out["model"] = (base.model, mine.model)
        return out

    def feature_datasets(self) -> list[str]:
        """The datasets of ``kind: embeddings`` defined under ``datasets``."""
        return sorted(n for n, d in self.datasets.items() if d.kind == "embeddings")

    def pairs(self) -> list[tuple[str, str]]:
        """Every (dataset, model) the study sweeps: each image dataset × each model, then
        each feature dataset with the model that computed it."""
        grid = [(d, m) for d in self.study.datasets for m in self.study.models]
        return grid + list(self.study.features.items())

    def study_datasets(self) -> tuple[str, ...]:
        """The datasets of :meth:`pairs`, in study order (image datasets first)."""
        return tuple(dict.fromkeys(d for d, _ in self.pairs()))

    def study_models(self) -> tuple[str, ...]:
        """The models of :meth:`pairs`, in study order (``study.models`` first)."""
        return tuple(dict.fromkeys([*self.study.models, *self.study.features.values()]))

    def check_pair(self, dataset: str, model: str) -> None:
        """A (dataset, model) the stages can run: ConfigError naming what is wrong."""
        spec = self.dataset(dataset)
        if spec.kind != "embeddings":
            self.model(model)
            return
        listed = self.study.features.get(dataset)
        if listed != model:
            raise ConfigError(
                f"dataset {dataset!r} holds precomputed embeddings of "
                f"{listed or 'a model study.features does not name'}, not of {model!r} "
                f"(study.features: {dict(self.study.features)})"
            )

    def feature_model(self, dataset: str) -> str:
        """The model that computed the vectors of feature dataset ``dataset``."""
        spec = self.dataset(dataset)
        if spec.kind != "embeddings" or dataset not in self.study.features:
            raise ConfigError(
                f"dataset {dataset!r} is not under study.features (feature datasets with "
                f"their model: {dict(self.study.features)})"
            )
        return self.study.features[dataset]

    def table_one_column(self, dataset: str) -> str | None:
        """The Castiel Table I column ``dataset`` is compared with (None: none)."""
        spec = self.datasets.get(dataset)
        column = spec.table_one if spec is not None else None
        if column is None and dataset in typing.get_args(TableOneColumn):
            return dataset
        return column

    def table_one_mismatch(self, dataset: str, model: str) -> str | None:
        """Why ``dataset`` × ``model`` is not a reproduction of its Table I column, or None.

        Like for like means the report's model (FaceNet 20170512-110547, ``weights:
        ms-celeb-2017``) on the report's data: LFW for the LFW column, MUCT (its images or
        its published full-resolution embeddings) for the MUCT column.  The report's personal
        photos are not public, so no dataset reproduces the personal column.  (Extraction
        differences are measured by the reproduction stage, not ruled out here.)
        """
        column = self.table_one_column(dataset)
        if column is None:
            return None
        spec = self.models.get(model)
        if not (isinstance(spec, FacenetModel) and spec.weights == "ms-celeb-2017"):
            return f"another model ({model}; the report's: FaceNet 20170512-110547)"
        if column == "personal":
            return "other photos (the report's personal folder is not public)"
        kind = self.datasets[dataset].kind
        wanted = {"lfw": ("lfw",), "muct": ("muct", "embeddings")}[column]
        if kind not in wanted:
            return f"other data ({dataset} is kind {kind}, not {column})"
        return None

    def dataset(
        self, name: str
    ) -> PersonalDataset | YaleDataset | LfwDataset | MuctDataset | EmbeddingsDataset:
        try:
            return self.datasets[name]
        except KeyError:
            raise ConfigError(
                f"unknown dataset {name!r}; params.yaml defines {sorted(self.datasets)}"
            ) from None

    def model(self, name: str) -> FacenetModel | LightcnnModel:
        try:
            return self.models[name]
        except KeyError:
            raise ConfigError(
                f"unknown model {name!r}; params.yaml defines {sorted(self.models)}"
            ) from None


def _strip(annotation: Any) -> Any:
    """``Annotated[X, ...]`` → ``X``."""
    while typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _tagged_member(union: Any, tag: str) -> type[BaseModel] | None:
    """The member of a ``kind``-discriminated union whose ``kind`` is ``tag``."""
    for member in typing.get_args(union):
        kind = member.model_fields.get("kind") if _is_model(member) else None
        if kind is not None and tag in typing.get_args(kind.annotation):
            return member  # type: ignore[no-any-return]
    return None


def _single_model(annotation: Any) -> Any:
    """``Model | None`` → ``Model`` (``Annotated`` stripped); anything else unchanged."""
    annotation = _strip(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        models = [a for a in typing.get_args(annotation) if _is_model(a)]
        if len(models) == 1:
            return models[0]
    return annotation


def _walk(loc: Sequence[Any]) -> tuple[str, Any]:
    """The key of an error as the user wrote it, and the annotation of what sits there.

    pydantic's location of an error inside a discriminated union carries the tag
    (``datasets.lfw.lfw.pairs_faces``); the tag is not a key of params.yaml, so it is dropped
    here, and the model it selects is the one the walk goes on in.
    """
    shown: list[str] = []
    node: Any = Params
    for part in loc:
        node = _strip(node)
        if typing.get_origin(node) in (typing.Union, types.UnionType):
            member = _tagged_member(node, str(part))
            if member is not None:  # the discriminator's tag: not a key
                node = member
                continue
        node = _single_model(node)
        shown.append(str(part))
        if _is_model(node):
            field = node.model_fields.get(str(part))
            node = field.annotation if field is not None else None
        elif typing.get_origin(node) is dict:
            node = typing.get_args(node)[1]
        elif typing.get_origin(node) in (tuple, list):
            node = typing.get_args(node)[0]
        else:
            node = None
    return ".".join(shown), node


def _owner_of_children(loc: Sequence[Any]) -> type[BaseModel] | None:
    """The model whose fields sit at ``loc`` (where an unknown key was found)."""
    node = _single_model(_walk(loc)[1])
    return node if _is_model(node) else None


#: The ``kind`` values of the discriminated blocks, for error messages.
_KINDS: dict[str, tuple[str, ...]] = {
    block: tuple(
        tag
        for member in typing.get_args(_strip(spec))
        for tag in typing.get_args(member.model_fields["kind"].annotation)
    )
    for block, spec in (("datasets", DatasetSpec), ("models", ModelSpec))
}

#: Execution settings that used to sit in a science block: ``old key -> execution key``.
MOVED_TO_EXECUTION = {
    "sweep.n_jobs": "n_jobs",
    "sweep.executor": "executor",
    "sweep.scheduler": "scheduler",
    "detector.device": "device",
    "detector.mtcnn.batch_size": "detector_batch_size",
    "embed.device": "device",
    "embed.num_workers": "num_workers",
}


def _moved_key(loc: Sequence[str]) -> str | None:
    key = ".".join(loc)
    if key in MOVED_TO_EXECUTION:
        return MOVED_TO_EXECUTION[key]
    if len(loc) == 3 and loc[0] == "models" and loc[2] == "batch_size":
        return "embed_batch_size"
    return None


def _format_errors(exc: ValidationError, source: str) -> str:
    lines = [f"{source}: {exc.error_count()} invalid setting(s)"]
    for err in exc.errors():
        key, _ = _walk(err["loc"])
        key = key or "(top level)"
        shown = key.split(".")
        if err["type"] == "extra_forbidden" and (moved := _moved_key(shown)):
            lines.append(
                f"  '{key}' is an execution setting (it never changes a number): "
                f"set 'execution.{moved}' instead"
            )
        elif err["type"] == "extra_forbidden":
            owner = _owner_of_children(err["loc"][:-1])
            allowed = ", ".join(sorted(owner.model_fields)) if owner else "?"
            lines.append(f"  unknown key '{key}' (allowed here: {allowed})")
        elif err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            kinds = ", ".join(_KINDS.get(str(err["loc"][0]), ())) or "?"
            got = err.get("ctx", {}).get("tag")
            lines.append(
                f"  '{key}.kind' must be one of {kinds}, got {got!r}"
                if got is not None
                else f"  missing key '{key}.kind' (one of {kinds})"
            )
        elif err["type"] == "missing":
            lines.append(f"  missing key '{key}'")
        elif isinstance(cause := err.get("ctx", {}).get("error"), ConstraintError):
            lines.append(f"  '{key}' {cause}")  # '<key>' must be ..., got ...
        elif isinstance(cause, ValueError):  # our validators' messages name the value
            lines.append(f"  {cause}" if key == "(top level)" else f"  '{key}': {cause}")
        else:
            lines.append(f"  '{key}': {err['msg']} (got {_short(err.get('input'))})")
    return "\n".join(lines)


def _short(value: Any, limit: int = 80) -> str:
    """``repr`` of an offending value, cut to ``limit`` characters (never a whole block)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_params(data: Mapping[str, Any], source: str = "params") -> Params:
    """Validate a params mapping; raises :class:`ConfigError` naming every bad key."""
    try:
        return Params.model_validate(dict(data))
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, source)) from None


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate ``params.yaml`` (the only reader of that file)."""
    return parse_params(read_params_dict(path), str(path))


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``key.sub=value`` overrides (values parsed as YAML), like ``dvc exp run -S``."""
    out: dict[str, Any] = yaml.safe_load(yaml.safe_dump(data))  # deep copy
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key=value")
        key, raw = item.split("=", 1)
        parts = key.strip().split(".")
        node: Any = out
        for part in parts[:-1]:
            if not isinstance(node, dict):
                raise ConfigError(f"override {key!r}: {part!r} is not a mapping")
            if node.get(part) is None:  # absent, or null (e.g. a disabled method)
                node[part] = {}
            node = node[part]
        node[parts[-1]] = yaml.safe_load(raw)
    return out


def read_params_dict(path: str | Path = "params.yaml") -> dict[str, Any]:
    """The raw mapping of a params file (for overrides before validation)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"params file not found: {path}")
    with path.open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    return data
