"""Table I reproduced (:mod:`facecluster.report.reproduction`, stages ``table-one`` and
``reproduction``): cells, two-sample tests, the deviation account, the claims, end to end on a
tiny generated project."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats as sps

from facecluster.config import load_params
from facecluster.paths import ProjectPaths
from facecluster.report import reproduction as rep
from facecluster.report.tables import load_reference
from study_fixture import make_study_project, results_frame


def _cells(values: dict[tuple[str, object], list[float]]) -> pd.DataFrame:
    rows = []
    for (method, value), aris in values.items():
        parameter = "n_clusters" if value == "true" else {"dbscan": "eps"}.get(method, "bandwidth")
        rows += [
            {"method": method, "parameter": parameter, "value": value, "subset": i, "ari": a}
            for i, a in enumerate(aris)
        ]
    return pd.DataFrame(rows)


def test_cell_scores_keys_grid_points_as_table_one():
    table = results_frame([
        ("lfw", "m", "kmeans", {"n_init": 10}, [0.4, 0.5]),
        ("lfw", "m", "kmeans", {"n_init": 2}, [0.1, 0.1]),  # not the report's setting
        ("lfw", "m", "dbscan", {"eps": 0.7, "min_samples": 1}, [0.9, 0.8]),
    ])  # fmt: skip
    cells = rep.cell_scores(table)
    assert set(zip(cells["method"], cells["value"], strict=True)) == {
        ("kmeans", "true"), ("dbscan", 0.7)
    }  # fmt: skip
    assert cells.loc[cells["method"] == "kmeans", "ari"].tolist() == [0.4, 0.5]


def test_reference_runs_give_table_one():
    runs = rep.reference_runs(load_reference("castiel_table1_runs.csv"))
    table = load_reference("castiel_table1.csv")
    assert len(runs) == 30 * len(table) == 30 * 81
    lfw_ward = runs[(runs["column"] == "lfw") & (runs["method"] == "agglomerative")]["ari"]
    assert lfw_ward.mean() == pytest.approx(0.440203, abs=1e-6)
    assert 2 * lfw_ward.std(ddof=0) == pytest.approx(0.030589, abs=1e-6)


def test_reproduced_table_tests_and_flags():
    ref = pd.DataFrame(
        [{"method": "kmeans", "parameter": "n_clusters", "value": "true", "dataset": "lfw",
          "run": i, "ari": 0.40 + 0.01 * np.sin(i)} for i in range(30)]
        + [{"method": "dbscan", "parameter": "eps", "value": "0.7", "dataset": "lfw",
            "run": i, "ari": 0.90 + 0.01 * np.cos(i)} for i in range(30)]
    )  # fmt: skip
    same = [0.40 + 0.01 * np.sin(i + 0.5) for i in range(30)]
    shifted = [0.95 + 0.01 * np.cos(i + 0.5) for i in range(30)]
    ours = {"lfw": _cells({("kmeans", "true"): same, ("dbscan", 0.7): shifted})}
    t = rep.reproduced_table(ours, ref).set_index("method")
    assert not t.loc["kmeans", "flagged"] and abs(t.loc["kmeans", "delta"]) < 0.01
    assert t.loc["dbscan", "flagged"] and t.loc["dbscan", "delta"] == pytest.approx(0.05, abs=3e-3)
    assert t.loc["dbscan", "p_welch"] == pytest.approx(
        sps.ttest_ind(shifted, ref["ari"][30:], equal_var=False).pvalue
    )
    assert t.loc["kmeans", "ours_2sd"] == pytest.approx(2 * np.std(same))
    assert t.loc["kmeans", "n_ours"] == 30 and t.loc["kmeans", "n_report"] == 30
    missing = rep.reproduced_table({}, ref)
    assert missing["ours_mean"].isna().all() and not missing["flagged"].any()


def test_welch_difference_matches_the_formula():
    gen = np.random.default_rng(0)
    a, b = gen.normal(1.0, 0.1, 20), gen.normal(0.8, 0.3, 35)
    d = rep.welch_difference(a, b)
    res = sps.ttest_ind(a, b, equal_var=False)
    ci = res.confidence_interval(0.95)
    assert d["mean_diff"] == pytest.approx(a.mean() - b.mean())
    assert (d["ci_low"], d["ci_high"]) == pytest.approx((ci.low, ci.high))


def test_welch_on_overlapping_subsets_inflates_each_variance():
    gen = np.random.default_rng(1)
    a, b = gen.normal(1.0, 0.1, 30), gen.normal(0.9, 0.1, 30)
    plain = rep.welch_difference(a, b)
    rho = (0.8, 1 - np.exp(-0.8))  # ours without replacement, the report's with
    d = rep.welch_difference(a, b, overlap=rho)
    va = a.var(ddof=1) * (1 / 30 + 0.8 / 0.2)  # Nadeau & Bengio: 1/n + ρ/(1−ρ)
    vb = b.var(ddof=1) * (1 / 30 + rho[1] / (1 - rho[1]))
    df = (va + vb) ** 2 / (va**2 / 29 + vb**2 / 29)
    t = (a.mean() - b.mean()) / np.sqrt(va + vb)
    assert d["p"] == pytest.approx(2 * sps.t.sf(abs(t), df))
    half = sps.t.ppf(0.975, df) * np.sqrt(va + vb)
    assert d["ci_high"] - d["ci_low"] == pytest.approx(2 * half)
    assert plain["p"] < 1e-3 and d["p"] > 0.05  # "significant" only while overlap is ignored
    with pytest.raises(ValueError, match="overlap"):
        rep.welch_difference(a, b, overlap=(1.0, 0.0))


def test_factor_effect_paired_and_unpaired():
    base = _cells({("kmeans", "true"): [0.5, 0.6, 0.7, 0.8]})
    other = _cells({("kmeans", "true"): [0.52, 0.61, 0.73, 0.82]})
    paired = rep.factor_effect(base, other, paired=True).iloc[0]
    unpaired = rep.factor_effect(base, other, paired=False).iloc[0]
    assert paired["delta"] == pytest.approx(0.02) == unpaired["delta"]
    assert paired["ci_low"] > 0  # the differences are consistent subset by subset
    assert unpaired["ci_low"] < 0  # between the spreads of the two sets they are not
    corrected = rep.factor_effect(base, other, paired=True, overlap=(0.8, 0.8)).iloc[0]
    assert corrected["delta"] == pytest.approx(0.02)
    # the same differences, the variance × (1/4 + 0.8/0.2) / (1/4): the interval 4.1x wider
    width = corrected["ci_high"] - corrected["ci_low"]
    assert width == pytest.approx((paired["ci_high"] - paired["ci_low"]) * np.sqrt(17))


def test_claims_answer_from_the_table():
    t = pd.DataFrame(
        [
            {"column": "lfw", "method": m, "parameter": p, "value": v, "report_mean": r,
             "ours_mean": o}
            for m, p, v, r, o in [
                ("kmeans", "n_clusters", "true", 0.39, 0.50),
                ("agglomerative", "n_clusters", "true", 0.44, 0.45),
                ("spectral", "n_clusters", "true", 0.23, 0.20),
                ("dbscan", "eps", 0.6, 0.91, 0.96),
                ("dbscan", "eps", 0.7, 0.96, 0.90),
                ("meanshift", "bandwidth", 0.7, 0.96, 0.40),
            ]
        ]
    )  # fmt: skip
    c = rep.claims(t, {}).set_index(["claim", "source"])
    assert c.loc[("without-K-best", "report"), "holds"]
    assert not c.loc[("without-K-best", "ours"), "holds"]  # mean-shift 0.40 < k-means 0.50
    assert c.loc[("ward-best-K", "report"), "holds"]
    assert not c.loc[("ward-best-K", "ours"), "holds"]
    eps = c.loc[("eps-0.7", "ours")]
    assert "best eps=0.6" in " ".join(eps["answer"])


@pytest.fixture()
def project(tmp_path):
    root = make_study_project(tmp_path / "p", datasets=("personal", "lfw"), n_subsets=4)
    params_file = root / "params.yaml"
    data = yaml.safe_load(params_file.read_text())
    data["sweep"]["methods"]["kmeans"] = {"n_init": 10}  # the report's setting: a Table I cell
    data["table_one"] = {
        "methods": ["kmeans", "agglomerative", "dbscan", "meanshift"],
        "sweeps": {
            "report-personal": {"dataset": "personal", "model": "facenet", "replace": True},
            "report-lfw": {"dataset": "lfw", "model": "facenet", "replace": True},
            "sampling-lfw": {"dataset": "lfw", "model": "facenet", "replace": False},
            "model-lfw": {"dataset": "lfw", "model": "lightcnn", "replace": True, "n_subsets": 2},
        },
    }
    params_file.write_text(yaml.safe_dump(data))
    return root


def test_stages_end_to_end(project):
    from facecluster.stages import reproduction, table_one
    from facecluster.stages.subsets import read_subsets

    params = load_params(project / "params.yaml")
    paths = ProjectPaths.from_root(project)
    for name in params.table_one.sweeps:
        results = table_one.run(name, params, paths)
        assert set(results.table["method"]) == {"kmeans", "agglomerative", "dbscan", "meanshift"}
    with_r = read_subsets(paths.table_one_subsets("report-lfw"), replace=True)
    without = read_subsets(paths.table_one_subsets("sampling-lfw"), replace=False)
    assert any(len(np.unique(s)) < len(s) for s in with_r.indices)  # repeats: with replacement
    assert all(len(np.unique(s)) == len(s) for s in without.indices)
    fewer = read_subsets(paths.table_one_subsets("model-lfw")).indices
    np.testing.assert_array_equal(with_r.indices[:2], fewer)  # the first 2 of the same stream

    r = reproduction.run(params, paths)
    assert r.missing == ()
    lfw = r.table[r.table["column"] == "lfw"]
    swept = lfw["method"].isin(["kmeans", "agglomerative"]) | lfw["value"].isin(
        [0.3, 0.5, 0.7, 0.9]
    )
    assert len(lfw) == 27 and (lfw.loc[swept, "n_ours"] == 4).all()
    assert (lfw.loc[~swept, "n_ours"] == 0).all()  # spectral and the other eps: not swept here
    eff = r.effects.groupby("factor")[["paired", "n_base", "n_other"]].first()
    assert eff.loc["model: facenet → lightcnn"].tolist() == [True, 2, 2]  # first 2, paired
    assert eff.loc["sampling: with replacement → without"].tolist() == [False, 4, 4]
    assert set(r.conditions["condition"]) >= {"glasses", "normal"}
    assert {"rate", "kmeans", "dbscan"} <= set(r.conditions.columns)
    ext = r.extraction.set_index("dataset")
    assert set(ext.index) == {"personal", "lfw"} and (ext["status"] == "ok").all()
    assert (ext["faces"] == 30).all() and (ext["border rule"] == 0).all()
    assert ext.loc["lfw", "report's faces"] == 7400  # the report's logs, beside ours
    metrics = json.loads(reproduction.metrics_path(paths).read_text())
    assert metrics["missing_sweeps"] == []
    assert metrics["lfw"]["kmeans (K=true)"]["report"] == pytest.approx(0.393992, abs=1e-6)
    assert set(metrics["deviation"]) == set(r.effects["factor"])


def test_reproduction_names_the_sweeps_not_run(project):
    from facecluster.stages import reproduction, table_one

    params = load_params(project / "params.yaml")
    paths = ProjectPaths.from_root(project)
    table_one.run("report-lfw", params, paths)
    r = reproduction.run(params, paths)
    assert set(r.missing) == {"report-personal", "sampling-lfw", "model-lfw"}
    assert r.effects.empty and r.conditions.empty
    assert (r.table.loc[r.table["column"] == "personal", "n_ours"] == 0).all()
