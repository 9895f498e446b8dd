"""File operations that act on exactly the path that was judged, even if the disk changes meanwhile.

The gate judges a resolved path (no symlink in it); between that judgement and the tool's work,
another program may swap a folder on the way for a symlink. Every operation here therefore walks
to its folder one component at a time from ``/`` with ``O_NOFOLLOW``, holds that folder open, and
works relative to it: a symlink met on the way fails with :class:`PathChanged` instead of being
followed, and a folder renamed meanwhile is still the one that was judged. Names are created with
``O_EXCL`` and renamed without replacing (``renameat2(RENAME_NOREPLACE)`` on Linux,
``renameatx_np(RENAME_EXCL)`` on macOS).

Windows has no folder-relative calls; there (``ANCHORED`` False) the same functions work on the
path, checking for links first, which leaves a short window between the check and the act.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import shutil
import stat
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

ANCHORED = (
    os.open in os.supports_dir_fd and os.rename in os.supports_dir_fd
    and hasattr(os, "O_NOFOLLOW") and hasattr(os, "O_DIRECTORY")
)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_CHUNK = 1 << 20


class PathChanged(OSError):
    """A folder on the way to a judged path is no longer a plain folder (a symlink took its place)."""


def _changed(path: Path, part: str) -> PathChanged:
    return PathChanged(errno.ELOOP, f"{path} changed since it was checked ({part} is no longer a plain folder); "
                                    "nothing was done")


def open_folder(path: Path) -> int:
    """A descriptor of the folder ``path``, reached without following any symlink."""
    fd = os.open(path.anchor or "/", os.O_RDONLY | _DIRECTORY | _CLOEXEC)
    try:
        for part in path.parts[1:]:
            try:
                inner = os.open(part, os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC, dir_fd=fd)
            except OSError as exc:
                if exc.errno == errno.ENOTDIR and not _is_link(fd, part):
                    done = Path(path.anchor, *path.parts[1:path.parts.index(part) + 1])
                    raise NotADirectoryError(errno.ENOTDIR, f"{done} is a file, not a folder") from None
                if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                    raise _changed(path, part) from None
                raise
            os.close(fd)
            fd = inner
    except BaseException:
        os.close(fd)
        raise
    return fd


def _is_link(fd: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


@contextlib.contextmanager
def folder(path: Path) -> Iterator[int]:
    """``open_folder`` for the length of a block."""
    fd = open_folder(path)
    try:
        yield fd
    finally:
        os.close(fd)


@contextlib.contextmanager
def parent(path: Path) -> Iterator[tuple[int, str]]:
    """The folder holding ``path`` (held open) and ``path``'s name in it."""
    if path == path.parent:
        raise PermissionError(f"{path} is the root of the file system")
    with folder(path.parent) as fd:
        yield fd, path.name


def lstat(path: Path) -> os.stat_result:
    """``path``'s own status (a symlink is not followed), reached without following links."""
    if not ANCHORED:
        return os.lstat(path)
    with parent(path) as (fd, name):
        return os.stat(name, dir_fd=fd, follow_symlinks=False)


def exists(path: Path) -> bool:
    """Whether anything (even a dangling link) is at ``path``; a link on the way raises PathChanged."""
    try:
        lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    return True


