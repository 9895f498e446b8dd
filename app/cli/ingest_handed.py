"""What ``index`` and ``watch`` do when the running app takes them over (app/cli/handed.py).

The app's own ingestion does the work (one writer, one queue), and the command follows it: a line
of progress every few seconds, then what is indexed under the path. ``watch --follow`` follows
until the user stops following (Ctrl+C); the app keeps indexing either way.
"""

from __future__ import annotations

import argparse
import threading
import time
from pathlib import Path
from typing import Any

from app import paths
from app.ingest import folders
from app.memory.documents import path_text

PROGRESS_SECONDS = 2.0


def index(app: Any, args: argparse.Namespace) -> int:
    """``index PATH``, by the running app's ingestion."""
    path = Path(args.path)
    service = app.ingest
    if service is None:
        print("pagemind: document indexing is not running in the app (see its window for why)")
        return 2
    service.index(path)
    print(f"the running Pagemind is indexing {path_text(str(path))}", flush=True)
    if not _follow_until_idle(app, args.stopped):
        print(f"stopped following; the app goes on indexing {path_text(str(path))}")
        return 130
    _report(app, path if path.is_dir() else path.parent)
    return 0


def watch(app: Any, args: argparse.Namespace) -> int:
    """``watch PATH``, ``--list``, ``--remove PATH`` and ``--follow``, by the running app."""
    from app.cli.ingest_cmd import list_on

    if args.list:
        return list_on(app.memory, args.json)
    if args.remove:
        forgotten = app.unwatch(args.remove)
        print(f"stopped watching {path_text(args.remove)}; its {forgotten:,} documents are no longer searchable")
        return 0
    if args.path:
        folder, covered = app.watch(args.path)
        print(f"watching {path_text(str(folder))}" + (f" (it covers {', '.join(map(str, covered))})" if covered else ""),
              flush=True)
        if not args.no_index and not args.follow:
            if not _follow_until_idle(app, args.stopped):
                return 130
            _report(app, folder)
    if args.follow:
        roots = folders.watched()
        if not roots:
            print(f"pagemind: no watched folders; add one with `{paths.launcher()} watch PATH`")
            return 2
        print(f"the running Pagemind keeps {len(roots)} folder(s) indexed; following its progress "
              "(Ctrl+C stops following, not indexing)", flush=True)
        _follow_until_idle(app, args.stopped, forever=True)
    return 0


def _follow_until_idle(app: Any, stopped: threading.Event, forever: bool = False) -> bool:
    """Print the queue's length every few seconds until the app's ingestion is idle (True), or
    until the client went away (False); with ``forever`` only the latter ends it."""
    last = None
    while not stopped.is_set():
        idle = app.ingest.wait_idle(PROGRESS_SECONDS)
        queued = app.ingest.pipeline.queue.pending()
        if queued != last:
            print(f"  {queued:,} files queued", flush=True)
            last = queued
        if idle and not forever:
            return True
        if idle:
            time.sleep(PROGRESS_SECONDS)
    return False


def _report(app: Any, folder: Path) -> None:
    counts = app.memory.documents.counts(str(folder))
    parts = [f"{counts.get(kind, 0):,} {kind}" for kind in ("indexed", "skipped", "failed") if counts.get(kind)]
    print(f"{path_text(str(folder))}: {', '.join(parts) or 'nothing to index'}")
