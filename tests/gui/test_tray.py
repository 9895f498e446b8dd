"""The tray's menu and icon, the quick-command box, closing to the tray, and single instance."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from app import settings
from app.cli import handoff
from app.gui.app import DesktopApp
from tests.gui.conftest import reply


@pytest.fixture
def make_app(qtbot: Any) -> Iterator[Callable[[Any], DesktopApp]]:
    made: list[DesktopApp] = []

    def make(bridge: Any) -> DesktopApp:
        desktop = DesktopApp(bridge, tray=True, first_run=False)
        made.append(desktop)
        desktop.start()
        return desktop

    yield make
    for desktop in made:
        desktop.shutdown()
        desktop.window.deleteLater()
        desktop.quick_box.deleteLater()


def test_quick_box_runs_a_command_and_notifies(qtbot: Any, make_bridge: Any, make_app: Any, work: Path) -> None:
    (work / "report.txt").write_text("r")
    desktop = make_app(make_bridge(model=False))
    desktop.tray.actions["Quick command…"].trigger()
    box = desktop.quick_box
    assert box.isVisible() and box.windowFlags() & Qt.WindowType.WindowStaysOnTopHint
    qtbot.keyClicks(box.line, f"list {work}")
    with qtbot.waitSignal(desktop.notified, timeout=20_000) as shown:
        QTest.keyClick(box.line, Qt.Key.Key_Return)
    assert not box.isVisible()
    assert "report.txt" in shown.args[1]
    assert settings.load().recent_commands[0] == f"list {work}"
    qtbot.waitUntil(lambda: f"list {work}" in desktop.tray.actions)


def test_escape_closes_the_quick_box(qtbot: Any, make_bridge: Any, make_app: Any) -> None:
    desktop = make_app(make_bridge(model=False))
    desktop.quick_box.open()
    QTest.keyClick(desktop.quick_box.line, Qt.Key.Key_Escape)
    assert not desktop.quick_box.isVisible()


def test_pinned_commands_run_from_the_menu(qtbot: Any, make_bridge: Any, make_app: Any) -> None:
    conf = settings.load()
    conf.pinned_commands = ["show disk usage"]
    conf.allowed_roots = [*conf.allowed_roots, "~"]  # it reads the home folder's disk
    settings.save(conf)
    desktop = make_app(make_bridge(model=False))
    assert "show disk usage" in desktop.tray.actions
    with qtbot.waitSignal(desktop.notified, timeout=20_000) as shown:
        desktop.tray.actions["show disk usage"].trigger()
    assert "%" in shown.args[1] or "free" in shown.args[1].lower()


def test_icon_follows_the_state(qtbot: Any, make_bridge: Any, make_app: Any) -> None:
    bridge = make_bridge([reply("hi")])
    desktop = make_app(bridge)
    states: list[str] = []
    bridge.state_changed.connect(states.append)
    with qtbot.waitSignal(bridge.turn_finished, timeout=20_000):
        bridge.send("hello")
    assert states[:1] == ["thinking"] and states[-1] == "idle"
    assert desktop.tray.icon.toolTip() == "Pagemind: idle"
    desktop.tray.set_state("confirm")
    assert "permission" in desktop.tray.icon.toolTip()


def test_closing_the_window_keeps_pagemind_in_the_tray_and_quit_quits(qtbot: Any, make_bridge: Any, make_app: Any) -> None:
    bridge = make_bridge(model=False)
    desktop = make_app(bridge)
    desktop.window.close()
    assert not desktop.window.isVisible() and not bridge._closed
    desktop.tray.actions["Show Pagemind"].trigger()
    assert desktop.window.isVisible()
    with qtbot.waitSignal(desktop.quitting):
        desktop.tray.actions["Quit Pagemind"].trigger()
    assert bridge._closed and bridge.host.memory is None


def test_a_second_launch_and_ask_are_handed_to_the_running_app(qtbot: Any, make_bridge: Any, make_app: Any, work: Path) -> None:
    (work / "seen.txt").write_text("s")
    desktop = make_app(make_bridge(model=False))
    desktop.window.hide()
    results: dict[str, Any] = {}

    def client() -> None:
        results["show"] = handoff.send({"op": "show"})
        lines: list[dict[str, Any]] = []
        results["ask"] = handoff.send({"op": "ask", "text": f"list {work}"}, lines.append)
        results["lines"] = lines

    thread = threading.Thread(target=client)
    thread.start()
    qtbot.waitUntil(lambda: not thread.is_alive(), timeout=20_000)
    assert results["show"] == {"kind": "shown"}
    assert desktop.window.isVisible()
    assert results["ask"]["kind"] == "done" and results["ask"]["stop"] == "done"
    assert any(line.get("kind") == "tool_result" and "seen.txt" in line["text"] for line in results["lines"])
    assert handoff.running()
    desktop.quit()
    assert not handoff.running() and handoff.send({"op": "show"}) is None
