"""Fixtures of the file tool tests: a home and a trash below tmp_path, and a small tree.

``home`` is not automatic: the file tool modules ask for it with ``pytestmark``.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import send2trash
from send2trash import plat_other


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A home folder, and XDG_DATA_HOME (where the home trash is), below tmp_path.

    send2trash reads XDG_DATA_HOME when it is imported: its module is reloaded to see the test's
    value, and reloaded again afterwards.
    """
    folder = tmp_path / "home"
    folder.mkdir()
    monkeypatch.setenv("HOME", str(folder))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    importlib.reload(plat_other)
    yield folder
    monkeypatch.undo()
    importlib.reload(plat_other)


@pytest.fixture
def trash(tmp_path: Path) -> Path:
    """The home trash of the test (send2trash's own freedesktop implementation is required)."""
    if send2trash.send2trash.__module__ != plat_other.__name__:
        pytest.skip("send2trash uses GIO here, whose trash cannot be moved below tmp_path")
    return tmp_path / "xdg" / "Trash"


@pytest.fixture
def work(home: Path) -> Path:
    """A small tree: text and binary files with various modes, a hidden file, a link, folders."""
    root = home / "work"
    (root / "docs" / "deep").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "a.txt").write_text("alpha\n")
    (root / "script.sh").write_text("#!/bin/sh\necho hello\n")
    (root / "script.sh").chmod(0o755)
    (root / "private.txt").write_text("mine only\n")
    (root / "private.txt").chmod(0o600)
    (root / ".hidden").write_text("hidden\n")
    (root / "docs" / "b.md").write_text("# Bee\n" * 50)
    (root / "docs" / "deep" / "c.bin").write_bytes(bytes(range(256)))
    (root / "docs" / "link-to-a").symlink_to("../a.txt")
    return root
