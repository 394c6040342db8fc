"""Otto et al.'s protocol (:mod:`facecluster.sweep.otto`) and its stage
(:mod:`facecluster.stages.otto`): orders, neighbour purity, best settings, timing, the
all-faces set (clustering set + extra faces) and the metrics."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pandas as pd
import pytest
import yaml

from facecluster.cluster.rank_order import (
    ApproximateRankOrder,
    rank_order_from_lists,
    rank_order_grid,
    top_k_lists,
)
from facecluster.config import ConfigError, OttoSettings, parse_params
from facecluster.metrics import pairwise_precision_recall_f1
from facecluster.paths import ProjectPaths
from facecluster.stages import embed as embed_stage
from facecluster.stages import faces as faces_stage
from facecluster.stages import otto as otto_stage
from facecluster.stages.embed import Embeddings
from facecluster.sweep.otto import (
    best_points,
    identity_facts,
    neighbour_purity,
    run_protocol,
    shuffled_orders,
)
from study_fixture import identity_blobs, manifest_row


def _blobs(n_id: int = 40, dim: int = 16, noise: float = 0.3, seed: int = 0):
    return identity_blobs(n_id, dim, noise, seed)


SMALL = {
    "runs": 3,
    "timing_k": 10,
    "rank_order": {"k": [3, 10], "threshold": [0.3, 1.0, 1.6]},
    "dbscan": {"eps": [0.6, 0.9]},
    "meanshift": {"bandwidth": [0.6]},
    "chinese_whispers": {"threshold": [0.8, 1.0]},
}


def test_orders_are_keyed_permutations():
    a, b = shuffled_orders(50, 3, 7), shuffled_orders(50, 3, 7)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert all(sorted(o) == list(range(50)) for o in a)
    assert not np.array_equal(a[0], a[1])
    assert np.array_equal(shuffled_orders(50, 2, 7)[1], a[1])  # more runs never shift one


def test_identity_facts_weights_the_typical_size_by_faces():
    facts = identity_facts(np.array(["a"] * 5 + ["b", "c", "d"]))
    assert facts["faces"] == 8 and facts["identities"] == 4 and facts["singletons"] == 3
    assert facts["identity_size_median"] == 1.0 and facts["identity_size_max"] == 5
    assert facts["face_identity_size_median"] == 5.0  # 5 of the 8 faces are a's


def test_neighbour_purity_counts_same_identity_neighbours():
    labels = np.array(["a", "a", "a", "b"])
    lists = np.array([[0, 1, 3], [1, 0, 2], [2, 3, 0], [3, 0, 1]])
    table = neighbour_purity(lists, labels, [1, 2]).set_index("k")
    # faces with mates: 0, 1, 2 (2 mates each); k=1: hits 1, 1, 0; k=2: 1, 2, 1
    assert table.loc[1, "precision"] == pytest.approx(2 / 3)
    assert table.loc[2, "precision"] == pytest.approx((0.5 + 1 + 0.5) / 3)
    assert table.loc[2, "recall"] == pytest.approx((0.5 + 1 + 0.5) / 3)
    assert table.loc[1, "mates_within_k"] == 0.0 and table.loc[2, "mates_within_k"] == 1.0
    assert table.loc[1, "faces_with_mates"] == 3


def test_rank_order_from_lists_is_the_grid_after_the_search():
    X, _ = _blobs()
    lists = top_k_lists(X, 10)
    for mutual in (False, True):
        grid = rank_order_grid(X, [3, 10], [0.5, 1.2], mutual=mutual)
        split = rank_order_from_lists(lists, [3, 10], [0.5, 1.2], mutual=mutual)
        assert grid.keys() == split.keys()
        assert all(np.array_equal(grid[key], split[key]) for key in grid)
    with pytest.raises(ValueError, match="shape"):
        rank_order_from_lists(lists[:, :1], [3], [0.5])


def test_best_points_takes_the_highest_mean_and_the_first_of_ties():
    rows = [
        {"method": "m", "variant": "", "params": p, "k": np.nan, "threshold": np.nan, "run": r,
         "pairwise_f1": f, "ari": 0.0}
        for p, fs in [("a", [0.5, 0.7]), ("b", [0.6, 0.6]), ("c", [0.9, 0.1])]
        for r, f in enumerate(fs)
    ]  # fmt: skip
    best = best_points(pd.DataFrame(rows)).iloc[0]
    assert best.params == "a"  # 0.6 = b's and c's mean too: the first in grid order
    assert (best.pairwise_f1_min, best.pairwise_f1_max, best.runs) == (0.5, 0.7, 2)


def test_protocol_scores_every_order_in_the_input_order():
    X, labels = _blobs()
    settings = OttoSettings.model_validate(SMALL)
    result = run_protocol(X, labels, settings, seed=3)
    grid = result.grid
    ro = grid[grid["method"] == "rank_order"]
    assert len(ro) == 3 * 2 * 2 * 3  # runs x variants x k x thresholds
    assert set(grid["method"]) == {"rank_order", "dbscan", "meanshift", "chinese_whispers"}
    assert (grid.loc[grid["method"] != "rank_order", "run"] == 0).all()
    # without ties the order does not matter: every run equals the estimator on the input
    for row in ro.itertuples():
        est = ApproximateRankOrder(k=int(row.k), threshold=row.threshold,
                                   mutual=row.variant == "mutual")  # fmt: skip
        f1 = pairwise_precision_recall_f1(labels, est.fit_predict(X))[2]
        assert row.pairwise_f1 == pytest.approx(f1) and row.ari_to_first == pytest.approx(1.0)
    timing = result.timing
    assert set(timing["role"]) == {"best", "timing_k"}
    timed_ro = timing[timing["method"] == "rank_order"]
    assert len(timed_ro) == 2 * 2 * 3  # (best, k=10) x variants x runs
    assert (timed_ro["search_s"] > 0).all() and (timed_ro["cluster_s"] > 0).all()
    assert np.allclose(timed_ro["total_s"], timed_ro["search_s"] + timed_ro["cluster_s"])
    others = timing[timing["method"] != "rank_order"]
    assert len(others) == 3 and others["search_s"].isna().all()
    best = best_points(grid).set_index(["method", "variant"])
    for t in timing.itertuples():  # the timed clustering is the scored one
        if t.role == "best":
            assert t.pairwise_f1 == pytest.approx(best.loc[(t.method, t.variant), "pairwise_f1"])
    assert list(result.neighbours["k"]) == [3, 10]
    assert result.facts["faces"] == len(X) and result.facts["runs"] == 3
    assert result.facts["singletons"] == sum(n == 1 for n in Counter(labels).values())


def test_protocol_refuses_mismatched_input():
    X, labels = _blobs()
    with pytest.raises(ValueError, match="do not match"):
        run_protocol(X, labels[:-1], OttoSettings(), seed=0)


# ------------------------------------------------------------------------------------------
# config
# ------------------------------------------------------------------------------------------
@pytest.fixture()
def params_data(project_root):
    data = yaml.safe_load((project_root / "params.yaml").read_text())
    data["execution"] = {"executor": "serial", "n_jobs": 1, "progress": False}
    return data


def test_otto_config_names_the_bad_key(params_data):
    params_data["otto"]["dataset"] = "nope"
    with pytest.raises(ConfigError, match="otto.dataset"):
        parse_params(params_data)
    params_data["otto"]["dataset"] = "lfw"
    params_data["otto"]["rank_order"]["kk"] = [3]
    with pytest.raises(ConfigError, match="kk"):
        parse_params(params_data)
    del params_data["otto"]["rank_order"]["kk"]
    params_data["otto"]["variants"] = ["literal", "literal"]
    with pytest.raises(ConfigError, match="distinct"):
        parse_params(params_data)


# ------------------------------------------------------------------------------------------
# the stage
# ------------------------------------------------------------------------------------------
def test_stage_clusters_the_clustering_set_and_the_extra_faces(params_data, tmp_path):
    X, labels = _blobs()
    params_data["study"]["datasets"] = [*params_data["study"]["datasets"], "d"]
    params_data["datasets"]["d"] = {"kind": "personal", "path": "data/raw/d"}
    params_data["otto"] = {**SMALL, "dataset": "d"}
    params = parse_params(params_data)
    paths = ProjectPaths(tmp_path)
    sizes = Counter(labels)
    study = np.array([sizes[x] >= 3 for x in labels])  # like LFW >= 3 inside lfw-all
    rows = [manifest_row(i, lab, in_study=bool(s), crop=i)
            for i, (lab, s) in enumerate(zip(labels, study, strict=True))]  # fmt: skip
    faces_stage.write_manifest(rows, paths.manifest("d"))
    rel = np.array([r["relpath"] for r in rows])
    embed_stage.write_embeddings(
        paths.embeddings("d", "facenet"),
        Embeddings(
            X[study],
            labels[study],
            ids=np.flatnonzero(study),
            relpaths=rel[study],
            extra_X=X[~study],
            extra_relpaths=rel[~study],
        ),  # fmt: skip
        dataset="d",
        model="facenet",
    )
    Xa, la, ra = otto_stage.all_faces(paths, "d", "facenet")
    assert list(ra) == sorted(rel) and len(Xa) == len(X)
    back = {r: i for i, r in enumerate(rel)}
    assert np.array_equal(la, labels[[back[r] for r in ra]])
    assert np.array_equal(Xa, X[[back[r] for r in ra]])

    record = otto_stage.run("facenet", params, paths)
    metrics = json.loads(otto_stage.metrics_path(paths, "facenet").read_text())
    for name in ("rank_order_literal", "rank_order_mutual", "rank_order_literal_k10",
                 "dbscan", "meanshift", "chinese_whispers"):  # fmt: skip
        assert 0 <= metrics[name]["pairwise_f1"] <= 1
        assert "seconds" not in metrics[name]  # times are the run record's
    assert {"k", "threshold", "pairwise_precision", "pairwise_recall", "n_clusters"} <= set(
        metrics["rank_order_literal"]
    )
    assert metrics["faces"] == len(X) and "dataset" not in metrics
    assert record["rank_order_literal"]["seconds"]["total"] > 0
    run_record = otto_stage.read_metrics(paths, ["facenet"])["facenet"]
    assert run_record["device"]["threads"] >= 1 and run_record["dataset"] == "d"
    stored = otto_stage.read_result(paths, "facenet")
    assert len(stored.grid) == 3 * 2 * 2 * 3 + 2 + 1 + 2
    assert stored.facts["model"] == "facenet"
    with pytest.raises(otto_stage.OttoNotRunError, match="dvc repro otto@lightcnn"):
        otto_stage.read_result(paths, "lightcnn")


# ------------------------------------------------------------------------------------------
# the report's section
# ------------------------------------------------------------------------------------------
def test_report_section_puts_the_published_numbers_beside_ours(params_data, tmp_path):
    from facecluster.report.otto import best_table, otto_section, published_table

    paths = ProjectPaths(tmp_path)
    assert not otto_section("d", ["facenet"], paths, 10).results  # not run: an empty section
    test_stage_clusters_the_clustering_set_and_the_extra_faces(params_data, tmp_path)
    section = otto_section("d", ["facenet", "lightcnn"], paths, 10)
    assert list(section.results) == ["facenet"] and section.missing == ("lightcnn",)
    result = section.results["facenet"]
    table = published_table(section.results, {"facenet": "cpu"}, 10)
    assert list(table["pairwise F1"][:3]) == ["0.87", "0.82", "0.88"]  # the reference rows
    ours = table.iloc[3:]
    best = best_points(result.grid).set_index(["method", "variant"])
    literal = best.loc[("rank_order", "literal")]
    assert ours.iloc[0]["pairwise F1"] == f"{literal.pairwise_f1:.3f}"
    assert ours.iloc[0]["setting"].startswith(f"best: k {int(literal.k)}")
    shown = best_table(section.results)
    assert len(shown) == 5 and set(shown["model"]) == {"facenet"}
    assert section.lead and "0.87" in section.lead and section.figures and section.k_figure
    assert "faces" in section.facts and section.explanation.startswith("**The best k")
    assert "ARI ≥ 1.0000" in section.orders  # no ties in the generated data
