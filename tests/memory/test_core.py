"""Core memory blocks: limits, exact replace with a helpful miss, history and restore."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.memory.core import DEFAULT_BLOCKS, CoreMemory, CoreMemoryError
from app.memory.db import Database


@pytest.fixture
def core(tmp_path: Path):
    db = Database(tmp_path / "core.duckdb")
    yield CoreMemory(db)
    db.close()


def test_default_blocks_exist_once(core: CoreMemory, tmp_path: Path):
    assert [b.label for b in core.blocks()] == ["persona", "human"]
    assert core.get("human").value == DEFAULT_BLOCKS["human"]
    again = CoreMemory(core.db)  # re-opening does not duplicate or reset
    core.set("human", "Name: Ada.")
    assert again.get("human").value == "Name: Ada."
    assert len(core.history("human")) == 2


def test_append_and_replace(core: CoreMemory):
    core.set("human", "Name: Ada.")
    core.append("human", "Likes green tea.")
    assert core.get("human").value == "Name: Ada.\nLikes green tea."
    core.replace("human", "green tea", "black coffee")
    assert core.get("human").value == "Name: Ada.\nLikes black coffee."
    assert [v.action for v in core.history("human")] == ["create", "edit", "append", "replace"]


def test_replace_miss_quotes_the_closest_line(core: CoreMemory):
    core.set("human", "Name: Ada Lovelace.\nWorks on the analytical engine.\nLives in London.")
    with pytest.raises(CoreMemoryError) as info:
        core.replace("human", "Works on the analytic engine", "Retired")
    message = str(info.value)
    assert "is not in block 'human'" in message
    assert "'Works on the analytical engine.'" in message
    assert core.get("human").value.startswith("Name: Ada Lovelace.")  # unchanged


def test_limits_are_enforced(core: CoreMemory):
    core.create("projects", "", limit=30)
    core.append("projects", "Pagemind docs")
    with pytest.raises(CoreMemoryError, match="would hold 34 characters; its limit is 30"):
        core.append("projects", "Budget 2027 planning")
    assert core.get("projects").value == "Pagemind docs"


def test_unknown_block_names_the_known_ones(core: CoreMemory):
    with pytest.raises(CoreMemoryError, match="There is no core memory block 'nope'; the blocks are: persona, human"):
        core.append("nope", "x")


@pytest.mark.parametrize("label", ["", "two words", "a-b", "../etc"])
def test_bad_labels(core: CoreMemory, label: str):
    with pytest.raises(CoreMemoryError, match="single word"):
        core.create(label)


def test_history_and_restore_any_version(core: CoreMemory):
    core.set("persona", "v2")
    core.set("persona", "v3")
    versions = core.history("persona")
    assert [v.version for v in versions] == [1, 2, 3]
    core.restore("persona", 1)
    assert core.get("persona").value == DEFAULT_BLOCKS["persona"]
    assert core.history("persona")[-1].action == "restore 1"
    with pytest.raises(CoreMemoryError, match="has no version 9"):
        core.restore("persona", 9)


def test_render_shows_every_block_with_its_use(core: CoreMemory):
    core.set("human", "Name: Ada.")
    text = core.render()
    assert '<human characters="10/2000">\nName: Ada.\n</human>' in text
    assert text.index("<persona") < text.index("<human")
