"""Undoing one recorded side effect, refused when the world changed since it was recorded.

The records are those the tools make (see tools/files.py); an action is undone by undoing its
records in reverse order. A record is data from the database, so it is judged before it acts:
every path it names must be one the policy lets Pagemind change (no system folder, none of
Pagemind's own folders, no trash folder but the item's own) and lie inside the allowed folders
(undo has nobody to ask, so what would ask is refused), a backup must be in Pagemind's
backups folder, and a trashed item must still have the fingerprint it had when it went to the
trash. Nothing is deleted for good here either: what undo removes goes to the trash, and nothing
is renamed over anything. Each refusal is an :class:`UndoRefused` whose message says why, in one
line.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from app import settings
from app.safety import places
from tools.fs import anchored, backups, trash
from tools.fs.fingerprint import file_sha256, matches, tree_hash
from tools.fs.resolve import inside, resolve

__all__ = ["UndoRefused", "tree_hash", "undo"]


class UndoRefused(Exception):
    """An effect cannot be undone (the file was edited since, the place is taken ...)."""


def undo(record: dict[str, Any], roots: Sequence[Path] | None = None) -> str:
    """Undo one effect record; returns what was done, in one line. Raises UndoRefused.

    ``roots``: the allowed folders (resolved); a record naming a path outside them is refused, as
    undo has nobody to ask (None: the folders the settings allow).
    """
    kind = record.get("kind")
    if kind not in _UNDO:
        raise UndoRefused(f"an effect of kind {kind!r} cannot be undone")
    allowed = list(roots) if roots is not None else [resolve(r) for r in settings.load().allowed_roots if r.strip()]
    try:
        missing = [key for key in _PATHS[kind] if key not in record]
        if missing:
            raise KeyError(missing[0])
        for key in _PATHS[kind]:
            _check(record, key, allowed)
        return _UNDO[kind](record)
    except KeyError as missing:
        raise UndoRefused(f"the {kind} record lacks {missing}") from None
    except (TypeError, ValueError) as exc:
        raise UndoRefused(f"the {kind} record is malformed ({exc})") from None
    except OSError as exc:
        raise UndoRefused(f"the system refused: {exc}") from exc


def _path(record: dict[str, Any], key: str) -> Path:
    """The path ``record[key]``, which must be absolute and normal."""
    value = record[key]
    if not isinstance(value, str) or not os.path.isabs(value) or os.path.normpath(value) != value:
        raise UndoRefused(f"the record's {key} {value!r} is not a plain absolute path")
    return Path(value)


def _check(record: dict[str, Any], key: str, roots: Sequence[Path]) -> None:
    """Refuse a record whose path is a forbidden place or outside the allowed folders."""
    path = _path(record, key)
    judged = Path(os.path.realpath(path.parent)) / path.name
    reason = places.forbidden(judged, changes=True, moved=True)
    if reason:
        raise UndoRefused(f"refused: {reason}")
    if not any(inside(judged, root) for root in roots):
        raise UndoRefused(f"{judged} is outside the allowed folders; undo it by hand if it is yours")


_PATHS = {"created": ("path",), "overwritten": ("path",), "moved": ("src", "dst"), "trashed": ("path",)}


def _to_trash(path: Path) -> None:
    try:
        trash.send(path)
    except OSError as exc:
        raise UndoRefused(f"the trash cannot take {path} ({exc.strerror or exc})") from None


def _undo_created(record: dict[str, Any]) -> str:
    path, expected = _path(record, "path"), record["sha256"]
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
    path, backup = _path(record, "path"), Path(record["backup"])
    if path.is_symlink() or not path.is_file():
        raise UndoRefused(f"{path} is no longer a file")
    if file_sha256(path) != record["sha256"]:
        raise UndoRefused(f"{path} was edited since")
    if not backups.inside_backups(backup) or backup.is_symlink():
        raise UndoRefused(f"the backup {backup} is not one of Pagemind's backups")
    if not backup.is_file():
        raise UndoRefused(f"the backup {backup} is missing (backups are kept for a limited number of days)")
    info = backup.stat()
    with open(backup, "rb") as old:
        anchored.replace_file(path, lambda out: shutil.copyfileobj(old, out), mode=stat.S_IMODE(info.st_mode),
                              times=(info.st_atime_ns, info.st_mtime_ns))
    owner = (record.get("uid"), record.get("gid"))
    if all(isinstance(n, int) for n in owner) and owner != (os.getuid(), os.getgid()):
        try:
            os.chown(path, *owner, follow_symlinks=False)
        except OSError:
            return f"Restored the earlier version of {path} (its owner could not be given back)."
    return f"Restored the earlier version of {path}."


def _undo_moved(record: dict[str, Any]) -> str:
    src, dst = _path(record, "src"), _path(record, "dst")
    if not os.path.lexists(dst):
        raise UndoRefused(f"{dst} no longer exists")
    if os.path.lexists(src):
        raise UndoRefused(f"{src} is taken again")
    if not src.parent.is_dir():
        raise UndoRefused(f"the folder {src.parent} no longer exists")
    try:
        anchored.relocate(dst, src)
    except FileExistsError:
        raise UndoRefused(f"{src} is taken again") from None
    return f"Moved {dst} back to {src}."


def _undo_trashed(record: dict[str, Any]) -> str:
    path = _path(record, "path")
    if os.path.lexists(path):
        raise UndoRefused(f"{path} is taken again")
    if not path.parent.is_dir():
        raise UndoRefused(f"the folder {path.parent} no longer exists")
    item = trash.find(path, record.get("trash"))
    if item is None:
        raise UndoRefused(f"{path} is no longer in the trash" if trash.FREEDESKTOP
                          else f"restore {path} from the trash by hand")
    if places.trash_folder(item.file) is None:
        raise UndoRefused(f"{item.file} is not in a trash folder")
    has_fingerprint = any(record.get(key) is not None for key in ("sha256", "tree", "link"))
    if has_fingerprint and not matches(item.file, record):
        raise UndoRefused(f"the item in the trash at {item.file} is not the one that was deleted; it was left there")
    try:
        trash.restore(item)
    except FileExistsError:
        raise UndoRefused(f"{path} is taken again") from None
    return f"Restored {path} from the trash."


_UNDO: dict[str, Callable[[dict[str, Any]], str]] = {
    "created": _undo_created,
    "overwritten": _undo_overwritten,
    "moved": _undo_moved,
    "trashed": _undo_trashed,
}
