"""The step loop that serves one event (DESIGN.md decisions 1, 2 and 7).

For an event: commit its message to recall; then, step by step, manage memory pressure, ask the
model for ONE constrained tool call, pass it through the permission gate, and record the call and
its result in recall. Go on while the model asks for a heartbeat or the call failed (so the model
can correct itself); stop at ``send_message``, at the step limit or at the time limit. Every stop
leaves a note in the conversation, so the model and the user both see why a turn ended.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Literal, Sequence

from app.kernel.context import MainContext
from app.kernel.events import Event, Listener, Step, asking, ignore
from models.scheduler import Priority
from app.kernel.stream import REPLY_TOOL, CallStream
from app.safety.gate import Gate, Outcome, Turn
from models.errors import GenerationCancelled, ModelError, RunnerCrashed
from models.interface import ChatModel, ToolCall, ToolCallError, ToolSpec

log = logging.getLogger(__name__)

Stop = Literal["replied", "done", "step_limit", "time_limit", "cancelled", "error"]


@dataclass(frozen=True)
class Limits:
    max_steps: int = 10
    max_seconds: float = 300.0
    call_tokens: int = 512
    """The most tokens one tool call may take."""


@dataclass(frozen=True)
class TurnResult:
    stop: Stop
    steps: int
    reply: str | None = None
    error: str | None = None


def _words_source(turn: Turn) -> str | None:
    """The source the model's own words carry while the context holds untrusted text (it may echo it)."""
    return f"the model's words while reading {turn.taint[-1]}" if turn.taint else None


