"""The main window with a scripted model: streaming, confirmations, undo, the input's keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QLabel

from app.gui.app import DesktopApp
from app.gui.chat_view import ChatView, ReplyCard, ToolCard
from app.gui.main_window import context_colour
from app.kernel.events import Step
from tests.gui.conftest import reply, write


def _app(qtbot: Any, bridge: Any, tray: bool = False) -> DesktopApp:
    desktop = DesktopApp(bridge, tray=tray, first_run=False)
    qtbot.addWidget(desktop.window)
    desktop.window.show()
    return desktop


def _asking(qtbot: Any, bridge: Any, request: str) -> DesktopApp:
    """The app, once ``request`` has made the model ask for permission (its dialog is open)."""
    desktop = _app(qtbot, bridge)
    desktop.window.send(request)
    qtbot.waitUntil(lambda: desktop.dialog is not None, timeout=20_000)
    return desktop


def _cards(view: ChatView, kind: type) -> list[Any]:
    return [card for card in view.cards if isinstance(card, kind)]


def test_the_reply_streams_into_one_card(qtbot: Any) -> None:
    view = ChatView()
    qtbot.addWidget(view)
    view.add_request("user", "hi")
    for piece in ("**Hel", "lo** the", "re"):
        view.show_step(Step("delta", text=piece, channel="reply"))
    card = _cards(view, ReplyCard)[0]
    assert card.text == "**Hello** there"
    qtbot.waitUntil(lambda: "<b>Hello</b>" in card.body.text() or "<strong>Hello</strong>" in card.body.text())
    view.show_step(Step("reply", text="**Hello** there!"))
    assert len(_cards(view, ReplyCard)) == 1 and card.text == "**Hello** there!"


def test_a_turn_through_the_bridge_shows_the_reply_and_the_context(qtbot: Any, make_bridge: Any) -> None:
    bridge = make_bridge([reply("Here is `code` and a list:\n\n- one\n- two")])
    desktop = _app(qtbot, bridge)
    window = desktop.window
    qtbot.keyClicks(window.input, "show me")
    with qtbot.waitSignal(bridge.turn_finished, timeout=20_000):
        QTest.keyClick(window.input, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: bool(_cards(window.chat, ReplyCard)) and "<li>" in _cards(window.chat, ReplyCard)[0].body.text())
    user_card = window.chat.cards[0]
    assert user_card.objectName() == "user" and any(label.text() == "show me" for label in user_card.findChildren(QLabel))
    qtbot.waitUntil(lambda: window.context_bar.value() > 0, timeout=10_000)
    assert window.context_bar.maximum() > window.context_bar.value()
    assert window.input.toPlainText() == ""


def test_confirm_allow_then_undo_from_the_card(qtbot: Any, make_bridge: Any, work: Path) -> None:
    target = work / "note.txt"
    bridge = make_bridge([write(target, "hello"), reply("Saved.")])
    desktop = _asking(qtbot, bridge, "save a note")
    dialog = desktop.dialog
    assert "write_file" in dialog.arguments.toPlainText() and str(target) in dialog.arguments.toPlainText()
    assert dialog.deny_button.isDefault() and dialog.always_button.isVisible()
    assert not target.exists()
    with qtbot.waitSignal(bridge.turn_finished, timeout=20_000):
        dialog.allow_button.click()
    assert target.read_text() == "hello"
    card = _cards(desktop.window.chat, ToolCard)[0]
    qtbot.waitUntil(lambda: not card.undo_button.isHidden(), timeout=10_000)
    card.undo_button.click()
    qtbot.waitUntil(lambda: "undone" in card.status.text(), timeout=10_000)
    assert not target.exists() and card.undo_button.isHidden()


def test_escape_denies_and_the_model_hears_it(qtbot: Any, make_bridge: Any, work: Path) -> None:
    target = work / "other.txt"
    bridge = make_bridge([write(target, "x"), reply("I did not write it.")])
    desktop = _asking(qtbot, bridge, "write it")
    with qtbot.waitSignal(bridge.turn_finished, timeout=20_000) as finished:
        QTest.keyClick(desktop.dialog, Qt.Key.Key_Escape)
    assert finished.args[1].reply == "I did not write it."
    assert not target.exists()
    card = _cards(desktop.window.chat, ToolCard)[0]
    assert "declined" in card.result.text()


def test_stop_cancels_a_turn_waiting_for_permission(qtbot: Any, make_bridge: Any, work: Path) -> None:
    bridge = make_bridge([write(work / "x.txt", "x"), reply("never")])
    desktop = _asking(qtbot, bridge, "write it")
    assert desktop.window.stop_button.isEnabled()
    with qtbot.waitSignal(bridge.turn_finished, timeout=20_000) as finished:
        desktop.window.stop_button.click()
    assert finished.args[1].stop == "cancelled"
    assert not (work / "x.txt").exists()
    qtbot.waitUntil(lambda: not desktop.window.stop_button.isEnabled())


def test_input_keys_history_and_line_breaks(qtbot: Any, make_bridge: Any) -> None:
    bridge = make_bridge([reply("one"), reply("two")])
    desktop = _app(qtbot, bridge)
    box = desktop.window.input
    qtbot.keyClicks(box, "first line")
    QTest.keyClick(box, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClicks(box, "second line")
    assert box.toPlainText() == "first line\nsecond line"
    with qtbot.waitSignal(bridge.turn_finished, timeout=20_000):
        QTest.keyClick(box, Qt.Key.Key_Return)
    qtbot.keyClicks(box, "draft")
    QTest.keyClick(box, Qt.Key.Key_Up)
    assert box.toPlainText() == "first line\nsecond line"
    QTest.keyClick(box, Qt.Key.Key_Down)
    assert box.toPlainText() == "draft"


def test_no_model_banner_and_quick_commands(qtbot: Any, make_bridge: Any, work: Path) -> None:
    (work / "alpha.txt").write_text("a")
    bridge = make_bridge(model=False)
    desktop = _app(qtbot, bridge)
    window = desktop.window
    qtbot.waitUntil(lambda: "No chat model" in window.banner.text())
    assert window.banner.isVisible() and window.choose_model_button.isVisible()
    with qtbot.waitSignal(bridge.turn_finished, timeout=20_000):
        window.send(f"list {work}")
    card = _cards(window.chat, ToolCard)[0]
    assert card.tool == "list_dir" and "alpha.txt" in card.result.text()


def test_context_colour_warns_from_seventy_percent() -> None:
    assert context_colour(10, 100) == "#16a34a"
    assert context_colour(70, 100) == "#d97706"
    assert context_colour(95, 100) == "#dc2626"


def test_a_refused_quick_command_shows_its_reason_once(qtbot: Any, make_bridge: Any) -> None:
    bridge = make_bridge(model=False)
    desktop = _app(qtbot, bridge)
    with qtbot.waitSignal(bridge.turn_finished, timeout=20_000):
        desktop.window.send("list /etc")
    card = _cards(desktop.window.chat, ToolCard)[0]
    assert card.result.text() == "Denied: /etc is in a system folder."
    assert len(desktop.window.chat.cards) == 2  # the request and the refused call, no second error card
