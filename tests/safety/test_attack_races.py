"""Time-of-check against time-of-use (finding 6, and the undo race of finding 11): files and
folders swapped for symlinks while the user is asked, and a folder flipping between a real
folder and a link to outside home while hundreds of calls run under a standing rule."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from app import paths
from app.safety.gate import Taint
from app.safety.undo import UndoRefused, undo
from tests.safety.layouts import Layout
from tools.registry import Effects, ToolContext
from tools import files

pytestmark = pytest.mark.skipif(not hasattr(os, "O_NOFOLLOW"), reason="POSIX file system semantics")


def call(rig, tool: str, **args):
    return rig.gate.run(tool, {**args, "request_heartbeat": False}, Taint())


def swapping(rig, swap) -> None:
    """Make the confirmer swap something on disk while the user is asked, then approve."""
    def answer(request) -> str:
        rig.confirmer.seen.append(request)
        swap()
        return "once"

    rig.confirmer.confirm = answer  # type: ignore[method-assign]


def test_a_file_swapped_for_a_link_during_the_question_is_not_written(plain_layout: Layout, rig_factory):
    home = plain_layout.home
    settings_file = paths.settings_file()
    before = settings_file.read_bytes()
    rig = rig_factory()

    def swap() -> None:
        os.unlink(home / "Notes" / "list.txt")
        os.symlink(settings_file, home / "Notes" / "list.txt")

    swapping(rig, swap)
    outcome = call(rig, "write_file", path="~/Notes/list.txt", content='allowed_roots = ["/"]\n', overwrite=True)
    assert outcome.text.startswith("Refused:") and "while you were asked" in outcome.text, outcome.text
    assert settings_file.read_bytes() == before


def test_a_parent_folder_swapped_during_the_question_does_not_trash_another_file(plain_layout: Layout, rig_factory):
    home = plain_layout.home
    (home / "Notes" / "sub").mkdir()
    (home / "Notes" / "sub" / "old.txt").write_text("old draft")
    (home / "Precious").mkdir()
    (home / "Precious" / "old.txt").write_text("the only copy of the thesis")
    rig = rig_factory()

    def swap() -> None:
        os.rename(home / "Notes" / "sub", home / "Notes" / "sub-moved")
        os.symlink(home / "Precious", home / "Notes" / "sub")

    swapping(rig, swap)
    outcome = call(rig, "delete", path="~/Notes/sub/old.txt")
    assert outcome.text.startswith("Refused:"), outcome.text
    assert (home / "Precious" / "old.txt").read_text() == "the only copy of the thesis"


def test_the_tool_refuses_a_folder_swapped_after_the_judgement(plain_layout: Layout):
    """Past the gate's second look: the tool walks to the judged path without following links."""
    home = plain_layout.home
    (home / "Notes" / "sub").mkdir()
    judged = files.write_file.judge({"path": "~/Notes/sub/new.txt", "content": "x"})
    os.rename(home / "Notes" / "sub", home / "Notes" / "sub-moved")
    os.symlink(plain_layout.outside, home / "Notes" / "sub")
    result = files.write_file.call({"path": "~/Notes/sub/new.txt", "content": "x"},
                                   ToolContext({"effects": Effects()}, judgement=judged))
    assert result.startswith("Error: PathChanged:") and "nothing was done" in result, result
    assert not (plain_layout.outside / "new.txt").exists()


class Flipper:
    """Flips ``~/Notes/flip`` between a real folder and a symlink to a folder outside home."""

    def __init__(self, home: Path, outside: Path) -> None:
        self.flip, self.parked, self.outside = home / "Notes" / "flip", home / "Notes" / "flip-parked", outside
        self.flip.mkdir()
        (self.flip / "note.txt").write_text("harmless")
        (outside / "note.txt").write_text("SECRET outside the allowed folders")
        self.stop = threading.Event()
        self.flips = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            os.rename(self.flip, self.parked)
            os.symlink(self.outside, self.flip)
            time.sleep(0.0005)
            os.unlink(self.flip)
            os.rename(self.parked, self.flip)
            self.flips += 1
            time.sleep(0.0005)

    def __enter__(self) -> Flipper:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


@pytest.mark.slow
def test_racing_writes_and_reads_under_a_rule_never_land_outside(plain_layout: Layout, rig_factory):
    home, outside = plain_layout.home, plain_layout.outside
    rig = rig_factory("write " + str(home / "Notes"))
    leaked_reads = 0
    with Flipper(home, outside) as flipper:
        for n in range(400):
            call(rig, "write_file", path=f"~/Notes/flip/w{n}.txt", content="x")
            read = call(rig, "read_file", path="~/Notes/flip/note.txt")
            leaked_reads += "SECRET" in read.text and read.ran
    assert flipper.flips > 50, "the race must really have run"
    assert sorted(p.name for p in outside.iterdir()) == ["note.txt", "secret.txt"]  # no write landed outside
    assert leaked_reads == 0
    written = list((home / "Notes" / "flip").glob("w*.txt"))
    assert written, "writes while the folder was real must have run"


@pytest.mark.slow
def test_undo_of_a_move_never_replaces_a_file_created_meanwhile(plain_layout: Layout):
    home = plain_layout.home
    destroyed = 0
    for n in range(300):
        source = home / "Notes" / f"a{n}.txt"
        source.write_text("moved")
        effects = Effects()
        files.move.call({"src": str(source), "dst": str(home / "Notes" / f"b{n}.txt")},
                        ToolContext({"effects": effects}))
        created = threading.Event()

        def racer() -> None:
            try:
                fd = os.open(source, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
            except FileExistsError:
                return
            os.write(fd, b"new work")
            os.close(fd)
            created.set()

        thread = threading.Thread(target=racer)
        thread.start()
        try:
            undo(effects.records[0])
        except UndoRefused:
            pass
        thread.join()
        if created.is_set() and source.read_bytes() != b"new work":
            destroyed += 1
    assert destroyed == 0
