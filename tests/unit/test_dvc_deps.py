"""dvc.yaml lists exactly what each stage runs, and nothing that never changes a number.

* Code deps = the import closure of each stage's entry modules (tools/stage_deps.py): a
  module a stage imports but dvc.yaml does not name would let ``dvc repro`` keep a stale
  result; a module named but not imported re-runs the stage for nothing.
* No stage depends on an executed notebook (anything under ``reports/``).
* No stage lists the ``execution`` params (workers, executor, device, batch sizes).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from facecluster.cli import STAGE_ARGS
from facecluster.config import ExecutionSettings, load_params
from facecluster.stages import STAGES
from project_tools import load_tool

ROOT = Path(__file__).resolve().parents[2]


TOOL = load_tool("stage_deps")
DVC = TOOL.dvc_stages(ROOT)


def test_every_stage_of_the_package_is_a_dvc_stage():
    """Each DVC stage runs one package stage; feature datasets take subsets and sweep through
    DVC stages of their own (``features-subsets``, ``features-sweep``), and the datasets only
    Table I uses their faces and embed stages (``table-one-faces``, ``table-one-embed``)."""
    runs = {name: TOOL.CMD.findall(stage["cmd"])[0][1] for name, stage in DVC.items()}
    assert set(runs.values()) == set(STAGES) == set(STAGE_ARGS)
    assert {n for n, s in runs.items() if n != s} == {
        "features-subsets", "features-sweep", "table-one-faces", "table-one-embed", "table-one"
    }  # fmt: skip


@pytest.mark.parametrize("stage", sorted(DVC))
def test_code_deps_are_the_import_closure(stage):
    want = TOOL.expected_deps(DVC[stage]["cmd"], ROOT)
    have = TOOL.code_deps(DVC[stage]["deps"])
    assert not want - have, f"{stage}: dvc.yaml misses {sorted(want - have)}"
    assert not have - want, (
        f"{stage}: dvc.yaml names modules it does not import {sorted(have - want)}"
    )


@pytest.mark.parametrize("stage", sorted(DVC))
def test_deps_exist_and_are_no_executed_notebooks(stage):
    for dep in DVC[stage]["deps"]:
        assert not dep.startswith("reports/"), f"{stage} depends on executed-notebook output {dep}"
        if "${" not in dep and not dep.startswith("data/"):
            assert (ROOT / dep).exists(), f"{stage}: dep {dep} does not exist"


@pytest.mark.parametrize("stage", sorted(DVC))
def test_no_stage_lists_execution_settings(stage):
    params = [p if isinstance(p, str) else next(iter(p)) for p in DVC[stage]["params"]]
    assert not [p for p in params if p.split(".")[0] == "execution"]


def test_execution_keys_live_only_in_the_execution_block():
    """The science blocks a stage lists hold no execution key (workers, device, batch size)."""
    params = load_params(ROOT / "params.yaml")
    execution_keys = set(ExecutionSettings.model_fields) | {"batch_size", "device"}

    def keys(model, prefix=""):
        for name, value in model:
            yield prefix + name
            if hasattr(type(value), "model_fields"):
                yield from keys(value, f"{prefix}{name}.")

    science = [k for k in keys(params) if not k.startswith("execution")]
    assert not [k for k in science if k.split(".")[-1] in execution_keys]


def test_plots_repeat_no_dataset_or_model_name():
    data = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))
    params = load_params(ROOT / "params.yaml")
    text = yaml.safe_dump(data["plots"])
    names = [*params.datasets, *params.models]
    assert not [n for n in names if n in text], text


@pytest.mark.parametrize("stage", STAGES)
def test_stage_modules_import_run_only_code_inside_run(stage):
    """The convention the closure relies on: a stage module's lazy imports sit in ``run`` or a
    private helper, so another stage that imports the module for its readers does not depend
    on what only this stage's ``run`` executes."""
    path = ROOT / "src" / "facecluster" / "stages" / f"{stage}.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    assert any(isinstance(n, ast.FunctionDef) and n.name == "run" for n in tree.body)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and not TOOL.is_run_only(node):
            lazy = [n for n in ast.walk(node) if isinstance(n, (ast.Import, ast.ImportFrom))]
            assert not lazy, f"{path.name}:{node.name} imports inside a public reader/writer"


def test_closure_follows_lazy_imports_and_skips_type_checking(tmp_path):
    pkg = tmp_path / "facecluster"
    (pkg / "stages").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "stages" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from facecluster import b\n")
    (pkg / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from facecluster import c\n"
    )
    (pkg / "c.py").write_text("")
    (pkg / "stages" / "x.py").write_text(
        "from facecluster import c\ndef run():\n    from facecluster import a\n"
    )
    (pkg / "stages" / "y.py").write_text("from facecluster.stages import x\n")
    own = TOOL.closure(["facecluster.stages.x"], tmp_path)
    assert own == {"facecluster", "facecluster.stages", "facecluster.stages.x", "facecluster.a",
                   "facecluster.b", "facecluster.c"}  # fmt: skip
    other = TOOL.closure(["facecluster.stages.y"], tmp_path)
    assert "facecluster.a" not in other and "facecluster.c" in other


def test_package_data_named_by_a_module_is_a_dep(tmp_path):
    pkg = tmp_path / "facecluster"
    (pkg / "reference").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text('TABLE = "table.csv"\n')
    (pkg / "b.py").write_text("")
    (pkg / "reference" / "table.csv").write_text("x\n1\n")
    (pkg / "reference" / "other.csv").write_text("x\n2\n")
    assert TOOL.package_data({"facecluster.a"}, tmp_path) == {pkg / "reference" / "table.csv"}
    assert TOOL.package_data({"facecluster.b"}, tmp_path) == set()


def test_the_published_tables_and_the_yale_manifest_are_deps():
    stages = TOOL.dvc_stages(ROOT)
    assert "src/facecluster/reference/castiel_table1_runs.csv" in stages["reproduction"]["deps"]
    assert "src/facecluster/reference/castiel_table1.csv" in stages["report"]["deps"]
    assert "src/facecluster/data/yalefaces.sha256" in stages["faces"]["deps"]
    assert "src/facecluster/data/yalefaces.sha256" not in stages["sweep"]["deps"]
