"""What a pipeline stage costs before it computes anything: the per-stage floor.

The quick profile runs 65 stages; when the slice is small, its time is mostly this floor
(issue 16's "quick profile in <= 10 minutes").  Each figure is the median wall time of fresh
processes (``--repeats``), run one at a time:

* a bare interpreter, and the imports a stage process pays: ``facecluster.cli``, torch,
  papermill, nbconvert, a stage module;
* papermill again with the optional ``rfc3987_syntax`` plug-in of jsonschema blocked: that
  plug-in builds a lark grammar when jsonschema's format checkers import it (via nbformat's
  validator), and nothing here validates an IRI;
* with ``--project DIR`` (a finished run, e.g. ``quick/`` after ``make repro-quick``): a
  skipped dataset's sweep through its notebook (papermill, kernel, HTML) against the same
  stage without the notebook, the HTML render alone, and ``dvc status`` of one stage.

    python benchmarks/stage_overhead.py
    python benchmarks/stage_overhead.py --project quick --item personal facenet

Ratios are against the bare interpreter and, for the stage commands, against the same stage
without its notebook.  The stage commands rewrite that stage's own outputs in the project
(the same bytes: a skipped dataset); the render's page goes to a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

IMPORTS = {
    "bare interpreter": "pass",
    "import facecluster.cli": "import facecluster.cli",
    "import torch": "import torch",
    "import papermill": "import papermill",
    "import papermill, rfc3987_syntax blocked": (
        "import sys; sys.modules['rfc3987_syntax'] = None; import papermill"
    ),
    "import nbconvert (HTMLExporter)": "from nbconvert import HTMLExporter",
    "import facecluster.stages.sweep": "import facecluster.stages.sweep",
}


def _wall(cmd: list[str], cwd: Path | None, env: dict[str, str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed: {done.stderr.strip()[-500:]}")
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--project", type=Path, help="a finished run (e.g. quick/) for stage costs")
    ap.add_argument("--item", nargs=2, default=["personal", "facenet"], metavar=("D", "M"))
    args = ap.parse_args()
    env = dict(os.environ)
    py = sys.executable
    base = _wall([py, "-c", "pass"], None, env, args.repeats)
    print(f"{'what':48s} {'seconds':>8s} {'ratio':>7s}")
    for name, code in IMPORTS.items():
        s = _wall([py, "-c", code], None, env, args.repeats)
        print(f"{name:48s} {s:8.2f} {s / base:7.0f}x")
    if args.project is None:
        return
    project = args.project.resolve()
    env["PYTHONPATH"] = str(project / "src")
    dataset, model = args.item
    notebook = project / "reports" / "sweep" / f"{dataset}-{model}.ipynb"
    stage = [py, "-m", "facecluster", "stage", "sweep", dataset, model]
    direct = _wall(stage, project, env, args.repeats)
    scratch = Path(tempfile.mkdtemp(prefix="stage-overhead-"))  # the render's page goes here
    rows = {
        f"sweep {dataset} {model}, without its notebook": direct,
        f"sweep {dataset} {model}, through its notebook": _wall(
            [py, "-m", "facecluster", "notebook", "sweep", dataset, model],
            project,
            env,
            args.repeats,
        ),  # fmt: skip
        "render its executed notebook as HTML": _wall(
            [py, "-m", "facecluster", "render", str(notebook), "--out", str(scratch / "x.html")],
            project,
            env,
            args.repeats,
        ),  # fmt: skip
        f"dvc status sweep@{dataset}-{model}": _wall(
            [str(Path(py).with_name("dvc")), "status", f"sweep@{dataset}-{model}"],
            project,
            env,
            args.repeats,
        ),  # fmt: skip
    }
    print(
        f"\n{'stage command (in ' + str(args.project) + ')':48s} {'seconds':>8s} {'vs direct':>9s}"
    )
    for name, s in rows.items():
        print(f"{name:48s} {s:8.2f} {s / direct:8.2f}x")


if __name__ == "__main__":
    main()
