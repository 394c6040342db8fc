"""Read a frozen TensorFlow ``GraphDef`` (``.pb``) without TensorFlow.

A frozen graph is one serialised ``tensorflow.GraphDef`` protobuf message whose variables have
been replaced by ``Const`` nodes holding their values.  This module declares the subset of
TensorFlow's message types needed to decode it (``GraphDef``, ``NodeDef``, ``AttrValue``,
``NameAttrList``, ``TensorProto``, ``TensorShapeProto``, ``VersionDef``), with TensorFlow's own
field numbers (``tensorflow/core/framework/*.proto``), builds them at run time in a *private*
:class:`google.protobuf.descriptor_pool.DescriptorPool` (so it never clashes with a real
TensorFlow in the same process) and decodes with the installed ``protobuf`` runtime.

Fields that are not declared here (``NodeDef.experimental_debug_info``, function libraries,
resource handles, …) are skipped by the protobuf runtime, as the wire format allows.

Entry points: :func:`read_graphdef` / :func:`parse_graphdef` give a :class:`Graph` of
:class:`Node` objects whose attributes are plain Python / numpy values;
:func:`tensor_to_numpy` turns a ``TensorProto`` into a numpy array (both the packed
``tensor_content`` form and the typed ``*_val`` form, with TensorFlow's rule that a short
``*_val`` list is padded with its last value).

Size (~500 lines): mostly the declared protobuf message types, one per TensorFlow ``.proto``.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from facecluster.errors import UserError

log = logging.getLogger(__name__)

__all__ = [
    "DataType",
    "Graph",
    "GraphDefError",
    "Node",
    "message_classes",
    "parse_graphdef",
    "read_graphdef",
    "split_input",
    "strip_control_inputs",
    "tensor_to_numpy",
]


class GraphDefError(UserError, ValueError):
    """The bytes are not a decodable GraphDef, or a tensor in it is inconsistent."""


class DataType(enum.IntEnum):
    """``tensorflow.DataType`` (types.proto); ``*_REF`` variants are these values + 100."""

    DT_INVALID = 0
    DT_FLOAT = 1
    DT_DOUBLE = 2
    DT_INT32 = 3
    DT_UINT8 = 4
    DT_INT16 = 5
    DT_INT8 = 6
    DT_STRING = 7
    DT_COMPLEX64 = 8
    DT_INT64 = 9
    DT_BOOL = 10
    DT_QINT8 = 11
    DT_QUINT8 = 12
    DT_QINT32 = 13
    DT_BFLOAT16 = 14
    DT_QINT16 = 15
    DT_QUINT16 = 16
    DT_UINT16 = 17
    DT_COMPLEX128 = 18
    DT_HALF = 19
    DT_RESOURCE = 20
    DT_VARIANT = 21
    DT_UINT32 = 22
    DT_UINT64 = 23


# numpy dtype of each DataType's element, and the TensorProto field its values use when they
# are not packed into ``tensor_content`` (tensor.proto comments).
_NUMPY: dict[DataType, tuple[np.dtype, str]] = {
    DataType.DT_FLOAT: (np.dtype("<f4"), "float_val"),
    DataType.DT_DOUBLE: (np.dtype("<f8"), "double_val"),
    DataType.DT_INT32: (np.dtype("<i4"), "int_val"),
    DataType.DT_UINT8: (np.dtype("u1"), "int_val"),
    DataType.DT_INT16: (np.dtype("<i2"), "int_val"),
    DataType.DT_INT8: (np.dtype("i1"), "int_val"),
    DataType.DT_QINT8: (np.dtype("i1"), "int_val"),
    DataType.DT_QUINT8: (np.dtype("u1"), "int_val"),
    DataType.DT_QINT16: (np.dtype("<i2"), "int_val"),
    DataType.DT_QUINT16: (np.dtype("<u2"), "int_val"),
    DataType.DT_QINT32: (np.dtype("<i4"), "int_val"),
    DataType.DT_UINT16: (np.dtype("<u2"), "int_val"),
    DataType.DT_INT64: (np.dtype("<i8"), "int64_val"),
    DataType.DT_UINT32: (np.dtype("<u4"), "uint32_val"),
    DataType.DT_UINT64: (np.dtype("<u8"), "uint64_val"),
    DataType.DT_BOOL: (np.dtype("?"), "bool_val"),
    DataType.DT_HALF: (np.dtype("<f2"), "half_val"),
    DataType.DT_BFLOAT16: (np.dtype("<u2"), "half_val"),  # raw bits; widened to float32 below
    DataType.DT_COMPLEX64: (np.dtype("<c8"), "scomplex_val"),
    DataType.DT_COMPLEX128: (np.dtype("<c16"), "dcomplex_val"),
}

# --------------------------------------------------------------------------------------------
# Message declarations (field numbers from tensorflow/core/framework/*.proto, proto3).
# --------------------------------------------------------------------------------------------
_F = descriptor_pb2.FieldDescriptorProto
_OPT, _REP = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED
_PACKAGE = "facecluster_tf"

# (name, number, label, type, type_name or None, oneof index or None)
_MESSAGES: dict[str, list[tuple[str, int, int, int, str | None, int | None]]] = {
    "TensorShapeProto.Dim": [
        ("size", 1, _OPT, _F.TYPE_INT64, None, None),
        ("name", 2, _OPT, _F.TYPE_STRING, None, None),
    ],
    "TensorShapeProto": [
        ("dim", 2, _REP, _F.TYPE_MESSAGE, "TensorShapeProto.Dim", None),
        ("unknown_rank", 3, _OPT, _F.TYPE_BOOL, None, None),
    ],
    "TensorProto": [
        ("dtype", 1, _OPT, _F.TYPE_ENUM, "DataType", None),
        ("tensor_shape", 2, _OPT, _F.TYPE_MESSAGE, "TensorShapeProto", None),
        ("version_number", 3, _OPT, _F.TYPE_INT32, None, None),
        ("tensor_content", 4, _OPT, _F.TYPE_BYTES, None, None),
        ("float_val", 5, _REP, _F.TYPE_FLOAT, None, None),
        ("double_val", 6, _REP, _F.TYPE_DOUBLE, None, None),
        ("int_val", 7, _REP, _F.TYPE_INT32, None, None),
        ("string_val", 8, _REP, _F.TYPE_BYTES, None, None),
        ("scomplex_val", 9, _REP, _F.TYPE_FLOAT, None, None),
        ("int64_val", 10, _REP, _F.TYPE_INT64, None, None),
        ("bool_val", 11, _REP, _F.TYPE_BOOL, None, None),
        ("dcomplex_val", 12, _REP, _F.TYPE_DOUBLE, None, None),
        ("half_val", 13, _REP, _F.TYPE_INT32, None, None),
        ("uint32_val", 16, _REP, _F.TYPE_UINT32, None, None),
        ("uint64_val", 17, _REP, _F.TYPE_UINT64, None, None),
    ],
    "AttrValue.ListValue": [
        ("s", 2, _REP, _F.TYPE_BYTES, None, None),
        ("i", 3, _REP, _F.TYPE_INT64, None, None),
        ("f", 4, _REP, _F.TYPE_FLOAT, None, None),
        ("b", 5, _REP, _F.TYPE_BOOL, None, None),
        ("type", 6, _REP, _F.TYPE_ENUM, "DataType", None),
        ("shape", 7, _REP, _F.TYPE_MESSAGE, "TensorShapeProto", None),
        ("tensor", 8, _REP, _F.TYPE_MESSAGE, "TensorProto", None),
        ("func", 9, _REP, _F.TYPE_MESSAGE, "NameAttrList", None),
    ],
    "AttrValue": [
        ("list", 1, _OPT, _F.TYPE_MESSAGE, "AttrValue.ListValue", 0),
        ("s", 2, _OPT, _F.TYPE_BYTES, None, 0),
        ("i", 3, _OPT, _F.TYPE_INT64, None, 0),
        ("f", 4, _OPT, _F.TYPE_FLOAT, None, 0),
        ("b", 5, _OPT, _F.TYPE_BOOL, None, 0),
        ("type", 6, _OPT, _F.TYPE_ENUM, "DataType", 0),
        ("shape", 7, _OPT, _F.TYPE_MESSAGE, "TensorShapeProto", 0),
        ("tensor", 8, _OPT, _F.TYPE_MESSAGE, "TensorProto", 0),
        ("placeholder", 9, _OPT, _F.TYPE_STRING, None, 0),
        ("func", 10, _OPT, _F.TYPE_MESSAGE, "NameAttrList", 0),
    ],
    "NameAttrList": [
        ("name", 1, _OPT, _F.TYPE_STRING, None, None),
        ("attr", 2, _REP, _F.TYPE_MESSAGE, "NameAttrList.AttrEntry", None),
    ],
    "NodeDef": [
        ("name", 1, _OPT, _F.TYPE_STRING, None, None),
        ("op", 2, _OPT, _F.TYPE_STRING, None, None),
        ("input", 3, _REP, _F.TYPE_STRING, None, None),
        ("device", 4, _OPT, _F.TYPE_STRING, None, None),
        ("attr", 5, _REP, _F.TYPE_MESSAGE, "NodeDef.AttrEntry", None),
    ],
    "VersionDef": [
        ("producer", 1, _OPT, _F.TYPE_INT32, None, None),
        ("min_consumer", 2, _OPT, _F.TYPE_INT32, None, None),
        ("bad_consumers", 3, _REP, _F.TYPE_INT32, None, None),
    ],
    "GraphDef": [
        ("node", 1, _REP, _F.TYPE_MESSAGE, "NodeDef", None),
        ("version", 3, _OPT, _F.TYPE_INT32, None, None),
        ("versions", 4, _OPT, _F.TYPE_MESSAGE, "VersionDef", None),
    ],
}
_ONEOFS = {"AttrValue": ["value"]}
_MAP_ENTRIES = {"NodeDef": "AttrEntry", "NameAttrList": "AttrEntry"}  # map<string, AttrValue>


def _file_descriptor() -> descriptor_pb2.FileDescriptorProto:
    fdp = descriptor_pb2.FileDescriptorProto(
        name="facecluster_tf_graphdef.proto", package=_PACKAGE, syntax="proto3"
    )
    enum_proto = fdp.enum_type.add(name="DataType")
    for member in DataType:
        enum_proto.value.add(name=member.name, number=int(member))

    def add_fields(msg: descriptor_pb2.DescriptorProto, spec: list) -> None:
        for name, number, label, ftype, type_name, oneof in spec:
            fld = msg.field.add(name=name, number=number, label=label, type=ftype)
            if type_name is not None:
                fld.type_name = f".{_PACKAGE}.{type_name}"
            if oneof is not None:
                fld.oneof_index = oneof

    top: dict[str, descriptor_pb2.DescriptorProto] = {}
    for full_name, spec in _MESSAGES.items():
        if "." in full_name:
            continue
        msg = fdp.message_type.add(name=full_name)
        top[full_name] = msg
        for oneof_name in _ONEOFS.get(full_name, []):
            msg.oneof_decl.add(name=oneof_name)
        add_fields(msg, spec)
    for full_name, spec in _MESSAGES.items():
        if "." in full_name:
            parent, child = full_name.split(".")
            add_fields(top[parent].nested_type.add(name=child), spec)
    for parent, entry_name in _MAP_ENTRIES.items():
        entry = top[parent].nested_type.add(name=entry_name)
        entry.options.map_entry = True
        entry.field.add(name="key", number=1, label=_OPT, type=_F.TYPE_STRING)
        entry.field.add(
            name="value",
            number=2,
            label=_OPT,
            type=_F.TYPE_MESSAGE,
            type_name=f".{_PACKAGE}.AttrValue",
        )
    return fdp


@cache
def message_classes() -> dict[str, type]:
    """The generated message classes by short name (``"GraphDef"``, ``"TensorProto"``, …).

    Built once, in a private descriptor pool; useful to build small GraphDefs in tests.
    """
    pool = descriptor_pool.DescriptorPool()
    pool.Add(_file_descriptor())
    names = ["GraphDef", "NodeDef", "AttrValue", "NameAttrList", "TensorProto"]
    names += ["TensorShapeProto", "VersionDef"]
    return {
        n: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.{n}"))
        for n in names
    }


# --------------------------------------------------------------------------------------------
# Decoded, plain-Python view of a graph.
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Node:
    """One ``NodeDef``: its name, op type, input references and decoded attributes.

    ``inputs`` are TensorFlow references as written in the graph: ``"name"`` (output 0),
    ``"name:k"`` (output k) or ``"^name"`` (control dependency); see :func:`split_input`.
    """

    name: str
    op: str
    inputs: tuple[str, ...]
    device: str = ""
    attrs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def data_inputs(self) -> tuple[str, ...]:
        """The inputs that carry tensors (control dependencies ``^name`` left out)."""
        return tuple(i for i in self.inputs if not i.startswith("^"))

    @property
    def value(self) -> np.ndarray:
        """The tensor of a ``Const`` node."""
        if self.op != "Const":
            raise GraphDefError(f"node {self.name!r} is a {self.op}, not a Const")
        return self.attrs["value"]


@dataclass(frozen=True)
class Graph:
    """A decoded GraphDef: nodes in file order, with lookup by name."""

    nodes: tuple[Node, ...]
    producer: int | None = None
    _by_name: dict[str, Node] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        for node in self.nodes:
            if node.name in self._by_name:
                raise GraphDefError(f"duplicate node name {node.name!r}")
            self._by_name[node.name] = node

    def __len__(self) -> int:
        return len(self.nodes)

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __getitem__(self, name: str) -> Node:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no node named {name!r} in the graph") from None

    def constants(self) -> dict[str, np.ndarray]:
        """Every ``Const`` node's value, by node name."""
        return {n.name: n.attrs["value"] for n in self.nodes if n.op == "Const"}

    def producer_of(self, ref: str) -> Node:
        """The node that produces the tensor named by an input reference."""
        return self[split_input(ref)[0]]

    def op_counts(self) -> dict[str, int]:
        """How many nodes of each op type the graph holds."""
        counts: dict[str, int] = {}
        for n in self.nodes:
            counts[n.op] = counts.get(n.op, 0) + 1
        return counts


