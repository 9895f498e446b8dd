"""The file tools: look through folders, read and write files, move, copy, trash, open.

Every path parameter is a ``Path``: the permission gate resolves it once (``~``, ``..``, symlinks;
a relative path starts at the home folder), judges it, and the tool gets exactly that path. The
tools then work through tools/fs/anchored.py, so a folder swapped for a symlink after the
judgement makes them stop instead of acting elsewhere. Nothing is ever deleted for good:
``delete`` sends to the trash or refuses, and an overwrite keeps a backup first. Each change
records its undo (app/safety/undo.py):

- ``created`` {path, sha256}: a new file (the hash of its bytes) or folder (sha256 None, and a
  copied folder's ``tree`` hash);
- ``overwritten`` {path, backup, sha256, uid, gid}: the backup of the old bytes and the old
  owner, the hash of the new bytes;
- ``moved`` {src, dst};
- ``trashed`` {path, trash, sha256 | tree | link}: where the trash keeps it, and its fingerprint.

Listings and file contents are untrusted text: names are chosen by whoever made the files.
"""

from __future__ import annotations

import hashlib
import math
import os
import shlex
import shutil
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Annotated, Any, Literal

from tools.fs import anchored, backups, trash
from tools.fs.fingerprint import fingerprint
from tools.fs.listing import day_start, human_size, name_matcher, read_folder, shown_name, walk
from tools.fs.resolve import destination, existing, existing_folder, movable
from tools.fs.text import decode
from tools.judged import Moved, identity
from tools.registry import MaxLen, Range, ToolContext, tool

PathArg = Annotated[Path, MaxLen(1000)]
MovedPath = Annotated[Path, MaxLen(1000), Moved()]
Limit = Annotated[int, Range(1, 1000)]
Size = Annotated[int, Range(0, None)]
OPENER_ENV = "PAGEMIND_OPENER"
"""A command that opens a file in its default application (the path is appended to it)."""
SEARCH_SECONDS = 10.0
"""How long find_files searches before it stops and says so."""
OPEN_WAIT = 1.0
"""How long open_path waits for the opener to report a failure."""
_NOT_YET = {".pdf": "PDF", ".docx": "Word", ".doc": "Word", ".odt": "OpenDocument"}
_SORTS = {"name": "name", "size": "size, largest first", "modified": "modified, newest first"}


@tool(risk="read", untrusted_output=True)
def list_dir(path: PathArg, sort: Literal["name", "size", "modified"] = "name", limit: Limit = 50,
             hidden: bool = False) -> str:
    """List a folder: subfolders (ending in /) and files with their size and modification time.

    Args:
        path: the folder, e.g. "~/Documents".
        sort: "name" (A to Z), "size" (largest first) or "modified" (newest first).
        limit: the most entries to show.
        hidden: also show hidden entries (names starting with a dot).
    """
    where = existing_folder(path)
    everything = read_folder(where)
    entries = [e for e in everything if hidden or not e.name.startswith(".")]
    entries.sort(key=lambda e: (e.name.casefold(), e.name))
    if sort == "size":  # files by size, then folders and links
        entries.sort(key=lambda e: -e.info.st_size if stat.S_ISREG(e.info.st_mode) else 1)
    elif sort == "modified":
        entries.sort(key=lambda e: -e.info.st_mtime)
    folders = sum(e.is_dir for e in entries)
    head = f"{shown_name(str(where))}: {folders} folders, {len(entries) - folders} files"
    if len(everything) > len(entries):
        head += f", and {len(everything) - len(entries)} hidden entries not shown (hidden=true shows them)"
    lines = [f"{head}; sorted by {_SORTS[sort]}:", *(e.line() for e in entries[:limit])]
    if len(entries) > limit:
        lines.append(f"... {len(entries) - limit} more not shown (limit {limit}; raise it, or use find_files).")
    return "\n".join(lines)


