"""Reading embeddings files (:func:`facecluster.stages.embed.read_embeddings`): the study's
files and any ``.npz`` with ``embeddings`` and ``labels``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facecluster.stages.embed import (
    Embeddings,
    EmbeddingsError,
    read_embeddings,
    write_embeddings,
    write_skipped,
)


def write_npz(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


def test_read_embeddings(tmp_path, data):
    X, y = data
    ids = np.array([f"img{i}.jpg" for i in range(len(X))])
    emb = read_embeddings(write_npz(tmp_path / "e.npz", embeddings=X.astype(np.float64),
                                    labels=y, ids=ids))  # fmt: skip
    assert emb.X.dtype == np.float32 and emb.X.flags.c_contiguous
    np.testing.assert_allclose(emb.X, X)
    np.testing.assert_array_equal(emb.labels, y)
    np.testing.assert_array_equal(emb.ids, ids)
    assert not emb.skipped and emb.skip_reason is None
    plain = read_embeddings(write_npz(tmp_path / "f.npz", embeddings=X, labels=y))
    assert plain.ids is None and plain.relpaths is None and plain.weights_sha256 is None


def test_read_embeddings_round_trips_the_stage_file(tmp_path, data):
    X, y = data
    path = tmp_path / "toy-blobs.npz"
    write_embeddings(
        path,
        Embeddings(
            X[:80],
            y[:80],
            ids=np.arange(80, dtype=np.int64),
            relpaths=np.array([f"{p}/{i}.jpg" for i, p in enumerate(y[:80])]),
            extra_X=X[80:],
            extra_relpaths=np.array([f"extra/{i}.jpg" for i in range(10)]),
            weights_sha256="ab" * 32,
        ),
        dataset="toy",
        model="blobs",
    )
    emb = read_embeddings(path)
    np.testing.assert_array_equal(emb.X, X[:80])
    np.testing.assert_array_equal(emb.labels, y[:80])
    np.testing.assert_array_equal(emb.ids, np.arange(80))
    assert emb.relpaths is not None and emb.relpaths[3] == f"{y[3]}/3.jpg"
    np.testing.assert_array_equal(emb.extra_X, X[80:])
    assert emb.extra_relpaths is not None and list(emb.extra_relpaths)[-1] == "extra/9.jpg"
    assert emb.weights_sha256 == "ab" * 32
    assert emb.skip_reason is None and not emb.skipped


def test_read_embeddings_of_a_skipped_dataset(tmp_path):
    path = tmp_path / "empty-facenet.npz"
    write_skipped(path, "empty", "facenet", "no images found in /x")
    emb = read_embeddings(path)
    assert emb.skipped and emb.skip_reason == "no images found in /x"
    assert emb.X.shape == (0, 0) and emb.labels.shape == (0,)
    with np.load(path) as npz:  # one field marks it: no "skipped"/"reason" arrays
        assert "skip_reason" in npz.files
        assert "skipped" not in npz.files and "reason" not in npz.files


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"labels": np.zeros(4)}, r"missing array\(s\) \['embeddings'\]"),
        ({"embeddings": np.zeros((4, 2))}, r"missing array\(s\) \['labels'\]"),
        ({"embeddings": np.zeros((4, 2)), "labels": np.zeros(3)}, r"'labels' must have shape \(4,\)"),
        ({"embeddings": np.zeros(4), "labels": np.zeros(4)}, r"must have shape \(n, d\)"),
        ({"embeddings": np.zeros((4, 2)), "labels": np.zeros(4), "ids": np.zeros(5)}, "'ids'"),
        ({"embeddings": np.array([[0.0, 1.0], [np.nan, 0.0], [1.0, 0.0]]), "labels": np.zeros(3)},
         r"1 embedding row\(s\) hold NaN or infinite values \(first at row 1\)"),
        ({"embeddings": np.array([[0.0, np.inf]]), "labels": np.zeros(1)}, "NaN or infinite"),
        ({"embeddings": np.array([["a", "b"]]), "labels": np.zeros(1)}, "must be numeric"),
    ],
)  # fmt: skip
def test_read_embeddings_rejects_bad_files(tmp_path, arrays, message):
    with pytest.raises(EmbeddingsError, match=message):
        read_embeddings(write_npz(tmp_path / "bad.npz", **arrays))


def test_read_embeddings_missing_or_not_npz(tmp_path):
    with pytest.raises(EmbeddingsError, match="not found"):
        read_embeddings(tmp_path / "nope.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(EmbeddingsError, match="not a readable .npz"):
        read_embeddings(tmp_path / "text.npz")
    np.save(tmp_path / "plain.npy", np.zeros((2, 2)))
    with pytest.raises(EmbeddingsError, match="named arrays"):
        read_embeddings(tmp_path / "plain.npy")
