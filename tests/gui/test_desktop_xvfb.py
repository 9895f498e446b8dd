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

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ("Xvfb", "trayer", "xdotool", "scrot", "xwininfo")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform != "linux" or not all(shutil.which(t) for t in TOOLS),
                       reason="needs Xvfb, trayer, xdotool, scrot and xwininfo (see .ci/run)"),
]


def _free_display() -> int:
    for number in range(60, 200):
        if not Path(f"/tmp/.X11-unix/X{number}").exists() and not Path(f"/tmp/.X{number}-lock").exists():
            return number
    raise RuntimeError("no free X display number")


def _wait(check, seconds: float, what: str):  # noqa: ANN001, ANN202 - a small polling helper
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def display(tmp_path: Path) -> Iterator[dict[str, str]]:
    number = _free_display()
    env = {**os.environ, "DISPLAY": f":{number}", "QT_QPA_PLATFORM": "xcb"}
    Path.home().joinpath(".Xauthority").touch()
    server = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    tray = None
    try:
        _wait(lambda: Path(f"/tmp/.X11-unix/X{number}").exists(), 20, "Xvfb")
        tray = subprocess.Popen(["trayer", "--edge", "top", "--align", "right", "--widthtype", "request",
                                 "--height", "28", "--transparent", "false", "--SetDockType", "true"],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait(lambda: _run(["xdotool", "search", "--name", "^panel$"], env).strip(), 20, "trayer's panel")
        yield env
    finally:
        for process in (tray, server):
            if process is not None:
                process.terminate()
                process.wait(timeout=10)


def _run(command: list[str], env: dict[str, str], timeout: float = 30) -> str:
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout).stdout


def _window(env: dict[str, str], name: str) -> str:
    found = _run(["xdotool", "search", "--onlyvisible", "--name", name], env).split()
    return found[0] if found else ""


def _panel_children(env: dict[str, str]) -> str:
    panel = _run(["xdotool", "search", "--name", "^panel$"], env).split()[0]
    return _run(["xwininfo", "-tree", "-id", panel], env)


def test_the_real_app_in_a_tray(display: dict[str, str], pagemind_home: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    for name in ("budget.md", "holiday-plan.txt", "notes.txt"):
        (work / name).write_text(f"{name}\n")
    conf = settings.load()
    conf.allowed_roots = [str(work)]
    conf.setup_done = True
    conf.pinned_commands = ["show disk usage"]
    settings.save(conf)
    env = {**display, "PAGEMIND_HOME": str(pagemind_home)}
    log = (tmp_path / "app.log").open("w")
    app = subprocess.Popen([sys.executable, str(ROOT / "main.py")], cwd=ROOT, env=env, stdout=log, stderr=log)
    try:
        window = _wait(lambda: _window(env, "^Pagemind$"), 30, "the main window")
        _wait(lambda: '"Pagemind"' in _panel_children(env), 30, "the tray icon inside trayer's panel")

        _run(["xdotool", "mousemove", "--window", window, "300", "610", "click", "1"], env)
        _run(["xdotool", "type", "--delay", "15", f"list {work}"], env)
        _run(["xdotool", "key", "Return"], env)

        _run(["xdotool", "key", "ctrl+k"], env)
        _wait(lambda: _window(env, "^Pagemind quick command$"), 20, "the quick-command box")
        _run(["xdotool", "type", "--delay", "15", f"find holiday-plan.txt in {work}"], env)
        _run(["xdotool", "key", "Return"], env)

        asked = subprocess.run([sys.executable, str(ROOT / "main.py"), "ask", "show disk usage", "--json"],
                               cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert asked.returncode == 0, asked.stderr
        done = json.loads(asked.stdout.splitlines()[-1])
        assert done["kind"] == "done" and done["stop"] == "replied" and "free" in done["reply"]

        time.sleep(1.0)  # let the window paint the last reply
        shot = tmp_path / "pagemind-window.png"
        _run(["xdotool", "mousemove", "--window", window, "300", "610", "click", "1"], env)
        geometry = _run(["xdotool", "getwindowgeometry", "--shell", window], env)
        box = dict(line.split("=", 1) for line in geometry.split())
        _run(["scrot", "-o", "-a", f"{box['X']},{box['Y']},{box['WIDTH']},{box['HEIGHT']}", str(shot)], env)
        assert shot.stat().st_size > 10_000
        if os.environ.get("PAGEMIND_SCREENSHOT"):
            shutil.copy(shot, os.environ["PAGEMIND_SCREENSHOT"])

        second = subprocess.run([sys.executable, str(ROOT / "main.py")], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=60)
        assert second.returncode == 0 and "already running" in second.stderr

        _run(["xdotool", "key", "--window", window, "ctrl+q"], env)
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
