"""``python -m facecluster …`` is the ``facecluster`` command (:mod:`facecluster.cli`)."""

from facecluster.cli import main

raise SystemExit(main())
