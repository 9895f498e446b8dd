"""The command line's parser: every subcommand and its options.

The running app uses the same parser for the commands handed over to it (app/cli/on_memory.py),
so both sides read a command the same way.
"""

from __future__ import annotations

import argparse

from app import __version__


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
