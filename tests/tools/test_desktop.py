"""The desktop tools on a real X display: pytest-xvfb's Xvfb for the session.

The keyboard and mouse tools drive a real Qt window shown on that display by a child process (this
process's Qt runs offscreen); the window reports what it receives as JSON lines on its stdout.
Runs without a display, and on a second Xvfb with 24-bit colour, happen in child processes too:
pyautogui binds to the display it finds when it is first imported.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from pytest_xvfb import Xvfb

from tools import desktop
from tools.desktop import (
    DisplayUnavailable,
    active_window,
    click,
    move_mouse,
    press_keys,
    screenshot,
    type_text,
)
from tools.registry import Effects, ToolContext

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
TITLE = "Pagemind — test window"
EVENT_TIMEOUT_S = 20.0

QT_WINDOW = r"""
import json, sys
from PySide6.QtCore import QEvent, QObject, QPoint, Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QLineEdit, QVBoxLayout, QWidget

def report(**event):
    print(json.dumps(event), flush=True)

def where(event):
    point = event.globalPosition().toPoint()
    return [point.x(), point.y()]

class Mouse(QObject):
    def eventFilter(self, watched, event):
        if event.type() == QEvent.Type.MouseMove:
            report(move=where(event))
        elif event.type() in (QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonDblClick):
            report(press=where(event), button=event.button().name)
        return False

app = QApplication(sys.argv)
window = QWidget()
window.setWindowTitle(sys.argv[1])
palette = window.palette()
palette.setColor(QPalette.ColorRole.Window, QColor("red"))
window.setPalette(palette)
window.setAutoFillBackground(True)
line = QLineEdit(window)
line.setContextMenuPolicy(Qt.ContextMenuPolicy.NoContextMenu)
line.setMouseTracking(True)
QVBoxLayout(window).addWidget(line)
window.setGeometry(100, 100, 400, 100)
mouse = Mouse()
line.installEventFilter(mouse)
line.textChanged.connect(lambda text: report(text=text))
window.show()
QTest.qWaitForWindowExposed(window)
window.activateWindow()
line.setFocus()
QTest.qWaitForWindowActive(window)
centre, inside = line.mapToGlobal(line.rect().center()), window.mapToGlobal(QPoint(3, 3))
report(ready=[centre.x(), centre.y()], background=[inside.x(), inside.y()])
sys.exit(app.exec())
"""


class QtWindow:
    """The child process showing the window, and the events it has reported."""

    def __init__(self, process: subprocess.Popen[str], stderr: Path) -> None:
        self.process, self._stderr = process, stderr
        self._events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        try:
            ready = self.wait_for(lambda event: "ready" in event, "that it is ready")
        except BaseException:
            self.close()
            raise
        self.centre: tuple[int, int] = tuple(ready["ready"])
        self.background: tuple[int, int] = tuple(ready["background"])

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._events.put(json.loads(line))

    def wait_for(self, check: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
        deadline = time.monotonic() + EVENT_TIMEOUT_S
        while (left := deadline - time.monotonic()) > 0:
            try:
                event = self._events.get(timeout=left)
            except queue.Empty:
                break
            self.seen.append(event)
            if check(event):
                return event
        pytest.fail(f"the window never reported {what}; last events {self.seen[-5:]}; "
                    f"its stderr: {self._stderr.read_text()[-2000:]}")

    def wait_for_text(self, text: str) -> None:
        self.wait_for(lambda event: event.get("text") == text, f"the text {text!r}")

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._reader.join(timeout=10)


@pytest.fixture(scope="module")
def display(xvfb: Xvfb | None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Xvfb]:
    """pytest-xvfb's display, with the X authority file python-xlib insists on (empty: no auth)."""
    if xvfb is None:
        pytest.skip("needs Xvfb, which pytest-xvfb starts for the test session")
    authority = tmp_path_factory.mktemp("xauth") / ".Xauthority"
    authority.touch()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XAUTHORITY", str(authority))
        yield xvfb


