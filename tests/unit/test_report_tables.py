"""Study-report tables: grid statistics, best points, headline, Table I vs the published values."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from facecluster.paths import ProjectPaths
from facecluster.report import table_one as t1
from facecluster.report import tables as tb
from facecluster.report.inputs import read_results_tables, status_note
from facecluster.stages.sweep import Results, write_results
from facecluster.sweep.engine import finalise
from facecluster.sweep.summary import best_points, grid_summary
from study_fixture import results_frame

KM = {"n_init": 10}


def _best(rows):
    """The best grid points of generated results rows."""
    return tb.best_configs(tb.grid_stats(results_frame(rows)))


RUNS = [
    ("personal", "facenet", "kmeans", KM, [0.80, 0.90, 1.00]),
    ("personal", "facenet", "dbscan", {"eps": 0.5, "min_samples": 1}, [0.2, 0.4, 0.6]),
    ("personal", "facenet", "dbscan", {"eps": 0.7, "min_samples": 1}, [0.95, 0.97, 0.99]),
    ("lfw", "facenet", "kmeans", KM, [0.40, 0.40, 0.40]),
    ("lfw", "facenet", "dbscan", {"eps": 0.5, "min_samples": 1}, [0.5, 0.5, 0.5]),
    ("lfw", "facenet", "dbscan", {"eps": 0.7, "min_samples": 1}, [0.5, 0.5, 0.5]),  # a tie
]


@pytest.fixture()
def results() -> pd.DataFrame:
    return results_frame(RUNS)


@pytest.fixture()
def stats(results) -> pd.DataFrame:
    return tb.grid_stats(results)


def test_reference_data_is_packaged_and_complete():
    ref = tb.load_reference()
    assert list(ref.columns) == ["method", "parameter", "value", "dataset", "ari_mean", "ari_2std"]
    # 3 K-based methods + 12 eps + 12 bandwidths, each on 3 datasets
    assert len(ref) == (3 + 12 + 12) * 3
    k_rows = ref[ref["parameter"] == "n_clusters"]
    assert set(k_rows["value"]) == {"true"} and set(k_rows["method"]) == {
        "kmeans",
        "agglomerative",
        "spectral",
    }
    row = ref[(ref["method"] == "meanshift") & (ref["value"] == "0.7") & (ref["dataset"] == "lfw")]
    assert row["ari_mean"].item() == pytest.approx(0.960519)  # the table's value, not the text's
    assert tb.reference_path("README.md").is_file()
    ro = tb.load_reference("rank_order_lfw.csv")
    assert ro["pairwise_f1"].tolist() == [0.87, 0.82, 0.88]


def test_grid_stats_mean_and_population_2std(stats):
    row = stats[(stats["dataset"] == "personal") & (stats["method"] == "kmeans")].iloc[0]
    assert row["ari_mean"] == pytest.approx(0.9)
    assert row["ari_2std"] == pytest.approx(2 * np.std([0.8, 0.9, 1.0]))  # ddof=0
    assert row["pairwise_f1_mean"] == pytest.approx(0.91)
    assert row["runtime_s"] == pytest.approx(0.2)  # median of 0.1, 0.2, 0.3
    assert row["runtime_total_s"] == pytest.approx(0.6)
    assert row["setting"] == "K=true"  # n_init=10 is the default: not repeated
    eps = stats[(stats["dataset"] == "personal") & (stats["method"] == "dbscan")]
    assert eps["setting"].tolist() == ["eps=0.5", "eps=0.7"]
    assert eps["order"].tolist() == [0, 1]


def test_setting_label_shows_non_default_fixed_settings():
    assert tb.setting_label("kmeans", {"n_init": 2}) == "K=true, n_init=2"
    assert tb.setting_label("rank_order", {"k": 50, "threshold": 1.2}) == "k=50, threshold=1.2"
    assert tb.setting_label("dbscan", '{"eps":0.3,"min_samples":2}') == "eps=0.3, min_samples=2"


def test_best_configs_take_highest_mean_first_on_ties(stats):
    best = tb.best_configs(stats).set_index(["dataset", "method"])
    assert best.loc[("personal", "dbscan"), "setting"] == "eps=0.7"
    assert best.loc[("lfw", "dbscan"), "setting"] == "eps=0.5"  # tie: first in grid order
    assert len(best) == 4


def test_headline_metrics_nested_and_marks_skipped(stats):
    best = tb.best_configs(stats)
    status = pd.DataFrame(
        {
            "dataset": ["personal", "lfw", "muct"],
            "model": ["facenet"] * 3,
            "status": ["ok", "ok", "skipped"],
        }
    )
    m = tb.headline_metrics(best, status)
    assert m["personal"]["facenet"]["dbscan"] == {
        "ari_mean": pytest.approx(0.97),
        "ari_2std": pytest.approx(2 * np.std([0.95, 0.97, 0.99]), abs=1e-6),
        "pairwise_f1": pytest.approx(0.98),
        "bcubed_f1": pytest.approx(0.99),
    }
    assert m["muct"] == {"facenet": {"skipped": True}}
    json.dumps(m)  # serialisable


def test_headline_display_and_winner_highlight(stats):
    best = tb.best_configs(stats)
    table = tb.headline_display(best, ["personal", "lfw"], ["facenet"])
    assert table.index.tolist() == ["kmeans", "dbscan"]  # registry order
    assert table.loc["dbscan", ("personal", "facenet", "ARI ± 2σ")].startswith("0.970 ±\u00a0")
    assert table.loc["kmeans", ("lfw", "facenet", "BCubed F1")] == "0.420"
    assert table.loc["kmeans", ("lfw", "facenet", tb.CLUSTERS)] == "9 / 8"  # 8, 9, 10 found
    html = tb.style_headline(table, best).to_html()
    # the winner of personal is dbscan, of lfw dbscan (0.5 > 0.4), by ARI and by BCubed F1
    assert html.count("background-color: #d9f2d9") >= 1
    css = tb.style_headline(table, best)._compute().ctx
    win = [k for k, v in css.items() if ("background-color", "#d9f2d9") in v]
    cols = table.columns
    assert {(table.index[r], cols[c][0]) for r, c in win} == {
        ("dbscan", "personal"),
        ("dbscan", "lfw"),
    }


def test_headline_splits_into_one_table_per_dataset(stats):
    best = tb.best_configs(stats)
    best = best[~((best["dataset"] == "lfw") & (best["method"] == "kmeans"))]  # lfw: dbscan only
    table = tb.headline_display(best, ["personal", "lfw"], ["facenet"])
    parts = tb.split_by_dataset(table)
    assert [p.columns.get_level_values(0).unique().tolist() for p in parts] == [
        ["personal"],
        ["lfw"],
    ]
    assert parts[0].index.tolist() == ["kmeans", "dbscan"]
    assert parts[1].index.tolist() == ["dbscan"]  # a method without results there is dropped
    assert parts[1].loc["dbscan"].tolist() == table.loc["dbscan", ["lfw"]].tolist()
    first, second = (tb.style_headline(p, best, caption=i == 0) for i, p in enumerate(parts))
    assert "Best grid point" in first.to_html() and "<caption" not in second.to_html()
    win = [k for k, v in second._compute().ctx.items() if ("background-color", "#d9f2d9") in v]
    assert len(win) == 2  # lfw's winner (dbscan): its ARI and F1 cells


def test_winners_keep_exact_ties():
    best = _best(
        [
            ("muct", "facenet", "kmeans", KM, [0.5, 0.7]),
            ("muct", "facenet", "agglomerative", {}, [0.7, 0.5]),
        ]
    )
    assert set(tb.winners(best)["method"]) == {"kmeans", "agglomerative"}


def test_reference_key_matches_report_settings_only():
    settings = t1.reference_settings()
    assert t1.reference_key("kmeans", {"n_init": 10}, settings) == ("n_clusters", "true")
    assert t1.reference_key("kmeans", {"n_init": 2}, settings) is None
    assert t1.reference_key("agglomerative", {}, settings) == ("n_clusters", "true")
    assert t1.reference_key("dbscan", {"eps": 0.7, "min_samples": 1}, settings) == ("eps", 0.7)
    assert t1.reference_key("dbscan", {"eps": 0.7, "min_samples": 3}, settings) is None
    assert t1.reference_key("rank_order", {"k": 20, "threshold": 1.0}, settings) is None


def test_table_one_beside_published_values(stats):
    long = t1.table_one(stats, tb.load_reference(), model="facenet")
    km = long[(long["method"] == "kmeans") & (long["dataset"] == "lfw")].iloc[0]
    assert km["published_mean"] == pytest.approx(0.393992)
    assert km["diff"] == pytest.approx(0.4 - 0.393992)
    assert not km["beyond"]  # |0.006| < 0.047
    eps = long[(long["setting"] == "eps=0.7") & (long["dataset"] == "lfw")].iloc[0]
    assert eps["published_mean"] == pytest.approx(0.956498)
    assert eps["beyond"]  # 0.5 vs 0.956 ± 0.011
    table, css = t1.table_one_display(long, ["personal", "lfw"])
    assert table.loc[("dbscan", "eps=0.7"), ("lfw", "published")] == "0.956 ±\u00a00.011"
    assert table.loc[("dbscan", "eps=0.7"), ("lfw", "Δ")] == "-0.456"
    assert css.loc[("dbscan", "eps=0.7"), ("lfw", "Δ")] == t1.BEYOND_CSS
    nmi = t1.table_one(stats, tb.load_reference(), model="facenet", score="nmi")
    assert nmi["published_mean"].isna().all()
    table, _ = t1.table_one_display(nmi, ["personal", "lfw"])
    assert set(table.columns.get_level_values(1)) == {"ours"}  # no published column for NMI
    beyond = t1.beyond_published({"facenet": long})
    assert ("lfw", "dbscan", "eps=0.7") in set(
        zip(beyond["dataset"], beyond["method"], beyond["setting"], strict=True)
    )


def test_scores_display(stats):
    t = t1.scores_display(stats, model="facenet", datasets=["personal", "lfw"])
    assert t.columns.tolist() == [
        (d, s) for d in ("personal", "lfw") for s in ("pairwise F1", "BCubed F1", "NMI")
    ]
    assert t.index.tolist() == [("kmeans", "K=true"), ("dbscan", "eps=0.5"), ("dbscan", "eps=0.7")]
    assert t.loc[("kmeans", "K=true"), ("personal", "NMI")] == "0.930 ±\u00a00.163"
    assert t1.scores_display(stats, model="lightcnn", datasets=["lfw"]).empty


def test_clusters_runtime_table(stats):
    t = tb.clusters_runtime_table(stats, tb.best_configs(stats)).set_index(["dataset", "method"])
    row = t.loc[("personal", "dbscan")]
    assert row["clusters found"] == pytest.approx(9.0)  # k_true 8 + subset 0, 1, 2
    assert row["found / true"] == pytest.approx(9 / 8)
    assert row["total s"] == pytest.approx(1.2)  # both eps, 3 subsets each
    assert row["grid s / subset"] == pytest.approx(0.4)
    tb.style_clusters_runtime(t.reset_index()).to_html()


def test_best_configs_are_the_sweeps_best_points(results, stats):
    """One rule: the report's best points are facecluster.sweep.summary's."""
    expected = best_points(grid_summary(results))
    got = tb.best_configs(stats)
    assert got[["dataset", "model", "method", "params"]].equals(
        expected[["dataset", "model", "method", "params"]]
    )
    assert np.allclose(got["ari_2std"], expected["ari_2std"])


def test_read_results_tables_reports_skipped_and_missing(tmp_path, results):
    paths = ProjectPaths.from_root(tmp_path)
    paths.results("personal", "facenet").parent.mkdir(parents=True)
    write_results(
        paths.results("personal", "facenet"), Results(results[results["dataset"] == "personal"])
    )
    write_results(paths.results("lfw", "facenet"), Results(finalise([]), "no images found"))
    df, status = read_results_tables(paths, ["personal", "lfw", "muct"], ["facenet"])
    assert set(df["dataset"]) == {"personal"}
    by_dataset = status.set_index("dataset")
    assert by_dataset["status"].to_dict() == {
        "personal": "ok",
        "lfw": "skipped",
        "muct": "missing",
    }
    assert by_dataset.loc["lfw", "skip_reason"] == "no images found"
    assert by_dataset.loc["personal", "subsets"] == 3
    note = status_note(status)
    assert "**Dataset `lfw`**" in note and "skipped" in note and "`muct`" in note


def test_verification_and_protocol_line():
    v = tb.verification_table(
        {
            "lfw-facenet": {
                "model": "facenet",
                "verification": {
                    "accuracy": 0.99,
                    "accuracy_std": 0.004,
                    "pairs": 6000,
                    "pairs_scored": 5990,
                    "accuracy_all_pairs": 0.988,
                },
            },
            "personal-facenet": {"model": "facenet"},
        }
    )
    assert v["embeddings"].tolist() == ["lfw-facenet"]
    assert v["accuracy %"].item() == pytest.approx(99.0)

    class P:  # the two attributes protocol_line reads
        seed = 42
        sweep = type("S", (), {"n_subsets": 30, "fraction": 0.8, "replace": False})()

    line = tb.protocol_line(P())
    assert "30 random subsets of 80%" in line and "without replacement" in line and "42" in line


def test_read_results_tables_reads_only_the_given_pairs(tmp_path, results):
    paths = ProjectPaths.from_root(tmp_path)
    paths.results("personal", "facenet").parent.mkdir(parents=True)
    write_results(
        paths.results("personal", "facenet"), Results(results[results["dataset"] == "personal"])
    )
    pairs = [("personal", "facenet"), ("muct-published", "facenet-20170512")]
    _, status = read_results_tables(
        paths, ["personal", "muct-published"], ["facenet", "facenet-20170512"], pairs=pairs
    )
    assert list(zip(status["dataset"], status["model"], strict=True)) == pairs
    assert status["status"].tolist() == ["ok", "missing"]


def test_low_resolution_threshold():
    from facecluster.report.inputs import (
        LOW_RESOLUTION_PX,
        low_resolution_datasets,
        low_resolution_label,
        low_resolution_note,
    )

    assert LOW_RESOLUTION_PX == 64  # half LightCNN's 128 px input
    faces = {
        "muct": {"face_px_median": 24.0},
        "edge": {"face_px_median": 63.9},
        "at": {"face_px_median": 64.0},
        "yale": {"face_px_median": 121.0},
        "old": {"faces": 10},  # a summary written before face_px_median existed
        "skipped": {"face_px_median": None},
    }
    assert low_resolution_datasets(faces) == {"muct": 24.0, "edge": 63.9}
    assert low_resolution_label("muct", 24.0) == "muct (24 px faces: not ranked)"
    assert low_resolution_note({}) == ""
    note = low_resolution_note({"muct": 24.0})
    assert "`muct` (median face 24 px)" in note and "not compared" in note
    assert "64 px" in note and "low_resolution" in note


def test_headline_does_not_rank_a_low_resolution_dataset(stats):
    best = tb.best_configs(stats)
    low = {"lfw": 24.0}
    table = tb.headline_display(best, ["personal", "lfw"], ["facenet"])
    styled = tb.style_headline(table, best, low)
    ctx = styled._compute().ctx
    cols = table.columns
    win = {
        (table.index[r], cols[c][0])
        for (r, c), v in ctx.items()
        if ("background-color", "#d9f2d9") in v
    }
    assert win == {("dbscan", "personal")}  # lfw's winner (dbscan) is not highlighted
    html = styled.to_html()
    assert "lfw (24 px faces: not ranked)" in html and "0.400 ±\u00a00.000" in html
    assert "not ranked" in html  # caption
    assert set(tb.winners(best, not_ranked=["lfw"])["dataset"]) == {"personal"}
    m = tb.headline_metrics(best, None, low)
    assert m["lfw"]["low_resolution"] is True and m["lfw"]["face_px_median"] == 24.0
    assert m["lfw"]["facenet"]["kmeans"]["ari_mean"] == pytest.approx(0.4)
    assert "low_resolution" not in m["personal"]
    assert tb.headline_metrics(best) == tb.headline_metrics(best, None, {})  # keys unchanged


def test_headline_display_has_columns_only_for_pairs_with_results():
    best = _best(
        [
            ("muct", "facenet", "kmeans", KM, [0.5, 0.7]),
            ("muct-published", "facenet-20170512", "kmeans", KM, [0.9, 0.9]),
        ]
    )
    table = tb.headline_display(best, ["muct", "muct-published"], ["facenet", "facenet-20170512"])
    assert list(dict.fromkeys((d, m) for d, m, _ in table.columns)) == [
        ("muct", "facenet"),
        ("muct-published", "facenet-20170512"),
    ]


def test_table_one_joins_datasets_to_the_column_they_are_compared_with(stats):
    renamed = stats.assign(dataset=stats["dataset"].replace({"lfw": "lfw-published"}))
    ref = tb.load_reference()
    by_name = t1.table_one(renamed, ref, model="facenet")
    assert by_name[by_name["dataset"] == "lfw-published"]["published_mean"].isna().all()
    cols = {"personal": None, "lfw-published": "lfw"}
    long = t1.table_one(renamed, ref, model="facenet", columns=cols)
    km = long[(long["method"] == "kmeans") & (long["dataset"] == "lfw-published")].iloc[0]
    assert km["table_one"] == "lfw" and km["published_mean"] == pytest.approx(0.393992)
    assert long[long["dataset"] == "personal"]["published_mean"].isna().all()  # no column
    assert t1.column_labels(cols, ["personal", "lfw-published"]) == {
        "lfw-published": "lfw-published (vs Table I lfw)"
    }


def test_comparison_note_names_the_checkpoint_family():
    same = t1.comparison_note(
        "muct-published",
        "muct",
        model="facenet-20170512",
        description="MUCT embedded with Sandberg's FaceNet 20170512-110547 on MTCNN 160x160 "
        "crops of the full-resolution images",
    )
    assert same.startswith("muct-published × facenet-20170512 (beside Table I's muct column): ")
    assert "published embeddings, MUCT embedded with Sandberg's FaceNet" in same
    assert "same checkpoint family (Sandberg 20170512-110547) as the report's Keras model" in same
    other = t1.comparison_note(
        "mine", None, model="arcface", description="feature file x.npz", kind="precomputed"
    )
    assert "with no Table I column" in other and "not the report's checkpoint" in other


def _with_silhouette(results: pd.DataFrame) -> pd.DataFrame:
    """The fixture's results with a silhouette that prefers eps 0.5 on every subset."""
    sil = np.where(results["params"].str.contains('"eps": 0.5'), 0.6, 0.2)
    return results.assign(silhouette=np.where(results["method"] == "dbscan", sil, np.nan))


