"""``index``, ``watch`` and ``search`` as a user runs them: real subprocesses, a real indexing_home folder."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli.support import ROOT, cli, database_rows, write_notes


def test_index_then_search_in_text_and_json(indexing_home: Path, tmp_path: Path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "budget.txt").write_text("The quarterly budget review moved to Thursday.")
    (docs / "garden.md").write_text("Tomatoes need six hours of sun and deep watering.")
    (docs / "blob.txt").write_bytes(os.urandom(3000))
    done = cli(indexing_home, "index", str(docs))
    assert done.returncode == 0, done.stderr
    assert "2 indexed, 1 skipped" in done.stdout and "blob.txt: binary content" in done.stdout

    found = cli(indexing_home, "search", "when is the budget review", "--json", "--k", "2")
    assert found.returncode == 0, found.stderr
    hits = json.loads(found.stdout)
    assert len(hits) == 2 and hits[0]["path"] == str(docs / "budget.txt")
    assert hits[0]["score"] > hits[1]["score"] and "Thursday" in hits[0]["text"]

    text = cli(indexing_home, "search", "vegetables and sunshine")
    assert text.returncode == 0 and "1. " + str(docs / "garden.md") in text.stdout

    again = cli(indexing_home, "index", str(docs), "--json")
    assert json.loads(again.stdout)["counts"] == {}


def test_bad_input_is_refused_clearly(indexing_home: Path, tmp_path: Path):
    missing = cli(indexing_home, "index", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    empty = cli(indexing_home, "search", "  ")
    assert empty.returncode == 2 and "empty" in empty.stderr
    nothing = cli(indexing_home, "search", "anything")
    assert nothing.returncode == 0 and "no documents are indexed yet" in nothing.stdout
    file_watch = tmp_path / "file.txt"
    file_watch.write_text("x")
    refused = cli(indexing_home, "watch", str(file_watch))
    assert refused.returncode == 2 and "is a file" in refused.stderr
    whole_disk = cli(indexing_home, "index", "/")
    assert whole_disk.returncode == 2 and "holds system folders" in whole_disk.stderr
    system = cli(indexing_home, "watch", "/etc")
    assert system.returncode == 2 and "/etc is a system folder" in system.stderr
    assert json.loads(cli(indexing_home, "watch", "--list", "--json").stdout) == []


def test_watch_add_list_and_remove(indexing_home: Path, tmp_path: Path):
    docs = tmp_path / "docs"
    write_notes(docs, 3)
    added = cli(indexing_home, "watch", str(docs))
    assert added.returncode == 0 and f"watching {docs}" in added.stdout and "3 indexed" in added.stdout
    inner = cli(indexing_home, "watch", str(docs / "sub"))
    assert inner.returncode == 2
    (docs / "sub").mkdir()
    inner = cli(indexing_home, "watch", str(docs / "sub"))
    assert inner.returncode == 2 and "already watched" in inner.stderr

    listed = json.loads(cli(indexing_home, "watch", "--list", "--json").stdout)
    assert [(row["folder"], row["indexed"], row["chunks"], row["queued"]) for row in listed] == [(str(docs), 3, 3, 0)]

    removed = cli(indexing_home, "watch", "--remove", str(docs))
    assert removed.returncode == 0 and "3 documents" in removed.stdout
    assert json.loads(cli(indexing_home, "watch", "--list", "--json").stdout) == []
    assert json.loads(cli(indexing_home, "search", "meeting", "--json").stdout) == []
    again = cli(indexing_home, "watch", "--remove", str(docs))
    assert again.returncode == 2 and "not a watched folder" in again.stderr


@pytest.mark.slow
def test_sigkill_during_ingestion_resumes_without_duplicates(indexing_home: Path, tmp_path: Path):
    docs = tmp_path / "many"
    write_notes(docs, 1000)
    env = {**os.environ, "PAGEMIND_HOME": str(indexing_home), "PYTHONPATH": str(ROOT)}
    done_before_kill = 0
    with subprocess.Popen([sys.executable, str(ROOT / "main.py"), "index", str(docs)], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True) as proc:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:  # the plain progress line comes every few seconds
            line = proc.stderr.readline()
            if line.startswith("indexing: "):
                done_before_kill = int(line.split()[1].split("/")[0].replace(",", ""))
                if done_before_kill:
                    break
            if not line and proc.poll() is not None:
                break
        os.killpg(proc.pid, signal.SIGKILL)  # the app, its embedder runner and its extractor, at once
    assert 0 < done_before_kill < 1000, "the run ended before it could be killed"

    kept = database_rows(indexing_home, "SELECT count(*) FROM documents")[0][0]
    queued = database_rows(indexing_home, "SELECT count(*) FROM ingest_queue")[0][0]
    assert kept >= done_before_kill and kept + queued == 1000

    resumed = cli(indexing_home, "index", str(docs), "--json")
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout)
    assert summary["counts"]["indexed"] == 1000 - kept

    assert database_rows(indexing_home, "SELECT count(*), count(DISTINCT path) FROM documents") == [(1000, 1000)]
    assert database_rows(indexing_home, "SELECT count(*), count(DISTINCT document_id) FROM chunks") == [(1000, 1000)]
    assert database_rows(indexing_home, "SELECT count(*) FROM vectors WHERE corpus = 'documents'") == [(1000,)]
    assert database_rows(indexing_home, "SELECT count(*) FROM doc_lengths WHERE corpus = 'documents'") == [(1000,)]
    assert database_rows(indexing_home, "SELECT count(*) FROM ingest_queue") == [(0,)]
    hits = json.loads(cli(indexing_home, "search", "project number 777", "--json").stdout)
    assert hits[0]["path"] == str(docs / "note0777.txt")


def test_a_folder_without_read_permission_is_reported_and_the_rest_indexed(indexing_home: Path, tmp_path: Path):
    docs = tmp_path / "docs"
    write_notes(docs, 2)
    locked = docs / "locked"
    write_notes(locked, 2)
    locked.chmod(0)
    prefix: tuple[str, ...] = ()
    if os.geteuid() == 0:  # root reads anything: run without the capabilities that allow it
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv, a folder cannot be made unreadable")
        prefix = ("setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search")
    try:
        done = cli(indexing_home, "index", str(docs), "--json", prefix=prefix)
    finally:
        locked.chmod(0o755)
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)
    assert listed["counts"] == {"indexed": 2, "failed": 1}
    assert listed["problems"] == [{"path": str(locked), "reason": "cannot read the folder: permission denied"}]
    rows = database_rows(indexing_home, f"SELECT status, error FROM documents WHERE path = '{locked}'")
    assert rows and rows[0][0] == "failed" and "permission" in rows[0][1].lower()
