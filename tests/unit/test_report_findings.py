"""The findings box: sentences generated from the numbers, each linking to a real section."""

from __future__ import annotations

import re

import pandas as pd

from facecluster.report import findings as fd
from facecluster.report import tables as tb
from study_fixture import results_frame

KM = {"n_init": 10}


def _best(rows):
    return tb.best_configs(tb.grid_stats(results_frame(rows)))


def test_findings_name_the_best_the_ceiling_and_the_unranked():
    rows = [
        ("lfw", "facenet", "kmeans", KM, [0.40, 0.42]),
        ("lfw", "facenet", "agglomerative", {}, [0.50, 0.52]),
        ("lfw", "lightcnn", "agglomerative", {}, [0.45, 0.45]),
        ("yale", "facenet", "kmeans", KM, [1.0, 1.0]),
        ("yale", "facenet", "agglomerative", {}, [0.995, 1.0]),
        ("muct", "facenet", "kmeans", KM, [0.9, 0.9]),
    ]
    best = _best(rows)
    out = fd.findings(
        best,
        datasets=["yale", "lfw", "muct"],
        not_ranked={"muct": 24.0},
    )
    text = "\n".join(out)
    assert out[0].startswith(
        "**On lfw**, agglomerative with facenet (K=true) clusters best: ARI 0.510"
    )
    assert "**yale is at the ceiling**: 2 of 2" in text  # no "best on yale" claim
    assert "On yale" not in text and "On muct" not in text
    assert "**Not ranked**: muct (24 px faces)" in text
    anchors = {a for a, _ in fd.SECTIONS}
    for sentence in out:  # every sentence ends with a link to a section that exists
        link = re.search(r"\(\[§\d\]\(#([\w-]+)\)\)\.$", sentence)
        assert link and link.group(1) in anchors, sentence


def test_findings_say_when_bcubed_picks_another_winner_and_what_blind_choice_costs():
    results = results_frame(
        [
            ("lfw", "facenet", "kmeans", KM, [0.9, 0.9]),
            ("lfw", "facenet", "agglomerative", {}, [0.8, 0.8]),
        ]
    )
    results.loc[results["method"] == "agglomerative", "bcubed_f1"] = 0.99
    best = tb.best_configs(tb.grid_stats(results))
    blind = pd.DataFrame(
        [
            {
                "dataset": "lfw",
                "model": "facenet",
                "method": "dbscan",
                "blind_ari": 0.7,
                "loss_ari": 0.1,
            }
        ]  # fmt: skip
    )
    out = fd.findings(best, datasets=["lfw"], blind=blind)
    assert "by BCubed F1 the best is agglomerative with facenet (0.990)" in out[0]
    assert out[1].startswith("**Without labels on lfw**, dbscan with facenet")
    assert "ARI 0.700, 0.100 below its best with labels" in out[1]


def test_headings_and_contents_share_the_anchors():
    assert fd.heading("headline").startswith('<a id="headline"></a>')
    assert fd.heading("headline").endswith("## 1. Headline: the best setting of each method")
    toc = fd.toc()
    assert all(f"(#{a})" in toc for a, _ in fd.SECTIONS)
    box = fd.findings_markdown(["one.", "two."])
    assert box.splitlines() == ["> **Findings**", ">", "> - one.", "> - two."]
    assert fd.findings(pd.DataFrame(), datasets=[]) == []


def test_verification_on_part_of_the_pairs_says_so():
    best = _best([("lfw", "facenet", "kmeans", KM, [0.4, 0.4])])
    verification = pd.DataFrame(
        [
            {"model": "facenet", "accuracy %": 98.53, "pairs scored": 6000, "pairs": 6000},
            {"model": "lightcnn", "accuracy %": 100.0, "pairs scored": 41, "pairs": 6000},
        ]
    )
    out = fd.findings(best, datasets=["lfw"], verification=verification)
    assert out[-1].startswith(
        "**LFW verification** (10 folds of pairs.txt): facenet 98.53%, lightcnn 100.00% "
        "(on 41 of 6000 pairs)"
    )


def _dbscan(eps, aris):
    return ("lfw", "facenet", "dbscan", {"eps": eps, "min_samples": 1}, aris)