def test_headline_and_metrics_show_what_a_user_without_labels_gets(results, stats):
    from facecluster.sweep.summary import blind_choices

    blind = blind_choices(_with_silhouette(results))
    best = tb.best_configs(stats)
    table = tb.headline_display(best, ["personal", "lfw"], ["facenet"], blind)
    col = ("personal", "facenet", tb.NO_LABELS)
    # personal: the oracle is eps 0.7 (ARI 0.97); the silhouette picks 0.5 (ARI 0.4)
    assert table.loc["dbscan", col] == "0.400" and table.loc["kmeans", col] == "given K"
    metrics = tb.headline_metrics(best, blind=blind)
    assert metrics["personal"]["facenet"]["dbscan"]["ari_blind"] == pytest.approx(0.4)
    assert "ari_blind" not in metrics["personal"]["facenet"]["kmeans"]
    assert tb.NO_LABELS not in {c[2] for c in tb.headline_display(best, ["lfw"], ["facenet"])}

    shown = tb.blind_display(blind, stats).set_index(["dataset", "method"])
    row = shown.loc[("personal", "dbscan")]
    assert row["ARI with labels"] == "0.970" and row["ARI without"] == "0.400"
    assert row["ARI lost"] == "+0.570" and row["same choice"] == "0%"
    assert row["chosen without (most subsets)"] == "eps=0.5"
    assert row["ARI at 0.7 (Castiel rule)"] == "0.970"  # the report's rule of thumb
    assert tb.blind_display(blind)["ARI at 0.7 (Castiel rule)"].eq("–").all()

    advice = tb.blind_advice(blind, ["personal", "lfw"], ["facenet"], not_ranked=["lfw"])
    assert "**personal** × facenet: **dbscan** (eps=0.5 on most subsets): ARI 0.400" in advice
    assert "+0.570 ARI below its best with labels (0.970)" in advice
    assert "**lfw** × facenet: not ranked" in advice
    assert tb.blind_advice(blind.iloc[0:0], ["lfw"], ["facenet"]) == ""


