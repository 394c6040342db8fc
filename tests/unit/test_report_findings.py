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
