"""A real X server (Xvfb) with a tray host (trayer), for tests that run the app as a user would."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from tests.waiting import wait_for

TOOLS = ("Xvfb", "trayer", "xdotool", "scrot", "xwininfo")
needs_x11 = pytest.mark.skipif(sys.platform != "linux" or not all(shutil.which(t) for t in TOOLS),
                               reason="needs Xvfb, trayer, xdotool, scrot and xwininfo (see .ci/run)")


def free_display() -> int:
    for number in range(60, 200):
        if not Path(f"/tmp/.X11-unix/X{number}").exists() and not Path(f"/tmp/.X{number}-lock").exists():
            return number
    raise RuntimeError("no free X display number")


def run(command: list[str], env: dict[str, str], timeout: float = 30) -> str:
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout).stdout


def window(env: dict[str, str], name: str) -> str:
    """The id of the first visible window whose title matches ``name`` (a regex), or ""."""
    found = run(["xdotool", "search", "--onlyvisible", "--name", name], env).split()
    return found[0] if found else ""


def has_focus(env: dict[str, str], window_id: str) -> bool:
    """Whether ``window_id`` holds the keyboard focus (keys typed before it does are lost)."""
    return bool(window_id) and run(["xdotool", "getwindowfocus"], env).strip() == window_id


def focused_window(env: dict[str, str], name: str, seconds: float = 20) -> str:
    """The id of the window titled ``name`` once it holds the keyboard focus."""
    def check() -> str:
        found = window(env, name)
        return found if has_focus(env, found) else ""
    return wait_for(check, seconds, f"the window {name!r} to take the focus")


def panel_children(env: dict[str, str]) -> str:
    """The window tree of trayer's panel: an embedded tray icon shows up in it."""
    panel = run(["xdotool", "search", "--name", "^panel$"], env).split()[0]
    return run(["xwininfo", "-tree", "-id", panel], env)


def app_window(env: dict[str, str], seconds: float = 60) -> str:
    """The main window's id, once it shows and its tray icon is docked in trayer's panel."""
    window_id = wait_for(lambda: window(env, "^Pagemind$"), seconds, "the main window")
    wait_for(lambda: '"Pagemind"' in panel_children(env), 30, "the tray icon inside trayer's panel")
    return window_id


def send_request(env: dict[str, str], window_id: str, text: str) -> None:
    """Click the window's input box, type ``text`` and press Enter."""
    run(["xdotool", "mousemove", "--window", window_id, "300", "610", "click", "1"], env)
    wait_for(lambda: has_focus(env, window_id), 20, "the window's focus")
    run(["xdotool", "type", "--delay", "15", text], env)
    run(["xdotool", "key", "Return"], env)


def screenshot(env: dict[str, str], window_id: str, target: Path) -> Path:
    """A scrot capture of one window's area."""
    geometry = run(["xdotool", "getwindowgeometry", "--shell", window_id], env)
    box = dict(line.split("=", 1) for line in geometry.split())
    run(["scrot", "-o", "-a", f"{box['X']},{box['Y']},{box['WIDTH']},{box['HEIGHT']}", str(target)], env)
    return target


@contextlib.contextmanager
def x_server() -> Iterator[dict[str, str]]:
    """Xvfb on a free display with trayer's panel docked on it; yields the environment to use."""
    number = free_display()
    env = {**os.environ, "DISPLAY": f":{number}", "QT_QPA_PLATFORM": "xcb"}
    Path.home().joinpath(".Xauthority").touch()
    server = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    tray = None
    try:
        wait_for(lambda: Path(f"/tmp/.X11-unix/X{number}").exists(), 20, "Xvfb")
        tray = subprocess.Popen(["trayer", "--edge", "top", "--align", "right", "--widthtype", "request",
                                 "--height", "28", "--transparent", "false", "--SetDockType", "true"],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: run(["xdotool", "search", "--name", "^panel$"], env).strip(), 20, "trayer's panel")
        yield env
    finally:
        for process in (tray, server):
            if process is not None:
                process.terminate()
                process.wait(timeout=10)
