"""Render an executed stage notebook to a self-contained HTML report.

``python -m facecluster.report.render reports/faces/lfw.ipynb`` writes ``reports/faces/lfw.html``:
code cells hidden (``--no-input``), stderr streams (logs and progress bars, which papermill
``--log-output`` already relayed to the terminal) dropped, images embedded as data URIs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter
from nbconvert.preprocessors import Preprocessor

from facecluster.integrity import atomic_path


class DropStderr(Preprocessor):
    """Remove stderr stream outputs (logging, tqdm) from every cell."""

    def preprocess_cell(self, cell, resources, index):
        if "outputs" in cell:
            cell.outputs = [
                o for o in cell.outputs if not (o.get("output_type") == "stream" and o.get("name") == "stderr")
            ]
        return cell, resources


def render_html(notebook: str | Path, html: str | Path | None = None) -> Path:
    """Write the HTML report of an executed notebook; returns its path."""
    notebook = Path(notebook)
    html = Path(html) if html else notebook.with_suffix(".html")
    nb = nbformat.read(notebook, as_version=4)
    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    exporter.register_preprocessor(DropStderr, enabled=True)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": notebook.stem}})
    with atomic_path(html) as tmp:
        tmp.write_text(body, encoding="utf-8")
    return html


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print("usage: python -m facecluster.report.render NOTEBOOK.ipynb [OUT.html]", file=sys.stderr)
        return 2
    render_html(*args[:2])
    return 0


if __name__ == "__main__":
    sys.exit(main())
