"""The message box: Enter sends, Shift+Enter breaks the line, Up and Down walk the history."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent, QTextCursor
from PySide6.QtWidgets import QPlainTextEdit, QWidget

MAX_HISTORY = 200


class ChatInput(QPlainTextEdit):
    submitted = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setPlaceholderText("Ask Pagemind to do something… (Enter sends, Shift+Enter for a new line)")
        self.setTabChangesFocus(True)
        self.history: list[str] = []
        self._position = 0
        """Where Up/Down are in the history; len(history) is the text being written."""
        self._draft = ""
        self.setFixedHeight(self.fontMetrics().lineSpacing() * 3 + 16)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt's name
        key, mods = event.key(), event.modifiers()
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not mods & Qt.KeyboardModifier.ShiftModifier:
            self.submit()
            return
        cursor = self.textCursor()
        if key == Qt.Key.Key_Up and not mods and cursor.blockNumber() == 0 and self.history:
            self._walk(-1)
            return
        if key == Qt.Key.Key_Down and not mods and cursor.blockNumber() == self.blockCount() - 1 \
                and self._position < len(self.history):
            self._walk(1)
            return
        super().keyPressEvent(event)

    def submit(self) -> None:
        text = self.toPlainText().strip()
        if not text:
            return
        if not self.history or self.history[-1] != text:
            self.history = [*self.history, text][-MAX_HISTORY:]
        self._position = len(self.history)
        self._draft = ""
        self.clear()
        self.submitted.emit(text)

    def _walk(self, delta: int) -> None:
        if self._position == len(self.history):
            self._draft = self.toPlainText()
        self._position = max(0, min(len(self.history), self._position + delta))
        text = self.history[self._position] if self._position < len(self.history) else self._draft
        self.setPlainText(text)
        self.moveCursor(QTextCursor.MoveOperation.End)
