"""Pagemind's entry point: ``python main.py [subcommand]``."""

from __future__ import annotations

import multiprocessing
import sys
from typing import Callable

from app import logs
from app.memory.db import DatabaseError
from app.settings import SettingsError
from models.errors import ModelError


WINDOW_FLAGS = {"-v", "--verbose", "--startup-check"}
"""Flags that may come with no subcommand (the window)."""


def main(argv: list[str] | None = None) -> int:
    multiprocessing.freeze_support()
    argv = sys.argv[1:] if argv is None else argv
    if set(argv) <= WINDOW_FLAGS:  # the window: skip importing every command, it starts faster
        logs.setup(verbose="-v" in argv or "--verbose" in argv)
        return _guarded(lambda: _window("--startup-check" in argv))
    from app.cli.parser import build_parser

    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(argv)
    logs.setup(verbose=args.verbose)
    if args.selftest:
        if args.command not in (None, "selftest"):
            parser.error("--selftest takes no command")
        from app.cli.selftest_cmd import run as selftest

        return _guarded(lambda: selftest(args))
    return _guarded(lambda: args.func(args))


def _window(startup_check: bool) -> int:
    from app.gui.app import run

    return run(startup_check=startup_check)


def _guarded(command: Callable[[], int]) -> int:
    """Run a command; Pagemind's own errors become one line on stderr and exit code 2."""
    try:
        return command()
    except (ModelError, SettingsError, DatabaseError) as exc:
        print(f"pagemind: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\npagemind: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
