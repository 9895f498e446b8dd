"""The conversation as a column of cards: the user's words, the assistant's steps, its reply.

Steps arrive as the kernel reports them (:class:`app.kernel.events.Step`): the reply streams in
as it is generated, a thought is shown collapsed, a tool call is a card with its arguments and,
once it ran, its result (and an Undo button when the journal can undo it). Text from the model
and from tools is untrusted: it is escaped by the Markdown renderer or shown as plain text.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

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
from app.kernel.events import Step, StepKind

CardT = TypeVar("CardT", bound=QWidget)

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

    def finish(self, result: str, ok: bool, journal_id: int | None, undoable: bool) -> None:
        failed = not ok
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
        """Asks whether a journal entry can be undone; the answer comes back later (set by the window)."""
        self.reply: ReplyCard | None = None
        self.tool: ToolCard | None = None
        self._follow = True
        bar = self.verticalScrollBar()
        bar.valueChanged.connect(lambda value: setattr(self, "_follow", value >= bar.maximum() - 4))
        bar.rangeChanged.connect(lambda _lo, hi: self._follow and bar.setValue(hi))

    def _add(self, card: CardT, align_right: bool = False) -> CardT:
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
        self.reply, self.tool = None, None
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

    def show_step(self, step: Step) -> None:
        """Render one :class:`~app.kernel.events.Step`: every kind is handled here."""
        match step.kind:
            case StepKind.DELTA:
                if step.channel == "reply":
                    if self.reply is None:
                        self.reply = self._add(ReplyCard())
                    self.reply.append(step.text)
            case StepKind.THOUGHT:
                self._add(ThoughtCard(step.text))
            case StepKind.TOOL_CALL if step.tool != "send_message":
                card = ToolCard(step.tool or "", step.args or {})
                card.undo_requested.connect(lambda entry, card=card: self.undo_requested.emit(entry, card))
                self.tool = self._add(card)
            case StepKind.TOOL_RESULT if self.tool is not None:
                card, self.tool = self.tool, None
                card.finish(step.text, bool(step.ok), step.journal_id, step.undoable)
            case StepKind.REPLY:
                if self.reply is None:
                    self.reply = self._add(ReplyCard())
                self.reply.set_text(step.text)
                self.reply = None
            case StepKind.ERROR:
                self.add_error(step.text)
            case StepKind.MEMORY:
                note = Card("note")
                note.box.addWidget(_label(f"memory: {step.text}"))
                self._add(note)

    def asking(self, request: Any) -> None:
        """The confirmation for the call in flight is shown: its card says it waits."""
        if self.tool is not None:
            self.tool.asking(request.reason)

    def clear(self) -> None:
        for row in self._rows:
            row.deleteLater()
        self._rows.clear()
        self.cards.clear()
        self.reply, self.tool = None, None