@tool(risk="read", untrusted_output=True)
def find_files(root: PathArg, pattern: Annotated[str, MaxLen(200)],
               modified_since: Annotated[str, MaxLen(10)] | None = None, min_size: Size | None = None,
               max_size: Size | None = None, limit: Limit = 50) -> str:
    """Find files and folders by name under a folder, nearest first (dot-names only for a pattern starting with a dot).

    Args:
        root: the folder to search, e.g. "~" or "~/Documents".
        pattern: a glob such as "*.pdf" or "IMG_20??*", or a part of the name such as "invoice".
        modified_since: only what changed on or after this day, as YYYY-MM-DD.
        min_size: only files of at least this many bytes.
        max_size: only files of at most this many bytes.
        limit: the most results to list.
    """
    top, since, matches = existing_folder(root), day_start(modified_since), name_matcher(pattern)
    files_only = min_size is not None or max_size is not None
    low, high = min_size or 0, math.inf if max_size is None else max_size
    if low > high:
        raise ValueError("min_size is above max_size")
    found: list[str] = []
    unreadable: list[Path] = []
    note = ""
    deadline = time.monotonic() + SEARCH_SECONDS
    for path, entry in walk(top, pattern.strip().startswith("."), unreadable):
        info = entry.info
        if (matches(entry.name) and (since is None or info.st_mtime >= since)
                and (not files_only or (not stat.S_ISDIR(info.st_mode) and low <= info.st_size <= high))):
            found.append(entry.line(str(path)))
        if len(found) >= limit:
            note = f"Stopped at the limit of {limit}: there may be more (narrow the search or raise limit)."
        elif time.monotonic() > deadline:
            note = f"Stopped after {SEARCH_SECONDS:g} seconds: there may be more (search a smaller folder)."
        if note:
            break
    lines = [f"{len(found)} found for {pattern!r} under {top}" + (":" if found else "."), *found]
    if unreadable:
        lines.append(f"Skipped {len(unreadable)} folders that could not be read.")
    return "\n".join([*lines, note] if note else lines)


@tool(risk="read", untrusted_output=True)
def read_file(path: PathArg, max_chars: Annotated[int, Range(1, 3800)] = 3500,
              start: Annotated[int, Range(0, 1_000_000)] = 0) -> str:
    """Read a text file.

    Args:
        path: the file, e.g. "~/Notes/todo.txt".
        max_chars: the most characters to return.
        start: the character to start at, to read on where an earlier result stopped.
    """
    file = existing(path)
    if file.is_dir() and not file.is_symlink():
        raise IsADirectoryError(f"{file} is a folder, not a file (list_dir lists it)")
    if file.suffix.lower() in _NOT_YET:
        raise ValueError(f"reading {_NOT_YET[file.suffix.lower()]} files ({file.suffix}) is not supported yet")
    most = (start + max_chars) * 4 + 4  # enough bytes for that many characters in any encoding
    data = anchored.read_head(file, most + 1)
    decoded = decode(data[:most], complete=len(data) <= most)
    if decoded is None:
        raise ValueError(f"{file} is a binary file, not text; it cannot be read as text")
    text, encoding = decoded
    if start and start >= len(text):
        raise ValueError(f"start={start} is past the end of {file} ({len(text)} characters)")
    end = min(start + max_chars, len(text))
    if end < len(text) or len(data) > most:
        return (f"{file} ({encoding}, characters {start} to {end}):\n{text[start:end]}\n"
                f"[the file goes on: read_file with start={end} reads on]")
    span = f"characters {start} to {end}, the end" if start else f"{end} characters"
    return f"{file} ({encoding}, {span}):\n{text[start:end]}"


@tool(risk="write")
def write_file(path: PathArg, content: Annotated[str, MaxLen(20000)], context: ToolContext,
               overwrite: bool = False) -> str:
    """Write a text file (UTF-8). Its folder must exist; an existing file is replaced only with overwrite.

    Args:
        path: the file, e.g. "~/Notes/todo.txt".
        content: the whole text of the file.
        overwrite: replace an existing file (its old version is backed up first, and undo restores it).
    """
    file, data = path, content.encode("utf-8", "surrogateescape")
    if not file.parent.is_dir():
        raise FileNotFoundError(f"the folder {file.parent} does not exist (create_folder makes it)")
    if not anchored.exists(file):
        anchored.create_file(file, data)
        context.effects().record("created", path=str(file), sha256=hashlib.sha256(data).hexdigest())
        return f"Created {file} ({human_size(len(data))})."
    if stat.S_ISDIR(anchored.lstat(file).st_mode):
        raise IsADirectoryError(f"{file} is a folder")
    if not overwrite:
        raise FileExistsError(f"{file} already exists; overwrite=true replaces it (after a backup)")
    saved = backups.backup(file)
    anchored.replace_file(file, lambda out: out.write(data), mode=saved.path.stat().st_mode & 0o7777)
    context.effects().record("overwritten", path=str(file), backup=str(saved.path),
                             sha256=hashlib.sha256(data).hexdigest(), uid=saved.uid, gid=saved.gid)
    return f"Replaced {file} ({human_size(len(data))}); the old version is backed up, and undo restores it."


@tool(risk="write")
def create_folder(path: PathArg, context: ToolContext) -> str:
    """Create a folder, and any missing folders above it.

    Args:
        path: the new folder, e.g. "~/Projects/2026".
    """
    folder = path
    if anchored.exists(folder):
        raise FileExistsError(f"{folder} already exists")
    missing = [folder]
    while not os.path.lexists(missing[-1].parent):
        missing.append(missing[-1].parent)
    missing.reverse()
    if not missing[0].parent.is_dir():
        raise NotADirectoryError(f"{missing[0].parent} is a file, not a folder")
    for each in missing:
        anchored.make_folder(each)
        context.effects().record("created", path=str(each), sha256=None)
    above = f" (and {len(missing) - 1} folders above it)" if len(missing) > 1 else ""
    return f"Created the folder {folder}{above}."


