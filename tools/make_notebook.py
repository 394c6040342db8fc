"""Write a template notebook from a compact cell list (kept so edits stay reviewable).

Usage: python tools/make_notebook.py   (rewrites every notebook in NOTEBOOKS below)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat as nbf

ROOT = Path(__file__).resolve().parents[1]


def build(cells: list[tuple[str, str, list[str]]]) -> nbf.NotebookNode:
    nb = nbf.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    for kind, src, tags in cells:
        cell = nbf.v4.new_markdown_cell(src) if kind == "md" else nbf.v4.new_code_cell(src)
        if tags:
            cell.metadata["tags"] = tags
        nb.cells.append(cell)
    return nb


def main() -> None:
    sys.path.insert(0, str(ROOT / "tools"))
    from notebook_cells import NOTEBOOKS  # noqa: PLC0415

    for name, cells in NOTEBOOKS.items():
        nb = build(cells)
        for i, cell in enumerate(nb.cells):
            cell["id"] = f"{Path(name).stem}-{i:02d}"
        nbf.write(nb, ROOT / "notebooks" / name)
        print("wrote", name)
    # the notebooks are linted like the package (make lint): write them ruff-formatted
    ruff = Path(sys.executable).with_name("ruff")
    subprocess.run([str(ruff), "format", "-q", str(ROOT / "notebooks")], check=True)


if __name__ == "__main__":
    main()
