"""Asking the user: the Confirmer protocol, a terminal prompt, and a scripted one for tests.

The GUI's dialog implements the same protocol. A confirmer only ever sees calls the policy would
allow with consent: a denial never reaches it, so no answer can override one.
"""

from __future__ import annotations

import json
import sys
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Protocol, TextIO

Answer = Literal["once", "always", "deny"]


@dataclass(frozen=True)
class Request:
    tool: str
    args: dict[str, Any]
    risk: str
    reason: str
    """Why it asks: the tier, the rule, or the untrusted text and where it came from."""
    description: str
    """What will happen, in words."""
    can_always: bool
    """Whether "Always allow here" may be offered (never for destructive or tainted calls)."""
    targets: tuple[str, ...] = ()
    """The paths it acts on, resolved; where a path leads elsewhere (a symlink), both are shown."""
    subject: str | None = None
    """What else it acts on, as judged: the application's entry, the processes, the link's real host."""
    rule: str | None = None
    """The exact standing rule "Always allow here" grants (None when it is not offered)."""

    def details(self) -> list[str]:
        """The lines that say exactly what the call acts on, for every way of asking."""
        lines = [f"acts on: {target}" for target in self.targets]
        if self.subject:
            lines.append(f"acts on: {self.subject}")
        if self.rule:
            lines.append(f"'always' grants the rule: {self.rule}")
        return lines


class Confirmer(Protocol):
    def confirm(self, request: Request) -> Answer: ...


class TerminalConfirmer:
    """Asks on the terminal; with ``assume_yes`` every question is answered "once"."""

    def __init__(self, assume_yes: bool = False, stream: TextIO | None = None,
                 read: Callable[[str], str] = input) -> None:
        self.assume_yes = assume_yes
        self.stream = stream or sys.stderr
        self.read = read

    def confirm(self, request: Request) -> Answer:
        args = json.dumps(request.args, ensure_ascii=False)
        details = "".join(f"  {line}\n" for line in request.details())
        print(f"\nPagemind wants to {request.description}\n  {request.tool} {args}\n{details}"
              f"  risk: {request.risk}; asking because {request.reason}", file=self.stream)
        if self.assume_yes:
            print("  allowed (--yes)", file=self.stream)
            return "once"
        choices = "[y]es once, [a]lways here, [N]o" if request.can_always else "[y]es once, [N]o"
        try:
            answer = self.read(f"  Allow? {choices}: ").strip().lower()
        except EOFError:
            answer = ""
        if answer in ("y", "yes"):
            return "once"
        if answer in ("a", "always") and request.can_always:
            return "always"
        return "deny"


@dataclass
class ScriptedConfirmer:
    """Answers from a list (then ``default``), and keeps every request it saw."""

    answers: list[Answer] = field(default_factory=list)
    default: Answer = "deny"
    seen: list[Request] = field(default_factory=list)

    def confirm(self, request: Request) -> Answer:
        self.seen.append(request)
        return self.answers.pop(0) if self.answers else self.default


class DeferredConfirmer:
    """Asks someone on another thread (the window's dialog): ``confirm`` waits for ``answer``.

    ``on_request`` hears of each request on the waiting thread; whoever shows it calls
    :meth:`answer`. :meth:`abort` (the turn was stopped, the app is quitting) answers "deny".
    One request at a time, as the gate asks one at a time.
    """

    def __init__(self, on_request: Callable[[Request], None]) -> None:
        self.on_request = on_request
        self._lock = threading.Lock()
        self._answered = threading.Event()
        self._answer: Answer = "deny"
        self.pending: Request | None = None

    def confirm(self, request: Request) -> Answer:
        with self._lock:
            self._answered.clear()
            self._answer = "deny"
            self.pending = request
        try:
            self.on_request(request)
            self._answered.wait()
            return self._answer
        finally:
            self.pending = None

    def answer(self, answer: Answer) -> None:
        if answer not in ("once", "always", "deny"):
            raise ValueError(f"an answer is once, always or deny, not {answer!r}")
        self._answer = answer
        self._answered.set()

    def abort(self) -> None:
        self.answer("deny")
