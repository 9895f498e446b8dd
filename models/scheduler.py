"""The scheduler: one priority queue in front of the model runners (DESIGN.md decision 7).

Two runners computing at once slow each other down on a small machine, so one worker thread runs
one model call at a time, always the most urgent: CHAT before QUICK before BACKGROUND, first come
first served within a priority. Background work (ingestion, upkeep between turns) submits small
calls, one batch of embeddings or one evaluation each, so a chat request waits for at most one of
them. Any job can be cancelled, queued or running.

This is the app side of the model runners (models/runner_client.py): the kernel, memory and
ingestion all reach the models through it. Everything a job does runs on the worker thread,
including token callbacks (``on_token``): callers that touch a GUI must hand results over to their
own thread.
"""

from __future__ import annotations

import enum
import functools
import heapq
import itertools
import logging
import threading
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

import numpy as np

from models.errors import GenerationCancelled
from models.interface import (
    ChatModel,
    Embedder,
    Generation,
    ChatMessage,
    ModelInfo,
    TokenCallback,
    ToolCall,
    ToolCallError,
    ToolSpec,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
_QUEUED, _RUNNING, _DONE = "queued", "running", "done"


class Priority(enum.IntEnum):
    CHAT = 0
    QUICK = 1
    BACKGROUND = 2


class JobCancelled(GenerationCancelled):
    """The job was cancelled before it finished (queued, between batches, or mid-generation)."""


Unit = Callable[[], Any]
"""What a job runs on the worker."""


class ModelJob:
    """A model call waiting in (or taken from) the queue; ``result()`` waits for its outcome."""

    def __init__(self, scheduler: Scheduler, priority: Priority, name: str, unit: Unit,
                 cancel_hook: Callable[[], None] | None, seq: int) -> None:
        self.priority = priority
        self.name = name
        self._scheduler = scheduler
        self._unit = unit
        self._cancel_hook = cancel_hook
        self._seq = seq
        self._state = _QUEUED
        self._cancel_requested = False
        self._finished = threading.Event()
        self._value: Any = None
        self._error: BaseException | None = None  # raised by result()

    def __repr__(self) -> str:
        return f"<ModelJob {self.name!r} {self.priority.name} {self._state}>"

    @property
    def done(self) -> bool:
        return self._finished.is_set()

    def cancel(self) -> None:
        """Drop the job if queued; if running, ask it to stop (through its cancel hook).

        A running job that finishes before the request takes effect keeps its result.
        """
        self._scheduler._cancel(self)

    def result(self, timeout: float | None = None) -> Any:
        """The job's value; raises its exception, JobCancelled, or TimeoutError after ``timeout``."""
        if not self.done and self._scheduler.in_worker():
            raise RuntimeError(f"waiting for {self.name!r} on the scheduler's own thread would never end")
        if not self._finished.wait(timeout):
            raise TimeoutError(f"{self.name} did not finish within {timeout} s")
        if self._error is not None:
            raise self._error
        return self._value


class Scheduler:
    """Runs submitted jobs one at a time on a daemon worker thread, most urgent first."""

    def __init__(self, name: str = "scheduler") -> None:
        self.name = name
        self._cond = threading.Condition()
        self._heap: list[tuple[int, int, ModelJob]] = []
        self._seq = itertools.count()
        self._running: ModelJob | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def in_worker(self) -> bool:
        """True on the worker thread, where jobs (and their callbacks) run."""
        return threading.current_thread() is self._thread

    def _enqueue(self, priority: Priority, name: str, unit: Unit, cancel: Callable[[], None] | None) -> ModelJob:
        with self._cond:
            if self._closed:
                raise RuntimeError(f"{self.name} is closed")
            job = ModelJob(self, Priority(priority), name, unit, cancel, next(self._seq))
            heapq.heappush(self._heap, (job.priority, job._seq, job))
            self._cond.notify_all()
        return job

    def submit(self, priority: Priority, fn: Callable[..., T], *args: Any, name: str = "",
               cancel: Callable[[], None] | None = None, **kwargs: Any) -> ModelJob:
        """Queue ``fn(*args, **kwargs)``; ``cancel`` is called to stop it once it runs."""
        call = functools.partial(fn, *args, **kwargs)
        return self._enqueue(priority, name or getattr(fn, "__qualname__", "job"), call, cancel)

    def run(self, priority: Priority, fn: Callable[..., T], *args: Any, name: str = "",
            cancel: Callable[[], None] | None = None, **kwargs: Any) -> T:
        """Submit and wait; on the worker thread (a job calling the model again) run ``fn`` inline."""
        if self.in_worker():
            try:
                return fn(*args, **kwargs)
            except GenerationCancelled as exc:
                raise _as_cancelled(exc, name or "the job") from exc
        return self.submit(priority, fn, *args, name=name, cancel=cancel, **kwargs).result()

    def pending(self) -> list[ModelJob]:
        """The queued jobs, in the order they will run."""
        with self._cond:
            return [job for _, _, job in sorted(self._heap)]

    @property
    def running(self) -> ModelJob | None:
        return self._running

    def wait_quiet(self, priority: Priority = Priority.BACKGROUND, timeout: float | None = None) -> bool:
        """Wait until no job more urgent than ``priority`` is queued or running; False on timeout.

        Background work that uses the CPU outside the scheduler (reading and parsing files) calls
        it between pieces of work, so that it steps aside while the user waits for the model.
        """
        def quiet() -> bool:
            running = self._running
            return (self._closed or (running is None or running.priority >= priority)
                    and all(job.priority >= priority for _, _, job in self._heap))

        with self._cond:
            return self._cond.wait_for(quiet, timeout)

    def close(self, timeout: float = 5) -> None:
        """Cancel the queued jobs, let the running one finish."""
        with self._cond:
            self._closed = True
            for _, _, job in self._heap:
                job._cancel_requested = True
                self._finish(job, error=JobCancelled(f"{job.name} was cancelled: {self.name} closed"))
            self._heap.clear()
            self._cond.notify_all()
        if not self.in_worker():
            self._thread.join(timeout)

    # -- the worker ----------------------------------------------------------------------------
    def _cancel(self, job: ModelJob) -> None:
        with self._cond:
            if job._state == _DONE:
                return
            job._cancel_requested = True
            if job._state == _QUEUED:
                self._heap = [entry for entry in self._heap if entry[2] is not job]
                heapq.heapify(self._heap)
                self._finish(job, error=JobCancelled(f"{job.name} was cancelled"))
                return
            hook = job._cancel_hook
        if hook is not None:
            try:
                hook()
            except Exception:
                log.exception("cancelling %s failed", job.name)

    def _finish(self, job: ModelJob, value: Any = None, error: BaseException | None = None) -> None:
        """Record the outcome and wake the waiter (called with the lock held)."""
        if isinstance(error, GenerationCancelled):
            error = _as_cancelled(error, job.name)
        job._value, job._error, job._state = value, error, _DONE
        job._finished.set()

    def _next_job(self) -> ModelJob | None:
        with self._cond:
            while not self._heap and not self._closed:
                self._cond.wait()
            if not self._heap:
                return None
            job = heapq.heappop(self._heap)[2]
            job._state, self._running = _RUNNING, job
            return job

    def _work(self) -> None:
        while (job := self._next_job()) is not None:
            value, error = None, None
            try:
                value = job._unit()
            except BaseException as exc:  # the waiter gets it; the worker lives on
                error = exc
            with self._cond:
                self._running = None
                self._cond.notify_all()
                self._finish(job, value, error)


def _as_cancelled(exc: GenerationCancelled, name: str) -> JobCancelled:
    if isinstance(exc, JobCancelled):
        return exc
    cancelled = JobCancelled(f"{name} was cancelled")
    cancelled.__cause__ = exc
    return cancelled


class _Scheduled:
    """What both adapters share: a priority, and the jobs this view has in flight."""

    def __init__(self, scheduler: Scheduler, priority: Priority) -> None:
        self.scheduler = scheduler
        self.priority = priority
        self._jobs: set[ModelJob] = set()
        self._lock = threading.Lock()

    def _call(self, fn: Callable[..., T], *args: Any, cancel: Callable[[], None] | None = None, **kwargs: Any) -> T:
        name = getattr(fn, "__name__", "model call")
        if self.scheduler.in_worker():
            return self.scheduler.run(self.priority, fn, *args, name=name, **kwargs)
        with self._lock:  # so that cancel() cannot miss a job just submitted
            job = self.scheduler.submit(self.priority, fn, *args, name=name, cancel=cancel, **kwargs)
            self._jobs.add(job)
        try:
            return job.result()
        finally:
            with self._lock:
                self._jobs.discard(job)

    def cancel(self) -> None:
        """Cancel this view's calls, queued or running (other views are untouched)."""
        with self._lock:
            jobs = list(self._jobs)
        for job in jobs:
            job.cancel()


class ScheduledChatModel(_Scheduled):
    """A ChatModel whose generations go through the scheduler at ``priority``.

    Tokenizing and rendering are cheap and go straight to the model. ``on_token`` callbacks run on
    the scheduler's worker thread.
    """

    def __init__(self, model: ChatModel, scheduler: Scheduler, priority: Priority = Priority.CHAT) -> None:
        super().__init__(scheduler, priority)
        self.model = model

    def at(self, priority: Priority) -> ScheduledChatModel:
        """A view of the same model and scheduler at another priority."""
        return ScheduledChatModel(self.model, self.scheduler, priority)

    @property
    def info(self) -> ModelInfo:
        return self.model.info

    def tokenize(self, text: str) -> list[int]:
        return self.model.tokenize(text)

    def count_tokens(self, text: str) -> int:
        return self.model.count_tokens(text)

    def render(self, messages: Sequence[ChatMessage], add_generation_prompt: bool = True) -> str:
        return self.model.render(messages, add_generation_prompt)

    def generate(self, prompt: str, *, max_tokens: int = 256, grammar: str | None = None,
                 stop: Sequence[str] = (), on_token: TokenCallback | None = None) -> Generation:
        return self._call(self.model.generate, prompt, cancel=self.model.cancel, max_tokens=max_tokens,
                          grammar=grammar, stop=stop, on_token=on_token)

    def tool_call(self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec], *, max_tokens: int = 512,
                  on_token: TokenCallback | None = None) -> ToolCall | ToolCallError:
        return self._call(self.model.tool_call, messages, tools, cancel=self.model.cancel,
                          max_tokens=max_tokens, on_token=on_token)

    def evaluate(self, prompt: str) -> int:
        return self._call(self.model.evaluate, prompt, cancel=self.model.cancel)

    def save_prefix(self, prompt: str) -> Path | None:
        return self._call(self.model.save_prefix, prompt, cancel=self.model.cancel)

    def load_prefix(self, prompt: str) -> int:
        return self._call(self.model.load_prefix, prompt, cancel=self.model.cancel)

    def close(self) -> None:
        self.model.close()


class ScheduledEmbedder(_Scheduled):
    """An Embedder whose ``embed`` goes through the scheduler (BACKGROUND unless told otherwise)."""

    def __init__(self, embedder: Embedder, scheduler: Scheduler, priority: Priority = Priority.BACKGROUND) -> None:
        super().__init__(scheduler, priority)
        self.embedder = embedder

    def at(self, priority: Priority) -> ScheduledEmbedder:
        """A view at another priority, e.g. QUICK for a search query typed by the user."""
        return ScheduledEmbedder(self.embedder, self.scheduler, priority)

    @property
    def dim(self) -> int:
        return self.embedder.dim

    @property
    def max_tokens(self) -> int:
        return self.embedder.max_tokens

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self._call(self.embedder.embed, list(texts))

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self._call(self.embedder.count_tokens, list(texts))

    def close(self) -> None:
        self.embedder.close()
