"""Clustering at scale: the distractor simulation (:mod:`facecluster.sweep.distractors`), the
neighbour searches (:mod:`facecluster.cluster.search`), Chinese whispers on neighbour lists,
and the scale protocol and stage (:mod:`facecluster.sweep.scale`,
:mod:`facecluster.stages.scale`)."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest
import yaml

from facecluster.cluster.chinese_whispers import (
    chinese_whispers_from_lists,
    chinese_whispers_grid,
    list_distances,
)
from facecluster.cluster.rank_order import exact_search, top_k_lists
from facecluster.cluster.search import (
    exact_rows,
    hnsw_search,
    recall_at_k,
    refine_lists,
    sharded_search,
)
from facecluster.config import ConfigError, ScaleSettings, parse_params
from facecluster.sweep.distractors import (
    IdentityModel,
    fit_identity_model,
    generate_distractors,
    nearest_distances,
    sample_identities,
    simulation_check,
)
from facecluster.sweep.scale import PeakMemory, fitted_slope, run_scale
from study_fixture import identity_blobs


def _model(dim: int = 6, spread_b: float = 0.02, spread_w: float = 0.005) -> IdentityModel:
    """A model whose centres sit near e0 with scatter in the tangent directions only, small
    enough that the projection to the sphere barely changes the moments."""
    between = np.diag([0.0, *np.linspace(spread_b, spread_b / 2, dim - 1)])
    within = np.diag([0.0, *np.linspace(spread_w / 2, spread_w, dim - 1)])
    mean = np.zeros(dim)
    mean[0] = np.sqrt(1.0 - np.trace(between) - np.trace(within))  # E|c + e|² = 1, as fitted
    return IdentityModel(mean, between, within, np.array([1, 1, 2, 3, 5, 8]))


def _blobs(n_id: int = 60, dim: int = 16, noise: float = 0.3, seed: int = 0):
    return identity_blobs(n_id, dim, noise, seed)


# --------------------------------------------------------------------------------------------
# the identity model and the distractors
# --------------------------------------------------------------------------------------------
def test_fit_on_a_hand_computed_case():
    X = np.array([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0], [0.0, 4.0], [5.0, 5.0]])
    model = fit_identity_model(X, ["a", "a", "b", "b", "c"])
    # within: residuals (±1, 0) and (0, ±1), 2 degrees of freedom (c has none)
    np.testing.assert_allclose(model.within, np.diag([1.0, 1.0]))
    means = np.array([[2.0, 0.0], [0.0, 3.0], [5.0, 5.0]])
    np.testing.assert_allclose(model.mean, means.mean(axis=0))
    expected = np.cov(means.T) - np.mean([1 / 2, 1 / 2, 1]) * np.eye(2)
    w, v = np.linalg.eigh(expected)
    np.testing.assert_allclose(model.between, (v * np.clip(w, 0, None)) @ v.T, atol=1e-12)
    assert sorted(model.sizes.tolist()) == [1, 2, 2]


def test_fit_refuses_data_without_within_scatter():
    with pytest.raises(ValueError, match="identity with >= 2 faces"):
        fit_identity_model(np.eye(3), ["a", "b", "c"])


def test_distractors_are_deterministic_and_nested():
    model = _model()
    a, ia = generate_distractors(model, 3000, seed=4, key=("t",))
    b, ib = generate_distractors(model, 3000, seed=4, key=("t",))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ia, ib)
    small, ismall = generate_distractors(model, 1234, seed=4, key=("t",))
    np.testing.assert_array_equal(small, a[:1234])  # a smaller set is a prefix
    np.testing.assert_array_equal(ismall, ia[:1234])
    other, _ = generate_distractors(model, 3000, seed=5, key=("t",))
    assert not np.allclose(other, a)
    assert a.dtype == np.float32 and a.shape == (3000, 6)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-6)
    assert generate_distractors(model, 0, seed=4)[0].shape == (0, 6)


def test_distractors_match_the_fitted_moments():
    model = _model()
    X, ident = generate_distractors(model, 40_000, seed=1)
    refit = fit_identity_model(X.astype(np.float64), ident)
    # the projection to the sphere changes the moments at second order only
    np.testing.assert_allclose(refit.mean, model.mean, atol=0.01)
    np.testing.assert_allclose(np.diag(refit.within)[1:], np.diag(model.within)[1:], rtol=0.1)
    np.testing.assert_allclose(np.diag(refit.between)[1:], np.diag(model.between)[1:], rtol=0.15)
    assert abs(refit.within - np.diag(np.diag(refit.within))).max() < 5e-4
    # identity sizes are drawn from the model's: every complete identity has one of them
    counts = np.bincount(ident)[:-1]  # the last identity may be cut at n
    assert set(counts.tolist()) <= set(model.sizes.tolist())
    assert abs(counts.mean() - model.sizes.mean()) < 0.2


def test_nearest_distances_by_hand():
    X = np.array([[0, 0], [0, 1], [3, 0], [3, 2]], dtype=np.float32)
    table = nearest_distances(X, ["a", "a", "b", "c"])
    np.testing.assert_allclose(table["same"], [1.0, 1.0, np.nan, np.nan])
    np.testing.assert_allclose(table["different"], [3.0, np.sqrt(10), 2.0, 2.0], rtol=1e-6)


def test_simulation_check_passes_on_data_from_the_model():
    model = _model(dim=12, spread_b=0.03, spread_w=0.01)
    sizes = np.random.default_rng(0).choice([1, 2, 3, 4, 6], 600)
    X = sample_identities(model, sizes, np.random.default_rng(1))
    labels = np.repeat(np.arange(sizes.size), sizes).astype(str)
    distances, summary = simulation_check(X, labels, seed=3)
    assert set(distances["source"]) == {"real", "simulated"}
    assert list(summary["kind"]) == ["same", "different"]
    assert (summary["ks"] < 0.2).all(), summary  # the model reproduces its own data
    np.testing.assert_allclose(summary["real_median"], summary["simulated_median"], rtol=0.08)
    assert summary.attrs["identities"] == 300


# --------------------------------------------------------------------------------------------
# searches
# --------------------------------------------------------------------------------------------
def test_recall_at_k_on_a_constructed_case():
    exact = np.array([[1, 2, 3, 4], [5, 6, 7, 8], [1, 2, 3, 4]])
    found = np.array([[4, 3, 2, 1], [5, 9, -1, 6], [9, 10, 11, 12]])
    assert recall_at_k(found, exact) == pytest.approx((4 + 2 + 0) / 12)
    assert recall_at_k(found, exact, k=2) == pytest.approx((0 + 1 + 0) / 6)
    assert recall_at_k(exact, exact) == 1.0
    with pytest.raises(ValueError, match="rows"):
        recall_at_k(found[:2], exact)


def test_exact_rows_equal_the_full_search():
    X, _ = _blobs()
    rows = np.array([0, 5, 17, len(X) - 1])
    d_all, i_all = exact_search(X, 11)
    d, i = exact_rows(X, rows, 11, block=3)
    np.testing.assert_array_equal(i, i_all[rows])
    # the same expression; BLAS may round a product of a few rows differently (last bit)
    np.testing.assert_allclose(d, d_all[rows], rtol=1e-5, atol=1e-6)


def test_hnsw_finds_most_neighbours():
    X = np.random.default_rng(0).normal(size=(3000, 16)).astype(np.float32)
    dist, found, times = hnsw_search(X, 11, m=16, ef_construction=64, ef_search=64)
    _, exact = exact_search(X, 11)
    assert recall_at_k(found, exact) > 0.9
    assert set(times) == {"build_s", "query_s"}
    assert (np.diff(dist, axis=1) >= 0).all()


def test_refining_keeps_exact_lists_and_repairs_damaged_ones():
    X, _ = _blobs(n_id=80, noise=0.2)
    d, i = exact_search(X, 8)
    d2, i2, counts = refine_lists(X, d, i, passes=2)
    np.testing.assert_array_equal(i2, i)  # nothing beats an exact list
    assert counts == [0]
    # damage every list: keep self and the 4 nearest, then each face's 4 farthest faces
    bad_i = i.copy()
    bad_i[:, 5:] = np.argsort(X @ X.T, axis=1, kind="stable")[:, : i.shape[1] - 5]
    bad_d = ((X[:, None, :] - X[bad_i]) ** 2).sum(axis=2).astype(np.float32)
    order = np.lexsort((bad_i, bad_d), axis=1)
    bad_i = np.take_along_axis(bad_i, order, 1)
    bad_d = np.take_along_axis(bad_d, order, 1)
    before = recall_at_k(bad_i, i)
    fixed_d, fixed_i, counts = refine_lists(X, bad_d, bad_i, passes=3)
    assert recall_at_k(fixed_i, i) > before + 0.2  # 0.63 -> 0.89 here
    assert counts[0] > 0
    assert (np.diff(fixed_d, axis=1) >= 0).all()
    assert all(len(set(r)) == len(r) for r in fixed_i.tolist())  # no face twice in a row


def test_sharded_search_equals_the_exact_search():
    distributed = pytest.importorskip("distributed")
    X = np.random.default_rng(3).normal(size=(1500, 24)).astype(np.float32)
    X[10] = X[11]  # an exact tie: both go to the lower index in either search
    d_ref, i_ref = exact_search(X, 9)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,  # fmt: skip
        distributed.Client(cluster) as client,
    ):
        d, i = sharded_search(X, 9, client, n_shards=3, query_block=400)
    np.testing.assert_array_equal(i, i_ref)  # identical lists
    np.testing.assert_allclose(d, d_ref, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------------------------
# Chinese whispers on lists
# --------------------------------------------------------------------------------------------
def test_whispers_on_complete_lists_equal_the_dense_graph():
    X, _ = _blobs(n_id=30)
    lists = top_k_lists(X, len(X) - 1)[:, 1:]
    d2 = list_distances(X, lists)
    ts = [0.5, 0.8, 1.1]
    dense = chinese_whispers_grid(X, ts, n_iter=20, random_state=3)
    sparse = chinese_whispers_from_lists(lists, d2, ts, n_iter=20, random_state=3)
    for a, b in zip(dense, sparse, strict=True):
        np.testing.assert_array_equal(a, b)


def test_whispers_on_short_lists_miss_far_edges_only():
    X, _ = _blobs(n_id=30, noise=0.1)
    lists = top_k_lists(X, 8)[:, 1:]
    d2 = list_distances(X, lists)
    t = float(np.sqrt(d2[:, -1].min())) * 0.999  # below every 8th-neighbour distance
    dense = chinese_whispers_grid(X, [t], n_iter=20, random_state=1)[0]
    sparse = chinese_whispers_from_lists(lists, d2, [t], n_iter=20, random_state=1)[0]
    np.testing.assert_array_equal(dense, sparse)


# --------------------------------------------------------------------------------------------
# the protocol
# --------------------------------------------------------------------------------------------
def test_fitted_slope_and_peak_memory():
    n = np.array([1e3, 1e4, 1e5])
    assert fitted_slope(n, 3e-6 * n**2) == pytest.approx(2.0)
    assert np.isnan(fitted_slope(n[:1], n[:1]))
    with PeakMemory() as mem:
        base = PeakMemory.rss_bytes()
        block = np.ones(300 * 2**20 // 8)  # 300 MiB, touched
        block[::512] += 1
        # Hold the block until the watcher has sampled it (or 10 s pass): on a loaded
        # machine the thread may not run while the block is alive, and that is a timing
        # accident, not the watcher missing a peak (CI failed once this way).
        deadline = time.monotonic() + 10
        while mem.peak_bytes < base + 250 * 2**20 and time.monotonic() < deadline:
            time.sleep(mem.interval)
        del block
    assert mem.peak_bytes >= base + 250 * 2**20


SCALE = {
    "distractors": [0, 300, 900],
    "baseline": 900,
    "search": {"exact_max": 1000, "recall_queries": 50, "ef_search": 64},
    "rank_order": {"k": [5, 10], "threshold": [0.5, 1.2]},
    "chinese_whispers": {"k": 10, "threshold": [0.6, 0.9]},
    "variants": ["literal", "mutual"],
}


def test_run_scale_scores_the_labelled_faces_only():
    X, labels = _blobs(n_id=80)
    settings = ScaleSettings(**SCALE)
    best = {
        "rank_order_literal": {"k": 10, "threshold": 1.2},
        "rank_order_mutual": {"k": 5, "threshold": 0.8},  # a threshold off the grid
        "chinese_whispers": {"threshold": 0.9},
    }
    result = run_scale(X, labels, settings, best, seed=2, key=("scale", "m"))
    sizes, grid = result.sizes, result.grid
    main = result.main_sizes
    assert set(sizes["role"]) == {"main", "baseline"}
    assert main["distractors"].tolist() == [0, 300, 900]
    assert main["faces"].tolist() == [len(X), len(X) + 300, len(X) + 900]
    # exact up to exact_max (recall 1), HNSW above; the baseline adds an exact search
    assert main["search"].tolist() == ["exact", "exact", "hnsw"]
    assert main["recall"].iloc[:2].tolist() == [1.0, 1.0]
    assert 0.5 < main["recall"].iloc[2] <= 1.0
    base = result.baseline_sizes
    assert base["search"].tolist() == ["exact"] and base["distractors"].tolist() == [900]
    assert (grid["n_true_clusters"] == len(set(labels))).all()  # distractors never scored
    assert (grid["clusters_all"] >= grid["n_clusters"]).all()
    ro = grid[grid["method"] == "rank_order"]
    # the best settings are on the grid, each with a clustering time
    mutual_best = ro[(ro["variant"] == "mutual") & (ro["role"] == "best")]
    assert len(mutual_best) == 3 and set(mutual_best["threshold"]) == {0.8}
    assert mutual_best["cluster_s"].notna().all()
    assert set(ro[ro["role"] == "baseline"]["distractors"]) == {900}
    cw = grid[grid["method"] == "chinese_whispers"]
    assert len(cw) == 3 * 2 and set(cw[cw["role"] == "best"]["threshold"]) == {0.9}
    # at N = 0 the protocol is the labelled set alone: rank-order as top_k_lists gives it
    from facecluster.cluster.rank_order import rank_order_from_lists
    from facecluster.metrics import evaluate

    lab = rank_order_from_lists(top_k_lists(X, 10), [10], [1.2])[(10, 1.2)]
    row = ro[(ro["distractors"] == 0) & (ro["variant"] == "literal") & (ro["k"] == 10)
             & (ro["threshold"] == 1.2)].iloc[0]  # fmt: skip
    assert row["pairwise_f1"] == pytest.approx(evaluate(labels, lab)["pairwise_f1"])
    assert set(result.check_summary["kind"]) == {"same", "different"}
    again = run_scale(X, labels, settings, best, seed=2, key=("scale", "m"))
    exact_rows_ = grid["lists"] != "hnsw"
    cols = ["pairwise_f1", "n_clusters", "clusters_all"]
    pd.testing.assert_frame_equal(
        grid.loc[exact_rows_, cols], again.grid.loc[again.grid["lists"] != "hnsw", cols]
    )


def test_scale_settings_are_checked(tmp_path):
    from facecluster.config import load_params

    data = yaml.safe_load(open("params.yaml", encoding="utf-8"))
    data["scale"]["models"] = ["nope"]
    with pytest.raises(ConfigError, match="scale.models names 'nope'"):
        parse_params(data, "params.yaml")
    data["scale"]["models"] = []
    data["scale"]["distractor"] = [0]
    with pytest.raises(ConfigError, match="distractor"):
        parse_params(data, "params.yaml")
    assert load_params("params.yaml").scale.models
    with pytest.raises(ValueError, match="distinct"):
        ScaleSettings(distractors=[0, 0])


def test_metrics_record_names_each_size(tmp_path):
    from facecluster.stages.scale import metrics_record

    X, labels = _blobs(n_id=40)
    settings = ScaleSettings(**{**SCALE, "distractors": [0, 900]})
    best = {
        "rank_order_literal": {"k": 10, "threshold": 1.2},
        "chinese_whispers": {"threshold": 0.9},
    }
    result = run_scale(X, labels, settings, best, seed=2)
    record = metrics_record(result)
    assert {"n_0", "n_900", "simulation_check"} <= set(record)
    n900 = record["n_900"]
    assert n900["search"] == "hnsw" and 0 < n900["recall"] <= 1
    assert n900["rank_order_literal"]["k"] == 10
    assert n900["rank_order_literal"]["threshold"] == 1.2
    assert "rank_order_literal_exact" in n900 and "exact_search" in n900["seconds"]
    assert n900["seconds"]["rank_order_literal_total"] >= n900["seconds"]["search"]
    assert {"chinese_whispers", "chinese_whispers_grid", "rank_order_mutual_grid"} <= set(n900)
    json.dumps(record)  # JSON-ready


def test_mixture_centres_are_deterministic_and_cover_the_components():
    rs = np.random.default_rng(0)
    centres = np.concatenate([rs.normal(size=(100, 8)) * 0.05 + s for s in (3.0, -3.0)])
    sizes = rs.integers(2, 5, centres.shape[0])
    X = np.repeat(centres, sizes, axis=0) + 0.05 * rs.normal(size=(sizes.sum(), 8))
    labels = np.repeat(np.arange(len(sizes)), sizes)
    model = fit_identity_model(X, labels, components=2, seed=1)
    weights, means, betweens = model.components
    assert len(weights) == 2 and np.allclose(sorted(weights), [0.5, 0.5], atol=0.05)
    assert np.allclose(np.sort(means[:, 0]), [-3.0, 3.0], atol=0.05)
    assert all(np.linalg.eigvalsh(b).min() >= -1e-12 for b in betweens)  # PSD
    again = fit_identity_model(X, labels, components=2, seed=1)
    np.testing.assert_array_equal(again.means, model.means)
    faces = sample_identities(model, np.full(400, 2), np.random.default_rng(3))
    # projected to the sphere: the two groups stay apart, both are drawn
    signs = np.sign(faces[:, 0])
    assert 0.35 < (signs > 0).mean() < 0.65


def test_the_report_lists_a_model_not_run_and_refuses_a_broken_output(tmp_path):
    """A model whose stage has not run is listed as missing; a folder that ran but lost a
    table is an error, not a missing model."""
    from facecluster.paths import ProjectPaths
    from facecluster.report.scale import scale_section
    from facecluster.stages import scale as scale_stage

    X, labels = _blobs(n_id=30)
    settings = ScaleSettings(**{**SCALE, "distractors": [0]})
    result = run_scale(X, labels, settings, {}, seed=2)
    result.facts.update(dataset="lfw", model="m")  # what the stage adds
    paths = ProjectPaths(tmp_path)
    scale_stage.write_result(paths, "m", result)
    section = scale_section(["m", "never-ran"], paths)
    assert set(section.results) == {"m"} and section.missing == ("never-ran",)
    (scale_stage.out_dir(paths, "m") / "grid.parquet").unlink()
    with pytest.raises(FileNotFoundError, match="grid.parquet"):
        scale_section(["m"], paths)
