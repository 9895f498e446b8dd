"""Logging: a rotating file in the log directory, and warnings on stderr."""

from __future__ import annotations

import logging
import logging.handlers
import sys

from app import paths

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_configured = False


class _StderrHandler(logging.StreamHandler):
    """The handler that shows warnings on stderr (its level follows --verbose)."""


def setup(verbose: bool = False) -> None:
    """Configure the root logger once; later calls only adjust the stderr level."""
    global _configured
    root = logging.getLogger()
    stderr_level = logging.INFO if verbose else logging.WARNING
    if _configured:
        for handler in root.handlers:
            if isinstance(handler, _StderrHandler):
                handler.setLevel(stderr_level)
        return
    root.setLevel(logging.DEBUG)
    file_handler = logging.handlers.RotatingFileHandler(
        paths.log_file(), maxBytes=2_000_000, backupCount=3, encoding="utf-8"
    )
    file_handler.setLevel(logging.DEBUG)
    file_handler.setFormatter(logging.Formatter(_FORMAT))
    stderr_handler = _StderrHandler(sys.stderr)
    stderr_handler.setLevel(stderr_level)
    stderr_handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    root.addHandler(file_handler)
    root.addHandler(stderr_handler)
    _configured = True
