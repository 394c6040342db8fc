"""The reliability suite: hostile input, hostile settings and faults, each a regression test.

Every test under ``tests/reliability/`` carries the ``reliability`` marker (so does each
older regression test elsewhere that guards an attack or a fault: archives, pickles,
checksums, resume); ``pytest -m reliability`` runs them all.  The README's table lists them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.fspath).parents:
            item.add_marker(pytest.mark.reliability)
