"""The system-tray icon: its colour shows the state, its menu holds the quick commands."""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QColor, QIcon, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

STATE_COLOURS = {"starting": "#94a3b8", "idle": "#16a34a", "thinking": "#2563eb", "confirm": "#ea580c"}
STATE_WORDS = {"starting": "starting", "idle": "idle", "thinking": "thinking",
               "confirm": "waiting for your permission"}


def state_icon(state: str, size: int = 64) -> QIcon:
    """A page with a coloured dot: grey starting, green idle, blue thinking, orange asking."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    line = max(1.0, size / 40)  # strokes keep their weight at launcher sizes
    painter.setPen(QPen(QColor("#334155"), line))
    painter.setBrush(QColor("#f8fafc"))
    painter.drawRoundedRect(size * 0.14, size * 0.06, size * 0.62, size * 0.8, size * 0.08, size * 0.08)
    painter.setPen(QPen(QColor("#64748b"), line))
    for row in range(3):
        y = size * (0.26 + row * 0.14)
        painter.drawLine(int(size * 0.24), int(y), int(size * 0.62), int(y))
    painter.setPen(QPen(QColor("#ffffff"), line))
    painter.setBrush(QColor(STATE_COLOURS.get(state, STATE_COLOURS["idle"])))
    painter.drawEllipse(int(size * 0.5), int(size * 0.5), int(size * 0.46), int(size * 0.46))
    painter.end()
    return QIcon(pixmap)


class Tray(QObject):
    show_requested = Signal()
    quick_requested = Signal()
    command_chosen = Signal(str)
    quit_requested = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.icon = QSystemTrayIcon(state_icon("starting"), self)
        self.icon.setToolTip("Pagemind: starting")
        self.state = "starting"
        self.menu = QMenu()
        self.pinned: list[str] = []
        self.recent: list[str] = []
        self.rebuild()
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._activated)

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (QSystemTrayIcon.ActivationReason.Trigger, QSystemTrayIcon.ActivationReason.DoubleClick):
            self.show_requested.emit()

    def set_commands(self, pinned: list[str], recent: list[str]) -> None:
        self.pinned = list(pinned)
        self.recent = [c for c in recent if c not in pinned]
        self.rebuild()

    def rebuild(self) -> None:
        menu = self.menu
        menu.clear()
        self.actions: dict[str, QAction] = {}

        def add(text: str, slot: object) -> QAction:
            item = menu.addAction(text)
            item.triggered.connect(slot)
            self.actions[text] = item
            return item

        add("Show Pagemind", self.show_requested)
        add("Quick command…", self.quick_requested)
        for title, commands in (("Pinned", self.pinned), ("Recent", self.recent)):
            if commands:
                menu.addSection(title)
                for command in commands:
                    add(command, lambda _checked=False, c=command: self.command_chosen.emit(c))
        menu.addSeparator()
        add("Quit Pagemind", self.quit_requested)

    def set_state(self, state: str) -> None:
        self.state = state
        self.icon.setIcon(state_icon(state))
        self.icon.setToolTip(f"Pagemind: {STATE_WORDS.get(state, state)}")

    def notify(self, title: str, text: str, error: bool = False) -> None:
        kind = QSystemTrayIcon.MessageIcon.Warning if error else QSystemTrayIcon.MessageIcon.Information
        self.icon.showMessage(title, text[:400], kind, 8000)
