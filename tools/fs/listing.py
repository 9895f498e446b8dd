"""How the file tools show entries, walk folders and match names."""

from __future__ import annotations

import datetime
import os
import stat
from collections import deque
from collections.abc import Callable, Iterator
from fnmatch import fnmatchcase
from pathlib import Path


def human_size(count: float) -> str:
    """``count`` bytes as "512 B", "1.5 KB", "3.2 MB" ..."""
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1024:
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TB"


def when(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")


def entry_line(entry: os.DirEntry[str], shown_as: str) -> str:
    """One listed entry: a folder ends in /, a link shows its target, a file its size and time."""
    if entry.is_symlink():
        return f"{shown_as} -> {os.readlink(entry.path)}"
    info = entry.stat()
    if entry.is_dir():
        return f"{shown_as}/  {when(info.st_mtime)}"
    return f"{shown_as}  {human_size(info.st_size)}  {when(info.st_mtime)}"


def walk(top: Path, dotted: bool, unreadable: list[Path]) -> Iterator[tuple[os.DirEntry[str], os.stat_result]]:
    """Every entry under ``top`` with its lstat, nearest first, never into a symlink.

    Names starting with a dot only when ``dotted``; folders that cannot be read go to ``unreadable``.
    """
    pending = deque([top])
    while pending:
        folder = pending.popleft()
        try:
            with os.scandir(folder) as scan:
                entries = sorted(scan, key=lambda e: e.name)
        except OSError:
            unreadable.append(folder)
            continue
        for entry in entries:
            if entry.name.startswith(".") and not dotted:
                continue
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:  # gone since the folder was read
                continue
            if stat.S_ISDIR(info.st_mode):
                pending.append(Path(entry.path))
            yield entry, info


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
