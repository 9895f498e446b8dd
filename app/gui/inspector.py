"""The memory inspector: core blocks, recall and archival search, documents, and the journal.

It reads and changes memory only through the bridge; each tab asks again whenever it is shown.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QKeySequence, QShortcut, QShowEvent
from PySide6.QtWidgets import (
    QDialog, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPlainTextEdit, QPushButton, QSplitter,
    QTabWidget, QVBoxLayout, QWidget,
)

from app.gui.inspector_tabs import (
    ERROR_STYLE, DocumentsTab, JournalTab, SearchPane, Tab, chain, plain_label, read_only_text,
)


def _column(title: str, *parts: Any) -> QWidget:
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(QLabel(title))
    for part in parts:
        if isinstance(part, QWidget):
            layout.addWidget(part, 1 if isinstance(part, (QListWidget, QPlainTextEdit)) else 0)
        else:
            layout.addLayout(part)
    return box


class CoreTab(Tab):
    """The core blocks: edit one and save it, or bring back one of its earlier versions.

    Unsaved edits are kept per block while the list refreshes or another block is open; a
    restore replaces the block's unsaved edits with the restored text.
    """

    def __init__(self, bridge: Any, parent: QWidget | None = None) -> None:
        super().__init__(bridge, parent)
        self._blocks: dict[str, Any] = {}
        self._drafts: dict[str, str] = {}
        self._current: str | None = None
        self._filling = False
        self.core_list = QListWidget()
        self.core_editor = QPlainTextEdit()
        self.core_editor.setTabChangesFocus(True)
        self.core_editor.setEnabled(False)
        self.count_label = plain_label()
        self.unsaved_label = plain_label("unsaved changes")
        self.unsaved_label.setVisible(False)
        self.save_button = QPushButton("Save")
        self.save_button.setToolTip("Save this block (Ctrl+S)")
        self.save_button.setEnabled(False)
        self.history_list = QListWidget()
        self.history_preview = read_only_text()
        self.restore_button = QPushButton("Restore this version")
        self.restore_button.setEnabled(False)

        editing = QHBoxLayout()
        editing.addWidget(self.count_label)
        editing.addWidget(self.unsaved_label)
        editing.addStretch(1)
        editing.addWidget(self.save_button)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(_column("Blocks", self.core_list))
        split.addWidget(_column("Value", self.core_editor, editing))
        split.addWidget(_column("History", self.history_list, self.history_preview, self.restore_button))
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 3)
        split.setStretchFactor(2, 2)
        layout = QVBoxLayout(self)
        layout.addWidget(split)
        chain(self.core_list, self.core_editor, self.save_button, self.history_list, self.history_preview,
              self.restore_button)
        self._connect_signals()

    def _connect_signals(self) -> None:
        self.core_list.currentItemChanged.connect(self._chosen)
        self.core_editor.textChanged.connect(self._edited)
        self.save_button.clicked.connect(self.save)
        self.history_list.currentItemChanged.connect(self._preview)
        self.restore_button.clicked.connect(self.restore)

    # -- blocks ----------------------------------------------------------------------------------
    def refresh(self) -> None:
        self.request(self.bridge.core_blocks, done=self._show_blocks, latest="blocks")

    def _show_blocks(self, blocks: list[Any]) -> None:
        self._blocks = {block.label: block for block in blocks}
        self._drafts = {label: text for label, text in self._drafts.items() if label in self._blocks}
        wanted = self._current if self._current in self._blocks else (blocks[0].label if blocks else None)
        self.core_list.blockSignals(True)
        self.core_list.clear()
        for block in blocks:
            item = QListWidgetItem()
            item.setData(Qt.ItemDataRole.UserRole, block.label)
            self.core_list.addItem(item)
            if block.label == wanted:
                self.core_list.setCurrentItem(item)
        self.core_list.blockSignals(False)
        self._label_items()
        self._open(wanted)

    def _label_items(self) -> None:
        for row in range(self.core_list.count()):
            item = self.core_list.item(row)
            block = self._blocks[item.data(Qt.ItemDataRole.UserRole)]
            size = len(self._drafts.get(block.label, block.value))
            item.setText(f"{block.label}{' *' if block.label in self._drafts else ''}  ({size} / {block.limit})")

    @Slot(QListWidgetItem, QListWidgetItem)
    def _chosen(self, item: QListWidgetItem | None, _previous: QListWidgetItem | None = None) -> None:
        self._open(item.data(Qt.ItemDataRole.UserRole) if item is not None else None)

    def _open(self, label: str | None) -> None:
        changed = label != self._current
        self._current = label
        block = self._blocks.get(label) if label else None
        text = self._drafts.get(label, block.value) if block is not None else ""
        if self.core_editor.toPlainText() != text:
            self._filling = True
            self.core_editor.setPlainText(text)
            self._filling = False
        self.core_editor.setEnabled(block is not None)
        self._update_state()
        if changed:
            self.history_list.clear()
        self._load_history()

    @Slot()
    def _edited(self) -> None:
        block = self._blocks.get(self._current) if self._current else None
        if self._filling or block is None:
            return
        text = self.core_editor.toPlainText()
        if text == block.value:
            self._drafts.pop(block.label, None)
        else:
            self._drafts[block.label] = text
        self._update_state()
        self._label_items()

    def _update_state(self) -> None:
        block = self._blocks.get(self._current) if self._current else None
        dirty = block is not None and block.label in self._drafts
        if block is None:
            self.count_label.setText("")
        else:
            size = len(self.core_editor.toPlainText())
            self.count_label.setText(f"{size} / {block.limit}")
            self.count_label.setStyleSheet(ERROR_STYLE if size > block.limit else "")
        self.unsaved_label.setVisible(dirty)
        self.save_button.setEnabled(dirty)

    def save(self) -> None:
        """Save the open block's edits (the kernel checks the limit; a refusal shows in red)."""
        label = self._current
        if label is None or label not in self._drafts:
            return
        text = self._drafts[label]
        self.request(self.bridge.set_block, label, text, done=lambda block: self._saved(block, text))

    def _saved(self, block: Any, text: str) -> None:
        if self._drafts.get(block.label) == text:
            del self._drafts[block.label]
        self.report(f"Saved {block.label} (version {block.version}).")
        self.refresh()

    # -- history ---------------------------------------------------------------------------------
    def _load_history(self) -> None:
        label = self._current
        if label is None:
            self._show_history(None, [])
            return
        self.request(self.bridge.block_history, label, done=lambda versions: self._show_history(label, versions),
                     latest="history")

    def _show_history(self, label: str | None, versions: list[Any]) -> None:
        if label != self._current:
            return
        chosen = self.selected_version()
        self.history_list.blockSignals(True)
        self.history_list.clear()
        for version in sorted(versions, key=lambda v: v.version, reverse=True):
            item = QListWidgetItem(f"v{version.version}  {version.action}  {version.created_at:%Y-%m-%d %H:%M:%S}")
            item.setData(Qt.ItemDataRole.UserRole, version)
            self.history_list.addItem(item)
            if chosen is not None and version.version == chosen.version:
                self.history_list.setCurrentItem(item)
        self.history_list.blockSignals(False)
        self._preview(self.history_list.currentItem())

    def selected_version(self) -> Any | None:
        item = self.history_list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

    @Slot(QListWidgetItem, QListWidgetItem)
    def _preview(self, item: QListWidgetItem | None, _previous: QListWidgetItem | None = None) -> None:
        version = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        self.history_preview.setPlainText(version.value if version is not None else "")
        self.restore_button.setEnabled(version is not None)

    def restore(self) -> None:
        """Make the selected version the block's value again (as a new version)."""
        version = self.selected_version()
        if version is None:
            return
        self.request(self.bridge.restore_block, version.label, version.version,
                     done=lambda block: self._restored(block, version.version))

    def _restored(self, block: Any, version: int) -> None:
        self._drafts.pop(block.label, None)
        self.report(f"Restored {block.label} to version {version} (saved as version {block.version}).")
        self.refresh()


