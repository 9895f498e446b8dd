"""Backups taken before a file is replaced, kept for a number of days, then pruned."""

from __future__ import annotations

import datetime
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from app import paths
from tools.fs import anchored


@dataclass(frozen=True)
class Backup:
    path: Path
    uid: int
    gid: int
    """The owner of the file backed up, which undo gives back."""


def backup(file: Path) -> Backup:
    """A copy of ``file`` (bytes, mode and times) under a new name in Pagemind's backups folder.

    ``file`` is opened without following links and must be a regular file.
    """
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    copy = paths.backups_dir() / f"{stamp}-{uuid.uuid4().hex[:8]}-{file.name[:100]}"
    fd = anchored.open_file(file, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as source:
        info = anchored.regular_file(source.fileno(), file)
        with open(copy, "xb") as out:
            shutil.copyfileobj(source, out)
            out.flush()  # before the times are set: a later write would change them
            os.fchmod(out.fileno(), info.st_mode & 0o7777)
            os.utime(out.fileno(), ns=(info.st_atime_ns, info.st_mtime_ns))
    return Backup(copy, info.st_uid, info.st_gid)


def inside_backups(path: Path) -> bool:
    folder = Path(os.path.realpath(paths.backups_dir()))
    return Path(os.path.realpath(path)).parent == folder


def prune(days: int, now: float | None = None) -> int:
    """Remove backups older than ``days`` days (0 keeps them all); returns how many went."""
    if days <= 0:
        return 0
    oldest = (now if now is not None else time.time()) - days * 86400
    removed = 0
    with os.scandir(paths.backups_dir()) as scan:
        for entry in scan:
            try:
                if entry.is_file(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_ctime < oldest:
                    os.unlink(entry.path)
                    removed += 1
            except OSError:
                continue
    return removed