def test_a_best_setting_at_the_end_of_its_grid_is_flagged(stats):
    best = tb.best_configs(stats)
    edge = best.set_index(["dataset", "method"])["edge"]
    assert edge["personal", "dbscan"] == "eps (largest)"
    assert edge["lfw", "dbscan"] == "eps (smallest)"  # the tie goes to the first point
    assert edge["personal", "kmeans"] == ""  # no axis
    table = tb.headline_display(best, ["personal", "lfw"], ["facenet"])
    assert table.loc["dbscan", ("personal", "facenet", "ARI ± 2σ")].endswith(f" {tb.EDGE_MARK}")
    assert tb.EDGE_MARK not in table.loc["kmeans", ("personal", "facenet", "ARI ± 2σ")]
    assert "may lie outside" in tb.style_headline(table, best).caption
    settings = tb.best_settings_display(best, ["personal", "lfw"], ["facenet"])
    assert settings.loc["dbscan", ("personal", "facenet")] == (
        f"eps=0.7 {tb.EDGE_MARK} grid edge: eps (largest)"
    )


def test_the_metric_note_says_where_ari_and_bcubed_disagree():
    runs = [  # kmeans: the better ARI; agglomerative: the better BCubed F1
        ("lfw", "facenet", "kmeans", KM, [0.90, 0.90]),
        ("lfw", "facenet", "agglomerative", {}, [0.80, 0.80]),
        ("personal", "facenet", "kmeans", KM, [0.90, 0.90]),
        ("personal", "facenet", "agglomerative", {}, [0.80, 0.80]),
    ]
    results = results_frame(runs)
    agg = (results["method"] == "agglomerative") & (results["dataset"] == "lfw")
    results.loc[agg, "bcubed_f1"] = 0.99
    best = tb.best_configs(tb.grid_stats(results))
    lines = tb.ranking_disagreements(best)
    assert len(lines) == 1 and lines[0].startswith("- **lfw × facenet**: best by ARI is kmeans")
    assert "best by BCubed F1 is agglomerative (ARI 0.800, BCubed F1 0.990" in lines[0]
    assert tb.ranking_disagreements(best, not_ranked=["lfw"]) == []  # not ranked: no claim
    lfw = best[best["dataset"] == "lfw"]
    table = tb.headline_display(lfw, ["lfw"], ["facenet"])
    css = tb.style_headline(table, lfw)._compute().ctx
    won = {
        (table.index[r], table.columns[c][2])
        for (r, c), v in css.items()
        if ("background-color", "#d9f2d9") in v
    }
    assert won == {("kmeans", "ARI ± 2σ"), ("agglomerative", "BCubed F1")}  # each its winner


