"""``python main.py index PATH``, ``watch [PATH] [--list] [--remove PATH] [--follow]``, ``search QUERY``."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from pathlib import Path

from app import paths, settings
from app.cli.progress import ProgressBar
from app.ingest import folders
from app.ingest.ignore import IgnoreRules
from app.ingest.pipeline import Pipeline, Summary
from app.memory.store import MemoryStore

MAX_PROBLEMS_SHOWN = 20


def add_parsers(sub: argparse._SubParsersAction) -> None:
    index = sub.add_parser("index", help="index a folder or file now, with a progress bar")
    index.add_argument("path")
    index.add_argument("--json", action="store_true", help="print the summary as JSON")
    index.set_defaults(func=run_index)

    watch = sub.add_parser("watch", help="add, list or remove watched folders; --follow keeps them indexed")
    watch.add_argument("path", nargs="?", help="a folder to watch (indexed now, then kept current)")
    watch.add_argument("--list", action="store_true", help="the watched folders and what is indexed in each")
    watch.add_argument("--remove", metavar="PATH", help="stop watching a folder and forget its documents")
    watch.add_argument("--no-index", action="store_true", help="add the folder without indexing it now")
    watch.add_argument("--follow", action="store_true", help="keep watching in the foreground until Ctrl+C")
    watch.add_argument("--json", action="store_true", help="with --list: print JSON")
    watch.set_defaults(func=run_watch)

    search = sub.add_parser("search", help="search the indexed documents")
    search.add_argument("query")
    search.add_argument("--k", type=int, default=5, help="how many hits (default 5)")
    search.add_argument("--page", type=int, default=1, help="page number, from 1")
    search.add_argument("--json", action="store_true", help="print a JSON list of hits")
    search.set_defaults(func=run_search)


def _fail(message: str) -> int:
    print(f"pagemind: {message}", file=sys.stderr)
    return 2


def _pipeline(memory: MemoryStore, bar: ProgressBar | None) -> Pipeline:
    conf = settings.load()
    return Pipeline(memory, rules=IgnoreRules(conf.ignore_patterns), max_bytes=conf.max_file_mb * 2**20,
                    on_progress=bar.update if bar else None)


def _index(memory: MemoryStore, path: Path, as_json: bool = False) -> int:
    """Queue ``path`` (a folder or one file), work through the queue, print what happened."""
    bar = None if as_json else ProgressBar()
    pipeline = _pipeline(memory, bar)
    try:
        root = folders.root_of(path, folders.watched()) or (path if path.is_dir() else path.parent)
        if path.is_dir():
            pipeline.scan(path, root)
        else:
            pipeline.queue.push([str(path)], root, "upsert")
        try:
            summary = pipeline.run(settle=True)
        except KeyboardInterrupt:
            if bar:
                bar.finish()
            left = pipeline.queue.pending()
            print(f"\nstopped: {left:,} files are still queued; `index` again (or the app) finishes them",
                  file=sys.stderr)
            return 130
    finally:
        pipeline.close()
    if bar:
        bar.finish()
    _print_summary(summary, as_json)
    return 0


def _print_summary(summary: Summary, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"counts": summary.counts, "chunks": summary.chunks, "embedded": summary.embedded,
                          "bytes": summary.bytes, "seconds": round(summary.seconds, 3),
                          "problems": [{"path": p, "reason": r} for p, r in summary.problems]}))
        return
    counts = summary.counts
    parts = [f"{counts.get(k, 0):,} {k}" for k in ("indexed", "unchanged", "moved", "removed", "skipped", "failed")
             if counts.get(k)]
    if not summary.chunks:
        print(f"{', '.join(parts) or 'nothing changed'} in {summary.seconds:.1f} s")
    else:
        print(f"{', '.join(parts)}; {summary.chunks:,} chunks ({summary.embedded:,} embedded, "
              f"{summary.chunks - summary.embedded:,} reused), {summary.bytes / 1e6:.1f} MB in {summary.seconds:.1f} s")
    for path, reason in summary.problems[:MAX_PROBLEMS_SHOWN]:
        print(f"  {path}: {reason}")
    if len(summary.problems) > MAX_PROBLEMS_SHOWN:
        print(f"  ... and {len(summary.problems) - MAX_PROBLEMS_SHOWN:,} more (`watch --list` shows each folder)")


def run_index(args: argparse.Namespace) -> int:
    path = Path(args.path).expanduser().resolve()
    if not path.exists():
        return _fail(f"{path} does not exist")
    try:
        folders.check_indexable(path)
    except folders.FolderError as exc:
        return _fail(str(exc))
    memory = MemoryStore.open_default()
    try:
        return _index(memory, path, args.json)
    finally:
        memory.close()


def run_watch(args: argparse.Namespace) -> int:
    if args.remove:
        return _remove(args.remove)
    if args.list:
        return _list(args.json)
    if not args.path and not args.follow:
        return _fail("give a folder to watch, or --list, --remove PATH or --follow")
    memory = MemoryStore.open_default()
    try:
        if args.path:
            try:
                folder, covered = folders.add(args.path)
            except folders.FolderError as exc:
                return _fail(str(exc))
            print(f"watching {folder}" + (f" (it covers {', '.join(map(str, covered))})" if covered else ""))
            if not args.no_index:
                code = _index(memory, folder)
                if code:
                    return code
        return _follow(memory) if args.follow else 0
    finally:
        memory.close()


def _remove(path: str) -> int:
    try:
        folder = folders.remove(path)
    except folders.FolderError as exc:
        return _fail(str(exc))
    memory = MemoryStore.open()
    pipeline = _pipeline(memory, None)
    try:
        forgotten = pipeline.forget(str(folder))
    finally:
        pipeline.close()
        memory.close()
    print(f"stopped watching {folder}; its {forgotten:,} documents are no longer searchable")
    return 0


def _list(as_json: bool) -> int:
    memory = MemoryStore.open()
    try:
        rows = []
        for folder in folders.watched():
            problems = [d for d in memory.documents.under(str(folder)) if d.status != "indexed"]
            rows.append({**folders.report(memory, folder),
                         "problems": [{"path": d.path, "status": d.status, "reason": d.error} for d in problems]})
    finally:
        memory.close()
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print(f"no watched folders; add one with `{paths.launcher()} watch PATH`")
    for row in rows:
        missing = "" if row["exists"] else "  (missing)"
        print(f"{row['folder']}{missing}\n  {row['indexed']:,} indexed, {row['skipped']:,} skipped, "
              f"{row['failed']:,} failed, {row['chunks']:,} chunks, {row['queued']:,} queued")
        for problem in row["problems"][:MAX_PROBLEMS_SHOWN]:
            print(f"    {problem['status']}: {problem['path']}: {problem['reason']}")
    return 0


def _follow(memory: MemoryStore) -> int:
    """Keep the watched folders indexed in the foreground until Ctrl+C."""
    from app.ingest.service import IngestService

    roots = folders.watched()
    if not roots:
        return _fail(f"no watched folders; add one with `{paths.launcher()} watch PATH`")
    service = IngestService(memory, on_document=lambda path, n: print(f"indexed {path} ({n} chunks)", flush=True),
                            on_summary=lambda s: s.problems and print("\n".join(f"  {p}: {r}" for p, r in s.problems),
                                                                      flush=True))
    print(f"keeping {len(roots)} folder(s) indexed; Ctrl+C stops", flush=True)
    service.start()
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        print("\nstopping", file=sys.stderr)
    finally:
        service.stop()
    return 0


def run_search(args: argparse.Namespace) -> int:
    if not args.query.strip():
        return _fail("the search query is empty")
    if not 1 <= args.k <= 100:
        return _fail("--k must be between 1 and 100")
    if args.page < 1:
        return _fail("--page starts at 1")
    memory = MemoryStore.open_default()
    try:
        found = memory.documents.search(args.query, page=args.page - 1, size=args.k)
        indexed = memory.documents.counts().get("indexed", 0)
    finally:
        memory.close()
    if args.json:
        print(json.dumps([hit.as_json() for hit in found.items], ensure_ascii=False))
        return 0
    if not found.total:
        print("no document matches" if indexed else
              f"no documents are indexed yet: `{paths.launcher()} watch PATH` or `index PATH`")
        return 0
    print(found.header())
    for rank, hit in enumerate(found.items, start=(args.page - 1) * args.k + 1):
        print(f"{rank}. {hit.path} (score {hit.score:.4f}, characters {hit.start}-{hit.end})")
        print(f"   {hit.snippet(args.query)}")
    return 0