@pytest.fixture
def window(display: Xvfb, tmp_path: Path) -> Iterator[QtWindow]:
    stderr = tmp_path / "qt-window.stderr"
    env = {**os.environ, "QT_QPA_PLATFORM": "xcb"}
    with stderr.open("w") as errors, subprocess.Popen(
        [sys.executable, "-c", QT_WINDOW, TITLE], stdout=subprocess.PIPE, stderr=errors, text=True, env=env
    ) as process:
        shown = QtWindow(process, stderr)
        try:
            yield shown
        finally:
            shown.close()


def _tool_results(env: dict[str, str], calls: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """Call desktop tools in a fresh Python process (warnings are errors there too)."""
    script = (
        "import json, sys\n"
        "import tools.desktop as desktop\n"
        "for name, args in json.loads(sys.argv[1]):\n"
        "    print(json.dumps(getattr(desktop, name).call(args)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", script, json.dumps(calls)],
        check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith('"')]


ALL_TOOLS: list[tuple[str, dict[str, Any]]] = [
    ("screenshot", {}),
    ("type_text", {"text": "hello"}),
    ("press_keys", {"keys": ["ctrl", "s"]}),
    ("click", {"x": 10, "y": 10}),
    ("move_mouse", {"x": 10, "y": 10}),
    ("active_window", {}),
]


def test_typed_text_arrives_in_a_real_line_edit(window: QtWindow) -> None:
    assert click(*window.centre) == f"Clicked the left button at {window.centre}."
    window.wait_for(lambda event: event.get("press") == list(window.centre), "the click")

    assert type_text("hello pagemind") == "Typed 14 characters."
    window.wait_for_text("hello pagemind")


def test_select_all_then_typing_replaces_the_text(window: QtWindow) -> None:
    type_text("first draft", interval_ms=5)
    window.wait_for_text("first draft")

    assert press_keys(["Ctrl", "a"]) == "Pressed ctrl+a."
    type_text("Final!")
    window.wait_for_text("Final!")


def test_the_mouse_moves_and_clicks_where_asked(window: QtWindow) -> None:
    x, y = window.centre[0] + 40, window.centre[1]
    assert move_mouse(x, y) == f"Moved the mouse pointer to ({x}, {y})."
    window.wait_for(lambda event: event.get("move") == [x, y], f"the pointer at ({x}, {y})")

    assert click(x, y, button="right") == f"Clicked the right button at ({x}, {y})."
    window.wait_for(lambda event: event.get("button") == "RightButton" and event["press"] == [x, y], "a right click")

    assert click(x, y, clicks=2) == f"Double-clicked the left button at ({x}, {y})."
    for _ in range(2):
        window.wait_for(lambda event: event.get("button") == "LeftButton" and event["press"] == [x, y], "two clicks")


def test_the_active_window_is_named_by_its_title(window: QtWindow) -> None:
    assert active_window() == f"Active window: {TITLE}"
    assert active_window.untrusted_output and active_window.risk == "read"


def test_a_screenshot_is_a_png_of_the_whole_screen(display: Xvfb, window: QtWindow, tmp_path: Path) -> None:
    target = tmp_path / "shot.png"
    result = screenshot.call({"path": str(target)})

    assert result.startswith(f"Saved a {display.width}x{display.height} screenshot to {target} (")
    with Image.open(target) as image:
        assert (image.format, image.size) == ("PNG", (display.width, display.height))
        red, green, blue = image.convert("RGB").getpixel(window.background)
    assert red > 200 and green < 60 and blue < 60, "the window's red background is in the picture"
    assert "already exists" in screenshot.call({"path": str(target)})


