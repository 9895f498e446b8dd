"""The question the permission gate asks: what will happen, with the exact arguments, and why.

It shows what the call really acts on (a path and where its symlink leads, the application's
entry, the processes with their start times, the link's real host) and the exact standing rule
"Always allow here" would grant.

Allow once (Alt+O), Always allow here (Alt+A, offered only where the policy may grant a rule)
and Deny (Alt+D, Escape, and the default button: Enter never allows by accident).
"""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

RISK_WORDS = {
    "read": "reads files or the system",
    "write": "changes files (it can be undone)",
    "destructive": "deletes or overwrites (moved to the trash, so it can be undone)",
    "control": "moves the mouse or types on the keyboard",
    "launch": "starts a program",
}


class ConfirmDialog(QDialog):
    answered = Signal(str)
    """"once", "always" or "deny"."""

    def __init__(self, request: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.request = request
        self.setWindowTitle("Allow this action? — Pagemind")
        self.setWindowFlag(Qt.WindowType.WindowStaysOnTopHint, parent is None)
        self.setMinimumWidth(480)
        box = QVBoxLayout(self)
        what = QLabel(f"Pagemind wants to {request.description}.")
        what.setWordWrap(True)
        what.setTextFormat(Qt.TextFormat.PlainText)
        what.setStyleSheet("font-size: 14px; font-weight: 600;")
        risk = QLabel(f"Risk: {request.risk}, {RISK_WORDS.get(request.risk, '')}")
        risk.setStyleSheet("color: #b45309;" if request.risk in ("destructive", "control") else "")
        why = QLabel(f"Asking because {request.reason}.")
        why.setWordWrap(True)
        why.setTextFormat(Qt.TextFormat.PlainText)
        self.details = QLabel("\n".join(request.details()))
        self.details.setWordWrap(True)
        self.details.setTextFormat(Qt.TextFormat.PlainText)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details.setVisible(bool(request.details()))
        self.arguments = QPlainTextEdit(json.dumps({"tool": request.tool, "args": request.args},
                                                   ensure_ascii=False, indent=2))
        self.arguments.setReadOnly(True)
        self.arguments.setMaximumHeight(160)
        self.arguments.setStyleSheet("font-family: monospace;")
        buttons = QDialogButtonBox()
        self.allow_button = QPushButton("Allow &once")
        self.always_button = QPushButton("&Always allow here")
        if request.rule:
            self.always_button.setToolTip(f"Grants the standing rule: {request.rule}")
        self.deny_button = QPushButton("&Deny")
        for button, role in ((self.allow_button, QDialogButtonBox.ButtonRole.AcceptRole),
                             (self.always_button, QDialogButtonBox.ButtonRole.AcceptRole),
                             (self.deny_button, QDialogButtonBox.ButtonRole.RejectRole)):
            buttons.addButton(button, role)
        self.always_button.setVisible(request.can_always)  # after addButton, which shows it
        self.allow_button.setAutoDefault(False)
        self.always_button.setAutoDefault(False)
        self.deny_button.setDefault(True)
        self.allow_button.clicked.connect(lambda: self._finish("once"))
        self.always_button.clicked.connect(lambda: self._finish("always"))
        self.deny_button.clicked.connect(lambda: self._finish("deny"))
        for widget in (what, risk, why, self.details, self.arguments, buttons):
            box.addWidget(widget)
        self.answer: str | None = None
        self.deny_button.setFocus()

    def _finish(self, answer: str) -> None:
        if self.answer is None:
            self.answer = answer
            self.answered.emit(answer)
        self.done(QDialog.DialogCode.Accepted if answer != "deny" else QDialog.DialogCode.Rejected)

    def reject(self) -> None:  # Escape, the window's close button
        if self.answer is None:
            self._finish("deny")
        else:
            super().reject()
