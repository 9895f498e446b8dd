"""Helpers shared by the file tool tests: snapshots of a tree, and running tools with an undo
recorder. Their fixtures (home, trash, work) are in conftest.py."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.safety.undo import undo
from tools.registry import Effects, Tool, ToolContext

Args = Callable[[Path], dict[str, Any]]


def snapshot(root: Path) -> dict[str, tuple[Any, ...]]:
    """Every entry under ``root`` with its type and mode, file bytes and link targets."""
    tree: dict[str, tuple[Any, ...]] = {".": ("dir", stat.S_IMODE(root.lstat().st_mode))}
    for folder, dirs, names in os.walk(root):
        for name in dirs + names:
            path = Path(folder, name)
            info = path.lstat()
            mode = stat.S_IMODE(info.st_mode)
            if stat.S_ISLNK(info.st_mode):
                tree[str(path.relative_to(root))] = ("link", os.readlink(path))
            elif stat.S_ISDIR(info.st_mode):
                tree[str(path.relative_to(root))] = ("dir", mode)
            else:
                tree[str(path.relative_to(root))] = ("file", mode, path.read_bytes())
    return tree


def run(tool: Tool[Any], effects: Effects | None = None, **args: Any) -> str:
    return tool.call(args, ToolContext({"effects": effects if effects is not None else Effects()}))


def undo_all(effects: Effects) -> list[str]:
    return [undo(record) for record in reversed(effects.records)]
