"""``python main.py memory show | edit LABEL | search QUERY``."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

from app.cli import handed
from app.memory.core import CoreMemoryError
from app.kernel.assembly import open_memory
from app.memory.store import MemoryStore


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("memory", help="show, edit and search Pagemind's memory")
    actions = parser.add_subparsers(dest="memory_command", required=True)
    actions.add_parser("show", help="the core blocks and the size of each tier").set_defaults(on_memory=on_memory)
    edit = actions.add_parser("edit", help="edit a core block in $EDITOR")
    edit.add_argument("label")
    search = actions.add_parser("search", help="search recall or archival memory")
    search.add_argument("query")
    search.add_argument("--tier", choices=["recall", "archival"], default="recall")
    search.add_argument("--page", type=int, default=1, help="page number, from 1")
    search.add_argument("--json", action="store_true", help="print a JSON list")
    search.set_defaults(on_memory=on_memory)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """``show`` and ``search`` are answered by the running app when it runs (app/cli/handed.py)."""
    if args.memory_command == "edit":
        return _here(args)
    return handed.run(args, lambda: _here(args))


def _here(args: argparse.Namespace) -> int:
    needs_embedder = args.memory_command == "search"
    store = open_memory() if needs_embedder else MemoryStore.open()
    try:
        return on_memory(store, args)
    finally:
        store.close()


def on_memory(store: MemoryStore, args: argparse.Namespace) -> int:
    command = {"show": _show, "edit": _edit, "search": _search}[args.memory_command]
    try:
        return command(store, args)
    except CoreMemoryError as exc:
        print(f"pagemind: {exc}", file=sys.stderr)
        return 2


def _show(store: MemoryStore, args: argparse.Namespace) -> int:
    for block in store.core.blocks():
        print(f"[{block.label}] {len(block.value)}/{block.limit} characters, version {block.version}")
        print(block.value or "(empty)")
        print()
    for tier, size in store.sizes().items():
        print(f"{tier:<18} {size:>8,}")
    return 0


def _edit(store: MemoryStore, args: argparse.Namespace) -> int:
    block = store.core.get(args.label)
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "nano"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{block.label}.txt"
        path.write_text(block.value, encoding="utf-8")
        result = subprocess.run([*shlex.split(editor), str(path)])
        if result.returncode != 0:
            print(f"pagemind: the editor exited with status {result.returncode}; nothing changed", file=sys.stderr)
            return 2
        value = path.read_text(encoding="utf-8").rstrip("\n")
    updated = store.core.set(block.label, value)
    if updated.version == block.version:
        print(f"{block.label}: unchanged")
    else:
        print(f"{block.label}: saved as version {updated.version} ({len(value)}/{block.limit} characters)")
    return 0


def _search(store: MemoryStore, args: argparse.Namespace) -> int:
    page_index = max(1, args.page) - 1
    if args.tier == "recall":
        page = store.recall.search(args.query, page=page_index)
        rows = [
            {"id": m.id, "role": m.role, "content": m.content, "tool": m.tool_name,
             "created_at": m.created_at.isoformat(), "conversation": m.conversation}
            for m in page.items
        ]
    else:
        page = store.archival.search(args.query, page=page_index)
        rows = [{"id": p.id, "content": p.content, "tags": p.tags, "created_at": p.created_at.isoformat()}
                for p in page.items]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        print(page.text())
    return 0
