"""The running app's kernel side, its lifecycle: start-up, model (re)load, ingestion, close.

Memory opens on a start-up thread and the chat model loads there too; until then requests wait in
the turn queue (app/kernel/turns.py), which serves them once memory is open (quick commands work
before any model). Changing the model swaps in a new kernel over the same memory and scheduler.
Questions to the user go through the one confirmer (``confirmer``): it announces each question
with ``on_confirm`` and the turn waits until someone calls ``confirmer.answer``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app import settings
from app.kernel.events import HeartbeatTimer, document_indexed, documents_indexed
from app.safety.confirm import DeferredConfirmer, Request

if TYPE_CHECKING:
    from app.kernel.assembly import Kernel
    from app.kernel.turns import TurnListener
    from app.memory.store import MemoryStore
    from models.scheduler import Scheduler

log = logging.getLogger(__name__)


@dataclass
class HostListener:
    """What the Host reports besides turns; every callback runs on one of the Host's threads."""

    on_ready: Callable[[], None] = lambda: None
    """Memory is open: searches, the inspector and quick commands work."""
    on_model: Callable[[str, str], None] = lambda name, status: None
    """(model name, status): status is "loading", "ready", "none" or "error: why"."""
    on_confirm: Callable[[Request], None] = lambda request: None
    """A question for the user; answer it with ``host.confirmer.answer`` (the turn waits)."""
    on_context: Callable[[int, int], None] = lambda used, budget: None
    """Tokens the context uses, of the budget the model may fill."""
    on_progress: Callable[[object], None] = lambda progress: None
    """An app.ingest.pipeline.Progress while documents are indexed."""
    on_error: Callable[[str], None] = lambda text: None
    """Something the user should know that belongs to no turn."""


def default_open_memory(scheduler: Scheduler) -> MemoryStore:
    from app.kernel.assembly import open_memory

    return open_memory(scheduler)


def model_label(conf: settings.Settings) -> str:
    if conf.remote_url:
        return f"{conf.remote_model or 'remote'} at {conf.remote_url}"
    return Path(conf.chat_model).name if conf.chat_model else "no model"


