"""Which places the policy treats specially, judged on resolved paths only.

- **Forbidden** (refused, never asked): the operating system's folders (except the user's home,
  which may live below one, as ``/root`` or ``/var/home/ann`` do), whatever the allowed folders
  say; Pagemind's own folders for anything but reading; the trash folders for anything but
  reading (``delete`` is the way in, undo the way out); and, for a call that moves or trashes a
  folder as a whole, any folder that holds the home folder, a system folder or Pagemind's folders.
- **Sensitive** (always asked, for reading too, and never covered by a standing rule): the dot
  files and dot folders of the home folder (shell start-up files, ``~/.ssh``, ``~/.gnupg``,
  application settings, autostart entries, application launchers, keyrings, browser profiles),
  wherever their symlinks lead, the XDG base folders, and ``~/Library`` and ``~/AppData``.
"""

from __future__ import annotations

import os
from pathlib import Path

from app import paths
from tools.fs import trash
from tools.fs.resolve import inside, real_home

_ELSEWHERE = ("Library", "AppData")
"""Folders of home that hold settings, start-up entries and keychains on macOS and Windows."""
_XDG = ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME")


def _real(path: str | Path) -> Path:
    return Path(os.path.realpath(os.path.expanduser(path)))


def system_folders() -> list[Path]:
    """The system folders, resolved (``/etc`` may itself be a link)."""
    return sorted({_real(p) for p in paths.system_folders()} | set(paths.system_folders()))


def protected_folders() -> list[Path]:
    """Pagemind's own folders; a ``PAGEMIND_HOME`` that holds the home folder is not protected whole."""
    home = real_home()
    return [folder for folder in paths.protected_folders() if not inside(home, folder)]


def in_system_folder(path: Path) -> bool:
    home = real_home()
    if home != home.parent and inside(path, home):
        return False
    return any(inside(path, folder) for folder in system_folders())


def trash_folder(path: Path) -> Path | None:
    """The trash folder ``path`` is in, if any."""
    for folder in [trash.home_trash(), *trash.trash_folders()]:
        if inside(path, Path(os.path.realpath(folder))):
            return folder
    name_parts = path.parts
    for i, part in enumerate(name_parts):  # a device's trash that does not exist yet, or another user's
        if part == ".Trash" or part.startswith(".Trash-"):
            return Path(*name_parts[: i + 1])
    return None


def forbidden(path: Path, *, changes: bool, moved: bool = False) -> str | None:
    """Why ``path`` is refused outright for a call that reads it (``changes`` False) or changes it;
    ``moved``: the call moves or trashes it with everything below it. None when not refused."""
    if in_system_folder(path):
        return f"{path} is in a system folder"
    if changes:
        for folder in protected_folders():
            if inside(path, folder):
                return f"{path} holds Pagemind's own files, which only Pagemind changes"
        if trash_folder(path) is not None:
            return f"{path} is in the trash; only delete puts things there, and undo takes them out"
    if moved:  # the folders as given count too: moving a symlink on their way moves them away
        given = [Path(os.path.abspath(p)) for p in paths.all_paths().values()]
        held = [Path(os.path.abspath(Path.home())), real_home(), *protected_folders(), *given, *system_folders()]
        for folder in held:
            if inside(folder, path):
                return f"{path} holds {folder}, which is not to be moved or deleted"
    return None


def sensitive_roots() -> list[Path]:
    """The sensitive folders and files, resolved: every dot entry of home and where it leads, and more."""
    home_given, home = Path.home(), real_home()
    found: set[Path] = set()
    for folder in {home_given, home}:
        try:
            with os.scandir(folder) as scan:
                names = [entry.name for entry in scan if entry.name.startswith(".")]
        except OSError:
            names = []
        for name in names:
            found.add(home / name)
            found.add(_real(folder / name))
    for name in _ELSEWHERE:
        found.add(home / name)
        found.add(_real(home / name))
    for variable in _XDG:
        value = os.environ.get(variable, "").strip()
        if value and os.path.isabs(value):
            found.add(_real(value))
    return sorted(found)


def sensitive(path: Path, roots: list[Path] | None = None) -> bool:
    """Whether ``path`` is in a sensitive place (see the module's docstring)."""
    home = real_home()
    if inside(path, home) and path != home:
        relative = path.relative_to(home).parts
        if any(part.startswith(".") for part in relative) or relative[0] in _ELSEWHERE:
            return True
    return any(inside(path, root) for root in (roots if roots is not None else sensitive_roots()))
