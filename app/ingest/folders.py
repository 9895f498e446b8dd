"""The watched folders, kept in the settings: add, remove, list, and which one holds a path."""

from __future__ import annotations

import os
from pathlib import Path

from typing import TYPE_CHECKING, Any

from app import paths, settings
from tools.fs.resolve import resolve

if TYPE_CHECKING:
    from app.memory.store import MemoryStore


class FolderError(ValueError):
    """A folder cannot be watched or unwatched; the message says why."""


def _resolve(path: str | os.PathLike[str]) -> Path:
    """A folder the user named on the command line or in the window: relative to where they stand."""
    return resolve(path, base=Path.cwd())


def check_indexable(path: Path) -> None:
    """Refuse the system's own folders, and folders holding them (``/``): they are no one's documents."""
    home = Path.home()
    for system in paths.system_folders():
        if path in system.parents or path == system.parent:
            raise FolderError(f"{path} holds system folders ({system}); choose a folder of your own documents")
        if (path == system or system in path.parents) and not (path == home or home in path.parents):
            raise FolderError(f"{path} is a system folder; choose a folder of your own documents")


def watched() -> list[Path]:
    return [Path(p) for p in settings.load().watched_folders]


def root_of(path: str | os.PathLike[str], roots: list[Path]) -> Path | None:
    """The watched folder that holds ``path`` (the deepest one), or None."""
    path = Path(path)
    holding = [root for root in roots if path == root or root in path.parents]
    return max(holding, key=lambda root: len(root.parts)) if holding else None


def add(path: str | os.PathLike[str]) -> tuple[Path, list[Path]]:
    """Watch a folder; returns it (resolved) and the watched folders it now covers (dropped from the list)."""
    folder = _resolve(path)
    if not folder.exists():
        raise FolderError(f"{folder} does not exist")
    if not folder.is_dir():
        raise FolderError(f"{folder} is a file; watch the folder that holds it, or index the file with `index`")
    check_indexable(folder)
    with settings.lock:
        return _add(folder)


def _add(folder: Path) -> tuple[Path, list[Path]]:
    current = settings.load()
    roots = [Path(p) for p in current.watched_folders]
    holder = root_of(folder, roots)
    if holder == folder:
        return folder, []
    if holder is not None:
        raise FolderError(f"{folder} is already watched, as part of {holder}")
    covered = [root for root in roots if folder in root.parents]
    current.watched_folders = [str(r) for r in roots if r not in covered] + [str(folder)]
    settings.save(current)
    return folder, covered


def remove(path: str | os.PathLike[str]) -> Path:
    """Stop watching a folder (given as it was added, or by a path resolving to it)."""
    with settings.lock:
        return _remove(path)


def _remove(path: str | os.PathLike[str]) -> Path:
    current = settings.load()
    roots = [Path(p) for p in current.watched_folders]
    wanted = Path(os.path.abspath(Path(path).expanduser()))
    folder = wanted if wanted in roots else _resolve(path)
    if folder not in roots:
        listed = ", ".join(map(str, roots)) or "none"
        raise FolderError(f"{folder} is not a watched folder (watched: {listed})")
    current.watched_folders = [str(r) for r in roots if r != folder]
    settings.save(current)
    return folder


def report(memory: MemoryStore, folder: Path) -> dict[str, Any]:
    """What is indexed in a watched folder: files per status, chunks, and jobs still queued."""
    from app.ingest.queue import IngestQueue

    counts = memory.documents.counts(str(folder))
    return {"folder": str(folder), "exists": folder.is_dir(), "indexed": counts.get("indexed", 0),
            "skipped": counts.get("skipped", 0), "failed": counts.get("failed", 0), "chunks": counts["chunks"],
            "queued": IngestQueue(memory.db).pending(str(folder))}
