"""The memory inspector, over a real Bridge and DuckDB file: core blocks, searches, documents, the journal."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import send2trash
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox
from send2trash import plat_other

from app import settings
from app.gui.bridge import Bridge
from app.gui.inspector import MemoryInspector
from app.memory.store import MemoryStore
from tests.gui.conftest import reply, write

WAIT = 20_000
INDEXING = 30_000


def open_inspector(qtbot: Any, bridge: Any) -> MemoryInspector:
    inspector = MemoryInspector(bridge)
    qtbot.addWidget(inspector)
    with qtbot.waitActive(inspector):
        inspector.show()
        inspector.activateWindow()
    return inspector


def texts(widget: Any) -> list[str]:
    return [widget.item(row).text() for row in range(widget.count())]


def select_block(qtbot: Any, inspector: MemoryInspector, label: str) -> None:
    qtbot.waitUntil(lambda: inspector.core_list.count() >= 2, timeout=WAIT)
    row = next(r for r in range(inspector.core_list.count())
               if inspector.core_list.item(r).data(Qt.ItemDataRole.UserRole) == label)
    inspector.core_list.setCurrentRow(row)
    value = inspector.bridge.host.memory.core.get(label).value
    qtbot.waitUntil(lambda: inspector.core_editor.toPlainText() == value and inspector.history_list.count() >= 1,
                    timeout=WAIT)


def search(qtbot: Any, pane: Any, words: str) -> None:
    pane.search_box.clear()
    qtbot.keyClicks(pane.search_box, words)
    qtbot.keyClick(pane.search_box, Qt.Key.Key_Return)


@pytest.fixture
def trash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The home trash, below tmp_path (send2trash reads XDG_DATA_HOME when its module loads)."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    importlib.reload(plat_other)
    if send2trash.send2trash.__module__ != plat_other.__name__:
        pytest.skip("send2trash uses GIO here, whose trash cannot be moved below tmp_path")
    yield tmp_path / "xdg" / "Trash"
    monkeypatch.undo()
    importlib.reload(plat_other)


def test_a_core_block_is_edited_saved_and_restored(qtbot: Any, make_bridge: Any) -> None:
    bridge = make_bridge(model=False)
    core = bridge.host.memory.core
    original = core.get("human").value
    inspector = open_inspector(qtbot, bridge)
    assert inspector.windowTitle() == "Memory — Pagemind"
    select_block(qtbot, inspector, "human")
    assert not inspector.save_button.isEnabled()

    inspector.core_editor.setPlainText("The user likes pineapple.")
    assert inspector.core.unsaved_label.isVisible()
    assert inspector.core.count_label.text() == "25 / 2000"
    assert inspector.save_button.isEnabled()
    qtbot.keyClick(inspector.core_editor, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: core.get("human").value == "The user likes pineapple.", timeout=WAIT)
    qtbot.waitUntil(lambda: inspector.history_list.count() == 2, timeout=WAIT)
    assert inspector.status_label.text() == "Saved human (version 2)."
    assert not inspector.core.unsaved_label.isVisible()
    assert texts(inspector.history_list)[0].startswith("v2  edit  ")
    assert texts(inspector.history_list)[1].startswith("v1  create  ")

    inspector.history_list.setCurrentRow(1)
    assert inspector.core.history_preview.toPlainText() == original
    assert inspector.core.history_preview.isReadOnly()
    qtbot.mouseClick(inspector.restore_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: core.get("human").value == original, timeout=WAIT)
    qtbot.waitUntil(lambda: inspector.history_list.count() == 3, timeout=WAIT)
    assert core.get("human").version == 3
    assert inspector.core_editor.toPlainText() == original
    assert texts(inspector.history_list)[0].startswith("v3  restore 1  ")
    assert "Restored human to version 1" in inspector.status_label.text()

    qtbot.keyClick(inspector, Qt.Key.Key_Escape)
    assert not inspector.isVisible()


def test_an_edit_over_the_limit_is_refused_and_kept(qtbot: Any, make_bridge: Any) -> None:
    bridge = make_bridge(model=False)
    core = bridge.host.memory.core
    before = core.get("human")
    inspector = open_inspector(qtbot, bridge)
    select_block(qtbot, inspector, "human")

    too_long = "x" * (before.limit + 1)
    inspector.core_editor.setPlainText(too_long)
    assert inspector.core.count_label.text() == f"{before.limit + 1} / {before.limit}"
    assert "#c62828" in inspector.core.count_label.styleSheet()
    qtbot.mouseClick(inspector.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "limit" in inspector.status_label.text(), timeout=WAIT)
    assert "#c62828" in inspector.status_label.styleSheet()
    assert core.get("human") == before
    assert len(core.history("human")) == 1

    core.set("persona", "Changed elsewhere.")
    inspector.core.refresh()
    qtbot.waitUntil(lambda: any(t.startswith("persona  (18 / ") for t in texts(inspector.core_list)), timeout=WAIT)
    assert inspector.core_editor.toPlainText() == too_long
    assert inspector.core.unsaved_label.isVisible()
    assert any(t.startswith("human *") for t in texts(inspector.core_list))

    select_block(qtbot, inspector, "persona")
    assert inspector.core_editor.toPlainText() == "Changed elsewhere."
    assert not inspector.core.unsaved_label.isVisible()
    row = next(n for n, text in enumerate(texts(inspector.core_list)) if text.startswith("human"))
    inspector.core_list.setCurrentRow(row)
    assert inspector.core_editor.toPlainText() == too_long
    assert inspector.core.unsaved_label.isVisible()


def test_the_inspector_fills_in_once_memory_opens(qtbot: Any, tmp_path: Path, work: Path) -> None:
    bridge = Bridge(open_memory=lambda scheduler: MemoryStore.open(tmp_path / "memory.duckdb"),
                    load_model=lambda conf: None, ingest=False)
    try:
        inspector = open_inspector(qtbot, bridge)
        assert inspector.status_label.text() == "Memory is still opening…"
        assert inspector.core_list.count() == 0
        bridge.start()
        qtbot.waitUntil(lambda: inspector.core_list.count() == 2, timeout=WAIT)
        assert inspector.status_label.text() == ""
        assert inspector.core_editor.toPlainText() == bridge.host.memory.core.get("persona").value
    finally:
        bridge.close()


def test_recall_search_finds_a_message_of_a_turn(qtbot: Any, make_bridge: Any) -> None:
    bridge = make_bridge([reply("Noted.")])
    with qtbot.waitSignal(bridge.turn_finished, timeout=WAIT):
        bridge.send("hello pineapple")
    inspector = open_inspector(qtbot, bridge)
    inspector.tabs.setCurrentWidget(inspector.recall)
    pane = inspector.recall
    qtbot.keyClick(inspector, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert pane.search_box.hasFocus()

    search(qtbot, pane, "pineapple")
    qtbot.waitUntil(lambda: pane.results.count() > 0, timeout=WAIT)
    row = next(n for n, text in enumerate(texts(pane.results)) if "user: hello pineapple" in text)
    pane.results.setCurrentRow(row)
    assert "hello pineapple" in pane.detail.toPlainText()
    assert pane.detail.isReadOnly()
    assert "showing" in pane.summary_label.text()

    search(qtbot, pane, "zebra")
    qtbot.waitUntil(lambda: pane.summary_label.text() == "No matches", timeout=WAIT)
    assert pane.results.count() == 0 and pane.detail.toPlainText() == ""


def test_archival_search_pages_through_passages(qtbot: Any, make_bridge: Any) -> None:
    bridge = make_bridge(model=False)
    archival = bridge.host.memory.archival
    archival.insert("The spare key is under the blue flowerpot by the back door.")
    for n in range(6):
        archival.insert(f"Shopping list {n}: apples and bread.")
    inspector = open_inspector(qtbot, bridge)
    inspector.tabs.setCurrentWidget(inspector.archival)
    pane = inspector.archival

    search(qtbot, pane, "flowerpot")
    qtbot.waitUntil(lambda: pane.results.count() == 1, timeout=WAIT)
    pane.results.setCurrentRow(0)
    assert "The spare key is under the blue flowerpot by the back door." in pane.detail.toPlainText()

    search(qtbot, pane, "apples")
    qtbot.waitUntil(lambda: pane.results.count() == 5, timeout=WAIT)
    assert pane.summary_label.text().startswith("Page 1 of 2")
    assert pane.next_button.isEnabled() and not pane.previous_button.isEnabled()
    qtbot.mouseClick(pane.next_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: pane.results.count() == 1, timeout=WAIT)
    assert pane.summary_label.text().startswith("Page 2 of 2")
    assert all("Shopping list" in text for text in texts(pane.results))


def test_journal_undo_trashes_the_written_file(qtbot: Any, make_bridge: Any, work: Path, trash: Path) -> None:
    target = work / "note.txt"
    bridge = make_bridge([write(target, "hi"), reply("saved")])
    bridge.confirm_requested.connect(lambda request: bridge.answer("once"))
    with qtbot.waitSignal(bridge.turn_finished, timeout=WAIT):
        bridge.send("save a note")
    assert target.read_text() == "hi"

    inspector = open_inspector(qtbot, bridge)
    inspector.tabs.setCurrentWidget(inspector.journal)
    table = inspector.journal_table
    qtbot.waitUntil(lambda: table.rowCount() >= 1, timeout=WAIT)
    assert not inspector.undo_button.isEnabled()
    row = next(r for r in range(table.rowCount()) if table.item(r, 2).text() == "write_file")
    assert str(target) in table.item(row, 3).text()
    assert table.item(row, 4).text() == "write" and table.item(row, 5).text() == "done"
    table.selectRow(row)
    assert inspector.undo_button.isEnabled()
    assert inspector.journal.result_view.toPlainText() != ""

    qtbot.mouseClick(inspector.undo_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not target.exists(), timeout=WAIT)
    qtbot.waitUntil(lambda: table.item(row, 5).text() == "undone", timeout=WAIT)
    assert inspector.status_label.text().startswith("Undid #")
    assert (trash / "files" / "note.txt").read_text() == "hi"
    table.selectRow(row)
    assert not inspector.undo_button.isEnabled()


def test_documents_tab_watches_indexes_searches_and_removes_a_folder(
        qtbot: Any, make_bridge: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = tmp_path / "docs"
    (docs / "notes").mkdir(parents=True)
    (docs / "notes" / "garden.txt").write_text("The quarterly garden report mentions tomatoes and basil.\n")
    (docs / "blob.txt").write_bytes(b"\x00\x01\x02binary\x00" * 64)
    bridge = make_bridge(model=False, ingest=True)
    inspector = open_inspector(qtbot, bridge)
    inspector.tabs.setCurrentWidget(inspector.documents)
    tab, tree = inspector.documents, inspector.folder_tree
    qtbot.waitUntil(lambda: "No watched folders" in tab.folders_label.text(), timeout=WAIT)

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *args, **kwargs: str(docs))
    qtbot.mouseClick(tab.add_button, Qt.MouseButton.LeftButton)

    def rows() -> dict[str, list[str]]:
        if tree.topLevelItemCount() != 1:
            return {}
        folder = tree.topLevelItem(0)
        children = (folder.child(n) for n in range(folder.childCount()))
        return {child.text(0): [child.text(c) for c in range(1, 4)] for child in children}

    garden = str(Path("notes") / "garden.txt")
    qtbot.waitUntil(lambda: rows().get(garden, [""])[0] == "indexed" and "blob.txt" in rows(), timeout=INDEXING)
    folder = tree.topLevelItem(0)
    assert folder.text(0) == str(docs)
    assert folder.text(1) == "1 indexed, 1 skipped, 0 failed"
    assert int(rows()[garden][1]) >= 1
    status, chunks, reason = rows()["blob.txt"]
    assert status == "skipped" and chunks == "0" and "binary" in reason
    assert "Watching" in inspector.status_label.text()

    search(qtbot, tab.documents_search, "tomatoes")
    qtbot.waitUntil(lambda: tab.documents_search.results.count() == 1, timeout=WAIT)
    assert texts(tab.documents_search.results)[0].startswith(str(docs / "notes" / "garden.txt"))
    tab.documents_search.results.setCurrentRow(0)
    assert "quarterly garden report" in tab.documents_search.detail.toPlainText()

    asked: list[str] = []

    def question(parent: Any, title: str, text: str, *args: Any) -> QMessageBox.StandardButton:
        asked.append(text)
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", question)
    tree.setCurrentItem(tree.topLevelItem(0).child(0))
    assert not tab.remove_button.isEnabled()
    tree.setCurrentItem(tree.topLevelItem(0))
    assert tab.remove_button.isEnabled()
    qtbot.mouseClick(tab.remove_button, Qt.MouseButton.LeftButton)
    assert asked == [f"Stop watching {docs}? Its documents leave the index; the files themselves are not touched."]
    qtbot.waitUntil(lambda: tree.topLevelItemCount() == 0, timeout=WAIT)
    assert settings.load().watched_folders == []
    assert bridge.host.memory.documents.under(str(docs)) == []
    assert (docs / "notes" / "garden.txt").exists()
    assert inspector.status_label.text() == f"Stopped watching {docs}; 2 documents left the index."
