"""The permission gate: every tool call of the model goes through here.

It looks the tool up, has the tool judge what the call acts on (every path resolved once; the app,
processes or link), asks the policy, asks the user when the policy says so (through the confirmer,
its one hook: the confirmer both announces the question and waits for the answer), judges again
after the answer and refuses if anything changed meanwhile, records the call in the journal before
and after it runs (anything above ``read``), and runs the tool on exactly what was judged. It keeps
the turn's taint: once a tool returned untrusted text, everything above ``read`` asks. Errors are
results (an :class:`Outcome` that is not ``ok``): the model reads them and may correct itself.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from app.safety.confirm import Confirmer, Request
from app.safety.journal import Journal
from app.safety.policy import Policy
from tools.judged import Judgement, Refused
from tools.registry import Effects, Registry, ToolContext

log = logging.getLogger(__name__)


@dataclass
class Taint:
    """The sources of untrusted text in the conversation while a turn is served, oldest first."""

    sources: list[str] = field(default_factory=list)

    def add(self, source: str) -> None:
        if source not in self.sources:
            self.sources.append(source)

    def __bool__(self) -> bool:
        return bool(self.sources)


@dataclass(frozen=True)
class Outcome:
    """What became of one call: whether it ran and did its work, what the model reads, the journal
    entry it made and whether undo can reverse it, and where untrusted text in it came from."""

    ok: bool
    text: str
    ran: bool
    heartbeat: bool
    journal_id: int | None = None
    undoable: bool = False
    source: str | None = None


def _not_run(text: str, heartbeat: bool = True) -> Outcome:
    return Outcome(False, text, False, heartbeat)


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

    def run(self, name: str, args: dict[str, Any], taint: Taint) -> Outcome:
        """Check, perhaps confirm (the confirmer announces and asks), journal and run one call."""
        try:
            tool = self.registry.get(name)
        except KeyError:
            return _not_run(f"Error: there is no tool named {name!r}")
        if not isinstance(args, dict):
            return _not_run(f"Error: the arguments of {name} must be an object")
        heartbeat = tool.split_args(args)[1]
        problem = tool.invalid(args)
        if problem is not None:  # never ask the user about a malformed call
            return _not_run(problem)
        judged = self._judge(tool, args)
        if isinstance(judged, Outcome):
            return judged
        verdict = self.policy.decide(tool, judged, taint.sources)
        if verdict.decision == "deny":
            return _not_run(f"Denied: {verdict.reason}.", heartbeat)
        if verdict.decision == "ask":
            rule = None if taint else self.policy.rule_for(tool, judged)
            request = Request(
                tool=name, args=args, risk=tool.risk, reason=verdict.reason,
                description=describe(name, args), can_always=rule is not None,
                targets=tuple(t.shown() for t in judged.all_targets()),
                subject=judged.subject.shown if judged.subject else None,
                rule=rule.text() if rule else None,
            )
            answer = self.confirmer.confirm(request)
            if answer == "deny":
                return _not_run(f"The user declined: {describe(name, args)}.", heartbeat)
            again = self._judge(tool, args)
            if isinstance(again, Outcome):
                return again
            change = again.change_since(judged)
            if change is not None:
                return _not_run(f"Refused: {change} while you were asked; nothing was done.", heartbeat)
            if answer == "always" and rule is not None:
                self.policy.grant(rule)
        return self._call(tool, args, judged, heartbeat, taint)

    def _judge(self, tool: Any, args: dict[str, Any]) -> Judgement | Outcome:
        heartbeat = tool.split_args(args)[1]
        try:
            return tool.judge(args)
        except Refused as exc:
            return _not_run(f"Denied: {str(exc)[0].upper()}{str(exc)[1:]}.", heartbeat)
        except (OSError, ValueError, LookupError) as exc:
            return _not_run(f"Error: {tool.name} cannot run: {exc}")

    def _call(self, tool: Any, args: dict[str, Any], judged: Judgement, heartbeat: bool, taint: Taint) -> Outcome:
        effects = Effects()
        context = ToolContext({**self.services, "effects": effects}, judgement=judged, taint=tuple(taint.sources))
        entry = None
        if tool.risk != "read":
            try:
                entry = self.journal.begin(tool.name, args, tool.risk)
            except Exception as exc:  # noqa: BLE001 - nothing runs that the journal cannot record
                log.exception("the journal could not record %s", tool.name)
                return _not_run(f"Error: the action was not run, because the journal could not record it: {exc}",
                                heartbeat)
        result = tool.run(args, context)
        text = result.text
        if entry is not None:
            try:
                self.journal.finish(entry, ok=result.ok, result=text, undo_records=effects.records)
            except Exception as exc:  # noqa: BLE001 - the change happened; say that its record failed
                log.exception("the journal could not finish entry %s", entry)
                text += f"\n(Its journal entry #{entry} could not be completed: {exc}; undo it by hand.)"
        sources = ([describe(tool.name, args).removeprefix("run ")] if tool.untrusted_output and result.ok else [])
        sources += effects.sources
        for source in sources:
            taint.add(source)
        return Outcome(result.ok, text, True, heartbeat, entry, undoable=entry is not None and result.ok
                       and bool(effects.records), source="; ".join(sources) if sources else None)
