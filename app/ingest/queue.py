"""The persisted ingest queue, and the reconciliation of a scanned folder against the manifest.

The manifest is the ``documents`` table (path, size, mtime, content hash, status, error). A scan
of a folder queues an "upsert" for each file that is new or whose size or modification time
changed, and a "remove" for each known file that is gone. Jobs are keyed by path, so a file queued
twice is one job. Upserts run before removals, and a removal waits ``REMOVE_GRACE`` seconds: when
a file moves, its new path is seen first and keeps the old path's chunks. Paths are stored as
``path_text`` writes them (any file name, even one that is not valid UTF-8).
"""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np

from app.ingest.scan import ScanEntry
from app.memory.db import Database, columns_view
from app.memory.documents import path_from_text, path_text

REMOVE_GRACE = 2.0
MAX_ATTEMPTS = 3
"""A file that was being worked on when the process died this many times is recorded as failed
(and tried again when its folder is next scanned)."""

Conn = duckdb.DuckDBPyConnection


@dataclass(frozen=True)
class IngestJob:
    path: str
    root: str
    action: str
    """"upsert" (index it if it changed) or "remove" (forget it if it is gone)."""
    attempts: int


def _texts(paths: Iterable[str]) -> list[str]:
    return [path_text(path) for path in paths]


def _below(folder: str, recursive: bool) -> tuple[str, list[object]]:
    """SQL (and its parameters) matching the paths in ``folder`` (and below it when recursive)."""
    folder = path_text(folder)
    prefix = folder.rstrip("/") + "/"
    if recursive:
        return "(path = ? OR starts_with(path, ?))", [folder, prefix]
    return "(starts_with(path, ?) AND NOT contains(path[?:], '/'))", [prefix, len(prefix) + 1]


class IngestQueue:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.marker = db.path.with_name(db.path.name + ".working")
        """Names the file being worked on while it is (see ``working``)."""

    def reconcile(self, folder: Path, root: Path, entries: Iterable[ScanEntry], recursive: bool = True) -> int:
        """Queue what differs between ``folder`` on disk (its scanned ``entries``) and the manifest.

        A folder that could not be read is recorded as failed, and the files known below it are
        left alone (they may be back once it can be read). Returns the number of jobs queued.
        """
        where, params = _below(str(folder), recursive)
        with self.db.lock:
            known = {path_from_text(path): (size, mtime, status) for path, size, mtime, status in self.db.fetchall(
                f"SELECT path, size, mtime, status FROM documents WHERE {where}", params)}
            upserts, blocked, seen = [], [], set()
            for entry in entries:
                seen.add(entry.path)
                if entry.error is not None:
                    blocked.append(entry.path.rstrip("/") + "/")
                    self._record_unreadable(entry, str(root))
                    continue
                was = known.get(entry.path)
                if was is None or was[:2] != (entry.size, entry.mtime) or was[2] == "failed":
                    upserts.append(entry.path)
            removes = [path for path in known if path not in seen
                       and not any(path.startswith(prefix) for prefix in blocked)]
            return self.push(upserts, root, "upsert") + self.push(removes, root, "remove")

    def _record_unreadable(self, entry: ScanEntry, root: str) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO documents (path, root, size, mtime, content_hash, status, error, kind) "
                "VALUES (?, ?, 0, 0, '', 'failed', ?, 'folder') ON CONFLICT (path) DO UPDATE SET "
                "status = 'failed', error = excluded.error", [path_text(entry.path), path_text(root), entry.error])

    def push(self, paths: Sequence[str], root: Path | str, action: str) -> int:
        """Queue ``action`` for each path (a path already queued takes the new action)."""
        if not paths:
            return 0
        now = datetime.datetime.now()
        with self.db.transaction() as conn:
            with columns_view(conn, "_queued", {"path": np.asarray(_texts(paths), dtype=object)}):
                conn.execute(
                    "INSERT INTO ingest_queue SELECT path, ?, ?, ?, 0 FROM _queued ON CONFLICT (path) DO UPDATE "
                    "SET root = excluded.root, action = excluded.action, queued_at = CASE WHEN "
                    "ingest_queue.action = excluded.action THEN ingest_queue.queued_at ELSE excluded.queued_at END",
                    [path_text(str(root)), action, now])
        return len(paths)

    def take(self, limit: int) -> list[IngestJob]:
        """Up to ``limit`` jobs that are due: upserts first, then removals past their grace time."""
        due = datetime.datetime.now() - datetime.timedelta(seconds=REMOVE_GRACE)
        rows = self.db.fetchall(
            "SELECT path, root, action, attempts FROM ingest_queue WHERE action = 'upsert' OR queued_at <= ? "
            "ORDER BY action = 'remove', queued_at, path LIMIT ?", [due, limit])
        return [IngestJob(path_from_text(path), path_from_text(root), action, attempts)
                for path, root, action, attempts in rows]

    def next_due(self) -> float | None:
        """Seconds until the next waiting removal is due (0 when one is due now); None when none waits."""
        row = self.db.fetchone("SELECT min(queued_at) FROM ingest_queue")
        if row is None or row[0] is None:
            return None
        wait = (row[0] + datetime.timedelta(seconds=REMOVE_GRACE) - datetime.datetime.now()).total_seconds()
        return max(0.0, wait)

    @contextlib.contextmanager
    def working(self, path: str) -> Iterator[None]:
        """Mark ``path`` as the file being worked on for as long as the block runs.

        The mark is a small file beside the database (a write costs microseconds, a statement
        milliseconds), removed however the block ends: only the death of the process leaves it,
        and ``recover`` then counts an attempt at that one file, not at the rest of its group.
        """
        self.marker.write_text(path_text(path), encoding="utf-8")
        try:
            yield
        finally:
            self.marker.unlink(missing_ok=True)

    def recover(self) -> None:
        """Count an attempt at the file a process that died was working on (left marked by ``working``)."""
        try:
            path = self.marker.read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        if path:
            self.db.execute("UPDATE ingest_queue SET attempts = attempts + 1 WHERE path = ?", [path])
        self.marker.unlink(missing_ok=True)

    def attempt(self, paths: Sequence[str], step: int = 1) -> None:
        """Count an attempt at these jobs (``step=-1`` takes one back)."""
        if paths:
            self.db.execute("UPDATE ingest_queue SET attempts = attempts + ? WHERE path IN (SELECT unnest(?))",
                            [step, _texts(paths)])

    def done(self, conn: Conn, paths: Sequence[str]) -> None:
        """Drop finished jobs, in the transaction that wrote their results."""
        if paths:
            conn.execute("DELETE FROM ingest_queue WHERE path IN (SELECT unnest(?))", [_texts(paths)])

    def pending(self, folder: str = "") -> int:
        where, params = _below(folder, True) if folder else ("true", [])
        return self.db.fetchone(f"SELECT count(*) FROM ingest_queue WHERE {where}", params)[0]

    def drop(self, folder: str) -> int:
        """Forget the jobs at or below ``folder``; returns how many there were."""
        where, params = _below(folder, True)
        with self.db.transaction() as conn:
            return conn.execute(f"DELETE FROM ingest_queue WHERE {where} RETURNING path", params).fetchall().__len__()
