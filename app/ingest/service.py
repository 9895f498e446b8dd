"""Keeping the watched folders indexed while Pagemind runs.

The watcher only marks folders dirty; one worker thread rescans them against the manifest and
runs the pipeline until the queue is empty. At start every watched folder is rescanned in full,
so changes made while Pagemind was not running are caught, and a job left in the queue by a crash
is finished. Whatever serves the user (the GUI's bridge, ``python main.py watch --follow``) holds
one IngestService.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from app import settings
from app.ingest import folders
from app.ingest.ignore import IgnoreRules
from app.ingest.pipeline import Pipeline, Progress, Summary
from app.ingest.watcher import Watcher
from models.scheduler import Scheduler
from app.memory.store import MemoryStore

log = logging.getLogger(__name__)


class IngestService:
    def __init__(self, memory: MemoryStore, scheduler: Scheduler | None = None, *,
                 roots: list[Path] | None = None, conf: settings.Settings | None = None,
                 on_progress: Callable[[Progress], None] | None = None,
                 on_document: Callable[[str, int], None] | None = None,
                 on_summary: Callable[[Summary], None] | None = None, debounce: float = 0.3) -> None:
        conf = conf or settings.load()
        self.memory = memory
        self.rules = IgnoreRules(conf.ignore_patterns)
        self.pipeline = Pipeline(memory, scheduler=scheduler, rules=self.rules, max_bytes=conf.max_file_mb * 2**20,
                                 on_progress=on_progress, on_document=on_document)
        self.watcher = Watcher(self._mark, self.rules, debounce=debounce, rescan_seconds=conf.rescan_minutes * 60)
        self.roots: list[Path] = list(folders.watched() if roots is None else roots)
        self.on_summary = on_summary
        self._dirty: dict[Path, bool] = {}
        self._once: set[Path] = set()
        """Folders indexed on request (``index PATH`` handed to the app) without being watched."""
        self._lock = threading.Lock()
        self._wake, self._stop, self._idle = threading.Event(), threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._work, name="ingest", daemon=True)

    def start(self) -> None:
        for root in list(self.roots):
            self._watch(root)
        self.watcher.start()
        self._thread.start()

    def _watch(self, root: Path) -> None:
        try:
            self.watcher.watch(root)
        except OSError as exc:
            log.warning("cannot watch %s (%s); it is rescanned in full every so often instead", root, exc)
        self._mark(root, True)

    def add(self, root: Path, covers: list[Path] | tuple[Path, ...] = ()) -> None:
        """Start keeping ``root`` indexed (already in the settings: see app/ingest/folders.py).

        ``covers``: watched folders inside ``root`` that it replaces; their documents stay."""
        for inner in covers:
            if inner in self.roots:
                self.roots.remove(inner)
            self.watcher.unwatch(inner)
        if root not in self.roots:
            self.roots.append(root)
            self._watch(root)

    def remove(self, root: Path) -> int:
        """Stop watching ``root`` and forget its documents; returns how many were forgotten."""
        if root in self.roots:
            self.roots.remove(root)
        self.watcher.unwatch(root)
        with self._lock:
            self._dirty = {f: r for f, r in self._dirty.items() if folders.root_of(f, [root]) is None}
        return self.pipeline.forget(str(root))

    def index(self, path: Path) -> None:
        """Index ``path`` (a folder, or one file) in the next round, whether it is watched or not."""
        folder = path if path.is_dir() else path.parent
        if not path.is_dir():
            self.pipeline.queue.push([str(path)], folders.root_of(folder, self.roots) or folder, "upsert")
        with self._lock:  # one step: a round never sees the folder without its root
            if folders.root_of(folder, self.roots) is None:
                self._once.add(folder)
            if path.is_dir():
                self._dirty[folder] = True
            self._idle.clear()
        self._wake.set()

    def _mark(self, folder: Path, recursive: bool) -> None:
        with self._lock:
            self._dirty[folder] = self._dirty.get(folder, False) or recursive
            self._idle.clear()
        self._wake.set()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until nothing is dirty or queued (True), or ``timeout`` seconds (False)."""
        return self._idle.wait(timeout)

    def _work(self) -> None:
        while not self._stop.is_set():
            due = self.pipeline.queue.next_due()
            self._wake.wait(due + 0.05 if due is not None else None)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                self._round()
            except Exception:  # one bad round must not end indexing for the session
                log.exception("ingestion round failed")
                self._stop.wait(5)

    def _round(self) -> None:
        with self._lock:
            dirty, self._dirty = self._dirty, {}
            once, self._once = list(self._once), set()
        for folder, recursive in sorted(dirty.items()):
            root = folders.root_of(folder, self.roots) or folders.root_of(folder, once)
            if root is None or self._stop.is_set():
                continue
            if not root.is_dir():  # unmounted, say: its documents stay until it is unwatched
                log.warning("the watched folder %s is missing; its documents are kept", root)
                continue
            self.pipeline.scan(folder, root, recursive)
        summary = self.pipeline.run(self._stop)
        if self.on_summary is not None and summary.counts:
            self.on_summary(summary)
        with self._lock:
            if not self._dirty and not self.pipeline.queue.pending():
                self._idle.set()

    def stop(self) -> None:
        """Stop watching and indexing; the queue keeps what is left for the next start."""
        self._stop.set()
        self._wake.set()
        self.watcher.stop()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)
        if self._thread.is_alive():
            self._thread.join()
        self.pipeline.close()
