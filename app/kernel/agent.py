"""The step loop that serves one event (DESIGN.md decisions 1, 2 and 7).

For an event: commit its message to recall; then, step by step: manage memory pressure, take ONE
tool call, pass it through the permission gate, record the call and its outcome in recall, and
report each step. The first call of a quick command the router understood is decided already (no
model is asked); every other call is the model's constrained call. Go on while the model asks for
a heartbeat or its call failed (so it can correct itself); stop at ``send_message``, after a
quick command's call, at the step limit or at the time limit. Every early stop leaves a note in
the conversation, so the model and the user both see why a turn ended.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Literal, Sequence

from app.kernel import router
from app.kernel.context import MainContext
from app.kernel.events import Event, Listener, Step, StepKind, ignore
from app.kernel.stream import REPLY_TOOL, CallStream
from app.memory.store import MemoryStore
from app.safety.gate import Gate, Outcome, Taint
from models.errors import GenerationCancelled, ModelError, RunnerCrashed
from models.interface import ToolCall, ToolCallError, ToolSpec
from models.scheduler import ScheduledChatModel

log = logging.getLogger(__name__)

Stop = Literal["replied", "done", "step_limit", "time_limit", "cancelled", "error"]
NO_MODEL = ("No chat model is loaded, so only quick commands work (like \"open firefox\", "
            "\"find report.pdf\" or \"what's using my memory\"). Choose a model to do more.")


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
    answer: str | None = None
    """What the turn answered: its reply, or the result of the call that ended it (a quick command)."""


class Agent:
    def __init__(self, memory: MemoryStore, model: ScheduledChatModel | None, gate: Gate, tools: Sequence[ToolSpec],
                 system_prompt: str, limits: Limits | None = None, conversation: str = "main") -> None:
        self.model = model
        self.gate = gate
        self.tools = list(tools)
        self.limits = limits or Limits()
        self.context = MainContext(model, memory, conversation, system_prompt, self.tools)
        self._cancelled = threading.Event()
        self._timed_out = threading.Event()
        self._active: ScheduledChatModel | None = model

    def run(self, event: Event, emit: Listener = ignore) -> TurnResult:
        """Serve ``event`` to the end of its turn (one turn at a time: the turn queue sees to it)."""
        self._cancelled.clear()
        self._timed_out.clear()
        self._active = self.model.at(event.priority) if self.model is not None else None
        timer = threading.Timer(self.limits.max_seconds, self._time_up)
        timer.daemon = True
        timer.start()
        try:
            self.context.add(*event.message(), source=event.source)
            route = router.route(event.text) if event.kind != "system" else None
            first = ToolCall(route.tool, dict(route.args), f"quick command: {route.summary}") if route else None
            if first is None and self.model is None:
                emit(Step(StepKind.ERROR, text=NO_MODEL))
                return TurnResult("error", 0, error=NO_MODEL)
            return self._steps(Taint(self.context.taint()), emit, first)
        finally:
            timer.cancel()

    def _steps(self, taint: Taint, emit: Listener, first: ToolCall | None) -> TurnResult:
        step = 0
        try:
            for step in range(1, self.limits.max_steps + 1):
                self._check_stopped()
                pressure = self.context.manage()
                if pressure is not None:
                    emit(Step(StepKind.MEMORY, text=pressure))
                self._check_stopped()
                call = first if step == 1 and first is not None else self._next_call(emit)
                if isinstance(call, ToolCallError):
                    self.context.add("assistant", call.raw[:2000], source=_words_source(taint))
                    self.context.add("tool", f"Error: {call.message}")
                    emit(Step(StepKind.ERROR, text=call.message))
                    continue
                outcome = self._run(call, taint, emit, decided=call is first)
                if call.tool == REPLY_TOOL and outcome.ran:
                    emit(Step(StepKind.REPLY, text=outcome.text))
                    return TurnResult("replied", step, reply=outcome.text, answer=outcome.text)
                if call is first:  # a quick command is its one call, whatever came of it
                    return (TurnResult("done", step, answer=outcome.text) if outcome.ok
                            else TurnResult("error", step, error=outcome.text, answer=outcome.text))
                if not outcome.heartbeat and outcome.ok:
                    return TurnResult("done", step, answer=outcome.text)
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
        if self._active is None:
            raise ModelError(NO_MODEL)
        stream = CallStream(lambda channel, text: emit(Step(StepKind.DELTA, text=text, channel=channel)))
        return self._active.tool_call(self.context.messages(), self.tools,
                                      max_tokens=self.limits.call_tokens, on_token=stream.feed)

    def _run(self, call: ToolCall, taint: Taint, emit: Listener, decided: bool = False) -> Outcome:
        """Gate and run one call, recording both; ``decided``: a quick command's call (no thought to show)."""
        if call.thought and not decided:
            emit(Step(StepKind.THOUGHT, text=call.thought))
        emit(Step(StepKind.TOOL_CALL, tool=call.tool, args=call.args))
        words = _words_source(taint)
        self.context.add("assistant", call.thought, tool_name=call.tool, tool_args=call.args, source=words)
        outcome = self.gate.run(call.tool, call.args, taint)
        source = outcome.source or (words if call.tool == REPLY_TOOL else None)
        self.context.add("tool", outcome.text, tool_name=call.tool, source=source)
        if call.tool != REPLY_TOOL:
            emit(Step(StepKind.TOOL_RESULT, text=outcome.text, tool=call.tool, ok=outcome.ok,
                      journal_id=outcome.journal_id, undoable=outcome.undoable))
        return outcome

    def _stopped(self, stop: Stop, steps: int, why: str, emit: Listener) -> TurnResult:
        log.info("turn stopped: %s", why)
        self.context.add("system", f"[turn ended: {why}]")
        emit(Step(StepKind.ERROR, text=why))
        return TurnResult(stop, steps, error=why)

    # -- from other threads ------------------------------------------------------------------
    def _check_stopped(self) -> None:
        if self._cancelled.is_set() or self._timed_out.is_set():
            raise GenerationCancelled("cancelled")

    def _time_up(self) -> None:
        self._timed_out.set()
        if self._active is not None:
            self._active.cancel()

    def cancel(self) -> None:
        """Stop the turn in flight: the generation now, or before the next step."""
        self._cancelled.set()
        if self._active is not None:
            self._active.cancel()


def _words_source(taint: Taint) -> str | None:
    """The source the model's own words carry while the context holds untrusted text (it may echo it)."""
    return f"the model's words while reading {taint.sources[-1]}" if taint else None
