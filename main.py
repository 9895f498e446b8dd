"""Pagemind's entry point: ``python main.py [subcommand]``."""

from __future__ import annotations

import argparse
import multiprocessing
import sys
from typing import Callable

from app import __version__, logs
from app.memory.db import DatabaseError
from app.settings import SettingsError
from models.errors import ModelError


def build_parser() -> argparse.ArgumentParser:
    from app.cli import (ask_cmd, bench_cmd, doctor, ingest_cmd, memory_cmd, models_cmd, rules_cmd, selftest_cmd,
                         undo_cmd)

    parser = argparse.ArgumentParser(
        prog="pagemind", description="A private desktop assistant on a local model."
    )
    parser.add_argument("--version", action="version", version=f"pagemind {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more on stderr")
    parser.add_argument("--selftest", action="store_true",
                        help="run the self-test headless and exit (the same as the selftest command)")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("doctor", help="check dependencies, llama.cpp, paths and models").set_defaults(
        func=doctor.run
    )
    ask_cmd.add_parser(sub)
    ingest_cmd.add_parsers(sub)
    selftest_cmd.add_parser(sub)
    models_cmd.add_parser(sub)
    memory_cmd.add_parser(sub)
    undo_cmd.add_parser(sub)
    rules_cmd.add_parser(sub)
    bench_cmd.add_parser(sub)
    return parser


WINDOW_FLAGS = {"-v", "--verbose", "--startup-check"}
"""Flags that may come with no subcommand (the window)."""


def main(argv: list[str] | None = None) -> int:
    multiprocessing.freeze_support()
    argv = sys.argv[1:] if argv is None else argv
    if set(argv) <= WINDOW_FLAGS:  # the window: skip importing every command, it starts faster
        logs.setup(verbose="-v" in argv or "--verbose" in argv)
        return _guarded(lambda: _window("--startup-check" in argv))
    parser = build_parser()
    args = parser.parse_args(argv)
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
