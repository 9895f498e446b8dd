"""The real app in a real X server (Xvfb) with a tray host (trayer), driven with xdotool.

It starts ``python main.py``, checks that its tray icon is embedded in trayer's panel, types a
request into the window and one into the quick-command box (Ctrl+K), hands one over with
``python main.py ask``, takes a screenshot of the window mid-conversation (scrot), checks that a
second launch hands over and exits, and quits with Ctrl+Q; recall then holds all three requests.
Set PAGEMIND_SCREENSHOT to also copy the screenshot there.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from app import settings
from tests.x11 import app_window, focused_window, needs_x11, run, screenshot, send_request, x_server

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, needs_x11]


@pytest.fixture
def display() -> Iterator[dict[str, str]]:
    with x_server() as env:
        yield env


def test_the_real_app_in_a_tray(display: dict[str, str], pagemind_home: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    for name in ("budget.md", "holiday-plan.txt", "notes.txt"):
        (work / name).write_text(f"{name}\n")
    conf = settings.load()
    conf.allowed_roots = [str(work), "~"]  # "show disk usage" reads the home folder's disk
    conf.setup_done = True
    conf.pinned_commands = ["show disk usage"]
    settings.save(conf)
    env = {**display, "PAGEMIND_HOME": str(pagemind_home)}
    log = (tmp_path / "app.log").open("w")
    app = subprocess.Popen([sys.executable, str(ROOT / "main.py")], cwd=ROOT, env=env, stdout=log, stderr=log)
    try:
        window = app_window(env)
        send_request(env, window, f"list {work}")

        run(["xdotool", "key", "ctrl+k"], env)
        focused_window(env, "^Pagemind quick command$")
        run(["xdotool", "type", "--delay", "15", f"find holiday-plan.txt in {work}"], env)
        run(["xdotool", "key", "Return"], env)

        asked = subprocess.run([sys.executable, str(ROOT / "main.py"), "ask", "show disk usage", "--json"],
                               cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert asked.returncode == 0, asked.stderr
        done = json.loads(asked.stdout.splitlines()[-1])
        assert done["kind"] == "done" and done["stop"] == "done" and "free" in done["answer"]

        time.sleep(1.0)  # let the window paint the last reply
        run(["xdotool", "mousemove", "--window", window, "300", "610", "click", "1"], env)
        shot = screenshot(env, window, tmp_path / "pagemind-window.png")
        assert shot.stat().st_size > 10_000
        if os.environ.get("PAGEMIND_SCREENSHOT"):
            shutil.copy(shot, os.environ["PAGEMIND_SCREENSHOT"])

        second = subprocess.run([sys.executable, str(ROOT / "main.py")], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=60)
        assert second.returncode == 0 and "already running" in second.stderr

        run(["xdotool", "key", "--window", window, "ctrl+q"], env)
        assert app.wait(timeout=60) == 0
    finally:
        if app.poll() is None:
            app.send_signal(signal.SIGKILL)
            app.wait()
        log.close()
    from app.memory.store import MemoryStore

    memory = MemoryStore.open()
    try:
        said = [m.content for m in memory.recall.in_context("main") if m.role == "user"]
    finally:
        memory.close()
    assert sorted(said) == sorted([f"list {work}", f"find holiday-plan.txt in {work}", "show disk usage"]), \
        (tmp_path / "app.log").read_text()
