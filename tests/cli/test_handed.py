"""While the app runs it holds the database: the commands that read memory or feed indexing are
answered by it, through the real single-instance socket, and nothing of its log is touched."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from app import settings
from app.cli import handoff
from app.memory.store import MemoryStore

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture
def running_app(pagemind_home: Path, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The real app (offscreen) with a watched folder of two notes; yields the environment."""
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "garage.txt").write_text("Call the garage about the brakes on Friday.\n")
    (notes / "tea.md").write_text("# Tea\nThe user likes green tea in the afternoon.\n")
    conf = settings.load()
    conf.setup_done, conf.watched_folders = True, [str(notes)]
    settings.save(conf)
    env = {**os.environ, "PAGEMIND_HOME": str(pagemind_home), "QT_QPA_PLATFORM": "offscreen",
           "PYTHONPATH": str(ROOT)}
    log = (tmp_path / "app.log").open("w")
    app = subprocess.Popen([sys.executable, str(ROOT / "main.py")], cwd=ROOT, env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 60
        while not handoff.running():
            assert app.poll() is None and time.monotonic() < deadline, (tmp_path / "app.log").read_text()
            time.sleep(0.2)
        yield env
    finally:
        app.send_signal(signal.SIGTERM)
        app.wait(timeout=60)
        log.close()


def cli(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *argv], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def test_read_commands_are_answered_by_the_running_app(running_app: dict[str, str], pagemind_home: Path):
    asked = cli(running_app, "ask", "list ~")
    assert asked.returncode == 0, asked.stderr
    shown = cli(running_app, "memory", "show")
    assert shown.returncode == 0 and "[persona]" in shown.stdout and "recall messages" in shown.stdout, shown.stderr
    found = cli(running_app, "memory", "search", "list")
    assert found.returncode == 0 and "list ~" in found.stdout, found.stderr
    journal = cli(running_app, "undo", "--list")
    assert journal.returncode == 0, journal.stderr
    bad = cli(running_app, "memory", "search", "--tier", "nowhere", "x")
    assert bad.returncode == 2 and "invalid choice" in bad.stderr
    assert not list((pagemind_home / "data").glob("*.damaged-*"))
    assert "Traceback" not in shown.stderr + found.stderr + journal.stderr


def test_the_memory_the_app_wrote_is_all_there_after_the_commands(running_app: dict[str, str], pagemind_home: Path):
    for n in range(3):
        cli(running_app, "ask", f"list ~ please {n}")  # no model: answered with a note, and committed
        assert cli(running_app, "memory", "show").returncode == 0
    os.kill(_app_pid(pagemind_home), signal.SIGKILL)  # a crash: only what was committed counts
    time.sleep(1)
    store = MemoryStore.open(pagemind_home / "data" / "pagemind.duckdb")
    try:
        said = [m.content for m in store.recall.in_context("main") if m.role == "user"]
    finally:
        store.close()
    assert [f"list ~ please {n}" for n in range(3)] == said[-3:]


def _app_pid(pagemind_home: Path) -> int:
    import psutil

    for process in psutil.process_iter(["cmdline", "environ"]):
        try:
            cmdline = process.info["cmdline"] or []
            environ = process.info["environ"] or {}
        except psutil.Error:
            continue
        if cmdline[-1:] == [str(ROOT / "main.py")] and environ.get("PAGEMIND_HOME") == str(pagemind_home):
            return process.pid
    raise AssertionError("the app process was not found")


def test_index_search_and_watch_are_done_by_the_running_app(running_app: dict[str, str], tmp_path: Path):
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "boat.txt").write_text("The sailing boat needs new ropes before the regatta.\n")
    indexed = cli(running_app, "index", str(extra))
    assert indexed.returncode == 0, indexed.stderr
    assert "the running Pagemind is indexing" in indexed.stdout and "1 indexed" in indexed.stdout
    found = cli(running_app, "search", "regatta ropes")
    assert found.returncode == 0 and "boat.txt" in found.stdout, found.stdout + found.stderr
    listed = cli(running_app, "watch", "--list")
    assert listed.returncode == 0 and str(tmp_path / "notes") in listed.stdout, listed.stderr
    relative = subprocess.run([sys.executable, str(ROOT / "main.py"), "watch", "extra"], cwd=tmp_path,
                              env=running_app, capture_output=True, text=True, timeout=120)
    assert relative.returncode == 0 and f"watching {extra}" in relative.stdout, relative.stderr
    assert str(extra) in settings.load().watched_folders
    follow = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "watch", "--follow"], env=running_app,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "keeps 2 folder(s) indexed" in follow.stdout.readline()
    finally:
        follow.send_signal(signal.SIGINT)
        follow.wait(timeout=30)
        follow.stdout.close()
        follow.stderr.close()
    still = cli(running_app, "memory", "show")
    assert still.returncode == 0  # the app goes on serving after a follower left
