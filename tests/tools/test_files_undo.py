"""Undo of the file tools: every undoable action, done through the tool and undone record by
record, leaves the tree byte-identical; undo refuses when the world changed since."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.safety.undo import UndoRefused, undo
from tests.tools.files_support import Args, run, snapshot, undo_all
from tools import files
from tools.registry import Effects, Tool

# -- the round trip ---------------------------------------------------------------------------------

ROUND_TRIPS: dict[str, tuple[Tool[Any], Args]] = {
    "write a new file": (files.write_file, lambda w: {"path": str(w / "new.txt"), "content": "fresh\n"}),
    "write a new file, relative to home": (files.write_file, lambda w: {"path": "work/docs/n.txt", "content": "é"}),
    "overwrite": (files.write_file,
                  lambda w: {"path": str(w / "script.sh"), "content": "echo bye\n", "overwrite": True}),
    "create a folder": (files.create_folder, lambda w: {"path": str(w / "empty" / "new")}),
    "create nested folders": (files.create_folder, lambda w: {"path": str(w / "x" / "y" / "z")}),
    "move a file into a folder": (files.move, lambda w: {"src": str(w / "a.txt"), "dst": str(w / "docs")}),
    "rename a file": (files.move, lambda w: {"src": str(w / "private.txt"), "dst": str(w / "renamed.txt")}),
    "move a folder": (files.move, lambda w: {"src": str(w / "docs"), "dst": str(w / "empty")}),
    "move a link": (files.move, lambda w: {"src": str(w / "docs" / "link-to-a"), "dst": str(w / "link")}),
    "copy a file": (files.copy, lambda w: {"src": str(w / "script.sh"), "dst": str(w / "docs")}),
    "copy a folder": (files.copy, lambda w: {"src": str(w / "docs"), "dst": str(w / "docs copy")}),
    "delete a file": (files.delete, lambda w: {"path": str(w / "private.txt")}),
    "delete a folder": (files.delete, lambda w: {"path": str(w / "docs")}),
    "delete a link": (files.delete, lambda w: {"path": str(w / "docs" / "link-to-a")}),
}

pytestmark = pytest.mark.usefixtures("home")


@pytest.mark.parametrize("action", ROUND_TRIPS)
def test_every_undoable_action_undone_leaves_the_tree_byte_identical(action: str, work: Path, trash: Path):
    tool, args = ROUND_TRIPS[action]
    before = snapshot(work)
    effects = Effects()
    result = run(tool, effects, **args(work))
    assert not result.startswith("Error"), result
    assert effects.records and snapshot(work) != before
    done = undo_all(effects)
    assert snapshot(work) == before
    assert all(line and "\n" not in line for line in done)


def test_a_file_edited_after_it_was_written_is_not_undone(work: Path, trash: Path):
    effects = Effects()
    run(files.write_file, effects, path=str(work / "new.txt"), content="one")
    (work / "new.txt").write_text("the user's edit")
    with pytest.raises(UndoRefused, match=r"new\.txt was edited since$"):
        undo_all(effects)
    assert (work / "new.txt").read_text() == "the user's edit"


def test_an_overwritten_file_edited_again_is_not_restored(work: Path):
    effects = Effects()
    run(files.write_file, effects, path=str(work / "a.txt"), content="two", overwrite=True)
    (work / "a.txt").write_text("three")
    with pytest.raises(UndoRefused, match="a.txt was edited since"):
        undo_all(effects)
    assert (work / "a.txt").read_text() == "three"


def test_a_move_is_not_undone_once_its_source_is_taken_again(work: Path):
    effects = Effects()
    run(files.move, effects, src=str(work / "a.txt"), dst=str(work / "b.txt"))
    (work / "a.txt").write_text("a new a.txt")
    with pytest.raises(UndoRefused, match="a.txt is taken again"):
        undo_all(effects)
    assert (work / "a.txt").read_text() == "a new a.txt" and (work / "b.txt").read_text() == "alpha\n"


def test_a_move_whose_destination_is_gone_is_not_undone(work: Path):
    effects = Effects()
    run(files.move, effects, src=str(work / "a.txt"), dst=str(work / "b.txt"))
    (work / "b.txt").rename(work / "c.txt")
    with pytest.raises(UndoRefused, match="b.txt no longer exists"):
        undo_all(effects)


def test_a_folder_filled_after_it_was_created_is_not_undone(work: Path, trash: Path):
    effects = Effects()
    run(files.create_folder, effects, path=str(work / "new"))
    (work / "new" / "mine.txt").write_text("x")
    with pytest.raises(UndoRefused, match="new is no longer empty"):
        undo_all(effects)
    assert (work / "new" / "mine.txt").exists()


def test_a_copied_folder_changed_since_is_not_undone(work: Path, trash: Path):
    effects = Effects()
    run(files.copy, effects, src=str(work / "docs"), dst=str(work / "copy"))
    (work / "copy" / "b.md").write_text("edited")
    with pytest.raises(UndoRefused, match="copy was changed since"):
        undo_all(effects)


def test_a_trashed_file_is_not_restored_over_a_new_one(work: Path, trash: Path):
    effects = Effects()
    run(files.delete, effects, path=str(work / "a.txt"))
    (work / "a.txt").write_text("new")
    with pytest.raises(UndoRefused, match="a.txt is taken again"):
        undo_all(effects)
    assert (work / "a.txt").read_text() == "new" and (trash / "files" / "a.txt").read_text() == "alpha\n"


def test_a_trashed_file_is_found_by_its_original_path_when_its_place_in_the_trash_is_unknown(
    work: Path, trash: Path
):
    (trash / "files").mkdir(parents=True)
    (trash / "files" / "a.txt").write_text("an older a.txt from elsewhere")
    effects = Effects()
    run(files.delete, effects, path=str(work / "a.txt"))
    [record] = effects.records
    assert record["path"] == str(work / "a.txt") and record["trash"] == str(trash / "files" / "a 1.txt")
    assert undo({**record, "trash": None}) == f"Restored {work / 'a.txt'} from the trash."
    assert (work / "a.txt").read_text() == "alpha\n" and not (trash / "info" / "a 1.txt.trashinfo").exists()


def test_a_file_emptied_from_the_trash_cannot_come_back(work: Path, trash: Path):
    effects = Effects()
    run(files.delete, effects, path=str(work / "a.txt"))
    (trash / "files" / "a.txt").unlink()
    with pytest.raises(UndoRefused, match="a.txt is no longer in the trash"):
        undo_all(effects)


def test_unknown_malformed_and_unverifiable_records_are_refused(tmp_path: Path):
    with pytest.raises(UndoRefused, match="'launched' cannot be undone"):
        undo({"kind": "launched"})
    with pytest.raises(UndoRefused, match="the moved record lacks 'dst'"):
        undo({"kind": "moved", "src": "/x"})
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(UndoRefused, match="cannot tell whether .*f.txt was edited since"):
        undo({"kind": "created", "path": str(tmp_path / "f.txt"), "sha256": None}, roots=[tmp_path])
    with pytest.raises(UndoRefused, match="f.txt is outside the allowed folders"):
        undo({"kind": "created", "path": str(tmp_path / "f.txt"), "sha256": None})
    assert (tmp_path / "f.txt").exists()
