"""Pagemind's DuckDB file: opened (app/memory/opening.py), migrated, shared by the kernel's threads.

One process writes the database (DESIGN.md decision 9). ``Database`` wraps the connection with a
lock, so the kernel's threads share it safely, and gives short-lived cursors for reads.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import threading
from pathlib import Path
from typing import Any, Iterator, cast

import duckdb

from app import paths
from app.memory.migrations import MIGRATIONS
from app.memory.opening import DatabaseError, DatabaseLocked, connect

__all__ = ["Database", "DatabaseError", "DatabaseLocked", "columns_view", "migrate", "storable"]

log = logging.getLogger(__name__)

DB_FILE = "pagemind.duckdb"


@contextlib.contextmanager
def columns_view(conn: duckdb.DuckDBPyConnection, name: str, columns: dict[str, Any]) -> Iterator[None]:
    """Numpy columns queryable as the view ``name`` inside the block (bulk reads and writes in one scan)."""
    conn.complete()  # DuckDB registers nothing while a result of execute() is unfinished
    conn.register(name, columns)
    try:
        yield
    finally:
        with contextlib.suppress(duckdb.Error):
            conn.unregister(name)


def storable(value: Any) -> Any:
    """``value`` with every string made valid UTF-8: text Python can hold but UTF-8 cannot (a file
    name's undecodable bytes, a lone surrogate) is kept as visible escapes (``\\xe9``, ``\\ud800``)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            try:
                return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            except UnicodeEncodeError:
                return value.encode("utf-8", "backslashreplace").decode("utf-8")
        return value
    if isinstance(value, (list, tuple)):
        return type(value)(storable(item) for item in value)
    if isinstance(value, dict):
        return {key: storable(item) for key, item in value.items()}
    return value


class _Storing:
    """A connection whose ``execute`` makes its parameters storable; everything else passes through."""

    def __init__(self, conn: duckdb.DuckDBPyConnection) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Any = None) -> duckdb.DuckDBPyConnection:
        return self._conn.execute(sql, storable(params))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def schema_version(conn: duckdb.DuckDBPyConnection) -> int:
    exists = conn.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'"
    ).fetchone()[0]
    if not exists:
        return 0
    return conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0]


def migrate(conn: duckdb.DuckDBPyConnection, target: int | None = None) -> int:
    """Apply the migrations above the current version (up to ``target``); returns the version."""
    known = MIGRATIONS[-1][0] if MIGRATIONS else 0
    current = schema_version(conn)
    if current > known:
        raise DatabaseError(
            f"this database was written by a newer Pagemind (schema {current}; this one knows up "
            f"to {known}); it was left untouched"
        )
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
    )
    for version, name, sql in MIGRATIONS:
        if version <= current or (target is not None and version > target):
            continue
        conn.execute("BEGIN TRANSACTION")
        try:
            conn.execute(sql)
            conn.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                [version, name, datetime.datetime.now()],
            )
            conn.execute("COMMIT")
        except duckdb.Error:
            conn.execute("ROLLBACK")
            raise
        log.info("database migrated to schema %d (%s)", version, name)
        current = version
    return current


class Database:
    """The one DuckDB connection of this process, migrated to the current schema."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else paths.data_dir() / DB_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn, self.notice = connect(self.path)  # notice: what had to be repaired, for the user
        self.lock = threading.RLock()
        try:
            self.version = migrate(self.conn)
        except BaseException:
            self.conn.close()
            raise

    def execute(self, sql: str, params: Any = None) -> duckdb.DuckDBPyConnection:
        with self.lock:
            return self.conn.execute(sql, storable(params))

    def fetchall(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        with self.lock:
            return self.conn.execute(sql, storable(params)).fetchall()

    def fetchone(self, sql: str, params: Any = None) -> tuple[Any, ...] | None:
        with self.lock:
            return self.conn.execute(sql, storable(params)).fetchone()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """All statements inside commit together or not at all."""
        with self.lock:
            self.conn.execute("BEGIN TRANSACTION")
            try:
                yield cast(duckdb.DuckDBPyConnection, _Storing(self.conn))
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
