"""Precomputed feature files: every format, validation errors, normalisation, published set."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io

from facecluster.data.download import SourcesExhaustedError
from facecluster.data.features import (
    FORMATS,
    PUBLISHED,
    FeaturesError,
    acquire_published,
    infer_format,
    read_features,
)
from facecluster.errors import UserError
from facecluster.integrity import ChecksumError

RNG = np.random.default_rng(7)


def _unit(n: int = 4, d: int = 3, dtype: type = np.float32) -> np.ndarray:
    X = RNG.normal(size=(n, d))
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(dtype)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _raises(match: str, *args: object, **kwargs: object) -> FeaturesError:
    """read_features(*args, **kwargs) raises a one-line FeaturesError matching ``match``."""
    with pytest.raises(FeaturesError, match=match) as err:
        read_features(*args, **kwargs)  # type: ignore[arg-type]
    assert "\n" not in str(err.value)
    assert isinstance(err.value, UserError)
    return err.value


def _write_v73(path: Path, X: np.ndarray) -> None:
    """An HDF5 file with a MATLAB v7.3 header in its 512-byte user block, as MATLAB writes."""
    with h5py.File(path, "w", userblock_size=512) as f:
        f["feats"] = X
    text = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5"
    header = text.ljust(116, b" ") + b"\0" * 8 + b"\x00\x02IM"
    with path.open("r+b") as fh:
        fh.write(header)


# --------------------------------------------------------------------------------------------
# formats
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("a.npz", "npz"),
        ("a.h5", "hdf5"),
        ("a.HDF5", "hdf5"),
        ("a.he5", "hdf5"),
        ("a.bin", "bin"),
        ("a.mat", "mat"),
    ],
)
def test_infer_format(name: str, fmt: str) -> None:
    assert infer_format(name) == fmt and fmt in FORMATS


@pytest.mark.parametrize("name", ["feats.txt", "feats", "feats.npy"])
def test_unknown_suffix_says_to_set_format(name: str, tmp_path: Path) -> None:
    with pytest.raises(FeaturesError, match="set format:") as err:
        infer_format(tmp_path / name)
    assert "\n" not in str(err.value) and str(err.value).startswith(str(tmp_path / name))
    (tmp_path / name).write_bytes(b"x")
    _raises("npz, hdf5, bin, mat", tmp_path / name)


def test_missing_file(tmp_path: Path) -> None:
    _raises(r"a\.npz: feature file not found", tmp_path / "a.npz")


def test_npz_round_trip(tmp_path: Path) -> None:
    X = _unit(dtype=np.float64)
    p = tmp_path / "f.npz"
    np.savez(p, embeddings=X, labels=np.array([3, 3, 5, 7]))
    fs = read_features(p)
    assert fs.X.dtype == np.float32 and fs.X.flags.c_contiguous and fs.X.shape == (4, 3)
    np.testing.assert_array_equal(fs.X, X.astype(np.float32))
    assert fs.labels.tolist() == ["3", "3", "5", "7"] and fs.labels.dtype.kind == "U"
    assert fs.source_dtype == "float64" and not fs.normalised
    assert fs.sources == {"f.npz": _sha(p)}
    assert abs(fs.norms[0] - 1) < 1e-6 and abs(fs.norms[1] - 1) < 1e-6


def test_npz_named_arrays_and_missing_array(tmp_path: Path) -> None:
    p = tmp_path / "f.npz"
    np.savez(p, feats=_unit(), ids=np.array(["a", "b", "a", "c"]))
    assert read_features(p, array="feats", labels="ids").labels.tolist() == ["a", "b", "a", "c"]
    _raises(r"no array 'embeddings'.*feats, ids", p)


def test_hdf5_round_trip_group_dataset_and_string_labels(tmp_path: Path) -> None:
    X = _unit(5, 4)
    p = tmp_path / "f.h5"
    with h5py.File(p, "w") as f:
        f.create_dataset("grp/feats", data=X)
        f.create_dataset("grp/names", data=[b"ann", b"bob", b"ann", b"cy", b"dee"])
        f.create_dataset("other", data=np.arange(3))  # 1-D: never taken for the vectors
    fs = read_features(p, labels="grp/names")  # the only 2-D numeric dataset
    np.testing.assert_array_equal(fs.X, X)
    assert fs.labels.tolist() == ["ann", "bob", "ann", "cy", "dee"]
    fs2 = read_features(p, array="/grp/feats", labels="grp/names")
    np.testing.assert_array_equal(fs2.X, X)


def test_hdf5_variable_length_str_labels_and_labels_file(tmp_path: Path) -> None:
    p = tmp_path / "f.hdf5"
    with h5py.File(p, "w") as f:
        f["x"] = _unit(3, 2)
        f.create_dataset("who", data=["é", "b", "c"], dtype=h5py.string_dtype())
    assert read_features(p, labels="who").labels.tolist() == ["é", "b", "c"]
    lab = tmp_path / "labels.json"
    lab.write_text(json.dumps([1, 2, "x"]))
    fs = read_features(p, array="x", labels_path=lab)
    assert fs.labels.tolist() == ["1", "2", "x"]
    assert fs.sources == {"f.hdf5": _sha(p), "labels.json": _sha(lab)}


def test_hdf5_ambiguous_or_missing_dataset_lists_names(tmp_path: Path) -> None:
    p = tmp_path / "f.h5"
    with h5py.File(p, "w") as f:
        f["a"] = _unit(3, 2)
        f["b"] = _unit(3, 2)
        f["lab"] = np.arange(3)
    _raises(r"several 2-D numeric.*a \(3, 2\) float32, b \(3, 2\).*set array:", p, labels="lab")
    _raises(r"array 'c' is not in the file.*lab \(3,\) int64", p, array="c", labels="lab")
    _raises(r"no dataset 'nope' for the labels", p, array="a", labels="nope")
    _raises(r"no labels given; set labels:", p, array="a")


@pytest.mark.reliability
def test_not_hdf5_given_as_hdf5(tmp_path: Path) -> None:
    p = tmp_path / "f.h5"
    p.write_bytes(b"not hdf5 at all" * 10)
    _raises(r"f\.h5: not an HDF5 file", p)
    m = tmp_path / "v5.mat"
    scipy.io.savemat(m, {"x": _unit()})
    _raises(r"not an HDF5 file \(a MATLAB v4-v7 file\? set format: mat\)", m, format="hdf5")


def test_bin_and_meta_round_trip(tmp_path: Path) -> None:
    X = _unit(6, 8)
    p = tmp_path / "part0.bin"
    X.astype("<f4").tofile(p)
    meta = tmp_path / "part0.meta"
    meta.write_text("0\n1\n1\n2\n0\n2\n\n\n")  # trailing blank lines are ignored
    fs = read_features(p, dim=8, labels_path=meta)
    np.testing.assert_array_equal(fs.X, X)
    assert fs.labels.tolist() == ["0", "1", "1", "2", "0", "2"]
    assert fs.sources == {"part0.bin": _sha(p), "part0.meta": _sha(meta)}
    assert fs.source_dtype == "float32"


@pytest.mark.reliability
def test_bin_errors(tmp_path: Path) -> None:
    p = tmp_path / "part0.bin"
    _unit(6, 8).tofile(p)  # 192 bytes
    meta = tmp_path / "part0.meta"
    meta.write_text("\n".join("012012") + "\n")
    _raises(r"part0\.bin: .*set dim:", p, labels_path=meta)
    _raises(r"192 bytes .*dim 5", p, dim=5, labels_path=meta)
    _raises(r"dim must be a whole number >= 1, got 0", p, dim=0, labels_path=meta)
    _raises(r"holds no labels; set labels_path:", p, dim=8)
    _raises(r"6 labels in .*part0\.meta for 12 vectors", p, dim=4, labels_path=meta)
    _raises(r"array:/labels: do not apply", p, dim=8, labels="x")


def test_mat_round_trip_column_labels_become_ints(tmp_path: Path) -> None:
    X = _unit(4, 3, np.float64)
    p = tmp_path / "f.mat"
    scipy.io.savemat(p, {"feats": X, "labels": np.array([[1.0], [2.0], [2.0], [1.0]])})
    fs = read_features(p, labels="labels")  # labels (4, 1) is 2-D too: feats is the vectors
    np.testing.assert_array_equal(fs.X, X.astype(np.float32))
    assert fs.labels.tolist() == ["1", "2", "2", "1"]
    assert fs.source_dtype == "float64"


def test_mat_transposed_and_char_labels(tmp_path: Path) -> None:
    X = _unit(4, 3)
    p = tmp_path / "f.mat"
    scipy.io.savemat(p, {"F": X.T, "who": np.array(["ab", "c", "ab", "d"])})  # (d, n)
    _raises(r"4 labels for 3 vectors; stored as \(d, n\)\? set transpose: true", p, labels="who")
    fs = read_features(p, labels="who", transpose=True)
    np.testing.assert_array_equal(fs.X, X)
    assert fs.labels.tolist() == ["ab", "c", "ab", "d"]  # MATLAB's space padding stripped


def test_mat_needs_labels_and_lists_variables(tmp_path: Path) -> None:
    p = tmp_path / "f.mat"
    scipy.io.savemat(p, {"feats": _unit(), "more": _unit()})
    _raises(r"several 2-D numeric variable.*feats \(4, 3\) float32", p, labels_path=None)
    _raises(r"no labels given", p, array="feats")
    _raises(r"no variable 'x'", p, array="x", labels="more")


@pytest.mark.reliability
def test_v73_mat_says_set_format_hdf5(tmp_path: Path) -> None:
    p = tmp_path / "big.mat"
    X = _unit(5, 3)
    _write_v73(p, X.T)
    _raises(r"big\.mat: a MATLAB v7\.3 file \(HDF5 inside\).*set format: hdf5", p)
    lab = tmp_path / "l.txt"
    lab.write_text("a\nb\nc\nd\ne\n")
    fs = read_features(p, format="hdf5", transpose=True, labels_path=lab)
    np.testing.assert_array_equal(fs.X, X)


@pytest.mark.reliability
def test_garbage_mat(tmp_path: Path) -> None:
    p = tmp_path / "f.mat"
    p.write_bytes(b"garbage" * 10)
    _raises(r"f\.mat: not a readable MATLAB \.mat file", p)


# --------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------
def _write(fmt: str, folder: Path, X: np.ndarray, y: np.ndarray) -> tuple[Path, dict]:
    """One file of ``fmt`` holding X and y; returns it and the read_features settings."""
    if fmt == "npz":
        p = folder / "f.npz"
        np.savez(p, embeddings=X, labels=y)
        return p, {}
    if fmt == "hdf5":
        p = folder / "f.h5"
        with h5py.File(p, "w") as f:
            f["x"], f["y"] = X, y
        return p, {"labels": "y"}
    if fmt == "mat":
        p = folder / "f.mat"
        scipy.io.savemat(p, {"x": X, "y": y})
        return p, {"array": "x", "labels": "y"}
    p = folder / "f.bin"
    X.astype("<f4").tofile(p)
    meta = folder / "f.meta"
    meta.write_text("".join(f"{v}\n" for v in y))
    return p, {"dim": X.shape[1], "labels_path": meta}


@pytest.mark.reliability
@pytest.mark.parametrize("fmt", FORMATS)
def test_label_count_mismatch(fmt: str, tmp_path: Path) -> None:
    p, kw = _write(fmt, tmp_path, _unit(4, 5), np.array([1, 2, 3]))
    _raises(rf"^{p}: 3 labels( in \S+)? for 4 vectors$", p, **kw)


@pytest.mark.parametrize("fmt", ["npz", "hdf5", "mat"])
def test_transposed_hint(fmt: str, tmp_path: Path) -> None:
    p, kw = _write(fmt, tmp_path, _unit(4, 6).T.copy(), np.arange(4))
    _raises(r"4 labels for 6 vectors; stored as \(d, n\)\? set transpose: true", p, **kw)
    assert read_features(p, transpose=True, **kw).X.shape == (4, 6)


@pytest.mark.reliability
@pytest.mark.parametrize("fmt", FORMATS)
def test_nan_rows(fmt: str, tmp_path: Path) -> None:
    X = _unit(10, 3)
    X[3, 1] = np.nan
    X[7, 0] = np.inf
    p, kw = _write(fmt, tmp_path, X, np.arange(10))
    _raises(r"2 of 10 vector rows hold NaN or infinite values \(first at row 3\)", p, **kw)


@pytest.mark.reliability
def test_non_numeric_or_bad_shape_vectors(tmp_path: Path) -> None:
    p = tmp_path / "f.npz"
    np.savez(p, embeddings=np.ones((2, 2), bool), labels=np.arange(2))
    _raises(r"must be numeric .* got dtype bool", p)
    np.savez(p, embeddings=np.array([["a", "b"]]), labels=np.arange(1))
    _raises(r"must be numeric", p)
    np.savez(p, embeddings=np.ones(3), labels=np.arange(3))
    _raises(r"shape \(n, d\) .* got \(3,\)", p)
    np.savez(p, embeddings=np.ones((0, 3)), labels=np.arange(0))
    _raises(r"got \(0, 3\)", p)


def test_integer_vectors_accepted(tmp_path: Path) -> None:
    p = tmp_path / "f.npz"
    np.savez(p, embeddings=np.eye(3, dtype=np.int16), labels=np.arange(3))
    fs = read_features(p)
    assert fs.source_dtype == "int16" and fs.X.dtype == np.float32 and not fs.normalised


def test_float_labels(tmp_path: Path) -> None:
    p = tmp_path / "f.npz"
    np.savez(p, embeddings=_unit(3, 2), labels=np.array([1.0, np.nan, 2.0]))
    _raises(r"1 label\(s\) are NaN or infinite \(first at row 1\)", p)
    np.savez(p, embeddings=_unit(3, 2), labels=np.array([1.0, 2.5, 2.0]))
    assert read_features(p).labels.tolist() == ["1.0", "2.5", "2.0"]  # not all whole numbers
    np.savez(p, embeddings=_unit(3, 2), labels=np.array([10.0, -2.0, 0.0]))
    assert read_features(p).labels.tolist() == ["10", "-2", "0"]


def test_labels_files(tmp_path: Path) -> None:
    p = tmp_path / "f.npz"
    np.savez(p, embeddings=_unit(3, 2))
    txt = tmp_path / "l.txt"
    txt.write_text(" alice \nbob\r\ncarol\n")
    assert read_features(p, labels_path=txt).labels.tolist() == ["alice", "bob", "carol"]
    txt.write_text("alice\n\ncarol\n")
    _raises(r"l\.txt: line 2 is blank", p, labels_path=txt)
    js = tmp_path / "l.json"
    for bad, why in [
        ({"a": 1}, "expected a JSON list"),
        ([1, 2.5, 3], "item 1 is 2.5"),
        ([1, None, 3], "item 1 is null"),
        ([True, 1, 2], "item 0 is true"),
    ]:
        js.write_text(json.dumps(bad))
        _raises(why, p, labels_path=js)
    js.write_text("[1, 2,")
    _raises(r"l\.json: not valid JSON", p, labels_path=js)
    _raises(r"nowhere\.txt: labels file not found", p, labels_path=tmp_path / "nowhere.txt")
    _raises(r"not both", p, labels="labels", labels_path=txt)


def test_unknown_format_name(tmp_path: Path) -> None:
    p = tmp_path / "f.npz"
    np.savez(p, embeddings=_unit(), labels=np.arange(4))
    _raises(r"unknown feature format 'csv'", p, format="csv")


def test_dim_checks_other_formats(tmp_path: Path) -> None:
    p = tmp_path / "f.npz"
    np.savez(p, embeddings=_unit(4, 3), labels=np.arange(4))
    assert read_features(p, dim=3).X.shape == (4, 3)
    _raises(r"dimension 3, not dim: 5", p, dim=5)


# --------------------------------------------------------------------------------------------
# normalisation
# --------------------------------------------------------------------------------------------
def test_normalize_true_makes_unit_rows(tmp_path: Path) -> None:
    X = _unit(5, 4, np.float64) * np.array([[2.0], [3.0], [0.5], [1.0], [10.0]])
    p = tmp_path / "f.npz"
    np.savez(p, embeddings=X, labels=np.arange(5))
    fs = read_features(p, normalize=True)
    assert fs.normalised
    np.testing.assert_allclose(np.linalg.norm(fs.X, axis=1), 1.0, atol=1e-6)
    assert fs.norms == pytest.approx((0.5, 10.0))


def test_unnormalised_kept_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    X = (_unit(5, 4) * 3).astype(np.float32)
    p = tmp_path / "f.npz"
    np.savez(p, embeddings=X, labels=np.arange(5))
    with caplog.at_level(logging.WARNING, logger="facecluster.data.features"):
        fs = read_features(p)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    msg = warnings[0].getMessage()
    assert msg.startswith(f"{p}: vectors are not L2-normalised (norms 3..3)")
    assert "set normalize: true" in msg
    assert not fs.normalised and np.array_equal(fs.X, X)


def test_unit_rows_untouched_bit_for_bit(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    X = _unit(50, 16, np.float64)
    p = tmp_path / "f.npz"
    np.savez(p, embeddings=X, labels=np.arange(50))
    with caplog.at_level(logging.WARNING, logger="facecluster.data.features"):
        fs = read_features(p, normalize=True)
    assert not fs.normalised and not caplog.records
    assert fs.X.tobytes() == X.astype(np.float32).tobytes()


@pytest.mark.reliability
def test_zero_row_cannot_be_normalised(tmp_path: Path) -> None:
    X = np.ones((4, 3))
    X[2] = 0
    p = tmp_path / "f.npz"
    np.savez(p, embeddings=X, labels=np.arange(4))
    _raises(r"vector row 2 is all zeros", p, normalize=True)


# --------------------------------------------------------------------------------------------
# the published feature set
# --------------------------------------------------------------------------------------------
def test_unknown_published_name(tmp_path: Path) -> None:
    with pytest.raises(FeaturesError, match="muct-facenet-20170512") as err:
        acquire_published("lfw-arcface", tmp_path)
    assert "\n" not in str(err.value) and str(err.value).startswith("lfw-arcface:")


@pytest.mark.reliability
def test_wrong_bytes_in_the_mirror_are_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, offline: list[str]
) -> None:
    spec = PUBLISHED["muct-facenet-20170512"]
    bad = tmp_path / "mirror" / spec.mirror_dir / spec.vectors.filename
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not the published file")
    monkeypatch.setenv("FACECLUSTER_MIRROR", str(tmp_path / "mirror"))
    with pytest.raises(ChecksumError) as err:
        acquire_published(spec.name, tmp_path / "raw")
    message = str(err.value)
    assert "\n" not in message and spec.vectors.filename in message and "mismatch" in message
    assert bad.read_bytes() == b"not the published file" and not offline  # not downloaded over


def test_offline_without_a_mirror(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, offline: list[str]
) -> None:
    monkeypatch.delenv("FACECLUSTER_MIRROR", raising=False)
    spec = PUBLISHED["muct-facenet-20170512"]
    with pytest.raises(SourcesExhaustedError) as err:
        acquire_published(spec.name, tmp_path / "raw")
    message = str(err.value)
    assert "\n" not in message and "FACECLUSTER_MIRROR" in message
    assert message.startswith(f"{spec.name}: cannot download {spec.vectors.filename}")
    assert offline == list(spec.vectors.urls)
    assert "zengsn/muct-cropped/" in offline[0] and spec.mirror_dir in message
    assert not (tmp_path / "raw" / spec.vectors.filename).exists()


def test_published_entry_is_pinned() -> None:
    spec = PUBLISHED["muct-facenet-20170512"]
    for remote in (spec.vectors, spec.labels):
        assert remote.sha256 and remote.git_sha1 and len(remote.urls) == 1
        assert remote.urls[0].endswith(f"/FaceNet-20170512-110547/{remote.filename}")


def test_published_muct_facenet_from_the_mirror(mirror: Path, tmp_path: Path) -> None:
    spec = PUBLISHED["muct-facenet-20170512"]
    vectors, labels = acquire_published(spec.name, tmp_path)
    assert vectors.is_relative_to(mirror) and labels.is_relative_to(mirror)
    fs = read_features(vectors, format=spec.format, array=spec.array, labels_path=labels)
    assert fs.X.shape == (spec.n, spec.dim) == (3755, 128) and fs.X.dtype == np.float32
    assert len(set(fs.labels.tolist())) == spec.n_identities == 276
    assert abs(fs.norms[0] - 1) < 1e-3 and abs(fs.norms[1] - 1) < 1e-3 and not fs.normalised
    assert fs.source_dtype == "float64"
    assert fs.sources == {
        spec.vectors.filename: spec.vectors.sha256,
        spec.labels.filename: spec.labels.sha256,
    }
