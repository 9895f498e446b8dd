"""The one path resolver: the permission gate judges what it returns, and the tools act on exactly that.

A path from the model (or the user) is resolved once, by :func:`resolve`, when the gate judges the
call; the tool is handed the resolved :class:`~pathlib.Path` and never resolves the text again.
The checks below take resolved paths.
"""

from __future__ import annotations

import os
from pathlib import Path


def resolve(text: str | os.PathLike[str], *, follow_link: bool = True, base: Path | None = None) -> Path:
    """The absolute path: ``~`` expanded, relative to ``base`` (the home folder by default: the
    model has no current folder; the command line passes the one the user stands in), ``..`` and
    symlinks resolved.

    With ``follow_link`` False a final symlink is kept as it is (moving or trashing a link acts on
    the link, never on what it points to). A blank path is refused: it would otherwise name the
    home folder itself.
    """
    raw = os.fspath(text)
    if not raw.strip():
        raise ValueError("the path is blank")
    if "\0" in raw:
        raise ValueError("the path contains a NUL character")
    path = Path(os.path.expanduser(raw))
    if not path.is_absolute():
        path = (base if base is not None else home()) / path
    if follow_link or path.name in ("", ".", ".."):
        return Path(os.path.realpath(path))
    return Path(os.path.realpath(path.parent)) / path.name


def home() -> Path:
    """The user's home folder as given (``$HOME``), not resolved."""
    return Path.home()


def real_home() -> Path:
    """The home folder with every symlink resolved (``$HOME`` may itself be a link)."""
    return Path(os.path.realpath(Path.home()))


def inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or below it (both resolved)."""
    return path == folder or folder in path.parents


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
    """``path``, which must not be a filesystem root, the home folder or a folder holding it."""
    if path == path.parent or inside(real_home(), path):
        raise PermissionError(f"{path} is not to be moved or deleted")
    return path


def destination(source: Path, target: Path) -> Path:
    """Where moving or copying ``source`` to ``target`` puts it (into ``target`` if a folder).

    Refuses to replace anything, to write into a missing folder, or to put a folder inside itself.
    """
    if target.is_dir() and not target.is_symlink():
        target = target / source.name
    if os.path.lexists(target):
        raise FileExistsError(f"{target} already exists; nothing was replaced (choose another name)")
    if not target.parent.is_dir():
        raise FileNotFoundError(f"the folder {target.parent} does not exist")
    if source.is_dir() and not source.is_symlink() and target.is_relative_to(source):
        raise ValueError(f"the folder {source} cannot go inside itself")
    return target
