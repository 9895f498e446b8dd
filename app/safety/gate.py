"""The permission gate: every tool call of the model goes through here.

It looks the tool up, asks the policy, asks the user when the policy says so, records the call in
the journal before and after it runs (anything above ``read``), runs it with its undo recorder,
and keeps the turn's taint: once a tool returned untrusted text, everything above ``read`` asks.
Errors are results: the model reads them and may correct itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable

from app.safety.confirm import Confirmer, Request
from app.safety.journal import Journal
from app.safety.policy import Policy
from tools.registry import Effects, Registry, ToolContext


@dataclass
class Turn:
    """What the gate remembers during one user request."""

    taint: list[str] = field(default_factory=list)
    """The sources of untrusted text now in the context, oldest first."""


@dataclass(frozen=True)
class Outcome:
    result: str
    heartbeat: bool
    ran: bool
    journal_id: int | None = None

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
        try:
            verdict = self.policy.decide(tool, args, turn.taint)
        except (OSError, ValueError) as exc:
            return Outcome(f"Error: cannot check the paths of {name}: {exc}", True, False)
        if verdict.decision == "deny":
            return Outcome(f"Denied: {verdict.reason}.", heartbeat, False)
        if verdict.decision == "ask":
            rule = None if turn.taint else self.policy.rule_for(tool, args, verdict.targets)
            request = Request(
                tool=name, args=args, risk=tool.risk, reason=verdict.reason,
                description=describe(name, args), can_always=rule is not None,
            )
            if on_ask is not None:
                on_ask(request)
            answer = self.confirmer.confirm(request)
            if answer == "deny":
                return Outcome(f"The user declined: {describe(name, args)}.", heartbeat, False)
            if answer == "always" and rule is not None:
                self.policy.grant(rule)
        effects = Effects()
        context = ToolContext({**self.services, "effects": effects})
        entry = self.journal.begin(name, args, tool.risk) if tool.risk != "read" else None
        result = tool.call(args, context)
        if entry is not None:
            self.journal.finish(entry, ok=not result.startswith("Error:"), result=result, undo_records=effects.records)
        if tool.untrusted_output and not result.startswith("Error:"):
            turn.taint.append(describe(name, args).removeprefix("run "))
        return Outcome(result, heartbeat, True, entry)