def test_a_screenshot_goes_to_the_pictures_folder_by_default(display: Xvfb, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    effects = Effects()
    result = screenshot.call({}, ToolContext({"effects": effects}))

    saved = list((tmp_path / "Pictures" / "Screenshots").glob("Screenshot *.png"))
    assert len(saved) == 1 and str(saved[0]) in result
    with Image.open(saved[0]) as image:
        assert image.size == (display.width, display.height)
    made = [record["path"] for record in effects.records]
    assert made == [str(tmp_path / "Pictures"), str(tmp_path / "Pictures" / "Screenshots"), str(saved[0])]


@pytest.mark.parametrize("path, error", [("shot.jpg", "must end in .png"), ("missing/shot.png", "does not exist")])
def test_a_screenshot_needs_a_new_png_in_an_existing_folder(display: Xvfb, tmp_path: Path, path: str,
                                                            error: str) -> None:
    assert error in screenshot.call({"path": str(tmp_path / path)})
    assert not (tmp_path / path).exists()


def test_a_screenshot_of_a_24_bit_display_needs_no_helper_program(display: Xvfb, tmp_path: Path) -> None:
    read, write = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", "640x480x24", "-nolisten", "tcp"],
        pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    os.close(write)
    try:
        with os.fdopen(read) as pipe:
            number = pipe.readline().strip()
        assert number, "Xvfb did not start"
        empty_path = tmp_path / "no-programs"
        empty_path.mkdir()
        env = {**os.environ, "DISPLAY": f":{number}", "PATH": str(empty_path)}
        [result] = _tool_results(env, [("screenshot", {"path": str(tmp_path / "deep.png")})])
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert result.startswith("Saved a 640x480 screenshot")
    with Image.open(tmp_path / "deep.png") as image:
        assert image.size == (640, 480)


@pytest.mark.parametrize("x, y", [(-1, 5), (5, -1), ("width", 5), (5, "height"), (100_000, 100_000)])
def test_points_off_the_screen_are_refused(display: Xvfb, x: Any, y: Any) -> None:
    x = display.width if x == "width" else x
    y = display.height if y == "height" else y
    for act in (click, move_mouse):
        with pytest.raises(ValueError, match=rf"\({x}, {y}\) is off the screen: x must be 0\.\.{display.width - 1}"):
            act(x, y)


def test_the_corners_are_refused_because_they_stop_automation(display: Xvfb) -> None:
    with pytest.raises(ValueError, match="corner of the screen"):
        move_mouse(display.width - 1, 0)


def test_a_pointer_in_a_corner_stops_every_control_tool(display: Xvfb) -> None:
    middle = (display.width // 2, display.height // 2)
    move_mouse(*middle)  # imports pyautogui, quietly
    import pyautogui

    pyautogui.moveTo(0, 0)  # the user's signal to stop
    try:
        for name, args in ALL_TOOLS:
            if getattr(desktop, name).risk == "control":
                result = getattr(desktop, name).call(args)
                assert result.startswith("Error: RuntimeError: stopped by the fail-safe: the mouse pointer"), result
    finally:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(pyautogui, "FAILSAFE", False)
            pyautogui.moveTo(*middle)


def test_an_unknown_key_is_named(display: Xvfb) -> None:
    with pytest.raises(ValueError, match="unknown key 'kontrol'; use key names like ctrl"):
        press_keys(["kontrol", "s"])
    with pytest.raises(ValueError, match="the key 'command' cannot be pressed on this system"):
        press_keys(["command", "s"])
    assert press_keys.call({"keys": [], "request_heartbeat": False}).startswith("Error: invalid arguments")


def test_characters_the_keyboard_cannot_type_are_named(display: Xvfb) -> None:
    with pytest.raises(ValueError, match="cannot type 'é' with this keyboard layout; nothing was typed"):
        type_text("café")


@pytest.mark.parametrize(
    "unset, extra, message",
    [
        ("DISPLAY", {}, "no graphical display is available (DISPLAY is not set)"),
        ("", {"XAUTHORITY": "/nonexistent/.Xauthority"},
         "cannot reach the display: the X authority file /nonexistent/.Xauthority is missing"),
    ],
    ids=["no DISPLAY", "no X authority file"],
)
def test_without_a_display_every_tool_says_so(display: Xvfb, unset: str, extra: dict[str, str], message: str) -> None:
    env = {key: value for key, value in os.environ.items() if key != unset} | extra

    results = _tool_results(env, ALL_TOOLS)

    assert len(results) == len(ALL_TOOLS)
    assert all(result.startswith(f"Error: {DisplayUnavailable.__name__}: {message}") for result in results), results