def split_input(ref: str) -> tuple[str, int]:
    """Split an input reference into ``(node name, output index)``; ``^x`` gives ``(x, -1)``."""
    if ref.startswith("^"):
        return ref[1:], -1
    name, sep, index = ref.rpartition(":")
    if sep and index.isdigit():
        return name, int(index)
    return ref, 0


def _shape(shape_msg: Any) -> tuple[int | None, ...] | None:
    """A TensorShapeProto as a tuple (``None`` for an unknown dim, ``None`` for unknown rank)."""
    if shape_msg.unknown_rank:
        return None
    return tuple(None if d.size < 0 else int(d.size) for d in shape_msg.dim)


def tensor_to_numpy(tensor: Any) -> np.ndarray:
    """Convert a decoded ``TensorProto`` message to a numpy array of its dtype and shape.

    ``tensor_content`` holds the little-endian bytes of all elements in row-major order; when
    it is empty, the values come from the dtype's ``*_val`` field, and (TensorFlow's rule) a
    list shorter than the number of elements is padded with its last value, an empty one
    means zeros.  ``DT_BFLOAT16`` is widened to float32 exactly; ``DT_STRING`` gives an object
    array of ``bytes``.

    Raises
    ------
    GraphDefError
        For an unsupported dtype, a partially known shape, or a byte / value count that does
        not fit the shape.
    """
    try:
        dtype = DataType(tensor.dtype)
    except ValueError:
        raise GraphDefError(f"unknown TensorFlow dtype {tensor.dtype}") from None
    shape = _shape(tensor.tensor_shape)
    if shape is None or any(d is None for d in shape):
        raise GraphDefError(f"a constant tensor needs a fully known shape, got {shape}")
    count = int(np.prod(shape, dtype=np.int64))

    if dtype == DataType.DT_STRING:
        values = list(tensor.string_val)
        if len(values) not in (count, 1) and not (count == 0 and not values):
            raise GraphDefError(f"{len(values)} strings for shape {shape}")
        out = np.empty(count, dtype=object)
        out[:] = values if len(values) == count else values * count
        return out.reshape(shape)
    if dtype not in _NUMPY:
        raise GraphDefError(f"cannot convert a {dtype.name} tensor to numpy")

    np_dtype, val_field = _NUMPY[dtype]
    complex_ = dtype in (DataType.DT_COMPLEX64, DataType.DT_COMPLEX128)
    if tensor.tensor_content:
        content = tensor.tensor_content
        if len(content) != count * np_dtype.itemsize:
            raise GraphDefError(
                f"tensor_content has {len(content)} bytes; shape {shape} of {dtype.name} "
                f"needs {count * np_dtype.itemsize}"
            )
        arr = np.frombuffer(content, dtype=np_dtype).copy()
    else:
        raw = list(getattr(tensor, val_field))
        if complex_:  # stored as interleaved (real, imag) pairs
            part = np.asarray(raw, dtype=np.float32 if dtype == DataType.DT_COMPLEX64 else None)
            raw = list(part[0::2] + 1j * part[1::2])
        if len(raw) > count:
            raise GraphDefError(f"{len(raw)} values in {val_field} for shape {shape}")
        if dtype in (DataType.DT_HALF, DataType.DT_BFLOAT16):
            base = np.asarray(raw, dtype=np.int64).astype(np.uint16).view(np_dtype)
        else:
            base = np.asarray(raw, dtype=np_dtype) if raw else np.zeros(0, np_dtype)
        arr = np.zeros(count, dtype=np_dtype)
        arr[: len(base)] = base
        if 0 < len(base) < count:
            arr[len(base) :] = base[-1]
    if dtype == DataType.DT_BFLOAT16:
        arr = (arr.astype(np.uint32) << 16).view(np.float32)
    return arr.reshape(shape)


