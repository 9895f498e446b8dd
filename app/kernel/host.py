"""The running app's kernel side: memory, session, model loading, ingestion and the event queue.

The window's bridge (app/gui/bridge.py) and the single-instance server hand requests to a Host
and hear back through :class:`HostListener` callbacks, which run on the Host's threads. Nothing
here waits on the caller's thread: memory opens and the model loads on a start-up thread, turns
run one at a time on a turn thread (user requests before quick commands before system events),
and upkeep between turns runs on its own thread, cancelled by the next turn.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from app import settings
from app.kernel.events import Event, HeartbeatTimer, Listener, Step, ignore
from app.safety.confirm import DeferredConfirmer, Request

if TYPE_CHECKING:
    from app.kernel.agent import TurnResult

log = logging.getLogger(__name__)

MAX_QUEUED_SYSTEM = 1
"""System events (documents indexed, heartbeats) waiting at once; more are merged or dropped."""


Done = Callable[["TurnResult"], None]


@dataclass(frozen=True)
class _Job:
    event: Event
    listener: Listener = ignore
    """Hears this turn's steps, besides the HostListener (a client of the single-instance server)."""
    done: Done | None = None


@dataclass
class HostListener:
    """What the Host reports; every callback runs on one of the Host's threads."""

    on_ready: Callable[[], None] = lambda: None
    """Memory is open: searches, the inspector and quick commands work."""
    on_model: Callable[[str, str], None] = lambda name, status: None
    """(model name, status): status is "loading", "ready", "none" or "error: why"."""
    on_state: Callable[[str], None] = lambda state: None
    """"starting", "idle", "thinking" or "confirm"."""
    on_turn: Callable[[int, Event], None] = lambda turn, event: None
    """A turn started serving ``event``."""
    on_step: Callable[[int, Step], None] = lambda turn, step: None
    on_done: Callable[[int, TurnResult], None] = lambda turn, result: None
    on_confirm: Callable[[Request], None] = lambda request: None
    """The gate asks; answer with :meth:`Host.answer` (the turn waits)."""
    on_context: Callable[[int, int], None] = lambda used, budget: None
    """Tokens the context uses, of the budget the model may fill."""
    on_progress: Callable[[object], None] = lambda progress: None
    """An app.ingest.pipeline.Progress while documents are indexed."""
    on_error: Callable[[str], None] = lambda text: None
    """Something the user should know that belongs to no turn."""


def default_open_memory():  # -> MemoryStore (imported late: keeps the window's start fast)
    from app.memory.store import MemoryStore

    return MemoryStore.open_default()


def default_load_model(conf: settings.Settings):  # -> ChatModel | None
    """The chat model the settings name: a remote server, a local GGUF, or None."""
    if conf.remote_url:
        from models.remote import RemoteChatModel

        return RemoteChatModel(conf.remote_url, conf.remote_model, n_ctx=conf.context_length,
                               temperature=conf.temperature)
    if not conf.chat_model:
        return None
    from models.gguf_file import fitting_context
    from models.local_client import LocalChatModel

    path = Path(conf.chat_model).expanduser()
    return LocalChatModel(path, n_ctx=fitting_context(path, conf.context_length), n_threads=conf.threads,
                          temperature=conf.temperature)


def model_label(conf: settings.Settings) -> str:
    if conf.remote_url:
        return f"{conf.remote_model or 'remote'} at {conf.remote_url}"
    return Path(conf.chat_model).name if conf.chat_model else "no model"


