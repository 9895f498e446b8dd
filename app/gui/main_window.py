"""The main window: the conversation, the message box with Send and Stop, and a status bar
with the model, the context in use and document indexing."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.gui.bridge import Bridge
from app.gui.chat_input import ChatInput
from app.gui.chat_view import ChatView

WARN_AT = 0.70
"""Context use from this fraction of the budget on is shown in orange (the model is warned too)."""
FULL_AT = 0.90


def context_colour(used: int, budget: int) -> str:
    share = used / budget if budget else 0.0
    return "#dc2626" if share >= FULL_AT else "#d97706" if share >= WARN_AT else "#16a34a"


class MainWindow(QMainWindow):
    quick_requested = Signal()
    settings_requested = Signal()
    inspector_requested = Signal()
    quit_requested = Signal()
    hidden_to_tray = Signal()

    def __init__(self, bridge: Bridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.keep_in_tray = False
        """Closing hides the window instead of quitting (set when a tray icon is shown)."""
        self.setWindowTitle("Pagemind")
        self.resize(820, 680)
        self._build()
        self._menus()
        self._connect()
        self.busy = False
        self._set_busy(False)
        label, status = bridge.model_status
        self.show_model(label or "the chat model", status)

    # -- layout --------------------------------------------------------------------------------
    def _build(self) -> None:
        central = QWidget()
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 6)
        self.banner = QLabel("Starting…")
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet("background: #fef9c3; color: #713f12; padding: 8px;")
        self.choose_model_button = QPushButton("Choose a model…")
        self.choose_model_button.clicked.connect(self.settings_requested)
        banner_row = QHBoxLayout()
        banner_row.addWidget(self.banner, 1)
        banner_row.addWidget(self.choose_model_button)
        self.chat = ChatView()
        self.input = ChatInput()
        self.send_button = QPushButton("Send")
        self.send_button.setToolTip("Send (Enter)")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop the request in flight (Esc)")
        input_row = QHBoxLayout()
        input_row.setContentsMargins(8, 0, 8, 0)
        input_row.addWidget(self.input, 1)
        buttons = QVBoxLayout()
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.stop_button)
        input_row.addLayout(buttons)
        column.addLayout(banner_row)
        column.addWidget(self.chat, 1)
        column.addLayout(input_row)
        self.setCentralWidget(central)

        self.model_label = QLabel("model: loading…")
        self.context_bar = QProgressBar()
        self.context_bar.setMaximumWidth(220)
        self.context_bar.setFormat("context %v / %m")
        self.context_bar.setMinimumWidth(200)
        self.context_bar.setVisible(False)
        self.ingest_label = QLabel("")
        self.ingest_bar = QProgressBar()
        self.ingest_bar.setMaximumWidth(160)
        self.ingest_bar.setVisible(False)
        status = self.statusBar()
        status.addWidget(self.model_label, 1)
        status.addPermanentWidget(self.ingest_label)
        status.addPermanentWidget(self.ingest_bar)
        status.addPermanentWidget(self.context_bar)

    def _menus(self) -> None:
        def action(menu: Any, text: str, shortcut: str | QKeySequence.StandardKey, slot: Any) -> QAction:
            item = QAction(text, self)
            item.setShortcut(QKeySequence(shortcut))
            item.triggered.connect(slot)
            menu.addAction(item)
            return item

        app_menu = self.menuBar().addMenu("&Pagemind")
        action(app_menu, "&Quick command…", "Ctrl+K", self.quick_requested)
        action(app_menu, "&Settings…", "Ctrl+,", self.settings_requested)
        app_menu.addSeparator()
        action(app_menu, "&Quit", "Ctrl+Q", self.quit_requested)
        memory_menu = self.menuBar().addMenu("&Memory")
        action(memory_menu, "&Inspector…", "Ctrl+I", self.inspector_requested)
        action(memory_menu, "&Undo the last action", "Ctrl+Shift+Z", lambda: self.undo(None, None))
        action(memory_menu, "&Clear the view", "Ctrl+L", self.chat.clear)
        self.stop_action = action(memory_menu, "&Stop", "Esc", self.bridge.cancel)

    def _connect(self) -> None:
        bridge = self.bridge
        self.input.submitted.connect(self.send)
        self.send_button.clicked.connect(self.input.submit)
        self.stop_button.clicked.connect(bridge.cancel)
        self.chat.undo_requested.connect(self.undo)
        bridge.turn_started.connect(lambda _turn, kind, text: self.chat.add_request(kind, text))
        bridge.step.connect(lambda _turn, step: self.chat.show_step(step))
        bridge.confirm_requested.connect(self.chat.asking)
        bridge.state_changed.connect(lambda state: self._set_busy(state in ("thinking", "confirm")))
        bridge.model_changed.connect(self.show_model)
        bridge.context_changed.connect(self.show_context)
        bridge.ingest_progress.connect(self.show_ingest)
        bridge.error.connect(self.chat.add_error)

    # -- actions -------------------------------------------------------------------------------
    def send(self, text: str) -> None:
        try:
            self.bridge.send(text)
        except ValueError as exc:
            self.chat.add_error(str(exc))

    def undo(self, entry: int | None, card: Any) -> None:
        def done(message: str) -> None:
            if card is not None:
                card.undone(message)
            self.statusBar().showMessage(f"Undone: {message}", 8000)

        def failed(message: str) -> None:
            self.chat.add_error(f"Cannot undo: {message}")

        self.bridge.undo(entry, done, failed)

    # -- what the kernel reports ---------------------------------------------------------------------
    def _set_busy(self, busy: bool) -> None:
        self.busy = busy
        self.stop_button.setEnabled(busy)
        self.stop_action.setEnabled(busy)

    def show_model(self, label: str, status: str) -> None:
        self.context_bar.setVisible(self.context_bar.isVisible() and status == "ready")
        if status == "ready":
            self.model_label.setText(f"model: {label}")
            self.banner.setVisible(False)
            self.choose_model_button.setVisible(False)
            return
        no_model = ("No chat model is loaded. Quick commands (\"open firefox\", \"find report.pdf\", "
                    "\"what's using my memory\") and document search work; choose a model for the rest.")
        text = {"loading": f"Loading {label}… quick commands work meanwhile.", "none": no_model}.get(
            status, f"The chat model could not be loaded ({status.removeprefix('error: ')}). {no_model}")
        self.model_label.setText(f"model: {label} ({status.split(':')[0]})")
        self.banner.setText(text)
        self.banner.setVisible(True)
        self.choose_model_button.setVisible(status != "loading")

    def show_context(self, used: int, budget: int) -> None:
        self.context_bar.setVisible(True)
        self.context_bar.setMaximum(max(budget, 1))
        self.context_bar.setValue(min(used, budget))
        self.context_bar.setStyleSheet(
            f"QProgressBar::chunk {{ background: {context_colour(used, budget)}; }}")
        self.context_bar.setToolTip(f"{used:,} of {budget:,} tokens of context in use")

    def show_ingest(self, progress: Any) -> None:
        working = progress.total > 0 and progress.done < progress.total
        self.ingest_bar.setVisible(working)
        if working:
            self.ingest_bar.setMaximum(progress.total)
            self.ingest_bar.setValue(progress.done)
            self.ingest_label.setText(f"indexing {progress.done:,}/{progress.total:,}")
        else:
            self.ingest_label.setText(f"indexed {progress.done:,} files" if progress.done else "")

    # -- closing -------------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        if self.keep_in_tray:
            event.ignore()
            self.hide()
            self.hidden_to_tray.emit()
            return
        event.ignore()
        self.quit_requested.emit()

    def bring_forward(self) -> None:
        self.show()
        self.setWindowState(self.windowState() & ~Qt.WindowState.WindowMinimized)
        self.raise_()
        self.activateWindow()
        self.input.setFocus()
