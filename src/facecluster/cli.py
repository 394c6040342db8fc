"""The ``facecluster`` command, behind every DVC stage (``python -m facecluster …``).

``facecluster stage NAME ITEM…``
    run a stage without its notebook (``weights M``, ``features D``, ``subsets D``; also
    ``faces D``, ``embed D M``, ``sweep D M``, ``otto M``, ``scale M``, ``report``).
``facecluster notebook NAME ITEM…``
    run a stage through its template notebook with papermill (``notebooks/<NN>-<name>.ipynb``
    → ``reports/<name>/<item>.ipynb``), then render the executed notebook as HTML; the
    study report is ``reports/study.ipynb``, rendered full-size to ``reports/study.html`` and
    compact to ``reports/index.html``.
``facecluster sweep EMBEDDINGS.npz --out RESULTS.parquet [-S key=value …]``
    the clustering protocol on any embeddings file.
``facecluster check [--against REV] [--tolerance T]``
    compare a re-run's ``dvc.lock`` and metrics with the published ones (``make check``).
``facecluster readme [--check]``
    write README.md's headline table from the published ``reports/metrics.json`` (``make
    readme``); with ``--check`` only compare.
``facecluster render NOTEBOOK.ipynb [--title T]``
    an executed notebook as a self-contained HTML report.

One error path: a user error (:class:`facecluster.errors.UserError`, or a file that cannot be
read) prints one line ``facecluster: error: …`` on stderr and exits with status 2, without a
traceback; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from facecluster.errors import EXIT_USER_ERROR, UserError, one_line

log = logging.getLogger(__name__)

#: Stage name -> (items it takes, template notebook or None).
STAGE_ARGS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "faces": (("dataset",), "10-faces.ipynb"),
    "weights": (("model",), None),
    "embed": (("dataset", "model"), "20-embed.ipynb"),
    "maps": ((), None),
    "features": (("dataset",), None),
    "subsets": (("dataset",), None),
    "sweep": (("dataset", "model"), "30-sweep.ipynb"),
    "table_one": (("sweep",), None),
    "otto": (("model",), None),
    "scale": (("model",), None),
    "report": ((), "40-report.ipynb"),
    "reproduction": ((), "50-reproduction.ipynb"),
}


def _params(path: str, overrides: Sequence[str] = ()):
    from facecluster.config import apply_overrides, load_params, parse_params, read_params_dict

    if not overrides:
        return load_params(path)
    return parse_params(apply_overrides(read_params_dict(path), overrides), path)


def _items(args: argparse.Namespace) -> dict[str, str]:
    names, _ = STAGE_ARGS[args.name]
    if len(args.items) != len(names):
        want = " ".join(n.upper() for n in names) or "(no item)"
        raise UserError(f"stage {args.name} takes {want}, got {' '.join(args.items) or 'none'}")
    return dict(zip(names, args.items, strict=True))


def _check_items(items: dict[str, str], params) -> None:
    """Every dataset/model a stage is asked for is defined in params (ConfigError if not)."""
    if "dataset" in items and "model" in items:
        params.check_pair(items["dataset"], items["model"])
    elif "dataset" in items:
        params.dataset(items["dataset"])
    elif "model" in items:
        params.model(items["model"])


def _cmd_stage(args: argparse.Namespace) -> int:
    import importlib

    from facecluster.paths import ProjectPaths

    items = _items(args)
    params = _params(args.params, args.set)
    _check_items(items, params)
    module = importlib.import_module(f"facecluster.stages.{args.name}")
    module.run(*items.values(), params, ProjectPaths.from_root())
    return 0


def _cmd_notebook(args: argparse.Namespace) -> int:
    from facecluster.paths import ProjectPaths

    items = _items(args)
    template = STAGE_ARGS[args.name][1]
    if template is None:
        raise UserError(f"stage {args.name} has no notebook: run `facecluster stage {args.name}`")
    # a bad params file or an unknown dataset/model fails here, in one line, before the
    # kernel starts (and before papermill writes an executed notebook of the failure)
    _check_items(items, _params(args.params))
    paths = ProjectPaths.from_root()
    stem = "-".join(items.values()) or ("study" if args.name == "report" else "index")
    out_dir = paths.reports if args.name == "report" else paths.report_dir(args.name)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{stem}.ipynb"
    # the notebook resolves a relative params path from the project root (as JupyterLab
    # runs it); from elsewhere, hand it the file this command just checked
    params_path = args.params
    if Path.cwd().resolve() != paths.root and not Path(params_path).is_absolute():
        params_path = str(Path(params_path).resolve())
    execute_notebook(
        paths.root / "notebooks" / template, out, {**items, "params_path": params_path}
    )
    if args.name == "report":
        from facecluster.stages.report import publish

        publish(out)
        return 0
    from facecluster.report.render import render_html

    title = "Table I reproduced" if args.name == "reproduction" else f"{args.name}: {stem}"
    html = render_html(out, title=title)
    log.info("wrote %s (%.1f MB)", html, html.stat().st_size / 1e6)
    return 0


def execute_notebook(template: Path, out: Path, parameters: dict[str, Any]) -> None:
    """Run a template notebook with papermill; a user error in it becomes one line.

    The executed notebook replaces ``out`` only when every cell ran: a failed run is kept
    beside it as ``<stem>.failed.ipynb`` (named in the error), so the last good report is
    never overwritten by a failure.
    """
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    from facecluster.log import setup_logging

    setup_logging(logging.getLogger("facecluster").level or logging.INFO, name="papermill")
    failed = out.with_name(f"{out.stem}.failed.ipynb")
    failed.unlink(missing_ok=True)
    kernel_log = out.with_name(f"{out.stem}.kernel.log")
    try:
        with kernel_log.open("w", encoding="utf-8") as log_file:
            pm.execute_notebook(
                str(template), str(failed), parameters=parameters, log_output=True,
                progress_bar=False, kernel_manager_class=_kernel_manager(log_file),
            )  # fmt: skip
    except PapermillExecutionError as exc:
        if exc.ename in user_error_names():
            raise UserError(f"{exc.ename}: {one_line(exc.evalue)} (see {failed})") from None
        raise
    finally:
        if kernel_log.is_file() and not kernel_log.stat().st_size:
            kernel_log.unlink()
        elif kernel_log.is_file():
            log.info("the kernel's own messages are in %s", kernel_log)
    failed.replace(out)


def _kernel_manager(stderr: Any) -> type:
    """A kernel manager whose kernel process writes its own stderr to ``stderr``.

    The cells' output reaches papermill's log through the kernel's messages; what the kernel
    process itself prints (IPKernelApp's "KeyboardInterrupt caught in kernel" and a zmq
    traceback when it is shut down after a failing cell) is not the user's business on the
    terminal, where a user error must be one line: it goes to ``<item>.kernel.log``.
    """
    from jupyter_client.manager import AsyncKernelManager

    class LoggedKernelManager(AsyncKernelManager):
        async def start_kernel(self, **kw: Any) -> None:  # type: ignore[override]
            kw.setdefault("stderr", stderr)
            await super().start_kernel(**kw)

    return LoggedKernelManager


def user_error_names() -> set[str]:
    """Class names of every :class:`UserError` subclass of the package (imports it all)."""
    import importlib
    import pkgutil

    import facecluster

    for info in pkgutil.walk_packages(facecluster.__path__, "facecluster."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)
    names, todo = set(), [UserError]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return names


def _cmd_sweep(args: argparse.Namespace) -> int:
    from facecluster.stages.sweep import sweep_file

    check_outputs(
        inputs={"embeddings": args.embeddings, "--params": args.params},
        outputs={"--out": args.out, "--metrics": args.metrics},
        maybe_inputs={"--subsets": args.subsets},
    )
    params = _params(args.params, args.set)
    if args.no_progress:
        params = params.model_copy(
            update={"execution": params.execution.model_copy(update={"progress": False})}
        )
    results = sweep_file(
        args.embeddings,
        args.out,
        params,
        dataset=args.dataset,
        model=args.model,
        subsets_path=args.subsets,
        metrics_path=args.metrics,
    )
    log.info("%d rows written to %s", len(results.table), args.out)
    return 0


def check_outputs(
    inputs: dict[str, str | None],
    outputs: dict[str, str | None],
    maybe_inputs: dict[str, str | None] | None = None,
) -> None:
    """Refuse, before any work, an output that is a folder, or that is (by real path, links
    followed) one of the inputs or another output: ``--out E.npz`` must never overwrite the
    embeddings it reads.  ``maybe_inputs`` are files read when they exist, else written."""
    named_in = {k: v for k, v in {**inputs, **(maybe_inputs or {})}.items() if v}
    seen: dict[Path, str] = {Path(v).resolve(): k for k, v in named_in.items()}
    for name, value in outputs.items():
        if not value:
            continue
        path = Path(value)
        if path.is_dir():
            raise UserError(f"{name} {value} is a folder; give the file to write")
        real = path.resolve()
        if real in seen:
            other = seen[real]
            role = "an input" if other in named_in else "another output"
            raise UserError(f"{name} {value} is {other}, {role}; write somewhere else")
        seen[real] = name


def _cmd_render(args: argparse.Namespace) -> int:
    from facecluster.report.render import render_html

    if not Path(args.notebook).is_file():
        raise UserError(f"notebook not found: {args.notebook}")
    check_outputs(inputs={"notebook": args.notebook}, outputs={"--out": args.out})
    render_html(args.notebook, args.out, title=args.title)
    return 0


def _add_params(p: argparse.ArgumentParser, overrides: bool = True) -> None:
    p.add_argument("--params", default="params.yaml", help="params file (default: %(default)s)")
    if overrides:
        p.add_argument(
            "-S",
            "--set",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override a params key, e.g. -S sweep.n_subsets=5 (YAML value; repeatable)",
        )


def _cmd_profile(args: argparse.Namespace) -> int:
    from facecluster.paths import find_root
    from facecluster.profile import make_profile

    out = make_profile(find_root(), args.name, args.out or args.name)
    print(out)
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from facecluster.check import check_reproduction, format_verdicts
    from facecluster.paths import find_root

    verdicts = check_reproduction(find_root(), rev=args.against, tolerance=args.tolerance)
    print(format_verdicts(verdicts, args.tolerance))
    return 0 if all(v.reproduced for v in verdicts) else 1


def _cmd_readme(args: argparse.Namespace) -> int:
    from facecluster.paths import find_root
    from facecluster.report.readme import update_readme

    root = find_root()
    changed = update_readme(root / "README.md", root / args.metrics, check=args.check)
    print(f"README.md: headline {'rewritten' if changed else 'up to date'} ({args.metrics})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; add a command with ``sub.add_parser(...)`` and ``set_defaults``."""
    parser = argparse.ArgumentParser(
        prog="facecluster", description="A reproducible benchmark study of face clustering."
    )
    parser.add_argument(
        "--log-level", default="INFO", help="logging level of facecluster (default: INFO)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    stage_help = "; ".join(
        f"{n} {' '.join(a.upper() for a in items)}".strip() for n, (items, _) in STAGE_ARGS.items()
    )
    stage = sub.add_parser("stage", help="run a pipeline stage without its notebook")
    stage.add_argument("name", choices=list(STAGE_ARGS), help=stage_help)
    stage.add_argument("items", nargs="*", help="the stage's dataset and/or model")
    _add_params(stage)
    stage.set_defaults(func=_cmd_stage)

    nb = sub.add_parser("notebook", help="run a stage through its notebook (papermill) + HTML")
    nb.add_argument("name", choices=[n for n, (_, t) in STAGE_ARGS.items() if t])
    nb.add_argument("items", nargs="*", help="the stage's dataset and/or model")
    _add_params(nb, overrides=False)
    nb.set_defaults(func=_cmd_notebook)

    sweep = sub.add_parser(
        "sweep",
        help="cluster an embeddings file with every method and grid point over random subsets",
        description=(
            "Run the clustering protocol (params.yaml 'sweep:') on an embeddings .npz holding "
            "'embeddings' (n, d) and 'labels' (n,); write one row per (method, params, subset)."
        ),
    )
    sweep.add_argument("embeddings", help="embeddings .npz (arrays 'embeddings', 'labels')")
    sweep.add_argument("--out", required=True, help="results parquet to write")
    _add_params(sweep)
    sweep.add_argument("--dataset", help="dataset name (default: from '<dataset>-<model>.npz')")
    sweep.add_argument("--model", help="model name (default: from '<dataset>-<model>.npz')")
    sweep.add_argument("--metrics", help="write the best mean score per method here (JSON)")
    sweep.add_argument(
        "--subsets", help="subsets .npz: read (and checked) if it exists, else drawn and saved"
    )
    sweep.add_argument("--no-progress", action="store_true", help="no progress bar")
    sweep.set_defaults(func=_cmd_sweep)

    profile = sub.add_parser(
        "profile",
        help="write the study on a slice (profiles/NAME.yaml) as a DVC project sharing the cache",
    )
    profile.add_argument("name", help="the profile (profiles/NAME.yaml), e.g. quick")
    profile.add_argument("--out", help="the project folder to write (default: NAME)")
    profile.set_defaults(func=_cmd_profile)

    from facecluster.check import DEFAULT_TOLERANCE

    check = sub.add_parser(
        "check",
        help="compare your re-run (dvc.lock, metrics) with the published results: a verdict "
        "per stage",
    )
    check.add_argument("--against", default="HEAD", help="git revision of the published results")
    check.add_argument(
        "--tolerance",
        type=float,
        default=DEFAULT_TOLERANCE,
        help=f"largest |difference| of a metrics number still reproduced ({DEFAULT_TOLERANCE:g})",
    )
    check.set_defaults(func=_cmd_check)

    readme = sub.add_parser(
        "readme", help="write README.md's headline table from the published metrics"
    )
    readme.add_argument(
        "--metrics", default="reports/metrics.json", help="metrics file, relative to the root"
    )
    readme.add_argument(
        "--check", action="store_true", help="write nothing; fail when the README disagrees"
    )
    readme.set_defaults(func=_cmd_readme)

    render = sub.add_parser("render", help="an executed notebook as self-contained HTML")
    render.add_argument("notebook")
    render.add_argument("--out", help="HTML file (default: beside the notebook)")
    render.add_argument("--title")
    render.set_defaults(func=_cmd_render)
    return parser


#: Optional plug-ins that a stage process imports without using, blocked by :func:`main`.
#: ``rfc3987_syntax``: jsonschema's format checkers import it when present (through
#: nbformat's validator, under papermill and nbconvert) and it builds a lark grammar on
#: import, ~1.1 s of every notebook stage; it checks only the "iri" formats, which no
#: notebook schema uses (``benchmarks/stage_overhead.py`` measures it).
UNUSED_PLUGINS = ("rfc3987_syntax",)


def block_unused_plugins() -> None:
    """Make :data:`UNUSED_PLUGINS` unimportable in this process (unless already imported)."""
    for name in UNUSED_PLUGINS:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]  # import -> ImportError


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``facecluster`` console script; returns the exit status."""
    from facecluster.log import setup_logging

    block_unused_plugins()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        setup_logging(args.log_level.upper())
    except ValueError:
        parser.error(f"unknown --log-level {args.log_level!r}")
    func: Callable[[argparse.Namespace], int] = args.func
    what = args.command if args.command not in ("stage", "notebook") else args.name
    try:
        return func(args)
    except (UserError, OSError) as exc:
        print(f"facecluster {what}: error: {one_line(exc)}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(f"facecluster {what}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
