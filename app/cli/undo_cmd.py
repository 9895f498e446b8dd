"""``python main.py undo [ID] [--list]``: undo an action from the journal."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from app.cli import handed
from app.memory.db import Database
from app.safety.journal import Journal
from app.safety.undo import UndoRefused


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("undo", help="undo the last action, or one from the journal")
    parser.add_argument("id", nargs="?", type=int, help="the action to undo (see --list)")
    parser.add_argument("--list", action="store_true", help="list recent actions")
    parser.add_argument("--limit", type=int, default=20, help="how many actions --list shows")
    parser.set_defaults(func=run, on_memory=on_memory)


def run(args: argparse.Namespace) -> int:
    """Answered by the running app when it runs (it holds the journal): app/cli/handed.py."""
    return handed.run(args, lambda: _here(args))


def _here(args: argparse.Namespace) -> int:
    with Database() as db:
        return on_journal(Journal(db), args)


def on_memory(memory: Any, args: argparse.Namespace) -> int:
    return on_journal(Journal(memory.db), args)


def on_journal(journal: Journal, args: argparse.Namespace) -> int:
    if args.list:
        entries = journal.entries(limit=args.limit)
        if not entries:
            print("The journal is empty.")
        for entry in entries:
            print(entry.line())
        return 0
    try:
        print(journal.undo(args.id))
    except UndoRefused as exc:
        print(f"pagemind: cannot undo: {exc}", file=sys.stderr)
        return 2
    return 0
