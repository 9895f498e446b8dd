"""For every tool that takes paths, what the gate judged is what the tool opened.

Each path tool runs through the real gate (a user who allows it once) on real files behind
symlinks, and every folder the tool walks to (tools/fs/anchored.py: every file operation of the
tools goes through it) and every file opened by absolute path (an audit hook) is recorded. Each
must lie on the way to a judged target (a folder made above it, the folder holding it) or below
one (a folder listed, copied or trashed whole); Pagemind's own backups and the trash are the only
other places, and no symlink is ever walked through.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Callable

import pytest

import tools
from app import paths
from app.safety.gate import Taint
from tests.safety.layouts import Layout
from tools.fs import anchored
from tools.fs.resolve import inside

pytestmark = pytest.mark.skipif(not anchored.ANCHORED, reason="folder-relative file operations")

Args = Callable[[Path], dict[str, Any]]
ARGS: dict[str, Args] = {
    "list_dir": lambda h: {"path": "~/link-to-notes"},
    "find_files": lambda h: {"root": "~/link-to-notes", "pattern": "*.txt"},
    "read_file": lambda h: {"path": "~/link-to-notes/list.txt"},
    "write_file": lambda h: {"path": "~/link-to-notes/list.txt", "content": "eggs\n", "overwrite": True},
    "create_folder": lambda h: {"path": "~/link-to-notes/new/deeper"},
    "move": lambda h: {"src": "~/link-to-notes/list.txt", "dst": "~/Archive"},
    "copy": lambda h: {"src": "~/link-to-notes", "dst": "~/Archive/notes copy"},
    "delete": lambda h: {"path": "~/link-to-notes/list.txt"},
    "open_path": lambda h: {"path": "~/link-to-notes/list.txt"},
    "disk_usage": lambda h: {"path": "~/link-to-notes"},
    "screenshot": lambda h: {"path": "~/link-to-notes/shot.png"},
}
"""Arguments for each tool that takes paths; a new path tool must be added here (the test says so)."""


_recording: list[list[Path]] = []
"""Where the audit hook below records files opened by absolute path, while a test listens."""


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _recording and event == "open" and isinstance(args[0], (str, bytes)) and os.path.isabs(args[0]):
        _recording[-1].append(Path(os.fsdecode(args[0])))


sys.addaudithook(_audit)  # once per process: audit hooks cannot be removed


def path_tools() -> list[str]:
    registry = tools.load_all()
    return [name for name in registry.names() if registry.get(name).paths]


def test_every_path_tool_is_covered():
    assert sorted(path_tools()) == sorted(ARGS), "add the new path tool to ARGS"


@pytest.mark.parametrize("name", sorted(ARGS))
def test_the_paths_a_tool_opens_are_the_paths_the_gate_judged(name: str, plain_layout: Layout, rig_factory,
                                                              monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    home = plain_layout.home
    (home / "Archive").mkdir()
    (home / "link-to-notes").symlink_to(home / "Notes")
    (home / "Notes" / "sub").mkdir()
    (home / "Notes" / "sub" / "deep.txt").write_text("deep\n")
    monkeypatch.setenv("PAGEMIND_OPENER", "true")
    monkeypatch.delenv("DISPLAY", raising=False)
    rig = rig_factory()
    rig.confirmer.answers = ["once"] * 3
    folders: list[Path] = []
    opened: list[Path] = []
    real_open_folder = anchored.open_folder

    def recording(path: Path) -> int:
        folders.append(Path(path))
        return real_open_folder(path)

    monkeypatch.setattr(anchored, "open_folder", recording)
    tool = rig.gate.registry.get(name)
    args = {**ARGS[name](home), "request_heartbeat": False}
    judged = tool.judge(args)
    _recording.append(opened)
    try:
        outcome = rig.gate.run(name, args, Taint())
    finally:
        _recording.clear()
    assert outcome.ran or name == "screenshot", outcome.text
    targets = [t.path for t in judged.all_targets()]
    assert all(str(t).startswith(str(plain_layout.real_home)) for t in targets)
    own = [Path(os.path.realpath(paths.backups_dir())), Path(os.path.realpath(home / ".local" / "share" / "Trash"))]

    def allowed(path: Path) -> bool:
        """On the way to a judged target (or one of Pagemind's own places), or below it."""
        return any(inside(path, t) or inside(t, path) for t in [*targets, *own]) or not inside(
            path, plain_layout.real_home)

    walked = [f for f in folders if inside(f, plain_layout.real_home)]
    assert all(map(allowed, walked)), (targets, walked)
    touched = [p for p in opened if inside(p, plain_layout.real_home)]
    assert all(map(allowed, touched)), (targets, touched)
    assert not any(inside(f, home / "link-to-notes") and f != home for f in walked), "a symlink was walked through"
