"""The conversation as a column of cards: the user's words, the assistant's steps, its reply.

Steps arrive as the kernel reports them (:class:`app.kernel.events.Step`): the reply streams in
as it is generated, a thought is shown collapsed, a tool call is a card with its arguments and,
once it ran, its result (and an Undo button when the journal can undo it). Text from the model
and from tools is untrusted: it is escaped by the Markdown renderer or shown as plain text.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.gui.markdown import to_html

MAX_RESULT_CHARS = 4000
"""A tool result longer than this is cut in its card (the model saw it whole)."""

_CARD = "QFrame#{name} {{ background: {bg}; border: 1px solid {border}; border-radius: 8px; }}"
_STYLES = {
    "user": _CARD.format(name="user", bg="#dbeafe", border="#bfdbfe"),
    "reply": _CARD.format(name="reply", bg="#ffffff", border="#e5e7eb"),
    "tool": _CARD.format(name="tool", bg="#f8fafc", border="#cbd5e1"),
    "error": _CARD.format(name="error", bg="#fef2f2", border="#fecaca"),
    "note": _CARD.format(name="note", bg="#f5f5f4", border="#e7e5e4"),
}


def _label(text: str = "", rich: bool = False) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.RichText if rich else Qt.TextFormat.PlainText)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction if rich
                                  else Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setOpenExternalLinks(rich)
    label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
    return label


class Card(QFrame):
    def __init__(self, kind: str, title: str = "") -> None:
        super().__init__()
        self.setObjectName(kind)
        self.setStyleSheet(_STYLES[kind])
        self.box = QVBoxLayout(self)
        self.box.setContentsMargins(10, 6, 10, 6)
        self.box.setSpacing(4)
        if title:
            heading = _label(title)
            heading.setStyleSheet("color: #475569; font-weight: 600;")
            self.box.addWidget(heading)


class ReplyCard(Card):
    """The assistant's reply, rendered as Markdown, re-rendered at most every 50 ms while streaming."""

    def __init__(self) -> None:
        super().__init__("reply")
        self.text = ""
        self.body = _label(rich=True)
        self.box.addWidget(self.body)
        self._timer = QTimer(self, singleShot=True, interval=50)
        self._timer.timeout.connect(self.render)

    def append(self, text: str) -> None:
        self.text += text
        if not self._timer.isActive():
            self._timer.start()

    def set_text(self, text: str) -> None:
        self.text = text
        self._timer.stop()
        self.render()

    def render(self) -> None:
        self.body.setText(to_html(self.text))


class ThoughtCard(Card):
    """The model's reasoning for a step, collapsed behind a toggle."""

    def __init__(self, text: str) -> None:
        super().__init__("note")
        self.toggle = QToolButton(text="Thought", checkable=True)
        self.toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle.setAutoRaise(True)
        self.body = _label(text)
        self.body.setVisible(False)
        self.toggle.toggled.connect(self._show)
        self.box.addWidget(self.toggle)
        self.box.addWidget(self.body)

    def _show(self, shown: bool) -> None:
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
        self.body.setVisible(shown)


class ToolCard(Card):
    """One tool call: its name and arguments, then its result, and Undo where it can be undone."""

    undo_requested = Signal(int)

    def __init__(self, tool: str, args: dict[str, Any]) -> None:
        super().__init__("tool")
        self.tool = tool
        shown = {k: v for k, v in args.items() if k != "request_heartbeat"}
        self.call = _label(f"{tool}({json.dumps(shown, ensure_ascii=False)})")
        self.call.setStyleSheet("font-family: monospace; color: #0f172a;")
        self.status = _label("running…")
        self.status.setStyleSheet("color: #64748b;")
        self.result = _label()
        self.result.setStyleSheet("font-family: monospace;")
        self.result.setVisible(False)
        self.undo_button = QPushButton("Undo")
        self.undo_button.setVisible(False)
        self.journal_id: int | None = None
        self.undo_button.clicked.connect(lambda: self.undo_requested.emit(self.journal_id or 0))
        row = QHBoxLayout()
        row.addWidget(self.status, 1)
        row.addWidget(self.undo_button)
        self.box.addWidget(self.call)
        self.box.addLayout(row)
        self.box.addWidget(self.result)

    def asking(self, reason: str) -> None:
        self.status.setText(f"waiting for your permission: {reason}")
        self.status.setStyleSheet("color: #b45309;")

    def finish(self, result: str, journal_id: int | None, undoable: bool) -> None:
        failed = result.startswith(("Error:", "Denied:", "The user declined"))
        self.status.setText("failed" if failed else "done")
        self.status.setStyleSheet(f"color: {'#b91c1c' if failed else '#15803d'};")
        cut = result if len(result) <= MAX_RESULT_CHARS else result[:MAX_RESULT_CHARS] + "\n…"
        self.result.setText(cut)
        self.result.setVisible(True)
        self.journal_id = journal_id
        self.undo_button.setVisible(undoable and journal_id is not None)

    def undone(self, message: str) -> None:
        self.undo_button.setVisible(False)
        self.status.setText(f"undone: {message}")
        self.status.setStyleSheet("color: #475569;")


