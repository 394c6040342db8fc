"""The exact code dependencies of every DVC stage: the import closure of its entry modules.

For each stage of ``dvc.yaml`` the entry modules are read off its command —
``python -m facecluster stage NAME`` runs :mod:`facecluster.stages.NAME`,
``python -m facecluster notebook NAME`` runs the stage's template notebook (the imports of its
code cells) and :mod:`facecluster.report.render` — plus the command line itself
(:mod:`facecluster.__main__`, :mod:`facecluster.cli`).  The closure follows every import of
every module reached, at module level or inside a function (a lazy import is still code the
stage may run), with three exceptions: imports under ``if TYPE_CHECKING:`` (never run);
imports inside the functions of :mod:`facecluster.cli` (each belongs to another sub-command);
and, in the module of *another* stage (imported for its readers), imports inside its ``run``
and private ``_*`` functions — the convention of :mod:`facecluster.stages`: a stage module
imports what its readers and writers need at module level and what only its ``run`` needs
inside ``run`` (``tests/unit/test_dvc_deps.py`` checks it).  Importing ``a.b.c`` runs
``a/__init__.py`` and ``a/b/__init__.py`` too, so they are part of it.

The package's data files (:data:`DATA_SUFFIXES`: the published tables under
``reference/``, the Yale checksum manifest) are deps of every stage whose closure names one
of them in a string literal (``load_reference("castiel_table1.csv")``): editing a published
value re-runs what compares with it.

``python tools/stage_deps.py`` prints each stage's closure and what ``dvc.yaml`` misses or
names in excess; ``tests/unit/test_dvc_deps.py`` fails on any difference.
"""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PACKAGE = "facecluster"
#: Modules whose function-level imports are other commands' (not followed).
DISPATCHERS = {"facecluster.cli"}
STAGES_PACKAGE = "facecluster.stages"
CMD = re.compile(r"python -m facecluster (stage|notebook) (\w+)")


def module_file(name: str, src: Path = SRC) -> Path | None:
    """The source file of module ``name`` (``None`` when it is not a module of the package)."""
    base = src.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def is_run_only(func: ast.AST) -> bool:
    """A stage module's function whose imports only its own stage runs (``run``, ``_*``)."""
    name = getattr(func, "name", "")
    return name == "run" or name.startswith("_")


def _imports(
    tree: ast.AST, module: str, *, top_level_only: bool, src: Path, skip_run: bool = False
) -> set[str]:
    """Package modules imported by the statements of ``tree``."""
    found: set[str] = set()
    path = module_file(module, src)
    package = (
        module if path is not None and path.name == "__init__.py" else module.rpartition(".")[0]
    )

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for sub in child.orelse:
                    visit(sub, in_function)
                continue
            func = isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if func and skip_run and not in_function and is_run_only(child):
                continue
            if isinstance(child, ast.Import) and not (top_level_only and in_function):
                found.update(a.name for a in child.names)
            elif isinstance(child, ast.ImportFrom) and not (top_level_only and in_function):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - child.level + 1]
                    target = ".".join([*base, child.module] if child.module else base)
                else:
                    target = child.module or ""
                found.add(target)
                found.update(f"{target}.{a.name}" for a in child.names)
            visit(child, in_function or func)

    visit(tree, False)
    return {m for m in found if m.split(".")[0] == PACKAGE and module_file(m, src)}


def closure(entries: list[str], src: Path = SRC) -> set[str]:
    """Every package module that importing (and running) ``entries`` may execute."""
    own = {e for e in entries if e.startswith(STAGES_PACKAGE + ".")}
    seen: set[str] = set()
    todo = list(entries)
    while todo:
        name = todo.pop()
        if name in seen or module_file(name, src) is None:
            continue
        seen.add(name)
        todo.extend(_parents(name))
        path = module_file(name, src)
        assert path is not None
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        other_stage = name.startswith(STAGES_PACKAGE + ".") and name not in own
        todo.extend(
            _imports(tree, name, top_level_only=name in DISPATCHERS, src=src, skip_run=other_stage)
        )
    return seen


#: Suffixes of the package's data files (read by name from the modules that use them).
DATA_SUFFIXES = (".csv", ".sha256")


def package_data(modules: set[str], src: Path = SRC) -> set[Path]:
    """The package data files whose name appears as a string literal in ``modules``."""
    files: dict[str, list[Path]] = {}
    for path in (src / PACKAGE).rglob("*"):
        if path.suffix in DATA_SUFFIXES and path.is_file():
            files.setdefault(path.name, []).append(path)
    found: set[Path] = set()
    for name in modules:
        path = module_file(name, src)
        assert path is not None
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.update(files.get(node.value, ()))
    return found


