"""``python main.py index PATH``, ``watch [PATH] [--list] [--remove PATH] [--follow]``, ``search QUERY``."""

from __future__ import annotations

import argparse
import errno
import json
import os
import stat
import sys
import threading
from pathlib import Path

from app import paths, settings
from app.cli import handed, ingest_handed
from app.cli.progress import ProgressBar
from app.ingest import folders
from app.ingest.ignore import IgnoreRules
from app.ingest.pipeline import Pipeline, Summary
from app.memory.documents import path_text
from app.kernel.assembly import open_memory
from app.memory.store import MemoryStore
from tools.fs.resolve import resolve

MAX_PROBLEMS_SHOWN = 20


def add_parsers(sub: argparse._SubParsersAction) -> None:
    index = sub.add_parser("index", help="index a folder or file now, with a progress bar")
    index.add_argument("path")
    index.add_argument("--json", action="store_true", help="print the summary as JSON")
    index.set_defaults(func=run_index, on_app=ingest_handed.index)

    watch = sub.add_parser("watch", help="add, list or remove watched folders; --follow keeps them indexed")
    watch.add_argument("path", nargs="?", help="a folder to watch (indexed now, then kept current)")
    watch.add_argument("--list", action="store_true", help="the watched folders and what is indexed in each")
    watch.add_argument("--remove", metavar="PATH", help="stop watching a folder and forget its documents")
    watch.add_argument("--no-index", action="store_true", help="add the folder without indexing it now")
    watch.add_argument("--follow", action="store_true", help="keep watching in the foreground until Ctrl+C")
    watch.add_argument("--json", action="store_true", help="with --list: print JSON")
    watch.set_defaults(func=run_watch, on_app=ingest_handed.watch)

    search = sub.add_parser("search", help="search the indexed documents")
    search.add_argument("query")
    search.add_argument("--k", type=int, default=5, help="how many hits (default 5)")
    search.add_argument("--page", type=int, default=1, help="page number, from 1")
    search.add_argument("--json", action="store_true", help="print a JSON list of hits")
    search.set_defaults(func=run_search, on_memory=search_on)


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
                          "problems": [{"path": path_text(p), "reason": r} for p, r in summary.problems]}))
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
        print(f"  {path_text(path)}: {reason}")
    if len(summary.problems) > MAX_PROBLEMS_SHOWN:
        print(f"  ... and {len(summary.problems) - MAX_PROBLEMS_SHOWN:,} more (`watch --list` shows each folder)")


_NOT_INDEXABLE = ((stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a device"),
                  (stat.S_ISBLK, "a device"))


def _index_target(given: str) -> tuple[Path | None, str]:
    """The resolved folder or file to index, or None and why it cannot be indexed."""
    shown = Path(os.path.abspath(Path(given).expanduser()))
    try:
        path = resolve(given, base=Path.cwd())
        info = path.stat()
    except ValueError as exc:
        return None, str(exc)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return None, f"{path_text(str(shown))} is a symlink loop; nothing was indexed"
        if isinstance(exc, (FileNotFoundError, NotADirectoryError)):
            return None, f"{path_text(str(path))} does not exist"
        return None, f"cannot read {path_text(str(shown))}: {exc.strerror or exc}; nothing was indexed"
    for test, kind in _NOT_INDEXABLE:
        if test(info.st_mode):
            return None, f"{path_text(str(path))} is {kind}, not a folder or a document; nothing was indexed"
    return path, ""


def run_index(args: argparse.Namespace) -> int:
    """Indexed here, or by the running app's own ingestion when it runs (app/cli/handed.py)."""
    path, problem = _index_target(args.path)
    if path is None:
        return _fail(problem)
    try:
        folders.check_indexable(path)
    except folders.FolderError as exc:
        return _fail(str(exc))
    return handed.run(args, lambda: _index_here(path, args.json),
                      argv=["index", str(path), *(["--json"] if args.json else [])])


def _index_here(path: Path, as_json: bool) -> int:
    memory = open_memory()
    try:
        return _index(memory, path, as_json)
    finally:
        memory.close()


def run_watch(args: argparse.Namespace) -> int:
    """Done here, or by the running app when it runs: it holds the memory and watches the folders."""
    if not (args.path or args.remove or args.list or args.follow):
        return _fail("give a folder to watch, or --list, --remove PATH or --follow")
    argv = list(args.argv) if getattr(args, "argv", None) else None
    if argv is not None:  # the app's working folder is not this one: paths go over absolute
        for given in filter(None, (args.path, args.remove)):
            argv = [str(Path(os.path.abspath(os.path.expanduser(word)))) if word == given else word for word in argv]
    return handed.run(args, lambda: _watch_here(args), argv=argv)


def _watch_here(args: argparse.Namespace) -> int:
    if args.remove:
        return _remove(args.remove)
    if args.list:
        return _list(args.json)
    memory = open_memory()
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
        return list_on(memory, as_json)
    finally:
        memory.close()


def list_on(memory: MemoryStore, as_json: bool) -> int:
    """Print the watched folders and what is indexed in each, from ``memory``."""
    rows = []
    for folder in folders.watched():
        problems = [d for d in memory.documents.under(str(folder)) if d.status != "indexed"]
        rows.append({**folders.report(memory, folder), "folder": path_text(str(folder)),
                     "problems": [{"path": path_text(d.path), "status": d.status, "reason": d.error}
                                  for d in problems]})
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
    service = IngestService(memory, on_document=lambda path, n: print(f"indexed {path_text(path)} ({n} chunks)",
                                                                       flush=True),
                            on_summary=lambda s: s.problems and print(
                                "\n".join(f"  {path_text(p)}: {r}" for p, r in s.problems), flush=True))
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
    """Answered by the running app when it runs (app/cli/handed.py), else here."""
    if not args.query.strip():
        return _fail("the search query is empty")
    if not 1 <= args.k <= 100:
        return _fail("--k must be between 1 and 100")
    if args.page < 1:
        return _fail("--page starts at 1")
    return handed.run(args, lambda: _search_here(args))


def _search_here(args: argparse.Namespace) -> int:
    memory = open_memory()
    try:
        return search_on(memory, args)
    finally:
        memory.close()


def search_on(memory: MemoryStore, args: argparse.Namespace) -> int:
    found = memory.documents.search(args.query, page=args.page - 1, size=args.k)
    indexed = memory.documents.counts().get("indexed", 0)
    if args.json:
        print(json.dumps([hit.as_json() for hit in found.items], ensure_ascii=False))
        return 0
    if not found.total:
        print("no document matches" if indexed else
              f"no documents are indexed yet: `{paths.launcher()} watch PATH` or `index PATH`")
        return 0
    print(found.header())
    for rank, hit in enumerate(found.items, start=(args.page - 1) * args.k + 1):
        print(f"{rank}. {path_text(hit.path)} (score {hit.score:.4f}, characters {hit.start}-{hit.end})")
        print(f"   {hit.snippet(args.query)}")
    return 0