class MemoryInspector(QDialog):
    """A window onto Pagemind's memory; Escape closes it, Ctrl+F goes to the tab's search box."""

    def __init__(self, bridge: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.setWindowTitle("Memory — Pagemind")
        self.resize(960, 640)
        self.tabs = QTabWidget()
        self.status_label = plain_label()
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.core = CoreTab(bridge)
        self.recall = SearchPane(bridge, bridge.search_recall, "Search past conversations")
        self.archival = SearchPane(bridge, bridge.search_archival, "Search archival memory")
        self.documents = DocumentsTab(bridge)
        self.journal = JournalTab(bridge)
        for tab, title in ((self.core, "Core"), (self.recall, "Recall"), (self.archival, "Archival"),
                           (self.documents, "Documents"), (self.journal, "Journal")):
            self.tabs.addTab(tab, title)

        self.core_list, self.core_editor = self.core.core_list, self.core.core_editor
        self.save_button, self.history_list = self.core.save_button, self.core.history_list
        self.restore_button = self.core.restore_button
        self.folder_tree = self.documents.folder_tree
        self.journal_table, self.undo_button = self.journal.journal_table, self.journal.undo_button

        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.status_label)
        for button in self.findChildren(QPushButton):
            button.setAutoDefault(False)
        self._find = QShortcut(QKeySequence(QKeySequence.StandardKey.Find), self)
        self._save = QShortcut(QKeySequence(QKeySequence.StandardKey.Save), self)
        self._connect_signals()

    def _connect_signals(self) -> None:
        for tab in (self.core, self.recall, self.archival, self.documents, self.journal):
            tab.status.connect(self.show_status)
        self.tabs.currentChanged.connect(self._tab_changed)
        self._find.activated.connect(self.focus_search)
        self._save.activated.connect(self._save_core)
        self.bridge.turn_finished.connect(self._turn_finished)
        if not self.bridge.is_ready:
            self.bridge.ready.connect(self._memory_ready)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.refresh()

    @Slot()
    def refresh(self) -> None:
        """Ask again for the data of the tab on show (once memory is open)."""
        if not self.isVisible():
            return
        if not self.bridge.is_ready:
            self.show_status("Memory is still opening…")
            return
        self.tabs.currentWidget().refresh()

    @Slot(int)
    def _tab_changed(self, _index: int) -> None:
        self.refresh()

    @Slot()
    def _memory_ready(self) -> None:
        self.show_status("")
        self.refresh()

    @Slot(int, object)
    def _turn_finished(self, _turn: int, _result: object) -> None:
        self.refresh()

    @Slot(str, bool)
    def show_status(self, text: str, error: bool = False) -> None:
        self.status_label.setText(text)
        self.status_label.setStyleSheet(ERROR_STYLE if error else "")

    @Slot()
    def focus_search(self) -> None:
        box = getattr(self.tabs.currentWidget(), "search_box", None)
        if box is not None:
            box.setFocus(Qt.FocusReason.ShortcutFocusReason)
            box.selectAll()

    @Slot()
    def _save_core(self) -> None:
        if self.tabs.currentWidget() is self.core:
            self.core.save()
