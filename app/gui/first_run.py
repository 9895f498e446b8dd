"""The first-run set-up: download or open a chat model, use a model server, or skip for now."""

from __future__ import annotations

import dataclasses
from typing import Any

from PySide6.QtWidgets import (
    QDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app import settings
from app.gui.model_picker import ModelPicker, error_label
from app.settings import Settings, SettingsError

INTRO = (
    "<b>Pagemind</b> is an assistant for your desktop: it answers questions about your documents, "
    "remembers what you tell it, and works with your files and apps when you allow it. "
    "Everything runs on this computer; nothing is sent anywhere unless you choose a model server."
)
CHOOSE = "Choose a chat model to download (once), or open a GGUF file you already have:"
SKIP = (
    "You can also skip this for now: quick commands (\"show disk usage\", \"list ~/Documents\") and "
    "document search work without a model, and Settings can choose one later."
)


class FirstRunDialog(QDialog):
    def __init__(self, bridge: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.choice = ""
        """What the user finished with: "model", "server" or "skip" ("" while open)."""
        self.setWindowTitle("Welcome to Pagemind")
        self.resize(600, 520)

        self.picker = ModelPicker(bridge, "chat")
        self.download_button = self.picker.download_button
        self.cancel_download_button = self.picker.cancel_download_button
        self.download_progress = self.picker.download_progress
        self.open_model_button = self.picker.open_button
        self.open_model_button.setText("Open a GGUF file…")
        self.server_button = QPushButton("Use a model server…")
        self.skip_button = QPushButton("Skip for now")
        self.remote_url_edit = QLineEdit()
        self.remote_url_edit.setPlaceholderText("http://localhost:8080/v1")
        self.remote_model_edit = QLineEdit()
        self.remote_model_edit.setPlaceholderText("empty: the first model the server offers")
        self.use_server_button = QPushButton("Use this server")
        self.server_box = QGroupBox("An OpenAI-compatible model server")
        server = QFormLayout(self.server_box)
        server.addRow("Server URL:", self.remote_url_edit)
        server.addRow("Model name:", self.remote_model_edit)
        server.addRow("", self.use_server_button)
        self.server_box.setVisible(False)
        self.error_label = error_label()

        layout = QVBoxLayout(self)
        for text in (INTRO, CHOOSE):
            label = QLabel(text)
            label.setWordWrap(True)
            layout.addWidget(label)
        layout.addWidget(self.picker, 1)
        layout.addWidget(self.server_box)
        skip_note = QLabel(SKIP)
        skip_note.setWordWrap(True)
        layout.addWidget(skip_note)
        layout.addWidget(self.error_label)
        buttons = QHBoxLayout()
        buttons.addWidget(self.server_button)
        buttons.addStretch(1)
        buttons.addWidget(self.skip_button)
        layout.addLayout(buttons)
        self._connect_signals()

    def _connect_signals(self) -> None:
        self.picker.chosen.connect(self.use_model)
        self.server_button.clicked.connect(self.show_server)
        self.use_server_button.clicked.connect(self.use_server)
        self.skip_button.clicked.connect(self.skip)

    @staticmethod
    def needed(conf: Settings) -> bool:
        """True until the set-up was done or skipped, unless a model is configured already."""
        return not conf.setup_done and not conf.chat_model and not conf.remote_url

    def show_server(self) -> None:
        self.server_box.setVisible(True)
        self.remote_url_edit.setFocus()

    def use_model(self, path: str) -> None:
        self._finish("model", chat_model=path, remote_url="")

    def use_server(self) -> None:
        url = self.remote_url_edit.text().strip()
        if not url.startswith(("http://", "https://")):
            self.error_label.setText("The server URL must start with http:// or https:// (e.g. http://localhost:8080/v1).")
            return
        self._finish("server", remote_url=url, remote_model=self.remote_model_edit.text().strip())

    def skip(self) -> None:
        self._finish("skip")

    def _finish(self, choice: str, **changes: Any) -> None:
        """Save the choice with ``setup_done`` through the bridge and close."""
        self.error_label.clear()
        try:
            old = settings.load()
        except SettingsError:
            old = Settings()
        new = dataclasses.replace(old, setup_done=True, **changes)
        try:
            new.validate()
            self.bridge.apply_settings(old, new)
        except (SettingsError, OSError) as exc:
            self.error_label.setText(f"Not saved: {exc}")
            return
        self.choice = choice
        self.accept()

    def done(self, result: int) -> None:
        self.picker.cancel_download()
        super().done(result)
