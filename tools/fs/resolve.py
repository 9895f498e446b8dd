"""Paths from the model's arguments, resolved exactly as the safety policy resolved them, and checked."""

from __future__ import annotations

import os
from pathlib import Path


def resolve(text: str, *, follow_link: bool = True) -> Path:
    """The absolute path: ``~`` expanded, relative to the home folder, ``..`` and symlinks resolved.

    With ``follow_link`` False a final symlink is kept as it is (moving or trashing a link acts on
    the link, never on what it points to).
    """
    path = Path(os.path.expanduser(text))
    if not path.is_absolute():
        path = Path.home() / path
    if follow_link or path.name in ("", ".", ".."):
        return Path(os.path.realpath(path))
    return Path(os.path.realpath(path.parent)) / path.name


def existing(path: Path) -> Path:
    """``path``, which must exist (a broken symlink exists as a link)."""
    if not os.path.lexists(path):
        raise FileNotFoundError(f"{path} does not exist")
    return path


def existing_folder(path: Path) -> Path:
    """``path``, which must be an existing folder."""
    if not existing(path).is_dir():
        raise NotADirectoryError(f"{path} is a file, not a folder")
    return path


def movable(path: Path) -> Path:
    """``path``, which must not be a filesystem root or the home folder itself."""
    if path == path.parent or path == Path.home().resolve():
        raise PermissionError(f"{path} is not to be moved or deleted")
    return path


def destination(source: Path, target: Path) -> Path:
    """Where moving or copying ``source`` to ``target`` puts it (into ``target`` if a folder).

    Refuses to replace anything, to write into a missing folder, or to put a folder inside itself.
    """
    if target.is_dir():
        target = target / source.name
    if os.path.lexists(target):
        raise FileExistsError(f"{target} already exists; nothing was replaced (choose another name)")
    if not target.parent.is_dir():
        raise FileNotFoundError(f"the folder {target.parent} does not exist")
    if source.is_dir() and not source.is_symlink() and target.is_relative_to(source):
        raise ValueError(f"the folder {source} cannot go inside itself")
    return target
