"""The settings dialog: chat model, embedder, watched folders, permissions and performance.

Watched folders change at once through the bridge (the kernel owns that list); everything else is
saved with OK or Apply through :meth:`Bridge.apply_settings`, which reloads the model when needed.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QMessageBox,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app import settings
from app.gui.model_picker import ModelPicker, alive, check_gguf, error_label, pick_gguf
from app.settings import Settings, SettingsError

BUILTIN_EMBEDDER = "built-in all-MiniLM-L6-v2"


def _row(*widgets: QWidget) -> QHBoxLayout:
    row = QHBoxLayout()
    for widget in widgets:
        row.addWidget(widget)
    row.addStretch(1)
    return row


def _note(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    return label


class SettingsDialog(QDialog):
    def __init__(self, bridge: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.setWindowTitle("Settings — Pagemind")
        self.resize(640, 520)
        self.error_label = error_label()
        self.status_label = _note("")
        self.tabs = QTabWidget()
        self.tabs.addTab(self._chat_tab(), "Chat model")
        self.tabs.addTab(self._embedder_tab(), "Embedder")
        self.tabs.addTab(self._folders_tab(), "Folders")
        self.tabs.addTab(self._permissions_tab(), "Permissions")
        self.tabs.addTab(self._performance_tab(), "Performance")
        buttons = QDialogButtonBox.StandardButton
        self.button_box = QDialogButtonBox(buttons.Ok | buttons.Cancel | buttons.Apply)
        self.ok_button = self.button_box.button(buttons.Ok)
        self.apply_button = self.button_box.button(buttons.Apply)
        self.cancel_button = self.button_box.button(buttons.Cancel)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.status_label)
        layout.addWidget(self.error_label)
        layout.addWidget(self.button_box)
        self._connect_signals()
        self.show_settings(self._load())

    # -- building the tabs -----------------------------------------------------------------------
    def _chat_tab(self) -> QWidget:
        self.local_radio = QRadioButton("A model file on this computer (GGUF)")
        self.remote_radio = QRadioButton("A model server (OpenAI-compatible)")
        self.source_group = QButtonGroup(self)
        self.source_group.addButton(self.local_radio)
        self.source_group.addButton(self.remote_radio)
        self.picker = ModelPicker(self.bridge, "chat")
        self.download_button = self.picker.download_button
        self.cancel_download_button = self.picker.cancel_download_button
        self.download_progress = self.picker.download_progress
        self.open_model_button = self.picker.open_button
        self.model_error_label = self.picker.error_label
        self.model_path_edit = QLineEdit()
        self.model_path_edit.setReadOnly(True)
        self.model_path_edit.setPlaceholderText("no model chosen")
        self.remote_url_edit = QLineEdit()
        self.remote_url_edit.setPlaceholderText("http://localhost:8080/v1")
        self.remote_model_edit = QLineEdit()
        self.remote_model_edit.setPlaceholderText("empty: the first model the server offers")

        self.local_box = QGroupBox()
        local = QVBoxLayout(self.local_box)
        local.addWidget(self.picker, 1)
        path_form = QFormLayout()
        path_form.addRow("Model in use:", self.model_path_edit)
        local.addLayout(path_form)
        self.remote_box = QGroupBox()
        remote = QFormLayout(self.remote_box)
        remote.addRow("Server URL:", self.remote_url_edit)
        remote.addRow("Model name:", self.remote_model_edit)

        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addWidget(self.local_radio)
        layout.addWidget(self.local_box, 1)
        layout.addWidget(self.remote_radio)
        layout.addWidget(self.remote_box)
        return page

    def _embedder_tab(self) -> QWidget:
        self.embed_path_edit = QLineEdit()
        self.embed_path_edit.setReadOnly(True)
        self.embed_path_edit.setPlaceholderText(BUILTIN_EMBEDDER)
        self.embed_browse_button = QPushButton("Browse…")
        self.builtin_embed_button = QPushButton("Use built-in")
        page = QWidget()
        layout = QVBoxLayout(page)
        form = QFormLayout()
        form.addRow("Embedding model:", self.embed_path_edit)
        layout.addLayout(form)
        layout.addLayout(_row(self.embed_browse_button, self.builtin_embed_button))
        layout.addWidget(_note(
            "The embedder turns documents and memories into vectors for search. Changing it "
            "re-embeds all documents the next time Pagemind starts, which can take a while."))
        layout.addStretch(1)
        return page

    def _folders_tab(self) -> QWidget:
        self.folders_list = QListWidget()
        self.add_folder_button = QPushButton("Add…")
        self.remove_folder_button = QPushButton("Remove")
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addWidget(_note("Documents in these folders are indexed for search and kept current. "
                               "Adding or removing a folder takes effect at once."))
        layout.addWidget(self.folders_list, 1)
        layout.addLayout(_row(self.add_folder_button, self.remove_folder_button))
        return page

    def _permissions_tab(self) -> QWidget:
        self.roots_list = QListWidget()
        self.add_root_button = QPushButton("Add…")
        self.remove_root_button = QPushButton("Remove")
        self.rules_list = QListWidget()
        self.revoke_button = QPushButton("Revoke")
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addWidget(_note("Pagemind reads files inside these folders without asking:"))
        layout.addWidget(self.roots_list, 1)
        layout.addLayout(_row(self.add_root_button, self.remove_root_button))
        layout.addWidget(_note("Standing permissions you granted (\"always\"); revoke one to be asked again:"))
        layout.addWidget(self.rules_list, 1)
        layout.addLayout(_row(self.revoke_button))
        return page

    def _performance_tab(self) -> QWidget:
        self.context_spin = QSpinBox()
        self.context_spin.setRange(256, 131072)
        self.context_spin.setSingleStep(256)
        self.context_spin.setSuffix(" tokens")
        self.threads_spin = QSpinBox()
        self.threads_spin.setRange(0, 256)
        self.threads_spin.setSpecialValueText("automatic")
        self.temperature_spin = QDoubleSpinBox()
        self.temperature_spin.setRange(0.0, 2.0)
        self.temperature_spin.setSingleStep(0.05)
        self.temperature_spin.setDecimals(2)
        self.heartbeat_spin = QSpinBox()
        self.heartbeat_spin.setRange(0, 24 * 60)
        self.heartbeat_spin.setSpecialValueText("off")
        self.heartbeat_spin.setSuffix(" minutes")
        page = QWidget()
        form = QFormLayout(page)
        form.addRow("Context size:", self.context_spin)
        form.addRow("Threads:", self.threads_spin)
        form.addRow("Temperature:", self.temperature_spin)
        form.addRow("Heartbeat every:", self.heartbeat_spin)
        form.addRow(_note("A larger context remembers more of the conversation but needs more memory; "
                          "the system prompt and tools take about 2,200 tokens."))
        return page

    def _connect_signals(self) -> None:
        self.local_radio.toggled.connect(self._update_source)
        self.picker.chosen.connect(self._model_chosen)
        self.embed_browse_button.clicked.connect(self.browse_embedder)
        self.builtin_embed_button.clicked.connect(self.embed_path_edit.clear)
        self.add_folder_button.clicked.connect(self.add_folder)
        self.remove_folder_button.clicked.connect(self.remove_folder)
        self.folders_list.currentRowChanged.connect(self._update_buttons)
        self.add_root_button.clicked.connect(self.add_root)
        self.remove_root_button.clicked.connect(self.remove_root)
        self.roots_list.currentRowChanged.connect(self._update_buttons)
        self.revoke_button.clicked.connect(self.revoke_rule)
        self.rules_list.currentRowChanged.connect(self._update_buttons)
        self.ok_button.clicked.connect(self._ok)
        self.apply_button.clicked.connect(self.apply)
        self.cancel_button.clicked.connect(self.reject)

    # -- settings in and out -----------------------------------------------------------------------
    def _load(self) -> Settings:
        try:
            self._base = settings.load()
        except SettingsError as exc:
            self.error_label.setText(f"{exc}. Saving writes a fresh settings file.")
            self._base = Settings()
        return self._base

    def show_settings(self, conf: Settings) -> None:
        """Fill every widget from ``conf``."""
        (self.remote_radio if conf.remote_url else self.local_radio).setChecked(True)
        self.model_path_edit.setText(conf.chat_model)
        self.remote_url_edit.setText(conf.remote_url)
        self.remote_model_edit.setText(conf.remote_model)
        self.embed_path_edit.setText(conf.embed_model)
        self._fill(self.folders_list, conf.watched_folders)
        self._fill(self.roots_list, conf.allowed_roots)
        self._fill(self.rules_list, conf.permission_rules)
        self.context_spin.setValue(conf.context_length)
        self.threads_spin.setValue(conf.threads)
        self.temperature_spin.setValue(conf.temperature)
        self.heartbeat_spin.setValue(conf.heartbeat_minutes)
        self._update_source()
        self._update_buttons()

    @staticmethod
    def _fill(widget: QListWidget, items: list[str]) -> None:
        widget.clear()
        widget.addItems(items)

    @staticmethod
    def _items(widget: QListWidget) -> list[str]:
        return [widget.item(row).text() for row in range(widget.count())]

    def values(self) -> Settings:
        """The settings the widgets show, over the latest file (so other changes are kept)."""
        try:
            base = settings.load()
        except SettingsError:
            base = self._base
        remote = self.remote_radio.isChecked()
        return dataclasses.replace(
            base,
            chat_model=self.model_path_edit.text(),
            remote_url=self.remote_url_edit.text().strip() if remote else "",
            remote_model=self.remote_model_edit.text().strip(),
            embed_model=self.embed_path_edit.text(),
            allowed_roots=self._items(self.roots_list),
            permission_rules=self._items(self.rules_list),
            context_length=self.context_spin.value(),
            threads=self.threads_spin.value(),
            temperature=round(self.temperature_spin.value(), 2),
            heartbeat_minutes=self.heartbeat_spin.value(),
        )

    def apply(self) -> bool:
        """Check and save the settings through the bridge; False (and a red message) when invalid."""
        self.error_label.clear()
        new = self.values()
        try:
            if self.remote_radio.isChecked() and not new.remote_url:
                raise SettingsError("enter the model server's URL (http://host:port/v1), or choose a model file")
            new.validate()
            old = self._load()
            self.bridge.apply_settings(old, new)
        except (SettingsError, OSError) as exc:
            self.error_label.setText(f"Not saved: {exc}")
            return False
        self._base = new
        self.status_label.setText("Settings saved.")
        return True

    def _ok(self) -> None:
        if self.apply():
            self.accept()

    def done(self, result: int) -> None:
        self.picker.cancel_download()
        super().done(result)

    # -- chat model and embedder -------------------------------------------------------------------
    def _update_source(self) -> None:
        remote = self.remote_radio.isChecked()
        self.local_box.setEnabled(not remote)
        self.remote_box.setEnabled(remote)

    def _model_chosen(self, path: str) -> None:
        self.model_path_edit.setText(path)
        self.local_radio.setChecked(True)

    def browse_embedder(self) -> None:
        path = pick_gguf(self, "Choose an embedding model")
        if path:
            self.error_label.clear()
            check_gguf(self.bridge, path, self._embedder_checked, self._show_error)

    def _embedder_checked(self, path: str) -> None:
        if alive(self):
            self.embed_path_edit.setText(path)

    def _show_error(self, message: str) -> None:
        if alive(self):
            self.error_label.setText(message)

    # -- folders, roots and rules ------------------------------------------------------------------
    def _update_buttons(self, *_: object) -> None:
        self.remove_folder_button.setEnabled(self.folders_list.currentRow() >= 0)
        self.remove_root_button.setEnabled(self.roots_list.currentRow() >= 0)
        self.revoke_button.setEnabled(self.rules_list.currentRow() >= 0)

    def add_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Watch a folder", str(Path.home()))
        if path:
            self.error_label.clear()
            self.bridge.watch_folder(path, lambda _result: self._folders_changed(f"Watching {path}."),
                                     self._show_error)

    def remove_folder(self) -> None:
        item = self.folders_list.currentItem()
        if item is None:
            return
        path = item.text()
        answer = QMessageBox.question(
            self, "Stop watching?", f"Stop watching {path}? Its documents are removed from the search index "
            "(the files themselves stay).")
        if answer == QMessageBox.StandardButton.Yes:
            self.error_label.clear()
            self.bridge.unwatch_folder(
                path, lambda count: self._folders_changed(f"Stopped watching {path}; {count} documents forgotten."),
                self._show_error)

    def _folders_changed(self, message: str) -> None:
        if not alive(self):
            return
        try:
            folders = settings.load().watched_folders
        except SettingsError as exc:
            self._show_error(str(exc))
            return
        self._fill(self.folders_list, folders)
        self._update_buttons()
        self.status_label.setText(message)

    def add_root(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Allow reading a folder", str(Path.home()))
        if path and path not in self._items(self.roots_list):
            self.roots_list.addItem(path)

    def remove_root(self) -> None:
        row = self.roots_list.currentRow()
        if row >= 0:
            self.roots_list.takeItem(row)
        self._update_buttons()

    def revoke_rule(self) -> None:
        row = self.rules_list.currentRow()
        if row >= 0:
            self.rules_list.takeItem(row)
            self.status_label.setText("Permission revoked; OK or Apply saves it.")
        self._update_buttons()
