"""Desktop tools: look at the screen, type, press keys, move and click the mouse.

Input goes through pyautogui, which opens its connection to the display when it is imported, so it
is imported on first use; without a display every tool fails with one clear
:class:`DisplayUnavailable` line. pyautogui's fail-safe stays on: a user who throws the mouse
pointer into a corner of the screen stops all automation, and the tools then say so instead of
acting. Screenshots come from Pillow (which pyautogui depends on); window titles on X11 from
python-xlib (likewise).
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import hashlib
import importlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any, Literal

from tools.fs import anchored
from tools.registry import MaxLen, MinLen, Range, ToolContext, tool

PAUSE_S = 0.05
"""pyautogui's pause after each action, so applications keep up with the input."""
SCROT_TIMEOUT_S = 30
KEY_EXAMPLES = "ctrl, alt, shift, win, enter, tab, esc, backspace, up, f5, a"

CLICKED = {1: "Clicked", 2: "Double-clicked", 3: "Triple-clicked"}

Coordinate = Annotated[int, Range(0, None)]


class DisplayUnavailable(RuntimeError):
    """There is no graphical display the desktop tools can reach."""


def _x11() -> bool:
    return sys.platform not in ("win32", "darwin")


def _check_display() -> None:
    """Raise DisplayUnavailable unless an X11 display (where one is needed) can be opened."""
    if not _x11():
        return
    if not os.environ.get("DISPLAY"):
        raise DisplayUnavailable("no graphical display is available (DISPLAY is not set)")
    authority = Path(os.environ.get("XAUTHORITY") or Path.home() / ".Xauthority")
    if not authority.is_file():
        raise DisplayUnavailable(
            f"cannot reach the display: the X authority file {authority} is missing "
            "(set XAUTHORITY to the session's file)"
        )


