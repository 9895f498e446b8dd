"""How the file tools read folders, show entries, walk trees and match names.

Folders are read through descriptors reached without following links (tools/fs/anchored.py), and
every entry is measured while its folder is held open: a link swapped in meanwhile is shown as a
link, never followed, and a folder that vanished or turned into a link is reported, not entered.
"""

from __future__ import annotations

import datetime
import os
import stat
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

from tools.fs import anchored


def human_size(count: float) -> str:
    """``count`` bytes as "512 B", "1.5 KB", "3.2 MB" ..."""
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1024:
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TB"


def when(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")


def shown_name(name: str) -> str:
    """A file name for the model and the user: bytes that are not UTF-8 as ``\\xe9`` escapes."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(name).decode("utf-8", "backslashreplace")
    return name


@dataclass(frozen=True)
class Listed:
    """One entry of a folder, measured while the folder was held open."""

    name: str
    info: os.stat_result
    """Its own status (a link is not followed)."""
    is_dir: bool
    """A folder, or a link to one."""
    link: str | None = None
    """Where a symlink points (as written in the link)."""

    def line(self, shown_as: str | None = None) -> str:
        """The entry as a listing shows it: a folder ends in /, a link shows its target, a file its size."""
        shown = shown_name(shown_as if shown_as is not None else self.name)
        if self.link is not None:
            return f"{shown} -> {shown_name(self.link)}"
        if stat.S_ISDIR(self.info.st_mode):
            return f"{shown}/  {when(self.info.st_mtime)}"
        return f"{shown}  {human_size(self.info.st_size)}  {when(self.info.st_mtime)}"


def _measure(fd: int, entry: os.DirEntry[str]) -> Listed | None:
    try:
        info = entry.stat(follow_symlinks=False)
    except OSError:  # gone since the folder was read
        return None
    if not stat.S_ISLNK(info.st_mode):
        return Listed(entry.name, info, stat.S_ISDIR(info.st_mode))
    try:
        link = os.readlink(entry.name, dir_fd=fd) if anchored.ANCHORED else os.readlink(entry.path)
    except OSError:
        link = "?"
    try:
        is_dir = entry.is_dir()
    except OSError:  # a link loop or a link too deep to follow
        is_dir = False
    return Listed(entry.name, info, is_dir, link)


def read_folder(path: Path) -> list[Listed]:
    """Every entry of the folder ``path``, measured."""
    if not anchored.ANCHORED:
        with os.scandir(path) as scan:
            return [found for entry in scan if (found := _measure(-1, entry)) is not None]
    with anchored.folder(path) as fd, os.scandir(fd) as scan:
        return [found for entry in scan if (found := _measure(fd, entry)) is not None]


def walk(top: Path, dotted: bool, unreadable: list[Path]) -> Iterator[tuple[Path, Listed]]:
    """Every entry under ``top`` with its path, nearest first, never into a symlink.

    Names starting with a dot only when ``dotted``; folders that cannot be read (or that turned
    into links since they were listed) go to ``unreadable``.
    """
    pending = deque([top])
    while pending:
        folder = pending.popleft()
        try:
            entries = sorted(read_folder(folder), key=lambda e: e.name)
        except OSError:
            unreadable.append(folder)
            continue
        for entry in entries:
            if entry.name.startswith(".") and not dotted:
                continue
            if stat.S_ISDIR(entry.info.st_mode):
                pending.append(folder / entry.name)
            yield folder / entry.name, entry


def name_matcher(pattern: str) -> Callable[[str], bool]:
    """A glob (with * ? or [) matches whole names, anything else a part of one; case is ignored."""
    wanted = pattern.strip().casefold()
    if not wanted:
        raise ValueError("the pattern is empty")
    if any(c in wanted for c in "*?["):
        return lambda name: fnmatchcase(name.casefold(), wanted)
    return lambda name: wanted in name.casefold()


def day_start(text: str | None) -> float | None:
    """The timestamp of the start of a YYYY-MM-DD day (local time), None for None."""
    if text is None:
        return None
    try:
        day = datetime.date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"modified_since must be a date like 2026-03-31, not {text!r}") from None
    return datetime.datetime.combine(day, datetime.time.min).timestamp()
