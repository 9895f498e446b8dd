"""Choosing a GGUF model: the catalog's models to download (with progress and cancel), or a file.

Shared by the settings dialog and the first-run dialog. The widget only reports a choice through
:attr:`ModelPicker.chosen`; saving it is the caller's business.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import Shiboken

from app import paths

GGUF_FILTER = "GGUF models (*.gguf)"
ERROR_STYLE = "color: #c0392b;"
_PROGRESS_UNIT = 1024
"""The progress bar counts KiB: a QProgressBar holds 32-bit values, a model may exceed 2 GiB."""


def human_size(size: int) -> str:
    """491 MB, 1.1 GB: decimal units, as download sites show them."""
    if size >= 1_000_000_000:
        return f"{size / 1e9:.1f} GB"
    if size >= 1_000_000:
        return f"{size / 1e6:.0f} MB"
    return f"{max(size, 0) / 1e3:.0f} KB"


def error_label() -> QLabel:
    """An empty red label for one-line problems, wrapping long paths."""
    label = QLabel()
    label.setStyleSheet(ERROR_STYLE)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def alive(widget: QWidget) -> bool:
    """False once Qt has deleted the widget (a late callback must then do nothing)."""
    return Shiboken.isValid(widget)


def pick_gguf(parent: QWidget, title: str) -> str:
    """Ask for a .gguf file; "" when the user cancels."""
    start = str(paths.models_dir())
    path, _ = QFileDialog.getOpenFileName(parent, title, start, GGUF_FILTER)
    return path


def check_gguf(bridge: Any, path: str, done: Callable[[str], None], failed: Callable[[str], None]) -> None:
    """Check ``path`` is a usable GGUF off the GUI thread; ``done(path)`` or ``failed(message)``."""
    from models.gguf_file import inspect

    def work() -> str:
        with open(path, "rb") as fh:
            if fh.read(4) != b"GGUF":
                raise ValueError(f"{path} is not a GGUF model file (it does not start with 'GGUF')")
        return str(inspect(path).path)

    bridge.later(work, done, failed)


class ModelPicker(QWidget):
    """The catalog's models of one kind, Download / Cancel / Use, and "Open GGUF file…"."""

    chosen = Signal(str)
    """The path of a model the user picked: downloaded, used, or opened and checked."""

    def __init__(self, bridge: Any, kind: str = "chat", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.kind = kind
        self.entries: list[Any] = []
        self._cancel: threading.Event | None = None
        self._downloading: str | None = None

        self.catalog_list = QListWidget()
        self.catalog_list.setWordWrap(True)
        self.download_button = QPushButton("Download")
        self.use_button = QPushButton("Use")
        self.cancel_download_button = QPushButton("Cancel")
        self.open_button = QPushButton("Open GGUF file…")
        self.download_progress = QProgressBar()
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.error_label = error_label()

        buttons = QHBoxLayout()
        for button in (self.download_button, self.cancel_download_button, self.use_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.open_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.catalog_list, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.download_progress)
        layout.addWidget(self.status_label)
        layout.addWidget(self.error_label)

        self._connect_signals()
        self._set_idle()
        self.status_label.setText("Loading the list of recommended models…")
        bridge.catalog(self._show_catalog, self._catalog_failed)

    def _connect_signals(self) -> None:
        self.catalog_list.currentRowChanged.connect(self._update_buttons)
        self.download_button.clicked.connect(self.start_download)
        self.cancel_download_button.clicked.connect(self.cancel_download)
        self.use_button.clicked.connect(self.use_selected)
        self.open_button.clicked.connect(self.open_file)

    # -- the catalog ---------------------------------------------------------------------------
    def _show_catalog(self, entries: list[Any]) -> None:
        if not alive(self):
            return
        self.entries = [entry for entry in entries if entry.kind == self.kind and entry.source == "hub"]
        self.status_label.clear()
        self.refresh()
        if self.entries and self.catalog_list.currentRow() < 0:
            self.catalog_list.setCurrentRow(0)

    def _catalog_failed(self, message: str) -> None:
        if alive(self):
            self.status_label.clear()
            self.error_label.setText(f"The list of recommended models is unavailable: {message}")

    def local_path(self, entry: Any) -> Path:
        return paths.models_dir() / entry.file

    def is_downloaded(self, entry: Any) -> bool:
        return self.local_path(entry).is_file()

    def refresh(self) -> None:
        """Rebuild the list (sizes, and which models are already downloaded)."""
        row = self.catalog_list.currentRow()
        self.catalog_list.clear()
        for entry in self.entries:
            state = " — downloaded" if self.is_downloaded(entry) else ""
            item = QListWidgetItem(f"{entry.name} ({human_size(entry.size)}){state}\n{entry.description}")
            item.setData(Qt.ItemDataRole.UserRole, entry.name)
            item.setToolTip(f"{entry.repo} / {entry.file}")
            self.catalog_list.addItem(item)
        if 0 <= row < len(self.entries):
            self.catalog_list.setCurrentRow(row)
        self._update_buttons()

    def selected(self) -> Any | None:
        row = self.catalog_list.currentRow()
        return self.entries[row] if 0 <= row < len(self.entries) else None

    def select(self, name: str) -> None:
        for row, entry in enumerate(self.entries):
            if entry.name == name:
                self.catalog_list.setCurrentRow(row)

    # -- downloading -------------------------------------------------------------------------
    @property
    def downloading(self) -> bool:
        return self._downloading is not None

    def _update_buttons(self, *_: object) -> None:
        entry = self.selected()
        busy = self.downloading
        self.download_button.setEnabled(entry is not None and not busy and not self.is_downloaded(entry))
        self.use_button.setEnabled(entry is not None and not busy and self.is_downloaded(entry))
        self.cancel_download_button.setEnabled(busy)
        self.open_button.setEnabled(not busy)

    def _set_idle(self) -> None:
        self._downloading = None
        self._cancel = None
        self.download_progress.reset()
        self.download_progress.setVisible(False)
        self.cancel_download_button.setVisible(False)
        self._update_buttons()

    def start_download(self) -> None:
        entry = self.selected()
        if entry is None or self.downloading:
            return
        self._downloading = entry.name
        self._cancel = threading.Event()
        self.error_label.clear()
        self.status_label.setText(f"Downloading {entry.name} ({human_size(entry.size)})…")
        self.download_progress.setRange(0, 0)
        self.download_progress.setVisible(True)
        self.cancel_download_button.setVisible(True)
        self._update_buttons()
        self.bridge.download_model(entry.name, self._progress, self._downloaded, self._download_failed,
                                   cancel=self._cancel)

    def cancel_download(self) -> None:
        """Stop the download between two chunks; the partial file stays and the next attempt resumes it."""
        if self._cancel is not None:
            self._cancel.set()
            self.cancel_download_button.setEnabled(False)
            self.status_label.setText("Cancelling…")

    def _progress(self, got: int, total: int) -> None:
        if not alive(self) or not self.downloading:
            return
        if total > 0:
            self.download_progress.setRange(0, max(total // _PROGRESS_UNIT, 1))
            self.download_progress.setValue(min(got, total) // _PROGRESS_UNIT)
            self.download_progress.setFormat(f"%p% — {human_size(got)} of {human_size(total)}")

    def _downloaded(self, path: Any) -> None:
        if not alive(self):
            return
        name = self._downloading
        self._set_idle()
        self.status_label.setText(f"Downloaded {name} to {path}.")
        self.refresh()
        self.chosen.emit(str(path))

    def _download_failed(self, message: str) -> None:
        if not alive(self):
            return
        cancelled = self._cancel is not None and self._cancel.is_set()
        name = self._downloading
        self._set_idle()
        self.refresh()
        if cancelled:
            self.status_label.setText(
                f"Download of {name} cancelled. The part already downloaded is kept: Download continues it."
            )
        else:
            self.status_label.clear()
            self.error_label.setText(f"Download of {name} failed: {message}")

    # -- choosing ----------------------------------------------------------------------------
    def use_selected(self) -> None:
        entry = self.selected()
        if entry is not None and self.is_downloaded(entry):
            self.error_label.clear()
            self.chosen.emit(str(self.local_path(entry)))

    def open_file(self) -> None:
        """Ask for a GGUF file and emit it once it passes the check; a bad file gets a red message."""
        path = pick_gguf(self, "Open a GGUF model")
        if not path:
            return
        self.error_label.clear()
        self.status_label.setText(f"Checking {Path(path).name}…")
        check_gguf(self.bridge, path, self._opened, self._open_failed)

    def _opened(self, path: str) -> None:
        if alive(self):
            self.status_label.clear()
            self.chosen.emit(path)

    def _open_failed(self, message: str) -> None:
        if alive(self):
            self.status_label.clear()
            self.error_label.setText(f"This file cannot be used: {message}")
