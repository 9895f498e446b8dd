"""Listing the files of a watched folder: the ground truth the index is reconciled against."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from app.ingest.ignore import IgnoreRules

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScanEntry:
    """A regular file, or (with ``error`` set) a folder that could not be read."""

    path: str
    size: int
    mtime: float
    error: str | None = None


def _reason(exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return "permission denied"
    text = exc.strerror or str(exc) or type(exc).__name__
    return text[:1].lower() + text[1:]


def _folder_error(folder: str, exc: OSError) -> ScanEntry:
    log.debug("cannot read %s: %s", folder, exc)
    return ScanEntry(folder, 0, 0.0, f"cannot read the folder: {_reason(exc)}")


def _relative(path: str, base: str) -> str:
    """``path`` relative to ``base`` (which holds it), with posix separators; "" for base itself."""
    prefix = os.path.join(base, "")
    relative = path[len(prefix) :] if path.startswith(prefix) else ""
    return relative.replace(os.sep, "/") if os.sep != "/" else relative


def walk(directory: Path, rules: IgnoreRules, root: Path | None = None, recursive: bool = True) -> Iterator[ScanEntry]:
    """The regular files under ``directory`` that the rules keep (only its direct children when not recursive).

    ``root`` (default: ``directory``) is the watched folder the rules' relative paths start
    from; a ``directory`` that the rules skip, or outside ``root``, yields nothing. Symbolic
    links below ``directory`` are skipped. A folder that cannot be listed yields one ScanEntry for
    itself with ``error`` set, and the walk goes on. A file that vanishes while being listed is
    skipped. A missing ``directory`` yields nothing; a file yields itself unless ignored.
    Names are sorted within a folder; a folder's files come before its sub-folders' contents.
    """
    top = os.path.abspath(directory)
    base = os.path.abspath(root) if root is not None else top
    try:
        info = os.stat(top, follow_symlinks=top == base)
    except (FileNotFoundError, NotADirectoryError):
        return
    except OSError as exc:
        if top == base or not rules.ignored_path(Path(top), Path(base), is_dir=True):
            yield _folder_error(top, exc)
        return
    is_dir = stat.S_ISDIR(info.st_mode)
    if top != base and rules.ignored_path(Path(top), Path(base), is_dir=is_dir):
        return
    if stat.S_ISREG(info.st_mode):
        if not rules.ignored_file(os.path.basename(top), _relative(top, base)):
            yield ScanEntry(top, info.st_size, info.st_mtime)
        return
    if not is_dir:
        return

    stack = [top]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as listing:
                children = sorted(listing, key=lambda child: child.name)
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as exc:
            yield _folder_error(folder, exc)
            continue
        subfolders: list[str] = []
        failed = False
        for child in children:
            relative = _relative(child.path, base)
            try:
                if child.is_symlink():
                    continue
                if child.is_dir(follow_symlinks=False):
                    if recursive and not rules.ignored_dir(child.name, relative):
                        subfolders.append(child.path)
                    continue
                if not child.is_file(follow_symlinks=False) or rules.ignored_file(child.name, relative):
                    continue
                info = child.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            except OSError as exc:
                if not failed:  # e.g. a folder that can be listed but not entered
                    failed = True
                    yield _folder_error(folder, exc)
                continue
            yield ScanEntry(child.path, info.st_size, info.st_mtime)
        stack.extend(reversed(subfolders))