class Host:
    def __init__(self, *, open_memory: Callable[[Scheduler], Any] = default_open_memory,
                 load_model: Callable[[settings.Settings], Any] | None = None, ingest: bool = True) -> None:
        from app.kernel.assembly import load_chat_model
        from app.kernel.turns import TurnListener, TurnQueue
        from models.scheduler import Scheduler

        self.listener = HostListener()
        self._open_memory = open_memory
        self._load_model = load_model or load_chat_model
        self._ingest_enabled = ingest
        self.confirmer = DeferredConfirmer(lambda request: self.listener.on_confirm(request))
        self.scheduler = Scheduler()
        self.turns = TurnQueue(lambda: self.kernel, self._measuring(TurnListener()))
        self.memory: MemoryStore | None = None
        self.kernel: Kernel | None = None
        self.ingest: Any = None
        self.heartbeat: HeartbeatTimer | None = None
        self.model_status = ("", "loading")
        self._indexed: list[tuple[str, int]] = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._closed = threading.Event()
        self._start_thread = threading.Thread(target=self._start, name="start-up", daemon=True)
        self._load_lock = threading.Lock()

    def listen(self, listener: HostListener, turns: TurnListener | None = None) -> None:
        """Report to ``listener`` (and the turns' steps to ``turns``) from now on; before ``start``."""
        from app.kernel.turns import TurnListener

        self.listener = listener
        self.turns.listener = self._measuring(turns or TurnListener())

    def _measuring(self, listener: TurnListener) -> TurnListener:
        """``listener``, and a measure of the context after each turn and each eviction between turns."""
        from app.kernel.turns import TurnListener

        def done(turn: int, result: Any) -> None:
            listener.on_done(turn, result)
            self.report_context()

        def upkept(what: str) -> None:
            listener.on_upkeep(what)
            if what == "evicted":
                self.report_context()

        return TurnListener(listener.on_turn, listener.on_step, done, upkept)

    # -- start-up -----------------------------------------------------------------------------
    def start(self) -> None:
        """Open memory, then load the model, on a start-up thread (starting twice does nothing)."""
        if not self._start_thread.is_alive() and not self._ready.is_set():
            self._start_thread.start()

    def _start(self) -> None:
        from app.kernel.assembly import assemble

        try:
            self.memory = self._open_memory(self.scheduler)
        except Exception as exc:  # noqa: BLE001 - shown to the user, the app stays up
            log.exception("memory could not be opened")
            self.listener.on_error(f"Pagemind's memory could not be opened: {exc}")
            return
        if self._closed.is_set():  # quit while memory was opening
            self.memory.close()
            self.memory = None
            return
        self.kernel = assemble(self.memory, None, self.confirmer, scheduler=self.scheduler)
        self._ready.set()
        self.turns.start()
        self.listener.on_ready()
        if self.memory.db.notice:
            self.listener.on_error(self.memory.db.notice)
        threading.Thread(target=self._backfill, name="backfill", daemon=True).start()
        if self._ingest_enabled:
            self._start_ingest()
        conf = settings.load()
        if conf.heartbeat_minutes > 0:
            self.heartbeat = HeartbeatTimer(conf.heartbeat_minutes, self.turns.submit).start()
        self.load_model()

    def _backfill(self) -> None:
        """Embed, a few at a time, the messages that are searchable by words only."""
        while not self._closed.is_set():
            try:
                if not self.memory.recall.backfill_vectors():
                    return
            except Exception:  # noqa: BLE001 - words still find them; try again at the next start
                log.warning("messages could not be embedded", exc_info=True)
                return

    def _start_ingest(self) -> None:
        from app.ingest.service import IngestService

        try:
            self.ingest = IngestService(self.memory, self.scheduler, on_progress=self.listener.on_progress,
                                        on_document=self._document_indexed, on_summary=self._round_done)
            self.ingest.start()
        except Exception as exc:  # noqa: BLE001 - indexing is optional; chat goes on
            log.exception("document indexing could not start")
            self.listener.on_error(f"Document indexing could not start: {exc}")

    def load_model(self) -> None:
        """(Re)load the chat model the settings name; call it on any thread but the GUI's."""
        from app.kernel.assembly import assemble

        with self._load_lock:
            conf = settings.load()
            label = model_label(conf)
            self.model_status = (label, "loading")
            self.listener.on_model(label, "loading")
            try:
                model = self._load_model(conf)
            except Exception as exc:  # noqa: BLE001 - a bad file or server: say so, keep quick commands
                log.warning("the chat model could not be loaded: %s", exc)
                self.model_status = (label, f"error: {exc}")
                self.listener.on_model(label, f"error: {exc}")
                return
            if self._closed.is_set():
                if model is not None:
                    model.close()
                return
            with self._lock:
                old = self.kernel
                self.kernel = assemble(self.memory, model, self.confirmer, scheduler=self.scheduler)
            if old is not None:
                old.close(save_state=False)
            self.model_status = (label, "ready" if model is not None else "none")
            self.listener.on_model(label, self.model_status[1])
            if self.kernel.upkeep is not None:
                self._resume()

    def _resume(self) -> None:
        try:
            self.kernel.upkeep.resume()
            self.report_context()
        except Exception:  # noqa: BLE001 - a cold cache is slower, not broken
            log.exception("warming the model's cache failed")

    def reload_policy(self) -> None:
        """Take up changed allowed folders and permission rules from the settings."""
        from app.safety.policy import Policy

        if self.kernel is not None:
            self.kernel.gate.policy = Policy()

    def report_context(self) -> None:
        """Tell the listener how full the context is (after a turn, an eviction, a model change)."""
        kernel = self.kernel
        if kernel is None or kernel.model is None:
            return
        context = kernel.agent.context
        try:
            self.listener.on_context(context.tokens_used(), context.limits.budget)
        except Exception:  # noqa: BLE001 - a gauge, not a reason to fail
            log.debug("the context size could not be measured", exc_info=True)

    # -- events from ingestion ----------------------------------------------------------------------
    def _document_indexed(self, path: str, chunks: int) -> None:
        with self._lock:
            self._indexed.append((path, chunks))

    def _round_done(self, summary: object) -> None:
        with self._lock:
            indexed, self._indexed = self._indexed, []
        if not indexed or self.kernel is None or self.kernel.model is None:
            return
        if len(indexed) == 1:
            self.turns.submit(document_indexed(*indexed[0]))
        else:
            self.turns.submit(documents_indexed([path for path, _chunks in indexed]))

    # -- folders -------------------------------------------------------------------------------
    def watch(self, path: str) -> tuple[Path, list[Path]]:
        """Add a watched folder (checked, saved in the settings) and start indexing it."""
        from app.ingest import folders

        folder, covered = folders.add(path)
        if self.ingest is not None:
            self.ingest.add(folder, covered)
        return folder, covered

    def unwatch(self, path: str) -> int:
        """Stop watching a folder and forget its documents; returns how many were forgotten."""
        from app.ingest import folders

        folder = folders.remove(path)
        if self.ingest is not None:
            return self.ingest.remove(folder)
        from app.ingest.pipeline import Pipeline

        return Pipeline(self.memory).forget(str(folder))

    # -- shutting down -------------------------------------------------------------------------
    def wait_ready(self, timeout: float | None = None) -> bool:
        return self._ready.wait(timeout)

    def close(self) -> None:
        """Stop everything, saving the context's state for the next start."""
        if self._closed.is_set():
            return
        self._closed.set()
        if self.heartbeat is not None:
            self.heartbeat.stop()
        if self.ingest is not None:
            self.ingest.stop()
        self.confirmer.abort()
        self.turns.close()
        if self._start_thread.is_alive():
            self._start_thread.join(timeout=60)
        loaded = self._load_lock.acquire(timeout=60)  # a model mid-load is closed by load_model
        try:
            try:
                if self.kernel is not None:
                    self.kernel.close(save_state=self.kernel.model is not None)
            finally:
                self.scheduler.close()
                if self.memory is not None:
                    self.memory.close()
                self.kernel = self.memory = self.ingest = None
        finally:
            if loaded:
                self._load_lock.release()