def _attr_value(attr: Any) -> Any:
    """Decode an ``AttrValue`` into a plain Python / numpy value."""
    kind = attr.WhichOneof("value")
    if kind is None:
        return None
    if kind == "list":
        lst = attr.list
        for name in ("s", "i", "f", "b", "type", "shape", "tensor", "func"):
            values = getattr(lst, name)
            if len(values):
                return [_scalar_attr(name, v) for v in values]
        return []
    return _scalar_attr(kind, getattr(attr, kind))


def _scalar_attr(kind: str, value: Any) -> Any:
    if kind == "s":
        return bytes(value)
    if kind == "i":
        return int(value)
    if kind == "f":
        return float(value)
    if kind == "b":
        return bool(value)
    if kind == "type":
        return DataType(value) if value in DataType._value2member_map_ else int(value)
    if kind == "shape":
        return _shape(value)
    if kind == "tensor":
        return tensor_to_numpy(value)
    if kind == "func":
        return (value.name, {k: _attr_value(v) for k, v in value.attr.items()})
    return value  # placeholder: a string


def parse_graphdef(data: bytes) -> Graph:
    """Decode the bytes of a serialised ``GraphDef`` into a :class:`Graph`.

    Raises
    ------
    GraphDefError
        When the bytes are not a valid GraphDef (e.g. a truncated file) or hold no nodes.
    """
    graph_def = message_classes()["GraphDef"]()
    try:
        graph_def.ParseFromString(data)
    except Exception as exc:  # google.protobuf.message.DecodeError and runtime variants
        raise GraphDefError(f"not a decodable GraphDef ({len(data)} bytes): {exc}") from exc
    if not len(graph_def.node):
        raise GraphDefError(f"the GraphDef ({len(data)} bytes) holds no nodes")
    nodes = tuple(
        Node(
            name=n.name,
            op=n.op,
            inputs=tuple(n.input),
            device=n.device,
            attrs={k: _attr_value(v) for k, v in sorted(n.attr.items())},
        )
        for n in graph_def.node
    )
    producer = graph_def.versions.producer if graph_def.HasField("versions") else None
    return Graph(nodes=nodes, producer=producer)


