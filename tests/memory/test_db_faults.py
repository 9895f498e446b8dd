"""The database under faults, for real: a second process while one writes, a log damaged near its
end, a file cut short (issue findings 1, 8 and 10)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from app.memory.db import Database, DatabaseLocked

ROOT = Path(__file__).resolve().parents[2]

WRITER = """
import os, sys, time
sys.path.insert(0, {root!r})
from pathlib import Path
from app.memory.db import Database
db = Database(Path({path!r}))
db.execute("CHECKPOINT")
db.execute("SET checkpoint_threshold = '1GB'")
n = 0
print("ready", flush=True)
while True:
    db.execute("INSERT INTO passages (content, created_at) VALUES (?, now())", [f"row {{n}}"])
    n += 1
    if n % 50 == 0:
        print(n, flush=True)
"""


def _writer(path: Path) -> subprocess.Popen[str]:
    code = textwrap.dedent(WRITER).format(root=str(ROOT), path=str(path))
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    return process


def _stop(writer: subprocess.Popen[str]) -> None:
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    if writer.stdout is not None:
        writer.stdout.close()


def _rows(path: Path) -> int:
    db = Database(path)
    try:
        return db.fetchone("SELECT count(*) FROM passages")[0]
    finally:
        db.close()


@pytest.mark.slow
def test_a_second_process_never_touches_the_log_of_the_one_that_writes(tmp_path: Path):
    """The second opener gets a clear 'Pagemind is running' error; the writer's log is left in
    place, so after the writer is killed every row it committed is still there."""
    path = tmp_path / "live.duckdb"
    writer = _writer(path)
    try:
        for _ in range(4):
            written = int(writer.stdout.readline())
        wal = path.with_name(path.name + ".wal")
        assert wal.exists()
        for _ in range(3):
            with pytest.raises(DatabaseLocked, match=r"Pagemind is running \(pid \d+") as raised:
                Database(path)
            assert raised.value.pid == writer.pid
        assert wal.exists() and not list(tmp_path.glob("*.damaged-*"))
        committed = int(writer.stdout.readline())
    finally:
        _stop(writer)
    assert committed > written
    assert _rows(path) >= committed  # nothing committed before the crash was lost


def test_the_command_line_says_what_holds_the_database_in_one_line(tmp_path: Path):
    home = tmp_path / "home"
    env = {**os.environ, "PAGEMIND_HOME": str(home), "PYTHONPATH": str(ROOT)}
    (home / "data").mkdir(parents=True)
    writer = _writer(home / "data" / "pagemind.duckdb")
    try:
        for command in (["memory", "show"], ["undo", "--list"], ["search", "report"]):
            done = subprocess.run([sys.executable, str(ROOT / "main.py"), *command], env=env, capture_output=True,
                                  text=True, timeout=120)
            assert done.returncode == 2, (command, done.stderr)
            lines = [line for line in done.stderr.splitlines() if line.startswith("pagemind:")]
            assert len(lines) == 1 and "Pagemind is running" in lines[0] and "Traceback" not in done.stderr
        assert (home / "data" / "pagemind.duckdb.wal").exists()
        assert not list((home / "data").glob("*.damaged-*"))
    finally:
        _stop(writer)


def test_a_log_damaged_near_its_end_keeps_its_valid_part(tmp_path: Path):
    path = tmp_path / "log.duckdb"
    writer = _writer(path)
    try:
        while int(writer.stdout.readline()) < 500:
            pass
    finally:
        _stop(writer)
    wal = path.with_name(path.name + ".wal")
    data = bytearray(wal.read_bytes())
    at = len(data) * 2 // 3
    data[at] ^= 0xFF
    wal.write_bytes(bytes(data))
    db = Database(path)
    try:
        kept_rows = db.fetchone("SELECT count(*) FROM passages")[0]
        assert db.notice and "damaged at byte" in db.notice and "recovered" in db.notice
    finally:
        db.close()
    assert 200 <= kept_rows < 500  # the valid prefix, not nothing
    [kept] = list(tmp_path.glob("log.duckdb.wal.damaged-*"))
    assert kept.read_bytes() == bytes(data)  # the damaged original, untouched


@pytest.mark.parametrize("keep", [0.98, 0.5, 0.05])
def test_a_file_cut_short_is_set_aside_and_a_new_memory_starts(tmp_path: Path, keep: float):
    path = tmp_path / "cut.duckdb"
    db = Database(path)
    db.execute("INSERT INTO passages (content, created_at) SELECT repeat('x', 500), now() FROM range(5000)")
    db.execute("CHECKPOINT")
    db.close()
    original = path.read_bytes()
    path.write_bytes(original[: int(len(original) * keep)])
    db = Database(path)
    try:
        assert db.notice and "kept as" in db.notice
        assert db.fetchone("SELECT count(*) FROM passages")[0] == 0
    finally:
        db.close()
    [kept] = list(tmp_path.glob("cut.duckdb.damaged-*"))
    assert kept.read_bytes() == original[: int(len(original) * keep)]  # never deleted


def test_the_startup_check_fails_when_memory_cannot_open(tmp_path: Path):
    home = tmp_path / "home"
    (home / "data").mkdir(parents=True)
    db = Database(home / "data" / "pagemind.duckdb")
    db.execute("INSERT INTO schema_migrations VALUES (999, 'from the future', now())")
    db.close()
    env = {**os.environ, "PAGEMIND_HOME": str(home), "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    done = subprocess.run([sys.executable, str(ROOT / "main.py"), "--startup-check"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "newer Pagemind" in done.stderr and time.monotonic() - started < 60