@tool(risk="write")
def move(src: MovedPath, dst: PathArg, context: ToolContext) -> str:
    """Move or rename a file or folder; never replaces anything. A symlink moves itself, not its target.

    Args:
        src: what to move, e.g. "~/Downloads/report.pdf".
        dst: its new path (a new name renames it), or an existing folder to move it into.
    """
    source = movable(existing(src))
    target = destination(source, dst)
    anchored.relocate(source, target)
    context.effects().record("moved", src=str(source), dst=str(target))
    return f"Moved {source} to {target}."


@tool(risk="write")
def copy(src: PathArg, dst: PathArg, context: ToolContext) -> str:
    """Copy a file or folder (links inside a folder stay links); never replaces anything.

    Args:
        src: what to copy, e.g. "~/Documents/cv.odt".
        dst: the path of the copy, or an existing folder to copy it into.
    """
    source = existing(src)
    if not source.is_dir() and not source.is_file():
        raise ValueError(f"{source} is not a regular file or folder")
    target = destination(source, dst)
    skipped: list[str] = []
    try:
        anchored.copy_into(source, target, on_special=skipped.append)
    finally:
        if os.path.lexists(target):  # once the target exists, it is this copy's: record it even if copying failed
            context.effects().record("created", path=str(target), **_created_fingerprint(target))
    note = f" ({len(skipped)} special files such as pipes or devices were left out)" if skipped else ""
    return f"Copied {source} to {target}{note}."


def _created_fingerprint(path: Path) -> dict[str, Any]:
    found = fingerprint(path)
    return {"sha256": found.get("sha256"), **({"tree": found["tree"]} if "tree" in found else {})}


@tool(risk="destructive")
def delete(path: MovedPath, context: ToolContext) -> str:
    """Move a file or folder to the trash, where it can be restored (undo puts it back).

    Args:
        path: what to delete; a symlink is trashed itself, never what it points to.
    """
    target = movable(existing(path))
    if not target.exists():
        raise ValueError(f"{target} is a broken link, which the trash cannot take; it was left in place")
    found = fingerprint(target)
    try:
        where = trash.send(target)
    except OSError as exc:
        raise OSError(f"the trash cannot take {target} ({exc.strerror or exc}); nothing was deleted") from None
    context.effects().record("trashed", path=str(target), trash=None if where is None else str(where), **found)
    return f"Moved {target} to the trash."


def _opener() -> list[str] | None:
    """The command that opens a path in its default application (None: os.startfile)."""
    custom = os.environ.get(OPENER_ENV, "").strip()
    if custom:
        return shlex.split(custom)
    if sys.platform == "win32":
        return None
    return ["open"] if sys.platform == "darwin" else ["xdg-open"]


@tool(risk="launch")
def open_path(path: PathArg, context: ToolContext) -> str:
    """Open a file or folder in its default application, as a double click would.

    Args:
        path: the file or folder, e.g. "~/Pictures/holiday.jpg".
    """
    target, command = existing(path), _opener()
    judged = context.judgement.targets[0] if context.judgement and context.judgement.targets else None
    if judged is not None and identity(target, follow=True) != judged.identity:
        raise RuntimeError(f"{target} changed since it was checked; it was not opened")
    if command is None:
        getattr(os, "startfile")(target)  # Windows only
        return f"Opened {target}."
    try:
        process = subprocess.Popen([*command, str(target)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, start_new_session=True)
    except FileNotFoundError:
        raise FileNotFoundError(f"cannot open files: {command[0]} is not installed") from None
    try:
        status = process.wait(OPEN_WAIT)
    except subprocess.TimeoutExpired:
        threading.Thread(target=process.wait, daemon=True).start()  # reaps it when the opener ends
        return f"Opened {target}."
    if status:
        raise RuntimeError(f"{command[0]} could not open {target} (exit status {status})")
    return f"Opened {target}."


@tool(risk="read")
def disk_usage(path: PathArg = Path("~")) -> str:
    """How full the disk holding a folder is.

    Args:
        path: a folder on that disk ("~" for the home folder's).
    """
    target = existing(path)
    if anchored.ANCHORED and target.is_dir():
        info = anchored.statvfs(target)
        total, free = info.f_blocks * info.f_frsize, info.f_bavail * info.f_frsize
        used = total - info.f_bfree * info.f_frsize
    else:
        total, used, free = shutil.disk_usage(target)
    share = used / total * 100 if total else 0.0
    return (f"The disk holding {target}: {human_size(free)} free of {human_size(total)} "
            f"({human_size(used)} used, {share:.0f}%).")
