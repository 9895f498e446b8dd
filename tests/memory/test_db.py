"""The database file: migrations, refusal of newer schemas, a damaged WAL, a writer killed mid-write."""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from app.memory.db import Database, DatabaseError, migrate, schema_version
from app.memory.migrations import MIGRATIONS

ROOT = Path(__file__).resolve().parents[2]
LATEST = MIGRATIONS[-1][0]


def test_migration_numbers_are_consecutive_from_one():
    assert [m[0] for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))


def test_fresh_in_memory_database_reaches_the_latest_schema():
    conn = duckdb.connect(":memory:")
    assert schema_version(conn) == 0
    assert migrate(conn) == LATEST
    tables = {r[0] for r in conn.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert {"core_blocks", "core_history", "messages", "passages", "documents", "chunks",
            "postings", "doc_lengths", "vectors", "summaries", "schema_migrations"} <= tables
    assert migrate(conn) == LATEST  # idempotent
    assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == LATEST


@pytest.mark.parametrize("start", range(0, LATEST + 1))
def test_every_earlier_version_migrates_to_the_latest(tmp_path: Path, start: int):
    path = tmp_path / "old.duckdb"
    conn = duckdb.connect(str(path))
    assert migrate(conn, target=start) == start
    conn.close()
    with Database(path) as db:
        assert db.version == LATEST
        versions = [r[0] for r in db.fetchall("SELECT version FROM schema_migrations ORDER BY version")]
        assert versions == list(range(1, LATEST + 1))


def test_a_newer_schema_is_refused_and_left_untouched(tmp_path: Path):
    path = tmp_path / "new.duckdb"
    with Database(path) as db:
        db.execute("INSERT INTO schema_migrations VALUES (999, 'from the future', now())")
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(DatabaseError, match="newer Pagemind .schema 999; this one knows up to"):
        Database(path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def _kill_after_writes(path: Path, script: str) -> subprocess.CompletedProcess[str]:
    code = textwrap.dedent(script).format(path=str(path))
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_a_damaged_wal_is_moved_aside_and_kept(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    path = tmp_path / "wal.duckdb"
    result = _kill_after_writes(path, """
        import os, signal
        from app.memory.db import Database
        db = Database(__import__("pathlib").Path({path!r}))
        db.execute("CHECKPOINT")
        for i in range(200):
            db.execute("INSERT INTO passages (content, created_at) VALUES (?, now())", [f"p{{i}}"])
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    assert result.returncode == -signal.SIGKILL, result.stderr
    wal = path.with_name(path.name + ".wal")
    data = bytearray(wal.read_bytes())
    for i in range(len(data) // 2, len(data) // 2 + 64):
        data[i] ^= 0xFF
    wal.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING):
        db = Database(path)
    try:
        assert db.version == LATEST
        db.execute("INSERT INTO passages (content, created_at) VALUES ('after', now())")
    finally:
        db.close()
    kept = list(tmp_path.glob("wal.duckdb.wal.damaged-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == bytes(data)
    assert "log is damaged at byte" in caplog.text
    assert db.notice and "damaged" in db.notice


def test_writer_killed_mid_write_loses_no_committed_message(tmp_path: Path):
    path = tmp_path / "kill.duckdb"
    code = textwrap.dedent(f"""
        import sys, datetime
        from pathlib import Path
        from app.memory.db import Database
        db = Database(Path({str(path)!r}))
        i = 0
        while True:
            row = db.fetchone(
                "INSERT INTO messages (conversation, role, content, created_at) VALUES ('c', 'user', ?, ?) RETURNING id",
                [f"message {{i}} " + "x" * 500, datetime.datetime.now()])
            print(row[0], flush=True)
            i += 1
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    committed = []
    assert proc.stdout is not None
    for line in proc.stdout:
        committed.append(int(line))
        if len(committed) == 300:
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=30)
    committed += [int(line) for line in proc.stdout.read().split()]
    proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    with Database(path) as db:
        stored = {r[0] for r in db.fetchall("SELECT id FROM messages")}
    assert set(committed) <= stored
    assert len(stored) >= 300