class Agent:
    def __init__(self, model: ChatModel, context: MainContext, gate: Gate, tools: Sequence[ToolSpec],
                 limits: Limits | None = None) -> None:
        self.model = model
        self.context = context
        self.gate = gate
        self.tools = list(tools)
        self.limits = limits or Limits()
        self._lock = threading.Lock()
        self._cancelled = threading.Event()
        self._timed_out = threading.Event()
        self._active: ChatModel = model
        self._maintaining: ChatModel | None = None
        self._stop_upkeep = threading.Event()

    def _view(self, priority: Priority) -> ChatModel:
        """The model at ``priority`` when it is scheduled, else the model itself."""
        at = getattr(self.model, "at", None)
        return at(priority) if at is not None else self.model

    # -- one turn ----------------------------------------------------------------------------
    def handle(self, event: Event, listener: Listener = ignore) -> TurnResult:
        """Serve ``event`` to the end of its turn; one turn at a time (upkeep is cancelled)."""
        self._stop_upkeep.set()
        maintaining = self._maintaining
        if maintaining is not None:
            maintaining.cancel()
        with self._lock:
            self._cancelled.clear()
            self._timed_out.clear()
            self._active = self._view(event.priority)
            timer = threading.Timer(self.limits.max_seconds, self._time_up)
            timer.daemon = True
            timer.start()
            try:
                self.context.add(*event.message(), source=event.source)
                return self._steps(Turn(self.context.taint()), listener)
            finally:
                timer.cancel()

    def _steps(self, turn: Turn, emit: Listener) -> TurnResult:
        step = 0
        try:
            for step in range(1, self.limits.max_steps + 1):
                self._check_stopped()
                pressure = self.context.manage()
                if pressure is not None:
                    emit(Step("memory", text=pressure))
                self._check_stopped()
                call = self._next_call(emit)
                if isinstance(call, ToolCallError):
                    self.context.add("assistant", call.raw[:2000], source=_words_source(turn))
                    self.context.add("tool", f"Error: {call.message}")
                    emit(Step("error", text=call.message))
                    continue
                outcome = self._run(call, turn, emit)
                if call.tool == REPLY_TOOL and outcome.ran:
                    emit(Step("reply", text=outcome.result))
                    return TurnResult("replied", step, reply=outcome.result)
                if not outcome.heartbeat and not outcome.failed:
                    return TurnResult("done", step)
            return self._stopped("step_limit", step, f"stopped after {step} steps without a reply", emit)
        except GenerationCancelled:
            if self._timed_out.is_set():
                limit = f"stopped at the time limit of {self.limits.max_seconds:g} s"
                return self._stopped("time_limit", step, limit, emit)
            return self._stopped("cancelled", step, "stopped by the user", emit)
        except RunnerCrashed as exc:
            return self._stopped("error", step, f"{exc}; the request was stopped, send it again", emit)
        except ModelError as exc:
            return self._stopped("error", step, str(exc), emit)

    def _next_call(self, emit: Listener) -> ToolCall | ToolCallError:
        stream = CallStream(lambda channel, text: emit(Step("delta", text=text, channel=channel)))
        return self._active.tool_call(self.context.messages(), self.tools,
                                      max_tokens=self.limits.call_tokens, on_token=stream.feed)

    def _run(self, call: ToolCall, turn: Turn, emit: Listener) -> Outcome:
        if call.thought:
            emit(Step("thought", text=call.thought))
        emit(Step("tool_call", tool=call.tool, args=call.args))
        words = _words_source(turn)
        self.context.add("assistant", call.thought, tool_name=call.tool, tool_args=call.args, source=words)

        outcome = self.gate.run(call.tool, call.args, turn, on_ask=asking(emit))
        source = outcome.source or (words if call.tool == REPLY_TOOL else None)
        self.context.add("tool", outcome.result, tool_name=call.tool, source=source)
        if call.tool != REPLY_TOOL:
            emit(Step("tool_result", text=outcome.result, tool=call.tool, journal_id=outcome.journal_id))
        return outcome

    def _stopped(self, stop: Stop, steps: int, why: str, emit: Listener) -> TurnResult:
        log.info("turn stopped: %s", why)
        self.context.add("system", f"[turn ended: {why}]")
        emit(Step("error", text=why))
        return TurnResult(stop, steps, error=why)

    # -- between turns ------------------------------------------------------------------------
    def maintain(self) -> str:
        """Idle-time upkeep, at background priority: "evicted", "ready", or "stopped" (cancelled, failed).

        Past ``idle_flush_at`` the oldest messages are folded into the summary now, not in the
        middle of the next turn; then the context is evaluated, so the next turn's first token
        waits only for its own message. A new turn cancels it (see :meth:`handle`).
        """
        background = self._view(Priority.BACKGROUND)
        self._stop_upkeep.clear()
        with self._lock:
            self._maintaining = background
            try:
                event = "ready"
                limits = self.context.limits
                if self.context.tokens_used() >= limits.idle_flush_at * limits.budget:
                    self._check_upkeep()
                    event = "evicted" if self.context.evict(model=background) else event
                evaluate = getattr(background, "evaluate", None)
                if evaluate is not None:
                    self._check_upkeep()
                    evaluate(self.model.render(self.context.messages(), add_generation_prompt=False))
                return event
            except ModelError as exc:  # cancelled by a new turn, or the runner failed: the turn will do it
                log.info("upkeep between turns stopped: %s", exc)
                return "stopped"
            finally:
                self._maintaining = None

    def _check_upkeep(self) -> None:
        if self._stop_upkeep.is_set():
            raise GenerationCancelled("a turn started")

    # -- from other threads ------------------------------------------------------------------
    def _check_stopped(self) -> None:
        if self._cancelled.is_set() or self._timed_out.is_set():
            raise GenerationCancelled("cancelled")

    def _time_up(self) -> None:
        self._timed_out.set()
        self._active.cancel()

    def cancel(self) -> None:
        """Stop the turn in flight: the generation now, or before the next step."""
        self._cancelled.set()
        self._active.cancel()

    # -- the saved prefix state (DESIGN.md decision 2) ------------------------------------------
    def resume(self) -> int:
        """Warm the KV cache before the first turn; returns the tokens restored from disk.

        The state saved for the whole context is restored if there is one, else the state of the
        system message alone; with neither, the system message is evaluated and its state saved.
        """
        load, save = getattr(self.model, "load_prefix", None), getattr(self.model, "save_prefix", None)
        if load is None or save is None:
            return 0
        messages = self.context.messages()
        try:
            for prefix in (messages, messages[:1]):
                restored = load(self.model.render(prefix, add_generation_prompt=False))
                if restored:
                    return restored
            save(self.model.render(messages[:1], add_generation_prompt=False))
        except ModelError as exc:
            log.warning("the saved context state could not be restored: %s", exc)
        return 0

    def suspend(self) -> None:
        """Save the KV state of the context as it stands, for the next start."""
        save = getattr(self.model, "save_prefix", None)
        if save is None:
            return
        try:
            save(self.model.render(self.context.messages(), add_generation_prompt=False))
        except ModelError as exc:
            log.warning("the context state could not be saved: %s", exc)
