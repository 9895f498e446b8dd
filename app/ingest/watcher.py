"""File-system events turned into "rescan this folder" hints, debounced and coalesced.

Events can be lost (an inotify queue overflow drops them), so they only mark folders
dirty; a periodic full rescan of every root catches whatever they missed.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Self

from watchdog import events as ev
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch
from watchdog.observers.polling import PollingObserver

from app.ingest.ignore import IgnoreRules

log = logging.getLogger(__name__)

Dirty = Callable[[Path, bool], None]  # (folder, recursive): rescan the folder, and below it when recursive

POLL_SECONDS = 3.0  # interval of the polling fallback
# The only event types requested: opening and reading files (as indexing does) is not even watched.
_EVENTS: list[type[ev.FileSystemEvent]] = [
    ev.FileCreatedEvent, ev.FileModifiedEvent, ev.FileDeletedEvent, ev.FileMovedEvent, ev.FileClosedEvent,
    ev.FileAttribEvent, ev.DirCreatedEvent, ev.DirDeletedEvent, ev.DirMovedEvent, ev.DirAttribEvent,
]


def dirty_folders(event: ev.FileSystemEvent, root: Path, rules: IgnoreRules) -> list[tuple[Path, bool]]:
    """The (folder, recursive) pairs an event under ``root`` makes dirty."""
    if type(event) not in _EVENTS:  # e.g. opened, closed without writing, folder modified
        return []
    raw = [event.src_path, event.dest_path if isinstance(event, ev.FileSystemMovedEvent) else ""]
    paths = [Path(os.fsdecode(p)) for p in raw if p]
    folder = event.is_directory
    return [(p, True) if folder else (p.parent, False) for p in paths if not rules.ignored_path(p, root, folder)]


class _Handler(ev.FileSystemEventHandler):
    def __init__(self, watcher: Watcher, root: Path) -> None:
        self.watcher, self.root = watcher, root

    def on_any_event(self, event: ev.FileSystemEvent) -> None:
        self.watcher._on_event(self.root, event)


class Watcher:
    """Watches folders recursively and reports dirty folders to ``on_dirty`` from its own thread."""

    def __init__(self, on_dirty: Dirty, rules: IgnoreRules | None = None, *, debounce: float = 0.3,
                 max_delay: float = 2.0, rescan_seconds: float = 900.0) -> None:
        self.rules = rules if rules is not None else IgnoreRules()
        self._on_dirty, self._debounce, self._max_delay = on_dirty, debounce, max_delay
        self._rescan_seconds = rescan_seconds
        self._admin = threading.Lock()  # serialises watch/unwatch/start/stop; never taken while holding _cond
        self._cond = threading.Condition()  # guards the state below; _state changes under both
        self._delivering = threading.RLock()
        self._caller: int | None = None  # the thread inside on_dirty
        self._state = "new"
        self._roots: dict[Path, tuple[BaseObserver, ObservedWatch] | None] = {}
        self._pending: dict[Path, bool] = {}
        self._first = self._last = self._next_rescan = 0.0
        self._now = False
        self._observers: dict[str, BaseObserver] = {}  # "native", and "polling" for roots inotify cannot take
        self._thread: threading.Thread | None = None

    @property
    def roots(self) -> list[Path]:
        with self._cond:
            return sorted(self._roots)

    def watch(self, root: Path) -> None:
        """Watch ``root`` (resolved) and everything below it; watching it again is harmless."""
        path = Path(root).expanduser().resolve()
        if not path.is_dir():
            if path.exists():
                raise NotADirectoryError(f"cannot watch {path}: it is not a folder")
            raise FileNotFoundError(f"cannot watch {path}: there is no such folder")
        with self._admin:
            if path not in self.roots:
                slot = self._schedule(path) if self._state == "running" else None
                with self._cond:
                    self._roots[path] = slot

    def unwatch(self, root: Path) -> None:
        """Stop watching ``root``; its pending dirty folders are dropped."""
        path = Path(root).expanduser().resolve()
        with self._admin:
            with self._cond:
                if path not in self._roots:
                    return
                slot = self._roots.pop(path)
                self._pending = {d: r for d, r in self._pending.items() if self._covered(d)}
            if slot is not None and self._state == "running":  # stop() unschedules everything itself
                slot[0].unschedule(slot[1])  # not under _cond: watchdog's dispatch thread takes it

    def start(self) -> None:
        """Start watchdog's observer and the delivery thread (daemon threads); a stopped watcher stays stopped."""
        with self._admin:
            with self._cond:
                if self._state != "new":
                    return
                self._state = "running"
                self._next_rescan = time.monotonic() + self._rescan_seconds
            # A folder created together with its parents can get its inotify watch registered twice;
            # watchdog warns about the harmless duplicate from its reader thread, where an error would end it.
            warnings.filterwarnings("ignore", r"Callback with id .* already exists", RuntimeWarning, r"watchdog\.")
            for path in self.roots:
                try:
                    slot = self._schedule(path)
                except OSError as exc:
                    log.warning("cannot watch %s: %s", path, exc)
                    continue
                with self._cond:
                    self._roots[path] = slot
            self._thread = threading.Thread(target=self._run, name="ingest-watcher", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop and join every thread, dropping pending folders; ``on_dirty`` is not called once it returns.

        Called from inside ``on_dirty``, it cannot wait for the delivery thread, which ends on its own.
        """
        with self._cond:
            first, self._state = self._state != "stopped", "stopped"
            self._pending.clear()
            self._cond.notify_all()
        if first:
            with self._admin:
                for observer in self._observers.values():
                    observer.stop()
                    observer.join()
            if self._thread is not None and self._caller != threading.get_ident():
                self._thread.join()  # not under _admin: on_dirty may be calling watch() or unwatch()
        with self._delivering:  # lets a delivery in progress on another thread finish
            pass

    def rescan_all(self) -> None:
        """Have the delivery thread call ``on_dirty(root, True)`` for every root now."""
        with self._cond:  # a reentrant lock: the delivery thread calls this for the periodic rescan
            for root in self._roots:
                self._add(root, True)
            self._now = True  # no debounce
            self._cond.notify_all()

    def flush(self) -> None:
        """Deliver the pending dirty folders now, on the calling thread."""
        with self._cond:
            batch, self._pending, self._now = self._pending, {}, False
        self._deliver(batch)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _schedule(self, path: Path) -> tuple[BaseObserver, ObservedWatch]:
        """Watch ``path`` with the native observer, or by polling when the system's inotify limit is reached."""
        handler = _Handler(self, path)
        try:
            native = self._observer("native", Observer)
            return native, native.schedule(handler, str(path), recursive=True, event_filter=_EVENTS)
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EMFILE):
                raise
            log.warning("cannot watch %s with inotify (%s): the limit is reached, polling it every %g s instead; "
                        "raise the limit with: sudo sysctl fs.inotify.max_user_watches=524288", path, exc, POLL_SECONDS)
        poller = self._observer("polling", lambda: PollingObserver(timeout=POLL_SECONDS))
        return poller, poller.schedule(handler, str(path), recursive=True, event_filter=_EVENTS)

    def _observer(self, name: str, make: Callable[[], BaseObserver]) -> BaseObserver:
        if name not in self._observers:
            observer = make()
            observer.start()
            self._observers[name] = observer
        return self._observers[name]

    def _covered(self, folder: Path) -> bool:
        return any(folder.is_relative_to(root) for root in self._roots)

    def _on_event(self, root: Path, event: ev.FileSystemEvent) -> None:
        try:  # raising here would end watchdog's dispatch thread
            found = dirty_folders(event, root, self.rules)
        except Exception:
            log.exception("cannot handle %r", event)
            return
        with self._cond:
            if root in self._roots and self._state != "stopped":
                for folder, recursive in found:
                    self._add(folder, recursive)

    def _add(self, folder: Path, recursive: bool) -> None:
        """Record a dirty folder unless a recursive ancestor covers it; a recursive one absorbs descendants."""
        self._last = now = time.monotonic()
        if not self._pending:
            self._first = now
            self._cond.notify_all()
        if any(self._pending.get(p) for p in (folder, *folder.parents)):
            return
        if recursive:
            for below in [d for d in self._pending if d.is_relative_to(folder)]:
                del self._pending[below]
            self._pending[folder] = True
        else:
            self._pending.setdefault(folder, False)

    def _run(self) -> None:
        while (batch := self._next_batch()) is not None:
            self._deliver(batch)

    def _next_batch(self) -> dict[Path, bool] | None:
        """Wait until the pending folders are due and take them; None once stopped."""
        with self._cond:
            while self._state != "stopped":
                now = time.monotonic()
                if self._rescan_seconds > 0 and self._next_rescan <= now:
                    self._next_rescan = now + self._rescan_seconds
                    self.rescan_all()
                due = min(self._last + self._debounce, self._first + self._max_delay) if self._pending else None
                if due is not None and (self._now or due <= now):
                    batch, self._pending, self._now = self._pending, {}, False
                    return batch
                self._now = False
                deadlines = ([] if due is None else [due]) + ([self._next_rescan] if self._rescan_seconds > 0 else [])
                self._cond.wait(max(0.0, min(deadlines) - now) if deadlines else None)
            return None

    def _deliver(self, batch: dict[Path, bool]) -> None:
        with self._delivering:
            for folder, recursive in sorted(batch.items()):
                with self._cond:
                    if self._state == "stopped" or not self._covered(folder):
                        continue
                self._caller = threading.get_ident()
                try:
                    self._on_dirty(folder, recursive)
                except Exception:
                    log.exception("on_dirty(%s, %s) failed", folder, recursive)
                finally:
                    self._caller = None
