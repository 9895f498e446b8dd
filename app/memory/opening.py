"""Opening the database file, and what may stand in the way: another process, a damaged log, a
damaged file.

- **Another process holds it** (DuckDB lets one process write): nothing is touched, and the error
  names that process ("Pagemind is running (pid 123) ..."). Only a log DuckDB itself reports as
  damaged is ever set aside; no other open error is taken for damage.
- **A damaged write-ahead log**: DuckDB names the first entry whose checksum fails. The log is
  copied aside untouched, the live log is cut at that entry, and DuckDB replays the valid part
  (what came after the damage is lost, and said so). A log damaged in a way DuckDB does not
  locate is moved aside whole.
- **A damaged database file** (shorter than the blocks it declares, unreadable, not a DuckDB file):
  it is moved aside with its log, never deleted, and a new, empty database takes its place; the
  notice says where the old one went.
"""

from __future__ import annotations

import datetime
import logging
import os
import re
import shutil
from pathlib import Path

import duckdb
import psutil

log = logging.getLogger(__name__)

HEADER_BYTES = 3 * 4096
"""A DuckDB file starts with its main header and two database headers, then its blocks."""
MOST_LOG_REPAIRS = 8
_LOCKED = re.compile(r"Could not set lock on file .*?Conflicting lock is held in (?P<program>.*?) \(PID (?P<pid>\d+)\)",
                     re.S)
_BAD_ENTRY = re.compile(r"Corrupt WAL file: entry at byte position (?P<at>\d+)")
_DAMAGED_FILE = ("not a valid DuckDB database file", "Could not read enough bytes", "database file is corrupt",
                 "block checksum", "Checksum mismatch")


class DatabaseError(RuntimeError):
    """The database cannot be opened or used; the message says why and what to do."""


class DatabaseLocked(DatabaseError):
    """Another process (the running app, ``index``, ``watch --follow``) holds the database."""

    def __init__(self, message: str, pid: int | None) -> None:
        super().__init__(message)
        self.pid = pid


def _stamp() -> str:
    return datetime.datetime.now().strftime("%Y%m%d-%H%M%S")


def _log_path(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def locked_error(path: Path, exc: duckdb.Error) -> DatabaseLocked | None:
    """A clear error when ``exc`` says another process holds ``path`` (None when it says something else)."""
    found = _LOCKED.search(str(exc))
    if found is None:
        return None
    pid = int(found["pid"])
    try:
        command = " ".join(psutil.Process(pid).cmdline()[-3:]) or found["program"]
    except psutil.Error:
        command = found["program"]
    return DatabaseLocked(f"Pagemind is running (pid {pid}: {command}) and holds its database {path}; "
                          "try again when it has finished", pid)


def _set_aside(path: Path, why: str) -> Path:
    """Move a damaged file (and its log) aside with a time stamp; returns where the file went."""
    kept = path.with_name(f"{path.name}.damaged-{_stamp()}")
    os.replace(path, kept)
    if _log_path(path).exists():
        os.replace(_log_path(path), kept.with_name(kept.name + ".wal"))
    log.warning("the database %s is damaged (%s); it was moved to %s", path, why, kept)
    return kept


def _declared_size(conn: duckdb.DuckDBPyConnection) -> int:
    """The bytes the file must have for the blocks it declares."""
    row = conn.execute("SELECT total_blocks, block_size FROM pragma_database_size()").fetchone()
    return HEADER_BYTES + int(row[0]) * int(row[1]) if row and row[0] else 0


def connect(path: Path) -> tuple[duckdb.DuckDBPyConnection, str | None]:
    """The connection to ``path``, and a notice for the user when something had to be repaired.

    Raises DatabaseLocked when another process holds it, DatabaseError when it cannot be opened.
    """
    notices: list[str] = []
    original_log: Path | None = None
    for _ in range(MOST_LOG_REPAIRS):
        try:
            conn = duckdb.connect(str(path))
        except duckdb.Error as exc:
            locked = locked_error(path, exc)
            if locked is not None:
                raise locked from None
            text = str(exc)
            wal = _log_path(path)
            if "WAL" in text and wal.exists():
                original_log = original_log or _keep_log(wal)
                notices.append(_repair_log(wal, text, original_log))
                continue
            if path.exists() and any(sign in text for sign in _DAMAGED_FILE):
                kept = _set_aside(path, _first_line(exc))
                notices.append(f"Pagemind's memory file was damaged ({_first_line(exc)}); it was kept as {kept}, "
                               "and a new, empty memory was started")
                continue
            raise DatabaseError(f"cannot open the database {path}: {_first_line(exc)}") from None
        short = path.exists() and os.path.getsize(path) < _declared_size(conn)
        if short:
            conn.close()
            kept = _set_aside(path, "the file is shorter than the blocks it declares")
            notices.append(f"Pagemind's memory file was cut short (a disk full or a crash while copying?); it was "
                           f"kept as {kept}, and a new, empty memory was started")
            continue
        return conn, "; ".join(notices) or None
    raise DatabaseError(f"cannot open the database {path}: its log could not be repaired")


def _keep_log(wal: Path) -> Path:
    """A copy of the damaged log, untouched, beside it."""
    kept = wal.with_name(f"{wal.name}.damaged-{_stamp()}")
    shutil.copy2(wal, kept)
    return kept


def _repair_log(wal: Path, error: str, kept: Path) -> str:
    """Cut the live log before its first bad entry (or set it aside whole); the notice for the user."""
    found = _BAD_ENTRY.search(error)
    size = wal.stat().st_size
    if found is not None and 0 < int(found["at"]) < size:
        at = int(found["at"])
        with open(wal, "r+b") as handle:
            handle.truncate(at)
        log.warning("the database's log is damaged at byte %d of %d; the valid part before it is replayed, "
                    "the damaged original is kept as %s", at, size, kept)
        return (f"Pagemind's memory log was damaged at byte {at:,} of {size:,}: what was saved before it was "
                f"recovered, the changes after it are lost; the damaged log was kept as {kept}")
    wal.unlink()
    log.warning("the database's log is damaged (%s); it was set aside as %s", error.splitlines()[0], kept)
    return (f"Pagemind's memory log was damaged ({error.splitlines()[0]}); the changes since the last "
            f"checkpoint are lost; the damaged log was kept as {kept}")
