"""Logging set-up for stages and notebooks (the package itself only calls getLogger)."""

from __future__ import annotations

import logging
import sys

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def setup_logging(level: int | str = logging.INFO, name: str = "facecluster") -> None:
    """Send the logs of ``name`` (default the package) to stderr.

    In a stage notebook papermill relays the kernel's stderr; ``facecluster notebook`` also
    sets up ``papermill`` itself, so ``dvc repro`` shows which cell runs.
    """
    root = logging.getLogger(name)
    root.setLevel(level)
    if not any(getattr(h, "_facecluster", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(FORMAT, datefmt="%H:%M:%S"))
        handler._facecluster = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.propagate = False