def test_every_section_opens_with_a_sentence_from_its_numbers():
    rows = [
        ("lfw", "facenet", "kmeans", KM, [0.40, 0.42]),
        _dbscan(0.3, [0.10, 0.10]),
        _dbscan(0.5, [0.60, 0.62]),
        _dbscan(0.7, [0.90, 0.92]),  # the best, at the end of the grid
        ("yale", "facenet", "kmeans", KM, [1.0, 1.0]),
        ("muct", "facenet", "kmeans", KM, [0.2, 0.2]),
    ]
    results = results_frame(rows)
    stats = tb.grid_stats(results)
    best = tb.best_configs(stats)
    long = pd.DataFrame(
        {
            "published_mean": [0.39, 0.44, 0.5, None],
            "comparable": [True, True, False, False],
            "beyond": [False, True, False, False],
        }
    )
    paired = pd.DataFrame(
        [
            {"dataset": "lfw", "model": "facenet", "verdict": "dbscan better than kmeans"},
            {"dataset": "muct", "model": "facenet", "verdict": "not ranked"},
        ]
    )
    held = pd.DataFrame(
        [{"dataset": "lfw", "model": "facenet", "method": "dbscan", "optimism": 0.004}]
    )
    leads = fd.section_leads(
        best,
        datasets=["yale", "lfw", "muct"],
        stats=stats,
        clusters=tb.clusters_runtime_table(stats, best),
        table_one={"facenet": long},
        paired=paired,
        held_out=held,
        mismatch={("lfw", "lightcnn"): "another model"},
        not_ranked={"muct": 24.0},
    )
    assert leads["headline"] == (
        "Best method by ARI — lfw: dbscan with facenet (0.910); at the ceiling, so not told "
        "apart: yale; not ranked (tiny faces): muct."
    )
    assert leads["table-one"].startswith(
        "Of 3 cells with a published value, 2 are like for like (the report's model family on "
        "the report's dataset) and 1 of those lies beyond the published 2σ; the other 1"
    )
    # dbscan's mean ARI runs 0.10 → 0.91 over its grid; its best eps is the grid's last value
    assert leads["curves"].startswith(
        "The parameter matters most for dbscan on lfw × facenet (mean ARI 0.10–0.91"
    )
    assert leads["curves"].endswith(
        "1 of 1 best settings lie at an end of their grid (†: the optimum may lie outside it)."
    )
    # clusters = k_true + subset, so both methods find 8.5 for 8 (1.06×); runtime 0.1·(i+1) s
    assert "(1.06× the true count)" in leads["clusters"]
    assert leads["statistics"] == (
        "After correcting for the overlap of the subsets, the best method beats the second by "
        "at least 0.01 ARI in 1 of 1 dataset × model comparisons; choosing the setting on half "
        "of the subsets costs at most 0.004 ARI on the other half (dbscan on lfw × facenet)."
    )
    assert leads["notes"].startswith("1 dataset × model pair beside a Table I column differ")
    assert "maps" not in leads and "galleries" not in leads  # no data: no sentence
    assert fd.heading("curves", leads).endswith("**In short:** " + leads["curves"])
    assert fd.section_leads(pd.DataFrame(), datasets=[]) == {}
    tie = _best([("lfw", "a", "kmeans", KM, [0.5, 0.5]), ("lfw", "b", "kmeans", KM, [0.5, 0.5])])
    assert fd.section_leads(tie, datasets=["lfw"])["headline"] == (
        "Best method by ARI — lfw: kmeans with a, kmeans with b (0.500 tied)."
    )


def test_the_maps_lead_names_the_best_verification():
    best = _best([("lfw", "facenet", "kmeans", KM, [0.4, 0.4])])
    verification = pd.DataFrame(
        [
            {"model": "facenet", "accuracy %": 98.53, "pairs scored": 6000, "pairs": 6000},
            {"model": "lightcnn", "accuracy %": 99.57, "pairs scored": 396, "pairs": 6000},
        ]
    )
    lead = fd.section_leads(best, datasets=["lfw"], verification=verification)["maps"]
    assert lead.startswith(
        "On LFW's verification pairs lightcnn separates same from different people best "
        "(99.57% on 396 of 6000 pairs; 2 models scored); the maps"
    )
