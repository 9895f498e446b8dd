"""The desktop trash: send a file or folder there, find it again, put it back.

On Linux and BSD desktops this follows the freedesktop.org trash specification itself: a trash
folder keeps each item under ``files/`` and, under ``info/``, a ``<name>.trashinfo`` naming the
original path. The home trash is ``$XDG_DATA_HOME/Trash``; an item from another device goes to
``.Trash/$uid`` (a sticky ``.Trash`` at the top of that device) or ``.Trash-$uid``. The item is
renamed into the trash from the folder that was judged, held open (tools/fs/anchored.py), never
replacing anything; where no trash on its device can take it, nothing is deleted.

macOS and Windows trashes go through send2trash: there :func:`send` cannot say where an item went
and :func:`find` finds nothing.
"""

from __future__ import annotations

import datetime
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote_to_bytes

from tools.fs import anchored
from tools.fs.resolve import inside

FREEDESKTOP = sys.platform not in ("darwin", "win32")
_INFO = ".trashinfo"
MOST_SAME_NAME = 10_000


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

    def entry(self, original: Path) -> str:
        """The ``Path=`` value for ``original``: relative to the top of a device's trash."""
        shown = original.relative_to(self.top) if self.top != _home_data() and inside(original, self.top) else original
        return quote(os.fsencode(shown), safe="/")


def _home_data() -> Path:
    return Path(os.path.realpath(Path(os.environ.get("XDG_DATA_HOME") or "~/.local/share").expanduser()))


def home_trash() -> Path:
    """The home trash folder (resolved)."""
    return _home_data() / "Trash"


def _mount_top(path: Path) -> Path:
    top = Path(os.path.realpath(path))
    while not os.path.ismount(top):
        top = top.parent
    return top


def _trashes(path: Path) -> list[_Trash]:
    """The trash folders an item from ``path`` may be in: the home trash, then its device's."""
    if not FREEDESKTOP:
        return []
    top = _mount_top(path.parent)
    uid = str(os.getuid())
    return [_Trash(home_trash(), _home_data()), _Trash(top / ".Trash" / uid, top), _Trash(top / f".Trash-{uid}", top)]


def trash_folders() -> list[Path]:
    """Every trash folder of this user that exists: the home trash and each mounted device's."""
    if not FREEDESKTOP:
        return []
    uid = str(os.getuid())
    found = [home_trash()]
    for top in _mount_points():
        found += [top / ".Trash" / uid, top / f".Trash-{uid}"]
    return [folder for folder in found if os.path.isdir(folder)]


def _mount_points() -> list[Path]:
    try:
        with open("/proc/self/mounts", encoding="utf-8", errors="surrogateescape") as mounts:
            return [Path(line.split()[1].replace("\\040", " ")) for line in mounts if len(line.split()) > 1]
    except OSError:
        return [Path("/")]


def _usable(folder: Path, device: int, create: bool) -> bool:
    """Whether ``folder`` is a real folder of ours on ``device`` with files/ and info/ (made when asked)."""
    try:
        if create and not anchored.exists(folder):
            os.makedirs(folder.parent, exist_ok=True)
            anchored.make_folder(folder, 0o700)
        info = anchored.lstat(folder)
        if not stat.S_ISDIR(info.st_mode) or info.st_dev != device or info.st_uid != os.getuid():
            return False
        for part in ("files", "info"):
            if not anchored.exists(folder / part):
                anchored.make_folder(folder / part, 0o700)
            if not stat.S_ISDIR(anchored.lstat(folder / part).st_mode):
                return False
    except OSError:
        return False
    return True


def _shared_top_trash(top: Path) -> bool:
    """Whether ``top/.Trash`` is the administrator's sticky trash folder (not a link)."""
    try:
        info = os.lstat(top / ".Trash")
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and bool(info.st_mode & stat.S_ISVTX)


def _trash_for(path: Path, device: int) -> _Trash:
    home = home_trash()
    if _usable(home, device, create=not os.path.exists(home)):
        return _Trash(home, _home_data())
    top = _mount_top(path.parent)
    uid = str(os.getuid())
    if _shared_top_trash(top) and _usable(top / ".Trash" / uid, device, create=True):
        return _Trash(top / ".Trash" / uid, top)
    if _usable(top / f".Trash-{uid}", device, create=True):
        return _Trash(top / f".Trash-{uid}", top)
    raise OSError(f"no trash folder on the device of {path} can take it")


def send(path: Path) -> Path | None:
    """Move ``path`` to the trash (a symlink itself, never its target); where it went, when known.

    Raises OSError when the trash cannot take it; nothing is deleted then.
    """
    if not FREEDESKTOP:
        import send2trash

        send2trash.send2trash(os.fspath(path))
        return None
    device = anchored.lstat(path).st_dev
    home = home_trash()
    if home.exists() and not home.is_dir():
        raise NotADirectoryError(20, "Not a directory", str(home))
    trash = _trash_for(path, device)
    stamp = datetime.datetime.now().strftime("%Y-%m-%dT%H:%M:%S")
    text = f"[Trash Info]\nPath={trash.entry(path)}\nDeletionDate={stamp}\n".encode()
    base = path.name
    stem, dot, suffix = base.rpartition(".") if "." in base.lstrip(".") else (base, "", "")
    for n in range(MOST_SAME_NAME):
        name = base if n == 0 else f"{stem} {n}{dot}{suffix}"
        info = trash.folder / "info" / (name + _INFO)
        try:
            anchored.create_file(info, text, 0o600)
        except FileExistsError:
            continue
        try:
            anchored.rename_no_replace(path, trash.folder / "files" / name)
        except FileExistsError:
            anchored.remove_file(info)
            continue
        except BaseException:
            anchored.remove_file(info)
            raise
        return trash.folder / "files" / name
    raise OSError(f"the trash holds too many items named {base!r}")


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
    """Move ``item`` back to its original path, never replacing what is there now."""
    anchored.rename_no_replace(item.file, item.original)
    item.info.unlink(missing_ok=True)
