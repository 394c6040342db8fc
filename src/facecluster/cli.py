"""Command line: ``facecluster <command> ...`` (argparse sub-commands).

``facecluster sweep EMBEDDINGS.npz --out RESULTS.parquet [--params params.yaml]
[-S key=value ...] [--dataset NAME] [--model NAME] [--metrics PATH] [--subsets PATH]`` runs
the clustering protocol on any embeddings file — the same call
(:func:`facecluster.sweep.sweep_embeddings_file`) the sweep notebook makes.

Bad input (a params key that does not validate, a malformed embeddings file, subsets drawn
with other settings, K larger than a subset) prints one line ``facecluster: error: ...`` and
exits with status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from facecluster.config import ConfigError, apply_overrides, parse_params, read_params_dict

log = logging.getLogger(__name__)

EXIT_BAD_INPUT = 2


class CliError(Exception):
    """A user error reported as one line, exit status 2."""


def _load_params(path: str, overrides: Sequence[str]):
    try:
        data = read_params_dict(path)
    except FileNotFoundError:
        raise CliError(f"params file not found: {path}") from None
    if not isinstance(data, dict):
        raise CliError(f"{path}: top level must be a mapping")
    return parse_params(apply_overrides(data, overrides), path)


def _cmd_sweep(args: argparse.Namespace) -> int:
    from facecluster.sweep import sweep_embeddings_file

    params = _load_params(args.params, args.set)
    table = sweep_embeddings_file(
        args.embeddings,
        args.out,
        params,
        dataset=args.dataset,
        model=args.model,
        subsets_path=args.subsets,
        metrics_path=args.metrics,
        progress=not args.no_progress,
    )
    log.info("%d rows written to %s", len(table), args.out)
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
    sweep.add_argument(
        "--params", default="params.yaml", help="params file (default: %(default)s)"
    )
    sweep.add_argument(
        "-S",
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a params key, e.g. -S sweep.n_subsets=5 (value parsed as YAML; repeatable)",
    )
    sweep.add_argument("--dataset", help="dataset name (default: from '<dataset>-<model>.npz')")
    sweep.add_argument("--model", help="model name (default: from '<dataset>-<model>.npz')")
    sweep.add_argument("--metrics", help="write the best mean score per method here (JSON)")
    sweep.add_argument(
        "--subsets", help="subsets .npz: read (and checked) if it exists, else drawn and saved"
    )
    sweep.add_argument("--no-progress", action="store_true", help="no progress bar")
    sweep.set_defaults(func=_cmd_sweep)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``facecluster`` console script; returns the exit status."""
    from facecluster.log import setup_logging
    from facecluster.sweep import SweepError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        setup_logging(args.log_level.upper())
    except ValueError:
        parser.error(f"unknown --log-level {args.log_level!r}")
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except (CliError, ConfigError, SweepError, OSError) as exc:
        message = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        print(f"facecluster {args.command}: error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"facecluster {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
