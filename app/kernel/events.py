"""What reaches the kernel, and what it reports back.

Inbound, an :class:`Event` (a user message, a quick command, a system event such as a document
that finished indexing or the optional timer heartbeat) becomes one message the model sees.
Outbound, a :class:`Step` (a thought, a tool call, a tool result, the reply, an error, streamed
text) goes to a listener: the GUI's bridge turns steps into Qt signals, ``python main.py ask``
prints them. A question to the user is not a step: the confirmer announces it (one hook).
"""

from __future__ import annotations

import datetime
import enum
import logging
import threading
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Literal

from models.scheduler import Priority

log = logging.getLogger(__name__)

EventKind = Literal["user", "quick", "system"]


@dataclass(frozen=True)
class Event:
    kind: EventKind
    text: str
    at: datetime.datetime = field(default_factory=datetime.datetime.now)
    source: str | None = None
    """Where untrusted text in it comes from (file names from the watched folders, say)."""

    @property
    def priority(self) -> Priority:
        return {"user": Priority.CHAT, "quick": Priority.QUICK}.get(self.kind, Priority.BACKGROUND)

    def message(self) -> tuple[str, str]:
        """The (role, content) the model sees for this event."""
        if self.kind == "system":
            return "system", f"[event {self.at:%Y-%m-%d %H:%M}] {self.text}"
        return "user", self.text


def user_message(text: str) -> Event:
    return Event("user", text)


def quick_command(text: str) -> Event:
    return Event("quick", text)


INDEXED_NAMES = "file names in the watched folders"
"""The source of a system event that names indexed files: their names were chosen by others."""


def document_indexed(path: str, chunks: int) -> Event:
    return Event("system", f"The document {path} finished indexing ({chunks} chunks); "
                           "search_documents can find it now.", source=INDEXED_NAMES)


def documents_indexed(paths: list[str]) -> Event:
    """One event for a round of indexing that finished several documents."""
    if len(paths) == 1:
        return document_indexed(paths[0], 0)
    shown = ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
    return Event("system", f"{len(paths)} documents finished indexing ({shown}); search_documents can find them now.",
                 source=INDEXED_NAMES)


def heartbeat() -> Event:
    return Event("system", "Timer heartbeat: nothing was asked. Act only if something you were "
                           "asked to watch needs it; otherwise end your turn without a message.")


class StepKind(str, enum.Enum):
    """What a step of a turn is; each front end handles them all in one place."""

    THOUGHT = "thought"
    TOOL_CALL = "tool_call"
    TOOL_RESULT = "tool_result"
    REPLY = "reply"
    MEMORY = "memory"
    """A memory-pressure notice (warned, evicted)."""
    ERROR = "error"
    """Why a turn stopped early, or a call the model got wrong."""
    DELTA = "delta"
    """Streamed text (see ``Step.channel``)."""


@dataclass(frozen=True)
class Step:
    kind: StepKind
    text: str = ""
    tool: str | None = None
    args: dict[str, Any] | None = None
    ok: bool | None = None
    """For a tool result: whether the call ran and did its work."""
    journal_id: int | None = None
    """For a tool result: the journal entry it made."""
    undoable: bool = False
    """For a tool result: whether undo can reverse it (its journal entry has undo records)."""
    channel: str | None = None
    """For a delta: "call" (the raw text of the call), or "thought" or "reply" (its parts, unescaped)."""

    def as_json(self) -> dict[str, Any]:
        found = {key: value for key, value in asdict(self).items() if value is not None and value != ""}
        found["kind"] = self.kind.value
        if not self.undoable:
            found.pop("undoable", None)
        return found

    @classmethod
    def from_json(cls, line: dict[str, Any]) -> Step:
        """A step sent as :meth:`as_json` (a step handed over the single-instance socket)."""
        return cls(StepKind(line["kind"]), str(line.get("text", "")), line.get("tool"), line.get("args"),
                   line.get("ok"), line.get("journal_id"), bool(line.get("undoable")), line.get("channel"))


Listener = Callable[[Step], None]


def ignore(step: Step) -> None:
    """The listener that listens to nothing."""


class HeartbeatTimer:
    """Sends :func:`heartbeat` events every ``minutes`` (a setting; 0 leaves it off)."""

    def __init__(self, minutes: float, send: Callable[[Event], None]) -> None:
        if minutes <= 0:
            raise ValueError("the heartbeat interval must be positive")
        self.seconds = minutes * 60
        self.send = send
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def start(self) -> HeartbeatTimer:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.seconds):
            try:
                self.send(heartbeat())
            except Exception:  # a failed heartbeat must not stop the next one
                log.exception("the timer heartbeat failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