def open_file(path: Path, flags: int = os.O_RDONLY, mode: int = 0o666) -> int:
    """A descriptor of the file ``path`` itself; a symlink there fails instead of being followed."""
    if not ANCHORED:
        if os.path.islink(path):
            raise _changed(path, path.name)
        return os.open(path, flags | getattr(os, "O_BINARY", 0), mode)
    with parent(path) as (fd, name):
        try:
            return os.open(name, flags | _NOFOLLOW | _CLOEXEC, mode, dir_fd=fd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise _changed(path, name) from None
            raise


def regular_file(fd: int, path: Path) -> os.stat_result:
    """The status of an open descriptor, which must be a regular file."""
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise ValueError(f"{path} is not a regular file")
    return info


def read_head(path: Path, most: int) -> bytes:
    """Up to ``most`` bytes from the start of the regular file ``path`` (a pipe never blocks it)."""
    fd = open_file(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as handle:
        regular_file(handle.fileno(), path)
        return handle.read(most)


def create_file(path: Path, data: bytes, mode: int = 0o666) -> None:
    """Write a new file; fails if anything (even a dangling link) is already there."""
    fd = open_file(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
    except BaseException:
        with contextlib.suppress(OSError):
            remove_file(path)
        raise


def make_folder(path: Path, mode: int = 0o777) -> None:
    if not ANCHORED:
        os.mkdir(path, mode)
        return
    with parent(path) as (fd, name):
        os.mkdir(name, mode, dir_fd=fd)


def remove_file(path: Path) -> None:
    """Unlink a file this module just created (never used on the user's own files)."""
    if not ANCHORED:
        os.unlink(path)
        return
    with parent(path) as (fd, name):
        os.unlink(name, dir_fd=fd)


def replace_file(path: Path, write: Callable[[BinaryIO], object], mode: int,
                 times: tuple[int, int] | None = None) -> None:
    """Replace the file ``path`` at once: ``write`` fills a new file beside it, which gets ``mode``
    (and ``times``, atime and mtime in ns) and is renamed over ``path``; a failure leaves ``path`` as
    it was. A symlink put at ``path`` meanwhile is replaced itself, never followed."""
    temp_name = f".{path.name[:100]}.{uuid.uuid4().hex[:8]}.pagemind"
    if not ANCHORED:
        temp = path.parent / temp_name
        with open(temp, "xb") as out:
            write(out)
        os.chmod(temp, mode)
        if times:
            os.utime(temp, ns=times)
        os.replace(temp, path)
        return
    with parent(path) as (fd, name):
        handle = os.open(temp_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o600, dir_fd=fd)
        try:
            with os.fdopen(handle, "wb") as out:
                write(out)
                out.flush()
                os.fchmod(out.fileno(), mode)
                if times:
                    os.utime(out.fileno(), ns=times)
            os.rename(temp_name, name, src_dir_fd=fd, dst_dir_fd=fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp_name, dir_fd=fd)
            raise


def scandir(path: Path) -> list[os.DirEntry[str]]:
    """The entries of the folder ``path`` (reached without following links)."""
    if not ANCHORED:
        with os.scandir(path) as scan:
            return list(scan)
    with folder(path) as fd, os.scandir(fd) as scan:
        return list(scan)


def statvfs(path: Path) -> os.statvfs_result:
    with folder(path) as fd:
        return os.statvfs(fd)


# -- renaming without replacing ---------------------------------------------------------------------

def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name, use_errno=True) if name or sys.platform.startswith("linux") else None
    except OSError:
        return None


_LIBC = _libc() if sys.platform != "win32" else None
_RENAME_NOREPLACE = 1  # linux/fs.h
_RENAME_EXCL = 0x4  # macOS sys/stdio.h


def _exclusive_rename(src_fd: int, src: str, dst_fd: int, dst: str) -> bool:
    """Rename failing with EEXIST when ``dst`` exists; False when the system offers no such call."""
    if _LIBC is None:
        return False
    if sys.platform.startswith("linux") and hasattr(_LIBC, "renameat2"):
        call, flags = _LIBC.renameat2, _RENAME_NOREPLACE
    elif sys.platform == "darwin" and hasattr(_LIBC, "renameatx_np"):
        call, flags = _LIBC.renameatx_np, _RENAME_EXCL
    else:
        return False
    call.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if call(src_fd, os.fsencode(src), dst_fd, os.fsencode(dst), flags) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False  # this file system does not know the flag
    raise OSError(code, os.strerror(code), dst)


def rename_no_replace(source: Path, target: Path) -> None:
    """Rename ``source`` (itself, even a symlink) to ``target``, never replacing what is there.

    Raises FileExistsError when ``target`` is taken, and OSError(EXDEV) across file systems.
    """
    if not ANCHORED:
        if os.path.lexists(target):
            raise FileExistsError(errno.EEXIST, "already exists", str(target))
        os.rename(source, target)
        return
    with parent(source) as (src_fd, src_name), parent(target) as (dst_fd, dst_name):
        if _exclusive_rename(src_fd, src_name, dst_fd, dst_name):
            return
        info = os.stat(src_name, dir_fd=src_fd, follow_symlinks=False)
        if not stat.S_ISDIR(info.st_mode):  # a hard link cannot replace: link, then drop the old name
            os.link(src_name, dst_name, src_dir_fd=src_fd, dst_dir_fd=dst_fd, follow_symlinks=False)
            os.unlink(src_name, dir_fd=src_fd)
            return
        try:  # a folder: check, then rename (the only way left on such a file system)
            os.stat(dst_name, dir_fd=dst_fd, follow_symlinks=False)
        except FileNotFoundError:
            os.rename(src_name, dst_name, src_dir_fd=src_fd, dst_dir_fd=dst_fd)
            return
        raise FileExistsError(errno.EEXIST, "already exists", str(target))


def relocate(source: Path, target: Path) -> None:
    """Move ``source`` (itself, even a link) to the free path ``target``, across devices too
    (copied, then the original removed once the copy is complete)."""
    try:
        rename_no_replace(source, target)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        copy_into(source, target)
        with parent(source) as (fd, name):
            if stat.S_ISDIR(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode):
                shutil.rmtree(name, dir_fd=fd)
            else:
                os.unlink(name, dir_fd=fd)


# -- copying --------------------------------------------------------------------------------------

def copy_into(source: Path, target: Path, on_special: Callable[[str], None] = lambda name: None) -> None:
    """Copy ``source`` (a file, or a folder with everything below it; links stay links) to the new
    path ``target``, keeping modes and modification times. Nothing is followed and nothing replaced.
    Devices, sockets and pipes inside a folder are left out (``on_special`` hears their names)."""
    if not ANCHORED:
        if os.path.isdir(source) and not os.path.islink(source):
            shutil.copytree(source, target, symlinks=True)
        else:
            shutil.copy2(source, target, follow_symlinks=False)
        return
    with parent(source) as (src_fd, src_name), parent(target) as (dst_fd, dst_name):
        _copy(src_fd, src_name, dst_fd, dst_name, on_special, top=True)


def _copy(src_fd: int, src: str, dst_fd: int, dst: str, on_special: Callable[[str], None], top: bool) -> None:
    info = os.stat(src, dir_fd=src_fd, follow_symlinks=False)
    if stat.S_ISLNK(info.st_mode):
        os.symlink(os.readlink(src, dir_fd=src_fd), dst, dir_fd=dst_fd)
        return
    if stat.S_ISREG(info.st_mode):
        reader = os.open(src, os.O_RDONLY | _NOFOLLOW | _CLOEXEC, dir_fd=src_fd)
        try:
            writer = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o600, dir_fd=dst_fd)
            try:
                while chunk := os.read(reader, _CHUNK):
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(writer, view):]
                os.fchmod(writer, stat.S_IMODE(info.st_mode))
                os.utime(writer, ns=(info.st_atime_ns, info.st_mtime_ns))
            finally:
                os.close(writer)
        finally:
            os.close(reader)
        return
    if not stat.S_ISDIR(info.st_mode):
        if top:
            raise ValueError(f"{src} is not a regular file or folder")
        on_special(src)
        return
    os.mkdir(dst, 0o700, dir_fd=dst_fd)
    inner_src = os.open(src, os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC, dir_fd=src_fd)
    try:
        inner_dst = os.open(dst, os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC, dir_fd=dst_fd)
        try:
            with os.scandir(inner_src) as scan:
                names = sorted(entry.name for entry in scan)
            for name in names:
                _copy(inner_src, name, inner_dst, name, on_special, top=False)
            os.fchmod(inner_dst, stat.S_IMODE(info.st_mode))
            os.utime(inner_dst, ns=(info.st_atime_ns, info.st_mtime_ns))
        finally:
            os.close(inner_dst)
    finally:
        os.close(inner_src)
