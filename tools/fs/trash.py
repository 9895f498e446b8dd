"""The desktop trash: send a file or folder there, find it again, put it back.

Sending goes through send2trash on every platform. Finding and restoring follow the freedesktop.org
trash specification (Linux and BSD desktops): a trash folder keeps each item under ``files/`` and,
under ``info/``, a ``<name>.trashinfo`` naming the original path. The home trash is
``$XDG_DATA_HOME/Trash``; an item from another device goes to ``.Trash/$uid`` or ``.Trash-$uid`` at
the top of that device. The macOS and Windows trashes cannot be read this way: there :func:`send`
cannot say where an item went and :func:`find` finds nothing.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote_to_bytes

import send2trash

FREEDESKTOP = sys.platform not in ("darwin", "win32")
_INFO = ".trashinfo"


@dataclass(frozen=True)
class TrashItem:
    """One item in a trash folder."""

    original: Path
    file: Path
    """The item itself, under the trash's ``files/``."""
    info: Path
    """Its ``.trashinfo``."""
    deleted: str
    """When it was trashed, as the .trashinfo says (ISO 8601, so it sorts by time)."""


@dataclass(frozen=True)
class _Trash:
    folder: Path
    top: Path
    """The folder relative ``Path=`` entries start from (an absolute entry stands alone)."""

    def names(self) -> set[str]:
        try:
            return {name for name in os.listdir(self.folder / "info") if name.endswith(_INFO)}
        except OSError:
            return set()

    def read(self, name: str) -> TrashItem | None:
        """The item described by ``info/<name>``, or None when that file is missing or malformed."""
        info = self.folder / "info" / name
        try:
            lines = info.read_text("utf-8", errors="surrogateescape").splitlines()
        except OSError:
            return None
        fields = dict(line.partition("=")[::2] for line in lines if "=" in line)
        if not fields.get("Path"):
            return None
        original = self.top / os.fsdecode(unquote_to_bytes(fields["Path"]))
        return TrashItem(original, self.folder / "files" / name[: -len(_INFO)], info, fields.get("DeletionDate", ""))


def _trashes(path: Path) -> list[_Trash]:
    """The trash folders an item from ``path`` may be in: the home trash, then its device's."""
    if not FREEDESKTOP:
        return []
    data = Path(os.environ.get("XDG_DATA_HOME") or "~/.local/share").expanduser()
    top = Path(os.path.realpath(path.parent))
    while not os.path.ismount(top):
        top = top.parent
    uid = str(os.getuid())
    return [_Trash(data / "Trash", data), _Trash(top / ".Trash" / uid, top), _Trash(top / f".Trash-{uid}", top)]


def send(path: Path) -> Path | None:
    """Move ``path`` to the trash (a symlink itself, never its target); where it went, when known.

    Raises OSError when the trash cannot take it; nothing is deleted then.
    """
    trashes = _trashes(path)
    before = [trash.names() for trash in trashes]
    send2trash.send2trash(os.fspath(path))
    for trash, seen in zip(trashes, before, strict=True):
        for name in sorted(trash.names() - seen):
            item = trash.read(name)
            if item is not None and item.original == path:
                return item.file
    return None


def find(original: Path, where: str | None = None) -> TrashItem | None:
    """The item trashed from ``original``: the one at ``where`` if it still is, else the newest."""
    trashes = _trashes(original)
    if where:
        for trash in trashes:
            if Path(where).parent == trash.folder / "files":
                item = trash.read(Path(where).name + _INFO)
                if item is not None and item.original == original and os.path.lexists(item.file):
                    return item
    found = [
        item
        for trash in trashes
        for name in trash.names()
        if (item := trash.read(name)) is not None and item.original == original and os.path.lexists(item.file)
    ]
    return max(found, key=lambda item: item.deleted, default=None)


def restore(item: TrashItem) -> None:
    """Move ``item`` back to its original path (which the caller made sure is free)."""
    shutil.move(os.fspath(item.file), os.fspath(item.original))
    item.info.unlink(missing_ok=True)