def test_a_cell_of_another_model_or_dataset_is_never_shaded(stats):
    ref = tb.load_reference()
    mismatch = {"personal": "other photos", "lfw": "another model"}
    long = t1.table_one(stats, ref, model="facenet", mismatch={"personal": "other photos"})
    lfw_km = long[(long["method"] == "kmeans") & (long["dataset"] == "lfw")].iloc[0]
    assert lfw_km["comparable"] and lfw_km["published_mean"] == pytest.approx(0.393992)
    personal = long[long["dataset"] == "personal"]
    assert not personal["comparable"].any() and not personal["beyond"].any()
    assert personal["published_mean"].notna().any()  # still shown beside the report's value
    everything_off = t1.table_one(stats, ref, model="facenet", mismatch=mismatch)
    assert not everything_off["beyond"].any()
    assert t1.beyond_published({"facenet": everything_off}).empty  # nothing counted
    table, css = t1.table_one_display(everything_off, ["personal", "lfw"])
    assert (css == "").all().all()  # nothing shaded
    delta = table.loc[("kmeans", "K=true"), ("lfw", "Δ")]
    assert delta.startswith("(") and delta.endswith(")")  # Δ in brackets: not a reproduction


def test_a_dataset_at_the_ceiling_is_flagged_in_the_headline():
    best = _best(
        [
            ("yale", "facenet", "kmeans", KM, [1.0, 1.0]),
            ("yale", "facenet", "agglomerative", {}, [0.995, 0.999]),
            ("yale", "facenet", "dbscan", {"eps": 0.5, "min_samples": 1}, [0.7, 0.7]),
            ("lfw", "facenet", "kmeans", KM, [0.4, 0.4]),
            ("muct", "facenet", "kmeans", KM, [1.0, 1.0]),
        ]
    )
    assert tb.ceiling_datasets(best, not_ranked=["muct"]) == ["yale"]
    table = tb.headline_display(best, ["yale", "lfw", "muct"], ["facenet"])
    html = tb.style_headline(table, best, {"muct": 24.0}).to_html()
    assert "yale (at the ceiling: most methods reach ARI ≥ 0.99)" in html
    assert "muct (24 px faces: not ranked)" in html and "lfw (" not in html