def notebook_imports(path: Path) -> set[str]:
    """Package modules imported by the code cells of a notebook."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        code = "".join(cell["source"])
        code = "\n".join(line for line in code.splitlines() if not line.lstrip().startswith("%"))
        found |= _imports(ast.parse(code), "__notebook__", top_level_only=False, src=SRC)
    return found


def stage_entries(cmd: str, root: Path = ROOT) -> tuple[list[str], list[Path]]:
    """Entry modules and template notebooks of a stage command."""
    if str(root / "src") not in sys.path:
        sys.path.insert(0, str(root / "src"))
    from facecluster.cli import STAGE_ARGS

    entries = ["facecluster.__main__", "facecluster.cli"]
    notebooks: list[Path] = []
    for kind, name in CMD.findall(cmd):
        if kind == "stage":
            entries.append(f"facecluster.stages.{name}")
        else:
            notebook = root / "notebooks" / str(STAGE_ARGS[name][1])
            notebooks.append(notebook)
            entries.append("facecluster.report.render")
            entries.extend(sorted(notebook_imports(notebook)))
    if len(entries) == 2:
        raise ValueError(f"not a facecluster stage command: {cmd!r}")
    return entries, notebooks


def expected_deps(cmd: str, root: Path = ROOT) -> set[str]:
    """The code deps a stage must list: its notebooks and its modules' files."""
    entries, notebooks = stage_entries(cmd, root)
    modules = closure(entries)
    files = {module_file(m).relative_to(root).as_posix() for m in modules}  # type: ignore[union-attr]
    data = {d.relative_to(root).as_posix() for d in package_data(modules)}
    return files | data | {n.relative_to(root).as_posix() for n in notebooks}


def dvc_stages(root: Path = ROOT) -> dict[str, dict]:
    """``{stage: {"cmd", "deps", "params"}}`` of dvc.yaml (foreach/matrix templates as is)."""
    import yaml

    data = yaml.safe_load((root / "dvc.yaml").read_text(encoding="utf-8"))
    out = {}
    for name, stage in data["stages"].items():
        body = stage.get("do", stage)
        cmd = body["cmd"] if isinstance(body["cmd"], str) else " ".join(body["cmd"])
        out[name] = {
            "cmd": " ".join(cmd.split()),
            "deps": [d if isinstance(d, str) else next(iter(d)) for d in body.get("deps", [])],
            "params": body.get("params", []),
        }
    return out


def code_deps(deps: list[str]) -> set[str]:
    """The deps that are code: package modules, their data files and notebooks."""
    return {
        d
        for d in deps
        if d.endswith((".py", ".ipynb")) or (d.startswith("src/") and d.endswith(DATA_SUFFIXES))
    }


def write_deps(root: Path = ROOT) -> None:
    """Rewrite the code deps of every stage in dvc.yaml (other lines are kept as they are)."""
    path = root / "dvc.yaml"
    lines = path.read_text(encoding="utf-8").splitlines()
    stages = dvc_stages(root)
    out: list[str] = []
    stage: str | None = None
    in_deps = False
    for line in lines:
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if indent == 2 and stripped.endswith(":") and stripped[:-1] in stages:
            stage, in_deps = stripped[:-1], False
        if stage is not None and stripped == "deps:":
            out.append(line)
            item = " " * (indent + 2) + "- "
            out.extend(item + d for d in sorted(expected_deps(stages[stage]["cmd"], root)))
            in_deps = True
            continue
        if in_deps:
            if stripped.startswith("- ") and indent > 0:
                if code_deps([stripped[2:]]):
                    continue  # replaced above
            else:
                in_deps = False
        out.append(line)
    path.write_text("\n".join(out) + "\n", encoding="utf-8")


def main() -> int:
    if "--write" in sys.argv:
        write_deps()
    status = 0
    for name, stage in dvc_stages().items():
        want = expected_deps(stage["cmd"])
        have = code_deps(stage["deps"])
        print(f"{name}: {len(want)} code deps")
        for dep in sorted(want - have):
            print(f"  missing: {dep}")
            status = 1
        for dep in sorted(have - want):
            print(f"  not imported: {dep}")
            status = 1
        if "-v" in sys.argv:
            for dep in sorted(want):
                print(f"        - {dep}")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
