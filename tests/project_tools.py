"""The project's scripts under ``tools/`` (not a package), loaded as modules for their tests.

``from project_tools import load_tool`` (``tests/`` is on ``sys.path``: pytest's rootdir
conftest).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def load_tool(name: str) -> ModuleType:
    """``tools/<name>.py`` as module ``name`` (registered in ``sys.modules``, so that its
    dataclasses and pickling resolve the module)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    assert spec is not None and spec.loader is not None, name
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
