"""The permission gate: every tool call of the model goes through here.

It looks the tool up, has the tool judge what the call acts on (every path resolved once; the app,
processes or link), asks the policy, asks the user when the policy says so, judges again after
the answer and refuses if anything changed meanwhile, records the call in the journal before and
after it runs (anything above ``read``), and runs the tool on exactly what was judged. It keeps
the turn's taint: once a tool returned untrusted text, everything above ``read`` asks. Errors are
results: the model reads them and may correct itself.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any, Callable

from app.safety.confirm import Confirmer, Request
from app.safety.journal import Journal
from app.safety.policy import Policy
from tools.judged import Judgement, Refused
from tools.registry import Effects, Registry, ToolContext

log = logging.getLogger(__name__)


@dataclass
class Turn:
    """What the gate remembers while it serves one request."""

    taint: list[str] = field(default_factory=list)
    """The sources of untrusted text now in the context, oldest first."""

    def add_taint(self, source: str) -> None:
        if source not in self.taint:
            self.taint.append(source)


@dataclass(frozen=True)
class Outcome:
    result: str
    heartbeat: bool
    ran: bool
    journal_id: int | None = None
    source: str | None = None
    """The untrusted source the result carries text from (None when it carries none)."""
    undoable: bool = False

    @property
    def failed(self) -> bool:
        """It did not run (refused, declined, malformed) or it ran and reported an error."""
        return not self.ran or self.result.startswith("Error:")


def describe(tool: str, args: dict[str, Any]) -> str:
    shown = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)[:80]}" for k, v in args.items()
                      if k != "request_heartbeat")
    return f"run {tool}({shown})"


class Gate:
    def __init__(self, registry: Registry, policy: Policy, journal: Journal, confirmer: Confirmer,
                 services: dict[str, Any] | None = None) -> None:
        self.registry = registry
        self.policy = policy
        self.journal = journal
        self.confirmer = confirmer
        self.services = dict(services or {})

    def run(self, name: str, args: dict[str, Any], turn: Turn,
            on_ask: Callable[[Request], None] | None = None) -> Outcome:
        """Check, perhaps confirm (``on_ask`` hears of it first), journal and run one call."""
        try:
            tool = self.registry.get(name)
        except KeyError:
            return Outcome(f"Error: there is no tool named {name!r}", True, False)
        if not isinstance(args, dict):
            return Outcome(f"Error: the arguments of {name} must be an object", True, False)
        heartbeat = tool.split_args(args)[1]
        problem = tool.invalid(args)
        if problem is not None:  # never ask the user about a malformed call
            return Outcome(problem, True, False)
        judged = self._judge(tool, args)
        if isinstance(judged, Outcome):
            return judged
        verdict = self.policy.decide(tool, judged, turn.taint)
        if verdict.decision == "deny":
            return Outcome(f"Denied: {verdict.reason}.", heartbeat, False)
        if verdict.decision == "ask":
            rule = None if turn.taint else self.policy.rule_for(tool, judged)
            request = Request(
                tool=name, args=args, risk=tool.risk, reason=verdict.reason,
                description=describe(name, args), can_always=rule is not None,
                targets=tuple(t.shown() for t in judged.all_targets()),
                subject=judged.subject.shown if judged.subject else None,
                rule=rule.text() if rule else None,
            )
            if on_ask is not None:
                on_ask(request)
            answer = self.confirmer.confirm(request)
            if answer == "deny":
                return Outcome(f"The user declined: {describe(name, args)}.", heartbeat, False)
            again = self._judge(tool, args)
            if isinstance(again, Outcome):
                return again
            change = again.change_since(judged)
            if change is not None:
                return Outcome(f"Refused: {change} while you were asked; nothing was done.", heartbeat, False)
            if answer == "always" and rule is not None:
                self.policy.grant(rule)
        return self._call(tool, args, judged, heartbeat, turn)

    def _judge(self, tool: Any, args: dict[str, Any]) -> Judgement | Outcome:
        heartbeat = tool.split_args(args)[1]
        try:
            return tool.judge(args)
        except Refused as exc:
            return Outcome(f"Denied: {str(exc)[0].upper()}{str(exc)[1:]}.", heartbeat, False)
        except (OSError, ValueError, LookupError) as exc:
            return Outcome(f"Error: {tool.name} cannot run: {exc}", True, False)

    def _call(self, tool: Any, args: dict[str, Any], judged: Judgement, heartbeat: bool, turn: Turn) -> Outcome:
        effects = Effects()
        context = ToolContext({**self.services, "effects": effects}, judgement=judged, taint=tuple(turn.taint))
        entry = None
        if tool.risk != "read":
            try:
                entry = self.journal.begin(tool.name, args, tool.risk)
            except Exception as exc:  # noqa: BLE001 - nothing runs that the journal cannot record
                log.exception("the journal could not record %s", tool.name)
                return Outcome(f"Error: the action was not run, because the journal could not record it: {exc}",
                               heartbeat, False)
        result = tool.call(args, context)
        ok = not result.startswith("Error:")
        if entry is not None:
            try:
                self.journal.finish(entry, ok=ok, result=result, undo_records=effects.records)
            except Exception as exc:  # noqa: BLE001 - the change happened; say that its record failed
                log.exception("the journal could not finish entry %s", entry)
                result += f"\n(Its journal entry #{entry} could not be completed: {exc}; undo it by hand.)"
        sources = ([describe(tool.name, args).removeprefix("run ")] if tool.untrusted_output and ok else [])
        sources += effects.sources
        for source in sources:
            turn.add_taint(source)
        return Outcome(result, heartbeat, True, entry, "; ".join(sources) if sources else None,
                       undoable=entry is not None and ok and bool(effects.records))
