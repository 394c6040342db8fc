"""Entry points of the stages that need no notebook: ``python -m facecluster.stages weights M``."""

from __future__ import annotations

import argparse
import logging
import sys

from facecluster.config import ConfigError, load_params
from facecluster.log import setup_logging
from facecluster.paths import ProjectPaths

log = logging.getLogger(__name__)


def weights(model: str, params_path: str) -> None:
    """The weights stage: acquire, verify and store the weights of one model."""
    from facecluster.embed.models import acquire_weights
    from facecluster.integrity import file_hash

    params = load_params(params_path)
    paths = ProjectPaths.from_root()
    path = acquire_weights(model, params.model(model), paths)
    log.info("weights of %s: %s (sha256 %s)", model, path, file_hash(path))


def subsets(dataset: str, params_path: str) -> None:
    """The subsets stage: the n_subsets × fraction index sets of one dataset."""
    from facecluster.sweep_stage import subsets_stage

    subsets_stage(dataset, load_params(params_path), ProjectPaths.from_root())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m facecluster.stages")
    sub = parser.add_subparsers(dest="stage", required=True)
    w = sub.add_parser("weights", help="obtain and verify the weights of a model")
    w.add_argument("model")
    w.add_argument("--params", default="params.yaml")
    s = sub.add_parser("subsets", help="draw the subsets of a dataset (shared by all models)")
    s.add_argument("dataset")
    s.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    setup_logging()
    try:
        if args.stage == "weights":
            weights(args.model, args.params)
        elif args.stage == "subsets":
            subsets(args.dataset, args.params)
    except (ConfigError, FileNotFoundError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
