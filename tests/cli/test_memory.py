"""``main.py memory``: show, edit in $EDITOR, search, as a user runs them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from app.memory.store import MemoryStore
from tests.cli.support import run


def seed(home: Path) -> None:
    store = MemoryStore.open(home / "data" / "pagemind.duckdb")
    store.recall.add("c1", "user", "My locker code is 4411.")
    store.recall.add("c1", "assistant", "Noted.")
    store.archival.insert("The boiler is serviced every October.", tags=["home"])
    store.close()


def test_show_lists_blocks_and_tier_sizes(pagemind_home: Path):
    seed(pagemind_home)
    result = run("memory", "show", home=pagemind_home)
    assert result.returncode == 0, result.stderr
    assert "[persona]" in result.stdout and "[human]" in result.stdout
    assert "recall messages" in result.stdout and "archival passages" in result.stdout
    assert "       2" in result.stdout


def test_edit_a_block_in_the_editor(pagemind_home: Path, tmp_path: Path, monkeypatch):
    editor = tmp_path / "editor.py"
    editor.write_text("import sys, pathlib\np = pathlib.Path(sys.argv[1])\np.write_text('Name: Ada.\\nLikes tea.\\n')\n")
    monkeypatch.setenv("EDITOR", f"{sys.executable} {editor}")
    result = run("memory", "edit", "human", home=pagemind_home)
    assert result.returncode == 0, result.stderr
    assert "human: saved as version 2" in result.stdout
    shown = run("memory", "show", home=pagemind_home)
    assert "Name: Ada.\nLikes tea." in shown.stdout
    missing = run("memory", "edit", "nope", home=pagemind_home)
    assert missing.returncode == 2 and "There is no core memory block 'nope'" in missing.stderr


def test_search_both_tiers_as_text_and_json(pagemind_home: Path):
    seed(pagemind_home)
    text = run("memory", "search", "locker code", home=pagemind_home)
    assert text.returncode == 0, text.stderr
    assert "Page 1 of 1" in text.stdout and "My locker code is 4411." in text.stdout
    assert "searching by words only" in text.stderr or "no embedder" in text.stderr
    data = json.loads(run("memory", "search", "boiler", "--tier", "archival", "--json", home=pagemind_home).stdout)
    assert data[0]["content"] == "The boiler is serviced every October." and data[0]["tags"] == ["home"]


def test_a_file_that_is_not_a_database_is_set_aside_with_one_line(pagemind_home: Path):
    (pagemind_home / "data").mkdir(exist_ok=True)
    (pagemind_home / "data" / "pagemind.duckdb").write_text("not a database\n")
    result = run("memory", "show", home=pagemind_home)
    assert result.returncode == 0 and "[persona]" in result.stdout  # a new, empty memory
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "is damaged" in lines[0] and "moved to" in lines[0]
    [kept] = (pagemind_home / "data").glob("pagemind.duckdb.damaged-*")
    assert kept.read_text() == "not a database\n"  # set aside, never deleted