class Host:
    def __init__(self, listener: HostListener | None = None, *,
                 open_memory: Callable[[], object] = default_open_memory,
                 load_model: Callable[[settings.Settings], object] = default_load_model,
                 ingest: bool = True) -> None:
        self.listener = listener or HostListener()
        self._open_memory = open_memory
        self._load_model = load_model
        self._ingest_enabled = ingest
        self.confirmer = DeferredConfirmer(self._asking)
        self.memory = None
        self.session = None
        self.scheduler = None
        self.ingest = None
        self.heartbeat: HeartbeatTimer | None = None
        self.model_status = ("", "loading")
        self._queue: queue.PriorityQueue[tuple[int, int, _Job | None]] = queue.PriorityQueue()
        self._seq = itertools.count()
        self._system_queued = 0
        self._indexed: list[tuple[str, int]] = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._started = False
        self._closed = threading.Event()
        self._turn_thread = threading.Thread(target=self._serve, name="turns", daemon=True)
        self._start_thread = threading.Thread(target=self._start, name="start-up", daemon=True)
        self._upkeep: threading.Thread | None = None
        self._load_lock = threading.Lock()

    # -- start-up -----------------------------------------------------------------------------
    def start(self) -> None:
        """Open memory, then load the model, on a start-up thread; turns queue until memory is open.

        Starting a started Host does nothing."""
        if self._started:
            return
        self._started = True
        self.listener.on_state("starting")
        self._start_thread.start()

    def _start(self) -> None:
        from models.scheduler import Scheduler
        from app.kernel.session import Session

        try:
            self.memory = self._open_memory()
        except Exception as exc:  # noqa: BLE001 - shown to the user, the app stays up
            log.exception("memory could not be opened")
            self.listener.on_error(f"Pagemind's memory could not be opened: {exc}")
            return
        if self._closed.is_set():  # quit while memory was opening
            self.memory.close()
            self.memory = None
            return
        self.scheduler = Scheduler()
        self.session = Session(self.memory, None, self.confirmer, scheduler=self.scheduler)
        self._ready.set()
        self._turn_thread.start()
        self.listener.on_ready()
        self.listener.on_state("idle")
        notice = getattr(self.memory.db, "notice", None)
        if notice:
            self.listener.on_error(notice)
        threading.Thread(target=self._backfill, name="backfill", daemon=True).start()
        if self._ingest_enabled:
            self._start_ingest()
        conf = settings.load()
        if conf.heartbeat_minutes > 0:
            self.heartbeat = HeartbeatTimer(conf.heartbeat_minutes, self.post_system).start()
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
        from app.kernel.session import Session

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
                old = self.session
                self.session = Session(self.memory, model, self.confirmer, scheduler=self.scheduler)
            if old is not None and old.model is not None:
                old.close(save_state=False)
            self.model_status = (label, "ready" if model is not None else "none")
            self.listener.on_model(label, self.model_status[1])
            if model is not None:
                self._resume()

    def _resume(self) -> None:
        try:
            self.session.resume()
            self._report_context()
        except Exception:  # noqa: BLE001 - a cold cache is slower, not broken
            log.exception("warming the model's cache failed")

    def reload_policy(self) -> None:
        """Take up changed allowed folders and permission rules from the settings."""
        from app.safety.policy import Policy

        if self.session is not None:
            self.session.gate.policy = Policy()

    # -- requests -----------------------------------------------------------------------------
    def submit(self, text: str, kind: str = "user", listener: Listener = ignore, done: Done | None = None) -> None:
        """Queue a request ("user" or "quick"); ``listener`` also hears its steps, ``done`` its end."""
        from app.kernel.events import Event

        if kind not in ("user", "quick"):
            raise ValueError(f"a request is user or quick, not {kind!r}")
        if not text.strip():
            raise ValueError("the request is empty")
        if kind == "quick":
            settings.remember_command(text.strip())
        event = Event(kind, text.strip())  # type: ignore[arg-type]
        self._queue.put((int(event.priority), next(self._seq), _Job(event, listener, done)))

    def post_system(self, event: Event) -> None:
        """Queue a system event, unless one is already waiting (it will see the news anyway)."""
        with self._lock:
            if self._system_queued >= MAX_QUEUED_SYSTEM:
                return
            self._system_queued += 1
        self._queue.put((int(event.priority), next(self._seq), _Job(event)))

    def _document_indexed(self, path: str, chunks: int) -> None:
        with self._lock:
            self._indexed.append((path, chunks))

    def _round_done(self, summary: object) -> None:
        from app.kernel.events import document_indexed, documents_indexed

        with self._lock:
            indexed, self._indexed = self._indexed, []
        if not indexed or self.session is None or self.session.agent is None:
            return
        if len(indexed) == 1:
            self.post_system(document_indexed(*indexed[0]))
        else:
            self.post_system(documents_indexed([path for path, _chunks in indexed]))

    def _serve(self) -> None:
        turns = itertools.count(1)
        while True:
            job = self._queue.get()[2]
            if job is None:
                return
            if job.event.kind == "system":
                with self._lock:
                    self._system_queued -= 1
                if self.session is None or self.session.agent is None:
                    continue
            self._turn(next(turns), job)

    def _turn(self, turn: int, job: _Job) -> None:
        def emit(step: Step) -> None:
            self.listener.on_step(turn, step)
            job.listener(step)

        event = job.event
        session = self.session
        self.listener.on_turn(turn, event)
        self.listener.on_state("thinking")
        try:
            result = session.handle(event, emit)
        except Exception as exc:  # noqa: BLE001 - a bug in one turn must not end the queue
            from app.kernel.agent import TurnResult

            log.exception("the turn failed")
            result = TurnResult("error", 0, error=f"the request failed: {exc}")
            emit(Step("error", text=result.error or ""))
        self.listener.on_state("idle")
        if job.done is not None:
            job.done(result)
        self.listener.on_done(turn, result)
        self._report_context()
        if self._queue.empty():
            self._start_upkeep(session)

    def _start_upkeep(self, session: object) -> None:
        def upkeep() -> None:
            try:
                if session.maintain() == "evicted":  # type: ignore[attr-defined]
                    self._report_context()
            except Exception:  # noqa: BLE001 - upkeep is an optimisation
                log.exception("upkeep between turns failed")

        self._upkeep = threading.Thread(target=upkeep, name="upkeep", daemon=True)
        self._upkeep.start()

    def _report_context(self) -> None:
        session = self.session
        if session is None or session.agent is None:
            return
        context = session.agent.context
        try:
            self.listener.on_context(context.tokens_used(), context.limits.budget)
        except Exception:  # noqa: BLE001 - a gauge, not a reason to fail
            log.debug("the context size could not be measured", exc_info=True)

    def _asking(self, request: Request) -> None:
        self.listener.on_state("confirm")
        self.listener.on_confirm(request)

    def answer(self, answer: str) -> None:
        """The user's answer to the pending confirmation."""
        self.confirmer.answer(answer)  # type: ignore[arg-type]
        self.listener.on_state("thinking")

    def cancel(self) -> None:
        """Stop the turn in flight (a pending confirmation is declined)."""
        self.confirmer.abort()
        if self.session is not None:
            self.session.cancel()

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
        self.cancel()
        self._queue.put((-1, -1, None))
        for thread in (self._start_thread, self._turn_thread):
            if thread.is_alive():
                thread.join(timeout=60)
        loaded = self._load_lock.acquire(timeout=60)  # a model mid-load is closed by load_model
        try:
            try:
                if self.session is not None:
                    self.session.close(save_state=True)
            finally:
                if self.scheduler is not None:
                    self.scheduler.close()
                if self.memory is not None:
                    self.memory.close()
                self.session = self.memory = self.scheduler = self.ingest = None
        finally:
            if loaded:
                self._load_lock.release()
