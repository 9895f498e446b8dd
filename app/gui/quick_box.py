"""The quick-command box: a small always-on-top line; Enter runs the request, Escape closes it."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QLabel, QLineEdit, QVBoxLayout, QWidget


class QuickBox(QWidget):
    submitted = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Tool | Qt.WindowType.WindowStaysOnTopHint)
        self.setWindowTitle("Pagemind quick command")
        self.setMinimumWidth(520)
        box = QVBoxLayout(self)
        self.line = QLineEdit()
        self.line.setPlaceholderText("Ask Pagemind… (Enter runs it, Esc closes)")
        self.line.setStyleSheet("font-size: 16px; padding: 6px;")
        self.hint = QLabel("The result shows as a notification.")
        self.hint.setStyleSheet("color: #64748b;")
        box.addWidget(self.line)
        box.addWidget(self.hint)
        self.line.returnPressed.connect(self._submit)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt's name
        if event.key() == Qt.Key.Key_Escape:
            self.hide()
            return
        super().keyPressEvent(event)

    def _submit(self) -> None:
        text = self.line.text().strip()
        if not text:
            return
        self.line.clear()
        self.hide()
        self.submitted.emit(text)

    def open(self) -> None:
        screen = self.screen().availableGeometry()
        self.adjustSize()
        self.move(screen.center().x() - self.width() // 2, screen.top() + screen.height() // 4)
        self.show()
        self.raise_()
        self.activateWindow()
        self.line.setFocus()
