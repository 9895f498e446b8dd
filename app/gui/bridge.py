"""The only seam between the widgets and the kernel: Qt signals out, plain method calls in.

The kernel's :class:`~app.kernel.host.Host` reports on its own threads; each report is re-emitted
here as a Qt signal, which Qt delivers on the GUI thread. Widgets ask for data with the methods
below: each runs the work on a worker thread and hands the result to ``done`` (or the error text
to ``failed``) on the GUI thread, so no widget ever waits on the database or the model.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Literal

from PySide6.QtCore import QObject, Signal, Slot

from app import settings
from app.kernel.events import Event
from app.kernel.host import Host, HostListener
from app.kernel.turns import TurnListener
from app.safety.confirm import Answer

log = logging.getLogger(__name__)

Done = Callable[[Any], None]
Failed = Callable[[str], None]


class Bridge(QObject):
    ready = Signal()
    """Memory is open: the inspector, searches and quick commands work."""
    model_changed = Signal(str, str)
    """(label, status): "loading", "ready", "none" or "error: why"."""
    state_changed = Signal(str)
    """"starting", "idle", "thinking" or "confirm" (the tray icon shows it)."""
    turn_started = Signal(int, str, str)
    """(turn, kind, text): kind is "user", "quick" or "system"."""
    step = Signal(int, object)
    """(turn, app.kernel.events.Step)."""
    turn_finished = Signal(int, object)
    """(turn, app.kernel.agent.TurnResult)."""
    confirm_requested = Signal(object)
    """An app.safety.confirm.Request; answer it with :meth:`answer`."""
    context_changed = Signal(int, int)
    """(tokens used, budget)."""
    ingest_progress = Signal(object)
    """An app.ingest.pipeline.Progress."""
    error = Signal(str)
    """A problem that belongs to no turn (memory or indexing could not start)."""
    _deliver = Signal(object)

    def __init__(self, host: Host | None = None, parent: QObject | None = None, **host_options: Any) -> None:
        super().__init__(parent)
        self._deliver.connect(self._run_delivery)
        listener = HostListener(
            on_ready=self._on_ready,
            on_model=self.model_changed.emit,
            on_confirm=self._on_confirm,
            on_context=self.context_changed.emit,
            on_progress=self.ingest_progress.emit,
            on_error=self.error.emit,
        )
        turns = TurnListener(
            on_turn=self._on_turn,
            on_step=self.step.emit,
            on_done=self._on_done,
        )
        self.host = host or Host(**host_options)
        self.host.listen(listener, turns)
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="bridge")
        self._closed = False

    # -- state for the tray and the window -------------------------------------------------------
    def _on_ready(self) -> None:
        self.ready.emit()
        self.state_changed.emit("idle")

    def _on_turn(self, turn: int, event: Event) -> None:
        self.turn_started.emit(turn, event.kind, event.text)
        self.state_changed.emit("thinking")

    def _on_done(self, turn: int, result: Any) -> None:
        self.turn_finished.emit(turn, result)
        self.state_changed.emit("idle")

    def _on_confirm(self, request: Any) -> None:
        self.state_changed.emit("confirm")
        self.confirm_requested.emit(request)

    # -- plumbing ------------------------------------------------------------------------------
    @Slot(object)
    def _run_delivery(self, deliver: Callable[[], None]) -> None:
        if not self._closed:
            deliver()

    def later(self, work: Callable[[], Any], done: Done | None = None, failed: Failed | None = None) -> None:
        """Run ``work`` on a worker thread; ``done(result)`` or ``failed(message)`` on the GUI thread."""

        def run() -> None:
            try:
                result = work()
            except Exception as exc:  # noqa: BLE001 - every failure becomes a message for the user
                log.info("background work failed: %s", exc, exc_info=True)
                message = str(exc) or type(exc).__name__
                if failed is not None:
                    self._deliver.emit(lambda: failed(message))
                else:
                    self._deliver.emit(lambda: self.error.emit(message))
                return
            if done is not None:
                self._deliver.emit(lambda: done(result))

        if not self._closed:
            self._pool.submit(run)

    def _memory(self) -> Any:
        if not self.host.wait_ready(30):
            raise RuntimeError("Pagemind's memory is not open yet")
        return self.host.memory

    def _journal(self) -> Any:
        self._memory()
        return self.host.kernel.journal

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        self.state_changed.emit("starting")
        self.host.start()

    def close(self) -> None:
        """Stop the kernel (saving its state) and the workers; blocks until done."""
        if self._closed:
            return
        self._closed = True
        self.host.close()
        self._pool.shutdown(wait=True, cancel_futures=True)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def is_ready(self) -> bool:
        return self.host.memory is not None

    @property
    def model_status(self) -> tuple[str, str]:
        """(model label, status) as the last report said: "loading", "ready", "none" or "error: why"."""
        return self.host.model_status

    def memory_notice(self) -> str | None:
        """What had to be repaired to open memory (a damaged log or file), once it is open."""
        memory = self.host.memory
        return memory.db.notice if memory is not None else None

    # -- turns -----------------------------------------------------------------------------------
    def send(self, text: str, kind: Literal["user", "quick"] = "user",
             listener: Callable[[Any], None] | None = None, done: Done | None = None) -> None:
        """Queue a request ("user" or "quick"); ``listener`` and ``done`` (optional) run on the GUI thread."""
        if kind not in ("user", "quick"):
            raise ValueError(f"a request is user or quick, not {kind!r}")
        if not text.strip():
            raise ValueError("the request is empty")
        if kind == "quick":
            settings.remember_command(text.strip())
        relay = (lambda step: self._deliver.emit(lambda: listener(step))) if listener else (lambda step: None)
        finish = (lambda result: self._deliver.emit(lambda: done(result))) if done else None
        self.host.turns.submit(Event(kind, text.strip()), relay, finish)

    def cancel(self) -> None:
        """Stop the turn in flight; a pending question is answered "deny"."""
        self.host.confirmer.abort()
        self.host.turns.cancel()

    def answer(self, answer: Answer) -> None:
        """Answer the pending question: "once", "always" or "deny"."""
        self.host.confirmer.answer(answer)
        self.state_changed.emit("thinking")

    def run_command(self, argv: list[str], write: Callable[[str, str], None],
                    done: Callable[[int], None]) -> threading.Event:
        """Run a command handed over from the command line (app/cli/handed.py) on a thread of its
        own; ``write(stream, text)`` and ``done(exit code)`` run on the GUI thread. Returns the
        event to set when the client goes away (a follow stops then)."""
        stopped = threading.Event()

        def work() -> None:
            from app.cli import handed

            if not self.host.wait_ready(60):
                self._deliver.emit(lambda: write("err", "pagemind: Pagemind's memory is not open yet\n"))
                self._deliver.emit(lambda: done(2))
                return
            code = handed.serve(argv, self.host, lambda stream, text: self._deliver.emit(lambda: write(stream, text)),
                                stopped)
            self._deliver.emit(lambda: done(code))

        threading.Thread(target=work, name="handed-command", daemon=True).start()
        return stopped

    # -- core memory -----------------------------------------------------------------------------
    def core_blocks(self, done: Done, failed: Failed | None = None) -> None:
        self.later(lambda: self._memory().core.blocks(), done, failed)

    def set_block(self, label: str, value: str, done: Done, failed: Failed | None = None) -> None:
        self.later(lambda: self._memory().core.set(label, value), done, failed)

    def block_history(self, label: str, done: Done, failed: Failed | None = None) -> None:
        self.later(lambda: self._memory().core.history(label), done, failed)

    def restore_block(self, label: str, version: int, done: Done, failed: Failed | None = None) -> None:
        self.later(lambda: self._memory().core.restore(label, version), done, failed)

    # -- recall, archival, documents ----------------------------------------------------------------
    def search_recall(self, query: str, done: Done, failed: Failed | None = None, page: int = 0) -> None:
        self.later(lambda: self._memory().recall.search(query, page), done, failed)

    def search_archival(self, query: str, done: Done, failed: Failed | None = None, page: int = 0) -> None:
        self.later(lambda: self._memory().archival.search(query, page), done, failed)

    def search_documents(self, query: str, done: Done, failed: Failed | None = None, k: int = 10) -> None:
        self.later(lambda: self._memory().documents.search(query, page=0, size=k), done, failed)

    def folders(self, done: Done, failed: Failed | None = None) -> None:
        """Each watched folder: :func:`app.ingest.folders.report` and its ``files`` (Documents)."""
        self.later(self._folder_rows, done, failed)

    def _folder_rows(self) -> list[dict[str, Any]]:
        from app.ingest import folders

        memory = self._memory()
        return [{**folders.report(memory, folder), "files": memory.documents.under(str(folder))}
                for folder in folders.watched()]

    def watch_folder(self, path: str, done: Done, failed: Failed | None = None) -> None:
        self.later(lambda: self.host.watch(path), done, failed)

    def unwatch_folder(self, path: str, done: Done, failed: Failed | None = None) -> None:
        self.later(lambda: self.host.unwatch(path), done, failed)

    # -- the journal ----------------------------------------------------------------------------
    def journal(self, done: Done, failed: Failed | None = None, limit: int = 200) -> None:
        self.later(lambda: self._journal().entries(limit), done, failed)

    def undo(self, entry_id: int | None, done: Done, failed: Failed | None = None) -> None:
        """Undo one journal entry (None: the last undoable one); ``done`` gets what was done."""
        self.later(lambda: self._journal().undo(entry_id), done, failed)

    # -- settings --------------------------------------------------------------------------------
    def apply_settings(self, old: settings.Settings, new: settings.Settings) -> None:
        """Save ``new`` and take it up: the model reloads when its choice changed."""
        with settings.lock:
            settings.save(new)
        self.host.reload_policy()
        model_keys = ("chat_model", "remote_url", "remote_model", "context_length", "threads", "temperature")
        if any(getattr(old, key) != getattr(new, key) for key in model_keys):
            self.later(self.host.load_model)

    def download_model(self, name: str, progress: Callable[[int, int], None], done: Done,
                       failed: Failed | None = None, cancel: Any = None) -> None:
        """Download a catalog model; ``progress(done_bytes, total)`` on the GUI thread; ``done(path)``."""
        from app import paths
        from models.download import download, find_entry

        def report(got: int, total: int) -> None:
            self._deliver.emit(lambda: progress(got, total))

        self.later(lambda: download(find_entry(name), paths.models_dir(), report, cancel), done, failed)

    def catalog(self, done: Done, failed: Failed | None = None) -> None:
        from models.download import load_catalog

        self.later(load_catalog, done, failed)
