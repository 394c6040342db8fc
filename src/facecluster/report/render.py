"""Render an executed stage notebook to a self-contained HTML report.

``facecluster render reports/faces/lfw.ipynb`` writes ``reports/faces/lfw.html``:
code cells hidden (``--no-input``), stderr streams (logs and progress bars, which papermill
``--log-output`` already relayed to the terminal) dropped, images embedded as data URIs.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbconvert import HTMLExporter
from nbconvert.preprocessors import Preprocessor

from facecluster.integrity import atomic_path

# An nbconvert template without require.js, MathJax and mermaid (CDN scripts): the
# reports open offline with no external request and no console error.
OFFLINE_TEMPLATE = """\
{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{% block extra_css %}
<style type="text/css">
  body { max-width: 1400px; margin: auto; }
  table.study-table { border-collapse: collapse; font-size: 12px; margin: 0.5em 0 1.5em; }
  table.study-table th, table.study-table td { padding: 2px 5px; border-bottom: 1px solid #ddd;
    text-align: right; white-space: nowrap; }
  table.study-table th { background: #f4f4f4; text-align: center; }
  table.study-table thead th { white-space: normal; }  /* long headers wrap, numbers never */
  table.study-table caption { caption-side: top; text-align: left; font-weight: bold;
    padding: 4px 0; }
  .jp-OutputArea-output { overflow-x: auto; }
  details > summary { cursor: pointer; margin: 4px 0; }
  span.missing { color: #999; }
</style>
{% endblock extra_css %}
"""


class DropStderr(Preprocessor):
    """Remove stderr stream outputs (logging, tqdm) from every cell."""

    def preprocess_cell(self, cell, resources, index):
        if "outputs" in cell:
            cell.outputs = [
                o
                for o in cell.outputs
                if not (o.get("output_type") == "stream" and o.get("name") == "stderr")
            ]
        return cell, resources


def render_html(
    notebook: str | Path, html: str | Path | None = None, *, title: str | None = None
) -> Path:
    """Write the offline HTML report of an executed notebook; returns its path."""
    from jinja2 import DictLoader

    notebook = Path(notebook)
    html = Path(html) if html else notebook.with_suffix(".html")
    nb = nbformat.read(notebook, as_version=4)
    if title:
        nb.metadata["title"] = title
    exporter = HTMLExporter(
        extra_loaders=[DictLoader({"offline.html.j2": OFFLINE_TEMPLATE})],
        template_file="offline.html.j2",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    exporter.register_preprocessor(DropStderr, enabled=True)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": notebook.stem}})
    with atomic_path(html) as tmp:
        tmp.write_text(body, encoding="utf-8")
    return html
