"""Opening a scanned file so that what is read is a regular file inside its watched folder.

The scan lists regular files and never follows a symbolic link (app/ingest/scan.py); the file is
read later, when its job comes up. In between, the file or a folder on the way to it may have been
replaced by a link to anywhere (another user's doing, or a program's), or by a named pipe that
would block a read forever. So the path is opened one component at a time from the watched
folder with O_NOFOLLOW (and O_NONBLOCK, which a pipe needs and a regular file ignores), and what
was opened is checked with fstat: a regular file, or nothing is read.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from typing import BinaryIO

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_FILE = os.O_RDONLY | _CLOEXEC | getattr(os, "O_NONBLOCK", 0) | _NOFOLLOW | getattr(os, "O_BINARY", 0)
_FOLDER = os.O_RDONLY | _CLOEXEC | getattr(os, "O_DIRECTORY", 0) | _NOFOLLOW
_NOT_THERE = {errno.ENOENT, errno.ENOTDIR, errno.ELOOP, getattr(errno, "EMLINK", errno.ELOOP)}
"""What opening without following links says for a path that is gone or holds a link (ENOTDIR: a
folder on the way is a link or a file now; ELOOP, EMLINK on BSD: the file is a link)."""


class NotAFile(Exception):
    """There is no regular file at the path (reached without links): gone, or a link, folder, pipe..."""


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file"


def _what_is(path: str) -> str:
    """Why there is no file at ``path``, for the log."""
    try:
        info = os.lstat(path)
    except OSError:
        return "it is gone, or a folder on the way to it is not a folder now"
    if stat.S_ISLNK(info.st_mode):
        return "it is a symbolic link now"
    if stat.S_ISREG(info.st_mode):  # refused, yet there: only through a link
        return "a folder on the way to it is a link now"
    return f"it is {_kind(info.st_mode)} now"


def _parts(path: str, root: str) -> list[str] | None:
    """The names leading from ``root`` to ``path`` (None when ``path`` is not below ``root``)."""
    relative = os.path.relpath(path, root) if os.path.isabs(path) == os.path.isabs(root) else os.pardir
    parts = relative.split(os.sep)
    return None if relative == os.curdir or os.pardir in parts else parts


def _open(path: str, root: str) -> int:
    parts = _parts(path, root)
    if parts is None or os.open not in os.supports_dir_fd:
        return os.open(path, _FILE)  # the last name at least is not followed
    folder = os.open(root, _FOLDER & ~_NOFOLLOW)  # the watched folder itself is the user's choice, link or not
    try:
        for name in parts[:-1]:
            inner = os.open(name, _FOLDER, dir_fd=folder)
            os.close(folder)
            folder = inner
        return os.open(parts[-1], _FILE, dir_fd=folder)
    finally:
        os.close(folder)


@contextlib.contextmanager
def open_regular(path: str, root: str) -> Iterator[tuple[BinaryIO, os.stat_result]]:
    """The regular file at ``path``, reached from ``root`` without following any link, and its fstat.

    Raises NotAFile when there is no such file (the caller forgets it: the scan lists none of
    those), and OSError when it is there but cannot be opened (permission denied, say).
    """
    try:
        descriptor = _open(path, root)
    except OSError as exc:
        if exc.errno in _NOT_THERE:
            raise NotAFile(_what_is(path)) from None
        raise
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise NotAFile(f"it is {_kind(info.st_mode)} now")
        handle = os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise
    with handle:
        yield handle, info


def is_regular(path: str) -> bool:
    """Whether ``path`` itself (not what a link there points to) is a regular file."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False
