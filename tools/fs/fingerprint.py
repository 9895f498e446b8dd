"""Content fingerprints: what undo compares to tell whether a file or folder changed since."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, in hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def tree_hash(path: Path) -> str:
    """The SHA-256 of a folder: every name below it, its type and mode, file bytes, link targets.

    Symlinks are hashed as links (their target text), never followed. The folder's own name is
    left out, so a copy hashes like its original.
    """
    root = Path(path)
    digest = hashlib.sha256()
    pending = [root]
    digest.update(_line(root, root)[1])
    while pending:
        folder = pending.pop()
        with os.scandir(folder) as scan:
            names = sorted(entry.name for entry in scan)
        for name in names:
            kind, line = _line(root, folder / name)
            digest.update(line)
            if kind == "dir":
                pending.append(folder / name)
    return digest.hexdigest()


def _line(root: Path, item: Path) -> tuple[str, bytes]:
    """An entry's kind ("dir", "link", "file" or "special") and its line in the tree hash."""
    info = item.lstat()
    payload = ""
    if stat.S_ISLNK(info.st_mode):
        kind, payload = "link", os.readlink(item)
    elif stat.S_ISDIR(info.st_mode):
        kind = "dir"
    elif stat.S_ISREG(info.st_mode):
        kind, payload = "file", file_sha256(item)
    else:
        kind = "special"
    line = f"{os.path.relpath(item, root)}\0{kind}\0{stat.S_IMODE(info.st_mode):o}\0{payload}\n"
    return kind, line.encode("utf-8", "surrogateescape")


def fingerprint(path: Path) -> dict[str, str | None]:
    """What identifies ``path``'s content later: a link's target, a file's hash, or a folder's tree hash."""
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        return {"link": os.readlink(path)}
    if stat.S_ISDIR(info.st_mode):
        return {"sha256": None, "tree": tree_hash(path)}
    return {"sha256": file_sha256(path)}


def matches(path: Path, recorded: dict[str, object]) -> bool:
    """Whether ``path`` still has the fingerprint ``recorded`` (a record without one matches nothing)."""
    keys = [key for key in ("link", "sha256", "tree") if recorded.get(key) is not None]
    if not keys:
        return False
    try:
        now = fingerprint(path)
    except OSError:
        return False
    return all(now.get(key) == recorded[key] for key in keys)
