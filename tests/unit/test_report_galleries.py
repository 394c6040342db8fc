"""Error galleries: merges / splits, conditions, face lookup, and recomputing a sweep run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from facecluster.config import SweepSettings
from facecluster.report import galleries as gal
from facecluster.report import gallery_section as gs
from facecluster.sweep.engine import run_sweep
from facecluster.sweep.subsets import draw_subsets


def test_false_merges_and_splits():
    y_true = np.array(["a", "a", "a", "b", "b", "c", "c", "c"])
    y_pred = np.array([0, 0, 1, 0, 2, 2, 2, 2])
    merges = gal.false_merges(y_true, y_pred)
    assert [(g.key, g.errors, g.parts) for g in merges] == [
        ("2", 1, {"c": 3, "b": 1}),
        ("0", 1, {"a": 2, "b": 1}),
    ]  # tie on errors: larger first
    assert merges[0].members.tolist() == [5, 4, 6, 7]  # interleaved: c, b, c, c
    assert merges[1].members.tolist() == [0, 3, 1]
    splits = gal.false_splits(y_true, y_pred)
    assert [(g.key, g.errors) for g in splits] == [("a", 1), ("b", 1)]
    assert splits[0].split_off.tolist() == [2]
    assert [g.key for g in gal.false_merges(y_true, y_pred, limit=1)] == ["2"]
    assert merges[1].describe() == "cluster 0: 3 faces of 2 identities (a (2), b (1))"
    assert splits[1].describe() == "identity b: 2 faces in 2 clusters (0 (1), 2 (1))"
    summary = gal.error_summary(y_true, y_pred)
    assert summary == {
        "faces": 8,
        "clusters": 3,
        "identities": 3,
        "merged clusters": 2,
        "faces in merges (not majority)": 2,
        "split identities": 2,
        "split-off faces": 2,
    }


def test_noise_is_singletons_not_a_merge():
    y_true = np.array(["a", "b", "a", "a"])
    y_pred = np.array([-1, -1, 0, 0])
    assert gal.false_merges(y_true, y_pred) == []  # two noise points are two singletons
    (split,) = gal.false_splits(y_true, y_pred)
    assert split.key == "a" and split.split_off.tolist() == [0]


def test_perfect_clustering_has_no_errors():
    y = np.array([0, 0, 1, 1, 2])
    assert gal.false_merges(y, y + 10) == [] and gal.false_splits(y, y) == []


def test_conditions_of_yale_names():
    got = gal.conditions_of(
        [
            "subject01/subject01.glasses",
            "subject02/subject02.leftlight",
            "lfw/Aaron/Aaron_0001.jpg",
            "x/plain",
            "x/a.PNG",
        ]
    )
    assert got == ["glasses", "leftlight", None, None, None]


def _manifest(n: int) -> pd.DataFrame:
    rows = [
        {
            "face_id": i,
            "identity": f"s{i // 3}",
            "relpath": f"s{i // 3}/s{i // 3}.c{i % 3}",
            "crop_index": n - 1 - i,
        }
        for i in range(n)
    ]
    return pd.DataFrame(rows).sample(frac=1.0, random_state=0)  # order must not matter


def test_face_table_maps_ids_to_crops():
    faces = gal.face_table(np.array([4, 0, 2]), _manifest(6))
    assert faces["crop_index"].tolist() == [1, 5, 3]
    assert faces["identity"].tolist() == ["s1", "s0", "s0"]
    assert faces["condition"].tolist() == ["c1", "c0", "c2"]
    with pytest.raises(ValueError, match="not in the manifest"):
        gal.face_table(np.array([0, 99]), _manifest(6))


def test_split_conditions_and_verdict():
    faces = pd.DataFrame(
        {
            "identity": ["a"] * 4 + ["b"] * 4,
            "condition": ["normal", "glasses", "leftlight", "sad"] * 2,
        }
    )
    # glasses faces of both people end in a cluster of their own
    y_pred = np.array([0, 2, 0, 0, 1, 3, 1, 1])
    table = gs.split_conditions(faces, y_pred).set_index("condition")
    assert table.loc["glasses", "split_off"] == 2 and table.loc["glasses", "rate"] == 1.0
    assert table.loc["normal", "split_off"] == 0
    verdict = gs.conditions_verdict(table.reset_index())
    assert "`glasses` (100% of its faces, 100% of all split-offs)" in verdict
    assert "2 of 8" in verdict
    assert "no condition drives" in gs.conditions_verdict(
        gs.split_conditions(faces, np.repeat([0, 1], 4))
    )
    none = gs.split_conditions(faces.assign(condition=None), y_pred)
    assert none.empty


def test_gallery_image_shows_the_crops():
    crops = np.zeros((6, 20, 20, 3), np.uint8)
    for i in range(6):
        crops[i] = (40 * i, 255 - 40 * i, 100)
    faces = pd.DataFrame(
        {"identity": list("aabbcc"), "crop_index": [5, 4, 3, 2, 1, 0], "condition": [None] * 6}
    )
    y_pred = np.array([0, 0, 0, 1, 1, 1])
    merges = gal.false_merges(faces["identity"].to_numpy(), y_pred)
    img = gal.gallery_image(merges, crops, faces, y_pred, faces_per_row=4, thumb_px=16)
    assert img.size == (200, 2 * (16 + 16 + 12 + 6))  # at least 200 px wide for the titles
    first = merges[0].members[0]
    px = np.asarray(img)[16 + 8, 6 + 8]  # centre of the first thumbnail of the first row
    assert tuple(px) == tuple(crops[faces["crop_index"][first], 0, 0])
    html = gal.gallery_html(
        {"false merges": merges, "false splits": []},
        crops,
        faces,
        y_pred,
        summary="personal × facenet",
        thumb_px=16,
    )
    assert html.startswith("<details><summary>personal × facenet</summary>")
    assert "data:image/jpeg;base64," in html and "No false splits." in html  # photos: JPEG


@pytest.fixture(scope="module")
def swept():
    """A real sweep (k-means, DBSCAN, Chinese whispers) on 3 subsets of generated faces."""
    rng = np.random.default_rng(5)
    centers = rng.normal(size=(5, 8))
    y = np.repeat([f"p{i}" for i in range(5)], 6)
    X = centers[np.repeat(np.arange(5), 6)] + rng.normal(scale=0.5, size=(30, 8))
    X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
    settings = SweepSettings.model_validate(
        {
            "n_subsets": 3,
            "methods": {
                "kmeans": {"n_init": 2},
                "agglomerative": None,
                "spectral": None,
                "dbscan": {"eps": [0.4, 0.8]},
                "meanshift": None,
                "rank_order": None,
                "chinese_whispers": {"threshold": [0.5, 0.8], "n_iter": 5},
            },
        }
    )
    subsets = draw_subsets(30, n_subsets=3, fraction=0.8, seed_key=(11, "subsets", "toy"))
    return X, y, subsets, settings


def test_reproduce_run_matches_the_sweep(swept, tmp_path):
    X, y, subsets, settings = swept
    table = run_sweep(
        X,
        y,
        subsets,
        settings,
        dataset="toy",
        model="m",
        seed=11,
        parts_dir=tmp_path / "r.parts",
    )
    for (method, params), rows in table.groupby(["method", "params"]):
        grid = list(dict.fromkeys(table.loc[table["method"] == method, "params"]))
        for subset in (0, 2):
            expected = rows.loc[rows["subset"] == subset, "ari"].item()
            labels, ari, ok = gal.reproduce_run(
                X,
                y,
                subsets[subset],
                method=method,
                params=params,
                grid=grid,
                expected_ari=expected,
                seed=11,
                dataset="toy",
                model="m",
                subset=subset,
            )
            assert ok, (method, params, subset, ari, expected)
            assert labels.shape == (subsets.shape[1],)


def test_recompute_labels_uses_the_sweeps_seed_key(swept):
    X, y, subsets, _ = swept
    kw = {"method": "kmeans", "params": {"n_init": 1}, "dataset": "toy", "model": "m"}
    a = gal.recompute_labels(X, y, subsets[0], seed=11, subset=0, **kw)
    b = gal.recompute_labels(X, y, subsets[0], seed=11, subset=0, **kw)
    assert np.array_equal(a, b)
    assert len(np.unique(a)) == len(np.unique(y[subsets[0]]))  # K = identities in the subset
    with pytest.raises(ValueError, match="not in the grid"):
        gal.recompute_labels(X, y, subsets[0], seed=11, subset=0, grid=[{"n_init": 3}], **kw)