def read_graphdef(path: str | Path) -> Graph:
    """Read a frozen-graph ``.pb`` file; see :func:`parse_graphdef`."""
    path = Path(path)
    data = path.read_bytes()
    graph = parse_graphdef(data)
    log.info("read %s: %d nodes, %d bytes", path.name, len(graph), len(data))
    return graph


def strip_control_inputs(data: bytes) -> tuple[bytes, list[str]]:
    """Remove control-dependency inputs (``^name``) from a serialised GraphDef.

    A control input only orders execution; it carries no tensor, so removing it from a frozen
    (inference-only) graph does not change any value the graph computes.  OpenCV's TensorFlow
    importer (``cv2.dnn.readNetFromTensorflow``, seen with OpenCV 4.14) fails on such inputs
    (``graph_simplifier.cpp: nodeIds.find(inpName) != nodeIds.end()``), so the reference run
    reads a graph passed through this function.

    Returns
    -------
    bytes, list of str
        The re-serialised GraphDef and the names of the nodes that lost a control input.
    """
    graph_def = message_classes()["GraphDef"]()
    try:
        graph_def.ParseFromString(data)
    except Exception as exc:
        raise GraphDefError(f"not a decodable GraphDef ({len(data)} bytes): {exc}") from exc
    changed: list[str] = []
    for node in graph_def.node:
        kept = [i for i in node.input if not i.startswith("^")]
        if len(kept) != len(node.input):
            del node.input[:]
            node.input.extend(kept)
            changed.append(node.name)
    return graph_def.SerializeToString(), changed
