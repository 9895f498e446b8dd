"""The memory inspector's search, documents and journal tabs, and what every tab shares.

Every tab asks the bridge for its data and renders the answer; a reply that arrives after the
tab is gone, or after a newer request of the same kind, is dropped.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView, QFileDialog, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QListWidget,
    QListWidgetItem, QMessageBox, QPlainTextEdit, QProgressBar, QPushButton, QSplitter, QTableWidget,
    QTableWidgetItem, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget,
)

from app.memory.documents import path_text

ERROR_STYLE = "color: #c62828;"
MAX_FILES_SHOWN = 2000
"""Files listed under one folder in the documents tree; the rest are counted in one row."""
ARGS_CHARS = 100


def one_line(text: str, width: int = 160) -> str:
    """``text`` on one line, cut to ``width`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def plain_label(text: str = "") -> QLabel:
    """A label that never reads its text as rich text (paths and messages come from outside)."""
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    return label


def read_only_text() -> QPlainTextEdit:
    view = QPlainTextEdit()
    view.setReadOnly(True)
    view.setTabChangesFocus(True)
    return view


def chain(*widgets: QWidget) -> None:
    """Make Tab move through ``widgets`` in this order."""
    for first, second in itertools.pairwise(widgets):
        QWidget.setTabOrder(first, second)


class Tab(QWidget):
    """A page of the inspector; ``refresh`` asks the bridge again, ``search_box`` takes Ctrl+F."""

    status = Signal(str, bool)
    """(text, is an error): a line for the inspector's status label."""
    search_box: QLineEdit | None = None

    def __init__(self, bridge: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self._latest: dict[str, int] = {}

    def report(self, text: str, error: bool = False) -> None:
        self.status.emit(text, error)

    def refresh(self) -> None:
        """Ask the bridge for this tab's data again."""

    def request(self, method: Callable[..., None], *args: Any, done: Callable[[Any], None],
                failed: Callable[[str], None] | None = None, latest: str | None = None, **kwargs: Any) -> None:
        """Call the bridge's ``method(*args, done, failed, **kwargs)``.

        A failure goes to ``failed``, or else to the status label. With ``latest``, only the reply
        to the newest request of that name is shown.
        """
        ticket = 0
        if latest is not None:
            ticket = self._latest[latest] = self._latest.get(latest, 0) + 1

        def wanted() -> bool:
            return shiboken6.isValid(self) and (latest is None or self._latest[latest] == ticket)

        def on_done(result: Any) -> None:
            if wanted():
                done(result)

        def on_failed(message: str) -> None:
            if wanted():
                (failed or (lambda text: self.report(text, error=True)))(message)

        method(*args, on_done, on_failed, **kwargs)


class SearchPane(Tab):
    """A search box, a page of results, and the full text of the selected one."""

    def __init__(self, bridge: Any, search: Callable[..., None], placeholder: str, *,
                 line: Callable[[Any, str], str] = lambda item, query: one_line(item.line()),
                 full: Callable[[Any], str] = lambda item: item.line(), paged: bool = True,
                 parent: QWidget | None = None) -> None:
        super().__init__(bridge, parent)
        self._search, self._line, self._full, self._paged = search, line, full, paged
        self._query, self._page, self._pages = "", 0, 1
        self._shown: tuple[str, int] | None = None
        self.search_box = QLineEdit()
        self.search_box.setPlaceholderText(placeholder)
        self.search_box.setClearButtonEnabled(True)
        self.search_button = QPushButton("Search")
        self.summary_label = plain_label("Type some words and press Enter.")
        self.results = QListWidget()
        self.previous_button = QPushButton("Previous page")
        self.next_button = QPushButton("Next page")
        self.detail = read_only_text()

        bar = QHBoxLayout()
        bar.addWidget(self.search_box, 1)
        bar.addWidget(self.search_button)
        pages = QHBoxLayout()
        pages.addWidget(self.summary_label, 1)
        pages.addWidget(self.previous_button)
        pages.addWidget(self.next_button)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.results)
        split.addWidget(self.detail)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addLayout(pages)
        layout.addWidget(split, 1)
        self.previous_button.setVisible(paged)
        self.next_button.setVisible(paged)
        self._update_pager()
        chain(self.search_box, self.search_button, self.results, self.previous_button, self.next_button,
              self.detail)
        self._connect_signals()

    def _connect_signals(self) -> None:
        self.search_box.returnPressed.connect(self._search_typed)
        self.search_button.clicked.connect(self._search_typed)
        self.previous_button.clicked.connect(self._previous_page)
        self.next_button.clicked.connect(self._next_page)
        self.results.currentItemChanged.connect(self._show_detail)

    def refresh(self) -> None:
        if self._query:
            self.search(self._page, self._query)

    @Slot()
    def _search_typed(self) -> None:
        self.search()

    @Slot()
    def _previous_page(self) -> None:
        self.search(self._page - 1, self._query)

    @Slot()
    def _next_page(self) -> None:
        self.search(self._page + 1, self._query)

    def search(self, page: int = 0, query: str | None = None) -> None:
        """Search for the box's words (or ``query``) and show page ``page`` of the results."""
        query = (self.search_box.text() if query is None else query).strip()
        if not query:
            return
        self._query, self._page = query, max(0, page)
        extra = {"page": self._page} if self._paged else {}
        self.request(self._search, query, done=lambda found: self._show(query, found), latest="search", **extra)

    def _show(self, query: str, found: Any) -> None:
        again = self._shown == (query, found.page)
        chosen = self.results.currentRow()
        self._shown = (query, found.page)
        self._pages = found.pages
        self.results.clear()
        self.detail.clear()
        for item in found.items:
            row = QListWidgetItem(self._line(item, query))
            row.setData(Qt.ItemDataRole.UserRole, item)
            self.results.addItem(row)
        self.summary_label.setText(found.header().rstrip(":") if found.items else "No matches")
        self._update_pager()
        if again and 0 <= chosen < self.results.count():
            self.results.setCurrentRow(chosen)

    def _update_pager(self) -> None:
        self.previous_button.setEnabled(bool(self._query) and self._page > 0)
        self.next_button.setEnabled(bool(self._query) and self._page + 1 < self._pages)

    @Slot(QListWidgetItem, QListWidgetItem)
    def _show_detail(self, item: QListWidgetItem | None, _previous: QListWidgetItem | None = None) -> None:
        found = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        self.detail.setPlainText(self._full(found) if found is not None else "")


def hit_line(hit: Any, query: str) -> str:
    return f"{path_text(hit.path)}: {one_line(hit.snippet(query), 200)}"


def hit_text(hit: Any) -> str:
    title = f" ({hit.title})" if hit.title else ""
    return f"{path_text(hit.path)}{title}, characters {hit.start}-{hit.end}\n\n{hit.text}"


class DocumentsTab(Tab):
    """The watched folders with their files, indexing progress, and a search through the documents."""

    def __init__(self, bridge: Any, parent: QWidget | None = None) -> None:
        super().__init__(bridge, parent)
        self._seen: set[str] = set()
        self.folder_tree = QTreeWidget()
        self.folder_tree.setHeaderLabels(["Name", "Status", "Chunks", "Details"])
        self.folder_tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        self.folder_tree.setColumnWidth(0, 320)
        self.folders_label = plain_label()
        self.add_button = QPushButton("Add folder…")
        self.remove_button = QPushButton("Remove folder")
        self.remove_button.setEnabled(False)
        self.refresh_button = QPushButton("Refresh")
        self.progress_bar = QProgressBar()
        self.progress_bar.setVisible(False)
        self.progress_label = plain_label()
        self.documents_search = SearchPane(bridge, bridge.search_documents, "Search the documents",
                                           line=hit_line, full=hit_text, paged=False)
        self.search_box = self.documents_search.search_box

        buttons = QHBoxLayout()
        buttons.addWidget(self.folders_label, 1)
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        buttons.addWidget(self.refresh_button)
        progress = QHBoxLayout()
        progress.addWidget(self.progress_bar)
        progress.addWidget(self.progress_label, 1)
        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addLayout(buttons)
        top_layout.addWidget(self.folder_tree, 1)
        top_layout.addLayout(progress)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(top)
        split.addWidget(self.documents_search)
        layout = QVBoxLayout(self)
        layout.addWidget(split)
        chain(self.folder_tree, self.add_button, self.remove_button, self.refresh_button, self.search_box)
        self._connect_signals()

    def _connect_signals(self) -> None:
        self.documents_search.status.connect(self.status)
        self.add_button.clicked.connect(self.add_folder)
        self.remove_button.clicked.connect(self.remove_folder)
        self.refresh_button.clicked.connect(self.refresh)
        self.folder_tree.currentItemChanged.connect(self._selected)
        self.bridge.ingest_progress.connect(self.show_progress)

    def refresh(self) -> None:
        self.request(self.bridge.folders, done=self._show_folders, latest="folders")
        self.documents_search.refresh()

    def _show_folders(self, rows: list[dict[str, Any]]) -> None:
        tree = self.folder_tree
        expanded = {tree.topLevelItem(i).data(0, Qt.ItemDataRole.UserRole) for i in range(tree.topLevelItemCount())
                    if tree.topLevelItem(i).isExpanded()}
        chosen = self.selected_folder()
        tree.clear()
        for row in rows:
            folder = row["folder"]
            item = QTreeWidgetItem([folder if row["exists"] else f"{folder} (missing)",
                                    f"{row['indexed']} indexed, {row['skipped']} skipped, {row['failed']} failed",
                                    str(row["chunks"]), ""])
            item.setData(0, Qt.ItemDataRole.UserRole, folder)
            files = row["files"]
            for doc in files[:MAX_FILES_SHOWN]:
                child = QTreeWidgetItem([path_text(self._relative(doc.path, folder)), doc.status, str(doc.n_chunks),
                                         doc.error or ""])
                child.setToolTip(0, path_text(doc.path))
                child.setToolTip(3, doc.error or "")
                item.addChild(child)
            if len(files) > MAX_FILES_SHOWN:
                item.addChild(QTreeWidgetItem([f"… and {len(files) - MAX_FILES_SHOWN} more"]))
            tree.addTopLevelItem(item)
            item.setExpanded(folder in expanded or folder not in self._seen)
            if folder == chosen:
                tree.setCurrentItem(item)
        self._seen = {row["folder"] for row in rows}
        self.folders_label.setText(f"{len(rows)} watched folder{'s' if len(rows) != 1 else ''}" if rows
                                   else "No watched folders yet: add one to search its documents.")
        self._selected(tree.currentItem())

    @staticmethod
    def _relative(path: str, folder: str) -> str:
        try:
            return os.path.relpath(path, folder)
        except ValueError:
            return path

    def selected_folder(self) -> str | None:
        """The watched folder of the selected top-level row, if one is selected."""
        item = self.folder_tree.currentItem()
        if item is None or item.parent() is not None:
            return None
        return item.data(0, Qt.ItemDataRole.UserRole)

    @Slot(QTreeWidgetItem)
    def _selected(self, item: QTreeWidgetItem | None, _previous: QTreeWidgetItem | None = None) -> None:
        self.remove_button.setEnabled(self.selected_folder() is not None)

    def add_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Watch a folder")
        if path:
            self.request(self.bridge.watch_folder, path, done=self._watched)

    def _watched(self, result: Any) -> None:
        folder, covered = result
        also = f" (it holds {', '.join(map(str, covered))}, no longer listed apart)" if covered else ""
        self.report(f"Watching {folder}{also}; its documents are being indexed.")
        self.refresh()

    def remove_folder(self) -> None:
        folder = self.selected_folder()
        if folder is None:
            return
        answer = QMessageBox.question(
            self, "Remove folder",
            f"Stop watching {folder}? Its documents leave the index; the files themselves are not touched.")
        if answer == QMessageBox.StandardButton.Yes:
            self.request(self.bridge.unwatch_folder, folder, done=lambda n: self._unwatched(folder, n))

    def _unwatched(self, folder: str, forgotten: int) -> None:
        self.report(f"Stopped watching {folder}; {forgotten} document{'s' if forgotten != 1 else ''} "
                    "left the index.")
        self.refresh()

    @Slot(object)
    def show_progress(self, progress: Any) -> None:
        """An app.ingest.pipeline.Progress: the bar while indexing; the tree again once it is done."""
        done, total = progress.done, max(progress.total, progress.done)
        self.progress_bar.setRange(0, max(total, 1))
        self.progress_bar.setValue(done)
        if done >= total:
            self.progress_bar.setVisible(False)
            self.progress_label.setText(f"Indexing done: {done} file{'s' if done != 1 else ''} looked at.")
            if self.isVisible():
                self.refresh()
        else:
            self.progress_bar.setVisible(True)
            current = os.path.basename(progress.current) if progress.current else ""
            self.progress_label.setText(f"Indexing {done} of {total} files" + (f": {current}" if current else ""))


class JournalTab(Tab):
    """The actions Pagemind took, newest first; an undoable one can be undone."""

    COLUMNS = ("#", "Time", "Tool", "Arguments", "Risk", "Status")

    def __init__(self, bridge: Any, parent: QWidget | None = None) -> None:
        super().__init__(bridge, parent)
        self._entries: list[Any] = []
        self.journal_table = QTableWidget(0, len(self.COLUMNS))
        self.journal_table.setHorizontalHeaderLabels(self.COLUMNS)
        self.journal_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.journal_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.journal_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.journal_table.verticalHeader().setVisible(False)
        header = self.journal_table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.undo_button = QPushButton("Undo")
        self.undo_button.setEnabled(False)
        self.refresh_button = QPushButton("Refresh")
        self.result_view = read_only_text()

        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.undo_button)
        buttons.addWidget(self.refresh_button)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.journal_table)
        split.addWidget(self.result_view)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(split, 1)
        layout.addLayout(buttons)
        chain(self.journal_table, self.undo_button, self.refresh_button, self.result_view)
        self._connect_signals()

    def _connect_signals(self) -> None:
        self.journal_table.itemSelectionChanged.connect(self._selected)
        self.undo_button.clicked.connect(self.undo)
        self.refresh_button.clicked.connect(self.refresh)

    def refresh(self) -> None:
        self.request(self.bridge.journal, done=self._show_entries, latest="journal")

    def selected_entry(self) -> Any | None:
        rows = self.journal_table.selectionModel().selectedRows()
        return self._entries[rows[0].row()] if rows else None

    def _show_entries(self, entries: list[Any]) -> None:
        chosen = self.selected_entry()
        self._entries = list(entries)
        table = self.journal_table
        table.setRowCount(len(entries))
        for row, entry in enumerate(entries):
            args = json.dumps(entry.args, ensure_ascii=False, separators=(",", ":"), default=str)
            cells = (str(entry.id), f"{entry.started_at:%Y-%m-%d %H:%M:%S}", entry.tool,
                     one_line(args, ARGS_CHARS), entry.risk, entry.status)
            for column, text in enumerate(cells):
                cell = QTableWidgetItem(text)
                if column == 3:
                    cell.setToolTip(json.dumps(entry.args, ensure_ascii=False, indent=2, default=str))
                table.setItem(row, column, cell)
        table.clearSelection()
        for row, entry in enumerate(entries):
            if chosen is not None and entry.id == chosen.id:
                table.selectRow(row)
        self._selected()

    @Slot()
    def _selected(self) -> None:
        entry = self.selected_entry()
        self.undo_button.setEnabled(entry is not None and entry.undoable)
        self.result_view.setPlainText((entry.result or "") if entry is not None else "")

    def undo(self) -> None:
        entry = self.selected_entry()
        if entry is not None and entry.undoable:
            self.undo_button.setEnabled(False)
            self.request(self.bridge.undo, entry.id, done=self._undone, failed=self._not_undone)

    def _undone(self, message: str) -> None:
        self.report(message)
        self.refresh()

    def _not_undone(self, message: str) -> None:
        self.report(message, error=True)
        self.refresh()
