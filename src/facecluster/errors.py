"""The one user-error type of the package.

Every error a user can cause — a params key that does not validate, a missing or malformed
input file, a dataset without a usable face, a checksum mismatch — derives from
:class:`UserError`.  The command line (:mod:`facecluster.cli`, behind every DVC stage) prints
such an error as one line on stderr and exits with status :data:`EXIT_USER_ERROR`; anything
else is a bug and keeps its traceback.
"""

from __future__ import annotations

EXIT_USER_ERROR = 2


class UserError(Exception):
    """Bad input or settings: reported as one line, exit status 2, no traceback."""


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line (multi-line messages joined with ``; ``)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return "; ".join(lines) if lines else type(exc).__name__