@contextlib.contextmanager
def _quiet_library_leaks() -> Iterator[None]:
    """Hide ResourceWarnings of files left open by libraries while they connect to the display.

    pyscreeze leaves the pipes of its ``which`` probes open when pyautogui imports it, and
    python-xlib leaves the X authority file open on every connection.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        yield


@functools.cache
def _pyautogui() -> ModuleType:
    """pyautogui, imported on first use (failures are not cached: the next call tries again)."""
    _check_display()
    with _quiet_library_leaks():
        try:
            pyautogui = importlib.import_module("pyautogui")
        except Exception as exc:  # python-xlib and pyautogui fail in many ways without a usable display
            problem = _reason(exc)
        else:
            pyautogui.PAUSE = PAUSE_S
            return pyautogui
    raise DisplayUnavailable(f"cannot use the display: {problem}")


def _reason(exc: Exception) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _run(action: str, *args: Any, **kwargs: Any) -> None:
    """Call ``pyautogui.<action>``; its fail-safe becomes a one-line error for the model."""
    pyautogui = _pyautogui()
    try:
        getattr(pyautogui, action)(*args, **kwargs)
    except pyautogui.FailSafeException:
        raise RuntimeError(
            "stopped by the fail-safe: the mouse pointer is in a corner of the screen, the user's "
            "signal to stop; ask the user before trying again"
        ) from None


def _on_screen(x: int, y: int) -> None:
    """Raise ValueError unless (x, y) is a pixel of the screen that does not trip the fail-safe."""
    pyautogui = _pyautogui()
    width, height = pyautogui.size()
    if not (0 <= x < width and 0 <= y < height):
        raise ValueError(f"({x}, {y}) is off the screen: x must be 0..{width - 1} and y 0..{height - 1}")
    if pyautogui.FAILSAFE and (x, y) in pyautogui.FAILSAFE_POINTS:
        raise ValueError(f"({x}, {y}) is a corner of the screen, which stops all automation (the fail-safe)")


SCREENSHOTS = Path("~/Pictures/Screenshots")
"""Where screenshots go unless the model names a file or folder."""


@tool(risk="write")
def screenshot(path: Annotated[Path, MaxLen(500)] = SCREENSHOTS, context: ToolContext = ToolContext()) -> str:
    """Save a picture of the whole screen as a PNG file; never overwrites a file.

    It writes a file and captures whatever is on screen, so it is a ``write``: the gate asks.

    Args:
        path: the new .png file, or a folder to save it in with a timestamped name (made if missing).
    """
    _check_display()
    target = path
    if target.suffix.lower() != ".png":
        if target.suffix or (anchored.exists(target) and not target.is_dir()):
            raise ValueError(f"{target} must end in .png (or name a folder)")
        _make_folders(target, context)
        target = target / datetime.datetime.now().strftime("Screenshot %Y-%m-%d %H-%M-%S-%f.png")
    if not target.parent.is_dir():
        raise FileNotFoundError(f"the folder {target.parent} does not exist")
    if anchored.exists(target):
        raise FileExistsError(f"{target} already exists; choose a new file name")
    image = _capture()
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    data = buffer.getvalue()
    anchored.create_file(target, data)
    context.effects().record("created", path=str(target), sha256=hashlib.sha256(data).hexdigest())
    return f"Saved a {image.width}x{image.height} screenshot to {target} ({len(data) // 1024} KB)."


def _make_folders(folder: Path, context: ToolContext) -> None:
    """Create ``folder`` and the missing folders above it, recording each for undo."""
    missing = []
    while not os.path.lexists(folder):
        missing.append(folder)
        folder = folder.parent
    for each in reversed(missing):
        anchored.make_folder(each)
        context.effects().record("created", path=str(each), sha256=None)


def _capture() -> Any:  # -> PIL.Image.Image
    """The whole screen, through Pillow; on X11 displays Pillow cannot read (16-bit colour), scrot."""
    from PIL import Image, ImageGrab

    try:
        return ImageGrab.grab()
    except OSError as exc:
        scrot = shutil.which("scrot") if _x11() else None
        if scrot is None:
            raise RuntimeError(f"cannot take a screenshot: {_reason(exc)}") from None
    with tempfile.TemporaryDirectory() as scratch:
        file = os.path.join(scratch, "screen.png")
        subprocess.run([scrot, "-z", file], check=True, capture_output=True, timeout=SCROT_TIMEOUT_S)
        with Image.open(file) as shot:
            return shot.copy()


@tool(risk="control")
def type_text(text: Annotated[str, MaxLen(2000)], interval_ms: Annotated[int, Range(0, 200)] = 0) -> str:
    """Type text into the focused window, as if on the keyboard ("\\n" presses Enter).

    Args:
        text: the text to type.
        interval_ms: pause between keystrokes, in milliseconds (for applications that drop keys).
    """
    pyautogui = _pyautogui()
    untypable = sorted({char for char in text if not pyautogui.isValidKey(char)})
    if untypable:
        raise ValueError(f"cannot type {''.join(untypable)!r} with this keyboard layout; nothing was typed")
    _run("write", text, interval=interval_ms / 1000)
    return f"Typed {len(text)} characters."


@tool(risk="control")
def press_keys(keys: Annotated[list[Annotated[str, MaxLen(20)]], MinLen(1), MaxLen(5)]) -> str:
    """Press keys together, like a keyboard shortcut: ["ctrl", "s"] saves in most applications.

    Args:
        keys: key names held down in order and released in reverse, e.g. ["ctrl", "shift", "t"].
    """
    pyautogui = _pyautogui()
    names = [key.lower() for key in keys]
    for name in names:
        if name not in pyautogui.KEYBOARD_KEYS:
            raise ValueError(f"unknown key {name!r}; use key names like {KEY_EXAMPLES}")
        if not pyautogui.isValidKey(name):
            raise ValueError(f"the key {name!r} cannot be pressed on this system")
    _run("hotkey", *names)
    return f"Pressed {'+'.join(names)}."


@tool(risk="control")
def click(x: Coordinate, y: Coordinate, button: Literal["left", "right", "middle"] = "left",
          clicks: Annotated[int, Range(1, 3)] = 1) -> str:
    """Click the mouse at a point of the screen, in pixels from its top-left corner.

    Args:
        x: pixels from the left edge.
        y: pixels from the top edge.
        button: which mouse button.
        clicks: 1 for a click, 2 for a double click, 3 for a triple click.
    """
    _on_screen(x, y)
    _run("click", x, y, clicks=clicks, button=button)
    return f"{CLICKED[clicks]} the {button} button at ({x}, {y})."


@tool(risk="control")
def move_mouse(x: Coordinate, y: Coordinate) -> str:
    """Move the mouse pointer to a point of the screen, in pixels from its top-left corner.

    Args:
        x: pixels from the left edge.
        y: pixels from the top edge.
    """
    _on_screen(x, y)
    _run("moveTo", x, y)
    return f"Moved the mouse pointer to ({x}, {y})."


@tool(risk="read", untrusted_output=True)
def active_window() -> str:
    """Tell the title of the window that has the keyboard focus."""
    if sys.platform == "win32":
        title = _pyautogui().getActiveWindowTitle()
    elif sys.platform == "darwin":
        raise RuntimeError("the active window's title is not available on macOS")
    else:
        _check_display()
        title = _x11_active_title()
    return f"Active window: {title}" if title else "No window is active."


@functools.cache
def _x11_connection() -> Any:  # -> Xlib.display.Display, opened once like pyautogui's own
    from Xlib.display import Display

    with _quiet_library_leaks():
        try:
            return Display()
        except Exception as exc:  # python-xlib fails in many ways without a usable display
            problem = _reason(exc)
    raise DisplayUnavailable(f"cannot use the display: {problem}")


def _x11_active_title() -> str | None:
    """The title of the window manager's active window (else of the focused window), on X11."""
    from Xlib import X, error

    display = _x11_connection()
    root = display.screen().root
    try:
        active = root.get_full_property(display.intern_atom("_NET_ACTIVE_WINDOW"), X.AnyPropertyType)
        if active is not None and active.value and active.value[0]:
            window = display.create_resource_object("window", active.value[0])
        else:
            window = display.get_input_focus().focus
        return _x11_title(display, window, root.id)
    except error.XError:  # the window closed while being asked
        return None


def _x11_title(display: Any, window: Any, root_id: int) -> str | None:
    """The title of ``window`` or of its nearest titled ancestor below the root."""
    utf8_name, utf8 = display.intern_atom("_NET_WM_NAME"), display.intern_atom("UTF8_STRING")
    while not isinstance(window, int) and window.id != root_id:  # focus may be None or PointerRoot
        name = window.get_full_property(utf8_name, utf8)
        if name is not None and name.value:
            return _text(name.value)
        legacy = window.get_wm_name()
        if legacy:
            return _text(legacy)
        window = window.query_tree().parent
    return None


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
