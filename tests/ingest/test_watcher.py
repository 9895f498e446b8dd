"""The folder watcher, on real watchdog observers and real folders."""

from __future__ import annotations

import errno
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from watchdog import events as ev
from watchdog.observers.polling import PollingObserver

from app.ingest import watcher as watcher_module
from app.ingest.ignore import IgnoreRules
from app.ingest.watcher import Watcher, dirty_folders

Call = tuple[Path, bool]
MakeWatcher = Callable[..., Watcher]
DEADLINE = 10.0  # generous: the machine may be busy


class Recorder:
    """A thread-safe on_dirty that remembers its calls and the threads they came from."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[Call] = []
        self.threads: set[str] = set()

    def __call__(self, folder: Path, recursive: bool) -> None:
        with self._lock:
            self._calls.append((folder, recursive))
            self.threads.add(threading.current_thread().name)

    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()

    def wait_for(self, predicate: Callable[[list[Call]], bool], timeout: float = DEADLINE) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.calls):
                return True
            time.sleep(0.02)
        return predicate(self.calls)

    def wait_call(self, *expected: Call) -> bool:
        return self.wait_for(lambda calls: all(call in calls for call in expected))


def settle(watcher: Watcher, seconds: float = 0.5) -> None:
    """Give watchdog time to dispatch what happened, then deliver what is pending."""
    time.sleep(seconds)
    watcher.flush()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = (tmp_path / "root").resolve()
    path.mkdir()
    return path


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def make_watcher(recorder: Recorder) -> Iterator[MakeWatcher]:
    made: list[Watcher] = []

    def make(*roots: Path, **options: object) -> Watcher:
        options = {"debounce": 0.1, "max_delay": 1.0, "rescan_seconds": 0, **options}
        watcher = Watcher(recorder, **options)  # type: ignore[arg-type]
        made.append(watcher)
        watcher.start()
        for path in roots:
            watcher.watch(path)
        return watcher

    yield make
    for watcher in made:
        watcher.stop()


# --- event mapping ----------------------------------------------------------------------------------


def test_event_mapping(root: Path) -> None:
    rules = IgnoreRules()
    sub = root / "sub"
    assert dirty_folders(ev.FileCreatedEvent(str(sub / "a.txt")), root, rules) == [(sub, False)]
    assert dirty_folders(ev.FileClosedEvent(str(sub / "a.txt")), root, rules) == [(sub, False)]
    assert dirty_folders(ev.FileOpenedEvent(str(sub / "a.txt")), root, rules) == []
    assert dirty_folders(ev.FileClosedNoWriteEvent(str(sub / "a.txt")), root, rules) == []
    assert dirty_folders(ev.DirModifiedEvent(str(sub)), root, rules) == []
    assert dirty_folders(ev.DirCreatedEvent(str(sub)), root, rules) == [(sub, True)]
    assert dirty_folders(ev.DirDeletedEvent(str(root)), root, rules) == [(root, True)]
    moved = ev.DirMovedEvent(str(root / "a"), str(root / "b" / "c"))
    assert dirty_folders(moved, root, rules) == [(root / "a", True), (root / "b" / "c", True)]
    saved = ev.FileMovedEvent(os.fsencode(sub / "a.txt.swp"), os.fsencode(sub / "a.txt"))  # bytes paths
    assert dirty_folders(saved, root, rules) == [(sub, False)]
    assert dirty_folders(ev.FileCreatedEvent(str(root / ".git" / "HEAD")), root, rules) == []
    assert dirty_folders(ev.FileCreatedEvent(str(root.parent / "a.txt")), root, rules) == []


def test_coalescing(root: Path, recorder: Recorder) -> None:
    watcher = Watcher(recorder)
    a, b = root / "a", root / "b"

    def mark(folder: Path, recursive: bool, watched_root: Path = root) -> None:  # as the event handler does
        event = ev.DirCreatedEvent(str(folder)) if recursive else ev.FileCreatedEvent(str(folder / "f.txt"))
        watcher._on_event(watched_root, event)

    mark(a, False)
    watcher.watch(root)
    watcher.flush()
    assert recorder.calls == []  # events from before the root was watched are dropped
    for folder, recursive in [(a / "x", False), (a, False), (a / "x", False), (b / "y", False), (a, True),
                              (a / "x" / "z", True), (a / "y", True), (b / "y", False), (b, False)]:
        mark(folder, recursive)
    mark(root.parent / "other", True, root.parent / "other")  # not a watched root
    watcher.flush()
    assert recorder.calls == [(a, True), (b, False), (b / "y", False)]
    recorder.clear()
    mark(b / "y", True)
    mark(b / "y" / "z", False)
    mark(b, True)
    watcher.flush()
    assert recorder.calls == [(b, True)]
    watcher.flush()
    assert recorder.calls == [(b, True)]


# --- real events ------------------------------------------------------------------------------------


def test_file_created_modified_deleted(root: Path, recorder: Recorder, make_watcher: MakeWatcher) -> None:
    sub = root / "sub"
    sub.mkdir()
    (sub / "old.txt").write_text("old")
    make_watcher(root)
    (root / "a.txt").write_text("a")
    assert recorder.wait_call((root, False))
    recorder.clear()
    with open(sub / "old.txt", "a") as handle:
        handle.write("more")
    assert recorder.wait_call((sub, False))
    recorder.clear()
    (sub / "old.txt").unlink()
    assert recorder.wait_call((sub, False))


def test_rename_and_move_across_folders(root: Path, recorder: Recorder, make_watcher: MakeWatcher) -> None:
    (root / "a").mkdir()
    (root / "b").mkdir()
    (root / "a" / "x.txt").write_text("x")
    make_watcher(root)
    (root / "a" / "x.txt").rename(root / "a" / "y.txt")
    assert recorder.wait_call((root / "a", False))
    recorder.clear()
    (root / "a" / "y.txt").rename(root / "b" / "y.txt")
    assert recorder.wait_call((root / "a", False), (root / "b", False))


def test_directory_created_moved_deleted(root: Path, recorder: Recorder, make_watcher: MakeWatcher) -> None:
    watcher = make_watcher(root)
    tree = root / "new"
    (tree / "deep" / "deeper").mkdir(parents=True)
    (tree / "deep" / "deeper" / "a.txt").write_text("a")
    assert recorder.wait_call((tree, True))
    settle(watcher)
    recorder.clear()
    tree.rename(root / "moved")
    assert recorder.wait_call((tree, True), (root / "moved", True))
    settle(watcher)
    recorder.clear()
    shutil.rmtree(root / "moved")
    assert recorder.wait_call((root / "moved", True))
    settle(watcher)
    assert all(folder.is_relative_to(root / "moved") for folder, _ in recorder.calls)


def test_burst_is_coalesced(root: Path, recorder: Recorder, make_watcher: MakeWatcher) -> None:
    burst = root / "burst"
    burst.mkdir()
    watcher = make_watcher(root, debounce=0.3, max_delay=2.0)
    for index in range(500):
        (burst / f"file{index:03}.txt").write_text(str(index))
    assert recorder.wait_call((burst, False))
    settle(watcher, 1.0)
    assert 1 <= recorder.calls.count((burst, False)) <= 5
    assert set(recorder.calls) == {(burst, False)}


def test_ignored_events_are_dropped(root: Path, recorder: Recorder, make_watcher: MakeWatcher) -> None:
    (root / "docs").mkdir()
    watcher = make_watcher(root)
    (root / "docs" / "notes.txt.swp").write_text("swap")
    (root / "docs" / "~$report.docx").write_text("owner")
    (root / ".git" / "objects").mkdir(parents=True)
    (root / ".git" / "objects" / "ab").write_text("blob")
    (root / "node_modules" / "pkg").mkdir(parents=True)
    (root / "node_modules" / "pkg" / "index.js").write_text("")
    settle(watcher)
    time.sleep(1.0)
    assert recorder.calls == []
    (root / "docs" / "notes.txt").write_text("kept")  # the watcher is still listening
    assert recorder.wait_call((root / "docs", False))


def test_two_roots(tmp_path: Path, recorder: Recorder, make_watcher: MakeWatcher) -> None:
    first, second = tmp_path.resolve() / "first", tmp_path.resolve() / "build"  # "build" is fine as a root
    (first / "sub").mkdir(parents=True)
    second.mkdir()
    watcher = make_watcher(first, second)
    assert watcher.roots == sorted([first, second])
    (first / "sub" / "a.txt").write_text("a")
    (second / "b.txt").write_text("b")
    assert recorder.wait_call((first / "sub", False), (second, False))
    settle(watcher)
    assert {folder for folder, _ in recorder.calls} <= {first / "sub", second}


def test_watch_before_start_and_context_manager(root: Path, recorder: Recorder) -> None:
    watcher = Watcher(recorder, debounce=0.1, rescan_seconds=0)
    watcher.watch(root)
    watcher.watch(root)  # idempotent
    with watcher:
        assert watcher.roots == [root]
        (root / "a.txt").write_text("a")
        assert recorder.wait_call((root, False))
    assert recorder.threads == {"ingest-watcher"}


def test_unwatch_stops_events(root: Path, recorder: Recorder, make_watcher: MakeWatcher) -> None:
    watcher = make_watcher(root)
    watcher.unwatch(root)
    watcher.unwatch(root)  # harmless
    assert watcher.roots == []
    (root / "a.txt").write_text("a")
    settle(watcher)
    time.sleep(1.0)
    assert recorder.calls == []


def test_unwatch_drops_pending_folders(root: Path, recorder: Recorder, make_watcher: MakeWatcher) -> None:
    watcher = make_watcher(root, debounce=30, max_delay=60)
    (root / "a.txt").write_text("a")
    watcher._on_event(root, ev.FileCreatedEvent(str(root / "b.txt")))  # pending for sure
    time.sleep(0.5)
    watcher.unwatch(root)
    watcher.flush()
    assert recorder.calls == []


def test_periodic_rescan(root: Path, recorder: Recorder, make_watcher: MakeWatcher) -> None:
    make_watcher(root, rescan_seconds=0.5)
    assert recorder.wait_for(lambda calls: calls.count((root, True)) >= 3)
    assert set(recorder.calls) == {(root, True)}
    assert recorder.threads == {"ingest-watcher"}


def test_rescan_all_runs_on_the_watcher_thread(tmp_path: Path, recorder: Recorder, make_watcher: MakeWatcher) -> None:
    first, second = tmp_path.resolve() / "first", tmp_path.resolve() / "second"
    first.mkdir()
    second.mkdir()
    watcher = make_watcher(first, second, debounce=30, max_delay=60)
    watcher.rescan_all()
    assert recorder.wait_call((first, True), (second, True))
    assert recorder.threads == {"ingest-watcher"}


def test_a_failing_on_dirty_is_logged_and_delivery_goes_on(
    root: Path, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    failures = []

    def on_dirty(folder: Path, recursive: bool) -> None:
        if not failures:
            failures.append(folder)
            raise RuntimeError("indexer failed")
        recorder(folder, recursive)

    caplog.set_level(logging.ERROR, logger="app.ingest.watcher")
    with Watcher(on_dirty, debounce=0.1, rescan_seconds=0) as watcher:
        watcher.watch(root)
        (root / "a.txt").write_text("a")
        assert recorder.wait_for(lambda calls: bool(failures))
        (root / "sub").mkdir()
        assert recorder.wait_call((root / "sub", True))
    assert failures == [root]
    assert any(record.exc_info and "indexer failed" in str(record.exc_info[1]) for record in caplog.records)


def test_watching_a_missing_folder_raises(tmp_path: Path, recorder: Recorder, make_watcher: MakeWatcher) -> None:
    watcher = make_watcher()
    with pytest.raises(FileNotFoundError, match="no such folder"):
        watcher.watch(tmp_path / "missing")
    (tmp_path / "file.txt").write_text("")
    with pytest.raises(NotADirectoryError, match="not a folder"):
        watcher.watch(tmp_path / "file.txt")
    assert watcher.roots == []


def test_stop_is_idempotent_and_final(root: Path, recorder: Recorder) -> None:
    watcher = Watcher(recorder, debounce=0.5, rescan_seconds=0.2)
    watcher.stop()  # before start: harmless
    watcher = Watcher(recorder, debounce=0.5, rescan_seconds=0.2)
    watcher.watch(root)
    watcher.start()
    (root / "a.txt").write_text("a")
    time.sleep(0.2)
    watcher.stop()
    watcher.stop()
    seen = len(recorder.calls)
    (root / "b.txt").write_text("b")
    watcher.rescan_all()
    watcher.flush()
    watcher.start()  # a stopped watcher stays stopped
    time.sleep(1.0)
    assert len(recorder.calls) == seen
    assert watcher._thread is not None and not watcher._thread.is_alive()


def test_stop_from_inside_on_dirty(root: Path, recorder: Recorder) -> None:
    def on_dirty(folder: Path, recursive: bool) -> None:
        recorder(folder, recursive)
        watcher.unwatch(folder)
        watcher.stop()

    watcher = Watcher(on_dirty, debounce=0.1, rescan_seconds=0)
    watcher.watch(root)
    watcher.start()
    (root / "a.txt").write_text("a")
    assert recorder.wait_call((root, False))
    watcher.stop()
    assert recorder.calls == [(root, False)]
    assert watcher._thread is not None
    watcher._thread.join(DEADLINE)
    assert not watcher._thread.is_alive()


def test_deleting_a_watched_root(tmp_path: Path, recorder: Recorder, make_watcher: MakeWatcher) -> None:
    doomed, other = tmp_path.resolve() / "doomed", tmp_path.resolve() / "other"
    (doomed / "sub").mkdir(parents=True)
    (doomed / "sub" / "a.txt").write_text("a")
    other.mkdir()
    watcher = make_watcher(doomed, other)
    shutil.rmtree(doomed)
    assert recorder.wait_call((doomed, True))
    (other / "b.txt").write_text("b")
    assert recorder.wait_call((other, False))
    watcher.unwatch(doomed)
    assert watcher.roots == [other]


def test_polling_fallback_when_the_watch_limit_is_reached(
    root: Path, recorder: Recorder, make_watcher: MakeWatcher, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    class ExhaustedObserver(PollingObserver):
        def schedule(self, *args: object, **kwargs: object):  # type: ignore[override]
            raise OSError(errno.ENOSPC, "inotify watch limit reached")

    monkeypatch.setattr(watcher_module, "Observer", ExhaustedObserver)
    monkeypatch.setattr(watcher_module, "POLL_SECONDS", 0.2)
    caplog.set_level(logging.WARNING, logger="app.ingest.watcher")
    make_watcher(root)
    assert "max_user_watches" in caplog.text
    (root / "a.txt").write_text("a")
    assert recorder.wait_call((root, False))