class ChatView(QScrollArea):
    """A scrolling column of cards, kept at the bottom while the user has not scrolled up."""

    undo_requested = Signal(int, object)
    """(journal id, the ToolCard to update)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        inner = QWidget()
        self.column = QVBoxLayout(inner)
        self.column.setContentsMargins(12, 12, 12, 12)
        self.column.setSpacing(8)
        self.column.addStretch(1)
        self.setWidget(inner)
        self.cards: list[QWidget] = []
        self._rows: list[QWidget] = []
        self.check_undo: Callable[[int, Callable[[bool], None]], None] | None = None
        """Asks whether a journal entry can be undone; the answer comes back later (set by the window)."""
        self.reply: ReplyCard | None = None
        self.tool: ToolCard | None = None
        self._last_result: str | None = None
        self._follow = True
        bar = self.verticalScrollBar()
        bar.valueChanged.connect(lambda value: setattr(self, "_follow", value >= bar.maximum() - 4))
        bar.rangeChanged.connect(lambda _lo, hi: self._follow and bar.setValue(hi))

    def _add(self, card: QWidget, align_right: bool = False) -> QWidget:
        holder = card
        if align_right:
            holder = QWidget()
            row = QHBoxLayout(holder)
            row.setContentsMargins(60, 0, 0, 0)
            row.addWidget(card)
        self.column.insertWidget(self.column.count() - 1, holder)
        self._rows.append(holder)
        self.cards.append(card)
        return card

    # -- what the window calls ---------------------------------------------------------------------
    def add_request(self, kind: str, text: str) -> None:
        """A turn started: the user's words (or the system event) as its own card."""
        self.reply, self.tool, self._last_result = None, None, None
        if kind == "system":
            note = Card("note")
            note.box.addWidget(_label(f"event: {text}"))
            self._add(note)
            return
        card = Card("user", "quick command" if kind == "quick" else "")
        card.box.addWidget(_label(text))
        self._add(card, align_right=True)

    def add_error(self, text: str) -> None:
        card = Card("error")
        body = _label(text)
        body.setStyleSheet("color: #991b1b;")
        card.box.addWidget(body)
        self._add(card)

    def show_step(self, step: Any) -> None:
        """Render one :class:`~app.kernel.events.Step`."""
        kind = step.kind
        if kind == "delta":
            if step.channel == "reply":
                if self.reply is None:
                    self.reply = self._add(ReplyCard())  # type: ignore[assignment]
                self.reply.append(step.text)
        elif kind == "thought":
            self._add(ThoughtCard(step.text))
        elif kind == "tool_call" and step.tool != "send_message":
            self.tool = self._add(ToolCard(step.tool or "", step.args or {}))  # type: ignore[assignment]
            self.tool.undo_requested.connect(lambda entry, card=self.tool: self.undo_requested.emit(entry, card))
        elif kind == "confirm" and self.tool is not None:
            self.tool.asking(step.text)
        elif kind == "tool_result" and self.tool is not None:
            self._last_result = step.text
            card, self.tool = self.tool, None
            card.finish(step.text, step.journal_id, False)
            if step.journal_id is not None and self.check_undo is not None:
                self.check_undo(step.journal_id, card.undo_button.setVisible)
        elif kind == "reply":
            if self.reply is None and step.text == self._last_result:
                return  # a quick command's reply is its result, already in its card
            if self.reply is None:
                self.reply = self._add(ReplyCard())  # type: ignore[assignment]
            self.reply.set_text(step.text)
            self.reply = None
        elif kind == "error" and step.text != self._last_result:  # a failed call's error is in its card
            self.add_error(step.text)
        elif kind == "memory":
            note = Card("note")
            note.box.addWidget(_label(f"memory: {step.text}"))
            self._add(note)

    def clear(self) -> None:
        for row in self._rows:
            row.deleteLater()
        self._rows.clear()
        self.cards.clear()
        self.reply, self.tool = None, None
