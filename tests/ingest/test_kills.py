"""``index`` killed (SIGKILL) inside one group of files, again and again: only the file being
worked on when the process died counts the attempt, so innocent files are never set aside.

The moment is read from the process tree: the DOCX extractor's child process starts when the
first DOCX file of the run is extracted (the embedder's runner, started before, is the first
child spawned).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import docx
import psutil
import pytest

from app.ingest.queue import IngestQueue
from app.memory.db import Database
from tests.cli.support import ROOT, cli, database_rows

WORDS = ("river stone cloud garden paper window light music table ocean forest letter summer winter "
         "north bridge silver market yellow apple").split()


def notes(folder: Path, n: int, paragraphs: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(n):
        text = "\n\n".join(f"Note {k} part {j}: "
                           + " ".join(WORDS[(k * 7 + j * 3 + i) % len(WORDS)] for i in range(150))
                           for j in range(paragraphs))
        (folder / f"n{k:02d}.txt").write_text(text)


def sentinel(path: Path) -> None:
    document = docx.Document()
    document.add_paragraph("The sentinel document: the harbour master signs every manifest.")
    document.save(path)


def spawned(pid: int) -> list[psutil.Process]:
    """The multiprocessing children of ``pid``, oldest first."""
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []
    found = []
    for child in children:
        try:
            if any("spawn_main" in part for part in child.cmdline()):
                found.append(child)
        except psutil.Error:
            continue
    return sorted(found, key=lambda child: child.create_time())


def idle(process: psutil.Process, quiet: float = 0.4, timeout: float = 60) -> None:
    """Wait until ``process`` has used no CPU for ``quiet`` seconds (its work is done)."""
    deadline = time.monotonic() + timeout
    last = sum(process.cpu_times()[:2])
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = sum(process.cpu_times()[:2])
        if now == last:
            return
        last = now
    raise AssertionError("the extractor never went idle")


def kill_when(indexing_home: Path, docs: Path, moment) -> None:
    """Run ``index docs`` and SIGKILL it (with its children) once ``moment(extractor)`` returns."""
    env = {**os.environ, "PAGEMIND_HOME": str(indexing_home), "PYTHONPATH": str(ROOT)}
    with subprocess.Popen([sys.executable, str(ROOT / "main.py"), "index", str(docs)], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True) as proc:
        deadline = time.monotonic() + 120
        try:
            while time.monotonic() < deadline and proc.poll() is None:
                children = spawned(proc.pid)
                if len(children) >= 2:
                    moment(children[1])
                    break
                time.sleep(0.02)
            assert proc.poll() is None, "the run ended before it could be killed"
        finally:
            os.killpg(proc.pid, signal.SIGKILL)


DIES_WORKING = """
import os, signal, sys
from pathlib import Path
from app.ingest.queue import IngestQueue
from app.memory.db import Database
queue = IngestQueue(Database(Path(sys.argv[1])))
with queue.working(sys.argv[2]):
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_process_killed_while_working_on_a_file_counts_an_attempt_for_it_alone(tmp_path: Path):
    path = tmp_path / "memory.duckdb"
    names = [f"/docs/n{k}.txt" for k in range(5)]
    with Database(path) as db:
        IngestQueue(db).push(names, "/docs", "upsert")
    for _ in range(2):
        died = subprocess.run([sys.executable, "-c", DIES_WORKING, str(path), "/docs/n3.txt"],
                              env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True)
        assert died.returncode == -signal.SIGKILL, died.stderr
    with Database(path) as db:
        queue = IngestQueue(db)
        assert queue.marker.exists()
        queue.recover()
        queue.recover()  # once only: the mark is gone
        assert not queue.marker.exists()
        assert {job.path: job.attempts for job in queue.take(10)} == {**dict.fromkeys(names, 0), "/docs/n3.txt": 1}
        with queue.working("/docs/n1.txt"):  # ended cleanly (or by an error): nothing is counted
            pass
        queue.recover()
        assert sum(job.attempts for job in queue.take(10)) == 1


@pytest.mark.slow
def test_kills_inside_one_group_never_set_its_innocent_files_aside(indexing_home: Path, tmp_path: Path):
    docs = tmp_path / "docs"
    notes(docs, 36, 4)  # one group (well under 64 files and 2 MB) of about 150 chunks
    sentinel(docs / "zz.docx")  # extracted last: once it is done, the group is being embedded

    def while_embedding(extractor: psutil.Process) -> None:
        idle(extractor)
        time.sleep(1.0)

    for _ in range(3):
        kill_when(indexing_home, docs, while_embedding)
        assert database_rows(indexing_home, "SELECT count(*) FROM documents") == [(0,)]  # killed inside the group
        assert database_rows(indexing_home, "SELECT count(*) FROM ingest_queue") == [(37,)]

    done = cli(indexing_home, "index", str(docs), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["counts"] == {"indexed": 37}, summary["problems"]
    assert database_rows(indexing_home, "SELECT count(*) FROM documents WHERE status = 'indexed'") == [(37,)]
    assert database_rows(indexing_home, "SELECT count(*) FROM ingest_queue") == [(0,)]


@pytest.mark.slow
def test_only_the_file_in_progress_at_each_kill_is_set_aside(indexing_home: Path, tmp_path: Path):
    docs = tmp_path / "docs"
    notes(docs, 36, 1)
    sentinel(docs / "n17b.docx")  # in the middle of the group: the extractor starts for it

    for _ in range(3):
        kill_when(indexing_home, docs, lambda extractor: None)  # killed while it is being extracted
        assert database_rows(indexing_home, "SELECT count(*) FROM documents") == [(0,)]

    done = cli(indexing_home, "index", str(docs), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["counts"] == {"indexed": 36, "failed": 1}
    [(path, reason)] = [(p["path"], p["reason"]) for p in summary["problems"]]
    assert path == str(docs / "n17b.docx")
    assert reason.startswith("indexing this file was cut short 3 times") and "next scanned" in reason
    assert database_rows(indexing_home, f"SELECT status FROM documents WHERE path = '{docs / 'n17b.docx'}'") == [("failed",)]

    again = cli(indexing_home, "index", str(docs), "--json")  # as the reason says: the next scan tries it again
    assert json.loads(again.stdout)["counts"] == {"indexed": 1}
