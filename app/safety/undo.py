"""Undoing one recorded side effect, refused when the world changed since it was recorded.

The records are those the tools make (see tools/files.py); an action is undone by undoing its
records in reverse order. Nothing is deleted for good here either: what undo removes goes to the
trash. Each refusal is an :class:`UndoRefused` whose message says why, in one line.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tools.fs import backups, trash
from tools.fs.fingerprint import file_sha256, tree_hash

__all__ = ["UndoRefused", "tree_hash", "undo"]


class UndoRefused(Exception):
    """An effect cannot be undone (the file was edited since, the place is taken ...)."""


def undo(record: dict[str, Any]) -> str:
    """Undo one effect record; returns what was done, in one line. Raises UndoRefused."""
    kind = record.get("kind")
    if kind not in _UNDO:
        raise UndoRefused(f"an effect of kind {kind!r} cannot be undone")
    try:
        return _UNDO[kind](record)
    except KeyError as missing:
        raise UndoRefused(f"the {kind} record lacks {missing}") from None
    except OSError as exc:
        raise UndoRefused(f"the system refused: {exc}") from exc


def _to_trash(path: Path) -> None:
    try:
        trash.send(path)
    except OSError as exc:
        raise UndoRefused(f"the trash cannot take {path} ({exc.strerror or exc})") from None


def _undo_created(record: dict[str, Any]) -> str:
    path, expected = Path(record["path"]), record["sha256"]
    if not os.path.lexists(path):
        raise UndoRefused(f"{path} no longer exists")
    if path.is_symlink() or not (path.is_dir() or path.is_file()) or (path.is_dir() and expected is not None):
        raise UndoRefused(f"{path} was replaced by something else since")
    if path.is_file() and expected is None:
        raise UndoRefused(f"cannot tell whether {path} was edited since (no content hash was recorded)")
    if path.is_file() and file_sha256(path) != expected:
        raise UndoRefused(f"{path} was edited since")
    if path.is_dir() and "tree" in record and tree_hash(path) != record["tree"]:
        raise UndoRefused(f"{path} was changed since (its contents differ)")
    if path.is_dir() and "tree" not in record and any(path.iterdir()):
        raise UndoRefused(f"{path} is no longer empty")
    _to_trash(path)
    return f"Moved {path} to the trash."


def _undo_overwritten(record: dict[str, Any]) -> str:
    path, backup = Path(record["path"]), Path(record["backup"])
    if path.is_symlink() or not path.is_file():
        raise UndoRefused(f"{path} is no longer a file")
    if file_sha256(path) != record["sha256"]:
        raise UndoRefused(f"{path} was edited since")
    if not backup.is_file():
        raise UndoRefused(f"the backup {backup} is missing")
    with open(backup, "rb") as old:
        backups.replace(path, lambda out: shutil.copyfileobj(old, out), mode_from=backup)
    return f"Restored the earlier version of {path}."


def _undo_moved(record: dict[str, Any]) -> str:
    src, dst = Path(record["src"]), Path(record["dst"])
    if not os.path.lexists(dst):
        raise UndoRefused(f"{dst} no longer exists")
    if os.path.lexists(src):
        raise UndoRefused(f"{src} is taken again")
    if not src.parent.is_dir():
        raise UndoRefused(f"the folder {src.parent} no longer exists")
    shutil.move(dst, src)
    return f"Moved {dst} back to {src}."


def _undo_trashed(record: dict[str, Any]) -> str:
    path = Path(record["path"])
    if os.path.lexists(path):
        raise UndoRefused(f"{path} is taken again")
    if not path.parent.is_dir():
        raise UndoRefused(f"the folder {path.parent} no longer exists")
    item = trash.find(path, record.get("trash"))
    if item is None:
        raise UndoRefused(f"{path} is no longer in the trash" if trash.FREEDESKTOP
                          else f"restore {path} from the trash by hand")
    trash.restore(item)
    return f"Restored {path} from the trash."


_UNDO: dict[str, Callable[[dict[str, Any]], str]] = {
    "created": _undo_created,
    "overwritten": _undo_overwritten,
    "moved": _undo_moved,
    "trashed": _undo_trashed,
}
