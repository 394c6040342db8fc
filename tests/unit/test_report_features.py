"""The study report over a dataset of precomputed vectors and a low-resolution image dataset.

One generated project (:func:`study_fixture.make_study_project`): ``personal`` and ``muct``
(its faces 24 px: low resolution) × ``facenet``, and ``muct-published``, a feature dataset
(``kind: embeddings``, ``table_one: muct``) whose vectors were computed by
``facenet-20170512``, read by the features stage itself.  No faces stage, maps, manifest or
crops exist for it: every section must cope.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pandas as pd
import pytest

from facecluster.config import load_params
from facecluster.integrity import file_hash
from facecluster.paths import ProjectPaths
from facecluster.report import tables as tb
from facecluster.report.inputs import LOW_RESOLUTION_PX
from facecluster.report.study import build_study_report
from facecluster.stages.sweep import read_results
from facecluster.sweep.summary import best_scores, blind_choices
from study_fixture import FEATURE_TABLE_ONE, LOW_RES_FACE_PX, feature_file, make_study_project

#: the cheapest methods, with Table I cells (K=true, eps) to compare with
METHODS = {"kmeans": {"n_init": 2}, "agglomerative": {}, "spectral": None,
           "dbscan": {"eps": [0.3, 0.5, 0.7, 0.9], "min_samples": 1}, "meanshift": None,
           "rank_order": None, "chinese_whispers": None, "finch_k": None, "hdbscan": None,
           "finch": None}  # fmt: skip
FEATURE, FEATURE_MODEL = "muct-published", "facenet-20170512"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = make_study_project(
        tmp_path_factory.mktemp("features-study"),
        datasets=("personal", "muct"),
        models=("facenet",),
        low_resolution=("muct",),
        features={FEATURE: FEATURE_MODEL},
        n_identities=4,
        per_identity=5,
        n_subsets=2,
        methods=METHODS,
    )
    params = load_params(root / "params.yaml")
    paths = ProjectPaths.from_root(root)
    return params, paths, build_study_report(params, paths)


def test_fixture_is_what_the_pipeline_leaves_for_a_feature_dataset(project):
    params, paths, _ = project
    assert params.pairs() == [
        ("personal", "facenet"),
        ("muct", "facenet"),
        (FEATURE, FEATURE_MODEL),
    ]
    assert not paths.faces(FEATURE).exists()  # no faces stage
    assert paths.embeddings(FEATURE, FEATURE_MODEL).is_file()
    assert paths.results(FEATURE, FEATURE_MODEL).is_file()
    assert not list(paths.embeddings(FEATURE, FEATURE_MODEL).parent.glob(f"{FEATURE}-*.png"))


def test_inputs_read_exactly_the_pairs(project):
    params, _, report = project
    inputs = report.inputs
    assert inputs.datasets == ("personal", "muct", FEATURE)
    assert inputs.models == ("facenet", FEATURE_MODEL)
    assert list(inputs.pairs) == params.pairs()
    pairs = list(zip(inputs.status["dataset"], inputs.status["model"], strict=True))
    assert pairs == params.pairs()  # no (personal, facenet-20170512), no (muct-published, facenet)
    assert set(inputs.status["status"]) == {"ok"}
    assert set(inputs.faces) == {"personal", "muct"}  # the feature dataset has no faces stage
    assert set(inputs.embed) == {f"{d}-{m}" for d, m in params.pairs()}
    feature = inputs.features[FEATURE]
    assert feature.model == FEATURE_MODEL and not feature.published
    assert feature.metrics["faces"] == 20 and feature.metrics["identities"] == 4
    assert inputs.table_one_column(FEATURE) == FEATURE_TABLE_ONE == "muct"
    assert inputs.table_one_column("muct") == "muct"
    assert dict(inputs.low_resolution) == {"muct": float(LOW_RES_FACE_PX)}
    assert LOW_RES_FACE_PX < LOW_RESOLUTION_PX


def test_status_table_and_links_hold_only_the_feature_datasets_own_model(project):
    _, paths, report = project
    status = report.overview.status
    rows = status[status["dataset"] == FEATURE]
    assert rows["model"].tolist() == [FEATURE_MODEL]
    assert status[status["model"] == FEATURE_MODEL]["dataset"].tolist() == [FEATURE]
    links = report.overview.links_html
    assert f'href="faces/{FEATURE}.html"' not in links
    assert f'href="embed/{FEATURE}-{FEATURE_MODEL}.html"' not in links
    assert f'href="sweep/{FEATURE}-{FEATURE_MODEL}.html"' in links
    assert f'href="sweep/{FEATURE}-facenet.html"' not in links
    assert f'href="sweep/personal-{FEATURE_MODEL}.html"' not in links
    assert "precomputed vectors" in links

    class Hrefs(HTMLParser):
        hrefs: list[str] = []

        def handle_starttag(self, tag, attrs):
            if tag == "a":
                self.hrefs.append(dict(attrs)["href"])

    parser = Hrefs()
    parser.feed(links)
    assert parser.hrefs
    for href in parser.hrefs:  # every link resolves (the fixture wrote the stage pages)
        assert (paths.reports / href).is_file(), href


def test_table_one_compares_the_feature_dataset_with_the_muct_column(project):
    _, _, report = project
    t1 = report.table_one
    assert set(t1.styled) == {"facenet", FEATURE_MODEL}
    long = t1.ari[FEATURE_MODEL]
    assert set(long["dataset"]) == {FEATURE} and set(long["table_one"]) == {"muct"}
    ref = tb.load_reference()
    muct = ref[(ref["dataset"] == "muct") & (ref["method"] == "agglomerative")]
    agg = long[long["method"] == "agglomerative"].iloc[0]
    assert agg["published_mean"] == pytest.approx(muct["ari_mean"].item())
    assert agg["diff"] == pytest.approx(agg["mean"] - muct["ari_mean"].item())
    eps = long[(long["method"] == "dbscan") & (long["setting"].str.contains("eps=0.7"))]
    assert eps["published_mean"].notna().all()
    html = t1.html[FEATURE_MODEL][0]
    caption = re.search(r"<caption>(.*?)</caption>", html, re.S).group(1)
    description = report.inputs.features[FEATURE].description
    assert description == f"feature file {feature_file(FEATURE)}"  # the features stage's own
    assert (
        "beside Table I&#39;s muct column" in caption or "beside Table I's muct column" in caption
    )
    assert description in caption and "precomputed embeddings" in caption
    assert "same checkpoint family (Sandberg 20170512-110547)" in caption
    assert (
        f"{FEATURE} (vs Table I muct)" in html
    )  # the column header says what it is compared with
    # the image dataset muct keeps its own column, under its own name
    facenet = t1.ari["facenet"]
    assert set(facenet[facenet["dataset"] == "muct"]["table_one"]) == {"muct"}
    assert "vs Table I" not in t1.html["facenet"][0]


def test_low_resolution_dataset_is_in_the_headline_but_not_ranked(project):
    _, _, report = project
    head = report.headline
    by_dataset = {t.data.columns.get_level_values(0)[0]: t for t in head.tables}
    assert list(by_dataset) == ["personal", "muct", FEATURE]  # one table per dataset
    table = pd.concat([t.data for t in head.tables], axis=1)
    assert ("muct", "facenet", "ARI ± 2σ") in table.columns
    assert table[("muct", "facenet", "ARI ± 2σ")].str.match(r"\d\.\d{3} ±\u00a0\d").any()
    highlighted = {
        d
        for d, t in by_dataset.items()
        if any(("background-color", "#d9f2d9") in v for v in t._compute().ctx.values())
    }
    assert highlighted == {"personal", FEATURE}  # muct is not ranked
    html = by_dataset["muct"].to_html()
    assert "muct (24 px faces: not ranked)" in html
    settings = {t.data.columns.get_level_values(0)[0]: t for t in head.best_settings}
    assert list(settings) == list(by_dataset)  # split like the headline
    assert "not ranked" in settings["muct"].to_html()
    assert "not ranked" not in settings["personal"].to_html()
    assert "`muct`" in head.note and "not ranked" in head.note.lower()
    assert "personal" not in head.note and FEATURE not in head.note
    # no column for pairs the study does not sweep
    assert ("personal", FEATURE_MODEL, "ARI ± 2σ") not in table.columns
    assert (FEATURE, "facenet", "ARI ± 2σ") not in table.columns


def test_metrics_json_flags_low_resolution_and_keeps_its_values(project):
    _, paths, report = project
    metrics = json.loads((paths.reports / "metrics.json").read_text())
    assert metrics == report.headline.metrics
    assert metrics["muct"]["low_resolution"] is True
    assert metrics["muct"]["face_px_median"] == LOW_RES_FACE_PX
    assert "low_resolution" not in metrics["personal"]
    assert "low_resolution" not in metrics[FEATURE]
    assert set(metrics[FEATURE]) == {FEATURE_MODEL}
    for dataset, model in (("muct", "facenet"), (FEATURE, FEATURE_MODEL)):
        table = read_results(paths.results(dataset, model)).table
        expected = best_scores(table)
        got = metrics[dataset][model]
        assert set(got) == set(expected) == {"kmeans", "agglomerative", "dbscan"}
        for method, e in expected.items():
            blind = {"ari_blind"} if method == "dbscan" else set()  # the one without K
            assert set(got[method]) == {"ari_mean", "ari_2std", "pairwise_f1", "bcubed_f1"} | blind
            assert got[method]["ari_mean"] == pytest.approx(e["ari_mean"], abs=1e-6)
        chosen = blind_choices(table).set_index("method").loc["dbscan", "blind_ari"]
        assert got["dbscan"]["ari_blind"] == pytest.approx(chosen, abs=1e-6)


def test_galleries_and_maps_skip_the_feature_dataset(project):
    _, _, report = project
    galleries = report.galleries.galleries
    assert {g.dataset for g in galleries} == {"personal", "muct"}
    assert all(g.reproduced for g in galleries)
    assert FEATURE in report.galleries.note and "precomputed" in report.galleries.note
    maps = report.maps.html
    assert maps.count("data:image/jpeg;base64,") == 4  # personal, muct × umap, tsne
    block = maps[maps.index(f"<summary>{FEATURE}</summary>") :]
    assert "<img" not in block and "no embedding maps" in block
    assert report.maps.verification.empty  # no lfw here, and no verification of features


def test_other_sections_cope_with_a_model_on_one_dataset(project):
    _, _, report = project
    assert [t for t, _ in report.curves.figures] == [
        "dbscan × facenet",
        f"dbscan × {FEATURE_MODEL}",
    ]
    assert {p.name for p in report.plot_files} == {
        "facenet-dbscan-personal.csv",
        "facenet-dbscan-muct.csv",
        f"{FEATURE_MODEL}-dbscan-{FEATURE}.csv",
    }
    fig = report.clusters_runtime.figure
    assert [ax.get_title() for ax in fig.axes] == ["facenet", FEATURE_MODEL]
    assert [t.get_text() for t in fig.axes[1].get_legend().get_texts()] == [FEATURE]
    assert report.clusters_runtime.table is not None
    paired = report.statistics.paired.data.reset_index().set_index("dataset")
    assert paired.loc["muct", "verdict"] == "not ranked (low-resolution input)"
    assert "not ranked" not in paired.loc["personal", "verdict"]
    assert not paired["mean Δ"].isna().loc["muct"]  # the numbers are kept


def test_notes_describe_the_feature_dataset_and_the_low_resolution_one(project):
    _, paths, report = project
    notes = report.notes
    assert "### Precomputed vectors" in notes
    line = next(x for x in notes.splitlines() if x.startswith(f"- `{FEATURE}`"))
    sha = file_hash(paths.resolve(feature_file(FEATURE)))
    assert f"`features.npz` sha256 `{sha}`" in line
    assert "20 vectors of 4 identities, 8-d" in line and "Table I's `muct` column" in line
    assert f"`{FEATURE_MODEL}`: the model that computed" in notes
    muct = next(x for x in notes.splitlines() if x.startswith("- `muct`: ours"))
    assert "median face 24 px" in muct and "**low resolution**" in muct
    personal = next(x for x in notes.splitlines() if x.startswith("- `personal`: ours"))
    assert "low resolution" not in personal
    assert not any(x.startswith(f"- `{FEATURE}`: ours") for x in notes.splitlines())  # no faces


def test_fixture_fallback_writes_what_the_features_stage_writes(project, tmp_path):
    """Without the features reader the fixture writes the same layout by the embed writers."""
    import study_fixture
    from facecluster.stages import embed as embed_stage

    _, paths, _ = project
    stage = embed_stage.read_embeddings(paths.embeddings(FEATURE, FEATURE_MODEL))
    other = ProjectPaths.from_root(tmp_path)
    source = paths.resolve(feature_file(FEATURE))
    study_fixture._write_feature_outputs(other, FEATURE, FEATURE_MODEL, stage, source)
    ours = embed_stage.read_embeddings(other.embeddings(FEATURE, FEATURE_MODEL))
    assert (ours.X == stage.X).all() and (ours.labels == stage.labels).all()
    assert dict(ours.source_sha256) == dict(stage.source_sha256)
    key = f"{FEATURE}-{FEATURE_MODEL}"
    want = embed_stage.read_metrics(paths, [(FEATURE, FEATURE_MODEL)])[key]
    got = embed_stage.read_metrics(other, [(FEATURE, FEATURE_MODEL)])[key]
    assert set(got) == set(want)
    assert {k: got[k] for k in ("faces", "dim", "identities", "source_sha256")} == {
        k: want[k] for k in ("faces", "dim", "identities", "source_sha256")
    }
