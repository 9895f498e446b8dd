"""The turn queue: the running app's requests, served one turn at a time, most urgent first.

User requests go before quick commands, which go before system events (indexed documents, the
timer heartbeat); at most one system event waits (it would see the news of another anyway). A
turn is the agent's whole loop for one event: many model calls, tool runs, and waits for the user
to answer a question. That is why this queue is not the model scheduler (models/scheduler.py):
the scheduler orders single model calls (of the turn in flight, of ingestion, of upkeep) and
cannot hold a turn's place while it waits for a confirmation; this queue keeps turns whole and in
order, and the turn's model calls then take their place in the scheduler like everyone else's.
When the queue is empty after a turn, the kernel's upkeep runs on a thread of its own, and the
next turn stops it first.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

from app.kernel.agent import TurnResult
from app.kernel.assembly import Kernel
from app.kernel.events import Event, Listener, Step, StepKind, ignore

log = logging.getLogger(__name__)

MAX_QUEUED_SYSTEM = 1
Done = Callable[[TurnResult], None]


@dataclass(frozen=True)
class TurnRequest:
    event: Event
    listener: Listener = ignore
    """Hears this turn's steps, besides the queue's own listener (a client of the single-instance server)."""
    done: Done | None = None


@dataclass
class TurnListener:
    """What the queue reports; every callback runs on the queue's thread."""

    on_turn: Callable[[int, Event], None] = lambda turn, event: None
    on_step: Callable[[int, Step], None] = lambda turn, step: None
    on_done: Callable[[int, TurnResult], None] = lambda turn, result: None
    on_upkeep: Callable[[str], None] = lambda upkept: None
    """After upkeep between turns: "evicted", "ready" or "stopped"."""


class TurnQueue:
    def __init__(self, kernel: Callable[[], Kernel | None], listener: TurnListener | None = None) -> None:
        """``kernel``: the kernel serving now (the app swaps it when the model changes)."""
        self.kernel = kernel
        self.listener = listener or TurnListener()
        self._queue: queue.PriorityQueue[tuple[int, int, TurnRequest | None]] = queue.PriorityQueue()
        self._seq = itertools.count()
        self._turns = itertools.count(1)
        self._lock = threading.Lock()
        self._system_queued = 0
        self._serving: Kernel | None = None
        self._thread = threading.Thread(target=self._serve, name="turns", daemon=True)
        self._started = False

    def start(self) -> None:
        if not self._started:
            self._started = True
            self._thread.start()

    def submit(self, event: Event, listener: Listener = ignore, done: Done | None = None) -> None:
        """Queue a turn for ``event``; ``listener`` also hears its steps and ``done`` its end."""
        if event.kind == "system":
            with self._lock:
                if self._system_queued >= MAX_QUEUED_SYSTEM:
                    return
                self._system_queued += 1
        self._queue.put((int(event.priority), next(self._seq), TurnRequest(event, listener, done)))

    def cancel(self) -> None:
        """Stop the turn in flight."""
        kernel = self._serving
        if kernel is not None:
            kernel.agent.cancel()

    def close(self, timeout: float = 60) -> None:
        self.cancel()
        self._queue.put((-1, -1, None))
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _serve(self) -> None:
        while (request := self._queue.get()[2]) is not None:
            kernel = self.kernel()
            if request.event.kind == "system":
                with self._lock:
                    self._system_queued -= 1
                if kernel is None or kernel.model is None:
                    continue  # system events are for the model; without one they wait for nothing
            if kernel is None:
                continue
            self._turn(kernel, next(self._turns), request)
            if self._queue.empty() and kernel.upkeep is not None:
                kernel.upkeep.arm()
                threading.Thread(target=self._upkeep, args=(kernel,), name="upkeep", daemon=True).start()

    def _turn(self, kernel: Kernel, turn: int, request: TurnRequest) -> None:
        def emit(step: Step) -> None:
            self.listener.on_step(turn, step)
            request.listener(step)

        if kernel.upkeep is not None:
            kernel.upkeep.stop()
        self._serving = kernel
        self.listener.on_turn(turn, request.event)
        try:
            result = kernel.agent.run(request.event, emit)
        except Exception as exc:  # noqa: BLE001 - a bug in one turn must not end the queue
            log.exception("the turn failed")
            result = TurnResult("error", 0, error=f"the request failed: {exc}")
            emit(Step(StepKind.ERROR, text=result.error or ""))
        finally:
            self._serving = None
        if request.done is not None:
            request.done(result)
        self.listener.on_done(turn, result)

    def _upkeep(self, kernel: Kernel) -> None:
        try:
            upkept = kernel.upkeep.maintain() if kernel.upkeep is not None else "ready"
        except Exception:  # noqa: BLE001 - upkeep is an optimisation
            log.exception("upkeep between turns failed")
            return
        self.listener.on_upkeep(upkept)
